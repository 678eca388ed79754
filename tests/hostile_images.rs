//! Sizes read from evidence never size an allocation or a loop unchecked.
//! Each case edits one field of a sample image the way damage or an
//! attacker would, and scans it with the real binary under a memory and
//! time limit: the field must become a listed problem, never an abort, a
//! multi-gigabyte allocation or hours of hashing zeros.

mod support;

use std::fs;
use std::path::Path;

use serde_json::Value;
use support::*;

/// Enough for a debug build scanning a sample (~350 MB of address space),
/// far too little for any of the allocations these fields used to cause.
const MEM_MIB: u64 = 640;
const SECS: u64 = 40;

const NTFS_AT: usize = 2048 * 512;
const EXT4_AT: usize = 75776 * 512;
const EXFAT_AT: usize = 108_544 * 512;

fn le16(b: &[u8], at: usize) -> u64 {
    u64::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u64 {
    u64::from(u32::from_le_bytes(b[at..at + 4].try_into().unwrap()))
}

fn put32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// Scans `disk` (written to a temp file) under the limits with a bundle
/// naming `name`; returns the exit code and report.
fn scan(disk: &[u8], name: &str) -> (i32, Value) {
    let dir = tempfile::tempdir().unwrap();
    let img = dir.path().join("disk.raw");
    fs::write(&img, disk).unwrap();
    let b = dir.path().join("b.json");
    fs::write(
        &b,
        format!(
            r#"{{"alertDefinitions":[{{"id":"a","name":"n","severity":"High"}}],
                "iocs":[{{"id":"i","alertDefinitionId":"a","type":"FileName","value":"{name}"}},
                        {{"id":"h","alertDefinitionId":"a","type":"Md5","value":"{}"}}]}}"#,
            "0".repeat(32)
        ),
    )
    .unwrap();
    let out = dir.path().join("r.json");
    let l = breachscan_limited(
        &[
            "scan",
            "-q",
            "-b",
            b.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            img.to_str().unwrap(),
        ],
        MEM_MIB,
        SECS,
    );
    assert!(
        !l.timed_out && l.signal.is_none(),
        "killed (timeout {}, signal {:?}): {}",
        l.timed_out,
        l.signal,
        l.run.stderr
    );
    (l.run.code, read_report(&out))
}

/// The `errors` entry of `kind` whose message contains `text`.
fn has_problem(report: &Value, kind: &str, text: &str) -> bool {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .any(|e| e["kind"] == kind && e["message"].as_str().unwrap().contains(text))
}

fn errors(report: &Value) -> String {
    serde_json::to_string_pretty(&report["errors"]).unwrap()
}

/// Byte offset of NTFS MFT record `n` in the sample disk (its MFT is one
/// run from the cluster the boot sector names) and of its mirror copy.
fn ntfs_records(disk: &[u8], n: usize) -> [usize; 2] {
    let boot = &disk[NTFS_AT..NTFS_AT + 512];
    let cluster = le16(boot, 11) as usize * boot[13] as usize;
    let mft = le32(boot, 48) as usize * cluster;
    let mirror = le32(boot, 56) as usize * cluster;
    [NTFS_AT + mft + n * 1024, NTFS_AT + mirror + n * 1024]
}

/// Offset (in the record) of the first non-resident unnamed $DATA.
fn data_attr(rec: &[u8]) -> usize {
    let mut at = le16(rec, 20) as usize;
    loop {
        let (kind, len) = (le32(rec, at), le32(rec, at + 4) as usize);
        assert_ne!(kind, 0xffff_ffff, "no $DATA");
        if kind == 0x80 && rec[at + 8] == 1 && rec[at + 9] == 0 {
            return at;
        }
        at += len;
    }
}

#[test]
fn a_huge_ntfs_compression_unit_is_refused() {
    let mut disk = gunzip(&samples().join("images/disk.raw.gz"));
    // Record 85 is Compressed/big.txt (LZNT1, units of 2^4 clusters).
    let rec = ntfs_records(&disk, 85)[0];
    let attr = data_attr(&disk[rec..rec + 1024]);
    assert_eq!(disk[rec + attr + 0x22], 4);
    disk[rec + attr + 0x22] = 16;
    let (_, r) = scan(&disk, "big.txt");
    assert!(
        has_problem(&r, "corruptEntry", "compression unit of 2^16 clusters"),
        "{}",
        errors(&r)
    );
    // The entry's coordinates as data: its volume and MFT record.
    let e = r["errors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["kind"] == "corruptEntry")
        .unwrap();
    assert_eq!(
        (&e["volume"], &e["volumeOffset"]),
        (&serde_json::json!(1), &serde_json::json!(NTFS_AT))
    );
    assert_eq!(e["inode"], 85);
}

#[test]
fn a_sparse_mft_larger_than_its_volume_is_refused() {
    let clean = gunzip(&samples().join("images/disk.raw.gz"));
    let mut disk = clean.clone();
    // $MFT's runs are "11 17 04 00": 23 clusters at LCN 4. A second run,
    // sparse, of 2^23 - 1 clusters (3-byte length, no offset) makes a
    // 32 GiB $MFT of empty records on a 36 MiB volume.
    let records = ntfs_records(&disk, 0);
    for rec in records {
        let attr = rec + data_attr(&disk[rec..rec + 1024]);
        let runs = attr + le16(&disk, attr + 0x20) as usize;
        assert_eq!(disk[runs..runs + 4], [0x11, 0x17, 0x04, 0x00]);
        disk[runs + 3..runs + 8].copy_from_slice(&[0x03, 0xff, 0xff, 0x7f, 0x00]);
        let size = (23 + 0x7f_ffff) * 4096u64;
        for field in [0x28, 0x30, 0x38] {
            put64(&mut disk, attr + field, size);
        }
    }
    let (_, r) = scan(&disk, "hello.txt");
    assert!(
        has_problem(&r, "corruptFilesystem", "larger than the"),
        "{}",
        errors(&r)
    );
    // The ext4 volume beside it is scanned as ever.
    assert!(r["summary"]["filesScanned"].as_u64().unwrap() >= 3);
    // With the mirror intact, the volume is read from it, and the damage
    // to record 0 is listed all the same.
    disk[records[1]..records[1] + 1024].copy_from_slice(&clean[records[1]..records[1] + 1024]);
    let (code, r) = scan(&disk, "hello.txt");
    assert_eq!(code, 1);
    assert!(
        has_problem(&r, "corruptEntry", "$MFTMirr was used"),
        "{}",
        errors(&r)
    );
}

/// The sample ext4 volume's geometry: block size, and where inode `n` is.
fn ext_inode(disk: &[u8], at: usize, n: u64) -> usize {
    let sb = &disk[at + 1024..at + 2048];
    let block = 1024usize << le32(sb, 24);
    let ipg = le32(sb, 40);
    let inode_size = le16(sb, 88) as usize;
    let desc = if le32(sb, 96) & 0x80 != 0 {
        le16(sb, 254).max(32) as usize
    } else {
        32
    };
    let gdt = at + (le32(sb, 20) as usize + 1) * block;
    let group = ((n - 1) / ipg) as usize;
    let table = le32(disk, gdt + group * desc + 8) as usize;
    at + table * block + ((n - 1) % ipg) as usize * inode_size
}

#[test]
fn ext4_group_descriptors_sized_past_the_volume_are_refused() {
    let mut disk = gunzip(&samples().join("images/disk.raw.gz"));
    let sb = EXT4_AT + 1024;
    // 2^24 - 1 groups of 8,192 blocks, descriptors of 65,535 bytes: a
    // terabyte of table for a 27 MiB volume.
    let blocks = ((1u64 << 24) - 1) * 8192;
    put32(&mut disk, sb + 4, blocks as u32);
    put32(&mut disk, sb + 336, (blocks >> 32) as u32);
    disk[sb + 254..sb + 256].copy_from_slice(&0xffffu16.to_le_bytes());
    let (_, r) = scan(&disk, "profile");
    assert!(
        has_problem(&r, "corruptFilesystem", "group descriptor size 65535"),
        "{}",
        errors(&r)
    );
    // A power-of-two size that still does not fit the volume.
    disk[sb + 254..sb + 256].copy_from_slice(&1024u16.to_le_bytes());
    let (_, r) = scan(&disk, "profile");
    assert!(
        has_problem(&r, "corruptFilesystem", "lie past the"),
        "{}",
        errors(&r)
    );
}

#[test]
fn an_ext4_file_claiming_a_terabyte_is_listed_not_hashed() {
    let mut disk = gunzip(&samples().join("images/disk.raw.gz"));
    // /etc/profile is inode 14; i_size_high = 256 makes it 2^40 bytes,
    // within what its extent tree could address, all of it a hole.
    let ino = ext_inode(&disk, EXT4_AT, 14);
    put32(&mut disk, ino + 4, 0);
    put32(&mut disk, ino + 108, 256);
    let (code, r) = scan(&disk, "profile");
    assert!(
        has_problem(&r, "largerThanVolume", "1099511627776 bytes"),
        "{}",
        errors(&r)
    );
    // Its name still matches: evidence, without digests.
    assert_eq!(code, 1);
    let ev: Vec<&Value> = file_evidence(&r)
        .filter(|e| e["location"]["path"] == "/etc/profile")
        .collect();
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["file"]["md5"], Value::Null);
}

#[test]
fn a_freed_block_mapped_inode_with_a_huge_size_is_bounded() {
    let mut disk = gunzip(&samples().join("images/ext3-4k.raw.gz"));
    // gone.txt's freed inode 14 still maps its block; a size of 4 TiB
    // makes its map a triple-indirect hole of a billion blocks.
    let ino = ext_inode(&disk, 0, 14);
    assert_eq!(le16(&disk, ino + 26), 0, "freed: no links");
    put32(&mut disk, ino + 4, 0);
    put32(&mut disk, ino + 108, 1024);
    let (_, r) = scan(&disk, "gone.txt");
    assert!(
        has_problem(&r, "largerThanVolume", "4398046511104 bytes"),
        "{}",
        errors(&r)
    );
    assert!(r["summary"]["filesScanned"].as_u64().unwrap() >= 2);
}

/// Adds `a.txt` to the (empty) exFAT root directory of the MBR sample,
/// with `len` bytes from cluster 10, unfragmented.
fn exfat_file(disk: &mut [u8], len: u64) {
    let vbr = EXFAT_AT;
    let sector = 1usize << disk[vbr + 108];
    let cluster = sector << disk[vbr + 109];
    let heap = vbr + le32(disk, vbr + 88) as usize * sector;
    let root = heap + (le32(disk, vbr + 96) as usize - 2) * cluster;
    let slot = (0..cluster / 32)
        .map(|i| root + 32 * i)
        .find(|&e| disk[e] == 0)
        .unwrap();
    let name: Vec<u16> = "a.txt".encode_utf16().collect();
    let mut set = [0u8; 96];
    set[0] = 0x85;
    set[1] = 2;
    set[4] = 0x20;
    set[32] = 0xc0;
    set[33] = 0x03; // allocation possible, no FAT chain
    set[35] = name.len() as u8;
    let mut hash: u16 = 0;
    for u in &name {
        for b in u.to_ascii_uppercase_u16().to_le_bytes() {
            hash = (if hash & 1 != 0 { 0x8000 } else { 0 }) + (hash >> 1) + u16::from(b);
        }
    }
    set[36..38].copy_from_slice(&hash.to_le_bytes());
    put64(&mut set, 40, len);
    put32(&mut set, 52, 10);
    put64(&mut set, 56, len);
    set[64] = 0xc1;
    for (i, u) in name.iter().enumerate() {
        set[66 + 2 * i..68 + 2 * i].copy_from_slice(&u.to_le_bytes());
    }
    let mut sum: u16 = 0;
    for (i, &b) in set.iter().enumerate() {
        if i == 2 || i == 3 {
            continue;
        }
        sum = (if sum & 1 != 0 { 0x8000 } else { 0 }) + (sum >> 1) + u16::from(b);
    }
    set[2..4].copy_from_slice(&sum.to_le_bytes());
    disk[slot..slot + 96].copy_from_slice(&set);
}

trait Upper {
    fn to_ascii_uppercase_u16(&self) -> u16;
}
impl Upper for u16 {
    fn to_ascii_uppercase_u16(&self) -> u16 {
        if (0x61..=0x7a).contains(self) {
            self - 0x20
        } else {
            *self
        }
    }
}

#[test]
fn an_exfat_stream_of_a_terabyte_is_refused() {
    let mut disk = gunzip(&samples().join("images/mbr.raw.gz"));
    // A sane entry first: the hand-made directory entry set is read.
    exfat_file(&mut disk, 5);
    let (_, r) = scan(&disk, "a.txt");
    assert!(
        hits(&r).iter().any(|(_, p)| p == "/a.txt"),
        "{:?}",
        hits(&r)
    );
    exfat_file(&mut disk, 1 << 40);
    let (_, r) = scan(&disk, "a.txt");
    assert!(
        has_problem(&r, "corruptEntry", "larger than the volume"),
        "{}",
        errors(&r)
    );
}

#[test]
fn a_vhd_block_table_larger_than_its_file_is_refused() {
    let mut vhd = gunzip(&samples().join("images/disk.vhd.gz"));
    // The dynamic header follows the footer copy at byte 512; its
    // MaxTableEntries (offset 28) becomes 2^28: a 1 GiB table.
    assert_eq!(&vhd[512..520], b"cxsparse");
    vhd[512 + 28..512 + 32].copy_from_slice(&(1u32 << 28).to_be_bytes());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("disk.vhd");
    fs::write(&path, &vhd).unwrap();
    let l = breachscan_limited(
        &[
            "scan",
            "-q",
            "-b",
            samples().join("bundles/demo.json").to_str().unwrap(),
            path.to_str().unwrap(),
        ],
        MEM_MIB,
        SECS,
    );
    assert!(!l.timed_out && l.signal.is_none(), "{}", l.run.stderr);
    assert_eq!(l.run.code, 2);
    assert!(l.run.stdout.contains("runs past the"), "{}", l.run.stdout);
}

#[test]
fn the_samples_scan_whole_under_the_same_limits() {
    // The limits leave room for real work: each intact sample scans.
    for (img, name) in [("disk.raw.gz", "hello.txt"), ("mbr.raw.gz", "readme.txt")] {
        let disk = gunzip(&samples().join("images").join(img));
        let (code, r) = scan(&disk, name);
        assert_eq!(code, 1, "{img}: {}", errors(&r));
        assert!(
            errors_but_bad_clusters(&r).is_empty(),
            "{img}: {}",
            errors(&r)
        );
    }
    let _ = Path::new("");
}
