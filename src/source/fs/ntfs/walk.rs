//! Walks an NTFS volume: one pass over the MFT builds the directory tree
//! (name and parent of every record) and the list of records with data;
//! then each record with data becomes one item per $DATA stream and per
//! name, in disk order of the data so reading stays sequential. A file with
//! several names (hard links: Windows keeps its System32 files as links to
//! the WinSxS store) is listed under each, as TSK lists it, so that a path
//! IOC naming any of them matches.

use std::collections::VecDeque;
use std::sync::Arc;

use super::record::{self, ATTR_ATTRIBUTE_LIST, ATTR_DATA, ATTR_FILE_NAME, Attr, Body};
use super::{Ntfs, Rec, attr_value, extents_runs, times};
use crate::source::readat::{ReadAt, StreamContent};
use crate::source::volume::VolumeInfo;
use crate::source::{EvidencePath, FileEntry, FileMeta, ProblemKind, SourceItem};
use crate::stop::Stop;

const ROOT: u64 = 5;
const BAD_CLUSTERS: u64 = 8;
/// MFT records reserved by NTFS, unnamed and empty.
const RESERVED: std::ops::RangeInclusive<u64> = 12..=15;
/// Deeper than any real tree: a parent loop.
const MAX_DEPTH: usize = 512;
/// Names one file may have (NTFS's limit on hard links): a crafted record
/// claiming more would have its streams listed, and read, once per name.
const MAX_NAMES: usize = 1024;
/// MFT bytes read per batch in the first pass.
const BATCH: usize = 1 << 20;

#[derive(Default)]
struct Node {
    seq: u16,
    in_use: bool,
    dir: bool,
    base: bool,
    parent: u64,
    parent_seq: u16,
    name: Option<Box<[u8]>>,
}

/// Another name of a file record than the one its node keeps: a hard
/// link, in its own directory or in the same one.
struct Link {
    parent: u64,
    parent_seq: u16,
    name: Box<[u8]>,
}

pub(super) struct Walk {
    fs: Arc<Ntfs>,
    volume: Arc<VolumeInfo>,
    /// Ends the index pass early (a big $MFT takes seconds to index).
    stop: Stop,
    /// The records that hold a file record, by record number (sorted: the
    /// index pass reads them in order). Only those: a damaged or crafted
    /// $MFT can claim billions of empty records.
    nodes: Vec<(u64, Node)>,
    /// (first LCN of the data, record number) of records with data.
    todo: Vec<(u64, u64)>,
    next: usize,
    indexed: bool,
    queue: VecDeque<SourceItem>,
}

impl Walk {
    pub(super) fn new(fs: Arc<Ntfs>, volume: Arc<VolumeInfo>, stop: Stop) -> Self {
        Walk {
            fs,
            volume,
            stop,
            nodes: Vec::new(),
            todo: Vec::new(),
            next: 0,
            indexed: false,
            queue: VecDeque::new(),
        }
    }

    /// A problem about `what`, MFT record `record` when there is one.
    fn problem(&mut self, what: String, kind: ProblemKind, message: String, record: Option<u64>) {
        self.queue.push_back(crate::source::fs::problem_at(
            &self.volume,
            what.as_bytes(),
            kind,
            message,
            record,
        ));
    }

    /// First pass: every record's name, parent and flags. Runs of the
    /// $MFT that are holes hold no records and are not read.
    fn index(&mut self) {
        if let Some(why) = self.fs.mirror_used.clone() {
            self.problem(
                "$MFT record 0".into(),
                ProblemKind::CorruptEntry,
                why,
                Some(0),
            );
        }
        let rs = self.fs.record_size;
        let count = self.fs.record_count();
        let per_batch = (BATCH / rs).max(1) as u64;
        let mut first = 0u64;
        while first < count && self.stop.requested().is_none() {
            let n = per_batch.min(count - first);
            let (at, len) = (first * rs as u64, n * rs as u64);
            if self.fs.mft.is_hole(at, len) {
                first += n;
                continue;
            }
            let mut batch = vec![0u8; len as usize];
            if let Err(e) = self.fs.mft.read_exact_at(&mut batch, at) {
                self.problem(
                    format!("$MFT records {first}–{}", first + n - 1),
                    ProblemKind::Unreadable,
                    format!("cannot read these MFT records: {e}"),
                    None,
                );
                first += n;
                continue;
            }
            for (i, raw) in batch.chunks_exact(rs).enumerate() {
                let rec_no = first + i as u64;
                if let Some(node) = self.index_record(rec_no, raw.to_vec()) {
                    self.nodes.push((rec_no, node));
                }
            }
            first += n;
        }
        // Disk order of the data: sequential reads for the hashing pass.
        self.todo.sort_unstable();
    }

    fn node(&self, rec_no: u64) -> Option<&Node> {
        let i = self.nodes.binary_search_by_key(&rec_no, |n| n.0).ok()?;
        Some(&self.nodes[i].1)
    }

    /// The record's node, or `None` when it holds no file record.
    fn index_record(&mut self, rec_no: u64, raw: Vec<u8>) -> Option<Node> {
        let rec = match Rec::parse(raw, self.fs.sector) {
            Ok(Some(r)) => r,
            Ok(None) => return None,
            Err(e) => {
                self.problem(
                    format!("$MFT record {rec_no}"),
                    ProblemKind::CorruptEntry,
                    e,
                    Some(rec_no),
                );
                return None;
            }
        };
        let h = rec.header;
        let (attrs, _) = rec.attributes();
        let mut node = Node {
            seq: h.sequence,
            in_use: h.in_use,
            dir: h.directory,
            base: h.base == 0,
            ..Node::default()
        };
        if let Some(fname) = names(attrs.iter()).into_iter().next() {
            node.parent = fname.parent;
            node.parent_seq = fname.parent_seq;
            node.name = Some(record::utf16_bytes(&fname.name).into_boxed_slice());
        }
        if node.base {
            let mut has_data = false;
            let mut lcn = None;
            for a in &attrs {
                match a.kind {
                    ATTR_ATTRIBUTE_LIST => has_data = true,
                    ATTR_DATA => {
                        has_data = true;
                        if let (true, Body::NonResident(nr)) = (a.name.is_empty(), &a.body) {
                            lcn = lcn.or_else(|| {
                                record::runs(nr.runs, nr.start_vcn)
                                    .ok()
                                    .and_then(|r| r.iter().find_map(|r| r.2))
                            });
                        }
                    }
                    _ => {}
                }
            }
            // Records 12-15 are reserved: in use, unnamed and empty on every
            // volume; they are not files (TSK does not list them either).
            let reserved = RESERVED.contains(&rec_no) && node.name.is_none();
            if has_data && !reserved {
                self.todo.push((lcn.unwrap_or(0), rec_no));
            }
        }
        Some(node)
    }

    /// The `/`-separated path of a record from the parent chain: by its
    /// first name, or by `link`, another of its names.
    fn path(&self, rec_no: u64, link: Option<&Link>) -> Vec<u8> {
        let mut parts: Vec<&[u8]> = Vec::new();
        let mut cur = rec_no;
        let mut orphan = true;
        for step in 0..MAX_DEPTH {
            if cur == ROOT {
                orphan = false;
                break;
            }
            let Some(node) = self.node(cur) else {
                break;
            };
            let (name, up, up_seq) = match link.filter(|_| step == 0) {
                Some(l) => (&l.name[..], l.parent, l.parent_seq),
                None => {
                    let Some(name) = &node.name else {
                        break;
                    };
                    (&name[..], node.parent, node.parent_seq)
                }
            };
            parts.push(name);
            let Some(parent) = self.node(up) else {
                break;
            };
            // A reference is good if the parent still has the sequence it
            // had when the link was made (a freed record's sequence has
            // been bumped once).
            let seq_ok =
                parent.seq == up_seq || (!parent.in_use && parent.seq == up_seq.wrapping_add(1));
            if up == cur || !parent.dir || !parent.base || !seq_ok {
                break;
            }
            cur = up;
        }
        let mut out = Vec::new();
        if orphan {
            out.extend_from_slice(b"/$OrphanFiles");
            if parts.is_empty() {
                // No name at all: TSK's convention.
                out.extend_from_slice(format!("/OrphanFile-{rec_no}").as_bytes());
            }
        }
        for p in parts.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        out
    }

    /// The items of one record with data: one per $DATA stream and name.
    fn build(&mut self, rec_no: u64) {
        let path = self.path(rec_no, None);
        let shown = String::from_utf8_lossy(&path).into_owned();
        let rec = match self.fs.record(rec_no) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(e) => {
                self.problem(
                    format!("{shown} ($MFT record {rec_no})"),
                    ProblemKind::CorruptEntry,
                    e,
                    Some(rec_no),
                );
                return;
            }
        };
        let (attrs, err) = rec.attributes();
        if let Some(e) = err {
            self.problem(
                format!("{shown} ($MFT record {rec_no})"),
                ProblemKind::CorruptEntry,
                e,
                Some(rec_no),
            );
        }
        let exts = self.extensions(rec_no, &attrs, &shown);
        let mut all: Vec<&Attr> = attrs.iter().collect();
        let ext_attrs: Vec<Vec<Attr>> = exts.iter().map(|r| r.attributes().0).collect();
        all.extend(ext_attrs.iter().flatten());
        let (paths, more) = self.paths(rec_no, rec.header.directory, path.clone(), &all);
        if more {
            self.problem(
                format!("{shown} ($MFT record {rec_no})"),
                ProblemKind::CorruptEntry,
                format!(
                    "more than {MAX_NAMES} names (NTFS allows {MAX_NAMES} links a file): the \
                     first {MAX_NAMES} listed"
                ),
                Some(rec_no),
            );
        }
        let mut streams: Vec<(&[u16], Vec<&Attr>)> = Vec::new();
        for a in all.iter().filter(|a| a.kind == ATTR_DATA) {
            match streams.iter_mut().find(|(n, _)| *n == &a.name[..]) {
                Some((_, v)) => v.push(a),
                None => streams.push((&a.name, vec![a])),
            }
        }
        let [created, modified, changed, accessed] = times(&attrs);
        for (name, extents) in streams {
            let stream_name = (!name.is_empty()).then(|| record::utf16_bytes(name));
            if rec_no == BAD_CLUSTERS && stream_name.as_deref() == Some(b"$Bad") {
                // Volume-sized and sparse: the map of bad clusters, listed.
                self.problem(
                    format!("{shown}:$Bad"),
                    ProblemKind::NotContent,
                    "the volume's bad-cluster map (volume-sized, sparse): not file content, \
                     not scanned"
                        .into(),
                    Some(rec_no),
                );
                continue;
            }
            let with_stream = |path: &[u8]| {
                let mut item_path = path.to_vec();
                if let Some(s) = &stream_name {
                    item_path.push(b':');
                    item_path.extend_from_slice(s);
                }
                item_path
            };
            let content: Arc<dyn ReadAt> = match self.stream(&extents) {
                Ok(c) => c,
                Err(e) => {
                    let shown = String::from_utf8_lossy(&with_stream(&path)).into_owned();
                    self.problem(
                        format!("{shown} ($MFT record {rec_no})"),
                        ProblemKind::CorruptEntry,
                        e,
                        Some(rec_no),
                    );
                    continue;
                }
            };
            let meta = FileMeta {
                size: content.size(),
                created,
                modified,
                accessed,
                changed,
                deleted: !rec.header.in_use,
                stream: stream_name
                    .as_ref()
                    .map(|s| String::from_utf8_lossy(s).into_owned()),
                inode: Some(rec_no),
                volume: Some(self.volume.clone()),
            };
            for path in &paths {
                self.queue.push_back(SourceItem::File(FileEntry {
                    path: EvidencePath::from_bytes(with_stream(path)),
                    host_path: None,
                    meta: meta.clone(),
                    content: Box::new(StreamContent(content.clone())),
                }));
            }
        }
    }

    /// The paths of a file record: by the name its node keeps (`first`),
    /// then by each other long name among its attributes, the base
    /// record's and its extension records' (where a file with many links
    /// keeps most of its names); at most [`MAX_NAMES`], and whether it has
    /// more.
    fn paths(
        &self,
        rec_no: u64,
        dir: bool,
        first: Vec<u8>,
        attrs: &[&Attr],
    ) -> (Vec<Vec<u8>>, bool) {
        let mut paths = vec![first];
        if dir {
            return (paths, false);
        }
        for f in names(attrs.iter().copied()) {
            if paths.len() == MAX_NAMES {
                return (paths, true);
            }
            let link = Link {
                parent: f.parent,
                parent_seq: f.parent_seq,
                name: record::utf16_bytes(&f.name).into_boxed_slice(),
            };
            let other = self.path(rec_no, Some(&link));
            if !paths.contains(&other) {
                paths.push(other);
            }
        }
        (paths, false)
    }

    /// Extension records named by the attribute list for a $DATA stream or
    /// a name that still belong to this record.
    fn extensions(&mut self, rec_no: u64, attrs: &[Attr], shown: &str) -> Vec<Rec> {
        let Some(list) = attrs.iter().find(|a| a.kind == ATTR_ATTRIBUTE_LIST) else {
            return Vec::new();
        };
        let list = match attr_value(&self.fs.vol, self.fs.cluster, list) {
            Ok(l) => l,
            Err(e) => {
                self.problem(
                    format!("{shown} ($MFT record {rec_no})"),
                    ProblemKind::CorruptEntry,
                    format!("attribute list: {e}"),
                    Some(rec_no),
                );
                return Vec::new();
            }
        };
        let mut wanted: Vec<u64> = record::attribute_list(&list)
            .into_iter()
            .filter(|e| e.record != rec_no && matches!(e.kind, ATTR_DATA | ATTR_FILE_NAME))
            .map(|e| e.record)
            .collect();
        wanted.sort_unstable();
        wanted.dedup();
        wanted
            .into_iter()
            .filter_map(|r| match self.fs.record(r) {
                Ok(Some(ext)) if ext.header.base == rec_no => Some(ext),
                _ => None,
            })
            .collect()
    }

    fn stream(&self, extents: &[&Attr]) -> Result<Arc<dyn ReadAt>, String> {
        if let Some(Body::Resident(v)) = extents.first().map(|a| &a.body) {
            return Ok(Arc::new(v.to_vec()));
        }
        let (runs, size, init) = extents_runs(extents, self.fs.cluster)?;
        let unit = extents
            .iter()
            .find_map(|a| match &a.body {
                Body::NonResident(nr) if nr.start_vcn == 0 && a.compressed() => {
                    Some(nr.compression_unit)
                }
                _ => None,
            })
            .unwrap_or(0);
        if unit > 0 {
            let bytes = 1u64
                .checked_shl(u32::from(unit))
                .map(|clusters| clusters.saturating_mul(self.fs.cluster));
            if bytes.is_none_or(|b| b > super::MAX_COMPRESSION_UNIT) {
                return Err(format!(
                    "compression unit of 2^{unit} clusters of {} bytes is implausible",
                    self.fs.cluster
                ));
            }
        }
        Ok(Arc::new(super::DataStream::new(
            self.fs.vol.clone(),
            self.fs.cluster,
            runs,
            size,
            init,
            unit,
        )))
    }
}

/// The record's names to list, in their order in the record: every long
/// (Win32 or POSIX) name, each once, without the 8.3 aliases beside them;
/// a record with only an 8.3 name keeps its first.
fn names<'a>(attrs: impl Iterator<Item = &'a Attr<'a>>) -> Vec<record::FileName> {
    let all: Vec<record::FileName> = attrs
        .filter(|a| a.kind == ATTR_FILE_NAME)
        .filter_map(|a| match a.body {
            Body::Resident(v) => record::file_name(v),
            _ => None,
        })
        .collect();
    let mut long: Vec<record::FileName> = Vec::new();
    for f in all.iter().filter(|f| f.namespace != 2) {
        if !long
            .iter()
            .any(|l| l.parent == f.parent && l.name == f.name)
        {
            long.push(f.clone());
        }
    }
    if long.is_empty() {
        long.extend(all.into_iter().take(1));
    }
    long
}

impl Iterator for Walk {
    type Item = SourceItem;

    fn next(&mut self) -> Option<SourceItem> {
        if !self.indexed {
            self.indexed = true;
            self.index();
        }
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(item);
            }
            let &(_, rec_no) = self.todo.get(self.next)?;
            self.next += 1;
            self.build(rec_no);
        }
    }
}
