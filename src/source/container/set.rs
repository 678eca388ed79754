//! The files an image set is made of beyond the one named (E01 segments,
//! split-raw parts, VMDK extents and parent layers), found by name or by
//! the descriptor, and checked before anything opens them.
//!
//! A member is opened only when, after resolving links, it is a regular
//! file inside the image's directory: a segment that is a FIFO would hang
//! the scan in `open`, an extent that links to `/dev/zero` would read
//! forever, one that links to `/etc/passwd` would scan a file the user
//! never named. The crates that open members by path are called only with
//! members that passed.

use std::io;
use std::path::{Path, PathBuf};

/// Deepest VMDK snapshot chain followed (the crate's own limit is lower).
const MAX_CHAIN: usize = 32;

/// Where members of the image at `first` may live: its directory as named,
/// and the directory it resolves to when it is a link.
pub struct SetDir {
    allowed: Vec<PathBuf>,
}

impl SetDir {
    pub fn of(first: &Path) -> io::Result<SetDir> {
        let named = match first.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let mut allowed = vec![std::fs::canonicalize(&named)?];
        if let Some(real) = std::fs::canonicalize(first)?.parent()
            && !allowed.iter().any(|a| a == real)
        {
            allowed.push(real.to_path_buf());
        }
        Ok(SetDir { allowed })
    }

    /// `member` resolved, if it may be opened: a regular file inside the
    /// image's directory once links are resolved.
    pub fn check(&self, member: &Path) -> io::Result<PathBuf> {
        let real = std::fs::canonicalize(member)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", member.display())))?;
        if !self.allowed.iter().any(|d| real.starts_with(d)) {
            return Err(io::Error::other(format!(
                "{} resolves to {}, outside the image's directory: not opened",
                member.display(),
                real.display()
            )));
        }
        if !std::fs::metadata(&real)?.is_file() {
            return Err(io::Error::other(format!(
                "{} is not a regular file (a FIFO, device or directory): not opened",
                member.display()
            )));
        }
        Ok(real)
    }
}

/// The segments of an EWF set, in order, the first included: every file
/// next to `first` with its stem and an extension of the same series
/// (`.E01`…`.E99`, `.EAA`…`.EZZ`; `.Ex01`… for EWF2; `L` for logical
/// evidence), as the `ewf` crate's own discovery finds them.
pub fn e01_segments(first: &Path) -> io::Result<Vec<PathBuf>> {
    let name = |p: &Path| p.file_name().and_then(|n| n.to_str()).map(str::to_string);
    let first_name = name(first).ok_or_else(|| io::Error::other("E01 name is not UTF-8"))?;
    let (stem, ext) = first_name
        .rsplit_once('.')
        .ok_or_else(|| io::Error::other("an E01 set's first segment has an extension"))?;
    let letter = ext.chars().next().unwrap_or('E').to_ascii_uppercase();
    let v2 = ext.len() == 4;
    let dir = match first.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut found: Vec<(String, PathBuf)> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(n) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Some((s, e)) = n.rsplit_once('.') else {
            continue;
        };
        if s != stem || !segment_ext(e, letter, v2) {
            continue;
        }
        found.push((e.to_ascii_uppercase(), entry.path()));
    }
    found.sort();
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

/// `E01`, `E7Z`, `EAA` (v1) or `Ex01`, `EzZZ` (v2) for series `letter`.
fn segment_ext(e: &str, letter: char, v2: bool) -> bool {
    let b = e.as_bytes();
    let head = |c: u8| c.to_ascii_uppercase() == letter as u8;
    let tail = |t: &[u8]| t.iter().all(u8::is_ascii_digit) || t.iter().all(u8::is_ascii_alphabetic);
    match (v2, b.len()) {
        (false, 3) => head(b[0]) && tail(&b[1..]),
        (true, 4) => head(b[0]) && matches!(b[1], b'x'..=b'z') && tail(&b[2..]),
        _ => false,
    }
}

/// `disk.001`, `disk.002` …: the parts after the first, by name, until
/// one is missing.
pub fn split_parts(first: &Path) -> io::Result<Vec<PathBuf>> {
    let name = first
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other("split image name is not UTF-8"))?;
    let stem = name
        .strip_suffix("001")
        .ok_or_else(|| io::Error::other("the first part of a split image ends in .001"))?;
    let mut parts = Vec::new();
    for i in 1..=9999u32 {
        let width = 3.max(i.to_string().len());
        let p = first.with_file_name(format!("{stem}{i:0width$}"));
        if std::fs::symlink_metadata(&p).is_err() {
            break;
        }
        parts.push(p);
    }
    Ok(parts)
}

/// Every file a VMDK at `path` reads besides itself: extents named by its
/// descriptor, then each parent layer (`parentFileNameHint`) and its
/// extents. Each is checked with `dir` before the crate opens it, since
/// listing a layer's extents opens the layer.
pub fn vmdk_members(path: &Path, dir: &SetDir) -> io::Result<Vec<PathBuf>> {
    use vmdk::VmdkFileReader;
    let vmdk_err = |e: vmdk::VmdkError| io::Error::other(e.to_string());
    let mut out = Vec::new();
    let mut layer = path.to_path_buf();
    for _ in 0..MAX_CHAIN {
        for extent in VmdkFileReader::extent_dependencies(&layer).map_err(vmdk_err)? {
            dir.check(&extent)?;
            out.push(extent);
        }
        let reader = VmdkFileReader::open_path(&layer).map_err(vmdk_err)?;
        if reader.parent_cid() == 0xffff_ffff {
            return Ok(out);
        }
        let hint = reader
            .descriptor_text()
            .lines()
            .find_map(|l| l.trim().strip_prefix("parentFileNameHint="))
            .map(|h| h.trim().trim_matches('"').to_string())
            .unwrap_or_default();
        if hint.is_empty() {
            return Ok(out);
        }
        let parent = layer.parent().unwrap_or(Path::new(".")).join(&hint);
        dir.check(&parent)?;
        out.push(parent.clone());
        layer = parent;
    }
    Err(io::Error::other(format!(
        "snapshot chain deeper than {MAX_CHAIN} layers"
    )))
}

/// Every file of the image set at `first` (itself included), for refusing
/// an output path that would overwrite one of them. Best effort: a set
/// whose members cannot be listed yields what could be.
pub fn members(first: &Path, format: &str) -> Vec<PathBuf> {
    let mut out = vec![first.to_path_buf()];
    let more = match format {
        "e01" => e01_segments(first).unwrap_or_default(),
        "split" => split_parts(first).unwrap_or_default(),
        "vmdk" => SetDir::of(first)
            .and_then(|d| vmdk_members(first, &d))
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    out.extend(more);
    out
}

/// Whether a new file at `candidate` (an absolute path) would be taken as
/// a member of the set at `first`: a name of its E01 series or its split
/// numbering, in its directory.
pub fn would_join(first: &Path, format: &str, candidate: &Path) -> bool {
    let dir_of = |p: &Path| p.parent().and_then(|d| std::fs::canonicalize(d).ok());
    let (Some(a), Some(b)) = (dir_of(first), candidate.parent()) else {
        return false;
    };
    let (Some(first), Some(cand)) = (
        first.file_name().and_then(|n| n.to_str()),
        candidate.file_name().and_then(|n| n.to_str()),
    ) else {
        return false;
    };
    if a != b {
        return false;
    }
    match format {
        "e01" => {
            let (Some((stem, ext)), Some((s, e))) = (first.rsplit_once('.'), cand.rsplit_once('.'))
            else {
                return false;
            };
            let letter = ext.chars().next().unwrap_or('E').to_ascii_uppercase();
            s == stem && segment_ext(e, letter, ext.len() == 4)
        }
        "split" => first.strip_suffix("001").is_some_and(|stem| {
            cand.strip_prefix(stem)
                .is_some_and(|n| n.len() >= 3 && n.bytes().all(|b| b.is_ascii_digit()))
        }),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_extensions_follow_the_series() {
        assert!(segment_ext("E01", 'E', false));
        assert!(segment_ext("e02", 'E', false));
        assert!(segment_ext("EAZ", 'E', false));
        assert!(!segment_ext("E1A", 'E', false));
        assert!(!segment_ext("L01", 'E', false));
        assert!(!segment_ext("Ex01", 'E', false));
        assert!(segment_ext("Ex01", 'E', true));
        assert!(segment_ext("EzAB", 'E', true));
        assert!(!segment_ext("Ew01", 'E', true));
    }

    #[cfg(unix)]
    #[test]
    fn members_outside_the_directory_or_not_files_are_refused() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("case");
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("d.E01"), b"x").unwrap();
        std::fs::write(dir.join("d.E02"), b"x").unwrap();
        std::fs::write(root.path().join("secret"), b"x").unwrap();
        std::os::unix::fs::symlink(root.path().join("secret"), dir.join("d.E03")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", dir.join("d.E04")).unwrap();
        std::os::unix::fs::symlink("d.E02", dir.join("d.E05")).unwrap();
        let c = std::ffi::CString::new(dir.join("d.E06").to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let set = SetDir::of(&dir.join("d.E01")).unwrap();
        let segs = e01_segments(&dir.join("d.E01")).unwrap();
        let names: Vec<_> = segs
            .iter()
            .map(|p| p.file_name().unwrap().to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            names,
            ["d.E01", "d.E02", "d.E03", "d.E04", "d.E05", "d.E06"]
        );
        let ok: Vec<bool> = segs.iter().map(|p| set.check(p).is_ok()).collect();
        assert_eq!(ok, [true, true, false, false, true, false]);
    }
}
