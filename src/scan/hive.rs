//! Registry hives met in the walk (by their `regf` signature, whatever
//! their name, on host folders and inside images): their bytes are kept
//! during the file's one read, the transaction logs of a dirty one applied
//! in memory (beside a host file at once; inside an image once the image's
//! walk has met them, see `parked`), then every key and value is matched,
//! and what could not be read is listed with its cell offset.

use crate::artifact::registry;
use crate::artifact::registry::amcache::Programs;
use crate::source::{At, FileEntry, ProblemKind};

use super::kept::{Found, Kept};
use super::parked;
use super::worker::{Ctx, Emit, Fired, problem_at};

/// Hives larger than this are hashed and matched as files, their keys not
/// read (listed): a hive is parsed in memory, and Windows' own hives stay
/// far below (a large SOFTWARE is a few hundred MB).
pub(super) const MAX_HIVE: u64 = 1 << 30;

/// Matches every key and value of the hive whose bytes are `hive`, and
/// every program it records. Damage, a dirty hive and a hive too large are
/// listed.
pub(super) fn scan(source: usize, entry: &FileEntry, hive: Kept, ctx: &Ctx, emit: Emit) -> Found {
    let listed = |kind, message: String, cell: Option<u32>| {
        let at = At {
            offset: cell.map(|c| registry::hive::BASE_BLOCK as u64 + u64::from(c)),
            ..At::default()
        };
        emit(problem_at(source, entry, kind, message, at));
    };
    if hive.over {
        listed(
            ProblemKind::CorruptHive,
            format!(
                "registry hive larger than {MAX_HIVE} bytes: hashed and matched as a file, its keys \
                 not read"
            ),
            None,
        );
        return Found::default();
    }
    let mut bytes = hive.bytes;
    let base = registry::hive::BaseBlock::parse(&bytes).ok();
    let in_image = parked::key(entry);
    if let (Some(b), Some(key)) = (&base, &in_image) {
        // A transaction log inside an image: held for its hive, which the
        // walk may meet later (a log has no keys of its own).
        if b.file_type != 0 {
            ctx.parked.keep_log(source, entry, key.clone(), bytes);
            return Found::default();
        }
        if b.dirty() {
            match ctx.parked.park(source, entry, key.clone(), bytes) {
                Ok(()) => return Found::default(),
                Err(back) => {
                    bytes = back;
                    let why = "too many hive bytes are held for their logs already";
                    report(seqs_of(&bytes), Err(why.into()), &listed);
                }
            }
        }
    } else if base.is_some_and(|b| b.dirty() && b.file_type == 0) {
        replay_logs(entry, &mut bytes, &listed);
    }
    read_keys(entry, &bytes, ctx, &listed)
}

/// The dirty hives of an image's walk, once it is done: the logs met
/// beside each (`NAME.LOG1`, `.LOG2`, `.LOG`) are applied in memory, its
/// keys matched, and its evidence and damage emitted.
pub(super) fn scan_parked(source: usize, ctx: &Ctx, emit: Emit) {
    let (hives, logs) = ctx.parked.take(source);
    for w in hives {
        let entry = &w.entry;
        if ctx.stop.requested().is_some() {
            let why = "stopped before the image's walk ended: its transaction logs were not \
                       applied and its keys not read";
            emit(problem_at(
                source,
                entry,
                ProblemKind::Interrupted,
                why.into(),
                At::default(),
            ));
            continue;
        }
        let listed = |kind, message: String, cell: Option<u32>| {
            let at = At {
                offset: cell.map(|c| registry::hive::BASE_BLOCK as u64 + u64::from(c)),
                ..At::default()
            };
            emit(problem_at(source, entry, kind, message, at));
        };
        let beside: Vec<(String, &[u8])> = ["log1", "log2", "log"]
            .iter()
            .filter_map(|ext| {
                let (name, log) = logs.get(&format!("{}.{ext}", w.key))?;
                Some((name.clone(), &log[..]))
            })
            .collect();
        let mut bytes = w.bytes.to_vec();
        let seqs = seqs_of(&bytes);
        let outcome = if beside.is_empty() {
            Err("no transaction log (.LOG1/.LOG2) beside it in the image".into())
        } else {
            let mut r = registry::log::recover(&mut bytes, &beside, MAX_HIVE as usize);
            r.logs = beside.len();
            Ok(r)
        };
        report(seqs, outcome, &listed);
        let found = read_keys(entry, &bytes, ctx, &listed);
        // The evidence carries the digests of the file as read.
        let digests = crate::hash::digest_bytes(crate::hash::DigestSet::ALL, &w.bytes);
        super::worker::emit_found(source, entry, found, &digests, emit);
    }
}

/// Every key and value of the hive in `bytes` matched, and every program
/// it records; damage listed.
fn read_keys(
    entry: &FileEntry,
    bytes: &[u8],
    ctx: &Ctx,
    listed: &dyn Fn(ProblemKind, String, Option<u32>),
) -> Found {
    let mut found = Found::default();
    let mut hits = Vec::new();
    let mut programs = Programs::default();
    let name = entry.path.display();
    let damage = registry::scan(bytes, &name, |item| {
        if programs.offer(item) {
            return;
        }
        ctx.matcher.match_registry(item, &mut hits);
        for hit in hits.drain(..) {
            found.items.push((Fired::from(hit), Box::new(item.clone())));
        }
    });
    for program in programs.finish() {
        ctx.matcher.match_program(&program, &mut hits);
        let program = Box::new(program);
        for hit in hits.drain(..) {
            found.programs.push((Fired::from(hit), program.clone()));
        }
    }
    match damage {
        Err(e) => listed(ProblemKind::CorruptHive, e, None),
        Ok(damage) => {
            for d in damage {
                listed(
                    ProblemKind::CorruptHive,
                    format!("cell {:#x}: {}", d.cell, d.message),
                    Some(d.cell),
                );
            }
        }
    }
    found
}

/// " (sequence numbers P and S)" of a hive, for messages.
fn seqs_of(bytes: &[u8]) -> String {
    registry::hive::BaseBlock::parse(bytes).map_or_else(
        |_| String::new(),
        |b| {
            format!(
                " (sequence numbers {} and {})",
                b.primary_seq, b.secondary_seq
            )
        },
    )
}

/// Applies the transaction logs beside a dirty hive file on the host to
/// its bytes (in memory), and lists the outcome.
fn replay_logs(
    entry: &FileEntry,
    bytes: &mut Vec<u8>,
    listed: &dyn Fn(ProblemKind, String, Option<u32>),
) {
    let seqs = seqs_of(bytes);
    let outcome = match &entry.host_path {
        None => Err("its transaction logs cannot be looked up where it is".into()),
        Some(host) => {
            let path = super::worker::host_path(host);
            let read = |p: &std::path::Path| crate::source::io::read_evidence(p, false, MAX_HIVE);
            let r = registry::replay_host_logs(&path, bytes, MAX_HIVE as usize, read);
            if r.logs == 0 {
                Err("no transaction log (.LOG1/.LOG2) beside it".into())
            } else {
                Ok(r)
            }
        }
    };
    report(seqs, outcome, listed);
}

/// Lists what a log replay did to a dirty hive: a note of what was
/// applied from which log, or `hiveLogsNotApplied` with why not.
fn report(
    seqs: String,
    outcome: Result<registry::log::Recovery, String>,
    listed: &dyn Fn(ProblemKind, String, Option<u32>),
) {
    let not_applied = |why: String| {
        listed(
            ProblemKind::HiveLogsNotApplied,
            format!(
                "the hive is dirty{seqs}: {why}; keys written since its last flush may be \
                 missing or older"
            ),
            None,
        )
    };
    let r = match outcome {
        Ok(r) => r,
        Err(why) => return not_applied(why),
    };
    let applied: Vec<String> = r
        .applied
        .iter()
        .map(|(n, k)| format!("{k} from {n}"))
        .collect();
    let stopped = r.stopped;
    if applied.is_empty() {
        return not_applied(format!("no log entry applied ({})", stopped.join("; ")));
    }
    let mut tail: String = r.notes.iter().map(|n| format!("; {n}")).collect();
    if !stopped.is_empty() {
        tail.push_str(&format!("; not applied: {}", stopped.join("; ")));
    }
    listed(
        ProblemKind::HiveLogsApplied,
        format!(
            "the hive was dirty{seqs}: its transaction logs were applied in memory ({}; {} \
             dirty pages){tail}",
            applied.join(", "),
            r.pages
        ),
        None,
    );
}
