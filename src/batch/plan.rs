//! Planning a batch: each target's identity, the bundle and rule files
//! copied in with their digests, and the work cut into units balanced by
//! bytes (an image is a unit; a directory bigger than a unit is cut into
//! slices; small targets are packed together in order).

use std::path::{Path, PathBuf};

use rayon::prelude::*;
use walkdir::WalkDir;

use super::{BatchError, InputFile, Layout, Target, Unit, sha256_file};
use crate::source::{EvidencePath, Slice};

/// What a file weighs beyond its bytes when units are balanced: opening,
/// reading and reporting a small file costs about as much as hashing this
/// many bytes (README, "Scanning many images").
pub const FILE_WEIGHT: u64 = 64 * 1024;

/// How directories are walked: as the scan will walk them.
#[derive(Debug, Clone, Copy, Default)]
pub struct WalkOptions {
    pub follow_symlinks: bool,
    pub one_file_system: bool,
}

/// Reads what each target is (in parallel; an image's first segment is
/// hashed whole, which for a one-file raw image reads all of it).
pub fn identify(
    targets: &[(PathBuf, Option<String>)],
    walk: WalkOptions,
) -> Result<Vec<Target>, BatchError> {
    targets
        .par_iter()
        .map(|(path, id)| identify_one(path, id.clone(), walk))
        .collect()
}

fn identify_one(
    path: &Path,
    evidence_id: Option<String>,
    walk: WalkOptions,
) -> Result<Target, BatchError> {
    use std::os::unix::fs::FileTypeExt;
    let shown = EvidencePath::from_os(path.as_os_str()).display();
    let fail = |what: &str, e: std::io::Error| BatchError(format!("{shown}: {what}: {e}"));
    let absolute = std::path::absolute(path).map_err(|e| fail("cannot make it absolute", e))?;
    let Some(abs) = absolute.to_str().map(str::to_string) else {
        return Err(BatchError(format!(
            "{shown}: a target's path must be UTF-8 to be written in the batch plan"
        )));
    };
    let meta = std::fs::metadata(path).map_err(|e| fail("cannot read it", e))?;
    let modified = meta
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.to_string());
    let mut t = Target {
        path: abs,
        given: shown.clone(),
        evidence_id,
        kind: String::new(),
        format: None,
        size: meta.len(),
        files: 1,
        modified,
        first_segment_sha256: None,
    };
    if meta.is_dir() {
        let (files, bytes, _) = walk_weights(&absolute, walk, |_, _| {});
        (t.kind, t.files, t.size) = ("directory".into(), files, bytes);
    } else if meta.file_type().is_block_device() {
        t.kind = "device".into();
        t.size = device_size(path).map_err(|e| fail("cannot size the device", e))?;
        t.modified = None;
    } else if meta.is_file() {
        match crate::source::container::sniff(path).map_err(|e| fail("cannot read it", e))? {
            Some(format) => {
                t.kind = "image".into();
                t.format = Some(format.into());
                t.first_segment_sha256 =
                    Some(sha256_file(path).map_err(|e| fail("cannot hash its first segment", e))?);
            }
            None => t.kind = "file".into(),
        }
    } else {
        return Err(BatchError(format!(
            "{shown}: not a directory, regular file or block device"
        )));
    }
    Ok(t)
}

fn device_size(path: &Path) -> std::io::Result<u64> {
    use std::io::Seek;
    crate::source::io::open_evidence(path, true)?.seek(std::io::SeekFrom::End(0))
}

/// Walks a directory as the scan does (children in name order), calling
/// `each` with every regular file's path relative to `root` and weight.
/// Returns the files, their bytes and their total weight.
fn walk_weights(
    root: &Path,
    walk: WalkOptions,
    mut each: impl FnMut(&Path, u64),
) -> (u64, u64, u64) {
    let (mut files, mut bytes, mut weight) = (0, 0, 0);
    let entries = WalkDir::new(root)
        .follow_links(walk.follow_symlinks)
        .same_file_system(walk.one_file_system)
        .sort_by_file_name();
    for entry in entries.into_iter().flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let size = entry.metadata().map_or(0, |m| m.len());
        files += 1;
        bytes += size;
        weight += size + FILE_WEIGHT;
        each(
            entry.path().strip_prefix(root).unwrap_or(entry.path()),
            size + FILE_WEIGHT,
        );
    }
    (files, bytes, weight)
}

/// A target's weight for balancing.
pub fn weight(t: &Target) -> u64 {
    t.size + t.files * FILE_WEIGHT
}

/// Cuts a directory into `n` slices of about equal weight, at file paths
/// (in walk order) that are UTF-8, so the plan can name them.
pub fn slices(root: &Path, walk: WalkOptions, n: u64) -> Vec<Slice> {
    let (_, _, total) = walk_weights(root, walk, |_, _| {});
    let mut cuts: Vec<String> = Vec::new();
    let mut acc = 0u64;
    walk_weights(root, walk, |rel, w| {
        let next = (cuts.len() as u64 + 1) * total / n.max(1);
        if cuts.len() as u64 + 1 < n
            && acc >= next
            && let Some(s) = rel.to_str()
        {
            cuts.push(s.to_string());
        }
        acc += w;
    });
    let mut out = Vec::with_capacity(cuts.len() + 1);
    let mut from = None;
    for c in cuts {
        out.push(Slice {
            from: from.take(),
            to: Some(c.clone()),
        });
        from = Some(c);
    }
    out.push(Slice { from, to: None });
    out
}

/// The units: an image (or device) alone; a directory heavier than
/// `unit_size` as slices (`slice_dir` cuts them); other targets packed in
/// order while they fit in `unit_size`.
pub fn units(
    targets: &[Target],
    unit_size: u64,
    slice_dir: impl Fn(&Target, u64) -> Vec<Slice>,
) -> Vec<Unit> {
    let unit_size = unit_size.max(1);
    let mut out: Vec<Unit> = Vec::new();
    let mut pack: Option<Unit> = None;
    let push = |out: &mut Vec<Unit>, mut u: Unit| {
        u.unit = out.len();
        out.push(u);
    };
    for (i, t) in targets.iter().enumerate() {
        let w = weight(t);
        let alone = matches!(t.kind.as_str(), "image" | "device");
        let sliced = t.kind == "directory" && w > unit_size;
        if (alone || sliced)
            && let Some(p) = pack.take()
        {
            push(&mut out, p);
        }
        if alone {
            push(&mut out, unit(vec![i], None, w));
        } else if sliced {
            let slices = slice_dir(t, w.div_ceil(unit_size));
            let n = slices.len() as u64;
            for s in slices {
                push(&mut out, unit(vec![i], Some(s), w / n.max(1)));
            }
        } else {
            match &mut pack {
                Some(p) if p.weight + w <= unit_size => {
                    p.targets.push(i);
                    p.weight += w;
                }
                _ => {
                    if let Some(p) = pack.replace(unit(vec![i], None, w)) {
                        push(&mut out, p);
                    }
                }
            }
        }
    }
    if let Some(p) = pack {
        push(&mut out, p);
    }
    out
}

fn unit(targets: Vec<usize>, slice: Option<Slice>, weight: u64) -> Unit {
    Unit {
        unit: 0,
        targets,
        slice,
        weight,
    }
}

/// Copies a bundle, IOC list or rules file or folder into
/// `inputs/NN-role/`, keeping its name (formats are told by name too).
/// Returns its path inside the batch and the files copied.
pub fn copy_input(
    layout: &Layout,
    role: &str,
    n: usize,
    source: &Path,
) -> Result<(String, Vec<InputFile>), BatchError> {
    let shown = source.display().to_string();
    let name = source
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| BatchError(format!("{shown}: the name of a {role} file must be UTF-8")))?;
    let rel_dir = format!("inputs/{n:02}-{role}");
    let top = format!("{rel_dir}/{name}");
    let meta = std::fs::metadata(source).map_err(|e| BatchError(format!("{shown}: {e}")))?;
    let mut files = Vec::new();
    let sources: Vec<(PathBuf, String)> = if meta.is_dir() {
        let mut list = Vec::new();
        for e in WalkDir::new(source).sort_by_file_name() {
            let e = e.map_err(|e| BatchError(format!("{shown}: {e}")))?;
            if e.file_type().is_file() {
                let rel = e.path().strip_prefix(source).unwrap_or(e.path());
                let rel = rel.to_str().ok_or_else(|| {
                    BatchError(format!("{}: names must be UTF-8", e.path().display()))
                })?;
                list.push((e.path().to_path_buf(), format!("{top}/{rel}")));
            }
        }
        list
    } else {
        vec![(source.to_path_buf(), top.clone())]
    };
    for (from, rel) in sources {
        let to = layout.inside(&rel);
        if let Some(parent) = to.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|e| BatchError(format!("cannot create {}: {e}", parent.display())))?;
        }
        let size = std::fs::copy(&from, &to).map_err(|e| {
            BatchError(format!(
                "cannot copy {} to {}: {e}",
                from.display(),
                to.display()
            ))
        })?;
        let sha256 = sha256_file(&to)
            .map_err(|e| BatchError(format!("cannot read {}: {e}", to.display())))?;
        files.push(InputFile {
            role: role.into(),
            path: rel,
            source: std::path::absolute(&from)
                .unwrap_or(from.clone())
                .display()
                .to_string(),
            size,
            sha256,
        });
    }
    Ok((top, files))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(kind: &str, size: u64, files: u64) -> Target {
        Target {
            path: String::new(),
            given: String::new(),
            evidence_id: None,
            kind: kind.into(),
            format: None,
            size,
            files,
            modified: None,
            first_segment_sha256: None,
        }
    }

    #[test]
    fn images_stand_alone_big_trees_are_sliced_small_targets_packed() {
        let mb = 1 << 20;
        let t = [
            target("file", mb, 1),
            target("directory", mb, 3),
            target("image", 50 * mb, 1),
            target("directory", 25 * mb, 100),
            target("file", mb, 1),
            target("file", 9 * mb, 1),
        ];
        let u = units(&t, 10 * mb, |_, n| {
            (0..n)
                .map(|i| Slice {
                    from: (i > 0).then(|| format!("{i}")),
                    to: (i + 1 < n).then(|| format!("{}", i + 1)),
                })
                .collect()
        });
        let shape: Vec<(Vec<usize>, bool)> = u
            .iter()
            .map(|u| (u.targets.clone(), u.slice.is_some()))
            .collect();
        assert_eq!(
            shape,
            vec![
                (vec![0, 1], false),
                (vec![2], false),
                // 25 MiB + 100 files × 64 KiB: four slices of 10 MiB.
                (vec![3], true),
                (vec![3], true),
                (vec![3], true),
                (vec![3], true),
                (vec![4], false),
                (vec![5], false),
            ]
        );
        assert!(u.iter().enumerate().all(|(i, u)| u.unit == i));
    }

    #[test]
    fn slices_cut_a_tree_into_parts_of_about_equal_weight() {
        let dir = tempfile::tempdir().unwrap();
        for d in ["a", "b", "c", "d"] {
            std::fs::create_dir(dir.path().join(d)).unwrap();
            for f in 0..5 {
                std::fs::write(dir.path().join(d).join(format!("{f}")), vec![0u8; 1000]).unwrap();
            }
        }
        let s = slices(dir.path(), WalkOptions::default(), 4);
        assert_eq!(s.len(), 4);
        assert_eq!(s[0].to.as_deref(), Some("b/0"));
        assert_eq!(s[1].to.as_deref(), Some("c/0"));
        assert_eq!(s[3].from.as_deref(), Some("d/0"));
        assert_eq!(
            crate::source::slice::join(s).unwrap(),
            vec![Slice::default()]
        );
    }
}
