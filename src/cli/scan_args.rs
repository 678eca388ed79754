//! The arguments of `scan`, split in two: what a scan looks for and in
//! what ([`ScanSpec`], which a batch records once and hands to every
//! unit), and how this one run writes its output ([`ScanArgs`]).

use std::path::PathBuf;

use clap::Args;
use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::{parse_size, parse_time};

/// What to look for, where, and how: everything of a scan's command line
/// but its output.
#[derive(Args, Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanSpec {
    /// IOC bundle file; repeat to merge several (e.g. alert definitions and
    /// IOCs exported separately).
    #[arg(
        long = "bundle",
        short = 'b',
        value_name = "FILE",
        required_unless_present_any = ["rules", "iocs", "ioc_files"]
    )]
    pub bundles: Vec<PathBuf>,
    /// An IOC given at scan time, without a bundle: `TYPE:VALUE` (md5,
    /// sha1, sha256, hash, filename, filepath, ip, domain, url, registry),
    /// `TYPE/FUNCTION:VALUE` (startwith, endwith, contains, regex), or a
    /// bare digest, address, URL, registry key or path; repeatable. They
    /// raise one alert definition, `adhoc`.
    #[arg(long = "ioc", value_name = "TYPE:VALUE")]
    pub iocs: Vec<String>,
    /// A file of such IOCs, one a line (`#` comments); repeatable.
    #[arg(long = "ioc-file", value_name = "LIST")]
    pub ioc_files: Vec<PathBuf>,
    /// Sigma rules evaluated on every event record: a rule file, a
    /// multi-document file or a folder (searched recursively); repeatable.
    /// Each rule is an alert definition of its own.
    #[arg(long = "rules", value_name = "PATH")]
    pub rules: Vec<PathBuf>,
    /// Follow symbolic links (default: list them without following).
    #[arg(long)]
    pub follow_symlinks: bool,
    /// Stay on the filesystem of each directory target.
    #[arg(long)]
    pub one_file_system: bool,
    /// Do not read files larger than this (e.g. 500M, 2GiB); they are still
    /// matched by name and path, and listed in the report.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub max_file_size: Option<u64>,
    /// Hash sparse files too: by default a file with --sparse-limit of
    /// holes or more (an NTFS $UsnJrnl:$J, a sparse VM disk) is matched by
    /// name and path, listed as sparseNotHashed, and its zeros not hashed.
    #[arg(long)]
    pub hash_sparse: bool,
    /// Holes from which a file is not hashed unless --hash-sparse.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1GiB")]
    pub sparse_limit: u64,
    /// After an image's walk, hash its whole media (MD5 and SHA-1) and
    /// compare with the hashes stored at acquisition (E01), as ewfverify
    /// does; the outcome is in sources[].image. Chunk checksums of the
    /// chunks read are checked with or without it.
    #[arg(long)]
    pub verify_image: bool,
    /// Search the bytes of every file (inside images too; not event logs
    /// and hives, whose fields are matched) for the bundle's IP addresses,
    /// host names and URLs, as ASCII/UTF-8 and UTF-16LE. On by default when
    /// the bundle has such IOCs and files are read for their digests anyway.
    #[arg(long, overrides_with = "no_content")]
    pub content: bool,
    /// Do not search file bytes (see --content).
    #[arg(long, overrides_with = "content")]
    pub no_content: bool,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    pub threads: usize,
    /// Read large files instead of memory-mapping them (mapping is ~10%
    /// faster; a file truncated while mapped is listed as changed either
    /// way).
    #[arg(long)]
    pub no_mmap: bool,
    /// Judge IOC expiry at this time (RFC 3339) instead of now, e.g. the
    /// time of the incident.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub as_of: Option<Timestamp>,
    /// MISP: take every attribute, not only those marked to_ids.
    #[arg(long)]
    pub all_attributes: bool,
    /// Leave out record evidence before this time (RFC 3339); files, keys
    /// and programs keep theirs, and the report states the window.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub since: Option<Timestamp>,
    /// Leave out record evidence after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub until: Option<Timestamp>,
    /// The case this scan belongs to, recorded in the report.
    #[arg(long = "case", value_name = "ID", help_heading = "Case")]
    pub case: Option<String>,
    /// Who ran the scan, recorded in the report.
    #[arg(long, value_name = "NAME", help_heading = "Case")]
    pub examiner: Option<String>,
    /// The examiner's identifier of each target, in the targets' order
    /// (give it once per target on the command line).
    #[arg(long = "evidence-id", value_name = "ID", help_heading = "Case")]
    pub evidence_ids: Vec<String>,
    /// A note recorded in the report; repeatable.
    #[arg(long = "note", value_name = "TEXT", help_heading = "Case")]
    pub notes: Vec<String>,
    /// More targets, one a line: `PATH` or `PATH<TAB>EVIDENCE_ID` (blank
    /// lines and `#` comments skipped), after those on the command line.
    #[arg(long = "targets-from", value_name = "FILE", help_heading = "Case")]
    pub targets_from: Option<PathBuf>,
    /// Directories, files, event logs or disk images, detected by content.
    #[arg(required_unless_present = "targets_from", value_name = "TARGET")]
    pub targets: Vec<PathBuf>,
}

/// A `scan` command line.
#[derive(Args)]
pub struct ScanArgs {
    #[command(flatten)]
    pub spec: ScanSpec,
    /// Write the report here (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "REPORT.json")]
    pub output: Option<PathBuf>,
    /// No progress and no summary on stderr.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Response action: copy every file that is evidence (inside images
    /// too: streams, deleted files, the logs and hives holding record and
    /// registry evidence) into this new or empty folder, each copy read back
    /// and checked against the report's digests, with manifest.json and a
    /// hashdeep.txt to audit it; the report links each item to its copy.
    #[arg(long, value_name = "DIR")]
    pub collect: Option<PathBuf>,
    /// `folder` (the copies as files under DIR/files) or `zip` (one archive,
    /// DIR/evidence.zip, written streaming; stored, ZIP64 when large).
    #[arg(long, value_name = "FORMAT", value_parser = ["folder", "zip"], default_value = "folder", requires = "collect")]
    pub collect_format: String,
    /// Walk only the part of a directory target from this path (relative
    /// to it, `/` between names) on, in name order: a batch unit's slice.
    #[arg(long, value_name = "REL", hide = true)]
    pub slice_from: Option<String>,
    /// Walk only the part of a directory target before this path.
    #[arg(long, value_name = "REL", hide = true)]
    pub slice_to: Option<String>,
    /// The report is renamed into place without a sync (a batch unit: its
    /// done record's digest tells a report cut short by a crash).
    #[arg(skip)]
    pub unsynced_report: bool,
}

impl std::ops::Deref for ScanArgs {
    type Target = ScanSpec;

    fn deref(&self) -> &ScanSpec {
        &self.spec
    }
}
