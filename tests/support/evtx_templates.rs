//! EVTX records in the form Windows writes them: template instances with
//! typed substitution values, the System block one template and EventData
//! a nested BinXML fragment instantiating another, each template defined
//! inline on its first use in a chunk and referenced by offset after. The
//! plain writer (`evtx.rs`) writes element trees; this one is what the
//! scanner's BinXML screening meets in real logs, with values of chosen
//! types, static text and mixed content where a test wants them.
#![allow(dead_code)]

use std::collections::HashMap;

/// The plain writer (element trees), whose file and chunk framing, names
/// and text this one shares; the tests reach it as `support::evtx`.
#[path = "evtx.rs"]
pub mod plain;

const CHUNK: usize = 65536;

/// A typed substitution value.
#[derive(Clone, Debug)]
pub enum Value {
    Str(String),
    Ansi(String),
    Binary(Vec<u8>),
    U32(u32),
    Hex64(u64),
    Guid([u8; 16]),
    FileTime(u64),
    /// `S-1-<authority>-<sub>…`
    Sid(u64, Vec<u32>),
    StrArray(Vec<String>),
    Null,
    /// Any type byte and bytes, for values the crate reads oddly.
    Raw(u8, Vec<u8>),
}

/// One `<Data Name=…>` of EventData.
#[derive(Clone, Debug)]
pub enum Data {
    /// The value is a substitution.
    Sub(Value),
    /// The value is static text of the template.
    Static(String),
    /// Static text followed by a substitution in the one value.
    Mixed(String, Value),
}

#[derive(Clone, Debug)]
pub struct Record {
    pub record_id: u64,
    pub event_id: u16,
    pub fields: Vec<(String, Data)>,
    /// The Channel value as written, when not `Test/Operational`.
    pub channel: Option<Value>,
    /// The EventID value as written, when not `event_id` as a UInt32.
    pub event_id_value: Option<Value>,
}

impl Record {
    pub fn new(record_id: u64, event_id: u16, fields: &[(&str, Data)]) -> Self {
        Record {
            record_id,
            event_id,
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
            channel: None,
            event_id_value: None,
        }
    }
}

/// A whole log of one or more chunks holding `records` in order.
pub fn write_templated_evtx(records: &[Record]) -> Vec<u8> {
    let mut chunks = Vec::new();
    let mut cur = Chunk::new();
    for r in records {
        if !cur.add(r) {
            chunks.push(cur.finish());
            cur = Chunk::new();
            assert!(cur.add(r), "one record larger than a chunk");
        }
    }
    chunks.push(cur.finish());
    let next_id = records.iter().map(|r| r.record_id).max().unwrap_or(0) + 1;
    plain::log_file(chunks, next_id)
}

struct Chunk {
    buf: Vec<u8>,
    /// Template shape → offset of its definition in this chunk.
    templates: HashMap<String, u32>,
    first_id: u64,
    last_id: u64,
    last_offset: usize,
    records: u64,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            buf: plain::chunk_start(),
            templates: HashMap::new(),
            first_id: 0,
            last_id: 0,
            last_offset: 0,
            records: 0,
        }
    }

    fn add(&mut self, r: &Record) -> bool {
        let start = self.buf.len();
        let saved = self.templates.clone();
        let mut w = W {
            base: 0,
            b: std::mem::take(&mut self.buf),
        };
        w.u32(0x2a2a);
        w.u32(0);
        w.u64(r.record_id);
        w.u64(132_000_000_000_000_000 + r.record_id);
        self.record(&mut w, r);
        let size = w.b.len() - start + 4;
        w.u32(size as u32);
        put(&mut w.b, start + 4, &(size as u32).to_le_bytes());
        self.buf = w.b;
        if self.buf.len() > CHUNK {
            self.buf.truncate(start);
            self.templates = saved;
            return false;
        }
        if self.records == 0 {
            self.first_id = r.record_id;
        }
        self.records += 1;
        self.last_id = r.record_id;
        self.last_offset = start;
        true
    }

    /// The record's BinXML: the System template's instance, whose last value
    /// is the EventData fragment.
    fn record(&mut self, w: &mut W, r: &Record) {
        w.fragment_header();
        let system = [
            Value::Str("Microsoft-Windows-Test".into()),
            r.event_id_value
                .clone()
                .unwrap_or(Value::U32(u32::from(r.event_id))),
            Value::FileTime(132_000_000_000_000_000 + r.record_id),
            Value::Hex64(r.record_id),
            r.channel
                .clone()
                .unwrap_or(Value::Str("Test/Operational".into())),
            Value::Str("WS01.corp.example".into()),
            Value::Sid(5, vec![21, 1_004_336_348, 1_177_238_915, 682_003_330, 1001]),
        ];
        // EventData goes last, so its position is known when it is built.
        let mut values: Vec<(u8, Vec<u8>)> = system.iter().map(encode).collect();
        self.instance(w, "system", system_body, &mut values, |chunk, at| {
            let mut nested = W {
                base: at,
                b: Vec::new(),
            };
            nested.fragment_header();
            let mut data_values: Vec<(u8, Vec<u8>)> = r
                .fields
                .iter()
                .filter_map(|(_, d)| match d {
                    Data::Sub(v) | Data::Mixed(_, v) => Some(encode(v)),
                    Data::Static(_) => None,
                })
                .collect();
            let shape = shape_of(r);
            let fields = r.fields.clone();
            chunk.instance(
                &mut nested,
                &shape,
                move |t| data_body(t, &fields),
                &mut data_values,
                |_, _| None,
            );
            nested.u8(0x00);
            Some((0x21, nested.b))
        });
        w.u8(0x00);
    }

    /// A template instance: the definition inline on first use, then the
    /// values; `last` may add one value built at its final position.
    fn instance(
        &mut self,
        w: &mut W,
        shape: &str,
        body: impl FnOnce(&mut W),
        values: &mut Vec<(u8, Vec<u8>)>,
        last: impl FnOnce(&mut Chunk, usize) -> Option<(u8, Vec<u8>)>,
    ) {
        w.u8(0x0c);
        w.u8(0x01);
        w.u32(self.templates.len() as u32 + 1);
        let def_at = w.pos() + 4;
        match self.templates.get(shape) {
            Some(&def) => w.u32(def),
            None => {
                w.u32(def_at as u32);
                self.templates.insert(shape.to_string(), def_at as u32);
                w.u32(0);
                w.b.extend_from_slice(&[0x5a; 16]);
                let size_at = w.b.len();
                w.u32(0);
                let mut t = W {
                    base: w.pos(),
                    b: Vec::new(),
                };
                t.fragment_header();
                body(&mut t);
                t.u8(0x00);
                put(&mut w.b, size_at, &(t.b.len() as u32).to_le_bytes());
                w.b.extend_from_slice(&t.b);
            }
        }
        let count = values.len() + 1;
        let descriptors_at = w.pos() + 4;
        let values_at = descriptors_at + 4 * count;
        let last_at = values_at + values.iter().map(|(_, v)| v.len()).sum::<usize>();
        if let Some(v) = last(self, last_at) {
            values.push(v);
        }
        w.u32(values.len() as u32);
        for (ty, v) in values.iter() {
            w.u16(v.len() as u16);
            w.u8(*ty);
            w.u8(0);
        }
        for (_, v) in values.iter() {
            w.b.extend_from_slice(v);
        }
    }

    fn finish(self) -> Vec<u8> {
        plain::finish_chunk(
            self.buf,
            self.records,
            self.first_id,
            self.last_id,
            self.last_offset,
        )
    }
}

/// `<Event><System>…</System>%7</Event>`: System values 0–6, EventData a
/// nested fragment in substitution 7.
fn system_body(t: &mut W) {
    let event = t.open(
        "Event",
        &[(
            "xmlns",
            Attr::Text("http://schemas.microsoft.com/win/2004/08/events/event"),
        )],
    );
    t.u8(0x02);
    let system = t.open("System", &[]);
    t.u8(0x02);
    t.leaf("Provider", &[("Name", Attr::Sub(0, 0x01))], None);
    t.leaf("EventID", &[], Some(&|t: &mut W| t.sub(1, 0x08)));
    t.leaf("TimeCreated", &[("SystemTime", Attr::Sub(2, 0x11))], None);
    t.leaf("EventRecordID", &[], Some(&|t: &mut W| t.sub(3, 0x15)));
    t.leaf("Channel", &[], Some(&|t: &mut W| t.sub(4, 0x01)));
    t.leaf("Computer", &[], Some(&|t: &mut W| t.sub(5, 0x01)));
    t.leaf("Security", &[("UserID", Attr::Sub(6, 0x13))], None);
    t.u8(0x04);
    t.close(system);
    t.sub(7, 0x21);
    t.u8(0x04);
    t.close(event);
}

/// `<EventData><Data Name="…">…</Data>…</EventData>` for these fields.
fn data_body(t: &mut W, fields: &[(String, Data)]) {
    let ed = t.open("EventData", &[]);
    t.u8(0x02);
    let mut id = 0u16;
    for (name, d) in fields {
        let at = t.open("Data", &[("Name", Attr::Text(name))]);
        t.u8(0x02);
        match d {
            Data::Sub(v) => {
                t.sub(id, encode(v).0);
                id += 1;
            }
            Data::Static(s) => t.text(s),
            Data::Mixed(s, v) => {
                t.text(s);
                t.sub(id, encode(v).0);
                id += 1;
            }
        }
        t.u8(0x04);
        t.close(at);
    }
    t.u8(0x04);
    t.close(ed);
}

/// What makes two EventData templates the same one.
fn shape_of(r: &Record) -> String {
    r.fields
        .iter()
        .map(|(n, d)| match d {
            Data::Sub(v) => format!("{n}=%{}", encode(v).0),
            Data::Static(s) => format!("{n}={s}"),
            Data::Mixed(s, v) => format!("{n}={s}%{}", encode(v).0),
        })
        .collect::<Vec<_>>()
        .join(";")
}

fn encode(v: &Value) -> (u8, Vec<u8>) {
    let utf16 = |s: &str| -> Vec<u8> { s.encode_utf16().flat_map(u16::to_le_bytes).collect() };
    match v {
        Value::Str(s) => (0x01, utf16(s)),
        Value::Ansi(s) => (0x02, s.as_bytes().to_vec()),
        Value::Binary(b) => (0x0e, b.clone()),
        Value::U32(n) => (0x08, n.to_le_bytes().to_vec()),
        Value::Hex64(n) => (0x15, n.to_le_bytes().to_vec()),
        Value::Guid(g) => (0x0f, g.to_vec()),
        Value::FileTime(t) => (0x11, t.to_le_bytes().to_vec()),
        Value::Sid(auth, subs) => {
            let mut b = vec![1, subs.len() as u8];
            b.extend_from_slice(&auth.to_be_bytes()[2..]);
            for s in subs {
                b.extend_from_slice(&s.to_le_bytes());
            }
            (0x13, b)
        }
        Value::StrArray(items) => {
            let mut b = Vec::new();
            for s in items {
                b.extend(utf16(s));
                b.extend_from_slice(&[0, 0]);
            }
            (0x81, b)
        }
        Value::Null => (0x00, Vec::new()),
        Value::Raw(ty, b) => (*ty, b.clone()),
    }
}

enum Attr<'a> {
    Text(&'a str),
    /// Substitution id and declared type.
    Sub(u16, u8),
}

/// BinXML at a known chunk offset (`base`), which inline names and
/// definitions need.
struct W {
    base: usize,
    b: Vec<u8>,
}

impl W {
    fn pos(&self) -> usize {
        self.base + self.b.len()
    }
    fn u8(&mut self, v: u8) {
        self.b.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.b.extend_from_slice(&v.to_le_bytes());
    }
    fn fragment_header(&mut self) {
        self.b.extend_from_slice(&[0x0f, 1, 1, 0]);
    }

    /// A name reference with the name right after it.
    fn name(&mut self, s: &str) {
        let at = self.pos();
        plain::push_name(&mut self.b, at, s);
    }

    fn text(&mut self, s: &str) {
        plain::push_text(&mut self.b, s);
    }

    fn sub(&mut self, id: u16, ty: u8) {
        self.u8(0x0e);
        self.u16(id);
        self.u8(ty);
    }

    /// An element start in a template (with a dependency id); returns where
    /// its data size goes.
    fn open(&mut self, name: &str, attrs: &[(&str, Attr)]) -> usize {
        self.u8(if attrs.is_empty() { 0x01 } else { 0x41 });
        self.u16(0xffff);
        let size_at = self.b.len();
        self.u32(0);
        self.name(name);
        if !attrs.is_empty() {
            let list_at = self.b.len();
            self.u32(0);
            for (i, (k, v)) in attrs.iter().enumerate() {
                self.u8(if i + 1 < attrs.len() { 0x46 } else { 0x06 });
                self.name(k);
                match v {
                    Attr::Text(s) => self.text(s),
                    Attr::Sub(id, ty) => self.sub(*id, *ty),
                }
            }
            let list = self.b.len() - list_at - 4;
            put(&mut self.b, list_at, &(list as u32).to_le_bytes());
        }
        size_at
    }

    fn close(&mut self, size_at: usize) {
        let size = self.b.len() - size_at - 4;
        put(&mut self.b, size_at, &(size as u32).to_le_bytes());
    }

    fn leaf(&mut self, name: &str, attrs: &[(&str, Attr)], content: Option<&dyn Fn(&mut W)>) {
        let at = self.open(name, attrs);
        match content {
            None => self.u8(0x03),
            Some(f) => {
                self.u8(0x02);
                f(self);
                self.u8(0x04);
            }
        }
        self.close(at);
    }
}

fn put(b: &mut [u8], at: usize, v: &[u8]) {
    b[at..at + v.len()].copy_from_slice(v);
}
