//! The scan that reads many files at once for multi-buffer MD5 (`scan::lanes`)
//! reports exactly what the one-file-at-a-time scan reports: every event,
//! compared whole, over a directory of files of every size around the read
//! chunk (some named, some matched by digest, an event log, an empty file)
//! and over the sample NTFS disk image.

mod support;

use std::path::{Path, PathBuf};

use breachscan::bundle::{self, LoadOptions};
use breachscan::evidence::{ReportSink, ScanEvent};
use breachscan::matcher::Matcher;
use breachscan::scan::{self, NoProgress, ScanOptions};
use support::evtx::{Event, write_evtx};

struct Collect(Vec<String>);

impl ReportSink for Collect {
    fn accept(&mut self, event: ScanEvent) {
        self.0.push(format!("{event:?}"));
    }
}

fn scan_events(targets: &[PathBuf], bundle: &Path, single_stream: bool) -> Vec<String> {
    let opts = LoadOptions {
        as_of: jiff::Timestamp::now(),
        all_attributes: false,
    };
    let bundle = bundle::load(&[bundle.to_path_buf()], &opts).expect("bundle loads");
    let matcher = Matcher::new(&bundle).expect("matcher builds");
    let opts = ScanOptions {
        threads: 2,
        single_stream,
        ..ScanOptions::default()
    };
    let mut sink = Collect(Vec::new());
    scan::run(
        targets,
        &matcher,
        &breachscan::sigma::RuleSet::empty(),
        &opts,
        &NoProgress,
        &mut sink,
    )
    .expect("scan runs");
    sink.0.sort();
    sink.0
}

#[test]
fn many_files_at_once_report_what_one_at_a_time_reports() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("evidence");
    std::fs::create_dir(&dir).unwrap();
    let mut rng = support::Rng(7);
    let chunk = 256 * 1024;
    let mut sizes = vec![
        0,
        1,
        63,
        64,
        65,
        4096,
        chunk - 1,
        chunk,
        chunk + 1,
        3 * chunk + 17,
    ];
    sizes.extend((0..60).map(|_| rng.below(900_000)));
    let mut digest_hit = String::new();
    for (i, size) in sizes.iter().enumerate() {
        let data: Vec<u8> = (0..*size).map(|_| rng.next() as u8).collect();
        if i == 7 {
            digest_hit = support::md5_hex(&data);
        }
        let name = if i % 9 == 0 {
            format!("tool{i}.exe")
        } else {
            format!("f{i}.bin")
        };
        std::fs::write(dir.join(name), data).unwrap();
    }
    let log = write_evtx(&[Event::new(
        1,
        "Microsoft-Windows-Sysmon",
        1,
        "Microsoft-Windows-Sysmon/Operational",
        &[("Image", r"C:\Users\x\evil.exe")],
    )]);
    std::fs::write(dir.join("Sysmon.evtx"), log).unwrap();

    let bundle = tmp.path().join("bundle.json");
    std::fs::write(
        &bundle,
        format!(
            r#"{{"alertDefinitions":[{{"id":"ad","name":"lanes","severity":"High"}}],"iocs":[
            {{"id":"m","type":"Md5","value":"{digest_hit}","alertDefinitionId":"ad"}},
            {{"id":"e","type":"Md5","value":"d41d8cd98f00b204e9800998ecf8427e","alertDefinitionId":"ad"}},
            {{"id":"s","type":"Sha256","value":"{}","alertDefinitionId":"ad"}},
            {{"id":"n","type":"FileName","value":".exe","detectionFunction":"EndWith","alertDefinitionId":"ad"}}]}}"#,
            "0".repeat(63) + "1"
        ),
    )
    .unwrap();

    let disk = tmp.path().join("disk.raw");
    std::fs::write(
        &disk,
        support::gunzip(&support::samples().join("images/disk.raw.gz")),
    )
    .unwrap();

    for targets in [vec![dir.clone()], vec![disk.clone(), dir.clone()]] {
        let lanes = scan_events(&targets, &bundle, false);
        let single = scan_events(&targets, &bundle, true);
        assert!(
            lanes.iter().filter(|e| e.starts_with("Finding")).count() >= 8,
            "the fixture should give file and record evidence"
        );
        assert!(lanes.iter().any(|e| e.starts_with("RecordsScanned")));
        // An empty file has digests, and its MD5 matches (both ways).
        assert!(
            single
                .iter()
                .any(|e| e.contains(r#"field: "md5", value: "d41d8cd98f00b204e9800998ecf8427e""#)),
            "the empty file's MD5 should match"
        );
        assert_eq!(lanes, single);
    }
}

/// Writes 70 Sysmon logs `log{i}.evtx` into `dir` and returns their bytes:
/// every `every`-th log of up to `big` process creations, the others of up
/// to `small` (counts drawn from `seed`), record `r` of log `i` naming the
/// image `image(i, r)`.
fn sysmon_logs(
    dir: &Path,
    seed: u64,
    (every, big, small): (usize, usize, usize),
    image: impl Fn(usize, usize) -> String,
) -> Vec<Vec<u8>> {
    let mut rng = support::Rng(seed);
    (0..70)
        .map(|i| {
            let records = 1 + rng.below(if i % every == 0 { big } else { small });
            let events: Vec<Event> = (0..records)
                .map(|r| {
                    let image = image(i, r);
                    Event::new(
                        r as u64 + 1,
                        "Microsoft-Windows-Sysmon",
                        1,
                        "Microsoft-Windows-Sysmon/Operational",
                        &[("Image", image.as_str())],
                    )
                })
                .collect();
            let log = write_evtx(&events);
            std::fs::write(dir.join(format!("log{i}.evtx")), &log).unwrap();
            log
        })
        .collect()
}

/// Logs whose records fire while the bundle wants no MD5 are read again for
/// their evidence's digests, many at once (`scan::fill`): the same digests
/// and events as each log read again alone, over more logs than one batch
/// holds (64), of sizes that end in different rounds, so that lanes pass
/// from one log to the next.
#[test]
fn logs_read_again_together_give_what_each_read_alone_gives() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let logs = sysmon_logs(&dir, 11, (5, 6000, 400), |_, r| {
        if r % 7 == 0 {
            r"C:\Users\x\evil.exe".to_string()
        } else {
            format!(r"C:\Windows\System32\tool{r}.exe")
        }
    });
    assert!(logs.iter().any(|l| l.len() > 3 * 256 * 1024));
    let bundle = tmp.path().join("bundle.json");
    std::fs::write(
        &bundle,
        format!(
            r#"{{"alertDefinitions":[{{"id":"ad","name":"fill","severity":"High"}}],"iocs":[
            {{"id":"s","type":"Sha256","value":"{}","alertDefinitionId":"ad"}},
            {{"id":"n","type":"FileName","value":"evil.exe","alertDefinitionId":"ad"}}]}}"#,
            "0".repeat(63) + "1"
        ),
    )
    .unwrap();
    let gathered = scan_events(std::slice::from_ref(&dir), &bundle, false);
    let alone = scan_events(std::slice::from_ref(&dir), &bundle, true);
    for log in &logs {
        let hex = support::md5_hex(log);
        let bytes: Vec<u8> = (0..16)
            .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
            .collect();
        let md5 = format!("md5: Some({bytes:?})");
        assert!(
            gathered.iter().any(|e| e.contains(&md5)),
            "a log's evidence should carry its MD5 {hex}"
        );
    }
    assert_eq!(gathered, alone);
}

/// With a bundle wanting all three digests, an event log's MD5 waits for
/// other logs' and runs in vector lanes, its digests matched only then
/// (`scan::worker::md5_waits`): the same events as each log hashed whole
/// as it is read, over more logs than one batch holds, logs hitting by
/// MD5, by SHA-1 and by SHA-256 among logs that hit nothing.
#[test]
fn logs_whose_md5_waits_are_matched_as_when_it_is_computed_at_once() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("logs");
    std::fs::create_dir(&dir).unwrap();
    let logs = sysmon_logs(&dir, 5, (9, 5000, 300), |i, r| {
        format!(r"C:\Windows\System32\tool{i}-{r}.exe")
    });
    let (by_md5, by_sha1, by_sha256) = (3, 18, 45);
    let bundle = tmp.path().join("bundle.json");
    std::fs::write(
        &bundle,
        format!(
            r#"{{"alertDefinitions":[{{"id":"ad","name":"logs","severity":"High"}}],"iocs":[
            {{"id":"m","type":"Md5","value":"{}","alertDefinitionId":"ad"}},
            {{"id":"s1","type":"Sha1","value":"{}","alertDefinitionId":"ad"}},
            {{"id":"s2","type":"Sha256","value":"{}","alertDefinitionId":"ad"}}]}}"#,
            support::md5_hex(&logs[by_md5]),
            support::sha1_hex(&logs[by_sha1]),
            support::sha256_hex(&logs[by_sha256]),
        ),
    )
    .unwrap();
    let waited = scan_events(std::slice::from_ref(&dir), &bundle, false);
    let at_once = scan_events(std::slice::from_ref(&dir), &bundle, true);
    for (i, digest) in [(by_md5, "md5"), (by_sha1, "sha1"), (by_sha256, "sha256")] {
        let (field, path) = (format!("field: \"{digest}\""), format!("\"/log{i}.evtx\""));
        assert!(
            waited
                .iter()
                .any(|e| e.starts_with("Finding") && e.contains(&field) && e.contains(&path)),
            "log{i}.evtx should hit by {digest}"
        );
    }
    assert_eq!(waited, at_once);
}
