//! Where collected copies go: a folder of files (`DIR/files/…`), or one
//! ZIP archive (`DIR/evidence.zip`, entries `files/…`, stored, ZIP64 when
//! large). Either way a copy is streamed in, never held in memory, and
//! read back from the disk afterwards to be hashed: from the folder, or
//! from the finished archive.

use std::collections::HashSet;
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use zip::write::SimpleFileOptions;

use crate::hash::{DigestSet, MultiHasher};

/// The archive's name inside the collection folder.
pub const ARCHIVE: &str = "evidence.zip";

/// A copy's size and digests, read back from where it was stored.
#[derive(serde::Serialize, Clone)]
pub struct CopyDigests {
    pub size: u64,
    pub md5: String,
    pub sha1: String,
    pub sha256: String,
}

pub enum Store {
    Folder(PathBuf),
    Zip {
        writer: zip::ZipWriter<File>,
        path: PathBuf,
    },
}

impl Store {
    /// Copies under `dir/files/` (`zip`: in `dir/evidence.zip`).
    pub fn new(dir: &Path, zip: bool) -> std::io::Result<Store> {
        std::fs::create_dir_all(dir)?;
        if !zip {
            std::fs::create_dir_all(dir.join("files"))?;
            return Ok(Store::Folder(dir.to_path_buf()));
        }
        let path = dir.join(ARCHIVE);
        let file = File::create_new(&path)?;
        Ok(Store::Zip {
            writer: zip::ZipWriter::new(file),
            path,
        })
    }

    /// Streams `r` (`size` bytes expected) in as `rel` (`files/…`; a name
    /// taken gets `~2`, `~3` …) and returns the name it was stored under.
    pub fn put(
        &mut self,
        r: &mut dyn Read,
        rel: &Path,
        size: u64,
        taken: &mut HashSet<PathBuf>,
    ) -> Result<String, String> {
        let mut rel = rel.to_path_buf();
        let base = rel
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let mut n = 1;
        match self {
            Store::Folder(dir) => {
                let mut out = loop {
                    let path = dir.join(&rel);
                    if let Some(parent) = path.parent() {
                        std::fs::create_dir_all(parent)
                            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
                    }
                    if !taken.contains(&rel) {
                        match File::create_new(&path) {
                            Ok(f) => break f,
                            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                            Err(e) => return Err(format!("cannot create {}: {e}", path.display())),
                        }
                    }
                    n += 1;
                    rel.set_file_name(format!("{base}~{n}"));
                };
                let shown = dir.join(&rel).display().to_string();
                pump(r, &mut out, &shown)?;
                out.sync_all()
                    .map_err(|e| format!("cannot write {shown}: {e}"))?;
            }
            Store::Zip { writer, path } => {
                while taken.contains(&rel) {
                    n += 1;
                    rel.set_file_name(format!("{base}~{n}"));
                }
                let opts = SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Stored)
                    .large_file(size >= u64::from(u32::MAX) / 2);
                let shown = format!("{}:{}", path.display(), rel.display());
                writer
                    .start_file(name_of(&rel), opts)
                    .map_err(|e| format!("cannot write {shown}: {e}"))?;
                pump(r, writer, &shown)?;
            }
        }
        taken.insert(rel.clone());
        Ok(name_of(&rel))
    }

    /// Ends the writing and gives a reader of each stored copy by name,
    /// hashing it from the disk.
    pub fn read_back(self) -> std::io::Result<Reader> {
        Ok(match self {
            Store::Folder(dir) => Reader::Folder(dir),
            Store::Zip { writer, path } => {
                let file = writer.finish().map_err(std::io::Error::other)?;
                file.sync_all()?;
                drop(file);
                let archive =
                    zip::ZipArchive::new(File::open(&path)?).map_err(std::io::Error::other)?;
                Reader::Zip(Box::new(archive))
            }
        })
    }
}

/// Stored copies, read back.
pub enum Reader {
    Folder(PathBuf),
    Zip(Box<zip::ZipArchive<File>>),
}

impl Reader {
    /// The size and digests of the copy stored as `name`.
    pub fn digests(&mut self, name: &str) -> Result<CopyDigests, String> {
        let fail = |e: &dyn std::fmt::Display| format!("cannot read the copy back: {e}");
        match self {
            Reader::Folder(dir) => {
                let mut f = File::open(dir.join(name)).map_err(|e| fail(&e))?;
                hash(&mut f).map_err(|e| fail(&e))
            }
            Reader::Zip(archive) => {
                let mut entry = archive.by_name(name).map_err(|e| fail(&e))?;
                hash(&mut entry).map_err(|e| fail(&e))
            }
        }
    }
}

/// `files/a/b` with `/` whatever the platform.
fn name_of(rel: &Path) -> String {
    rel.to_string_lossy().replace('\\', "/")
}

fn pump(r: &mut dyn Read, w: &mut dyn Write, shown: &str) -> Result<(), String> {
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let got = match r.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(g) => g,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("cannot read the original: {e}")),
        };
        w.write_all(&buf[..got])
            .map_err(|e| format!("cannot write {shown}: {e}"))?;
    }
}

fn hash(r: &mut dyn Read) -> std::io::Result<CopyDigests> {
    let mut buf = vec![0u8; 1 << 20];
    let mut h = MultiHasher::new(DigestSet::ALL);
    let mut size = 0u64;
    loop {
        let got = r.read(&mut buf)?;
        if got == 0 {
            break;
        }
        size += got as u64;
        h.update(&buf[..got]);
    }
    let d = h.finish();
    Ok(CopyDigests {
        size,
        md5: d.md5.map(hex::encode).unwrap_or_default(),
        sha1: d.sha1.map(hex::encode).unwrap_or_default(),
        sha256: d.sha256.map(hex::encode).unwrap_or_default(),
    })
}
