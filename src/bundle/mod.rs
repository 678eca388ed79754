//! Loads bundle files into one [`Bundle`]: parse each file in its format,
//! then merge them and check what spans files (duplicate ids, IOCs whose
//! alert definition lives in another file or nowhere).
//!
//! A Defender export often holds alert definitions in one file and IOCs in
//! another, so references are resolved only after every file is parsed.

mod adhoc;
mod convert;
mod defender;
mod dnf;
mod draft;
mod error;
pub(crate) mod limits;
mod lines;
mod locate;
mod misp;
mod model;
mod native;
mod native_par;
mod nfa_bound;
mod openioc;
mod stix;
pub mod value;

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use rayon::prelude::*;
use sha2::{Digest, Sha256};

pub use convert::to_native;
pub use error::{BundleError, BundleErrors};
pub use model::{
    AlertDefinition, Bundle, BundleFile, DetectionFunction, Ioc, IocIdx, IocState, IocType,
    Severity,
};

use draft::{Draft, Place};

/// Settings that change what a bundle means.
#[derive(Debug, Clone, Copy, Default)]
pub struct LoadOptions {
    /// IOCs whose `expiresAt` lies before this instant are inactive. The scan
    /// passes its start time, or `--as-of` to judge a bundle at the time of
    /// an incident.
    pub as_of: Timestamp,
    /// Take every MISP attribute, not only those marked `to_ids`.
    pub all_attributes: bool,
}

/// Loads and merges `paths`. On failure every problem found is returned, each
/// naming its file, line, entry and field.
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<Bundle, BundleErrors> {
    load_with(paths, &AdHoc::default(), opts)
}

/// IOCs given at scan time (`--ioc`, `--ioc-file`), loaded beside the
/// bundle files as lists of the `adhoc` format.
#[derive(Debug, Clone, Default)]
pub struct AdHoc {
    /// `--ioc` values, in order.
    pub inline: Vec<String>,
    /// `--ioc-file` lists.
    pub files: Vec<PathBuf>,
}

impl AdHoc {
    pub fn is_empty(&self) -> bool {
        self.inline.is_empty() && self.files.is_empty()
    }
}

pub use adhoc::ALERT_ID as ADHOC_ALERT_ID;

/// [`load`], with IOCs given at scan time as more files: the command
/// line's values as one list named `--ioc` (its lines are the values in
/// order), then each `--ioc-file`.
pub fn load_with(
    paths: &[PathBuf],
    adhoc: &AdHoc,
    opts: &LoadOptions,
) -> Result<Bundle, BundleErrors> {
    let mut errors = Vec::new();
    let mut parsed = Vec::new();
    // Files are parsed side by side (a hash list parses on one core while
    // a regex list is checked on the others), kept in the order given.
    let loaded: Vec<_> = paths.par_iter().map(|p| load_file(p, opts)).collect();
    for loaded in loaded {
        match loaded {
            Ok(p) => parsed.push(p),
            Err(mut e) => errors.append(&mut e),
        }
    }
    let mut lists: Vec<(PathBuf, std::io::Result<Vec<u8>>)> = Vec::new();
    if !adhoc.inline.is_empty() {
        // One value an argument: a value holding a line break is two.
        let text = adhoc.inline.join("\n");
        lists.push((PathBuf::from("--ioc"), Ok(text.into_bytes())));
    }
    for f in &adhoc.files {
        lists.push((f.clone(), limits::read_bundle(f)));
    }
    for (i, (path, bytes)) in lists.into_iter().enumerate() {
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                errors.push(BundleError::file(
                    &path,
                    format!("cannot read IOC list: {e}"),
                ));
                continue;
            }
        };
        let text = String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes));
        match adhoc::parse(&path, &text, i == 0) {
            Ok(draft) => parsed.push(Parsed {
                sha256: hex::encode(Sha256::digest(&bytes)),
                path,
                draft,
            }),
            Err(mut e) => errors.append(&mut e),
        }
    }
    if !errors.is_empty() {
        return Err(BundleErrors(errors));
    }
    merge(parsed, opts)
}

/// Parses one bundle held in memory, named `name` in errors, as [`load`]
/// would load a file with these bytes (for fuzzing and embedding).
pub fn parse_bytes(name: &Path, bytes: &[u8], opts: &LoadOptions) -> Result<Bundle, BundleErrors> {
    let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let draft = parse_any(name, text, opts).map_err(BundleErrors)?;
    merge(
        vec![Parsed {
            path: name.to_path_buf(),
            sha256: hex::encode(Sha256::digest(bytes)),
            draft,
        }],
        opts,
    )
}

struct Parsed {
    path: PathBuf,
    sha256: String,
    draft: Draft,
}

fn load_file(path: &Path, opts: &LoadOptions) -> Result<Parsed, Vec<BundleError>> {
    let bytes = limits::read_bundle(path)
        .map_err(|e| vec![BundleError::file(path, format!("cannot read bundle: {e}"))])?;
    // The file's digest (for the report) is computed beside the parse.
    let (sha256, draft) = std::thread::scope(|s| {
        let digest = s.spawn(|| hex::encode(Sha256::digest(&bytes)));
        let text = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes);
        let draft = parse_any(path, text, opts);
        let sha256 = digest.join().unwrap_or_default();
        (sha256, draft)
    });
    let draft = draft?;
    Ok(Parsed {
        path: path.to_path_buf(),
        sha256,
        draft,
    })
}

/// Chooses the format by content: JSON documents by their shape, text
/// files by their lines.
fn parse_any(path: &Path, text: &[u8], opts: &LoadOptions) -> Result<Draft, Vec<BundleError>> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace()).copied();
    if matches!(first, Some(b'{' | b'[')) {
        limits::check_json_nesting(path, text)?;
        if defender::looks_like_json(text) {
            return defender::parse_json(path, text);
        }
        if stix::looks_like(text) {
            return stix::parse(path, text);
        }
        if misp::looks_like(text) {
            return misp::parse(path, text, opts.all_attributes);
        }
        return native::parse(path, text);
    }
    let s = String::from_utf8_lossy(text);
    if defender::looks_like_csv(&s) {
        return defender::parse_csv(path, &s);
    }
    if openioc::looks_like(&s) {
        return openioc::parse(path, &s);
    }
    match lines::detect(&s) {
        Some(format) => lines::parse(path, &s, format),
        None => Err(vec![BundleError::file(
            path,
            "unrecognised bundle format: not a breachscan/Defender JSON bundle, Defender indicators (JSON/CSV), STIX 2.1, MISP, OpenIOC, hash list, hashdeep file or Loki hash/filename/C2 IOC file",
        )]),
    }
}

/// Hash maps keyed by bundle values (ids, digests, domains): a fast,
/// randomly seeded hasher (a million-IOC bundle spent a third of its load
/// in SipHash).
pub type IdMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::RandomState>;

fn merge(parsed: Vec<Parsed>, opts: &LoadOptions) -> Result<Bundle, BundleErrors> {
    let mut errors = Vec::new();
    let mut bundle = Bundle::default();
    let mut alert_ids: IdMap<String, usize> = IdMap::default();
    let mut alert_places: Vec<Place> = Vec::new();
    let paths: Vec<PathBuf> = parsed.iter().map(|p| p.path.clone()).collect();
    let where_ = |at: &Place| -> String {
        let p = paths[at.file].display();
        match at.entry.text() {
            _ if at.line > 0 => format!("{p}:{}", at.line),
            Some(e) => format!("{p} {e}"),
            None => p.to_string(),
        }
    };

    // Alert definitions first: IOCs in any file may refer to any of them.
    let mut drafts = Vec::with_capacity(parsed.len());
    for (file_idx, p) in parsed.into_iter().enumerate() {
        bundle.files.push(BundleFile {
            path: p.path.clone(),
            sha256: p.sha256,
            format: p.draft.format,
            alert_definitions: p.draft.alerts.len(),
            iocs: p.draft.iocs.len(),
            iocs_active: 0,
            entries_unused: p.draft.unused.len(),
        });
        bundle.unused.extend(p.draft.unused);
        for mut a in p.draft.alerts {
            a.at.file = file_idx;
            if let Some(&first) = alert_ids.get(&a.def.id) {
                errors.push(a.at.error(
                    &p.path,
                    format!(
                        "duplicate alert definition id {:?} (first defined at {})",
                        a.def.id,
                        where_(&alert_places[first])
                    ),
                ));
                continue;
            }
            alert_ids.insert(a.def.id.clone(), bundle.alert_definitions.len());
            alert_places.push(a.at);
            bundle.alert_definitions.push(a.def);
        }
        drafts.push((file_idx, p.path, p.draft.iocs));
    }

    let total: usize = drafts.iter().map(|d| d.2.len()).sum();
    bundle.iocs.reserve(total);
    let mut places: Vec<Place> = Vec::with_capacity(total);
    for (file_idx, path, iocs) in drafts {
        let file_name = path.file_name().map_or_else(
            || path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        for (n, mut d) in iocs.into_iter().enumerate() {
            d.at.file = file_idx;
            let id = d.id.unwrap_or_else(|| format!("{file_name}#{}", n + 1));
            let Some(&alert) = alert_ids.get(&d.alert_ref) else {
                let mut e = d.at.error(
                    &path,
                    format!(
                        "alert definition {:?} does not exist in the bundle files given",
                        d.alert_ref
                    ),
                );
                e.field = Some("alertDefinitionId".into());
                errors.push(e);
                continue;
            };
            let state = if !d.enabled || !bundle.alert_definitions[alert].enabled {
                IocState::Disabled
            } else if d.expires_at.is_some_and(|t| t <= opts.as_of) {
                IocState::Expired
            } else {
                IocState::Active
            };
            if state == IocState::Active {
                bundle.files[file_idx].iocs_active += 1;
            }
            places.push(d.at);
            bundle.iocs.push(Ioc {
                id,
                alert,
                kind: d.kind,
                value: d.value,
                function: d.function,
                state,
                expires_at: d.expires_at,
                description: d.description,
                exclude: d.exclude,
            });
        }
    }
    // Duplicate ids, each named with the place of its first definition.
    let mut first_of: IdMap<&str, usize> = IdMap::default();
    first_of.reserve(bundle.iocs.len());
    for (i, ioc) in bundle.iocs.iter().enumerate() {
        if let Some(&first) = first_of.get(ioc.id.as_str()) {
            let at = &places[i];
            errors.push(at.error(
                &paths[at.file],
                format!(
                    "duplicate IOC id {:?} (first defined at {})",
                    ioc.id,
                    where_(&places[first])
                ),
            ));
        } else {
            first_of.insert(&ioc.id, i);
        }
    }
    drop(first_of);
    if errors.is_empty() {
        Ok(bundle)
    } else {
        Err(BundleErrors(errors))
    }
}
