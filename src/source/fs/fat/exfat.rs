//! exFAT directory entry sets: a File entry (0x85), its Stream Extension
//! (0xC0) and File Name entries (0xC1); deletion clears each entry's
//! in-use bit (0x05, 0x40, 0x41) and leaves the rest.
//!
//! A set read from a live directory is taken as it is. A set found
//! elsewhere (in a deleted directory, or anywhere in free clusters: the
//! orphan scan, as TSK does it) must prove itself: its entries in order,
//! its name as long as it says, and the set checksum right once the in-use
//! bits are put back.

use super::{Entry, decode_dos_time};
use crate::source::volume::{le16, le32, le64};

const FILE: u8 = 0x05;
const STREAM: u8 = 0x40;
const NAME: u8 = 0x41;
const IN_USE: u8 = 0x80;
const ATTR_DIR: u16 = 0x10;

/// The allocation bitmap's first cluster and length, from the root
/// directory's bitmap entry (0x81).
pub fn bitmap_entry(root: &[u8]) -> Option<(u32, u64)> {
    root.chunks_exact(32)
        .take_while(|e| e[0] != 0)
        .find(|e| e[0] == 0x81)
        .map(|e| (le32(e, 20), le64(e, 24)))
}

/// Parses a directory's bytes. `verified` demands a correct checksum of
/// every set (for data that may not be a directory any more).
pub fn parse(data: &[u8], verified: bool, max_cluster: u32, max_size: u64) -> Vec<Entry> {
    let slots: Vec<&[u8]> = data.chunks_exact(32).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < slots.len() && slots[i][0] != 0 {
        match set_at(&slots, i, verified, max_cluster, max_size) {
            Some((entry, len)) => {
                out.push(entry);
                i += len;
            }
            None => i += 1,
        }
    }
    out
}

/// Every entry set in `data` (a free cluster) that proves itself, live or
/// deleted: the orphan scan.
pub fn carve(data: &[u8], max_cluster: u32, max_size: u64) -> Vec<Entry> {
    let slots: Vec<&[u8]> = data.chunks_exact(32).collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < slots.len() {
        match set_at(&slots, i, true, max_cluster, max_size) {
            Some((mut entry, len)) => {
                entry.deleted = true;
                out.push(entry);
                i += len;
            }
            None => i += 1,
        }
    }
    out
}

/// The entry set whose File entry is slot `i`, and its length in slots.
fn set_at(
    slots: &[&[u8]],
    i: usize,
    verified: bool,
    max_cluster: u32,
    max_size: u64,
) -> Option<(Entry, usize)> {
    let file = slots[i];
    if file[0] & !IN_USE != FILE {
        return None;
    }
    let deleted = file[0] & IN_USE == 0;
    let count = usize::from(file[1]);
    if !(2..=18).contains(&count) || i + count >= slots.len() {
        return None;
    }
    let set = &slots[i..=i + count];
    let stream = set[1];
    if stream[0] & !IN_USE != STREAM {
        return None;
    }
    let name_len = usize::from(stream[3]);
    let names = &set[2..];
    if name_len == 0 || names.len() < name_len.div_ceil(15) {
        return None;
    }
    if names.iter().any(|e| e[0] & !IN_USE != NAME) && verified {
        return None;
    }
    if verified && checksum(set) != le16(file, 2) {
        return None;
    }
    let first_cluster = le32(stream, 20);
    let size = le64(stream, 24);
    // A set found in free space whose numbers do not fit the volume is
    // noise; a live one is an entry, its damage reported when it is read.
    if verified && (first_cluster > max_cluster || size > max_size) {
        return None;
    }
    let units: Vec<u16> = names
        .iter()
        .filter(|e| e[0] & !IN_USE == NAME)
        .flat_map(|e| (0..15).map(move |k| le16(e, 2 + 2 * k)))
        .take(name_len)
        .collect();
    let attr = le16(file, 4);
    let ts = |raw: u32, tenths: u8| decode_dos_time((raw >> 16) as u16, raw as u16, tenths);
    Some((
        Entry {
            name: String::from_utf16_lossy(&units).into_bytes(),
            is_dir: attr & ATTR_DIR != 0,
            deleted,
            first_cluster,
            size,
            contiguous: stream[1] & 0x02 != 0,
            created: ts(le32(file, 8), file[20]),
            modified: ts(le32(file, 12), file[21]),
            accessed: ts(le32(file, 16), 0),
        },
        count + 1,
    ))
}

/// The set checksum (\[MS\] §6.3.3), computed over the entries with their
/// in-use bits set, as when the set was written.
fn checksum(set: &[&[u8]]) -> u16 {
    let mut sum: u16 = 0;
    for (n, e) in set.iter().enumerate() {
        for (k, &b) in e.iter().enumerate() {
            if n == 0 && (k == 2 || k == 3) {
                continue;
            }
            let b = if k == 0 { b | IN_USE } else { b };
            sum = (if sum & 1 != 0 { 0x8000u16 } else { 0 })
                .wrapping_add(sum >> 1)
                .wrapping_add(u16::from(b));
        }
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry set for `name` (in use), `size` bytes from `cluster`.
    pub fn set(name: &str, cluster: u32, size: u64) -> Vec<u8> {
        let units: Vec<u16> = name.encode_utf16().collect();
        let names = units.len().div_ceil(15);
        let mut s = vec![0u8; 32 * (2 + names)];
        s[0] = 0x85;
        s[1] = (1 + names) as u8;
        s[4] = 0x20;
        s[32] = 0xC0;
        s[33] = 0x03;
        s[35] = units.len() as u8;
        s[32 + 20..32 + 24].copy_from_slice(&cluster.to_le_bytes());
        s[32 + 24..32 + 32].copy_from_slice(&size.to_le_bytes());
        s[32 + 8..32 + 16].copy_from_slice(&size.to_le_bytes());
        for (k, u) in units.iter().enumerate() {
            let (e, at) = (64 + 32 * (k / 15), 2 + 2 * (k % 15));
            s[e] = 0xC1;
            s[e + at..e + at + 2].copy_from_slice(&u.to_le_bytes());
        }
        for e in (64..s.len()).step_by(32) {
            s[e] = 0xC1;
        }
        let refs: Vec<&[u8]> = s.chunks(32).collect();
        let sum = checksum(&refs);
        s[2..4].copy_from_slice(&sum.to_le_bytes());
        s
    }

    #[test]
    fn deleted_and_orphan_sets_prove_themselves_by_checksum() {
        let mut data = set("Makefile.in", 40, 17484);
        data.extend(set("a name longer than fifteen units.txt", 50, 3));
        let live = parse(&data, false, 1000, 1 << 40);
        assert_eq!(live.len(), 2);
        assert_eq!(live[1].name, b"a name longer than fifteen units.txt");
        // Deleted: in-use bits cleared; the checksum still proves them.
        for e in data.chunks_mut(32) {
            e[0] &= !IN_USE;
        }
        let found = carve(&data, 1000, 1 << 40);
        assert_eq!(found.len(), 2);
        assert!(found.iter().all(|e| e.deleted && e.contiguous));
        assert_eq!((found[0].first_cluster, found[0].size), (40, 17484));
        // One changed byte and the set is noise.
        data[32 + 25] ^= 1;
        assert_eq!(carve(&data, 1000, 1 << 40).len(), 1);
    }
}
