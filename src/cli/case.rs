//! What the report says of the case and of custody: the case id,
//! examiners and notes given, each target's evidence id, its absolute path
//! and the machine and working directory it was scanned from, and the
//! bundles' absolute paths. Targets may also come from a manifest file.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};

use super::scan_args::ScanSpec;
use crate::report::{CaseInfo, Report, ScannedOn};
use crate::source::EvidencePath;

/// The targets of a scan, in order: those on the command line, then those
/// of `--targets-from`; each with its evidence id, if given.
pub struct Targets {
    pub paths: Vec<PathBuf>,
    pub evidence_ids: Vec<Option<String>>,
}

/// Reads the targets and their evidence ids. `--evidence-id` is given once
/// per command-line target, in order; a manifest line is `PATH` or
/// `PATH<TAB>EVIDENCE_ID` (blank lines and `#` comments skipped).
pub fn targets(args: &ScanSpec) -> Result<Targets> {
    let ids = &args.evidence_ids;
    if !ids.is_empty() && ids.len() != args.targets.len() {
        bail!(
            "--evidence-id is given {} time(s) for {} target(s) on the command line: give one \
             per target, in the targets' order (or use --targets-from with an id column)",
            ids.len(),
            args.targets.len()
        );
    }
    let mut t = Targets {
        paths: args.targets.clone(),
        evidence_ids: args
            .targets
            .iter()
            .enumerate()
            .map(|(i, _)| ids.get(i).filter(|id| !id.is_empty()).cloned())
            .collect(),
    };
    if let Some(file) = &args.targets_from {
        for (path, id) in manifest(file)? {
            t.paths.push(path);
            t.evidence_ids.push(id);
        }
    }
    if t.paths.is_empty() {
        bail!("no target: give targets on the command line or in --targets-from");
    }
    Ok(t)
}

/// The lines of a targets manifest.
pub fn manifest(file: &Path) -> Result<Vec<(PathBuf, Option<String>)>> {
    let bytes = std::fs::read(file)
        .with_context(|| format!("cannot read the targets manifest {}", file.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{}: not UTF-8 text (byte {}): a manifest lists one target path a line",
            file.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let mut cols = line.split('\t');
        let path = cols.next().unwrap_or("").trim();
        let id = cols.next().map(str::trim).filter(|s| !s.is_empty());
        if path.is_empty() || cols.next().is_some() {
            bail!(
                "{}:{}: expected `PATH` or `PATH<TAB>EVIDENCE_ID`, found {line:?}",
                file.display(),
                n + 1
            );
        }
        out.push((PathBuf::from(path), id.map(str::to_string)));
    }
    Ok(out)
}

/// The case as the examiner gave it.
pub fn case(args: &ScanSpec) -> CaseInfo {
    CaseInfo {
        id: args.case.clone(),
        examiners: args.examiner.iter().cloned().collect(),
        notes: args.notes.clone(),
    }
}

/// Fills in where each target and bundle is and who scanned it.
pub fn describe(report: &mut Report, targets: &Targets) {
    let cwd = std::env::current_dir().ok();
    let scanned_on = ScannedOn {
        host: host_name(),
        working_directory: cwd.as_deref().map_or_else(String::new, shown),
    };
    for (i, s) in report.sources.iter_mut().enumerate() {
        s.absolute_path = targets.paths.get(i).map(|p| absolute(p));
        s.evidence_id = targets.evidence_ids.get(i).cloned().flatten();
        s.scanned_on = Some(scanned_on.clone());
    }
    for b in &mut report.bundles {
        // `--ioc` values come from the command line, not from a file.
        let inline = b.format == "adhoc" && b.path == "--ioc";
        b.absolute_path = (!inline).then(|| absolute(Path::new(&b.path)));
    }
}

/// `p` made absolute against the working directory, without following
/// links (the path as the examiner named it).
fn absolute(p: &Path) -> String {
    std::path::absolute(p).map_or_else(|_| shown(p), |a| shown(&a))
}

/// Refuses a target given twice, or inside another target directory: its
/// evidence would be scanned and counted twice.
pub fn distinct(targets: &[PathBuf]) -> Result<()> {
    let real: Vec<Option<(PathBuf, bool)>> = targets
        .iter()
        .map(|t| {
            let r = std::fs::canonicalize(t).ok()?;
            let dir = r.is_dir();
            Some((r, dir))
        })
        .collect();
    for (i, a) in real.iter().enumerate() {
        let Some((ra, _)) = a else { continue };
        for (j, b) in real.iter().enumerate() {
            let Some((rb, b_dir)) = b else { continue };
            if i == j {
                continue;
            }
            if ra == rb && i > j {
                bail!(
                    "{} and {} are the same target: its evidence would be counted twice",
                    shown(&targets[j]),
                    shown(&targets[i])
                );
            }
            if *b_dir && ra != rb && ra.starts_with(rb) {
                bail!(
                    "{} lies inside the target directory {}: its evidence would be counted twice",
                    shown(&targets[i]),
                    shown(&targets[j])
                );
            }
        }
    }
    Ok(())
}

fn shown(p: &Path) -> String {
    EvidencePath::from_os(p.as_os_str()).display()
}

/// This machine's name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_lines_give_paths_and_ids() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("targets.txt");
        std::fs::write(&f, "# lab batch\n/cases/a.E01\tEV-001\n\n/cases/b dir\n").unwrap();
        let got = manifest(&f).unwrap();
        assert_eq!(
            got,
            vec![
                (PathBuf::from("/cases/a.E01"), Some("EV-001".to_string())),
                (PathBuf::from("/cases/b dir"), None),
            ]
        );
        std::fs::write(&f, "/a\tEV-1\textra\n").unwrap();
        let e = manifest(&f).unwrap_err().to_string();
        assert!(e.contains("targets.txt:1:"), "{e}");
    }

    #[test]
    fn the_host_has_a_name() {
        assert!(!host_name().is_empty());
    }
}
