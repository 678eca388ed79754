//! E01 sets. The `ewf` crate finds and decodes the chunks; this layer adds
//! what ewfverify checks and the crate does not: each uncompressed chunk's
//! Adler-32 (a compressed chunk's zlib stream carries its own, checked as
//! it inflates), media that lies in segments missing from the set, and the
//! acquisition facts the report shows.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::integrity::{
    Acquisition, ChunkFault, Health, ImageInfo, MediaHashes, SectorRange, missing_media,
};
use super::read_full;
use super::set;
use crate::source::readat::ReadAt;

/// An opened E01 set; reads are positional and thread-safe.
pub struct EwfImage {
    reader: ewf::EwfReader,
    /// EWF1 segment files in segment-number order, for reading chunk
    /// checksums; empty for EWF2, whose chunks the crate alone reads.
    segments: Vec<Arc<File>>,
    chunk_size: u64,
    /// Media bytes the chunks present hold (less than the media size when
    /// segments are missing).
    present: u64,
    /// One bit per chunk: its checksum has been checked.
    checked: Vec<AtomicU64>,
    health: Arc<Health>,
}

impl EwfImage {
    /// Opens the set `first` belongs to, each segment checked by `dir`.
    pub fn open(first: &Path, dir: &set::SetDir) -> io::Result<(EwfImage, ImageInfo)> {
        let paths = set::e01_segments(first)?
            .iter()
            .map(|p| dir.check(p))
            .collect::<io::Result<Vec<PathBuf>>>()?;
        let mut magic = [0u8; 8];
        read_full(
            &mut crate::source::io::open_image_file(first, false)?,
            &mut magic,
        )?;
        let v2 = magic.starts_with(b"EVF2") || magic.starts_with(b"LEF2");
        let (reader, segments) = if v2 {
            let r = ewf::EwfReader::open_segments(&paths).map_err(io::Error::other)?;
            (r, Vec::new())
        } else {
            let mut files = Vec::with_capacity(paths.len());
            for p in &paths {
                let f = crate::source::io::open_image_file(p, false)?;
                let mut head = [0u8; 13];
                f.read_exact_at(&mut head, 0)?;
                files.push((u16::from_le_bytes([head[9], head[10]]), Arc::new(f)));
            }
            let sources = files
                .iter()
                .map(|(_, f)| {
                    let len = f.metadata()?.len();
                    Ok(ewf::SegmentSource::sub(f.clone(), 0, len))
                })
                .collect::<io::Result<Vec<_>>>()?;
            let r = ewf::EwfReader::open_from_sources(sources).map_err(io::Error::other)?;
            // The crate orders the segments by number too (and refuses gaps).
            files.sort_by_key(|(n, _)| *n);
            (r, files.into_iter().map(|(_, f)| f).collect())
        };
        let chunk_size = reader.chunk_size().max(1);
        let media = reader.total_size();
        let chunks = reader.chunk_count() as u64;
        let present = chunks.saturating_mul(chunk_size).min(media);
        let info = info(&reader, &paths, present);
        let words = chunks.div_ceil(64) as usize;
        Ok((
            EwfImage {
                reader,
                segments,
                chunk_size,
                present,
                checked: (0..words).map(|_| AtomicU64::new(0)).collect(),
                health: Arc::new(Health::default()),
            },
            info,
        ))
    }

    pub fn health(&self) -> Arc<Health> {
        self.health.clone()
    }

    /// Checks chunk `idx`'s Adler-32 once, if it is stored uncompressed.
    fn check_chunk(&self, idx: u64) {
        let Some(word) = self.checked.get((idx / 64) as usize) else {
            return;
        };
        let bit = 1u64 << (idx % 64);
        if word.fetch_or(bit, Ordering::Relaxed) & bit != 0 {
            return;
        }
        let Ok((offset, _, compressed, seg)) = self.reader.debug_chunk(idx as usize) else {
            return;
        };
        let Some(file) = self.segments.get(seg) else {
            return;
        };
        if compressed {
            return;
        }
        let len = self.chunk_size.min(self.present - idx * self.chunk_size) as usize;
        let mut raw = vec![0u8; len + 4];
        // A short or failed read is the crate's to report when it reads
        // the chunk itself.
        if file.read_exact_at(&mut raw, offset).is_err() {
            return;
        }
        let stored = u32::from_le_bytes([raw[len], raw[len + 1], raw[len + 2], raw[len + 3]]);
        let computed = adler2::adler32_slice(&raw[..len]);
        if stored != computed {
            self.fault(
                idx,
                format!(
                    "fails its checksum: stored {stored:08x}, computed {computed:08x}; its \
                     bytes were read as stored"
                ),
            );
        }
    }

    /// Lists chunk `idx` as damaged.
    fn fault(&self, idx: u64, fault: String) {
        let (file_offset, segment) = match self.reader.debug_chunk(idx as usize) {
            Ok((offset, _, _, seg)) => (offset, seg as u64 + 1),
            Err(_) => (0, 0),
        };
        let media_offset = idx * self.chunk_size;
        self.health.chunk_fault(ChunkFault {
            chunk: idx,
            media_offset,
            len: self
                .chunk_size
                .min(self.present.saturating_sub(media_offset)),
            segment,
            file_offset,
            fault,
        });
    }

    /// After a failed read: finds the chunks of the range that do not
    /// decode, so each is listed once with its coordinates.
    fn find_bad_chunks(&self, offset: u64, len: u64) {
        let mut one = vec![0u8; self.chunk_size as usize];
        let first = offset / self.chunk_size;
        let last = (offset + len.max(1) - 1) / self.chunk_size;
        for idx in first..=last {
            if let Err(e) = self.reader.read_at(&mut one[..1], idx * self.chunk_size) {
                self.fault(
                    idx,
                    format!("cannot be decoded: {e}; files there are unreadable"),
                );
            }
        }
    }
}

impl ReadAt for EwfImage {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let size = self.reader.total_size();
        let want = (buf.len() as u64).min(size.saturating_sub(offset));
        if want > 0 && offset.saturating_add(want) > self.present {
            self.health.missing_read();
            return Err(missing_media(offset.max(self.present)));
        }
        if !self.segments.is_empty() && want > 0 {
            let first = offset / self.chunk_size;
            let last = (offset + want - 1) / self.chunk_size;
            for idx in first..=last {
                self.check_chunk(idx);
            }
        }
        self.reader.read_at(buf, offset).map_err(|e| {
            self.find_bad_chunks(offset, want);
            io::Error::other(format!("E01 read at {offset}: {e}"))
        })
    }

    fn size(&self) -> u64 {
        self.reader.total_size()
    }
}

/// The report's facts about the set.
fn info(reader: &ewf::EwfReader, paths: &[PathBuf], present: u64) -> ImageInfo {
    let media = reader.total_size();
    let stored = reader.stored_hashes();
    let m = reader.metadata().clone();
    let missing = (present < media).then(|| {
        // EWF1 does not record how many segments a set has: judge it from
        // how many chunks each found segment holds.
        let found = paths.len() as u64;
        let chunk = reader.chunk_size().max(1);
        let per_segment = (present / chunk / found.max(1)).max(1);
        let total = found + (media - present).div_ceil(chunk).div_ceil(per_segment);
        format!(
            "segment {} of {total} (judged by chunks per segment) and after are missing: \
             media bytes {present}..{media} ({} of {media}) are not in the {found} segment \
             files found",
            found + 1,
            media - present
        )
    });
    ImageInfo {
        segments: paths.iter().map(|p| p.display().to_string()).collect(),
        media_size: media,
        complete: missing.is_none(),
        missing,
        stored_hashes: MediaHashes {
            md5: stored.md5.map(hex::encode),
            sha1: stored.sha1.map(hex::encode),
        },
        computed_hashes: MediaHashes::default(),
        verification: None,
        corrupt_chunks: 0,
        acquisition: Acquisition {
            case_number: m.case_number,
            evidence_number: m.evidence_number,
            examiner: m.examiner,
            description: m.description,
            notes: m.notes,
            acquiry_date: m.acquiry_date.map(header_date),
            system_date: m.system_date.map(header_date),
            acquiry_software: m.acquiry_software,
            os_version: m.os_version,
        },
        acquisition_errors: reader
            .acquisition_errors()
            .iter()
            .map(|e| SectorRange {
                first_sector: e.first_sector.into(),
                sector_count: e.sector_count.into(),
            })
            .collect(),
    }
}

/// An EWF1 header date (`2026 5 21 8 36 32`, the acquiring machine's local
/// time, zone unrecorded) as `2026-05-21 08:36:32`; other forms as stored.
fn header_date(s: String) -> String {
    let parts: Vec<u32> = s.split_whitespace().map_while(|p| p.parse().ok()).collect();
    match parts[..] {
        [y, mo, d, h, mi, sec] if s.split_whitespace().count() == 6 => {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{sec:02}")
        }
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_dates_are_written_out_and_others_kept() {
        assert_eq!(
            header_date("2026 5 21 8 36 32".into()),
            "2026-05-21 08:36:32"
        );
        assert_eq!(header_date("1700000000".into()), "1700000000");
        assert_eq!(header_date("Thu May 21".into()), "Thu May 21");
    }
}
