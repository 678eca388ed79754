//! Merging reports: the shards of a batch (or any scans of the same
//! bundles) become the report one scan of all their targets would have
//! written. The reports are checked to be mergeable, their parts joined,
//! and the result put together by [`assemble`], as a scan's report is.

use super::assemble::{Parts, SCHEMA_VERSION, assemble, join_alerts};
use super::model::{BundleReport, CaseInfo, Report, ScanInfo, SourceReport, Timings};

/// Why reports cannot be merged, in a sentence naming the reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeError(pub String);

impl std::fmt::Display for MergeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MergeError {}

/// Merges `reports` (each with the name errors call it by), in order: the
/// sources of the first come first. `arguments` is the merge's command
/// line, recorded in `scan.arguments`.
pub fn merge(reports: Vec<(String, Report)>, arguments: Vec<String>) -> Result<Report, MergeError> {
    let err = |s: String| Err(MergeError(s));
    let Some((first_name, first)) = reports.first() else {
        return err("no report to merge".into());
    };
    let bundles = first.bundles.clone();
    let rules = first.rules.clone();
    let as_of = first.scan.as_of.clone();
    for (name, r) in &reports {
        if r.schema_version != SCHEMA_VERSION {
            return err(format!(
                "{name} is a report of schema version {}; this breachscan merges version {SCHEMA_VERSION}",
                r.schema_version
            ));
        }
        if !same_bundles(&r.bundles, &bundles) {
            return err(format!(
                "{name} and {first_name} are reports of different bundles (by SHA-256, format \
                 and counts): only scans of the same bundles merge"
            ));
        }
        let digests = |r: &Report| r.rules.iter().map(|f| f.sha256.clone()).collect::<Vec<_>>();
        if digests(r) != rules.iter().map(|f| f.sha256.clone()).collect::<Vec<_>>() {
            return err(format!(
                "{name} and {first_name} are reports of different rule files (by SHA-256): \
                 only scans with the same rules merge"
            ));
        }
    }
    let content_search = first.scan.content_search;
    if let Some((name, _)) = reports
        .iter()
        .find(|(_, r)| r.scan.content_search != content_search)
    {
        return err(format!(
            "{name} and {first_name} differ in searching file content (--content): only \
             scans that looked for the same things merge"
        ));
    }
    if reports.len() > 1 && rules.iter().any(|f| f.correlations > 0) {
        return err(format!(
            "{first_name} was scanned with correlation rules: they group records across the \
             whole scan, which shard reports cannot rebuild; scan the targets in one run"
        ));
    }
    let case = merged_case(&reports)?;
    let collection = merged_collection(&reports)?;
    let window = |r: &Report| {
        r.scan
            .time_window
            .as_ref()
            .map(|w| (w.since.clone(), w.until.clone()))
    };
    if let Some((name, _)) = reports.iter().find(|(_, r)| window(r) != window(first)) {
        return err(format!(
            "{name} and {first_name} limit record evidence to different time windows \
             (--since/--until): only scans that looked for the same things merge"
        ));
    }
    let time_window = first.scan.time_window.clone().map(|mut w| {
        w.outside = reports
            .iter()
            .filter_map(|(_, r)| r.scan.time_window.as_ref())
            .map(|w| w.outside)
            .sum();
        w
    });
    let started_at = earliest(reports.iter().map(|(_, r)| r.scan.started_at.as_str()));
    let finished_at = latest(reports.iter().map(|(_, r)| r.scan.finished_at.as_str()));
    let mut timings = Timings::default();
    let mut complete = true;
    let mut interrupted = None;
    let (mut sources, mut alerts, mut errors) = (Sources::default(), Vec::new(), Vec::new());
    for (name, r) in reports {
        let Report {
            scan,
            sources: s,
            alerts: a,
            errors: e,
            ..
        } = r;
        timings.bundle_load += scan.timings.bundle_load;
        timings.matcher_build += scan.timings.matcher_build;
        timings.scan += scan.timings.scan;
        complete &= scan.complete;
        interrupted = interrupted.or(scan.interrupted);
        for source in s {
            sources.add(source, &name)?;
        }
        alerts.extend(a.into_iter().map(|a| (a.alert_definition, a.evidence)));
        errors.extend(e);
    }
    let alerts = join_alerts(alerts).map_err(MergeError)?;
    Ok(assemble(Parts {
        scan: ScanInfo {
            started_at,
            finished_at,
            arguments,
            complete,
            interrupted,
            as_of,
            timings,
            content_search,
            case,
            time_window,
            collection,
            time_zone: "UTC".into(),
        },
        bundles,
        rules,
        sources: sources.list,
        alerts,
        errors,
    }))
}

/// The merged sources, in order: a target once, or the slices of one
/// directory (batch units) joined into one source.
#[derive(Default)]
struct Sources {
    list: Vec<SourceReport>,
    /// Where each path is in `list`, and the report it came from.
    index: std::collections::HashMap<String, (usize, String)>,
}

impl Sources {
    fn add(&mut self, s: SourceReport, name: &str) -> Result<(), MergeError> {
        let Some((i, other)) = self.index.get(&s.path) else {
            self.index
                .insert(s.path.clone(), (self.list.len(), name.to_string()));
            self.list.push(s);
            return Ok(());
        };
        let known = &mut self.list[*i];
        if known.slices.is_empty() || s.slices.is_empty() || known.kind != s.kind {
            return Err(MergeError(format!(
                "the target {} is in {other} and in {name}: its evidence would be counted twice",
                s.path
            )));
        }
        let slices = known.slices.iter().chain(&s.slices).cloned().collect();
        let Some(joined) = crate::source::slice::join(slices) else {
            return Err(MergeError(format!(
                "{other} and {name} scanned overlapping slices of {}: their evidence would \
                 be counted twice",
                s.path
            )));
        };
        known.slices = if joined.iter().all(crate::source::Slice::is_whole) {
            Vec::new()
        } else {
            joined
        };
        known.files_scanned += s.files_scanned;
        known.bytes_hashed += s.bytes_hashed;
        known.records_scanned += s.records_scanned;
        known.errors += s.errors;
        known.skipped += s.skipped;
        known.interrupted |= s.interrupted;
        Ok(())
    }
}

/// The collection of reports merged: their evidence links are relative to
/// their folder, so only reports collected into one folder (or none)
/// merge; the counts add up.
fn merged_collection(
    reports: &[(String, Report)],
) -> Result<Option<super::model::CollectionReport>, MergeError> {
    let (first_name, first) = &reports[0];
    let dir = |r: &Report| r.scan.collection.as_ref().map(|c| c.directory.clone());
    if let Some((name, _)) = reports.iter().find(|(_, r)| dir(r) != dir(first)) {
        return Err(MergeError(format!(
            "{name} and {first_name} collected evidence into different folders (--collect): \
             their evidence links would not lead to their copies"
        )));
    }
    Ok(first.scan.collection.clone().map(|mut c| {
        let all = reports
            .iter()
            .filter_map(|(_, r)| r.scan.collection.as_ref());
        (c.files, c.bytes, c.failed, c.not_collected) = all.fold((0, 0, 0, 0), |a, x| {
            (
                a.0 + x.files,
                a.1 + x.bytes,
                a.2 + x.failed,
                a.3 + x.not_collected,
            )
        });
        c
    }))
}

/// The case of reports merged: one case id (or none in all of them), every
/// examiner and note once, in order.
fn merged_case(reports: &[(String, Report)]) -> Result<CaseInfo, MergeError> {
    let (first_name, first) = &reports[0];
    let mut case = CaseInfo {
        id: first.scan.case.id.clone(),
        ..CaseInfo::default()
    };
    for (name, r) in reports {
        if r.scan.case.id != case.id {
            let shown = |id: &Option<String>| {
                id.as_deref()
                    .map_or("no case".into(), |i| format!("case {i:?}"))
            };
            return Err(MergeError(format!(
                "{name} belongs to {} and {first_name} to {}: only reports of one case merge",
                shown(&r.scan.case.id),
                shown(&case.id)
            )));
        }
        for e in &r.scan.case.examiners {
            if !case.examiners.contains(e) {
                case.examiners.push(e.clone());
            }
        }
        for n in &r.scan.case.notes {
            if !case.notes.contains(n) {
                case.notes.push(n.clone());
            }
        }
    }
    Ok(case)
}

/// The same bundle files, whatever their paths on the machines that
/// scanned: same digests, formats and counts, in the same order.
fn same_bundles(a: &[BundleReport], b: &[BundleReport]) -> bool {
    let key = |x: &BundleReport| {
        (
            x.sha256.clone(),
            x.format.clone(),
            x.alert_definitions,
            x.iocs,
            x.iocs_active,
            x.entries_unused,
        )
    };
    a.len() == b.len() && a.iter().map(key).eq(b.iter().map(key))
}

fn earliest<'a>(times: impl Iterator<Item = &'a str>) -> String {
    pick(times, std::cmp::Ordering::Less)
}

fn latest<'a>(times: impl Iterator<Item = &'a str>) -> String {
    pick(times, std::cmp::Ordering::Greater)
}

/// The earliest or latest of RFC 3339 times, compared as instants (their
/// precision varies); text that does not parse never wins.
fn pick<'a>(times: impl Iterator<Item = &'a str>, want: std::cmp::Ordering) -> String {
    let mut best: Option<(jiff::Timestamp, &str)> = None;
    let mut fallback = "";
    for t in times {
        fallback = t;
        if let Ok(ts) = t.parse::<jiff::Timestamp>()
            && best.is_none_or(|(b, _)| ts.cmp(&b) == want)
        {
            best = Some((ts, t));
        }
    }
    best.map_or(fallback, |(_, t)| t).to_string()
}
