//! Host directories (and single host files), walked with walkdir.
//!
//! Only regular files are ever opened. FIFOs, sockets and devices would block
//! or read forever, so they are listed from their `lstat` type and never
//! opened; symbolic links are listed, not followed, unless asked. Files are
//! opened read-only with `O_NONBLOCK` (a file swapped for a FIFO after the
//! walk cannot block the scan), `O_NOFOLLOW` and, where permitted,
//! `O_NOATIME` so the scan does not change the evidence's access times.

use std::fs::{File, Metadata};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

use jiff::Timestamp;
use walkdir::WalkDir;

use super::io::{ReadBuf, open_evidence, pump_file};
use super::{
    Content, Deferred, EvidencePath, FileEntry, FileMeta, FileSource, Problem, ProblemKind,
    SourceItem, SourceOptions,
};

pub struct DirSource {
    root: PathBuf,
    is_dir: bool,
    opts: SourceOptions,
}

impl DirSource {
    pub fn new(root: &Path, is_dir: bool, opts: &SourceOptions) -> Self {
        DirSource {
            root: root.to_path_buf(),
            is_dir,
            opts: opts.clone(),
        }
    }

    /// The walk: everything under the root or, for a slice, the
    /// directories that may hold its entries, children sorted by name (the
    /// order slices are cut in).
    fn walker(&self) -> Box<dyn Iterator<Item = walkdir::Result<walkdir::DirEntry>> + Send + '_> {
        let walk = WalkDir::new(&self.root)
            .follow_links(self.opts.follow_symlinks)
            .same_file_system(self.opts.one_file_system);
        let Some(slice) = self.opts.slice.as_ref().filter(|_| self.is_dir) else {
            return Box::new(walk.into_iter());
        };
        let root = &self.root;
        let rel = move |p: &Path| p.strip_prefix(root).unwrap_or(p).to_path_buf();
        Box::new(
            walk.sort_by_file_name()
                .into_iter()
                .filter_entry(move |e| {
                    let r = rel(e.path());
                    if e.file_type().is_dir() {
                        slice.may_enter(&r)
                    } else {
                        slice.contains(&r)
                    }
                })
                // A directory entered for its children, and an error read
                // at a path, belong to the slice holding that path only.
                .filter(move |r| {
                    let path = match r {
                        Ok(e) if !e.file_type().is_dir() => return true,
                        Ok(e) => Some(e.path()),
                        Err(e) => e.path(),
                    };
                    path.is_none_or(|p| slice.contains(&rel(p)))
                }),
        )
    }

    /// Path inside the source: from the root for directories, the file's own
    /// name for a single-file target.
    fn inner_path(&self, path: &Path) -> EvidencePath {
        let rel = if self.is_dir {
            path.strip_prefix(&self.root).unwrap_or(path)
        } else {
            path.file_name().map_or(path, Path::new)
        };
        let mut bytes = Vec::with_capacity(rel.as_os_str().len() + 1);
        for comp in rel.components() {
            bytes.push(b'/');
            bytes.extend_from_slice(EvidencePath::from_os(comp.as_os_str()).as_bytes());
        }
        if bytes.is_empty() {
            bytes.push(b'/');
        }
        EvidencePath::from_bytes(bytes)
    }

    /// The entry as the walk sees it: directories skipped, links and
    /// special files listed, a regular file's facts left for later.
    fn item(&self, entry: walkdir::DirEntry) -> Option<Deferred<'_>> {
        let path = entry.path();
        let ft = entry.file_type();
        if ft.is_dir() {
            return None;
        }
        let problem = |kind: ProblemKind, message: String| {
            Some(Deferred::Ready(SourceItem::Problem(Problem::new(
                self.inner_path(path),
                kind,
                message,
            ))))
        };
        if ft.is_symlink() {
            let target = std::fs::read_link(path)
                .map(|t| EvidencePath::from_os(t.as_os_str()).display())
                .unwrap_or_else(|e| format!("<unreadable: {e}>"));
            return match std::fs::metadata(path) {
                Err(e) => problem(
                    ProblemKind::BrokenSymlink,
                    format!("broken symbolic link to {target}: {e}"),
                ),
                Ok(_) => problem(
                    ProblemKind::Symlink,
                    format!(
                        "symbolic link to {target}, not followed (--follow-symlinks follows links)"
                    ),
                ),
            };
        }
        if !ft.is_file() {
            let (kind, what) = special_kind(&ft);
            return problem(kind, format!("{what}: never opened"));
        }
        Some(Deferred::Later(Box::new(move || self.file(entry))))
    }

    /// A regular file of the walk, opened and `fstat`ed once: its facts
    /// come from the open file, which is kept for the read. A file that
    /// cannot be opened is listed from its `lstat` (its name still
    /// matches; the read then reports why it failed).
    fn file(&self, entry: walkdir::DirEntry) -> SourceItem {
        let path = entry.path();
        let (meta, opened) = match open_regular(path, self.opts.follow_symlinks) {
            Ok((file, meta)) => {
                let len = meta.len();
                (meta, Some((file, len)))
            }
            Err(_) => match entry.metadata() {
                Ok(meta) => (meta, None),
                Err(e) => {
                    return SourceItem::Problem(Problem::new(
                        self.inner_path(path),
                        ProblemKind::Unreadable,
                        format!("cannot stat: {e}"),
                    ));
                }
            },
        };
        SourceItem::File(FileEntry {
            path: self.inner_path(path),
            host_path: Some(EvidencePath::from_os(path.as_os_str())),
            meta: file_meta(&meta),
            content: Box::new(HostFile {
                path: entry.into_path(),
                follow: self.opts.follow_symlinks,
                mmap: self.opts.mmap,
                opened: Mutex::new(opened),
            }),
        })
    }

    fn walk_error(&self, err: walkdir::Error) -> SourceItem {
        let path = err
            .path()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| self.root.clone());
        let (kind, message) = if let Some(anc) = err.loop_ancestor() {
            (
                ProblemKind::SymlinkLoop,
                format!("symbolic link loop back to {}", anc.display()),
            )
        } else if std::fs::symlink_metadata(&path).is_ok_and(|m| m.file_type().is_symlink())
            && std::fs::metadata(&path).is_err()
        {
            let io = err
                .io_error()
                .map_or_else(|| err.to_string(), ToString::to_string);
            (
                ProblemKind::BrokenSymlink,
                format!("broken symbolic link: {io}"),
            )
        } else {
            let io = err
                .io_error()
                .map_or_else(|| err.to_string(), ToString::to_string);
            (ProblemKind::Unreadable, format!("cannot read: {io}"))
        };
        SourceItem::Problem(Problem::new(self.inner_path(&path), kind, message))
    }
}

impl FileSource for DirSource {
    fn kind(&self) -> &'static str {
        if self.is_dir { "directory" } else { "file" }
    }

    fn entries(&self) -> Box<dyn Iterator<Item = SourceItem> + Send + '_> {
        Box::new(self.deferred_entries().map(Deferred::resolve))
    }

    fn deferred_entries(&self) -> Box<dyn Iterator<Item = Deferred<'_>> + Send + '_> {
        Box::new(self.walker().filter_map(move |r| match r {
            Ok(entry) => self.item(entry),
            Err(e) => Some(Deferred::Ready(self.walk_error(e))),
        }))
    }

    fn estimate(&self) -> Option<(u64, u64)> {
        let (mut files, mut bytes) = (0u64, 0u64);
        for entry in self.walker().flatten() {
            if entry.file_type().is_file() {
                files += 1;
                bytes += entry.metadata().map_or(0, |m| m.len());
            }
        }
        Some((files, bytes))
    }
}

#[cfg(unix)]
fn special_kind(ft: &std::fs::FileType) -> (ProblemKind, &'static str) {
    use std::os::unix::fs::FileTypeExt;
    if ft.is_fifo() {
        (ProblemKind::Fifo, "named pipe (FIFO)")
    } else if ft.is_socket() {
        (ProblemKind::Socket, "socket")
    } else if ft.is_block_device() {
        (ProblemKind::Device, "block device")
    } else {
        (ProblemKind::Device, "character device")
    }
}

#[cfg(not(unix))]
fn special_kind(_ft: &std::fs::FileType) -> (ProblemKind, &'static str) {
    (ProblemKind::Device, "special file")
}

fn ts(t: io::Result<SystemTime>) -> Option<Timestamp> {
    t.ok().and_then(|t| Timestamp::try_from(t).ok())
}

fn file_meta(meta: &Metadata) -> FileMeta {
    #[cfg(unix)]
    let (changed, inode) = {
        use std::os::unix::fs::MetadataExt;
        (
            Timestamp::new(meta.ctime(), meta.ctime_nsec() as i32).ok(),
            Some(meta.ino()),
        )
    };
    #[cfg(not(unix))]
    let (changed, inode) = (None, None);
    FileMeta {
        size: meta.len(),
        created: ts(meta.created()),
        modified: ts(meta.modified()),
        accessed: ts(meta.accessed()),
        changed,
        deleted: false,
        stream: None,
        inode,
        volume: None,
    }
}

struct HostFile {
    path: PathBuf,
    follow: bool,
    mmap: bool,
    /// The file as opened (with its size) when the walk's entry was
    /// resolved, for the first read: one open and `fstat` a file, not two.
    opened: Mutex<Option<(File, u64)>>,
}

impl HostFile {
    /// The file opened when the entry was resolved, else opened now.
    fn take_or_open(&self) -> io::Result<(File, u64)> {
        let kept = self
            .opened
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        kept.map_or_else(|| self.open_regular(), Ok)
    }

    /// Opens the file again (see [`open_regular`]), with its size.
    fn open_regular(&self) -> io::Result<(File, u64)> {
        open_regular(&self.path, self.follow).map(|(file, meta)| (file, meta.len()))
    }
}

/// Opens a file the walk saw as regular and checks, with the one `fstat`
/// that also gives its facts, that it still is.
fn open_regular(path: &Path, follow: bool) -> io::Result<(File, Metadata)> {
    let file = open_evidence(path, follow)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(io::Error::other(
            "no longer a regular file (changed after the walk); not read",
        ));
    }
    Ok((file, meta))
}

impl Content for HostFile {
    fn pump(&self, buf: &mut ReadBuf, sink: &mut dyn FnMut(&[u8])) -> io::Result<u64> {
        let (file, len) = self.take_or_open()?;
        pump_file(&file, len, self.mmap, buf, sink)
    }

    fn open(&self) -> io::Result<Box<dyn crate::artifact::ReadSeek>> {
        // Unbuffered: callers read a few bytes (the head, to recognise a
        // format) or whole blocks.
        Ok(Box::new(self.take_or_open()?.0))
    }

    /// The host filesystem's holes (`SEEK_DATA`/`SEEK_HOLE`), so a sparse
    /// file on a mounted drive is treated like one inside an image. Block
    /// counts would not do: a compressing filesystem stores data in fewer
    /// blocks than it holds.
    fn hole_bytes(&self) -> u64 {
        self.open_regular().map_or(0, |(f, _)| host_holes(&f))
    }
}

#[cfg(unix)]
fn host_holes(file: &File) -> u64 {
    use std::os::fd::AsRawFd;
    let Ok(len) = file.metadata().map(|m| m.len()) else {
        return 0;
    };
    let fd = file.as_raw_fd();
    let (mut pos, mut data) = (0u64, 0u64);
    while pos < len {
        // SAFETY: lseek on a descriptor we own; no memory is passed.
        let start = unsafe { libc::lseek(fd, pos as libc::off_t, libc::SEEK_DATA) };
        if start < 0 {
            // ENXIO: only a hole from `pos` on; anything else: unknown,
            // so assume no holes (the file is then read as usual).
            let holes_to_end = io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO);
            return if holes_to_end { len - data } else { 0 };
        }
        // SAFETY: as above.
        let end = unsafe { libc::lseek(fd, start, libc::SEEK_HOLE) };
        if end < start {
            return 0;
        }
        data += (end - start) as u64;
        pos = end as u64;
    }
    len.saturating_sub(data)
}

#[cfg(not(unix))]
fn host_holes(_file: &File) -> u64 {
    0
}
