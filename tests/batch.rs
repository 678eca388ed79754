//! `breachscan batch`: a batch planned, its units run by several workers at
//! once, and merged, gives the report of one scan of the same targets; a
//! finished unit is not run again; a failed unit leaves no report, keeps
//! the merge from pretending to be complete, and runs again when asked.
//! (The same through a real Slurm cluster: tests/slurm_batch.rs.)

mod support;

use std::path::Path;

use serde_json::Value;
use support::{batch, breachscan, read_report};

fn plan(dir: &Path, targets: &[std::path::PathBuf], extra: &[&str]) -> support::Run {
    let bundle = support::samples().join("bundles/demo.json");
    let mut args = vec!["batch", "plan", "-o", dir.to_str().unwrap()];
    args.extend(["--bundle", bundle.to_str().unwrap(), "--case", "CASE-7"]);
    args.extend_from_slice(extra);
    args.extend(targets.iter().map(|t| t.to_str().unwrap()));
    breachscan(&args)
}

fn units(dir: &Path) -> usize {
    let plan: Value =
        serde_json::from_slice(&std::fs::read(dir.join("batch.json")).unwrap()).unwrap();
    plan["units"].as_array().unwrap().len()
}

fn single_scan(dir: &Path, targets: &[std::path::PathBuf], out: &Path) -> Value {
    let bundle = support::samples().join("bundles/demo.json");
    let as_of = batch::as_of(dir);
    let mut args = vec![
        "scan",
        "-q",
        "--bundle",
        bundle.to_str().unwrap(),
        "--case",
        "CASE-7",
    ];
    args.extend(["--as-of", &as_of, "-o", out.to_str().unwrap()]);
    args.extend(targets.iter().map(|t| t.to_str().unwrap()));
    let run = breachscan(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    read_report(out)
}

#[test]
fn units_run_by_parallel_workers_merge_into_the_single_scan() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("evidence");
    std::fs::create_dir(&root).unwrap();
    let targets = batch::targets(&root, 4, 3);
    let dir = tmp.path().join("batch");
    let run = plan(&dir, &targets, &["--unit-size", "1M"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let n = units(&dir);
    let plan_json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("batch.json")).unwrap()).unwrap();
    let sliced = plan_json["units"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|u| u["slice"].is_object())
        .count();
    assert!(
        sliced >= 2,
        "the big directory is cut into slices: {plan_json}"
    );
    // Images carry the digest of their first segment.
    let image = &plan_json["targets"][0];
    assert_eq!(image["kind"], "image");
    assert_eq!(
        image["firstSegmentSha256"].as_str().unwrap(),
        support::sha256_hex(&std::fs::read(&targets[0]).unwrap())
    );

    // Two workers, each taking every unit in its own order, at once: one
    // process a unit, and one process for all (its units share one load of
    // the bundle, which must not carry anything from one unit to the next).
    let exe = env!("CARGO_BIN_EXE_breachscan");
    let worker = |rev: bool| {
        let dir = dir.clone();
        std::thread::spawn(move || {
            let mut order: Vec<usize> = (0..n).collect();
            if rev {
                order.reverse();
            }
            let calls: Vec<Vec<usize>> = if rev {
                vec![order]
            } else {
                order.into_iter().map(|u| vec![u]).collect()
            };
            for units in calls {
                let mut args = vec!["batch".to_string(), "run".into(), dir.display().to_string()];
                for u in units {
                    args.extend(["--unit".into(), u.to_string()]);
                }
                args.extend(["-j".into(), "1".into(), "--merge-when-done".into()]);
                let out = std::process::Command::new(exe)
                    .args(&args)
                    .output()
                    .unwrap();
                assert!(
                    out.status.success(),
                    "{}",
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        })
    };
    let (a, b) = (worker(false), worker(true));
    a.join().unwrap();
    b.join().unwrap();
    // The worker that ended last (or both, ending together) merged.
    let by_workers = read_report(&dir.join("report.json"));
    let status = breachscan(&["batch", "status", dir.to_str().unwrap()]);
    assert_eq!(status.code, 0, "{}", status.stdout);
    assert!(
        status.stdout.starts_with(&format!("{n} unit(s): {n} done")),
        "{}",
        status.stdout
    );

    // A done unit is left alone.
    let report0 = std::fs::read(dir.join("units/0.json")).unwrap();
    let again = breachscan(&["batch", "run", dir.to_str().unwrap(), "--unit", "0"]);
    assert_eq!(again.code, 0);
    assert!(again.stderr.contains("nothing to do"), "{}", again.stderr);
    assert_eq!(std::fs::read(dir.join("units/0.json")).unwrap(), report0);

    // Unit files are renamed into place unsynced: what a machine crash can
    // leave (a report cut short beside its done record, an empty done
    // record) is a unit not done, run again.
    let report1 = std::fs::read(dir.join("units/1.json")).unwrap();
    std::fs::write(dir.join("units/1.json"), &report1[..report1.len() / 2]).unwrap();
    std::fs::write(dir.join("units/2.done.json"), b"").unwrap();
    let status = breachscan(&["batch", "status", dir.to_str().unwrap()]);
    assert!(
        status
            .stdout
            .starts_with(&format!("{n} unit(s): {} done", n - 2)),
        "{}",
        status.stdout
    );
    for u in ["1", "2"] {
        let rerun = breachscan(&["batch", "run", dir.to_str().unwrap(), "--unit", u]);
        assert_eq!(rerun.code, 0, "{}", rerun.stderr);
        assert!(!rerun.stderr.contains("nothing to do"), "{}", rerun.stderr);
    }

    let merge = breachscan(&["batch", "merge", dir.to_str().unwrap()]);
    assert_eq!(merge.code, 0, "{}", merge.stderr);
    let merged = read_report(&dir.join("report.json"));
    let single = single_scan(&dir, &targets, &tmp.path().join("single.json"));
    assert!(merged["summary"]["evidence"].as_u64().unwrap() > 10);
    batch::assert_same(&single, &merged);
    batch::assert_same(&single, &by_workers);
}

#[test]
fn a_failed_unit_leaves_no_report_and_the_merge_waits_for_it() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("evidence");
    std::fs::create_dir(&root).unwrap();
    let targets = batch::targets(&root, 2, 1);
    let dir = tmp.path().join("batch");
    assert_eq!(plan(&dir, &targets, &[]).code, 0);
    let n = units(&dir);
    let d = dir.to_str().unwrap();
    // The first image changes after planning: its unit must not scan it.
    let mtime = std::fs::metadata(&targets[0]).unwrap().modified().unwrap();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&targets[0])
        .unwrap();
    f.set_modified(mtime + std::time::Duration::from_secs(60))
        .unwrap();
    for u in 0..n {
        let u = u.to_string();
        let run = breachscan(&["batch", "run", d, "--unit", &u, "--merge-when-done"]);
        assert_eq!(
            run.code,
            if u == "0" { 2 } else { 0 },
            "unit {u}: {}",
            run.stderr
        );
    }
    assert!(!dir.join("units/0.json").exists());
    let status = breachscan(&["batch", "status", d]);
    assert_eq!(status.code, 3);
    assert!(
        status
            .stdout
            .contains("changed since the batch was planned"),
        "{}",
        status.stdout
    );

    let refused = breachscan(&["batch", "merge", d]);
    assert_eq!(refused.code, 2);
    assert!(refused.stderr.contains("unit 0"), "{}", refused.stderr);
    assert!(!dir.join("report.json").exists());
    let partial = breachscan(&["batch", "merge", "--partial", d]);
    assert_eq!(partial.code, 0, "{}", partial.stderr);
    let r = read_report(&dir.join("report.json"));
    assert_eq!(r["scan"]["complete"], false);
    let missing: Vec<&Value> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["code"] == "batchUnitMissing")
        .collect();
    assert_eq!(missing.len(), 1, "{}", r["warnings"]);

    // Put back, the unit runs again; its worker, ending last, merges the
    // batch (the partial report is replaced), as `batch merge` does.
    f.set_modified(mtime).unwrap();
    let last = breachscan(&["batch", "run", d, "--unit", "0", "--merge-when-done"]);
    assert_eq!(last.code, 0, "{}", last.stderr);
    let single = single_scan(&dir, &targets, &tmp.path().join("single.json"));
    batch::assert_same(&single, &read_report(&dir.join("report.json")));
    assert_eq!(breachscan(&["batch", "merge", d]).code, 0);
    batch::assert_same(&single, &read_report(&dir.join("report.json")));
}

#[test]
fn a_batch_directory_never_lands_on_evidence_nor_on_a_used_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = support::samples().join("evidence");
    let inside = ev.join("batch");
    let run = plan(&inside, std::slice::from_ref(&ev), &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("overlap"), "{}", run.stderr);
    assert!(!inside.exists(), "nothing is created inside the evidence");
    let used = tmp.path().join("used");
    std::fs::create_dir(&used).unwrap();
    std::fs::write(used.join("x"), "x").unwrap();
    let run = plan(&used, std::slice::from_ref(&ev), &[]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("not empty"), "{}", run.stderr);
}

/// Units scanned apart cannot see that two targets are one: the plan
/// refuses what `scan` refuses (a unit holding both failed at run time, and
/// two units would have counted the evidence twice in the merge).
#[test]
fn a_target_given_twice_or_inside_another_is_refused_at_planning() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = support::samples().join("evidence");
    let twice = tmp.path().join("twice");
    let manifest = tmp.path().join("targets.txt");
    let listed = format!("{0}\tEV-1\n{0}/.\tEV-2\n", ev.display());
    std::fs::write(&manifest, listed).unwrap();
    let run = plan(&twice, &[], &["--targets-from", manifest.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("are the same target"), "{}", run.stderr);
    assert!(!twice.exists(), "no batch is written");
    let nested = tmp.path().join("nested");
    let inner = std::fs::read_dir(&ev)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .expect("a folder in samples/evidence");
    let run = plan(&nested, &[ev, inner], &[]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        run.stderr.contains("lies inside the target directory"),
        "{}",
        run.stderr
    );
    assert!(!nested.exists(), "no batch is written");
}

#[test]
fn a_unit_stopped_by_sigterm_leaves_no_report_and_no_further_unit_starts() {
    let tmp = tempfile::tempdir().unwrap();
    // 6 GiB of holes, hashed (--hash-sparse): seconds of reading.
    let big = tmp.path().join("big.bin");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(6 << 30)
        .unwrap();
    let dir = tmp.path().join("batch");
    let run = plan(&dir, std::slice::from_ref(&big), &["--hash-sparse"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_breachscan"))
        .args([
            "batch",
            "run",
            dir.to_str().unwrap(),
            "--unit",
            "0",
            "--unit",
            "0",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Once the unit is under way (its record says so), stop it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while !dir.join("units/0.running.json").exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the unit never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("not started"),
        "the second --unit is not started: {stderr}"
    );
    assert!(!dir.join("units/0.json").exists(), "no partial result");
    let failed = std::fs::read_to_string(dir.join("units/0.failed.json")).unwrap();
    assert!(failed.contains("interrupted by SIGTERM"), "{failed}");
    let left: Vec<_> = std::fs::read_dir(dir.join("units"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n != "0.failed.json")
        .collect();
    assert!(left.is_empty(), "nothing else is left behind: {left:?}");
    let status = breachscan(&["batch", "status", dir.to_str().unwrap()]);
    assert!(status.stdout.contains("1 failed"), "{}", status.stdout);
}

#[test]
fn a_plan_naming_an_input_outside_the_batch_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("batch");
    let ev = support::samples().join("evidence");
    assert_eq!(plan(&dir, std::slice::from_ref(&ev), &[]).code, 0);
    let path = dir.join("batch.json");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replace(
        "\"inputs/01-bundle/demo.json\"",
        "\"inputs/../../demo.json\"",
    );
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    let run = breachscan(&["batch", "run", dir.to_str().unwrap(), "--unit", "0"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("not a file under inputs/"),
        "{}",
        run.stderr
    );
    assert!(!dir.join("units/0.json").exists());

    // The scan's options naming a file that is not a checked input.
    let mut plan: Value = serde_json::from_str(&text).unwrap();
    plan["scan"]["bundles"] = serde_json::json!([ev.join("../bundles/demo.json")]);
    std::fs::write(&path, serde_json::to_vec(&plan).unwrap()).unwrap();
    let run = breachscan(&["batch", "run", dir.to_str().unwrap(), "--unit", "0"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not one of the batch's inputs"),
        "{}",
        run.stderr
    );
    assert!(!dir.join("units/0.json").exists());
}
