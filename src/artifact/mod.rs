//! Record parsers: turn a file's bytes into normalised records (event log
//! entries today) that IOCs and rules are matched against.
//!
//! Parsers read from a reader, never from a path, so the same parser serves a
//! log on the host and a log inside an NTFS volume inside an E01. They are
//! chosen by content (magic), not by file name.

mod evtx;
mod evtx_json;

use std::io::{Read, Seek};

use jiff::Timestamp;

/// A reader the parsers can seek in; `Send` so parsing can move between
/// worker threads.
pub trait ReadSeek: Read + Seek + Send {}
impl<T: Read + Seek + Send> ReadSeek for T {}

/// One event record, normalised across log formats.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Record {
    pub record_id: u64,
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

/// A byte-level test on a record's rendered text (see
/// `Matcher::record_may_match`); `false` means no field can match.
pub type Prefilter<'a> = &'a (dyn Fn(&[u8]) -> bool + Sync);

/// A log format.
pub trait RecordParser: Sync {
    /// Short name for the report (`evtx`).
    fn name(&self) -> &'static str;
    /// Whether a file starting with `head` (up to 8 bytes) is in this format.
    fn detect(&self, head: &[u8]) -> bool;
    /// Parses every record, calling `out` for each record or damaged part,
    /// possibly from several threads. Records whose rendering fails
    /// `prefilter` are yielded as [`RecordItem::Filtered`]. Fails only when the file cannot be
    /// parsed at all (e.g. its header is unreadable).
    fn parse(
        &self,
        reader: Box<dyn ReadSeek>,
        prefilter: Prefilter,
        out: &(dyn Fn(RecordItem) + Sync),
    ) -> Result<(), String>;
}

/// Every record format, in detection order.
static PARSERS: &[&dyn RecordParser] = &[&evtx::Evtx];

/// Bytes of a file's start that [`parser_for`] needs.
pub const HEAD_LEN: usize = 8;

/// The parser for a file whose first bytes are `head`, if any.
pub fn parser_for(head: &[u8]) -> Option<&'static dyn RecordParser> {
    PARSERS.iter().copied().find(|p| p.detect(head))
}
