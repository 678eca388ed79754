//! `breachscan batch …`: plan a batch, run one unit, say where the units
//! stand, write Slurm job scripts (and submit them), merge the units.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use rayon::prelude::*;

use super::output::{self, AtomicFile, Destination, Inputs};
use super::scan_args::{ScanArgs, ScanSpec};
use super::scan_command::{Load, Prepared};
use super::{case, check, parse_size};
use crate::batch::plan::{self as planning, WalkOptions};
use crate::batch::slurm::{self, SlurmOptions};
use crate::batch::state::{self, Attempt, Done, UnitState};
use crate::batch::{self, BATCH_VERSION, Layout, Plan};
use crate::report::{self, Report, Warning};

#[derive(Subcommand)]
pub enum BatchCommand {
    /// Write a batch directory: the targets with their identity, the
    /// bundle and rule files copied in with their digests, and the work cut
    /// into units balanced by bytes. Takes `scan`'s options and targets.
    Plan(Box<PlanArgs>),
    /// Scan one unit into BATCH_DIR/units/N.json (whole, by rename). A unit
    /// already done with the same inputs is left alone; a failed or
    /// interrupted one leaves no report and can be run again. Exit 0 when
    /// the unit is done (whatever it found), 2 when it failed.
    Run(RunArgs),
    /// Say which units are done, failed, started or missing (exit 0 when
    /// all are done, 3 otherwise).
    Status(StatusArgs),
    /// Write Slurm scripts for the units not done (a job array, and a merge
    /// job that depends on it) into BATCH_DIR/slurm; with --submit, submit
    /// them and print the job ids.
    Slurm(SlurmArgs),
    /// Merge the units' reports into BATCH_DIR/report.json (or -o): the
    /// report one scan of every target would write. Refuses while a unit is
    /// not done, unless --partial.
    Merge(MergeArgs),
}

#[derive(Args)]
pub struct PlanArgs {
    /// The batch directory to create (new, or empty).
    #[arg(long, short = 'o', value_name = "BATCH_DIR")]
    output: PathBuf,
    /// Balance units to about this many bytes (a file weighs its size plus
    /// 64 KiB); an image is always one unit, a bigger directory is cut
    /// into slices, smaller targets are packed together.
    #[arg(long, value_name = "SIZE", value_parser = parse_size, default_value = "16GiB")]
    unit_size: u64,
    #[command(flatten)]
    spec: ScanSpec,
}

#[derive(Args)]
pub struct RunArgs {
    #[arg(value_name = "BATCH_DIR")]
    dir: PathBuf,
    /// The unit to scan (0-based, as in batch.json); repeat to run several
    /// one after the other (exit: the first failure's code, after all ran).
    #[arg(long, value_name = "N", required = true)]
    unit: Vec<usize>,
    /// Worker threads (default: the plan's, else one per core).
    #[arg(long, short = 'j', value_name = "N")]
    threads: Option<usize>,
    /// When the units given are done and so is every other unit, merge
    /// the batch into BATCH_DIR/report.json as `batch merge` would: the
    /// worker that ends last writes the final report, with no merge job
    /// to wait for (Slurm starts a dependent job only on its next
    /// scheduling pass; a Kubernetes Indexed Job has none).
    #[arg(long)]
    merge_when_done: bool,
}

#[derive(Args)]
pub struct StatusArgs {
    #[arg(value_name = "BATCH_DIR")]
    dir: PathBuf,
}

#[derive(Args)]
pub struct SlurmArgs {
    #[arg(value_name = "BATCH_DIR")]
    dir: PathBuf,
    #[arg(long, value_name = "P")]
    partition: Option<String>,
    /// Time limit of each task (Slurm's format, e.g. 2:00:00).
    #[arg(long, value_name = "T")]
    time: Option<String>,
    #[arg(long, value_name = "C")]
    cpus_per_task: Option<u32>,
    /// At most this many units at once.
    #[arg(long, value_name = "N")]
    max_running: Option<u32>,
    /// Slurm's MaxArraySize: more tasks are submitted as several arrays.
    #[arg(long, value_name = "N", default_value_t = 1001)]
    max_array_size: usize,
    /// Units each array task runs in turn, sharing one load of the bundle
    /// (Slurm starts tasks on its passes, at best once a second: group
    /// short units).
    #[arg(long, value_name = "K", default_value_t = 1)]
    units_per_task: usize,
    /// The breachscan the jobs run (default: this one).
    #[arg(long, value_name = "PATH")]
    binary: Option<PathBuf>,
    /// Submit with sbatch and print the job ids.
    #[arg(long)]
    submit: bool,
}

#[derive(Args)]
pub struct MergeArgs {
    #[arg(value_name = "BATCH_DIR")]
    dir: PathBuf,
    /// Write here instead of BATCH_DIR/report.json (`-` is stdout).
    #[arg(long, short = 'o', value_name = "OUT.json")]
    output: Option<PathBuf>,
    /// Merge the units that are done: the report is marked incomplete and
    /// lists each missing unit in its warnings.
    #[arg(long)]
    partial: bool,
}

pub fn run(command: BatchCommand) -> Result<u8> {
    match command {
        BatchCommand::Plan(a) => plan(*a),
        BatchCommand::Run(a) => {
            // One signal handler for all the units: a signal stops the one
            // running, and no other starts.
            let (stop, unfinished) = super::scan_command::catch_signals()?;
            // Absolute before the first unit enters the plan's directory.
            let dir = std::path::absolute(&a.dir)?;
            // The bundles and rules, loaded and compiled by the first unit
            // and used by the others: all run the batch's one scan.
            let mut shared = None;
            let mut code = 0;
            for &n in &a.unit {
                if let Some(signal) = stop.requested() {
                    eprintln!("breachscan: stopped: unit {n} and those after it not started");
                    return Ok(super::signals::exit_code(signal));
                }
                let c = run_unit(&a, n, &stop, &unfinished, &mut shared)?;
                if code == 0 {
                    code = c;
                }
            }
            if a.merge_when_done && code == 0 {
                merge_if_all_done(&dir);
            }
            Ok(code)
        }
        BatchCommand::Status(a) => status(&a.dir),
        BatchCommand::Slurm(a) => slurm_scripts(&a),
        BatchCommand::Merge(a) => merge(&a),
    }
}

fn plan(args: PlanArgs) -> Result<u8> {
    let PlanArgs {
        output: dir,
        unit_size,
        mut spec,
    } = args;
    let targets = case::targets(&spec)?;
    // Units scanned apart could not tell: the merged report would count
    // such evidence twice (and a unit holding both would fail).
    case::distinct(&targets.paths)?;
    if std::fs::read_dir(&dir).is_ok_and(|mut d| d.next().is_some()) {
        bail!(
            "{} is not empty: a batch directory is new or empty",
            dir.display()
        );
    }
    let real_dir = resolve(&dir)?;
    for t in &targets.paths {
        let real = std::fs::canonicalize(t)
            .with_context(|| format!("cannot open the target {}", t.display()))?;
        if real_dir.starts_with(&real) || real.starts_with(&real_dir) {
            bail!(
                "the batch directory {} and the target {} overlap: output never lands on evidence",
                dir.display(),
                t.display()
            );
        }
    }
    std::fs::create_dir_all(dir.join("units"))
        .with_context(|| format!("cannot create {}", dir.display()))?;
    // A bad bundle or rule file fails here, once, not in every unit.
    let adhoc = crate::bundle::AdHoc {
        inline: spec.iocs.clone(),
        files: spec.ioc_files.clone(),
    };
    let as_of = spec.as_of.unwrap_or_else(jiff::Timestamp::now);
    let opts = crate::bundle::LoadOptions {
        as_of,
        all_attributes: spec.all_attributes,
    };
    if (!spec.bundles.is_empty() || !adhoc.is_empty())
        && check::load_or_report(&spec.bundles, &adhoc, &opts).is_none()
    {
        return Ok(2);
    }
    let rules = crate::sigma::RuleSet::load(&spec.rules).map_err(anyhow::Error::msg)?;
    if rules.has_correlations() {
        bail!(
            "the rules hold correlation rules: they group records across the whole scan, \
             which units scanned apart cannot rebuild; scan these targets in one run"
        );
    }
    // Every unit judges expiry at the same instant, or their reports would
    // not merge.
    spec.as_of = Some(as_of);
    let layout = Layout::new(&dir);
    let mut inputs = Vec::new();
    let mut n = 0;
    let mut copy = |paths: &mut Vec<PathBuf>, role: &str| -> Result<()> {
        for p in paths.iter_mut() {
            n += 1;
            let (rel, files) = planning::copy_input(&layout, role, n, p)?;
            inputs.extend(files);
            *p = PathBuf::from(rel);
        }
        Ok(())
    };
    copy(&mut spec.bundles, "bundle")?;
    copy(&mut spec.ioc_files, "iocFile")?;
    copy(&mut spec.rules, "rules")?;

    let walk = WalkOptions {
        follow_symlinks: spec.follow_symlinks,
        one_file_system: spec.one_file_system,
    };
    let listed: Vec<(PathBuf, Option<String>)> = targets
        .paths
        .iter()
        .cloned()
        .zip(targets.evidence_ids.iter().cloned())
        .collect();
    let identified = planning::identify(&listed, walk)?;
    let units = planning::units(&identified, unit_size, |t, n| {
        planning::slices(Path::new(&t.path), walk, n)
    });
    spec.targets.clear();
    spec.evidence_ids.clear();
    spec.targets_from = None;
    let working_directory = std::env::current_dir()?.display().to_string();
    let plan = Plan {
        batch_version: BATCH_VERSION,
        created_at: report::format_time(jiff::Timestamp::now()),
        tool: format!("breachscan {}", env!("CARGO_PKG_VERSION")),
        scan: serde_json::to_value(&spec)?,
        working_directory,
        inputs,
        targets: identified,
        units,
        unit_size,
    };
    state::write_json(&layout.plan(), &plan, state::WriteMode::Synced)?;
    let bytes: u64 = plan.targets.iter().map(|t| t.size).sum();
    eprintln!(
        "breachscan: planned {} unit(s) over {} target(s), {} bytes, in {}\n\
         next: `breachscan batch slurm {} --submit`, or `breachscan batch run {} --unit N` for each N",
        plan.units.len(),
        plan.targets.len(),
        bytes,
        dir.display(),
        dir.display(),
        dir.display()
    );
    Ok(0)
}

/// A path that may not exist yet, with its existing part's links resolved.
fn resolve(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path)?;
    let mut base = abs.as_path();
    let mut rest = Vec::new();
    while !base.exists() {
        let (Some(parent), Some(name)) = (base.parent(), base.file_name()) else {
            break;
        };
        rest.push(name);
        base = parent;
    }
    let mut real = std::fs::canonicalize(base)?;
    real.extend(rest.iter().rev());
    Ok(real)
}

fn host() -> String {
    case::host_name()
}

fn now() -> String {
    report::format_time(jiff::Timestamp::now())
}

fn run_unit(
    args: &RunArgs,
    n: usize,
    stop: &crate::stop::Stop,
    unfinished: &super::signals::Unfinished,
    shared: &mut Option<Prepared>,
) -> Result<u8> {
    let dir = std::path::absolute(&args.dir)?;
    let layout = Layout::new(&dir);
    let (plan, plan_bytes) = batch::load(&layout)?;
    let Some(unit) = plan.units.get(n) else {
        bail!(
            "the batch has {} unit(s): there is no unit {n}",
            plan.units.len()
        );
    };
    if let UnitState::Done(d) = state::state(&layout, &plan_bytes, &plan, n) {
        eprintln!(
            "breachscan: unit {n} is done (on {} at {}, {} evidence): nothing to do",
            d.host, d.finished_at, d.evidence
        );
        return Ok(0);
    }
    let started_at = now();
    let attempt = Attempt {
        unit: n,
        host: host(),
        pid: std::process::id(),
        started_at: started_at.clone(),
        finished_at: None,
        exit_code: None,
        error: None,
    };
    let fail = |code: u8, error: String| -> Result<u8> {
        eprintln!("breachscan: unit {n} failed: {error}");
        state::write_json(
            &layout.failed(n),
            &Attempt {
                finished_at: Some(now()),
                exit_code: Some(code),
                error: Some(error),
                ..attempt.clone()
            },
            state::WriteMode::Unsynced,
        )?;
        state::remove(&layout.running(n))?;
        Ok(code)
    };
    if let Some(why) = state::changed_targets(&plan, n) {
        return fail(2, why);
    }
    for f in &plan.inputs {
        let path = layout.inside(&f.path);
        match batch::sha256_file(&path) {
            Ok(d) if d == f.sha256 => {}
            Ok(_) => {
                return fail(
                    2,
                    format!("{} is not the file planned (SHA-256 differs)", f.path),
                );
            }
            Err(e) => return fail(2, format!("cannot read {}: {e}", path.display())),
        }
    }
    state::write_json(&layout.running(n), &attempt, state::WriteMode::Unsynced)?;
    state::remove(&layout.failed(n))?;
    if let Err(e) = std::env::set_current_dir(&plan.working_directory) {
        return fail(
            2,
            format!(
                "cannot enter {}, where the batch was planned (relative target paths start \
                 there): {e}",
                plan.working_directory
            ),
        );
    }
    let mut spec: ScanSpec =
        serde_json::from_value(plan.scan.clone()).context("batch.json: the scan's options")?;
    // The scan reads only the checked copies: a path of the scan's options
    // is an input file, or the folder of rule files copied together.
    let listed = |p: &PathBuf| {
        let rel = p.display().to_string();
        plan.inputs
            .iter()
            .any(|f| f.path == rel || f.path.starts_with(&format!("{rel}/")))
    };
    if let Some(p) = spec
        .bundles
        .iter()
        .chain(&spec.ioc_files)
        .chain(&spec.rules)
        .find(|p| !listed(p))
    {
        return fail(
            2,
            format!(
                "batch.json: {} is not one of the batch's inputs",
                p.display()
            ),
        );
    }
    let inside = |p: &mut PathBuf| *p = layout.inside(&p.display().to_string());
    spec.bundles.iter_mut().for_each(inside);
    spec.ioc_files.iter_mut().for_each(inside);
    spec.rules.iter_mut().for_each(inside);
    for &t in &unit.targets {
        let t = &plan.targets[t];
        spec.targets.push(PathBuf::from(&t.given));
        spec.evidence_ids
            .push(t.evidence_id.clone().unwrap_or_default());
    }
    if let Some(j) = args.threads {
        spec.threads = j;
    }
    let out = layout.attempt(n, &host());
    let scan = ScanArgs {
        spec,
        output: Some(out.clone()),
        quiet: true,
        collect: None,
        collect_format: "folder".into(),
        slice_from: unit.slice.as_ref().and_then(|s| s.from.clone()),
        slice_to: unit.slice.as_ref().and_then(|s| s.to.clone()),
        unsynced_report: true,
    };
    let load = match shared {
        Some(p) => Load::Shared(p),
        None => match super::scan_command::prepare(&scan, jiff::Timestamp::now()) {
            Ok(Some(p)) => Load::For(shared.insert(p)),
            Ok(None) => return fail(2, "the batch's bundle was refused (see above)".into()),
            Err(e) => return fail(2, format!("{e:#}")),
        },
    };
    let result = super::scan_command::run_loaded(scan, stop, unfinished, load);
    let code = match result {
        Ok(code @ (0 | 1 | 3)) if out.exists() => code,
        Ok(code) => {
            state::remove(&out)?;
            let why = match stop.requested() {
                Some(s) => format!("interrupted by {}", super::signals::name(s)),
                None => format!("the scan ended with exit code {code}"),
            };
            return fail(code, why);
        }
        Err(e) => {
            state::remove(&out)?;
            return fail(2, format!("{e:#}"));
        }
    };
    let bytes = std::fs::read(&out)?;
    let r: Report = serde_json::from_slice(&bytes)?;
    if let Some(signal) = &r.scan.interrupted {
        state::remove(&out)?;
        return fail(code, format!("interrupted by {signal}"));
    }
    std::fs::rename(&out, layout.report(n))?;
    state::write_json(
        &layout.done(n),
        &Done {
            unit: n,
            inputs: state::fingerprint(&plan_bytes, &plan, n),
            report_sha256: batch::sha256_hex(&bytes),
            host: host(),
            started_at,
            finished_at: now(),
            evidence: r.summary.evidence,
        },
        state::WriteMode::Unsynced,
    )?;
    state::remove(&layout.running(n))?;
    eprintln!(
        "breachscan: unit {n} done: {} file(s), {} record(s), {} evidence",
        r.summary.files_scanned, r.summary.records_scanned, r.summary.evidence
    );
    Ok(0)
}

/// Every unit's state, read in parallel.
fn states(layout: &Layout, plan: &Plan, plan_bytes: &[u8]) -> Vec<UnitState> {
    (0..plan.units.len())
        .into_par_iter()
        .map(|n| state::state(layout, plan_bytes, plan, n))
        .collect()
}

/// The targets of a unit, for people.
fn unit_targets(plan: &Plan, n: usize) -> String {
    let u = &plan.units[n];
    let names: Vec<&str> = u
        .targets
        .iter()
        .map(|&t| plan.targets[t].given.as_str())
        .collect();
    let slice = u.slice.as_ref().map_or(String::new(), |s| {
        format!(
            " [{} … {})",
            s.from.as_deref().unwrap_or("start"),
            s.to.as_deref().unwrap_or("end")
        )
    });
    format!("{}{slice}", names.join(", "))
}

fn status(dir: &Path) -> Result<u8> {
    let layout = Layout::new(dir);
    let (plan, plan_bytes) = batch::load(&layout)?;
    let states = states(&layout, &plan, &plan_bytes);
    let count = |name| states.iter().filter(|s| s.name() == name).count();
    let mut text = format!(
        "{} unit(s): {} done, {} failed, {} started, {} missing",
        states.len(),
        count("done"),
        count("failed"),
        count("started"),
        count("missing")
    );
    text.push('\n');
    for (n, s) in states.iter().enumerate() {
        let what = match s {
            UnitState::Done(_) => continue,
            UnitState::Failed(a) => format!(
                "failed on {} at {}: {}",
                a.host,
                a.finished_at.as_deref().unwrap_or("?"),
                a.error.as_deref().unwrap_or("?")
            ),
            UnitState::Started(a) => format!(
                "started on {} (pid {}) at {}, not ended: running, or killed",
                a.host, a.pid, a.started_at
            ),
            UnitState::Missing(None) => "missing".into(),
            UnitState::Missing(Some(why)) => format!("missing: {why}"),
        };
        text.push_str(&format!("unit {n}\t{}\t{what}\n", unit_targets(&plan, n)));
    }
    print_out(&text);
    Ok(if count("done") == states.len() { 0 } else { 3 })
}

fn slurm_scripts(args: &SlurmArgs) -> Result<u8> {
    let layout = Layout::new(&args.dir);
    let (plan, plan_bytes) = batch::load(&layout)?;
    let binary = match &args.binary {
        Some(b) => std::path::absolute(b)?,
        None => std::env::current_exe().context("cannot tell where this breachscan is")?,
    };
    let opts = SlurmOptions {
        partition: args.partition.clone(),
        time: args.time.clone(),
        cpus_per_task: args.cpus_per_task,
        max_running: args.max_running,
        binary,
        max_array_size: args.max_array_size,
        units_per_task: args.units_per_task,
    };
    let scripts = slurm::write_scripts(&layout, &opts)?;
    let states = states(&layout, &plan, &plan_bytes);
    let todo: Vec<usize> = (0..states.len())
        .filter(|&n| !matches!(states[n], UnitState::Done(_)))
        .collect();
    for (n, s) in states.iter().enumerate() {
        if let UnitState::Started(a) = s {
            eprintln!(
                "breachscan: unit {n} was started on {} at {} and has not ended: it is submitted again",
                a.host, a.started_at
            );
        }
    }
    eprintln!(
        "breachscan: {} of {} unit(s) to run; scripts in {}",
        todo.len(),
        states.len(),
        scripts.array.parent().unwrap_or(Path::new(".")).display()
    );
    if !args.submit {
        if !todo.is_empty() {
            let (list, tasks) = slurm::todo(&scripts, &todo, &opts)?;
            for a in slurm::array_args(&scripts, &list, tasks, &opts) {
                print_out(&format!("sbatch {}\n", a[1..].join(" ")));
            }
        }
        print_out(&format!(
            "sbatch --dependency=afterok:<array job ids> --kill-on-invalid-dep=yes {}\n",
            scripts.merge.display()
        ));
        return Ok(0);
    }
    let jobs = slurm::submit(&scripts, &todo, &opts)?;
    let mut text: String = jobs
        .arrays
        .iter()
        .map(|id| format!("array {id}\n"))
        .collect();
    text.push_str(&format!("merge {}\n", jobs.merge));
    print_out(&text);
    Ok(0)
}

/// Writes to stdout; a reader that went away (`| head`) ends the output,
/// not the process with a panic.
fn print_out(text: &str) {
    use std::io::Write;
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// `batch run --merge-when-done`: merges the batch if every unit is done.
/// Two workers ending at once may both merge: each report is renamed into
/// place whole and they are the same report (times apart). One that sees
/// a unit not done yet (still running, or its record not yet visible over
/// NFS) leaves the merge to the worker of that unit, or to the merge job.
/// A merge that fails here does not fail the unit: `batch merge` says why.
fn merge_if_all_done(dir: &Path) {
    let layout = Layout::new(dir);
    let Ok((plan, _)) = batch::load(&layout) else {
        return;
    };
    // A listing first: every task but the last stops here without reading
    // each unit's report for its digest.
    let recorded = std::fs::read_dir(layout.units()).map_or(0, |entries| {
        entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().ends_with(".done.json"))
            .count()
    });
    if recorded < plan.units.len() {
        return;
    }
    let args = MergeArgs {
        dir: dir.to_path_buf(),
        output: None,
        partial: false,
    };
    if let Err(e) = merge(&args) {
        let first = format!("{e:#}");
        let first = first.lines().next().unwrap_or_default();
        eprintln!("breachscan: every unit seemed done, but the batch was not merged: {first}");
    }
}

fn merge(args: &MergeArgs) -> Result<u8> {
    let layout = Layout::new(&args.dir);
    let (plan, plan_bytes) = batch::load(&layout)?;
    let states = states(&layout, &plan, &plan_bytes);
    let missing: Vec<usize> = (0..states.len())
        .filter(|&n| !matches!(states[n], UnitState::Done(_)))
        .collect();
    if !missing.is_empty() && !args.partial {
        let list: Vec<String> = missing
            .iter()
            .map(|&n| {
                format!(
                    "  unit {n} ({}): {}",
                    unit_targets(&plan, n),
                    states[n].name()
                )
            })
            .collect();
        bail!(
            "{} of {} unit(s) are not done (`batch status` says why; --partial merges the \
             others into a report marked incomplete):\n{}",
            missing.len(),
            states.len(),
            list.join("\n")
        );
    }
    let out = args.output.clone().unwrap_or_else(|| layout.merged());
    let files: Vec<PathBuf> = (0..states.len()).map(|n| layout.report(n)).collect();
    let targets: Vec<PathBuf> = plan
        .targets
        .iter()
        .map(|t| PathBuf::from(&t.path))
        .collect();
    let destination = output::check(
        Some(&out),
        &Inputs {
            targets: &targets,
            files: &files,
        },
    )
    .map_err(anyhow::Error::msg)?;
    let reports = (0..states.len())
        .into_par_iter()
        .filter(|n| !missing.contains(n))
        .map(|n| {
            let p = layout.report(n);
            let bytes =
                std::fs::read(&p).with_context(|| format!("cannot read {}", p.display()))?;
            let r: Report = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a breachscan report", p.display()))?;
            Ok((format!("unit {n}"), r))
        })
        .collect::<Result<Vec<_>>>()?;
    let arguments = std::env::args_os()
        .map(|a| crate::source::EvidencePath::from_os(&a).display())
        .collect();
    let mut merged = report::merge(reports, arguments)?;
    for &n in &missing {
        merged.scan.complete = false;
        merged.warnings.push(Warning {
            code: "batchUnitMissing".into(),
            path: Some(unit_targets(&plan, n)),
            message: format!(
                "unit {n} was {} when the batch was merged: what it holds was not scanned",
                states[n].name()
            ),
        });
    }
    match destination {
        Destination::File(path) => AtomicFile::create(&path, "report")
            .and_then(|f| f.commit(|w| report::write_json(&merged, w)))
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        Destination::Stdout => {
            use std::io::Write;
            let mut w = std::io::BufWriter::new(std::io::stdout().lock());
            report::write_json(&merged, &mut w).and_then(|()| w.flush())?;
        }
    }
    eprintln!(
        "breachscan: merged {} unit(s){}: {} alert(s), {} evidence; report: {}",
        states.len() - missing.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(" ({} missing, report marked incomplete)", missing.len())
        },
        merged.summary.alerts,
        merged.summary.evidence,
        out.display()
    );
    Ok(0)
}
