//! The report as a case document: case metadata and custody (who scanned
//! what, from where, with which build), ad-hoc IOCs given on the command
//! line, evidence rows for spreadsheets and timelines, and a time window
//! on record evidence. Each checked with the release binary on the samples.

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::breachscan;

fn demo_bundle() -> std::path::PathBuf {
    support::samples().join("bundles/demo.json")
}

fn evidence() -> std::path::PathBuf {
    support::samples().join("evidence")
}

#[test]
fn the_report_records_the_case_and_who_scanned_what_from_where() {
    let dir = tempfile::tempdir().unwrap();
    // A second target from a manifest, with its evidence id.
    let other = dir.path().join("usb");
    fs::create_dir_all(&other).unwrap();
    fs::write(other.join("readme.txt"), "nothing here").unwrap();
    let manifest = dir.path().join("targets.txt");
    fs::write(&manifest, format!("# seized\n{}\tEV-02\n", other.display())).unwrap();
    let out = dir.path().join("r.json");
    let (bundle, ev) = (demo_bundle(), evidence());
    let args = [
        "scan",
        "-q",
        "-b",
        bundle.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--case",
        "CASE-117",
        "--examiner",
        "J. Doe",
        "--note",
        "seized 2026-12-01",
        "--note",
        "write blocker WB-3",
        "--evidence-id",
        "EV-01",
        "--targets-from",
        manifest.to_str().unwrap(),
        ev.to_str().unwrap(),
    ];
    let run = breachscan(&args);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = support::read_report(&out);
    let case = &r["scan"]["case"];
    assert_eq!(case["id"], "CASE-117");
    assert_eq!(case["examiners"], serde_json::json!(["J. Doe"]));
    assert_eq!(
        case["notes"],
        serde_json::json!(["seized 2026-12-01", "write blocker WB-3"])
    );
    assert_eq!(r["scan"]["timeZone"], "UTC");
    let sources = r["sources"].as_array().unwrap();
    assert_eq!(sources.len(), 2);
    assert_eq!(sources[0]["evidenceId"], "EV-01");
    assert_eq!(sources[1]["evidenceId"], "EV-02");
    let abs = |v: &Value| Path::new(v.as_str().unwrap()).to_path_buf();
    assert_eq!(
        abs(&sources[0]["absolutePath"]),
        std::path::absolute(&ev).unwrap()
    );
    assert_eq!(abs(&sources[1]["absolutePath"]), other);
    let cwd = std::env::current_dir().unwrap();
    assert_eq!(abs(&sources[0]["scannedOn"]["workingDirectory"]), cwd);
    assert!(!sources[0]["scannedOn"]["host"].as_str().unwrap().is_empty());
    assert_eq!(
        abs(&r["bundles"][0]["absolutePath"]),
        std::path::absolute(&bundle).unwrap()
    );
    // The build's commit, when built from a git checkout.
    let head = std::process::Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(head) = head {
        assert_eq!(r["tool"]["commit"], head.as_str());
    }

    // One evidence id per command-line target, or none.
    let run = breachscan(&[
        "scan",
        "-q",
        "-b",
        bundle.to_str().unwrap(),
        "--evidence-id",
        "A",
        "--evidence-id",
        "B",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("--evidence-id is given 2 time(s) for 1 target(s)"),
        "{}",
        run.stderr
    );
    fs::write(&manifest, format!("{}\tEV-02\tspare\n", other.display())).unwrap();
    let run = breachscan(&[
        "scan",
        "-q",
        "-b",
        bundle.to_str().unwrap(),
        "--targets-from",
        manifest.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("targets.txt:1:"), "{}", run.stderr);
}

#[test]
fn merged_reports_keep_one_case_and_every_examiner() {
    let dir = tempfile::tempdir().unwrap();
    let (bundle, ev) = (demo_bundle(), evidence());
    let scan = |name: &str, target: &Path, extra: &[&str]| {
        let out = dir.path().join(name);
        let mut args = vec![
            "scan",
            "-q",
            "-b",
            bundle.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        args.push(target.to_str().unwrap());
        let run = breachscan(&args);
        assert!(run.code <= 1, "{}", run.stderr);
        out
    };
    let usb = dir.path().join("usb");
    fs::create_dir_all(&usb).unwrap();
    fs::write(usb.join("a.txt"), "x").unwrap();
    let a = scan(
        "a.json",
        &ev,
        &["--case", "C-1", "--examiner", "Ann", "--evidence-id", "E1"],
    );
    let b = scan(
        "b.json",
        &usb,
        &["--case", "C-1", "--examiner", "Bo", "--evidence-id", "E2"],
    );
    let c = scan("c.json", &usb, &["--case", "C-2"]);
    let merged = dir.path().join("m.json");
    let run = breachscan(&[
        "report",
        "merge",
        "-o",
        merged.to_str().unwrap(),
        a.to_str().unwrap(),
        b.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let m = support::read_report(&merged);
    assert_eq!(m["scan"]["case"]["id"], "C-1");
    assert_eq!(
        m["scan"]["case"]["examiners"],
        serde_json::json!(["Ann", "Bo"])
    );
    let ids: Vec<&str> = m["sources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["evidenceId"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["E1", "E2"]);
    let run = breachscan(&["report", "merge", a.to_str().unwrap(), c.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("only reports of one case merge"),
        "{}",
        run.stderr
    );
}

#[test]
fn iocs_given_at_scan_time_need_no_bundle() {
    let dir = tempfile::tempdir().unwrap();
    let ev = evidence();
    let nc = fs::read(ev.join("tools/nc.exe")).unwrap();
    let list = dir.path().join("phone-call.txt");
    fs::write(
        &list,
        format!(
            "# from the CERT call\n{}\nfilepath/startwith:C:\\ProgramData\\svc\\\n",
            support::md5_hex(&nc)
        ),
    )
    .unwrap();
    let out = dir.path().join("r.json");
    let sha = support::sha256_hex(&nc);
    let run = breachscan(&[
        "scan",
        "-q",
        "-o",
        out.to_str().unwrap(),
        "--ioc",
        &format!("sha256:{sha}"),
        "--ioc",
        "filename:mimikatz.exe",
        "--ioc-file",
        list.to_str().unwrap(),
        ev.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = support::read_report(&out);
    let alerts = r["alerts"].as_array().unwrap();
    assert_eq!(alerts.len(), 1);
    assert_eq!(alerts[0]["alertDefinition"]["id"], "adhoc");
    let mut hits: Vec<(String, String)> = alerts[0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["ioc"]["type"].as_str().unwrap().to_string(),
                e["location"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    hits.sort();
    hits.dedup();
    assert_eq!(
        hits,
        [
            ("FileName", "/Windows/Temp/mimikatz.exe"),
            ("FilePath", "/ProgramData/svc/beacon.dll"),
            ("Md5", "/Users/bob/nc-copy.bin"),
            ("Md5", "/tools/nc.exe"),
            ("Sha256", "/Users/bob/nc-copy.bin"),
            ("Sha256", "/tools/nc.exe"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    let bundles = r["bundles"].as_array().unwrap();
    assert_eq!(bundles.len(), 2);
    assert_eq!(
        (bundles[0]["path"].as_str(), bundles[0]["format"].as_str()),
        (Some("--ioc"), Some("adhoc"))
    );
    assert!(bundles[0].get("absolutePath").is_none());
    assert_eq!(bundles[1]["iocsActive"], 2);
    // Beside a bundle, in one report.
    let run = breachscan(&[
        "scan",
        "-q",
        "-b",
        demo_bundle().to_str().unwrap(),
        "--ioc",
        &format!("sha256:{sha}"),
        ev.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = support::parse_report(&run.stdout);
    assert!(
        r["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["alertDefinition"]["id"] == "adhoc")
    );
    // A value whose type is not plain is refused, with its place.
    let run = breachscan(&[
        "scan",
        "-q",
        "--ioc",
        "sha1:abc",
        "--ioc",
        "evil.example",
        ev.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("--ioc:1:1:") && run.stderr.contains("--ioc:2:1:"),
        "{}",
        run.stderr
    );
    assert!(run.stderr.contains("domain:evil.example"), "{}", run.stderr);
}

/// A folder with a Sysmon log of 6 process-creation records, one a second
/// from 2023-11-14T22:13:21Z (records 1–6), each running mimikatz.exe, and
/// a file named mimikatz.exe.
fn folder_with_log(dir: &Path) -> std::path::PathBuf {
    use support::evtx::{Event, write_evtx};
    let root = dir.join("ev");
    fs::create_dir_all(root.join("logs")).unwrap();
    let events: Vec<Event> = (1..=6)
        .map(|i| {
            Event::new(
                i,
                "Microsoft-Windows-Sysmon",
                1,
                "Microsoft-Windows-Sysmon/Operational",
                &[("Image", r"C:\Windows\Temp\mimikatz.exe")],
            )
        })
        .collect();
    fs::write(root.join("logs/sysmon.evtx"), write_evtx(&events)).unwrap();
    fs::write(root.join("mimikatz.exe"), "not really").unwrap();
    root
}

/// 1_700_000_000 + n seconds, as RFC 3339.
fn at(n: i64) -> String {
    jiff::Timestamp::from_second(1_700_000_000 + n)
        .unwrap()
        .to_string()
}

#[test]
fn record_evidence_is_limited_to_a_time_window() {
    let dir = tempfile::tempdir().unwrap();
    let root = folder_with_log(dir.path());
    let out = dir.path().join("r.json");
    let (since, until) = (at(2), at(4));
    let run = breachscan(&[
        "scan",
        "-q",
        "--ioc",
        "filename:mimikatz.exe",
        "-o",
        out.to_str().unwrap(),
        "--since",
        &since,
        "--until",
        &until,
        root.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = support::read_report(&out);
    let ev = r["alerts"][0]["evidence"].as_array().unwrap();
    let mut records: Vec<u64> = ev
        .iter()
        .filter(|e| e["kind"] == "record")
        .map(|e| e["record"]["recordId"].as_u64().unwrap())
        .collect();
    records.sort();
    assert_eq!(records, [2, 3, 4]);
    // The file keeps its own evidence, whatever its times.
    assert_eq!(ev.iter().filter(|e| e["kind"] == "file").count(), 1);
    let w = &r["scan"]["timeWindow"];
    assert_eq!(
        (w["since"].as_str(), w["until"].as_str()),
        (Some("2023-11-14T22:13:22Z"), Some("2023-11-14T22:13:24Z"))
    );
    assert_eq!(w["outside"], 3);
    let run = breachscan(&[
        "scan",
        "-q",
        "--ioc",
        "filename:x.exe",
        "--since",
        &until,
        "--until",
        &since,
        root.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("is after --until"), "{}", run.stderr);
}

#[test]
fn evidence_exports_as_rows_for_spreadsheets_and_timelines() {
    let dir = tempfile::tempdir().unwrap();
    let root = folder_with_log(dir.path());
    let report = dir.path().join("r.json");
    let run = breachscan(&[
        "scan",
        "-q",
        "--ioc",
        "filename:mimikatz.exe",
        "--evidence-id",
        "EV-7",
        "-o",
        report.to_str().unwrap(),
        root.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let r = support::read_report(&report);
    let items = r["summary"]["evidence"].as_u64().unwrap();
    assert_eq!(items, 7, "6 records and the file");
    let export = |format: &str| {
        let out = dir.path().join(format!("out.{format}"));
        let run = breachscan(&[
            "report",
            "export",
            "--format",
            format,
            "-o",
            out.to_str().unwrap(),
            report.to_str().unwrap(),
        ]);
        assert_eq!(run.code, 0, "{}", run.stderr);
        fs::read_to_string(out).unwrap()
    };
    // CSV: a header and one row per item, with the alert and the item's time.
    let csv = export("csv");
    let mut rows = csv::Reader::from_reader(csv.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_string).collect();
    let col = |name: &str| header.iter().position(|h| h == name).unwrap();
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    assert_eq!(rows.len() as u64, items);
    for row in &rows {
        assert_eq!(&row[col("alert_id")], "adhoc");
        assert_eq!(&row[col("severity")], "High");
        assert_eq!(&row[col("evidence_id")], "EV-7");
    }
    let mut record_times: Vec<&str> = rows
        .iter()
        .filter(|r| &r[col("kind")] == "record")
        .map(|r| &r[col("time")])
        .collect();
    record_times.sort();
    assert_eq!(record_times, (1..=6).map(at).collect::<Vec<_>>());
    // JSON lines: each item with its alert.
    let jsonl = export("jsonl");
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len() as u64, items);
    assert!(
        lines
            .iter()
            .all(|l| l["alert"]["name"] == "IOCs given at scan time" && l["evidenceId"] == "EV-7")
    );
    // Timeline: l2t_csv columns, in time order; each record once at its time.
    let tl = export("timeline");
    let mut rows = csv::Reader::from_reader(tl.as_bytes());
    let header: Vec<String> = rows.headers().unwrap().iter().map(str::to_string).collect();
    assert_eq!(
        header.join(","),
        "date,time,timezone,MACB,source,sourcetype,type,user,host,short,desc,version,filename,inode,notes,format,extra"
    );
    let rows: Vec<csv::StringRecord> = rows.records().map(Result::unwrap).collect();
    let evt: Vec<String> = rows
        .iter()
        .filter(|r| &r[4] == "EVT")
        .map(|r| format!("{} {}", &r[0], &r[1]))
        .collect();
    assert_eq!(
        evt,
        (1..=6)
            .map(|n| format!("11/14/2023 22:13:2{n}"))
            .collect::<Vec<_>>()
    );
    assert!(
        rows.iter()
            .all(|r| &r[2] == "UTC" && &r[15] == "breachscan")
    );
    let file_rows: Vec<&csv::StringRecord> = rows.iter().filter(|r| &r[4] == "FILE").collect();
    assert!(
        !file_rows.is_empty()
            && file_rows.iter().all(|r| r[3].contains('M')
                || r[3].contains('A')
                || r[3].contains('C')
                || r[3].contains('B'))
    );
    let stamps: Vec<String> = rows
        .iter()
        .map(|r| {
            let d: Vec<&str> = r[0].split('/').collect();
            format!("{}{}{} {}", d[2], d[0], d[1], &r[1])
        })
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
}
