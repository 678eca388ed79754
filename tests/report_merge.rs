//! `report merge`: shard reports of the same bundles merge into exactly
//! the report one scan of all their targets writes (times and arguments
//! apart), over every kind of target, evidence, error and warning; reports
//! that cannot merge are refused with the reason.

mod support;

use std::fs;
use std::path::Path;

use breachscan::report::{Report, Timings, write_json};
use support::*;

const AS_OF: &str = "2026-06-01T00:00:00Z";

/// The report's bytes with its times and arguments blanked: what must be
/// identical between a merge and a single scan.
fn comparable(path: &Path) -> String {
    let v = read_report(path);
    let mut r: Report = serde_json::from_value(v).unwrap();
    r.scan.started_at = String::new();
    r.scan.finished_at = String::new();
    r.scan.arguments.clear();
    r.scan.timings = Timings::default();
    let mut out = Vec::new();
    write_json(&r, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn scan(dir: &Path, out: &str, targets: &[&Path]) -> Run {
    let demo = samples().join("bundles/demo.json");
    let extra = dir.join("extra.json");
    let mut args: Vec<String> = vec![
        "scan".into(),
        "-q".into(),
        "--as-of".into(),
        AS_OF.into(),
        "-b".into(),
        demo.display().to_string(),
        "-b".into(),
        extra.display().to_string(),
        "-o".into(),
        dir.join(out).display().to_string(),
    ];
    args.extend(targets.iter().map(|t| t.display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    breachscan(&args)
}

fn merge(dir: &Path, out: &str, shards: &[&str]) -> Run {
    let mut args = vec!["report".to_string(), "merge".into(), "-o".into()];
    args.push(dir.join(out).display().to_string());
    args.extend(shards.iter().map(|s| dir.join(s).display().to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    breachscan(&args)
}

#[test]
fn a_merge_of_shards_is_the_report_of_one_scan() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    // A second bundle file beside the demo one: bundles merge per scan.
    fs::write(
        r.join("extra.json"),
        r#"{"alertDefinitions":[{"id":"ad-x","name":"Sample payloads","severity":"Medium"}],
            "iocs":[{"id":"x-hello","alertDefinitionId":"ad-x","type":"FileName","value":"hello.txt"},
                    {"id":"x-cmd","alertDefinitionId":"ad-x","type":"FileName","value":"cmd.exe"},
                    {"id":"x-logs","alertDefinitionId":"ad-x","type":"FilePath","value":".evtx","detectionFunction":"EndWith"}]}"#,
    )
    .unwrap();

    // Targets of every kind: a host folder, a disk image, a folder of
    // event logs (one damaged), a target that does not exist, a FIFO.
    let image = r.join("disk.E01");
    fs::write(&image, gunzip(&samples().join("images/disk.E01.gz"))).unwrap();
    let logs = r.join("logs");
    fs::create_dir(&logs).unwrap();
    let events: Vec<support::evtx::Event> = (1..=300)
        .map(|i| {
            support::evtx::Event::new(
                i,
                "Microsoft-Windows-Sysmon",
                1,
                "Microsoft-Windows-Sysmon/Operational",
                &[
                    ("Image", r"C:\Windows\System32\cmd.exe"),
                    ("CommandLine", "cmd /c x"),
                ],
            )
        })
        .collect();
    let log = support::evtx::write_evtx(&events);
    fs::write(logs.join("a.evtx"), &log).unwrap();
    let mut dirty = log.clone();
    dirty[4096 + 65536..4096 + 65536 + 8].copy_from_slice(b"XXXXXXXX");
    fs::write(logs.join("b.evtx"), &dirty).unwrap();
    let missing = r.join("missing");
    let evidence = samples().join("evidence");

    let targets: [&Path; 4] = [&evidence, &image, &logs, &missing];
    assert_eq!(scan(r, "all.json", &targets).code, 1);
    assert_eq!(scan(r, "s1.json", &targets[..2]).code, 1);
    assert_eq!(scan(r, "s2.json", &targets[2..]).code, 1);
    let run = merge(r, "merged.json", &["s1.json", "s2.json"]);
    assert_eq!(run.code, 1, "{}", run.stderr);

    let (one, merged) = (
        comparable(&r.join("all.json")),
        comparable(&r.join("merged.json")),
    );
    assert_eq!(one, merged);
    // It holds every kind of part, so the comparison means something.
    let v = read_report(&r.join("merged.json"));
    assert_eq!(v["sources"].as_array().unwrap().len(), 4);
    assert!(v["summary"]["evidence"].as_u64().unwrap() > 300);
    assert!(!v["errors"].as_array().unwrap().is_empty());
    assert_eq!(v["warnings"][0]["code"], "targetNotOpened");
    assert!(v["arguments"].is_null() && v["scan"]["arguments"][1] == "report");
    let kinds: std::collections::BTreeSet<&str> = v["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.into_iter().collect::<Vec<_>>(), ["file", "record"]);

    // Three shards in another cut give the same report again.
    assert_eq!(scan(r, "t1.json", &targets[..1]).code, 1);
    assert_eq!(scan(r, "t2.json", &targets[1..3]).code, 1);
    // No target readable: exit 2, but its report is written and merges.
    assert_eq!(scan(r, "t3.json", &targets[3..]).code, 2);
    assert_eq!(
        merge(r, "m3.json", &["t1.json", "t2.json", "t3.json"]).code,
        1
    );
    assert_eq!(comparable(&r.join("m3.json")), one);
}

#[test]
fn reports_that_cannot_merge_are_refused_with_the_reason() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    fs::write(
        r.join("extra.json"),
        r#"{"alertDefinitions":[{"id":"x","name":"x","severity":"Low"}],
            "iocs":[{"id":"i","alertDefinitionId":"x","type":"FileName","value":"hello.txt"}]}"#,
    )
    .unwrap();
    let evidence = samples().join("evidence");
    assert_eq!(scan(r, "a.json", &[&evidence]).code, 1);
    // The same target twice.
    let run = merge(r, "m.json", &["a.json", "a.json"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("would be counted twice"),
        "{}",
        run.stderr
    );
    // Another bundle.
    fs::write(
        r.join("extra.json"),
        r#"{"alertDefinitions":[{"id":"x","name":"x","severity":"Low"}],
            "iocs":[{"id":"i","alertDefinitionId":"x","type":"FileName","value":"other.txt"}]}"#,
    )
    .unwrap();
    let logs = r.join("logs");
    fs::create_dir(&logs).unwrap();
    fs::write(logs.join("f.txt"), b"x").unwrap();
    assert_eq!(scan(r, "b.json", &[&logs]).code, 0);
    let run = merge(r, "m.json", &["a.json", "b.json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("different bundles"), "{}", run.stderr);
    // Not a report; and the output may not overwrite an input.
    fs::write(r.join("junk.json"), b"{}").unwrap();
    let run = merge(r, "m.json", &["a.json", "junk.json"]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("is not a breachscan report"),
        "{}",
        run.stderr
    );
    let run = merge(r, "a.json", &["a.json"]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("the input file"), "{}", run.stderr);
    assert!(!r.join("m.json").exists());
}
