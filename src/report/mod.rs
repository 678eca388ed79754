//! The JSON report: built from a scan's events ([`ReportBuilder`]), read
//! back and merged (`merge`), written deterministically.
//!
//! Workers never touch the report: they send [`ScanEvent`]s, and one thread
//! feeds them to a [`ReportSink`]. The builder renders each finding through
//! a [`Catalog`] (what the detection raises and how it reads) and hands the
//! parts to [`assemble`], the one place a report is put together.

mod assemble;
mod catalog;
pub mod export;
pub mod html;
mod merge;
mod model;
mod render;
mod write;

pub use assemble::{Parts, SCHEMA_VERSION, assemble, join_alerts, slice_warning};
pub use catalog::{Catalog, Described, Detections};
pub use merge::{MergeError, merge};
pub use model::*;
pub use render::format_time;
pub use write::write_json;

use std::collections::HashMap;

use crate::evidence::{Finding, ReportSink, ScanEvent};
use crate::source::Problem;
use crate::source::container::integrity::ImageInfo;

#[derive(Default)]
struct SourceStats {
    kind: Option<String>,
    format: Option<String>,
    files: u64,
    bytes: u64,
    records: u64,
    errors: u64,
    skipped: u64,
    interrupted: bool,
    image: Option<ImageInfo>,
}

/// Collects events and builds the [`Report`].
pub struct ReportBuilder {
    targets: Vec<String>,
    stats: Vec<SourceStats>,
    findings: Vec<Finding>,
    problems: Vec<(usize, Problem)>,
    window: Option<Window>,
}

/// `--since`/`--until` as instants, and the record evidence left out.
struct Window {
    since: Option<jiff::Timestamp>,
    until: Option<jiff::Timestamp>,
    outside: u64,
}

impl Window {
    /// Whether a finding is kept: anything but a record, a record with no
    /// time, or one inside the window (both ends included).
    fn keeps(&self, f: &Finding) -> bool {
        let crate::evidence::Artifact::Record { record, .. } = &f.artifact else {
            return true;
        };
        record
            .timestamp
            .is_none_or(|t| self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t <= u))
    }
}

impl ReportBuilder {
    /// `targets` are the scan targets as given, indexed like the events'
    /// `source`.
    pub fn new(targets: Vec<String>) -> Self {
        let stats = targets.iter().map(|_| SourceStats::default()).collect();
        ReportBuilder {
            targets,
            stats,
            findings: Vec::new(),
            problems: Vec::new(),
            window: None,
        }
    }

    /// Leaves out record evidence outside `since`..=`until` (the report's
    /// `scan.timeWindow` says so, with how many were left out).
    pub fn limit_records(
        &mut self,
        since: Option<jiff::Timestamp>,
        until: Option<jiff::Timestamp>,
    ) {
        if since.is_some() || until.is_some() {
            self.window = Some(Window {
                since,
                until,
                outside: 0,
            });
        }
    }

    pub fn evidence_count(&self) -> usize {
        self.findings.len()
    }

    /// The findings so far (correlations run over them at the end).
    pub fn findings(&self) -> &[Finding] {
        &self.findings
    }

    /// Renders and assembles. `scan` carries the times and arguments.
    pub fn finish(self, catalog: &Detections, mut scan: ScanInfo) -> Report {
        let ReportBuilder {
            targets,
            stats,
            findings,
            problems,
            window,
        } = self;
        scan.time_window = window.map(|w| TimeWindow {
            since: w.since.map(format_time),
            until: w.until.map(format_time),
            outside: w.outside,
        });
        let errors = problems
            .into_iter()
            .map(|(source, p)| render::error(&targets[source], p))
            .collect();
        let places = render::Places {
            targets: &targets,
            single_file: stats
                .iter()
                .map(|s| s.kind.as_deref() == Some("file"))
                .collect(),
        };
        let alerts = group(catalog, &places, findings);
        let sources = targets
            .iter()
            .zip(stats)
            .map(|(t, s)| SourceReport {
                path: t.clone(),
                absolute_path: None,
                evidence_id: None,
                scanned_on: None,
                kind: s.kind.unwrap_or_else(|| "unopened".into()),
                format: s.format,
                files_scanned: s.files,
                bytes_hashed: s.bytes,
                records_scanned: s.records,
                errors: s.errors,
                skipped: s.skipped,
                interrupted: s.interrupted,
                image: s.image,
                slices: Vec::new(),
            })
            .collect();
        let bundles = catalog
            .bundle
            .files
            .iter()
            .map(|f| BundleReport {
                path: f.path.display().to_string(),
                absolute_path: None,
                sha256: f.sha256.clone(),
                format: f.format.into(),
                alert_definitions: f.alert_definitions,
                iocs: f.iocs,
                iocs_active: f.iocs_active,
                entries_unused: f.entries_unused,
            })
            .collect();
        assemble(Parts {
            scan,
            bundles,
            rules: catalog.rules.files.clone(),
            sources,
            alerts,
            errors,
        })
    }
}

/// Findings grouped by alert definition (each definition built once per
/// detection), then rendered on all cores straight into each definition's
/// list: an evidence item is ~1.7 KB, and moving tens of thousands of them
/// through an intermediate list cost more than rendering them.
fn group(
    catalog: &Detections,
    places: &render::Places,
    findings: Vec<Finding>,
) -> Vec<(AlertDefinitionReport, Vec<EvidenceReport>)> {
    use rayon::prelude::*;
    let mut alerts: Vec<(AlertDefinitionReport, Vec<Finding>)> = Vec::new();
    let mut slot_of_id: HashMap<String, usize> = HashMap::new();
    let mut slot_of: HashMap<crate::evidence::Detection, usize> = HashMap::new();
    for f in findings {
        let i = *slot_of.entry(f.detection).or_insert_with(|| {
            let (_, def) = catalog.alert(&f.detection);
            *slot_of_id.entry(def.id.clone()).or_insert_with(|| {
                alerts.push((def, Vec::new()));
                alerts.len() - 1
            })
        });
        alerts[i].1.push(f);
    }
    alerts
        .into_iter()
        .map(|(def, found)| {
            let items = found
                .into_par_iter()
                .map(|f| render::evidence(catalog, places, f))
                .collect();
            (def, items)
        })
        .collect()
}

impl ReportSink for ReportBuilder {
    fn accept(&mut self, event: ScanEvent) {
        match event {
            ScanEvent::SourceOpened {
                source,
                kind,
                format,
            } => {
                self.stats[source].kind = Some(kind);
                self.stats[source].format = format;
            }
            ScanEvent::FileScanned { source, bytes } => {
                self.stats[source].files += 1;
                self.stats[source].bytes += bytes;
            }
            ScanEvent::RecordsScanned { source, records } => self.stats[source].records += records,
            ScanEvent::SourceDone {
                source,
                interrupted,
                image,
            } => {
                self.stats[source].interrupted = interrupted;
                self.stats[source].image = image.map(|i| *i);
            }
            ScanEvent::Finding(f) => match &mut self.window {
                Some(w) if !w.keeps(&f) => w.outside += 1,
                _ => self.findings.push(*f),
            },
            ScanEvent::Problem { source, problem } => {
                if problem.kind.is_error() {
                    self.stats[source].errors += 1;
                } else if !problem.kind.is_note() {
                    self.stats[source].skipped += 1;
                }
                self.problems.push((source, problem));
            }
        }
    }
}
