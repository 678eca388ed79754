//! A program an execution trace records (an Amcache entry, a prefetch
//! file): evidence that it ran or was installed, which may outlive the
//! program's file.

use serde::{Deserialize, Serialize};

/// One program an execution trace records.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Program {
    /// What recorded it: `amcache` (`InventoryApplicationFile`),
    /// `amcache-file` (the older `File` key) or `prefetch`.
    pub source: String,
    /// Where in the trace: the Amcache key; for prefetch, the executable's
    /// name and path hash (`CALC.EXE-3FBEF7FD`).
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The PE header's link time, as Amcache writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link_date: Option<String>,
    /// Amcache: the key's last write, when Windows recorded the program.
    pub last_written: Option<jiff::Timestamp>,
    /// Prefetch: how many times it ran, and the last run times (most
    /// recent first).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub last_runs: Vec<jiff::Timestamp>,
    /// Prefetch: the files it loaded (matched, not written in the report).
    #[serde(skip)]
    pub loaded: Vec<String>,
    /// Recovered from the hive's free cells.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
}
