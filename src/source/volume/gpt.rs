//! GUID partition tables. The primary header is at LBA 1 (512- or
//! 4096-byte sectors); when its checksum fails, the backup at the last LBA is
//! used, and when both fail the primary is still read, with a problem said.

use super::{TableProblem, VolumeInfo, le32, le64};
use crate::source::readat::ReadAt;

/// More entries than any real table holds (the usual array is 128).
const MAX_ENTRIES: u32 = 16_384;

struct Header {
    entries_lba: u64,
    count: u32,
    entry_size: u32,
    entries_crc: u32,
}

fn header(disk: &dyn ReadAt, lba: u64, sector: u64) -> Option<(Header, bool)> {
    let mut b = vec![0u8; sector as usize];
    disk.read_exact_at(&mut b, lba * sector).ok()?;
    if &b[..8] != b"EFI PART" {
        return None;
    }
    let size = le32(&b, 12) as usize;
    let crc_ok = (92..=b.len()).contains(&size) && {
        let mut h = b[..size].to_vec();
        h[16..20].fill(0);
        crc32fast::hash(&h) == le32(&b, 16)
    };
    Some((
        Header {
            entries_lba: le64(&b, 72),
            count: le32(&b, 80),
            entry_size: le32(&b, 84),
            entries_crc: le32(&b, 88),
        },
        crc_ok,
    ))
}

/// The GPT volumes, or `None` when the disk has no GPT header.
pub(super) fn list(disk: &dyn ReadAt, problems: &mut Vec<TableProblem>) -> Option<Vec<VolumeInfo>> {
    let (sector, (primary, primary_ok)) = [512u64, 4096]
        .into_iter()
        .find_map(|s| header(disk, 1, s).map(|h| (s, h)))?;
    let mut chosen = primary;
    if !primary_ok {
        let last = disk.size() / sector - 1;
        match header(disk, last, sector) {
            Some((backup, true)) => {
                problems.push(TableProblem {
                    message: "GPT primary header checksum mismatch; used the backup header".into(),
                });
                chosen = backup;
            }
            _ => problems.push(TableProblem {
                message: "GPT header checksum mismatch and no valid backup; read the primary \
                          header as it is"
                    .into(),
            }),
        }
    }
    let h = chosen;
    if h.entry_size < 128 || h.entry_size > 4096 || h.count > MAX_ENTRIES {
        problems.push(TableProblem {
            message: format!(
                "GPT header is implausible ({} entries of {} bytes); table not read",
                h.count, h.entry_size
            ),
        });
        return Some(Vec::new());
    }
    let mut table = vec![0u8; (h.count * h.entry_size) as usize];
    if let Err(e) = disk.read_exact_at(&mut table, h.entries_lba.saturating_mul(sector)) {
        problems.push(TableProblem {
            message: format!("cannot read GPT entries at LBA {}: {e}", h.entries_lba),
        });
        return Some(Vec::new());
    }
    if crc32fast::hash(&table) != h.entries_crc {
        problems.push(TableProblem {
            message: "GPT partition entry array checksum mismatch; entries read as they are".into(),
        });
    }
    let disk_size = disk.size();
    let mut out = Vec::new();
    for (i, e) in table.chunks_exact(h.entry_size as usize).enumerate() {
        let type_guid = &e[..16];
        if type_guid.iter().all(|&b| b == 0) {
            continue;
        }
        let (first, last) = (le64(e, 32), le64(e, 40));
        let index = i as u32 + 1;
        if last < first || first.saturating_mul(sector) >= disk_size {
            problems.push(TableProblem {
                message: format!(
                    "GPT entry {index} has an impossible range (LBA {first}..{last}); skipped"
                ),
            });
            continue;
        }
        let offset = first * sector;
        let size = (last - first).saturating_add(1).saturating_mul(sector);
        if offset.saturating_add(size) > disk_size {
            problems.push(TableProblem {
                message: format!(
                    "GPT entry {index} runs past the end of the disk; read up to the end"
                ),
            });
        }
        let units: Vec<u16> = e[56..128]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        let name = String::from_utf16_lossy(&units);
        out.push(VolumeInfo {
            index,
            offset,
            size: size.min(disk_size - offset),
            scheme: "gpt".into(),
            type_name: Some(type_name(type_guid)),
            name: (!name.is_empty()).then_some(name),
            filesystem: None,
            image: None,
        });
    }
    Some(out)
}

/// A GUID in its usual text form (mixed-endian, as GPT stores it).
fn guid(b: &[u8]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{}",
        le32(b, 0),
        super::le16(b, 4),
        super::le16(b, 6),
        b[8],
        b[9],
        hex::encode_upper(&b[10..16])
    )
}

fn type_name(b: &[u8]) -> String {
    let g = guid(b);
    let name = match g.as_str() {
        "C12A7328-F81F-11D2-BA4B-00A0C93EC93B" => "EFI System",
        "E3C9E316-0B5C-4DB8-817D-F92DF00215AE" => "Microsoft reserved",
        "EBD0A0A2-B9E5-4433-87C0-68B6B72699C7" => "Basic data",
        "DE94BBA4-06D1-4D40-A16A-BFD50179D6AC" => "Windows recovery",
        "5808C8AA-7E8F-42E0-85D2-E1E90434CFB3" => "LDM metadata",
        "AF9B60A0-1431-4F62-BC68-3311714A69AD" => "LDM data",
        "0FC63DAF-8483-4772-8E79-3D69D8477DE4" => "Linux filesystem",
        "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F" => "Linux swap",
        "E6D6D379-F507-44C2-A23C-238F2A3DF928" => "Linux LVM",
        "21686148-6449-6E6F-744E-656564454649" => "BIOS boot",
        "48465300-0000-11AA-AA11-00306543ECAC" => "Apple HFS+",
        "7C3457EF-0000-11AA-AA11-00306543ECAC" => "Apple APFS",
        _ => return g,
    };
    format!("{g} ({name})")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 1 MiB disk with one GPT entry, checksums right.
    fn disk() -> Vec<u8> {
        let mut d = vec![0u8; 1 << 20];
        let mut e = vec![0u8; 128 * 128];
        let basic = [
            0xa2, 0xa0, 0xd0, 0xeb, 0xe5, 0xb9, 0x33, 0x44, 0x87, 0xc0, 0x68, 0xb6, 0xb7, 0x26,
            0x99, 0xc7,
        ];
        e[..16].copy_from_slice(&basic);
        e[16] = 1;
        e[32..40].copy_from_slice(&34u64.to_le_bytes());
        e[40..48].copy_from_slice(&100u64.to_le_bytes());
        for (i, u) in "Data".encode_utf16().enumerate() {
            e[56 + 2 * i..58 + 2 * i].copy_from_slice(&u.to_le_bytes());
        }
        let h = &mut d[512..1024];
        h[..8].copy_from_slice(b"EFI PART");
        h[12..16].copy_from_slice(&92u32.to_le_bytes());
        h[72..80].copy_from_slice(&2u64.to_le_bytes());
        h[80..84].copy_from_slice(&128u32.to_le_bytes());
        h[84..88].copy_from_slice(&128u32.to_le_bytes());
        h[88..92].copy_from_slice(&crc32fast::hash(&e).to_le_bytes());
        let crc = crc32fast::hash(&h[..92]);
        h[16..20].copy_from_slice(&crc.to_le_bytes());
        d[1024..1024 + e.len()].copy_from_slice(&e);
        d
    }

    #[test]
    fn reads_entries_with_names_and_types() {
        let mut p = Vec::new();
        let v = list(&disk(), &mut p).unwrap();
        assert!(p.is_empty(), "{p:?}");
        assert_eq!(v.len(), 1);
        assert_eq!(
            (v[0].index, v[0].offset, v[0].size),
            (1, 34 * 512, 67 * 512)
        );
        assert_eq!(v[0].name.as_deref(), Some("Data"));
        assert_eq!(
            v[0].type_name.as_deref(),
            Some("EBD0A0A2-B9E5-4433-87C0-68B6B72699C7 (Basic data)")
        );
    }

    #[test]
    fn damaged_checksums_are_reported_and_entries_still_read() {
        let mut d = disk();
        d[1024 + 60] ^= 1; // entry array
        d[512 + 100] ^= 1; // beyond the header's 92 bytes: header CRC still fine
        let mut p = Vec::new();
        let v = list(&d, &mut p).unwrap();
        assert_eq!(v.len(), 1);
        assert!(p.iter().any(|p| p.message.contains("entry array checksum")));
        d[512 + 40] ^= 1; // inside the header
        let mut p = Vec::new();
        assert_eq!(list(&d, &mut p).unwrap().len(), 1);
        assert!(p.iter().any(|p| p.message.contains("header checksum")));
    }
}
