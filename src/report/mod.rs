//! Evidence, the sink that receives scan events, and the JSON report.
//!
//! Workers never touch the report: they send [`ScanEvent`]s, and one thread
//! feeds them to a [`ReportSink`]. [`ReportBuilder`] is the sink that groups
//! evidence by alert definition and sorts everything for a repeatable report.

mod model;

use std::io::Write;

use jiff::Timestamp;

pub use model::*;

use crate::artifact::Record;
use crate::bundle::{Bundle, Severity};
use crate::hash::Digests;
use crate::matcher::Hit;
use crate::source::{EvidencePath, FileMeta, Problem};

pub const SCHEMA_VERSION: u32 = 1;

/// One IOC hit in a file, with everything the report says about it.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Index of the target among those scanned.
    pub source: usize,
    pub hit: Hit,
    pub path: EvidencePath,
    pub host_path: Option<EvidencePath>,
    pub meta: FileMeta,
    pub digests: Digests,
    /// The event record that holds the hit; `None` for file evidence.
    pub record: Option<Box<Record>>,
}

/// What workers tell the report, in any order.
#[derive(Debug)]
pub enum ScanEvent {
    /// A target was opened as a source of this kind.
    SourceOpened {
        source: usize,
        kind: &'static str,
        /// Container format of an image (`e01`, `vmdk` …).
        format: Option<&'static str>,
    },
    /// A file was examined; `bytes` were read and hashed.
    FileScanned {
        source: usize,
        bytes: u64,
    },
    /// Records were read from an event log of this source.
    RecordsScanned {
        source: usize,
        records: u64,
    },
    /// The walk of a source ended: every entry was started, or the scan
    /// was stopped first (`interrupted`).
    SourceDone {
        source: usize,
        interrupted: bool,
    },
    Evidence(Box<Evidence>),
    Problem {
        source: usize,
        problem: Problem,
    },
}

/// Receives scan events on one thread.
pub trait ReportSink {
    fn accept(&mut self, event: ScanEvent);
}

#[derive(Default)]
struct SourceStats {
    kind: &'static str,
    format: Option<&'static str>,
    files: u64,
    bytes: u64,
    records: u64,
    errors: u64,
    skipped: u64,
    interrupted: bool,
}

/// Collects events and builds the [`Report`].
pub struct ReportBuilder {
    targets: Vec<String>,
    stats: Vec<SourceStats>,
    evidence: Vec<Evidence>,
    problems: Vec<(usize, Problem)>,
}

impl ReportBuilder {
    /// `targets` are the scan targets as given, indexed like the events'
    /// `source`.
    pub fn new(targets: Vec<String>) -> Self {
        let stats = targets.iter().map(|_| SourceStats::default()).collect();
        ReportBuilder {
            targets,
            stats,
            evidence: Vec::new(),
            problems: Vec::new(),
        }
    }

    pub fn evidence_count(&self) -> usize {
        self.evidence.len()
    }

    /// Groups, sorts and renders. `scan` carries the times and arguments.
    pub fn finish(self, bundle: &Bundle, mut scan: ScanInfo) -> Report {
        let ReportBuilder {
            targets,
            stats,
            evidence,
            problems,
        } = self;

        let mut errors: Vec<ErrorReport> = problems
            .into_iter()
            .map(|(source, p)| ErrorReport {
                source: targets[source].clone(),
                path: p.path.display(),
                kind: p.kind.as_str(),
                class: if p.kind.is_error() {
                    "error"
                } else {
                    "skipped"
                },
                message: p.message,
                path_hex: p.path.raw_hex(),
            })
            .collect();
        errors.sort();
        scan.complete = scan.complete
            && scan.interrupted.is_none()
            && !errors.iter().any(|e| e.class == "error");

        // Group by alert definition.
        let mut groups: Vec<Vec<Evidence>> = vec![Vec::new(); bundle.alert_definitions.len()];
        for ev in evidence {
            groups[bundle.iocs[ev.hit.ioc as usize].alert].push(ev);
        }
        let mut alerts: Vec<(Severity, AlertReport)> = Vec::new();
        for (alert_idx, group) in groups.into_iter().enumerate() {
            if group.is_empty() {
                continue;
            }
            let def = &bundle.alert_definitions[alert_idx];
            let mut items: Vec<EvidenceReport> = group
                .into_iter()
                .map(|ev| evidence_report(bundle, &targets, &stats, ev))
                .collect();
            items.sort_by(|a, b| {
                (
                    &a.location.display,
                    &a.location.path_hex,
                    &a.field,
                    &a.ioc.id,
                    &a.matched_value,
                )
                    .cmp(&(
                        &b.location.display,
                        &b.location.path_hex,
                        &b.field,
                        &b.ioc.id,
                        &b.matched_value,
                    ))
            });
            alerts.push((
                def.severity,
                AlertReport {
                    alert_definition: AlertDefinitionReport {
                        id: def.id.clone(),
                        name: def.name.clone(),
                        title: def.title.clone(),
                        severity: def.severity.as_str(),
                        category: def.category.clone(),
                        description: def.description.clone(),
                        recommended_action: def.recommended_action.clone(),
                        mitre_techniques: def.mitre_techniques.clone(),
                    },
                    evidence_count: items.len(),
                    evidence: items,
                },
            ));
        }
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
        let sources: Vec<SourceReport> = targets
            .iter()
            .zip(&stats)
            .map(|(t, s)| SourceReport {
                path: t.clone(),
                kind: if s.kind.is_empty() {
                    "unopened"
                } else {
                    s.kind
                },
                format: s.format,
                files_scanned: s.files,
                bytes_hashed: s.bytes,
                records_scanned: s.records,
                errors: s.errors,
                skipped: s.skipped,
                interrupted: s.interrupted,
            })
            .collect();
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
        let warnings = warnings(bundle, &scan, &sources);
        Report {
            schema_version: SCHEMA_VERSION,
            tool: Tool {
                name: env!("CARGO_PKG_NAME"),
                version: env!("CARGO_PKG_VERSION"),
            },
            scan,
            bundles: bundle
                .files
                .iter()
                .map(|f| BundleReport {
                    path: f.path.display().to_string(),
                    sha256: f.sha256.clone(),
                    format: f.format,
                    alert_definitions: f.alert_definitions,
                    iocs: f.iocs,
                    iocs_active: f.iocs_active,
                    entries_unused: f.entries_unused,
                })
                .collect(),
            sources,
            summary,
            alerts: alerts.into_iter().map(|(_, a)| a).collect(),
            errors,
            warnings,
        }
    }
}

/// The ways a scan checked less than it was asked to (see [`Warning`]).
fn warnings(bundle: &Bundle, scan: &ScanInfo, sources: &[SourceReport]) -> Vec<Warning> {
    let mut out = Vec::new();
    for f in bundle.files.iter().filter(|f| f.iocs_active == 0) {
        out.push(Warning {
            code: "bundleWithoutActiveIoc",
            path: Some(f.path.display().to_string()),
            message: format!(
                "gives no active IOC ({} IOCs, {} entries not used): nothing of it was looked for",
                f.iocs, f.entries_unused
            ),
        });
    }
    for s in sources {
        let (code, message) = match s.kind {
            "unopened" => (
                "targetNotOpened",
                "could not be opened: nothing in it was scanned",
            ),
            _ if s.files_scanned == 0 && s.records_scanned == 0 && !s.interrupted => (
                "targetEmpty",
                "no file or record could be read from it: nothing in it was scanned",
            ),
            _ => continue,
        };
        out.push(Warning {
            code,
            path: Some(s.path.clone()),
            message: message.into(),
        });
    }
    if let Some(signal) = scan.interrupted {
        out.push(Warning {
            code: "interrupted",
            path: None,
            message: format!(
                "stopped by {signal} before the end: {} target(s) not walked to the end",
                sources.iter().filter(|s| s.interrupted).count()
            ),
        });
    }
    out
}

impl ReportSink for ReportBuilder {
    fn accept(&mut self, event: ScanEvent) {
        match event {
            ScanEvent::SourceOpened {
                source,
                kind,
                format,
            } => {
                self.stats[source].kind = kind;
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
            } => self.stats[source].interrupted = interrupted,
            ScanEvent::Evidence(ev) => self.evidence.push(*ev),
            ScanEvent::Problem { source, problem } => {
                if problem.kind.is_error() {
                    self.stats[source].errors += 1;
                } else {
                    self.stats[source].skipped += 1;
                }
                self.problems.push((source, problem));
            }
        }
    }
}

fn volume_report(v: &crate::source::volume::VolumeInfo) -> VolumeReport {
    VolumeReport {
        index: v.index,
        offset: v.offset,
        size: v.size,
        scheme: v.scheme,
        partition_type: v.type_name.clone(),
        name: v.name.clone(),
        filesystem: v.filesystem,
        image: v.image.as_ref().map(EvidencePath::display),
    }
}

fn evidence_report(
    bundle: &Bundle,
    targets: &[String],
    stats: &[SourceStats],
    ev: Evidence,
) -> EvidenceReport {
    let ioc = &bundle.iocs[ev.hit.ioc as usize];
    let source = targets[ev.source].clone();
    let path = ev.path.display();
    // A single-file target is its own location; a tree shows the chain.
    let mut display = match &ev.meta.volume {
        _ if stats[ev.source].kind == "file" => source.clone(),
        Some(v) => format!("{source} › {} › {path}", v.label()),
        None => format!("{source} › {path}"),
    };
    if let Some(r) = &ev.record {
        display.push_str(&format!(" › record {}", r.record_id));
    }
    let hex_of = |d: Option<&[u8]>| d.map(hex::encode);
    EvidenceReport {
        kind: if ev.record.is_some() {
            "record"
        } else {
            "file"
        },
        ioc: IocReport {
            id: ioc.id.clone(),
            kind: ioc.kind.as_str(),
            value: ioc.value.clone(),
            detection_function: ioc.function.as_str(),
            description: ioc.description.clone(),
        },
        field: ev.hit.field,
        matched_value: ev.hit.value,
        location: LocationReport {
            source,
            path: path.clone(),
            display,
            host_path: ev.host_path.as_ref().map(EvidencePath::display),
            path_hex: ev.path.raw_hex(),
            record_id: ev.record.as_ref().map(|r| r.record_id),
            volume: ev.meta.volume.as_deref().map(volume_report),
        },
        file: Some(FileReport {
            path,
            size: ev.meta.size,
            md5: hex_of(ev.digests.md5.as_ref().map(|d| &d[..])),
            sha1: hex_of(ev.digests.sha1.as_ref().map(|d| &d[..])),
            sha256: hex_of(ev.digests.sha256.as_ref().map(|d| &d[..])),
            created: ev.meta.created.map(format_time),
            modified: ev.meta.modified.map(format_time),
            accessed: ev.meta.accessed.map(format_time),
            changed: ev.meta.changed.map(format_time),
            deleted: ev.meta.deleted,
            stream: ev.meta.stream,
            inode: ev.meta.inode,
        }),
        record: ev.record.map(|r| record_report(*r)),
    }
}

fn record_report(r: Record) -> RecordReport {
    // Repeated names (unnamed <Data> elements) become arrays.
    let mut data: std::collections::BTreeMap<String, serde_json::Value> = Default::default();
    for (k, v) in r.data {
        match data.get_mut(&k) {
            None => {
                data.insert(k, serde_json::Value::String(v));
            }
            Some(serde_json::Value::Array(items)) => items.push(v.into()),
            Some(first) => {
                let prev = first.take();
                *first = serde_json::Value::Array(vec![prev, v.into()]);
            }
        }
    }
    RecordReport {
        record_id: r.record_id,
        timestamp: r.timestamp.map(format_time),
        channel: r.channel,
        provider: r.provider,
        event_id: r.event_id,
        computer: r.computer,
        user: r.user,
        recovered: r.recovered,
        data,
    }
}

/// RFC 3339 in UTC with the precision the source has.
pub fn format_time(t: Timestamp) -> String {
    t.to_string()
}

/// Writes the report as pretty JSON to `out`.
pub fn write_json(report: &Report, out: &mut dyn Write) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut *out, report)?;
    out.write_all(b"\n")
}
