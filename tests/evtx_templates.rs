//! Event logs in the form Windows writes them (template instances, typed
//! values, EventData as a nested fragment, templates reused by offset),
//! through the real binary: records are screened from their BinXML before
//! anything is rendered, and this checks the screening never loses a hit.
//! Every IOC sits in a different kind of value (UTF-16 and ANSI strings,
//! binary, an integer, a string array, a template's static text, static text
//! and a substitution in one value), among filler that uses the same
//! templates; the results must equal a full parse's.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde_json::json;
use support::evtx_templates::{Data, Record, Value as V, write_templated_evtx};
use support::*;

const SHA1: &str = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b";

fn records() -> Vec<Record> {
    let sha1: Vec<u8> = (0..20)
        .map(|i| u8::from_str_radix(&SHA1[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    let process = |id, image: &str| {
        Record::new(
            id,
            1,
            &[
                (
                    "UtcTime",
                    Data::Sub(V::Str("2024-05-01 10:00:00.123".into())),
                ),
                ("ProcessGuid", Data::Sub(V::Guid([7; 16]))),
                ("ProcessId", Data::Sub(V::U32(4242))),
                ("Image", Data::Sub(V::Str(image.into()))),
                ("User", Data::Sub(V::Null)),
            ],
        )
    };
    let mut v = vec![
        process(1, r"C:\Tools\mimikatz.exe"),
        Record::new(
            2,
            3033,
            &[
                (
                    "FileName",
                    Data::Sub(V::Str(r"C:\Windows\notepad.exe".into())),
                ),
                ("FileHash", Data::Sub(V::Binary(sha1.clone()))),
            ],
        ),
        Record::new(
            3,
            22,
            &[
                (
                    "QueryName",
                    Data::Sub(V::Ansi("c2.evil-domain.example".into())),
                ),
                ("QueryStatus", Data::Sub(V::U32(0))),
            ],
        ),
        Record::new(
            4,
            3,
            &[
                ("DestinationIp", Data::Static("203.0.113.9".into())),
                ("DestinationPort", Data::Sub(V::U32(443))),
            ],
        ),
        Record::new(
            5,
            1,
            &[(
                "CommandLine",
                Data::Mixed(r"run C:\Temp\ev".into(), V::Str("il-tool.exe -x".into())),
            )],
        ),
        Record::new(6, 4688, &[("ProcessName", Data::Sub(V::U32(31337)))]),
        Record::new(
            7,
            11,
            &[(
                "TargetFilename",
                Data::Sub(V::StrArray(vec!["a.txt".into(), "payload.dll".into()])),
            )],
        ),
        Record::new(
            8,
            4624,
            &[
                ("TargetUserSid", Data::Sub(V::Sid(5, vec![21, 7, 1001]))),
                ("LogonGuid", Data::Sub(V::Guid([1; 16]))),
                (
                    "IpAddress",
                    Data::Sub(V::Str("::ffff:198.51.100.23".into())),
                ),
                ("LogonId", Data::Sub(V::Hex64(0x3e7))),
                ("Written", Data::Sub(V::FileTime(133_000_000_000_000_000))),
            ],
        ),
    ];
    // Filler on the same templates (now referenced by offset), then the
    // first shape again holding an IOC.
    for i in 0..300u64 {
        v.push(process(
            100 + i,
            &format!(r"C:\Windows\System32\svc{i}.exe"),
        ));
        v.push(Record::new(
            1000 + i,
            3033,
            &[
                ("FileName", Data::Sub(V::Str(format!(r"C:\x\{i}.dll")))),
                ("FileHash", Data::Sub(V::Binary(vec![i as u8; 20]))),
            ],
        ));
    }
    v.push(process(9, r"D:\loot\MIMIKATZ.EXE"));
    v
}

/// The IOCs; `with_regex` adds one with no necessary literal, so that every
/// record is rendered and matched (the full parse to compare with). A
/// digits-only IOC is left out: it could be part of any time value, which
/// makes every record render, and the screening would go untested.
fn bundle(dir: &Path, with_regex: bool) -> std::path::PathBuf {
    let ioc = |id: &str, t: &str, v: &str, f: &str| json!({"id": id, "alertDefinitionId": "ad", "type": t, "value": v, "detectionFunction": f});
    let mut iocs = vec![
        ioc("name", "FileName", "mimikatz.exe", "Equals"),
        ioc("sha1", "Sha1", SHA1, "Equals"),
        ioc("domain", "DomainName", "evil-domain.example", "Equals"),
        ioc("ip", "IpAddress", "203.0.113.0/24", "Equals"),
        ioc("mixed", "FileName", "evil-tool.exe", "Equals"),
        ioc("array", "FileName", "payload.dll", "EndWith"),
        ioc("mapped", "IpAddress", "198.51.100.23", "Equals"),
    ];
    if with_regex {
        // No necessary literal: every record is rendered and matched.
        iocs.push(ioc("rx", "FileName", r"^[0-9a-f]{41}$", "Regex"));
    }
    let b = json!({
        "alertDefinitions": [{"id": "ad", "name": "templated", "severity": "High"}],
        "iocs": iocs
    });
    let p = dir.join(if with_regex { "b-rx.json" } else { "b.json" });
    fs::write(&p, b.to_string()).unwrap();
    p
}

#[test]
fn an_integer_value_is_matched_as_its_decimal_text() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("Security.evtx");
    fs::write(&log, write_templated_evtx(&records())).unwrap();
    let b = dir.path().join("n.json");
    let ioc = json!({"id": "number", "alertDefinitionId": "ad", "type": "FileName",
        "value": "31337", "detectionFunction": "Contains"});
    fs::write(
        &b,
        json!({"alertDefinitions": [{"id": "ad", "name": "n", "severity": "Low"}], "iocs": [ioc]})
            .to_string(),
    )
    .unwrap();
    let (run, report) = scan_to(&b, &dir.path().join("r.json"), &log, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let want: BTreeSet<_> = [("number".to_string(), 6, "ProcessName".to_string())].into();
    assert_eq!(record_hits(&report, None), want);
}

#[test]
fn screening_templated_records_loses_no_hit() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("Security.evtx");
    let recs = records();
    fs::write(&log, write_templated_evtx(&recs)).unwrap();

    let (run, screened) = scan_to(
        &bundle(dir.path(), false),
        &dir.path().join("r1.json"),
        &log,
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(screened["errors"], json!([]), "the crate reads the fixture");
    assert_eq!(screened["sources"][0]["recordsScanned"], recs.len() as u64);
    let (run, full) = scan_to(
        &bundle(dir.path(), true),
        &dir.path().join("r2.json"),
        &log,
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);

    let got = record_hits(&screened, None);
    assert_eq!(
        got,
        record_hits(&full, None),
        "screening changed the results"
    );
    let must: BTreeSet<(String, u64, String)> = [
        ("name", 1, "Image"),
        ("name", 9, "Image"),
        ("sha1", 2, "FileHash"),
        ("domain", 3, "QueryName"),
        ("ip", 4, "DestinationIp"),
        ("mixed", 5, "CommandLine"),
        ("mapped", 8, "IpAddress"),
    ]
    .into_iter()
    .map(|(i, r, f)| (i.to_string(), r, f.to_string()))
    .collect();
    assert!(
        must.is_subset(&got),
        "missing: {:?}",
        must.difference(&got).collect::<Vec<_>>()
    );
}
