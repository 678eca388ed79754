//! The evidence model: what flows from the workers to the report.
//!
//! A [`Finding`] is one detection that fired on one artifact at one
//! location: detection × artifact × location. A detection (an IOC today, a
//! rule tomorrow) resolves to an alert definition through the report's
//! `Catalog`; an
//! artifact is a file, an event record, and whatever the next parsers read
//! (registry values); a location is structured data, not a display string.
//! Adding a detection or artifact kind is one variant here and its matching
//! code; the report renders whatever arrives.
//!
//! Every [`ScanEvent`] is serializable both ways, so a scan's events can be
//! written, read back and replayed (shards of a batch, tests).

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::artifact::Record;
use crate::artifact::registry::RegistryItem;
use crate::bundle::IocIdx;
use crate::hash::Digests;
use crate::sigma::RuleIdx;
use crate::source::container::integrity::ImageInfo;
use crate::source::volume::VolumeInfo;
use crate::source::{EvidencePath, FileMeta, Problem};

/// What raised a finding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Detection {
    /// An IOC of the bundle, by its index in [`Bundle::iocs`].
    Ioc { ioc: IocIdx },
    /// A Sigma rule, by its index in [`RuleSet::rules`]: an alert
    /// definition of its own.
    ///
    /// [`RuleSet::rules`]: crate::sigma::RuleSet::rules
    Rule { rule: RuleIdx },
}

/// One detection that fired on one artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub detection: Detection,
    /// Where in the artifact the match was made: `sha256`, `name`,
    /// `path`, or a record field name.
    pub field: String,
    /// The value there that matched.
    pub value: String,
    /// Every field that made a rule fire, with its value (the first is
    /// `field`/`value`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub matched: Vec<(String, String)>,
    pub artifact: Artifact,
    pub location: Location,
}

/// What a finding was made in.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
pub enum Artifact {
    /// A file (or stream) itself: its name, path or digest matched.
    File { file: FileFacts },
    /// An event record inside a log file.
    Record { log: FileFacts, record: Box<Record> },
    /// A key or value of a registry hive file.
    Registry {
        hive: FileFacts,
        item: Box<RegistryItem>,
    },
    /// A program an execution trace in a file records (an Amcache entry):
    /// evidence it ran or was installed, even when the file is gone.
    Executed {
        trace: FileFacts,
        program: Box<crate::artifact::program::Program>,
    },
    /// A network IOC's value inside a file's bytes (`--content`).
    Content {
        file: FileFacts,
        hit: Box<crate::matcher::content::ContentHit>,
    },
    /// Records a correlation rule grouped: what it counted (`kind`,
    /// `event_count` …), the value that met its condition, its window.
    Correlation {
        #[serde(rename = "type")]
        kind: String,
        value: f64,
        timespan_secs: u64,
        records: Vec<Grouped>,
    },
}

/// A record a correlation grouped: the rule that fired on it and where it
/// is (the record itself is evidence of that rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grouped {
    pub rule: RuleIdx,
    pub location: Location,
    pub record_id: u64,
    pub record_number: u64,
    pub timestamp: Option<jiff::Timestamp>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
}

impl Artifact {
    /// The report's `kind` for evidence of this artifact.
    pub fn kind(&self) -> &'static str {
        match self {
            Artifact::File { .. } => "file",
            Artifact::Record { .. } => "record",
            Artifact::Registry { .. } => "registry",
            Artifact::Content { .. } => "content",
            Artifact::Executed { .. } => "executed",
            Artifact::Correlation { .. } => "correlation",
        }
    }
}

/// A file's metadata and digests, as evidence carries them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    pub meta: FileMeta,
    pub digests: Digests,
}

/// Where an artifact is: the target, the path inside it, the volume of a
/// disk image that holds it, and its place on the scanning host.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Location {
    /// Index of the target among those scanned.
    pub source: usize,
    /// `/`-separated path inside the source (a stream as `path:name`).
    pub path: EvidencePath,
    /// Where the file is on the scanning host, for host sources.
    pub host_path: Option<EvidencePath>,
    /// The volume of a disk image that holds the file.
    pub volume: Option<Arc<VolumeInfo>>,
}

/// What workers tell the report, in any order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
pub enum ScanEvent {
    /// A target was opened as a source of this kind (`directory`, `file`,
    /// `image`), with an image's container format (`e01`, `vmdk` …).
    SourceOpened {
        source: usize,
        kind: String,
        format: Option<String>,
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
        /// An image set's facts and verification.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        image: Option<Box<ImageInfo>>,
    },
    Finding(Box<Finding>),
    Problem {
        source: usize,
        problem: Problem,
    },
}

/// Receives scan events on one thread.
pub trait ReportSink {
    fn accept(&mut self, event: ScanEvent);
}
