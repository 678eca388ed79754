//! What one worker does with one entry: match its name and path, read it
//! once computing only the digests needed, match the digests, and for
//! evidence fill in the digests the first pass skipped.

use crate::hash::{DigestSet, Digests, MultiHasher};
use crate::matcher::Matcher;
use crate::report::{Evidence, ScanEvent};
use crate::source::{Content, EvidencePath, FileEntry, Problem, ProblemKind, ReadBuf, SourceItem};

use super::Progress;

pub(super) struct Ctx<'a> {
    pub matcher: &'a Matcher,
    pub max_file_size: Option<u64>,
    pub progress: &'a dyn Progress,
}

pub(super) fn item_path(item: &SourceItem) -> EvidencePath {
    match item {
        SourceItem::File(f) => f.path.clone(),
        SourceItem::Problem(p) => p.path.clone(),
    }
}

pub(super) fn process(
    source: usize,
    item: SourceItem,
    ctx: &Ctx,
    buf: &mut ReadBuf,
    emit: &mut dyn FnMut(ScanEvent),
) {
    match item {
        SourceItem::Problem(problem) => emit(ScanEvent::Problem { source, problem }),
        SourceItem::File(entry) => {
            let size = entry.meta.size;
            process_file(source, entry, ctx, buf, emit);
            ctx.progress.file_done(size);
        }
    }
}

fn process_file(
    source: usize,
    entry: FileEntry,
    ctx: &Ctx,
    buf: &mut ReadBuf,
    emit: &mut dyn FnMut(ScanEvent),
) {
    let problem = |kind, message| ScanEvent::Problem {
        source,
        problem: Problem {
            path: entry.path.clone(),
            kind,
            message,
        },
    };
    let mut hits = Vec::new();
    ctx.matcher.match_path(&entry.path.display(), &mut hits);

    let size = entry.meta.size;
    // Evidence gets its digests whatever its size.
    if let Some(limit) = ctx.max_file_size.filter(|&m| size > m && hits.is_empty()) {
        emit(problem(
            ProblemKind::SizeLimit,
            format!(
                "{size} bytes is over --max-file-size {limit}: matched by name and path only, not read"
            ),
        ));
        return;
    }

    // A name or path hit makes this file evidence: compute all three digests
    // in the one pass instead of reading it twice.
    let want = if hits.is_empty() {
        ctx.matcher.digests_needed()
    } else {
        DigestSet::ALL
    };
    let mut digests = Digests::default();
    let mut bytes = 0;
    if !want.is_empty() {
        match hash_content(&*entry.content, want, buf) {
            Ok((d, n)) => {
                digests = d;
                bytes = n;
                if n != size {
                    emit(problem(
                        ProblemKind::Changed,
                        format!(
                            "size changed while scanning: {size} bytes at the walk, {n} bytes read; digests are of the bytes read"
                        ),
                    ));
                }
            }
            Err(e) => {
                emit(problem(
                    ProblemKind::Unreadable,
                    format!("cannot read: {e}"),
                ));
                if hits.is_empty() {
                    return;
                }
            }
        }
    }

    let path_hits = hits.len();
    ctx.matcher.match_digests(&digests, &mut hits);
    if hits.len() > path_hits {
        let missing = DigestSet::ALL.minus(digests.computed());
        if !missing.is_empty() {
            match hash_content(&*entry.content, missing, buf) {
                Ok((d, _)) => digests.fill_from(&d),
                Err(e) => emit(problem(
                    ProblemKind::Unreadable,
                    format!("cannot re-read evidence for its other digests: {e}"),
                )),
            }
        }
    }

    emit(ScanEvent::FileScanned { source, bytes });
    for hit in hits {
        emit(ScanEvent::Evidence(Box::new(Evidence {
            source,
            hit,
            path: entry.path.clone(),
            host_path: entry.host_path.clone(),
            meta: entry.meta.clone(),
            digests: digests.clone(),
        })));
    }
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
