//! Helpers of the Sigma tests: scanning with rules, reading rule hits.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use super::{Run, breachscan};

pub const SYSMON: &str = "Microsoft-Windows-Sysmon";
pub const SYSMON_CH: &str = "Microsoft-Windows-Sysmon/Operational";
pub const SECURITY: &str = "Microsoft-Windows-Security-Auditing";

/// `breachscan scan -q --rules RULES -o OUT TARGET`.
pub fn scan_rules(rules: &Path, out: &Path, target: &Path) -> Run {
    breachscan(&[
        "scan",
        "-q",
        "--rules",
        rules.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        target.to_str().unwrap(),
    ])
}

/// `(rule id, log path, record id)` of every record evidence item.
pub fn rule_hits(report: &Value) -> BTreeSet<(String, String, u64)> {
    report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .filter(|e| e["detection"]["kind"] == "rule" && e["kind"] == "record")
        .map(|e| {
            (
                e["detection"]["id"].as_str().unwrap().to_string(),
                e["location"]["path"].as_str().unwrap().to_string(),
                e["record"]["recordId"].as_u64().unwrap(),
            )
        })
        .collect()
}
