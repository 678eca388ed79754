//! ext2, ext3 and ext4, read-only: superblock, group descriptors, inodes,
//! extent trees and classic block maps, directories walked from the root.
//!
//! Our own reader: `ext4-view` is good but keeps its state in `Rc`/`RefCell`
//! (not shareable between workers) and hides inode numbers and block maps.
//! A file's blocks are resolved once, when the walk reaches it, into a list
//! of extents that any worker then reads in parallel.
//!
//! Deleted files: names still sitting in directory slack are followed to
//! their inode; when it is free (no links) and still maps blocks, the file
//! is read and marked deleted (the blocks may since have been reused, as
//! with any deleted file). When the kernel cleared the block map, as ext3
//! and ext4 usually do, the name is listed as unrecoverable, never dropped.

mod journal;
mod map;
mod walk;

use std::sync::Arc;

use super::Filesystem;
use crate::source::SourceItem;
use crate::source::readat::{Extents, ReadAt};
use crate::source::volume::{VolumeInfo, le16, le32};

const ROOT_INODE: u64 = 2;
const EXTENTS_FLAG: u32 = 0x0008_0000;
const INLINE_DATA_FLAG: u32 = 0x1000_0000;
const INCOMPAT_FILETYPE: u32 = 0x2;
const INCOMPAT_RECOVER: u32 = 0x4;
const INCOMPAT_META_BG: u32 = 0x10;
const INCOMPAT_64BIT: u32 = 0x80;
/// Extent tree depth limit (ext4 allows 5).
const MAX_EXTENT_DEPTH: u32 = 5;
/// Directory size we are willing to hold in memory.
const MAX_DIR: u64 = 256 << 20;
const MAX_DEPTH: usize = 256;

#[derive(Clone)]
pub struct Ext {
    kind: &'static str,
    vol: Arc<dyn ReadAt>,
    block: u64,
    inode_size: u64,
    inodes_per_group: u64,
    inode_count: u64,
    filetype: bool,
    /// The journal holds changes not yet written to their place.
    needs_recovery: bool,
    /// The journal's inode (0: an external journal device).
    journal_inum: u64,
    /// What became of a journal that needed recovery.
    journal: JournalState,
    /// Inode table block of each group.
    tables: Vec<u64>,
}

/// A journal that needed recovery: replayed, or why not.
#[derive(Debug, Clone, PartialEq, Eq)]
enum JournalState {
    Clean,
    Replayed(journal::Summary),
    NotReplayed(String),
}

/// An inode's fields the scanner uses.
struct Inode {
    mode: u16,
    size: u64,
    flags: u32,
    links: u16,
    block: [u8; 60],
    /// Inline data beyond `block`: the in-inode `system.data` attribute.
    inline_tail: Vec<u8>,
    times: [Option<jiff::Timestamp>; 4],
}

impl Inode {
    fn kind(&self) -> u16 {
        self.mode & 0xf000
    }

    /// An inline file's bytes: the 60 of `i_block`, then the attribute's,
    /// cut at the file size (never longer than what the inode holds).
    fn inline_data(&self) -> Vec<u8> {
        let mut data = self.block.to_vec();
        data.extend_from_slice(&self.inline_tail);
        data.truncate(usize::try_from(self.size).unwrap_or(usize::MAX));
        data
    }
}

/// Magic that opens the extended attributes kept inside a large inode.
const IBODY_XATTR_MAGIC: u32 = 0xEA02_0000;
/// Attribute name index of `system.*` names.
const XATTR_SYSTEM: u8 = 7;

/// The value of the in-inode `system.data` attribute, where ext4 keeps an
/// inline file's bytes past the first 60. Anything that does not fit inside
/// the inode reads as no value: the attribute cannot point elsewhere.
fn inline_tail(raw: &[u8], body: usize) -> Vec<u8> {
    if body + 4 > raw.len() || le32(raw, body) != IBODY_XATTR_MAGIC {
        return Vec::new();
    }
    let first = body + 4;
    let mut at = first;
    while at + 16 <= raw.len() && le32(raw, at) != 0 {
        let name_len = usize::from(raw[at]);
        let index = raw[at + 1];
        let value_offs = usize::from(le16(raw, at + 2));
        let value_inum = le32(raw, at + 4);
        let value_size = le32(raw, at + 8) as usize;
        let name = raw.get(at + 16..at + 16 + name_len);
        if index == XATTR_SYSTEM && name == Some(b"data") && value_inum == 0 {
            return raw
                .get(first + value_offs..)
                .and_then(|v| v.get(..value_size))
                .map(<[u8]>::to_vec)
                .unwrap_or_default();
        }
        at += (16 + name_len + 3) & !3;
    }
    Vec::new()
}

impl Ext {
    /// Opens the filesystem; one that was not cleanly unmounted is read
    /// with its journal replayed in memory, as a mount would see it.
    pub fn open(kind: &'static str, vol: Arc<dyn ReadAt>) -> Result<Ext, String> {
        let mut ext = Ext::parse(kind, vol)?;
        if !ext.needs_recovery {
            return Ok(ext);
        }
        let outcome = ext.replay_journal().and_then(|r| match r {
            Some((replayed, summary)) => {
                let mut e = Ext::parse(kind, Arc::new(replayed))
                    .map_err(|e| format!("the replayed filesystem does not open: {e}"))?;
                e.journal = JournalState::Replayed(summary);
                Ok(e)
            }
            // The flag is set but the log is empty: nothing to replay.
            None => Ok(Ext {
                journal: JournalState::Clean,
                ..ext.clone()
            }),
        });
        match outcome {
            Ok(mut e) => {
                e.needs_recovery = false;
                Ok(e)
            }
            Err(why) => {
                ext.journal = JournalState::NotReplayed(why);
                Ok(ext)
            }
        }
    }

    fn replay_journal(&self) -> Result<Option<(journal::Replayed, journal::Summary)>, String> {
        if self.journal_inum == 0 {
            return Err("the journal is on another device".into());
        }
        let ino = self
            .inode(self.journal_inum)
            .map_err(|e| format!("journal inode: {e}"))?;
        let content = self
            .content(&ino)
            .map_err(|e| format!("journal inode {}: {e}", self.journal_inum))?;
        journal::replay(self.vol.clone(), content, self.block)
    }

    fn parse(kind: &'static str, vol: Arc<dyn ReadAt>) -> Result<Ext, String> {
        let mut sb = [0u8; 1024];
        vol.read_exact_at(&mut sb, 1024)
            .map_err(|e| format!("superblock: {e}"))?;
        if le16(&sb, 56) != 0xef53 {
            return Err("no ext superblock magic".into());
        }
        let log = le32(&sb, 24);
        if log > 6 {
            return Err(format!("implausible block size 1024 << {log}"));
        }
        let block = 1024u64 << log;
        let rev = le32(&sb, 76);
        let inode_size = if rev == 0 {
            128
        } else {
            u64::from(le16(&sb, 88))
        };
        let inodes_per_group = u64::from(le32(&sb, 40));
        let inode_count = u64::from(le32(&sb, 0));
        let incompat = le32(&sb, 96);
        let blocks_per_group = u64::from(le32(&sb, 32));
        let mut blocks = u64::from(le32(&sb, 4));
        if incompat & INCOMPAT_64BIT != 0 {
            blocks |= u64::from(le32(&sb, 336)) << 32;
        }
        if !(128..=block).contains(&inode_size)
            || !inode_size.is_power_of_two()
            || inodes_per_group == 0
            || blocks_per_group == 0
        {
            return Err(format!(
                "implausible geometry: inode size {inode_size}, {inodes_per_group} inodes and \
                 {blocks_per_group} blocks per group"
            ));
        }
        if incompat & INCOMPAT_META_BG != 0 {
            return Err("meta_bg group descriptor layout is not read yet".into());
        }
        let first_data = u64::from(le32(&sb, 20));
        let groups = blocks
            .checked_sub(first_data)
            .ok_or_else(|| format!("first data block {first_data} is past the {blocks} blocks"))?
            .div_ceil(blocks_per_group);
        // The descriptor size is 32, or (64bit) a power of two up to 1024.
        let desc = if incompat & INCOMPAT_64BIT != 0 {
            u64::from(le16(&sb, 254)).max(32)
        } else {
            32
        };
        if !desc.is_power_of_two() || desc > 1024 {
            return Err(format!("implausible group descriptor size {desc}"));
        }
        if groups > 1 << 24 || groups.saturating_mul(inodes_per_group) < inode_count {
            return Err(format!("implausible group count {groups}"));
        }
        // The table lies in the volume: its size is checked against the
        // volume before anything is allocated for it.
        let gdt_at = (first_data + 1) * block;
        let gdt_len = groups * desc;
        if gdt_at.saturating_add(gdt_len) > vol.size() {
            return Err(format!(
                "{groups} group descriptors of {desc} bytes at byte {gdt_at} lie past the \
                 {}-byte volume",
                vol.size()
            ));
        }
        let mut gdt = vec![0u8; gdt_len as usize];
        vol.read_exact_at(&mut gdt, gdt_at)
            .map_err(|e| format!("group descriptors: {e}"))?;
        let tables = gdt
            .chunks_exact(desc as usize)
            .map(|d| {
                let lo = u64::from(le32(d, 8));
                let hi = if desc >= 64 {
                    u64::from(le32(d, 0x28))
                } else {
                    0
                };
                lo | (hi << 32)
            })
            .collect();
        Ok(Ext {
            kind,
            vol,
            block,
            inode_size,
            inodes_per_group,
            inode_count,
            filetype: incompat & INCOMPAT_FILETYPE != 0,
            needs_recovery: incompat & INCOMPAT_RECOVER != 0,
            journal_inum: u64::from(le32(&sb, 0xE0)),
            journal: JournalState::Clean,
            tables,
        })
    }

    fn inode(&self, n: u64) -> Result<Inode, String> {
        if n == 0 || n > self.inode_count {
            return Err(format!("inode {n} out of range"));
        }
        let (group, index) = (
            (n - 1) / self.inodes_per_group,
            (n - 1) % self.inodes_per_group,
        );
        let table = *self
            .tables
            .get(group as usize)
            .ok_or_else(|| format!("inode {n}: no group {group}"))?;
        let mut raw = vec![0u8; self.inode_size as usize];
        self.vol
            .read_exact_at(
                &mut raw,
                table
                    .saturating_mul(self.block)
                    .saturating_add(index * self.inode_size),
            )
            .map_err(|e| format!("inode {n}: {e}"))?;
        let extra = if self.inode_size > 128 {
            128 + u64::from(le16(&raw, 128))
        } else {
            128
        };
        // Seconds (signed 32-bit) plus, in large inodes, two epoch bits and
        // nanoseconds in the matching *_extra field.
        let time = |at: usize, extra_at: Option<usize>| -> Option<jiff::Timestamp> {
            let secs = i64::from(le32(&raw, at) as i32);
            let (epoch, nanos) = match extra_at {
                Some(x) if (x as u64 + 4) <= extra && x + 4 <= raw.len() => {
                    let e = le32(&raw, x);
                    (i64::from(e & 3), (e >> 2) as i32)
                }
                _ => (0, 0),
            };
            if secs == 0 && epoch == 0 {
                return None;
            }
            jiff::Timestamp::new(secs + (epoch << 32), nanos).ok()
        };
        let crtime = if (148 + 4) as u64 <= extra && raw.len() >= 152 {
            time(144, Some(148))
        } else {
            None
        };
        let mut block = [0u8; 60];
        block.copy_from_slice(&raw[40..100]);
        let flags = le32(&raw, 32);
        let inline_tail = if flags & INLINE_DATA_FLAG != 0 {
            inline_tail(&raw, extra as usize)
        } else {
            Vec::new()
        };
        Ok(Inode {
            mode: le16(&raw, 0),
            size: u64::from(le32(&raw, 4)) | (u64::from(le32(&raw, 108)) << 32),
            flags,
            links: le16(&raw, 26),
            block,
            inline_tail,
            // created, modified, changed, accessed
            times: [
                crtime,
                time(16, Some(136)),
                time(12, Some(132)),
                time(8, Some(140)),
            ],
        })
    }

    /// Largest file the inode's mapping scheme can address: a bigger size
    /// is damage (and would read as endless zeros).
    fn max_size(&self, ino: &Inode) -> u64 {
        let per = self.block / 4;
        let blocks = if ino.flags & EXTENTS_FLAG != 0 {
            1u64 << 32
        } else {
            12 + per + per * per + per * per * per
        };
        blocks.saturating_mul(self.block)
    }

    /// The inode's content as a reader.
    fn content(&self, ino: &Inode) -> Result<Arc<dyn ReadAt>, String> {
        if ino.flags & INLINE_DATA_FLAG != 0 {
            return Ok(Arc::new(ino.inline_data()));
        }
        Ok(Arc::new(Extents::sparse(
            self.vol.clone(),
            self.pieces(ino)?,
            ino.size,
        )))
    }
}

impl Filesystem for Ext {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn entries(
        self: Arc<Self>,
        volume: Arc<VolumeInfo>,
        _stop: &crate::stop::Stop,
    ) -> Box<dyn Iterator<Item = SourceItem> + Send> {
        Box::new(walk::Walk::new(self, volume))
    }
}
