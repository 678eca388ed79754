//! The one-screen summary printed on stderr at the end of a scan.

use std::collections::BTreeMap;
use std::path::Path;

use crate::report::Report;

/// Alert lines shown before "… and N more".
const MAX_ALERT_LINES: usize = 12;

pub fn print(report: &Report, elapsed: jiff::SignedDuration, output: Option<&Path>) {
    let s = &report.summary;
    let secs = elapsed.as_secs_f64().max(1e-3);
    eprintln!(
        "breachscan: {} target(s) · {} files · {} hashed · {:.1} s ({}/s)",
        report.sources.len(),
        s.files_scanned,
        human_bytes(s.bytes_hashed),
        secs,
        human_bytes((s.bytes_hashed as f64 / secs) as u64),
    );
    let b = &s.by_severity;
    eprintln!(
        "alerts: {} (High {}, Medium {}, Low {}, Informational {}) · evidence: {}",
        s.alerts, b.high, b.medium, b.low, b.informational, s.evidence
    );
    for a in report.alerts.iter().take(MAX_ALERT_LINES) {
        eprintln!(
            "  [{}] {} — {} evidence",
            a.alert_definition.severity, a.alert_definition.name, a.evidence_count
        );
    }
    if report.alerts.len() > MAX_ALERT_LINES {
        eprintln!("  … and {} more", report.alerts.len() - MAX_ALERT_LINES);
    }
    let tally = |notes: bool| {
        let mut kinds: BTreeMap<&str, usize> = BTreeMap::new();
        for e in report
            .errors
            .iter()
            .filter(|e| (e.class == "note") == notes)
        {
            *kinds.entry(e.kind.as_str()).or_default() += 1;
        }
        let total: usize = kinds.values().sum();
        let kinds: Vec<String> = kinds.iter().map(|(k, n)| format!("{n} {k}")).collect();
        (total, kinds.join(", "))
    };
    let (missed, kinds) = tally(false);
    if missed > 0 {
        eprintln!(
            "not scanned: {missed} entries ({} errors, {} skipped): {kinds} — listed in the report's \"errors\"",
            s.errors, s.skipped,
        );
    }
    let (notes, kinds) = tally(true);
    if notes > 0 {
        eprintln!(
            "notes: {notes} ({kinds}) — listed in the report's \"errors\" with class \"note\""
        );
    }
    for w in &report.warnings {
        match &w.path {
            Some(p) => eprintln!("warning: {p}: {}", w.message),
            None => eprintln!("warning: {}", w.message),
        }
    }
    // Which targets are incomplete, by name.
    for src in report
        .sources
        .iter()
        .filter(|s| s.errors > 0 || s.interrupted)
    {
        let what = if src.interrupted {
            "interrupted"
        } else {
            "incomplete"
        };
        eprintln!(
            "  {what}: {} — {} entries could not be examined",
            src.path, src.errors
        );
    }
    if let Some(signal) = &report.scan.interrupted {
        eprintln!("scan interrupted by {signal}: the report covers what was scanned before");
    } else if !report.scan.complete {
        eprintln!("scan incomplete: some entries could not be examined");
    }
    if let Some(path) = output {
        eprintln!("report: {}", path.display());
    }
}

pub fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}
