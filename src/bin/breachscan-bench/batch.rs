//! The batch benchmark: N ext4 images scanned as a Slurm job array on the
//! local single-node cluster (scripts/slurm/start.sh; needs root) beside
//! the same targets scanned by one `breachscan scan` process, and
//! `batch merge` of a batch of 1,000 units.
//!
//! Data: `--images` ext4 volumes made with `mkfs.ext4 -d` (no mount), each
//! holding `--files` random files of `--file-mib` MiB and one file named as
//! an IOC. Figures (medians of `--runs`, every row timed in each run): wall
//! time of each step (plan, the array's tasks run by hand without Slurm,
//! the array from submission until the merged report was written by its
//! last task, and until the merge job ended),
//! the overhead of the batch against the single scan, and merge time and
//! peak memory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, ensure};

use crate::{Rng, breachscan_exe, measure};

#[derive(clap::Args)]
pub struct Args {
    /// Where the generated data lives (reused across runs).
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// Images in the batch.
    #[arg(long, default_value_t = 50)]
    images: usize,
    /// Random files in each image.
    #[arg(long, default_value_t = 8)]
    files: usize,
    /// Size of each of those files, in MiB (16: 176 MB an image, 8.8 GB in
    /// all; a seized drive's image is far larger, and Slurm's fixed ~1 s of
    /// scheduling passes would be most of a batch of 50 small images).
    #[arg(long, default_value_t = 16)]
    file_mib: usize,
    /// Units of the merge benchmark's batch.
    #[arg(long, default_value_t = 1000)]
    merge_units: usize,
    /// Units each array task runs (`batch slurm --units-per-task`).
    #[arg(long, default_value_t = 25)]
    units_per_task: usize,
    /// Jobs per CPU Slurm may run at once (`OverSubscribe=FORCE:N`).
    #[arg(long, default_value_t = 1)]
    oversubscribe: u32,
    /// Bundles the scans use (repeatable; default: the demo bundle), e.g.
    /// signature-base's three lists, whose loading each process pays once.
    #[arg(long = "bundle", value_name = "FILE")]
    bundles: Vec<PathBuf>,
    /// Runs of each row (the median is shown): Slurm starts jobs on its
    /// passes, once a second here, so one run lands anywhere in that second.
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

fn run_ok(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?}"))?;
    ensure!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn images(args: &Args, base: &Path) -> Result<Vec<PathBuf>> {
    let dir = base.join(format!(
        "images-{}x{}x{}",
        args.images, args.files, args.file_mib
    ));
    let mut out = Vec::new();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for i in 0..args.images {
        let image = dir.join(format!("img{i:03}.raw"));
        if !image.exists() {
            let tree = dir.join("tree");
            let _ = fs::remove_dir_all(&tree);
            fs::create_dir_all(&tree)?;
            let mut buf = vec![0u8; args.file_mib << 20];
            for f in 0..args.files {
                rng.fill(&mut buf);
                fs::write(tree.join(format!("data{f}.bin")), &buf)?;
            }
            fs::write(tree.join("mimikatz.exe"), format!("image {i}"))?;
            let size = format!("{}M", args.files * args.file_mib * 5 / 4 + 8);
            let tmp = image.with_extension("partial");
            run_ok(
                Command::new("mkfs.ext4")
                    .args(["-q", "-F", "-d"])
                    .arg(&tree)
                    .arg(&tmp)
                    .arg(size),
            )?;
            fs::rename(&tmp, &image)?;
            fs::remove_dir_all(&tree)?;
        }
        out.push(image);
    }
    Ok(out)
}

/// Waits until `job` has left the queue; its final state.
fn wait(job: &str) -> Result<String> {
    let deadline = Instant::now() + Duration::from_secs(3600);
    while !run_ok(Command::new("squeue").args(["-h", "-j", job]))?
        .trim()
        .is_empty()
    {
        ensure!(
            Instant::now() < deadline,
            "job {job} still queued after an hour"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let text = run_ok(Command::new("scontrol").args(["-o", "show", "job", job]))?;
    Ok(text
        .split_whitespace()
        .find_map(|w| w.strip_prefix("JobState="))
        .unwrap_or("?")
        .to_string())
}

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    let base = std::path::absolute(args.dir.join("batch"))?;
    fs::create_dir_all(&base)?;
    let demo = std::path::absolute("samples/bundles/demo.json")?;
    ensure!(demo.exists(), "run from the repository's root");
    let bundles: Vec<PathBuf> = if args.bundles.is_empty() {
        vec![demo.clone()]
    } else {
        args.bundles
            .iter()
            .map(std::path::absolute)
            .collect::<std::io::Result<_>>()?
    };
    let bundle_name = if args.bundles.is_empty() {
        "demo bundle".to_string()
    } else {
        bundles
            .iter()
            .filter_map(|b| b.file_name())
            .map(|n| n.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" + ")
    };
    let imgs = images(args, &base)?;
    let bytes: u64 = imgs
        .iter()
        .map(|p| fs::metadata(p).map_or(0, |m| m.len()))
        .sum();
    let as_of = "2026-01-01T00:00:00Z";
    let mut single: Vec<String> = vec!["scan".into(), "-q".into(), "--as-of".into(), as_of.into()];
    for b in &bundles {
        single.extend(["-b".into(), b.display().to_string()]);
    }
    single.extend(["-o".into(), base.join("single.json").display().to_string()]);
    single.extend(imgs.iter().map(|p| p.display().to_string()));
    // A warm-up: the page cache holds the images before the first row.
    let warm = Command::new(&exe).args(&single).output()?;
    ensure!(
        warm.status.code() == Some(1),
        "the single scan found nothing"
    );

    let start = Command::new("bash")
        .arg("scripts/slurm/start.sh")
        .env("SLURM_CI_OVERSUBSCRIBE", args.oversubscribe.to_string())
        // Scheduler passes every second, not every 5 s: what a cluster
        // tuned for throughput does.
        .env("SLURM_CI_SCHED_INTERVAL", "1")
        .output()?;
    ensure!(
        start.status.success(),
        "the cluster did not start: {}",
        String::from_utf8_lossy(&start.stderr)
    );
    // Each run times every row back to back: this VM's speed drifts by
    // 15% within minutes, so rows run far apart would compare two machines.
    let mut rows: [Vec<Duration>; 7] = Default::default();
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let out = Command::new(&exe).args(&single).output()?;
        ensure!(
            out.status.code() == Some(1),
            "the single scan found nothing"
        );
        rows[0].push(t.elapsed());
        let t = batch_once(args, &exe, &bundles, &base, &imgs, as_of)?;
        let rows = &mut rows[1..];
        for (row, d) in rows.iter_mut().zip(t) {
            row.push(d);
        }
    }
    let _ = Command::new("bash")
        .args(["scripts/slurm/stop.sh", "--purge"])
        .output();
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let [single_time, plan, by_hand, array, reported, merged, all] = rows.each_mut().map(median);

    println!(
        "\n{} ext4 images, {:.2} GB, {bundle_name}; {} CPUs; Slurm OverSubscribe {}, 1 CPU and {} unit(s) a task; medians of {}\n",
        imgs.len(),
        bytes as f64 / 1e9,
        cpus(),
        args.oversubscribe,
        args.units_per_task,
        args.runs.max(1)
    );
    println!("| how | time | GB/s | vs one process |");
    println!("|---|---:|---:|---:|");
    let row = |name: &str, d: Duration| {
        println!(
            "| {name} | {:.2} s | {:.2} | {:+.1}% |",
            d.as_secs_f64(),
            bytes as f64 / 1e9 / d.as_secs_f64(),
            (d.as_secs_f64() / single_time.as_secs_f64() - 1.0) * 100.0
        )
    };
    row("one `breachscan scan` process", single_time);
    row("`batch plan` (hashes each image's first segment)", plan);
    row(
        "the same tasks' `batch run`s by hand, as many at once as CPUs (no Slurm)",
        by_hand,
    );
    row(
        "Slurm array alone: submission until its last task ended",
        array,
    );
    row(
        &format!(
            "Slurm array over {} units: submission until its last task wrote the merged report",
            imgs.len()
        ),
        reported,
    );
    row(
        &format!(
            "Slurm array over {} units + merge job: submission until the merge job ended",
            imgs.len()
        ),
        merged,
    );
    row("batch in all (plan + array + merge)", all);

    merge_bench(&exe, &base, &demo, args.merge_units)
}

fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// One batch of the images: plan, the tasks' `batch run`s by hand, then
/// (units cleared) the Slurm array and its merge job. Times: plan, by hand,
/// array, merged report written (by the array's last task), merge job
/// ended, plan + merge job ended.
fn batch_once(
    args: &Args,
    exe: &Path,
    bundles: &[PathBuf],
    base: &Path,
    imgs: &[PathBuf],
    as_of: &str,
) -> Result<[Duration; 6]> {
    let batch = base.join("run");
    let _ = fs::remove_dir_all(&batch);
    let t = Instant::now();
    let mut plan = Command::new(exe);
    plan.args(["batch", "plan", "--as-of", as_of]);
    for b in bundles {
        plan.arg("-b").arg(b);
    }
    plan.arg("-o").arg(&batch).args(imgs);
    run_ok(&mut plan)?;
    let plan_time = t.elapsed();

    // By hand: the tasks the array would run, `cpus()` at a time.
    let per = args.units_per_task.max(1);
    let tasks: Vec<Vec<usize>> = (0..imgs.len())
        .collect::<Vec<_>>()
        .chunks(per)
        .map(<[usize]>::to_vec)
        .collect();
    let t = Instant::now();
    for wave in tasks.chunks(cpus()) {
        let children = wave
            .iter()
            .map(|units| {
                let mut c = Command::new(exe);
                c.args(["batch", "run"]).arg(&batch);
                for u in units {
                    c.arg("--unit").arg(u.to_string());
                }
                c.args(["-j", "1"])
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null())
                    .spawn()
                    .map_err(anyhow::Error::from)
            })
            .collect::<Result<Vec<_>>>()?;
        for mut c in children {
            ensure!(c.wait()?.success(), "a `batch run` failed");
        }
    }
    let by_hand = t.elapsed();
    fs::remove_dir_all(batch.join("units"))?;
    fs::create_dir_all(batch.join("units"))?;

    let report = batch.join("report.json");
    let t = Instant::now();
    // The report is renamed into place whole: it exists once written. A
    // stat every 5 ms costs the scan nothing measurable.
    let watcher = std::thread::spawn(move || {
        while !report.exists() {
            if t.elapsed() > Duration::from_secs(3600) {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Some(t.elapsed())
    });
    let submitted = run_ok(
        Command::new(exe)
            .args(["batch", "slurm", "--submit", "--cpus-per-task", "1"])
            .arg("--units-per-task")
            .arg(args.units_per_task.to_string())
            .arg(&batch),
    )?;
    let merge_job = submitted
        .lines()
        .find_map(|l| l.strip_prefix("merge "))
        .context("no merge job id")?
        .to_string();
    for array in submitted.lines().filter_map(|l| l.strip_prefix("array ")) {
        wait(array)?;
    }
    let array_time = t.elapsed();
    let state = wait(&merge_job)?;
    let merged = t.elapsed();
    ensure!(state == "COMPLETED", "the merge job ended {state}");
    let reported = watcher.join().ok().flatten().context("no merged report")?;
    Ok([
        plan_time,
        by_hand,
        array_time,
        reported,
        merged,
        plan_time + merged,
    ])
}

/// `batch merge` of a batch of `units` one-folder units, each run here.
fn merge_bench(exe: &Path, base: &Path, bundle: &Path, units: usize) -> Result<()> {
    let folders = base.join(format!("folders-{units}"));
    if !folders.join(".done").exists() {
        for i in 0..units {
            let d = folders.join(format!("t{i:04}"));
            fs::create_dir_all(&d)?;
            fs::write(d.join("mimikatz.exe"), format!("{i}"))?;
            fs::write(d.join("notes.txt"), "x")?;
        }
        fs::write(folders.join(".done"), "")?;
    }
    let batch = base.join(format!("merge-{units}"));
    let status = Command::new(exe)
        .args(["batch", "status"])
        .arg(&batch)
        .output()?;
    if !status.status.success() {
        let _ = fs::remove_dir_all(&batch);
        let targets: Vec<PathBuf> = (0..units)
            .map(|i| folders.join(format!("t{i:04}")))
            .collect();
        let mut plan = Command::new(exe);
        plan.args([
            "batch",
            "plan",
            "--unit-size",
            "140K",
            "--as-of",
            "2026-01-01T00:00:00Z",
            "-b",
        ])
        .arg(bundle)
        .arg("-o")
        .arg(&batch)
        .args(&targets);
        run_ok(&mut plan)?;
        let script = format!(
            "seq 0 {} | xargs -P 2 -I N {} batch run {} --unit N -j 1",
            units - 1,
            crate::sh_quote(exe),
            crate::sh_quote(&batch)
        );
        run_ok(Command::new("sh").args(["-c", &script]))?;
    }
    let out = base.join("merged.json");
    let argv = [
        "batch",
        "merge",
        batch.to_str().unwrap_or_default(),
        "-o",
        out.to_str().unwrap_or_default(),
    ];
    let (took, peak) = measure(exe, &argv, 3, &[0])?;
    println!("\n| batch merge | units | time | peak memory |");
    println!("|---|---:|---:|---:|");
    println!(
        "| `breachscan batch merge` | {units} | {:.2} s | {} MB |",
        took.as_secs_f64(),
        peak / 1024
    );
    Ok(())
}
