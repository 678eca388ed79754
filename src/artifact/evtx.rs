//! Windows XML event logs (EVTX), through the `evtx` crate.
//!
//! The crate's own multi-threaded record pipeline blocks the calling thread
//! in a channel `recv()` while its chunk jobs run on the current rayon pool;
//! two workers parsing two logs on a two-thread pool would both block and
//! nothing would run the jobs. So chunks are read in order on the calling
//! thread and parsed on the pool through `par_bridge` (work-stealing, never
//! blocking), one 64 KiB chunk at a time: memory stays flat in log size and
//! one big log still uses every core.
//!
//! Dirty logs are the norm: a chunk that fails (bad magic, unreadable header)
//! and a record that fails are each reported as [`Damage`] and the rest of
//! the log goes on. Records carved from chunk slack are kept, marked
//! `recovered`.

use std::sync::Arc;

use evtx::{EvtxParser, ParserSettings};
use rayon::iter::{ParallelBridge, ParallelIterator};
use serde_json::Value;

use super::{Damage, DamageKind, ReadSeek, Record, RecordItem, RecordParser};

pub struct Evtx;

const MAGIC: &[u8; 8] = b"ElfFile\0";

impl RecordParser for Evtx {
    fn name(&self) -> &'static str {
        "evtx"
    }

    fn detect(&self, head: &[u8]) -> bool {
        head.starts_with(MAGIC)
    }

    fn parse(
        &self,
        reader: Box<dyn ReadSeek>,
        out: &(dyn Fn(RecordItem) + Sync),
    ) -> Result<(), String> {
        let settings = ParserSettings::new()
            .num_threads(1)
            .indent(false)
            .separate_json_attributes(false)
            .recover_records(true);
        let settings = Arc::new(settings);
        let mut parser = EvtxParser::from_read_seek(reader)
            .map_err(|e| format!("not a readable EVTX file: {}", chain(&e)))?
            .with_configuration((*settings).clone());
        let chunks = parser.chunks();
        chunks.enumerate().par_bridge().for_each(|(seq, chunk)| {
            let mut data = match chunk {
                Ok(d) => d,
                Err(e) => {
                    out(RecordItem::Damage(Damage {
                        kind: DamageKind::Chunk,
                        chunk: chunk_number(&e).or(Some(seq as u64)),
                        record_id: None,
                        message: chain(&e),
                    }));
                    return;
                }
            };
            let number = data.number;
            let mut chunk = match data.parse(Arc::clone(&settings)) {
                Ok(c) => c,
                Err(e) => {
                    out(RecordItem::Damage(Damage {
                        kind: DamageKind::Chunk,
                        chunk: number,
                        record_id: None,
                        message: chain(&e),
                    }));
                    return;
                }
            };
            for record in chunk.iter() {
                let damage = |record_id, message| {
                    RecordItem::Damage(Damage {
                        kind: DamageKind::Record,
                        chunk: number,
                        record_id,
                        message,
                    })
                };
                let record = match record {
                    Ok(r) => r,
                    Err(e) => {
                        out(damage(record_id_of(&e), chain(&e)));
                        continue;
                    }
                };
                let (id, recovered) = (record.event_record_id, record.recovered);
                match record.into_json_bytes() {
                    Ok(json) => {
                        match serde_json::from_slice::<Value>(&escape_controls(json.data)) {
                            Ok(v) => out(RecordItem::Record(Box::new(normalize(
                                id,
                                json.timestamp,
                                recovered,
                                &v,
                            )))),
                            Err(e) => out(damage(
                                Some(id),
                                format!("record renders as invalid JSON: {e}"),
                            )),
                        }
                    }
                    // A carved candidate that does not render is noise, not
                    // a damaged record (the crate drops such candidates too).
                    Err(_) if recovered => {}
                    Err(e) => out(damage(Some(id), chain(&e))),
                }
            }
        });
        Ok(())
    }
}

/// The crate writes control characters found in event strings raw, which
/// JSON forbids. Its output is unindented, so every byte below 0x20 is inside
/// a string and can be escaped in place.
fn escape_controls(json: Vec<u8>) -> Vec<u8> {
    if !json.iter().any(|&b| b < 0x20) {
        return json;
    }
    let mut out = Vec::with_capacity(json.len() + 16);
    for b in json {
        if b < 0x20 {
            out.extend_from_slice(format!("\\u{b:04x}").as_bytes());
        } else {
            out.push(b);
        }
    }
    out
}

/// The error and its causes on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

fn chunk_number(e: &evtx::err::EvtxError) -> Option<u64> {
    match e {
        evtx::err::EvtxError::FailedToParseChunk { chunk_id, .. } => Some(*chunk_id),
        _ => None,
    }
}

fn record_id_of(e: &evtx::err::EvtxError) -> Option<u64> {
    match e {
        evtx::err::EvtxError::FailedToParseRecord { record_id, .. } => Some(*record_id),
        _ => None,
    }
}

/// Builds a [`Record`] from the crate's JSON rendering of one event.
pub(super) fn normalize(
    record_id: u64,
    timestamp: jiff::Timestamp,
    recovered: bool,
    v: &Value,
) -> Record {
    let event = v.get("Event").unwrap_or(v);
    let system = event.get("System").unwrap_or(&Value::Null);
    let attr = |node: &Value, name: &str| {
        node.get("#attributes")
            .and_then(|a| a.get(name))
            .and_then(scalar)
    };
    let mut data = Vec::new();
    for section in ["EventData", "UserData"] {
        if let Some(node) = event.get(section) {
            flatten(section, node, &mut data);
        }
    }
    Record {
        record_id,
        timestamp: Some(timestamp),
        channel: system.get("Channel").and_then(scalar),
        provider: system.get("Provider").and_then(|p| attr(p, "Name")),
        event_id: system.get("EventID").and_then(|e| {
            let s = scalar(e).or_else(|| e.get("#text").and_then(scalar))?;
            s.trim().parse().ok()
        }),
        computer: system.get("Computer").and_then(scalar),
        user: system.get("Security").and_then(|s| attr(s, "UserID")),
        data,
        recovered,
    }
}

/// A JSON scalar as text; `None` for null, objects and arrays.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Flattens EventData/UserData into `(name, value)` pairs named by their
/// innermost element: `<Data Name="Image">` → `Image`, a UserData element
/// `<LogFileCleared><SubjectUserName>` → `SubjectUserName`; `#text` takes
/// its element's name; arrays repeat the name.
fn flatten(name: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                match k.as_str() {
                    "#attributes" => {}
                    "#text" => flatten(name, child, out),
                    _ => flatten(k, child, out),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                flatten(name, item, out);
            }
        }
        Value::Null => {}
        other => {
            if let Some(s) = scalar(other) {
                out.push((name.to_string(), s));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_control_characters_are_escaped() {
        let fixed = escape_controls(b"{\"a\":\"x\x01y\ttab\"}".to_vec());
        let v: Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v["a"], "x\u{1}y\ttab");
    }

    #[test]
    fn normalises_system_fields_and_flattens_data() {
        let v = json!({"Event": {
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}},
                "EventID": "1",
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "WS01",
                "Security": {"#attributes": {"UserID": "S-1-5-18"}}
            },
            "EventData": {"Image": "C:\\x.exe", "ProcessId": 42, "Data": ["a", "b"]},
            "UserData": {"LogFileCleared": {"SubjectUserName": "bob"}}
        }});
        let r = normalize(7, jiff::Timestamp::UNIX_EPOCH, false, &v);
        assert_eq!(r.event_id, Some(1));
        assert_eq!(r.provider.as_deref(), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(r.user.as_deref(), Some("S-1-5-18"));
        assert_eq!(
            r.data,
            vec![
                ("Image".to_string(), "C:\\x.exe".to_string()),
                ("ProcessId".into(), "42".into()),
                ("Data".into(), "a".into()),
                ("Data".into(), "b".into()),
                ("SubjectUserName".into(), "bob".into()),
            ]
        );
        let qualified = json!({"Event": {"System": {"EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045}}}});
        assert_eq!(
            normalize(1, jiff::Timestamp::UNIX_EPOCH, false, &qualified).event_id,
            Some(7045)
        );
    }
}
