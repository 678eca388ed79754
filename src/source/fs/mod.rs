//! Filesystems inside volumes, read-only. Each is detected from its boot
//! sector or superblock and yields the same [`SourceItem`]s as a host
//! directory, so everything downstream (hashing, matching, event logs) is
//! shared. Adding a filesystem is one module plus one line in [`open`].

mod ext;
mod fat;
mod ntfs;

use std::sync::Arc;

use super::SourceItem;
use super::readat::ReadAt;
use super::volume::VolumeInfo;
use crate::stop::Stop;

/// A filesystem opened on a volume.
pub trait Filesystem: Send + Sync {
    /// `ntfs`, `fat32`, `ext4` …
    fn kind(&self) -> &'static str;

    /// Every file (and named stream) in it, deleted ones included where the
    /// filesystem keeps them, plus problems met on the way.
    /// `stop` ends long passes early (the caller stops pulling items).
    fn entries(
        self: Arc<Self>,
        volume: Arc<VolumeInfo>,
        stop: &Stop,
    ) -> Box<dyn Iterator<Item = SourceItem> + Send>;
}

/// A problem inside a volume, its path prefixed with the volume.
pub(super) fn problem(
    volume: &VolumeInfo,
    path: &[u8],
    kind: super::ProblemKind,
    message: String,
) -> SourceItem {
    problem_at(volume, path, kind, message, None)
}

/// [`problem`] about inode (or MFT record) `inode`.
pub(super) fn problem_at(
    volume: &VolumeInfo,
    path: &[u8],
    kind: super::ProblemKind,
    message: String,
    inode: Option<u64>,
) -> SourceItem {
    SourceItem::Problem(
        super::Problem::new(volume.prefixed(path), kind, message).at(super::At {
            inode,
            ..super::At::volume(Some(volume))
        }),
    )
}

/// The filesystem a volume's first bytes announce. Needs the first 512 bytes
/// for boot-sector filesystems and 2 KiB for ext's superblock.
pub fn detect(head: &[u8]) -> Option<&'static str> {
    if head.len() >= 512 && &head[3..11] == b"NTFS    " {
        return Some("ntfs");
    }
    if head.len() >= 512 && &head[3..11] == b"EXFAT   " {
        return Some("exfat");
    }
    if head.len() >= 512 && head[510..512] == [0x55, 0xaa] {
        if &head[82..87] == b"FAT32" {
            return Some("fat32");
        }
        if &head[54..59] == b"FAT16" {
            return Some("fat16");
        }
        if &head[54..59] == b"FAT12" {
            return Some("fat12");
        }
    }
    if head.len() >= 2048 && head[1024 + 56..1024 + 58] == [0x53, 0xef] {
        let incompat = u32::from_le_bytes([head[1120], head[1121], head[1122], head[1123]]);
        let compat = u32::from_le_bytes([head[1116], head[1117], head[1118], head[1119]]);
        // extents (0x40) or 64bit (0x80) ⇒ ext4; a journal (compat 0x4) ⇒ ext3.
        return Some(if incompat & 0xc0 != 0 {
            "ext4"
        } else if compat & 0x4 != 0 {
            "ext3"
        } else {
            "ext2"
        });
    }
    None
}

/// Opens the filesystem on `vol`: `Ok(None)` when nothing is recognised,
/// `Err` when it is recognised but cannot be read.
pub fn open(vol: &Arc<dyn ReadAt>) -> Result<Option<Arc<dyn Filesystem>>, (&'static str, String)> {
    let mut head = vec![0u8; 4096];
    let n = vol
        .read_at(&mut head, 0)
        .map_err(|e| ("unknown", e.to_string()))?;
    head.truncate(n);
    let Some(kind) = detect(&head) else {
        return Ok(None);
    };
    let fs: Arc<dyn Filesystem> = match kind {
        "ntfs" => Arc::new(ntfs::Ntfs::open(vol.clone()).map_err(|e| (kind, e))?),
        "fat12" | "fat16" | "fat32" | "exfat" => {
            Arc::new(fat::Fat::open(vol.clone()).map_err(|e| (kind, e))?)
        }
        "ext2" | "ext3" | "ext4" => {
            Arc::new(ext::Ext::open(kind, vol.clone()).map_err(|e| (kind, e))?)
        }
        other => return Err((other, format!("no reader for {other}"))),
    };
    Ok(Some(fs))
}
