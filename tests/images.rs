//! Disk images through the real binary, on the sample images that
//! `scripts/make-sample-images.sh` builds (committed gzip-compressed under
//! samples/images): every container format yields the same files with the
//! payload's exact digests, every volume and filesystem path is covered, the
//! event logs inside are parsed, locations carry the whole chain, and the
//! image is never written.

mod support;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use support::*;

/// Decompresses the sample images into a fresh temp dir.
fn images() -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let src = samples().join("images");
    let dst = tmp.path().join("images");
    fn walk(src: &Path, dst: &Path) {
        fs::create_dir_all(dst).unwrap();
        for e in fs::read_dir(src).unwrap() {
            let e = e.unwrap();
            let name = e.file_name().into_string().unwrap();
            if e.file_type().unwrap().is_dir() {
                walk(&e.path(), &dst.join(&name));
            } else if let Some(stem) = name.strip_suffix(".gz") {
                fs::write(dst.join(stem), gunzip(&e.path())).unwrap();
            } else {
                fs::copy(e.path(), dst.join(&name)).unwrap();
            }
        }
    }
    walk(&src, &dst);
    (tmp, dst)
}

/// `payload.sha256`: (disk, partition index, path, deleted) → sha256.
fn payload(dir: &Path) -> Vec<(String, u64, String, bool, String)> {
    fs::read_to_string(dir.join("payload.sha256"))
        .unwrap()
        .lines()
        .map(|l| {
            let (hash, rest) = l.split_once("  ").unwrap();
            let (disk, rest) = rest.split_once(" p").unwrap();
            let (idx, path) = rest.split_once(' ').unwrap();
            let (path, deleted) = match path.strip_suffix(" (deleted)") {
                Some(p) => (p, true),
                None => (path, false),
            };
            (
                disk.to_string(),
                idx.parse().unwrap(),
                path.to_string(),
                deleted,
                hash.to_string(),
            )
        })
        .collect()
}

/// A native bundle holding every non-empty payload digest, one IOC each.
fn digest_bundle(dir: &Path, out: &Path) {
    let hashes: BTreeSet<String> = payload(dir)
        .into_iter()
        .map(|p| p.4)
        .filter(|h| !h.starts_with("e3b0c442")) // empty file: every empty stream matches
        .collect();
    let iocs: Vec<Value> = hashes
        .iter()
        .enumerate()
        .map(|(i, h)| json!({"id": format!("h{i}"), "type": "Sha256", "value": h, "alertDefinitionId": "ad"}))
        .collect();
    let bundle = json!({
        "alertDefinitions": [{"id": "ad", "name": "Planted files", "severity": "High"}],
        "iocs": iocs,
    });
    fs::write(out, serde_json::to_vec(&bundle).unwrap()).unwrap();
}

/// (partition index, path, deleted, sha256) of every file evidence item.
fn found(report: &Value) -> BTreeSet<(u64, String, bool, String)> {
    file_evidence(report)
        .map(|e| {
            (
                e["location"]["volume"]["index"].as_u64().unwrap(),
                e["location"]["path"].as_str().unwrap().to_string(),
                e["file"]["deleted"].as_bool().unwrap(),
                e["file"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn expected(dir: &Path, disk: &str) -> BTreeSet<(u64, String, bool, String)> {
    payload(dir)
        .into_iter()
        .filter(|p| p.0 == disk && !p.4.starts_with("e3b0c442"))
        .map(|p| (p.1, p.2, p.3, p.4))
        .collect()
}

#[test]
fn every_container_of_the_gpt_disk_yields_the_payload_digests() {
    let (tmp, dir) = images();
    let bundle = tmp.path().join("b.json");
    digest_bundle(&dir, &bundle);
    // Split raw: the same disk cut into parts, as acquisition tools write it.
    let raw = fs::read(dir.join("disk.raw")).unwrap();
    for (i, part) in raw.chunks(20 << 20).enumerate() {
        fs::write(dir.join(format!("disk.split.{:03}", i + 1)), part).unwrap();
    }
    let want = expected(&dir, "disk");
    assert_eq!(want.len(), 14, "payload list changed?");
    for (file, format) in [
        ("disk.raw", "raw"),
        ("disk.split.001", "split"),
        ("disk.E01", "e01"),
        ("seg/disk.E01", "e01"),
        ("disk.vhd", "vhd"),
        ("disk-fixed.vhd", "vhd"),
        ("disk.vhdx", "vhdx"),
        ("disk.vmdk", "vmdk"),
        ("disk-stream.vmdk", "vmdk"),
        ("disk-split.vmdk", "vmdk"),
        ("disk.qcow2", "qcow2"),
        ("disk-compressed.qcow2", "qcow2"),
    ] {
        let (run, report) = scan_to(&bundle, &tmp.path().join("r.json"), &dir.join(file), &[]);
        assert_eq!(run.code, 1, "{file}: {}", run.stderr);
        assert_eq!(report["sources"][0]["kind"], "image", "{file}");
        assert_eq!(report["sources"][0]["format"], format, "{file}");
        assert_eq!(
            errors_but_bad_clusters(&report),
            Vec::<Value>::new(),
            "{file}"
        );
        assert_eq!(found(&report), want, "{file}");
    }
}

#[test]
fn mbr_disk_with_logical_partitions_fat32_fat16_and_exfat() {
    let (tmp, dir) = images();
    let bundle = tmp.path().join("b.json");
    digest_bundle(&dir, &bundle);
    let (run, report) = scan_to(
        &bundle,
        &tmp.path().join("r.json"),
        &dir.join("mbr.raw"),
        &[],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(found(&report), expected(&dir, "mbr"));
    assert_eq!(report["errors"], json!([]));
    let ev: Vec<&Value> = report["alerts"][0]["evidence"]
        .as_array()
        .unwrap()
        .iter()
        .collect();
    let vol = |idx: u64| {
        ev.iter()
            .find(|e| e["location"]["volume"]["index"] == idx)
            .map(|e| e["location"]["volume"].clone())
            .unwrap()
    };
    assert_eq!(vol(1)["scheme"], "mbr");
    assert_eq!(vol(1)["filesystem"], "fat32");
    assert_eq!(vol(1)["offset"], 2048 * 512);
    assert_eq!(vol(1)["type"], "0x0c (FAT32)");
    assert_eq!(vol(5)["filesystem"], "fat16");
    assert_eq!(vol(5)["offset"], 86016 * 512);
}

#[test]
fn locations_name_volume_filesystem_record_stream_and_deletion() {
    let (tmp, dir) = images();
    let ads = "eacd09517ce90d34ba562171d15ac40d302f0e691b439f91be1b6406e25f5913";
    let bundle = tmp.path().join("b.json");
    fs::write(
        &bundle,
        json!({
            "alertDefinitions": [{"id": "ad", "name": "x", "severity": "Low"}],
            "iocs": [
                {"id": "ads", "type": "Sha256", "value": ads, "alertDefinitionId": "ad"},
                {"id": "gone", "type": "FileName", "value": "gone.txt", "alertDefinitionId": "ad"},
                {"id": "passwd", "type": "FilePath", "value": "/etc/passwd", "alertDefinitionId": "ad"},
            ]
        })
        .to_string(),
    )
    .unwrap();
    let (_, report) = scan_to(
        &bundle,
        &tmp.path().join("r.json"),
        &dir.join("disk.E01"),
        &[],
    );
    let ev = report["alerts"][0]["evidence"].as_array().unwrap();
    let by = |id: &str| ev.iter().find(|e| e["ioc"]["id"] == id).unwrap();
    let a = by("ads");
    assert_eq!(a["file"]["stream"], "Zone.Identifier");
    assert_eq!(
        a["location"]["path"],
        "/Users/alice/eicar.com:Zone.Identifier"
    );
    assert!(
        a["location"]["display"]
            .as_str()
            .unwrap()
            .ends_with("disk.E01 › p1 (ntfs) › /Users/alice/eicar.com:Zone.Identifier"),
        "{}",
        a["location"]["display"]
    );
    let v = &a["location"]["volume"];
    assert_eq!(
        (
            &v["index"],
            &v["offset"],
            &v["scheme"],
            &v["name"],
            &v["filesystem"]
        ),
        (
            &json!(1),
            &json!(2048 * 512),
            &json!("gpt"),
            &json!("Basic data partition"),
            &json!("ntfs")
        )
    );
    assert!(v["type"].as_str().unwrap().contains("Basic data"));
    assert!(
        a["file"]["inode"].as_u64().unwrap() > 15,
        "MFT record number"
    );
    let g = by("gone");
    assert_eq!(g["file"]["deleted"], true);
    assert_eq!(
        g["file"]["sha1"].as_str().unwrap(),
        sha1_hex(b"to be deleted\n")
    );
    let p = by("passwd");
    assert_eq!(p["file"]["deleted"], true);
    assert_eq!(p["location"]["volume"]["filesystem"], "ext4");
    assert_eq!(p["location"]["volume"]["name"], "linuxdata");
    assert_eq!(
        p["file"]["md5"].as_str().unwrap(),
        md5_hex(b"root:x:0:0::/root:/bin/bash\n")
    );
}

#[test]
fn event_logs_inside_images_are_parsed_wherever_they_are() {
    let (tmp, dir) = images();
    let bundle = tmp.path().join("b.json");
    fs::write(
        &bundle,
        json!({
            "alertDefinitions": [{"id": "ad", "name": "C2", "severity": "High"}],
            "iocs": [{"id": "c2", "type": "IpAddress", "value": "203.0.113.66", "alertDefinitionId": "ad"}]
        })
        .to_string(),
    )
    .unwrap();
    for (disk, logs) in [
        (
            "disk.vhdx",
            vec![
                "p1 (ntfs) › /Users/alice/Documents/nested/copy-of-log.bin › record 2",
                "p1 (ntfs) › /Windows/System32/winevt/Logs/Microsoft-Windows-Sysmon%4Operational.evtx › record 2",
                "p2 (ext4) › /home/bob/auth.evtx › record 2",
            ],
        ),
        ("mbr.raw", vec!["p1 (fat32) › /DCIM/Sysmon.evtx › record 2"]),
    ] {
        let (run, report) = scan_to(&bundle, &tmp.path().join("r.json"), &dir.join(disk), &[]);
        assert_eq!(run.code, 1, "{disk}");
        let got: BTreeSet<String> = report["alerts"][0]["evidence"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| {
                assert_eq!(e["kind"], "record");
                assert_eq!(e["field"], "DestinationIp");
                let d = e["location"]["display"].as_str().unwrap();
                d.split_once(" › ").unwrap().1.to_string()
            })
            .collect();
        assert_eq!(got, logs.into_iter().map(String::from).collect(), "{disk}");
        assert!(report["sources"][0]["recordsScanned"].as_u64().unwrap() >= 39);
    }
}

#[test]
fn scanning_never_writes_the_image() {
    let (tmp, dir) = images();
    let bundle = tmp.path().join("b.json");
    digest_bundle(&dir, &bundle);
    for file in [
        "disk.vhdx",
        "disk.E01",
        "disk.raw",
        "mbr.raw",
        "disk.qcow2",
        "disk.vmdk",
    ] {
        let path = dir.join(file);
        let before = sha256_hex(&fs::read(&path).unwrap());
        let mtime = fs::metadata(&path).unwrap().modified().unwrap();
        // Read-only on disk too: a scanner that opened it writable would fail.
        let mut perm = fs::metadata(&path).unwrap().permissions();
        perm.set_readonly(true);
        fs::set_permissions(&path, perm).unwrap();
        let (run, _) = scan_to(&bundle, &tmp.path().join("r.json"), &path, &[]);
        assert_eq!(run.code, 1, "{file}: {}", run.stderr);
        assert_eq!(
            sha256_hex(&fs::read(&path).unwrap()),
            before,
            "{file} changed"
        );
        assert_eq!(
            fs::metadata(&path).unwrap().modified().unwrap(),
            mtime,
            "{file}"
        );
    }
}

#[test]
fn damaged_images_are_reported_and_the_rest_is_scanned() {
    let (tmp, dir) = images();
    let bundle = tmp.path().join("b.json");
    digest_bundle(&dir, &bundle);
    // Cut the disk inside the ext4 partition: NTFS is whole, ext4 is not.
    let raw = fs::read(dir.join("disk.raw")).unwrap();
    let cut = tmp.path().join("cut.raw");
    fs::write(&cut, &raw[..40 << 20]).unwrap();
    let (run, report) = scan_to(&bundle, &tmp.path().join("r.json"), &cut, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let ntfs: BTreeSet<_> = expected(&dir, "disk")
        .into_iter()
        .filter(|e| e.0 == 1)
        .collect();
    let got: BTreeSet<_> = found(&report).into_iter().filter(|e| e.0 == 1).collect();
    assert_eq!(got, ntfs);
    let kinds: BTreeSet<&str> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(kinds.contains("partitionTable"), "{kinds:?}");
    assert_eq!(report["scan"]["complete"], false);

    // A container that is not what its magic says: a clear error, exit 2.
    let fake = tmp.path().join("fake.E01");
    let mut bytes = b"EVF\x09\x0d\x0a\xff\x00".to_vec();
    bytes.extend(std::iter::repeat_n(0x41u8, 5000));
    fs::write(&fake, bytes).unwrap();
    let (run, report) = scan_to(&bundle, &tmp.path().join("r2.json"), &fake, &[]);
    assert_eq!(run.code, 2);
    let e = &report["errors"][0];
    assert_eq!(e["kind"], "targetUnreadable");
    assert!(e["message"].as_str().unwrap().contains("e01"), "{e}");

    // An empty file named like a segment: refused by name, cleanly.
    let empty = tmp.path().join("bogus.E01");
    fs::write(&empty, b"").unwrap();
    let (run, report) = scan_to(&bundle, &tmp.path().join("r3.json"), &empty, &[]);
    assert_eq!(run.code, 2);
    assert_eq!(report["errors"][0]["kind"], "targetUnreadable");
}

#[test]
fn images_inside_a_directory_are_opened_and_scanned_too() {
    let (tmp, dir) = images();
    let bundle = tmp.path().join("b.json");
    digest_bundle(&dir, &bundle);
    let (run, report) = scan_to(&bundle, &tmp.path().join("r.json"), &dir, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert_eq!(errors_but_bad_clusters(&report), Vec::<Value>::new());
    // Evidence inside each image, keyed by the image's path in the folder.
    let mut by_image: std::collections::BTreeMap<String, BTreeSet<(u64, String, bool, String)>> =
        Default::default();
    for e in report["alerts"][0]["evidence"].as_array().unwrap() {
        let Some(image) = e["location"]["volume"]["image"].as_str() else {
            continue;
        };
        assert!(
            e["location"]["display"]
                .as_str()
                .unwrap()
                .contains(&format!(" › {image} › p")),
            "{}",
            e["location"]["display"]
        );
        by_image.entry(image.to_string()).or_default().insert((
            e["location"]["volume"]["index"].as_u64().unwrap(),
            e["location"]["path"].as_str().unwrap().to_string(),
            e["file"]["deleted"].as_bool().unwrap(),
            e["file"]["sha256"].as_str().unwrap().to_string(),
        ));
    }
    // Recognised by their first bytes, once per set (later E01 segments
    // and VMDK extents belong to their first file). A raw disk, a fixed VHD
    // (footer at the end) and a VMDK text descriptor are hashed as files.
    let images: Vec<&str> = by_image.keys().map(String::as_str).collect();
    assert_eq!(
        images,
        [
            "/disk-compressed.qcow2",
            "/disk-stream.vmdk",
            "/disk.E01",
            "/disk.qcow2",
            "/disk.vhd",
            "/disk.vhdx",
            "/disk.vmdk",
            "/seg/disk.E01"
        ]
    );
    let want = expected(&dir, "disk");
    for (image, found) in &by_image {
        assert_eq!(found, &want, "{image}");
    }
}

/// An ext4 volume left as a crash leaves it (scripts/make-ext-samples.sh):
/// the committed transactions of its journal are seen as a mount would see
/// them (a file that exists only in the journal is scanned, a block revoked
/// later keeps its bytes, the uncommitted transaction is dropped), said as
/// a note, and the image is not changed.
#[test]
fn an_ext4_journal_is_replayed_in_memory_as_a_mount_would() {
    let (tmp, dir) = images();
    let image = dir.join("ext4-journal.raw");
    let before = sha256_hex(&fs::read(&image).unwrap());
    let mut perm = fs::metadata(&image).unwrap().permissions();
    perm.set_readonly(true);
    fs::set_permissions(&image, perm).unwrap();
    let bundle = tmp.path().join("every-file.json");
    fs::write(
        &bundle,
        r#"{"alertDefinitions":[{"id":"a","name":"every file","severity":"Low"}],
            "iocs":[{"id":"i","alertDefinitionId":"a","type":"FilePath","value":"/","detectionFunction":"Contains"}]}"#,
    )
    .unwrap();
    let (run, r) = scan_to(&bundle, &tmp.path().join("r.json"), &image, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let files: BTreeSet<(String, String)> = file_evidence(&r)
        .map(|e| {
            (
                e["location"]["path"].as_str().unwrap().to_string(),
                e["file"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("/before.txt", "written before the crash\n"),
        (
            "/only-in-journal.txt",
            "this file exists only in the journal\n",
        ),
    ]
    .iter()
    .map(|(p, text)| (p.to_string(), sha256_hex(text.as_bytes())))
    .collect();
    assert_eq!(files, expected);
    let notes: Vec<&Value> = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "journalReplayed")
        .collect();
    assert_eq!(notes.len(), 1, "{:#}", r["errors"]);
    assert_eq!(notes[0]["class"], "note");
    let message = notes[0]["message"].as_str().unwrap();
    assert!(
        message.contains("2 committed transactions") && message.contains("without its commit"),
        "{message}"
    );
    assert_eq!(r["summary"]["errors"], 0);
    assert_eq!(r["summary"]["skipped"], 0);
    assert_eq!(sha256_hex(&fs::read(&image).unwrap()), before);
}

/// The sample image `name`, decompressed into `dir`.
fn one_image(dir: &Path, name: &str) -> PathBuf {
    let image = dir.join(name);
    fs::write(
        &image,
        gunzip(&samples().join("images").join(format!("{name}.gz"))),
    )
    .unwrap();
    image
}

/// A file with several names on NTFS (hard links: Windows keeps its
/// System32 files as links into the WinSxS store) is listed under each
/// name with the same bytes, so that a path IOC naming any of them
/// matches, and so is a file with 41 names, most of them held in extension
/// records of its MFT record (`scripts/make-ntfs-links.sh`).
#[test]
fn every_name_of_an_ntfs_file_with_hard_links_is_matched() {
    let tmp = tempfile::tempdir().unwrap();
    let image = one_image(tmp.path(), "ntfs-links.raw");
    let names = [
        r"C:\Windows\System32\evil.dll",
        r"C:\Windows\WinSxS\amd64_evil_31bf3856\evil.dll",
        r"C:\Users\alice\renamed.bin",
    ];
    let mut iocs: Vec<Value> = names
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"id": format!("p{i}"), "type": "FilePath", "value": p, "alertDefinitionId": "a"}))
        .collect();
    iocs.push(
        json!({"id": "many", "type": "FilePath", "value": r"\Users\alice\many\",
        "detectionFunction": "Contains", "alertDefinitionId": "b"}),
    );
    let bundle = tmp.path().join("b.json");
    fs::write(
        &bundle,
        json!({"alertDefinitions": [{"id": "a", "name": "links", "severity": "High"},
            {"id": "b", "name": "many links", "severity": "Low"}], "iocs": iocs})
        .to_string(),
    )
    .unwrap();
    let (run, report) = scan_to(&bundle, &tmp.path().join("r.json"), &image, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let mut hits = BTreeSet::new();
    let mut digests = BTreeSet::new();
    let mut many = BTreeSet::new();
    for e in evidence(&report) {
        let path = e["location"]["path"].as_str().unwrap().to_string();
        let sha256 = e["file"]["sha256"].as_str().unwrap().to_string();
        if path.starts_with("/Users/alice/many/") {
            many.insert((path, sha256));
        } else {
            hits.insert(path);
            digests.insert(sha256);
        }
    }
    assert_eq!(many.len(), 41, "{many:?}");
    assert_eq!(many.iter().map(|m| &m.1).collect::<BTreeSet<_>>().len(), 1);
    let want: BTreeSet<String> = [
        "/Users/alice/renamed.bin",
        "/Windows/System32/evil.dll",
        "/Windows/WinSxS/amd64_evil_31bf3856/evil.dll",
    ]
    .map(String::from)
    .into();
    assert_eq!(hits, want);
    assert_eq!(digests.len(), 1, "one file's bytes under every name");
}

/// A file claiming more names than the 1,024 NTFS allows a file (ntfs-3g
/// wrote 1,101) is listed under the first 1,024, and the rest left out is
/// said: each name is one more read of its streams.
#[test]
fn an_ntfs_file_with_more_names_than_ntfs_allows_is_bounded_and_said() {
    let tmp = tempfile::tempdir().unwrap();
    let image = one_image(tmp.path(), "ntfs-1100-names.raw");
    let bundle = tmp.path().join("b.json");
    fs::write(
        &bundle,
        json!({"alertDefinitions": [{"id": "a", "name": "names", "severity": "Low"}],
            "iocs": [{"id": "d", "type": "FilePath", "value": r"\d\f", "detectionFunction": "Contains",
                "alertDefinitionId": "a"}]})
        .to_string(),
    )
    .unwrap();
    let (run, report) = scan_to(&bundle, &tmp.path().join("r.json"), &image, &[]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let names: BTreeSet<String> = evidence(&report)
        .map(|e| e["location"]["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names.len(), 1024);
    let said: Vec<String> = problems(&report)
        .into_iter()
        .filter(|(kind, _)| kind == "corruptEntry")
        .map(|(_, path)| path)
        .collect();
    assert_eq!(said.len(), 1, "{said:?}");
}
