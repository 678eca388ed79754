//! Hives that wait here for what the rest of their source's walk finds.
//! The walk meets files in any order, on any worker: a dirty hive inside
//! an image and the `.LOG1`/`.LOG2` beside it; a user's hive (NTUSER.DAT,
//! UsrClass.dat) and the SOFTWARE hive whose ProfileList names its owner.
//! So those hives' bytes are held until the source's walk is done, with
//! every log and profile met, and only then replayed and matched
//! (`hive::scan_parked`). Held bytes are bounded: past [`BUDGET`] a hive
//! is read at once, without its logs or its owner, and that is listed.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};

use crate::artifact::ReadSeek;
use crate::artifact::registry::profiles::{self, Profile};
use crate::source::{Content, FileEntry, ReadBuf};

/// Bytes of hives and logs held at once.
const BUDGET: usize = 2 << 30;

/// A hive whose logs or owner are looked for once its source is walked.
pub(super) struct Waiting {
    pub source: usize,
    /// The hive file; its content is the bytes read (held here).
    pub entry: FileEntry,
    pub bytes: Arc<[u8]>,
    /// A user's hive, whose owner is looked for.
    pub user: bool,
}

#[derive(Default)]
pub(super) struct Parked {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    hives: Vec<Waiting>,
    /// Logs by source and lower-cased path (`…/system.log1`), with their
    /// file names as written.
    logs: HashMap<(usize, String), Log>,
    /// Profiles by source: the volume (or host folder) and system root of
    /// the SOFTWARE hive that lists them.
    profiles: Vec<(usize, String, String, Profile)>,
    held: usize,
}

/// A transaction log held: its file name as written, its bytes.
pub(super) type Log = (String, Arc<[u8]>);

/// Where a file inside an image is, for finding a hive's logs: the image
/// (for images met inside folders), the volume and the path, lower-cased.
pub(super) fn key(entry: &FileEntry) -> Option<String> {
    entry.meta.volume.as_ref()?;
    let (volume, path) = place(entry);
    Some(format!("{volume}|/{path}"))
}

/// A file's volume (the image, for images met inside folders, and the
/// volume's index and offset; empty on the host) and its path inside it,
/// lower-cased, with no leading `/`.
fn place(entry: &FileEntry) -> (String, String) {
    let volume = entry.meta.volume.as_ref().map_or_else(String::new, |v| {
        let image = v.image.as_ref().map(|p| p.display()).unwrap_or_default();
        format!("{image}|{}|{}", v.index, v.offset).to_lowercase()
    });
    let path = entry.path.display().to_lowercase();
    (volume, path.trim_start_matches('/').to_string())
}

impl Parked {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Holds a transaction log met inside an image; false past the budget.
    pub fn keep_log(&self, source: usize, entry: &FileEntry, key: String, bytes: Vec<u8>) -> bool {
        let mut inner = self.lock();
        if inner.held + bytes.len() > BUDGET {
            return false;
        }
        inner.held += bytes.len();
        let path = entry.path.display();
        let name = path.rsplit('/').next().unwrap_or(&path).to_string();
        inner.logs.insert((source, key), (name, bytes.into()));
        true
    }

    /// The profiles a SOFTWARE hive (`entry`) lists, for its users' hives.
    pub fn add_profiles(&self, source: usize, entry: &FileEntry, found: Vec<Profile>) {
        if found.is_empty() {
            return;
        }
        let (volume, path) = place(entry);
        let root = profiles::system_root(&path);
        let mut inner = self.lock();
        for p in found {
            inner
                .profiles
                .push((source, volume.clone(), root.clone(), p));
        }
    }

    /// The SID of the user whose hive `entry` is, from the profiles the
    /// SOFTWARE hives of the same volume (or host folder) list.
    pub fn owner(&self, source: usize, entry: &FileEntry) -> Option<String> {
        let (volume, path) = place(entry);
        let inner = self.lock();
        let here = inner
            .profiles
            .iter()
            .filter(|(s, v, _, _)| *s == source && *v == volume)
            .map(|(_, _, root, p)| (root.as_str(), p));
        profiles::owner(here, &path).map(str::to_string)
    }

    /// Holds a hive until its source is walked; gives its bytes back past
    /// the budget.
    pub fn park(
        &self,
        source: usize,
        entry: &FileEntry,
        user: bool,
        bytes: Vec<u8>,
    ) -> Result<(), Vec<u8>> {
        let mut inner = self.lock();
        if inner.held + bytes.len() > BUDGET {
            return Err(bytes);
        }
        inner.held += bytes.len();
        let bytes: Arc<[u8]> = bytes.into();
        inner.hives.push(Waiting {
            source,
            entry: FileEntry {
                path: entry.path.clone(),
                host_path: entry.host_path.clone(),
                meta: entry.meta.clone(),
                content: Box::new(Held(bytes.clone())),
            },
            bytes,
            user,
        });
        Ok(())
    }

    /// The hives of `source` (users' last, so that the SOFTWARE hives held
    /// name their owners first) and the logs met in it, released.
    pub fn take(&self, source: usize) -> (Vec<Waiting>, HashMap<String, Log>) {
        let mut inner = self.lock();
        let (mut hives, rest): (Vec<_>, Vec<_>) =
            inner.hives.drain(..).partition(|w| w.source == source);
        hives.sort_by_key(|w| w.user);
        inner.hives = rest;
        let keys: Vec<(usize, String)> = inner
            .logs
            .keys()
            .filter(|(s, _)| *s == source)
            .cloned()
            .collect();
        let mut logs = HashMap::new();
        for k in keys {
            if let Some(b) = inner.logs.remove(&k) {
                logs.insert(k.1, b);
            }
        }
        let freed: usize = hives.iter().map(|w| w.bytes.len()).sum::<usize>()
            + logs.values().map(|(_, b)| b.len()).sum::<usize>();
        inner.held -= freed.min(inner.held);
        (hives, logs)
    }
}

/// A held file's bytes, as the file's content: the hive as it was read.
struct Held(Arc<[u8]>);

impl Content for Held {
    fn pump(&self, _buf: &mut ReadBuf, sink: &mut dyn FnMut(&[u8])) -> std::io::Result<u64> {
        sink(&self.0);
        Ok(self.0.len() as u64)
    }

    fn open(&self) -> std::io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(Cursor::new(self.0.clone())))
    }
}
