//! Batches: many targets scanned as independent units by any number of
//! workers (a Slurm job array, a Kubernetes Indexed Job, a shell loop)
//! sharing one directory, then merged into one report.
//!
//! The batch directory holds `batch.json` (the [`Plan`]: targets with their
//! identity, the scan every unit runs, the units), the bundle and rule files
//! copied in (`inputs/`), and one result per finished unit under `units/`:
//! `N.json` (the unit's report, renamed into place whole) and `N.done.json`
//! (what it was made from). A unit is done only when both agree with the
//! plan; anything else is run again. Nothing here schedules: a worker is
//! `breachscan batch run DIR --unit N`.

pub mod plan;
pub mod slurm;
pub mod state;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::source::Slice;

/// Version of `batch.json`'s shape.
pub const BATCH_VERSION: u32 = 1;

/// `batch.json`: what the batch scans and how it is cut into units.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub batch_version: u32,
    pub created_at: String,
    /// The breachscan that planned it (units may run another build; each
    /// unit's report names its own).
    pub tool: String,
    /// The scan every unit runs (`scan`'s options, with the bundle and rule
    /// paths pointing into `inputs/`); the targets come from the units.
    pub scan: serde_json::Value,
    /// Where the plan was made: units start there, so targets given as
    /// relative paths name the same files (and the report the same paths).
    pub working_directory: String,
    /// Bundle, IOC-list and rule files copied into the batch.
    pub inputs: Vec<InputFile>,
    pub targets: Vec<Target>,
    pub units: Vec<Unit>,
    /// The unit size the plan balanced to, in bytes (files weigh their size
    /// plus [`plan::FILE_WEIGHT`]).
    pub unit_size: u64,
}

/// A file copied into the batch, with the digest it must still have when a
/// unit runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputFile {
    /// `bundle`, `iocFile` or `rules`.
    pub role: String,
    /// Inside the batch directory, `/`-separated.
    pub path: String,
    /// Where it was copied from.
    pub source: String,
    pub size: u64,
    pub sha256: String,
}

/// A target as planned: where it is and what it was then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Target {
    /// Absolute: every worker opens the same path (a shared filesystem).
    pub path: String,
    /// As given on the command line or in the manifest.
    pub given: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub evidence_id: Option<String>,
    /// `image` (with its container format), `file`, `directory` or
    /// `device`.
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub format: Option<String>,
    /// Bytes: the file's size, or a directory's files' sizes summed.
    pub size: u64,
    /// Regular files under a directory (1 for a file or image).
    pub files: u64,
    /// Last modification (RFC 3339, ns), checked again when a unit runs
    /// for files and images.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub modified: Option<String>,
    /// SHA-256 of an image's first segment file (the whole image when it
    /// is one file), for the chain of custody.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub first_segment_sha256: Option<String>,
}

/// One unit of work: whole targets, or one slice of a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Unit {
    pub unit: usize,
    /// Indexes into [`Plan::targets`], in order.
    pub targets: Vec<usize>,
    /// For a slice of its one directory target.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub slice: Option<Slice>,
    /// Weight (bytes plus per-file cost) the plan gave it.
    pub weight: u64,
}

/// The paths of a batch directory.
#[derive(Debug, Clone)]
pub struct Layout {
    pub dir: PathBuf,
}

impl Layout {
    pub fn new(dir: &Path) -> Self {
        Layout {
            dir: dir.to_path_buf(),
        }
    }

    pub fn plan(&self) -> PathBuf {
        self.dir.join("batch.json")
    }

    pub fn units(&self) -> PathBuf {
        self.dir.join("units")
    }

    pub fn report(&self, unit: usize) -> PathBuf {
        self.units().join(format!("{unit}.json"))
    }

    pub fn done(&self, unit: usize) -> PathBuf {
        self.units().join(format!("{unit}.done.json"))
    }

    pub fn failed(&self, unit: usize) -> PathBuf {
        self.units().join(format!("{unit}.failed.json"))
    }

    pub fn running(&self, unit: usize) -> PathBuf {
        self.units().join(format!("{unit}.running.json"))
    }

    /// Where one attempt writes its report before it is renamed to
    /// [`Layout::report`]: named by host and process, so two workers given
    /// the same unit never write one file.
    pub fn attempt(&self, unit: usize, host: &str) -> PathBuf {
        self.units().join(format!(
            ".{unit}.attempt.{host}.{}.json",
            std::process::id()
        ))
    }

    /// The final report's default place.
    pub fn merged(&self) -> PathBuf {
        self.dir.join("report.json")
    }

    pub fn slurm(&self) -> PathBuf {
        self.dir.join("slurm")
    }

    /// A path inside the batch directory, from its `/`-separated name.
    pub fn inside(&self, rel: &str) -> PathBuf {
        rel.split('/').fold(self.dir.clone(), |p, c| p.join(c))
    }
}

/// Why a batch cannot be planned, run or merged, in a sentence.
#[derive(Debug)]
pub struct BatchError(pub String);

impl std::fmt::Display for BatchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for BatchError {}

/// Reads `batch.json`.
pub fn load(layout: &Layout) -> Result<(Plan, Vec<u8>), BatchError> {
    let path = layout.plan();
    let bytes = std::fs::read(&path).map_err(|e| {
        BatchError(format!(
            "cannot read {}: {e} (is {} a batch directory made by `batch plan`?)",
            path.display(),
            layout.dir.display()
        ))
    })?;
    let plan: Plan = serde_json::from_slice(&bytes)
        .map_err(|e| BatchError(format!("{}: not a batch plan: {e}", path.display())))?;
    if plan.batch_version != BATCH_VERSION {
        return Err(BatchError(format!(
            "{}: a batch of version {}; this breachscan runs version {BATCH_VERSION}",
            path.display(),
            plan.batch_version
        )));
    }
    let bad_unit = plan.units.iter().enumerate().find(|(i, u)| {
        u.unit != *i
            || u.targets.is_empty()
            || u.targets.iter().any(|t| *t >= plan.targets.len())
            || (u.slice.is_some() && u.targets.len() != 1)
    });
    if let Some((i, _)) = bad_unit {
        return Err(BatchError(format!(
            "{}: unit {i} does not fit the plan's targets",
            path.display()
        )));
    }
    // Input copies live under `inputs/`: a plan edited to name a file
    // elsewhere (`inputs/../../x`) is refused, not followed.
    if let Some(f) = plan.inputs.iter().find(|f| {
        !f.path.starts_with("inputs/")
            || f.path
                .split('/')
                .any(|c| c.is_empty() || c == "." || c == "..")
    }) {
        return Err(BatchError(format!(
            "{}: the input {:?} is not a file under inputs/",
            path.display(),
            f.path
        )));
    }
    Ok((plan, bytes))
}

/// SHA-256 of bytes, as hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// SHA-256 of a file, read in blocks.
pub fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}
