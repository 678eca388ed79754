//! Damaged disks never crash the scanner: deterministic byte mutations of
//! the sample disks' metadata (partition tables, boot sectors, MFT records,
//! FAT and ext structures) are walked and every file read, in-process;
//! each walk must end, with problems listed instead of panics. A walker's
//! panic is caught by the image source and listed as an internal error so
//! that a real scan goes on; here it fails the test, since damage must
//! never cause one.

mod support;

use std::io::Read;
use std::sync::Arc;

use breachscan::source::container::Opened;
use breachscan::source::readat::ReadAt;
use breachscan::source::{FileSource, ImageSource, ProblemKind, ReadBuf, SourceItem};
use support::*;

/// Walks every entry and reads every file; returns (files, problems).
fn walk(disk: Vec<u8>) -> (usize, usize) {
    let disk: Arc<dyn ReadAt> = Arc::new(disk);
    let src = ImageSource::new("raw", Opened::whole(disk, Vec::new()));
    let mut buf = ReadBuf::new(1 << 16);
    let (mut files, mut problems) = (0, 0);
    for item in src.entries().take(100_000) {
        match item {
            SourceItem::File(f) => {
                files += 1;
                // Reading may fail (that is reported by the scan); it must
                // not panic. The scan reads every file its volume can hold
                // (`scan::worker::plan` lists larger ones unread); so does
                // this, and a bounded prefix of the others.
                let volume = f.meta.volume.as_ref().map_or(0, |v| v.size);
                if f.meta.size <= volume {
                    let _ = f.content.pump(&mut buf, &mut |_| {});
                } else if let Ok(r) = f.content.open() {
                    let _ = std::io::copy(&mut r.take(8 << 20), &mut std::io::sink());
                }
            }
            SourceItem::Problem(p) if p.kind == ProblemKind::NotContent => {}
            SourceItem::Problem(p) => {
                assert!(
                    !p.message.contains("internal error"),
                    "a walker panicked: {}: {}",
                    p.path.display(),
                    p.message
                );
                problems += 1;
            }
        }
    }
    (files, problems)
}

/// Byte ranges holding metadata: where mutations hurt parsers most.
fn hot_ranges(disk: &[u8], parts: &[u64]) -> Vec<(u64, u64)> {
    let mut v = vec![(0, 34 * 512)];
    for &p in parts {
        v.push((p, p + (1 << 20)));
        // NTFS: the MFT's first records, wherever the boot sector puts them.
        let b = &disk[p as usize..p as usize + 512];
        if &b[3..11] == b"NTFS    " {
            let cluster = u64::from(u16::from_le_bytes([b[11], b[12]])) * u64::from(b[13]);
            let mft = u64::from_le_bytes(b[48..56].try_into().unwrap()) * cluster;
            v.push((p + mft, p + mft + 100 * 1024));
        }
    }
    v
}

fn mutate_and_walk(name: &str, parts: &[u64], rounds: u64) {
    let clean = gunzip(&samples().join("images").join(name));
    let (files, problems) = walk(clean.clone());
    assert!(
        files >= 5 && problems == 0,
        "{name}: clean walk {files}/{problems}"
    );
    let hot = hot_ranges(&clean, parts);
    for seed in 1..=rounds {
        let mut rng = Rng(seed * 0x9e37_79b9);
        let mut disk = clean.clone();
        for _ in 0..1 + rng.below(40) {
            let (lo, hi) = hot[rng.below(hot.len())];
            let at = lo as usize + rng.below((hi - lo) as usize);
            disk[at] = match rng.below(3) {
                0 => rng.next() as u8,
                1 => 0,
                _ => 0xff,
            };
        }
        walk(disk);
    }
}

#[test]
fn mutated_gpt_disk_with_ntfs_and_ext4_never_panics() {
    mutate_and_walk("disk.raw.gz", &[2048 * 512, 75776 * 512], 300);
}

#[test]
fn mutated_mbr_disk_with_fat_never_panics() {
    mutate_and_walk("mbr.raw.gz", &[2048 * 512, 86016 * 512, 108544 * 512], 300);
}
