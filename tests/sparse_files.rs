//! Sparse files are matched by name and path but their holes not hashed
//! unless asked (`--hash-sparse`): a system disk's `$UsnJrnl:$J` claims
//! tens of GB of zeros. The holes are known from the layout, never by
//! reading: host files (SEEK_HOLE), ext extents, NTFS runs.

mod support;

use std::path::Path;

use serde_json::Value;
use support::*;

/// A FileName IOC for `name` and an MD5 IOC nothing has.
fn bundle(dir: &Path, name: &str) -> std::path::PathBuf {
    let p = dir.join("bundle.json");
    let text = format!(
        r#"{{"alertDefinitions":[{{"id":"a","name":"Sparse","severity":"High","category":"x",
        "description":"d","recommendedAction":"r"}}],
        "iocs":[{{"id":"name","alertDefinitionId":"a","type":"FileName","value":"{name}",
        "detectionFunction":"Equals"}},
        {{"id":"md5","alertDefinitionId":"a","type":"Md5",
        "value":"0123456789abcdef0123456789abcdef","detectionFunction":"Equals"}}]}}"#
    );
    std::fs::write(&p, text).unwrap();
    p
}

/// The `sparseNotHashed` entries: (path, message).
fn sparse(report: &Value) -> Vec<(String, String)> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "sparseNotHashed")
        .map(|e| {
            assert_eq!(e["class"], "skipped");
            (
                e["path"].as_str().unwrap().to_string(),
                e["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The MD5 of the evidence item for `path` (null when not hashed).
fn evidence_md5(report: &Value, path: &str) -> Value {
    let e: Vec<&Value> = file_evidence(report)
        .filter(|e| e["file"]["path"] == path)
        .collect();
    assert_eq!(e.len(), 1, "one evidence item for {path}: {report}");
    e[0]["file"]["md5"].clone()
}

#[test]
fn a_sparse_host_file_is_matched_by_name_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("evidence");
    std::fs::create_dir(&target).unwrap();
    let sparse_file = target.join("journal.bin");
    let f = std::fs::File::create(&sparse_file).unwrap();
    f.set_len(3 << 20).unwrap();
    drop(f);
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(&sparse_file)
        .unwrap()
        .write_all(b"after the holes")
        .unwrap();
    // A dense file as large: not listed.
    std::fs::write(target.join("dense.bin"), vec![7u8; 3 << 20]).unwrap();
    let content = std::fs::read(&sparse_file).unwrap();
    use std::os::unix::fs::MetadataExt;
    if std::fs::metadata(&sparse_file).unwrap().blocks() * 512 >= 1 << 20 {
        eprintln!("the temporary folder's filesystem stores no holes: skipped");
        return;
    }
    let b = bundle(dir.path(), "journal.bin");
    let out = dir.path().join("r.json");

    let (run, r) = scan_to(&b, &out, &target, &["--sparse-limit", "1M"]);
    assert_eq!(run.code, 1, "{}", run.stderr);
    let listed = sparse(&r);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].0, "/journal.bin");
    assert!(
        listed[0]
            .1
            .starts_with("3145728 of its 3145743 bytes are sparse holes"),
        "{}",
        listed[0].1
    );
    assert_eq!(evidence_md5(&r, "/journal.bin"), Value::Null);

    let (run, r) = scan_to(
        &b,
        &out,
        &target,
        &["--sparse-limit", "1M", "--hash-sparse"],
    );
    assert_eq!(run.code, 1, "{}", run.stderr);
    assert!(sparse(&r).is_empty());
    assert_eq!(evidence_md5(&r, "/journal.bin"), md5_hex(&content));

    // Under the default limit (1 GiB of holes) it is an ordinary file.
    let (_, r) = scan_to(&b, &out, &target, &[]);
    assert!(sparse(&r).is_empty());
    assert_eq!(evidence_md5(&r, "/journal.bin"), md5_hex(&content));
}

#[test]
fn an_ext_file_with_holes_inside_an_image_is_listed() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("ext4-inline.raw");
    std::fs::write(&image, gunzip(&samples().join("images/ext4-inline.raw.gz"))).unwrap();
    let b = bundle(dir.path(), "sparse.bin");
    let out = dir.path().join("r.json");
    let (_, r) = scan_to(&b, &out, &image, &["--sparse-limit", "1M"]);
    // 2 MiB of holes but the first 1 KiB block, which mke2fs stored.
    assert_eq!(
        sparse(&r),
        [(
            "ext4 › /sparse.bin".to_string(),
            "2096128 of its 2097167 bytes are sparse holes (zeros nothing stores): matched by \
             name and path only, not hashed (--hash-sparse hashes it)"
                .to_string()
        )]
    );
    assert_eq!(evidence_md5(&r, "/sparse.bin"), Value::Null);
    let (_, r) = scan_to(&b, &out, &image, &["--sparse-limit", "1M", "--hash-sparse"]);
    assert!(sparse(&r).is_empty());
    let mut want = vec![0u8; 2 << 20];
    want.extend_from_slice(b"after the holes");
    assert_eq!(evidence_md5(&r, "/sparse.bin"), md5_hex(&want));
}

#[test]
fn an_ntfs_sparse_stream_counts_only_its_unstored_clusters() {
    let Some(dir) = corpus("images/ntfs") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let b = bundle(tmp.path(), "sparse-file");
    let out = tmp.path().join("r.json");
    // 977 clusters of 512 bytes, two stored: 975 are holes.
    let (_, r) = scan_to(&b, &out, &dir.join("testfs1"), &["--sparse-limit", "256K"]);
    let listed = sparse(&r);
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].0, "ntfs › /sparse-file");
    assert!(
        listed[0].1.starts_with("499200 of its 500005 bytes"),
        "{}",
        listed[0].1
    );
    // Above its holes, the limit lets it be hashed.
    let (_, r) = scan_to(
        &b,
        &out,
        &dir.join("testfs1"),
        &["--sparse-limit", "500000"],
    );
    assert!(sparse(&r).is_empty());
    assert!(evidence_md5(&r, "/sparse-file").is_string());
}
