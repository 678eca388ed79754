//! Image sets whose other files are traps: an E01 segment, a split-raw
//! part or a VMDK extent that is a FIFO (opening it would block forever),
//! or a link leaving the image's directory (to `/dev/zero`, or to a file
//! the user never named). As targets and found inside a directory, the
//! scan must end quickly, name the member and open nothing it should not.

mod support;

use std::fs;
use std::path::Path;

use support::*;

const MEM_MIB: u64 = 2048;
const SECS: u64 = 60;

fn mkfifo(p: &Path) {
    let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

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

/// Scans `target` under the limits; returns the run and the report.
fn scan(dir: &Path, target: &Path) -> (Run, serde_json::Value) {
    let report = dir.join("report.json");
    let b = bundle(dir);
    let l = breachscan_limited(
        &[
            "scan",
            "-q",
            "-b",
            b.to_str().unwrap(),
            "-o",
            report.to_str().unwrap(),
            target.to_str().unwrap(),
        ],
        MEM_MIB,
        SECS,
    );
    assert!(
        !l.timed_out && l.signal.is_none(),
        "{}: killed (timeout {}, signal {:?}): {}",
        target.display(),
        l.timed_out,
        l.signal,
        l.run.stderr
    );
    (l.run, read_report(&report))
}

fn errors_text(report: &serde_json::Value) -> String {
    report["errors"].to_string()
}

fn e01_set(dir: &Path) {
    for i in 1..=5 {
        let name = format!("disk.E0{i}");
        fs::write(
            dir.join(&name),
            gunzip(&samples().join("images/seg").join(format!("{name}.gz"))),
        )
        .unwrap();
    }
}

#[test]
fn a_fifo_segment_is_named_not_opened() {
    let root = tempfile::tempdir().unwrap();
    let case = root.path().join("case");
    fs::create_dir(&case).unwrap();
    e01_set(&case);
    // The intact set scans: the sample holds hello.txt.
    let (run, report) = scan(root.path(), &case.join("disk.E01"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(report["summary"]["evidence"].as_u64().unwrap() >= 1);

    fs::remove_file(case.join("disk.E03")).unwrap();
    mkfifo(&case.join("disk.E03"));
    let (run, report) = scan(root.path(), &case.join("disk.E01"));
    assert_eq!(run.code, 2, "no target readable: {}", run.stderr);
    assert!(
        errors_text(&report).contains("disk.E03 is not a regular file"),
        "{}",
        errors_text(&report)
    );
    // Found inside a folder: the set is listed, the rest of the folder scanned.
    fs::write(case.join("notes.txt"), b"hello").unwrap();
    let (run, report) = scan(root.path(), &case);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        errors_text(&report).contains("disk.E03 is not a regular file"),
        "{}",
        errors_text(&report)
    );
    assert!(report["summary"]["filesScanned"].as_u64().unwrap() >= 5);
}

#[test]
fn a_split_part_that_is_a_fifo_or_leaves_the_folder_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let case = root.path().join("case");
    fs::create_dir(&case).unwrap();
    let disk = gunzip(&samples().join("images/disk.raw.gz"));
    let half = disk.len() / 2;
    fs::write(case.join("d.001"), &disk[..half]).unwrap();
    mkfifo(&case.join("d.002"));
    let (run, report) = scan(root.path(), &case.join("d.001"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(errors_text(&report).contains("d.002 is not a regular file"));

    fs::remove_file(case.join("d.002")).unwrap();
    fs::write(root.path().join("elsewhere"), &disk[half..]).unwrap();
    std::os::unix::fs::symlink(root.path().join("elsewhere"), case.join("d.002")).unwrap();
    let (run, report) = scan(root.path(), &case.join("d.001"));
    assert_eq!(run.code, 2, "{}", run.stderr);
    assert!(
        errors_text(&report).contains("outside the image's directory"),
        "{}",
        errors_text(&report)
    );
}

#[test]
fn a_vmdk_extent_linking_out_of_its_folder_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let case = root.path().join("case");
    fs::create_dir(&case).unwrap();
    let desc = gunzip(&samples().join("images/disk-split.vmdk.gz"));
    fs::write(case.join("disk-split.vmdk"), &desc).unwrap();
    let extent = case.join("disk-split-s001.vmdk");
    fs::write(
        &extent,
        gunzip(&samples().join("images/disk-split-s001.vmdk.gz")),
    )
    .unwrap();
    let (run, _) = scan(root.path(), &case.join("disk-split.vmdk"));
    assert_eq!(run.code, 1, "the intact set scans: {}", run.stderr);

    for (link, why) in [
        ("/dev/zero", "outside the image's directory"),
        ("/etc/passwd", "outside the image's directory"),
    ] {
        fs::remove_file(&extent).unwrap();
        std::os::unix::fs::symlink(link, &extent).unwrap();
        let (run, report) = scan(root.path(), &case.join("disk-split.vmdk"));
        assert_eq!(run.code, 2, "{link}: {}", run.stderr);
        assert!(
            errors_text(&report).contains(why),
            "{link}: {}",
            errors_text(&report)
        );
    }
    fs::remove_file(&extent).unwrap();
    mkfifo(&extent);
    let (_, report) = scan(root.path(), &case.join("disk-split.vmdk"));
    assert!(errors_text(&report).contains("not a regular file"));
}
