//! Registry hives as evidence: hives written by `support::hive` in a
//! Windows-shaped folder, scanned by the release binary with a bundle of
//! RegistryKey, FilePath, FileName and DomainName IOCs.

mod support;

use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use support::hive::{Key, binary, dword, expand_sz, multi_sz, sz, write_hive};
use support::scan_to;

const RUN: &str = r"Microsoft\Windows\CurrentVersion\Run";

fn software() -> Key {
    Key::new("CMI-CreateHive{199DAFC2-6F16-4946-BF90-5A3FC3A60902}")
        .at(
            RUN,
            Key::new("Run")
                .value(sz(
                    "Updater",
                    r#""C:\ProgramData\svc\beacon.exe" -k netsvcs"#,
                ))
                .value(sz(
                    "OneDrive",
                    r"C:\Program Files\OneDrive\OneDrive.exe /background",
                ))
                .value(sz("Loader", "rundll32.exe evil.sys,Start")),
        )
        .at(
            r"Microsoft\Windows\CurrentVersion\Internet Settings",
            Key::new("Internet Settings")
                .value(sz("ProxyServer", "c2.evil.example"))
                .value(sz("ProxyOverride", "10.66.0.7:8080;<local>"))
                .value(sz(
                    "ProxyList",
                    "http=files.evil.example:3128;ftp=notevil.example",
                ))
                .value(expand_sz(
                    "AutoConfigURL",
                    "https://cdn.evil.example/proxy.pac",
                ))
                .value(dword("ProxyEnable", 1)),
        )
        // Five subkeys: an `ri` index of `li` lists.
        .at(r"Classes\a", Key::new("a"))
        .at(r"Classes\b", Key::new("b"))
        .at(r"Classes\c", Key::new("c"))
        .at(r"Classes\d", Key::new("d"))
        .at(
            r"Classes\ünïcode",
            Key::new("ünïcode").value(multi_sz("Paths", &["x", r"D:\tools\evil.sys"])),
        )
        // Big data (`db`) past 16,344 bytes.
        .at(
            r"Vendor\Blob",
            Key::new("Blob").value(binary("Data", vec![0xab; 40_000])),
        )
}

fn system() -> Key {
    let service = |image: &str| Key::new("svc").value(expand_sz("ImagePath", image));
    Key::new("ROOT")
        .at("Select", Key::new("Select").value(dword("Current", 2)))
        .at(r"ControlSet001\Services\good", service(r"C:\good.sys"))
        .at(
            r"ControlSet002\Services\evilsvc",
            service(r"%SystemRoot%\evil.sys"),
        )
        .at(r"ControlSet002\Services\good", service(r"C:\good.sys"))
}

fn ntuser() -> Key {
    Key::new("ROOT").at(
        r"Software\Microsoft\Windows\CurrentVersion\RunOnce",
        Key::new("RunOnce").value(sz("x", "powershell -nop -enc SQBFAFgA")),
    )
}

fn bundle(dir: &Path) -> std::path::PathBuf {
    let ioc = |id: &str, t: &str, v: &str, f: &str| json!({"id": id, "alertDefinitionId": "reg", "type": t, "value": v, "detectionFunction": f});
    let b = json!({
        "alertDefinitions": [{"id": "reg", "name": "registry", "severity": "High"}],
        "iocs": [
            ioc("run-value", "RegistryKey", r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run\Updater", "Equals"),
            ioc("svc-key", "RegistryKey", r"HKEY_LOCAL_MACHINE\SYSTEM\CurrentControlSet\Services\evilsvc", "Equals"),
            ioc("good-ccs", "RegistryKey", r"HKLM\SYSTEM\CurrentControlSet\Services\good", "Equals"),
            ioc("runonce", "RegistryKey", r"HKCU\Software\Microsoft\Windows\CurrentVersion\RunOnce", "StartWith"),
            ioc("beacon", "FilePath", r"C:\ProgramData\svc\beacon.exe", "Equals"),
            ioc("evil-sys", "FileName", "evil.sys", "Equals"),
            ioc("domain", "DomainName", "evil.example", "Equals"),
            ioc("proxy", "IpAddress", "10.66.0.0/16", "Equals"),
            ioc("nothing", "RegistryKey", r"HKLM\SOFTWARE\Nowhere", "Equals"),
        ]
    });
    let p = dir.join("bundle.json");
    fs::write(&p, b.to_string()).unwrap();
    p
}

/// (IOC id, field, key path as shown, matched value) of registry evidence.
fn registry_hits(report: &Value) -> Vec<(String, String, String, String)> {
    let mut out: Vec<_> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .filter(|e| e["kind"] == "registry")
        .map(|e| {
            let r = &e["registry"];
            let path = match r["value"]["name"].as_str() {
                Some(n) => format!("{}\\{n}", r["key"].as_str().unwrap()),
                None => r["key"].as_str().unwrap().to_string(),
            };
            (
                e["ioc"]["id"].as_str().unwrap().to_string(),
                e["field"].as_str().unwrap().to_string(),
                path,
                e["matchedValue"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

/// (kind, message) of every listed problem.
fn problems(report: &Value) -> Vec<(String, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let s = |k: &str| e[k].as_str().unwrap().to_string();
            (s("kind"), s("message"))
        })
        .collect()
}

/// Scans `dir/drive` with a bundle of `iocs` (of alert definition `reg`),
/// which must hit.
fn scan_drive(dir: &Path, iocs: Value) -> Value {
    let b = json!({
        "alertDefinitions": [{"id": "reg", "name": "registry", "severity": "High"}],
        "iocs": iocs,
    });
    let bundle = dir.join("b.json");
    fs::write(&bundle, b.to_string()).unwrap();
    let (run, report) = scan_to(&bundle, &dir.join("r.json"), &dir.join("drive"), &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    report
}

/// `breachscan hive dump [EXTRA…] HIVE`: its live keys and values
/// counted (a peer reads no deleted ones), and what it said on stderr.
fn live_items(hive: &Path, extra: &[&str]) -> (usize, usize, String) {
    let mut args = vec!["hive", "dump"];
    args.extend_from_slice(extra);
    args.push(hive.to_str().unwrap());
    let run = support::breachscan(&args);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let items: Vec<Value> = run
        .stdout
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|i| i.get("deleted").is_none())
        .collect();
    let values = items.iter().filter(|i| i.get("value").is_some()).count();
    (items.len() - values, values, run.stderr)
}

fn windows_folder(dir: &Path) -> std::path::PathBuf {
    let root = dir.join("drive");
    let config = root.join("Windows/System32/config");
    fs::create_dir_all(&config).unwrap();
    fs::create_dir_all(root.join("Users/bob")).unwrap();
    let sw = r"\??\C:\Windows\System32\config\SOFTWARE";
    fs::write(
        config.join("SOFTWARE"),
        write_hive(&software(), sw, false).0,
    )
    .unwrap();
    let sys = r"\??\C:\Windows\System32\config\SYSTEM";
    fs::write(config.join("SYSTEM"), write_hive(&system(), sys, false).0).unwrap();
    let nt = r"\??\C:\Users\bob\ntuser.dat";
    fs::write(
        root.join("Users/bob/NTUSER.DAT"),
        write_hive(&ntuser(), nt, false).0,
    )
    .unwrap();
    root
}

#[test]
fn keys_values_and_their_data_are_matched_where_iocs_name_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = windows_folder(dir.path());
    let (run, report) = scan_to(&bundle(dir.path()), &dir.path().join("r.json"), &root, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let hklm_run = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Run";
    let settings = r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Internet Settings";
    let want = vec![
        (
            "beacon",
            "data",
            format!(r"{hklm_run}\Updater"),
            r#""C:\ProgramData\svc\beacon.exe" -k netsvcs"#.to_string(),
        ),
        (
            "domain",
            "data",
            format!(r"{settings}\AutoConfigURL"),
            "https://cdn.evil.example/proxy.pac".into(),
        ),
        (
            "domain",
            "data",
            format!(r"{settings}\ProxyList"),
            "http=files.evil.example:3128;ftp=notevil.example".into(),
        ),
        (
            "domain",
            "data",
            format!(r"{settings}\ProxyServer"),
            "c2.evil.example".into(),
        ),
        (
            "evil-sys",
            "data",
            r"HKLM\SOFTWARE\Classes\ünïcode\Paths".into(),
            r"D:\tools\evil.sys".into(),
        ),
        (
            "evil-sys",
            "data",
            format!(r"{hklm_run}\Loader"),
            "rundll32.exe evil.sys,Start".into(),
        ),
        (
            "evil-sys",
            "data",
            r"HKLM\SYSTEM\CurrentControlSet\Services\evilsvc\ImagePath".into(),
            r"%SystemRoot%\evil.sys".into(),
        ),
        (
            "good-ccs",
            "key",
            r"HKLM\SYSTEM\CurrentControlSet\Services\good".into(),
            r"HKLM\SYSTEM\CurrentControlSet\Services\good".into(),
        ),
        (
            "proxy",
            "data",
            format!(r"{settings}\ProxyOverride"),
            "10.66.0.7:8080;<local>".into(),
        ),
        (
            "run-value",
            "value",
            format!(r"{hklm_run}\Updater"),
            format!(r"{hklm_run}\Updater"),
        ),
        (
            "runonce",
            "key",
            r"HKCU\Software\Microsoft\Windows\CurrentVersion\RunOnce".into(),
            r"HKCU\Software\Microsoft\Windows\CurrentVersion\RunOnce".into(),
        ),
        (
            "runonce",
            "value",
            r"HKCU\Software\Microsoft\Windows\CurrentVersion\RunOnce\x".into(),
            r"HKCU\Software\Microsoft\Windows\CurrentVersion\RunOnce\x".into(),
        ),
        (
            "svc-key",
            "key",
            r"HKLM\SYSTEM\CurrentControlSet\Services\evilsvc".into(),
            r"HKLM\SYSTEM\CurrentControlSet\Services\evilsvc".into(),
        ),
    ];
    let want: Vec<(String, String, String, String)> = want
        .into_iter()
        .map(|(a, b, c, d)| (a.to_string(), b.to_string(), c, d))
        .collect();
    assert_eq!(registry_hits(&report), want);

    // The evidence carries where the key is stored, its type, data, time.
    let ev = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ioc"]["id"] == "svc-key")
        .unwrap();
    assert_eq!(
        ev["registry"]["storedKey"],
        r"HKLM\SYSTEM\ControlSet002\Services\evilsvc"
    );
    assert_eq!(ev["registry"]["hive"], r"HKLM\SYSTEM");
    assert_eq!(ev["registry"]["lastWritten"], "2024-01-02T03:04:05Z");
    assert_eq!(ev["location"]["path"], "/Windows/System32/config/SYSTEM");
    assert!(ev["file"]["sha256"].is_string(), "the hive's digests");
    let ev = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["ioc"]["id"] == "beacon")
        .unwrap();
    assert_eq!(ev["registry"]["value"]["type"], "REG_SZ");
    assert!(problems(&report).is_empty(), "{:?}", problems(&report));
}

#[test]
fn damaged_cells_are_listed_and_the_rest_of_the_hive_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drive");
    fs::create_dir_all(&root).unwrap();
    let (mut bytes, layout) = write_hive(&software(), r"\??\C:\x\SOFTWARE", true);
    // The Classes key's subkey list now points into the middle of nowhere,
    // and the Internet Settings value list claims a million values.
    let at = |off: u32| 4096 + off as usize;
    let classes = layout.keys["Classes"];
    bytes[at(classes) + 4 + 28..at(classes) + 4 + 32]
        .copy_from_slice(&0x7fff_fff0u32.to_le_bytes());
    let settings = layout.keys[r"Microsoft\Windows\CurrentVersion\Internet Settings"];
    bytes[at(settings) + 4 + 36..at(settings) + 4 + 40]
        .copy_from_slice(&1_000_000u32.to_le_bytes());
    // And `Vendor` lists itself as its own subkey: a cycle.
    let vendor = layout.keys["Vendor"];
    let list = layout.subkey_lists["Vendor"];
    bytes[at(list) + 4 + 4..at(list) + 4 + 8].copy_from_slice(&vendor.to_le_bytes());
    fs::write(root.join("SOFTWARE"), &bytes).unwrap();
    let (run, report) = scan_to(&bundle(dir.path()), &dir.path().join("r.json"), &root, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let hits = registry_hits(&report);
    // The Run key and the proxy settings are still read.
    assert!(hits.iter().any(|h| h.0 == "run-value"), "{hits:?}");
    assert!(hits.iter().any(|h| h.0 == "domain"), "{hits:?}");
    let listed = problems(&report);
    let kinds = |k: &str| listed.iter().filter(|p| p.0 == k).count();
    assert!(kinds("hiveLogsNotApplied") == 1, "{listed:?}");
    assert!(
        listed
            .iter()
            .any(|p| p.0 == "corruptHive" && p.1.contains("subkey list")),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|p| p.0 == "corruptHive" && p.1.contains("claims 1000000 values")),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|p| p.0 == "corruptHive" && p.1.contains("cycle")),
        "{listed:?}"
    );
}

#[test]
fn hostile_hives_never_panic_or_hang() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drive");
    fs::create_dir_all(&root).unwrap();
    let (good, _) = write_hive(&software(), r"\??\C:\x\SOFTWARE", false);
    let mut rng = support::Rng(0x5eed_4e6e);
    for i in 0..40 {
        let mut b = good.clone();
        match i % 3 {
            // Truncated anywhere.
            0 => b.truncate(4096 + rng.below(good.len() - 4096)),
            // Random bytes anywhere in the bins.
            _ => {
                for _ in 0..64 {
                    let at = 4096 + rng.below(good.len() - 4096);
                    b[at] = rng.next() as u8;
                }
            }
        }
        fs::write(root.join(format!("h{i:02}.hive")), b).unwrap();
    }
    let (run, report) = scan_to(&bundle(dir.path()), &dir.path().join("r.json"), &root, &[]);
    assert!(matches!(run.code, 0 | 1), "{}", run.stderr);
    assert!(
        !problems(&report)
            .iter()
            .any(|p| p.1.contains("internal error")),
        "{:?}",
        problems(&report)
    );
}

/// Real hives (`samples/hives`, from regipy's test data): every key and
/// value is read, as many as regipy reads, with no damage, and a scan finds
/// the user's Run keys.
#[test]
fn real_hives_read_whole_as_a_peer_reads_them() {
    let dir = tempfile::tempdir().unwrap();
    // (file, keys, values) as regipy 6.5.0 counts them.
    let peers = [
        ("NTUSER.DAT", 1812, 4094),
        ("SAM", 65, 70),
        ("amcache.hve", 2105, 17539),
    ];
    for (name, keys, values) in peers {
        let path = dir.path().join(name);
        let gz = support::samples().join(format!("hives/{name}.gz"));
        fs::write(&path, support::gunzip(&gz)).unwrap();
        let (k, v, said) = live_items(&path, &[]);
        assert_eq!((k, v), (keys, values), "{name}: {said}");
    }
    let user = dir.path().join("drive/Users/alice");
    fs::create_dir_all(&user).unwrap();
    fs::rename(dir.path().join("NTUSER.DAT"), user.join("NTUSER.DAT")).unwrap();
    let report = scan_drive(
        dir.path(),
        json!([{"id": "run", "alertDefinitionId": "reg", "type": "RegistryKey",
                "value": r"HKEY_CURRENT_USER\Software\Microsoft\Windows\CurrentVersion\Run",
                "detectionFunction": "StartWith"}]),
    );
    let run_key = r"HKCU\Software\Microsoft\Windows\CurrentVersion\Run";
    let want: Vec<(String, String, String, String)> = [
        ("key", run_key.to_string()),
        ("value", format!(r"{run_key}\Sidebar")),
        ("key", format!("{run_key}Once")),
    ]
    .into_iter()
    .map(|(f, p)| ("run".to_string(), f.to_string(), p.clone(), p))
    .collect::<std::collections::BTreeSet<_>>()
    .into_iter()
    .collect();
    assert_eq!(registry_hits(&report), want);
}

/// Amcache (the real sample): a program's SHA-1 (`FileId` is `0000` and
/// the SHA-1), path and name are found, though the program is not on disk,
/// as `executed` evidence that gathers the program's fields, in both the
/// Windows 10 layout and the older `File` one.
#[test]
fn amcache_names_programs_that_ran_by_sha1_and_path() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drive/Windows/appcompat/Programs");
    fs::create_dir_all(&root).unwrap();
    let gz = support::samples().join("hives/amcache.hve.gz");
    fs::write(root.join("Amcache.hve"), support::gunzip(&gz)).unwrap();
    let report = scan_drive(
        dir.path(),
        json!([
            {"id": "sha1", "alertDefinitionId": "reg", "type": "Sha1",
             "value": "186FEF64C415AF7D11986C7254DB81EF65549EBC", "detectionFunction": "Equals"},
            {"id": "name", "alertDefinitionId": "reg", "type": "FileName",
             "value": "jetlauncher64c.exe", "detectionFunction": "Equals"},
            {"id": "old", "alertDefinitionId": "reg", "type": "FilePath",
             "value": r"C:\Users\user\AppData\Local\Microsoft\OneDrive\17.3.6943.0625\FileSyncFAL.dll",
             "detectionFunction": "Equals"},
            {"id": "old-sha1", "alertDefinitionId": "reg", "type": "Sha1",
             "value": "818b581a471c1c6833839d35a9d6f3544f6a9c92", "detectionFunction": "Equals"},
        ]),
    );
    let evidence: Vec<&Value> = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    // The program's values are matched as the program, not one by one.
    assert!(
        evidence.iter().all(|e| e["kind"] == "executed"),
        "{evidence:?}"
    );
    let of = |id: &str| {
        evidence
            .iter()
            .filter(|e| e["ioc"]["id"] == id)
            .map(|e| (e["field"].as_str().unwrap(), &e["executed"]))
            .collect::<Vec<_>>()
    };
    let key =
        r"Amcache.hve\Root\InventoryApplicationFile\000004495fb538f070efc58b28b096aecca267e28ead";
    // Both layouts record this program.
    let sha1 = of("sha1");
    let sources: Vec<_> = sha1
        .iter()
        .map(|(_, p)| p["source"].as_str().unwrap())
        .collect();
    assert_eq!(sources, ["amcache-file", "amcache"], "{sha1:?}");
    let (field, p) = sha1[1];
    assert_eq!(field, "sha1");
    assert_eq!(p["source"], "amcache");
    assert_eq!(p["key"], key);
    assert_eq!(
        p["path"],
        r"c:\users\user\appdata\local\jetbrains\installations\dotpeek08\jetlauncher64c.exe"
    );
    assert_eq!(p["name"], "jetlauncher64c.exe");
    assert_eq!(p["size"], 0x7fac0);
    assert_eq!(p["lastWritten"], "2017-08-03T11:34:09.4825597Z");
    let name = of("name");
    assert!(
        name.iter()
            .any(|(f, p)| *f == "fileName" && p["key"] == key),
        "{name:?}"
    );
    // The older layout: path by value 15, SHA-1 by value 101.
    for id in ["old", "old-sha1"] {
        let found = of(id);
        assert_eq!(found.len(), 1, "{id}: {found:?}");
        assert_eq!(found[0].1["source"], "amcache-file");
        assert_eq!(
            found[0].1["sha1"],
            "818b581a471c1c6833839d35a9d6f3544f6a9c92"
        );
        assert!(
            found[0].1["path"]
                .as_str()
                .unwrap()
                .ends_with("FileSyncFAL.dll")
        );
    }
}

/// A user hive on disk that is dirty at sequence 10, the bins number of
/// its newer state, and the pages that differ: the newer state adds
/// `Run\Updater` (a `beacon` hit), which only the logs hold.
fn dirty_ntuser() -> (Vec<u8>, u32, Vec<support::hive::Page>) {
    use support::hive::dirty_pages;
    let before = ntuser();
    let after = ntuser().at(
        r"Software\Microsoft\Windows\CurrentVersion\Run",
        Key::new("Run")
            .value(sz("Updater", r"C:\ProgramData\svc\beacon.exe"))
            // Enough to grow the hive bins by a page.
            .value(binary("Blob", vec![0x11; 6000])),
    );
    let recorded = r"\??\C:\Users\bob\ntuser.dat";
    let (mut old, _) = write_hive(&before, recorded, false);
    let (new, _) = write_hive(&after, recorded, false);
    // On disk: the old hive, dirty at sequence 10. Windows keeps the root
    // cell where it is; this writer puts it last, so the base block names
    // the new root (the old bins then read as damaged until replayed).
    old[36..40].copy_from_slice(&new[36..40]);
    old[4..8].copy_from_slice(&11u32.to_le_bytes());
    old[8..12].copy_from_slice(&10u32.to_le_bytes());
    let bins = u32::from_le_bytes(new[40..44].try_into().unwrap());
    let pages = dirty_pages(&old, &new);
    assert!(pages.len() >= 2, "the change spans pages");
    (old, bins, pages)
}

/// A dirty hive whose last changes are only in its logs: the scan applies
/// `.LOG1` then `.LOG2` in sequence (in memory; the files are not
/// touched), finds the key they add, and says so; a log whose entries
/// break off is applied up to the break and the break is listed.
#[test]
fn transaction_logs_beside_a_dirty_hive_are_applied_in_memory() {
    use support::hive::write_log;
    let dir = tempfile::tempdir().unwrap();
    let bundle = bundle(dir.path());
    let (old, bins, pages) = dirty_ntuser();
    let (first, rest) = pages.split_at(1);
    let case = |name: &str, log1: Vec<u8>, log2: Vec<u8>| {
        let user = dir.path().join(name).join("Users/bob");
        fs::create_dir_all(&user).unwrap();
        fs::write(user.join("NTUSER.DAT"), &old).unwrap();
        fs::write(user.join("ntuser.dat.LOG1"), &log1).unwrap();
        fs::write(user.join("ntuser.dat.LOG2"), &log2).unwrap();
        let report_path = dir.path().join(format!("{name}.json"));
        let (run, report) = scan_to(&bundle, &report_path, &dir.path().join(name), &[]);
        assert!(matches!(run.code, 0 | 1), "{}", run.stderr);
        // Evidence is never written: the hive is as it was.
        assert_eq!(fs::read(user.join("NTUSER.DAT")).unwrap(), old);
        report
    };
    // LOG2 holds the later entry; an old entry (5) is skipped.
    let report = case(
        "whole",
        write_log(
            &old,
            &[(5, bins, rest.to_vec()), (10, bins, first.to_vec())],
        ),
        write_log(&old, &[(11, bins, rest.to_vec())]),
    );
    let hits = registry_hits(&report);
    assert!(
        hits.iter()
            .any(|h| h.0 == "beacon" && h.2.ends_with(r"Run\Updater")),
        "{hits:?}"
    );
    let listed = problems(&report);
    assert!(
        listed.iter().any(|p| p.0 == "hiveLogsApplied"
            && p.1
                .contains("1 from ntuser.dat.LOG1, 1 from ntuser.dat.LOG2")),
        "{listed:?}"
    );
    // LOG2 jumps from 10 to 12: entry 10 is applied, the rest is not.
    let report = case(
        "gap",
        write_log(&old, &[(10, bins, first.to_vec())]),
        write_log(&old, &[(12, bins, rest.to_vec())]),
    );
    let listed = problems(&report);
    assert!(
        listed.iter().any(|p| p.0 == "hiveLogsApplied"
            && p.1.contains("log entry 12 follows 10: entries missing")),
        "{listed:?}"
    );
    // A log whose entry hash is wrong is not applied at all.
    let mut bad = write_log(&old, &[(10, bins, pages.clone())]);
    bad[512 + 24] ^= 1;
    let report = case("bad-hash", bad, Vec::new());
    let listed = problems(&report);
    assert!(
        listed
            .iter()
            .any(|p| p.0 == "hiveLogsNotApplied" && p.1.contains("hashes do not match")),
        "{listed:?}"
    );
    assert!(!registry_hits(&report).iter().any(|h| h.0 == "beacon"));
}

/// A real dirty hive and its log (regipy's test data): the log's 23
/// entries are applied, giving the keys and values regipy's own recovery
/// gives; without the log, the hive's stale state.
#[test]
fn a_real_transaction_log_is_replayed_as_a_peer_replays_it() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["transactions_NTUSER.DAT", "transactions_ntuser.dat.log1"] {
        let gz = support::samples().join(format!("hives/{name}.gz"));
        fs::write(dir.path().join(name), support::gunzip(&gz)).unwrap();
    }
    let hive = dir.path().join("transactions_NTUSER.DAT");
    let (keys, values, said) = live_items(&hive, &[]);
    assert_eq!((keys, values), (3105, 4695), "{said}");
    assert!(said.contains("applied 23 log entries"), "{said}");
    let (keys, values, _) = live_items(&hive, &["--no-logs"]);
    assert_eq!((keys, values), (2590, 4119));
}

/// A key deleted as Windows deletes one (its cells freed, not wiped, and
/// its parent no longer listing it) is recovered with its value, named
/// through its live parent and marked deleted; a value left alone in free
/// space is reported with an unknown key.
#[test]
fn deleted_keys_and_values_are_recovered_from_free_cells() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("drive");
    fs::create_dir_all(&root).unwrap();
    let tree = software().at(
        r"Evil\Gone",
        Key::new("Gone").value(sz("Path", r"C:\ProgramData\svc\beacon.exe")),
    );
    let (mut bytes, layout) = write_hive(&tree, r"\??\C:\x\SOFTWARE", false);
    let at = |off: u32| 4096 + off as usize;
    let free = |b: &mut Vec<u8>, off: u32| {
        let size = i32::from_le_bytes(b[at(off)..at(off) + 4].try_into().unwrap());
        b[at(off)..at(off) + 4].copy_from_slice(&size.abs().to_le_bytes());
    };
    let gone = layout.keys[r"Evil\Gone"];
    let list = layout.value_lists[r"Evil\Gone"];
    let vk = u32::from_le_bytes(bytes[at(list) + 4..at(list) + 8].try_into().unwrap());
    for off in [gone, list, vk] {
        free(&mut bytes, off);
    }
    let evil = layout.keys["Evil"];
    bytes[at(evil) + 4 + 20..at(evil) + 4 + 24].copy_from_slice(&0u32.to_le_bytes());
    // And a value of the Run key freed on its own.
    let run = layout.value_lists[RUN];
    let updater = u32::from_le_bytes(bytes[at(run) + 4..at(run) + 8].try_into().unwrap());
    free(&mut bytes, updater);
    // Its key lists only the other value now.
    let second: [u8; 4] = bytes[at(run) + 8..at(run) + 12].try_into().unwrap();
    bytes[at(run) + 4..at(run) + 8].copy_from_slice(&second);
    let run_key = layout.keys[RUN];
    bytes[at(run_key) + 4 + 36..at(run_key) + 4 + 40].copy_from_slice(&1u32.to_le_bytes());
    fs::write(root.join("SOFTWARE"), &bytes).unwrap();
    let (run, report) = scan_to(&bundle(dir.path()), &dir.path().join("r.json"), &root, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let deleted: Vec<(String, String)> = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["registry"]["deleted"] == true)
        .map(|e| {
            let r = &e["registry"];
            (
                e["ioc"]["id"].as_str().unwrap().to_string(),
                format!(
                    "{}\\{}",
                    r["key"].as_str().unwrap(),
                    r["value"]["name"].as_str().unwrap()
                ),
            )
        })
        .collect();
    assert!(
        deleted.contains(&("beacon".into(), r"HKLM\SOFTWARE\Evil\Gone\Path".into())),
        "{deleted:?}"
    );
    // The freed Run value: its key is not known, its data still matches.
    assert!(
        deleted.contains(&("beacon".into(), r"HKLM\SOFTWARE\?\Updater".into())),
        "{deleted:?}"
    );
    // Nothing in free space is damage.
    assert!(problems(&report).is_empty(), "{:?}", problems(&report));
}

/// Hives inside a disk image (an ext4 volume built with `mkfs.ext4 -d`,
/// no mount) are read like host ones, the logs of a dirty one applied
/// from beside it in the image whichever the walk meets first; a dirty
/// hive whose log holds no entry is listed as such.
#[test]
fn hives_inside_a_disk_image_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let config = tree.join("Windows/System32/config");
    fs::create_dir_all(&config).unwrap();
    let (mut system, _) = write_hive(&system(), r"\??\C:\Windows\System32\config\SYSTEM", false);
    // Dirty, with a log beside it.
    system[4..8].copy_from_slice(&2u32.to_le_bytes());
    fs::write(config.join("SYSTEM"), &system).unwrap();
    fs::write(
        config.join("SYSTEM.LOG1"),
        support::hive::write_log(&system, &[]),
    )
    .unwrap();
    // A user hive whose last key is only in its logs.
    let (ntuser, bins, pages) = dirty_ntuser();
    let (first, rest) = pages.split_at(1);
    let user = tree.join("Users/bob");
    fs::create_dir_all(&user).unwrap();
    fs::write(user.join("NTUSER.DAT"), &ntuser).unwrap();
    let log1 = support::hive::write_log(&ntuser, &[(10, bins, first.to_vec())]);
    let log2 = support::hive::write_log(&ntuser, &[(11, bins, rest.to_vec())]);
    fs::write(user.join("ntuser.dat.LOG1"), log1).unwrap();
    fs::write(user.join("ntuser.dat.LOG2"), log2).unwrap();
    let image = dir.path().join("disk.raw");
    if !support::ext4_image(&tree, &image, "8M") {
        return;
    }
    let (run, report) = scan_to(&bundle(dir.path()), &dir.path().join("r.json"), &image, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let hits = registry_hits(&report);
    assert!(
        hits.iter()
            .any(|h| h.0 == "svc-key" && h.2 == r"HKLM\SYSTEM\CurrentControlSet\Services\evilsvc"),
        "{hits:?}"
    );
    let ev = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "registry" && e["ioc"]["id"] == "svc-key")
        .unwrap();
    assert_eq!(ev["location"]["volume"]["filesystem"], "ext4");
    assert_eq!(ev["location"]["path"], "/Windows/System32/config/SYSTEM");
    assert!(
        hits.iter()
            .any(|h| h.0 == "beacon" && h.2.ends_with(r"Run\Updater")),
        "{hits:?}"
    );
    let listed = problems(&report);
    assert!(
        listed.iter().any(|p| p.0 == "hiveLogsApplied"
            && p.1
                .contains("1 from ntuser.dat.LOG1, 1 from ntuser.dat.LOG2")),
        "{listed:?}"
    );
    assert!(
        listed
            .iter()
            .any(|p| p.0 == "hiveLogsNotApplied" && p.1.contains("no log entry applied")),
        "{listed:?}"
    );
}

const BOB: &str = "S-1-5-21-1111-2222-3333-1001";
const ALICE: &str = "S-1-5-21-1111-2222-3333-1002";

/// A Windows tree whose SOFTWARE names two users' profiles (bob's and
/// alice's, whose NTUSER.DAT is a real one), each hive holding a RunOnce
/// key, bob's with a UsrClass.dat; and a user hive in a folder no profile
/// names.
fn users_tree(root: &Path) {
    let list = r"Microsoft\Windows NT\CurrentVersion\ProfileList";
    let profile = |sid: &str, path: &str| {
        Key::new(sid)
            .value(expand_sz("ProfileImagePath", path))
            .value(dword("Flags", 0))
    };
    let sw = software()
        .at(&format!(r"{list}\{BOB}"), profile(BOB, r"C:\Users\bob"))
        .at(
            &format!(r"{list}\{ALICE}"),
            profile(ALICE, r"%SystemDrive%\Users\alice"),
        )
        .at(
            &format!(r"{list}\S-1-5-18"),
            profile("S-1-5-18", r"%systemroot%\system32\config\systemprofile"),
        );
    let config = root.join("Windows/System32/config");
    fs::create_dir_all(&config).unwrap();
    let recorded = r"\??\C:\Windows\System32\config\SOFTWARE";
    fs::write(config.join("SOFTWARE"), write_hive(&sw, recorded, false).0).unwrap();
    for user in ["bob", "alice", "../loose"] {
        let home = root.join("Users").join(user);
        fs::create_dir_all(&home).unwrap();
        let nt = format!(r"\??\C:\Users\{user}\ntuser.dat");
        let hive = if user == "alice" {
            // A user's hive written by Windows (samples/hives).
            support::gunzip(&support::samples().join("hives/NTUSER.DAT.gz"))
        } else {
            write_hive(&ntuser(), &nt, false).0
        };
        fs::write(home.join("NTUSER.DAT"), hive).unwrap();
    }
    let classes = root.join("Users/bob/AppData/Local/Microsoft/Windows");
    fs::create_dir_all(&classes).unwrap();
    let usrclass = Key::new("ROOT").at(
        r"ms-settings\Shell\Open\command",
        Key::new("command").value(sz("", r"C:\ProgramData\svc\beacon.exe")),
    );
    let recorded = r"\??\C:\Users\bob\AppData\Local\Microsoft\Windows\UsrClass.dat";
    fs::write(
        classes.join("UsrClass.dat"),
        write_hive(&usrclass, recorded, false).0,
    )
    .unwrap();
}

#[test]
fn a_users_hive_is_named_under_its_owners_sid() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("drive");
    users_tree(&tree);
    let runonce = r"Software\Microsoft\Windows\CurrentVersion\RunOnce";
    let ioc = |id: &str, v: &str| json!({"id": id, "alertDefinitionId": "reg", "type": "RegistryKey", "value": v, "detectionFunction": "StartWith"});
    let iocs = json!([
        ioc("bob-sid", &format!(r"HKEY_USERS\{BOB}\{runonce}")),
        ioc("hkcu", &format!(r"HKCU\{runonce}")),
        ioc(
            "bob-classes",
            &format!(r"HKU\{BOB}_Classes\ms-settings\shell")
        ),
        ioc("hkcr", r"HKCR\ms-settings\shell\open\command"),
        ioc("nobody", r"HKU\S-1-5-21-9-9-9-1001\Software"),
        ioc(
            "alice-sidebar",
            &format!(r"HKU\{ALICE}\Software\Microsoft\Windows\CurrentVersion\Run\Sidebar")
        ),
    ]);
    // Where each hit is: (IOC, hive file, sid shown).
    let hits = |report: &Value| -> Vec<(String, String, String)> {
        let mut v: Vec<_> = report["alerts"][0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["kind"] == "registry")
            .map(|e| {
                let s = |v: &Value| v.as_str().unwrap_or("").to_string();
                let path = s(&e["location"]["path"])
                    .trim_start_matches('/')
                    .to_string();
                (s(&e["ioc"]["id"]), path, s(&e["registry"]["sid"]))
            })
            .collect();
        v.sort();
        v.dedup();
        v
    };
    let want = || {
        let mut w: Vec<(String, String, String)> = [
            ("alice-sidebar", "Users/alice/NTUSER.DAT", ALICE),
            (
                "bob-classes",
                "Users/bob/AppData/Local/Microsoft/Windows/UsrClass.dat",
                BOB,
            ),
            ("bob-sid", "Users/bob/NTUSER.DAT", BOB),
            (
                "hkcr",
                "Users/bob/AppData/Local/Microsoft/Windows/UsrClass.dat",
                BOB,
            ),
            ("hkcu", "Users/alice/NTUSER.DAT", ALICE),
            ("hkcu", "Users/bob/NTUSER.DAT", BOB),
            ("hkcu", "loose/NTUSER.DAT", ""),
        ]
        .iter()
        .map(|(i, p, s)| (i.to_string(), p.to_string(), s.to_string()))
        .collect();
        w.sort();
        w
    };
    let unowned = |report: &Value| -> Vec<String> {
        support::problems(report)
            .into_iter()
            .filter(|p| p.0 == "hiveOwnerUnknown")
            .map(|p| p.1)
            .collect()
    };
    // The drive's folder, then the drive as a disk image.
    let report = scan_drive(dir.path(), iocs.clone());
    assert_eq!(hits(&report), want());
    assert_eq!(unowned(&report).len(), 1, "{:?}", unowned(&report));
    assert!(unowned(&report)[0].ends_with("loose/NTUSER.DAT"));
    let image = dir.path().join("disk.raw");
    if support::ext4_image(&tree, &image, "8M") {
        let bundle = dir.path().join("b.json");
        let (run, report) = scan_to(&bundle, &dir.path().join("r2.json"), &image, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(hits(&report), want());
        assert_eq!(unowned(&report).len(), 1);
    }
}
