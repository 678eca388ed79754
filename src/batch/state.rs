//! Where each unit stands, read from the files under `units/`: done (its
//! report and the record of what made it agree with the plan as it is
//! now), failed, started (a worker said so and has not finished: running,
//! or killed), or missing. Every file is written whole by rename, so a
//! worker killed at any instant leaves a unit missing or failed, never a
//! half result taken for done.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{BatchError, Layout, Plan, Target, sha256_file, sha256_hex};

/// `units/N.done.json`: what a finished unit was made from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Done {
    pub unit: usize,
    /// [`fingerprint`] of the unit's inputs when it ran.
    pub inputs: String,
    /// SHA-256 of `units/N.json`.
    pub report_sha256: String,
    pub host: String,
    pub started_at: String,
    pub finished_at: String,
    /// Evidence items in the unit's report.
    pub evidence: usize,
}

/// `units/N.failed.json` (and `N.running.json`, with no exit code yet):
/// who ran the unit, and how it ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    pub unit: usize,
    pub host: String,
    pub pid: u32,
    pub started_at: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub exit_code: Option<u8>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error: Option<String>,
}

/// A unit's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnitState {
    Done(Done),
    Failed(Attempt),
    /// A worker started it and has not ended it (still running, or killed
    /// without a chance to say so).
    Started(Attempt),
    /// Never run, or its result no longer matches its inputs (the reason).
    Missing(Option<String>),
}

impl UnitState {
    pub fn name(&self) -> &'static str {
        match self {
            UnitState::Done(_) => "done",
            UnitState::Failed(_) => "failed",
            UnitState::Started(_) => "started",
            UnitState::Missing(_) => "missing",
        }
    }
}

/// The digest of everything a unit's report depends on: the plan (bundle
/// and rule digests, scan options, the unit's targets and slice), the unit,
/// the breachscan build, and its files' and images' size and modification
/// time as they are now. Equal digests: running the unit again would give
/// the same report (times apart).
pub fn fingerprint(plan_bytes: &[u8], plan: &Plan, unit: usize) -> String {
    let mut text = format!(
        "plan {}\nunit {unit}\ntool {} {}\n",
        sha256_hex(plan_bytes),
        env!("CARGO_PKG_VERSION"),
        option_env!("BREACHSCAN_COMMIT").unwrap_or("")
    );
    for &t in &plan.units[unit].targets {
        let t = &plan.targets[t];
        text.push_str(&format!("target {} {:?}\n", t.path, now(t)));
    }
    sha256_hex(text.as_bytes())
}

/// A file or image target's size and modification time now (directories:
/// none, their slices are cut by name and stay valid).
fn now(t: &Target) -> Option<(u64, Option<String>)> {
    if !matches!(t.kind.as_str(), "file" | "image") {
        return None;
    }
    let m = std::fs::metadata(&t.path).ok()?;
    let modified = m
        .modified()
        .ok()
        .and_then(|t| jiff::Timestamp::try_from(t).ok())
        .map(|t| t.to_string());
    Some((m.len(), modified))
}

/// Why a unit's targets are not what the plan recorded, if they are not:
/// a file or image changed in size or modification time, or is gone.
pub fn changed_targets(plan: &Plan, unit: usize) -> Option<String> {
    plan.units[unit].targets.iter().find_map(|&i| {
        let t = &plan.targets[i];
        let expected = Some((t.size, t.modified.clone()));
        match now(t) {
            None if matches!(t.kind.as_str(), "file" | "image") => {
                Some(format!("{} can no longer be read", t.path))
            }
            Some(n) if Some(n.clone()) != expected => Some(format!(
                "{} changed since the batch was planned (size {} → {}, modified {} → {})",
                t.path,
                t.size,
                n.0,
                t.modified.as_deref().unwrap_or("?"),
                n.1.as_deref().unwrap_or("?")
            )),
            _ => None,
        }
    })
}

/// Reads a unit's state.
pub fn state(layout: &Layout, plan_bytes: &[u8], plan: &Plan, unit: usize) -> UnitState {
    let read = |p: &Path| std::fs::read(p).ok();
    if let Some(done) =
        read(&layout.done(unit)).and_then(|b| serde_json::from_slice::<Done>(&b).ok())
    {
        let report = sha256_file(&layout.report(unit)).ok();
        if done.unit != unit {
            return UnitState::Missing(Some("its record names another unit".into()));
        }
        if report.as_deref() != Some(done.report_sha256.as_str()) {
            return UnitState::Missing(Some(
                "its report is gone or is not the one its record names".into(),
            ));
        }
        if done.inputs != fingerprint(plan_bytes, plan, unit) {
            return UnitState::Missing(Some(
                "its inputs changed since it ran (a target, or the breachscan build)".into(),
            ));
        }
        return UnitState::Done(done);
    }
    let attempt = |p: &Path| read(p).and_then(|b| serde_json::from_slice::<Attempt>(&b).ok());
    if let Some(a) = attempt(&layout.failed(unit)) {
        return UnitState::Failed(a);
    }
    if let Some(a) = attempt(&layout.running(unit)) {
        return UnitState::Started(a);
    }
    UnitState::Missing(None)
}

/// Whether a file written whole is synced before its rename.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// The plan: nothing else tells a lost one.
    Synced,
    /// A unit's records: [`state`] checks the done record against the
    /// report's digest and the plan, so one a crash lost or cut short makes
    /// the unit run again (three syncs a unit cost ~2.5 ms here).
    Unsynced,
}

/// Writes `value` as JSON to `path` whole: a temporary file beside it,
/// synced if asked, renamed into place.
pub fn write_json<T: Serialize>(path: &Path, value: &T, mode: WriteMode) -> Result<(), BatchError> {
    use std::io::Write;
    let fail = |e: std::io::Error| BatchError(format!("cannot write {}: {e}", path.display()));
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".batch-")
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(fail)?;
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| fail(std::io::Error::other(e)))?;
    tmp.write_all(&bytes).map_err(fail)?;
    if mode == WriteMode::Synced {
        tmp.as_file().sync_all().map_err(fail)?;
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Removes a file that may not exist.
pub fn remove(path: &Path) -> Result<(), BatchError> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
            Err(BatchError(format!("cannot remove {}: {e}", path.display())))
        }
        _ => Ok(()),
    }
}
