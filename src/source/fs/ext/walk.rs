//! Walks an ext volume from the root directory: live entries, and deleted
//! names found in directory slack.

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use super::{Ext, INLINE_DATA_FLAG, JournalState, MAX_DEPTH, MAX_DIR, ROOT_INODE};
use crate::source::readat::StreamContent;
use crate::source::volume::{VolumeInfo, le16, le32};
use crate::source::{EvidencePath, FileEntry, FileMeta, ProblemKind, SourceItem};

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

pub(super) struct Walk {
    fs: Arc<Ext>,
    volume: Arc<VolumeInfo>,
    /// Directories still to read: inode, path, depth.
    dirs: Vec<(u64, Vec<u8>, usize)>,
    seen: HashSet<u64>,
    queue: VecDeque<SourceItem>,
    started: bool,
}

impl Walk {
    pub(super) fn new(fs: Arc<Ext>, volume: Arc<VolumeInfo>) -> Self {
        Walk {
            fs,
            volume,
            dirs: vec![(ROOT_INODE, Vec::new(), 0)],
            seen: HashSet::from([ROOT_INODE]),
            queue: VecDeque::new(),
            started: false,
        }
    }

    /// A problem about `path`, inode `inode` when there is one.
    fn problem(&mut self, path: &[u8], kind: ProblemKind, message: String, inode: Option<u64>) {
        self.queue.push_back(crate::source::fs::problem_at(
            &self.volume,
            path,
            kind,
            message,
            inode,
        ));
    }

    fn read_dir(&mut self, inode: u64, path: Vec<u8>, depth: usize) {
        let entries = self.fs.inode(inode).and_then(|ino| {
            if ino.size > MAX_DIR.min(self.fs.vol.size()) {
                return Err(format!("directory of {} bytes", ino.size));
            }
            if ino.flags & INLINE_DATA_FLAG != 0 {
                // Inline directories: the parent's inode (4 bytes), then
                // entries filling the rest of i_block; more entries, if any,
                // fill the system.data attribute. Each part is its own chain.
                let mut e = parse_dir(&ino.block[4..], 56, self.fs.filetype);
                if !ino.inline_tail.is_empty() {
                    let tail = &ino.inline_tail;
                    e.extend(parse_dir(tail, tail.len(), self.fs.filetype));
                }
                return Ok(e);
            }
            let c = self.fs.content(&ino)?;
            let mut b = vec![0u8; ino.size as usize];
            c.read_exact_at(&mut b, 0).map_err(|e| e.to_string())?;
            Ok(parse_dir(&b, self.fs.block as usize, self.fs.filetype))
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

    /// Said once per volume: a journal that was replayed, or that still
    /// holds changes we could not replay.
    fn journal_warning(&mut self) {
        match &self.fs.journal {
            JournalState::Clean => {}
            JournalState::Replayed(s) => {
                let mut message = format!(
                    "the filesystem was not cleanly unmounted: the {} committed transactions \
                     of its journal ({} blocks) were replayed in memory before the walk, as a \
                     mount would replay them (the image is not changed)",
                    s.transactions, s.blocks
                );
                if s.uncommitted {
                    message.push_str("; a last transaction without its commit was dropped");
                }
                if s.out_of_range > 0 {
                    message.push_str(&format!(
                        "; {} logged blocks outside the volume were ignored",
                        s.out_of_range
                    ));
                }
                self.problem(b"", ProblemKind::JournalReplayed, message, None);
            }
            JournalState::NotReplayed(why) => {
                let message = format!(
                    "the filesystem was not cleanly unmounted and its journal holds changes \
                     that were not replayed ({why}): files or versions that exist only in the \
                     journal are not scanned"
                );
                self.problem(b"", ProblemKind::JournalNotReplayed, message, None);
            }
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
