//! Sigma correlation rules through the real binary: event_count,
//! value_count, temporal and temporal_ordered over the records of a scan.

mod support;

use std::collections::BTreeSet;
use std::fs;

use serde_json::{Value, json};
use support::evtx::{Event, write_evtx};
use support::sigma::*;
use support::*;

/// Logons for the correlation rules: failures for alice (three within
/// five minutes, then a success), bob (a success before a failure, and a
/// failure long after), carol and dave (from alice's address).
fn logons() -> Vec<Event> {
    let logon = |id: u64, t: i64, event_id: u16, user: &str, ip: &str| {
        let mut e = Event::new(
            id,
            SECURITY,
            event_id,
            "Security",
            &[
                ("TargetUserName", user),
                ("IpAddress", ip),
                ("LogonType", "3"),
            ],
        );
        e.unix_time = 1_700_000_000 + t;
        e
    };
    vec![
        logon(101, 0, 4625, "alice", "10.0.0.5"),
        logon(102, 5, 4624, "bob", "10.0.0.9"),
        logon(103, 10, 4625, "bob", "10.0.0.9"),
        logon(104, 20, 4625, "carol", "10.0.0.5"),
        logon(105, 30, 4625, "dave", "10.0.0.5"),
        logon(106, 60, 4625, "alice", "10.0.0.5"),
        logon(107, 120, 4625, "alice", "10.0.0.5"),
        logon(108, 200, 4624, "alice", "10.0.0.5"),
        logon(109, 1000, 4625, "bob", "10.0.0.9"),
    ]
}

const CORRELATIONS: &str = r#"
title: Failed Logon
id: 44444444-0000-0000-0000-000000000001
name: failed_logon
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4625
    condition: selection
level: low
---
title: Successful Logon
id: 44444444-0000-0000-0000-000000000002
name: successful_logon
logsource: {product: windows, service: security}
detection:
    selection:
        EventID: 4624
    condition: selection
level: informational
---
title: Brute Force
id: 44444444-0000-0000-0000-000000000003
correlation:
    type: event_count
    rules: [failed_logon]
    group-by: [TargetUserName]
    timespan: 5m
    condition:
        gte: 3
level: high
---
title: Password Spray
id: 44444444-0000-0000-0000-000000000004
correlation:
    type: value_count
    rules: [44444444-0000-0000-0000-000000000001]
    group-by: [IpAddress]
    timespan: 10m
    condition:
        field: TargetUserName
        gte: 3
level: high
---
title: Failures Then Success
id: 44444444-0000-0000-0000-000000000005
correlation:
    type: temporal_ordered
    rules: [failed_logon, successful_logon]
    group-by: [TargetUserName]
    timespan: 10m
level: critical
---
title: Failure And Success
id: 44444444-0000-0000-0000-000000000006
correlation:
    type: temporal
    rules: [failed_logon, successful_logon]
    group-by: [TargetUserName]
    timespan: 10m
level: medium
---
title: Names A Missing Rule
id: 44444444-0000-0000-0000-000000000007
correlation:
    type: event_count
    rules: [no_such_rule]
    group-by: [TargetUserName]
    timespan: 10m
    condition:
        gte: 1
"#;

/// `(correlation id, group, value, record ids)` of every correlation
/// evidence item.
fn correlation_hits(report: &Value) -> BTreeSet<(String, String, String, Vec<u64>)> {
    report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .filter(|e| e["kind"] == "correlation")
        .map(|e| {
            let c = &e["correlation"];
            (
                e["detection"]["id"].as_str().unwrap().to_string(),
                e["field"].as_str().unwrap().to_string(),
                e["matchedValue"].as_str().unwrap().to_string(),
                c["records"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["location"]["recordId"].as_u64().unwrap())
                    .collect(),
            )
        })
        .collect()
}

/// event_count, value_count, temporal and temporal_ordered over a log,
/// grouped and windowed, each firing listing the records it grouped; a
/// correlation naming no loaded rule is a problem of its file.
#[test]
fn correlations_group_the_records_of_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    // Split over two logs: correlations span the whole scan.
    let (a, b) = logons()
        .into_iter()
        .partition::<Vec<_>, _>(|e| e.record_id % 2 == 0);
    fs::write(logs.join("a.evtx"), write_evtx(&a)).unwrap();
    fs::write(logs.join("b.evtx"), write_evtx(&b)).unwrap();
    let rules = dir.path().join("logons.yml");
    fs::write(&rules, CORRELATIONS).unwrap();
    let out = dir.path().join("r.json");
    let run = scan_rules(&rules, &out, &logs);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = read_report(&out);
    let id = |n: u32| format!("44444444-0000-0000-0000-00000000000{n}");
    let want: BTreeSet<(String, String, String, Vec<u64>)> = [
        (id(3), "TargetUserName=alice", "3", vec![101, 106, 107]),
        (
            id(4),
            "IpAddress=10.0.0.5",
            "3",
            vec![101, 104, 105, 106, 107],
        ),
        (id(5), "TargetUserName=alice", "2", vec![101, 106, 107, 108]),
        (id(6), "TargetUserName=alice", "2", vec![101, 106, 107, 108]),
        (id(6), "TargetUserName=bob", "2", vec![102, 103]),
    ]
    .into_iter()
    .map(|(i, g, v, r)| (i, g.to_string(), v.to_string(), r))
    .collect();
    assert_eq!(correlation_hits(&report), want);

    // The base rules are evidence of their own; the correlation is an
    // alert definition saying what it counts.
    assert_eq!(
        rule_hits(&report)
            .iter()
            .filter(|(r, _, _)| *r == id(1))
            .count(),
        7
    );
    let brute = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alertDefinition"]["id"] == id(3))
        .unwrap();
    let c = &brute["alertDefinition"]["rule"]["correlation"];
    assert_eq!(c["type"], "event_count");
    assert_eq!(c["groupBy"], json!(["TargetUserName"]));
    assert_eq!(c["timespanSeconds"], 300);
    let ev = &brute["evidence"][0];
    assert_eq!(ev["correlation"]["first"], "2023-11-14T22:13:20Z");
    assert_eq!(ev["correlation"]["last"], "2023-11-14T22:15:20Z");
    assert_eq!(ev["correlation"]["records"][0]["rule"], id(1));
    assert_eq!(ev["location"]["path"], "/b.evtx");

    let problems: Vec<&Value> = report["rules"][0]["problems"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert_eq!(problems[0]["rule"], "Names A Missing Rule");
    assert!(
        problems[0]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_rule")
    );
    assert_eq!(report["rules"][0]["correlations"], 4);

    // Shard reports cannot rebuild correlations: merging them is refused.
    let merged = dir.path().join("m.json");
    let refused = breachscan(&[
        "report",
        "merge",
        "-o",
        merged.to_str().unwrap(),
        out.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("correlation"), "{}", refused.stderr);
}
