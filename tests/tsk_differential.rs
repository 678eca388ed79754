//! Every file The Sleuth Kit sees, with the same name and bytes.
//!
//! For every disk image under `samples/` and `../shared/corpus/images`, the
//! regular files and streams breachscan reports (path, size, MD5, deleted)
//! are compared with what TSK lists (`fls -r -p`) and extracts (`icat`),
//! volume by volume (`mmls`). Every difference is fixed or explained in
//! `tests/tsk-differences.txt`; an unexplained one fails the test, and so
//! does an explanation that no longer matches anything (the list stays
//! true). The agreement figures are printed (and kept in the README).
//!
//! TSK does not replay an ext journal, and breachscan does (as a mount
//! would): for an ext image whose journal still holds transactions, TSK's
//! side reads a copy replayed by `e2fsck -E journal_only`.
//!
//! Needs sleuthkit (`.ci/run` installs it and sets BREACHSCAN_REQUIRE_TSK,
//! which turns its absence into a failure); skipped otherwise.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use support::*;

/// What one side says of a file: size, MD5, deleted.
type Facts = (u64, String, bool);
/// (image, volume offset in bytes, path) → facts.
type Listing = BTreeMap<(String, u64, String), Facts>;

fn have_tsk() -> bool {
    let ok = Command::new("fls").arg("-V").output().is_ok();
    if !ok {
        assert!(
            std::env::var_os("BREACHSCAN_REQUIRE_TSK").is_none(),
            "sleuthkit (fls, icat, mmls) is required here but not installed"
        );
        eprintln!("sleuthkit not installed: the differential test is skipped");
    }
    ok
}

/// The images to compare: the samples (decompressed) and the corpus's.
fn images(tmp: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for name in [
        "disk.raw",
        "mbr.raw",
        "ext3-4k.raw",
        "ext4-inline.raw",
        "ext4-journal.raw",
        "ntfs-links.raw",
    ] {
        let p = tmp.join(name);
        std::fs::write(
            &p,
            gunzip(&samples().join("images").join(format!("{name}.gz"))),
        )
        .unwrap();
        out.push((format!("samples/{name}"), p));
    }
    let e01 = tmp.join("disk.E01");
    std::fs::write(&e01, gunzip(&samples().join("images/disk.E01.gz"))).unwrap();
    out.push(("samples/disk.E01".into(), e01));
    if let Some(dir) = corpus("images/ewf") {
        for name in [
            "ctf_file6.E01",
            "exfat1.E01",
            "imageformat_mmls_1.E01",
            "nps-2010-emails.E01",
            "ntfs_sample.E01",
            "gpt_130_partitions.E01",
        ] {
            out.push((format!("corpus/ewf/{name}"), dir.join(name)));
        }
    }
    if let Some(dir) = corpus("images/ntfs") {
        out.push(("corpus/ntfs/testfs1".into(), dir.join("testfs1")));
    }
    if let Some(dir) = corpus("images/ext") {
        for name in [
            "test_disk1",
            "test_disk_ext2",
            "test_disk_ext3",
            "test_disk_4k_block_journal",
        ] {
            let packed = dir.join(format!("{name}.bin.zst"));
            let p = tmp.join(format!("{name}.bin"));
            let unpacked = Command::new("zstd")
                .args(["-q", "-d", "-f", "-o"])
                .arg(&p)
                .arg(&packed)
                .status()
                .is_ok_and(|s| s.success());
            if unpacked {
                out.push((format!("corpus/ext/{name}.bin"), p));
            } else {
                eprintln!("zstd missing: corpus/ext/{name} not compared");
            }
        }
    }
    out
}

/// The image as a mount would see it: a copy with its ext journal replayed
/// by e2fsck when the filesystem needs recovery, else the image itself.
fn as_mounted(image: &Path, tmp: &Path) -> PathBuf {
    let Ok(head) = Command::new("dumpe2fs").arg("-h").arg(image).output() else {
        return image.to_path_buf();
    };
    if !String::from_utf8_lossy(&head.stdout).contains("needs_recovery") {
        return image.to_path_buf();
    }
    let copy = tmp.join(format!(
        "{}.replayed",
        image.file_name().unwrap().to_string_lossy()
    ));
    std::fs::copy(image, &copy).unwrap();
    // Exit 1: "errors corrected", which replaying is.
    let replay = Command::new("e2fsck")
        .args(["-y", "-E", "journal_only"])
        .arg(&copy)
        .output()
        .unwrap();
    assert!(
        replay.status.code().is_some_and(|c| c <= 1),
        "e2fsck could not replay {}: {}",
        image.display(),
        String::from_utf8_lossy(&replay.stderr)
    );
    copy
}

/// TSK sanitises names for printing: control characters become `^`.
fn tsk_name(s: &str) -> String {
    s.chars()
        .map(|c| if (c as u32) < 0x20 { '^' } else { c })
        .collect()
}

/// breachscan's side: every file made evidence by a bundle that matches
/// every path.
fn ours(label: &str, image: &Path, tmp: &Path) -> Listing {
    let bundle = tmp.join("every-file.json");
    std::fs::write(
        &bundle,
        r#"{"alertDefinitions":[{"id":"a","name":"every file","severity":"Low"}],
            "iocs":[{"id":"i","alertDefinitionId":"a","type":"FilePath","value":"/","detectionFunction":"Contains"}]}"#,
    )
    .unwrap();
    let report = tmp.join("tsk-report.json");
    let _ = std::fs::remove_file(&report);
    scan_to(&bundle, &report, image, &[]);
    let r = read_report(&report);
    let mut out = Listing::new();
    for e in file_evidence(&r) {
        let offset = e["location"]["volume"]["offset"].as_u64().unwrap_or(0);
        let path = match e["location"]["pathHex"].as_str() {
            Some(hex) => String::from_utf8_lossy(&hex::decode(hex).unwrap()).into_owned(),
            None => e["location"]["path"].as_str().unwrap().to_string(),
        };
        let f = &e["file"];
        out.insert(
            (label.to_string(), offset, tsk_name(&path)),
            (
                f["size"].as_u64().unwrap(),
                f["md5"].as_str().unwrap_or("").to_string(),
                f["deleted"].as_bool().unwrap(),
            ),
        );
    }
    out
}

/// Volume offsets (bytes) as `mmls` lists them; the whole disk when it
/// finds no table.
fn volumes(image: &Path) -> Vec<u64> {
    let out = Command::new("mmls").arg(image).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let mut v: Vec<u64> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            // "004:  000  0000002048  0000075775  0000073728  Basic data"
            let slot = f.get(1)?;
            if !slot.chars().next()?.is_ascii_digit() {
                return None;
            }
            f.get(2)?.parse::<u64>().ok().map(|s| s * 512)
        })
        .collect();
    if v.is_empty() {
        v.push(0);
    }
    v
}

/// TSK's side: every regular file and stream `fls` lists, read by `icat`.
fn tsk(label: &str, image: &Path) -> Listing {
    let mut entries: Vec<(u64, String, String, bool)> = Vec::new();
    for offset in volumes(image) {
        let out = Command::new("fls")
            .args(["-r", "-p", "-o", &(offset / 512).to_string()])
            .arg(image)
            .output()
            .unwrap();
        for line in String::from_utf8_lossy(&out.stdout).lines() {
            // "r/r * 86-128-2:\tUsers/alice/gone.txt"
            let Some((head, path)) = line.split_once(":\t") else {
                continue;
            };
            let f: Vec<&str> = head.split_whitespace().collect();
            let (types, deleted, inode) = match f.as_slice() {
                [t, "*", i] => (*t, true, *i),
                [t, i] => (*t, false, *i),
                _ => continue,
            };
            // Regular files only (`r/r`, or `-/r` for a deleted name);
            // `(realloc)`: a name whose inode now belongs to another file.
            if !types.ends_with("/r") || inode.contains("realloc") {
                continue;
            }
            entries.push((offset, inode.to_string(), format!("/{path}"), deleted));
        }
    }
    let results: Vec<_> = std::thread::scope(|s| {
        let chunks: Vec<_> = entries.chunks(entries.len().div_ceil(4).max(1)).collect();
        let handles: Vec<_> = chunks
            .into_iter()
            .map(|chunk| {
                s.spawn(move || {
                    chunk
                        .iter()
                        .map(|(offset, inode, path, deleted)| {
                            let data = Command::new("icat")
                                .args(["-o", &(offset / 512).to_string()])
                                .arg(image)
                                .arg(inode)
                                .output()
                                .unwrap()
                                .stdout;
                            (
                                (label.to_string(), *offset, tsk_name(path)),
                                (data.len() as u64, md5_hex(&data), *deleted),
                            )
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    results.into_iter().collect()
}

/// One explained difference: image and path globs (`*` any run), the side
/// (`tsk-only`, `ours-only`, `content`, `deleted`) and the reason.
struct Explained {
    image: String,
    path: String,
    side: String,
    reason: String,
    used: usize,
}

fn glob(pattern: &str, s: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == s;
    }
    let mut rest = match s.strip_prefix(parts[0]) {
        Some(r) => r,
        None => return false,
    };
    for (i, p) in parts[1..].iter().enumerate() {
        if i == parts.len() - 2 {
            return rest.ends_with(p);
        }
        match rest.find(p) {
            Some(at) => rest = &rest[at + p.len()..],
            None => return false,
        }
    }
    true
}

fn explanations() -> Vec<Explained> {
    let text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/tsk-differences.txt"),
    )
    .unwrap();
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(
                f.len(),
                4,
                "tsk-differences.txt: 4 tab-separated fields: {l:?}"
            );
            Explained {
                image: f[0].into(),
                path: f[1].into(),
                side: f[2].into(),
                reason: f[3].into(),
                used: 0,
            }
        })
        .collect()
}

#[test]
fn every_file_tsk_sees_with_the_same_name_and_bytes() {
    if !have_tsk() {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let mut explained = explanations();
    let (mut ours_all, mut tsk_all) = (Listing::new(), Listing::new());
    for (label, image) in images(tmp.path()) {
        ours_all.extend(ours(&label, &image, tmp.path()));
        tsk_all.extend(tsk(&label, &as_mounted(&image, tmp.path())));
    }
    let keys: BTreeSet<_> = ours_all.keys().chain(tsk_all.keys()).cloned().collect();
    let mut unexplained = Vec::new();
    let (mut both, mut same) = (0, 0);
    let mut by_reason: BTreeMap<String, usize> = BTreeMap::new();
    for key in keys {
        let (o, t) = (ours_all.get(&key), tsk_all.get(&key));
        let sides: Vec<&str> = match (o, t) {
            (Some(o), Some(t)) => {
                both += 1;
                let mut d = Vec::new();
                if (o.0, &o.1) != (t.0, &t.1) {
                    d.push("content");
                }
                if o.2 != t.2 {
                    d.push("deleted");
                }
                if d.is_empty() {
                    same += 1;
                }
                d
            }
            (Some(_), None) => vec!["ours-only"],
            (None, Some(_)) => vec!["tsk-only"],
            (None, None) => unreachable!(),
        };
        for side in sides {
            let (image, _, path) = &key;
            match explained
                .iter_mut()
                .find(|e| e.side == side && glob(&e.image, image) && glob(&e.path, path))
            {
                Some(e) => {
                    e.used += 1;
                    *by_reason.entry(e.reason.clone()).or_default() += 1;
                }
                None => unexplained.push(format!("{side}: {key:?} ours {o:?} tsk {t:?}")),
            }
        }
    }
    eprintln!(
        "TSK lists {} files and streams, breachscan {}; both list {both}, of which {same} agree on size, MD5 and deletion",
        tsk_all.len(),
        ours_all.len()
    );
    for (reason, n) in &by_reason {
        eprintln!("  explained ×{n}: {reason}");
    }
    assert!(
        unexplained.is_empty(),
        "{} unexplained differences with TSK:\n{}",
        unexplained.len(),
        unexplained.join("\n")
    );
    let corpus_here = corpus("images").is_some();
    let stale: Vec<String> = explained
        .iter()
        .filter(|e| e.used == 0 && (corpus_here || e.image.starts_with("samples/")))
        .map(|e| format!("{}\t{}\t{}", e.image, e.path, e.side))
        .collect();
    assert!(
        stale.is_empty(),
        "explanations in tsk-differences.txt that match nothing any more:\n{}",
        stale.join("\n")
    );
}
