//! Where an inode's bytes are: extent trees (ext4) and classic block maps
//! (ext2/3), resolved into pieces (file offset, volume offset or hole,
//! length) that any worker then reads in parallel. A damaged map stays
//! bounded: no more mapped blocks than the volume holds, no tree block read
//! twice, holes kept as one piece however many blocks they span.

use std::collections::HashSet;

use super::{EXTENTS_FLAG, Ext, Inode, MAX_EXTENT_DEPTH};
use crate::source::volume::{le16, le32};

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
    /// Where the inode's bytes are.
    pub(super) fn pieces(&self, ino: &Inode) -> Result<Vec<Piece>, String> {
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
}
