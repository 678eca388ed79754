//! Screens an EVTX record for the literal prefilter straight from its
//! BinXML (MS-EVEN6 §2.2), without rendering it.
//!
//! Rendering a record to JSON is two thirds of what parsing a log costs, and
//! almost no record holds an IOC. Every field value the matcher sees is made
//! of the record's substitution values and its templates' static text, so
//! gathering those as text (strings as they are, binary in hex, numbers in
//! decimal when some literal could be a number) and asking the prefilter
//! about that text decides whether the record needs rendering at all. A
//! template's static text is asked about once per chunk.
//!
//! Whatever this walker does not fully understand (an unknown token or value
//! type, a length that does not add up, static text next to a substitution
//! in one value, nesting too deep) makes it answer "render": the crate's
//! rendering and the precise matcher then decide. A record is skipped only
//! when its every byte of text was seen and holds no literal.

use crate::bundle::IdMap;

use super::{RecordFilter, ValueKind};

/// Nested BinXML fragments deeper than this are left to the renderer.
const MAX_DEPTH: usize = 8;

/// Separates two values in the gathered text: no literal holds a NUL.
const SEP: u8 = 0;

/// What one chunk's screening knows; reset for every chunk, because
/// template offsets are offsets into one chunk.
pub(super) struct Screener<'f> {
    filter: &'f dyn RecordFilter,
    /// `may_match_kind` per [`ValueKind`], asked once.
    kinds: [bool; ValueKind::COUNT],
    /// Template definition offset → what records using it need.
    templates: IdMap<u32, Template>,
    text: Vec<u8>,
}

impl<'f> Screener<'f> {
    pub fn new(filter: &'f dyn RecordFilter) -> Self {
        let mut kinds = [true; ValueKind::COUNT];
        for kind in ValueKind::ALL {
            kinds[kind as usize] = filter.may_match_kind(kind);
        }
        Screener {
            filter,
            kinds,
            templates: IdMap::default(),
            text: Vec::with_capacity(4096),
        }
    }

    /// Forgets the previous chunk's templates.
    pub fn new_chunk(&mut self) {
        self.templates.clear();
    }

    /// Whether the record whose BinXML is `chunk[start..start + len]` could
    /// hold a literal, i.e. must be rendered and matched.
    pub fn must_render(&mut self, chunk: &[u8], start: usize, len: usize) -> bool {
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let end = start.saturating_add(len).min(chunk.len());
        let seen = Walk {
            c: chunk,
            template: false,
            depth: 0,
        }
        .stream(self, start, end, &mut text, &mut Shape::default());
        let render = seen.is_none() || self.filter.may_match(&text);
        self.text = text;
        render
    }

    /// What records instantiating the template defined at `def` need:
    /// `None` when they must render (its static text holds a literal, or it
    /// could not be read).
    fn template(&mut self, c: &[u8], def: u32, depth: usize) -> Option<&Template> {
        if !self.templates.contains_key(&def) {
            let t = self.read_template(c, def as usize, depth);
            let t = match t {
                Some((text, shape)) if !self.filter.may_match(&text) => Template {
                    render: false,
                    shape,
                },
                _ => Template {
                    render: true,
                    shape: Shape::default(),
                },
            };
            self.templates.insert(def, t);
        }
        self.templates.get(&def).filter(|t| !t.render)
    }

    /// The static text of the template at `def` and its element
    /// substitutions; `None` when it cannot be read or mixes static text with
    /// a substitution in one value.
    fn read_template(&mut self, c: &[u8], def: usize, depth: usize) -> Option<(Vec<u8>, Shape)> {
        // Header: next template (4), GUID (16), data size (4).
        let size = u32_at(c, def.checked_add(20)?)? as usize;
        let body = def + 24;
        let end = body.checked_add(size)?;
        if end > c.len() {
            return None;
        }
        let mut text = Vec::new();
        let mut shape = Shape::default();
        Walk {
            c,
            template: true,
            depth: depth + 1,
        }
        .stream(self, body, end, &mut text, &mut shape)?;
        Some((text, shape))
    }
}

/// What a template definition tells about the records that use it.
struct Template {
    /// Its static text may hold a literal (or it could not be read).
    render: bool,
    shape: Shape,
}

/// What a template's substitutions are, for checking its instances.
#[derive(Default, Clone, Copy)]
struct Shape {
    /// The substitutions declared as BinXML (nested fragments, rendered as
    /// elements, not text), a bit per id: these and only these may hold
    /// BinXML values.
    elements: u128,
    /// One past the highest substitution id: an instance with fewer values
    /// is left to the crate.
    substitutions: usize,
}

/// One pass over one token stream: a record's, a nested fragment's or a
/// template definition's (`template`: element starts carry a dependency id,
/// substitutions are allowed).
struct Walk<'c> {
    c: &'c [u8],
    template: bool,
    depth: usize,
}

/// Nested elements deeper than this are left to the renderer.
const MAX_ELEMENTS: usize = 32;

/// The text items of one value: an attribute's, or an element's own
/// content. Static pieces side by side are gathered side by side, but a
/// substitution next to anything else, or text beside child elements (which
/// a renderer may join), could form a literal that no gathered piece holds.
#[derive(Default, Clone, Copy)]
struct Run {
    items: usize,
    substitution: bool,
    children: bool,
}

impl Run {
    /// `None` when the value mixes pieces in a way the gathered text may
    /// not show.
    fn check(self) -> Option<()> {
        let mixed = (self.substitution && self.items > 1) || (self.items > 0 && self.children);
        (!mixed).then_some(())
    }
}

/// The open elements' runs and the attribute being read, if any.
struct Runs {
    elements: [Run; MAX_ELEMENTS],
    open: usize,
    attribute: Option<Run>,
}

impl Runs {
    fn new() -> Self {
        Runs {
            elements: [Run::default(); MAX_ELEMENTS],
            open: 0,
            attribute: None,
        }
    }

    fn current(&mut self) -> &mut Run {
        match &mut self.attribute {
            Some(a) => a,
            None => &mut self.elements[self.open],
        }
    }

    fn end_attribute(&mut self) -> Option<()> {
        self.attribute.take().map_or(Some(()), Run::check)
    }

    /// A child element (or a template instance, which expands to elements).
    fn child(&mut self) -> Option<()> {
        if self.attribute.is_some() {
            return None;
        }
        self.elements[self.open].children = true;
        Some(())
    }

    fn open(&mut self) -> Option<()> {
        self.child()?;
        self.open += 1;
        *self.elements.get_mut(self.open)? = Run::default();
        Some(())
    }

    fn close(&mut self) -> Option<()> {
        self.end_attribute()?;
        if self.open == 0 {
            return None;
        }
        self.open -= 1;
        self.elements[self.open + 1].check()
    }

    fn text(&mut self) {
        self.current().items += 1;
    }

    fn substitution(&mut self) {
        let r = self.current();
        r.items += 1;
        r.substitution = true;
    }

    fn finish(mut self) -> Option<()> {
        self.end_attribute()?;
        (self.open == 0).then_some(())?;
        self.elements[0].check()
    }
}

impl Walk<'_> {
    /// Gathers the text of the tokens in `pos..end` up to an end-of-stream
    /// token into `out`.
    /// In a template, what its substitutions are goes to `shape` (BinXML
    /// ones by id; ids past 127 are not expected).
    fn stream(
        &self,
        s: &mut Screener,
        mut pos: usize,
        end: usize,
        out: &mut Vec<u8>,
        shape: &mut Shape,
    ) -> Option<()> {
        if self.depth > MAX_DEPTH || end > self.c.len() {
            return None;
        }
        let c = self.c;
        let mut runs = Runs::new();
        while pos < end {
            let token = c[pos];
            pos += 1;
            match token {
                0x00 => break,
                0x0f => pos += 3,
                0x01 | 0x41 => {
                    runs.open()?;
                    sep(out);
                    if self.template {
                        pos += 2;
                    }
                    pos = name_ref(c, pos + 4)?;
                    if token == 0x41 {
                        pos += 4;
                    }
                }
                0x02 => {
                    runs.end_attribute()?;
                    sep(out);
                }
                0x03 | 0x04 => {
                    runs.close()?;
                    sep(out);
                }
                0x06 | 0x46 => {
                    runs.end_attribute()?;
                    runs.attribute = Some(Run::default());
                    sep(out);
                    pos = name_ref(c, pos)?;
                }
                0x05 | 0x45 => {
                    // Value text: a string type and a counted UTF-16 string.
                    if *c.get(pos)? != 0x01 {
                        return None;
                    }
                    pos = counted_utf16(c, pos + 1, out)?;
                    runs.text();
                }
                0x07 | 0x47 | 0x0b => {
                    // CDATA, processing-instruction data.
                    pos = counted_utf16(c, pos, out)?;
                    runs.text();
                }
                0x08 | 0x48 => {
                    push_unit(out, u16_at(c, pos)?);
                    pos += 2;
                    runs.text();
                }
                0x09 | 0x49 => {
                    // An entity (`&amp;` …) renders as punctuation no
                    // literal holds: a break in the text.
                    pos = name_ref(c, pos)?;
                    sep(out);
                    runs.text();
                }
                0x0a => pos = name_ref(c, pos)?,
                0x0c if !self.template => {
                    runs.child()?;
                    sep(out);
                    pos = self.instance(s, pos, out)?;
                }
                0x0d | 0x0e if self.template => {
                    let id = u16_at(c, pos)?;
                    shape.substitutions = shape.substitutions.max(usize::from(id) + 1);
                    // A nested fragment renders as elements: a child.
                    if *c.get(pos + 2)? == 0x21 {
                        runs.child()?;
                        shape.elements |= 1u128.checked_shl(u32::from(id))?;
                    } else {
                        runs.substitution();
                    }
                    pos += 3;
                }
                _ => return None,
            }
        }
        if pos > end {
            return None;
        }
        // A template with no element is what a stale record's reference to
        // an overwritten definition reads as: the crate refuses it ("missing
        // root element"), and carving drops such records as noise.
        if self.template && !runs.elements[0].children {
            return None;
        }
        sep(out);
        runs.finish()
    }

    /// A template instance whose token ended before `pos`: the template's
    /// verdict, then each substitution value. Returns where the instance ends.
    fn instance(&self, s: &mut Screener, mut pos: usize, out: &mut Vec<u8>) -> Option<usize> {
        let c = self.c;
        // Unknown byte, template id, definition offset.
        let def = u32_at(c, pos + 5)?;
        pos += 9;
        if def as usize == pos {
            // Defined here, inline: skip over the definition.
            let size = u32_at(c, pos + 20)? as usize;
            pos = pos.checked_add(24 + size)?;
        }
        let shape = s.template(c, def, self.depth)?.shape;
        let count = u32_at(c, pos)? as usize;
        if count < shape.substitutions {
            return None;
        }
        pos += 4;
        let descriptors = c.get(pos..pos.checked_add(count.checked_mul(4)?)?)?;
        pos += descriptors.len();
        for (i, d) in descriptors.chunks_exact(4).enumerate() {
            // A nested fragment where the template expects text, or text
            // where it expects elements, is not a shape this walker knows.
            let element = i < 128 && shape.elements & (1 << i) != 0;
            if (d[2] == 0x21) != element && !(element && d[2] == 0x00) {
                return None;
            }
            let size = usize::from(u16::from_le_bytes([d[0], d[1]]));
            let value = c.get(pos..pos + size)?;
            self.value(s, d[2], pos, value, out)?;
            pos += size;
        }
        Some(pos)
    }

    /// Gathers one substitution value of type `ty` found at `at`.
    fn value(
        &self,
        s: &mut Screener,
        ty: u8,
        at: usize,
        v: &[u8],
        out: &mut Vec<u8>,
    ) -> Option<()> {
        let wants = |kind: ValueKind| s.kinds[kind as usize];
        // The crate reads a fixed-size value whole whatever its descriptor
        // says: one sized too small shifts every later value, whose text
        // this walker would then not see. Leave such records to it.
        let array = ty & 0x80 != 0;
        if let Some(n) = natural_size(ty & 0x7f, v).filter(|_| !(array && ty & 0x7f == 0x13))
            && (if array {
                !v.len().is_multiple_of(n)
            } else {
                v.len() < n
            })
        {
            return None;
        }
        match ty {
            0x00 => {}
            0x01 => {
                // An odd size is an error the crate must report.
                if !v.len().is_multiple_of(2) {
                    return None;
                }
                push_utf16(out, v);
            }
            0x02 => push_ansi(out, v),
            0x03..=0x0a => {
                if wants(ValueKind::Integer) {
                    push_integer(out, ty, v)?;
                }
            }
            // SizeT is written as hex, like HexInt32/64; other sizes fail.
            0x10 | 0x14 | 0x15 => {
                if ty == 0x10 && !matches!(v.len(), 4 | 8) {
                    return None;
                }
                if wants(ValueKind::Hex) {
                    let n = match v.len() {
                        4 if ty != 0x15 => u64::from(u32_at(v, 0)?),
                        8 if ty != 0x14 => u64_at(v, 0)?,
                        _ => return None,
                    };
                    out.extend_from_slice(b"0x");
                    push_digits(out, n, 16);
                }
            }
            // A bool slot holding neither 0 nor 1 is written as the integer.
            0x0d => {
                if wants(ValueKind::Bool) || wants(ValueKind::Integer) {
                    match u32_at(v, 0)? as i32 {
                        0 => out.extend_from_slice(b"false"),
                        1 => out.extend_from_slice(b"true"),
                        n => push_signed(out, i64::from(n)),
                    }
                }
            }
            0x0e => push_hex_upper(out, v),
            0x21 => {
                let nested = Walk {
                    c: self.c,
                    template: false,
                    depth: self.depth + 1,
                };
                nested.stream(s, at, at + v.len(), out, &mut Shape::default())?;
            }
            // String arrays: NUL-terminated items, which the crate renders
            // joined by commas.
            0x81 => {
                if !v.len().is_multiple_of(2) || !(v.is_empty() || v.ends_with(&[0, 0])) {
                    return None;
                }
                push_utf16_list(out, v);
            }
            0x82 => out.extend(v.iter().map(|&b| match b {
                0 => b',',
                0x01..=0x7f => b,
                _ => SEP,
            })),
            _ => {
                let kind = ValueKind::of_type(ty & 0x7f)?;
                let renders = ty & 0x80 == 0 || ValueKind::ARRAYS_OK.contains(&(ty & 0x7f));
                let integers = matches!(ty & 0x7f, 0x0d) && wants(ValueKind::Integer);
                if wants(kind) || integers || !renders {
                    return None;
                }
            }
        }
        sep(out);
        Some(())
    }
}

/// The bytes the crate reads for a value of fixed-size type `ty`
/// (MS-EVEN6 §2.2.18; a SID by its sub-authority count), or an array item's.
fn natural_size(ty: u8, v: &[u8]) -> Option<usize> {
    Some(match ty {
        0x03 | 0x04 => 1,
        0x05 | 0x06 => 2,
        0x07 | 0x08 | 0x0b | 0x0d | 0x14 => 4,
        0x09 | 0x0a | 0x0c | 0x11 | 0x15 => 8,
        0x0f | 0x12 => 16,
        0x13 => 8 + 4 * usize::from(*v.get(1).unwrap_or(&0)),
        _ => return None,
    })
}

impl ValueKind {
    /// The kind of a scalar value type whose text this walker does not write.
    fn of_type(ty: u8) -> Option<ValueKind> {
        Some(match ty {
            0x03..=0x0a => ValueKind::Integer,
            0x0b | 0x0c => ValueKind::Float,
            0x0d => ValueKind::Bool,
            0x0f => ValueKind::Guid,
            0x11 | 0x12 => ValueKind::Time,
            0x13 => ValueKind::Sid,
            0x10 | 0x14 | 0x15 => ValueKind::Hex,
            _ => return None,
        })
    }

    /// Array element types the crate renders (others fail to render, and
    /// the renderer must say so).
    const ARRAYS_OK: [u8; 19] = [
        0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0f, 0x11, 0x12, 0x13,
        0x14, 0x15, 0x01, 0x02,
    ];
}

/// Skips a name reference at `pos`, and the name itself when it is stored
/// right there (its offset is its own position).
///
/// A name stored elsewhere must at least lie inside the chunk: the crate
/// reads it to render the record, and fails on one that does not.
fn name_ref(c: &[u8], pos: usize) -> Option<usize> {
    let off = u32_at(c, pos)? as usize;
    let after = pos + 4;
    // Next-string link (4), hash (2), character count (2), characters, NUL.
    let chars = usize::from(u16_at(c, off + 6)?);
    let end = off + 10 + 2 * chars;
    if end > c.len() {
        return None;
    }
    Some(if off == after { end } else { after })
}

/// A UTF-16 string prefixed by its length in code units.
fn counted_utf16(c: &[u8], pos: usize, out: &mut Vec<u8>) -> Option<usize> {
    let units = usize::from(u16_at(c, pos)?);
    let bytes = c.get(pos + 2..pos + 2 + 2 * units)?;
    push_utf16(out, bytes);
    Some(pos + 2 + 2 * units)
}

/// UTF-16LE text as the ASCII a literal can be made of: every other code
/// unit becomes a break, except the two whose lower case is ASCII (the
/// matcher compares lower-cased text). Written to vectorise: most text is
/// ASCII, and the fix-up pass runs only when some unit is not.
fn push_utf16(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len() / 2, SEP);
    let dst = &mut out[start..];
    let mut wide = 0u8;
    for (d, p) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
        let (lo, hi) = (p[0], p[1]);
        wide |= hi | (lo & 0x80);
        *d = if hi == 0 && lo < 0x80 { lo } else { SEP };
    }
    if wide != 0 {
        for (d, p) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
            if p[1] != 0 {
                *d = unit_byte(u16::from_le_bytes([p[0], p[1]]));
            }
        }
    }
}

fn push_unit(out: &mut Vec<u8>, unit: u16) {
    out.push(unit_byte(unit));
}

fn unit_byte(unit: u16) -> u8 {
    match unit {
        0x01..=0x7f => unit as u8,
        0x212a => b'k', // KELVIN SIGN
        0x0130 => b'i', // LATIN CAPITAL LETTER I WITH DOT ABOVE
        _ => SEP,
    }
}

fn push_utf16_list(out: &mut Vec<u8>, bytes: &[u8]) {
    for pair in bytes.chunks_exact(2) {
        match u16::from_le_bytes([pair[0], pair[1]]) {
            0 => out.push(b','),
            unit => push_unit(out, unit),
        }
    }
}

/// ANSI text: in every Windows code page a byte below 0x80 is that ASCII
/// character, and no byte above decodes to ASCII.
fn push_ansi(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(bytes.iter().map(|&b| if b < 0x80 { b } else { SEP }));
}

fn push_hex_upper(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// An integer value in decimal, as the crate writes it.
fn push_integer(out: &mut Vec<u8>, ty: u8, v: &[u8]) -> Option<()> {
    match (ty, v.len()) {
        (0x03, 1) => push_signed(out, i64::from(v[0] as i8)),
        (0x04, 1) => push_digits(out, u64::from(v[0]), 10),
        (0x05, 2) => push_signed(out, i64::from(u16_at(v, 0)? as i16)),
        (0x06, 2) => push_digits(out, u64::from(u16_at(v, 0)?), 10),
        (0x07, 4) => push_signed(out, i64::from(u32_at(v, 0)? as i32)),
        (0x08, 4) => push_digits(out, u64::from(u32_at(v, 0)?), 10),
        (0x09, 8) => push_signed(out, u64_at(v, 0)? as i64),
        (0x0a, 8) => push_digits(out, u64_at(v, 0)?, 10),
        _ => return None,
    }
    Some(())
}

fn push_signed(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_digits(out, n.unsigned_abs(), 10);
}

/// `n` in base 10 or 16 (lower case), without allocating: this runs for
/// every number of every record when some literal could be a number.
fn push_digits(out: &mut Vec<u8>, mut n: u64, base: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % base) as usize];
        n /= base;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Ends a value: one break, however many values or elements end here (the
/// automaton then reads fewer bytes).
fn sep(out: &mut Vec<u8>) {
    if out.last() != Some(&SEP) {
        out.push(SEP);
    }
}

fn u16_at(c: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_le_bytes(c.get(pos..pos + 2)?.try_into().ok()?))
}

fn u32_at(c: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_le_bytes(c.get(pos..pos + 4)?.try_into().ok()?))
}

fn u64_at(c: &[u8], pos: usize) -> Option<u64> {
    Some(u64::from_le_bytes(c.get(pos..pos + 8)?.try_into().ok()?))
}

/// The integration tests' writer of Windows-shaped logs, for screening
/// records one by one.
#[cfg(test)]
#[path = "../../tests/support/evtx_templates.rs"]
pub(super) mod fixture;

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::artifact::Screen;

    use super::fixture::{Data, Record, Value as V, write_templated_evtx};

    /// A filter with one literal; integers are wanted when it is digits.
    struct One(&'static str);

    impl RecordFilter for One {
        fn screen(&self) -> Screen {
            Screen::Text
        }
        fn may_match(&self, text: &[u8]) -> bool {
            text.to_ascii_lowercase()
                .windows(self.0.len())
                .any(|w| w == self.0.as_bytes())
        }
        fn may_match_kind(&self, kind: ValueKind) -> bool {
            kind == ValueKind::Integer && self.0.bytes().all(|b| b.is_ascii_digit())
        }
    }

    /// Record id → whether the screener asks for it to be rendered.
    fn screen(records: &[Record], filter: &dyn RecordFilter) -> Vec<(u64, bool)> {
        let log = write_templated_evtx(records);
        let settings = Arc::new(evtx::ParserSettings::new());
        let mut s = Screener::new(filter);
        let mut out = Vec::new();
        for chunk in log[4096..].chunks(65536) {
            let mut data = evtx::EvtxChunkData::new(chunk.to_vec(), false).unwrap();
            let mut chunk = data.parse(Arc::clone(&settings)).unwrap();
            s.new_chunk();
            // Records the crate cannot build are its to report.
            for r in chunk.iter().flatten() {
                let render = s.must_render(
                    r.chunk.data,
                    r.binxml_offset as usize,
                    r.binxml_size as usize,
                );
                out.push((r.event_record_id, render));
            }
        }
        out
    }

    fn rendered(records: &[Record], lit: &'static str) -> Vec<u64> {
        screen(records, &One(lit))
            .into_iter()
            .filter(|&(_, r)| r)
            .map(|(id, _)| id)
            .collect()
    }

    fn sample() -> Vec<Record> {
        let field = |id, name: &str, d: Data| {
            Record::new(id, 1, &[("Other", Data::Sub(V::U32(7))), (name, d)])
        };
        vec![
            field(1, "Image", Data::Sub(V::Str(r"C:\T\needle.exe".into()))),
            field(2, "Image", Data::Sub(V::Str(r"C:\T\hay.exe".into()))),
            field(3, "Query", Data::Sub(V::Ansi("needle.example".into()))),
            field(4, "Hash", Data::Sub(V::Binary(vec![0xab, 0xcd, 0xef]))),
            field(5, "Port", Data::Sub(V::U32(31337))),
            field(6, "Ip", Data::Static("needle static".into())),
            field(7, "Cmd", Data::Mixed("nee".into(), V::Str("dle".into()))),
            field(
                8,
                "List",
                Data::Sub(V::StrArray(vec!["a".into(), "needle".into()])),
            ),
            field(9, "Sid", Data::Sub(V::Sid(5, vec![18]))),
            // The first shape again: its template is now referenced by offset.
            field(10, "Image", Data::Sub(V::Str(r"C:\T\NEEDLE.exe".into()))),
            field(11, "Image", Data::Sub(V::Str(r"C:\T\hay2.exe".into()))),
        ]
    }

    #[test]
    fn numbers_are_written_as_the_crate_writes_them() {
        let text = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut v = Vec::new();
            f(&mut v);
            String::from_utf8(v).unwrap()
        };
        assert_eq!(text(&|o| push_signed(o, i64::MIN)), i64::MIN.to_string());
        assert_eq!(
            text(&|o| push_digits(o, u64::MAX, 10)),
            u64::MAX.to_string()
        );
        assert_eq!(text(&|o| push_digits(o, 0, 10)), "0");
        assert_eq!(text(&|o| push_digits(o, 0x3e7, 16)), "3e7");
        assert_eq!(
            text(&|o| {
                push_integer(o, 0x05, &(-2i16).to_le_bytes());
            }),
            "-2"
        );
    }

    #[test]
    fn only_records_whose_text_holds_the_literal_render() {
        let recs = sample();
        // Mixed content (7) always renders: its pieces alone cannot say.
        assert_eq!(rendered(&recs, "needle"), vec![1, 3, 6, 7, 8, 10]);
        assert_eq!(rendered(&recs, "abcdef"), vec![4, 7]);
        assert_eq!(rendered(&recs, "31337"), vec![5, 7]);
        // Numbers are left out unless a literal could be one.
        assert_eq!(rendered(&recs, "4242"), vec![7]);
        assert_eq!(rendered(&recs, "hay"), vec![2, 7, 11]);
    }

    #[test]
    fn values_the_crate_would_read_differently_render() {
        let recs = vec![
            // A u32 whose descriptor says 2 bytes: the crate reads 4 and
            // every later value shifts.
            Record::new(
                1,
                1,
                &[
                    ("A", Data::Sub(V::Raw(0x08, vec![1, 2]))),
                    ("B", Data::Sub(V::Str("hay".into()))),
                ],
            ),
            // A UTF-16 string of odd size is an error for the crate (it
            // reports record 2 as corrupt; it never reaches the screener).
            Record::new(2, 1, &[("A", Data::Sub(V::Raw(0x01, vec![b'h', 0, b'a'])))]),
            // SizeT of 2 bytes is refused; of 8 it is hex (no literal here).
            Record::new(3, 1, &[("A", Data::Sub(V::Raw(0x10, vec![1, 2])))]),
            Record::new(
                4,
                1,
                &[(
                    "A",
                    Data::Sub(V::Raw(0x10, vec![0x1f, 0, 0, 0, 0, 0, 0, 0])),
                )],
            ),
            // A SID shorter than its sub-authority count says.
            Record::new(
                5,
                1,
                &[(
                    "A",
                    Data::Sub(V::Raw(0x13, vec![1, 2, 0, 0, 0, 0, 0, 5, 18, 0, 0, 0])),
                )],
            ),
            Record::new(6, 1, &[("A", Data::Sub(V::Str("plain".into())))]),
        ];
        // 2 and 3 the crate itself rejects (and reports).
        assert_eq!(rendered(&recs, "needle"), vec![1, 5]);
        // A bool slot holding 4242 is written (and matched) as 4242.
        let flag = [Record::new(
            7,
            1,
            &[("F", Data::Sub(V::Raw(0x0d, 4242u32.to_le_bytes().to_vec())))],
        )];
        assert_eq!(rendered(&flag, "4242"), vec![7]);
        assert!(rendered(&flag, "4243").is_empty());
    }
}
