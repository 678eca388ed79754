//! A batch through a real single-node Slurm cluster (munged, slurmctld,
//! slurmd from Debian's packages, started by scripts/slurm/start.sh and
//! stopped by the pids it recorded, on every exit): 21 images and
//! directories as a job array plus a merge job; one unit fails on purpose,
//! which cancels the merge instead of leaving it pending; the batch is
//! submitted again, runs only that unit, and the merged report equals one
//! scan of the same targets. Needs root and Slurm; skipped without them
//! unless BREACHSCAN_REQUIRE_SLURM is set (CI sets it).

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use support::{batch, breachscan, read_report};

fn scripts() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/slurm")
}

/// The cluster, stopped when dropped (a failing assertion included).
struct Cluster;

impl Cluster {
    fn start() -> Option<Cluster> {
        let required = std::env::var_os("BREACHSCAN_REQUIRE_SLURM").is_some();
        let root = unsafe { libc::geteuid() } == 0;
        let installed = Command::new("sh")
            .args([
                "-c",
                "command -v sbatch && command -v slurmctld && command -v munged",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !(root && installed) {
            assert!(
                !required,
                "Slurm is required: run as root with slurmctld, slurmd, slurm-client and munge installed"
            );
            eprintln!(
                "skipped: needs root and Slurm (apt-get install slurmctld slurmd slurm-client munge)"
            );
            return None;
        }
        let out = Command::new("bash")
            .arg(scripts().join("start.sh"))
            .env("SLURM_CI_OVERSUBSCRIBE", "4")
            .env("SLURM_CI_NO_INSTALL", "1")
            .output()
            .unwrap();
        let cluster = Cluster;
        assert!(
            out.status.success(),
            "the cluster did not start: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Some(cluster)
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(scripts().join("stop.sh"))
            .arg("--purge")
            .output();
    }
}

/// Waits for a job to leave the queue and returns its final state.
fn wait(job: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let q = Command::new("squeue")
            .args(["-h", "-j", job])
            .output()
            .unwrap();
        if String::from_utf8_lossy(&q.stdout).trim().is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "job {job} still queued after 10 minutes"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let show = Command::new("scontrol")
        .args(["-o", "show", "job", job])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&show.stdout);
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("JobState="))
        .unwrap_or("?")
        .to_string()
}

/// `batch slurm DIR --submit`: (array job ids, merge job id).
fn submit(dir: &Path) -> (Vec<String>, String, String) {
    let run = breachscan(&["batch", "slurm", dir.to_str().unwrap(), "--submit"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut arrays = Vec::new();
    let mut merge = String::new();
    for line in run.stdout.lines() {
        match line.split_once(' ') {
            Some(("array", id)) => arrays.push(id.to_string()),
            Some(("merge", id)) => merge = id.to_string(),
            _ => {}
        }
    }
    assert!(!merge.is_empty(), "{}", run.stdout);
    (arrays, merge, run.stderr)
}

#[test]
fn a_batch_runs_as_a_slurm_job_array_and_resubmits_only_what_failed() {
    let Some(_cluster) = Cluster::start() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("evidence");
    std::fs::create_dir(&root).unwrap();
    let targets = batch::targets(&root, 12, 8);
    assert!(targets.len() >= 20);
    let dir = tmp.path().join("batch");
    let bundle = support::samples().join("bundles/demo.json");
    let mut args = vec![
        "batch",
        "plan",
        "-o",
        dir.to_str().unwrap(),
        "--unit-size",
        "1M",
    ];
    args.extend(["--bundle", bundle.to_str().unwrap()]);
    args.extend(targets.iter().map(|t| t.to_str().unwrap()));
    let planned = breachscan(&args);
    assert_eq!(planned.code, 0, "{}", planned.stderr);

    // Unit 0's image changes after planning: that task fails.
    let mtime = std::fs::metadata(&targets[0]).unwrap().modified().unwrap();
    let image = std::fs::OpenOptions::new()
        .write(true)
        .open(&targets[0])
        .unwrap();
    image.set_modified(mtime + Duration::from_secs(60)).unwrap();
    let (arrays, merge, _) = submit(&dir);
    assert_eq!(arrays.len(), 1);
    assert_eq!(wait(&merge), "CANCELLED", "a failed unit cancels the merge");
    let status = breachscan(&["batch", "status", dir.to_str().unwrap()]);
    assert_eq!(status.code, 3);
    assert!(
        status
            .stdout
            .contains(" done, 1 failed, 0 started, 0 missing"),
        "{}",
        status.stdout
    );
    assert!(!dir.join("report.json").exists());

    image.set_modified(mtime).unwrap();
    let (arrays, merge, said) = submit(&dir);
    assert_eq!(arrays.len(), 1);
    assert!(
        said.contains(" 1 of "),
        "only the failed unit runs again: {said}"
    );
    assert_eq!(wait(&merge), "COMPLETED");
    let merged = read_report(&dir.join("report.json"));
    // The array's last task merged before the merge job did it again.
    let task_log = std::fs::read_dir(dir.join("slurm/logs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with(&format!("unit-{}_", arrays[0]))
        })
        .expect("the re-run task's log");
    let text = std::fs::read_to_string(&task_log).unwrap();
    assert!(text.contains("breachscan: merged"), "{text}");

    let as_of = batch::as_of(&dir);
    let single_path = tmp.path().join("single.json");
    let mut args = vec![
        "scan",
        "-q",
        "--bundle",
        bundle.to_str().unwrap(),
        "--as-of",
        &as_of,
    ];
    args.extend(["-o", single_path.to_str().unwrap()]);
    args.extend(targets.iter().map(|t| t.to_str().unwrap()));
    assert_eq!(breachscan(&args).code, 1);
    batch::assert_same(&read_report(&single_path), &merged);
}
