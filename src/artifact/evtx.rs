//! Windows XML event logs (EVTX), through the `evtx` crate.
//!
//! The log's bytes are fed in order by the caller, which hashes the same
//! bytes: a log is read once. They are cut into 64 KiB chunks, and every
//! [`BATCH`] chunks are parsed on the worker pool (rayon, work-stealing,
//! never blocking): memory stays flat in log size and one big log still uses
//! every core. The crate's own file reader is not used: it seeks (to the
//! oldest chunk first), and its multi-threaded pipeline blocks the calling
//! thread in a channel `recv()` while its chunk jobs run on the current
//! rayon pool (two workers parsing two logs on a two-thread pool would both
//! block with nothing left to run the jobs).
//!
//! Each record is screened from its BinXML first ([`super::binxml`]): only
//! records whose text could hold a literal are rendered to JSON and turned
//! into fields, which is most of the cost of a parse.
//!
//! Dirty logs are the norm: a chunk that fails (bad magic, unreadable header,
//! cut short) and a record that fails are each reported as [`Damage`] and the
//! rest of the log goes on. Records carved from chunk slack are kept, marked
//! `recovered`.

use std::sync::Arc;

use evtx::{EvtxChunkData, EvtxFileHeader, ParserSettings};
use rayon::prelude::*;

use super::binxml::Screener;
use super::evtx_json::fill_record;
use super::{
    Damage, DamageKind, LogStream, Record, RecordFilter, RecordItem, RecordParser, RecordSink,
    Screen,
};

pub struct Evtx;

const MAGIC: &[u8; 8] = b"ElfFile\0";

/// The file header block before the first chunk.
const FILE_HEADER_SIZE: usize = 4096;

const CHUNK_SIZE: usize = 65536;

/// Chunks parsed together (1 MiB).
const BATCH: usize = 16;

/// Batches of at least this many chunks are parsed on the pool.
const PARALLEL_FROM: usize = 4;

impl RecordParser for Evtx {
    fn name(&self) -> &'static str {
        "evtx"
    }

    fn detect(&self, head: &[u8]) -> bool {
        head.starts_with(MAGIC)
    }

    fn start<'a>(
        &self,
        filter: &'a dyn RecordFilter,
        out: RecordSink<'a>,
    ) -> Box<dyn LogStream + 'a> {
        Box::new(EvtxStream {
            filter,
            out,
            settings: Arc::new(
                ParserSettings::new()
                    .num_threads(1)
                    .indent(false)
                    .separate_json_attributes(false)
                    .recover_records(true),
            ),
            header: Vec::with_capacity(FILE_HEADER_SIZE),
            failed: None,
            chunk: Vec::new(),
            number: 0,
            batch: Vec::with_capacity(BATCH),
        })
    }
}

/// One log being fed.
struct EvtxStream<'a> {
    filter: &'a dyn RecordFilter,
    out: RecordSink<'a>,
    settings: Arc<ParserSettings>,
    /// The file header, until it is whole and checked.
    header: Vec<u8>,
    /// Why the log cannot be parsed, once known: the rest is not parsed.
    failed: Option<String>,
    /// The chunk being filled.
    chunk: Vec<u8>,
    /// The number of the chunk being filled.
    number: u64,
    /// Whole chunks waiting to be parsed.
    batch: Vec<(u64, Vec<u8>)>,
}

impl LogStream for EvtxStream<'_> {
    fn feed(&mut self, mut bytes: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if self.header.len() < FILE_HEADER_SIZE {
            let take = bytes.len().min(FILE_HEADER_SIZE - self.header.len());
            self.header.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.header.len() == FILE_HEADER_SIZE
                && let Err(e) = EvtxFileHeader::from_bytes(&self.header)
            {
                self.failed = Some(format!("not a readable EVTX file: {}", chain(&e)));
                return;
            }
        }
        while !bytes.is_empty() {
            // Whole chunks straight from the caller's buffer: a chunk of
            // zeros is then never copied.
            if self.chunk.is_empty() && bytes.len() >= CHUNK_SIZE {
                let (whole, rest) = bytes.split_at(CHUNK_SIZE);
                self.chunk_done(whole);
                bytes = rest;
                continue;
            }
            let take = bytes.len().min(CHUNK_SIZE - self.chunk.len());
            self.chunk.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.chunk.len() == CHUNK_SIZE {
                let full = std::mem::take(&mut self.chunk);
                self.chunk_done(&full);
                self.chunk = full;
                self.chunk.clear();
            }
        }
    }

    fn finish(mut self: Box<Self>) -> Result<(), String> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if self.header.len() < FILE_HEADER_SIZE {
            return Err(format!(
                "not a readable EVTX file: {} bytes, shorter than the {FILE_HEADER_SIZE}-byte file header",
                self.header.len()
            ));
        }
        self.parse_batch();
        let n = self.chunk.len();
        if !all_zero(&self.chunk) {
            (self.out)(RecordItem::Damage(Damage {
                kind: DamageKind::Chunk,
                chunk: Some(self.number),
                record_id: None,
                message: format!(
                    "the file ends {n} bytes into this chunk (a chunk is {CHUNK_SIZE}): its records were not read"
                ),
            }));
        }
        Ok(())
    }
}

impl EvtxStream<'_> {
    /// A whole chunk: queued unless it is zeros (preallocated, never
    /// written); a full batch is parsed.
    fn chunk_done(&mut self, chunk: &[u8]) {
        if chunk.starts_with(b"ElfChnk\0") || !all_zero(chunk) {
            self.batch.push((self.number, chunk.to_vec()));
        }
        self.number += 1;
        if self.batch.len() == BATCH {
            self.parse_batch();
        }
    }

    /// Parses the queued chunks: on the pool when there are enough to share
    /// (a big log), on this thread otherwise (the walk already spreads small
    /// logs over the workers, and waking a thread per chunk costs more than
    /// it gains).
    fn parse_batch(&mut self) {
        let (settings, filter, out) = (&self.settings, self.filter, self.out);
        if self.batch.len() < PARALLEL_FROM {
            let mut screener = Screener::new(filter);
            for (number, data) in self.batch.drain(..) {
                parse_chunk(number, data, settings, filter, &mut screener, out);
            }
            return;
        }
        self.batch.par_drain(..).for_each_init(
            || Screener::new(filter),
            |screener, (number, data)| parse_chunk(number, data, settings, filter, screener, out),
        );
    }
}

/// Whether every byte is zero; an OR over blocks, which vectorises.
fn all_zero(b: &[u8]) -> bool {
    b.chunks(4096)
        .all(|block| block.iter().fold(0u8, |acc, &x| acc | x) == 0)
}

/// Parses one chunk's records; records the screener rules out are counted
/// without being rendered.
fn parse_chunk(
    number: u64,
    data: Vec<u8>,
    settings: &Arc<ParserSettings>,
    filter: &dyn RecordFilter,
    screener: &mut Screener,
    out: &(dyn Fn(RecordItem) + Sync),
) {
    let chunk_damage = |message| {
        out(RecordItem::Damage(Damage {
            kind: DamageKind::Chunk,
            chunk: Some(number),
            record_id: None,
            message,
        }))
    };
    let mut data = match EvtxChunkData::new(data, false) {
        Ok(d) => d,
        Err(e) => return chunk_damage(chain(&e)),
    };
    data.number = Some(number);
    let mut chunk = match data.parse(Arc::clone(settings)) {
        Ok(c) => c,
        Err(e) => return chunk_damage(chain(&e)),
    };
    screener.new_chunk();
    let screen = filter.screen();
    let damage = |record_id, message| {
        out(RecordItem::Damage(Damage {
            kind: DamageKind::Record,
            chunk: Some(number),
            record_id,
            message,
        }))
    };
    for record in chunk.iter() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                damage(record_id_of(&e), chain(&e));
                continue;
            }
        };
        let render = match screen {
            Screen::Nothing => false,
            Screen::Everything => true,
            Screen::Text => screener.must_render(
                record.chunk.data,
                record.binxml_offset as usize,
                record.binxml_size as usize,
            ),
        };
        if !render {
            out(RecordItem::Filtered);
            continue;
        }
        let (id, recovered) = (record.event_record_id, record.recovered);
        match record.into_json_bytes() {
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
                    Err(e) => damage(Some(id), format!("record renders as invalid JSON: {e}")),
                }
            }
            // A carved candidate that does not render is noise, not a
            // damaged record (the crate drops such candidates too).
            Err(_) if recovered => {}
            Err(e) => damage(Some(id), chain(&e)),
        }
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
