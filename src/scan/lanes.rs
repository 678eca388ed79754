//! Reading many files at once so that their MD5s share vector lanes.
//!
//! MD5 of one stream is latency-bound (~0.7 GB/s a core here) and was the
//! ceiling of a scan needing all three digests; sixteen streams in AVX-512
//! lanes cost a tenth as much per byte (`hash::md5_lanes`). So each worker
//! keeps up to [`LANES`] files open, reads a chunk of each in turn, and
//! hashes the chunks together: SHA-1/SHA-256 one file after another (they
//! have SHA-NI), MD5 across files. Files end at different times; a lane
//! that empties takes the walk's next file.
//!
//! Event logs, files needing no MD5 and nested images go the one-file way
//! (`worker::read_file`): a log is recognised by its first chunk and then
//! read again from its start, which costs one chunk per log.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError, mpsc};

use crate::artifact;
use crate::artifact::ReadSeek;
use crate::evidence::ScanEvent;
use crate::hash::MultiHasher;
use crate::hash::md5_lanes::{self, LANES};
use crate::matcher::content::ContentStream;
use crate::source::{Deferred, FileEntry, ReadBuf, SourceItem};

use super::Batch;
use super::worker::{self, Ctx, Plan, Read1};

/// Bytes read from one file per round: `MultiHasher`'s two-core split
/// threshold, so that a lane left alone at the end still gets it.
const CHUNK: usize = 256 * 1024;

/// Whether lanes pay on this machine for this bundle.
pub(super) fn worth_it(ctx: &Ctx) -> bool {
    md5_lanes::vectorized() && ctx.matcher.digests_needed().md5
}

/// Scans one source's items on every thread of the current pool, each
/// thread pulling items from the shared walk as its lanes free up.
pub(super) fn run_source(
    source: usize,
    items: Box<dyn Iterator<Item = Deferred<'_>> + Send + '_>,
    ctx: &Ctx,
    tx: &mpsc::SyncSender<Vec<ScanEvent>>,
) {
    let items = Mutex::new(items);
    let handed = Mutex::new(Handed {
        lanes: Vec::new(),
        running: rayon::current_num_threads(),
    });
    rayon::broadcast(|_| Worker::new(source, ctx, tx).run(&items, &handed));
}

/// Lanes given up by workers whose walk ended, for the workers still
/// running. Once the walk is done, the files still open end up in one
/// worker's lanes: its MD5 vectors stay full, and the other cores take its
/// rounds' reading and SHA tasks (rayon stealing). Split over workers,
/// eight big files were four lanes each, and half-empty vectors ran MD5 at
/// half speed (0.67× of the lanes ceiling, against 0.88× now).
struct Handed<'a> {
    lanes: Vec<Lane<'a>>,
    /// Workers that have not returned; the last one takes every lane left.
    running: usize,
}

/// One file being read in a lane.
struct Lane<'a> {
    entry: FileEntry,
    plan: Plan,
    reader: Box<dyn ReadSeek>,
    hasher: MultiHasher,
    /// Page-aligned: the kernel's copy into an unaligned buffer cost 17% of
    /// the CPU time of eight big files, against 4%. (Mapping big files
    /// instead measured slower: this buffer stays in cache for three
    /// digests.)
    buf: ReadBuf,
    /// Bytes of `buf` read this round.
    len: usize,
    /// Bytes hashed so far.
    bytes: u64,
    head: [u8; artifact::HEAD_LEN],
    head_len: usize,
    end: End,
    /// The search of its bytes for network IOCs (`--content`).
    search: Option<ContentStream<'a>>,
}

impl Lane<'_> {
    /// Reads the lane's next chunk into `buf[..len]`; notes the end of the
    /// file, a failed read, or first bytes that send the file the one-file
    /// way (then `len` is 0). A big file's first bytes are read on their
    /// own, so that an event log costs the lanes 8 bytes, not a whole chunk;
    /// a file that fits in a chunk is read in one call (a log that small
    /// costs little to read twice).
    fn read_chunk(&mut self) {
        let first = self.bytes == 0 && self.head_len == 0;
        let left = self.entry.meta.size.saturating_sub(self.bytes);
        let read = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Option<usize>> {
            let buf = self.buf.as_mut_slice();
            let reader = &mut *self.reader;
            if !first {
                return worker::read_upto(reader, buf, left).map(Some);
            }
            let whole = left <= CHUNK as u64;
            let head_at = if whole { CHUNK } else { artifact::HEAD_LEN };
            let mut n = worker::read_upto(reader, &mut buf[..head_at], left)?;
            let head = n.min(artifact::HEAD_LEN);
            self.head_len = head;
            self.head[..head].copy_from_slice(&buf[..head]);
            let parsed = artifact::parser_for(&self.head[..head]).is_some()
                || super::kept::Kind::of(&self.head[..head]).is_some();
            if parsed {
                return Ok(None);
            }
            if !whole && n == artifact::HEAD_LEN {
                n += worker::read_upto(reader, &mut buf[n..], left - n as u64)?;
            }
            Ok(Some(n))
        }));
        self.len = 0;
        match read {
            Ok(Ok(None)) => self.end = End::Divert,
            Ok(Ok(Some(n))) => {
                if n < CHUNK {
                    self.end = End::Eof;
                }
                self.len = n;
                self.bytes += n as u64;
                // The content search reads hostile bytes: a panic in it
                // fails this file (listed with the error), as in the
                // one-file path, not the scan and the other lanes.
                if let Some(c) = &mut self.search {
                    let data = &self.buf.as_slice()[..n];
                    if let Err(panic) = catch_unwind(AssertUnwindSafe(|| c.feed(data))) {
                        self.end = End::Failed(std::io::Error::other(format!(
                            "internal error while searching the content (please report): {}",
                            crate::panics::message(&panic)
                        )));
                    }
                }
            }
            Ok(Err(e)) => self.end = End::Failed(e),
            Err(panic) => {
                self.end = End::Failed(std::io::Error::other(format!(
                    "internal error while reading (please report): {}",
                    crate::panics::message(&panic)
                )))
            }
        }
    }
}

impl Lane<'_> {
    /// The hasher and the bytes this round read, if any.
    fn read(&mut self) -> Option<(&mut MultiHasher, &[u8])> {
        (self.len > 0).then(|| (&mut self.hasher, &self.buf.as_slice()[..self.len]))
    }
}

enum End {
    No,
    Eof,
    Failed(std::io::Error),
    /// The first bytes say the file needs the one-file path (an event log).
    Divert,
}

struct Worker<'a> {
    source: usize,
    ctx: &'a Ctx<'a>,
    /// For the one-file path and for evidence's missing digests.
    buf: ReadBuf,
    /// Buffers of lanes that ended, for the next files.
    spare: Vec<ReadBuf>,
    /// Its events, on their way to the report thread.
    batch: Batch<'a>,
}

impl<'a> Worker<'a> {
    fn new(source: usize, ctx: &'a Ctx<'a>, tx: &'a mpsc::SyncSender<Vec<ScanEvent>>) -> Self {
        Worker {
            source,
            ctx,
            buf: ReadBuf::for_scan(ctx.stop),
            spare: Vec::new(),
            batch: Batch::new(tx),
        }
    }

    fn run(
        mut self,
        items: &Mutex<Box<dyn Iterator<Item = Deferred<'_>> + Send + '_>>,
        handed: &Mutex<Handed<'a>>,
    ) {
        let mut lanes: Vec<Lane<'a>> = Vec::with_capacity(LANES);
        let mut walk_done = false;
        loop {
            while !walk_done && lanes.len() < LANES {
                let next = items.lock().unwrap_or_else(PoisonError::into_inner).next();
                match next {
                    None => walk_done = true,
                    Some(item) => lanes.extend(self.admit(item.resolve())),
                }
            }
            if walk_done {
                // Under the lock, so that no lane is handed to a worker
                // that has already returned.
                let mut h = handed.lock().unwrap_or_else(PoisonError::into_inner);
                if h.running > 1 {
                    h.lanes.append(&mut lanes);
                    h.running -= 1;
                    return;
                }
                let room = LANES.saturating_sub(lanes.len()).min(h.lanes.len());
                let at = h.lanes.len() - room;
                lanes.extend(h.lanes.drain(at..));
                if lanes.is_empty() {
                    h.running -= 1;
                    return;
                }
            }
            self.round(&mut lanes);
        }
    }

    /// Starts an item: a lane for a file whose MD5 is wanted, else done here
    /// and now.
    fn admit(&mut self, item: SourceItem) -> Option<Lane<'a>> {
        let source = self.source;
        let path = worker::item_path(&item);
        let mut lane = None;
        let ctx = self.ctx;
        let batch = &self.batch;
        let emit: worker::Emit = &|ev| batch.push(ev);
        let run = catch_unwind(AssertUnwindSafe(|| match item {
            SourceItem::Problem(problem) => emit(ScanEvent::Problem { source, problem }),
            SourceItem::File(entry) => {
                let Some(plan) = worker::plan(source, &entry, ctx, emit) else {
                    ctx.progress.file_done(entry.meta.size);
                    return;
                };
                if !plan.want.md5 {
                    let size = entry.meta.size;
                    worker::read_file(source, entry, plan, ctx, &mut self.buf, emit);
                    ctx.progress.file_done(size);
                    return;
                }
                match entry.content.open() {
                    Ok(reader) => {
                        let buf = self.spare.pop().unwrap_or_else(|| ReadBuf::new(CHUNK));
                        lane = Some(Lane {
                            hasher: MultiHasher::new(plan.want),
                            entry,
                            plan,
                            reader,
                            buf,
                            len: 0,
                            bytes: 0,
                            head: [0; artifact::HEAD_LEN],
                            head_len: 0,
                            end: End::No,
                            search: ctx.matcher.content().map(|c| c.stream()),
                        });
                    }
                    Err(e) => {
                        let size = entry.meta.size;
                        worker::conclude(
                            source,
                            entry,
                            plan,
                            Err(e),
                            Vec::new(),
                            ctx,
                            &mut self.buf,
                            emit,
                        );
                        ctx.progress.file_done(size);
                    }
                }
            }
        }));
        if let Err(panic) = run {
            emit(worker::internal_error(source, path, &panic));
        }
        lane
    }

    /// Reads a chunk of every lane, hashes them together, and finishes the
    /// files that ended.
    ///
    /// Reading a chunk and its SHAs is one rayon task per lane: while every
    /// core runs its own lanes they all run here, but a core whose share of
    /// the walk is done takes some, so the last files of a scan (or a few big
    /// files one worker's lanes took) are not left to one core. The MD5s
    /// then advance together. One lane uses `MultiHasher::update`, whose
    /// MD5 | SHAs split over two cores serves it better.
    fn round(&mut self, lanes: &mut Vec<Lane<'a>>) {
        if self.ctx.stop.requested().is_some() {
            for lane in lanes.drain(..) {
                let lane = Lane {
                    end: End::Failed(crate::stop::interrupted()),
                    ..lane
                };
                self.finish(lane);
            }
            return;
        }
        if lanes.len() == 1 {
            for lane in lanes.iter_mut() {
                lane.read_chunk();
                lane.hasher.update(&lane.buf.as_slice()[..lane.len]);
            }
        } else {
            read_and_hash(lanes, Lane::read_chunk, Lane::read);
        }
        let mut i = 0;
        while i < lanes.len() {
            if matches!(lanes[i].end, End::No) {
                i += 1;
            } else {
                let lane = lanes.swap_remove(i);
                self.finish(lane);
            }
        }
    }

    fn finish(&mut self, lane: Lane<'a>) {
        let Lane {
            entry,
            plan,
            hasher,
            buf,
            bytes,
            head,
            head_len,
            end,
            search,
            ..
        } = lane;
        self.spare.push(buf);
        let (source, ctx) = (self.source, self.ctx);
        let path = worker::problem_path(&entry);
        let size = entry.meta.size;
        let wbuf = &mut self.buf;
        let batch = &self.batch;
        let emit: worker::Emit = &|ev| batch.push(ev);
        let run = catch_unwind(AssertUnwindSafe(|| {
            let read = match end {
                End::Divert => return worker::read_file(source, entry, plan, ctx, wbuf, emit),
                End::Failed(e) => Err(e),
                End::Eof | End::No => Ok(Read1 {
                    digests: hasher.finish(),
                    bytes,
                    head,
                    head_len,
                    kept: None,
                    content: search.map(|c| c.finish()).unwrap_or_default(),
                    md5_waits: false,
                }),
            };
            worker::conclude(source, entry, plan, read, Vec::new(), ctx, wbuf, emit);
        }));
        if let Err(panic) = run {
            emit(worker::internal_error(source, path, &panic));
        }
        ctx.progress.file_done(size);
    }
}

/// A file's hasher and the bytes its chunk brought this round, if any.
pub(super) type ChunkRead<T> = for<'x> fn(&'x mut T) -> Option<(&'x mut MultiHasher, &'x [u8])>;

/// One round over files read together: a chunk of each read (one rayon
/// task per file, so an idle core takes some), then what was read hashed,
/// MD5s across files in vector lanes. `read` returns a file's hasher and
/// the bytes its chunk brought, if any.
pub(super) fn read_and_hash<T: Send>(files: &mut [T], read_chunk: fn(&mut T), read: ChunkRead<T>) {
    use rayon::iter::{IndexedParallelIterator, IntoParallelRefMutIterator, ParallelIterator};
    files.par_iter_mut().with_max_len(1).for_each(read_chunk);
    let mut jobs: Vec<(&mut MultiHasher, &[u8])> = files.iter_mut().filter_map(read).collect();
    MultiHasher::update_many(&mut jobs, true);
}
