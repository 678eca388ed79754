//! `bundle check` and bundle loading through the real binary: every planted
//! error is named with its file, line, entry and field; valid bundles in the
//! native and legacy Defender shapes load and merge; exit codes follow the
//! contract.

mod support;

use std::fs;

use support::*;

const SHA1: &str = "92cfceb39d57d914ed8b14d0e37643de0797ae56";

/// One planted error per IOC; the line of each is known.
fn broken_bundle() -> String {
    [
        r#"{"alertDefinitions": ["#,                                                   // 1
        r#"  {"id": "ad-1", "name": "A", "severity": "High"},"#,                       // 2
        r#"  {"id": "ad-1", "name": "dup", "severity": "Low"},"#,                      // 3
        r#"  {"id": "ad-2", "name": "B", "severity": "Severe"}"#,                      // 4
        r#"], "iocs": ["#,                                                              // 5
        r#"  {"id": "i1", "alertDefinitionId": "ad-1", "type": "Sha1","#,              // 6
        r#"   "value": "92cfceb39d57d914ed8b14d0e37643de0797ae5"},"#,                  // 7
        r#"  {"id": "i2", "alertDefinitionId": "ad-1", "type": "Md5", "value": "zz000000000000000000000000000000"},"#, // 8
        r#"  {"id": "i3", "alertDefinitionId": "ad-1", "type": "Mutex", "value": "x"},"#, // 9
        r#"  {"id": "i4", "alertDefinitionId": "ad-1", "type": "FileName", "value": "x", "detectionFunction": "Fuzzy"},"#, // 10
        r#"  {"id": "i5", "alertDefinitionId": "ad-9", "type": "FileName", "value": "x"},"#, // 11
        r#"  {"id": "i6", "alertDefinitionId": "ad-1", "type": "FileName", "value": "y"},"#, // 12
        r#"  {"id": "i6", "alertDefinitionId": "ad-1", "type": "FileName", "value": "z"},"#, // 13
        &format!(r#"  {{"id": "i7", "alertDefinitionId": "ad-1", "type": "Sha1", "value": "{SHA1}", "detectionFunction": "StartWith"}},"#), // 14
        r#"  {"id": "i8", "alertDefinitionId": "ad-1", "type": "FilePath", "value": "(unclosed", "detectionFunction": "Regex"},"#, // 15
        r#"  {"id": "i9", "alertDefinitionId": "ad-1", "type": "IpAddress", "value": "10.0.0.0/40"}"#, // 16
        r#"]}"#,
    ]
    .join("\n")
}

#[test]
fn bundle_check_names_the_place_of_every_planted_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    fs::write(&path, broken_bundle()).unwrap();
    let run = breachscan(&["bundle", "check", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let p = path.display().to_string();
    let expect = [
        (
            4,
            "alertDefinitions[2] (id \"ad-2\")",
            "field \"severity\"",
            "\"Severe\" is not a severity",
        ),
        (7, "iocs[0] (id \"i1\")", "field \"value\"", "40 hex digits"),
        (
            8,
            "iocs[1] (id \"i2\")",
            "field \"value\"",
            "character 1 is 'z'",
        ),
        (
            9,
            "iocs[2] (id \"i3\")",
            "field \"type\"",
            "unknown IOC type \"Mutex\"",
        ),
        (
            10,
            "iocs[3] (id \"i4\")",
            "field \"detectionFunction\"",
            "unknown detection function \"Fuzzy\"",
        ),
        (
            14,
            "iocs[7] (id \"i7\")",
            "field \"detectionFunction\"",
            "must be Equals, not StartWith",
        ),
        (
            15,
            "iocs[8] (id \"i8\")",
            "field \"value\"",
            "invalid regular expression: unclosed group",
        ),
        (16, "iocs[9] (id \"i9\")", "field \"value\"", "CIDR prefix"),
    ];
    for (line, entry, field, msg) in expect {
        let found = run.stderr.lines().any(|l| {
            l.contains(&format!("{p}:{line}:"))
                && l.contains(entry)
                && l.contains(field)
                && l.contains(msg)
        });
        assert!(
            found,
            "no error for line {line} {entry} {msg}:\n{}",
            run.stderr
        );
    }
    // Per-entry errors stop the merge, so cross-entry checks are reported
    // once the entries themselves are fixed.
    assert!(!run.stderr.contains("duplicate"), "{}", run.stderr);
}

#[test]
fn cross_entry_errors_name_both_places() {
    let dir = tempfile::tempdir().unwrap();
    let text = [
        r#"{"alertDefinitions": ["#,
        r#"  {"id": "ad-1", "name": "A", "severity": "High"},"#,
        r#"  {"id": "ad-1", "name": "dup", "severity": "Low"}"#,
        r#"], "iocs": ["#,
        r#"  {"id": "i5", "alertDefinitionId": "ad-9", "type": "FileName", "value": "x"},"#,
        r#"  {"id": "i6", "alertDefinitionId": "ad-1", "type": "FileName", "value": "y"},"#,
        r#"  {"id": "i6", "alertDefinitionId": "ad-1", "type": "FileName", "value": "z"}"#,
        r#"]}"#,
    ]
    .join("\n");
    let path = dir.path().join("cross.json");
    fs::write(&path, &text).unwrap();
    let run = breachscan(&["bundle", "check", path.to_str().unwrap()]);
    assert_eq!(run.code, 2, "{}\n{text}", run.stderr);
    let p = path.display().to_string();
    assert!(run.stderr.contains(&format!("{p}:3:3: alertDefinitions[1] (id \"ad-1\"): duplicate alert definition id \"ad-1\" (first defined at {p}:2)")), "{}\n{text}", run.stderr);
    assert!(run.stderr.contains("iocs[0] (id \"i5\"): field \"alertDefinitionId\": alert definition \"ad-9\" does not exist"), "{}", run.stderr);
    assert!(
        run.stderr
            .contains("iocs[2] (id \"i6\"): duplicate IOC id \"i6\""),
        "{}",
        run.stderr
    );
}

#[test]
fn json_syntax_errors_give_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.json");
    fs::write(&path, "{\"iocs\": [\n  {\"id\": 1,,}\n]}").unwrap();
    let run = breachscan(&["bundle", "check", path.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains(&format!("{}:2:12: invalid bundle JSON", path.display())),
        "{}",
        run.stderr
    );
}

#[test]
fn scan_with_an_invalid_bundle_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("broken.json");
    fs::write(&path, broken_bundle()).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("r.json");
    let run = breachscan(&[
        "scan",
        "-b",
        path.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("invalid bundle"), "{}", run.stderr);
    assert_eq!(fs::read_dir(out_dir.path()).unwrap().count(), 0);
}

#[test]
fn defender_export_in_two_files_merges_and_scans() {
    let s = samples();
    let defs = s.join("bundles/defender-export/AlertDefinitions.json");
    let iocs = s.join("bundles/defender-export/IndicatorsOfCompromise.json");
    let check = breachscan(&[
        "bundle",
        "check",
        defs.to_str().unwrap(),
        iocs.to_str().unwrap(),
    ]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stdout.contains("defender-ti-api"));
    assert!(
        check
            .stdout
            .contains("merged: 1 alert definitions, 2 IOCs: 2 active")
    );

    // Either file alone cannot stand: the IOCs name a definition it lacks.
    let alone = breachscan(&["bundle", "check", iocs.to_str().unwrap()]);
    assert_eq!(alone.code, 2);
    assert!(
        alone
            .stderr
            .contains("alert definition \"1\" does not exist")
    );

    let run = breachscan(&[
        "scan",
        "-q",
        "-b",
        defs.to_str().unwrap(),
        "-b",
        iocs.to_str().unwrap(),
        s.join("evidence").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = parse_report(&run.stdout);
    assert_eq!(
        report["alerts"][0]["alertDefinition"]["name"],
        "Netcat dropped by intruder"
    );
    assert_eq!(
        report["alerts"][0]["alertDefinition"]["description"],
        "A netcat build used by the intruder was found on disk."
    );
    assert_eq!(report["bundles"].as_array().unwrap().len(), 2);
    assert_eq!(
        hits(&report),
        vec![
            ("1".to_string(), "/Users/bob/nc-copy.bin".to_string()),
            ("1".into(), "/tools/nc.exe".into()),
            ("2".into(), "/Users/bob/nc-copy.bin".into()),
            ("2".into(), "/tools/nc.exe".into()),
        ]
    );
}

#[test]
fn demo_sample_scan_finds_every_planted_file() {
    let s = samples();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.json");
    let run = breachscan(&[
        "scan",
        "--bundle",
        s.join("bundles/demo.json").to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        s.join("evidence").to_str().unwrap(),
    ]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let report = read_report(&out);
    assert_eq!(
        hits(&report),
        [
            ("ioc-beacon-path", "/ProgramData/svc/beacon.dll"),
            ("ioc-mimi-name", "/Windows/Temp/mimikatz.exe"),
            ("ioc-mimi-sha256", "/Windows/Temp/mimikatz.exe"),
            ("ioc-nc-md5", "/Users/bob/nc-copy.bin"),
            ("ioc-nc-md5", "/tools/nc.exe"),
            ("ioc-persist-sha1", "/Users/bob/AppData/Roaming/update.ps1"),
            ("ioc-phish-ext", "/Users/alice/Downloads/invoice.pdf.exe"),
            ("ioc-phish-regex", "/Users/alice/Downloads/invoice.pdf.exe"),
        ]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect::<Vec<_>>()
    );
    assert_eq!(report["bundles"][0]["iocs"], 13);
    assert_eq!(report["bundles"][0]["iocsActive"], 11);
    assert_eq!(report["scan"]["complete"], true);
    // No temporary file is left beside the report.
    let left: Vec<_> = fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

#[test]
fn exit_codes_follow_the_contract() {
    let s = samples();
    let bundle = s.join("bundles/demo.json");
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("clean.txt"), "nothing here").unwrap();
    let clean = breachscan(&[
        "scan",
        "-q",
        "-b",
        bundle.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(clean.code, 0, "{}", clean.stderr);
    let missing = breachscan(&[
        "scan",
        "-q",
        "-b",
        bundle.to_str().unwrap(),
        "/nonexistent/evidence",
    ]);
    assert_eq!(missing.code, 2);
    let report = parse_report(&missing.stdout);
    assert_eq!(report["errors"][0]["kind"], "targetUnreadable");
    let usage = breachscan(&["scan", dir.path().to_str().unwrap()]);
    assert_eq!(usage.code, 2);
    let help = breachscan(&["scan", "--help"]);
    assert!(help.stdout.contains("1    scanned, evidence found"));
}

#[test]
fn text_ioc_formats_are_detected_and_scanned() {
    let s = samples();
    let ev = s.join("evidence");
    let dir = tempfile::tempdir().unwrap();
    let mimi = fs::read(ev.join("Windows/Temp/mimikatz.exe")).unwrap();
    let nc = fs::read(ev.join("tools/nc.exe")).unwrap();
    // sha256sum output, and a Loki hash-iocs file with and without score.
    let list = dir.path().join("known-bad.sha256");
    fs::write(&list, format!("{}  mimikatz.exe\n", sha256_hex(&mimi))).unwrap();
    let loki = dir.path().join("hash-iocs.txt");
    fs::write(
        &loki,
        format!(
            "# Loki hashes\n{};Netcat backdoor - http://example.org/nc\n{};45;Mimikatz build; seen twice\n{};Netcat backdoor - http://example.org/nc\nnot-a-hash;x\n",
            md5_hex(&nc),
            sha1_hex(&mimi),
            md5_hex(&nc)
        ),
    )
    .unwrap();
    let check = breachscan(&["bundle", "check", loki.to_str().unwrap()]);
    assert_eq!(check.code, 2);
    assert!(
        check.stderr.contains(&format!(
            "{}:5:1: \"not-a-hash\" is not an MD5",
            loki.display()
        )),
        "{}",
        check.stderr
    );
    fs::write(
        &loki,
        fs::read_to_string(&loki)
            .unwrap()
            .replace("not-a-hash;x\n", ""),
    )
    .unwrap();
    let check = breachscan(&["bundle", "check", loki.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stdout.contains("loki-hash-iocs"));
    assert!(
        check
            .stdout
            .contains(&format!("{}:4:1: repeats an earlier Md5", loki.display())),
        "{}",
        check.stdout
    );

    let (run, r) = scan_bundles(&[&list, &loki], &dir.path().join("r.json"), &ev, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let alerts: Vec<(&str, &str, u64)> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["alertDefinition"]["name"].as_str().unwrap(),
                a["alertDefinition"]["severity"].as_str().unwrap(),
                a["evidenceCount"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        alerts,
        vec![
            ("Known-bad hashes (known-bad.sha256)", "High", 1),
            ("Netcat backdoor", "High", 2),
            ("Mimikatz build; seen twice", "Medium", 1),
        ]
    );
    assert_eq!(r["bundles"][0]["format"], "hash-list");
    assert_eq!(r["bundles"][1]["entriesUnused"], 1);
    let nc_ev = &r["alerts"][1]["evidence"][0];
    assert_eq!(
        nc_ev["ioc"]["description"],
        "Netcat backdoor - http://example.org/nc"
    );
}

#[test]
fn loki_filename_iocs_honour_false_positive_regexes() {
    let s = samples();
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("filename-iocs.txt");
    fs::write(
        &f,
        "# Credential theft tools\n\
         \\\\Temp\\\\mimikatz\\.exe;80\n\
         (?i)\\\\nc(-copy)?\\.(exe|bin)$;60;(?i)\\\\tools\\\\\n\
         # Engine-specific\n\
         \\\\(?=evil)x\\.exe;70\n",
    )
    .unwrap();
    let check = breachscan(&["bundle", "check", f.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stdout.contains("loki-filename-iocs"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains(&format!(
            "{}:5:1: file name regex not usable here",
            f.display()
        )),
        "{}",
        check.stdout
    );

    let out = dir.path().join("r.json");
    let (run, r) = scan_to(&f, &out, &s.join("evidence"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    // /tools/nc.exe is excluded by its false-positive regex; the copy under
    // /Users/bob is not.
    assert_eq!(
        hits(&r),
        vec![
            (
                "filename-iocs.txt:2".to_string(),
                "/Windows/Temp/mimikatz.exe".to_string()
            ),
            (
                "filename-iocs.txt:3".into(),
                "/Users/bob/nc-copy.bin".into()
            ),
        ]
    );
    let names: Vec<&str> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["alertDefinition"]["severity"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["High", "Medium"]);
}

#[test]
fn converted_bundles_scan_identically() {
    let s = samples();
    let dir = tempfile::tempdir().unwrap();
    let loki = dir.path().join("filename-iocs.txt");
    fs::write(
        &loki,
        "# Tools\n(?i)\\\\nc(-copy)?\\.(exe|bin)$;60;(?i)\\\\tools\\\\\n",
    )
    .unwrap();
    let inputs = [s.join("bundles/demo.json"), loki.clone()];
    let native = dir.path().join("native.json");
    let mut args = vec![
        "bundle",
        "convert",
        "--to",
        "native",
        "-o",
        native.to_str().unwrap(),
    ];
    args.extend(inputs.iter().map(|p| p.to_str().unwrap()));
    let run = breachscan(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);

    // Disabled and expired IOCs stay inactive after conversion.
    let check = breachscan(&["bundle", "check", native.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check
            .stdout
            .contains("14 IOCs: 12 active, 1 disabled, 1 expired"),
        "{}",
        check.stdout
    );

    let ev = s.join("evidence");
    let key = |r: &serde_json::Value| {
        let mut v: Vec<String> = r["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|a| {
                a["evidence"].as_array().unwrap().iter().map(move |e| {
                    format!(
                        "{}|{}|{}|{}|{}",
                        a["alertDefinition"],
                        e["ioc"],
                        e["field"],
                        e["location"]["path"],
                        e["file"]["sha256"]
                    )
                })
            })
            .collect();
        v.sort();
        v
    };
    let (_, converted) = scan_to(&native, &dir.path().join("a.json"), &ev, &[]);
    let (run, original) = scan_bundles(&[&inputs[0], &loki], &dir.path().join("b.json"), &ev, &[]);
    assert_eq!(run.code, 1);
    assert_eq!(key(&converted), key(&original));
    assert!(key(&converted).iter().any(|k| k.contains("nc-copy.bin")));
    assert!(
        !key(&converted)
            .iter()
            .any(|k| k.contains("filename-iocs.txt:2") && k.contains("/tools/nc.exe"))
    );
}

#[test]
fn defender_indicator_exports_json_and_csv() {
    let s = samples();
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("indicators.json");
    fs::write(
        &json,
        r#"{"@odata.context":"https://api.example/api/$metadata#Indicators","value":[
 {"id":"995","indicatorValue":"badfd7abb593877f67c784c4bc792342","indicatorType":"FileMd5","action":"AlertAndBlock","title":"Netcat","description":"nc used by actor","severity":"High","recommendedActions":"Isolate","mitreTechniques":["T1095"],"expirationTime":"2099-01-01T00:00:00Z"},
 {"id":"996","indicatorValue":"c2.example.net","indicatorType":"DomainName","action":"Alert","title":"Netcat","description":"nc used by actor","severity":"High","recommendedActions":"Isolate","mitreTechniques":["T1095"]},
 {"id":"997","indicatorValue":"203.0.113.9","indicatorType":"IpAddress","action":"Allowed","title":"Scanner"},
 {"id":"998","indicatorValue":"00112233445566778899aabbccddeeff00112233","indicatorType":"CertificateThumbprint","action":"Alert","title":"Cert"}
]}"#,
    )
    .unwrap();
    let csv = dir.path().join("indicators.csv");
    fs::write(
        &csv,
        "IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,Description,RecommendedActions,RbacGroups,Category,MitreTechniques,GenerateAlert\n\
         FileSha256,c0a0a75dffa1f37be863694bd5536fb940327932cf568d42e671705210379a89,,Alert,High,\"Mimikatz, build 2\",\"desc, with comma\",Reset creds,,CredentialAccess,T1003.001,TRUE\n\
         Url,https://dl.evil.com/x,,Block,Medium,Dropper,,,,,,TRUE\n",
    )
    .unwrap();
    let check = breachscan(&[
        "bundle",
        "check",
        json.to_str().unwrap(),
        csv.to_str().unwrap(),
    ]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check.stdout.contains("defender-indicators-json")
            && check.stdout.contains("defender-indicators-csv")
    );
    assert!(
        check.stdout.contains(&format!(
            "{}:4:2: value[2]: an allow-list indicator",
            json.display()
        )),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("value[3]: certificate thumbprints are not matched"),
        "{}",
        check.stdout
    );
    // Indicators sharing title and metadata share one alert definition.
    assert!(
        check.stdout.contains("merged: 3 alert definitions, 4 IOCs"),
        "{}",
        check.stdout
    );

    let (run, r) = scan_bundles(
        &[&json, &csv],
        &dir.path().join("r.json"),
        &s.join("evidence"),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    let a = &r["alerts"][0]["alertDefinition"];
    assert_eq!(a["name"], "Mimikatz, build 2");
    assert_eq!(a["description"], "desc, with comma");
    assert_eq!(a["mitreTechniques"][0], "T1003.001");
    assert_eq!(
        r["alerts"][1]["alertDefinition"]["recommendedAction"],
        "Isolate"
    );
    assert_eq!(
        hits(&r),
        vec![
            ("995".to_string(), "/Users/bob/nc-copy.bin".to_string()),
            ("995".into(), "/tools/nc.exe".into()),
            (
                "indicators.csv:2".into(),
                "/Windows/Temp/mimikatz.exe".into()
            ),
        ]
    );

    // A bad value is named by line and field.
    fs::write(
        &csv,
        fs::read_to_string(&csv)
            .unwrap()
            .replace("Url,https://dl.evil.com/x", "FileSha1,abc"),
    )
    .unwrap();
    let bad = breachscan(&["bundle", "check", csv.to_str().unwrap()]);
    assert_eq!(bad.code, 2);
    assert!(
        bad.stderr.contains(&format!(
            "{}:3:1: field \"indicatorValue\": a Sha1 is 40 hex digits",
            csv.display()
        )),
        "{}",
        bad.stderr
    );
}

#[test]
fn misp_events_become_alert_definitions_with_to_ids_honoured() {
    let s = samples();
    let dir = tempfile::tempdir().unwrap();
    let mimi = fs::read(s.join("evidence/Windows/Temp/mimikatz.exe")).unwrap();
    let nc = fs::read(s.join("evidence/tools/nc.exe")).unwrap();
    let event = serde_json::json!({"response": [{"Event": {
        "uuid": "5f1e0000-0000-4000-8000-000000000001",
        "info": "Operation Demo",
        "threat_level_id": "2",
        "Tag": [{"name": "misp-galaxy:mitre-attack-pattern=\"OS Credential Dumping - T1003\""}],
        "Attribute": [
            {"uuid": "a1", "type": "filename|sha256", "value": format!("mimi.exe|{}", sha256_hex(&mimi)), "to_ids": true, "comment": "dropper"},
            {"uuid": "a2", "type": "md5", "value": md5_hex(&nc), "to_ids": false},
            {"uuid": "a3", "type": "mutex", "value": "Global\\x", "to_ids": true},
            {"uuid": "a4", "type": "domain|ip", "value": "c2.example.net|203.0.113.7", "to_ids": true}
        ],
        "Object": [{"name": "file", "Attribute": [
            {"uuid": "o1", "type": "sha1", "value": sha1_hex(&nc), "to_ids": true}
        ]}]
    }}]});
    let misp = dir.path().join("event.json");
    fs::write(&misp, serde_json::to_vec_pretty(&event).unwrap()).unwrap();

    let check = breachscan(&["bundle", "check", misp.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stdout.contains(": misp "), "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("1 alert definitions, 4 IOCs (4 active), 2 entries not used"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains("Event[0].Attribute[1]: md5"),
        "{}",
        check.stdout
    );
    assert!(check.stdout.contains("to_ids is false"), "{}", check.stdout);
    assert!(
        check.stdout.contains("MISP type mutex is not matched"),
        "{}",
        check.stdout
    );
    let all = breachscan(&[
        "bundle",
        "check",
        "--all-attributes",
        misp.to_str().unwrap(),
    ]);
    assert!(
        all.stdout.contains("5 IOCs (5 active), 1 entries not used"),
        "{}",
        all.stdout
    );

    let (run, r) = scan_to(&misp, &dir.path().join("r.json"), &s.join("evidence"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let def = &r["alerts"][0]["alertDefinition"];
    assert_eq!(def["name"], "Operation Demo");
    assert_eq!(def["severity"], "Medium");
    assert_eq!(def["mitreTechniques"][0], "T1003");
    // The md5 is not to_ids, but the object's SHA-1 of the same file is.
    assert_eq!(
        hits(&r),
        vec![
            ("a1".to_string(), "/Windows/Temp/mimikatz.exe".to_string()),
            ("o1".into(), "/Users/bob/nc-copy.bin".into()),
            ("o1".into(), "/tools/nc.exe".into()),
        ]
    );
    let ev = r["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ioc"]["id"] == "a1")
        .unwrap()
        .clone();
    assert_eq!(ev["ioc"]["description"], "file name mimi.exe; dropper");
}

#[test]
fn stix_indicators_with_patterns_and_indicated_malware() {
    let s = samples();
    let dir = tempfile::tempdir().unwrap();
    let mimi = fs::read(s.join("evidence/Windows/Temp/mimikatz.exe")).unwrap();
    let stix = serde_json::json!({
    "type": "bundle", "id": "bundle--1", "objects": [
        {"type": "malware", "spec_version": "2.1", "id": "malware--m1", "name": "Mimikatz", "description": "credential dumper",
         "malware_types": ["tool"], "external_references": [{"source_name": "mitre-attack", "external_id": "T1003.001"}]},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--i1", "name": "mimikatz hashes", "pattern_type": "stix",
         "pattern": format!("[file:hashes.'SHA-256' = '{}'] OR [file:name LIKE 'invoice%.exe']", sha256_hex(&mimi)),
         "valid_from": "2020-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--i2", "pattern_type": "stix",
         "pattern": "[file:name = 'nc.exe' AND file:size = 71]", "valid_from": "2020-01-01T00:00:00Z"},
        {"type": "indicator", "spec_version": "2.1", "id": "indicator--i3", "pattern_type": "stix", "name": "old",
         "pattern": "[file:name = 'notes.txt']", "valid_from": "2010-01-01T00:00:00Z", "valid_until": "2011-01-01T00:00:00Z"},
        {"type": "relationship", "spec_version": "2.1", "id": "relationship--r1", "relationship_type": "indicates",
         "source_ref": "indicator--i1", "target_ref": "malware--m1"}
    ]});
    let path = dir.path().join("bundle.stix2");
    fs::write(&path, serde_json::to_vec_pretty(&stix).unwrap()).unwrap();
    let check = breachscan(&["bundle", "check", path.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(check.stdout.contains(": stix-2.1 "), "{}", check.stdout);
    assert!(
        check
            .stdout
            .contains("3 IOCs: 2 active, 0 disabled, 1 expired"),
        "{}",
        check.stdout
    );
    assert!(
        check
            .stdout
            .contains("AND of 2 comparisons cannot be one IOC"),
        "{}",
        check.stdout
    );

    let (run, r) = scan_to(&path, &dir.path().join("r.json"), &s.join("evidence"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let def = &r["alerts"][0]["alertDefinition"];
    assert_eq!(def["name"], "Mimikatz");
    assert_eq!(def["mitreTechniques"][0], "T1003.001");
    assert_eq!(
        hits(&r),
        vec![
            (
                "indicator--i1/1".to_string(),
                "/Windows/Temp/mimikatz.exe".to_string()
            ),
            (
                "indicator--i1/2".into(),
                "/Users/alice/Downloads/invoice.pdf.exe".into()
            ),
        ]
    );
}

#[test]
fn openioc_items_become_iocs() {
    let s = samples();
    let dir = tempfile::tempdir().unwrap();
    let nc = fs::read(s.join("evidence/tools/nc.exe")).unwrap();
    let ioc = format!(
        r#"<?xml version="1.0" encoding="utf-8"?>
<OpenIOC xmlns="http://openioc.org/schemas/OpenIOC_1.1" id="ioc-demo">
  <metadata><short_description>NETCAT (UTILITY)</short_description><description>Technique(s): T1095.</description></metadata>
  <criteria>
    <Indicator operator="OR" id="top">
      <IndicatorItem id="i-md5" condition="is" negate="false"><Context document="FileItem" search="FileItem/Md5sum" type="mir"/><Content type="md5">{}</Content></IndicatorItem>
      <IndicatorItem id="i-path" condition="ends-with"><Context document="fileWriteEvent" search="fileWriteEvent/fullPath" type="event"/><Content type="string">\Downloads\invoice.pdf.exe</Content></IndicatorItem>
      <IndicatorItem id="i-neg" condition="is" negate="true"><Context document="FileItem" search="FileItem/FileName" type="mir"/><Content type="string">x.exe</Content></IndicatorItem>
    </Indicator>
  </criteria>
</OpenIOC>"#,
        md5_hex(&nc)
    );
    let path = dir.path().join("netcat.ioc");
    fs::write(&path, ioc).unwrap();
    let check = breachscan(&["bundle", "check", path.to_str().unwrap()]);
    assert_eq!(check.code, 0, "{}", check.stderr);
    assert!(
        check
            .stdout
            .contains("1 alert definitions, 2 IOCs (2 active), 1 entries not used"),
        "{}",
        check.stdout
    );
    assert!(
        check.stdout.contains(&format!(
            "{}:8:7: id \"i-neg\": FileItem/FileName is \"x.exe\": negated items cannot be an IOC",
            path.display()
        )),
        "{}",
        check.stdout
    );
    let (run, r) = scan_to(&path, &dir.path().join("r.json"), &s.join("evidence"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(
        r["alerts"][0]["alertDefinition"]["mitreTechniques"][0],
        "T1095"
    );
    assert_eq!(
        hits(&r),
        vec![
            ("i-md5".to_string(), "/Users/bob/nc-copy.bin".to_string()),
            ("i-md5".into(), "/tools/nc.exe".into()),
            (
                "i-path".into(),
                "/Users/alice/Downloads/invoice.pdf.exe".into()
            ),
        ]
    );
}
