//! Sigma rules through the real binary: the Sigma project's own regression
//! suite (every case under `rules/windows` fires on the records its JSON
//! names), rules over logs this test writes (modifiers, keywords, filters,
//! Security 4688 as process_creation, System fields), rules beside an IOC
//! bundle in one report, logs inside a disk image, and broken rules named by
//! file and line in the report and by `rules check`. Correlations are in
//! `sigma_correlations.rs`.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use support::evtx::{Event, write_evtx};
use support::sigma::*;
use support::*;

/// Every case of the regression suite whose rule lives under
/// `rules/windows`: the rule fires on its sample, on each record the case's
/// JSON names, and (where the case says) exactly `match_count` times.
#[test]
fn the_sigma_regression_suite_passes() {
    let Some(sigma) = corpus("sigma") else { return };
    let data = sigma.join("regression_data/rules/windows");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r.json");
    let rules = sigma.join("rules/windows");
    let run = scan_rules(&rules, &out, &data);
    assert_eq!(run.code, 1, "alerts raised: {}", run.stderr);
    let report = read_report(&out);
    let problems: usize = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["problems"].as_array().unwrap().len())
        .sum();
    assert_eq!(problems, 0, "every SigmaHQ Windows rule loads");
    let mut fired: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for (rule, path, record) in rule_hits(&report) {
        fired.entry((rule, path)).or_default().push(record);
    }

    let mut cases = 0;
    let mut failures = Vec::new();
    for info in walk(&data, "info.yml") {
        let meta: yaml_serde::Value =
            yaml_serde::from_str(&fs::read_to_string(&info).unwrap()).expect("info.yml is YAML");
        let rule = meta["rule_metadata"][0]["id"].as_str().unwrap().to_string();
        let test = &meta["regression_tests_info"][0];
        let evtx = test["path"]
            .as_str()
            .unwrap()
            .strip_prefix("regression_data/rules/windows")
            .expect("case path under the windows data")
            .to_string();
        cases += 1;
        let got = fired
            .get(&(rule.clone(), evtx.clone()))
            .cloned()
            .unwrap_or_default();
        // The JSON beside the sample is the sample's records: every
        // record the rule fires on is one of them.
        let named = named_records(&data.join(evtx.trim_start_matches('/')));
        let stray: Vec<u64> = got.iter().filter(|r| !named.contains(r)).copied().collect();
        let count = test["match_count"].as_u64();
        let more_than_counted = MORE_THAN_COUNTED.iter().any(|(id, _)| *id == rule);
        if got.is_empty() {
            failures.push(format!("{rule} on {evtx}: did not fire"));
        } else if !named.is_empty() && !stray.is_empty() {
            failures.push(format!(
                "{rule} on {evtx}: fired on {stray:?}, not in the case's JSON"
            ));
        } else if let Some(n) = count
            && n != got.len() as u64
            && !(more_than_counted && got.len() as u64 > n)
        {
            failures.push(format!(
                "{rule} on {evtx}: {} matches, the case says {n}",
                got.len()
            ));
        }
    }
    eprintln!(
        "sigma regression suite: {} of {cases} cases pass",
        cases - failures.len()
    );
    assert!(cases >= 190, "the suite has its cases ({cases})");
    assert!(
        failures.is_empty(),
        "failing cases:\n{}",
        failures.join("\n")
    );
}

/// Cases whose `match_count` is lower than the records that match, each
/// record checked by hand against the rule: the count is then a floor.
const MORE_THAN_COUNTED: [(&str, &str); 4] = [
    (
        "0b9ad457-2554-44c1-82c2-d56a99c42377",
        "three records write AnyDesk\\user.conf(.new, ~RF….TMP); the rule's contains matches each",
    ),
    (
        "8fbf3271-1ef6-4e94-8210-03c2317947f6",
        "procdump64.exe, procdump64a.exe and procdump.exe are each created (their Zone.Identifier streams do not match)",
    ),
    (
        "45e112d0-7759-4c2a-aa36-9f8fb79d3393",
        "three ZoneMap\\Domains values (http, https, *) are each set to 2",
    ),
    (
        "c7dcacd0-cc59-4004-b0a4-1d6cdebe6f3e",
        "AutoShareServer and AutoShareWks are both set to 0",
    ),
];

/// The record ids a case's JSON (one or more concatenated events beside the
/// EVTX) names.
fn named_records(evtx: &Path) -> Vec<u64> {
    let Ok(text) = fs::read_to_string(evtx.with_extension("json")) else {
        return Vec::new();
    };
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(|v| {
            let id = &v.expect("case JSON")["Event"]["System"]["EventRecordID"];
            id.as_u64()
                .or_else(|| id.as_str().and_then(|s| s.parse().ok()))
                .expect("EventRecordID")
        })
        .collect()
}

fn walk(dir: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p, name));
        } else if p.file_name().is_some_and(|n| n == name) {
            out.push(p);
        }
    }
    out.sort();
    out
}

const ENCODED: &str =
    "SUVYIChOZXctT2JqZWN0IE5ldC5XZWJDbGllbnQpOyBJbnZva2UtTWltaWthdHogLUR1bXBDcmVkcw==";

/// Process and network events, each planted for one rule (and one near
/// miss beside most of them).
fn events() -> Vec<Event> {
    let proc = |id, image: &str, cmd: &str, user: &str| {
        Event::new(
            id,
            SYSMON,
            1,
            SYSMON_CH,
            &[
                ("Image", image),
                ("CommandLine", cmd),
                ("User", user),
                ("ParentImage", r"C:\Windows\explorer.exe"),
                ("OriginalFileName", "Cmd.Exe"),
            ],
        )
    };
    let cmd = r"C:\Windows\System32\cmd.exe";
    let mut v = vec![
        proc(1, cmd, "cmd.exe /c whoami /all", r"CORP\bob"),
        // Filtered out by the admin filter.
        proc(2, cmd, "cmd.exe /c whoami /all", r"CORP\admin"),
        // Only one of the two `all` values.
        proc(3, cmd, "cmd.exe /c whoami", r"CORP\bob"),
        proc(
            4,
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            &format!("powershell -nop -enc {ENCODED}"),
            r"CORP\bob",
        ),
        // windash: `/decode` written for `-decode`.
        proc(
            5,
            r"C:\Windows\System32\certutil.exe",
            r"certutil /decode a.b64 C:\ProgramData\a.exe",
            r"CORP\bob",
        ),
        // re|i over a case the rule does not write.
        proc(6, cmd, "cmd /c NET   user eve P@ss /add", r"CORP\bob"),
        // Near miss for the regex: no whitespace between.
        proc(7, cmd, "cmd /c netuser", r"CORP\bob"),
    ];
    // fieldref: the parent is the image itself.
    v.push(Event::new(
        8,
        SYSMON,
        1,
        SYSMON_CH,
        &[
            ("Image", r"C:\Users\bob\evil.exe"),
            ("ParentImage", r"C:\Users\bob\evil.exe"),
            ("CommandLine", "evil.exe"),
        ],
    ));
    // Network: in 10.0.0.0/8 on a high port; one outside, one low port.
    for (id, ip, port) in [
        (9, "10.1.2.3", "4444"),
        (10, "11.1.2.3", "4444"),
        (11, "10.9.9.9", "80"),
    ] {
        v.push(Event::new(
            id,
            SYSMON,
            3,
            SYSMON_CH,
            &[
                ("Image", r"C:\Users\bob\evil.exe"),
                ("DestinationIp", ip),
                ("DestinationPort", port),
            ],
        ));
    }
    // Security 4688: process_creation under its own field names.
    v.push(Event::new(
        12,
        SECURITY,
        4688,
        "Security",
        &[
            ("NewProcessName", r"C:\Tools\PsExec64.exe"),
            ("CommandLine", r"psexec64 \\dc01 cmd"),
            ("ParentProcessName", r"C:\Windows\explorer.exe"),
        ],
    ));
    // A keyword anywhere in the record.
    v.push(Event::new(
        13,
        "Application Error",
        1000,
        "Application",
        &[("Data", "faulting module mimikatz.dll")],
    ));
    // A KELVIN SIGN, which case-insensitive matching folds to `k`: the
    // prefilter must not screen the record out for lacking the letter.
    v.push(Event::new(
        14,
        SYSMON,
        1,
        SYSMON_CH,
        &[("Image", "C:\\Tools\\\u{212A}iwi.exe")],
    ));
    v
}

const RULES: &str = r#"
title: Whoami All
id: 11111111-0000-0000-0000-000000000001
status: test
description: whoami listing everything
author: breachscan tests
tags: [attack.discovery, attack.t1033]
references: [https://example.org/whoami]
falsepositives: [Admins]
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\cmd.exe'
        CommandLine|contains|all: [whoami, /all]
    condition: selection
level: medium
---
title: Encoded Mimikatz
id: 11111111-0000-0000-0000-000000000002
logsource: {product: windows, category: process_creation}
detection:
    enc:
        CommandLine|base64offset|contains: 'Invoke-Mimikatz'
    condition: enc
level: critical
---
title: Certutil Decode
id: 11111111-0000-0000-0000-000000000003
logsource: {product: windows, category: process_creation}
detection:
    sel_img:
        Image|endswith: '\certutil.exe'
    sel_cli:
        CommandLine|windash|contains: ' -decode '
    condition: all of sel_*
level: high
---
title: Net User Add
id: 11111111-0000-0000-0000-000000000004
logsource: {product: windows, category: process_creation}
detection:
    selection:
        CommandLine|re|i: 'net\s+user\s'
    condition: selection
level: high
---
title: Own Parent
id: 11111111-0000-0000-0000-000000000005
logsource: {product: windows, category: process_creation}
detection:
    selection:
        ParentImage|fieldref: Image
    filter_none:
        OriginalFileName|exists: true
    condition: selection and not filter_none
level: medium
---
title: High Port In Ten Net
id: 11111111-0000-0000-0000-000000000006
logsource: {product: windows, category: network_connection}
detection:
    selection:
        DestinationIp|cidr: 10.0.0.0/8
        DestinationPort|gt: 1024
    condition: selection
level: low
---
title: PsExec From Security Log
id: 11111111-0000-0000-0000-000000000007
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: ['\psexec.exe', '\psexec64.exe']
        ParentImage|endswith: '\explorer.exe'
    condition: selection
level: high
---
title: Mimikatz Keyword
id: 11111111-0000-0000-0000-000000000008
logsource: {product: windows, service: application}
detection:
    keywords:
        - '*mimikatz*'
    condition: keywords
level: high
---
title: Security Provider By System Fields
id: 11111111-0000-0000-0000-000000000009
logsource: {product: windows, service: security}
detection:
    selection:
        Provider_Name: Microsoft-Windows-Security-Auditing
        Computer: ws01.corp.example
        EventID: 4688
    condition: selection
level: informational
---
title: Kiwi Under Any Spelling
id: 11111111-0000-0000-0000-000000000010
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\kiwi.exe'
    condition: selection
level: high
"#;

const FILTER: &str = r#"
title: Admins Are Expected
logsource: {product: windows, category: process_creation}
filter:
    rules: [11111111-0000-0000-0000-000000000001]
    selection:
        User: 'CORP\admin'
    condition: not selection
"#;

fn write_case(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
    let logs = dir.join("logs");
    fs::create_dir_all(&logs).unwrap();
    fs::write(logs.join("planted.evtx"), write_evtx(&events())).unwrap();
    let rules = dir.join("rules");
    fs::create_dir_all(rules.join("filters")).unwrap();
    fs::write(rules.join("planted.yml"), RULES).unwrap();
    fs::write(rules.join("filters/admins.yaml"), FILTER).unwrap();
    (logs, rules)
}

fn expected() -> BTreeSet<(String, String, u64)> {
    [
        (1, 1),
        (2, 4),
        (3, 5),
        (4, 6),
        (5, 8),
        (6, 9),
        (7, 12),
        (8, 13),
        (9, 12),
        (10, 14),
    ]
    .into_iter()
    .map(|(rule, rec)| {
        (
            format!("11111111-0000-0000-0000-{rule:012}"),
            "/planted.evtx".to_string(),
            rec,
        )
    })
    .collect()
}

#[test]
fn rules_fire_on_exactly_the_planted_records() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, rules) = write_case(dir.path());
    let out = dir.path().join("r.json");
    let run = scan_rules(&rules, &out, &logs);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = read_report(&out);
    assert_eq!(rule_hits(&report), expected());

    // Each rule alone: no other rule's literal gets its record rendered,
    // so the prefilter alone decides (rules on System fields, literals
    // folded from other scripts).
    for (i, doc) in RULES.split("\n---\n").enumerate() {
        let alone = dir.path().join(format!("alone{i}.yml"));
        fs::write(&alone, doc).unwrap();
        let out = dir.path().join(format!("alone{i}.json"));
        let run = scan_rules(&alone, &out, &logs);
        assert!(run.code <= 1, "{}", run.stderr);
        let hits = rule_hits(&read_report(&out));
        let want: BTreeSet<_> = expected()
            .into_iter()
            .filter(|(id, _, _)| doc.contains(id.as_str()))
            .collect();
        // The filter is not loaded here: rule 1 also fires on admin's record.
        if doc.contains("Whoami All") {
            assert!(hits.is_superset(&want), "{doc}");
        } else {
            assert_eq!(hits, want, "{doc}");
        }
    }

    // The rule is the alert definition, with its metadata.
    let whoami = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alertDefinition"]["title"] == "Whoami All")
        .unwrap();
    let def = &whoami["alertDefinition"];
    assert_eq!(def["severity"], "Medium");
    assert_eq!(def["mitreTechniques"], json!(["T1033"]));
    assert_eq!(def["rule"]["status"], "test");
    assert_eq!(def["rule"]["author"], "breachscan tests");
    assert_eq!(def["rule"]["falsePositives"], json!(["Admins"]));
    assert_eq!(
        def["rule"]["references"],
        json!(["https://example.org/whoami"])
    );
    assert_eq!(def["description"], "whoami listing everything");
    let ev = &whoami["evidence"][0];
    let fields: Vec<&str> = ev["matchedFields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["field"].as_str().unwrap())
        .collect();
    // In one order whatever the engine's hash maps do, the same every run.
    assert_eq!(fields, ["CommandLine", "Image"]);
    assert_eq!(ev["field"], "CommandLine");
    assert_eq!(ev["record"]["data"]["User"], r"CORP\bob");

    // Critical is the report's High; the files are listed with their counts.
    let enc = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["alertDefinition"]["title"] == "Encoded Mimikatz")
        .unwrap();
    assert_eq!(enc["alertDefinition"]["severity"], "High");
    assert_eq!(enc["alertDefinition"]["rule"]["level"], "critical");
    let files: BTreeMap<String, (u64, u64)> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let name = Path::new(f["path"].as_str().unwrap())
                .file_name()
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (
                name,
                (f["rules"].as_u64().unwrap(), f["filters"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(
        files,
        BTreeMap::from([
            ("planted.yml".to_string(), (10, 0)),
            ("admins.yaml".to_string(), (0, 1))
        ])
    );
}

/// One scan, one report: an IOC bundle and rules over the same logs, here
/// inside a disk image; the rule and the IOC agree on which records hold
/// the tool.
#[test]
fn rules_and_a_bundle_share_one_scan_of_a_disk_image() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("disk.raw");
    fs::write(&image, gunzip(&samples().join("images/disk.raw.gz"))).unwrap();
    let rules = dir.path().join("tool.yml");
    fs::write(
        &rules,
        r#"
title: Temp Tool
id: 22222222-0000-0000-0000-000000000001
logsource: {product: windows, category: process_creation}
detection:
    selection:
        Image|endswith: '\Temp\tool.exe'
    condition: selection
level: high
"#,
    )
    .unwrap();
    let bundle = dir.path().join("b.json");
    let b = json!({
        "alertDefinitions": [{"id": "ad", "name": "Tool", "severity": "Low"}],
        "iocs": [{"id": "tool", "alertDefinitionId": "ad", "type": "FileName",
                  "value": "tool.exe", "detectionFunction": "Equals"}]
    });
    fs::write(&bundle, b.to_string()).unwrap();
    let out = dir.path().join("r.json");
    let (run, report) = scan_to(&bundle, &out, &image, &["--rules", rules.to_str().unwrap()]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let by_rule: BTreeSet<(String, u64)> = rule_hits(&report)
        .into_iter()
        .map(|(_, path, rec)| (path, rec))
        .collect();
    let by_ioc: BTreeSet<(String, u64)> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .filter(|e| {
            e["kind"] == "record"
                && e["detection"]["kind"] != "rule"
                && e["field"] == "Image"
                && e["record"]["eventId"] == 1
        })
        .map(|e| {
            (
                e["location"]["path"].as_str().unwrap().to_string(),
                e["record"]["recordId"].as_u64().unwrap(),
            )
        })
        .collect();
    let logs: BTreeSet<&str> = by_rule.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        logs.len(),
        3,
        "the three copies of the log in the image: {logs:?}"
    );
    assert_eq!(by_rule, by_ioc);
    assert_eq!(report["bundles"].as_array().unwrap().len(), 1);
    assert_eq!(report["rules"].as_array().unwrap().len(), 1);
}

/// Rules that cannot be used are named by file, line and reason, in the
/// report and by `rules check`; the others still fire.
#[test]
fn broken_rules_are_named_and_the_rest_fire() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, rules) = write_case(dir.path());
    fs::write(
        rules.join("broken.yml"),
        "title: Fine\nid: 33333333-0000-0000-0000-000000000001\nlogsource: {product: windows, service: application}\n\
         detection:\n    k:\n        - mimikatz\n    condition: k\n\
         ---\n\
         title: Bad Condition\nid: 33333333-0000-0000-0000-000000000002\nlogsource: {product: windows}\n\
         detection:\n    sel:\n        EventID: 1\n    condition: sel and and\n\
         ---\n\
         title: Unknown Modifier\nid: 33333333-0000-0000-0000-000000000003\nlogsource: {product: windows}\n\
         detection:\n    sel:\n        Image|sideways: x\n    condition: sel\n",
    )
    .unwrap();
    fs::write(rules.join("not-yaml.yml"), "title: [unclosed\n  id: x\n").unwrap();
    // The id of another rule, and a filter for a rule that is not there.
    fs::write(
        rules.join("zz-copy.yml"),
        "title: Whoami Copy\nid: 11111111-0000-0000-0000-000000000001\n\
         logsource: {product: windows, category: process_creation}\n\
         detection:\n    sel:\n        CommandLine: never\n    condition: sel\n",
    )
    .unwrap();
    fs::write(
        rules.join("filters/ghost.yml"),
        "title: Ghost Filter\nlogsource: {product: windows}\n\
         filter:\n    rules: [no-such-rule]\n    selection:\n        User: x\n    condition: not selection\n",
    )
    .unwrap();

    let check = breachscan(&["rules", "check", rules.to_str().unwrap()]);
    assert_eq!(check.code, 2, "{}", check.stdout);
    let broken = rules.join("broken.yml").display().to_string();
    assert!(
        check
            .stdout
            .contains(&format!("{broken}:15 (Bad Condition)")),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains(&format!("{broken}:22 (Unknown Modifier)")),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("not-yaml.yml:2 (["),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains(
            "zz-copy.yml:1 (Whoami Copy): id 11111111-0000-0000-0000-000000000001 is also"
        ),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("ghost.yml:1 (Ghost Filter): filter names no loaded rule: no-such-rule"),
        "{}",
        check.stdout
    );

    let out = dir.path().join("r.json");
    let run = scan_rules(&rules, &out, &logs);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = read_report(&out);
    let mut want = expected();
    want.insert((
        "33333333-0000-0000-0000-000000000001".into(),
        "/planted.evtx".into(),
        13,
    ));
    assert_eq!(rule_hits(&report), want);
    let problems: Vec<(String, Option<u64>)> = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|f| {
            f["problems"].as_array().unwrap().iter().map(|p| {
                (
                    Path::new(f["path"].as_str().unwrap())
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                    p["line"].as_u64(),
                )
            })
        })
        .collect();
    assert_eq!(problems.len(), 5, "{problems:?}");
    assert!(
        problems.contains(&("broken.yml".into(), Some(15))),
        "{problems:?}"
    );
    assert!(
        problems.contains(&("broken.yml".into(), Some(22))),
        "{problems:?}"
    );
    assert!(
        report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["code"] == "rulesNotLoaded")
    );

    // Not one rule usable: the scan refuses rather than run without them.
    let only_bad = dir.path().join("only-bad.yml");
    fs::write(&only_bad, "title: [unclosed\n").unwrap();
    let run = breachscan(&[
        "scan",
        "-q",
        "--rules",
        only_bad.to_str().unwrap(),
        logs.to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2, "{}", run.stderr);
}

/// Hostile rule documents (flow collections nested 200,000 deep, 16,000
/// `not` in a row, and in debug builds a panic in the parser, in the
/// compiler and in indexing a compiled rule) are each listed with their
/// file and line; the scan, whose workers load rules on small stacks, goes
/// on and the other rules fire.
#[test]
#[cfg(debug_assertions)]
fn hostile_rule_documents_cost_only_themselves() {
    let dir = tempfile::tempdir().unwrap();
    let (logs, rules) = write_case(dir.path());
    let head = |title: &str| {
        format!(
            "title: {title}\nlogsource: {{product: windows, category: process_creation}}\ndetection:\n"
        )
    };
    let deep = format!(
        "{}    sel:\n        Image: {}{}\n    condition: sel\n",
        head("Deep"),
        "[".repeat(200_000),
        "]".repeat(200_000)
    );
    let nots = format!(
        "{}    sel:\n        Image: x\n    condition: {}sel\n",
        head("Nots"),
        "not ".repeat(16_000)
    );
    let parser = format!(
        "{}    sel:\n        Image: x # {}\n    condition: sel\n",
        head("Parser"),
        breachscan::sigma::PARSE_FAULT_MARKER
    );
    let compiler = format!(
        "{}    sel:\n        Image: x\n    condition: sel\n",
        head(breachscan::sigma::COMPILE_FAULT_MARKER)
    );
    let indexer = format!(
        "{}    sel:\n        Image: x\n    condition: sel\n",
        head(breachscan::sigma::INDEX_FAULT_MARKER)
    );
    fs::write(
        rules.join("hostile.yml"),
        [deep, nots, parser, compiler, indexer].join("---\n"),
    )
    .unwrap();
    let out = dir.path().join("r.json");
    let run = scan_rules(&rules, &out, &logs);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = read_report(&out);
    assert_eq!(rule_hits(&report), expected());
    let file = report["rules"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["path"].as_str().unwrap().ends_with("hostile.yml"))
        .unwrap();
    let problems: Vec<(u64, String)> = file["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["line"].as_u64().unwrap(),
                p["message"].as_str().unwrap().into(),
            )
        })
        .collect();
    let lines: Vec<u64> = problems.iter().map(|p| p.0).collect();
    assert_eq!(lines, [5, 13, 15, 22, 29], "{problems:?}");
    assert!(
        problems[0].1.contains("nested deeper than 256"),
        "{problems:?}"
    );
    assert!(
        problems[1].1.contains("in a row at line 13"),
        "{problems:?}"
    );
    assert!(problems[2].1.contains("rule parser failed"), "{problems:?}");
    assert!(
        problems[3].1.contains("rule compiler failed"),
        "{problems:?}"
    );
    assert!(
        problems[4].1.contains("indexing the rule failed"),
        "{problems:?}"
    );
}

/// Records as Windows writes them (templates, typed values), screened by
/// the prefilter before rendering: a rule reading only System fields, and
/// a value spelt with a letter from outside ASCII that case-insensitive
/// matching folds, must still get their records rendered. Each rule runs
/// alone, so no other rule's literal lets the record through.
#[test]
fn screened_records_reach_rules_on_system_fields_template_text_and_folded_letters() {
    use support::evtx_templates::{Data, Record, Value as V, write_templated_evtx};
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let image = |s: &str| [("Image", Data::Sub(V::Str(s.into())))];
    let records = [
        Record::new(1, 4242, &image("C:\\Tools\\\u{212A}iwi.exe")),
        Record::new(2, 4243, &image("C:\\Tools\\x.exe")),
        Record::new(3, 4244, &image("C:\\Tools\\y.exe")),
        // The literal is the template's own text, not a value: screening
        // must join it to the record's channel and event id.
        Record::new(
            4,
            4245,
            &[("Image", Data::Static("C:\\Tools\\static.exe".into()))],
        ),
    ];
    fs::write(logs.join("t.evtx"), write_templated_evtx(&records)).unwrap();
    let rule = |id: &str, detection: &str| {
        format!(
            "title: r{id}\nid: {id}\nlogsource: {{product: windows}}\ndetection:\n{detection}\n    \
             condition: sel\nlevel: low\n"
        )
    };
    let cases = [
        (
            rule("folded", "    sel:\n        Image|endswith: '\\kiwi.exe'"),
            vec![1],
        ),
        (
            rule(
                "computer",
                "    sel:\n        Computer|contains: ws01.corp\n        EventID: 4243",
            ),
            vec![2],
        ),
        (
            rule(
                "provider",
                "    sel:\n        Provider_Name: Microsoft-Windows-Test",
            ),
            vec![1, 2, 3, 4],
        ),
        (
            rule(
                "static",
                "    sel:\n        Image|endswith: '\\static.exe'\n        EventID: 4245",
            ),
            vec![4],
        ),
    ];
    for (i, (text, want)) in cases.iter().enumerate() {
        let file = dir.path().join(format!("r{i}.yml"));
        fs::write(&file, text).unwrap();
        let out = dir.path().join(format!("r{i}.json"));
        let run = scan_rules(&file, &out, &logs);
        assert_eq!(run.code, 1, "{text}\n{}", run.stderr);
        let got: Vec<u64> = rule_hits(&read_report(&out))
            .into_iter()
            .map(|(_, _, rec)| rec)
            .collect();
        assert_eq!(&got, want, "{text}");
    }
}

/// A record whose System block the screening cannot read whole (an EventID
/// of a type it does not decode, a channel in no known form) is still
/// screened for the rules it can meet: those of every log source its
/// rendering may turn out to have. A Sysmon process creation whose EventID
/// is written as an Int32 renders as event 1 and meets process_creation
/// rules; a record of no channel meets rules of any channel's id.
#[test]
fn records_of_system_facts_the_screening_cannot_read_reach_their_rules() {
    use support::evtx_templates::{Data, Record, Value as V, write_templated_evtx};
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let sysmon = "Microsoft-Windows-Sysmon/Operational";
    let cmd = |s: &str| [("CommandLine", Data::Sub(V::Str(s.into())))];
    let mut records = vec![
        // EventID 1 as an Int32: the screening cannot say it is 1.
        Record::new(1, 1, &cmd("x.exe -enc zzz")),
        Record::new(2, 1, &cmd("x.exe -enc zzz")),
        // A channel written as a number, which the screening does not
        // read as one: rules any channel allows for event 4242.
        Record::new(3, 4242, &cmd("y.exe -ffz")),
        Record::new(4, 4242, &cmd("y.exe -ffz")),
    ];
    records[0].event_id_value = Some(V::Raw(0x07, 1i32.to_le_bytes().to_vec()));
    records[0].channel = Some(V::Str(sysmon.into()));
    records[1].channel = Some(V::Str(sysmon.into()));
    records[2].channel = Some(V::U32(7));
    fs::write(logs.join("t.evtx"), write_templated_evtx(&records)).unwrap();
    let rules = dir.path().join("rules.yml");
    fs::write(
        &rules,
        "title: enc\nid: enc\nlogsource: {category: process_creation, product: windows}\n\
         detection:\n    sel:\n        CommandLine|contains: ' -enc '\n    condition: sel\n\
         level: low\n---\n\
         title: ffz\nid: ffz\nlogsource: {product: windows}\n\
         detection:\n    sel:\n        CommandLine|contains: ' -ffz'\n        EventID: 4242\n    \
         condition: sel\nlevel: low\n",
    )
    .unwrap();
    let out = dir.path().join("r.json");
    let run = scan_rules(&rules, &out, &logs);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let got: Vec<(String, u64)> = rule_hits(&read_report(&out))
        .into_iter()
        .map(|(rule, _, rec)| (rule, rec))
        .collect();
    assert_eq!(
        got,
        [
            ("enc".to_string(), 1),
            ("enc".to_string(), 2),
            ("ffz".to_string(), 3),
            ("ffz".to_string(), 4)
        ]
    );
}
