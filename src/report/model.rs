//! The report's JSON shape (`docs/report.md`, `schemas/report.schema.json`).
//! Field order here is the order in the file; every array is sorted by
//! `assemble`, so the same inputs give the same bytes apart from the scan's
//! times. Every type reads back (`Deserialize`): reports are merged, and
//! the tests validate and re-read each one they produce.

use serde::{Deserialize, Serialize};

use crate::source::At;
use crate::source::container::integrity::ImageInfo;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub schema_version: u32,
    pub tool: Tool,
    pub scan: ScanInfo,
    pub bundles: Vec<BundleReport>,
    /// Sigma rule files, with what of them was not loaded.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<crate::sigma::RuleFile>,
    pub sources: Vec<SourceReport>,
    pub summary: Summary,
    pub alerts: Vec<AlertReport>,
    pub errors: Vec<ErrorReport>,
    /// What makes this scan check less than was asked (a target not
    /// opened or yielding nothing, a bundle file giving no active IOC, an
    /// interruption). A scan with warnings and no evidence does not exit 0.
    pub warnings: Vec<Warning>,
}

/// One way the scan checked less than asked; `code` is stable for
/// filtering, `message` says it in words.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    /// `targetNotOpened`, `targetEmpty`, `bundleWithoutActiveIoc`,
    /// `interrupted`, `imageIncomplete` (segments missing),
    /// `imageUnverified` (`--verify-image` found a mismatch or could not
    /// hash the media whole).
    pub code: String,
    /// The target or bundle file concerned, when one is.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tool {
    pub name: String,
    pub version: String,
    /// The git commit the binary was built from, when known.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub commit: Option<String>,
}

/// What the examiner says the scan is part of (`--case`, `--examiner`,
/// `--note`); reports merged keep every examiner and note.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CaseInfo {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub id: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub examiners: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub notes: Vec<String>,
}

impl CaseInfo {
    pub fn is_empty(&self) -> bool {
        self.id.is_none() && self.examiners.is_empty() && self.notes.is_empty()
    }
}

/// Where a target was scanned from: the machine and its working directory
/// (relative paths in the report are relative to it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScannedOn {
    pub host: String,
    pub working_directory: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanInfo {
    pub started_at: String,
    pub finished_at: String,
    /// The command line, as given.
    pub arguments: Vec<String>,
    /// True when every target was opened and every entry fully examined:
    /// no entry in `errors` is an error (entries skipped by design, such as
    /// FIFOs, do not make a scan incomplete), and the scan was not
    /// interrupted.
    pub complete: bool,
    /// The signal that stopped the scan early (`SIGINT`, `SIGTERM`): what
    /// was covered is in `sources` (`interrupted` marks the targets whose
    /// walk was cut short) and entries cut mid-read are in `errors`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub interrupted: Option<String>,
    /// The instant IOC expiry was judged against.
    pub as_of: String,
    /// Where the time went, in seconds (time fields: they differ run to run).
    pub timings: Timings,
    /// Whether file bytes were searched for network IOCs (`--content`),
    /// and for how many.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content_search: Option<ContentSearch>,
    /// The case the scan belongs to, as the examiner gave it.
    #[serde(skip_serializing_if = "CaseInfo::is_empty", default)]
    pub case: CaseInfo,
    /// `--since`/`--until`: record evidence outside this window was left
    /// out of the report.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub time_window: Option<TimeWindow>,
    /// `--collect`: where the evidence files were copied, and how that went.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub collection: Option<CollectionReport>,
    /// The time zone of every time in the report (always `UTC`: times that
    /// a filesystem stores in local time, FAT's, are read as UTC).
    #[serde(default = "utc")]
    pub time_zone: String,
}

fn utc() -> String {
    "UTC".into()
}

/// The window record evidence was limited to (`--since`, `--until`):
/// files, keys and programs keep theirs; a record with no time is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimeWindow {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub since: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub until: Option<String>,
    /// Record evidence items left out for their time.
    pub outside: u64,
}

/// The response action `--collect DIR`: the evidence files copied into
/// `directory`, each read back and checked against the report's digests
/// (`manifest.json` and `hashdeep.txt` there list them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CollectionReport {
    pub directory: String,
    /// `--collect-format zip`: the archive in `directory` holding the
    /// copies (`evidence.zip`); `collected` names its entries.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub archive: Option<String>,
    /// Files copied whose copy matches the report's size and digests.
    pub files: usize,
    pub bytes: u64,
    /// Files not copied, or whose copy does not match (named in the
    /// manifest with why).
    pub failed: usize,
    /// Files the scan did not read (too large, sparse): not copied.
    pub not_collected: usize,
}

/// What `--content` searched file bytes for.
#[derive(Debug, Serialize, Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ContentSearch {
    /// Network IOCs whose values were searched (as ASCII and UTF-16LE).
    pub iocs: usize,
    /// Network IOCs with no literal to search (regexes, address ranges):
    /// matched in names, records and registry values only.
    pub unsearched: usize,
}

#[derive(Debug, Serialize, Deserialize, Default, Clone, Copy, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Timings {
    /// Reading and checking the bundle files.
    pub bundle_load: f64,
    /// Compiling the IOCs into the matcher.
    pub matcher_build: f64,
    /// Walking, hashing, parsing and matching the targets.
    pub scan: f64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleReport {
    pub path: String,
    /// `path` made absolute on the machine that scanned.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub absolute_path: Option<String>,
    pub sha256: String,
    pub format: String,
    pub alert_definitions: usize,
    pub iocs: usize,
    pub iocs_active: usize,
    /// Entries of the file not used (listed by `bundle check`).
    pub entries_unused: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceReport {
    pub path: String,
    /// `path` made absolute on the machine that scanned (`scannedOn`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub absolute_path: Option<String>,
    /// The examiner's identifier of this evidence item (`--evidence-id`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub evidence_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub scanned_on: Option<ScannedOn>,
    /// `directory`, `file`, `image`, or `unopened`.
    pub kind: String,
    /// Container format, for images (`raw`, `split`, `e01`, `vhd`, `vhdx`,
    /// `vmdk`, `qcow2`).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub format: Option<String>,
    pub files_scanned: u64,
    pub bytes_hashed: u64,
    pub records_scanned: u64,
    /// Entries of this source listed in `errors` as failures.
    pub errors: u64,
    /// Entries of this source listed in `errors` as skipped by design.
    pub skipped: u64,
    /// The scan was stopped before every entry of this source was started.
    pub interrupted: bool,
    /// For images: the set's files, media size, hashes and case metadata
    /// stored at acquisition, and their verification.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub image: Option<ImageInfo>,
    /// The parts of a directory walked, when not the whole tree (a batch
    /// unit's slice; merged slices that do not cover the tree).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub slices: Vec<crate::source::Slice>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub alerts: usize,
    pub evidence: usize,
    /// Alerts per severity, most severe first, every severity present.
    pub by_severity: BySeverity,
    pub files_scanned: u64,
    pub bytes_hashed: u64,
    pub records_scanned: u64,
    pub errors: u64,
    pub skipped: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BySeverity {
    pub high: usize,
    pub medium: usize,
    pub low: usize,
    pub informational: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertReport {
    pub alert_definition: AlertDefinitionReport,
    pub evidence_count: usize,
    pub evidence: Vec<EvidenceReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertDefinitionReport {
    pub id: String,
    pub name: String,
    pub title: Option<String>,
    /// `High`, `Medium`, `Low` or `Informational`.
    pub severity: String,
    pub category: Option<String>,
    pub description: Option<String>,
    pub recommended_action: Option<String>,
    pub mitre_techniques: Vec<String>,
    /// For a Sigma rule: what the rule says of itself.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub rule: Option<RuleDefinitionReport>,
}

/// A Sigma rule's own metadata, beside the alert definition it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleDefinitionReport {
    /// `informational`, `low`, `medium`, `high` or `critical`.
    pub level: Option<String>,
    pub status: Option<String>,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub false_positives: Vec<String>,
    /// The rule file and the line its document starts on.
    pub file: String,
    pub line: u64,
    /// For a correlation rule: what it aggregates.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub correlation: Option<crate::sigma::CorrelationInfo>,
}

/// One finding: a detection that fired on an artifact at a location.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvidenceReport {
    /// The artifact: `file`, `record`, `registry`, `executed`, `content`
    /// or `correlation`.
    pub kind: String,
    /// What fired: its kind and id; the kind's own object follows.
    pub detection: DetectionRef,
    /// The IOC, for IOC detections.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ioc: Option<IocReport>,
    /// Where in the artifact the match was made (for a rule, the first
    /// field of `matchedFields`).
    pub field: String,
    pub matched_value: String,
    /// For a rule: every field whose value made it fire.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub matched_fields: Vec<MatchedField>,
    pub location: LocationReport,
    /// The file itself, or for record evidence the log that holds the record.
    pub file: Option<FileReport>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub record: Option<RecordReport>,
    /// For a correlation: what it counted and the records it grouped.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub correlation: Option<CorrelationReport>,
    /// For registry evidence: the key (and value) in the hive file that
    /// `file` describes.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub registry: Option<crate::artifact::registry::RegistryItem>,
    /// For content evidence: where in `file` the IOC's value was found.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub content: Option<crate::matcher::content::ContentHit>,
    /// For executed evidence: the program the trace in `file` (an Amcache
    /// hive) records.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub executed: Option<crate::artifact::program::Program>,
    /// `--collect`: the copy of `file`, relative to the collection folder.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub collected: Option<String>,
}

/// What a correlation rule grouped to fire.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrelationReport {
    /// `event_count`, `value_count`, `temporal`, `temporal_ordered`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The group's values of the rule's `group-by` fields.
    pub group_by: Vec<MatchedField>,
    /// The count (or aggregate) that met the condition.
    pub value: f64,
    pub timespan_seconds: u64,
    /// Times of the first and last record grouped.
    pub first: Option<String>,
    pub last: Option<String>,
    /// The records, in time order (at most 10,000 per window).
    pub records: Vec<GroupedReport>,
}

/// One record a correlation grouped; it is also evidence of `rule`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupedReport {
    /// The id of the rule that fired on it.
    pub rule: String,
    pub location: LocationReport,
    pub timestamp: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchedField {
    pub field: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetectionRef {
    /// `ioc` or `rule`.
    pub kind: String,
    pub id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordReport {
    /// `EventRecordID` of the System block: the number Event Viewer shows.
    pub record_id: u64,
    /// The number in the record's header, which locates it in the file
    /// (exported logs renumber headers).
    pub record_number: u64,
    pub chunk: Option<u64>,
    pub timestamp: Option<String>,
    pub channel: Option<String>,
    pub provider: Option<String>,
    pub event_id: Option<u32>,
    pub computer: Option<String>,
    pub user: Option<String>,
    /// Carved from unallocated log space, not from the live record list.
    pub recovered: bool,
    /// Identical copies carved from the log's slack (not listed again).
    pub carved_copies: u32,
    /// EventData/UserData fields by name; repeated names are arrays.
    pub data: Fields,
}

/// A record's fields in name order, written as the JSON object a sorted
/// map gives (a repeated name once, its values as an array in the order
/// they came). The record's own list, sorted in place: rendering 27k
/// records into B-tree maps of JSON values was mostly allocation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fields(Vec<(String, String)>);

impl Fields {
    /// The fields of `pairs` (in record order).
    pub fn of(mut pairs: Vec<(String, String)>) -> Fields {
        // Stable: a repeated name's values keep their order.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        Fields(pairs)
    }

    /// Each name with its values.
    fn runs(&self) -> impl Iterator<Item = (&str, &[(String, String)])> {
        self.0
            .chunk_by(|a, b| a.0 == b.0)
            .map(|run| (run[0].0.as_str(), run))
    }
}

impl Serialize for Fields {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        /// A repeated name's values, as an array.
        struct Values<'a>(&'a [(String, String)]);
        impl Serialize for Values<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_seq(self.0.iter().map(|(_, v)| v))
            }
        }
        let mut map = s.serialize_map(Some(self.runs().count()))?;
        for (name, run) in self.runs() {
            match run {
                [(_, one)] => map.serialize_entry(name, one)?,
                many => map.serialize_entry(name, &Values(many))?,
            }
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Fields {
    /// Reads what [`Fields::serialize`] writes: a value, or an array of
    /// them, by name (a value other than a string as its JSON text).
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        use serde_json::Value;
        let text = |v: Value| match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        let map = std::collections::BTreeMap::<String, Value>::deserialize(d)?;
        let mut pairs = Vec::with_capacity(map.len());
        for (name, value) in map {
            match value {
                Value::Array(items) => {
                    pairs.extend(items.into_iter().map(|v| (name.clone(), text(v))))
                }
                v => pairs.push((name, text(v))),
            }
        }
        Ok(Fields(pairs))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IocReport {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub value: String,
    pub detection_function: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LocationReport {
    /// The target as given on the command line.
    pub source: String,
    /// `/`-separated path inside the source.
    pub path: String,
    /// Human-readable chain, e.g. `evidence › /tools/a.exe`.
    pub display: String,
    /// Where the file is on the scanning host, for host sources.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub host_path: Option<String>,
    /// Exact bytes of `path` in hex, present only when `path` had to escape
    /// bytes that are not UTF-8.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path_hex: Option<String>,
    /// For record evidence: the record's `EventRecordID` and header number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub record_id: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub record_number: Option<u64>,
    /// For files inside disk images: the volume that holds them.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub volume: Option<VolumeReport>,
}

/// A volume of a disk image, as evidence locations name it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeReport {
    /// Partition number (1-based; 0 when the disk has no partition table).
    pub index: u32,
    /// Byte offset on the disk.
    pub offset: u64,
    pub size: u64,
    /// `gpt`, `mbr` or `none`.
    pub scheme: String,
    #[serde(rename = "type", skip_serializing_if = "Option::is_none", default)]
    pub partition_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub name: Option<String>,
    pub filesystem: Option<String>,
    /// For an image found inside a scanned directory: its path there.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub image: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileReport {
    pub path: String,
    pub size: u64,
    pub md5: Option<String>,
    pub sha1: Option<String>,
    pub sha256: Option<String>,
    pub created: Option<String>,
    pub modified: Option<String>,
    pub accessed: Option<String>,
    pub changed: Option<String>,
    pub deleted: bool,
    pub stream: Option<String>,
    pub inode: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "camelCase")]
pub struct ErrorReport {
    pub source: String,
    pub path: String,
    /// `unreadable`, `brokenSymlink`, `fifo`, … (see `ProblemKind`).
    pub kind: String,
    /// `error` (the entry could not be examined) or `skipped` (by design).
    pub class: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub path_hex: Option<String>,
    /// Where the problem lies, as data: volume, inode, offset, chunk,
    /// record, line, column (each where it applies).
    #[serde(flatten)]
    pub at: At,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON is what the B-tree map of the fields gave (names in byte
    /// order, a repeated name's values as an array in record order), and
    /// it reads back.
    #[test]
    fn fields_are_written_as_the_sorted_map_was() {
        let pairs: Vec<(String, String)> = [
            ("b", "1"),
            ("", "x"),
            ("a", "2"),
            ("B", "3"),
            ("", "y"),
            ("", "z"),
            ("a", "4"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        let mut map = std::collections::BTreeMap::<String, serde_json::Value>::new();
        for (k, v) in pairs.clone() {
            match map.get_mut(&k) {
                None => {
                    map.insert(k, v.into());
                }
                Some(serde_json::Value::Array(items)) => items.push(v.into()),
                Some(first) => *first = serde_json::Value::Array(vec![first.take(), v.into()]),
            }
        }
        let fields = Fields::of(pairs);
        let json = serde_json::to_string(&fields).unwrap();
        assert_eq!(json, serde_json::to_string(&map).unwrap());
        assert_eq!(json, r#"{"":["x","y","z"],"B":"3","a":["2","4"],"b":"1"}"#);
        assert_eq!(serde_json::from_str::<Fields>(&json).unwrap(), fields);
    }
}
