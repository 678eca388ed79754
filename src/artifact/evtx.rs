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

use super::evtx_json::fill_record;
use super::{Damage, DamageKind, Prefilter, ReadSeek, Record, RecordItem, RecordParser};

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
        prefilter: Prefilter,
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
                    Ok(json) if !prefilter(&json.data) => out(RecordItem::Filtered),
                    Ok(json) => {
                        let mut rec = Record {
                            record_id: id,
                            timestamp: Some(json.timestamp),
                            recovered,
                            ..Record::default()
                        };
                        // Raw control characters are rare: escape only on failure.
                        let filled = fill_record(&json.data, &mut rec).or_else(|_| {
                            rec.data.clear();
                            fill_record(&escape_controls(json.data), &mut rec)
                        });
                        match filled {
                            Ok(()) => out(RecordItem::Record(Box::new(rec))),
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn raw_control_characters_are_escaped() {
        let fixed = escape_controls(b"{\"a\":\"x\x01y\ttab\"}".to_vec());
        let v: serde_json::Value = serde_json::from_slice(&fixed).unwrap();
        assert_eq!(v["a"], "x\u{1}y\ttab");
    }

    fn record_of(v: serde_json::Value) -> Record {
        let mut r = Record::default();
        fill_record(v.to_string().as_bytes(), &mut r).unwrap();
        r
    }

    #[test]
    fn normalises_system_fields_and_flattens_data() {
        let r = record_of(json!({"Event": {
            "#attributes": {"xmlns": "x"},
            "System": {
                "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon", "Guid": "{5770}"}},
                "EventID": "1",
                "Channel": "Microsoft-Windows-Sysmon/Operational",
                "Computer": "WS01",
                "Security": {"#attributes": {"UserID": "S-1-5-18"}}
            },
            "EventData": {"Image": "C:\\x.exe", "ProcessId": 42, "Data": ["a", "b"], "Empty": null},
            "UserData": {"LogFileCleared": {"#attributes": {"xmlns": "y"}, "SubjectUserName": "bob"}}
        }}));
        assert_eq!(r.event_id, Some(1));
        assert_eq!(r.provider.as_deref(), Some("Microsoft-Windows-Sysmon"));
        assert_eq!(
            r.channel.as_deref(),
            Some("Microsoft-Windows-Sysmon/Operational")
        );
        assert_eq!(r.computer.as_deref(), Some("WS01"));
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
        let qualified = record_of(
            json!({"Event": {"System": {"EventID": {"#attributes": {"Qualifiers": 16384}, "#text": 7045}}}}),
        );
        assert_eq!(qualified.event_id, Some(7045));
    }
}
