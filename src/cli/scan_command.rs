//! `breachscan scan`: checks the arguments (output never on input, no
//! target twice, something to look for), loads the bundle, runs the scan
//! under the signal handler, writes the report and chooses the exit code.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use jiff::Timestamp;

use super::output::{self, AtomicFile, Destination, Inputs};
use super::scan_args::ScanArgs;
use super::signals::{self, Unfinished};
use super::{case, check, progress, summary};
use crate::bundle::LoadOptions;
use crate::evidence::{ReportSink, ScanEvent};
use crate::matcher::Matcher;
use crate::report::{self, Report, ReportBuilder, ScanInfo};
use crate::scan::{self, NoProgress, Progress, ScanOptions};
use crate::sigma::RuleSet;
use crate::source::{EvidencePath, SourceOptions};
use crate::stop::Stop;

/// Exit code of a scan that found nothing but checked less than asked.
const EXIT_INCOMPLETE: u8 = 3;

pub fn run(args: ScanArgs) -> Result<u8> {
    let (stop, unfinished) = catch_signals()?;
    run_with(args, &stop, &unfinished)
}

/// Installs the signal handling a scan needs, once per process: first,
/// before any thread starts, as every thread inherits the mask.
pub fn catch_signals() -> Result<(Stop, Unfinished)> {
    let stop = Stop::default();
    let unfinished = Unfinished::default();
    signals::install(stop.clone(), unfinished.clone()).context("cannot catch signals")?;
    crate::source::mapguard::install();
    Ok((stop, unfinished))
}

/// A scan under signal handling already installed ([`catch_signals`]):
/// several scans in one process (a batch worker's units) share it, so a
/// signal stops the one running.
pub fn run_with(args: ScanArgs, stop: &Stop, unfinished: &Unfinished) -> Result<u8> {
    run_loaded(args, stop, unfinished, Load::Here)
}

/// Where a scan's bundles and rules come from.
pub enum Load<'a> {
    /// The scan loads them.
    Here,
    /// [`prepare`]d for this scan, from the same bundles, IOCs and rules
    /// (its report counts the time that took).
    For(&'a Prepared),
    /// Prepared for an earlier scan of the process and shared (no time).
    Shared(&'a Prepared),
}

/// [`run_with`], with what to look for maybe loaded already.
pub fn run_loaded(
    args: ScanArgs,
    stop: &Stop,
    unfinished: &Unfinished,
    load: Load<'_>,
) -> Result<u8> {
    let started = Timestamp::now();

    let targets = case::targets(&args)?;
    if let (Some(since), Some(until)) = (args.since, args.until)
        && since > until
    {
        bail!("--since {since} is after --until {until}: no record could be kept");
    }
    case::distinct(&targets.paths)?;
    let slice =
        (args.slice_from.is_some() || args.slice_to.is_some()).then(|| crate::source::Slice {
            from: args.slice_from.clone(),
            to: args.slice_to.clone(),
        });
    if slice.is_some() && (targets.paths.len() != 1 || !targets.paths[0].is_dir()) {
        bail!("--slice-from/--slice-to take one directory target");
    }
    let inputs: Vec<PathBuf> = args
        .bundles
        .iter()
        .chain(&args.rules)
        .chain(&args.ioc_files)
        .cloned()
        .collect();
    if let Some(dir) = &args.collect {
        crate::collect::check_dir(dir, &targets.paths).map_err(anyhow::Error::msg)?;
    }
    let destination = output::check(
        args.output.as_deref(),
        &Inputs {
            targets: &targets.paths,
            files: &inputs,
        },
    )
    .map_err(anyhow::Error::msg)?;
    // Created before anything slow (a million-IOC bundle loads for seconds):
    // an unwritable destination fails at once.
    let pending = match &destination {
        Destination::File(path) => {
            let f = AtomicFile::create(path, "report")
                .with_context(|| format!("cannot write the report to {}", path.display()))?;
            let f = if args.unsynced_report {
                f.unsynced()
            } else {
                f
            };
            *unfinished.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(f.temp_path().to_path_buf());
            Some(f)
        }
        Destination::Stdout => None,
    };
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let mut owned: Option<Prepared> = None;
    let p: &Prepared = match load {
        Load::For(p) | Load::Shared(p) => p,
        Load::Here => match prepare(&args, started)? {
            Some(p) => owned.insert(p),
            None => return Ok(2),
        },
    };
    // The time this scan spent loading: none when it shares a load.
    let (loaded, compiled) = match load {
        Load::Shared(_) => (Duration::ZERO, Duration::ZERO),
        _ => (p.loaded, p.compiled),
    };
    let (bundle, rules, matcher, as_of) = (&p.bundle, &p.rules, &p.matcher, p.as_of);
    let clock = std::time::Instant::now();
    let bar = show_progress.then(progress::Bar::new);
    let opts = ScanOptions {
        source: SourceOptions {
            follow_symlinks: args.follow_symlinks,
            one_file_system: args.one_file_system,
            mmap: !args.no_mmap,
            stop: stop.clone(),
            verify_image: args.verify_image,
            watch: bar.as_ref().map(progress::Bar::watch).unwrap_or_default(),
            slice: slice.clone(),
        },
        max_file_size: args.max_file_size,
        sparse_limit: (!args.hash_sparse).then_some(args.sparse_limit),
        threads: args.threads,
        single_stream: false,
    };
    let progress: &dyn Progress = match &bar {
        Some(b) => b,
        None => &NoProgress,
    };

    let target_names: Vec<String> = targets
        .paths
        .iter()
        .map(|t| EvidencePath::from_os(t.as_os_str()).display())
        .collect();
    let mut builder = ReportBuilder::new(target_names);
    builder.limit_records(args.since, args.until);
    let scan_start = clock.elapsed();
    let outcome = scan::run(
        &targets.paths,
        matcher,
        rules,
        &opts,
        progress,
        &mut builder,
    )
    .context("cannot start the scan")?;
    // Correlations group records of the whole scan, so they run on its
    // findings once every worker is done.
    for f in rules.correlate(builder.findings()) {
        builder.accept(ScanEvent::Finding(Box::new(f)));
    }
    let scanned = clock.elapsed() - scan_start;
    if let Some(b) = &bar {
        b.finish();
    }
    let finished = Timestamp::now();
    let interrupted = stop.requested();

    let scan_info = ScanInfo {
        started_at: report::format_time(started),
        finished_at: report::format_time(finished),
        arguments: std::env::args_os()
            .map(|a| EvidencePath::from_os(&a).display())
            .collect(),
        complete: outcome.targets_opened == targets.paths.len(),
        interrupted: interrupted.map(|s| signals::name(s).to_string()),
        as_of: report::format_time(as_of),
        timings: report::Timings {
            bundle_load: loaded.as_secs_f64(),
            matcher_build: compiled.as_secs_f64(),
            scan: scanned.as_secs_f64(),
        },
        content_search: p.content_search,
        case: case::case(&args),
        time_window: None,
        collection: None,
        time_zone: "UTC".into(),
    };
    let mut report = builder.finish(&report::Detections { bundle, rules }, scan_info);
    case::describe(&mut report, &targets);
    if let (Some(slice), Some(source)) = (slice, report.sources.first_mut()) {
        source.slices = vec![slice];
        report.warnings.extend(report::slice_warning(source));
    }
    if args.collect.is_some() && interrupted.is_some() {
        // A stop asks for the report now, not for copying gigabytes.
        eprintln!("breachscan: the scan was stopped: evidence files were not collected");
    } else if let Some(dir) = &args.collect {
        let c = crate::collect::run(
            &mut report,
            dir,
            args.collect_format == "zip",
            &targets.paths,
            &opts.source,
        )
        .with_context(|| format!("cannot collect into {}", dir.display()))?;
        if !args.quiet {
            eprintln!(
                "breachscan: collected {} file(s), {} bytes, into {}{}",
                c.files,
                c.bytes,
                c.directory,
                if c.failed + c.not_collected > 0 {
                    format!(
                        " ({} failed, {} not read by the scan: see manifest.json)",
                        c.failed, c.not_collected
                    )
                } else {
                    String::new()
                }
            );
        }
        report.scan.collection = Some(c);
    }

    match pending {
        Some(pending) => {
            let path = pending.path().display().to_string();
            pending
                .commit(|w| report::write_json(&report, w))
                .with_context(|| format!("cannot write the report to {path}"))?;
            unfinished.lock().unwrap_or_else(|p| p.into_inner()).take();
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
    let code = exit_code(&report, interrupted);
    // Freeing the matcher of a million-IOC bundle, or a report of 100,000
    // evidence items, piece by piece takes seconds: a thread does it while
    // the process exits (or a batch worker starts its next unit).
    std::thread::spawn(move || drop((owned, report)));
    if outcome.targets_opened == 0 {
        eprintln!("breachscan: error: no target could be opened");
        return Ok(2);
    }
    Ok(code)
}

/// What a scan looks for, loaded and compiled: the units a batch worker
/// runs share one (their bundles and rules are the batch's), instead of
/// loading signature-base's 3,702 regexes again for every image.
pub struct Prepared {
    bundle: crate::bundle::Bundle,
    rules: RuleSet,
    matcher: Matcher,
    content_search: Option<report::ContentSearch>,
    /// The time IOC expiry was judged at.
    as_of: Timestamp,
    /// Time to load the bundles and rules, then to compile them.
    loaded: Duration,
    compiled: Duration,
}

/// Loads and compiles the bundles, IOCs and rules `args` name (expiry
/// judged at `--as-of`, else `started`). `None`: a bundle was refused, its
/// problems printed (exit code 2).
pub fn prepare(args: &ScanArgs, started: Timestamp) -> Result<Option<Prepared>> {
    let adhoc = crate::bundle::AdHoc {
        inline: args.iocs.clone(),
        files: args.ioc_files.clone(),
    };
    let as_of = args.as_of.unwrap_or(started);
    let opts = LoadOptions {
        as_of,
        all_attributes: args.all_attributes,
    };
    let clock = std::time::Instant::now();
    let show_progress = !args.quiet && std::io::stderr().is_terminal();
    let stage = progress::Stage::start(
        show_progress && !(args.bundles.is_empty() && adhoc.is_empty()),
        &format!(
            "loading {} bundle file(s)",
            args.bundles.len() + args.ioc_files.len()
        ),
    );
    let bundle = if args.bundles.is_empty() && adhoc.is_empty() {
        crate::bundle::Bundle::default()
    } else {
        let Some(bundle) = check::load_or_report(&args.bundles, &adhoc, &opts) else {
            return Ok(None);
        };
        bundle
    };
    drop(stage);
    let stage = progress::Stage::start(
        show_progress && !args.rules.is_empty(),
        "loading Sigma rules",
    );
    let rules = RuleSet::load(&args.rules).map_err(anyhow::Error::msg)?;
    drop(stage);
    if !args.rules.is_empty() && rules.is_empty() {
        bail!(
            "nothing to look for: no Sigma rule could be loaded from {} \
             (`breachscan rules check` lists why)",
            args.rules
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    if !(args.bundles.is_empty() && adhoc.is_empty())
        && bundle.active_iocs().next().is_none()
        && rules.is_empty()
    {
        bail!(
            "nothing to look for: the bundle(s) hold {} IOC(s), none active ({}) — \
             `bundle check` lists them; --as-of TIME judges expiry at another time, \
             --all-attributes takes MISP attributes not marked to_ids",
            bundle.iocs.len(),
            inactive_reasons(&bundle)
        );
    }
    let loaded = clock.elapsed();
    let stage = progress::Stage::start(
        show_progress,
        &format!("compiling {} active IOC(s)", bundle.active_iocs().count()),
    );
    // Searching bytes that are read anyway costs little (README, "File
    // content"); reading every byte only to search it is asked for.
    let content = args.content || !args.no_content && Matcher::wants_digests(&bundle);
    let matcher = Matcher::with_content(&bundle, content).map_err(anyhow::Error::msg)?;
    debug_assert_eq!(
        Matcher::wants_digests(&bundle),
        !matcher.digests_needed().is_empty(),
        "the content default must follow the digests the scan reads"
    );
    let content_search =
        content
            .then(|| matcher.content_search())
            .and_then(|(iocs, unsearched)| {
                (iocs + unsearched > 0).then_some(report::ContentSearch { iocs, unsearched })
            });
    let compiled = clock.elapsed();
    drop(stage);

    Ok(Some(Prepared {
        bundle,
        rules,
        matcher,
        content_search,
        as_of,
        loaded,
        compiled: compiled - loaded,
    }))
}

/// The exit code of a scan that ran (see `--help`).
fn exit_code(report: &Report, interrupted: Option<i32>) -> u8 {
    match interrupted {
        Some(signal) => signals::exit_code(signal),
        None if report.summary.evidence > 0 => 1,
        None if !report.warnings.is_empty() => EXIT_INCOMPLETE,
        None => 0,
    }
}

/// Why a bundle has no active IOC, counted: "12 expired, 3 disabled".
fn inactive_reasons(bundle: &crate::bundle::Bundle) -> String {
    use crate::bundle::IocState;
    let count = |s| bundle.iocs.iter().filter(|i| i.state == s).count();
    let unused: usize = bundle.files.iter().map(|f| f.entries_unused).sum();
    format!(
        "{} expired, {} disabled, {} entries not usable as IOCs",
        count(IocState::Expired),
        count(IocState::Disabled),
        unused
    )
}
