//! Volumes of a disk: GPT, MBR (with extended/logical partitions), or, when
//! the disk has no partition table, the whole disk as one volume.
//!
//! Tables are read by our own small parsers rather than the `gpt`/`mbrman`
//! crates: `gpt` wants a writable reader even to read (DESIGN.md §5), and a
//! scanner needs to keep going past damaged entries that a strict library
//! refuses.

mod gpt;
mod mbr;

use std::borrow::Cow;
use std::sync::Arc;

use super::readat::ReadAt;

/// One volume of a disk, as the report names it.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct VolumeInfo {
    /// 1-based partition number (MBR: 1–4 primary, 5+ logical; GPT: entry
    /// number); 0 for a disk with no partition table.
    pub index: u32,
    /// Byte offset of the volume on the disk.
    pub offset: u64,
    pub size: u64,
    /// `gpt`, `mbr` or `none`.
    pub scheme: Cow<'static, str>,
    /// Partition type as the table states it (`0x07`, a GPT type GUID …)
    /// with its common name when known.
    pub type_name: Option<String>,
    /// GPT partition name.
    pub name: Option<String>,
    /// Filesystem found in it (`ntfs`, `fat32`, `ext4` …), set once detected.
    pub filesystem: Option<Cow<'static, str>>,
    /// For an image found inside a scanned directory: its path there.
    pub image: Option<super::EvidencePath>,
}

impl VolumeInfo {
    /// `p2 (ntfs)` — the volume's part of an evidence display string,
    /// after the image's path when the image was found inside a directory
    /// (`/cases/disk.E01 › p2 (ntfs)`).
    pub fn label(&self) -> String {
        let fs = self.filesystem.as_deref().unwrap_or("unknown");
        let vol = if self.scheme == "none" {
            fs.to_string()
        } else {
            format!("p{} ({fs})", self.index)
        };
        match &self.image {
            Some(image) => format!("{} › {vol}", image.display()),
            None => vol,
        }
    }

    /// `path` inside this volume, as the errors list names it
    /// (`p2 (ntfs) › /Windows/…`): two volumes' `/` are never confused.
    pub fn prefixed(&self, path: &[u8]) -> super::EvidencePath {
        let path = if path.is_empty() {
            b"/".as_slice()
        } else {
            path
        };
        super::EvidencePath::from_bytes([format!("{} › ", self.label()).as_bytes(), path].concat())
    }
}

/// A problem with a partition table that did not stop the listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProblem {
    pub message: String,
}

/// The volumes of a disk, plus what was wrong with its table.
pub struct Volumes {
    pub volumes: Vec<VolumeInfo>,
    pub problems: Vec<TableProblem>,
}

/// Lists the volumes of `disk`. Never fails: an unreadable or absent table
/// makes the whole disk one volume (and a problem says why, when unreadable).
pub fn list(disk: &Arc<dyn ReadAt>) -> Volumes {
    let mut problems = Vec::new();
    let mut sector0 = [0u8; 512];
    if let Err(e) = disk.read_exact_at(&mut sector0, 0) {
        problems.push(TableProblem {
            message: format!("cannot read sector 0: {e}"),
        });
        return whole_disk(disk, problems);
    }
    // A filesystem boot sector also ends in 55 AA; a bare volume is not a
    // partition table, whatever its boot code looks like.
    if super::fs::detect(&sector0).is_some() {
        return whole_disk(disk, problems);
    }
    match gpt::list(disk.as_ref(), &mut problems) {
        Some(v) if !v.is_empty() => {
            return Volumes {
                volumes: v,
                problems,
            };
        }
        Some(_) => {
            return Volumes {
                volumes: Vec::new(),
                problems,
            };
        }
        None => {}
    }
    if let Some(v) = mbr::list(disk.as_ref(), &sector0, &mut problems) {
        return Volumes {
            volumes: v,
            problems,
        };
    }
    whole_disk(disk, problems)
}

fn whole_disk(disk: &Arc<dyn ReadAt>, problems: Vec<TableProblem>) -> Volumes {
    Volumes {
        volumes: vec![VolumeInfo {
            index: 0,
            offset: 0,
            size: disk.size(),
            scheme: "none".into(),
            ..VolumeInfo::default()
        }],
        problems,
    }
}

pub(crate) fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

pub(crate) fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

pub(crate) fn le64(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn disk(bytes: Vec<u8>) -> Arc<dyn ReadAt> {
        Arc::new(bytes)
    }

    #[test]
    fn empty_disk_is_one_volume() {
        let v = list(&disk(vec![0; 4096]));
        assert_eq!(v.volumes.len(), 1);
        assert_eq!(v.volumes[0].scheme, "none");
        assert_eq!(v.volumes[0].size, 4096);
    }

    #[test]
    fn unreadable_disk_is_reported_and_listed_whole() {
        let v = list(&disk(vec![0; 100]));
        assert_eq!(v.volumes.len(), 1);
        assert!(v.problems[0].message.contains("sector 0"));
    }

    #[test]
    fn bare_ntfs_volume_is_not_a_partition_table() {
        let mut b = vec![0u8; 8192];
        b[3..11].copy_from_slice(b"NTFS    ");
        b[11..13].copy_from_slice(&512u16.to_le_bytes());
        b[13] = 8;
        // Boot code that looks like a partition entry.
        b[446 + 4] = 0x07;
        b[446 + 8..446 + 12].copy_from_slice(&1u32.to_le_bytes());
        b[446 + 12..446 + 16].copy_from_slice(&4u32.to_le_bytes());
        b[510] = 0x55;
        b[511] = 0xaa;
        let v = list(&disk(b));
        assert_eq!(v.volumes.len(), 1);
        assert_eq!(v.volumes[0].scheme, "none");
    }
}
