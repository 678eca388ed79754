//! The response action `--collect DIR`: every file that is evidence (host
//! files, files inside images, streams, deleted files, the event logs and
//! hives that hold record and registry evidence) copied out with proof.
//!
//! It runs once the report is built, from the report: each distinct file
//! is found again (on the host by its path; inside an image by a second
//! walk of the image's metadata, content read only for the files wanted),
//! streamed into `DIR/files/…` under names made safe ([`names`]), never
//! held in memory, then read back from the copy and hashed, and the copy's
//! digests compared with the report's. `DIR/manifest.json` lists each copy
//! with its origin and facts, `DIR/hashdeep.txt` lets `hashdeep -a -k`
//! audit the folder independently, and each evidence item names its copy.

pub mod names;
mod store;

pub use store::ARCHIVE;

use std::collections::BTreeMap;
use std::io::{Read, Write};

use std::path::{Path, PathBuf};
use store::{CopyDigests, Store};

use serde::Serialize;

use crate::report::{CollectionReport, EvidenceReport, FileReport, Report, VolumeReport};
use crate::source::{self, EvidencePath, SourceItem, SourceOptions};

/// Refuses a collection folder inside a target (the copies would land on
/// evidence) or one that already holds files (nothing is overwritten).
pub fn check_dir(dir: &Path, targets: &[PathBuf]) -> Result<(), String> {
    let shown = dir.display();
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir)
            .map_err(|e| format!("--collect {shown}: cannot read it: {e}"))?;
        if entries.next().is_some() {
            return Err(format!(
                "--collect {shown} already holds files: collect into a new or empty folder \
                 (nothing is overwritten)"
            ));
        }
    }
    // The nearest folder that exists, resolved: where the copies would go.
    let absolute = std::path::absolute(dir).map_err(|e| format!("--collect {shown}: {e}"))?;
    let mut probe = absolute.as_path();
    let real = loop {
        if let Ok(r) = std::fs::canonicalize(probe) {
            break r.join(absolute.strip_prefix(probe).unwrap_or(Path::new("")));
        }
        match probe.parent() {
            Some(p) => probe = p,
            None => break absolute.clone(),
        }
    };
    for t in targets {
        let Ok(rt) = std::fs::canonicalize(t) else {
            continue;
        };
        if real.starts_with(&rt) {
            return Err(format!(
                "--collect {shown} lies inside the target {}: copies would land on evidence",
                t.display()
            ));
        }
    }
    Ok(())
}

/// What identifies one file of the evidence: its target, the image it is
/// in (found inside a folder target), the volume's offset, its path's
/// bytes, stream, inode and deleted flag.
type Key = (
    usize,
    Option<String>,
    Option<u64>,
    Vec<u8>,
    Option<String>,
    Option<u64>,
    bool,
);

/// A file to collect and the evidence items that name it.
struct Wanted {
    source: usize,
    /// The path's exact bytes inside its source (`path:stream` for a stream).
    raw: Vec<u8>,
    volume: Option<VolumeReport>,
    display: String,
    file: FileReport,
    refs: Vec<(usize, usize)>,
}

/// One line of the manifest.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Copied {
    /// The copy, relative to the collection folder.
    copy: Option<String>,
    source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    evidence_id: Option<String>,
    location: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    volume: Option<VolumeReport>,
    original: FileReport,
    /// The copy's own digests, read back after it was written.
    #[serde(skip_serializing_if = "Option::is_none")]
    copy_digests: Option<CopyDigests>,
    /// The copy matches the report's size and every digest it has.
    verified: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    problem: Option<String>,
    /// The evidence items (alert, item) that name this file.
    #[serde(skip)]
    refs: Vec<(usize, usize)>,
}

/// Copies every evidence file of `report` into `dir` (as one archive when
/// `zip`) and links each evidence item to its verified copy; `targets` are
/// the scan's, in order.
pub fn run(
    report: &mut Report,
    dir: &Path,
    zip: bool,
    targets: &[PathBuf],
    opts: &SourceOptions,
) -> std::io::Result<CollectionReport> {
    let mut store = Store::new(dir, zip)?;
    let wanted = wanted(report);
    let mut copied: Vec<Copied> = Vec::new();
    // The files of each target, and of each image found inside a folder.
    type Group<'a> = Vec<(&'a Key, &'a Wanted)>;
    let mut by_source: BTreeMap<(usize, Option<String>), Group> = BTreeMap::new();
    for (k, w) in wanted.iter().filter(|(_, w)| !undigested(&w.file)) {
        let image = w.volume.as_ref().and_then(|v| v.image.clone());
        by_source.entry((w.source, image)).or_default().push((k, w));
    }
    let mut taken = std::collections::HashSet::new();
    for ((src, image), items) in by_source {
        let target = &targets[src];
        let mut done: BTreeMap<Key, Result<String, String>> = BTreeMap::new();
        let (host, inside): (Vec<_>, Vec<_>) =
            items.iter().copied().partition(|(_, w)| w.volume.is_none());
        let single = report.sources[src].kind == "file";
        for (k, w) in host {
            // The exact bytes of its name (the report's hostPath escapes
            // those that are not UTF-8).
            let h = if single {
                target.clone()
            } else {
                use std::os::unix::ffi::OsStrExt;
                let rel = w.raw.strip_prefix(b"/").unwrap_or(&w.raw);
                target.join(std::ffi::OsStr::from_bytes(rel))
            };
            let d = dest(src, target, None, w);
            let r = source::io::open_evidence(&h, false)
                .map_err(|e| format!("cannot open {}: {e}", h.display()))
                .and_then(|mut f| store.put(&mut f, &d, w.file.size, &mut taken));
            done.insert(k.clone(), r);
        }
        if !inside.is_empty() {
            walk_image(
                target,
                image.as_deref(),
                opts,
                &inside,
                &mut |k, w, r: &mut dyn Read| {
                    let d = dest(src, target, image.as_deref(), w);
                    done.insert(k.clone(), store.put(r, &d, w.file.size, &mut taken));
                },
            )
            .unwrap_or_else(|e| {
                for (k, _) in &inside {
                    done.entry((*k).clone()).or_insert_with(|| Err(e.clone()));
                }
            });
        }
        for (k, w) in items {
            let r = done
                .remove(k)
                .unwrap_or_else(|| Err("not found again in the image's second walk".into()));
            copied.push(entry(report, w, r));
        }
    }
    // Every copy read back from the disk (the finished archive) and checked.
    let mut reader = store.read_back()?;
    for c in &mut copied {
        let Some(name) = &c.copy else { continue };
        match reader.digests(name) {
            Ok(d) => {
                let bad = mismatches(&c.original, &d);
                c.verified = bad.is_empty();
                c.problem = (!bad.is_empty()).then(|| bad.join("; "));
                c.copy_digests = Some(d);
            }
            Err(e) => c.problem = Some(e),
        }
        if c.verified {
            for &(a, e) in &c.refs {
                report.alerts[a].evidence[e].collected = Some(name.clone());
            }
        }
    }
    let failed = copied.iter().filter(|c| !c.verified).count();
    let mut not_read = 0;
    for w in wanted.values().filter(|w| undigested(&w.file)) {
        not_read += 1;
        let why = "not read by the scan (listed in its errors: too large, sparse or larger than \
                   its volume): not copied";
        copied.push(entry(report, w, Err(why.into())));
    }
    write_manifest(dir, report, &copied)?;
    Ok(CollectionReport {
        directory: std::path::absolute(dir)?.display().to_string(),
        archive: zip.then(|| ARCHIVE.to_string()),
        files: copied.iter().filter(|c| c.verified).count(),
        bytes: copied
            .iter()
            .filter_map(|c| c.copy_digests.as_ref().map(|d| d.size))
            .sum(),
        failed,
        not_collected: not_read,
    })
}

/// The distinct files of the report's evidence, with the items naming
/// each; files the scan could not read are kept apart (no digest to check
/// a copy against).
fn wanted(report: &Report) -> BTreeMap<Key, Wanted> {
    let index: BTreeMap<&str, usize> = report
        .sources
        .iter()
        .enumerate()
        .map(|(i, s)| (s.path.as_str(), i))
        .collect();
    let mut out: BTreeMap<Key, Wanted> = BTreeMap::new();
    for (a, alert) in report.alerts.iter().enumerate() {
        for (e, ev) in alert.evidence.iter().enumerate() {
            let (Some(file), Some(&src)) = (&ev.file, index.get(ev.location.source.as_str()))
            else {
                continue;
            };
            let raw = raw_path(ev);
            let vol = ev.location.volume.as_ref();
            let key: Key = (
                src,
                vol.and_then(|v| v.image.clone()),
                vol.map(|v| v.offset),
                raw,
                file.stream.clone(),
                file.inode,
                file.deleted,
            );
            out.entry(key)
                .or_insert_with(|| Wanted {
                    source: src,
                    raw: raw_path(ev),
                    volume: vol.cloned(),
                    display: display_of(ev),
                    file: file.clone(),
                    refs: Vec::new(),
                })
                .refs
                .push((a, e));
        }
    }
    out
}

/// Files with no digest were not read by the scan.
fn undigested(f: &FileReport) -> bool {
    f.md5.is_none() && f.sha1.is_none() && f.sha256.is_none() && f.size > 0
}

/// The evidence file's location, without a record's or cell's suffix.
fn display_of(ev: &EvidenceReport) -> String {
    let d = &ev.location.display;
    match ev.kind.as_str() {
        "record" => d
            .rsplit_once(" › record")
            .map_or(d.as_str(), |(f, _)| f)
            .to_string(),
        _ => d.clone(),
    }
}

/// The exact bytes of an evidence item's path.
fn raw_path(ev: &EvidenceReport) -> Vec<u8> {
    ev.location
        .path_hex
        .as_deref()
        .and_then(|h| hex::decode(h).ok())
        .unwrap_or_else(|| ev.location.path.as_bytes().to_vec())
}

/// Walks an image target (or an image found inside a folder target) and
/// hands each wanted file's content to `found`.
fn walk_image(
    target: &Path,
    image: Option<&str>,
    opts: &SourceOptions,
    wanted: &[(&Key, &Wanted)],
    found: &mut dyn FnMut(&Key, &Wanted, &mut dyn Read),
) -> Result<(), String> {
    let src: Box<dyn source::FileSource> = match image {
        None => {
            source::open(target, opts).map_err(|e| format!("cannot open the image again: {e}"))?
        }
        Some(inner) => {
            let host = target.join(inner.trim_start_matches('/'));
            let format = source::container::sniff(&host)
                .ok()
                .flatten()
                .ok_or_else(|| format!("{} is no longer an image", host.display()))?;
            let opened = source::container::open(&host, format)
                .map_err(|e| format!("cannot open the image {} again: {e}", host.display()))?;
            Box::new(source::ImageSource::nested(
                format,
                opened,
                EvidencePath::from_bytes(inner.as_bytes()),
            ))
        }
    };
    let mut left: BTreeMap<Key, &Wanted> = wanted.iter().map(|(k, w)| ((*k).clone(), *w)).collect();
    for item in src.entries() {
        if left.is_empty() {
            break;
        }
        let SourceItem::File(entry) = item else {
            continue;
        };
        let (Some((k, _)), Some(v)) = (left.first_key_value(), entry.meta.volume.as_ref()) else {
            continue;
        };
        let key: Key = (
            k.0,
            k.1.clone(),
            Some(v.offset),
            entry.path.as_bytes().to_vec(),
            entry.meta.stream.clone(),
            entry.meta.inode,
            entry.meta.deleted,
        );
        if let Some(w) = left.remove(&key) {
            match entry.content.open() {
                Ok(mut r) => found(&key, w, &mut r),
                Err(e) => {
                    let mut failing = Failing(Some(e));
                    found(&key, w, &mut failing);
                }
            }
        }
    }
    Ok(())
}

/// A reader that fails with the error met opening the file.
struct Failing(Option<std::io::Error>);

impl Read for Failing {
    fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
        Err(self
            .0
            .take()
            .unwrap_or_else(|| std::io::Error::other("cannot read")))
    }
}

/// Where a file's copy goes, relative to the collection folder:
/// `files/NN-target/[image…/]pI@OFFSET/path…`.
fn dest(src: usize, target: &Path, image: Option<&str>, w: &Wanted) -> PathBuf {
    let name = target.file_name().map_or_else(
        || b"target".to_vec(),
        |n| EvidencePath::from_os(n).as_bytes().to_vec(),
    );
    let mut p = PathBuf::from("files").join(format!("{:02}-{}", src + 1, names::component(&name)));
    if let Some(img) = image {
        for c in img.split('/').filter(|c| !c.is_empty()) {
            p.push(names::component(c.as_bytes()));
        }
    }
    if let Some(v) = &w.volume {
        p.push(format!("p{}@{}", v.index, v.offset));
    }
    // A stream's path is `file:name`; its `:` is escaped.
    for c in w.raw.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
        p.push(names::component(c));
    }
    if w.file.deleted {
        let last = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        p.set_file_name(format!("{last}~deleted"));
    }
    p
}

/// The manifest line of a file: where its copy was stored, or why not
/// (checked once read back).
fn entry(report: &Report, w: &Wanted, r: Result<String, String>) -> Copied {
    let s = &report.sources[w.source];
    let (copy, problem) = match r {
        Ok(name) => (Some(name), None),
        Err(e) => (None, Some(e)),
    };
    Copied {
        copy,
        source: s.path.clone(),
        evidence_id: s.evidence_id.clone(),
        location: w.display.clone(),
        volume: w.volume.clone(),
        original: w.file.clone(),
        copy_digests: None,
        verified: false,
        problem,
        refs: w.refs.clone(),
    }
}

/// How a copy differs from the file the report describes (its size, and
/// each digest the report has).
fn mismatches(f: &FileReport, d: &CopyDigests) -> Vec<String> {
    let mut bad = Vec::new();
    if d.size != f.size {
        bad.push(format!("{} bytes copied, {} in the report", d.size, f.size));
    }
    for (name, want, got) in [
        ("MD5", &f.md5, &d.md5),
        ("SHA-1", &f.sha1, &d.sha1),
        ("SHA-256", &f.sha256, &d.sha256),
    ] {
        if want.as_ref().is_some_and(|w| w != got) {
            bad.push(format!("{name} of the copy differs from the report's"));
        }
    }
    bad
}

/// `manifest.json` and `hashdeep.txt` in the collection folder.
fn write_manifest(dir: &Path, report: &Report, copied: &[Copied]) -> std::io::Result<()> {
    let manifest = serde_json::json!({
        "tool": report.tool,
        "case": report.scan.case,
        "collectedAt": crate::report::format_time(jiff::Timestamp::now()),
        "arguments": report.scan.arguments,
        "files": copied,
    });
    let mut f = std::fs::File::create_new(dir.join("manifest.json"))?;
    serde_json::to_writer_pretty(&mut f, &manifest)?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    // hashdeep's known-hashes format: audit with
    // `cd DIR/files && hashdeep -r -l -a -k ../hashdeep.txt .`. The
    // report's digests are listed where it has them, so a copy that does
    // not match the original fails the audit.
    let mut h = std::io::BufWriter::new(std::fs::File::create_new(dir.join("hashdeep.txt"))?);
    writeln!(h, "%%%% HASHDEEP-1.0")?;
    writeln!(h, "%%%% size,md5,sha1,sha256,filename")?;
    writeln!(
        h,
        "## Written by breachscan --collect; audit from the files folder:"
    )?;
    writeln!(h, "## $ cd files && hashdeep -r -l -a -k ../hashdeep.txt .")?;
    writeln!(h, "##")?;
    for c in copied {
        let (Some(rel), Some(d)) = (&c.copy, &c.copy_digests) else {
            continue;
        };
        let o = &c.original;
        let pick = |r: &Option<String>, own: &String| r.clone().unwrap_or_else(|| own.clone());
        let rel = rel.strip_prefix("files/").unwrap_or(rel);
        writeln!(
            h,
            "{},{},{},{},./{rel}",
            o.size,
            pick(&o.md5, &d.md5),
            pick(&o.sha1, &d.sha1),
            pick(&o.sha256, &d.sha256)
        )?;
    }
    h.into_inner()?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_copy_is_read_back_and_checked_against_the_report() {
        let data = b"MZ evidence bytes".repeat(100_000);
        for zip in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut store = Store::new(dir.path(), zip).unwrap();
            let mut taken = std::collections::HashSet::new();
            let rel = Path::new("files/01-t/x.exe");
            let size = data.len() as u64;
            let at = store.put(&mut &data[..], rel, size, &mut taken).unwrap();
            assert_eq!(at, "files/01-t/x.exe");
            // The same name again is never overwritten.
            let again = store.put(&mut &b"other"[..], rel, 5, &mut taken).unwrap();
            assert_eq!(again, "files/01-t/x.exe~2");
            let mut back = store.read_back().unwrap();
            let d = back.digests(&at).unwrap();
            assert_eq!(back.digests(&again).unwrap().size, 5);
            check(&data, &d);
        }
    }

    fn check(data: &[u8], d: &CopyDigests) {
        let want = crate::hash::digest_bytes(crate::hash::DigestSet::ALL, data);
        let mut f = FileReport {
            path: "/x.exe".into(),
            size: data.len() as u64,
            md5: want.md5.map(hex::encode),
            sha1: want.sha1.map(hex::encode),
            sha256: want.sha256.map(hex::encode),
            created: None,
            modified: None,
            accessed: None,
            changed: None,
            deleted: false,
            stream: None,
            inode: None,
        };
        assert!(mismatches(&f, d).is_empty());
        f.sha1 = Some("0".repeat(40));
        f.size += 1;
        assert_eq!(mismatches(&f, d).len(), 2);
    }
}
