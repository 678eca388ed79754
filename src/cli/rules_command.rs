//! `breachscan rules check`: load Sigma rules as a scan would and say what
//! was not loaded, by file and line.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::PathBuf;

use anyhow::Result;

use crate::sigma::RuleSet;

/// Loads `paths` or exits 2 naming what cannot be read; prints each file's
/// counts and problems. Exit 0 when everything loaded, 2 otherwise.
pub fn check(paths: &[PathBuf]) -> Result<u8> {
    let set = match RuleSet::load(paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("breachscan: {e}");
            return Ok(2);
        }
    };
    let mut out = String::new();
    let mut problems = 0;
    for f in &set.files {
        problems += f.problems.len();
        if !f.problems.is_empty() {
            let _ = writeln!(
                out,
                "{}: {} rule(s), {} correlation(s), {} filter(s) loaded; {} problem(s):",
                f.path,
                f.rules,
                f.correlations,
                f.filters,
                f.problems.len()
            );
        }
        for p in &f.problems {
            let line = p.line.map_or_else(String::new, |l| format!(":{l}"));
            let rule = p
                .rule
                .as_deref()
                .map_or_else(String::new, |r| format!(" ({r})"));
            let _ = writeln!(out, "  {}{line}{rule}: {}", f.path, p.message);
        }
    }
    let rules: usize = set.files.iter().map(|f| f.rules).sum();
    let filters: usize = set.files.iter().map(|f| f.filters).sum();
    let correlations: usize = set.files.iter().map(|f| f.correlations).sum();
    let _ = writeln!(
        out,
        "{} file(s): {rules} rule(s), {correlations} correlation(s) and {filters} filter(s) \
         loaded, {problems} problem(s)",
        set.files.len()
    );
    let c = set.coverage();
    let _ = writeln!(
        out,
        "prefilter: {} rule(s) screened by their literals, {} by the event ids they \
         require, {} by their log source's channel only, {} asked on every record (every \
         record is rendered), {} of no log source breachscan maps (never asked)",
        c.literals, c.event_ids, c.channels, c.every_record, c.unmapped
    );
    let _ = std::io::stdout().lock().write_all(out.as_bytes());
    Ok(if problems == 0 { 0 } else { 2 })
}
