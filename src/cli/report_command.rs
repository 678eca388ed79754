//! `breachscan report …`: commands on finished reports.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rayon::prelude::*;

use super::output::{self, AtomicFile, Destination, Inputs};
use crate::report::{self, Report};
use crate::source::EvidencePath;

pub const MERGE_HELP: &str = "\
The reports must come from the same bundle files (same SHA-256, format and
counts) and name different targets; the merged report is the one a single
scan of all their targets, in the order given, would write (times and
arguments apart). Exit codes follow `scan`: 0 no evidence, 1 evidence,
2 could not merge, 3 no evidence but a shard checked less than asked (see
its warnings) or was interrupted.";

/// Reads the reports (in parallel), merges them and writes the result.
pub fn merge(paths: &[PathBuf], out: Option<&Path>) -> Result<u8> {
    let destination = output::check(
        out,
        &Inputs {
            targets: &[],
            files: paths,
        },
    )
    .map_err(anyhow::Error::msg)?;
    let reports = paths
        .par_iter()
        .map(|p| {
            let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
            let r: Report = serde_json::from_slice(&bytes)
                .with_context(|| format!("{} is not a breachscan report", p.display()))?;
            Ok((p.display().to_string(), r))
        })
        .collect::<Result<Vec<_>>>()?;
    let arguments = std::env::args_os()
        .map(|a| EvidencePath::from_os(&a).display())
        .collect();
    let merged = report::merge(reports, arguments)?;
    match destination {
        Destination::File(path) => AtomicFile::create(&path, "report")
            .and_then(|f| f.commit(|w| report::write_json(&merged, w)))
            .with_context(|| format!("cannot write the report to {}", path.display()))?,
        Destination::Stdout => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            report::write_json(&merged, &mut out)
                .and_then(|()| out.flush())
                .context("cannot write the report to stdout")?;
        }
    }
    Ok(if merged.summary.evidence > 0 {
        1
    } else if !merged.warnings.is_empty() {
        3
    } else {
        0
    })
}

/// Writes a report's evidence as rows in `format` (see `report export`).
pub fn export(path: &Path, format: &str, out: Option<&Path>) -> Result<u8> {
    let format = report::export::Format::parse(format)
        .with_context(|| format!("unknown export format {format:?}"))?;
    write_view(path, out, "export", &|r, w| {
        report::export::write(r, format, w).map(|_| ())
    })
}

/// Writes a report as one HTML page (see `report render`).
pub fn render(path: &Path, out: Option<&Path>) -> Result<u8> {
    write_view(path, out, "html", &|r, w| {
        w.write_all(report::html::render(r).as_bytes())
    })
}

/// Reads the report at `path` and writes a view of it to `out` (atomically)
/// or stdout; `out` never lands on the report.
fn write_view(
    path: &Path,
    out: Option<&Path>,
    what: &str,
    view: &dyn Fn(&Report, &mut dyn Write) -> std::io::Result<()>,
) -> Result<u8> {
    let destination = output::check(
        out,
        &Inputs {
            targets: &[],
            files: &[path.to_path_buf()],
        },
    )
    .map_err(anyhow::Error::msg)?;
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let r: Report = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a breachscan report", path.display()))?;
    match destination {
        Destination::File(p) => AtomicFile::create(&p, what)
            .and_then(|f| f.commit(|w| view(&r, w)))
            .with_context(|| format!("cannot write {}", p.display()))?,
        Destination::Stdout => {
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            view(&r, &mut out)
                .and_then(|()| out.flush())
                .context("cannot write to stdout")?;
        }
    }
    Ok(0)
}
