//! Command line: argument parsing, progress, the end-of-scan summary and exit
//! codes. This is the only layer that prints; everything below returns data
//! or typed errors.

mod check;
mod output;
mod progress;
mod summary;

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use jiff::Timestamp;

use crate::bundle::{self, LoadOptions};
use crate::matcher::Matcher;
use crate::report::{self, ReportBuilder, ScanInfo};
use crate::scan::{self, NoProgress, Progress, ScanOptions};
use crate::source::{EvidencePath, SourceOptions};
use output::{AtomicFile, Destination, Inputs};

const EXIT_CODES: &str = "\
Exit codes:
  0  scanned, no evidence found
  1  scanned, evidence found
  2  could not scan: bad arguments, invalid bundle, or no target readable
Unreadable parts of a target do not change the exit code: they are listed in
the report's \"errors\" and summarised on stderr.";

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
    Scan(ScanArgs),
    /// Work with IOC bundles.
    #[command(subcommand)]
    Bundle(BundleCommand),
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
    #[arg(long = "bundle", short = 'b', value_name = "FILE", required = true)]
    bundles: Vec<PathBuf>,
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
    /// Worker threads (default: one per core).
    #[arg(long, short = 'j', value_name = "N", default_value_t = 0)]
    threads: usize,
    /// Read large files instead of memory-mapping them (safer on live
    /// systems where files may be truncated during the scan).
    #[arg(long)]
    no_mmap: bool,
    /// Judge IOC expiry at this time (RFC 3339) instead of now, e.g. the
    /// time of the incident.
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    as_of: Option<Timestamp>,
    /// MISP: take every attribute, not only those marked to_ids.
    #[arg(long)]
    all_attributes: bool,
    /// Directories, files, event logs or disk images, detected by content.
    #[arg(required = true, value_name = "TARGET")]
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
        Command::Scan(args) => run_scan(args),
        Command::Bundle(BundleCommand::Check(args)) => {
            check::run(&args.files, args.as_of, args.all_attributes)
        }
        Command::Bundle(BundleCommand::Convert(args)) => {
            check::convert(&args.files, args.output.as_deref(), args.all_attributes)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("breachscan: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn run_scan(args: ScanArgs) -> Result<u8> {
    let started = Timestamp::now();
    let destination = output::check(
        args.output.as_deref(),
        &Inputs {
            targets: &args.targets,
            files: &args.bundles,
        },
    )
    .map_err(anyhow::Error::msg)?;
    // Created before anything slow (a million-IOC bundle loads for seconds):
    // an unwritable destination fails at once.
    let pending = match &destination {
        Destination::File(path) => Some(
            AtomicFile::create(path, "report")
                .with_context(|| format!("cannot write the report to {}", path.display()))?,
        ),
        Destination::Stdout => None,
    };
    let as_of = args.as_of.unwrap_or(started);
    let opts = LoadOptions {
        as_of,
        all_attributes: args.all_attributes,
    };
    let clock = std::time::Instant::now();
    let Some(bundle) = check::load_or_report(&args.bundles, &opts) else {
        return Ok(2);
    };
    let loaded = clock.elapsed();
    let matcher = Matcher::new(&bundle).map_err(anyhow::Error::msg)?;
    let compiled = clock.elapsed();

    let opts = ScanOptions {
        source: SourceOptions {
            follow_symlinks: args.follow_symlinks,
            one_file_system: args.one_file_system,
            mmap: !args.no_mmap,
        },
        max_file_size: args.max_file_size,
        threads: args.threads,
        single_stream: false,
    };
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let bar = show_progress.then(progress::Bar::new);
    let progress: &dyn Progress = match &bar {
        Some(b) => b,
        None => &NoProgress,
    };

    let target_names: Vec<String> = args
        .targets
        .iter()
        .map(|t| EvidencePath::from_os(t.as_os_str()).display())
        .collect();
    let mut builder = ReportBuilder::new(target_names);
    let scan_start = clock.elapsed();
    let outcome = scan::run(&args.targets, &matcher, &opts, progress, &mut builder)
        .context("cannot start the scan")?;
    let scanned = clock.elapsed() - scan_start;
    if let Some(b) = &bar {
        b.finish();
    }
    let finished = Timestamp::now();

    let scan_info = ScanInfo {
        started_at: report::format_time(started),
        finished_at: report::format_time(finished),
        arguments: std::env::args_os()
            .map(|a| EvidencePath::from_os(&a).display())
            .collect(),
        complete: outcome.targets_opened == args.targets.len(),
        as_of: report::format_time(as_of),
        timings: report::Timings {
            bundle_load: loaded.as_secs_f64(),
            matcher_build: (compiled - loaded).as_secs_f64(),
            scan: scanned.as_secs_f64(),
        },
    };
    let report = builder.finish(&bundle, scan_info);

    match pending {
        Some(pending) => {
            let path = pending.path().display().to_string();
            pending
                .commit(|w| report::write_json(&report, w))
                .with_context(|| format!("cannot write the report to {path}"))?
        }
        None => {
            let stdout = std::io::stdout();
            let mut out = std::io::BufWriter::new(stdout.lock());
            report::write_json(&report, &mut out)
                .and_then(|()| out.flush())
                .context("cannot write the report to stdout")?;
        }
    }
    if !args.quiet {
        summary::print(
            &report,
            finished.duration_since(started),
            args.output.as_deref(),
        );
    }
    // The process ends next: freeing the matcher and bundle of a
    // million-IOC scan piece by piece would only delay the exit.
    std::mem::forget(matcher);
    std::mem::forget(bundle);
    if outcome.targets_opened == 0 {
        eprintln!("breachscan: error: no target could be opened");
        return Ok(2);
    }
    Ok(if report.summary.evidence > 0 { 1 } else { 0 })
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
