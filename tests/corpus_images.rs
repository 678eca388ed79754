//! Disk images of the shared corpus (../shared/corpus/images), each test
//! skipped when the corpus is absent. Expected values come from the
//! corpus's own documentation and from TSK (fls/icat/img_stat) run on the
//! same files.

mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use serde_json::{Value, json};
use support::*;

/// Every file of a scan, with a FileName regex that matches everything.
fn scan_all(target: &Path) -> (Run, Value) {
    let tmp = tempfile::tempdir().unwrap();
    let bundle = tmp.path().join("filename-iocs.txt");
    std::fs::write(&bundle, "# every file\n.;100\n").unwrap();
    scan_to(&bundle, &tmp.path().join("r.json"), target, &[])
}

fn files(report: &Value) -> BTreeMap<String, Value> {
    file_evidence(report)
        .map(|e| {
            (
                e["location"]["display"].as_str().unwrap().to_string(),
                e["file"].clone(),
            )
        })
        .collect()
}

fn error_kinds(report: &Value) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for e in report["errors"].as_array().unwrap() {
        *m.entry(e["kind"].as_str().unwrap().to_string())
            .or_default() += 1;
    }
    m
}

#[test]
fn e01_media_bytes_equal_the_acquired_md5() {
    let Some(dir) = corpus("images/ewf") else {
        return;
    };
    // MD5 of the acquired media per the corpus README and TSK img_stat.
    for (file, md5) in [
        ("ntfs_sample.E01", "e4e9578a9c8bf6c6b375a80c630196a4"),
        ("multiseg_v1.E01", "2692f3177a389e58906b5c9080aa1add"),
        // EWF v2, 128 zero sectors, stored and compressed.
        ("zeros_128s.Ex01", "fcd6bcb56c1689fcef28b57c22475bad"),
        (
            "zeros_128s_compressed.Ex01",
            "fcd6bcb56c1689fcef28b57c22475bad",
        ),
    ] {
        let disk = breachscan::source::container::open(&dir.join(file), "e01")
            .unwrap()
            .disk;
        let mut all = Vec::new();
        breachscan::source::readat::Cursor::new(disk)
            .read_to_end(&mut all)
            .unwrap();
        assert_eq!(md5_hex(&all), md5, "{file}");
    }
}

#[test]
fn every_corpus_image_scans_and_broken_ones_fail_cleanly() {
    let Some(dir) = corpus("images/ewf") else {
        return;
    };
    for (file, code, kinds) in [
        ("ctf_file6.E01", 1, json!({"notFileContent": 1})),
        ("exfat1.E01", 1, json!({})),
        // No filesystem anywhere: nothing was checked, which is not clean (3).
        ("gpt_130_partitions.E01", 3, json!({"unscannedVolume": 131})),
        ("imageformat_mmls_1.E01", 1, json!({"notFileContent": 2})),
        ("multiseg_v1.E01", 3, json!({"unscannedVolume": 1})),
        ("nps-2010-emails.E01", 1, json!({"unrecoverableDeleted": 1})),
        ("ntfs_sample.E01", 1, json!({"notFileContent": 1})),
        ("zeros_128s.Ex01", 3, json!({"unscannedVolume": 1})),
        (
            "zeros_128s_compressed.Ex01",
            3,
            json!({"unscannedVolume": 1}),
        ),
        (
            "fuzz-crash-parse_segment-add-overflow.E01",
            2,
            json!({"targetUnreadable": 1}),
        ),
        (
            "fuzz-crash-recover-alloc-too-big.E01",
            2,
            json!({"targetUnreadable": 1}),
        ),
    ] {
        let (run, report) = scan_all(&dir.join(file));
        assert_eq!(run.code, code, "{file}: {}", run.stderr);
        assert_eq!(json!(error_kinds(&report)), kinds, "{file}");
    }
}

#[test]
fn ntfs_sample_file_matches_tsk() {
    let Some(dir) = corpus("images/ewf") else {
        return;
    };
    let (_, report) = scan_all(&dir.join("ntfs_sample.E01"));
    let f = files(&report);
    // TSK istat/icat: file1.txt is MFT record 37, 408 bytes.
    let file1 = f
        .iter()
        .find(|(k, _)| k.ends_with(" › ntfs › /file1.txt"))
        .unwrap()
        .1;
    assert_eq!(file1["inode"], 37);
    assert_eq!(file1["size"], 408);
}

#[test]
fn exfat_and_fat16_corpus_files_with_deleted_ones() {
    let Some(dir) = corpus("images/ewf") else {
        return;
    };
    let (_, report) = scan_all(&dir.join("exfat1.E01"));
    let f = files(&report);
    let deleted = f.values().filter(|v| v["deleted"] == true).count();
    // 109 files from the tree, 19 deleted ones whose directory is gone,
    // found by the orphan scan of free clusters (TSK lists the same).
    assert_eq!(f.len(), 128);
    assert!(deleted > 20, "deleted exFAT entries recovered: {deleted}");
    let orphans: Vec<&String> = f.keys().filter(|k| k.contains("/$OrphanFiles/")).collect();
    assert_eq!(orphans.len(), 19, "{orphans:?}");
    let makefile = f
        .iter()
        .find(|(k, _)| k.ends_with("/$OrphanFiles/Makefile.in"))
        .unwrap()
        .1;
    assert_eq!(makefile["md5"], "9fe5a0f13db9a8bfde7d5f155399e174"); // TSK icat
    let (_, report) = scan_all(&dir.join("nps-2010-emails.E01"));
    let f = files(&report);
    let doc = f
        .iter()
        .find(|(k, _)| k.ends_with("p1 (fat16) › /testfile.doc"))
        .unwrap()
        .1;
    assert_eq!(doc["size"], 26112);
    assert_eq!(doc["md5"], "f2a04d798454899731095add1f01c3dd"); // TSK icat
}
