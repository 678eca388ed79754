//! Screens an EVTX record for the literal prefilter straight from its
//! BinXML (MS-EVEN6 §2.2), without rendering it.
//!
//! Rendering a record to JSON is two thirds of what parsing a log costs, and
//! almost no record holds an IOC. The matcher reads only `Record::data`: the
//! element text under `Event › EventData` and `Event › UserData` (see
//! `evtx_json`). That text is made of the record's substitution values and
//! its templates' static text, so gathering exactly those pieces (strings as
//! they are, binary in hex, numbers when some literal could be a number) and
//! asking the prefilter about them decides whether the record needs
//! rendering at all. The System block, attributes and anything outside the
//! data elements are walked (a record is read whole, see below) but not
//! gathered (the System block is, for rules, which read it). A template is
//! read once per chunk and place it is used in; its static text joins the
//! text of each record using it when it holds a literal.
//!
//! The filter may need several literals together (a rule's clauses), so a
//! clean record can hold some: text is left out of later records (a
//! template's, a long string seen before) only when it holds none at all.
//! The walk also reads the record's event id and channel where it is sure
//! of them (`facts`), so that the filter asks only the rules a record of
//! that channel and id can meet.
//!
//! Whatever this walker does not fully understand (an unknown token or value
//! type, a length that does not add up, static text next to a substitution
//! in one value, nesting too deep) makes it answer "render": the crate's
//! rendering and the precise matcher then decide. A record is skipped only
//! when every piece of its data text was seen and the filter finds no hit
//! in them. The same
//! strictness lets `evtx.rs` trust a clean screening as a full read of the
//! record (it then skips the crate's own record walk).

mod facts;
mod fill;
mod runs;
#[cfg(test)]
mod tests;
mod text;

use std::hash::BuildHasher;

use crate::bundle::IdMap;

use super::{Record, RecordFilter, Screening, ValueKind};
use facts::{Facts, Field};
use fill::Filler;
use runs::Runs;
use text::*;

/// Nested BinXML fragments deeper than this are left to the renderer.
const MAX_DEPTH: usize = 8;

/// Nested elements deeper than this are left to the renderer.
const MAX_ELEMENTS: usize = 16;

/// What one chunk's screening knows; reset for every chunk, because
/// template offsets are offsets into one chunk.
pub(super) struct Screener<'f> {
    filter: &'f dyn RecordFilter,
    /// `may_match_kind` per [`ValueKind`], asked once.
    kinds: [bool; ValueKind::COUNT],
    /// (template definition offset, where it is used) → what records using
    /// it there need.
    templates: IdMap<(u32, Scope), Template>,
    /// Long strings of this chunk already found in clean records (hash →
    /// offset and length in the chunk, to compare bytes): a value repeated
    /// from record to record (an image path, a command line, a user) is
    /// asked about once.
    clean: IdMap<u64, (u32, u32)>,
    /// The long strings of the record being screened (hash, offset and
    /// length in the chunk, start and end in the record's text), added to
    /// `clean` if the record turns out clean and they hold no literal.
    pending: Vec<Pending>,
    /// The record cannot be read by the crate either (set where that is
    /// certain).
    refused: bool,
    /// Gather the System block's text too (see [`RecordFilter::screens_system`]).
    system: bool,
    /// The event id and channel of the record being screened.
    facts: Facts,
    text: Vec<u8>,
    /// Builds records screened [`Verdict::Hit`] without the crate.
    filler: Filler,
}

/// Strings shorter than this (in bytes of UTF-16) are always gathered:
/// hashing them would cost about what the automaton does.
const REMEMBER_FROM: usize = 32;

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
            clean: IdMap::default(),
            pending: Vec::new(),
            refused: false,
            system: filter.screens_system(),
            facts: Facts::default(),
            text: Vec::with_capacity(4096),
            filler: Filler::default(),
        }
    }

    /// Forgets the previous chunk's templates.
    pub fn new_chunk(&mut self) {
        self.templates.clear();
        self.clean.clear();
        self.filler.new_chunk();
    }

    /// Fills `rec` (holding its header's values) from the record whose
    /// BinXML is `chunk[start..start + len]`, screened [`Verdict::Hit`]
    /// just now, as rendering it through the crate would; `false` when it
    /// must be rendered (`rec` is then as it was).
    pub fn fill(&mut self, chunk: &[u8], start: usize, len: usize, rec: &mut Record) -> bool {
        self.filler.fill(chunk, start, len, rec).is_some()
    }

    /// What the record whose BinXML is `chunk[start..start + len]` is.
    pub fn screen(&mut self, chunk: &[u8], start: usize, len: usize) -> Verdict {
        self.refused = false;
        self.facts = Facts::default();
        let mut text = std::mem::take(&mut self.text);
        text.clear();
        let end = start.saturating_add(len).min(chunk.len());
        let seen = Walk {
            c: chunk,
            template: false,
            depth: 0,
        }
        .stream(
            self,
            start,
            end,
            Scope::Root,
            &mut text,
            &mut Shape::default(),
        );
        let mut literals = false;
        let verdict = match seen {
            None if self.refused => Verdict::Unreadable,
            None => Verdict::Render,
            Some(()) => match self.filter.screen_record(&text, &self.facts.get()) {
                Screening::Render => Verdict::Hit,
                Screening::NoLiteral => Verdict::Clean,
                Screening::Literals => {
                    literals = true;
                    Verdict::Clean
                }
            },
        };
        if verdict == Verdict::Clean {
            // A clean record's pieces may still hold literals (of a rule
            // that needs others too, or of a regex that did not match):
            // only those holding none are left out of later records.
            for p in self.pending.drain(..) {
                if !literals || !self.filter.holds_literal(&text[p.text.0..p.text.1]) {
                    self.clean.insert(p.hash, p.chunk);
                }
            }
        } else {
            self.pending.clear();
        }
        self.text = text;
        verdict
    }

    /// Gathers the long string `v`, at `at` in chunk `c`, into `out`
    /// unless it was seen in a clean record of this chunk holding no
    /// literal; it is remembered for when this record turns out clean.
    fn gather_long(&mut self, c: &[u8], at: usize, v: &[u8], out: &mut Vec<u8>) {
        let h = foldhash::quality::FixedState::with_seed(0).hash_one(v);
        if let Some(&(off, len)) = self.clean.get(&h)
            && c.get(off as usize..(off + len) as usize) == Some(v)
        {
            return;
        }
        let start = out.len();
        push_utf16(out, v);
        // Chunk offsets and value sizes fit in 32 bits (64 KiB chunks).
        self.pending.push(Pending {
            hash: h,
            chunk: (at as u32, v.len() as u32),
            text: (start, out.len()),
        });
    }

    /// What records instantiating the template defined at `def`, in
    /// `scope`, need: `None` when they must render (it could not be read).
    /// Its static text, when that holds a literal, is gathered into `out`.
    fn template(
        &mut self,
        c: &[u8],
        def: u32,
        scope: Scope,
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Option<Shape> {
        let key = (def, scope);
        if !self.templates.contains_key(&key) {
            // The template's static facts are its own, merged at each use.
            let record = std::mem::take(&mut self.facts);
            let read = self.read_template(c, def as usize, scope, depth);
            let facts = std::mem::replace(&mut self.facts, record);
            let t = match read {
                Some((text, shape)) => Template {
                    render: false,
                    refused: false,
                    text: self.filter.holds_literal(&text).then_some(text),
                    facts,
                    shape,
                },
                None => Template {
                    render: true,
                    refused: std::mem::take(&mut self.refused),
                    text: None,
                    facts: Facts::default(),
                    shape: Shape::default(),
                },
            };
            self.templates.insert(key, t);
        }
        let t = self.templates.get(&key)?;
        self.refused |= t.refused;
        self.facts.merge(&t.facts);
        if let Some(text) = &t.text {
            out.extend_from_slice(text);
            sep(out);
        }
        (!t.render).then_some(t.shape)
    }

    /// The data text of the template at `def` used in `scope`, and what its
    /// substitutions are; `None` when it cannot be read, or mixes static text
    /// with a substitution in one data value.
    fn read_template(
        &mut self,
        c: &[u8],
        def: usize,
        scope: Scope,
        depth: usize,
    ) -> Option<(Vec<u8>, Shape)> {
        // Header: next template (4), GUID (16), data size (4). One that
        // does not fit in the chunk the crate cannot read either (a stale
        // record's reference).
        let size = u32_at(c, def.saturating_add(20)).map(|n| n as usize);
        let end = size.and_then(|n| def.checked_add(24 + n));
        let Some(end) = end.filter(|&e| e <= c.len()) else {
            self.refused = true;
            return None;
        };
        let body = def + 24;
        let mut text = Vec::new();
        let mut shape = Shape::default();
        Walk {
            c,
            template: true,
            depth: depth + 1,
        }
        .stream(self, body, end, scope, &mut text, &mut shape)?;
        Some((text, shape))
    }
}

/// Where a piece of BinXML sits, as far as `Record::data` is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Scope {
    /// The record's top level: its root element must be `Event`.
    Root,
    /// The children of `Event`: `EventData` and `UserData` hold the data.
    Event,
    /// Inside `EventData` or `UserData`: element text becomes data.
    Data,
    /// Inside `System`, when the filter screens it: element text and
    /// attribute values are gathered (but no time or GUID value: nothing
    /// reads those as text).
    System,
    /// Anywhere else (`System`, `RenderingInfo`, a root not named `Event`):
    /// never data.
    Other,
}

impl Scope {
    /// The scope of the content of an element named `name` opened here.
    fn child(self, c: &[u8], name: usize, system: bool) -> Option<Scope> {
        Some(match self {
            Scope::Root if name_is(c, name, "Event")? => Scope::Event,
            Scope::Event if name_is(c, name, "EventData")? || name_is(c, name, "UserData")? => {
                Scope::Data
            }
            Scope::Event if system && name_is(c, name, "System")? => Scope::System,
            Scope::System => Scope::System,
            Scope::Root | Scope::Event | Scope::Other => Scope::Other,
            Scope::Data => Scope::Data,
        })
    }
}

impl Scope {
    /// Whether text here is gathered.
    fn gathered(self) -> bool {
        matches!(self, Scope::Data | Scope::System)
    }
}

/// What screening says of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// Read whole; its data holds no literal.
    Clean,
    /// Read whole; it may hold a hit: render it.
    Hit,
    /// This walker cannot read it whole: the crate renders it.
    Render,
    /// The crate cannot read it either (a template that lies past the
    /// chunk's end, or holds no element): an error if it is a live record,
    /// noise if it was carved.
    Unreadable,
}

/// A long string of the record being screened (see [`Screener::pending`]).
struct Pending {
    hash: u64,
    chunk: (u32, u32),
    text: (usize, usize),
}

/// What a template definition tells about the records that use it.
struct Template {
    /// It could not be read.
    render: bool,
    /// Its data text, when that holds a literal: part of every record's
    /// text that uses it.
    text: Option<Vec<u8>>,
    /// What its static text says of the event id and channel.
    facts: Facts,
    /// It could not be read, and the crate cannot read it either.
    refused: bool,
    shape: Shape,
}

/// What a template's substitutions are, a bit per id (ids past 127 are
/// never data, or the template is not used).
#[derive(Default, Clone, Copy)]
struct Shape {
    /// Declared as BinXML (nested fragments, rendered as elements, not
    /// text): these and only these may hold BinXML values.
    elements: u128,
    /// In data text.
    data: u128,
    /// In the System block's text (when screened).
    system: u128,
    /// Children of `Event` (a nested EventData or UserData).
    event: u128,
    /// The text of `System › EventID`, of `System › Channel`.
    event_id: u128,
    channel: u128,
}

impl Shape {
    fn field_of(&self, i: usize) -> Field {
        if has(self.event_id, i) {
            Field::EventId
        } else if has(self.channel, i) {
            Field::Channel
        } else {
            Field::None
        }
    }

    fn scope_of(&self, i: usize) -> Scope {
        if has(self.data, i) {
            Scope::Data
        } else if has(self.system, i) {
            Scope::System
        } else if has(self.event, i) {
            Scope::Event
        } else {
            Scope::Other
        }
    }
}

/// One pass over one token stream: a record's, a nested fragment's or a
/// template definition's (`template`: element starts carry a dependency id,
/// substitutions are allowed).
struct Walk<'c> {
    c: &'c [u8],
    template: bool,
    depth: usize,
}

impl Walk<'_> {
    /// Reads the tokens in `pos..end` up to an end-of-stream token, starting
    /// in `scope`, gathering data text into `out`. In a template, what its
    /// substitutions are goes to `shape`.
    fn stream(
        &self,
        s: &mut Screener,
        mut pos: usize,
        end: usize,
        scope: Scope,
        out: &mut Vec<u8>,
        shape: &mut Shape,
    ) -> Option<()> {
        if self.depth > MAX_DEPTH || end > self.c.len() {
            return None;
        }
        let c = self.c;
        let mut runs = Runs::new(scope);
        while pos < end {
            let token = c[pos];
            pos += 1;
            match token {
                0x00 => break,
                0x0f => pos += 3,
                0x01 | 0x41 => {
                    if self.template {
                        pos += 2;
                    }
                    let name = u32_at(c, pos + 4)? as usize;
                    let system = s.system;
                    let outer = runs.scope();
                    let inner = refused(s, outer.and_then(|sc| sc.child(c, name, system)))?;
                    let is_system = outer == Some(Scope::Event) && inner == Scope::System;
                    let field = runs.field().child(is_system, |n| name_is(c, name, n));
                    refused(s, runs.open(inner, field))?;
                    sep(out);
                    pos = refused(s, name_ref(c, pos + 4))?;
                    if token == 0x41 {
                        pos += 4;
                    }
                }
                0x02 => {
                    refused(s, runs.close_start())?;
                    sep(out);
                }
                0x03 => {
                    refused(s, runs.close_empty())?;
                    sep(out);
                }
                0x04 => {
                    runs.close()?;
                    sep(out);
                }
                0x06 | 0x46 => {
                    refused(s, runs.attribute())?;
                    sep(out);
                    pos = refused(s, name_ref(c, pos))?;
                }
                0x05 | 0x45 => {
                    // Value text: a string type and a counted UTF-16 string.
                    if *c.get(pos)? != 0x01 {
                        return None;
                    }
                    let field = runs.field();
                    let start = pos + 1;
                    pos = counted_utf16(c, start, gather(&mut runs, out)?)?;
                    if field != Field::None {
                        s.facts.text(field, c.get(start + 2..pos)?);
                    }
                }
                0x07 | 0x47 | 0x0b => {
                    // CDATA, processing-instruction data.
                    s.facts.unreadable(runs.field());
                    pos = counted_utf16(c, pos, gather(&mut runs, out)?)?;
                }
                0x08 | 0x48 => {
                    s.facts.unreadable(runs.field());
                    let unit = u16_at(c, pos)?;
                    if let Some(out) = gather(&mut runs, out)? {
                        push_unit(out, unit);
                    }
                    pos += 2;
                }
                0x09 | 0x49 => {
                    // An entity (`&amp;` …) renders as punctuation no
                    // literal holds: a break in the text.
                    s.facts.unreadable(runs.field());
                    pos = refused(s, name_ref(c, pos))?;
                    if let Some(out) = gather(&mut runs, out)? {
                        sep(out);
                    }
                }
                0x0a => {
                    // A processing-instruction target: placed like text.
                    s.facts.unreadable(runs.field());
                    runs.text()?;
                    pos = refused(s, name_ref(c, pos))?;
                }
                0x0c if !self.template => {
                    let inner = runs.scope()?;
                    // A template's elements are not followed as System's
                    // children.
                    if inner == Scope::System {
                        s.facts.untracked();
                    }
                    runs.child()?;
                    sep(out);
                    pos = self.instance(s, pos, inner, out)?;
                }
                0x0d | 0x0e if self.template => {
                    let id = usize::from(u16_at(c, pos)?);
                    let ty = *c.get(pos + 2)?;
                    pos += 3;
                    // The crate refuses a type it does not know.
                    if !known_type(ty) {
                        s.refused = true;
                        return None;
                    }
                    let here = runs.scope();
                    let value_here = runs.value_scope();
                    match runs.field() {
                        Field::EventId => shape.event_id |= bit(id).unwrap_or(0),
                        Field::Channel => shape.channel |= bit(id).unwrap_or(0),
                        Field::None | Field::System => {}
                    }
                    // A nested fragment renders as elements: a child.
                    if ty == 0x21 {
                        let here = here?;
                        runs.child()?;
                        shape.elements |= bit(id)?;
                        if here == Scope::Event {
                            shape.event |= bit(id)?;
                        }
                    } else {
                        runs.substitution()?;
                    }
                    if here == Some(Scope::Data) {
                        shape.data |= bit(id)?;
                    }
                    if value_here == Some(Scope::System) {
                        shape.system |= bit(id)?;
                    }
                }
                // A token the crate does not know (or not here: an instance
                // in a template, a substitution outside one).
                _ => return refused(s, None),
            }
        }
        if pos > end {
            return None;
        }
        // A template with no element is what a stale record's reference to
        // an overwritten definition reads as: the crate refuses it ("missing
        // root element"), and carving drops such records as noise.
        if self.template && !runs.elements[0].children {
            s.refused = true;
            return None;
        }
        sep(out);
        runs.finish()
    }

    /// A template instance, used in `scope`, whose token ended before
    /// `pos`: the template, then each substitution value. Returns where the
    /// instance ends.
    fn instance(
        &self,
        s: &mut Screener,
        mut pos: usize,
        scope: Scope,
        out: &mut Vec<u8>,
    ) -> Option<usize> {
        let c = self.c;
        // Unknown byte, template id, definition offset.
        let def = u32_at(c, pos + 5)?;
        pos += 9;
        if def as usize == pos {
            // Defined here, inline: skip over the definition.
            let size = u32_at(c, pos + 20)? as usize;
            pos = pos.checked_add(24 + size)?;
        }
        let shape = s.template(c, def, scope, self.depth, out)?;
        // Fewer values than the template refers to is fine: the crate
        // renders a missing one as nothing.
        let count = u32_at(c, pos)? as usize;
        pos += 4;
        let descriptors = c.get(pos..pos.checked_add(count.checked_mul(4)?)?)?;
        pos += descriptors.len();
        for (i, d) in descriptors.chunks_exact(4).enumerate() {
            // A nested fragment where the template expects text, or text
            // where it expects elements, is not a shape this walker knows.
            let element = has(shape.elements, i);
            if (d[2] == 0x21) != element && !(element && d[2] == 0x00) {
                return None;
            }
            let size = usize::from(u16::from_le_bytes([d[0], d[1]]));
            let value = c.get(pos..pos + size)?;
            s.facts.value(shape.field_of(i), d[2], value);
            self.value(s, d[2], pos, value, shape.scope_of(i), out)?;
            pos += size;
        }
        Some(pos)
    }

    /// Reads one substitution value of type `ty` found at `at`, used in
    /// `scope`: its text is gathered when that is data.
    fn value(
        &self,
        s: &mut Screener,
        ty: u8,
        at: usize,
        v: &[u8],
        scope: Scope,
        out: &mut Vec<u8>,
    ) -> Option<()> {
        check_value(ty, v)?;
        if ty == 0x21 {
            // Its elements are not followed as System's children.
            if scope == Scope::System {
                s.facts.untracked();
            }
            let nested = Walk {
                c: self.c,
                template: false,
                depth: self.depth + 1,
            };
            nested.stream(s, at, at + v.len(), scope, out, &mut Shape::default())?;
            sep(out);
            return Some(());
        }
        if !scope.gathered() {
            return Some(());
        }
        // No rule reads the System block's times (the record's time is
        // matched as we format it) or GUIDs as text.
        if scope == Scope::System && matches!(ty, 0x0f | 0x11 | 0x12) {
            return Some(());
        }
        let wants = |kind: ValueKind| s.kinds[kind as usize];
        match ty {
            0x00 => {}
            0x01 => {
                if v.len() < REMEMBER_FROM {
                    push_utf16(out, v);
                } else {
                    s.gather_long(self.c, at, v, out);
                }
            }
            0x02 => push_ansi(out, v),
            0x03..=0x0a => {
                if wants(ValueKind::Integer) {
                    push_integer(out, ty, v)?;
                }
            }
            // SizeT is written as hex, like HexInt32/64.
            0x10 | 0x14 | 0x15 => {
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
            0x0e => push_hex(out, v),
            0x11 => {
                if wants(ValueKind::Time) {
                    push_filetime(out, u64_at(v, 0)?);
                }
            }
            0x12 => {
                if wants(ValueKind::Time) {
                    push_systemtime(out, v.get(..16)?.try_into().ok()?);
                }
            }
            0x0f => {
                if wants(ValueKind::Guid) {
                    push_guid(out, v.get(..16)?.try_into().ok()?);
                }
            }
            0x13 => {
                if wants(ValueKind::Sid) {
                    push_sid(out, v);
                }
            }
            // String arrays: NUL-terminated items, which the crate renders
            // joined by commas.
            0x81 => push_utf16_list(out, v),
            0x82 => push_ansi_list(out, v),
            _ => {
                let kind = ValueKind::of_type(ty & 0x7f)?;
                let integers = ty & 0x7f == 0x0d && wants(ValueKind::Integer);
                if wants(kind) || integers {
                    return None;
                }
            }
        }
        sep(out);
        Some(())
    }
}

/// Whether the crate reads a value as this walker does; `None` leaves the
/// record to it. The crate reads a fixed-size value whole whatever its
/// descriptor says: one sized too small shifts every later value (whose
/// text this walker would not see). Odd UTF-16 sizes, SizeT of other than 4
/// or 8 bytes and malformed string arrays are errors it must report, and
/// array types it cannot render are its to report too.
fn check_value(ty: u8, v: &[u8]) -> Option<()> {
    let array = ty & 0x80 != 0;
    let base = ty & 0x7f;
    if let Some(n) = natural_size(base, v).filter(|_| !(array && base == 0x13))
        && (if array {
            !v.len().is_multiple_of(n)
        } else {
            v.len() < n
        })
    {
        return None;
    }
    let ok = match ty {
        0x01 => v.len().is_multiple_of(2),
        // SIDs one after another, each as long as its count says: the crate
        // reads them until the window is used up, past it if the last one
        // claims more.
        0x93 => {
            let mut at = 0;
            while at < v.len() {
                at += 8 + 4 * usize::from(*v.get(at + 1)?);
            }
            at == v.len()
        }
        0x10 => matches!(v.len(), 4 | 8),
        0x81 => v.len().is_multiple_of(2) && (v.is_empty() || v.ends_with(&[0, 0])),
        0x00 | 0x02 | 0x0e | 0x21 | 0x82 => true,
        _ if array => ValueKind::ARRAYS_OK.contains(&base),
        _ => ValueKind::of_type(base).is_some(),
    };
    ok.then_some(())
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

/// `r`, noting when it is `None` that the crate refuses the record too:
/// used where this walker and the crate's tree builder read the same bytes
/// the same way and the crate fails on what failed here.
fn refused<T>(s: &mut Screener, r: Option<T>) -> Option<T> {
    if r.is_none() {
        s.refused = true;
    }
    r
}

/// The value types the crate knows (MS-EVEN6 §2.2.18; arrays are 0x80 |
/// the item type).
fn known_type(ty: u8) -> bool {
    matches!(ty, 0x00..=0x15 | 0x20 | 0x21 | 0x23 | 0x81..=0x95)
}

/// Whether mask `m` holds substitution `i` (none past 127).
fn has(m: u128, i: usize) -> bool {
    i < 128 && m & (1 << i) != 0
}

/// The bit for substitution `id`; `None` past 127.
fn bit(id: usize) -> Option<u128> {
    1u128.checked_shl(u32::try_from(id).ok()?)
}

impl ValueKind {
    /// The kind of a scalar value type whose text this walker does not
    /// always write.
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
/// right there (its offset is its own position). A name stored elsewhere
/// must lie inside the chunk and be UTF-16: the crate reads it to build the
/// record, and fails on one that is not.
fn name_ref(c: &[u8], pos: usize) -> Option<usize> {
    let off = u32_at(c, pos)? as usize;
    let after = pos + 4;
    let (units, end) = name_units(c, off)?;
    // The crate refuses a name that is not UTF-16 (only surrogates can
    // make it so).
    let surrogates = units.clone().any(|u| (0xd800..0xe000).contains(&u));
    if end > c.len() || (surrogates && char::decode_utf16(units).any(|r| r.is_err())) {
        return None;
    }
    Some(if off == after { end } else { after })
}

/// The name stored at `off`: its UTF-16 units up to its first NUL (as the
/// crate decodes it), and where the stored name ends. Next-string link
/// (4), hash (2), character count (2), characters, NUL.
fn name_units(c: &[u8], off: usize) -> Option<(impl Iterator<Item = u16> + Clone + '_, usize)> {
    let chars = usize::from(u16_at(c, off + 6)?);
    let units = c.get(off + 8..off + 8 + 2 * chars)?;
    let units = units
        .chunks_exact(2)
        .map(|u| u16::from_le_bytes([u[0], u[1]]))
        .take_while(|&u| u != 0);
    Some((units, off + 10 + 2 * chars))
}

/// Static text: `out` when the text is data, to gather it;
/// `None` where the crate refuses text.
fn gather<'o>(runs: &mut Runs, out: &'o mut Vec<u8>) -> Option<Option<&'o mut Vec<u8>>> {
    Some(runs.text()?.then_some(out))
}

/// Whether the name stored at `off` is `want` (ASCII).
fn name_is(c: &[u8], off: usize, want: &str) -> Option<bool> {
    let chars = usize::from(u16_at(c, off + 6)?);
    let units = c.get(off + 8..off + 8 + 2 * chars)?;
    Some(
        chars == want.len()
            && units
                .chunks_exact(2)
                .zip(want.bytes())
                .all(|(u, b)| u[0] == b && u[1] == 0),
    )
}

/// A UTF-16 string prefixed by its length in code units, gathered into
/// `out` when given.
fn counted_utf16(c: &[u8], pos: usize, out: Option<&mut Vec<u8>>) -> Option<usize> {
    let units = usize::from(u16_at(c, pos)?);
    let bytes = c.get(pos + 2..pos + 2 + 2 * units)?;
    if let Some(out) = out {
        push_utf16(out, bytes);
    }
    Some(pos + 2 + 2 * units)
}

/// The integration tests' writer of Windows-shaped logs, for screening
/// records one by one.
#[cfg(test)]
#[path = "../../../tests/support/evtx_templates.rs"]
pub(super) mod fixture;
