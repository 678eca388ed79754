//! Disk image containers, recognised by content: magic first, extension
//! second, raw last (a raw image is only taken as one when its first bytes
//! hold a partition table or a filesystem we know; any other file is
//! scanned as a file).
//!
//! E01 (libewf format), VHDX, VMDK and QCOW2 are read by pinned crates
//! (DESIGN.md §5: young crates, exact versions, each checked against the
//! raw disk in tests); raw, split raw and VHD are ours: they are short, and
//! the `vhd` crate reads the whole image into memory to open it.
//! Every file is opened read-only and non-blocking, and the other files of
//! a set (segments, parts, extents) only after [`set`] has checked them;
//! nothing here can write.

mod ewf;
pub mod integrity;
pub mod set;
mod vhd;

use std::io::{self, Read, Seek, SeekFrom};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::readat::{Concat, HostFile, Pooled, ReadAt};
use integrity::{Health, ImageInfo};

/// An opened image: its disk, what the set says about itself, and the
/// damage its reads meet (listed when the walk is over).
pub struct Opened {
    pub disk: Arc<dyn ReadAt>,
    pub info: ImageInfo,
    pub health: Arc<Health>,
}

impl Opened {
    /// A disk whose files (`segments`) hold all of it, with no integrity
    /// data of its own.
    pub fn whole(disk: Arc<dyn ReadAt>, segments: Vec<PathBuf>) -> Opened {
        Opened {
            info: ImageInfo {
                segments: segments.iter().map(|p| p.display().to_string()).collect(),
                media_size: disk.size(),
                complete: true,
                ..ImageInfo::default()
            },
            disk,
            health: Arc::default(),
        }
    }
}

/// Recognises a disk image; `None` means the file is not one.
pub fn sniff(path: &Path) -> io::Result<Option<&'static str>> {
    let mut f = super::io::open_image_file(path, true)?;
    let len = f.seek(SeekFrom::End(0))?;
    f.seek(SeekFrom::Start(0))?;
    let mut head = vec![0u8; 4096];
    let n = read_full(&mut f, &mut head)?;
    head.truncate(n);
    let mut tail = [0u8; 512];
    if len >= 512 {
        f.seek(SeekFrom::Start(len - 512))?;
        read_full(&mut f, &mut tail)?;
    }
    if let Some(format) = by_magic(&head, &tail) {
        return Ok(Some(format));
    }
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let by_ext = match ext.as_str() {
        "e01" | "ex01" => Some("e01"),
        "vhd" => Some("vhd"),
        "vhdx" => Some("vhdx"),
        "vmdk" => Some("vmdk"),
        "qcow2" | "qcow" => Some("qcow2"),
        // `.001` is also how split archives are named: only a first part
        // that starts like a disk is a split image.
        "001" if looks_like_disk(&head) => Some("split"),
        _ => None,
    };
    if by_ext.is_some() {
        return Ok(by_ext);
    }
    Ok(looks_like_disk(&head).then_some("raw"))
}

/// The container format a file's first bytes announce, for files met
/// inside a scan (a directory or a volume) rather than given as targets.
/// Only the set's first file counts: later E01 segments and VMDK extents
/// belong to it.
pub fn nested_image(head: &[u8], path: &super::EvidencePath) -> Option<&'static str> {
    // Magic first: the name is only looked at for the rare file that has it.
    let format = by_magic(head, &[])?;
    let name = String::from_utf8_lossy(path.file_name().as_bytes()).to_ascii_lowercase();
    let first = match format {
        "e01" => name.ends_with(".e01") || name.ends_with(".ex01"),
        "vmdk" => {
            let stem = name.trim_end_matches(".vmdk");
            let extent = stem.len() > 5
                && stem.as_bytes()[stem.len() - 5] == b'-'
                && matches!(stem.as_bytes()[stem.len() - 4], b's' | b'f')
                && stem[stem.len() - 3..].bytes().all(|b| b.is_ascii_digit());
            !extent && !stem.ends_with("-flat")
        }
        _ => true,
    };
    first.then_some(format)
}

fn by_magic(head: &[u8], tail: &[u8]) -> Option<&'static str> {
    if head.starts_with(b"EVF\x09\x0d\x0a\xff\x00") || head.starts_with(b"EVF2\x0d\x0a\x81\x00") {
        Some("e01")
    } else if head.starts_with(b"vhdxfile") {
        Some("vhdx")
    } else if head.starts_with(b"QFI\xfb") {
        Some("qcow2")
    } else if head.starts_with(b"KDMV") || head.starts_with(b"# Disk DescriptorFile") {
        Some("vmdk")
    } else if tail.starts_with(b"conectix") || head.starts_with(b"conectix") {
        Some("vhd")
    } else {
        None
    }
}

/// A raw disk or volume: a filesystem at byte 0, a GPT header, or an MBR
/// whose entries are plausible.
fn looks_like_disk(head: &[u8]) -> bool {
    if super::fs::detect(head).is_some() {
        return true;
    }
    if head.len() >= 520 && &head[512..520] == b"EFI PART" {
        return true;
    }
    if head.len() < 512 || head[510..512] != [0x55, 0xaa] {
        return false;
    }
    let entries: Vec<&[u8]> = (0..4).map(|i| &head[446 + 16 * i..462 + 16 * i]).collect();
    let used: Vec<_> = entries.iter().filter(|e| e[4] != 0).collect();
    !used.is_empty()
        && used.iter().all(|e| {
            let start = u32::from_le_bytes([e[8], e[9], e[10], e[11]]);
            let count = u32::from_le_bytes([e[12], e[13], e[14], e[15]]);
            e[0] & 0x7f == 0 && start > 0 && count > 0
        })
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Opens a container of the given format as the disk it holds. A crate
/// that panics on a crafted image is caught here and reported as an error.
pub fn open(path: &Path, format: &'static str) -> io::Result<Opened> {
    let what = |e: String| io::Error::other(format!("cannot open as {format} image: {e}"));
    match catch_unwind(AssertUnwindSafe(|| open_inner(path, format))) {
        Ok(r) => r.map_err(|e| what(e.to_string())),
        Err(_) => Err(what("the image reader failed on malformed data".into())),
    }
}

fn open_inner(path: &Path, format: &'static str) -> io::Result<Opened> {
    let whole = Opened::whole;
    if format == "raw" {
        // A regular file or a block device named as a target: one file.
        let disk = Arc::new(HostFile::open(path, true)?);
        return Ok(whole(disk, vec![path.to_path_buf()]));
    }
    let dir = set::SetDir::of(path)?;
    dir.check(path)?;
    let one = vec![path.to_path_buf()];
    Ok(match format {
        "split" => {
            let parts = set::split_parts(path)?;
            whole(Arc::new(split(&parts, &dir)?), parts)
        }
        "e01" => {
            let (image, info) = ewf::EwfImage::open(path, &dir)?;
            let health = image.health();
            Opened {
                disk: Arc::new(image),
                info,
                health,
            }
        }
        "vhd" => whole(Arc::new(vhd::Vhd::open(path)?), one),
        "vhdx" => whole(
            pooled(path, |p| {
                let r = vhdx::VhdxReader::open(p).map_err(io::Error::other)?;
                let n = r.virtual_disk_size();
                Ok((r, n))
            })?,
            one,
        ),
        // Each reader of the pool re-checks the chain it is about to open.
        "vmdk" => whole(
            pooled(path, |p| {
                set::vmdk_members(p, &set::SetDir::of(p)?)?;
                let r = vmdk::VmdkChainReader::open(p).map_err(io::Error::other)?;
                let n = r.virtual_disk_size();
                Ok((r, n))
            })?,
            set::vmdk_members(path, &dir).unwrap_or(one),
        ),
        "qcow2" => whole(
            pooled(path, |p| {
                let r = qcow2::Qcow2Reader::open(p).map_err(io::Error::other)?;
                let n = r.virtual_disk_size();
                Ok((r, n))
            })?,
            one,
        ),
        other => return Err(io::Error::other(format!("unknown image format {other}"))),
    })
}

/// A `Read + Seek` crate reader made positional (one reader per worker).
fn pooled<T: Read + Seek + Send + 'static>(
    path: &Path,
    open: fn(&Path) -> io::Result<(T, u64)>,
) -> io::Result<Arc<dyn ReadAt>> {
    let (first, len) = open(path)?;
    let path = path.to_path_buf();
    Ok(Arc::new(Pooled::new(
        first,
        len,
        Box::new(move || open(&path).map(|(r, _)| r)),
    )))
}

/// `disk.001`, `disk.002` … read as one disk; the parts are found by name.
fn split(parts: &[PathBuf], dir: &set::SetDir) -> io::Result<Concat> {
    let mut disks: Vec<Box<dyn ReadAt>> = Vec::new();
    for p in parts {
        disks.push(Box::new(HostFile::open(&dir.check(p)?, false)?));
    }
    Ok(Concat::new(disks))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_wins_over_extension_and_raw_needs_a_structure() {
        assert_eq!(by_magic(b"EVF\x09\x0d\x0a\xff\x00rest", &[]), Some("e01"));
        assert_eq!(by_magic(b"QFI\xfb\0\0\0\x03", &[]), Some("qcow2"));
        assert_eq!(by_magic(&[0; 16], b"conectix"), Some("vhd"));
        assert_eq!(by_magic(b"hello", b"world"), None);
        let mut mbr = vec![0u8; 512];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        assert!(!looks_like_disk(&mbr), "55 AA alone is not a disk");
        mbr[446 + 4] = 0x83;
        mbr[446 + 8] = 1;
        mbr[446 + 12] = 10;
        assert!(looks_like_disk(&mbr));
        mbr[446] = 0x42;
        assert!(!looks_like_disk(&mbr), "bad boot flag");
    }

    #[test]
    fn split_parts_are_found_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..2500u32).map(|i| (i % 256) as u8).collect();
        for (i, c) in data.chunks(1000).enumerate() {
            std::fs::write(dir.path().join(format!("d.raw.{:03}", i + 1)), c).unwrap();
        }
        let disk = open(&dir.path().join("d.raw.001"), "split").unwrap().disk;
        assert_eq!(disk.size(), 2500);
        let mut b = vec![0u8; 2500];
        disk.read_exact_at(&mut b, 0).unwrap();
        assert_eq!(b, data);
    }

    #[test]
    fn nested_images_count_once_per_set() {
        let e01 = b"EVF\x09\x0d\x0a\xff\x00....";
        let p = |s: &str| crate::source::EvidencePath::from_bytes(format!("/dir/{s}"));
        assert_eq!(nested_image(e01, &p("disk.E01")), Some("e01"));
        assert_eq!(nested_image(e01, &p("disk.E02")), None);
        let kdmv = b"KDMV\x01\0\0\0";
        assert_eq!(nested_image(kdmv, &p("vm.vmdk")), Some("vmdk"));
        assert_eq!(nested_image(kdmv, &p("vm-s001.vmdk")), None);
        assert_eq!(nested_image(b"hello", &p("notes.txt")), None);
    }

    #[test]
    fn a_split_archive_is_not_a_split_image() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("backup.zip.001");
        std::fs::write(&p, b"PK\x03\x04 not a disk").unwrap();
        assert_eq!(sniff(&p).unwrap(), None);
        let mut mbr = vec![0u8; 4096];
        mbr[510] = 0x55;
        mbr[511] = 0xaa;
        mbr[446 + 4] = 0x07;
        mbr[446 + 8] = 1;
        mbr[446 + 12] = 7;
        std::fs::write(&p, &mbr).unwrap();
        assert_eq!(sniff(&p).unwrap(), Some("split"));
    }

    #[test]
    fn garbage_in_a_container_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        for (name, fmt) in [
            ("x.E01", "e01"),
            ("x.vhdx", "vhdx"),
            ("x.vmdk", "vmdk"),
            ("x.qcow2", "qcow2"),
            ("x.vhd", "vhd"),
        ] {
            let p = dir.path().join(name);
            std::fs::write(&p, vec![0x5au8; 4096]).unwrap();
            let e = open(&p, fmt)
                .err()
                .unwrap_or_else(|| panic!("{fmt} opened garbage"));
            assert!(e.to_string().contains(fmt), "{e}");
        }
    }
}
