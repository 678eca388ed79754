//! Signals and the exit-code contract. A file truncated while it is read
//! is listed, not fatal (a mapped read would die of SIGBUS); Ctrl-C and
//! SIGTERM stop within seconds and still write a valid report marked
//! interrupted; a scan that checked little never exits 0 like a clean one.

mod support;

use std::fs;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use support::*;

fn sha256_bundle(dir: &Path) -> std::path::PathBuf {
    let b = dir.join("bundle.json");
    fs::write(
        &b,
        format!(
            r#"{{"alertDefinitions":[{{"id":"a","name":"n","severity":"High"}}],
                "iocs":[{{"id":"i","alertDefinitionId":"a","type":"Sha256","value":"{}"}}]}}"#,
            "0".repeat(64)
        ),
    )
    .unwrap();
    b
}

/// A 4 GiB sparse file: reading it takes far longer than any test waits.
fn big_sparse(dir: &Path) -> std::path::PathBuf {
    let ev = dir.join("ev");
    fs::create_dir(&ev).unwrap();
    fs::write(ev.join("small.txt"), b"x").unwrap();
    let f = fs::File::create(ev.join("big.bin")).unwrap();
    f.set_len(4 << 30).unwrap();
    ev
}

fn start(bundle: &Path, report: &Path, target: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_breachscan"))
        // The big sparse file keeps the scan busy only when hashed.
        .args(["scan", "-q", "--hash-sparse", "-b"])
        .arg(bundle)
        .arg("-o")
        .arg(report)
        .arg(target)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn signal(child: &Child, sig: i32) {
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// Waits at most `secs` for the child; `None` if it is still running
/// (it is then killed).
fn wait(child: &mut Child, secs: u64) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until the scan is busy hashing (its temporary report exists and
/// a moment has passed).
fn wait_busy(out: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::read_dir(out).unwrap().count() == 0 {
        assert!(Instant::now() < deadline, "the scan did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(700));
}

#[test]
fn a_file_truncated_while_read_is_listed_and_the_scan_goes_on() {
    let root = tempfile::tempdir().unwrap();
    let b = sha256_bundle(root.path());
    let ev = big_sparse(root.path());
    let out = root.path().join("out");
    fs::create_dir(&out).unwrap();
    let report = out.join("r.json");
    let mut child = start(&b, &report, &ev);
    wait_busy(&out);
    fs::File::options()
        .write(true)
        .open(ev.join("big.bin"))
        .unwrap()
        .set_len(1 << 20)
        .unwrap();
    let st = wait(&mut child, 120).expect("the scan ends");
    assert_eq!(st.code(), Some(0), "not killed by a signal: {st:?}");
    let r = read_report(&report);
    let kinds = problems(&r);
    assert!(
        kinds
            .iter()
            .any(|(k, p)| k == "changedDuringScan" && p == "/big.bin"),
        "{kinds:?}"
    );
    // The small file beside it was scanned (the big one counts when read
    // with read(), whose digests are of the bytes read; not when mapped).
    assert!(r["summary"]["filesScanned"].as_u64().unwrap() >= 1);
}

#[test]
fn sigterm_and_ctrl_c_stop_within_seconds_with_a_valid_report() {
    for (sig, code, name) in [
        (libc::SIGTERM, 143, "SIGTERM"),
        (libc::SIGINT, 130, "SIGINT"),
    ] {
        let root = tempfile::tempdir().unwrap();
        let b = sha256_bundle(root.path());
        let ev = big_sparse(root.path());
        let out = root.path().join("out");
        fs::create_dir(&out).unwrap();
        let report = out.join("r.json");
        let mut child = start(&b, &report, &ev);
        wait_busy(&out);
        let sent = Instant::now();
        signal(&child, sig);
        let st = wait(&mut child, 5).expect("stops within seconds");
        assert!(
            sent.elapsed() < Duration::from_secs(3),
            "{name}: {:?}",
            sent.elapsed()
        );
        assert_eq!(st.code(), Some(code), "{name}");
        let r = read_report(&report);
        assert_eq!(r["scan"]["complete"], false, "{name}");
        assert_eq!(r["scan"]["interrupted"], name);
        assert!(r["warnings"].to_string().contains("interrupted"), "{name}");
        assert!(
            problems(&r)
                .iter()
                .any(|(k, p)| k == "interrupted" && p == "/big.bin"),
            "{name}: {:?}",
            problems(&r)
        );
        assert_eq!(
            fs::read_dir(&out).unwrap().count(),
            1,
            "no temporary file left"
        );
    }
}

#[test]
fn a_second_signal_quits_at_once_and_removes_the_unfinished_report() {
    let root = tempfile::tempdir().unwrap();
    let fifo = root.path().join("bundle.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let out = root.path().join("out");
    fs::create_dir(&out).unwrap();
    // Stuck reading a bundle pipe nobody writes: only a hard stop ends it.
    let mut child = start(&fifo, &out.join("r.json"), &samples().join("evidence"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while fs::read_dir(&out).unwrap().count() == 0 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    signal(&child, libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, libc::SIGINT);
    let st = wait(&mut child, 5).expect("quits at once");
    assert_eq!(st.code(), Some(130));
    assert_eq!(
        fs::read_dir(&out).unwrap().count(),
        0,
        "temporary report removed"
    );
}

fn scan(args: &[&str]) -> (Run, Option<serde_json::Value>) {
    let run = breachscan(args);
    let report = (!run.stdout.is_empty()).then(|| parse_report(&run.stdout));
    (run, report)
}

#[test]
fn a_scan_that_checked_little_does_not_exit_like_a_clean_one() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let ev = r.join("ev");
    fs::create_dir(&ev).unwrap();
    fs::write(ev.join("clean.txt"), b"nothing here").unwrap();
    let s = |p: &Path| p.to_str().unwrap().to_string();
    let demo = s(&samples().join("bundles/demo.json"));
    let (ev_s, missing) = (s(&ev), s(&r.join("missing")));

    let (run, _) = scan(&["scan", "-q", "-b", &demo, &ev_s]);
    assert_eq!(run.code, 0, "clean and complete: {}", run.stderr);

    // Only expired IOCs, or only MISP attributes not for detection.
    let expired = r.join("expired.json");
    fs::write(
        &expired,
        r#"{"alertDefinitions":[{"id":"a","name":"n","severity":"High"}],
            "iocs":[{"id":"i","alertDefinitionId":"a","type":"FileName","value":"x.exe",
                     "expiresAt":"2001-01-01T00:00:00Z"}]}"#,
    )
    .unwrap();
    let (run, _) = scan(&["scan", "-q", "-b", &s(&expired), &ev_s]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("nothing to look for"), "{}", run.stderr);
    assert!(run.stderr.contains("1 expired"), "{}", run.stderr);
    let misp = r.join("misp.json");
    fs::write(
        &misp,
        r#"{"Event":{"info":"e","uuid":"u","threat_level_id":"1","Attribute":[
            {"type":"filename","value":"x.exe","to_ids":false,"uuid":"a1"}]}}"#,
    )
    .unwrap();
    let (run, _) = scan(&["scan", "-q", "-b", &s(&misp), &ev_s]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(run.stderr.contains("nothing to look for"), "{}", run.stderr);

    // One bundle file of two gives nothing: a warning, exit 3 when clean.
    let (run, rep) = scan(&["scan", "-q", "-b", &demo, "-b", &s(&misp), &ev_s]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        rep.unwrap()["warnings"][0]["code"],
        "bundleWithoutActiveIoc"
    );

    // A target that does not exist next to one that does.
    let (run, rep) = scan(&["scan", "-q", "-b", &demo, &ev_s, &missing]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(rep.unwrap()["warnings"][0]["code"], "targetNotOpened");

    // A truncated E01 that opens but yields no file.
    let e01 = gunzip(&samples().join("images/disk.E01.gz"));
    let cut = r.join("cut.E01");
    fs::write(&cut, &e01[..60_000]).unwrap();
    let (run, rep) = scan(&["scan", "-q", "-b", &demo, &s(&cut)]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(rep.unwrap()["warnings"][0]["code"], "targetEmpty");

    // An empty folder: nothing was there to check.
    let empty = r.join("empty");
    fs::create_dir(&empty).unwrap();
    let (run, _) = scan(&["scan", "-q", "-b", &demo, &s(&empty)]);
    assert_eq!(run.code, 3, "{}", run.stderr);

    // The same folder twice, or a folder inside another: refused.
    let (run, _) = scan(&["scan", "-q", "-b", &demo, &ev_s, &format!("{ev_s}/")]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("are the same target"), "{}", run.stderr);
    let (run, _) = scan(&["scan", "-q", "-b", &demo, &s(r), &ev_s]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("lies inside the target directory"),
        "{}",
        run.stderr
    );

    // Evidence wins over warnings: exit 1.
    let (run, _) = scan(&[
        "scan",
        "-q",
        "-b",
        &demo,
        &s(&samples().join("evidence")),
        &missing,
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
}
