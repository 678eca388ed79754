//! MBR partition tables, with the extended partition's chain of logical
//! partitions (EBRs). Partitions are numbered like Linux: 1–4 primary,
//! 5 upward logical.

use std::collections::HashSet;

use super::{TableProblem, VolumeInfo, le32};
use crate::source::readat::ReadAt;

const SECTOR: u64 = 512;
/// A chain longer than this is a loop or garbage, not a real disk.
const MAX_LOGICAL: usize = 512;

struct Entry {
    status: u8,
    kind: u8,
    start: u64,
    sectors: u64,
}

fn entries(sector: &[u8]) -> [Entry; 4] {
    std::array::from_fn(|i| {
        let e = &sector[446 + 16 * i..446 + 16 * (i + 1)];
        Entry {
            status: e[0],
            kind: e[4],
            start: u64::from(le32(e, 8)),
            sectors: u64::from(le32(e, 12)),
        }
    })
}

fn is_extended(kind: u8) -> bool {
    matches!(kind, 0x05 | 0x0f | 0x85)
}

/// The volumes of an MBR disk, or `None` when sector 0 is not a plausible
/// MBR (no 55 AA, or entries whose boot flag is neither 0x00 nor 0x80).
pub(super) fn list(
    disk: &dyn ReadAt,
    sector0: &[u8; 512],
    problems: &mut Vec<TableProblem>,
) -> Option<Vec<VolumeInfo>> {
    if sector0[510..512] != [0x55, 0xaa] {
        return None;
    }
    let primary = entries(sector0);
    let used: Vec<_> = primary
        .iter()
        .enumerate()
        .filter(|(_, e)| e.kind != 0 && e.sectors != 0)
        .collect();
    if used.is_empty() || used.iter().any(|(_, e)| e.status & 0x7f != 0) {
        return None;
    }
    let disk_size = disk.size();
    let mut out = Vec::new();
    for (i, e) in used {
        if is_extended(e.kind) {
            logical(disk, e.start, e.sectors, &mut out, problems);
            continue;
        }
        push(&mut out, i as u32 + 1, e, 0, disk_size, problems);
    }
    Some(out)
}

fn push(
    out: &mut Vec<VolumeInfo>,
    index: u32,
    e: &Entry,
    base: u64,
    disk_size: u64,
    problems: &mut Vec<TableProblem>,
) {
    let offset = (base + e.start) * SECTOR;
    let size = e.sectors * SECTOR;
    if offset + size > disk_size {
        problems.push(TableProblem {
            message: format!(
                "MBR partition {index} (offset {offset}, {size} bytes) runs past the end of the \
                 disk ({disk_size} bytes); read up to the end"
            ),
        });
    }
    out.push(VolumeInfo {
        index,
        offset,
        size: size.min(disk_size.saturating_sub(offset)),
        scheme: "mbr".into(),
        type_name: Some(type_name(e.kind)),
        name: None,
        filesystem: None,
        image: None,
    });
}

/// Follows the EBR chain of the extended partition at `ext_start` sectors.
fn logical(
    disk: &dyn ReadAt,
    ext_start: u64,
    ext_sectors: u64,
    out: &mut Vec<VolumeInfo>,
    problems: &mut Vec<TableProblem>,
) {
    let disk_size = disk.size();
    let mut seen = HashSet::new();
    let mut ebr = ext_start;
    let mut index = 5;
    while out.len() < MAX_LOGICAL + 4 {
        if !seen.insert(ebr) {
            problems.push(TableProblem {
                message: format!("extended partition chain loops back to sector {ebr}; stopped"),
            });
            return;
        }
        let mut sector = [0u8; 512];
        if let Err(e) = disk.read_exact_at(&mut sector, ebr * SECTOR) {
            problems.push(TableProblem {
                message: format!("cannot read extended boot record at sector {ebr}: {e}"),
            });
            return;
        }
        if sector[510..512] != [0x55, 0xaa] {
            problems.push(TableProblem {
                message: format!("extended boot record at sector {ebr} has no 55 AA signature"),
            });
            return;
        }
        let [first, next, ..] = entries(&sector);
        if first.kind != 0 && first.sectors != 0 {
            push(out, index, &first, ebr, disk_size, problems);
            index += 1;
        }
        if !is_extended(next.kind) || next.sectors == 0 {
            return;
        }
        if next.start >= ext_sectors {
            problems.push(TableProblem {
                message: format!(
                    "extended boot record at sector {ebr} points outside its extended partition"
                ),
            });
            return;
        }
        ebr = ext_start + next.start;
    }
}

/// `0x07 (NTFS/exFAT)`: the type byte and its usual meaning.
fn type_name(kind: u8) -> String {
    let name = match kind {
        0x01 => "FAT12",
        0x04 | 0x06 | 0x0e => "FAT16",
        0x07 => "NTFS/exFAT",
        0x0b | 0x0c => "FAT32",
        0x11 | 0x14 | 0x16 | 0x17 | 0x1b | 0x1c | 0x1e => "hidden FAT/NTFS",
        0x27 => "Windows RE",
        0x42 => "Windows dynamic",
        0x82 => "Linux swap",
        0x83 => "Linux",
        0x8e => "Linux LVM",
        0xa5 => "FreeBSD",
        0xaf => "HFS+",
        0xee => "GPT protective",
        0xef => "EFI System",
        0xfd => "Linux RAID",
        _ => return format!("0x{kind:02x}"),
    };
    format!("0x{kind:02x} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sector: &mut [u8], slot: usize, kind: u8, start: u32, sectors: u32) {
        let e = &mut sector[446 + 16 * slot..446 + 16 * (slot + 1)];
        e[4] = kind;
        e[8..12].copy_from_slice(&start.to_le_bytes());
        e[12..16].copy_from_slice(&sectors.to_le_bytes());
    }

    fn sign(sector: &mut [u8]) {
        sector[510] = 0x55;
        sector[511] = 0xaa;
    }

    #[test]
    fn primary_and_logical_partitions() {
        let mut d = vec![0u8; 512 * 400];
        entry(&mut d, 0, 0x07, 10, 50);
        entry(&mut d, 1, 0x0f, 100, 300);
        sign(&mut d);
        // EBR 1 at 100: logical at 100+5, next EBR at ext+150.
        let e1 = 100 * 512;
        entry(&mut d[e1..e1 + 512], 0, 0x83, 5, 40);
        entry(&mut d[e1..e1 + 512], 1, 0x05, 150, 100);
        sign(&mut d[e1..e1 + 512]);
        let e2 = 250 * 512;
        entry(&mut d[e2..e2 + 512], 0, 0x0c, 2, 60);
        sign(&mut d[e2..e2 + 512]);
        let mut problems = Vec::new();
        let s0: [u8; 512] = d[..512].try_into().unwrap();
        let v = list(&d, &s0, &mut problems).unwrap();
        let got: Vec<_> = v
            .iter()
            .map(|v| (v.index, v.offset / 512, v.size / 512))
            .collect();
        assert_eq!(got, [(1, 10, 50), (5, 105, 40), (6, 252, 60)]);
        assert!(problems.is_empty());
        assert_eq!(v[2].type_name.as_deref(), Some("0x0c (FAT32)"));
    }

    #[test]
    fn looping_chain_is_reported_not_followed_forever() {
        let mut d = vec![0u8; 512 * 200];
        entry(&mut d, 0, 0x05, 100, 100);
        sign(&mut d);
        let e1 = 100 * 512;
        entry(&mut d[e1..e1 + 512], 0, 0x83, 1, 10);
        entry(&mut d[e1..e1 + 512], 1, 0x05, 0, 10);
        sign(&mut d[e1..e1 + 512]);
        let mut problems = Vec::new();
        let s0: [u8; 512] = d[..512].try_into().unwrap();
        let v = list(&d, &s0, &mut problems).unwrap();
        assert_eq!(v.len(), 1);
        assert!(problems[0].message.contains("loops"));
    }

    #[test]
    fn garbage_boot_flags_are_not_a_table() {
        let mut d = vec![0u8; 4096];
        entry(&mut d, 0, 0x07, 1, 2);
        d[446] = 0x13;
        sign(&mut d);
        let s0: [u8; 512] = d[..512].try_into().unwrap();
        assert!(list(&d, &s0, &mut Vec::new()).is_none());
    }

    #[test]
    fn partition_past_the_end_is_clipped_and_reported() {
        let mut d = vec![0u8; 512 * 20];
        entry(&mut d, 0, 0x83, 10, 100);
        sign(&mut d);
        let mut problems = Vec::new();
        let s0: [u8; 512] = d[..512].try_into().unwrap();
        let v = list(&d, &s0, &mut problems).unwrap();
        assert_eq!(v[0].size, 10 * 512);
        assert!(problems[0].message.contains("past the end"));
    }
}
