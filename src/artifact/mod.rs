//! Record parsers: turn a file's bytes into normalised records (event log
//! entries today) that IOCs and rules are matched against.
//!
//! Parsers read from a reader, never from a path, so the same parser serves a
//! log on the host and a log inside an NTFS volume inside an E01. They are
//! chosen by content (magic), not by file name.

mod binxml;
mod evtx;
pub use evtx::filled_beside_rendered;
mod evtx_json;
pub mod prefetch;
pub mod program;
pub mod registry;

use std::io::{Read, Seek};

use jiff::Timestamp;

/// A seekable reader (files inside images are opened as one); `Send` so
/// reading can move between worker threads.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// One event record, normalised across log formats.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Record {
    /// The record's id as Event Viewer, chainsaw and hayabusa show it: the
    /// `EventRecordID` of its System block (the header's number when the
    /// block has none).
    pub record_id: u64,
    /// The number in the record's header, which locates it in the file:
    /// exported and filtered logs renumber headers, so it can differ from
    /// `record_id`.
    pub record_number: u64,
    /// The chunk that holds it.
    pub chunk: Option<u64>,
    /// Identical copies of this record carved from the log's slack, not
    /// listed as evidence of their own.
    pub carved_copies: u32,
    pub timestamp: Option<Timestamp>,
    pub channel: Option<String>,
    pub provider: Option<String>,
    /// A number even where the log stores it as a string.
    pub event_id: Option<u32>,
    pub computer: Option<String>,
    /// The security identifier the event was logged under.
    pub user: Option<String>,
    /// EventData / UserData fields flattened by name, in log order. A name
    /// can repeat (unnamed `<Data>` elements are `Data`).
    pub data: Vec<(String, String)>,
    /// The System block's other values that rules can name (`Level`,
    /// `Task`, `Opcode`, `Keywords`, `Version`, `ProcessID`, `ThreadID`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub system: Vec<(String, String)>,
    /// Carved from unallocated chunk space rather than read from the live
    /// record list.
    pub recovered: bool,
}

/// A part of a log that could not be read; the rest of the log goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// `corruptChunk` or `corruptRecord`.
    pub kind: DamageKind,
    pub chunk: Option<u64>,
    /// Byte offset in the file of the damaged chunk.
    pub offset: Option<u64>,
    pub record_id: Option<u64>,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DamageKind {
    Chunk,
    Record,
}

/// What a parser yields, in no particular order.
pub enum RecordItem {
    Record(Box<Record>),
    /// A record read and rejected by the caller's prefilter: counted, not
    /// turned into fields.
    Filtered,
    Damage(Damage),
}

/// The caller's literal prefilter, which a parser asks before turning a
/// record into fields (see `Matcher`'s implementation).
pub trait RecordFilter: Sync {
    /// What the filter can say about records at all.
    fn screen(&self) -> Screen;
    /// Whether a record whose text (its strings, numbers and binary values
    /// as hex, in ASCII lower case, any order, separated by NUL bytes) is
    /// `text` could hold a hit.
    fn may_match(&self, text: &[u8]) -> bool;
    /// [`may_match`](Self::may_match) for a record whose System block is
    /// known to say `facts`: rules of other channels and event ids need
    /// not make it render.
    fn may_match_record(&self, text: &[u8], facts: &SystemFacts) -> bool {
        let _ = facts;
        self.may_match(text)
    }
    /// Whether `text`, a piece of a record's text, holds any literal at
    /// all. A piece holding none can be left out of the text of any record
    /// it is part of; one holding some cannot, even when its record turns
    /// out clean, because a filter may need several literals together
    /// (the rules' clauses), which another record may complete.
    fn holds_literal(&self, text: &[u8]) -> bool {
        self.may_match(text)
    }
    /// Whether each literal alone makes a hit, so that a record found
    /// clean holds none and its pieces need no asking one by one.
    fn literals_alone_hit(&self) -> bool {
        true
    }
    /// [`may_match_record`](Self::may_match_record), and for a clean
    /// record whether its text holds any literal, in one answer (a filter
    /// may find both in one search).
    fn screen_record(&self, text: &[u8], facts: &SystemFacts) -> Screening {
        if self.may_match_record(text, facts) {
            Screening::Render
        } else if self.literals_alone_hit() || !self.holds_literal(text) {
            Screening::NoLiteral
        } else {
            Screening::Literals
        }
    }
    /// Whether some hit could lie in the text of a value of this kind; when
    /// not, a parser gathering a record's text may leave such values out.
    fn may_match_kind(&self, kind: ValueKind) -> bool;
    /// Whether the System block's values (channel, provider, event id,
    /// computer, levels, keywords, process ids, user SID) must be in the
    /// text too: rules read them; IOCs do not.
    fn screens_system(&self) -> bool {
        false
    }
}

/// What a record's screening read for certain from its System block
/// (`None`: not known, which any value may be), and whether its text is
/// a plain image of its values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SystemFacts<'a> {
    pub channel: Option<&'a str>,
    pub event_id: Option<u32>,
    /// Each data value is in the text whole, as the renderer writes it but
    /// in ASCII lower case with every other character a NUL (or the ASCII
    /// letter it folds to), values apart by NULs; none is left out unless
    /// it holds no literal at all. Not so when the record's data holds an
    /// entity or character reference, CDATA or a processing instruction,
    /// which the renderer writes otherwise: then a filter must not read
    /// more than literals from the text.
    pub verbatim: bool,
}

/// What a [`RecordFilter`] says of one record's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screening {
    /// It could hold a hit: render and match the record.
    Render,
    /// Clean, and no piece of it holds a literal.
    NoLiteral,
    /// Clean, but it holds literals (which, with others, could make a hit
    /// in another record).
    Literals,
}

/// What a [`RecordFilter`] can decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// No record can hit anything (no record IOCs): every record is filtered.
    Nothing,
    /// Every record must be matched (no usable prefilter).
    Everything,
    /// Ask [`RecordFilter::may_match`] per record.
    Text,
}

/// Value types whose text a parser writes only when some literal could be
/// in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueKind {
    /// Decimal integers, `-` and digits.
    Integer = 0,
    /// `0x` and lower-case hex digits.
    Hex,
    /// `{8-4-4-4-12}` lower-case hex.
    Guid,
    /// `S-1-5-…`.
    Sid,
    /// `2019-03-19T23:34:33.4575100Z`.
    Time,
    /// Floating point numbers.
    Float,
    /// `true` / `false`.
    Bool,
}

impl ValueKind {
    pub const COUNT: usize = 7;
    pub const ALL: [ValueKind; ValueKind::COUNT] = [
        ValueKind::Integer,
        ValueKind::Hex,
        ValueKind::Guid,
        ValueKind::Sid,
        ValueKind::Time,
        ValueKind::Float,
        ValueKind::Bool,
    ];
}

/// A log format.
pub trait RecordParser: Sync {
    /// Short name for the report (`evtx`).
    fn name(&self) -> &'static str;
    /// Whether a file starting with `head` (up to 8 bytes) is in this format.
    fn detect(&self, head: &[u8]) -> bool;
    /// Starts parsing one log, whose bytes are then fed in order. Every
    /// record or damaged part goes to `out`, possibly from several threads;
    /// records that `filter` rules out go as [`RecordItem::Filtered`].
    fn start<'a>(
        &self,
        filter: &'a dyn RecordFilter,
        out: RecordSink<'a>,
    ) -> Box<dyn LogStream + 'a>;
}

/// Where a parser sends what it finds; callable from any thread.
pub type RecordSink<'a> = &'a (dyn Fn(RecordItem) + Sync);

/// One log being parsed, fed its bytes in order: the caller reads the file
/// once, hashing and parsing the same bytes.
pub trait LogStream {
    /// The next bytes of the file.
    fn feed(&mut self, bytes: &[u8]);
    /// The file has ended. Fails only when it could not be parsed at all
    /// (e.g. its header is unreadable).
    fn finish(self: Box<Self>) -> Result<(), String>;
}

/// Every record format, in detection order.
static PARSERS: &[&dyn RecordParser] = &[&evtx::Evtx];

/// Bytes of a file's start that [`parser_for`] needs.
pub const HEAD_LEN: usize = 8;

/// The parser for a file whose first bytes are `head`, if any.
pub fn parser_for(head: &[u8]) -> Option<&'static dyn RecordParser> {
    PARSERS.iter().copied().find(|p| p.detect(head))
}
