//! Runs a scan: opens each target as a source, feeds its entries straight
//! into a worker pool (no walk-then-hash: the walk is pulled by the workers
//! through `par_bridge`), and funnels every result through one channel to the
//! single thread that owns the [`ReportSink`].
//!
//! This is the only place with parallelism; workers own their read buffers
//! and share nothing mutable.

mod fill;
mod hive;
mod kept;
mod lanes;
mod parked;
mod worker;

use std::path::PathBuf;
use std::sync::{Mutex, PoisonError, mpsc};

use rayon::iter::{ParallelBridge, ParallelIterator};

use crate::evidence::{ReportSink, ScanEvent};
use crate::matcher::Matcher;
use crate::sigma::RuleSet;
use crate::source::{self, EvidencePath, FileSource, Problem, ProblemKind, ReadBuf, SourceOptions};
use crate::stop::Stop;

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    pub source: SourceOptions,
    /// Files larger than this are matched by name and path only, and listed.
    pub max_file_size: Option<u64>,
    /// Files with this many bytes of holes or more are matched by name and
    /// path only, and listed; `None` hashes them all.
    pub sparse_limit: Option<u64>,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Reads one file at a time per worker, never interleaving files for
    /// multi-buffer MD5 (`lanes`, and evidence's missing digests in
    /// `fill`); for comparing the two paths.
    pub single_stream: bool,
}

/// Progress reporting hooks, called from worker threads.
pub trait Progress: Sync {
    /// Whether to spend a walk on estimating totals (only worth it when
    /// someone watches an ETA).
    fn wants_estimate(&self) -> bool {
        false
    }
    /// Adds one source's estimated files and bytes to the totals.
    fn add_estimate(&self, _files: u64, _bytes: u64) {}
    /// A file is done; `bytes` is its size.
    fn file_done(&self, _bytes: u64) {}
    /// What is being done now (`opening disk.E01`, `scanning disk.E01 (e01
    /// image)`), for a person watching.
    fn stage(&self, _what: &str) {}
}

/// Progress that shows nothing.
pub struct NoProgress;
impl Progress for NoProgress {}

/// What the caller needs beyond the events.
#[derive(Debug, Clone)]
pub struct ScanOutcome {
    /// Targets that could be opened; 0 means nothing was scanned.
    pub targets_opened: usize,
}

/// Scans `targets` with `matcher`, sending every event to `sink`.
pub fn run(
    targets: &[PathBuf],
    matcher: &Matcher,
    rules: &RuleSet,
    opts: &ScanOptions,
    progress: &dyn Progress,
    sink: &mut dyn ReportSink,
) -> std::io::Result<ScanOutcome> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.threads)
        .thread_name(|i| format!("breachscan-worker-{i}"))
        .build()
        .map_err(std::io::Error::other)?;

    let mut sources: Vec<(usize, Box<dyn FileSource>)> = Vec::new();
    for (i, target) in targets.iter().enumerate() {
        progress.stage(&format!("opening {}", target.display()));
        match source::open(target, &opts.source) {
            Ok(src) => {
                sink.accept(ScanEvent::SourceOpened {
                    source: i,
                    kind: src.kind().to_string(),
                    format: src.format().map(str::to_string),
                });
                sources.push((i, src));
            }
            Err(e) => sink.accept(ScanEvent::Problem {
                source: i,
                problem: Problem::new(
                    EvidencePath::from_os(target.as_os_str()),
                    ProblemKind::TargetUnreadable,
                    format!("cannot open target: {e}"),
                ),
            }),
        }
    }
    let parked = parked::Parked::default();
    let filling = fill::Filling::new(!opts.single_stream);
    let ctx = worker::Ctx {
        matcher,
        rules,
        max_file_size: opts.max_file_size,
        sparse_limit: opts.sparse_limit,
        verify_image: opts.source.verify_image,
        progress,
        stop: &opts.source.stop,
        parked: &parked,
        filling: &filling,
    };
    // Bounded so a slow sink cannot make the queue grow without limit.
    let (tx, rx) = mpsc::sync_channel::<Vec<ScanEvent>>(1024);
    std::thread::scope(|s| {
        if progress.wants_estimate() {
            let sources = &sources;
            s.spawn(move || {
                for (_, src) in sources {
                    if let Some((files, bytes)) = src.estimate() {
                        progress.add_estimate(files, bytes);
                    }
                }
            });
        }
        let sources = &sources;
        let ctx = &ctx;
        s.spawn(move || {
            pool.install(|| {
                let lanes = !opts.single_stream && lanes::worth_it(ctx);
                for (idx, src) in sources {
                    let idx = *idx;
                    let kind = match src.format() {
                        Some(f) => format!("{f} {}", src.kind()),
                        None => src.kind().to_string(),
                    };
                    progress.stage(&format!("scanning {} ({kind})", targets[idx].display()));
                    let entries = until_stopped(src.deferred_entries(), ctx.stop);
                    if lanes {
                        lanes::run_source(idx, entries, ctx, &tx);
                    } else {
                        let tx = &tx;
                        entries.par_bridge().for_each_init(
                            || (Batch::new(tx), ReadBuf::for_scan(ctx.stop)),
                            |(batch, buf), item| {
                                let item = item.resolve();
                                worker::run_item(idx, item, ctx, buf, &|ev| batch.push(ev));
                            },
                        );
                    }
                    // Hives whose logs the walk may have met after them;
                    // files whose evidence waits for digests.
                    let batch = Batch::new(&tx);
                    hive::scan_parked(idx, ctx, &|ev| batch.push(ev));
                    ctx.filling.flush(ctx, &|ev| batch.push(ev));
                    drop(batch);
                    let closing = src.finish();
                    let mut events: Vec<ScanEvent> = closing
                        .problems
                        .into_iter()
                        .map(|problem| ScanEvent::Problem {
                            source: idx,
                            problem,
                        })
                        .collect();
                    events.push(ScanEvent::SourceDone {
                        source: idx,
                        interrupted: ctx.stop.requested().is_some(),
                        image: closing.image.map(Box::new),
                    });
                    let _ = tx.send(events);
                }
            });
            drop(tx);
        });
        for batch in rx {
            for event in batch {
                sink.accept(event);
            }
        }
    });
    Ok(ScanOutcome {
        targets_opened: sources.len(),
    })
}

/// A source's entries, ending early when the scan is asked to stop.
pub(crate) fn until_stopped<'a, T: 'a>(
    entries: Box<dyn Iterator<Item = T> + Send + 'a>,
    stop: &'a Stop,
) -> Box<dyn Iterator<Item = T> + Send + 'a> {
    Box::new(entries.take_while(move |_| stop.requested().is_none()))
}

/// A worker's events, sent to the report thread [`Batch::LIMIT`] at a
/// time (and the rest when it is dropped): a send that wakes that thread
/// costs a futex call and a context switch, and one send per file made them
/// ~20% of a scan of 100,000 small files (one per event was ~5% of a scan
/// of many small logs). Events of one file stay in order; those of
/// different workers were never ordered. Memory stays bounded however many
/// events one item (a whole nested image) has.
struct Batch<'a> {
    tx: &'a mpsc::SyncSender<Vec<ScanEvent>>,
    events: Mutex<Vec<ScanEvent>>,
}

impl<'a> Batch<'a> {
    const LIMIT: usize = 256;

    fn new(tx: &'a mpsc::SyncSender<Vec<ScanEvent>>) -> Self {
        Batch {
            tx,
            events: Mutex::new(Vec::new()),
        }
    }

    /// Callable from any thread (a log's chunks are parsed on several).
    fn push(&self, ev: ScanEvent) {
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        events.push(ev);
        if events.len() >= Self::LIMIT {
            let full = std::mem::take(&mut *events);
            drop(events);
            // The receiver lives until every sender is gone; a send cannot
            // fail before then.
            let _ = self.tx.send(full);
        }
    }
}

impl Drop for Batch<'_> {
    fn drop(&mut self) {
        let events = std::mem::take(
            self.events
                .get_mut()
                .unwrap_or_else(PoisonError::into_inner),
        );
        if !events.is_empty() {
            let _ = self.tx.send(events);
        }
    }
}
