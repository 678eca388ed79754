//! E01 sets checked as ewfverify checks them, through the real binary: the
//! media hashes stored at acquisition against the media (`--verify-image`),
//! each uncompressed chunk's Adler-32 and each compressed chunk's zlib
//! stream, and segments missing from a set (said once, for the image).
//! The sets are the sample disk (`disk.E01`, compressed, with case
//! metadata) and its five-segment uncompressed copy (`seg/`).

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::*;

fn errors_of<'a>(r: &'a Value, kind: &str) -> Vec<&'a Value> {
    r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == kind)
        .collect()
}

/// The five segments of `seg/disk.E0N`, unpacked into `dir`; the media
/// they hold (the sample disk) is returned.
fn segments(dir: &Path, count: usize) -> Vec<u8> {
    for i in 1..=count {
        let name = format!("disk.E0{i}");
        let gz = samples().join("images/seg").join(format!("{name}.gz"));
        fs::write(dir.join(name), gunzip(&gz)).unwrap();
    }
    gunzip(&samples().join("images/disk.raw.gz"))
}

#[test]
fn a_whole_set_verifies_and_says_what_was_stored() {
    let tmp = tempfile::tempdir().unwrap();
    let media = segments(tmp.path(), 5);
    let bundle = samples().join("bundles/demo.json");
    let (_, r) = scan_to(
        &bundle,
        &tmp.path().join("r.json"),
        &tmp.path().join("disk.E01"),
        &["--verify-image"],
    );
    let image = &r["sources"][0]["image"];
    assert_eq!(image["segments"].as_array().unwrap().len(), 5, "{image}");
    assert_eq!(image["complete"], true);
    assert_eq!(image["mediaSize"], media.len() as u64);
    assert_eq!(image["storedHashes"]["md5"], md5_hex(&media));
    assert_eq!(image["computedHashes"]["md5"], md5_hex(&media));
    assert_eq!(image["computedHashes"]["sha1"], sha1_hex(&media));
    assert_eq!(image["verification"], "match");
    assert_eq!(image["corruptChunks"], 0);

    // The compressed single-segment set carries the examiner's metadata.
    fs::write(
        tmp.path().join("c.E01"),
        gunzip(&samples().join("images/disk.E01.gz")),
    )
    .unwrap();
    let (_, r) = scan_to(
        &bundle,
        &tmp.path().join("c.json"),
        &tmp.path().join("c.E01"),
        &["--verify-image"],
    );
    let image = &r["sources"][0]["image"];
    assert_eq!(image["verification"], "match", "{image}");
    assert_eq!(image["storedHashes"]["md5"], md5_hex(&media));
    let acq = &image["acquisition"];
    assert_eq!(acq["caseNumber"], "CASE-001");
    assert_eq!(acq["examiner"], "breachscan");
    assert_eq!(acq["description"], "sample disk");
    assert!(
        acq["acquiryDate"].as_str().unwrap().starts_with("20"),
        "{acq}"
    );
    // Without the flag nothing is hashed, and nothing claims to be.
    let (_, r) = scan_to(
        &bundle,
        &tmp.path().join("n.json"),
        &tmp.path().join("c.E01"),
        &[],
    );
    let image = &r["sources"][0]["image"];
    assert!(image.get("verification").is_none(), "{image}");
    assert!(image.get("computedHashes").is_none(), "{image}");
}

#[test]
fn an_altered_uncompressed_chunk_is_listed_where_it_is() {
    let tmp = tempfile::tempdir().unwrap();
    segments(tmp.path(), 5);
    let e02 = tmp.path().join("disk.E02");
    let mut bytes = fs::read(&e02).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x5a;
    fs::write(&e02, bytes).unwrap();
    let bundle = samples().join("bundles/demo.json");
    let (run, r) = scan_to(
        &bundle,
        &tmp.path().join("r.json"),
        &tmp.path().join("disk.E01"),
        &["--verify-image"],
    );
    assert_ne!(run.code, 0, "an altered image is not a clean scan");
    let chunks = errors_of(&r, "corruptChunk");
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    let c = chunks[0];
    assert_eq!(c["segment"], 2, "{c}");
    assert!(c["message"].as_str().unwrap().contains("checksum"), "{c}");
    let image = &r["sources"][0]["image"];
    assert_eq!(image["verification"], "mismatch");
    assert_eq!(image["corruptChunks"], 1);
    assert_eq!(errors_of(&r, "imageUnverified").len(), 1);

    // Reading the chunk is enough to find it, without --verify-image.
    let offset = c["offset"].as_u64().unwrap();
    let opened = breachscan::source::container::open(&tmp.path().join("disk.E01"), "e01").unwrap();
    let mut buf = [0u8; 16];
    opened.disk.read_at(&mut buf, offset + 100).unwrap();
    assert_eq!(opened.health.corrupt_chunks(), 1);
    opened.disk.read_at(&mut buf, 0).unwrap();
    assert_eq!(opened.health.corrupt_chunks(), 1, "one fault, listed once");
}

#[test]
fn a_compressed_chunk_that_does_not_inflate_is_listed_once() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("c.E01");
    let mut bytes = gunzip(&samples().join("images/disk.E01.gz"));
    // Inside the first chunks' deflate data (the sections before them are
    // a few KiB).
    for b in &mut bytes[30_000..30_003] {
        *b ^= 0xff;
    }
    fs::write(&path, bytes).unwrap();
    let bundle = samples().join("bundles/demo.json");
    let (_, r) = scan_to(
        &bundle,
        &tmp.path().join("r.json"),
        &path,
        &["--verify-image"],
    );
    let chunks = errors_of(&r, "corruptChunk");
    assert_eq!(chunks.len(), 1, "{chunks:?}");
    assert!(chunks[0]["message"].as_str().unwrap().contains("decoded"));
    assert_eq!(r["sources"][0]["image"]["verification"], "incomplete");
}

#[test]
fn missing_segments_are_said_once_for_the_image() {
    let tmp = tempfile::tempdir().unwrap();
    segments(tmp.path(), 1);
    let bundle = samples().join("bundles/demo.json");
    let (run, r) = scan_to(
        &bundle,
        &tmp.path().join("r.json"),
        &tmp.path().join("disk.E01"),
        &["--verify-image"],
    );
    assert_ne!(run.code, 0);
    let image = &r["sources"][0]["image"];
    assert_eq!(image["complete"], false);
    let missing = image["missing"].as_str().unwrap();
    assert!(missing.starts_with("segment 2 of 5"), "{missing}");
    assert_eq!(image["verification"], "incomplete");
    let said: Vec<&Value> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["message"].as_str().unwrap().contains("segment 2"))
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
    assert_eq!(said[0]["kind"], "imageIncomplete");
    // What lies in segment 1 is still scanned.
    assert!(r["sources"][0]["filesScanned"].as_u64().unwrap() > 0);
}

/// Every corpus E01 verified by us and by ewfverify (libewf): the same
/// media MD5, and `match` exactly where ewfverify says SUCCESS.
#[test]
fn corpus_sets_verify_as_ewfverify_verifies_them() {
    let Some(dir) = corpus("images/ewf") else {
        return;
    };
    let have_ewfverify = std::process::Command::new("ewfverify")
        .arg("-V")
        .output()
        .is_ok();
    if !have_ewfverify {
        assert!(
            std::env::var_os("BREACHSCAN_REQUIRE_TSK").is_none(),
            "ewfverify (ewf-tools) is required here"
        );
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let bundle = samples().join("bundles/demo.json");
    let mut compared = 0;
    for e in fs::read_dir(&dir).unwrap() {
        let path = e.unwrap().path();
        if path.extension().and_then(|x| x.to_str()) != Some("E01") {
            continue;
        }
        let out = std::process::Command::new("ewfverify")
            .args(["-q", "-d", "sha1"])
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        let theirs = text
            .lines()
            .find_map(|l| l.strip_prefix("MD5 hash calculated over data:"))
            .map(|h| h.trim().to_string());
        let (_, r) = scan_to(
            &bundle,
            &tmp.path().join("r.json"),
            &path,
            &["--verify-image"],
        );
        let Some(image) = r["sources"][0].get("image") else {
            // Neither opens the fuzzed sets.
            assert!(!text.contains("SUCCESS"), "{}", path.display());
            continue;
        };
        assert_eq!(
            image["computedHashes"]["md5"].as_str(),
            theirs.as_deref(),
            "{}",
            path.display()
        );
        assert_eq!(
            image["verification"] == "match",
            text.contains("ewfverify: SUCCESS"),
            "{}: {image}",
            path.display()
        );
        compared += 1;
    }
    assert!(compared >= 7, "{compared}");
}
