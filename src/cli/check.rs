//! `breachscan bundle check`: validate bundle files and show what they hold.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Result;
use jiff::Timestamp;

use super::output::{self, AtomicFile, Destination, Inputs};
use crate::bundle::{self, IocState, LoadOptions};

/// Loads bundles, or prints every problem (file, line, entry, field) on
/// stderr and returns `None`; callers exit 2.
pub fn load_or_report(
    files: &[PathBuf],
    adhoc: &bundle::AdHoc,
    opts: &LoadOptions,
) -> Option<bundle::Bundle> {
    match bundle::load_with(files, adhoc, opts) {
        Ok(b) => Some(b),
        Err(errors) => {
            eprintln!("breachscan: invalid bundle: {} problem(s)", errors.0.len());
            for e in &errors.0 {
                eprintln!("  {e}");
            }
            None
        }
    }
}

pub fn run(files: &[PathBuf], as_of: Option<Timestamp>, all_attributes: bool) -> Result<u8> {
    let as_of = as_of.unwrap_or_else(Timestamp::now);
    let opts = LoadOptions {
        as_of,
        all_attributes,
    };
    let Some(bundle) = load_or_report(files, &bundle::AdHoc::default(), &opts) else {
        return Ok(2);
    };
    // Built first and written once: `bundle check big.json | head` closes
    // the pipe early, which is not an error.
    let mut out = String::new();
    for f in &bundle.files {
        let _ = writeln!(
            out,
            "{}: {} (sha256 {})",
            f.path.display(),
            f.format,
            f.sha256
        );
        let _ = writeln!(
            out,
            "  {} alert definitions, {} IOCs ({} active), {} entries not used",
            f.alert_definitions, f.iocs, f.iocs_active, f.entries_unused
        );
    }
    let count = |state| bundle.iocs.iter().filter(|i| i.state == state).count();
    let _ = writeln!(
        out,
        "merged: {} alert definitions, {} IOCs: {} active, {} disabled, {} expired (as of {as_of})",
        bundle.alert_definitions.len(),
        bundle.iocs.len(),
        count(IocState::Active),
        count(IocState::Disabled),
        count(IocState::Expired),
    );
    let mut by_type: BTreeMap<&str, usize> = BTreeMap::new();
    let mut per_alert = vec![0usize; bundle.alert_definitions.len()];
    for ioc in &bundle.iocs {
        *by_type.entry(ioc.kind.as_str()).or_default() += 1;
        per_alert[ioc.alert] += 1;
    }
    if !bundle.unused.is_empty() {
        let _ = writeln!(out, "not used: {} entries", bundle.unused.len());
        for e in &bundle.unused {
            let _ = writeln!(out, "  {e}");
        }
    }
    let (screened, bare) = crate::matcher::regex_screening(&bundle);
    if screened + bare.len() > 0 {
        let _ = writeln!(
            out,
            "regex IOCs: {} active, {screened} screened by their literals, {} with no literal \
             (each tried on every value of its kind; records are then all rendered)",
            screened + bare.len(),
            bare.len()
        );
        for &i in &bare {
            let ioc = &bundle.iocs[i as usize];
            let _ = writeln!(
                out,
                "  no literal: {} {} {}",
                ioc.id,
                ioc.kind.as_str(),
                ioc.value
            );
        }
    }
    let _ = writeln!(out, "IOCs by type:");
    for (t, n) in &by_type {
        let _ = writeln!(out, "  {t:<12} {n}");
    }
    let _ = writeln!(out, "alert definitions:");
    for (a, n) in bundle.alert_definitions.iter().zip(per_alert) {
        let off = if a.enabled { "" } else { " (disabled)" };
        let _ = writeln!(
            out,
            "  {:<14} {:<13} {} — {n} IOCs{off}",
            a.id,
            a.severity.as_str(),
            a.name
        );
    }
    let mut stdout = std::io::stdout().lock();
    let written = stdout
        .write_all(out.as_bytes())
        .and_then(|()| stdout.flush());
    // The process ends next: freeing a million-IOC bundle string by string
    // would cost a third of a second for nothing.
    std::mem::forget(bundle);
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(0),
    }
}

/// `breachscan bundle convert --to native`.
pub fn convert(
    files: &[PathBuf],
    output: Option<&std::path::Path>,
    all_attributes: bool,
) -> Result<u8> {
    let inputs = Inputs {
        targets: &[],
        files,
    };
    let output = output::check(output, &inputs).map_err(anyhow::Error::msg)?;
    // Expiry is written as is, not judged, so the reference time is moot.
    let opts = LoadOptions {
        as_of: Timestamp::UNIX_EPOCH,
        all_attributes,
    };
    let Some(bundle) = load_or_report(files, &bundle::AdHoc::default(), &opts) else {
        return Ok(2);
    };
    for e in &bundle.unused {
        eprintln!("not used: {e}");
    }
    let mut text = serde_json::to_vec_pretty(&bundle::to_native(&bundle))?;
    text.push(b'\n');
    match output {
        Destination::File(path) => {
            AtomicFile::create(&path, "bundle")?.commit(|w| w.write_all(&text))?;
        }
        Destination::Stdout => {
            let mut stdout = std::io::stdout().lock();
            match stdout.write_all(&text).and_then(|()| stdout.flush()) {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
                _ => {}
            }
        }
    }
    Ok(0)
}
