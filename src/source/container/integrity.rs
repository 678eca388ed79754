//! What an image set says about itself, and whether its bytes still say
//! it: the facts the report's `sources[].image` holds (segments, media
//! size, hashes and case metadata stored at acquisition), the damage found
//! while reading (chunk checksums that fail, segments missing), and the
//! media hash pass of `--verify-image`, as ewfverify does it.

use std::collections::BTreeMap;
use std::io;
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

use crate::hash::{DigestSet, MultiHasher};
use crate::source::readat::ReadAt;
use crate::source::{At, EvidencePath, Problem, ProblemKind};
use crate::stop::Stop;

/// An image set as the report describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageInfo {
    /// The files of the set, in order (one for single-file formats).
    pub segments: Vec<String>,
    /// Bytes of media the image describes.
    pub media_size: u64,
    /// Every byte of the media is present in the files found.
    pub complete: bool,
    /// What is missing when `complete` is false.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub missing: Option<String>,
    /// Hashes of the media recorded at acquisition (E01).
    #[serde(skip_serializing_if = "MediaHashes::is_empty", default)]
    pub stored_hashes: MediaHashes,
    /// Hashes computed over the media by `--verify-image`.
    #[serde(skip_serializing_if = "MediaHashes::is_empty", default)]
    pub computed_hashes: MediaHashes,
    /// Outcome of `--verify-image`: `match`, `mismatch`, `noStoredHash`,
    /// `incomplete` (media missing or unreadable) or `interrupted`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub verification: Option<String>,
    /// Chunks whose stored checksum did not match their bytes.
    pub corrupt_chunks: u64,
    /// Case metadata the acquisition tool wrote (E01 header).
    #[serde(skip_serializing_if = "Acquisition::is_empty", default)]
    pub acquisition: Acquisition,
    /// Sector ranges the acquisition could not read (E01 `error2`).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub acquisition_errors: Vec<SectorRange>,
}

/// MD5 and SHA-1 of the media, lower-case hex.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaHashes {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub md5: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub sha1: Option<String>,
}

impl MediaHashes {
    pub fn is_empty(&self) -> bool {
        self.md5.is_none() && self.sha1.is_none()
    }
}

/// The E01 header's case fields, as the examiner typed them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Acquisition {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub case_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub evidence_number: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub examiner: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub notes: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acquiry_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub system_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub acquiry_software: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub os_version: Option<String>,
}

impl Acquisition {
    pub fn is_empty(&self) -> bool {
        *self == Acquisition::default()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SectorRange {
    pub first_sector: u64,
    pub sector_count: u64,
}

/// Damage a container meets while it is read, gathered from every reader
/// thread and listed once, when the image's walk is over.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    /// By chunk number: each listed once, in media order.
    corrupt: BTreeMap<u64, ChunkFault>,
    missing_reads: u64,
}

/// A chunk whose checksum failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChunkFault {
    pub chunk: u64,
    /// Where the chunk's bytes start in the media.
    pub media_offset: u64,
    pub len: u64,
    /// Segment number (1 = `.E01`) and where the chunk sits in that file.
    pub segment: u64,
    pub file_offset: u64,
    /// What is wrong with it (`fails its checksum: …`).
    pub fault: String,
}

/// The most chunk faults listed one by one; the rest are counted.
const FAULTS_LISTED: usize = 1000;

impl Health {
    pub fn chunk_fault(&self, f: ChunkFault) {
        self.lock().corrupt.entry(f.chunk).or_insert(f);
    }

    /// A read asked for media the set does not hold.
    pub fn missing_read(&self) {
        self.lock().missing_reads += 1;
    }

    pub fn corrupt_chunks(&self) -> u64 {
        self.lock().corrupt.len() as u64
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The problems to list for the image at `image`: each corrupt chunk
    /// (in media order) and, once, the media the set lacks.
    pub fn problems(&self, image: &EvidencePath, info: &ImageInfo) -> Vec<Problem> {
        let st = self.lock();
        let mut out: Vec<Problem> = st
            .corrupt
            .values()
            .take(FAULTS_LISTED)
            .map(|f| {
                Problem::new(
                    image.clone(),
                    ProblemKind::CorruptChunk,
                    format!(
                        "image chunk {} (media bytes {}..{}, segment {} at byte {}) {}",
                        f.chunk,
                        f.media_offset,
                        f.media_offset.saturating_add(f.len),
                        f.segment,
                        f.file_offset,
                        f.fault
                    ),
                )
                .at(At {
                    offset: Some(f.media_offset),
                    chunk: Some(f.chunk),
                    segment: Some(f.segment),
                    ..At::default()
                })
            })
            .collect();
        if st.corrupt.len() > FAULTS_LISTED {
            out.push(Problem::new(
                image.clone(),
                ProblemKind::CorruptChunk,
                format!(
                    "{} more image chunks fail their checksums (the first {FAULTS_LISTED} are \
                     listed)",
                    st.corrupt.len() - FAULTS_LISTED
                ),
            ));
        }
        if let Some(missing) = &info.missing {
            let reads = match st.missing_reads {
                0 => "no read needed them".to_string(),
                n => format!(
                    "{n} reads needed them: files and structures there are listed as \
                     unreadable, and matched by name and path"
                ),
            };
            out.push(Problem::new(
                image.clone(),
                ProblemKind::ImageIncomplete,
                format!("{missing}; {reads}"),
            ));
        }
        out
    }
}

/// The error a read of media the set lacks returns: one short line, as the
/// image-level entry explains it.
pub fn missing_media(offset: u64) -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        format!(
            "not read: byte {offset} of the media lies in a part the image set lacks (the \
             image's imageIncomplete entry says which)"
        ),
    )
}

/// Hashes the whole media (`--verify-image`) and compares with what was
/// stored, filling `info`'s computed hashes and verification.
pub fn verify_media(disk: &dyn ReadAt, info: &mut ImageInfo, stop: &Stop) {
    const BLOCK: usize = 4 << 20;
    if !info.complete {
        info.verification = Some("incomplete".into());
        return;
    }
    let mut hasher = MultiHasher::new(DigestSet {
        md5: true,
        sha1: true,
        sha256: false,
    });
    let size = disk.size();
    let mut buf = vec![0u8; BLOCK];
    let mut next = vec![0u8; BLOCK];
    let mut offset = 0u64;
    // Reading the next block (decompressing its chunks) overlaps hashing
    // this one: the two costs of a verification are on two cores.
    let mut pending = read_block(disk, &mut buf, offset, size);
    while let Ok(n) = pending {
        if n == 0 || stop.requested().is_some() {
            break;
        }
        let following = offset + n as u64;
        let (hashed, read) = rayon::join(
            || hasher.update(&buf[..n]),
            || read_block(disk, &mut next, following, size),
        );
        let () = hashed;
        offset = following;
        pending = read;
        std::mem::swap(&mut buf, &mut next);
    }
    if stop.requested().is_some() {
        info.verification = Some("interrupted".into());
        return;
    }
    if pending.is_err() || offset != size {
        info.verification = Some("incomplete".into());
        return;
    }
    let d = hasher.finish();
    info.computed_hashes = MediaHashes {
        md5: d.md5.map(hex::encode),
        sha1: d.sha1.map(hex::encode),
    };
    let stored = &info.stored_hashes;
    let pairs = [
        (&stored.md5, &info.computed_hashes.md5),
        (&stored.sha1, &info.computed_hashes.sha1),
    ];
    let compared: Vec<bool> = pairs
        .iter()
        .filter_map(|(s, c)| s.as_ref().map(|s| Some(s) == c.as_ref()))
        .collect();
    info.verification = Some(
        if compared.is_empty() {
            "noStoredHash"
        } else if compared.iter().all(|&ok| ok) {
            "match"
        } else {
            "mismatch"
        }
        .into(),
    );
}

/// Reads one block in slices on any idle core: decompressing a compressed
/// image's chunks is the larger cost of a verification.
fn read_block(disk: &dyn ReadAt, buf: &mut [u8], offset: u64, size: u64) -> io::Result<usize> {
    use rayon::prelude::*;
    const SLICE: usize = 512 << 10;
    let want = (size.saturating_sub(offset)).min(buf.len() as u64) as usize;
    buf[..want]
        .par_chunks_mut(SLICE)
        .enumerate()
        .try_for_each(|(i, part)| disk.read_exact_at(part, offset + (i * SLICE) as u64))?;
    Ok(want)
}

/// The problem `--verify-image` lists when the media no longer hashes to
/// what was stored, or could not be hashed whole.
pub fn verification_problem(image: &EvidencePath, info: &ImageInfo) -> Option<Problem> {
    let message = match info.verification.as_deref()? {
        "mismatch" => format!(
            "the media hashes to MD5 {} SHA-1 {}, not to the MD5 {} SHA-1 {} stored at \
             acquisition: the image was altered or damaged since",
            opt(&info.computed_hashes.md5),
            opt(&info.computed_hashes.sha1),
            opt(&info.stored_hashes.md5),
            opt(&info.stored_hashes.sha1)
        ),
        "incomplete" => format!(
            "the image could not be verified: media is missing or unreadable{}",
            if info.corrupt_chunks > 0 {
                " (its corrupt chunks are listed)"
            } else {
                ""
            }
        ),
        _ => return None,
    };
    Some(Problem::new(
        image.clone(),
        ProblemKind::ImageUnverified,
        message,
    ))
}

fn opt(s: &Option<String>) -> &str {
    s.as_deref().unwrap_or("(none)")
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Bytes(Vec<u8>);
    impl ReadAt for Bytes {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
            let start = (offset as usize).min(self.0.len());
            let n = buf.len().min(self.0.len() - start);
            buf[..n].copy_from_slice(&self.0[start..start + n]);
            Ok(n)
        }
        fn size(&self) -> u64 {
            self.0.len() as u64
        }
    }

    #[test]
    fn media_hashes_are_compared_with_the_stored_ones() {
        // Longer than one block, so the overlapped reads are exercised.
        let data: Vec<u8> = (0..9_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let md5 = hex::encode(<md5::Md5 as md5::Digest>::digest(&data));
        let disk = Bytes(data);
        let mut info = ImageInfo {
            complete: true,
            media_size: disk.size(),
            stored_hashes: MediaHashes {
                md5: Some(md5.clone()),
                sha1: None,
            },
            ..ImageInfo::default()
        };
        verify_media(&disk, &mut info, &Stop::default());
        assert_eq!(info.computed_hashes.md5.as_deref(), Some(md5.as_str()));
        assert_eq!(info.verification.as_deref(), Some("match"));
        info.stored_hashes.md5 = Some("00".repeat(16));
        verify_media(&disk, &mut info, &Stop::default());
        assert_eq!(info.verification.as_deref(), Some("mismatch"));
        let p = verification_problem(&EvidencePath::from_bytes("d.E01"), &info).unwrap();
        assert_eq!(p.kind, ProblemKind::ImageUnverified);
        info.stored_hashes = MediaHashes::default();
        verify_media(&disk, &mut info, &Stop::default());
        assert_eq!(info.verification.as_deref(), Some("noStoredHash"));
    }
}
