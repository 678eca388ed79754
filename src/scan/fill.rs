//! The digests evidence still lacks, computed for many files at once.
//!
//! A file is read once with the digests the bundle needs: an event log
//! with none when only rules are loaded, or SHA-256 alone. When it turns
//! out to hold evidence (records that fired) the evidence must carry all
//! three, and the file is read again. MD5 of one stream runs at ~0.7 GB/s
//! a core, against ~4 GB/s for sixteen streams in vector lanes
//! (`hash::md5_lanes`), and it was 13% of a Sigma scan of the corpus logs.
//! So files that need MD5 wait here, with what they found, until
//! [`GATHER`] wait (or their source's walk ends), and are read again
//! [`LANES`] at a time: SHAs one file after another, MD5s across files.
//!
//! Event logs of the host read for all three digests wait here too, for
//! their MD5 alone, evidence or not (`worker::md5_waits`): a log's parse
//! consumes its stream, so it cannot share lanes while it is read, and its
//! digests are matched once the MD5 is known.
//!
//! A waiting file holds its findings, never its bytes: what waits is
//! bounded by [`GATHER`] files' evidence.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Mutex, PoisonError};

use crate::artifact::ReadSeek;
use crate::hash::md5_lanes::{self, LANES};
use crate::hash::{DigestSet, Digests, MultiHasher};
use crate::source::{FileEntry, ProblemKind, ReadBuf};
use crate::stop;

use super::worker::{self, Ctx, Done, Emit};

/// Bytes read from each file per round.
const CHUNK: usize = 256 * 1024;

/// Files gathered before they are read again: enough beyond [`LANES`] that
/// lanes freed by small files are taken by others.
const GATHER: usize = 4 * LANES;

/// A file whose evidence waits for its missing digests.
pub(super) struct Waiting {
    pub source: usize,
    pub entry: FileEntry,
    /// The digests its first read computed.
    pub digests: Digests,
    pub done: Done,
    /// Its digests are still to be matched: a log whose MD5 waited for the
    /// lanes (`worker::md5_waits`), evidence or not.
    pub unmatched: bool,
}

/// The files waiting, shared by a scan's workers.
pub(super) struct Filling {
    /// Off for `--single-stream` (each file's digests then computed alone,
    /// the reference the gathered ones are tested against).
    on: bool,
    waiting: Mutex<Vec<Waiting>>,
}

impl Filling {
    pub(super) fn new(on: bool) -> Self {
        Filling {
            on,
            waiting: Mutex::new(Vec::new()),
        }
    }

    /// Whether files lacking `missing` wait here: only MD5 gains from
    /// lanes, and only where the CPU has them.
    pub(super) fn gathers(&self, missing: DigestSet) -> bool {
        self.on && missing.md5 && md5_lanes::vectorized()
    }

    /// Adds a file; once [`GATHER`] wait, the caller digests them all and
    /// emits their events.
    pub(super) fn add(&self, file: Waiting, ctx: &Ctx, emit: Emit) {
        let full = {
            let mut waiting = self.waiting.lock().unwrap_or_else(PoisonError::into_inner);
            waiting.push(file);
            if waiting.len() < GATHER {
                return;
            }
            std::mem::take(&mut *waiting)
        };
        digest_and_emit(full, ctx, emit);
    }

    /// Digests and emits every file still waiting (at the end of a
    /// source's walk).
    pub(super) fn flush(&self, ctx: &Ctx, emit: Emit) {
        let rest =
            std::mem::take(&mut *self.waiting.lock().unwrap_or_else(PoisonError::into_inner));
        if !rest.is_empty() {
            digest_and_emit(rest, ctx, emit);
        }
    }
}

/// One waiting file being read again.
struct Reading {
    reader: Option<Box<dyn ReadSeek>>,
    hasher: MultiHasher,
    buf: ReadBuf,
    /// Bytes of `buf` read this round.
    len: usize,
    /// Bytes read in all.
    total: u64,
    failed: Option<std::io::Error>,
}

impl Reading {
    /// Opens a waiting file for the digests it lacks.
    fn open(w: &Waiting) -> Reading {
        let missing = DigestSet::ALL.minus(w.digests.computed());
        let (reader, failed) = match w.entry.content.open() {
            Ok(r) => (Some(r), None),
            Err(e) => (None, Some(e)),
        };
        Reading {
            reader,
            hasher: MultiHasher::new(missing),
            // Sized to the file when smaller (most logs are).
            buf: ReadBuf::new(
                usize::try_from(w.entry.meta.size.saturating_add(1))
                    .map_or(CHUNK, |n| n.min(CHUNK)),
            ),
            len: 0,
            total: 0,
            failed,
        }
    }

    /// A file not read again, for `e`.
    fn failed(e: std::io::Error) -> Reading {
        Reading {
            reader: None,
            hasher: MultiHasher::new(DigestSet::NONE),
            buf: ReadBuf::new(0),
            len: 0,
            total: 0,
            failed: Some(e),
        }
    }

    fn read_chunk(&mut self) {
        self.len = 0;
        let Some(reader) = &mut self.reader else {
            return;
        };
        let read = catch_unwind(AssertUnwindSafe(|| {
            worker::read_upto(&mut **reader, self.buf.as_mut_slice(), u64::MAX)
        }));
        match read {
            Ok(Ok(n)) => {
                self.len = n;
                self.total += n as u64;
                if n < self.buf.as_slice().len() {
                    self.reader = None;
                }
            }
            Ok(Err(e)) => self.fail(e),
            Err(panic) => self.fail(std::io::Error::other(format!(
                "internal error while reading (please report): {}",
                crate::panics::message(&panic)
            ))),
        }
    }

    /// The hasher and the bytes this round read, if any.
    fn read(&mut self) -> Option<(&mut MultiHasher, &[u8])> {
        (self.len > 0).then(|| (&mut self.hasher, &self.buf.as_slice()[..self.len]))
    }

    fn fail(&mut self, e: std::io::Error) {
        self.reader = None;
        self.failed = Some(e);
    }
}

/// Reads `files` again, together, for their missing digests, then emits
/// each one's events. A file that cannot be read again keeps the digests
/// it has, and that is listed.
///
/// Up to [`LANES`] files are read at once, largest first, and a file that
/// ends gives its lane to the next one: logs differ in size by a hundred
/// times, and a group read together until its largest ended spent that
/// file's tail with two streams or one, where MD5 runs without lanes
/// (most of the MD5 time of the event-log bench's wide-hit row).
fn digest_and_emit(files: Vec<Waiting>, ctx: &Ctx, emit: Emit) {
    let mut order: Vec<usize> = (0..files.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(files[i].entry.meta.size));
    let mut order = order.into_iter();
    let mut done: Vec<Option<Reading>> = files.iter().map(|_| None).collect();
    // The files being read, and their indexes in `files`.
    let mut active: Vec<Reading> = Vec::with_capacity(LANES);
    let mut ids: Vec<usize> = Vec::with_capacity(LANES);
    // The files are read and hashed together, so a panic here would lose
    // all of them: it is caught, and each file keeps its first digests.
    let rounds = catch_unwind(AssertUnwindSafe(|| {
        loop {
            while active.len() < LANES
                && let Some(i) = order.next()
            {
                active.push(Reading::open(&files[i]));
                ids.push(i);
            }
            if active.is_empty() {
                break;
            }
            if ctx.stop.requested().is_some() {
                for r in active.iter_mut().filter(|r| r.reader.is_some()) {
                    r.fail(stop::interrupted());
                }
            } else {
                super::lanes::read_and_hash(&mut active, Reading::read_chunk, Reading::read);
            }
            let mut k = 0;
            while k < active.len() {
                if active[k].reader.is_none() {
                    done[ids.swap_remove(k)] = Some(active.swap_remove(k));
                } else {
                    k += 1;
                }
            }
        }
    }));
    if let Err(panic) = rounds {
        let why = crate::panics::message(&panic);
        let error = || {
            std::io::Error::other(format!(
                "internal error while hashing (please report): {why}"
            ))
        };
        for (i, mut r) in ids.into_iter().zip(active) {
            r.fail(error());
            done[i] = Some(r);
        }
        for i in order {
            done[i] = Some(Reading::failed(error()));
        }
    }
    for (w, r) in files.into_iter().zip(done) {
        let Waiting {
            source,
            entry,
            mut digests,
            mut done,
            unmatched,
        } = w;
        let path = worker::problem_path(&entry);
        let r = r.unwrap_or_else(|| Reading::failed(std::io::Error::other("not read again")));
        let run = catch_unwind(AssertUnwindSafe(|| {
            let again = match r.failed {
                Some(e) => Err(e),
                None => Ok((r.hasher.finish(), r.total)),
            };
            reread(
                source,
                &entry,
                &mut digests,
                done.bytes,
                again,
                unmatched,
                emit,
            );
            if unmatched {
                done.match_digests(ctx, &digests);
            }
            done.emit(source, &entry, &digests, emit);
        }));
        if let Err(panic) = run {
            emit(worker::internal_error(source, path, &panic));
        }
    }
}

/// Takes in what a re-read for evidence's missing digests (or, when
/// `unmatched`, for the MD5 a log's matching waits for) gave, its digests
/// and bytes: its digests added (see [`add_reread`]), or the problem that
/// says why not listed.
pub(super) fn reread(
    source: usize,
    entry: &FileEntry,
    digests: &mut Digests,
    first: u64,
    again: std::io::Result<(Digests, u64)>,
    unmatched: bool,
    emit: Emit,
) {
    let (kind, message) = match again {
        Ok((added, bytes)) => match add_reread(digests, first, bytes, &added) {
            Ok(()) => return,
            Err(_) if unmatched => (
                ProblemKind::Changed,
                format!(
                    "changed between reads: {first} bytes read first, {bytes} when read again for its MD5; its other digests are the first read's, and it was not matched against MD5 IOCs"
                ),
            ),
            Err(message) => (ProblemKind::Changed, message),
        },
        Err(e) if stop::is_interrupted(&e) => (
            ProblemKind::Interrupted,
            if unmatched {
                "the scan stopped before its MD5 was computed: not matched against MD5 IOCs"
            } else {
                "the scan stopped before the evidence's other digests were computed"
            }
            .to_string(),
        ),
        Err(e) if unmatched => (
            ProblemKind::Unreadable,
            format!("cannot read again for its MD5 (not matched against MD5 IOCs): {e}"),
        ),
        Err(e) => (
            ProblemKind::Unreadable,
            format!("cannot re-read evidence for its other digests: {e}"),
        ),
    };
    emit(worker::problem(source, entry, kind, message));
}

/// Adds the digests of a file's second read (`added`, of `again` bytes)
/// to those of its first (`first` bytes), unless the two read different
/// bytes: then the evidence would carry digests of two contents, so it
/// keeps the first read's alone and the returned message says why. (A
/// change that keeps the size goes unseen: telling it would take the
/// first read's digests again.) A first read that hashed and read
/// nothing (it failed) leaves the second on its own.
fn add_reread(
    digests: &mut Digests,
    first: u64,
    again: u64,
    added: &Digests,
) -> Result<(), String> {
    let first_read = first > 0 || !digests.computed().is_empty();
    if first_read && again != first {
        return Err(format!(
            "changed between reads: {first} bytes read first, {again} when read again for its other digests; the evidence keeps the first read's digests"
        ));
    }
    digests.fill_from(added);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{add_reread, reread};
    use crate::evidence::ScanEvent;
    use crate::hash::Digests;
    use crate::source::{Content, EvidencePath, FileEntry, FileMeta, ProblemKind, ReadBuf};

    /// A file with nothing in it.
    struct Empty;

    impl Content for Empty {
        fn pump(&self, _: &mut ReadBuf, _: &mut dyn FnMut(&[u8])) -> std::io::Result<u64> {
            Ok(0)
        }

        fn open(&self) -> std::io::Result<Box<dyn crate::artifact::ReadSeek>> {
            Ok(Box::new(std::io::Cursor::new(Vec::new())))
        }
    }

    /// A log or evidence whose second read the scan's stop cut short is
    /// listed as interrupted (what the scan's report says of every entry
    /// it did not finish), not as unreadable evidence, and keeps the
    /// digests it has.
    #[test]
    fn a_re_read_the_stop_cut_short_is_listed_as_interrupted() {
        let entry = FileEntry {
            path: EvidencePath::from_bytes(b"/Security.evtx".to_vec()),
            host_path: None,
            meta: FileMeta::default(),
            content: Box::new(Empty),
        };
        for unmatched in [true, false] {
            let events = std::sync::Mutex::new(Vec::new());
            let mut digests = Digests {
                sha256: Some([1; 32]),
                ..Digests::default()
            };
            let again = Err(crate::stop::interrupted());
            let emit = |ev| events.lock().unwrap().push(ev);
            reread(0, &entry, &mut digests, 10, again, unmatched, &emit);
            let events = events.into_inner().unwrap();
            let [ScanEvent::Problem { problem, .. }] = &events[..] else {
                panic!("one problem expected, got {events:?}");
            };
            assert_eq!(
                problem.kind,
                ProblemKind::Interrupted,
                "{}",
                problem.message
            );
            assert_eq!(problem.message.contains("MD5"), unmatched);
            assert_eq!(digests.sha256, Some([1; 32]));
            assert!(digests.md5.is_none());
        }
    }

    /// A second read adds its digests only when it read as many bytes as
    /// the first: evidence never carries digests of two contents.
    #[test]
    fn a_re_read_of_other_bytes_adds_no_digest() {
        let first = || Digests {
            sha256: Some([1; 32]),
            ..Digests::default()
        };
        let again = Digests {
            md5: Some([2; 16]),
            sha1: Some([3; 20]),
            sha256: Some([4; 32]),
        };
        let mut same = first();
        assert_eq!(add_reread(&mut same, 10, 10, &again), Ok(()));
        assert_eq!(
            (same.md5, same.sha1, same.sha256),
            (again.md5, again.sha1, Some([1; 32]))
        );

        for other in [0, 9, 11] {
            let mut changed = first();
            let why = add_reread(&mut changed, 10, other, &again).unwrap_err();
            assert!(
                why.contains(&format!("10 bytes read first, {other} when")),
                "{why}"
            );
            assert_eq!(changed, first(), "{other} bytes re-read");
        }

        // An empty file read twice: both reads agree; one that grew
        // between them does not.
        let mut empty = first();
        assert_eq!(add_reread(&mut empty, 0, 0, &again), Ok(()));
        assert_eq!(empty.md5, again.md5);
        let mut grew = first();
        assert!(add_reread(&mut grew, 0, 5, &again).is_err());
        assert_eq!(grew, first());
        // A first read that failed (nothing hashed) leaves the second alone.
        let mut failed = Digests::default();
        assert_eq!(add_reread(&mut failed, 0, 12, &again), Ok(()));
        assert_eq!(failed, again);
    }
}
