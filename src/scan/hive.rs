//! Registry hives met in the walk (by their `regf` signature, whatever
//! their name, on host folders and inside images): their bytes are kept
//! during the file's one read, the transaction logs of a dirty one applied
//! in memory (beside a host file at once; inside an image once the image's
//! walk has met them, see `parked`), then every key and value is matched,
//! and what could not be read is listed with its cell offset. A user's
//! hive waits for its source's walk to end (`parked`) so that its keys are
//! also named under its owner's SID, which a SOFTWARE hive names.

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
    let primary = base.as_ref().is_some_and(|b| b.file_type == 0);
    if let Some(key) = &in_image
        && base.is_some()
        && !primary
    {
        // A transaction log inside an image: held for its hive, which the
        // walk may meet later (a log has no keys of its own).
        ctx.parked.keep_log(source, entry, key.clone(), bytes);
        return Found::default();
    }
    let dirty = primary && base.as_ref().is_some_and(|b| b.dirty());
    let user = primary && is_user_hive(entry, base.as_ref());
    if user || (dirty && in_image.is_some()) {
        match ctx.parked.park(source, entry, user, bytes) {
            Ok(()) => return Found::default(),
            Err(back) => bytes = back,
        }
        let why = "too many hive bytes are held already";
        if dirty && in_image.is_some() {
            let why = format!("{why} for their logs");
            report(seqs_of(&bytes), Err(why), &listed);
        }
        if user {
            unowned(ctx, why, &listed);
        }
    }
    if dirty && in_image.is_none() {
        replay_logs(entry, &mut bytes, &listed);
    }
    read_keys(source, entry, &bytes, None, ctx, &listed)
}

/// Whether the hive file `entry` is a user's (by its name, else by the
/// path it records of itself).
fn is_user_hive(entry: &FileEntry, base: Option<&registry::hive::BaseBlock>) -> bool {
    let recorded = base.map_or("", |b| b.file_name.as_str());
    registry::mount_point(&entry.path.display(), recorded).is_some_and(registry::is_user_mount)
}

/// Lists a user's hive read without knowing its owner, when the bundle has
/// IOCs that name a user by SID (`HKU\<SID>\…`): those were not matched
/// on it.
fn unowned(ctx: &Ctx, why: &str, listed: &dyn Fn(ProblemKind, String, Option<u32>)) {
    if ctx.matcher.wants_user_sid() {
        listed(
            ProblemKind::HiveOwnerUnknown,
            format!(
                "a user's hive whose owner is not known ({why}): RegistryKey IOCs naming \
                 HKU\\<SID> were not matched on it (HKCU ones were)"
            ),
            None,
        );
    }
}

/// The dirty hives of an image's walk, once it is done: the logs met
/// beside each (`NAME.LOG1`, `.LOG2`, `.LOG`) are applied in memory, its
/// keys matched, and its evidence and damage emitted.
pub(super) fn scan_parked(source: usize, ctx: &Ctx, emit: Emit) {
    let (hives, logs) = ctx.parked.take(source);
    for w in hives {
        let entry = &w.entry;
        if ctx.stop.requested().is_some() {
            let why = "stopped before its source's walk ended: its transaction logs were not \
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
        let mut bytes = w.bytes.to_vec();
        let dirty = registry::hive::BaseBlock::parse(&bytes).is_ok_and(|b| b.dirty());
        match parked::key(entry) {
            Some(key) if dirty => {
                let beside: Vec<(String, &[u8])> = ["log1", "log2", "log"]
                    .iter()
                    .filter_map(|ext| {
                        let (name, log) = logs.get(&format!("{key}.{ext}"))?;
                        Some((name.clone(), &log[..]))
                    })
                    .collect();
                let seqs = seqs_of(&bytes);
                let outcome = if beside.is_empty() {
                    Err("no transaction log (.LOG1/.LOG2) beside it in the image".into())
                } else {
                    let mut r = registry::log::recover(&mut bytes, &beside, MAX_HIVE as usize);
                    r.logs = beside.len();
                    Ok(r)
                };
                report(seqs, outcome, &listed);
            }
            None if dirty => replay_logs(entry, &mut bytes, &listed),
            _ => {}
        }
        let sid = w.user.then(|| ctx.parked.owner(source, entry)).flatten();
        if w.user && sid.is_none() {
            let why = "no SOFTWARE hive of its volume lists its folder in ProfileList";
            unowned(ctx, why, &listed);
        }
        let found = read_keys(source, entry, &bytes, sid.as_deref(), ctx, &listed);
        // The evidence carries the digests of the file as read.
        let digests = crate::hash::digest_bytes(crate::hash::DigestSet::ALL, &w.bytes);
        super::worker::emit_found(source, entry, found, &digests, emit);
    }
}

/// Every key and value of the hive in `bytes` matched (a user's hive's
/// also under its owner's `sid`), and every program it records; damage
/// listed. The profiles a SOFTWARE hive lists are kept for its users'.
fn read_keys(
    source: usize,
    entry: &FileEntry,
    bytes: &[u8],
    sid: Option<&str>,
    ctx: &Ctx,
    listed: &dyn Fn(ProblemKind, String, Option<u32>),
) -> Found {
    let mut found = Found::default();
    let mut hits = Vec::new();
    let mut programs = Programs::default();
    let mut profiles = Vec::new();
    let name = entry.path.display();
    let damage = registry::scan(bytes, &name, sid, |item| {
        if item.hive == "HKLM\\SOFTWARE"
            && let Some(p) = registry::profiles::profile_of(item)
        {
            profiles.push(p);
        }
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
    ctx.parked.add_profiles(source, entry, profiles);
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
