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

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::Filesystem;
use crate::source::readat::{Extents, ReadAt, StreamContent};
use crate::source::volume::{VolumeInfo, le16, le32};
use crate::source::{EvidencePath, FileEntry, FileMeta, ProblemKind, SourceItem};

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
    /// Inode table block of each group.
    tables: Vec<u64>,
}

/// An inode's fields the scanner uses.
struct Inode {
    mode: u16,
    size: u64,
    flags: u32,
    links: u16,
    block: [u8; 60],
    times: [Option<jiff::Timestamp>; 4],
}

impl Inode {
    fn kind(&self) -> u16 {
        self.mode & 0xf000
    }
}

/// One piece of a file: (file offset, volume offset or `None` for a hole,
/// length).
type Piece = (u64, Option<u64>, u64);

/// A file's pieces being collected, with what keeps a damaged mapping
/// bounded: no more mapped blocks than the volume holds, and no tree block
/// read twice.
struct Mapping {
    out: Vec<Piece>,
    mapped_left: u64,
    seen: HashSet<u64>,
}

impl Mapping {
    fn spend(&mut self, blocks: u64) -> Result<(), String> {
        self.mapped_left = self
            .mapped_left
            .checked_sub(blocks)
            .ok_or("the block map maps more blocks than the volume holds (damaged)")?;
        Ok(())
    }
}

impl Ext {
    pub fn open(kind: &'static str, vol: Arc<dyn ReadAt>) -> Result<Ext, String> {
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
        Ok(Inode {
            mode: le16(&raw, 0),
            size: u64::from(le32(&raw, 4)) | (u64::from(le32(&raw, 108)) << 32),
            flags: le32(&raw, 32),
            links: le16(&raw, 26),
            block,
            // created, modified, changed, accessed
            times: [
                crtime,
                time(16, Some(136)),
                time(12, Some(132)),
                time(8, Some(140)),
            ],
        })
    }

    /// Where the inode's bytes are.
    fn pieces(&self, ino: &Inode) -> Result<Vec<Piece>, String> {
        if ino.size > self.max_size(ino) {
            return Err(format!(
                "size {} is beyond what this inode can address",
                ino.size
            ));
        }
        let mut map = Mapping {
            out: Vec::new(),
            mapped_left: self.vol.size() / self.block,
            seen: HashSet::new(),
        };
        if ino.flags & EXTENTS_FLAG != 0 {
            self.extents(&ino.block, 0, &mut map)?;
        } else {
            self.block_map(&ino.block, ino.size, &mut map)?;
        }
        map.out.sort_by_key(|p| p.0);
        Ok(map.out)
    }

    /// Reads an index block of the mapping tree (extent node, indirect
    /// block), refusing one already read for this file: a tree whose nodes
    /// point back at each other would otherwise be walked without end.
    fn tree_block(&self, ptr: u64, map: &mut Mapping) -> Result<Vec<u8>, String> {
        if !map.seen.insert(ptr) {
            return Err(format!(
                "block {ptr} appears twice in the block map (a loop)"
            ));
        }
        let mut b = vec![0u8; self.block as usize];
        self.vol
            .read_exact_at(&mut b, ptr.saturating_mul(self.block))
            .map_err(|e| format!("mapping block {ptr}: {e}"))?;
        Ok(b)
    }

    fn extents(&self, node: &[u8], depth: u32, map: &mut Mapping) -> Result<(), String> {
        if node.len() < 12 || le16(node, 0) != 0xf30a {
            return Err("bad extent header".into());
        }
        if depth > MAX_EXTENT_DEPTH {
            return Err("extent tree too deep".into());
        }
        let entries = usize::from(le16(node, 2));
        let tree_depth = le16(node, 6);
        for i in 0..entries {
            let e = node
                .get(12 + 12 * i..24 + 12 * i)
                .ok_or("extent entries run past their node")?;
            if tree_depth == 0 {
                let logical = u64::from(le32(e, 0));
                let mut len = u64::from(le16(e, 4));
                let uninit = len > 32768;
                if uninit {
                    len -= 32768;
                }
                let start = (u64::from(le16(e, 6)) << 32) | u64::from(le32(e, 8));
                if !uninit {
                    map.spend(len)?;
                }
                let at = (!uninit).then_some(start.saturating_mul(self.block));
                map.out.push((logical * self.block, at, len * self.block));
            } else {
                let leaf = (u64::from(le16(e, 8)) << 32) | u64::from(le32(e, 4));
                let child = self.tree_block(leaf, map)?;
                self.extents(&child, depth + 1, map)?;
            }
        }
        Ok(())
    }

    /// ext2/3 block map: 12 direct pointers, then single, double and triple
    /// indirect blocks. A zero pointer is a hole.
    fn block_map(&self, block: &[u8], size: u64, map: &mut Mapping) -> Result<(), String> {
        let needed = size.div_ceil(self.block);
        let mut next = 0u64;
        for i in 0..12 {
            if next >= needed {
                return Ok(());
            }
            self.push_block(u64::from(le32(block, 4 * i)), &mut next, map)?;
        }
        for (slot, level) in [(12usize, 1u32), (13, 2), (14, 3)] {
            if next >= needed {
                break;
            }
            let ptr = u64::from(le32(block, 4 * slot));
            self.indirect(ptr, level, needed, &mut next, map)?;
        }
        Ok(())
    }

    /// `blocks` blocks of hole from block `next` on.
    fn push_hole(&self, blocks: u64, next: &mut u64, map: &mut Mapping) {
        let len = blocks * self.block;
        match map.out.last_mut() {
            Some(last) if last.1.is_none() && last.0 + last.2 == *next * self.block => {
                last.2 += len
            }
            _ => map.out.push((*next * self.block, None, len)),
        }
        *next += blocks;
    }

    fn push_block(&self, ptr: u64, next: &mut u64, map: &mut Mapping) -> Result<(), String> {
        if ptr == 0 {
            self.push_hole(1, next, map);
            return Ok(());
        }
        map.spend(1)?;
        let at = ptr * self.block;
        match map.out.last_mut() {
            Some(last)
                if last.0 + last.2 == *next * self.block
                    && last.1.is_some_and(|a| a + last.2 == at) =>
            {
                last.2 += self.block
            }
            _ => map.out.push((*next * self.block, Some(at), self.block)),
        }
        *next += 1;
        Ok(())
    }

    fn indirect(
        &self,
        ptr: u64,
        level: u32,
        needed: u64,
        next: &mut u64,
        map: &mut Mapping,
    ) -> Result<(), String> {
        let per = self.block / 4;
        if ptr == 0 {
            // A hole covering everything this pointer would have mapped:
            // one piece, however many blocks (a freed inode's size can
            // claim billions).
            let span = per.pow(level).min(needed - *next);
            self.push_hole(span, next, map);
            return Ok(());
        }
        let b = self.tree_block(ptr, map)?;
        for i in 0..per as usize {
            if *next >= needed {
                break;
            }
            let p = u64::from(le32(&b, 4 * i));
            if level == 1 {
                self.push_block(p, next, map)?;
            } else {
                self.indirect(p, level - 1, needed, next, map)?;
            }
        }
        Ok(())
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
            let n = (ino.size as usize).min(60);
            return Ok(Arc::new(ino.block[..n].to_vec()));
        }
        Ok(Arc::new(Extents::sparse(
            self.vol.clone(),
            self.pieces(ino)?,
            ino.size,
        )))
    }
}

/// One directory entry: inode, type byte (0 if unknown), name bytes.
struct Dirent {
    inode: u64,
    name: Vec<u8>,
    /// Found in the slack after a live entry: a deleted name.
    deleted: bool,
}

/// Live entries, and deleted ones recovered from record slack.
fn parse_dir(b: &[u8], block: usize, filetype: bool) -> Vec<Dirent> {
    let mut out = Vec::new();
    for blk in b.chunks(block) {
        let mut at = 0;
        while at + 8 <= blk.len() {
            let rec_len = usize::from(le16(blk, at + 4));
            if rec_len < 8 || at + rec_len > blk.len() {
                break;
            }
            let name_len = if filetype {
                usize::from(blk[at + 6])
            } else {
                usize::from(le16(blk, at + 6))
            };
            let inode = u64::from(le32(blk, at));
            if inode != 0 && name_len > 0 && at + 8 + name_len <= at + rec_len {
                out.push(Dirent {
                    inode,
                    name: blk[at + 8..at + 8 + name_len].to_vec(),
                    deleted: false,
                });
            }
            // Slack after this entry's name may hold entries removed by
            // extending this record over them.
            let used = (8 + name_len).div_ceil(4) * 4;
            let mut s = at + used;
            while s + 8 <= at + rec_len {
                let ino = u64::from(le32(blk, s));
                let rl = usize::from(le16(blk, s + 4));
                let nl = usize::from(blk[s + 6]);
                if ino != 0 && nl > 0 && rl >= 8 + nl && s + 8 + nl <= at + rec_len && (rl % 4 == 0)
                {
                    let name = &blk[s + 8..s + 8 + nl];
                    if !name.contains(&0) && !name.contains(&b'/') {
                        out.push(Dirent {
                            inode: ino,
                            name: name.to_vec(),
                            deleted: true,
                        });
                    }
                    s += (8 + nl).div_ceil(4) * 4;
                } else {
                    s += 4;
                }
            }
            at += rec_len;
        }
    }
    out
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
        Box::new(Walk {
            fs: self,
            volume,
            dirs: vec![(ROOT_INODE, Vec::new(), 0)],
            seen: HashSet::from([ROOT_INODE]),
            queue: VecDeque::new(),
            started: false,
        })
    }
}

struct Walk {
    fs: Arc<Ext>,
    volume: Arc<VolumeInfo>,
    /// Directories still to read: inode, path, depth.
    dirs: Vec<(u64, Vec<u8>, usize)>,
    seen: HashSet<u64>,
    queue: VecDeque<SourceItem>,
    started: bool,
}

impl Walk {
    /// A problem about `path`, inode `inode` when there is one.
    fn problem(&mut self, path: &[u8], kind: ProblemKind, message: String, inode: Option<u64>) {
        self.queue
            .push_back(super::problem_at(&self.volume, path, kind, message, inode));
    }

    fn read_dir(&mut self, inode: u64, path: Vec<u8>, depth: usize) {
        let entries = self.fs.inode(inode).and_then(|ino| {
            if ino.size > MAX_DIR.min(self.fs.vol.size()) {
                return Err(format!("directory of {} bytes", ino.size));
            }
            let c = self.fs.content(&ino)?;
            let mut b = vec![0u8; ino.size as usize];
            c.read_exact_at(&mut b, 0).map_err(|e| e.to_string())?;
            let inline = ino.flags & INLINE_DATA_FLAG != 0;
            // Inline directories start with the parent's inode (4 bytes).
            let b = if inline {
                b.get(4..).unwrap_or_default().to_vec()
            } else {
                b
            };
            Ok(parse_dir(
                &b,
                if inline {
                    b.len().max(1)
                } else {
                    self.fs.block as usize
                },
                self.fs.filetype,
            ))
        });
        let entries = match entries {
            Ok(e) => e,
            Err(e) => {
                self.problem(
                    &path,
                    ProblemKind::CorruptEntry,
                    format!("cannot read directory (inode {inode}): {e}"),
                    Some(inode),
                );
                return;
            }
        };
        // Stale copies of live entries sit in slack after a directory block
        // is split or compacted: only names not live here are deleted ones.
        let live: HashSet<(u64, Vec<u8>)> = entries
            .iter()
            .filter(|d| !d.deleted)
            .map(|d| (d.inode, d.name.clone()))
            .collect();
        let live_names: HashSet<&[u8]> = live.iter().map(|(_, n)| n.as_slice()).collect();
        let mut slack_seen = HashSet::new();
        for d in &entries {
            if d.name == b"." || d.name == b".." {
                continue;
            }
            if d.deleted
                && (live_names.contains(d.name.as_slice())
                    || !slack_seen.insert((d.inode, &d.name)))
            {
                continue;
            }
            let mut child = path.clone();
            child.push(b'/');
            child.extend_from_slice(&d.name);
            if d.deleted {
                // The name survives in slack; the content only if the freed
                // inode still maps real blocks and no live file took it.
                let recoverable = self.fs.inode(d.inode).is_ok_and(|ino| {
                    ino.links == 0
                        && ino.kind() == 0x8000
                        && self
                            .fs
                            .pieces(&ino)
                            .is_ok_and(|p| p.iter().any(|p| p.1.is_some()))
                });
                if !recoverable {
                    self.problem(
                        &child,
                        ProblemKind::Unrecoverable,
                        format!(
                            "deleted entry (inode {}): the inode no longer maps this file's \
                             blocks (cleared or reused), so its content is not recovered",
                            d.inode
                        ),
                        Some(d.inode),
                    );
                    continue;
                }
            }
            self.entry(d.inode, child, depth);
        }
    }

    /// Said once per volume: a journal that still holds changes.
    fn journal_warning(&mut self) {
        if self.fs.needs_recovery {
            self.problem(
                b"",
                ProblemKind::JournalNotReplayed,
                "the filesystem was not cleanly unmounted and its journal holds changes that \
                 are not replayed: files or versions that exist only in the journal are not \
                 scanned"
                    .into(),
                None,
            );
        }
    }

    fn entry(&mut self, n: u64, path: Vec<u8>, depth: usize) {
        let ino = match self.fs.inode(n) {
            Ok(i) => i,
            Err(e) => return self.problem(&path, ProblemKind::CorruptEntry, e, Some(n)),
        };
        let kind = match ino.kind() {
            0x4000 => {
                if depth < MAX_DEPTH && self.seen.insert(n) {
                    self.dirs.push((n, path, depth + 1));
                }
                return;
            }
            0x8000 => None,
            0xa000 => Some((ProblemKind::Symlink, "symbolic link (not followed)")),
            0x1000 => Some((ProblemKind::Fifo, "FIFO (no content)")),
            0xc000 => Some((ProblemKind::Socket, "socket (no content)")),
            0x2000 | 0x6000 => Some((ProblemKind::Device, "device node (no content)")),
            other => Some((
                ProblemKind::CorruptEntry,
                if other == 0 {
                    "inode with no type"
                } else {
                    "inode of unknown type"
                },
            )),
        };
        if let Some((k, what)) = kind {
            return self.problem(&path, k, format!("{what}, inode {n}"), Some(n));
        }
        let content = match self.fs.content(&ino) {
            Ok(c) => c,
            Err(e) => {
                return self.problem(
                    &path,
                    ProblemKind::CorruptEntry,
                    format!("inode {n}: {e}"),
                    Some(n),
                );
            }
        };
        let [created, modified, changed, accessed] = ino.times;
        self.queue.push_back(SourceItem::File(FileEntry {
            path: EvidencePath::from_bytes(path),
            host_path: None,
            meta: FileMeta {
                size: ino.size,
                created,
                modified,
                accessed,
                changed,
                deleted: ino.links == 0,
                stream: None,
                inode: Some(n),
                volume: Some(self.volume.clone()),
            },
            content: Box::new(StreamContent(content)),
        }));
    }
}

impl Iterator for Walk {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        if !self.started {
            self.started = true;
            self.journal_warning();
        }
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            let (inode, path, depth) = self.dirs.pop()?;
            self.read_dir(inode, path, depth);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dirent(ino: u32, rec_len: u16, name: &[u8]) -> Vec<u8> {
        let mut e = ino.to_le_bytes().to_vec();
        e.extend_from_slice(&rec_len.to_le_bytes());
        e.push(name.len() as u8);
        e.push(1);
        e.extend_from_slice(name);
        e.resize(rec_len as usize, 0);
        e
    }

    #[test]
    fn directory_entries_and_slack_names() {
        // "a" covers the rest of the block, hiding the removed "gone.txt".
        let mut b = dirent(12, 12, b".");
        let mut a = dirent(13, 1024 - 12, b"a");
        let gone = dirent(14, 16, b"gone.txt");
        a[12..12 + gone.len()].copy_from_slice(&gone);
        b.extend_from_slice(&a);
        let got: Vec<_> = parse_dir(&b, 1024, true)
            .into_iter()
            .map(|d| (d.inode, String::from_utf8(d.name).unwrap(), d.deleted))
            .collect();
        assert_eq!(
            got,
            [
                (12, ".".into(), false),
                (13, "a".into(), false),
                (14, "gone.txt".into(), true)
            ]
        );
    }
}
