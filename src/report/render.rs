//! Scan events as the report writes them: a finding becomes an evidence
//! item, a problem an `errors` entry.

use std::collections::BTreeMap;

use super::catalog::Catalog;
use super::model::{
    ErrorReport, EvidenceReport, FileReport, LocationReport, RecordReport, VolumeReport,
};
use crate::artifact::Record;
use crate::evidence::{Artifact, FileFacts, Finding};
use crate::source::volume::VolumeInfo;
use crate::source::{EvidencePath, Problem};

/// RFC 3339 in UTC with the precision the source has.
pub fn format_time(t: jiff::Timestamp) -> String {
    t.to_string()
}

/// `source` is the finding's target as given; `single_file` says the target
/// is one file (its own location, no chain to show).
pub fn evidence(
    catalog: &dyn Catalog,
    source: &str,
    single_file: bool,
    f: Finding,
) -> EvidenceReport {
    let described = catalog.describe(&f.detection);
    let path = f.location.path.display();
    let volume = f.location.volume.as_deref();
    let mut display = match volume {
        _ if single_file => source.to_string(),
        Some(v) => format!("{source} › {} › {path}", v.label()),
        None => format!("{source} › {path}"),
    };
    let kind = f.artifact.kind().to_string();
    let (file, record) = match f.artifact {
        Artifact::File { file } => (file, None),
        Artifact::Record { log, record } => (log, Some(*record)),
    };
    if let Some(r) = &record {
        display.push_str(&format!(" › record {}", r.record_id));
    }
    EvidenceReport {
        kind,
        detection: described.detection,
        ioc: described.ioc,
        field: f.field,
        matched_value: f.value,
        location: LocationReport {
            source: source.to_string(),
            path: path.clone(),
            display,
            host_path: f.location.host_path.as_ref().map(EvidencePath::display),
            path_hex: f.location.path.raw_hex(),
            record_id: record.as_ref().map(|r| r.record_id),
            record_number: record.as_ref().map(|r| r.record_number),
            volume: volume.map(volume_report),
        },
        file: Some(file_report(path, &file)),
        record: record.map(record_report),
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
    // Repeated names (unnamed <Data> elements) become arrays.
    let mut data: BTreeMap<String, serde_json::Value> = BTreeMap::new();
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
        data,
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
