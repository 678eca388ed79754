//! Registry hives met in the walk (by their `regf` signature, whatever
//! their name, on host folders and inside images): their bytes are kept
//! during the file's one read, then every key and value is matched, and
//! what could not be read is listed with its cell offset.

use crate::artifact::registry;
use crate::artifact::registry::amcache::Programs;
use crate::source::{At, FileEntry, ProblemKind};

use super::kept::{Found, Kept};
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
    let dirty =
        registry::hive::BaseBlock::parse(&bytes).is_ok_and(|b| b.dirty() && b.file_type == 0);
    if dirty {
        replay_logs(entry, &mut bytes, &listed);
    }
    let mut found = Found::default();
    let mut hits = Vec::new();
    let mut programs = Programs::default();
    let name = entry.path.display();
    let damage = registry::scan(&bytes, &name, |item| {
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

/// Applies the transaction logs beside a dirty hive to its bytes (in
/// memory), listing what was applied as a note, and what could not be as
/// `hiveLogsNotApplied`. Logs are looked up beside host files; inside an
/// image they are not yet.
fn replay_logs(
    entry: &FileEntry,
    bytes: &mut Vec<u8>,
    listed: &dyn Fn(ProblemKind, String, Option<u32>),
) {
    let base = registry::hive::BaseBlock::parse(bytes).ok();
    let seqs = base.map_or_else(String::new, |b| {
        format!(
            " (sequence numbers {} and {})",
            b.primary_seq, b.secondary_seq
        )
    });
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
    let host = entry
        .host_path
        .as_ref()
        .filter(|_| entry.meta.volume.is_none());
    let Some(host) = host else {
        return not_applied(
            "it is inside a disk image, where its transaction logs are not looked up yet".into(),
        );
    };
    let path = super::worker::host_path(host);
    let read = |p: &std::path::Path| crate::source::io::read_evidence(p, false, MAX_HIVE);
    let r = registry::replay_host_logs(&path, bytes, MAX_HIVE as usize, read);
    if r.logs == 0 {
        return not_applied("no transaction log (.LOG1/.LOG2) beside it".into());
    }
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
