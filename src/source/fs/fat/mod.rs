//! FAT12/16/32 and exFAT, read-only, deleted entries included.
//!
//! The boot sector is parsed by the pinned `fat-core` crate; directories
//! and file content are ours, so that deleted entries are read the way TSK
//! reads them: a deleted FAT file keeps its long name (`dirent`), a deleted
//! directory is entered only when its first cluster still looks like one
//! (it may hold other data since), and on exFAT the free clusters are
//! scanned for entry sets of files whose directory is gone (`exfat`, the
//! orphan scan), listed under `/$OrphanFiles`.
//!
//! A file's content follows its cluster chain in a copy of the first FAT and
//! is read straight from the volume, so workers read in parallel. A deleted
//! file's chain has been freed, so — as TSK does — its clusters are taken
//! to be contiguous from its first cluster and the item is marked deleted.

mod dirent;
mod exfat;

use std::collections::HashSet;
use std::sync::Arc;

use fat::{FatVariant, Geometry};
use jiff::Timestamp;

use super::Filesystem;
use crate::source::readat::{Extents, ReadAt, StreamContent};
use crate::source::volume::{VolumeInfo, le16, le32};
use crate::source::{EvidencePath, FileEntry, FileMeta, ProblemKind, SourceItem};

/// Largest FAT copy we hold (a 2 TiB FAT32 volume with 32 KiB clusters
/// has a 256 MiB FAT).
const MAX_FAT: u64 = 256 << 20;
/// Largest directory we read (65,536 entries of 32 bytes is FAT's limit).
const MAX_DIR: u64 = 2 << 20;
/// Deeper than any real tree: a directory loop.
const MAX_DEPTH: usize = 128;

/// One directory entry, FAT or exFAT, decoded.
#[derive(Debug, Clone)]
struct Entry {
    /// UTF-8 (long name when there is one).
    name: Vec<u8>,
    is_dir: bool,
    deleted: bool,
    first_cluster: u32,
    size: u64,
    /// exFAT NoFatChain: the clusters are contiguous, the FAT unused.
    contiguous: bool,
    created: Option<Timestamp>,
    modified: Option<Timestamp>,
    accessed: Option<Timestamp>,
}

/// FAT's packed local date and time (read as UTC, FAT has no zone), with
/// creation's 10 ms units; `None` when unset.
fn decode_dos_time(date: u16, time: u16, tenths: u8) -> Option<Timestamp> {
    if date == 0 {
        return None;
    }
    let date = jiff::civil::Date::new(
        1980 + i16::try_from(date >> 9).ok()?,
        i8::try_from((date >> 5) & 0x0F).ok()?.clamp(1, 12),
        i8::try_from(date & 0x1F).ok()?.clamp(1, 31),
    )
    .ok()?;
    let secs = i64::from((time >> 11).min(23)) * 3600
        + i64::from(((time >> 5) & 0x3F).min(59)) * 60
        + i64::from(time & 0x1F) * 2
        + i64::from(tenths) / 100;
    let midnight = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
    midnight
        .checked_add(jiff::SignedDuration::new(
            secs,
            (i32::from(tenths) % 100) * 10_000_000,
        ))
        .ok()
}

pub struct Fat {
    kind: &'static str,
    vol: Arc<dyn ReadAt>,
    geom: Geometry,
    table: Vec<u8>,
    /// exFAT's allocation bitmap (bit n: cluster n + 2 in use), for the
    /// orphan scan.
    bitmap: Option<Vec<u8>>,
}

/// Where a directory's bytes are.
#[derive(Debug, Clone, Copy)]
enum Dir {
    /// FAT12/16's fixed root region.
    FixedRoot,
    /// A cluster chain (FAT32 and exFAT roots, live directories).
    Chain(u32),
    /// `len` bytes from a cluster on (exFAT NoFatChain and deleted
    /// directories; a deleted FAT directory: its first cluster).
    Contiguous(u32, u64),
}

impl Fat {
    pub fn open(vol: Arc<dyn ReadAt>) -> Result<Fat, String> {
        let mut boot = [0u8; 512];
        vol.read_exact_at(&mut boot, 0)
            .map_err(|e| format!("boot sector: {e}"))?;
        let geom = if &boot[3..11] == b"EXFAT   " {
            fat::parse_exfat_boot(&boot)
        } else {
            Geometry::parse(&boot)
        }
        .map_err(|e| e.to_string())?;
        let kind = match geom.variant {
            FatVariant::Fat12 => "fat12",
            FatVariant::Fat16 => "fat16",
            FatVariant::Fat32 => "fat32",
            FatVariant::ExFat => "exfat",
        };
        // The FAT lies in the volume: never sized past it.
        let len = (u64::from(geom.fat_size_sectors) * u64::from(geom.bytes_per_sector))
            .min(MAX_FAT)
            .min(vol.size().saturating_sub(geom.fat_start));
        let mut table = vec![0u8; len as usize];
        let n = vol
            .read_at(&mut table, geom.fat_start)
            .map_err(|e| format!("cannot read the FAT: {e}"))?;
        table.truncate(n);
        let mut fs = Fat {
            kind,
            vol,
            geom,
            table,
            bitmap: None,
        };
        if fs.geom.variant == FatVariant::ExFat {
            fs.bitmap = fs.read_bitmap();
        }
        Ok(fs)
    }

    /// exFAT's allocation bitmap, named by the root directory; `None` when
    /// it cannot be read (then no orphan scan: nothing is known free).
    fn read_bitmap(&self) -> Option<Vec<u8>> {
        let root = self.dir_bytes(Dir::Chain(self.geom.root_cluster)).ok()?;
        let (first, len) = exfat::bitmap_entry(&root)?;
        let len = len.min(u64::from(self.geom.count_of_clusters).div_ceil(8));
        let mut bits = vec![0u8; usize::try_from(len).ok()?];
        self.vol
            .read_exact_at(&mut bits, self.geom.cluster_offset(first)?)
            .ok()?;
        Some(bits)
    }

    fn cluster_size(&self) -> u64 {
        u64::from(self.geom.cluster_size)
    }

    /// Bytes the data area holds: no file can be larger.
    fn data_bytes(&self) -> u64 {
        u64::from(self.geom.count_of_clusters) * self.cluster_size()
    }

    fn max_cluster(&self) -> u32 {
        self.geom.count_of_clusters.saturating_add(1)
    }

    fn next_cluster(&self, c: u32) -> Option<u32> {
        let v = match self.geom.variant {
            FatVariant::Fat12 => {
                let off = c as usize * 3 / 2;
                let raw = u32::from(le16(self.table.get(off..off + 2)?, 0));
                if c & 1 == 1 { raw >> 4 } else { raw & 0xfff }
            }
            FatVariant::Fat16 => u32::from(le16(self.table.get(c as usize * 2..)?, 0)),
            FatVariant::Fat32 | FatVariant::ExFat => {
                le32(self.table.get(c as usize * 4..)?, 0) & 0x0fff_ffff
            }
        };
        // Free, reserved, bad and end-of-chain all end the chain.
        (v >= 2 && v <= self.max_cluster()).then_some(v)
    }

    /// The bytes of a directory, at most [`MAX_DIR`]; a chain is followed
    /// no further than the volume has clusters, and never in a circle.
    fn dir_bytes(&self, dir: Dir) -> Result<Vec<u8>, String> {
        let mut pieces: Vec<(u64, u64)> = Vec::new();
        let cs = self.cluster_size();
        match dir {
            Dir::FixedRoot => pieces.push((
                self.geom.root_dir_start,
                u64::from(self.geom.root_dir_bytes),
            )),
            Dir::Chain(first) => {
                let mut seen = HashSet::new();
                let mut c = Some(first);
                let mut total = 0;
                while let Some(cluster) = c {
                    if !seen.insert(cluster) || total >= MAX_DIR {
                        break;
                    }
                    let at = self
                        .geom
                        .cluster_offset(cluster)
                        .ok_or_else(|| format!("cluster {cluster} outside the volume"))?;
                    pieces.push((at, cs));
                    total += cs;
                    c = self.next_cluster(cluster);
                }
            }
            Dir::Contiguous(first, len) => {
                let at = self
                    .geom
                    .cluster_offset(first)
                    .ok_or_else(|| format!("cluster {first} outside the volume"))?;
                pieces.push((at, len.min(MAX_DIR).min(self.vol.size().saturating_sub(at))));
            }
        }
        let mut out = Vec::new();
        for (at, len) in pieces {
            let start = out.len();
            out.resize(start + len as usize, 0);
            self.vol
                .read_exact_at(&mut out[start..], at)
                .map_err(|e| format!("directory at byte {at}: {e}"))?;
        }
        Ok(out)
    }

    /// Where a file's bytes are: (volume offset, length) pieces, adjacent
    /// clusters merged. A chain is followed at most as far as the volume
    /// has clusters (a FAT whose chain loops cannot make it longer), and
    /// the caller has checked the size against the data area.
    ///
    /// A deleted file's clusters are recovered as TSK recovers them: its
    /// first cluster, then the next ones not in use by other files (FAT
    /// frees the chain; exFAT keeps it, and it is followed unless the file
    /// was unfragmented, NoFatChain).
    fn pieces(&self, e: &Entry) -> Vec<(u64, u64)> {
        let cs = self.cluster_size();
        let needed = e
            .size
            .div_ceil(cs)
            .min(u64::from(self.geom.count_of_clusters));
        let exfat = self.geom.variant == FatVariant::ExFat;
        let follow_chain = !e.contiguous && (!e.deleted || exfat);
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut left = e.size;
        let mut cluster = Some(e.first_cluster);
        let mut taken = 0;
        let mut steps = 0u64;
        while let Some(c) = cluster {
            if taken >= needed || steps > u64::from(self.max_cluster()) {
                break;
            }
            steps += 1;
            // The first cluster is the entry's own word; after it, clusters
            // in use belong to other files (TSK's rule too).
            let free_or_live = !e.deleted || follow_chain || taken == 0 || !self.in_use(c);
            if free_or_live {
                let Some(off) = self.geom.cluster_offset(c) else {
                    break;
                };
                let len = cs.min(left);
                match out.last_mut() {
                    Some(last) if last.0 + last.1 == off => last.1 += len,
                    _ => out.push((off, len)),
                }
                left -= len;
                taken += 1;
            }
            cluster = match (follow_chain, e.deleted) {
                (true, false) => self.next_cluster(c),
                (true, true) => self.next_cluster(c).or(c.checked_add(1)),
                (false, _) => c.checked_add(1),
            };
        }
        out
    }

    /// Whether cluster `c` is allocated (to some file or directory): its
    /// FAT entry is set, or for exFAT its bitmap bit.
    fn in_use(&self, c: u32) -> bool {
        if self.geom.variant == FatVariant::ExFat {
            return self.bitmap.is_some() && !self.is_free(c);
        }
        let raw = match self.geom.variant {
            FatVariant::Fat12 => {
                let off = c as usize * 3 / 2;
                self.table.get(off..off + 2).map(|b| {
                    let raw = u32::from(le16(b, 0));
                    if c & 1 == 1 { raw >> 4 } else { raw & 0xfff }
                })
            }
            FatVariant::Fat16 => self
                .table
                .get(c as usize * 2..)
                .map(|b| u32::from(le16(b, 0))),
            _ => self
                .table
                .get(c as usize * 4..)
                .map(|b| le32(b, 0) & 0x0fff_ffff),
        };
        raw.is_some_and(|v| v != 0)
    }

    /// Whether a deleted entry's clusters, taken as contiguous, fit in the
    /// volume; entries that do not are leftovers in reused clusters.
    fn recoverable(&self, e: &Entry) -> bool {
        let clusters = e.size.div_ceil(self.cluster_size());
        let end = u64::from(self.geom.count_of_clusters) + 2;
        e.size == 0 || (e.first_cluster >= 2 && u64::from(e.first_cluster) + clusters <= end)
    }

    /// The item for a file entry at `path`.
    fn item(&self, e: &Entry, path: Vec<u8>, volume: &Arc<VolumeInfo>) -> SourceItem {
        if e.deleted && !self.recoverable(e) {
            return super::problem(
                volume,
                &path,
                ProblemKind::Unrecoverable,
                format!(
                    "deleted entry of {} bytes from cluster {}: its data would lie outside the \
                     volume, so it was not recovered",
                    e.size, e.first_cluster
                ),
            );
        }
        if e.size > self.data_bytes() {
            return super::problem(
                volume,
                &path,
                ProblemKind::CorruptEntry,
                format!(
                    "size {} is larger than the volume's {}-byte data area (damaged entry)",
                    e.size,
                    self.data_bytes()
                ),
            );
        }
        let content: Arc<dyn ReadAt> =
            Arc::new(Extents::chain(self.vol.clone(), self.pieces(e), e.size));
        SourceItem::File(FileEntry {
            path: EvidencePath::from_bytes(path),
            host_path: None,
            meta: FileMeta {
                size: e.size,
                created: e.created,
                modified: e.modified,
                accessed: e.accessed,
                changed: None,
                deleted: e.deleted,
                stream: None,
                inode: None,
                volume: Some(volume.clone()),
            },
            content: Box::new(StreamContent(content)),
        })
    }

    /// The entries of a directory; `verified` for bytes that may no longer
    /// be a directory (an exFAT deleted one: every set must prove itself).
    fn entries_of(&self, bytes: &[u8], verified: bool) -> Vec<Entry> {
        let (max_cluster, max_size) = (self.max_cluster(), self.data_bytes());
        match self.geom.variant {
            FatVariant::ExFat => exfat::parse(bytes, verified, max_cluster, max_size),
            _ => dirent::parse(bytes, max_cluster, max_size),
        }
    }

    /// Whether cluster `c` is free in exFAT's bitmap.
    fn is_free(&self, c: u32) -> bool {
        let Some(bits) = &self.bitmap else {
            return false;
        };
        let n = c.wrapping_sub(2) as usize;
        bits.get(n / 8).is_some_and(|b| b & (1 << (n % 8)) == 0)
    }
}

impl Filesystem for Fat {
    fn kind(&self) -> &'static str {
        self.kind
    }

    fn entries(
        self: Arc<Self>,
        volume: Arc<VolumeInfo>,
        _stop: &crate::stop::Stop,
    ) -> Box<dyn Iterator<Item = SourceItem> + Send> {
        let root = match self.geom.variant {
            FatVariant::Fat12 | FatVariant::Fat16 => Dir::FixedRoot,
            _ => Dir::Chain(self.geom.root_cluster),
        };
        Box::new(Walk {
            fs: self,
            volume,
            dirs: vec![(root, Vec::new(), 0, false)],
            walked: HashSet::new(),
            queue: std::collections::VecDeque::new(),
            orphan_cluster: 2,
        })
    }
}

struct Walk {
    fs: Arc<Fat>,
    volume: Arc<VolumeInfo>,
    /// Directories still to read: where, path, depth, inside a deleted one.
    dirs: Vec<(Dir, Vec<u8>, usize, bool)>,
    /// First clusters of the directories read (never twice; not scanned
    /// again for orphans).
    walked: HashSet<u32>,
    queue: std::collections::VecDeque<SourceItem>,
    /// Next cluster of exFAT's orphan scan, once the tree is walked.
    orphan_cluster: u32,
}

impl Walk {
    fn problem(&mut self, path: &[u8], kind: ProblemKind, message: String) {
        self.queue
            .push_back(super::problem(&self.volume, path, kind, message));
    }

    fn read_dir(&mut self, dir: Dir, path: Vec<u8>, depth: usize, deleted_dir: bool) {
        if let Dir::Contiguous(first, len) = dir {
            // Free clusters read as this directory: the orphan scan skips
            // them (their entries are listed here).
            let n = u32::try_from(len.div_ceil(self.fs.cluster_size())).unwrap_or(u32::MAX);
            self.walked
                .extend((first..first.saturating_add(n)).take(1 << 16));
        }
        let bytes = match self.fs.dir_bytes(dir) {
            Ok(b) => b,
            Err(e) => {
                return self.problem(
                    &path,
                    ProblemKind::CorruptEntry,
                    format!("cannot read directory: {e}"),
                );
            }
        };
        let fat = self.fs.geom.variant != FatVariant::ExFat;
        // A deleted FAT directory's cluster may hold other data by now: it
        // is read only when it still starts with `.` and `..`.
        if deleted_dir && fat && !dirent::starts_like_a_directory(&bytes) {
            return self.problem(
                &path,
                ProblemKind::Unrecoverable,
                "deleted directory whose first cluster now holds other data: its entries \
                 are not recovered"
                    .into(),
            );
        }
        for mut e in self.fs.entries_of(&bytes, deleted_dir && !fat) {
            if e.name.is_empty() || e.name == b"." || e.name == b".." {
                continue;
            }
            e.deleted |= deleted_dir;
            let mut child = path.clone();
            child.push(b'/');
            child.extend_from_slice(&e.name);
            if e.is_dir {
                if depth < MAX_DEPTH && e.first_cluster >= 2 && self.walked.insert(e.first_cluster)
                {
                    let where_ = match (e.deleted, fat) {
                        (false, true) => Dir::Chain(e.first_cluster),
                        (true, true) => Dir::Contiguous(e.first_cluster, self.fs.cluster_size()),
                        (false, false) if !e.contiguous => Dir::Chain(e.first_cluster),
                        (_, false) => Dir::Contiguous(e.first_cluster, e.size),
                    };
                    self.dirs.push((where_, child, depth + 1, e.deleted));
                }
                continue;
            }
            let item = self.fs.item(&e, child, &self.volume);
            self.queue.push_back(item);
        }
    }

    /// The next free cluster's orphan entry sets (exFAT), as items under
    /// `/$OrphanFiles`; `false` when the scan is over.
    fn scan_orphans(&mut self) -> bool {
        let fs = self.fs.clone();
        if fs.bitmap.is_none() {
            return false;
        }
        let last = fs.max_cluster();
        while self.orphan_cluster <= last {
            let c = self.orphan_cluster;
            self.orphan_cluster += 1;
            if !fs.is_free(c) || self.walked.contains(&c) {
                continue;
            }
            let Some(at) = fs.geom.cluster_offset(c) else {
                continue;
            };
            let mut buf = vec![0u8; fs.cluster_size() as usize];
            if fs.vol.read_exact_at(&mut buf, at).is_err() {
                continue;
            }
            let found = exfat::carve(&buf, fs.max_cluster(), fs.data_bytes());
            if found.is_empty() {
                continue;
            }
            for e in found.into_iter().filter(|e| !e.is_dir) {
                let mut path = b"/$OrphanFiles/".to_vec();
                path.extend_from_slice(&e.name);
                let item = fs.item(&e, path, &self.volume);
                self.queue.push_back(item);
            }
            return true;
        }
        false
    }
}

impl Iterator for Walk {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            if let Some((dir, path, depth, deleted)) = self.dirs.pop() {
                self.read_dir(dir, path, depth, deleted);
                continue;
            }
            if !self.scan_orphans() {
                return None;
            }
        }
    }
}
