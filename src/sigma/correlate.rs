//! Correlation rules (`event_count`, `value_count`, `temporal`,
//! `temporal_ordered`, and the value aggregations) over the records of the
//! whole scan.
//!
//! Workers see records in any order and on many threads, so correlations
//! run once the scan is over: the records on which the rules a correlation
//! names fired are replayed in time order through `rsigma-eval`'s
//! correlation engine, each tagged with its place in the replay so that a
//! firing can list the records it grouped. Consecutive firings of one
//! group whose records overlap are one evidence item: the records of every
//! window that met the condition.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

use rsigma_eval::{
    CorrelationAction, CorrelationConfig, CorrelationEngine, CorrelationEventMode, Event,
    EventValue, TimestampFallback,
};
use rsigma_parser::{CorrelationRule, SigmaRule};
use serde_json::Value;

use super::{INDEX_ATTR, RuleIdx, RuleSet, event, logsource};
use crate::evidence::{Artifact, Detection, Finding, Grouped};

/// Records listed per window at most; the count (`value`) stays exact.
pub const MAX_RECORDS: usize = 10_000;

/// A replayed record under its log source's field names, whose JSON (what
/// the engine keeps per grouped event) is only its place in the replay.
struct Keyed<'a> {
    inner: event::RecordEvent<'a>,
    key: usize,
}

impl Event for Keyed<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        self.inner.get_field(path)
    }
    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.inner.any_string_value(pred)
    }
    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        self.inner.all_string_values()
    }
    fn to_json(&self) -> Value {
        serde_json::json!({ "id": self.key.to_string() })
    }
}

/// A correlation engine holding `correlations` and the rules they name;
/// fails with the reason when one cannot be compiled.
pub fn engine(
    rules: &[&SigmaRule],
    correlations: &[&CorrelationRule],
) -> Result<CorrelationEngine, String> {
    let mut e = CorrelationEngine::new(CorrelationConfig {
        timestamp_fallback: TimestampFallback::Skip,
        action_on_match: CorrelationAction::Alert,
        correlation_event_mode: CorrelationEventMode::Refs,
        max_correlation_events: MAX_RECORDS,
        ..CorrelationConfig::default()
    });
    for r in rules {
        e.add_rule(r).map_err(|err| err.to_string())?;
    }
    for c in correlations {
        e.add_correlation(c).map_err(|err| err.to_string())?;
    }
    Ok(e)
}

/// The detection rules some correlation names (by id or `name:`).
pub fn referenced(
    rules: &[(RuleIdx, SigmaRule)],
    correlations: &[CorrelationRule],
) -> HashSet<RuleIdx> {
    let refs: HashSet<&str> = correlations
        .iter()
        .flat_map(|c| c.rules.iter().map(String::as_str))
        .collect();
    rules
        .iter()
        .filter(|(_, r)| {
            r.id.as_deref().is_some_and(|id| refs.contains(id))
                || r.name.as_deref().is_some_and(|n| refs.contains(n))
        })
        .map(|(i, _)| *i)
        .collect()
}

/// The correlation findings of a scan whose rule findings are `findings`.
pub fn run(set: &RuleSet, findings: &[Finding]) -> Vec<Finding> {
    if set.correlations.is_empty() {
        return Vec::new();
    }
    let referenced = referenced(&set.named, &set.correlations);
    let rules: Vec<&SigmaRule> = set.named.iter().map(|(_, r)| r).collect();
    let corrs: Vec<&CorrelationRule> = set.correlations.iter().collect();
    let Ok(mut engine) = engine(&rules, &corrs) else {
        // Checked at load: a set that loaded compiles.
        return Vec::new();
    };

    // The records the named rules fired on, once each, in time order.
    let mut replay: Vec<&Finding> = Vec::new();
    let mut seen = HashSet::new();
    for f in findings {
        let (Detection::Rule { rule }, Artifact::Record { record, .. }) =
            (&f.detection, &f.artifact)
        else {
            continue;
        };
        let key = (f.location.source, &f.location.path, record.record_number);
        if referenced.contains(rule) && record.timestamp.is_some() && seen.insert(key) {
            replay.push(f);
        }
    }
    replay.sort_by(|a, b| order(a).cmp(&order(b)));

    let mut groups: BTreeMap<GroupId, Vec<Open>> = BTreeMap::new();
    for (key, f) in replay.iter().enumerate() {
        let Artifact::Record { record, .. } = &f.artifact else {
            continue;
        };
        let ts = record.timestamp.map_or(0, |t| t.as_second());
        let system = event::system_fields(record);
        let mut fed: HashSet<String> = HashSet::new();
        for src in logsource::sources(record.channel.as_deref(), record.event_id) {
            let ev = event::RecordEvent::new(record, &system, src.renames);
            let dets: Vec<_> = set
                .evaluate(&ev, &src, |rule| referenced.contains(&rule))
                .into_iter()
                .filter(|d| {
                    d.header
                        .rule_id
                        .as_ref()
                        .is_none_or(|id| fed.insert(id.clone()))
                })
                .collect();
            if dets.is_empty() {
                continue;
            }
            let keyed = Keyed { inner: ev, key };
            for res in engine.process_with_detections(&keyed, dets, ts) {
                let (Some(corr), Some(body)) = (
                    index_of(&res.header.custom_attributes),
                    res.as_correlation(),
                ) else {
                    continue;
                };
                let members: Vec<usize> = body
                    .event_refs
                    .iter()
                    .flatten()
                    .filter_map(|r| r.id.as_deref()?.parse().ok())
                    .collect();
                let open = groups.entry((corr, body.group_key.clone())).or_default();
                match open.last_mut() {
                    Some(last) if members.iter().any(|m| last.members.contains(m)) => {
                        last.members.extend(members);
                        last.value = body.aggregated_value;
                    }
                    _ => open.push(Open {
                        trigger: key,
                        members: members.into_iter().collect(),
                        value: body.aggregated_value,
                        timespan: body.timespan_secs,
                        kind: body.correlation_type.as_str(),
                    }),
                }
            }
        }
    }

    let mut out = Vec::new();
    for ((corr, group_key), opens) in groups {
        for open in opens {
            out.push(finding(corr, &group_key, open, &replay));
        }
    }
    out
}

/// A correlation and the values of its `group-by` fields.
type GroupId = (RuleIdx, Vec<(String, String)>);

/// A firing being gathered: the replay positions of its records.
struct Open {
    /// The record whose arrival met the condition.
    trigger: usize,
    members: std::collections::BTreeSet<usize>,
    value: f64,
    timespan: u64,
    kind: &'static str,
}

fn finding(
    corr: RuleIdx,
    group_key: &[(String, String)],
    open: Open,
    replay: &[&Finding],
) -> Finding {
    let records: Vec<Grouped> = open
        .members
        .iter()
        .filter_map(|&i| {
            let f = replay.get(i)?;
            let Detection::Rule { rule } = f.detection else {
                return None;
            };
            let Artifact::Record { record, .. } = &f.artifact else {
                return None;
            };
            Some(Grouped {
                rule,
                location: f.location.clone(),
                record_id: record.record_id,
                record_number: record.record_number,
                timestamp: record.timestamp,
                channel: record.channel.clone(),
                event_id: record.event_id,
            })
        })
        .collect();
    // The earliest record places the evidence; a correlation over
    // correlations lists none of its own and is placed by the record that
    // completed it.
    let first = open.members.first().copied().unwrap_or(open.trigger);
    let location = replay[first].location.clone();
    let field = group_key
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(", ");
    Finding {
        detection: Detection::Rule { rule: corr },
        field,
        value: format_value(open.value),
        matched: group_key.to_vec(),
        artifact: Artifact::Correlation {
            kind: open.kind.to_string(),
            value: open.value,
            timespan_secs: open.timespan,
            records,
        },
        location,
    }
}

fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        format!("{v}")
    }
}

fn order(f: &Finding) -> impl Ord + '_ {
    let (ts, rn) = match &f.artifact {
        Artifact::Record { record, .. } => (record.timestamp, record.record_number),
        _ => (None, 0),
    };
    (ts, f.location.source, &f.location.path, rn)
}

fn index_of(attrs: &std::collections::HashMap<String, Value>) -> Option<RuleIdx> {
    attrs
        .get(INDEX_ATTR)
        .and_then(Value::as_u64)
        .map(|i| i as RuleIdx)
}

/// The index a correlation rule was given at load.
pub fn index_of_rule(c: &CorrelationRule) -> Option<RuleIdx> {
    c.custom_attributes
        .get(INDEX_ATTR)
        .and_then(|v| v.as_u64())
        .map(|i| i as RuleIdx)
}
