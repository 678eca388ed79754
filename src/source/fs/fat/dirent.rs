//! FAT12/16/32 directory entries: 32-byte short (8.3) records and the VFAT
//! long-name (LFN) records before them, live and deleted.
//!
//! Deletion overwrites the first byte of every record of a name with 0xE5:
//! a deleted short name loses its first character (shown as `_`, as TSK
//! shows it) and its LFN records lose their sequence numbers, but keep their
//! characters and the checksum of the short name. So a deleted file's long
//! name is rebuilt from the deleted LFN records that precede its short
//! record and share one checksum, accepted when that checksum matches the
//! short name for some first character a short name can have.
//!
//! Records are validated before they are trusted (a deleted directory's
//! cluster may hold other data since): an invalid record is not an entry.

use super::{Entry, decode_dos_time};
use crate::source::volume::{le16, le32};

const DELETED: u8 = 0xE5;
const ATTR_LFN: u8 = 0x0F;
const ATTR_VOLUME: u8 = 0x08;
const ATTR_DIR: u8 = 0x10;

/// Parses a directory's bytes. `max_cluster` bounds cluster numbers and
/// `max_size` file sizes for validation.
pub fn parse(data: &[u8], max_cluster: u32, max_size: u64) -> Vec<Entry> {
    let mut out = Vec::new();
    // Pending LFN records: (checksum, 13 UTF-16 units each, nearest to
    // the short record last).
    let mut lfn: Vec<[u16; 13]> = Vec::new();
    let mut lfn_sum: Option<u8> = None;
    for e in data.chunks_exact(32) {
        if e[0] == 0x00 {
            break;
        }
        let attr = e[11];
        if attr & 0x3F == ATTR_LFN && attr & 0xC0 == 0 {
            let seq = e[0];
            // A new name starts at a record flagged last-of-name (live) or
            // when the checksum changes; deleted records keep appending.
            let starts = (seq & 0x40 != 0 && seq != DELETED) || lfn_sum != Some(e[13]);
            if starts {
                lfn.clear();
                lfn_sum = Some(e[13]);
            }
            lfn.push(lfn_units(e));
            continue;
        }
        let pending = std::mem::take(&mut lfn);
        let sum = lfn_sum.take();
        if !valid_short(e, max_cluster, max_size) {
            continue;
        }
        let deleted = e[0] == DELETED;
        let long = sum.and_then(|s| long_name(&pending, s, &e[..11], deleted));
        let is_label = attr & ATTR_VOLUME != 0 && attr & ATTR_DIR == 0;
        if is_label {
            continue;
        }
        let name = long.unwrap_or_else(|| short_name(e, deleted));
        let first_cluster = (u32::from(le16(e, 20)) << 16) | u32::from(le16(e, 26));
        out.push(Entry {
            name,
            is_dir: attr & ATTR_DIR != 0,
            deleted,
            first_cluster,
            size: u64::from(le32(e, 28)),
            contiguous: false,
            created: decode_dos_time(le16(e, 16), le16(e, 14), e[13]),
            modified: decode_dos_time(le16(e, 24), le16(e, 22), 0),
            accessed: decode_dos_time(le16(e, 18), 0, 0),
        });
    }
    out
}

/// Whether a directory's first two records are its `.` and `..`: what a
/// FAT subdirectory always starts with. A deleted directory whose first
/// cluster fails this holds other data now.
pub fn starts_like_a_directory(data: &[u8]) -> bool {
    let dot =
        |e: &[u8], name: &[u8; 11]| e.len() >= 32 && &e[..11] == name && e[11] & ATTR_DIR != 0;
    data.len() >= 64 && dot(&data[..32], b".          ") && dot(&data[32..64], b"..         ")
}

fn lfn_units(e: &[u8]) -> [u16; 13] {
    let mut u = [0u16; 13];
    let offs = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
    for (i, &o) in offs.iter().enumerate() {
        u[i] = le16(e, o);
    }
    u
}

/// The long name from `parts` (stored last part first), if its checksum
/// matches the short name `raw`. Deletion overwrote the short name's first
/// byte; the one it had is what short names are made of: the long name's
/// first character (leading dots and spaces dropped) in upper case, or `_`
/// for one a short name cannot hold.
fn long_name(parts: &[[u16; 13]], sum: u8, raw: &[u8], deleted: bool) -> Option<Vec<u8>> {
    let units: Vec<u16> = parts
        .iter()
        .rev()
        .flatten()
        .copied()
        .take_while(|&u| u != 0x0000 && u != 0xFFFF)
        .collect();
    let long = String::from_utf16_lossy(&units);
    if long.is_empty() {
        return None;
    }
    let matches = if deleted {
        let first = long
            .chars()
            .find(|&c| c != '.' && c != ' ')
            .map(|c| c.to_ascii_uppercase())
            .filter(|c| c.is_ascii() && short_char(*c as u8))
            .map_or(b'_', |c| c as u8);
        let mut name = [0u8; 11];
        name.copy_from_slice(raw);
        [first, b'_'].iter().any(|&b| {
            name[0] = b;
            checksum(&name) == sum
        })
    } else {
        checksum(raw) == sum
    };
    matches.then(|| long.into_bytes())
}

/// The VFAT checksum of an 11-byte short name.
fn checksum(name: &[u8]) -> u8 {
    name.iter().fold(0u8, |s, &b| {
        ((s & 1) << 7).wrapping_add(s >> 1).wrapping_add(b)
    })
}

/// A byte a short name may hold (besides spaces for padding).
fn short_char(b: u8) -> bool {
    b > 0x20 && !b"\"*+,./:;<=>?[\\]|".contains(&b)
}

/// A record that can be a short entry: known attribute bits, a name of
/// short-name bytes, a plausible date; for a deleted one (which may be
/// leftovers), its cluster and size in range too. A live entry out of
/// range is still an entry: its damage is reported when it is read.
fn valid_short(e: &[u8], max_cluster: u32, max_size: u64) -> bool {
    let attr = e[11];
    if attr & 0xC0 != 0 {
        return false;
    }
    let first = e[0];
    let first_ok = first == DELETED || first == 0x05 || first == b'.' || short_char(first);
    let rest_ok = e[1..11]
        .iter()
        .all(|&b| b == b' ' || b == b'.' || short_char(b));
    if !first_ok || !rest_ok || e[12] & !0x18 != 0 {
        return false;
    }
    let cluster = (u32::from(le16(e, 20)) << 16) | u32::from(le16(e, 26));
    let date_ok =
        |d: u16| d == 0 || ((d >> 5) & 0x0F) >= 1 && ((d >> 5) & 0x0F) <= 12 && d & 0x1F >= 1;
    let in_range = cluster <= max_cluster && u64::from(le32(e, 28)) <= max_size;
    (first != DELETED || in_range) && date_ok(le16(e, 24))
}

/// The 8.3 name as shown: base and extension, NT lower-case flags applied,
/// a deleted entry's lost first character as `_`.
fn short_name(e: &[u8], deleted: bool) -> Vec<u8> {
    let lower = |b: u8, on: bool| if on { b.to_ascii_lowercase() } else { b };
    let mut base: Vec<u8> = e[..8]
        .iter()
        .map(|&b| lower(b, e[12] & 0x08 != 0))
        .collect();
    if deleted {
        base[0] = b'_';
    } else if base[0] == 0x05 {
        base[0] = 0xE5;
    }
    let ext: Vec<u8> = e[8..11]
        .iter()
        .map(|&b| lower(b, e[12] & 0x10 != 0))
        .collect();
    let trim = |v: &[u8]| {
        let end = v.iter().rposition(|&b| b != b' ').map_or(0, |p| p + 1);
        v[..end].to_vec()
    };
    let mut name = trim(&base);
    let ext = trim(&ext);
    if !ext.is_empty() {
        name.push(b'.');
        name.extend(ext);
    }
    // Bytes outside ASCII are OEM code page characters, in no known code
    // page: shown as `^`, as TSK shows them.
    name.iter()
        .map(|&b| if b.is_ascii() && b >= 0x20 { b } else { b'^' })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn short(name: &[u8; 11], attr: u8, cluster: u16, size: u32) -> [u8; 32] {
        let mut e = [0u8; 32];
        e[..11].copy_from_slice(name);
        e[11] = attr;
        e[26..28].copy_from_slice(&cluster.to_le_bytes());
        e[28..32].copy_from_slice(&size.to_le_bytes());
        e
    }

    /// The LFN records of `name` for short name `raw`, last part first.
    fn lfn(name: &str, raw: &[u8; 11]) -> Vec<[u8; 32]> {
        let mut units: Vec<u16> = name.encode_utf16().collect();
        units.push(0);
        while !units.len().is_multiple_of(13) {
            units.push(0xFFFF);
        }
        let parts = units.len() / 13;
        let offs = [1, 3, 5, 7, 9, 14, 16, 18, 20, 22, 24, 28, 30];
        (0..parts)
            .rev()
            .map(|p| {
                let mut e = [0u8; 32];
                e[0] = (p as u8 + 1) | if p + 1 == parts { 0x40 } else { 0 };
                e[11] = ATTR_LFN;
                e[13] = checksum(raw);
                for (i, &o) in offs.iter().enumerate() {
                    e[o..o + 2].copy_from_slice(&units[p * 13 + i].to_le_bytes());
                }
                e
            })
            .collect()
    }

    fn names(data: &[u8]) -> Vec<(String, bool)> {
        parse(data, 1000, 1 << 30)
            .into_iter()
            .map(|e| (String::from_utf8(e.name).unwrap(), e.deleted))
            .collect()
    }

    #[test]
    fn deleted_long_names_are_rebuilt_from_their_records() {
        let raw = *b"INSIDE~1BIN";
        let mut dir = Vec::new();
        for r in lfn("inside gone dir.bin", &raw) {
            dir.extend(r);
        }
        dir.extend(short(&raw, 0x20, 5, 10));
        assert_eq!(names(&dir), [("inside gone dir.bin".to_string(), false)]);
        // Deleted: every first byte becomes 0xE5.
        for r in dir.chunks_mut(32) {
            r[0] = DELETED;
        }
        assert_eq!(names(&dir), [("inside gone dir.bin".to_string(), true)]);
        // A short name whose checksum the records do not match keeps its
        // 8.3 name, first character shown as TSK shows it.
        let n = dir.len();
        dir[n - 32 + 5] = b'Q';
        assert_eq!(names(&dir), [("_NSIDQ~1.BIN".to_string(), true)]);
    }

    #[test]
    fn garbage_is_not_an_entry() {
        let mut dir = short(b"README  TXT", 0x20, 3, 4).to_vec();
        dir.extend([0x1Fu8; 32]); // control bytes in a name
        let mut huge = short(b"BIG     BIN", 0x20, 2000, 1);
        huge[0] = DELETED;
        dir.extend(huge); // deleted, cluster past the volume: leftovers
        assert_eq!(names(&dir), [("README.TXT".to_string(), false)]);
        // A live entry out of range is kept: its damage is reported when
        // it is read.
        let n = dir.len();
        dir[n - 32] = b'B';
        assert_eq!(
            names(&dir),
            [
                ("README.TXT".to_string(), false),
                ("BIG.BIN".to_string(), false)
            ]
        );
        assert!(!starts_like_a_directory(&dir));
        let mut sub = short(b".          ", ATTR_DIR, 3, 0).to_vec();
        sub.extend(short(b"..         ", ATTR_DIR, 0, 0));
        assert!(starts_like_a_directory(&sub));
    }
}
