//! A small EVTX writer for the tests: records with chosen System fields and
//! EventData/UserData, so every IOC type and field shape has a fixture of our
//! own (the corpus is not ours to ship). Records are plain BinXML element
//! trees (no templates) with names stored inline; the evtx crate reads them
//! like any log, which is the check that the writer is right.
//!
//! Layout (libevtx documentation): a 4 KiB file header, then 64 KiB chunks,
//! each a 512-byte header followed by records `**\0\0 | size | id | time |
//! BinXML | size`, with CRC32s over the file header, chunk header and
//! records.
#![allow(dead_code)]

const CHUNK: usize = 65536;
const CHUNK_HEADER: usize = 512;

/// The EventID as the log stores it.
#[derive(Clone, Debug)]
pub enum EventId {
    Number(u16),
    /// Some logs (and carved or converted ones) store it as text.
    Text(String),
}

/// EventData (`<Data Name=…>`) or UserData (`<Root><Name>…`).
#[derive(Clone, Debug)]
pub enum Payload {
    EventData(Vec<(String, String)>),
    UserData(String, Vec<(String, String)>),
}

#[derive(Clone, Debug)]
pub struct Event {
    /// The record header's number.
    pub record_id: u64,
    /// The System block's EventRecordID, when it differs from the header's
    /// number (exported and filtered logs renumber headers).
    pub system_record_id: Option<u64>,
    /// Seconds since the Unix epoch.
    pub unix_time: i64,
    pub provider: String,
    pub event_id: EventId,
    pub channel: String,
    pub computer: String,
    pub user_sid: Option<String>,
    pub payload: Payload,
}

impl Event {
    /// An event with EventData fields.
    pub fn new(
        record_id: u64,
        provider: &str,
        event_id: u16,
        channel: &str,
        data: &[(&str, &str)],
    ) -> Self {
        Event {
            record_id,
            system_record_id: None,
            unix_time: 1_700_000_000 + record_id as i64,
            provider: provider.into(),
            event_id: EventId::Number(event_id),
            channel: channel.into(),
            computer: "WS01.corp.example".into(),
            user_sid: Some("S-1-5-18".into()),
            payload: Payload::EventData(
                data.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        }
    }
}

/// Builds a whole log file from `events`, in order, over as many chunks as
/// they need.
pub fn write_evtx(events: &[Event]) -> Vec<u8> {
    let mut chunks: Vec<Vec<u8>> = Vec::new();
    let mut cur = ChunkWriter::new();
    for ev in events {
        if !cur.try_add(ev) {
            chunks.push(cur.finish());
            cur = ChunkWriter::new();
            assert!(cur.try_add(ev), "one record larger than a chunk");
        }
    }
    if cur.records > 0 || chunks.is_empty() {
        chunks.push(cur.finish());
    }
    let next_id = events.iter().map(|e| e.record_id).max().unwrap_or(0) + 1;
    log_file(chunks, next_id)
}

/// A log file: its 4 KiB header (with its CRC) and the finished chunks.
pub fn log_file(chunks: Vec<Vec<u8>>, next_id: u64) -> Vec<u8> {
    let mut file = vec![0u8; 4096];
    file[..8].copy_from_slice(b"ElfFile\0");
    put_u64(&mut file, 8, 0);
    put_u64(&mut file, 16, chunks.len() as u64 - 1);
    put_u64(&mut file, 24, next_id);
    put_u32(&mut file, 32, 128);
    put_u16(&mut file, 36, 1);
    put_u16(&mut file, 38, 3);
    put_u16(&mut file, 40, 4096);
    put_u16(&mut file, 42, chunks.len() as u16);
    put_u32(&mut file, 120, 0);
    let crc = crc32(&file[..120]);
    put_u32(&mut file, 124, crc);
    for c in chunks {
        file.extend_from_slice(&c);
    }
    file
}

/// A new chunk's bytes: its magic and room for the header.
pub fn chunk_start() -> Vec<u8> {
    let mut buf = vec![0u8; CHUNK_HEADER];
    buf[..8].copy_from_slice(b"ElfChnk\0");
    buf
}

/// Pads a chunk's records to 64 KiB and fills in its header and CRCs.
pub fn finish_chunk(
    mut b: Vec<u8>,
    records: u64,
    first_id: u64,
    last_id: u64,
    last_offset: usize,
) -> Vec<u8> {
    let free = b.len();
    b.resize(CHUNK, 0);
    put_u64(&mut b, 8, 1);
    put_u64(&mut b, 16, records);
    put_u64(&mut b, 24, first_id);
    put_u64(&mut b, 32, last_id);
    put_u32(&mut b, 40, 128);
    put_u32(&mut b, 44, last_offset as u32);
    put_u32(&mut b, 48, free as u32);
    let data_crc = crc32(&b[CHUNK_HEADER..free]);
    put_u32(&mut b, 52, data_crc);
    let mut h = crc32fast::Hasher::new();
    h.update(&b[..120]);
    h.update(&b[128..512]);
    let header_crc = h.finalize();
    put_u32(&mut b, 124, header_crc);
    b
}

/// A name reference at chunk offset `at` (where `b` ends) with the name
/// stored right after it.
pub fn push_name(b: &mut Vec<u8>, at: usize, s: &str) {
    let here = at as u32 + 4;
    b.extend_from_slice(&here.to_le_bytes());
    b.extend_from_slice(&0u32.to_le_bytes()); // next name in the hash bucket
    let units: Vec<u16> = s.encode_utf16().collect();
    let hash = units.iter().fold(0u32, |h, &c| {
        h.wrapping_mul(65599).wrapping_add(u32::from(c))
    });
    b.extend_from_slice(&(hash as u16).to_le_bytes());
    b.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for u in units {
        b.extend_from_slice(&u.to_le_bytes());
    }
    b.extend_from_slice(&[0, 0]);
}

/// A value-text token holding the string `s`.
pub fn push_text(b: &mut Vec<u8>, s: &str) {
    let units: Vec<u16> = s.encode_utf16().collect();
    b.extend_from_slice(&[0x05, 0x01]);
    b.extend_from_slice(&(units.len() as u16).to_le_bytes());
    for u in units {
        b.extend_from_slice(&u.to_le_bytes());
    }
}

struct ChunkWriter {
    buf: Vec<u8>,
    records: u64,
    first_id: u64,
    last_id: u64,
    last_offset: usize,
}

impl ChunkWriter {
    fn new() -> Self {
        ChunkWriter {
            buf: chunk_start(),
            records: 0,
            first_id: 0,
            last_id: 0,
            last_offset: 0,
        }
    }

    fn try_add(&mut self, ev: &Event) -> bool {
        let start = self.buf.len();
        let mut w = BinXml {
            buf: std::mem::take(&mut self.buf),
        };
        w.u32(0x0000_2a2a);
        w.u32(0); // size, patched
        w.u64(ev.record_id);
        w.u64(((ev.unix_time + 11_644_473_600) * 10_000_000) as u64);
        w.event(ev);
        let size = w.buf.len() - start + 4;
        w.u32(size as u32);
        put_u32(&mut w.buf, start + 4, size as u32);
        self.buf = w.buf;
        if self.buf.len() > CHUNK {
            self.buf.truncate(start);
            return false;
        }
        if self.records == 0 {
            self.first_id = ev.record_id;
        }
        self.records += 1;
        self.last_id = ev.record_id;
        self.last_offset = start;
        true
    }

    fn finish(self) -> Vec<u8> {
        finish_chunk(
            self.buf,
            self.records,
            self.first_id,
            self.last_id,
            self.last_offset,
        )
    }
}

/// Writes BinXML into the chunk buffer; positions are chunk offsets, which
/// inline names need.
struct BinXml {
    buf: Vec<u8>,
}

enum Content<'a> {
    Empty,
    Text(&'a str),
    U16(u16),
}

impl BinXml {
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A name reference with the name stored right after it.
    fn name(&mut self, s: &str) {
        let at = self.buf.len();
        push_name(&mut self.buf, at, s);
    }

    fn string_value(&mut self, s: &str) {
        push_text(&mut self.buf, s);
    }

    /// Opens an element; returns where its data size goes.
    fn open(&mut self, name: &str, attrs: &[(&str, &str)]) -> usize {
        self.u8(if attrs.is_empty() { 0x01 } else { 0x41 });
        let size_at = self.buf.len();
        self.u32(0);
        self.name(name);
        if !attrs.is_empty() {
            let list_at = self.buf.len();
            self.u32(0);
            for (i, (k, v)) in attrs.iter().enumerate() {
                self.u8(if i + 1 < attrs.len() { 0x46 } else { 0x06 });
                self.name(k);
                self.string_value(v);
            }
            let list = self.buf.len() - list_at - 4;
            put_u32(&mut self.buf, list_at, list as u32);
        }
        size_at
    }

    fn close(&mut self, size_at: usize) {
        let size = self.buf.len() - size_at - 4;
        put_u32(&mut self.buf, size_at, size as u32);
    }

    fn leaf(&mut self, name: &str, attrs: &[(&str, &str)], content: Content) {
        let at = self.open(name, attrs);
        match content {
            Content::Empty => self.u8(0x03),
            Content::Text(t) => {
                self.u8(0x02);
                self.string_value(t);
                self.u8(0x04);
            }
            Content::U16(v) => {
                self.u8(0x02);
                self.u8(0x05);
                self.u8(0x06);
                self.u16(v);
                self.u8(0x04);
            }
        }
        self.close(at);
    }

    fn event(&mut self, ev: &Event) {
        self.u8(0x0f);
        self.u8(1);
        self.u8(1);
        self.u8(0);
        let event = self.open(
            "Event",
            &[(
                "xmlns",
                "http://schemas.microsoft.com/win/2004/08/events/event",
            )],
        );
        self.u8(0x02);
        let system = self.open("System", &[]);
        self.u8(0x02);
        self.leaf("Provider", &[("Name", &ev.provider)], Content::Empty);
        match &ev.event_id {
            EventId::Number(n) => self.leaf("EventID", &[], Content::U16(*n)),
            EventId::Text(t) => self.leaf("EventID", &[], Content::Text(t)),
        }
        let when = jiff::Timestamp::from_second(ev.unix_time)
            .unwrap()
            .to_string();
        self.leaf("TimeCreated", &[("SystemTime", &when)], Content::Empty);
        self.leaf(
            "EventRecordID",
            &[],
            Content::Text(&ev.system_record_id.unwrap_or(ev.record_id).to_string()),
        );
        self.leaf("Channel", &[], Content::Text(&ev.channel));
        self.leaf("Computer", &[], Content::Text(&ev.computer));
        match &ev.user_sid {
            Some(sid) => self.leaf("Security", &[("UserID", sid)], Content::Empty),
            None => self.leaf("Security", &[], Content::Empty),
        }
        self.u8(0x04);
        self.close(system);
        match &ev.payload {
            Payload::EventData(fields) => {
                let data = self.open("EventData", &[]);
                self.u8(0x02);
                for (k, v) in fields {
                    self.leaf("Data", &[("Name", k)], Content::Text(v));
                }
                self.u8(0x04);
                self.close(data);
            }
            Payload::UserData(root, fields) => {
                let user = self.open("UserData", &[]);
                self.u8(0x02);
                let r = self.open(root, &[]);
                self.u8(0x02);
                for (k, v) in fields {
                    self.leaf(k, &[], Content::Text(v));
                }
                self.u8(0x04);
                self.close(r);
                self.u8(0x04);
                self.close(user);
            }
        }
        self.u8(0x04);
        self.close(event);
        self.u8(0x00);
    }
}

fn put_u16(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_le_bytes());
}
fn put_u32(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_le_bytes());
}
fn put_u64(b: &mut [u8], at: usize, v: u64) {
    b[at..at + 8].copy_from_slice(&v.to_le_bytes());
}
fn crc32(data: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(data);
    h.finalize()
}
