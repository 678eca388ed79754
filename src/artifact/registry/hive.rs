//! A read-only parser of Windows registry hive files (`regf`), held in
//! memory: base block, hive bins, cells, key nodes and their subkey lists
//! (`lf`, `lh`, `li`, `ri`), value lists, values and big data (`db`).
//!
//! Written here rather than taken from a crate because a seized hive is
//! hostile input: every offset and count is checked against the cell that
//! holds it before it is followed or allocated for, keys are walked with an
//! explicit stack and a visited set (a cyclic or deep tree costs neither
//! the stack nor an endless loop), and damage is a [`Damage`] with the cell
//! offset, never a panic. See README "Registry hives" for the crates
//! weighed.

use std::collections::HashSet;

/// The base block's size; hive bins start after it.
pub const BASE_BLOCK: usize = 4096;

/// Value data above this is cut (and said to be): no registry value an
/// IOC is matched against is larger, and the copy is bounded.
pub const MAX_VALUE_DATA: usize = 1 << 20;

/// Subkey lists nested deeper than this (an `ri` of `ri`s) are damage.
const MAX_LIST_DEPTH: usize = 4;

/// What the base block says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseBlock {
    pub primary_seq: u32,
    pub secondary_seq: u32,
    /// FILETIME of the last write.
    pub last_written: u64,
    pub major: u32,
    pub minor: u32,
    /// 0 for a primary file; 1, 2 and 6 are transaction logs.
    pub file_type: u32,
    /// Offset of the root key's cell (relative to the first hive bin).
    pub root: u32,
    /// Bytes of hive bins the hive claims.
    pub bins_size: u32,
    /// The hive's own path as Windows last mounted it (its last 32
    /// characters), e.g. `\??\C:\Windows\System32\config\SOFTWARE`.
    pub file_name: String,
    /// The XOR-32 checksum of the block's first 508 bytes matches.
    pub checksum_ok: bool,
}

impl BaseBlock {
    /// Parses the first 4,096 bytes of a hive file.
    pub fn parse(b: &[u8]) -> Result<BaseBlock, String> {
        if b.len() < 512 || &b[..4] != b"regf" {
            return Err("not a registry hive (no regf signature)".into());
        }
        let sum = (0..127).fold(0u32, |acc, i| acc ^ u32_le(b, i * 4).unwrap_or(0));
        let name: Vec<u16> = b[48..112]
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .take_while(|&u| u != 0)
            .collect();
        Ok(BaseBlock {
            primary_seq: u32_le(b, 4).unwrap_or(0),
            secondary_seq: u32_le(b, 8).unwrap_or(0),
            last_written: u64_le(b, 12).unwrap_or(0),
            major: u32_le(b, 20).unwrap_or(0),
            minor: u32_le(b, 24).unwrap_or(0),
            file_type: u32_le(b, 28).unwrap_or(0),
            root: u32_le(b, 36).unwrap_or(0),
            bins_size: u32_le(b, 40).unwrap_or(0),
            file_name: String::from_utf16_lossy(&name),
            checksum_ok: u32_le(b, 508) == Some(sum),
        })
    }

    /// Writes since the last flush did not all reach the file: its
    /// transaction logs hold them.
    pub fn dirty(&self) -> bool {
        self.primary_seq != self.secondary_seq
    }
}

/// A part of the hive that could not be read, at a cell offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Offset of the cell relative to the first hive bin.
    pub cell: u32,
    pub message: String,
}

/// One key node.
#[derive(Debug, Clone)]
pub struct Key {
    pub cell: u32,
    pub name: String,
    /// FILETIME.
    pub last_written: u64,
    pub parent: u32,
    subkeys: u32,
    subkey_list: u32,
    values: u32,
    value_list: u32,
}

/// One value of a key, its data decoded by type.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    pub cell: u32,
    /// Empty for the key's default value.
    pub name: String,
    pub data_type: u32,
    pub data: Vec<u8>,
    /// The data was cut at [`MAX_VALUE_DATA`], or its cells held less than
    /// its size claims.
    pub truncated: bool,
}

/// A hive in memory.
pub struct Hive<'a> {
    pub base: BaseBlock,
    /// The hive bins (clipped to the file).
    bins: &'a [u8],
}

impl<'a> Hive<'a> {
    /// Reads the base block of `file` (a whole hive file).
    pub fn new(file: &'a [u8]) -> Result<Hive<'a>, String> {
        let base = BaseBlock::parse(file)?;
        let end = BASE_BLOCK
            .saturating_add(base.bins_size as usize)
            .min(file.len());
        let bins = file.get(BASE_BLOCK..end).unwrap_or_default();
        Ok(Hive { base, bins })
    }

    /// The bytes of the allocated cell at `off` (after its size field).
    pub fn cell(&self, off: u32) -> Result<&'a [u8], String> {
        self.cell_in(off, false)
    }

    /// The cell at `off`, free ones too when `free` (a deleted key's).
    fn cell_in(&self, off: u32, free: bool) -> Result<&'a [u8], String> {
        let at = off as usize;
        let size = i32_le(self.bins, at).ok_or("cell offset outside the hive bins")?;
        if size >= 0 && !free {
            return Err("points at a free (unallocated) cell".into());
        }
        let len = size.unsigned_abs() as usize;
        if len < 4 {
            return Err(format!("cell size {len} is too small"));
        }
        self.bins
            .get(at + 4..at.saturating_add(len))
            .ok_or_else(|| format!("cell of {len} bytes runs past the hive bins"))
    }

    /// The key node at `off`.
    pub fn key(&self, off: u32) -> Result<Key, String> {
        self.key_in(off, false)
    }

    /// The key node at `off`, in a free cell too when `free`.
    pub fn key_in(&self, off: u32, free: bool) -> Result<Key, String> {
        let c = self.cell_in(off, free)?;
        if c.get(..2) != Some(b"nk") {
            return Err("not a key node (no nk signature)".into());
        }
        let flags = u16_le(c, 2).ok_or("key node too short")?;
        let name_len = usize::from(u16_le(c, 72).ok_or("key node too short")?);
        let raw = c
            .get(76..76 + name_len)
            .ok_or("key name runs past its cell")?;
        Ok(Key {
            cell: off,
            name: name_text(raw, flags & 0x20 != 0),
            last_written: u64_le(c, 4).unwrap_or(0),
            parent: u32_le(c, 16).unwrap_or(u32::MAX),
            subkeys: u32_le(c, 20).unwrap_or(0),
            subkey_list: u32_le(c, 28).unwrap_or(u32::MAX),
            values: u32_le(c, 36).unwrap_or(0),
            value_list: u32_le(c, 40).unwrap_or(u32::MAX),
        })
    }

    /// The offsets of `key`'s subkeys; damage in its lists goes to `damage`.
    pub fn subkeys(&self, key: &Key, damage: &mut Vec<Damage>) -> Vec<u32> {
        let mut out = Vec::new();
        if key.subkeys > 0 {
            self.list(key.subkey_list, 0, &mut out, damage);
        }
        out
    }

    fn list(&self, off: u32, depth: usize, out: &mut Vec<u32>, damage: &mut Vec<Damage>) {
        let mut fail = |m: String| {
            damage.push(Damage {
                cell: off,
                message: format!("subkey list: {m}"),
            })
        };
        if depth > MAX_LIST_DEPTH {
            return fail("index lists nested too deep".into());
        }
        let c = match self.cell(off) {
            Ok(c) => c,
            Err(e) => return fail(e),
        };
        let count = usize::from(u16_le(c, 2).unwrap_or(0));
        let (stride, nested) = match c.get(..2) {
            Some(b"lf" | b"lh") => (8, false),
            Some(b"li") => (4, false),
            Some(b"ri") => (4, true),
            _ => return fail("unknown list signature".into()),
        };
        // The count is checked against the cell that holds the entries.
        let fits = c.len().saturating_sub(4) / stride;
        if count > fits {
            fail(format!(
                "claims {count} entries, its cell holds {fits}; {fits} read"
            ));
        }
        for i in 0..count.min(fits) {
            let Some(entry) = u32_le(c, 4 + i * stride) else {
                break;
            };
            if nested {
                self.list(entry, depth + 1, out, damage);
            } else {
                out.push(entry);
            }
        }
    }

    /// `key`'s values; unreadable ones go to `damage`.
    pub fn values(&self, key: &Key, damage: &mut Vec<Damage>) -> Vec<Value> {
        self.values_in(key, false, damage)
    }

    /// `key`'s values, from free cells too when `free` (a deleted key's).
    pub fn values_in(&self, key: &Key, free: bool, damage: &mut Vec<Damage>) -> Vec<Value> {
        let mut out = Vec::new();
        if key.values == 0 {
            return out;
        }
        let list = match self.cell_in(key.value_list, free) {
            Ok(c) => c,
            Err(e) => {
                damage.push(Damage {
                    cell: key.value_list,
                    message: format!("value list of key {:?}: {e}", key.name),
                });
                return out;
            }
        };
        let fits = list.len() / 4;
        let count = (key.values as usize).min(fits);
        if (key.values as usize) > fits {
            damage.push(Damage {
                cell: key.value_list,
                message: format!(
                    "value list of key {:?} claims {} values, its cell holds {fits}",
                    key.name, key.values
                ),
            });
        }
        for i in 0..count {
            let Some(off) = u32_le(list, i * 4) else {
                break;
            };
            match self.value_in(off, free) {
                Ok(v) => out.push(v),
                Err(e) => damage.push(Damage {
                    cell: off,
                    message: format!("value of key {:?}: {e}", key.name),
                }),
            }
        }
        out
    }

    /// The value at `off`, with its data.
    pub fn value(&self, off: u32) -> Result<Value, String> {
        self.value_in(off, false)
    }

    /// The value at `off`, its cells free too when `free`.
    pub fn value_in(&self, off: u32, free: bool) -> Result<Value, String> {
        let c = self.cell_in(off, free)?;
        if c.get(..2) != Some(b"vk") {
            return Err("not a value (no vk signature)".into());
        }
        let name_len = usize::from(u16_le(c, 2).ok_or("value too short")?);
        let size_field = u32_le(c, 4).ok_or("value too short")?;
        let data_off = u32_le(c, 8).ok_or("value too short")?;
        let data_type = u32_le(c, 12).ok_or("value too short")?;
        let flags = u16_le(c, 16).ok_or("value too short")?;
        let raw_name = c
            .get(20..20 + name_len)
            .ok_or("value name runs past its cell")?;
        let name = name_text(raw_name, flags & 1 != 0);
        let (data, truncated) = if size_field & 0x8000_0000 != 0 {
            // Resident: up to four bytes in the offset field itself.
            let n = ((size_field & 0x7fff_ffff) as usize).min(4);
            (data_off.to_le_bytes()[..n].to_vec(), false)
        } else {
            self.data(data_off, size_field as usize, free)?
        };
        Ok(Value {
            cell: off,
            name,
            data_type,
            data,
            truncated,
        })
    }

    /// `size` bytes of value data at `off`: one cell, or a `db` record's
    /// segments (hives of version 1.4 and later, data over 16,344 bytes).
    fn data(&self, off: u32, size: usize, free: bool) -> Result<(Vec<u8>, bool), String> {
        if size == 0 {
            return Ok((Vec::new(), false));
        }
        let want = size.min(MAX_VALUE_DATA);
        let c = self.cell_in(off, free)?;
        if c.get(..2) == Some(b"db") && size > 16344 && self.base.minor >= 4 {
            let segments = usize::from(u16_le(c, 2).unwrap_or(0));
            let list = self.cell_in(u32_le(c, 4).ok_or("big data record too short")?, free)?;
            let mut out = Vec::new();
            for i in 0..segments.min(list.len() / 4) {
                let Some(seg) = u32_le(list, i * 4) else {
                    break;
                };
                let s = self.cell_in(seg, free)?;
                let take = s.len().min(16344).min(want - out.len());
                out.extend_from_slice(&s[..take]);
                if out.len() >= want {
                    break;
                }
            }
            let short = out.len() < want;
            return Ok((out, short || size > want));
        }
        let take = want.min(c.len());
        Ok((c[..take].to_vec(), take < size))
    }

    /// Every free cell of the hive bins: (offset, bytes after its size).
    /// Bins are followed by their headers; a bin or cell whose size does
    /// not add up ends the walk of that bin.
    pub fn free_cells(&self) -> Vec<(u32, &'a [u8])> {
        let mut out = Vec::new();
        let mut bin = 0usize;
        while let Some(h) = self.bins.get(bin..bin + 32) {
            let size = u32_le(h, 8).unwrap_or(0) as usize;
            if &h[..4] != b"hbin" || size < 4096 || !size.is_multiple_of(4096) {
                break;
            }
            let end = (bin + size).min(self.bins.len());
            let mut at = bin + 32;
            while at + 8 <= end {
                let Some(raw) = i32_le(self.bins, at) else {
                    break;
                };
                let len = raw.unsigned_abs() as usize;
                if len < 8 || !len.is_multiple_of(8) || at + len > end {
                    break;
                }
                if raw > 0 {
                    out.push((at as u32, &self.bins[at + 4..at + len]));
                }
                at += len;
            }
            bin += size;
        }
        out
    }

    /// Every key reachable from the root, depth first, each once: `visit`
    /// gets its path below the root (names joined by `\`, the root's own
    /// name left out) and the key. Damage on the way goes to `damage`.
    pub fn walk(&self, damage: &mut Vec<Damage>, mut visit: impl FnMut(&str, &Key)) {
        let mut seen = HashSet::new();
        let mut stack = vec![(self.base.root, String::new(), true)];
        while let Some((off, path, root)) = stack.pop() {
            if !seen.insert(off) {
                damage.push(Damage {
                    cell: off,
                    message: format!("key reached twice (a cycle in the tree) under {path:?}"),
                });
                continue;
            }
            let key = match self.key(off) {
                Ok(k) => k,
                Err(e) => {
                    damage.push(Damage {
                        cell: off,
                        message: format!("key under {path:?}: {e}"),
                    });
                    continue;
                }
            };
            let here = match (root, path.is_empty()) {
                (true, _) => String::new(),
                (false, true) => key.name.clone(),
                (false, false) => format!("{path}\\{}", key.name),
            };
            visit(&here, &key);
            let children = self.subkeys(&key, damage);
            // Reversed, so that the stack pops them in list order.
            for child in children.into_iter().rev() {
                stack.push((child, here.clone(), false));
            }
        }
    }
}

/// A key or value name: Latin-1 when stored compressed, else UTF-16LE.
fn name_text(raw: &[u8], compressed: bool) -> String {
    if compressed {
        raw.iter().map(|&b| char::from(b)).collect()
    } else {
        let units: Vec<u16> = raw
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        String::from_utf16_lossy(&units)
    }
}

pub fn u16_le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

pub fn u32_le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn i32_le(b: &[u8], at: usize) -> Option<i32> {
    u32_le(b, at).map(|v| v as i32)
}

pub fn u64_le(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        b.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_cell_shorter_than_its_header_reads_as_empty() {
        let mut f = vec![0u8; 2 * BASE_BLOCK];
        f[..4].copy_from_slice(b"regf");
        f[40..44].copy_from_slice(&4096u32.to_le_bytes());
        // A 6-byte cell holding only the `lf` signature.
        f[BASE_BLOCK + 32..BASE_BLOCK + 36].copy_from_slice(&(-6i32).to_le_bytes());
        f[BASE_BLOCK + 36..BASE_BLOCK + 38].copy_from_slice(b"lf");
        let h = Hive::new(&f).unwrap();
        let (mut out, mut damage) = (Vec::new(), Vec::new());
        h.list(32, 0, &mut out, &mut damage);
        assert!(out.is_empty() && damage.is_empty());
    }
}
