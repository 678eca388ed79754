//! FAT12/16/32 and exFAT, read-only, deleted entries included.
//!
//! Directories are parsed by the pinned `fat-core` crate (it keeps deleted
//! entries, which `fatfs` hides, and never writes). File content is ours:
//! the cluster chain is followed in a copy of the first FAT and read
//! straight from the volume, so workers read in parallel. A deleted file's
//! chain has been freed, so — as TSK does — its clusters are taken to be
//! contiguous from its first cluster and the item is marked deleted.

use std::collections::HashSet;
use std::sync::Arc;

use fat::{FatFs, FatVariant, FileId, Geometry, Node};

use super::Filesystem;
use crate::source::readat::{Cursor, Extents, ReadAt, StreamContent};
use crate::source::volume::{VolumeInfo, le16, le32};
use crate::source::{EvidencePath, FileEntry, FileMeta, ProblemKind, SourceItem};

/// Largest FAT copy we hold (a 2 TiB FAT32 volume with 32 KiB clusters
/// has a 256 MiB FAT).
const MAX_FAT: u64 = 256 << 20;
/// Deeper than any real tree: a directory loop.
const MAX_DEPTH: usize = 128;

pub struct Fat {
    kind: &'static str,
    vol: Arc<dyn ReadAt>,
    fs: FatFs<Cursor>,
    geom: Geometry,
    table: Vec<u8>,
}

impl Fat {
    pub fn open(vol: Arc<dyn ReadAt>) -> Result<Fat, String> {
        let fs = FatFs::open(Cursor::new(vol.clone())).map_err(|e| e.to_string())?;
        let geom = fs.geometry().clone();
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
        Ok(Fat {
            kind,
            vol,
            fs,
            geom,
            table,
        })
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
        (v >= 2 && v < self.geom.count_of_clusters + 2).then_some(v)
    }

    /// Bytes the data area holds: no file can be larger.
    fn data_bytes(&self) -> u64 {
        u64::from(self.geom.count_of_clusters) * u64::from(self.geom.cluster_size)
    }

    /// Where a file's bytes are: (volume offset, length) pieces, adjacent
    /// clusters merged. A chain is followed at most as far as the volume
    /// has clusters (a FAT whose chain loops cannot make it longer), and
    /// the caller has checked the size against the data area.
    fn pieces(&self, node: &Node) -> Vec<(u64, u64)> {
        let cs = u64::from(self.geom.cluster_size);
        let needed = node
            .size
            .div_ceil(cs)
            .min(u64::from(self.geom.count_of_clusters));
        let mut out: Vec<(u64, u64)> = Vec::new();
        let mut left = node.size;
        let mut cluster = node.first_cluster;
        let contiguous = node.contiguous || node.is_deleted;
        for _ in 0..needed {
            let Some(off) = self.geom.cluster_offset(cluster) else {
                break;
            };
            let len = cs.min(left);
            match out.last_mut() {
                Some(last) if last.0 + last.1 == off => last.1 += len,
                _ => out.push((off, len)),
            }
            left -= len;
            let next = if contiguous {
                cluster.checked_add(1)
            } else {
                self.next_cluster(cluster)
            };
            let Some(next) = next else { break };
            cluster = next;
        }
        out
    }

    /// Whether a deleted entry's clusters, taken as contiguous, fit in the
    /// volume; entries that do not are leftovers in reused clusters.
    fn recoverable(&self, node: &Node) -> bool {
        let clusters = node.size.div_ceil(u64::from(self.geom.cluster_size));
        let end = u64::from(self.geom.count_of_clusters) + 2;
        node.size == 0
            || (node.first_cluster >= 2 && u64::from(node.first_cluster) + clusters <= end)
    }

    fn entry(&self, node: &Node, path: Vec<u8>, volume: &Arc<VolumeInfo>) -> SourceItem {
        if node.is_deleted && !self.recoverable(node) {
            return super::problem(
                volume,
                &path,
                ProblemKind::Unrecoverable,
                format!(
                    "deleted entry of {} bytes from cluster {}: its data would lie outside the \
                     volume, so it was not recovered",
                    node.size, node.first_cluster
                ),
            );
        }
        if node.size > self.data_bytes() {
            return super::problem(
                volume,
                &path,
                ProblemKind::CorruptEntry,
                format!(
                    "size {} is larger than the volume's {}-byte data area (damaged entry)",
                    node.size,
                    self.data_bytes()
                ),
            );
        }
        let ts = |t: Option<fat::FatTimestamp>| {
            t.and_then(|t| jiff::Timestamp::new(t.unix_seconds, t.subsec_nanos as i32).ok())
        };
        let content: Arc<dyn ReadAt> = Arc::new(Extents::chain(
            self.vol.clone(),
            self.pieces(node),
            node.size,
        ));
        SourceItem::File(FileEntry {
            path: EvidencePath::from_bytes(path),
            host_path: None,
            meta: FileMeta {
                size: node.size,
                created: ts(node.created),
                modified: ts(node.modified),
                accessed: ts(node.accessed),
                changed: None,
                deleted: node.is_deleted,
                stream: None,
                inode: None,
                volume: Some(volume.clone()),
            },
            content: Box::new(StreamContent(content)),
        })
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
        let mut stack: Vec<(FileId, Vec<u8>, usize, bool)> =
            vec![(self.fs.root(), Vec::new(), 0, false)];
        let mut seen: HashSet<u32> = HashSet::new();
        let mut queue: std::collections::VecDeque<SourceItem> = Default::default();
        Box::new(std::iter::from_fn(move || {
            loop {
                if let Some(item) = queue.pop_front() {
                    return Some(item);
                }
                let (dir, path, depth, deleted_parent) = stack.pop()?;
                let nodes = match self.fs.read_dir(dir) {
                    Ok(n) => n,
                    Err(e) => {
                        queue.push_back(super::problem(
                            &volume,
                            &path,
                            ProblemKind::CorruptEntry,
                            format!("cannot read directory: {e}"),
                        ));
                        continue;
                    }
                };
                for mut node in nodes {
                    if node.is_volume_label
                        || node.name == "."
                        || node.name == ".."
                        || node.name.is_empty()
                    {
                        continue;
                    }
                    node.is_deleted |= deleted_parent;
                    let mut child = path.clone();
                    child.push(b'/');
                    child.extend_from_slice(node.name.as_bytes());
                    if node.is_dir {
                        // A deleted directory's clusters may be reused: go in
                        // only once per cluster and never in circles.
                        if depth < MAX_DEPTH
                            && node.first_cluster >= 2
                            && seen.insert(node.first_cluster)
                        {
                            stack.push((node.id, child, depth + 1, node.is_deleted));
                        }
                        continue;
                    }
                    queue.push_back(self.entry(&node, child, &volume));
                }
            }
        }))
    }
}
