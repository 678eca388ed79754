//! The walking skeleton's definition of done, run through the real binary:
//! a directory with nested folders, a FIFO, a socket, a broken and a working
//! symlink, a non-UTF-8 name and a few thousand files yields exactly the
//! planted IOCs, grouped by alert definition, lists every problem entry and
//! exits 1.

mod support;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use serde_json::{Value, json};
use support::*;

const FILLER_FILES: usize = 3000;

struct Tree {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    bundle: std::path::PathBuf,
    expected: Vec<(String, String)>,
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

/// Builds the evidence tree and a bundle whose IOCs hit known files.
fn build_tree() -> Tree {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("evidence");
    for i in 0..FILLER_FILES {
        let rel = format!("filler/d{}/e{}/f{}/file{i}.dat", i % 7, i % 11, i % 3);
        write(&root, &rel, format!("benign filler {i}\n").as_bytes());
    }
    let sha256_body = b"planted sha256 payload\n".as_slice();
    let md5_body = b"planted md5 payload\n".as_slice();
    let sha1_body = b"planted sha1 payload\n".as_slice();
    let weird_body = b"payload behind a name that is not utf-8\n".as_slice();
    write(&root, "a/b/c/d/deep/payload.bin", sha256_body);
    write(&root, "Windows/Temp/dropper.tmp", md5_body);
    write(&root, "Users/eve/AppData/run.ps1", sha1_body);
    write(
        &root,
        "Users/eve/Desktop/MIMIKATZ.EXE",
        b"name match only\n",
    );
    write(&root, "ProgramData/evil/stage2.dll", b"path match only\n");
    write(&root, "Users/eve/Downloads/cv.docx.exe", b"regex match\n");
    write(&root, "disabled/turned-off.txt", b"disabled ioc\n");
    write(&root, "expired/old.txt", b"expired ioc\n");
    write(&root, "big/huge.iso", &vec![7u8; 3 << 20]);
    // Copies of the planted payload elsewhere are evidence too.
    write(&root, "filler/d1/copy-of-payload", sha256_body);

    let weird = root.join("names");
    fs::create_dir_all(&weird).unwrap();
    let weird_name = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.bin");
    fs::write(weird.join(weird_name), weird_body).unwrap();

    // Entries that must never be opened, and links that are not followed.
    let special = root.join("special");
    fs::create_dir_all(&special).unwrap();
    let fifo = std::ffi::CString::new(special.join("pipe").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let _sock = std::os::unix::net::UnixListener::bind(special.join("sock")).unwrap();
    std::os::unix::fs::symlink("/nonexistent/target", special.join("broken-link")).unwrap();
    std::os::unix::fs::symlink("../a/b/c/d/deep/payload.bin", special.join("good-link")).unwrap();

    let bundle = dir.path().join("bundle.json");
    let ad = |id: &str, sev: &str| {
        json!({"id": id, "name": format!("Alert {id}"), "severity": sev,
               "category": "Malware", "description": "d", "recommendedAction": "r",
               "mitreTechniques": ["T1000"]})
    };
    let ioc = |id: &str, ad: &str, t: &str, v: &str, f: &str| json!({"id": id, "alertDefinitionId": ad, "type": t, "value": v, "detectionFunction": f});
    let mut disabled = ioc(
        "ioc-disabled",
        "ad-low",
        "FileName",
        "turned-off.txt",
        "Equals",
    );
    disabled["enabled"] = json!(false);
    let mut expired = ioc("ioc-expired", "ad-low", "FileName", "old.txt", "Equals");
    expired["expiresAt"] = json!("2001-01-01T00:00:00Z");
    let b = json!({
        "alertDefinitions": [ad("ad-high", "High"), ad("ad-med", "medium"), ad("ad-low", "LOW"), ad("ad-none", "Informational")],
        "iocs": [
            ioc("ioc-sha256", "ad-high", "Sha256", &sha256_hex(sha256_body).to_uppercase(), "Equals"),
            ioc("ioc-md5", "ad-med", "Md5", &md5_hex(md5_body), "Equals"),
            ioc("ioc-sha1", "ad-med", "SHA1", &sha1_hex(sha1_body), "Equals"),
            ioc("ioc-weird", "ad-high", "Sha256", &sha256_hex(weird_body), "Equals"),
            ioc("ioc-name", "ad-high", "FileName", "mimikatz.exe", "Equals"),
            ioc("ioc-path", "ad-low", "FilePath", r"C:\ProgramData\Evil\", "StartsWith"),
            ioc("ioc-regex", "ad-low", "FilePath", r"\\Downloads\\[^\\]+\.docx?\.exe$", "Regex"),
            ioc("ioc-contains", "ad-low", "FileName", "ge2.d", "Contains"),
            ioc("ioc-nomatch", "ad-none", "Sha256", &"ab".repeat(32), "Equals"),
            ioc("ioc-ip", "ad-none", "IpAddress", "10.0.0.0/8", "Equals"),
            disabled,
            expired,
        ]
    });
    fs::write(&bundle, serde_json::to_vec_pretty(&b).unwrap()).unwrap();

    let mut expected: Vec<(String, String)> = [
        ("ioc-sha256", "/a/b/c/d/deep/payload.bin"),
        ("ioc-sha256", "/filler/d1/copy-of-payload"),
        ("ioc-md5", "/Windows/Temp/dropper.tmp"),
        ("ioc-sha1", "/Users/eve/AppData/run.ps1"),
        ("ioc-weird", "/names/caf\\xE9-\\xFF.bin"),
        ("ioc-name", "/Users/eve/Desktop/MIMIKATZ.EXE"),
        ("ioc-path", "/ProgramData/evil/stage2.dll"),
        ("ioc-contains", "/ProgramData/evil/stage2.dll"),
        ("ioc-regex", "/Users/eve/Downloads/cv.docx.exe"),
    ]
    .iter()
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .collect();
    expected.sort();
    Tree {
        root,
        bundle,
        expected,
        _dir: dir,
    }
}

fn scan(tree: &Tree, extra: &[&str]) -> (Run, Value) {
    let out = tree.root.parent().unwrap().join("report.json");
    let mut args = vec![
        "scan",
        "--bundle",
        tree.bundle.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    args.push(tree.root.to_str().unwrap());
    let run = breachscan(&args);
    let report = read_report(&out);
    (run, report)
}

#[test]
fn finds_exactly_the_planted_iocs_and_lists_problem_entries() {
    let tree = build_tree();
    let (run, report) = scan(&tree, &["--max-file-size", "1M"]);
    assert_eq!(run.code, 1, "stderr: {}", run.stderr);
    assert_eq!(hits(&report), tree.expected);

    let mut want_problems = [
        ("brokenSymlink", "/special/broken-link"),
        ("fifo", "/special/pipe"),
        ("sizeLimit", "/big/huge.iso"),
        ("socket", "/special/sock"),
        ("symlinkNotFollowed", "/special/good-link"),
    ];
    want_problems.sort();
    let want_problems: Vec<(String, String)> = want_problems
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(problems(&report), want_problems);
    // A broken link is an error (incomplete scan); the rest are skipped by design.
    assert_eq!(report["summary"]["errors"], 1);
    assert_eq!(report["summary"]["skipped"], 4);
    assert_eq!(report["scan"]["complete"], false);

    // Every regular file was examined except the one over the size limit.
    let regular = FILLER_FILES + 11;
    assert_eq!(report["sources"][0]["filesScanned"], regular - 1);
    assert_eq!(report["sources"][0]["kind"], "directory");
    assert_eq!(report["summary"]["evidence"], tree.expected.len());
    assert!(
        run.stderr.contains("not scanned: 5 entries"),
        "{}",
        run.stderr
    );
}

#[test]
fn evidence_is_grouped_by_alert_definition_with_full_facts() {
    let tree = build_tree();
    let (_, report) = scan(&tree, &[]);
    let alerts = report["alerts"].as_array().unwrap();
    let names: Vec<&str> = alerts
        .iter()
        .map(|a| a["alertDefinition"]["id"].as_str().unwrap())
        .collect();
    // Most severe first; the alert with no evidence is absent.
    assert_eq!(names, ["ad-high", "ad-med", "ad-low"]);
    assert_eq!(report["summary"]["bySeverity"]["High"], 1);
    assert_eq!(report["summary"]["bySeverity"]["Informational"], 0);
    let high = &alerts[0];
    assert_eq!(high["alertDefinition"]["severity"], "High");
    assert_eq!(high["alertDefinition"]["mitreTechniques"][0], "T1000");
    assert_eq!(high["evidenceCount"], 4);

    // Hash evidence carries all three digests although the bundle needed
    // only SHA-256 for it.
    let body = b"planted sha256 payload\n";
    let ev = high["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["location"]["path"] == "/a/b/c/d/deep/payload.bin")
        .unwrap();
    assert_eq!(ev["kind"], "file");
    assert_eq!(ev["field"], "sha256");
    assert_eq!(ev["matchedValue"], sha256_hex(body));
    assert_eq!(ev["file"]["md5"], md5_hex(body));
    assert_eq!(ev["file"]["sha1"], sha1_hex(body));
    assert_eq!(ev["file"]["size"], body.len());
    assert!(ev["file"]["modified"].as_str().unwrap().ends_with('Z'));
    assert_eq!(ev["file"]["deleted"], false);
    assert!(
        ev["location"]["display"]
            .as_str()
            .unwrap()
            .ends_with(" › /a/b/c/d/deep/payload.bin")
    );

    // The non-UTF-8 name is escaped for display and kept exactly in hex.
    let weird = high["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ioc"]["id"] == "ioc-weird")
        .unwrap();
    assert_eq!(
        weird["location"]["pathHex"],
        hex::encode(b"/names/caf\xe9-\xff.bin")
    );
    let host = weird["location"]["hostPath"].as_str().unwrap();
    assert!(host.ends_with("/names/caf\\xE9-\\xFF.bin"), "{host}");
}

#[test]
fn same_inputs_give_the_same_report_apart_from_times() {
    let tree = build_tree();
    let strip = |mut r: Value| {
        r["scan"]["startedAt"] = Value::Null;
        r["scan"]["finishedAt"] = Value::Null;
        r["scan"]["asOf"] = Value::Null;
        // Durations in seconds: time fields too, but they must be there.
        for k in ["bundleLoad", "matcherBuild", "scan"] {
            assert!(r["scan"]["timings"][k].as_f64().unwrap() >= 0.0);
        }
        r["scan"]["timings"] = Value::Null;
        serde_json::to_string(&r).unwrap()
    };
    let (_, a) = scan(&tree, &["--as-of", "2026-01-01T00:00:00Z"]);
    let (_, b) = scan(&tree, &["--as-of", "2026-01-01T00:00:00Z", "-j", "1"]);
    let mut b = b;
    // The argument lists differ by the -j flag only.
    b["scan"]["arguments"] = a["scan"]["arguments"].clone();
    assert_eq!(strip(a), strip(b));
}

#[test]
fn following_symlinks_scans_their_targets() {
    let tree = build_tree();
    let (run, report) = scan(&tree, &["--follow-symlinks"]);
    assert_eq!(run.code, 1);
    let h = hits(&report);
    assert!(h.contains(&("ioc-sha256".into(), "/special/good-link".into())));
    assert!(problems(&report).contains(&("brokenSymlink".into(), "/special/broken-link".into())));
}

#[test]
fn large_files_hash_the_same_mapped_or_read() {
    // Over the mmap threshold, so both the mapped path (with its two-core
    // digest split) and the read path run.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ev");
    let data: Vec<u8> = (0..(20u32 << 20)).map(|i| (i ^ (i >> 9)) as u8).collect();
    write(&root, "images/big.bin", &data);
    let bundle = dir.path().join("b.json");
    let b = json!({
        "alertDefinitions": [{"id": 1, "name": "big", "severity": "Low"}],
        "iocs": [{"id": "md5", "alertDefinitionId": 1, "type": "Md5", "value": md5_hex(&data)}]
    });
    fs::write(&bundle, b.to_string()).unwrap();
    for extra in [&[][..], &["--no-mmap"][..]] {
        let out = dir.path().join("r.json");
        let mut args = vec![
            "scan",
            "-b",
            bundle.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(root.to_str().unwrap());
        let run = breachscan(&args);
        assert_eq!(run.code, 1, "{extra:?}: {}", run.stderr);
        let r = read_report(&out);
        let ev = &r["alerts"][0]["evidence"][0];
        assert_eq!(ev["file"]["sha256"], sha256_hex(&data), "{extra:?}");
        assert_eq!(ev["file"]["sha1"], sha1_hex(&data), "{extra:?}");
        assert_eq!(r["sources"][0]["bytesHashed"], data.len(), "{extra:?}");
    }
}
