//! Command line: argument parsing, progress, the end-of-scan summary and exit
//! codes. This is the only layer that prints; everything below returns data
//! or typed errors.

mod batch_command;
mod case;
mod check;
mod hive_command;
mod output;
mod progress;
mod report_command;
mod rules_command;
mod scan_args;
mod scan_command;
mod signals;
mod summary;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;

use crate::bundle;
use scan_args::ScanArgs;

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
    /// Scan many targets as units run by any number of workers (a Slurm
    /// job array, or any scheduler with array jobs), merged into one report.
    #[command(subcommand)]
    Batch(batch_command::BatchCommand),
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
        Command::Batch(command) => batch_command::run(command),
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
