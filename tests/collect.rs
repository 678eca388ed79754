//! The response action `--collect DIR`: every evidence file copied out of
//! host folders and disk images (streams and event logs too), each copy
//! read back and checked against the report, a manifest, and a hashdeep
//! list that `hashdeep -a -k` audits independently.

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::breachscan;

/// `cd DIR/files && hashdeep -r -l -a -k ../hashdeep.txt .`: `Some(passed)`,
/// or `None` when hashdeep is not installed (required in CI).
fn hashdeep_audit(dir: &Path) -> Option<bool> {
    let run = std::process::Command::new("hashdeep")
        .args(["-r", "-l", "-a", "-k", "../hashdeep.txt", "."])
        .current_dir(dir.join("files"))
        .output();
    match run {
        Ok(out) => Some(out.status.success()),
        Err(_) => {
            assert!(
                std::env::var_os("BREACHSCAN_REQUIRE_HASHDEEP").is_none(),
                "hashdeep is required (apt-get install hashdeep)"
            );
            None
        }
    }
}

/// Every evidence item with a file names a copy whose bytes hash to the
/// file's SHA-256 in the report; returns the copies.
fn check_links(report: &Value, dir: &Path) -> Vec<String> {
    let mut copies = Vec::new();
    for a in report["alerts"].as_array().unwrap() {
        for e in a["evidence"].as_array().unwrap() {
            let Some(file) = e["file"].as_object() else {
                continue;
            };
            let copy = e["collected"]
                .as_str()
                .unwrap_or_else(|| panic!("no copy: {e}"));
            let bytes = fs::read(dir.join(copy)).unwrap();
            assert_eq!(
                Some(support::sha256_hex(&bytes).as_str()),
                file["sha256"].as_str(),
                "{copy}"
            );
            copies.push(copy.to_string());
        }
    }
    copies.sort();
    copies.dedup();
    copies
}

#[test]
fn evidence_files_of_a_folder_are_copied_with_proof() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = tmp.path().join("ev");
    fs::create_dir_all(ev.join("Users/bob")).unwrap();
    fs::write(ev.join("Users/bob/tool.exe"), b"MZ tool".repeat(50_000)).unwrap();
    fs::write(ev.join("Users/bob/notes.txt"), "benign").unwrap();
    // A name that is not UTF-8 and one with a percent sign.
    use std::os::unix::ffi::OsStrExt;
    let odd = std::ffi::OsStr::from_bytes(b"caf\xE9 100%.exe");
    fs::write(ev.join("Users").join(odd), "odd").unwrap();
    let dir = tmp.path().join("collected");
    let out = tmp.path().join("r.json");
    let run = breachscan(&[
        "scan",
        "-q",
        "--ioc",
        "filename/endwith:.exe",
        "--case",
        "C-9",
        "--collect",
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        ev.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = support::read_report(&out);
    let copies = check_links(&r, &dir);
    assert_eq!(
        copies,
        [
            "files/01-ev/Users/bob/tool.exe",
            "files/01-ev/Users/caf%E9 100%25.exe"
        ]
    );
    let c = &r["scan"]["collection"];
    assert_eq!(
        (c["files"].as_u64(), c["failed"].as_u64()),
        (Some(2), Some(0))
    );
    assert_eq!(Path::new(c["directory"].as_str().unwrap()), dir);
    let manifest: Value =
        serde_json::from_slice(&fs::read(dir.join("manifest.json")).unwrap()).unwrap();
    assert_eq!(manifest["case"]["id"], "C-9");
    let files = manifest["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| f["verified"] == true && f["original"]["sha256"] == f["copyDigests"]["sha256"]));
    if let Some(passed) = hashdeep_audit(&dir) {
        assert!(passed, "hashdeep audit of a faithful copy");
        // A copy changed afterwards fails the audit.
        fs::write(dir.join("files/01-ev/Users/bob/tool.exe"), "tampered").unwrap();
        assert_eq!(hashdeep_audit(&dir), Some(false));
    }
    // The folder now holds files: collecting into it again is refused, as
    // is a folder inside the target.
    for d in [dir.clone(), ev.join("out")] {
        let run = breachscan(&[
            "scan",
            "-q",
            "--ioc",
            "filename:tool.exe",
            "--collect",
            d.to_str().unwrap(),
            ev.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 2, "{}", run.stderr);
        assert!(run.stderr.contains("--collect"), "{}", run.stderr);
    }
    assert!(
        !ev.join("out").exists(),
        "nothing written inside the target"
    );
}

#[test]
fn files_streams_and_logs_inside_an_image_are_copied() {
    let tmp = tempfile::tempdir().unwrap();
    let image = tmp.path().join("disk.E01");
    fs::write(
        &image,
        support::gunzip(&support::samples().join("images/disk.E01.gz")),
    )
    .unwrap();
    let dir = tmp.path().join("collected");
    let out = tmp.path().join("r.json");
    // tool.exe by digest, eicar.com's Zone.Identifier stream by digest, and
    // the records of the two Sysmon logs (NTFS and ext4) naming svchost.exe.
    let run = breachscan(&[
        "scan",
        "-q",
        "--ioc",
        "sha256:bfb931f8d7057c4796091c4cbd738fe619104b54e8690ec249be42d2b94c1950",
        "--ioc",
        "sha256:eacd09517ce90d34ba562171d15ac40d302f0e691b439f91be1b6406e25f5913",
        "--ioc",
        "filename:svchost.exe",
        "--collect",
        dir.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        image.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = support::read_report(&out);
    let copies = check_links(&r, &dir);
    for want in [
        "files/01-disk.E01/p1@1048576/Users/alice/AppData/Local/Temp/tool.exe",
        "files/01-disk.E01/p1@1048576/Users/alice/eicar.com%3AZone.Identifier",
        "files/01-disk.E01/p1@1048576/Windows/System32/winevt/Logs/Microsoft-Windows-Sysmon%254Operational.evtx",
        "files/01-disk.E01/p2@38797312/home/bob/auth.evtx",
    ] {
        assert!(copies.iter().any(|c| c == want), "{want} not in {copies:?}");
    }
    assert_eq!(r["scan"]["collection"]["failed"], 0);
    if let Some(passed) = hashdeep_audit(&dir) {
        assert!(passed);
    }
}

#[test]
fn the_copies_can_be_one_zip_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let ev = tmp.path().join("ev");
    fs::create_dir_all(ev.join("a")).unwrap();
    let tool = b"MZ zipped".repeat(30_000);
    fs::write(ev.join("a/tool.exe"), &tool).unwrap();
    fs::write(ev.join("a/other.exe"), "second").unwrap();
    let dir = tmp.path().join("collected");
    let out = tmp.path().join("r.json");
    let run = breachscan(&[
        "scan",
        "-q",
        "--ioc",
        "filename/endwith:.exe",
        "--collect",
        dir.to_str().unwrap(),
        "--collect-format",
        "zip",
        "-o",
        out.to_str().unwrap(),
        ev.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = support::read_report(&out);
    let c = &r["scan"]["collection"];
    assert_eq!(
        (
            c["archive"].as_str(),
            c["files"].as_u64(),
            c["failed"].as_u64()
        ),
        (Some("evidence.zip"), Some(2), Some(0))
    );
    assert!(
        !dir.join("files").exists(),
        "no loose copies beside the archive"
    );
    let mut zip = zip::ZipArchive::new(fs::File::open(dir.join("evidence.zip")).unwrap()).unwrap();
    for e in r["alerts"][0]["evidence"].as_array().unwrap() {
        let name = e["collected"].as_str().unwrap();
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut zip.by_name(name).unwrap(), &mut bytes).unwrap();
        assert_eq!(
            Some(support::sha256_hex(&bytes).as_str()),
            e["file"]["sha256"].as_str()
        );
    }
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(
        &mut zip.by_name("files/01-ev/a/tool.exe").unwrap(),
        &mut bytes,
    )
    .unwrap();
    assert_eq!(bytes, tool);
    assert!(dir.join("manifest.json").exists() && dir.join("hashdeep.txt").exists());
}
