//! Prefetch files: real ones from every format (XP to Windows 10's
//! compressed `MAM`) read as a peer reads them, their programs matched as
//! `executed` evidence, and damaged ones never crashing the scan.

mod support;

use std::fs;
use std::path::Path;

use breachscan::artifact::prefetch;
use serde_json::{Value, json};
use support::{problems, scan_to};

/// (sample, executable, header size, runs, last run, files loaded): what
/// the peer's own tests assert (samples/prefetch/README.md).
const PEER: &[(&str, &str, u32, u32, &str, usize)] = &[
    (
        "XPPro-CALC.EXE-02CD573A.pf",
        "CALC.EXE",
        11332,
        3,
        "2016-01-13T22:05:51.28125Z",
        30,
    ),
    (
        "Win2k3-CMD.EXE-087B4001.pf",
        "CMD.EXE",
        6002,
        3,
        "2016-01-15T23:01:40.875Z",
        16,
    ),
    (
        "Vista-EXPLORER.EXE-7A3328DA.pf",
        "EXPLORER.EXE",
        38470,
        1,
        "2016-01-16T20:02:00.8326765Z",
        66,
    ),
    (
        "Win7-CALC.EXE-77FDF17F.pf",
        "CALC.EXE",
        23538,
        2,
        "2016-01-16T20:27:01.19675Z",
        37,
    ),
    (
        "Win7-DCODEDCODEDCODEDCODEDCODEDCOD-9054DA3F.pf",
        "DCODEDCODEDCODEDCODEDCODEDCOD",
        29746,
        5,
        "2016-01-22T16:23:16.341625Z",
        50,
    ),
    (
        "Win2012-REGEDIT.EXE-90FEEA06.pf",
        "REGEDIT.EXE",
        22982,
        1,
        "2016-01-16T21:36:18.718698Z",
        42,
    ),
    (
        "Win2012R2-NOTEPAD.EXE-D8414F97.pf",
        "NOTEPAD.EXE",
        15320,
        2,
        "2016-01-16T21:40:31.2944718Z",
        26,
    ),
    (
        "Win8x-CALC.EXE-77FDF17F.pf",
        "CALC.EXE",
        22048,
        2,
        "2016-01-16T21:10:26.0583417Z",
        37,
    ),
    (
        "Win8x-_CMD.EXE-4A81B364.pf",
        "CMD.EXE",
        8590,
        2,
        "2016-01-16T21:25:41.5341178Z",
        12,
    ),
    (
        "Win10-CHROME.EXE-B3BA7868.pf",
        "CHROME.EXE",
        116042,
        20,
        "2016-01-13T18:06:55.3344577Z",
        282,
    ),
    (
        "Win10-DCODEDCODEDCODEDCODEDCODEDCOD-E65B9FE8.pf",
        "DCODEDCODEDCODEDCODEDCODEDCOD",
        33606,
        2,
        "2016-01-13T22:47:25.7480759Z",
        57,
    ),
    (
        "Win10-DEVENV.EXE-854D7862.pf",
        "DEVENV.EXE",
        380690,
        54,
        "2016-01-13T16:50:34.6578416Z",
        403,
    ),
];

fn sample(name: &str) -> Vec<u8> {
    support::gunzip(&support::samples().join(format!("prefetch/{name}.gz")))
}

#[test]
fn real_prefetch_files_read_as_a_peer_reads_them() {
    for &(file, exe, size, runs, last, files) in PEER {
        let (pf, damage) = prefetch::parse(&sample(file)).unwrap();
        assert_eq!(damage, None, "{file}");
        assert_eq!(pf.executable, exe, "{file}");
        assert_eq!(pf.size, size, "{file}");
        assert_eq!(pf.run_count, runs, "{file}");
        assert_eq!(pf.last_runs[0].to_string(), last, "{file}");
        assert_eq!(pf.files.len(), files, "{file}");
    }
    // Windows 10 keeps eight run times; the decompressed data is the size
    // its header states; a file name the peer checks.
    let (pf, _) = prefetch::parse(&sample("Win10-CHROME.EXE-B3BA7868.pf")).unwrap();
    assert_eq!(pf.last_runs.len(), 8);
    assert_eq!(
        pf.files[3],
        r"\VOLUME{01d1217a9c4c6779-8c9f49ec}\WINDOWS\SYSTEM32\KERNEL32.DLL"
    );
    assert!(!prefetch::is_prefetch(&sample("Bad-notAPrefetch.pf")));
}

fn drive(dir: &Path) -> std::path::PathBuf {
    let pf = dir.join("drive/Windows/Prefetch");
    fs::create_dir_all(&pf).unwrap();
    for &(file, ..) in PEER {
        fs::write(pf.join(file), sample(file)).unwrap();
    }
    dir.join("drive")
}

fn bundle(dir: &Path, iocs: Value) -> std::path::PathBuf {
    let b =
        json!({"alertDefinitions": [{"id": "x", "name": "ran", "severity": "High"}], "iocs": iocs});
    let p = dir.join("b.json");
    fs::write(&p, b.to_string()).unwrap();
    p
}

/// A program's path (written as IOCs write it, drive letter and all), its
/// name (whole, where the header cut it) and a file it loaded are found in
/// the prefetch files of every format, as `executed` evidence.
#[test]
fn programs_in_prefetch_files_are_executed_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let root = drive(dir.path());
    let b = bundle(
        dir.path(),
        json!([
            {"id": "calc", "alertDefinitionId": "x", "type": "FilePath", "value": r"C:\Windows\System32\calc.exe"},
            {"id": "dcode", "alertDefinitionId": "x", "type": "FileName", "value": format!("{}.exe", "DCODE".repeat(13))},
            {"id": "dll", "alertDefinitionId": "x", "type": "FilePath", "value": r"C:\Program Files (x86)\Google\Chrome\Application\47.0.2526.106\chrome_elf.dll"},
        ]),
    );
    let (run, report) = scan_to(&b, &dir.path().join("r.json"), &root, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let evidence = report["alerts"][0]["evidence"].as_array().unwrap();
    assert!(evidence.iter().all(|e| e["kind"] == "executed"));
    let of = |id: &str| -> Vec<(&str, &str, &Value)> {
        evidence
            .iter()
            .filter(|e| e["ioc"]["id"] == id)
            .map(|e| {
                let file = e["location"]["path"].as_str().unwrap();
                (
                    file.rsplit('/').next().unwrap(),
                    e["field"].as_str().unwrap(),
                    &e["executed"],
                )
            })
            .collect()
    };
    let calc: Vec<&str> = of("calc").iter().map(|c| c.0).collect();
    assert_eq!(
        calc,
        [
            "Win7-CALC.EXE-77FDF17F.pf",
            "Win8x-CALC.EXE-77FDF17F.pf",
            "XPPro-CALC.EXE-02CD573A.pf"
        ]
    );
    let (_, field, p) = of("calc")[2];
    assert_eq!(field, "filePath");
    assert_eq!(p["source"], "prefetch");
    assert_eq!(p["key"], "CALC.EXE-02CD573A");
    assert_eq!(
        p["path"],
        r"\DEVICE\HARDDISKVOLUME1\WINDOWS\SYSTEM32\CALC.EXE"
    );
    assert_eq!(p["runCount"], 3);
    assert_eq!(p["lastRuns"][0], "2016-01-13T22:05:51.28125Z");
    // The header cuts the name at 29 characters; the loaded path has it all.
    let dcode = of("dcode");
    assert_eq!(dcode.len(), 2, "{dcode:?}");
    let whole = format!("{}.EXE", "DCODE".repeat(13));
    assert!(
        dcode
            .iter()
            .all(|d| d.1 == "fileName" && d.2["name"] == whole.as_str())
    );
    let dll = of("dll");
    assert_eq!(dll.len(), 1, "{dll:?}");
    assert_eq!(
        (dll[0].0, dll[0].1),
        ("Win10-CHROME.EXE-B3BA7868.pf", "loadedFile")
    );
    assert_eq!(dll[0].2["runCount"], 20);
    assert!(problems(&report).is_empty(), "{:?}", problems(&report));
}

/// Cut and scrambled prefetch files (both formats) are listed, never a
/// crash: the scan goes on and reads the good ones.
#[test]
fn damaged_prefetch_files_are_listed_and_never_crash() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drive");
    fs::create_dir_all(&root).unwrap();
    let mut rng = support::Rng(0x9f_5eed);
    for good in ["Win10-CHROME.EXE-B3BA7868.pf", "Win7-CALC.EXE-77FDF17F.pf"] {
        let good = sample(good);
        for i in 0..30 {
            let mut b = good.clone();
            match i % 3 {
                0 => b.truncate(8 + rng.below(good.len() - 8)),
                _ => {
                    for _ in 0..1 + i {
                        let at = 8 + rng.below(good.len() - 8);
                        b[at] = rng.next() as u8;
                    }
                }
            }
            fs::write(root.join(format!("m{i:02}-{}.pf", good.len())), b).unwrap();
        }
    }
    fs::write(root.join("GOOD.pf"), sample("Win10-CHROME.EXE-B3BA7868.pf")).unwrap();
    let b = bundle(
        dir.path(),
        json!([{"id": "chrome", "alertDefinitionId": "x", "type": "FileName", "value": "chrome.exe"}]),
    );
    let (run, report) = scan_to(&b, &dir.path().join("r.json"), &root, &[]);
    assert!(matches!(run.code, 0 | 1), "{}", run.stderr);
    let listed = problems(&report);
    let errors = report["errors"].to_string();
    assert!(!errors.contains("internal error"), "{errors}");
    assert!(
        listed.iter().any(|p| p.0 == "corruptPrefetch"),
        "{listed:?}"
    );
    let good = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["location"]["path"] == "/GOOD.pf");
    assert!(good);
}
