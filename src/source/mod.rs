//! Evidence sources: everything that yields files to hash and match.
//!
//! A [`FileSource`] is a tree of files — a host directory today, a filesystem
//! inside a disk image tomorrow — and yields [`SourceItem`]s: files with their
//! metadata and a [`Content`] to read them, or [`Problem`]s for entries that
//! cannot be scanned (listed in the report, never dropped in silence).

pub mod container;
mod dir;
pub mod fs;
mod image;
pub mod io;
pub mod mapguard;
mod name;
pub mod readat;
pub mod slice;
pub mod volume;

use std::path::Path;
use std::sync::Arc;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::artifact::ReadSeek;

pub use dir::DirSource;
pub use image::ImageSource;
pub use io::ReadBuf;
pub use name::EvidencePath;
pub use slice::Slice;

/// How sources open and walk their targets.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    /// Follow symbolic links in host directories (off: a link is listed, not
    /// followed, so a scan never leaves the evidence tree).
    pub follow_symlinks: bool,
    /// Do not descend into other mounted filesystems.
    pub one_file_system: bool,
    /// Map large host files instead of reading them (see [`io::pump_file`]).
    pub mmap: bool,
    /// Set (by a signal) to stop the scan early: walks end at their next
    /// entry, reads at their next chunk, long passes (an NTFS index) at
    /// their next batch.
    pub stop: crate::stop::Stop,
    /// Hash each image's media when its walk is over and compare with the
    /// hashes stored at acquisition (`--verify-image`).
    pub verify_image: bool,
    /// Told what an image's walk opens (`disk.E01 › p2 (ntfs)`), for a
    /// person watching the progress line.
    pub watch: Watch,
    /// Walk only this slice of a directory target (a batch unit's share).
    pub slice: Option<Slice>,
}

/// What a [`Watch`] calls with each step.
pub type Tell = dyn Fn(&str) + Send + Sync;

/// A callback told what is being opened; none by default.
#[derive(Clone, Default)]
pub struct Watch(pub Option<Arc<Tell>>);

impl Watch {
    pub fn tell(&self, what: &str) {
        if let Some(f) = &self.0 {
            f(what);
        }
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Watch(set)"
        } else {
            "Watch(none)"
        })
    }
}

impl Default for SourceOptions {
    fn default() -> Self {
        SourceOptions {
            follow_symlinks: false,
            one_file_system: false,
            mmap: true,
            stop: crate::stop::Stop::default(),
            verify_image: false,
            watch: Watch::default(),
            slice: None,
        }
    }
}

/// A tree of files.
pub trait FileSource: Send + Sync {
    /// What the report calls this source: `directory`, `file`, …
    fn kind(&self) -> &'static str;

    /// The container format of an image source (`e01`, `vmdk` …).
    fn format(&self) -> Option<&'static str> {
        None
    }

    /// Every entry, in no particular order. The iterator is pulled from
    /// several worker threads (one at a time), so it does the walking while
    /// workers hash.
    fn entries(&self) -> Box<dyn Iterator<Item = SourceItem> + Send + '_>;

    /// [`FileSource::entries`] with the work a worker can do left to it:
    /// the iterator is pulled one thread at a time, so what it does itself
    /// is not parallel (a host file's `lstat` in the walk was ~11% of a scan
    /// of 100,000 small files, and made the workers wait for each other).
    fn deferred_entries(&self) -> Box<dyn Iterator<Item = Deferred<'_>> + Send + '_> {
        Box::new(self.entries().map(Deferred::Ready))
    }

    /// Number of files and bytes the scan will read, for progress ETA. May
    /// cost a walk of its own, so it is only asked when a terminal shows
    /// progress, on a thread beside the scan.
    fn estimate(&self) -> Option<(u64, u64)> {
        None
    }

    /// Called once every entry is done: what the source adds then (an
    /// image's integrity findings and facts).
    fn finish(&self) -> Closing {
        Closing::default()
    }
}

/// What a source reports after its walk.
#[derive(Default)]
pub struct Closing {
    pub problems: Vec<Problem>,
    /// The image set's facts, for image sources.
    pub image: Option<container::integrity::ImageInfo>,
}

pub enum SourceItem {
    File(FileEntry),
    Problem(Problem),
}

/// An entry of [`FileSource::deferred_entries`].
// A `SourceItem` travels by value everywhere else too; boxing it here would
// cost an allocation per entry of every image walk.
#[allow(clippy::large_enum_variant)]
pub enum Deferred<'a> {
    Ready(SourceItem),
    /// Facts still to be read (by the worker that takes the entry).
    Later(Box<dyn FnOnce() -> SourceItem + Send + 'a>),
}

impl Deferred<'_> {
    pub fn resolve(self) -> SourceItem {
        match self {
            Deferred::Ready(item) => item,
            Deferred::Later(read) => read(),
        }
    }
}

/// One file (or alternate data stream) to scan.
pub struct FileEntry {
    /// `/`-separated path from the source's root.
    pub path: EvidencePath,
    /// Where the file is on the host, for files of host directories.
    pub host_path: Option<EvidencePath>,
    pub meta: FileMeta,
    pub content: Box<dyn Content>,
}

/// File facts carried into evidence.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileMeta {
    pub size: u64,
    pub created: Option<Timestamp>,
    pub modified: Option<Timestamp>,
    pub accessed: Option<Timestamp>,
    /// Metadata change time (ctime / MFT entry modified).
    pub changed: Option<Timestamp>,
    pub deleted: bool,
    /// Alternate data stream name, for NTFS streams.
    pub stream: Option<String>,
    /// Inode or MFT record number.
    pub inode: Option<u64>,
    /// The disk volume holding the file, for files inside images (carried
    /// by a finding's location, not serialized twice).
    #[serde(skip)]
    pub volume: Option<Arc<volume::VolumeInfo>>,
}

/// Access to one file's bytes.
pub trait Content: Send + Sync {
    /// Feeds every byte, in order, to `sink`; returns how many there were.
    fn pump(&self, buf: &mut ReadBuf, sink: &mut dyn FnMut(&[u8])) -> std::io::Result<u64>;
    /// A seekable reader (today: for the first bytes of a file that is not
    /// to be hashed, to tell whether it is an event log).
    fn open(&self) -> std::io::Result<Box<dyn ReadSeek>>;
    /// Bytes of the content that are holes (see [`readat::ReadAt::hole_bytes`]);
    /// asked only of large files.
    fn hole_bytes(&self) -> u64 {
        0
    }
}

/// An entry that was not scanned, or not completely.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub path: EvidencePath,
    pub kind: ProblemKind,
    pub message: String,
    /// Where it is, as data.
    #[serde(default)]
    pub at: At,
}

impl Problem {
    pub fn new(path: EvidencePath, kind: ProblemKind, message: String) -> Self {
        Problem {
            path,
            kind,
            message,
            at: At::default(),
        }
    }

    pub fn at(self, at: At) -> Self {
        Problem { at, ..self }
    }
}

/// Where in the evidence a problem lies, as data a lab can filter on
/// without parsing messages; each field is set where it applies.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct At {
    /// The volume of a disk image: partition number and byte offset.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub volume: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub volume_offset: Option<u64>,
    /// Inode or MFT record number.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub inode: Option<u64>,
    /// Byte offset: in the file for file content and event-log chunks, in
    /// the volume for filesystem structures, on the disk for partition
    /// tables.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub offset: Option<u64>,
    /// EVTX chunk number (an image chunk's, for image sources) and record
    /// number (the record header's).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub chunk: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub record: Option<u64>,
    /// Segment number of an image set (1 = `.E01`), for image chunks.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub segment: Option<u64>,
    /// Line and column, in bundle and rule files.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub column: Option<u64>,
}

impl At {
    /// The volume's coordinates, when there is one.
    pub fn volume(v: Option<&volume::VolumeInfo>) -> At {
        At {
            volume: v.map(|v| v.index),
            volume_offset: v.map(|v| v.offset),
            ..At::default()
        }
    }
}

/// Why an entry was not scanned. `is_error` separates failures (the scan is
/// incomplete) from entries skipped by design (FIFOs, links not followed).
/// Serialized as [`ProblemKind::as_str`] names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemKind {
    /// The target itself could not be opened.
    TargetUnreadable,
    /// A file or directory could not be read.
    Unreadable,
    BrokenSymlink,
    /// A symbolic link cycle while following links.
    SymlinkLoop,
    /// A symbolic link, listed and not followed.
    #[serde(rename = "symlinkNotFollowed")]
    Symlink,
    Fifo,
    Socket,
    Device,
    /// Larger than `--max-file-size`; matched by name and path only.
    SizeLimit,
    /// The file's size changed between the walk and the read.
    #[serde(rename = "changedDuringScan")]
    Changed,
    /// A log whose structure cannot be read at all (e.g. its header).
    CorruptLog,
    /// A log chunk that could not be read; the log's other chunks were.
    CorruptChunk,
    /// A log record that could not be read; the chunk's other records were.
    CorruptRecord,
    /// A filesystem entry (MFT record, directory entry, inode) that could
    /// not be read; the filesystem's other entries were.
    CorruptEntry,
    /// A partition table entry or header that is damaged or implausible.
    PartitionTable,
    /// A filesystem that was recognised but could not be opened.
    CorruptFilesystem,
    /// A deleted entry whose data cannot be recovered (its clusters would
    /// lie outside the volume): directory slack, not a file.
    #[serde(rename = "unrecoverableDeleted")]
    Unrecoverable,
    /// A disk image inside another image: hashed as a file, its contents
    /// not scanned (nesting stops at images found on the host).
    #[serde(rename = "imageNotOpened")]
    NestedImage,
    /// A filesystem whose journal holds changes we do not replay.
    JournalNotReplayed,
    /// A filesystem whose journal was replayed in memory before its walk
    /// (a note: nothing was left out).
    JournalReplayed,
    /// A volume with no filesystem we recognise (swap, reserved, encrypted,
    /// unformatted): listed, not scanned.
    UnscannedVolume,
    /// An entry whose read was cut short because the scan was asked to
    /// stop (Ctrl-C, SIGTERM).
    Interrupted,
    /// A file inside an image larger than its volume (sparse or damaged):
    /// matched by name and path, not read.
    LargerThanVolume,
    /// Filesystem data that is not file content (NTFS's bad-cluster map):
    /// listed, not scanned.
    #[serde(rename = "notFileContent")]
    NotContent,
    /// A file with `--sparse-limit` bytes of holes or more (an NTFS
    /// `$UsnJrnl:$J` claims tens of GB of zeros): matched by name and path,
    /// its zeros not hashed unless `--hash-sparse`.
    #[serde(rename = "sparseNotHashed")]
    Sparse,
    /// Segments of an image set are missing: the media they held was not
    /// read (listed once for the image).
    ImageIncomplete,
    /// `--verify-image` found the media no longer hashes to what was
    /// stored at acquisition, or could not hash it whole.
    ImageUnverified,
    /// A registry hive, or a cell of one (key, value, list), that could not
    /// be read; the hive's other keys were.
    CorruptHive,
    /// A dirty registry hive whose transaction logs were not applied.
    HiveLogsNotApplied,
    /// A prefetch file that could not be read, or only in part.
    CorruptPrefetch,
    /// A dirty registry hive whose transaction logs were applied in memory
    /// before its keys were read (a note).
    HiveLogsApplied,
    /// A user's hive whose owner (SID) is not known: IOCs naming a user by
    /// SID were not matched on it.
    HiveOwnerUnknown,
}

impl ProblemKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ProblemKind::TargetUnreadable => "targetUnreadable",
            ProblemKind::Unreadable => "unreadable",
            ProblemKind::BrokenSymlink => "brokenSymlink",
            ProblemKind::SymlinkLoop => "symlinkLoop",
            ProblemKind::Symlink => "symlinkNotFollowed",
            ProblemKind::Fifo => "fifo",
            ProblemKind::Socket => "socket",
            ProblemKind::Device => "device",
            ProblemKind::SizeLimit => "sizeLimit",
            ProblemKind::Changed => "changedDuringScan",
            ProblemKind::CorruptLog => "corruptLog",
            ProblemKind::CorruptChunk => "corruptChunk",
            ProblemKind::CorruptRecord => "corruptRecord",
            ProblemKind::CorruptEntry => "corruptEntry",
            ProblemKind::PartitionTable => "partitionTable",
            ProblemKind::CorruptFilesystem => "corruptFilesystem",
            ProblemKind::UnscannedVolume => "unscannedVolume",
            ProblemKind::Unrecoverable => "unrecoverableDeleted",
            ProblemKind::JournalNotReplayed => "journalNotReplayed",
            ProblemKind::NestedImage => "imageNotOpened",
            ProblemKind::Interrupted => "interrupted",
            ProblemKind::LargerThanVolume => "largerThanVolume",
            ProblemKind::NotContent => "notFileContent",
            ProblemKind::Sparse => "sparseNotHashed",
            ProblemKind::ImageIncomplete => "imageIncomplete",
            ProblemKind::JournalReplayed => "journalReplayed",
            ProblemKind::ImageUnverified => "imageUnverified",
            ProblemKind::CorruptHive => "corruptHive",
            ProblemKind::HiveLogsNotApplied => "hiveLogsNotApplied",
            ProblemKind::HiveLogsApplied => "hiveLogsApplied",
            ProblemKind::HiveOwnerUnknown => "hiveOwnerUnknown",
            ProblemKind::CorruptPrefetch => "corruptPrefetch",
        }
    }

    /// A fact about how the scan read something, not a gap in it.
    pub fn is_note(self) -> bool {
        matches!(
            self,
            ProblemKind::JournalReplayed | ProblemKind::HiveLogsApplied
        )
    }

    /// `error`, `skipped` or `note`, as the report's `class`.
    pub fn class(self) -> &'static str {
        if self.is_error() {
            "error"
        } else if self.is_note() {
            "note"
        } else {
            "skipped"
        }
    }

    pub fn is_error(self) -> bool {
        matches!(
            self,
            ProblemKind::TargetUnreadable
                | ProblemKind::Unreadable
                | ProblemKind::BrokenSymlink
                | ProblemKind::SymlinkLoop
                | ProblemKind::Changed
                | ProblemKind::CorruptLog
                | ProblemKind::CorruptChunk
                | ProblemKind::CorruptRecord
                | ProblemKind::CorruptEntry
                | ProblemKind::PartitionTable
                | ProblemKind::CorruptFilesystem
                | ProblemKind::JournalNotReplayed
                | ProblemKind::Interrupted
                | ProblemKind::ImageIncomplete
                | ProblemKind::ImageUnverified
                | ProblemKind::CorruptHive
                | ProblemKind::HiveLogsNotApplied
                | ProblemKind::CorruptPrefetch
        )
    }
}

/// Opens a scan target, choosing the source by what the target is: a
/// directory is walked; a disk image (recognised by content, see
/// [`container`]) or a block device is opened as an image; any other file is
/// scanned as itself.
pub fn open(target: &Path, opts: &SourceOptions) -> std::io::Result<Box<dyn FileSource>> {
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::metadata(target)?;
    if meta.is_dir() {
        return Ok(Box::new(DirSource::new(target, true, opts)));
    }
    if opts.slice.is_some() {
        return Err(std::io::Error::other(
            "a slice is a part of a directory tree: this target is not a directory",
        ));
    }
    let format = if meta.file_type().is_block_device() {
        Some("raw")
    } else if meta.is_file() {
        container::sniff(target)?
    } else {
        return Err(std::io::Error::other(
            "not a directory, regular file or block device (FIFOs, sockets and character \
             devices are never opened)",
        ));
    };
    match format {
        Some(format) => {
            let opened = container::open(target, format)?;
            Ok(Box::new(
                ImageSource::new(format, opened)
                    .with_options(&opts.stop, opts.verify_image)
                    .watched(&opts.watch, target),
            ))
        }
        None => Ok(Box::new(DirSource::new(target, false, opts))),
    }
}
