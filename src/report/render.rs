//! Scan events as the report writes them: a finding becomes an evidence
//! item, a problem an `errors` entry.

use super::catalog::Catalog;
use super::model::{
    CorrelationReport, ErrorReport, EvidenceReport, Fields, FileReport, GroupedReport,
    LocationReport, MatchedField, RecordReport, VolumeReport,
};
use crate::artifact::Record;
use crate::evidence::{Artifact, Detection, FileFacts, Finding, Grouped, Location};
use crate::source::volume::VolumeInfo;
use crate::source::{EvidencePath, Problem};

/// RFC 3339 in UTC with the precision the source has.
pub fn format_time(t: jiff::Timestamp) -> String {
    t.to_string()
}

/// How the report names the targets: as given, and whether each is one
/// file (its own location, no chain to show).
pub struct Places<'a> {
    pub targets: &'a [String],
    pub single_file: Vec<bool>,
}

impl Places<'_> {
    /// Where `loc` is, and for a record its ids (shown after the chain).
    fn location(&self, loc: &Location, record: Option<(u64, u64)>) -> LocationReport {
        let source = &self.targets[loc.source];
        let path = loc.path.display();
        let volume = loc.volume.as_deref();
        let mut display = match volume {
            _ if self.single_file[loc.source] => source.to_string(),
            Some(v) => format!("{source} › {} › {path}", v.label()),
            None => format!("{source} › {path}"),
        };
        if let Some((id, _)) = record {
            display.push_str(&format!(" › record {id}"));
        }
        LocationReport {
            source: source.to_string(),
            path,
            display,
            host_path: loc.host_path.as_ref().map(EvidencePath::display),
            path_hex: loc.path.raw_hex(),
            record_id: record.map(|r| r.0),
            record_number: record.map(|r| r.1),
            volume: volume.map(volume_report),
        }
    }
}

pub fn evidence(catalog: &dyn Catalog, places: &Places, f: Finding) -> EvidenceReport {
    let described = catalog.describe(&f.detection);
    let kind = f.artifact.kind().to_string();
    let mut registry = None;
    let mut content = None;
    let mut executed = None;
    let (file, record, correlation) = match f.artifact {
        Artifact::File { file } => (Some(file), None, None),
        Artifact::Record { log, record } => (Some(log), Some(*record), None),
        Artifact::Registry { hive, item } => {
            registry = Some(*item);
            (Some(hive), None, None)
        }
        Artifact::Content { file, hit } => {
            content = Some(*hit);
            (Some(file), None, None)
        }
        Artifact::Executed { trace, program } => {
            executed = Some(*program);
            (Some(trace), None, None)
        }
        Artifact::Correlation {
            kind,
            value,
            timespan_secs,
            records,
        } => {
            let when = |g: Option<&Grouped>| g.and_then(|g| g.timestamp).map(format_time);
            let report = CorrelationReport {
                kind,
                group_by: f
                    .matched
                    .iter()
                    .map(|(field, value)| MatchedField {
                        field: field.clone(),
                        value: value.clone(),
                    })
                    .collect(),
                value,
                timespan_seconds: timespan_secs,
                first: when(records.first()),
                last: when(records.last()),
                records: records
                    .iter()
                    .map(|g| GroupedReport {
                        rule: catalog
                            .describe(&Detection::Rule { rule: g.rule })
                            .detection
                            .id,
                        location: places
                            .location(&g.location, Some((g.record_id, g.record_number))),
                        timestamp: g.timestamp.map(format_time),
                        channel: g.channel.clone(),
                        event_id: g.event_id,
                    })
                    .collect(),
            };
            (None, None, Some(report))
        }
    };
    let first = correlation
        .as_ref()
        .and_then(|c| c.records.first())
        .and_then(|g| Some((g.location.record_id?, g.location.record_number?)));
    let ids = record
        .as_ref()
        .map(|r| (r.record_id, r.record_number))
        .or(first);
    let mut location = places.location(&f.location, ids);
    if let Some(item) = &registry {
        location.display.push_str(&format!(" › {}", item.path()));
    }
    if let Some(hit) = &content {
        location
            .display
            .push_str(&format!(" › byte {}", hit.offset));
    }
    if let Some(p) = &executed {
        location.display.push_str(&format!(" › {}", p.key));
    }
    let matched_fields = if correlation.is_some() {
        Vec::new()
    } else {
        f.matched
            .into_iter()
            .map(|(field, value)| MatchedField { field, value })
            .collect()
    };
    EvidenceReport {
        kind,
        detection: described.detection,
        ioc: described.ioc,
        field: f.field,
        matched_value: f.value,
        matched_fields,
        file: file.map(|file| file_report(location.path.clone(), &file)),
        location,
        record: record.map(record_report),
        correlation,
        registry,
        content,
        executed,
        collected: None,
    }
}

fn file_report(path: String, f: &FileFacts) -> FileReport {
    let hex_of = |d: Option<&[u8]>| d.map(hex::encode);
    FileReport {
        path,
        size: f.meta.size,
        md5: hex_of(f.digests.md5.as_ref().map(|d| &d[..])),
        sha1: hex_of(f.digests.sha1.as_ref().map(|d| &d[..])),
        sha256: hex_of(f.digests.sha256.as_ref().map(|d| &d[..])),
        created: f.meta.created.map(format_time),
        modified: f.meta.modified.map(format_time),
        accessed: f.meta.accessed.map(format_time),
        changed: f.meta.changed.map(format_time),
        deleted: f.meta.deleted,
        stream: f.meta.stream.clone(),
        inode: f.meta.inode,
    }
}

fn volume_report(v: &VolumeInfo) -> VolumeReport {
    VolumeReport {
        index: v.index,
        offset: v.offset,
        size: v.size,
        scheme: v.scheme.to_string(),
        partition_type: v.type_name.clone(),
        name: v.name.clone(),
        filesystem: v.filesystem.as_deref().map(str::to_string),
        image: v.image.as_ref().map(EvidencePath::display),
    }
}

fn record_report(r: Record) -> RecordReport {
    RecordReport {
        record_id: r.record_id,
        record_number: r.record_number,
        chunk: r.chunk,
        timestamp: r.timestamp.map(format_time),
        channel: r.channel,
        provider: r.provider,
        event_id: r.event_id,
        computer: r.computer,
        user: r.user,
        recovered: r.recovered,
        carved_copies: r.carved_copies,
        data: Fields::of(r.data),
    }
}

pub fn error(source: &str, p: Problem) -> ErrorReport {
    ErrorReport {
        source: source.to_string(),
        path: p.path.display(),
        kind: p.kind.as_str().into(),
        class: p.kind.class().into(),
        message: p.message,
        path_hex: p.path.raw_hex(),
        at: p.at,
    }
}
