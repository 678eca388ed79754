//! Command line: argument parsing, progress, the end-of-scan summary and exit
//! codes. This is the only layer that prints; everything below returns data
//! or typed errors.

mod case;
mod check;
mod hive_command;
mod output;
mod progress;
mod report_command;
mod rules_command;
mod scan_command;
mod signals;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;

use crate::bundle;

const EXIT_CODES: &str = "\
Exit codes:
  0    scanned, no evidence found
  1    scanned, evidence found
  2    could not scan: bad arguments (a target given twice, output that would
       land on input), invalid bundle, nothing to look for (no active IOC),
       or no target readable
  3    scanned, no evidence found, but less was checked than asked: a target
       could not be opened or gave nothing to read, or a bundle file gave no
       active IOC (the report's \"warnings\" say which)
  130  stopped by Ctrl-C (143: SIGTERM, 129: SIGHUP); the report of what was
       scanned is written, marked \"complete\": false and \"interrupted\"
Damaged or unreadable parts of a target (a corrupt chunk, record, partition
or file) do not change the exit code: they are listed in the report's
\"errors\" and summarised on stderr.";

#[derive(Parser)]
#[command(
    name = "breachscan",
    version,
    about = "Offline forensic scanner: finds a threat-intelligence bundle's IOCs in directories, files, event logs and disk images, and writes a JSON breach-evidence report grouped by alert definition.",
    after_help = EXIT_CODES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan targets for the bundle's IOCs and write the report.
    #[command(after_help = EXIT_CODES)]
    Scan(Box<ScanArgs>),
    /// Work with IOC bundles.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// Work with reports.
    #[command(subcommand)]
    Report(ReportCommand),
    /// Work with Sigma rules.
    #[command(subcommand)]
    Rules(RulesCommand),
    /// Read registry hive files.
    #[command(subcommand)]
    Hive(HiveCommand),
}

#[derive(Subcommand)]
enum HiveCommand {
    /// Print every key and value of a hive as JSON lines, with paths as a
    /// scan matches them (`HKLM\SOFTWARE\…`); damage goes to stderr (exit 1).
    Dump {
        /// A hive file (SYSTEM, SOFTWARE, NTUSER.DAT, Amcache.hve …).
        path: PathBuf,
        /// Do not apply the transaction logs (`.LOG1`, `.LOG2`) found
        /// beside a dirty hive.
        #[arg(long)]
        no_logs: bool,
    },
}

#[derive(Subcommand)]
enum RulesCommand {
    /// Load rule files and folders as a scan would and print what they
    /// hold; every rule, filter or document not loaded is named with its
    /// file, line and reason (exit 2).
    Check(RulesCheckArgs),
}

#[derive(Args)]
struct RulesCheckArgs {
    /// Rule files or folders.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum ReportCommand {
    /// Merge reports of the same bundle(s) (the shards of a batch) into the
    /// report one scan of all their targets would write.
    #[command(after_help = report_command::MERGE_HELP)]
    Merge(MergeArgs),
    /// Write a report's evidence as rows: `csv` (one row per evidence item
    /// with its alert's name and severity, for spreadsheets), `jsonl` (the
    /// same as JSON lines) or `timeline` (log2timeline's l2t_csv columns,
    /// one row per time of each item, for timeline tools).
    Export(ExportArgs),
    /// Write a report as one self-contained HTML page (no network, no
    /// external script or font): the case and chain of custody, a summary
    /// by severity, each alert with its evidence in a sortable table, what
    /// was not examined, and a timeline.
    Render(RenderArgs),
}

#[derive(Args)]
struct RenderArgs {
    /// Write here (atomically) instead of stdout (`-` is stdout).
    #[arg(long, short = 'o', value_name = "OUT.html")]
    output: Option<PathBuf>,
    /// The report to render.
    #[arg(value_name = "REPORT")]
    report: PathBuf,
}

#[derive(Args)]
struct ExportArgs {
    /// `csv`, `jsonl` or `timeline`.
    #[arg(long, value_name = "FORMAT", value_parser = ["csv", "jsonl", "timeline"])]
    format: String,
    /// Write here (atomically) instead of stdout (`-` is stdout).
    #[arg(long, short = 'o', value_name = "OUT")]
    output: Option<PathBuf>,
    /// The report to export.
    #[arg(value_name = "REPORT")]
    report: PathBuf,
}

#[derive(Args)]
struct MergeArgs {
    /// Write here (atomically) instead of stdout (`-` is stdout).
    #[arg(long, short = 'o', value_name = "OUT.json")]
    output: Option<PathBuf>,
    /// Reports to merge, in target order.
    #[arg(required = true, value_name = "REPORT")]
    reports: Vec<PathBuf>,
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Validate bundle files (merged as a scan would) and print what they hold.
    /// Exits 2 naming the file, line, entry and field of every error.
    Check(CheckArgs),
    /// Convert bundle files (merged) to the native JSON format, which then
    /// scans identically.
    Convert(ConvertArgs),
}

#[derive(Args)]
struct ConvertArgs {
    /// Target format (only `native`).
    #[arg(long = "to", value_name = "FORMAT", value_parser = ["native"])]
    to: String,
    /// Write here (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "OUT.json")]
    output: Option<PathBuf>,
    /// Bundle files, in any supported format.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// MISP: take every attribute, not only those marked to_ids.
    #[arg(long)]
    all_attributes: bool,
}

#[derive(Args)]
struct ScanArgs {
    /// IOC bundle file; repeat to merge several (e.g. alert definitions and
    /// IOCs exported separately).
    #[arg(
        long = "bundle",
        short = 'b',
        value_name = "FILE",
        required_unless_present_any = ["rules", "iocs", "ioc_files"]
    )]
    bundles: Vec<PathBuf>,
    /// An IOC given at scan time, without a bundle: `TYPE:VALUE` (md5,
    /// sha1, sha256, hash, filename, filepath, ip, domain, url, registry),
    /// `TYPE/FUNCTION:VALUE` (startwith, endwith, contains, regex), or a
    /// bare digest, address, URL, registry key or path; repeatable. They
    /// raise one alert definition, `adhoc`.
    #[arg(long = "ioc", value_name = "TYPE:VALUE")]
    iocs: Vec<String>,
    /// A file of such IOCs, one a line (`#` comments); repeatable.
    #[arg(long = "ioc-file", value_name = "LIST")]
    ioc_files: Vec<PathBuf>,
    /// Sigma rules evaluated on every event record: a rule file, a
    /// multi-document file or a folder (searched recursively); repeatable.
    /// Each rule is an alert definition of its own.
    #[arg(long = "rules", value_name = "PATH")]
    rules: Vec<PathBuf>,
    /// Write the report here (atomically) instead of stdout.
    #[arg(long, short = 'o', value_name = "REPORT.json")]
    output: Option<PathBuf>,
    /// No progress and no summary on stderr.
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Follow symbolic links (default: list them without following).
    #[arg(long)]
    follow_symlinks: bool,
    /// Stay on the filesystem of each directory target.
    #[arg(long)]
    one_file_system: bool,
    /// Do not read files larger than this (e.g. 500M, 2GiB); they are still
    /// matched by name and path, and listed in the report.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    max_file_size: Option<u64>,
    /// Hash sparse files too: by default a file with --sparse-limit of
    /// holes or more (an NTFS $UsnJrnl:$J, a sparse VM disk) is matched by
    /// name and path, listed as sparseNotHashed, and its zeros not hashed.
    #[arg(long)]
    hash_sparse: bool,
    /// Holes from which a file is not hashed unless --hash-sparse.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "1GiB")]
    sparse_limit: u64,
    /// After an image's walk, hash its whole media (MD5 and SHA-1) and
    /// compare with the hashes stored at acquisition (E01), as ewfverify
    /// does; the outcome is in sources[].image. Chunk checksums of the
    /// chunks read are checked with or without it.
    #[arg(long)]
    verify_image: bool,
    /// Search the bytes of every file (inside images too; not event logs
    /// and hives, whose fields are matched) for the bundle's IP addresses,
    /// host names and URLs, as ASCII/UTF-8 and UTF-16LE. On by default when
    /// the bundle has such IOCs and files are read for their digests anyway.
    #[arg(long, overrides_with = "no_content")]
    content: bool,
    /// Do not search file bytes (see --content).
    #[arg(long, overrides_with = "content")]
    no_content: bool,
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    threads: usize,
    /// Read large files instead of memory-mapping them (mapping is ~10%
    /// faster; a file truncated while mapped is listed as changed either
    /// way).
    #[arg(long)]
    no_mmap: bool,
    /// Judge IOC expiry at this time (RFC 3339) instead of now, e.g. the
    /// time of the incident.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    as_of: Option<Timestamp>,
    /// MISP: take every attribute, not only those marked to_ids.
    #[arg(long)]
    all_attributes: bool,
    /// Leave out record evidence before this time (RFC 3339); files, keys
    /// and programs keep theirs, and the report states the window.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    since: Option<Timestamp>,
    /// Leave out record evidence after this time (RFC 3339).
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    until: Option<Timestamp>,
    /// Response action: copy every file that is evidence (inside images
    /// too: streams, deleted files, the logs and hives holding record and
    /// registry evidence) into this new or empty folder, each copy read back
    /// and checked against the report's digests, with manifest.json and a
    /// hashdeep.txt to audit it; the report links each item to its copy.
    #[arg(long, value_name = "DIR")]
    collect: Option<PathBuf>,
    /// `folder` (the copies as files under DIR/files) or `zip` (one archive,
    /// DIR/evidence.zip, written streaming; stored, ZIP64 when large).
    #[arg(long, value_name = "FORMAT", value_parser = ["folder", "zip"], default_value = "folder", requires = "collect")]
    collect_format: String,
    /// The case this scan belongs to, recorded in the report.
    #[arg(long = "case", value_name = "ID", help_heading = "Case")]
    case: Option<String>,
    /// Who ran the scan, recorded in the report.
    #[arg(long, value_name = "NAME", help_heading = "Case")]
    examiner: Option<String>,
    /// The examiner's identifier of each target, in the targets' order
    /// (give it once per target on the command line).
    #[arg(long = "evidence-id", value_name = "ID", help_heading = "Case")]
    evidence_ids: Vec<String>,
    /// A note recorded in the report; repeatable.
    #[arg(long = "note", value_name = "TEXT", help_heading = "Case")]
    notes: Vec<String>,
    /// More targets, one a line: `PATH` or `PATH<TAB>EVIDENCE_ID` (blank
    /// lines and `#` comments skipped), after those on the command line.
    #[arg(long = "targets-from", value_name = "FILE", help_heading = "Case")]
    targets_from: Option<PathBuf>,
    /// Directories, files, event logs or disk images, detected by content.
    #[arg(required_unless_present = "targets_from", value_name = "TARGET")]
    targets: Vec<PathBuf>,
}

#[derive(Args)]
struct CheckArgs {
    /// Bundle files, merged as `scan` would merge them.
    #[arg(required = true, value_name = "FILE")]
    files: Vec<PathBuf>,
    /// Judge IOC expiry at this time (RFC 3339) instead of now.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    as_of: Option<Timestamp>,
    /// MISP: take every attribute, not only those marked to_ids.
    #[arg(long)]
    all_attributes: bool,
}

/// Runs the command line and returns the process exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Scan(args) => scan_command::run(*args),
        Command::Bundle(BundleCommand::Check(args)) => {
            check::run(&args.files, args.as_of, args.all_attributes)
        }
        Command::Bundle(BundleCommand::Convert(args)) => {
            check::convert(&args.files, args.output.as_deref(), args.all_attributes)
        }
        Command::Report(ReportCommand::Merge(args)) => {
            report_command::merge(&args.reports, args.output.as_deref())
        }
        Command::Report(ReportCommand::Render(args)) => {
            report_command::render(&args.report, args.output.as_deref())
        }
        Command::Report(ReportCommand::Export(args)) => {
            report_command::export(&args.report, &args.format, args.output.as_deref())
        }
        Command::Rules(RulesCommand::Check(args)) => rules_command::check(&args.paths),
        Command::Hive(HiveCommand::Dump { path, no_logs }) => hive_command::dump(&path, !no_logs),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("breachscan: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// `1234`, `500K`, `500M`, `2G`, `2GiB`, `1.5GB` (binary multiples).
fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let num: f64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not a size (e.g. 500M, 2GiB)"))?;
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        "t" | "tb" | "tib" => 1 << 40,
        u => return Err(format!("unknown size unit {u:?} (use K, M, G or T)")),
    };
    Ok((num * mult as f64) as u64)
}

fn parse_time(s: &str) -> Result<Timestamp, String> {
    bundle::value::parse_time(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() {
        assert_eq!(parse_size("1234").unwrap(), 1234);
        assert_eq!(parse_size("500K").unwrap(), 500 * 1024);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("1.5m").unwrap(), 3 << 19);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("M").is_err());
    }

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
