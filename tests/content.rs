//! `--content`: the bundle's addresses, host names and URLs found inside
//! file bytes, as ASCII and UTF-16LE, wherever the read's chunks are cut,
//! on host directories and inside disk images.

mod support;

use std::fs;
use std::path::Path;

use serde_json::{Value, json};
use support::scan_to;

/// One IOC of each network type (and near misses the data holds), with
/// the digest IOCs given.
fn bundle(dir: &Path, name: &str, digests: &[(&str, usize)]) -> std::path::PathBuf {
    let mut iocs = vec![
        json!({"id": "dom", "alertDefinitionId": "c2", "type": "DomainName", "value": "evil.example"}),
        json!({"id": "ip", "alertDefinitionId": "c2", "type": "IpAddress", "value": "10.1.2.3"}),
        json!({"id": "url", "alertDefinitionId": "c2", "type": "Url", "value": "http://cdn.evil.example/gate.php"}),
        json!({"id": "range", "alertDefinitionId": "c2", "type": "IpAddress", "value": "10.9.0.0/16"}),
    ];
    for (t, len) in digests {
        iocs.push(
            json!({"id": t, "alertDefinitionId": "c2", "type": t, "value": "0".repeat(*len)}),
        );
    }
    let b =
        json!({"alertDefinitions": [{"id": "c2", "name": "C2", "severity": "High"}], "iocs": iocs});
    let p = dir.join(name);
    fs::write(&p, b.to_string()).unwrap();
    p
}

/// (IOC, path, offset, encoding, occurrences, matched value) of content
/// evidence, sorted.
fn content_hits(report: &Value) -> Vec<(String, String, u64, String, u64, String)> {
    let mut out: Vec<_> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .filter(|e| e["kind"] == "content")
        .map(|e| {
            let c = &e["content"];
            (
                e["ioc"]["id"].as_str().unwrap().to_string(),
                e["location"]["path"].as_str().unwrap().to_string(),
                c["offset"].as_u64().unwrap(),
                c["encoding"].as_str().unwrap().to_string(),
                c["occurrences"].as_u64().unwrap(),
                e["matchedValue"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn utf16(s: &str) -> Vec<u8> {
    s.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Bytes that hold no printable run: values placed in them stand alone.
fn filler(len: usize) -> Vec<u8> {
    let mut x = 0x9e37_79b9_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x as u8) | 0x80
        })
        .collect()
}

/// A text log, a binary with a UTF-16 URL, and a 3 MiB file whose values
/// straddle the 256 KiB and 1 MiB chunk edges of both read paths.
fn evidence_tree(root: &Path) -> Vec<(&'static str, &'static str, u64, &'static str, u64, String)> {
    fs::create_dir_all(root).unwrap();
    fs::write(
        root.join("proxy.log"),
        "GET http://cdn.evil.example/gate.php 200\nfrom 10.1.2.3:443 to 10.1.2.30 \
         notevil.example 10.9.1.1 evil.example.org\n",
    )
    .unwrap();
    let mut bin = filler(1000);
    bin.extend(utf16("https://files.EVIL.example/x"));
    bin.extend(filler(100));
    fs::write(root.join("beacon.bin"), &bin).unwrap();
    let mut big = filler(3 << 20);
    let mut put = |at: usize, s: &[u8]| big[at..at + s.len()].copy_from_slice(s);
    put((256 << 10) - 5, b" evil.example ");
    put((1 << 20) - 7, b"[10.1.2.3]");
    put((2 << 20) - 1, &utf16(" evil.example "));
    fs::write(root.join("big.bin"), &big).unwrap();
    vec![
        (
            "dom",
            "/beacon.bin",
            1016,
            "utf-16le",
            1,
            "files.EVIL.example".into(),
        ),
        (
            "dom",
            "/big.bin",
            (256 << 10) - 4,
            "ascii",
            2,
            "evil.example".into(),
        ),
        (
            "dom",
            "/proxy.log",
            11,
            "ascii",
            1,
            "cdn.evil.example".into(),
        ),
        (
            "ip",
            "/big.bin",
            (1 << 20) - 6,
            "ascii",
            1,
            "10.1.2.3".into(),
        ),
        ("ip", "/proxy.log", 46, "ascii", 1, "10.1.2.3".into()),
        (
            "url",
            "/proxy.log",
            4,
            "ascii",
            1,
            "http://cdn.evil.example/gate.php".into(),
        ),
    ]
}

#[test]
fn network_iocs_are_found_in_file_bytes_wherever_the_reads_cut_them() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ev");
    let want: Vec<_> = evidence_tree(&root)
        .into_iter()
        .map(|(i, p, o, e, n, v)| (i.into(), p.into(), o, e.into(), n, v))
        .collect();
    // SHA-256 alone reads one file at a time; MD5 too interleaves files in
    // vector lanes (where the CPU has them): both find the same.
    for (name, digests) in [
        ("sha256.json", vec![("Sha256", 64)]),
        ("md5.json", vec![("Md5", 32), ("Sha256", 64)]),
    ] {
        let b = bundle(dir.path(), name, &digests);
        let (run, report) = scan_to(&b, &dir.path().join("r.json"), &root, &[]);
        assert_eq!(run.code, 1, "{}", run.stderr);
        assert_eq!(content_hits(&report), want, "{name}");
        assert_eq!(
            report["scan"]["contentSearch"],
            json!({"iocs": 3, "unsearched": 1})
        );
        let ev = report["alerts"][0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["ioc"]["id"] == "ip" && e["location"]["path"] == "/proxy.log")
            .unwrap();
        assert!(
            ev["file"]["sha256"].is_string(),
            "evidence carries all digests"
        );
        assert!(
            ev["content"]["excerpt"]
                .as_str()
                .unwrap()
                .contains("200\\x0afrom 10.1.2.3:443"),
            "{}",
            ev["content"]["excerpt"]
        );
        let display = ev["location"]["display"].as_str().unwrap();
        assert!(display.ends_with("› /proxy.log › byte 46"), "{display}");
        let (_, off) = scan_to(&b, &dir.path().join("r.json"), &root, &["--no-content"]);
        assert!(content_hits(&off).is_empty());
        assert!(off["scan"]["contentSearch"].is_null());
    }
}

/// With no digest to compute, files are not read unless asked: then
/// every byte is read to be searched.
#[test]
fn without_digest_iocs_content_search_is_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ev");
    evidence_tree(&root);
    let b = bundle(dir.path(), "net.json", &[]);
    let (run, report) = scan_to(&b, &dir.path().join("r.json"), &root, &[]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(content_hits(&report).is_empty());
    let (run, report) = scan_to(&b, &dir.path().join("r.json"), &root, &["--content"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(content_hits(&report).len(), 6);
}

/// Files inside a disk image (ext4 built with `mkfs.ext4 -d`, no mount).
#[test]
fn files_inside_an_image_are_searched() {
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    evidence_tree(&tree.join("Users/bob"));
    let image = dir.path().join("disk.raw");
    if !support::ext4_image(&tree, &image, "16M") {
        return;
    }
    let b = bundle(dir.path(), "b.json", &[("Sha256", 64)]);
    let (run, report) = scan_to(&b, &dir.path().join("r.json"), &image, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let hits = content_hits(&report);
    assert_eq!(hits.len(), 6, "{hits:?}");
    assert!(
        hits.iter()
            .any(|h| h.0 == "url" && h.1 == "/Users/bob/proxy.log")
    );
    let ev = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "content")
        .unwrap();
    assert_eq!(ev["location"]["volume"]["filesystem"], "ext4");
}

/// A panic in the content search (injected in debug builds by a marker in
/// the bytes) fails that one file, listed with the error; the scan goes on
/// and the other files are searched, in the vector lanes and alone.
#[test]
#[cfg(debug_assertions)]
fn a_panic_in_the_content_search_fails_one_file_not_the_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ev");
    fs::create_dir(&root).unwrap();
    fs::write(
        root.join("bad.bin"),
        b"x breachscan-test-fault:content-feed y",
    )
    .unwrap();
    for i in 0..4 {
        fs::write(
            root.join(format!("proxy{i}.log")),
            b"GET http://evil.example/ 200\n",
        )
        .unwrap();
    }
    for (name, digests) in [
        ("md5.json", vec![("Md5", 32)]),
        ("sha256.json", vec![("Sha256", 64)]),
    ] {
        let b = bundle(dir.path(), name, &digests);
        let (run, report) = scan_to(&b, &dir.path().join("r.json"), &root, &[]);
        assert_eq!(run.code, 1, "{name}: {}", run.stderr);
        let hits = content_hits(&report);
        assert_eq!(hits.len(), 4, "{name}: {hits:?}");
        let errors = report["errors"].as_array().unwrap();
        assert_eq!(errors.len(), 1, "{name}: {errors:?}");
        let message = errors[0]["message"].as_str().unwrap();
        assert!(message.contains("internal error"), "{message}");
        assert!(
            errors[0].to_string().contains("bad.bin"),
            "the error names the file: {}",
            errors[0]
        );
    }
}
