//! Windows XML event logs (EVTX), through the `evtx` crate.
//!
//! The log's bytes are fed in order by the caller, which hashes the same
//! bytes: a log is read once. The whole 64 KiB chunks of each read (up to a
//! megabyte, or a whole memory-mapped file) are parsed in place, on the
//! worker pool when there are several (rayon, work-stealing, never
//! blocking): memory stays flat in log size, one big log still uses every
//! core, and only a chunk cut by two reads is copied. The crate's own file
//! reader is not used: it seeks (to the oldest chunk first), and its
//! multi-threaded pipeline blocks the calling thread in a channel `recv()`
//! while its chunk jobs run on the current rayon pool (two workers parsing
//! two logs on a two-thread pool would both block with nothing left to run
//! the jobs).
//!
//! Each record is screened from its BinXML first ([`super::binxml`]): only
//! records whose data could hold a literal are turned into fields, which is
//! most of the cost of a parse, and those straight from their BinXML where
//! the screener knows their shape (else rendered to JSON by the crate). A chunk whose every
//! record screens clean is not handed to the crate's record walk at all
//! ([`clean_chunk`]).
//!
//! Dirty logs are the norm: a chunk that fails (bad magic, unreadable header,
//! cut short) and a record that fails are each reported as [`Damage`] and the
//! rest of the log goes on. Records carved from chunk slack are kept, marked
//! `recovered`.

use std::sync::Arc;

use evtx::{
    EvtxChunk, EvtxChunkData, EvtxChunkHeader, EvtxFileHeader, EvtxRecordHeader, ParserSettings,
};
use rayon::prelude::*;

use super::binxml::{Screener, Verdict};
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

const CHUNK_HEADER_SIZE: usize = 512;

/// A record's header (magic, size, id, time) before its BinXML.
const RECORD_HEADER_SIZE: usize = 24;

const RECORD_MAGIC: &[u8; 4] = b"\x2a\x2a\x00\x00";

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
    /// The start of a chunk that the next bytes complete.
    chunk: Vec<u8>,
    /// The number of the next chunk.
    number: u64,
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
        // A chunk cut by the previous read is completed first (a copy);
        // whole chunks are parsed straight from the caller's buffer.
        let mut carried = None;
        if !self.chunk.is_empty() {
            let take = bytes.len().min(CHUNK_SIZE - self.chunk.len());
            self.chunk.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.chunk.len() < CHUNK_SIZE {
                return;
            }
            carried = Some(std::mem::take(&mut self.chunk));
        }
        let whole = bytes.len() / CHUNK_SIZE * CHUNK_SIZE;
        let (chunks, rest) = bytes.split_at(whole);
        // Chunks of zeros (preallocated, never written) are skipped.
        let mut todo: Vec<(u64, &[u8])> = Vec::with_capacity(whole / CHUNK_SIZE + 1);
        for chunk in carried
            .as_deref()
            .into_iter()
            .chain(chunks.chunks_exact(CHUNK_SIZE))
        {
            if chunk.starts_with(b"ElfChnk\0") || !all_zero(chunk) {
                todo.push((self.number, chunk));
            }
            self.number += 1;
        }
        self.parse(&todo);
        self.chunk.extend_from_slice(rest);
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
        let n = self.chunk.len();
        if !all_zero(&self.chunk) {
            (self.out)(RecordItem::Damage(Damage {
                kind: DamageKind::Chunk,
                chunk: Some(self.number),
                offset: Some(chunk_offset(self.number)),
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
    /// Parses whole chunks: on the pool when there are enough to share (a
    /// big log), on this thread otherwise (the walk already spreads small
    /// logs over the workers, and waking a thread per chunk costs more than
    /// it gains).
    fn parse(&self, chunks: &[(u64, &[u8])]) {
        let (settings, filter, out) = (&self.settings, self.filter, self.out);
        if chunks.len() < PARALLEL_FROM {
            let mut screener = Screener::new(filter);
            for &(number, data) in chunks {
                parse_chunk(number, data, settings, filter, &mut screener, out);
            }
            return;
        }
        chunks.par_iter().for_each_init(
            || Screener::new(filter),
            |screener, &(number, data)| parse_chunk(number, data, settings, filter, screener, out),
        );
    }
}

/// The items of a chunk that needs nothing of the crate's record walk: its
/// live records read one after another the way the crate walks them, the
/// stale ones in the slack after them carved the way the crate carves them,
/// and each one screened clean (fully read, no literal) or, when it may
/// hold a hit, filled from its BinXML ([`Screener::fill`]). Building every
/// record's content is most of what the crate's walk costs, and almost
/// every chunk is such a chunk. `None` (a record that does not read, a
/// candidate this walker cannot read or fill) sends the chunk to the
/// crate's walk, with its resync, carving, damage reports and rendering,
/// from scratch.
fn clean_chunk(
    data: &[u8],
    header: &EvtxChunkHeader,
    number: u64,
    screener: &mut Screener,
) -> Option<Vec<RecordItem>> {
    let live_end = (header.free_space_offset as usize).min(data.len());
    let mut at = CHUNK_HEADER_SIZE;
    let mut items = Vec::new();
    while at < live_end {
        let h = EvtxRecordHeader::from_bytes_at(data, at).ok()?;
        let size = h.record_data_size().ok()? as usize;
        let binxml = at + RECORD_HEADER_SIZE;
        if binxml + size > data.len() {
            return None;
        }
        let verdict = screener.screen(data, binxml, size);
        items.push(item(
            verdict,
            screener,
            data,
            (binxml, size),
            &h,
            number,
            false,
        )?);
        at += h.data_size as usize;
        if h.event_record_id == header.last_event_record_id {
            break;
        }
    }
    // Carving: a record magic whose header reads, whose size copy follows it
    // and which ends in the chunk is a candidate; the crate keeps those it
    // can build (this walker must read them too) and resumes past the magic
    // of the others.
    let mut from = at;
    while let Some(hit) = data
        .get(from..)
        .and_then(|rest| memchr::memmem::find(rest, RECORD_MAGIC))
    {
        let pos = from + hit;
        let Some((h, binxml, size, end)) = carved(data, pos) else {
            from = pos + 1;
            continue;
        };
        match screener.screen(data, binxml, size) {
            // Noise, as the crate finds it: carving resumes past the magic.
            Verdict::Unreadable => from = pos + 1,
            verdict => {
                items.push(item(
                    verdict,
                    screener,
                    data,
                    (binxml, size),
                    &h,
                    number,
                    true,
                )?);
                from = end;
            }
        }
    }
    Some(items)
}

/// What a record screened `verdict` gives without the crate: `None` when
/// it must be rendered by it.
fn item(
    verdict: Verdict,
    screener: &mut Screener,
    data: &[u8],
    (binxml, size): (usize, usize),
    h: &EvtxRecordHeader,
    number: u64,
    recovered: bool,
) -> Option<RecordItem> {
    match verdict {
        Verdict::Clean => Some(RecordItem::Filtered),
        Verdict::Hit => {
            let mut rec = header_record(h.event_record_id, h.timestamp, number, recovered);
            screener
                .fill(data, binxml, size, &mut rec)
                .then(|| RecordItem::Record(Box::new(rec)))
        }
        Verdict::Render | Verdict::Unreadable => None,
    }
}

/// A record holding what its header says.
fn header_record(id: u64, timestamp: jiff::Timestamp, chunk: u64, recovered: bool) -> Record {
    Record {
        record_id: id,
        record_number: id,
        chunk: Some(chunk),
        timestamp: Some(timestamp),
        recovered,
        ..Record::default()
    }
}

/// A carving candidate at `pos`: its header, its BinXML window and where
/// it ends.
fn carved(data: &[u8], pos: usize) -> Option<(EvtxRecordHeader, usize, usize, usize)> {
    let h = EvtxRecordHeader::from_bytes_at(data, pos).ok()?;
    let size = h.record_data_size().ok()? as usize;
    let binxml = pos + RECORD_HEADER_SIZE;
    let copy = data.get(binxml + size..binxml + size + 4)?;
    let end = pos + h.data_size as usize;
    (u32::from_le_bytes(copy.try_into().ok()?) == h.data_size && end <= data.len())
        .then_some((h, binxml, size, end))
}

/// Byte offset in the file of chunk `number`.
fn chunk_offset(number: u64) -> u64 {
    FILE_HEADER_SIZE as u64 + number * CHUNK_SIZE as u64
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
    data: &[u8],
    settings: &Arc<ParserSettings>,
    filter: &dyn RecordFilter,
    screener: &mut Screener,
    out: &(dyn Fn(RecordItem) + Sync),
) {
    let chunk_damage = |message| {
        out(RecordItem::Damage(Damage {
            kind: DamageKind::Chunk,
            chunk: Some(number),
            offset: Some(chunk_offset(number)),
            record_id: None,
            message,
        }))
    };
    screener.new_chunk();
    let screen = filter.screen();
    if screen == Screen::Text {
        // The clean path reads the caller's bytes in place; the chunk is
        // built (its string table read) as the crate's walk would, for its
        // errors.
        let header = match EvtxChunkHeader::from_bytes(data) {
            Ok(h) => h,
            Err(e) => return chunk_damage(chain(&evtx::err::ChunkError::from(e))),
        };
        if let Err(e) = EvtxChunk::new(data, &header, Arc::clone(settings)) {
            return chunk_damage(chain(&e));
        }
        if let Some(items) = clean_chunk(data, &header, number, screener) {
            items.into_iter().for_each(out);
            return;
        }
    }
    // The crate's walk, on a chunk of its own (its errors name the chunk).
    let mut data = match EvtxChunkData::new(data.to_vec(), false) {
        Ok(d) => d,
        Err(e) => return chunk_damage(chain(&e)),
    };
    data.number = Some(number);
    // The screener's state stays valid: the same bytes at the same offsets.
    let mut chunk = match data.parse(Arc::clone(settings)) {
        Ok(c) => c,
        Err(e) => return chunk_damage(chain(&e)),
    };
    let damage = |record_id, message| {
        out(RecordItem::Damage(Damage {
            kind: DamageKind::Record,
            chunk: Some(number),
            offset: Some(chunk_offset(number)),
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
        let (id, recovered) = (record.event_record_id, record.recovered);
        let window = (record.binxml_offset as usize, record.binxml_size as usize);
        let verdict = match screen {
            Screen::Nothing => Verdict::Clean,
            Screen::Everything => Verdict::Render,
            Screen::Text => screener.screen(record.chunk.data, window.0, window.1),
        };
        if verdict == Verdict::Clean {
            out(RecordItem::Filtered);
            continue;
        }
        if verdict == Verdict::Hit {
            let mut rec = header_record(id, record.timestamp, number, recovered);
            if screener.fill(record.chunk.data, window.0, window.1, &mut rec) {
                out(RecordItem::Record(Box::new(rec)));
                continue;
            }
        }
        match record.into_json_bytes() {
            Ok(json) => {
                let mut rec = header_record(id, json.timestamp, number, recovered);
                // Raw control characters are rare: escape only on failure.
                let filled = fill_record(&json.data, &mut rec)
                    .or_else(|_| fill_record(&escape_controls(json.data), &mut rec));
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

/// A filter every record passes: each one the screener reads whole is a
/// hit, so the fill is tried on every record.
struct EveryRecord;

impl RecordFilter for EveryRecord {
    fn screen(&self) -> Screen {
        Screen::Text
    }
    fn may_match(&self, _: &[u8]) -> bool {
        true
    }
    fn may_match_kind(&self, _: super::ValueKind) -> bool {
        true
    }
    fn screens_system(&self) -> bool {
        true
    }
}

/// Each record of the 64 KiB `chunk` (number `number` in its log) that the
/// crate builds and renders, beside the same record filled straight from
/// its BinXML where the fill takes it. The two must be equal: the tests
/// and the evtx fuzz target check it.
pub fn filled_beside_rendered(chunk: &[u8], number: u64) -> Vec<(Record, Option<Record>)> {
    let mut out = Vec::new();
    let Ok(mut data) = EvtxChunkData::new(chunk.to_vec(), false) else {
        return out;
    };
    let settings = Arc::new(ParserSettings::new().recover_records(true));
    let Ok(mut c) = data.parse(settings) else {
        return out;
    };
    let mut screener = Screener::new(&EveryRecord);
    screener.new_chunk();
    for r in c.iter().flatten() {
        let (id, recovered) = (r.event_record_id, r.recovered);
        let (at, size) = (r.binxml_offset as usize, r.binxml_size as usize);
        let mut ours = header_record(id, r.timestamp, number, recovered);
        let filled = screener.screen(r.chunk.data, at, size) == Verdict::Hit
            && screener.fill(r.chunk.data, at, size, &mut ours);
        let Ok(json) = r.into_json_bytes() else {
            // Filled where the crate cannot render: a disagreement too.
            if filled {
                out.push((
                    header_record(id, jiff::Timestamp::MIN, number, recovered),
                    Some(ours),
                ));
            }
            continue;
        };
        let mut rec = header_record(id, json.timestamp, number, recovered);
        if fill_record(&json.data, &mut rec)
            .or_else(|_| fill_record(&escape_controls(json.data), &mut rec))
            .is_ok()
        {
            out.push((rec, filled.then_some(ours)));
        } else if filled {
            out.push((rec, Some(ours)));
        }
    }
    out
}

#[cfg(test)]
#[path = "evtx_fill_tests.rs"]
mod fill_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::binxml::fixture::{Data, Record as Rec, Value as V, write_templated_evtx};
    use crate::artifact::{Screen, ValueKind};
    use serde_json::json;

    /// A filter no record passes.
    struct Never;
    impl RecordFilter for Never {
        fn screen(&self) -> Screen {
            Screen::Text
        }
        fn may_match(&self, _: &[u8]) -> bool {
            false
        }
        fn may_match_kind(&self, _: ValueKind) -> bool {
            false
        }
    }

    fn first_chunk() -> Vec<u8> {
        let recs: Vec<Rec> = (1..=3)
            .map(|i| {
                Rec::new(
                    i,
                    1,
                    &[("Image", Data::Sub(V::Str(format!("C:\\x{i}.exe"))))],
                )
            })
            .collect();
        write_templated_evtx(&recs)[4096..4096 + CHUNK_SIZE].to_vec()
    }

    /// What the crate's own walk yields (records, with carving).
    fn crate_count(chunk: &[u8]) -> usize {
        let mut data = EvtxChunkData::new(chunk.to_vec(), false).unwrap();
        let settings = Arc::new(ParserSettings::new().recover_records(true));
        let mut c = data.parse(settings).unwrap();
        c.iter().filter(Result::is_ok).count()
    }

    fn ours(chunk: &[u8]) -> Option<u64> {
        let data = EvtxChunkData::new(chunk.to_vec(), false).unwrap();
        let items = clean_chunk(&data.data, &data.header, 0, &mut Screener::new(&Never))?;
        // A filter no record passes leaves nothing to fill.
        assert!(items.iter().all(|i| matches!(i, RecordItem::Filtered)));
        Some(items.len() as u64)
    }

    /// Start and size of each live record.
    fn records(chunk: &[u8]) -> Vec<(usize, usize)> {
        let free = u32::from_le_bytes(chunk[48..52].try_into().unwrap()) as usize;
        let mut at = CHUNK_HEADER_SIZE;
        let mut v = Vec::new();
        while at < free {
            let size = u32::from_le_bytes(chunk[at + 4..at + 8].try_into().unwrap()) as usize;
            v.push((at, size));
            at += size;
        }
        v
    }

    /// Where the fast path takes a chunk, the crate's own walk must agree:
    /// the same number of records and no error. Thousands of mutated chunks
    /// of Windows-shaped records with values of many types (any panic fails
    /// the test too). Run with more rounds and other seeds it found every
    /// rule in `binxml::check_value` and the tree-builder states in `Runs`
    /// (600,000 rounds over six seeds agree).
    #[test]
    fn mutated_chunks_the_fast_path_takes_agree_with_the_crate() {
        let recs: Vec<Rec> = (1..=40)
            .map(|i| {
                Rec::new(
                    i,
                    1,
                    &[
                        (
                            "Image",
                            Data::Sub(V::Str(format!("C:\\tools\\x{}.exe", i % 3))),
                        ),
                        ("Pid", Data::Sub(V::U32(i as u32))),
                        ("Hash", Data::Sub(V::Binary(vec![i as u8; 20]))),
                        ("Guid", Data::Sub(V::Guid([i as u8; 16]))),
                        (
                            "Names",
                            Data::Sub(V::StrArray(vec!["a".into(), format!("b{i}")])),
                        ),
                        ("Host", Data::Sub(V::Ansi(format!("host{i}.example")))),
                        (
                            "Flag",
                            Data::Sub(V::Raw(0x0d, (i as u32 % 3).to_le_bytes().to_vec())),
                        ),
                        ("When", Data::Sub(V::Raw(0x12, vec![i as u8; 16]))),
                        (
                            "Ratio",
                            Data::Sub(V::Raw(0x0c, (i as f64 / 3.0).to_le_bytes().to_vec())),
                        ),
                        (
                            "Sids",
                            Data::Sub(V::Raw(0x93, vec![1, 1, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])),
                        ),
                        ("Fixed", Data::Static("constant".into())),
                        ("Empty", Data::Sub(V::Null)),
                    ],
                )
            })
            .collect();
        let clean = write_templated_evtx(&recs)[4096..4096 + CHUNK_SIZE].to_vec();
        let used = u32::from_le_bytes(clean[48..52].try_into().unwrap()) as usize;
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let (mut fast, mut slow) = (0, 0);
        for round in 0..3000 {
            let mut chunk = clean.clone();
            for _ in 0..1 + next() % 4 {
                // Mostly inside the records; sometimes a stale copy in the slack.
                let at = 512 + (next() as usize) % (used - 512);
                chunk[at] = next() as u8;
            }
            if round % 7 == 0 {
                let from = 512 + (next() as usize) % (used - 600);
                chunk.copy_within(from..from + 400, 60_000);
            }
            if round % 5 == 0 {
                // A stale copy of a whole record, itself damaged: carving
                // must keep or drop it as the crate does.
                let live = records(&clean);
                let (at, size) = live[(next() as usize) % live.len()];
                chunk.copy_within(at..at + size, 60_000);
                for _ in 0..1 + next() % 3 {
                    chunk[60_000 + (next() as usize) % size] = next() as u8;
                }
            }
            if round % 11 == 0 {
                // The header's last record id, its offset, the free space.
                let field = [32usize, 44, 48][(next() % 3) as usize];
                chunk[field + (next() % 2) as usize] = next() as u8;
            }
            let Ok(data) = EvtxChunkData::new(chunk.clone(), false) else {
                continue;
            };
            match clean_chunk(&data.data, &data.header, 0, &mut Screener::new(&Never)) {
                Some(items) => {
                    let n = items.len() as u64;
                    fast += 1;
                    let mut data = data;
                    let settings = Arc::new(ParserSettings::new().recover_records(true));
                    let Ok(mut c) = data.parse(settings) else {
                        panic!("round {round}: the crate refuses a chunk the fast path took");
                    };
                    let results: Vec<_> = c.iter().map(|r| r.map(|_| ())).collect();
                    let ok = results.iter().filter(|r| r.is_ok()).count() as u64;
                    let errors = results.len() as u64 - ok;
                    let first_err = results
                        .iter()
                        .find_map(|r| r.as_ref().err().map(|e| format!("{e:?}")));
                    assert_eq!((n, 0), (ok, errors), "round {round}: {first_err:?}");
                }
                None => slow += 1,
            }
        }
        assert!(fast > 100 && slow > 100, "fast {fast}, slow {slow}");
    }

    #[test]
    fn clean_chunks_count_what_the_crates_walk_yields() {
        let chunk = first_chunk();
        assert_eq!(ours(&chunk), Some(3));
        assert_eq!(crate_count(&chunk), 3);

        // A stale copy of a record in the slack: carved by both.
        let (at, size) = records(&chunk)[1];
        let mut stale = chunk.clone();
        stale.copy_within(at..at + size, 60_000);
        assert_eq!(crate_count(&stale), 4);
        assert_eq!(ours(&stale), Some(4));

        // A stale record whose template reference points at zeros (its
        // definition overwritten): noise to the crate, which this walk must
        // not count either; it leaves the chunk to the crate.
        let (at3, size3) = records(&chunk)[2];
        let mut gone = chunk.clone();
        gone.copy_within(at3..at3 + size3, 60_000);
        // The EventData instance, nested in the System one's last value.
        let nested = (60_000..60_000 + size3)
            .filter(|&i| gone[i..i + 5] == [0x0f, 1, 1, 0, 0x0c])
            .nth(1)
            .unwrap()
            + 4;
        gone[nested + 6..nested + 10].copy_from_slice(&62_000u32.to_le_bytes());
        assert_eq!(crate_count(&gone), 3);
        assert_eq!(ours(&gone), Some(3));
        // … or past the chunk's end.
        gone[nested + 6..nested + 10].copy_from_slice(&65_530u32.to_le_bytes());
        assert_eq!(crate_count(&gone), 3);
        assert_eq!(ours(&gone), Some(3));

        // A name is read up to its first NUL: what follows need not be
        // UTF-16 (a lone surrogate here), and the crate reads the chunk.
        let name: Vec<u8> = "Provider"
            .encode_utf16()
            .flat_map(u16::to_le_bytes)
            .collect();
        let at_name = chunk
            .windows(16)
            .position(|w| w == name.as_slice())
            .unwrap();
        let mut odd = chunk.clone();
        odd[at_name + 4..at_name + 8].copy_from_slice(&[0, 0, 0x00, 0xd8]);
        assert_eq!(crate_count(&odd), 3);
        assert_eq!(ours(&odd), Some(3));

        // A live record that does not read goes to the crate's walk.
        let mut broken = chunk.clone();
        broken[at] = 0;
        assert_eq!(ours(&broken), None);
    }

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
