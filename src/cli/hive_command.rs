//! `breachscan hive dump`: every key and value of a registry hive file as
//! JSON lines, named as a scan names them (what an analyst reads to write
//! or check a `RegistryKey` IOC), and the damage met, on stderr.

use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, Result};

use crate::artifact::registry;

/// Hives and logs are read up to this many bytes (as a scan reads them).
const LIMIT: usize = 1 << 30;

/// Exit 0 when the hive was read whole, 1 when parts were damaged, 2 when
/// it is no hive or cannot be read.
pub fn dump(path: &Path, logs: bool) -> Result<u8> {
    let read = |p: &Path| crate::source::io::read_evidence(p, true, LIMIT as u64);
    let mut bytes = read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let dirty = registry::hive::BaseBlock::parse(&bytes).is_ok_and(|b| b.dirty());
    if dirty && logs {
        // The transaction logs beside it, applied in memory as a scan does.
        let r = registry::replay_host_logs(path, &mut bytes, LIMIT, read);
        for (name, n) in &r.applied {
            eprintln!("{}: applied {n} log entries from {name}", path.display());
        }
        for note in r.notes.iter().chain(&r.stopped) {
            eprintln!("{}: {note}", path.display());
        }
        if r.applied.is_empty() {
            eprintln!("{}: dirty hive, no transaction log applied", path.display());
        }
    } else if dirty {
        eprintln!(
            "{}: dirty hive, transaction logs not applied (--no-logs)",
            path.display()
        );
    }
    let out = std::io::stdout();
    let mut out = std::io::BufWriter::new(out.lock());
    let mut failed = None;
    let damage = registry::scan(&bytes, &path.display().to_string(), None, |item| {
        if failed.is_none()
            && let Err(e) = serde_json::to_writer(&mut out, item)
                .map_err(std::io::Error::from)
                .and_then(|()| out.write_all(b"\n"))
        {
            failed = Some(e);
        }
    });
    out.flush()?;
    if let Some(e) = failed {
        return Err(e.into());
    }
    match damage {
        Err(e) => {
            eprintln!("breachscan: {}: {e}", path.display());
            Ok(2)
        }
        Ok(damage) => {
            for d in &damage {
                eprintln!("{}: cell {:#x}: {}", path.display(), d.cell, d.message);
            }
            Ok(u8::from(!damage.is_empty()))
        }
    }
}
