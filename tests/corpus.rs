//! Checks against the shared real-world corpus (../shared/corpus), which is
//! not ours to ship: each test skips, saying so, when the corpus is absent,
//! so `cargo test` needs only cargo; where it exists (developer machines,
//! CI beside shared/) the release of record is checked on real data.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::*;

#[test]
fn dirty_evtx_samples_scan_with_exact_damage_counts() {
    let Some(dir) = corpus("evtx/evtx-crate-samples") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let bundle = samples().join("bundles/demo.json");
    let (run, r) = scan_to(&bundle, &out.path().join("r.json"), &dir, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let mut damage: BTreeMap<(String, String), u64> = BTreeMap::new();
    for e in r["errors"].as_array().unwrap() {
        *damage
            .entry((
                e["path"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
            ))
            .or_default() += 1;
    }
    let want: BTreeMap<(String, String), u64> = [
        ("/sysmon.evtx", "corruptChunk", 8),
        ("/sample_with_a_bad_chunk_magic.evtx", "corruptChunk", 2),
        ("/sample_with_a_bad_chunk_magic.evtx", "corruptRecord", 1),
        (
            "/2-vss_0-Microsoft-Windows-RemoteDesktopServices-RdpCoreTS%4Operational.evtx",
            "corruptRecord",
            4,
        ),
        (
            "/2-vss_0-Microsoft-Windows-TerminalServices-RemoteConnectionManager%4Operational.evtx",
            "corruptRecord",
            2,
        ),
        ("/sample-with-zero-data-size-event.evtx", "corruptRecord", 1),
    ]
    .iter()
    .map(|(p, k, n)| ((p.to_string(), k.to_string()), *n))
    .collect();
    assert_eq!(damage, want);
    assert_eq!(r["sources"][0]["filesScanned"], 23);
    assert_eq!(r["sources"][0]["recordsScanned"], 19043);
}

/// The records python-evtx (an independent parser) finds holding these
/// values in EventData/UserData.
const ORACLE: &[(&str, &str, u64)] = &[
    (
        "c2-dom",
        "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        186,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        472,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        534,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        540,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript.evtx",
        22,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript.evtx",
        30,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript.evtx",
        49,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript.evtx",
        59,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript.evtx",
        89,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript.evtx",
        96,
    ),
    (
        "c2-ip",
        "/AutomatedTestingTools/panache_sysmon_vs_EDRTestingScript.evtx",
        97,
    ),
    (
        "h-md5",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        14,
    ),
    (
        "h-sha1",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        3,
    ),
    (
        "h-sha256",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        10,
    ),
    (
        "h-sha256",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        11,
    ),
    (
        "h-sha256",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        12,
    ),
    (
        "h-sha256",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        13,
    ),
    (
        "h-sha256",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        16,
    ),
    (
        "h-sha256",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        17,
    ),
    (
        "h-sha256",
        "/AutomatedTestingTools/Malware/DE_timestomp_and_dll_sideloading_and_RunPersist.evtx",
        18,
    ),
    (
        "regkey",
        "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        24,
    ),
    (
        "regkey",
        "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        27,
    ),
    (
        "tool",
        "/AutomatedTestingTools/PanacheSysmon_vs_AtomicRedTeam01.evtx",
        553,
    ),
    (
        "tool",
        "/Credential Access/sysmon_10_11_lsass_memdump.evtx",
        1,
    ),
    (
        "tool",
        "/Credential Access/sysmon_10_11_lsass_memdump.evtx",
        2,
    ),
    (
        "tool",
        "/Credential Access/sysmon_2x10_lsass_with_different_pid_RtlCreateProcessReflection.evtx",
        1,
    ),
];

#[test]
fn attack_samples_hits_match_an_independent_parser() {
    let Some(dir) = corpus("evtx/attack-samples") else {
        return;
    };
    let out = tempfile::tempdir().unwrap();
    let bundle = out.path().join("b.json");
    let ioc = |id: &str, ad: &str, t: &str, v: &str, f: &str| json!({"id": id, "alertDefinitionId": ad, "type": t, "value": v, "detectionFunction": f});
    let b = json!({
        "alertDefinitions": [
            {"id": "ad-apt", "name": "NvSmart side-loading implant", "severity": "High"},
            {"id": "ad-c2", "name": "C2 infrastructure", "severity": "High"},
            {"id": "ad-tools", "name": "Credential dumping tools", "severity": "Medium"},
            {"id": "ad-persist", "name": "Run key persistence", "severity": "Low"}
        ],
        "iocs": [
            ioc("h-sha256", "ad-apt", "Sha256", "523d28df917f9d265cd2c0d38df26277bc56a535145100ed82e6f5fdeaae7256", "Equals"),
            ioc("h-md5", "ad-apt", "Md5", "2D8FB1F82724CF542CD2E3A5E041FB52", "Equals"),
            ioc("h-sha1", "ad-apt", "Sha1", "B4E581F173F782A2F1DA5D29C95946EE500EB2D0", "Equals"),
            ioc("c2-ip", "ad-c2", "IpAddress", "151.101.0.133", "Equals"),
            ioc("c2-dom", "ad-c2", "DomainName", "1e100.net", "Equals"),
            ioc("tool", "ad-tools", "FileName", "procdump.exe", "Equals"),
            ioc("regkey", "ad-persist", "RegistryKey", r"\Software\Microsoft\Windows\CurrentVersion\Run\Atomic Red Team", "EndWith")
        ]
    });
    std::fs::write(&bundle, b.to_string()).unwrap();
    let (run, r) = scan_to(&bundle, &out.path().join("r.json"), &dir, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut ours: Vec<(String, String, u64)> = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .map(|e| {
            (
                e["ioc"]["id"].as_str().unwrap().to_string(),
                e["location"]["path"].as_str().unwrap().to_string(),
                e["record"]["recordNumber"].as_u64().unwrap(),
            )
        })
        .collect();
    ours.sort();
    ours.dedup();
    // Exported logs renumber record headers: the report's recordId is the
    // EventRecordID Event Viewer shows, the header's number is kept apart.
    let lsass = r["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .find(|e| {
            e["location"]["path"] == "/Credential Access/sysmon_10_11_lsass_memdump.evtx"
                && e["record"]["recordNumber"] == 1
        })
        .unwrap();
    assert_eq!(lsass["record"]["recordId"], 4433);
    assert_eq!(lsass["location"]["recordId"], 4433);
    assert!(
        lsass["location"]["display"]
            .as_str()
            .unwrap()
            .ends_with("› record 4433")
    );
    let want: Vec<(String, String, u64)> = ORACLE
        .iter()
        .map(|(i, p, n)| (i.to_string(), p.to_string(), *n))
        .collect();
    assert_eq!(ours, want);
    assert_eq!(r["summary"]["errors"], 0);
    assert_eq!(r["summary"]["recordsScanned"], 9821);
}

#[test]
fn signature_base_files_load_with_known_counts() {
    let Some(dir) = corpus("bundles/signature-base") else {
        return;
    };
    // (file, format, alert definitions, IOCs, entries not used: repeats)
    for (file, format, defs, iocs, unused) in [
        ("hash-iocs.txt", "loki-hash-iocs", 1221, 3145, 79),
        ("filename-iocs.txt", "loki-filename-iocs", 400, 3702, 126),
        ("c2-iocs.txt", "loki-c2-iocs", 27, 1839, 5),
    ] {
        let path = dir.join(file);
        let run = breachscan(&["bundle", "check", path.to_str().unwrap()]);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let want = format!("{}: {format} ", path.display());
        assert!(run.stdout.contains(&want), "{file}: {}", run.stdout);
        let counts = format!(
            "{defs} alert definitions, {iocs} IOCs ({iocs} active), {unused} entries not used"
        );
        assert!(run.stdout.contains(&counts), "{file}: {}", run.stdout);
    }
}

#[test]
fn misp_exports_load_and_the_broken_one_names_its_place() {
    let Some(dir) = corpus("bundles/misp") else {
        return;
    };
    for (file, iocs, unused) in [
        ("cloudmensis_cloudmensis.misp.json", 9, 13),
        ("glupteba_glupteba.misp-event.json", 325, 0),
        ("sednit_2017-05-09_Trump_Attack_on_Syria_IoCs.json", 0, 23),
        ("turla_misp-turla-outlook-event.json", 0, 12),
    ] {
        let run = breachscan(&["bundle", "check", dir.join(file).to_str().unwrap()]);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let want =
            format!("1 alert definitions, {iocs} IOCs ({iocs} active), {unused} entries not used");
        assert!(run.stdout.contains(&want), "{file}: {}", run.stdout);
    }
    let broken = dir.join("pypi_backdoor_malicious_pypi_packages.misp-event.json");
    let run = breachscan(&["bundle", "check", broken.to_str().unwrap()]);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(":37374:9: invalid MISP JSON"),
        "{}",
        run.stderr
    );
}

#[test]
fn stix_bundles_load_with_known_counts() {
    let Some(dir) = corpus("bundles/stix") else {
        return;
    };
    // (file, alert definitions, IOCs, entries not used)
    for (file, defs, iocs, unused) in [
        ("apt1.json", 7, 10, 2),
        ("indicators-for-C2-with-COA.json", 1, 2, 0),
        ("novispy.stix2", 1, 11, 7),
        ("pegasus.stix2", 1, 1520, 29),
        ("poisonivy.json", 5, 66, 1),
    ] {
        let run = breachscan(&["bundle", "check", dir.join(file).to_str().unwrap()]);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let want = format!(
            "{defs} alert definitions, {iocs} IOCs ({iocs} active), {unused} entries not used"
        );
        assert!(run.stdout.contains(&want), "{file}: {}", run.stdout);
    }
}

#[test]
fn openioc_files_load_with_known_counts() {
    let Some(dir) = corpus("bundles/openioc") else {
        return;
    };
    // FireEye's behavioural rules are mostly conjunctions: listed, not used.
    for (file, iocs, unused) in [
        ("ADPASSHUNT__CREDENTIAL_STEALER_.ioc", 0, 2),
        ("SEATBELT__UTILITY_.ioc", 3, 27),
        ("POTENTIAL_COBALT_STRIKE_PROFILE__FAMILY_.ioc", 0, 30),
    ] {
        let run = breachscan(&["bundle", "check", dir.join(file).to_str().unwrap()]);
        assert_eq!(run.code, 0, "{file}: {}", run.stderr);
        let want =
            format!("1 alert definitions, {iocs} IOCs ({iocs} active), {unused} entries not used");
        assert!(run.stdout.contains(&want), "{file}: {}", run.stdout);
        assert!(run.stdout.contains(": openioc "), "{file}");
    }
}

/// Records are screened from their BinXML before anything is rendered: on
/// every corpus log, a bundle of hundreds of values taken from the logs
/// themselves (file names, addresses, domains, registry keys, URLs) must
/// find exactly what a full parse (forced by a regex IOC, which has no
/// literal to screen with) finds. So must regexes alone, whose common
/// literals (`.exe`, `\win`, a drive) a record passes only if a regex
/// matches its screened text: names of the logs' files as regexes whose one
/// literal is the extension, and Loki's file-name regexes.
#[test]
fn screened_scan_finds_what_a_full_parse_finds() {
    let Some(logs) = corpus("evtx") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, iocs: &[Value]| {
        let p = dir.path().join(name);
        let b = json!({"alertDefinitions": [{"id": "a", "name": "n", "severity": "Low"}], "iocs": iocs});
        std::fs::write(&p, b.to_string()).unwrap();
        p
    };
    let ioc = |id: String, t: &str, v: &str, f: &str| json!({"id": id, "alertDefinitionId": "a", "type": t, "value": v, "detectionFunction": f});
    // Every value of each kind, through IOCs that match anything.
    let any = write(
        "any.json",
        &[
            ioc("FileName".into(), "FileName", ".", "Regex"),
            ioc("IpAddress".into(), "IpAddress", "0.0.0.0/0", "Equals"),
            ioc("DomainName".into(), "DomainName", ".", "Regex"),
            ioc("RegistryKey".into(), "RegistryKey", ".", "Regex"),
            ioc("Url".into(), "Url", ".", "Regex"),
        ],
    );
    let (_, all) = scan_to(&any, &dir.path().join("any-r.json"), &logs, &[]);
    let mut values: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for e in evidence(&all) {
        let kind = e["ioc"]["id"].as_str().unwrap().to_string();
        values
            .entry(kind)
            .or_default()
            .insert(e["matchedValue"].as_str().unwrap().to_string());
    }
    let mut iocs = Vec::new();
    for (kind, vals) in &values {
        // Every 7th value, spread over the sorted list.
        for v in vals.iter().step_by(7) {
            let v = match kind.as_str() {
                "FileName" => v.rsplit(['\\', '/']).next().unwrap().to_string(),
                // An address found inside text comes with its port or zone.
                "IpAddress" => {
                    let v = v.trim().trim_start_matches("::ffff:");
                    let v = v.split('%').next().unwrap();
                    match (v.matches('.').count(), v.split_once(':')) {
                        (3, Some((addr, _))) => addr.to_string(),
                        _ => v.to_string(),
                    }
                }
                "DomainName" => v.trim().trim_end_matches('.').to_string(),
                _ => v.clone(),
            };
            let plain_domain = v
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
            if v.is_empty() || (kind == "DomainName" && !plain_domain) {
                continue;
            }
            let f = if matches!(kind.as_str(), "RegistryKey" | "Url") {
                "StartWith"
            } else {
                "Equals"
            };
            iocs.push(ioc(format!("i{}", iocs.len()), kind, &v, f));
        }
    }
    // Digests: whole runs of 32, 40 or 64 hex digits in the records' fields
    // (Sysmon's `Hashes`), every third.
    let mut digests = BTreeSet::new();
    for e in evidence(&all) {
        let data = e["record"]["data"].as_object().into_iter().flatten();
        for v in data.flat_map(|(_, v)| match v {
            Value::Array(items) => items.clone(),
            v => vec![v.clone()],
        }) {
            let v = v.as_str().unwrap_or_default().to_string();
            for run in v.split(|c: char| !c.is_ascii_hexdigit()) {
                if matches!(run.len(), 32 | 40 | 64) {
                    digests.insert(run.to_string());
                }
            }
        }
    }
    let mut by_digest: Vec<Value> = (digests.iter().step_by(3).enumerate())
        .map(|(i, d)| {
            let kind = match d.len() {
                32 => "Md5",
                40 => "Sha1",
                _ => "Sha256",
            };
            ioc(format!("h{i}"), kind, d, "Equals")
        })
        .collect();
    assert!(by_digest.len() > 20, "{} digests", by_digest.len());
    assert!(iocs.len() > 300, "{} sampled IOCs", iocs.len());
    let no_literal = ioc("rx".into(), "FileName", r"^[0-9a-f]{41}$", "Regex");
    // Alone: the records holding them also hold sampled names.
    let digests = write("digests.json", &by_digest);
    by_digest.push(no_literal.clone());
    let digests_full = write("digests-full.json", &by_digest);
    let screened = write("sampled.json", &iocs);
    iocs.push(no_literal.clone());
    let full = write("full.json", &iocs);
    // Names not sampled above: any name of the logs starting with the same
    // character and of the same extension (a few hundred of these cost
    // minutes in a debug build).
    let names: BTreeSet<&str> = (values.get("FileName").into_iter())
        .flatten()
        .filter_map(|v| v.rsplit(['\\', '/']).next())
        .filter(|n| n.len() < 64 && n.bytes().all(|b| b.is_ascii_graphic()))
        .collect();
    let candidates: BTreeSet<String> = (names.iter())
        .filter_map(|name| {
            let (_, ext) = name.rsplit_once('.')?;
            let ext = Some(ext).filter(|e| {
                (3..=4).contains(&e.len()) && e.bytes().all(|b| b.is_ascii_alphabetic())
            })?;
            let first = regex::escape(&name.chars().next()?.to_string());
            Some(format!(r"\\{first}[^\\]*\.{}$", regex::escape(ext)))
        })
        .collect();
    let step = candidates.len() / 60 + 1;
    let mut regexes: Vec<Value> = (candidates.iter().step_by(step).enumerate())
        .map(|(i, rx)| ioc(format!("x{i}"), "FilePath", rx, "Regex"))
        .collect();
    assert!(regexes.len() > 20, "{} regexes", regexes.len());
    let by_regex = write("regexes.json", &regexes);
    regexes.push(no_literal);
    let by_regex_full = write("regexes-full.json", &regexes);
    // Loki's: those of the families that hit these logs or whose best
    // literal is common, and every eighth of the rest (all of them doubled
    // the test's time in a debug build).
    let loki = corpus("bundles/signature-base").map(|d| {
        let text = std::fs::read_to_string(d.join("filename-iocs.txt")).unwrap();
        let common = [
            "Users", "AppData", "[C-Zc-z]", "[Cc]:", "imikatz", "procdump", "Program", "lsass",
            "a-zA-Z]", "Potato", "\\s]", "svchost", "winlogon", "xplorer", "\\\\win", "ntds",
            "Startup", "\\\\a\\.",
        ];
        let lines: Vec<&str> = (text.lines().enumerate())
            .filter(|(i, l)| i % 8 == 0 || common.iter().any(|c| l.contains(c)))
            .map(|(_, l)| l)
            .collect();
        assert!(lines.len() > 1_000, "{} regexes", lines.len());
        let p = dir.path().join("filename-iocs.txt");
        std::fs::write(&p, lines.join("\n")).unwrap();
        p
    });
    let items = |r: &Value| -> BTreeSet<String> {
        evidence(r)
            .map(|e| {
                format!(
                    "{} {} {} {} {}",
                    e["ioc"]["id"],
                    e["location"]["path"],
                    e["record"]["recordId"],
                    e["field"],
                    e["matchedValue"]
                )
            })
            .collect()
    };
    let scan =
        |bundles: &[&Path], out: &str| scan_bundles(bundles, &dir.path().join(out), &logs, &[]).1;
    let with_loki =
        |b: &Path| -> Vec<PathBuf> { [b.to_path_buf()].into_iter().chain(loki.clone()).collect() };
    let (rx, rx_full) = (with_loki(&by_regex), with_loki(&by_regex_full));
    for (what, screened, full, least) in [
        (
            "values",
            vec![screened.as_path()],
            vec![full.as_path()],
            5_000,
        ),
        ("regexes", paths(&rx), paths(&rx_full), 300),
        (
            "digests",
            vec![digests.as_path()],
            vec![digests_full.as_path()],
            10,
        ),
    ] {
        let (a, b) = (scan(&screened, "a.json"), scan(&full, "b.json"));
        let (a_ev, b_ev) = (items(&a), items(&b));
        assert!(a_ev.len() > least, "{what}: {} evidence items", a_ev.len());
        assert_eq!(
            a_ev.difference(&b_ev).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{what}: screened only"
        );
        assert_eq!(
            b_ev.difference(&a_ev).collect::<Vec<_>>(),
            Vec::<&String>::new(),
            "{what}: missed by screening"
        );
        assert_eq!(a["errors"], b["errors"]);
        assert_eq!(
            a["summary"]["recordsScanned"],
            b["summary"]["recordsScanned"]
        );
    }
}

fn paths(v: &[PathBuf]) -> Vec<&Path> {
    v.iter().map(PathBuf::as_path).collect()
}
