//! What one worker does with one entry: match its name and path, read it
//! once computing only the digests needed, match the digests; if its first
//! bytes say it is an event log, parse its records and match them too; for
//! evidence, fill in the digests the first pass skipped.

use std::io::Read;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use crate::artifact::program::Program;
use crate::artifact::registry::RegistryItem;
use crate::artifact::{
    self, DamageKind, LogStream, Record, RecordFilter, RecordItem, RecordParser, Screen, Screening,
    SystemFacts, ValueKind,
};
use crate::bundle::IocIdx;
use crate::evidence::{Artifact, Detection, FileFacts, Finding, Location, ScanEvent};
use crate::hash::{DigestSet, Digests, MultiHasher};
use crate::matcher::content::ContentHit;
use crate::matcher::{Hit, Matcher};
use crate::sigma::{RuleHit, RuleSet};

use super::kept::{self, Kept};
use crate::source::{
    At, Content, EvidencePath, FileEntry, FileSource, ImageSource, Problem, ProblemKind, ReadBuf,
    SourceItem,
};
use crate::stop::{self, Stop};
use rayon::iter::{ParallelBridge, ParallelIterator};

use super::Progress;

pub(super) struct Ctx<'a> {
    pub matcher: &'a Matcher,
    /// Sigma rules evaluated on every record (none: IOCs only).
    pub rules: &'a RuleSet,
    pub max_file_size: Option<u64>,
    pub sparse_limit: Option<u64>,
    /// `--verify-image`, for images found inside directories.
    pub verify_image: bool,
    pub progress: &'a dyn Progress,
    pub stop: &'a Stop,
    /// Dirty hives inside images waiting for their logs.
    pub parked: &'a super::parked::Parked,
    /// Files whose evidence waits for digests computed together.
    pub filling: &'a super::fill::Filling,
}

/// The records a log parser must turn into fields: those the IOC
/// prefilter or the rules' prefilter lets through.
impl RecordFilter for Ctx<'_> {
    fn screen(&self) -> Screen {
        match (self.matcher.screen(), self.rules.screen()) {
            (Screen::Everything, _) | (_, Screen::Everything) => Screen::Everything,
            (Screen::Nothing, Screen::Nothing) => Screen::Nothing,
            _ => Screen::Text,
        }
    }
    fn may_match(&self, text: &[u8]) -> bool {
        self.matcher.screen() != Screen::Nothing && self.matcher.may_match(text)
            || self.rules.may_match(text)
    }
    fn screen_record(&self, text: &[u8], facts: &SystemFacts) -> Screening {
        let iocs = match self.matcher.screen() {
            Screen::Nothing => Screening::NoLiteral,
            _ => self.matcher.screen_record(text, facts),
        };
        if iocs == Screening::Render || self.rules.may_match_record(text, facts) {
            Screening::Render
        } else if iocs == Screening::NoLiteral
            && (self.rules.is_empty() || !self.rules.holds_literal(text))
        {
            Screening::NoLiteral
        } else {
            Screening::Literals
        }
    }
    fn holds_literal(&self, text: &[u8]) -> bool {
        self.matcher.screen() != Screen::Nothing && self.matcher.may_match(text)
            || self.rules.holds_literal(text)
    }
    fn may_match_kind(&self, kind: ValueKind) -> bool {
        self.matcher.screen() != Screen::Nothing && self.matcher.may_match_kind(kind)
            || self.rules.may_match_kind(kind)
    }
    fn screens_system(&self) -> bool {
        !self.rules.is_empty()
    }
}

/// Sends an event to the report thread; callable from any thread.
pub(super) type Emit<'a> = &'a (dyn Fn(ScanEvent) + Sync);

/// Processes one item; a panic (a bug met on strange data) costs this item,
/// reported, not the scan.
pub(super) fn run_item(source: usize, item: SourceItem, ctx: &Ctx, buf: &mut ReadBuf, emit: Emit) {
    let path = item_path(&item);
    let run = catch_unwind(AssertUnwindSafe(|| process(source, item, ctx, buf, emit)));
    if let Err(panic) = run {
        emit(internal_error(source, path, &panic));
    }
}

/// The event for an entry whose scan panicked.
pub(super) fn internal_error(
    source: usize,
    path: EvidencePath,
    panic: &Box<dyn std::any::Any + Send>,
) -> ScanEvent {
    ScanEvent::Problem {
        source,
        problem: Problem::new(
            path,
            ProblemKind::Unreadable,
            format!(
                "internal error while scanning this entry (please report): {}",
                crate::panics::message(panic)
            ),
        ),
    }
}

pub(super) fn item_path(item: &SourceItem) -> EvidencePath {
    match item {
        SourceItem::File(f) => problem_path(f),
        SourceItem::Problem(p) => p.path.clone(),
    }
}

pub(super) fn process(source: usize, item: SourceItem, ctx: &Ctx, buf: &mut ReadBuf, emit: Emit) {
    match item {
        SourceItem::Problem(problem) => emit(ScanEvent::Problem { source, problem }),
        SourceItem::File(entry) => {
            let size = entry.meta.size;
            process_file(source, entry, ctx, buf, emit);
            ctx.progress.file_done(size);
        }
    }
}

pub(super) fn problem(
    source: usize,
    entry: &FileEntry,
    kind: ProblemKind,
    message: String,
) -> ScanEvent {
    problem_at(source, entry, kind, message, At::default())
}

/// A problem with an entry, at its volume and inode and at `at` inside it.
pub(super) fn problem_at(
    source: usize,
    entry: &FileEntry,
    kind: ProblemKind,
    message: String,
    at: At,
) -> ScanEvent {
    let whole = At {
        inode: entry.meta.inode,
        ..At::volume(entry.meta.volume.as_deref())
    };
    ScanEvent::Problem {
        source,
        problem: Problem::new(problem_path(entry), kind, message).at(At {
            offset: at.offset,
            chunk: at.chunk,
            record: at.record,
            ..whole
        }),
    }
}

/// An entry's path for the errors list: inside an image, prefixed with its
/// volume (`p2 (ntfs) › /Windows/…`) so two volumes' `/` are not confused.
pub(super) fn problem_path(entry: &FileEntry) -> EvidencePath {
    match &entry.meta.volume {
        Some(v) => v.prefixed(entry.path.as_bytes()),
        None => entry.path.clone(),
    }
}

fn process_file(source: usize, entry: FileEntry, ctx: &Ctx, buf: &mut ReadBuf, emit: Emit) {
    if let Some(plan) = plan(source, &entry, ctx, emit) {
        read_file(source, entry, plan, ctx, buf, emit);
    }
}

/// What a file's read must compute, decided before reading it.
pub(super) struct Plan {
    /// Name and path hits.
    pub hits: Vec<Hit>,
    /// The digests to compute in the one pass.
    pub want: DigestSet,
    /// Whether its bytes are searched for network IOCs (`--content`): then
    /// it is read even when no digest is wanted.
    pub content: bool,
}

/// Matches the name and path and decides the digests; `None` when the file
/// is not to be read (over `--max-file-size`, reported).
pub(super) fn plan(source: usize, entry: &FileEntry, ctx: &Ctx, emit: Emit) -> Option<Plan> {
    let mut hits = Vec::new();
    ctx.matcher.match_path(&entry.path.display(), &mut hits);

    let size = entry.meta.size;
    // Only holes (or damage) make a file larger than the volume holding
    // it; reading them would hash zeros for as long as the size claims
    // (an ext inode can claim 2^44 bytes), whatever the name matched.
    if let Some(v) = entry.meta.volume.as_ref().filter(|v| size > v.size) {
        let why = format!(
            "{size} bytes is more than its volume holds ({} bytes): a sparse or damaged \
             file; matched by name and path only, not read",
            v.size
        );
        name_only(
            source,
            entry,
            hits,
            ProblemKind::LargerThanVolume,
            why,
            emit,
        );
        return None;
    }
    // Asked only of large files: on a host file it costs a few lseeks.
    if let Some(limit) = ctx.sparse_limit.filter(|&l| size >= l) {
        let holes = entry.content.hole_bytes();
        if holes >= limit.max(1) {
            let why = format!(
                "{holes} of its {size} bytes are sparse holes (zeros nothing stores): matched \
                 by name and path only, not hashed (--hash-sparse hashes it)"
            );
            name_only(source, entry, hits, ProblemKind::Sparse, why, emit);
            return None;
        }
    }
    if let Some(limit) = ctx.max_file_size.filter(|&m| size > m && hits.is_empty()) {
        emit(problem(
            source,
            entry,
            ProblemKind::SizeLimit,
            format!(
                "{size} bytes is over --max-file-size {limit}: matched by name and path only, not read"
            ),
        ));
        return None;
    }

    // A name or path hit makes this file evidence: compute all three digests
    // in the one pass instead of reading it twice.
    let want = if hits.is_empty() {
        ctx.matcher.digests_needed()
    } else {
        DigestSet::ALL
    };
    let content = ctx.matcher.content().is_some();
    Some(Plan {
        hits,
        want,
        content,
    })
}

/// A file not read: listed with why, and its name and path hits made
/// evidence without digests.
fn name_only(
    source: usize,
    entry: &FileEntry,
    hits: Vec<Hit>,
    kind: ProblemKind,
    why: String,
    emit: Emit,
) {
    emit(problem(source, entry, kind, why));
    if !hits.is_empty() {
        emit(ScanEvent::FileScanned { source, bytes: 0 });
    }
    for hit in hits {
        emit(evidence(
            source,
            entry,
            hit.into(),
            &Digests::default(),
            None,
        ));
    }
}

/// Reads one file on its own (pumped), parsing it too if it is a log.
pub(super) fn read_file(
    source: usize,
    entry: FileEntry,
    plan: Plan,
    ctx: &Ctx,
    buf: &mut ReadBuf,
    emit: Emit,
) {
    let log = LogScan::new(source, &entry, ctx, emit);
    let read = read_and_hash(&*entry.content, &plan, buf, &log);
    let found = log.finish();
    conclude(source, entry, plan, read, found, ctx, buf, emit);
}

/// Everything after the read: damage and size checks, digest matching,
/// the digests evidence still lacks, and the file's events.
#[allow(clippy::too_many_arguments)]
pub(super) fn conclude(
    source: usize,
    entry: FileEntry,
    plan: Plan,
    read: std::io::Result<Read1>,
    found: Vec<(Fired, Box<Record>)>,
    ctx: &Ctx,
    buf: &mut ReadBuf,
    emit: Emit,
) {
    let Plan { hits, want, .. } = plan;
    let size = entry.meta.size;
    let mut registry = kept::Found::default();
    let mut content = Vec::new();
    let mut md5_waits = false;
    let (digests, bytes) = match read {
        Ok(r) => {
            md5_waits = r.md5_waits;
            nested_image(source, &entry, &r.head[..r.head_len], ctx, emit);
            if let Some(k) = r.kept {
                registry = kept::scan(source, &entry, k, ctx, emit);
            }
            content = r.content;
            content.retain(|(ioc, _, text)| !ctx.matcher.excluded(*ioc, text));
            (r.digests, r.bytes)
        }
        Err(e) => {
            let (kind, message) = if stop::is_interrupted(&e) {
                (ProblemKind::Interrupted, e.to_string())
            } else if crate::source::io::is_shrank(&e) {
                (ProblemKind::Changed, e.to_string())
            } else {
                (ProblemKind::Unreadable, format!("cannot read: {e}"))
            };
            emit(problem(source, &entry, kind, message));
            if hits.is_empty() && found.is_empty() {
                return;
            }
            (Digests::default(), 0)
        }
    };
    // Read whole (`bytes` is 0 otherwise): to hash it, or to search it.
    if (!want.is_empty() || bytes > 0) && bytes != size {
        emit(problem(
            source,
            &entry,
            ProblemKind::Changed,
            format!(
                "size changed while scanning: {size} bytes at the walk, {bytes} bytes read; digests are of the bytes read"
            ),
        ));
    }
    let mut done = Done {
        bytes,
        hits,
        found,
        registry,
        content,
    };
    // A log whose MD5 waits is matched, and its evidence told, once the
    // lanes computed it; other files now.
    if !md5_waits {
        let path_hits = done.hits.len();
        done.match_digests(ctx, &digests);
        let evidence = done.hits.len() > path_hits || done.holds_findings();
        let missing = DigestSet::ALL.minus(digests.computed());
        if !evidence || missing.is_empty() {
            return done.emit(source, &entry, &digests, emit);
        }
        if !ctx.filling.gathers(missing) {
            let mut digests = digests;
            fill_digests(source, &entry, &mut digests, bytes, buf, emit);
            return done.emit(source, &entry, &digests, emit);
        }
    }
    let waiting = super::fill::Waiting {
        source,
        entry,
        digests,
        done,
        unmatched: md5_waits,
    };
    ctx.filling.add(waiting, ctx, emit);
}

/// What a file's scan found, emitted once its digests are complete.
pub(super) struct Done {
    /// Bytes the first read read (0 if it failed).
    pub(super) bytes: u64,
    hits: Vec<Hit>,
    found: Vec<(Fired, Box<Record>)>,
    registry: kept::Found,
    content: Vec<(IocIdx, ContentHit, String)>,
}

impl Done {
    /// Matches the file's digests, once all are known (see [`md5_waits`]).
    pub(super) fn match_digests(&mut self, ctx: &Ctx, digests: &Digests) {
        ctx.matcher.match_digests(digests, &mut self.hits);
    }

    /// Whether it found something inside the file (records that fired,
    /// registry keys, programs, network IOCs in its bytes).
    fn holds_findings(&self) -> bool {
        !self.found.is_empty()
            || !self.registry.items.is_empty()
            || !self.registry.programs.is_empty()
            || !self.content.is_empty()
    }

    /// The file's scanned event and its evidence, carrying `digests`.
    pub(super) fn emit(self, source: usize, entry: &FileEntry, digests: &Digests, emit: Emit) {
        let Done {
            bytes,
            hits,
            found,
            registry,
            content,
        } = self;
        emit(ScanEvent::FileScanned { source, bytes });
        for hit in hits {
            emit(evidence(source, entry, hit.into(), digests, None));
        }
        for (hit, record) in found {
            emit(evidence(
                source,
                entry,
                hit,
                digests,
                Some(Inner::Record(record)),
            ));
        }
        emit_found(source, entry, registry, digests, emit);
        for (ioc, found, text) in content {
            let hit = Hit {
                ioc,
                field: "content".into(),
                value: text,
            };
            let inner = Some(Inner::Content(Box::new(found)));
            emit(evidence(source, entry, hit.into(), digests, inner));
        }
    }
}

/// The evidence of what fired inside a kept file (a hive's keys and
/// values, the programs a trace records).
pub(super) fn emit_found(
    source: usize,
    entry: &FileEntry,
    found: kept::Found,
    digests: &Digests,
    emit: Emit,
) {
    for (hit, program) in found.programs {
        let inner = Some(Inner::Program(program));
        emit(evidence(source, entry, hit, digests, inner));
    }
    for (hit, item) in found.items {
        let inner = Some(Inner::Registry(item));
        emit(evidence(source, entry, hit, digests, inner));
    }
}

/// What inside a file a finding was made in.
enum Inner {
    Record(Box<Record>),
    Registry(Box<RegistryItem>),
    Content(Box<ContentHit>),
    Program(Box<Program>),
}

/// Reads the content once: computes `want`, and when the first bytes say
/// the file is an event log, parses it from the same bytes (into `log`);
/// any other file's bytes are searched for network IOCs with `--content`.
/// With nothing to hash or search, only the first bytes of a file that is
/// not a log are read.
fn read_and_hash(
    content: &dyn Content,
    plan: &Plan,
    buf: &mut ReadBuf,
    log: &LogScan,
) -> std::io::Result<Read1> {
    let want = plan.want;
    let mut head = [0u8; artifact::HEAD_LEN];
    let size = log.entry.meta.size;
    if want.is_empty() && !plan.content {
        let n = read_full(&mut content.open()?, &mut head)?;
        let kept = Kept::start(&head[..n], size, log.ctx).is_some();
        if artifact::parser_for(&head[..n]).is_none() && !kept {
            return Ok(Read1 {
                digests: Digests::default(),
                bytes: 0,
                head,
                head_len: n,
                kept: None,
                content: Vec::new(),
                md5_waits: false,
            });
        }
    }
    let mut head_len = 0;
    let mut md5_waits = false;
    let mut hasher: Option<MultiHasher> = None;
    let sink = |item| log.on_item(item);
    let mut stream: Option<Box<dyn LogStream + '_>> = None;
    let mut kept: Option<Kept> = None;
    // Logs and hives are searched field by field, not byte by byte.
    let mut search = None;
    let n = content.pump(buf, &mut |chunk| {
        let h = hasher.get_or_insert_with(|| {
            head_len = chunk.len().min(artifact::HEAD_LEN);
            head[..head_len].copy_from_slice(&chunk[..head_len]);
            stream = artifact::parser_for(&head[..head_len]).map(|p| log.start(p, &sink));
            kept = Kept::start(&head[..head_len], size, log.ctx);
            let parsed = stream.is_some() || kept::Kind::of(&head[..head_len]).is_some();
            search = log
                .ctx
                .matcher
                .content()
                .filter(|_| !parsed)
                .map(|c| c.stream());
            md5_waits = stream.is_some() && self::md5_waits(log.entry, log.ctx, want);
            MultiHasher::new(if md5_waits {
                want.minus(DigestSet {
                    md5: true,
                    ..DigestSet::NONE
                })
            } else {
                want
            })
        });
        h.update(chunk);
        if let Some(c) = &mut search {
            c.feed(chunk);
        }
        if let Some(s) = &mut stream {
            s.feed(chunk);
        }
        if let Some(k) = &mut kept {
            k.feed(chunk);
        }
    })?;
    if let Some(Err(e)) = stream.map(|s| s.finish()) {
        log.damaged_log(e);
    }
    // An empty file has digests too (MD5 d41d8cd9…): a hasher that saw no
    // chunk still finishes.
    let digests = match hasher {
        _ if want.is_empty() => Digests::default(),
        Some(h) => h.finish(),
        None => MultiHasher::new(want).finish(),
    };
    Ok(Read1 {
        digests,
        bytes: if want.is_empty() && search.is_none() {
            0
        } else {
            n
        },
        head,
        head_len,
        kept,
        content: search.map(|c| c.finish()).unwrap_or_default(),
        md5_waits,
    })
}

/// What the one read of a file gives.
pub(super) struct Read1 {
    pub digests: Digests,
    /// Bytes read whole, to hash or search them; 0 for a file of which
    /// only the first bytes were needed.
    pub bytes: u64,
    /// The first bytes, for recognising what the file is.
    pub head: [u8; artifact::HEAD_LEN],
    pub head_len: usize,
    /// A hive's or prefetch file's bytes, kept to be parsed.
    pub kept: Option<Kept>,
    /// Network IOCs found in the bytes: IOC, where, matched text.
    pub content: Vec<(IocIdx, ContentHit, String)>,
    /// A log whose MD5 was left for the lanes ([`md5_waits`]): its
    /// digests are matched once it is known.
    pub md5_waits: bool,
}

/// Logs larger than this compute their MD5 as they are read: the lanes
/// read a waiting log again, from the page cache while it is still there.
const MD5_WAITS_MAX: u64 = 32 << 20;

/// Whether the event log `entry`, read for all three digests, leaves its
/// MD5 to be computed with other files' in vector lanes (`super::fill`),
/// its digests matched then. A log goes the one-file way (its parse
/// consumes the stream), where MD5 runs alone at ~0.7 GB/s a core: it was
/// 40% of the CPU of a scan of the corpus logs with signature-base's hash
/// IOCs. Read again with fifteen others it costs a copy from the page cache
/// and a sixteenth of a vector. Host files only: a file inside an image
/// would be decompressed or walked again.
fn md5_waits(entry: &FileEntry, ctx: &Ctx, want: DigestSet) -> bool {
    want == DigestSet::ALL
        && entry.host_path.is_some()
        && entry.meta.size <= MD5_WAITS_MAX
        && ctx.filling.gathers(DigestSet::ALL)
}

/// A file met in the walk that is itself a disk image (an E01 in a case
/// folder): hashed and matched as a file like any other, and, when it is a
/// file of the host, opened and scanned inside too, its entries spread over
/// the workers like the walk's. An image inside an image is hashed and
/// listed, not opened (a bound on nesting, and the crates open by path).
fn nested_image(source: usize, entry: &FileEntry, head: &[u8], ctx: &Ctx, emit: Emit) {
    let Some(format) = crate::source::container::nested_image(head, &entry.path) else {
        return;
    };
    let host = entry
        .host_path
        .as_ref()
        .filter(|_| entry.meta.volume.is_none());
    let Some(host) = host else {
        emit(problem(
            source,
            entry,
            ProblemKind::NestedImage,
            format!(
                "disk image ({format}) inside an image: hashed and matched as a file; its \
                 contents were not scanned (extract it and give it as a target)"
            ),
        ));
        return;
    };
    let path = host_path(host);
    match crate::source::container::open(&path, format) {
        Ok(opened) => {
            let image = ImageSource::nested(format, opened, entry.path.clone())
                .with_options(ctx.stop, ctx.verify_image);
            super::until_stopped(image.entries(), ctx.stop)
                .par_bridge()
                .for_each_init(
                    || ReadBuf::for_scan(ctx.stop),
                    |buf, item| run_item(source, item, ctx, buf, emit),
                );
            // Its facts belong to no target's summary; its damage is listed.
            for problem in image.finish().problems {
                emit(ScanEvent::Problem { source, problem });
            }
        }
        Err(e) => emit(problem(
            source,
            entry,
            ProblemKind::Unreadable,
            format!("disk image ({format}) hashed as a file, but its contents not scanned: {e}"),
        )),
    }
}

#[cfg(unix)]
pub(super) fn host_path(p: &EvidencePath) -> std::path::PathBuf {
    use std::os::unix::ffi::OsStrExt;
    std::path::PathBuf::from(std::ffi::OsStr::from_bytes(p.as_bytes()))
}

#[cfg(not(unix))]
pub(super) fn host_path(p: &EvidencePath) -> std::path::PathBuf {
    std::path::PathBuf::from(p.display())
}

/// Fills `buf` unless the reader ends first; returns the bytes read.
pub(super) fn read_full(r: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    read_upto(r, buf, u64::MAX)
}

/// [`read_full`] of a file that should hold `left` more bytes: a short read
/// that ends exactly there is the end (as in `source::io`'s sized pump), so
/// a small file costs one `read`, not a second to see end-of-file.
pub(super) fn read_upto(r: &mut dyn Read, buf: &mut [u8], left: u64) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        let want = buf.len() - n;
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => {
                n += k;
                if k < want && n as u64 == left {
                    break;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Computes the digests the first pass skipped, for evidence.
fn fill_digests(
    source: usize,
    entry: &FileEntry,
    digests: &mut Digests,
    first: u64,
    buf: &mut ReadBuf,
    emit: Emit,
) {
    let missing = DigestSet::ALL.minus(digests.computed());
    if missing.is_empty() {
        return;
    }
    let again = hash_content(&*entry.content, missing, buf);
    super::fill::reread(source, entry, digests, first, again, false, emit);
}

/// Matches the records of the log being read and lists its damage.
/// Record evidence is held until the log is done, so the log's missing
/// digests are computed once, and only for logs that hold evidence.
struct LogScan<'a> {
    source: usize,
    entry: &'a FileEntry,
    ctx: &'a Ctx<'a>,
    emit: Emit<'a>,
    /// Whether the file turned out to be a log (its parse started).
    started: AtomicBool,
    records: AtomicU64,
    found: Mutex<Vec<(Fired, Box<Record>)>>,
}

impl<'a> LogScan<'a> {
    fn new(source: usize, entry: &'a FileEntry, ctx: &'a Ctx<'a>, emit: Emit<'a>) -> Self {
        LogScan {
            source,
            entry,
            ctx,
            emit,
            started: AtomicBool::new(false),
            records: AtomicU64::new(0),
            found: Mutex::new(Vec::new()),
        }
    }

    /// One record or damaged part; called from any thread.
    fn on_item(&self, item: RecordItem) {
        match item {
            RecordItem::Record(rec) => {
                self.records.fetch_add(1, Ordering::Relaxed);
                let mut hits = Vec::new();
                self.ctx.matcher.match_record(&rec, &mut hits);
                let mut fired: Vec<Fired> = hits.into_iter().map(Fired::from).collect();
                fired.extend(
                    self.ctx
                        .rules
                        .match_record(&rec)
                        .into_iter()
                        .map(Fired::from),
                );
                if !fired.is_empty() {
                    let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
                    found.extend(fired.into_iter().map(|f| (f, rec.clone())));
                }
            }
            RecordItem::Filtered => {
                self.records.fetch_add(1, Ordering::Relaxed);
            }
            RecordItem::Damage(d) => {
                let (kind, at) = match d.kind {
                    DamageKind::Chunk => {
                        (ProblemKind::CorruptChunk, format!("chunk {}", opt(d.chunk)))
                    }
                    DamageKind::Record => (
                        ProblemKind::CorruptRecord,
                        format!("record {} in chunk {}", opt(d.record_id), opt(d.chunk)),
                    ),
                };
                (self.emit)(problem_at(
                    self.source,
                    self.entry,
                    kind,
                    format!("{at}: {}", d.message),
                    At {
                        offset: d.offset,
                        chunk: d.chunk,
                        record: d.record_id,
                        ..At::default()
                    },
                ));
            }
        }
    }

    /// The log could not be parsed at all.
    fn damaged_log(&self, message: String) {
        (self.emit)(problem(
            self.source,
            self.entry,
            ProblemKind::CorruptLog,
            message,
        ));
    }

    /// Starts parsing the file as a log of `parser`'s format, its records
    /// going to `sink`.
    fn start<'s>(
        &'s self,
        parser: &dyn RecordParser,
        sink: artifact::RecordSink<'s>,
    ) -> Box<dyn LogStream + 's> {
        self.started.store(true, Ordering::Relaxed);
        self.ctx.matcher.prepare_records();
        parser.start(self.ctx, sink)
    }

    /// Reports the records counted (when the file was a log, even if its
    /// read failed part way) and hands over the record hits, a carved copy
    /// identical to another record of the log counted on it rather than
    /// listed again.
    fn finish(self) -> Vec<(Fired, Box<Record>)> {
        if self.started.into_inner() {
            (self.emit)(ScanEvent::RecordsScanned {
                source: self.source,
                records: self.records.into_inner(),
            });
        }
        fold_carved_copies(self.found.into_inner().unwrap_or_else(|p| p.into_inner()))
    }
}

/// Keeps one hit per identical record: a live record over its carved
/// copies (or the first carved copy when none is live), counting the
/// others in `carved_copies`. Identical means the same content; where a
/// copy sits (chunk, header number) and whether it was carved do not count.
fn fold_carved_copies(mut found: Vec<(Fired, Box<Record>)>) -> Vec<(Fired, Box<Record>)> {
    if found.len() < 2 || !found.iter().any(|(_, r)| r.recovered) {
        return found;
    }
    let same = |a: &(Fired, Box<Record>), b: &(Fired, Box<Record>)| {
        let (x, y) = (&a.1, &b.1);
        a.0 == b.0
            && x.record_id == y.record_id
            && x.timestamp == y.timestamp
            && x.event_id == y.event_id
            && x.provider == y.provider
            && x.channel == y.channel
            && x.computer == y.computer
            && x.user == y.user
            && x.data == y.data
    };
    // Live records first, then by position, so the one kept is the live
    // one, or the first copy.
    found.sort_by(|a, b| {
        (
            &a.0,
            a.1.record_id,
            a.1.recovered,
            a.1.chunk,
            a.1.record_number,
        )
            .cmp(&(
                &b.0,
                b.1.record_id,
                b.1.recovered,
                b.1.chunk,
                b.1.record_number,
            ))
    });
    let mut out: Vec<(Fired, Box<Record>)> = Vec::with_capacity(found.len());
    for item in found {
        match out
            .iter_mut()
            .rev()
            .take_while(|k| k.0 == item.0 && k.1.record_id == item.1.record_id)
            .find(|k| same(k, &item))
        {
            Some(kept) if item.1.recovered => kept.1.carved_copies += 1,
            _ => out.push(item),
        }
    }
    out
}

/// What fired, whatever the detection kind: an IOC hit or a rule's match.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Fired {
    detection: Detection,
    field: String,
    value: String,
    /// A rule's matched fields (the first is `field`/`value`).
    matched: Vec<(String, String)>,
}

impl From<Hit> for Fired {
    fn from(hit: Hit) -> Fired {
        Fired {
            detection: Detection::Ioc { ioc: hit.ioc },
            field: hit.field,
            value: hit.value,
            matched: Vec::new(),
        }
    }
}

impl From<RuleHit> for Fired {
    /// A rule that fired on a keyword alone names no field.
    fn from(hit: RuleHit) -> Fired {
        let (field, value) = hit.fields.first().cloned().unwrap_or_default();
        Fired {
            detection: Detection::Rule { rule: hit.rule },
            field,
            value,
            matched: hit.fields,
        }
    }
}

/// A finding of what fired on the file `entry` or, with `inner`, on one
/// of its records or registry keys.
fn evidence(
    source: usize,
    entry: &FileEntry,
    hit: Fired,
    digests: &Digests,
    inner: Option<Inner>,
) -> ScanEvent {
    let file = FileFacts {
        meta: entry.meta.clone(),
        digests: digests.clone(),
    };
    ScanEvent::Finding(Box::new(Finding {
        detection: hit.detection,
        field: hit.field,
        value: hit.value,
        matched: hit.matched,
        artifact: match inner {
            Some(Inner::Record(record)) => Artifact::Record { log: file, record },
            Some(Inner::Registry(item)) => Artifact::Registry { hive: file, item },
            Some(Inner::Content(hit)) => Artifact::Content { file, hit },
            Some(Inner::Program(program)) => Artifact::Executed {
                trace: file,
                program,
            },
            None => Artifact::File { file },
        },
        location: Location {
            source,
            path: entry.path.clone(),
            host_path: entry.host_path.clone(),
            volume: entry.meta.volume.clone(),
        },
    }))
}

fn opt(n: Option<u64>) -> String {
    n.map_or_else(|| "?".into(), |n| n.to_string())
}

fn hash_content(
    content: &dyn Content,
    set: DigestSet,
    buf: &mut ReadBuf,
) -> std::io::Result<(Digests, u64)> {
    let mut hasher = MultiHasher::new(set);
    let n = content.pump(buf, &mut |chunk| hasher.update(chunk))?;
    Ok((hasher.finish(), n))
}
