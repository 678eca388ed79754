//! Bad input never panics: thousands of deterministic byte mutations of a
//! valid bundle must each load or fail with an error, and scans of mutated
//! event logs must finish with a report (exit 0 or 1, never a crash).

mod support;

use std::fs;

use breachscan::bundle::{self, LoadOptions};
use support::evtx::{Event, write_evtx};
use support::*;

fn mutate(rng: &mut Rng, data: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len().max(1));
        match rng.below(4) {
            0 => data[at] = rng.next() as u8,
            1 => {
                data.remove(at);
            }
            2 => {
                let bytes = b"{}[]\",:\\0-9eE";
                data.insert(at, bytes[rng.below(bytes.len())]);
            }
            _ => data.truncate(at),
        }
        if data.is_empty() {
            data.push(b'{');
        }
    }
}

#[test]
fn mutated_bundles_load_or_fail_cleanly() {
    let original = fs::read(samples().join("bundles/demo.json")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.json");
    let opts = LoadOptions::default();
    let mut rng = Rng(0x5eed);
    let (mut ok, mut failed) = (0, 0);
    for _ in 0..3000 {
        let mut data = original.clone();
        mutate(&mut rng, &mut data);
        fs::write(&path, &data).unwrap();
        match bundle::load(std::slice::from_ref(&path), &opts) {
            Ok(_) => ok += 1,
            Err(e) => {
                failed += 1;
                // Every error names the file.
                assert!(e.0.iter().all(|x| x.file == path), "{e}");
            }
        }
    }
    assert!(failed > 0 && ok + failed == 3000);
}

#[test]
fn mutated_event_logs_scan_to_a_report() {
    let events: Vec<Event> = (1..=200)
        .map(|i| {
            Event::new(
                i,
                "Microsoft-Windows-Sysmon",
                1,
                "Microsoft-Windows-Sysmon/Operational",
                &[
                    ("Image", r"C:\Windows\System32\cmd.exe"),
                    ("CommandLine", "cmd.exe /c whoami"),
                ],
            )
        })
        .collect();
    let log = write_evtx(&events);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    fs::create_dir_all(&logs).unwrap();
    let mut rng = Rng(0xe7e7);
    for n in 0..40 {
        let mut data = log.clone();
        // Damage inside the header, chunk headers and records, not only
        // truncation.
        for _ in 0..1 + rng.below(20) {
            let at = rng.below(data.len());
            data[at] = rng.next() as u8;
        }
        if n % 5 == 0 {
            data.truncate(4096 + rng.below(data.len() - 4096));
        }
        fs::write(logs.join(format!("m{n}.evtx")), &data).unwrap();
    }
    let report = dir.path().join("r.json");
    let bundle = dir.path().join("b.json");
    fs::write(
        &bundle,
        r#"{"alertDefinitions":[{"id":1,"name":"n","severity":"Low"}],
        "iocs":[{"id":"c","alertDefinitionId":1,"type":"FileName","value":"cmd.exe"}]}"#,
    )
    .unwrap();
    let (run, r) = scan_to(&bundle, &report, &logs, &[]);
    assert!(
        run.code == 0 || run.code == 1,
        "exit {}: {}",
        run.code,
        run.stderr
    );
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
    assert!(
        !r["errors"].to_string().contains("internal error"),
        "{}",
        r["errors"]
    );
    assert_eq!(r["sources"][0]["filesScanned"], 40);
    assert!(r["summary"]["recordsScanned"].as_u64().unwrap() > 0);
}
