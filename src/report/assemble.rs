//! The one place a report is put together, whether from a scan's events
//! or from reports merged: alerts grouped by definition and ordered,
//! evidence and errors sorted, summary and warnings derived. A merge of
//! shard reports equals a single scan because both end here.

use std::collections::BTreeMap;

use rayon::prelude::*;

use super::model::{
    AlertDefinitionReport, AlertReport, BundleReport, BySeverity, ErrorReport, EvidenceReport,
    Report, ScanInfo, SourceReport, Summary, Tool, Warning,
};
use crate::bundle::Severity;
use crate::sigma::RuleFile;

/// Version of the report's shape (`docs/report.md` lists the changes).
pub const SCHEMA_VERSION: u32 = 2;

/// A report's parts, in any order.
pub struct Parts {
    pub scan: ScanInfo,
    pub bundles: Vec<BundleReport>,
    pub rules: Vec<RuleFile>,
    /// In target order.
    pub sources: Vec<SourceReport>,
    /// Alert definitions with their evidence, each id once (see
    /// [`join_alerts`]).
    pub alerts: Vec<(AlertDefinitionReport, Vec<EvidenceReport>)>,
    pub errors: Vec<ErrorReport>,
}

/// Joins alert lists from several reports: one entry per definition id,
/// its evidence gathered. Fails when one id comes with two different
/// definitions (reports of different bundles).
pub fn join_alerts(
    alerts: Vec<(AlertDefinitionReport, Vec<EvidenceReport>)>,
) -> Result<Vec<(AlertDefinitionReport, Vec<EvidenceReport>)>, String> {
    // Each definition's evidence goes into one vector sized for all of it:
    // a million items grown by doubling cost more than parsing them.
    let mut total: BTreeMap<&str, usize> = BTreeMap::new();
    for (def, evidence) in &alerts {
        *total.entry(&def.id).or_default() += evidence.len();
    }
    let total: BTreeMap<String, usize> =
        total.into_iter().map(|(k, n)| (k.to_string(), n)).collect();
    let mut by_id: BTreeMap<String, (AlertDefinitionReport, Vec<EvidenceReport>)> = BTreeMap::new();
    for (def, evidence) in alerts {
        match by_id.get_mut(&def.id) {
            Some((known, items)) => {
                if *known != def {
                    return Err(format!(
                        "alert definition {:?} differs between the reports",
                        def.id
                    ));
                }
                items.extend(evidence);
            }
            None => {
                let mut items = Vec::with_capacity(total.get(&def.id).copied().unwrap_or(0));
                items.extend(evidence);
                by_id.insert(def.id.clone(), (def, items));
            }
        }
    }
    Ok(by_id.into_values().collect())
}

/// Puts the report together.
pub fn assemble(parts: Parts) -> Report {
    let Parts {
        mut scan,
        bundles,
        rules,
        sources,
        alerts,
        mut errors,
    } = parts;
    errors.sort();
    scan.complete =
        scan.complete && scan.interrupted.is_none() && !errors.iter().any(|e| e.class == "error");

    let mut alerts: Vec<(Severity, AlertReport)> = alerts
        .into_par_iter()
        .filter(|(_, ev)| !ev.is_empty())
        .map(|(def, mut evidence)| {
            sort_evidence(&mut evidence);
            let severity = Severity::parse(&def.severity).unwrap_or(Severity::Informational);
            (
                severity,
                AlertReport {
                    alert_definition: def,
                    evidence_count: evidence.len(),
                    evidence,
                },
            )
        })
        .collect();
    alerts.sort_by(|(sa, a), (sb, b)| {
        sb.cmp(sa)
            .then_with(|| a.alert_definition.name.cmp(&b.alert_definition.name))
            .then_with(|| a.alert_definition.id.cmp(&b.alert_definition.id))
    });

    let mut by_severity = BySeverity::default();
    for (s, _) in &alerts {
        *match s {
            Severity::High => &mut by_severity.high,
            Severity::Medium => &mut by_severity.medium,
            Severity::Low => &mut by_severity.low,
            Severity::Informational => &mut by_severity.informational,
        } += 1;
    }
    let summary = Summary {
        alerts: alerts.len(),
        evidence: alerts.iter().map(|(_, a)| a.evidence_count).sum(),
        by_severity,
        files_scanned: sources.iter().map(|s| s.files_scanned).sum(),
        bytes_hashed: sources.iter().map(|s| s.bytes_hashed).sum(),
        records_scanned: sources.iter().map(|s| s.records_scanned).sum(),
        errors: sources.iter().map(|s| s.errors).sum(),
        skipped: sources.iter().map(|s| s.skipped).sum(),
    };
    let mut warnings = warnings(&bundles, &scan, &sources);
    warnings.extend(rule_warnings(&rules));
    Report {
        schema_version: SCHEMA_VERSION,
        tool: Tool {
            name: env!("CARGO_PKG_NAME").into(),
            version: env!("CARGO_PKG_VERSION").into(),
            commit: option_env!("BREACHSCAN_COMMIT").map(str::to_string),
        },
        scan,
        bundles,
        rules,
        sources,
        summary,
        alerts: alerts.into_iter().map(|(_, a)| a).collect(),
        errors,
        warnings,
    }
}

/// Evidence order inside an alert: by location, then what matched. The
/// record's header number settles two records that share an id, the cell
/// two registry items of one path (deleted ones of unknown keys).
type SortKey<'a> = (
    &'a str,
    &'a Option<String>,
    &'a str,
    &'a str,
    &'a str,
    Option<u64>,
    Option<u32>,
);

/// Sorts by [`sort_key`], stably, moving each item at most once or twice:
/// the indices are sorted, then the items put in place along the
/// permutation's cycles (a comparison sort moved each ~1.7 KB item
/// log₂(n) times, a tenth of a second for 27,000 items).
fn sort_evidence(evidence: &mut [EvidenceReport]) {
    let mut order: Vec<usize> = (0..evidence.len()).collect();
    // On every core: an alert can hold most of a scan's evidence.
    order.par_sort_by(|&a, &b| sort_key(&evidence[a]).cmp(&sort_key(&evidence[b])));
    permute(evidence, order);
}

/// Rearranges `items` so that position `k` holds what was at `order[k]`
/// (`order` a permutation of the positions).
fn permute<T>(items: &mut [T], mut order: Vec<usize>) {
    for start in 0..items.len() {
        let mut at = start;
        while order[at] != start {
            let from = order[at];
            items.swap(at, from);
            order[at] = at;
            at = from;
        }
        order[at] = at;
    }
}

fn sort_key(e: &EvidenceReport) -> SortKey<'_> {
    (
        &e.location.display,
        &e.location.path_hex,
        &e.field,
        &e.detection.id,
        &e.matched_value,
        e.location.record_number,
        e.registry.as_ref().map(|r| r.cell),
    )
}

/// A rule file of which something was not loaded: each problem is in
/// `rules[].problems` with its line.
fn rule_warnings(rules: &[RuleFile]) -> impl Iterator<Item = Warning> + '_ {
    rules
        .iter()
        .filter(|f| !f.problems.is_empty())
        .map(|f| Warning {
            code: "rulesNotLoaded".into(),
            path: Some(f.path.clone()),
            message: format!(
                "{} problem(s) in this rule file (listed under \"rules\" with their lines): \
             what they name was not evaluated as written",
                f.problems.len()
            ),
        })
}

/// The ways a scan checked less than it was asked to (see [`Warning`]).
fn warnings(bundles: &[BundleReport], scan: &ScanInfo, sources: &[SourceReport]) -> Vec<Warning> {
    let mut out = Vec::new();
    for b in bundles.iter().filter(|b| b.iocs_active == 0) {
        out.push(Warning {
            code: "bundleWithoutActiveIoc".into(),
            path: Some(b.path.clone()),
            message: format!(
                "gives no active IOC ({} IOCs, {} entries not used): nothing of it was looked for",
                b.iocs, b.entries_unused
            ),
        });
    }
    for s in sources {
        let (code, message) = match s.kind.as_str() {
            "unopened" => (
                "targetNotOpened",
                "could not be opened: nothing in it was scanned",
            ),
            _ if s.files_scanned == 0 && s.records_scanned == 0 && !s.interrupted => (
                "targetEmpty",
                "no file or record could be read from it: nothing in it was scanned",
            ),
            _ => ("", ""),
        };
        if !code.is_empty() {
            out.push(Warning {
                code: code.into(),
                path: Some(s.path.clone()),
                message: message.into(),
            });
        }
        out.extend(slice_warning(s));
        let Some(image) = &s.image else { continue };
        if !image.complete {
            out.push(Warning {
                code: "imageIncomplete".into(),
                path: Some(s.path.clone()),
                message: "parts of the image set are missing: what they held was not scanned"
                    .into(),
            });
        }
        let unverified = match image.verification.as_deref() {
            Some("mismatch") => "the media no longer hashes to what was stored at acquisition",
            Some("incomplete") => "the media could not be hashed whole to verify it",
            _ => continue,
        };
        out.push(Warning {
            code: "imageUnverified".into(),
            path: Some(s.path.clone()),
            message: unverified.into(),
        });
    }
    if let Some(signal) = &scan.interrupted {
        out.push(Warning {
            code: "interrupted".into(),
            path: None,
            message: format!(
                "stopped by {signal} before the end: {} target(s) not walked to the end",
                sources.iter().filter(|s| s.interrupted).count()
            ),
        });
    }
    out
}

/// The warning for a directory of which only slices were walked.
pub fn slice_warning(s: &SourceReport) -> Option<Warning> {
    (!s.slices.is_empty()).then(|| Warning {
        code: "targetPartlyScanned".into(),
        path: Some(s.path.clone()),
        message: format!(
            "only {} of this directory tree was walked: the rest was not scanned",
            s.slices
                .iter()
                .map(|x| format!(
                    "[{} … {})",
                    x.from.as_deref().unwrap_or("start"),
                    x.to.as_deref().unwrap_or("end")
                ))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::permute;

    #[test]
    fn permute_puts_each_item_where_the_order_says() {
        // Every permutation of five items, and a long one of many cycles.
        let mut orders: Vec<Vec<usize>> = Vec::new();
        let mut perm: Vec<usize> = (0..5).collect();
        heap_permutations(&mut perm, 5, &mut orders);
        let mut seed = 7u64;
        let mut long: Vec<usize> = (0..1000).collect();
        for i in (1..long.len()).rev() {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            long.swap(i, (seed >> 33) as usize % (i + 1));
        }
        orders.push(long);
        for order in orders {
            let items: Vec<String> = (0..order.len()).map(|i| format!("item {i}")).collect();
            let want: Vec<String> = order.iter().map(|&i| items[i].clone()).collect();
            let mut got = items.clone();
            permute(&mut got, order.clone());
            assert_eq!(got, want, "order {order:?}");
        }
    }

    fn heap_permutations(a: &mut Vec<usize>, k: usize, out: &mut Vec<Vec<usize>>) {
        if k <= 1 {
            out.push(a.clone());
            return;
        }
        for i in 0..k {
            heap_permutations(a, k - 1, out);
            a.swap(if k.is_multiple_of(2) { i } else { 0 }, k - 1);
        }
    }
}
