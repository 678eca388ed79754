//! Output never lands on input: `-o` naming a target, a file of a target's
//! image set, a path inside a target directory, a bundle, a symbolic link,
//! a FIFO or a device is refused before anything is written, and the input
//! is left byte for byte as it was; stdout redirected onto an input is
//! refused too. A scan that stops leaves no temporary file behind, and one
//! killed outright leaves only a recognisable, empty one.

mod support;

use std::fs;
use std::path::Path;

use support::*;

fn bundle(dir: &Path) -> std::path::PathBuf {
    let b = dir.join("bundle.json");
    fs::write(
        &b,
        r#"{"alertDefinitions":[{"id":"a","name":"n","severity":"High"}],
            "iocs":[{"id":"i","alertDefinitionId":"a","type":"FileName","value":"hello.txt"}]}"#,
    )
    .unwrap();
    b
}

/// A snapshot of every file under `dir`: path, bytes, type.
fn snapshot(dir: &Path) -> Vec<(String, Vec<u8>, String)> {
    let mut v: Vec<_> = walk(dir)
        .into_iter()
        .map(|p| {
            let m = fs::symlink_metadata(&p).unwrap();
            let bytes = if m.is_file() {
                fs::read(&p).unwrap()
            } else {
                Vec::new()
            };
            (
                p.display().to_string(),
                bytes,
                format!("{:?}", m.file_type()),
            )
        })
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

fn refused(args: &[&str], why: &str) {
    let run = breachscan(args);
    assert_eq!(run.code, 2, "{args:?}: {}", run.stderr);
    assert!(run.stderr.contains(why), "{args:?}: {}", run.stderr);
}

#[test]
fn output_naming_an_input_or_a_special_file_is_refused_and_nothing_changes() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let b = bundle(r);
    let ev = r.join("evidence");
    fs::create_dir(&ev).unwrap();
    fs::write(ev.join("hello.txt"), b"hi").unwrap();
    fs::write(
        r.join("disk.raw"),
        gunzip(&samples().join("images/disk.raw.gz")),
    )
    .unwrap();
    let case = r.join("case");
    fs::create_dir(&case).unwrap();
    for i in 1..=5 {
        let name = format!("disk.E0{i}");
        fs::write(
            case.join(&name),
            gunzip(&samples().join("images/seg").join(format!("{name}.gz"))),
        )
        .unwrap();
    }
    let fifo = r.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    std::os::unix::fs::symlink(r.join("nowhere.json"), r.join("link.json")).unwrap();
    // A character device like /dev/null, where we may make one (root).
    let dev = r.join("null");
    let c = std::ffi::CString::new(dev.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path; fails harmlessly without root.
    let have_dev =
        unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) } == 0;
    let before = snapshot(r);

    let s = |p: &Path| p.to_str().unwrap().to_string();
    let (b, ev_s, raw) = (s(&b), s(&ev), s(&r.join("disk.raw")));
    let e01 = s(&case.join("disk.E01"));
    refused(
        &["scan", "-q", "-b", &b, "-o", &raw, &raw],
        "the file of the target",
    );
    refused(&["scan", "-q", "-b", &b, "-o", &b, &ev_s], "the input file");
    refused(
        &["scan", "-q", "-b", &b, "-o", &s(&ev.join("r.json")), &ev_s],
        "inside the target directory",
    );
    refused(
        &[
            "scan",
            "-q",
            "-b",
            &b,
            "-o",
            &s(&case.join("disk.E03")),
            &e01,
        ],
        "a file of the target",
    );
    refused(
        &[
            "scan",
            "-q",
            "-b",
            &b,
            "-o",
            &s(&case.join("disk.E06")),
            &e01,
        ],
        "would become part of the image set",
    );
    refused(&["scan", "-q", "-b", &b, "-o", &s(&fifo), &ev_s], "FIFO");
    refused(
        &[
            "scan",
            "-q",
            "-b",
            &b,
            "-o",
            &s(&r.join("link.json")),
            &ev_s,
        ],
        "symbolic link",
    );
    refused(&["scan", "-q", "-b", &b, "-o", &s(r), &ev_s], "a directory");
    if have_dev {
        refused(&["scan", "-q", "-b", &b, "-o", &s(&dev), &ev_s], "device");
    }
    refused(
        &["bundle", "convert", "--to", "native", "-o", &b, &b],
        "the input file",
    );
    assert_eq!(snapshot(r), before, "nothing under the case folder changed");

    // Stdout appended onto the image: refused before a byte is written.
    let out = fs::OpenOptions::new()
        .append(true)
        .open(r.join("disk.raw"))
        .unwrap();
    let run = std::process::Command::new(env!("CARGO_BIN_EXE_breachscan"))
        .args(["scan", "-q", "-b", &b, &raw])
        .stdout(out)
        .output()
        .unwrap();
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("stdout is redirected to the input"));
    assert_eq!(snapshot(r), before);

    // `-o -` is stdout.
    let run = breachscan(&["scan", "-q", "-b", &b, "-o", "-", &ev_s]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = parse_report(&run.stdout);
    assert_eq!(report["summary"]["evidence"], 1);
}

#[test]
fn a_killed_scan_leaves_only_a_recognisable_empty_partial_file() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let out = r.join("out");
    fs::create_dir(&out).unwrap();
    // The bundle is a FIFO nobody writes: the scan waits in the bundle
    // load, after creating its temporary report file.
    let fifo = r.join("bundle.fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_breachscan"))
        .args(["scan", "-q", "-b", fifo.to_str().unwrap(), "-o"])
        .arg(out.join("report.json"))
        .arg(env!("CARGO_MANIFEST_DIR"))
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while fs::read_dir(&out).unwrap().count() == 0 {
        assert!(std::time::Instant::now() < deadline, "no temporary file");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let left: Vec<_> = fs::read_dir(&out).unwrap().map(|e| e.unwrap()).collect();
    assert_eq!(left.len(), 1);
    let name = left[0].file_name().into_string().unwrap();
    assert!(
        name.starts_with(".breachscan-report-") && name.ends_with(".partial"),
        "{name}"
    );
    assert_eq!(left[0].metadata().unwrap().len(), 0);
}

#[test]
fn a_failed_scan_leaves_no_temporary_file() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    let bad = r.join("bad.json");
    fs::write(&bad, "{not json").unwrap();
    let out = r.join("out");
    fs::create_dir(&out).unwrap();
    let run = breachscan(&[
        "scan",
        "-q",
        "-b",
        bad.to_str().unwrap(),
        "-o",
        out.join("report.json").to_str().unwrap(),
        samples().join("evidence").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid bundle"), "{}", run.stderr);
    assert_eq!(fs::read_dir(&out).unwrap().count(), 0);
}
