//! Dirty hives inside disk images wait here for their transaction logs.
//! The walk of an image meets a hive and the `.LOG1`/`.LOG2` beside it in
//! any order, on any worker; so a dirty hive's bytes are held until the
//! image's walk is done, with every log met, and only then replayed and
//! matched (`hive::scan_parked`). Held bytes are bounded: past
//! [`BUDGET`] a hive is read without its logs and that is listed.

use std::collections::HashMap;
use std::io::Cursor;
use std::sync::{Arc, Mutex, PoisonError};

use crate::artifact::ReadSeek;
use crate::source::{Content, FileEntry, ReadBuf};

/// Bytes of hives and logs held at once.
const BUDGET: usize = 2 << 30;

/// A dirty hive whose logs are looked for once its source is walked.
pub(super) struct Waiting {
    pub source: usize,
    /// The hive file; its content is the bytes read (held here).
    pub entry: FileEntry,
    pub bytes: Arc<[u8]>,
    /// Where its logs would be: its path inside its volume, lower-cased.
    pub key: String,
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
    held: usize,
}

/// A transaction log held: its file name as written, its bytes.
pub(super) type Log = (String, Arc<[u8]>);

/// Where a file inside an image is, for finding a hive's logs: the image
/// (for images met inside folders), the volume and the path, lower-cased.
pub(super) fn key(entry: &FileEntry) -> Option<String> {
    let v = entry.meta.volume.as_ref()?;
    let image = v.image.as_ref().map(|p| p.display()).unwrap_or_default();
    Some(format!("{image}|{}|{}|{}", v.index, v.offset, entry.path.display()).to_lowercase())
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

    /// Holds a dirty hive until its source is walked; gives its bytes back
    /// past the budget.
    pub fn park(
        &self,
        source: usize,
        entry: &FileEntry,
        key: String,
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
            key,
        });
        Ok(())
    }

    /// The hives of `source` and the logs met in it, released.
    pub fn take(&self, source: usize) -> (Vec<Waiting>, HashMap<String, Log>) {
        let mut inner = self.lock();
        let (hives, rest): (Vec<_>, Vec<_>) =
            inner.hives.drain(..).partition(|w| w.source == source);
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
