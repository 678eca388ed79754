//! The ext3/ext4 journal (JBD2), replayed in memory as the kernel and
//! e2fsck replay it at mount: every committed transaction after the
//! journal's start, in order, each logged block laid over the volume
//! unless a later (or the same) transaction revoked it. An uncommitted last
//! transaction is dropped. Nothing is written: the replayed volume is a
//! [`ReadAt`] that serves journal copies for the blocks they replace.
//!
//! All journal fields are big-endian. Checksums (v2/v3) are not verified:
//! the sequence numbers and commit blocks decide what was committed.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::Arc;

use crate::source::readat::ReadAt;

const MAGIC: u32 = 0xC03B_3998;
const DESCRIPTOR: u32 = 1;
const COMMIT: u32 = 2;
const SUPERBLOCK_V1: u32 = 3;
const SUPERBLOCK_V2: u32 = 4;
const REVOKE: u32 = 5;

const INCOMPAT_REVOKE: u32 = 0x1;
const INCOMPAT_64BIT: u32 = 0x2;
const INCOMPAT_ASYNC_COMMIT: u32 = 0x4;
const INCOMPAT_CSUM_V2: u32 = 0x8;
const INCOMPAT_CSUM_V3: u32 = 0x10;

const TAG_ESCAPE: u32 = 0x1;
const TAG_SAME_UUID: u32 = 0x2;
const TAG_LAST: u32 = 0x8;

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A logged block: where its copy is in the journal, and whether its
/// first four bytes were escaped (they held the journal magic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Logged {
    journal_block: u64,
    escaped: bool,
}

/// What a replay did, for the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    pub transactions: u64,
    pub blocks: usize,
    /// Tags naming blocks outside the volume: not replayed.
    pub out_of_range: u64,
    /// A last transaction without its commit block: dropped.
    pub uncommitted: bool,
}

/// The volume with the journal's committed blocks laid over it.
pub struct Replayed {
    inner: Arc<dyn ReadAt>,
    journal: Arc<dyn ReadAt>,
    block: u64,
    logged: BTreeMap<u64, Logged>,
}

/// Replays `journal` (the journal inode's content) over `volume`.
/// `Ok(None)`: the journal is clean (nothing to replay).
pub fn replay(
    volume: Arc<dyn ReadAt>,
    journal: Arc<dyn ReadAt>,
    block: u64,
) -> Result<Option<(Replayed, Summary)>, String> {
    let mut sb = vec![0u8; block as usize];
    journal
        .read_exact_at(&mut sb, 0)
        .map_err(|e| format!("journal superblock: {e}"))?;
    let kind = be32(&sb, 4);
    if be32(&sb, 0) != MAGIC || !matches!(kind, SUPERBLOCK_V1 | SUPERBLOCK_V2) {
        return Err("the journal has no JBD2 superblock".into());
    }
    let jblock = u64::from(be32(&sb, 12));
    if jblock != block {
        return Err(format!(
            "journal block size {jblock} differs from the filesystem's {block}"
        ));
    }
    let maxlen = u64::from(be32(&sb, 16)).min(journal.size() / block);
    let first = u64::from(be32(&sb, 20));
    let sequence = be32(&sb, 24);
    let start = u64::from(be32(&sb, 28));
    if start == 0 {
        return Ok(None);
    }
    let incompat = if kind == SUPERBLOCK_V2 {
        be32(&sb, 40)
    } else {
        0
    };
    let known = INCOMPAT_REVOKE
        | INCOMPAT_64BIT
        | INCOMPAT_ASYNC_COMMIT
        | INCOMPAT_CSUM_V2
        | INCOMPAT_CSUM_V3;
    if incompat & !known != 0 {
        return Err(format!(
            "journal features {:#x} are not read (fast commits?)",
            incompat & !known
        ));
    }
    if first == 0 || first >= maxlen || start < first || start >= maxlen {
        return Err(format!(
            "journal layout out of range: first block {first}, start {start}, {maxlen} blocks"
        ));
    }
    let layout = Layout {
        first,
        maxlen,
        block,
        bit64: incompat & INCOMPAT_64BIT != 0,
        csum_v3: incompat & INCOMPAT_CSUM_V3 != 0,
        tail: incompat & (INCOMPAT_CSUM_V2 | INCOMPAT_CSUM_V3) != 0,
    };
    let scan = layout.scan(&*journal, start, sequence)?;
    let volume_blocks = volume.size() / block;
    let mut logged = BTreeMap::new();
    let mut out_of_range = 0;
    for (seq, tags) in &scan.committed {
        for &(target, copy) in tags {
            if target >= volume_blocks {
                out_of_range += 1;
                continue;
            }
            // Revoked by this transaction or a later one: not replayed.
            let revoked = scan
                .revoked
                .get(&target)
                .is_some_and(|&r| r.wrapping_sub(*seq) as i32 >= 0);
            if !revoked {
                logged.insert(target, copy);
            }
        }
    }
    let summary = Summary {
        transactions: scan.committed.len() as u64,
        blocks: logged.len(),
        out_of_range,
        uncommitted: scan.uncommitted,
    };
    Ok(Some((
        Replayed {
            inner: volume,
            journal,
            block,
            logged,
        },
        summary,
    )))
}

struct Layout {
    first: u64,
    maxlen: u64,
    block: u64,
    bit64: bool,
    csum_v3: bool,
    /// Descriptor and revoke blocks end in a 4-byte checksum tail.
    tail: bool,
}

/// The transactions found from the journal's start.
struct Scan {
    /// Committed transactions, in order: (sequence, [(fs block, copy)]).
    committed: Vec<(u32, Vec<(u64, Logged)>)>,
    /// Revoked blocks and the latest sequence that revoked each.
    revoked: HashMap<u64, u32>,
    uncommitted: bool,
}

impl Layout {
    fn next(&self, pos: u64) -> u64 {
        if pos + 1 >= self.maxlen {
            self.first
        } else {
            pos + 1
        }
    }

    /// Walks the log from `start`, transaction `sequence`, until a block
    /// that is not the next one of the log. Each block is visited at most
    /// once: a damaged log cannot loop.
    fn scan(&self, journal: &dyn ReadAt, start: u64, mut sequence: u32) -> Result<Scan, String> {
        let mut out = Scan {
            committed: Vec::new(),
            revoked: HashMap::new(),
            uncommitted: false,
        };
        let mut buf = vec![0u8; self.block as usize];
        let mut pos = start;
        let mut visited = 0u64;
        let mut current: Vec<(u64, Logged)> = Vec::new();
        let mut revokes: Vec<u64> = Vec::new();
        let budget = self.maxlen - self.first;
        while visited < budget {
            journal
                .read_exact_at(&mut buf, pos * self.block)
                .map_err(|e| format!("journal block {pos}: {e}"))?;
            visited += 1;
            if be32(&buf, 0) != MAGIC || be32(&buf, 8) != sequence {
                break;
            }
            match be32(&buf, 4) {
                DESCRIPTOR => {
                    for (target, escaped) in self.tags(&buf) {
                        pos = self.next(pos);
                        visited += 1;
                        current.push((
                            target,
                            Logged {
                                journal_block: pos,
                                escaped,
                            },
                        ));
                    }
                }
                REVOKE => revokes.extend(self.revoke_records(&buf)),
                COMMIT => {
                    for b in revokes.drain(..) {
                        let r = out.revoked.entry(b).or_insert(sequence);
                        if sequence.wrapping_sub(*r) as i32 > 0 {
                            *r = sequence;
                        }
                    }
                    out.committed.push((sequence, std::mem::take(&mut current)));
                    sequence = sequence.wrapping_add(1);
                }
                _ => break,
            }
            pos = self.next(pos);
        }
        out.uncommitted = !current.is_empty() || !revokes.is_empty();
        Ok(out)
    }

    /// A descriptor block's tags: (filesystem block, escaped).
    fn tags(&self, d: &[u8]) -> Vec<(u64, bool)> {
        let size = if self.csum_v3 {
            16
        } else if self.bit64 {
            12
        } else {
            8
        };
        let end = d.len() - if self.tail { 4 } else { 0 };
        let mut at = 12;
        let mut out = Vec::new();
        while at + size <= end {
            let lo = u64::from(be32(d, at));
            let (flags, hi) = if self.csum_v3 {
                (be32(d, at + 4), be32(d, at + 8))
            } else {
                let flags = u32::from(u16::from_be_bytes([d[at + 6], d[at + 7]]));
                (flags, if self.bit64 { be32(d, at + 8) } else { 0 })
            };
            let hi = if self.bit64 { u64::from(hi) } else { 0 };
            out.push((lo | (hi << 32), flags & TAG_ESCAPE != 0));
            at += size;
            if flags & TAG_SAME_UUID == 0 {
                at += 16;
            }
            if flags & TAG_LAST != 0 {
                break;
            }
        }
        out
    }

    /// A revoke block's records.
    fn revoke_records(&self, r: &[u8]) -> Vec<u64> {
        let size = if self.bit64 { 8 } else { 4 };
        let end = (be32(r, 12) as usize).min(r.len() - if self.tail { 4 } else { 0 });
        (16..end)
            .step_by(size)
            .take_while(|at| at + size <= end)
            .map(|at| {
                if self.bit64 {
                    (u64::from(be32(r, at)) << 32) | u64::from(be32(r, at + 4))
                } else {
                    u64::from(be32(r, at))
                }
            })
            .collect()
    }
}

impl ReadAt for Replayed {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let n = self.inner.read_at(buf, offset)?;
        if n == 0 {
            return Ok(0);
        }
        let first = offset / self.block;
        let last = (offset + n as u64 - 1) / self.block;
        let mut copy = Vec::new();
        for (&b, l) in self.logged.range(first..=last) {
            copy.resize(self.block as usize, 0);
            self.journal
                .read_exact_at(&mut copy, l.journal_block * self.block)?;
            if l.escaped {
                copy[..4].copy_from_slice(&MAGIC.to_be_bytes());
            }
            let start = (b * self.block).max(offset);
            let end = ((b + 1) * self.block).min(offset + n as u64);
            let src = (start - b * self.block) as usize..(end - b * self.block) as usize;
            let dst = (start - offset) as usize..(end - offset) as usize;
            buf[dst].copy_from_slice(&copy[src]);
        }
        Ok(n)
    }

    fn size(&self) -> u64 {
        self.inner.size()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: usize = 1024;

    fn header(kind: u32, seq: u32) -> Vec<u8> {
        let mut b = vec![0u8; B];
        b[..4].copy_from_slice(&MAGIC.to_be_bytes());
        b[4..8].copy_from_slice(&kind.to_be_bytes());
        b[8..12].copy_from_slice(&seq.to_be_bytes());
        b
    }

    /// A journal of 32 blocks (v2 superblock, 32-bit tags) from `log`,
    /// written from block 1.
    fn journal(log: Vec<Vec<u8>>) -> Arc<dyn ReadAt> {
        let mut sb = header(SUPERBLOCK_V2, 0);
        for (at, v) in [(12, B as u32), (16, 32), (20, 1), (24, 7), (28, 1)] {
            sb[at..at + 4].copy_from_slice(&v.to_be_bytes());
        }
        sb[40..44].copy_from_slice(&INCOMPAT_REVOKE.to_be_bytes());
        let mut j = sb;
        for b in log {
            j.extend(b);
        }
        j.resize(32 * B, 0);
        Arc::new(j)
    }

    fn descriptor(seq: u32, tags: &[(u32, u32)]) -> Vec<u8> {
        let mut d = header(DESCRIPTOR, seq);
        let mut at = 12;
        for (i, &(block, flags)) in tags.iter().enumerate() {
            let mut flags = flags | if i > 0 { TAG_SAME_UUID } else { 0 };
            if i + 1 == tags.len() {
                flags |= TAG_LAST;
            }
            d[at..at + 4].copy_from_slice(&block.to_be_bytes());
            d[at + 6..at + 8].copy_from_slice(&(flags as u16).to_be_bytes());
            at += 8 + if flags & TAG_SAME_UUID == 0 { 16 } else { 0 };
        }
        d
    }

    fn filled(byte: u8) -> Vec<u8> {
        vec![byte; B]
    }

    #[test]
    fn committed_blocks_replay_revoked_and_uncommitted_ones_do_not() {
        let volume: Arc<dyn ReadAt> = Arc::new(vec![0u8; 8 * B]);
        let mut revoke = header(REVOKE, 8);
        revoke[12..16].copy_from_slice(&20u32.to_be_bytes());
        revoke[16..20].copy_from_slice(&3u32.to_be_bytes());
        let mut escaped = filled(0xEE);
        escaped[..4].copy_from_slice(&[0; 4]);
        let log = vec![
            descriptor(7, &[(2, 0), (3, 0), (4, TAG_ESCAPE)]),
            filled(0xA2),
            filled(0xA3),
            escaped,
            header(COMMIT, 7),
            revoke,
            descriptor(8, &[(5, 0)]),
            filled(0xB5),
            header(COMMIT, 8),
            descriptor(9, &[(6, 0)]),
            filled(0xC6),
            // No commit for 9.
        ];
        let (disk, summary) = replay(volume, journal(log), B as u64).unwrap().unwrap();
        assert_eq!(summary.transactions, 2);
        assert!(summary.uncommitted);
        let mut all = vec![0u8; 8 * B];
        disk.read_exact_at(&mut all, 0).unwrap();
        let block = |n: usize| &all[n * B..(n + 1) * B];
        assert!(block(2).iter().all(|&b| b == 0xA2));
        assert!(block(3).iter().all(|&b| b == 0), "revoked by transaction 8");
        assert_eq!(block(4)[..4], MAGIC.to_be_bytes(), "escape undone");
        assert!(block(4)[4..].iter().all(|&b| b == 0xEE));
        assert!(block(5).iter().all(|&b| b == 0xB5));
        assert!(block(6).iter().all(|&b| b == 0), "uncommitted");
        // A read across a block boundary takes each part from its source.
        let mut two = [0u8; 8];
        disk.read_exact_at(&mut two, 2 * B as u64 - 4).unwrap();
        assert_eq!(two, [0, 0, 0, 0, 0xA2, 0xA2, 0xA2, 0xA2]);
    }

    #[test]
    fn a_clean_or_foreign_journal_is_not_replayed() {
        let volume: Arc<dyn ReadAt> = Arc::new(vec![0u8; 8 * B]);
        let j = journal(Vec::new());
        let mut raw = vec![0u8; 32 * B];
        j.read_exact_at(&mut raw, 0).unwrap();
        raw[28..32].copy_from_slice(&0u32.to_be_bytes());
        assert!(
            replay(volume.clone(), Arc::new(raw.clone()), B as u64)
                .unwrap()
                .is_none()
        );
        raw[0] ^= 1;
        assert!(replay(volume, Arc::new(raw), B as u64).is_err());
    }
}
