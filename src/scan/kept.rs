//! Files parsed whole once read: registry hives and prefetch files. Their
//! bytes are kept as the file's one read goes (up to a bound per kind),
//! then parsed, and what fired in them comes back with the file.

use crate::artifact::prefetch;
use crate::artifact::program::Program;
use crate::artifact::registry::{self, RegistryItem};
use crate::source::{FileEntry, ProblemKind};

use super::hive::MAX_HIVE;
use super::worker::{Ctx, Emit, Fired, problem};

/// What a kept file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Hive,
    Prefetch,
}

impl Kind {
    /// What a file whose first bytes are `head` is, if it is parsed whole.
    pub fn of(head: &[u8]) -> Option<Kind> {
        if registry::is_hive(head) {
            Some(Kind::Hive)
        } else if prefetch::is_prefetch(head) {
            Some(Kind::Prefetch)
        } else {
            None
        }
    }

    /// Bytes kept at most: past them the file is hashed and matched as a
    /// file, not parsed (listed).
    pub fn limit(self) -> u64 {
        match self {
            Kind::Hive => MAX_HIVE,
            Kind::Prefetch => prefetch::MAX_SIZE as u64,
        }
    }
}

/// A kept file's bytes, as the read goes.
pub(super) struct Kept {
    pub kind: Kind,
    pub bytes: Vec<u8>,
    /// More than the kind's limit came: the rest was not kept.
    pub over: bool,
}

impl Kept {
    /// Starts keeping a file whose first bytes are `head`, if it is parsed
    /// whole and the bundle has IOCs it can hold.
    pub fn start(head: &[u8], size: u64, ctx: &Ctx) -> Option<Kept> {
        let kind = Kind::of(head).filter(|_| ctx.matcher.wants_registry())?;
        Some(Kept {
            kind,
            // The size is the walk's, bounded; a file that grows is kept
            // up to the bound all the same.
            bytes: Vec::with_capacity(size.min(kind.limit()) as usize),
            over: false,
        })
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let room = (self.kind.limit() as usize).saturating_sub(self.bytes.len());
        self.over |= chunk.len() > room;
        self.bytes
            .extend_from_slice(&chunk[..chunk.len().min(room)]);
    }
}

/// What fired in a kept file: on registry keys and values, and on the
/// programs an Amcache or a prefetch file records.
#[derive(Default)]
pub(super) struct Found {
    pub items: Vec<(Fired, Box<RegistryItem>)>,
    pub programs: Vec<(Fired, Box<Program>)>,
}

/// Parses a kept file and matches what it holds; damage is listed.
pub(super) fn scan(source: usize, entry: &FileEntry, kept: Kept, ctx: &Ctx, emit: Emit) -> Found {
    match kept.kind {
        Kind::Hive => super::hive::scan(source, entry, kept, ctx, emit),
        Kind::Prefetch => scan_prefetch(source, entry, kept, ctx, emit),
    }
}

/// A prefetch file: its program (name, path, run count and times, the
/// files it loaded) matched by path, name and hash IOCs. A `MAM` file that
/// is not a prefetch file when decompressed is only hashed; one named
/// `*.pf` that cannot be read is listed.
fn scan_prefetch(source: usize, entry: &FileEntry, kept: Kept, ctx: &Ctx, emit: Emit) -> Found {
    let named_pf = entry.path.display().to_ascii_lowercase().ends_with(".pf");
    let listed = |message: String| {
        emit(problem(
            source,
            entry,
            ProblemKind::CorruptPrefetch,
            message,
        ));
    };
    if kept.over {
        listed(format!(
            "prefetch file larger than {} bytes: hashed and matched as a file, not parsed",
            prefetch::MAX_SIZE
        ));
        return Found::default();
    }
    let (pf, damage) = match prefetch::parse(&kept.bytes) {
        Ok(parsed) => parsed,
        Err(e) => {
            if named_pf || kept.bytes.get(4..8) == Some(b"SCCA") {
                listed(format!("prefetch file not read: {e}"));
            }
            return Found::default();
        }
    };
    if let Some(d) = damage {
        listed(format!("prefetch file partly read: {d}"));
    }
    let program = Box::new(pf.program());
    let mut hits = Vec::new();
    ctx.matcher.match_program(&program, &mut hits);
    Found {
        items: Vec::new(),
        programs: hits
            .into_iter()
            .map(|h| (Fired::from(h), program.clone()))
            .collect(),
    }
}
