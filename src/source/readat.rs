//! Positional, thread-safe reads: the one boundary every layer of a disk
//! image shares (container → volume → filesystem → file).
//!
//! [`ReadAt`] takes `&self`, so one opened image serves every worker at once
//! without a lock around a shared cursor. Adapters here turn it into what the
//! rest of the scanner wants: a window for a partition, a concatenation for
//! split images, a `Read + Seek` cursor for record parsers and crates, and a
//! [`Content`] for the hashing path.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::sync::{Arc, Mutex};

use super::{Content, ReadBuf};
use crate::artifact::ReadSeek;

/// Bytes that can be read at any offset from several threads at once.
pub trait ReadAt: Send + Sync {
    /// Reads up to `buf.len()` bytes at `offset`; fewer only at the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize>;

    /// Total length in bytes.
    fn size(&self) -> u64;

    /// Bytes that read as zeros because nothing is stored for them (sparse
    /// holes, never-written tails), known from the layout without reading:
    /// what hashing would spend on zeros.
    fn hole_bytes(&self) -> u64 {
        0
    }

    /// Fills `buf` completely or fails (short data is an error here).
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let mut done = 0;
        while done < buf.len() {
            let n = self.read_at(&mut buf[done..], offset + done as u64)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!(
                        "short read: {} of {} bytes at offset {offset}",
                        done,
                        buf.len()
                    ),
                ));
            }
            done += n;
        }
        Ok(())
    }
}

/// A host file or block device, opened read-only, read with `pread`.
pub struct HostFile {
    file: File,
    len: u64,
}

impl HostFile {
    /// Opens a regular file, or a block device when `device_ok` (see
    /// [`super::io::open_image_file`]).
    pub fn open(path: &std::path::Path, device_ok: bool) -> io::Result<Self> {
        let mut file = super::io::open_image_file(path, device_ok)?;
        // Block devices report size 0 in metadata; seeking to the end works
        // for both them and regular files.
        let len = file.seek(SeekFrom::End(0))?;
        Ok(HostFile { file, len })
    }
}

impl ReadAt for HostFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let want = buf.len().min((self.len - offset) as usize);
        let mut done = 0;
        while done < want {
            match std::os::unix::fs::FileExt::read_at(
                &self.file,
                &mut buf[done..want],
                offset + done as u64,
            ) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(done)
    }

    fn size(&self) -> u64 {
        self.len
    }
}

/// A byte range of another reader: a partition of a disk.
pub struct Window {
    inner: Arc<dyn ReadAt>,
    start: u64,
    len: u64,
}

impl Window {
    /// The range is clipped to the inner reader, so a partition table that
    /// claims more than the disk holds reads short instead of failing.
    pub fn new(inner: Arc<dyn ReadAt>, start: u64, len: u64) -> Self {
        let len = len.min(inner.size().saturating_sub(start));
        Window { inner, start, len }
    }
}

impl ReadAt for Window {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let want = buf.len().min((self.len - offset) as usize);
        self.inner.read_at(&mut buf[..want], self.start + offset)
    }

    fn size(&self) -> u64 {
        self.len
    }
}

/// Parts read one after another as one: split raw images (`.001`, `.002` …).
pub struct Concat {
    /// Each part with the offset at which it starts.
    parts: Vec<(u64, Box<dyn ReadAt>)>,
    len: u64,
}

impl Concat {
    pub fn new(parts: Vec<Box<dyn ReadAt>>) -> Self {
        let mut start = 0;
        let parts = parts
            .into_iter()
            .map(|p| {
                let s = start;
                start += p.size();
                (s, p)
            })
            .collect();
        Concat { parts, len: start }
    }
}

impl ReadAt for Concat {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let idx = self.parts.partition_point(|(s, _)| *s <= at);
            let Some((start, part)) = idx.checked_sub(1).map(|i| &self.parts[i]) else {
                break;
            };
            let n = part.read_at(&mut buf[done..], at - start)?;
            if n == 0 {
                break;
            }
            done += n;
        }
        Ok(done)
    }

    fn size(&self) -> u64 {
        self.len
    }
}

/// Makes a `Read + Seek` reader (what most image crates give) positional
/// and shareable: each call borrows an idle reader, or opens another one,
/// so workers never wait on each other's decompression.
pub struct Pooled<T> {
    open: Box<dyn Fn() -> io::Result<T> + Send + Sync>,
    idle: Mutex<Vec<T>>,
    len: u64,
}

impl<T: Read + Seek + Send> Pooled<T> {
    pub fn new(first: T, len: u64, open: Box<dyn Fn() -> io::Result<T> + Send + Sync>) -> Self {
        Pooled {
            open,
            idle: Mutex::new(vec![first]),
            len,
        }
    }
}

impl<T: Read + Seek + Send> ReadAt for Pooled<T> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.len {
            return Ok(0);
        }
        let want = buf.len().min((self.len - offset) as usize);
        let taken = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut reader = match taken {
            Some(r) => r,
            None => (self.open)()?,
        };
        reader.seek(SeekFrom::Start(offset))?;
        let mut done = 0;
        while done < want {
            match reader.read(&mut buf[done..want]) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.idle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(reader);
        Ok(done)
    }

    fn size(&self) -> u64 {
        self.len
    }
}

/// In-memory bytes (resident NTFS data, small decoded files).
impl ReadAt for Vec<u8> {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        let Some(rest) = usize::try_from(offset).ok().and_then(|o| self.get(o..)) else {
            return Ok(0);
        };
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        Ok(n)
    }

    fn size(&self) -> u64 {
        self.len() as u64
    }
}

/// A file laid out in pieces of another reader: FAT cluster chains, ext
/// extents and block maps.
pub struct Extents {
    inner: Arc<dyn ReadAt>,
    /// (offset in the file, offset in `inner` or `None` for a hole,
    /// length), sorted by file offset.
    pieces: Vec<(u64, Option<u64>, u64)>,
    size: u64,
    /// Bytes of `size` no piece covers: zeros (sparse files) or an error
    /// (an allocation chain that ends early).
    gaps_are_zeros: bool,
}

impl Extents {
    /// A chain of (offset in `inner`, length) in file order; adjacent ones
    /// are merged. Bytes of `size` past the chain read as an error.
    pub fn chain(
        inner: Arc<dyn ReadAt>,
        chain: impl IntoIterator<Item = (u64, u64)>,
        size: u64,
    ) -> Self {
        let mut pieces: Vec<(u64, Option<u64>, u64)> = Vec::new();
        let mut file_off = 0;
        for (disk, len) in chain {
            match pieces.last_mut() {
                Some((_, Some(d), l)) if *d + *l == disk => *l += len,
                _ => pieces.push((file_off, Some(disk), len)),
            }
            file_off += len;
        }
        Extents {
            inner,
            pieces,
            size,
            gaps_are_zeros: false,
        }
    }

    /// Pieces at explicit file offsets, holes allowed; what no piece covers
    /// reads as zeros.
    pub fn sparse(
        inner: Arc<dyn ReadAt>,
        mut pieces: Vec<(u64, Option<u64>, u64)>,
        size: u64,
    ) -> Self {
        pieces.sort_by_key(|p| p.0);
        Extents {
            inner,
            pieces,
            size,
            gaps_are_zeros: true,
        }
    }
}

impl ReadAt for Extents {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size {
            return Ok(0);
        }
        let want = buf.len().min((self.size - offset) as usize);
        let mut done = 0;
        while done < want {
            let at = offset + done as u64;
            let i = self.pieces.partition_point(|p| p.0 <= at);
            let n = match i.checked_sub(1).map(|i| self.pieces[i]) {
                Some((start, disk, len)) if at < start + len => {
                    let n = ((start + len - at) as usize).min(want - done);
                    match disk {
                        Some(d) => self
                            .inner
                            .read_exact_at(&mut buf[done..done + n], d + (at - start))?,
                        None => buf[done..done + n].fill(0),
                    }
                    n
                }
                _ if self.gaps_are_zeros => {
                    let next = self.pieces.get(i).map_or(self.size, |p| p.0);
                    let n = ((next - at) as usize).min(want - done);
                    buf[done..done + n].fill(0);
                    n
                }
                _ => {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "allocation ends at byte {at} of {} (damaged chain)",
                            self.size
                        ),
                    ));
                }
            };
            done += n;
        }
        Ok(done)
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn hole_bytes(&self) -> u64 {
        if !self.gaps_are_zeros {
            return 0;
        }
        let stored: u64 = self
            .pieces
            .iter()
            .filter(|p| p.1.is_some() && p.0 < self.size)
            .map(|p| p.2.min(self.size - p.0))
            .sum();
        self.size.saturating_sub(stored)
    }
}

/// A `Read + Seek` view of a [`ReadAt`], for parsers and crates that want one.
pub struct Cursor {
    inner: Arc<dyn ReadAt>,
    pos: u64,
}

impl Cursor {
    pub fn new(inner: Arc<dyn ReadAt>) -> Self {
        Cursor { inner, pos: 0 }
    }
}

impl Read for Cursor {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read_at(buf, self.pos)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Cursor {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::End(d) => self.inner.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        self.pos = new.ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "seek before start of stream")
        })?;
        Ok(self.pos)
    }
}

/// File content backed by a [`ReadAt`] stream (a file inside an image).
pub struct StreamContent(pub Arc<dyn ReadAt>);

impl Content for StreamContent {
    fn pump(&self, buf: &mut ReadBuf, sink: &mut dyn FnMut(&[u8])) -> io::Result<u64> {
        let (buf, stop) = buf.parts();
        let size = self.0.size();
        let mut pos = 0u64;
        while pos < size {
            stop.check()?;
            let want = buf.len().min((size - pos) as usize);
            let n = self.0.read_at(&mut buf[..want], pos)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("stream ended at byte {pos} of {size}"),
                ));
            }
            sink(&buf[..n]);
            pos += n as u64;
        }
        Ok(pos)
    }

    fn open(&self) -> io::Result<Box<dyn ReadSeek>> {
        Ok(Box::new(Cursor::new(self.0.clone())))
    }

    fn hole_bytes(&self) -> u64 {
        self.0.hole_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i % 251) as u8).collect()
    }

    #[test]
    fn concat_reads_across_part_boundaries() {
        let all = bytes(10_000);
        let parts: Vec<Box<dyn ReadAt>> = vec![
            Box::new(all[..3000].to_vec()),
            Box::new(all[3000..3001].to_vec()),
            Box::new(all[3001..].to_vec()),
        ];
        let c = Concat::new(parts);
        assert_eq!(c.size(), 10_000);
        let mut buf = vec![0; 5000];
        c.read_exact_at(&mut buf, 2500).unwrap();
        assert_eq!(buf, all[2500..7500]);
        assert_eq!(c.read_at(&mut buf, 9000).unwrap(), 1000);
        assert_eq!(c.read_at(&mut buf, 10_000).unwrap(), 0);
    }

    #[test]
    fn window_clips_to_inner_and_offsets_reads() {
        let inner: Arc<dyn ReadAt> = Arc::new(bytes(1000));
        let w = Window::new(inner, 900, 500);
        assert_eq!(w.size(), 100);
        let mut buf = [0u8; 200];
        assert_eq!(w.read_at(&mut buf, 50).unwrap(), 50);
        assert_eq!(buf[0], (950 % 251) as u8);
        assert!(w.read_exact_at(&mut buf, 0).is_err());
    }

    #[test]
    fn sparse_extents_read_holes_and_gaps_as_zeros() {
        let vol: Arc<dyn ReadAt> = Arc::new(vec![7u8; 8192]);
        let e = Extents::sparse(
            vol,
            vec![
                (4096, Some(0), 1024),
                (0, Some(1024), 1024),
                (1024, None, 1024),
            ],
            6000,
        );
        let mut buf = vec![1u8; 6000];
        assert_eq!(e.read_at(&mut buf, 0).unwrap(), 6000);
        assert!(buf[..1024].iter().all(|&x| x == 7));
        assert!(buf[1024..4096].iter().all(|&x| x == 0));
        assert!(buf[4096..5120].iter().all(|&x| x == 7));
        assert!(buf[5120..].iter().all(|&x| x == 0));
    }

    #[test]
    fn a_chain_that_ends_early_is_an_error() {
        let vol: Arc<dyn ReadAt> = Arc::new(bytes(8192));
        let e = Extents::chain(vol, [(1000, 100), (1100, 100), (0, 50)], 400);
        let mut buf = vec![0u8; 250];
        e.read_exact_at(&mut buf, 0).unwrap();
        assert_eq!(buf[..200], bytes(8192)[1000..1200]);
        assert_eq!(buf[200..], bytes(8192)[..50]);
        let err = e.read_at(&mut [0u8; 100], 300).unwrap_err();
        assert!(err.to_string().contains("damaged chain"));
    }

    #[test]
    fn pooled_serves_concurrent_readers() {
        let data = bytes(1 << 16);
        let d2 = data.clone();
        let p = Pooled::new(
            io::Cursor::new(data.clone()),
            data.len() as u64,
            Box::new(move || Ok(io::Cursor::new(d2.clone()))),
        );
        std::thread::scope(|s| {
            for t in 0..4u64 {
                let (p, data) = (&p, &data);
                s.spawn(move || {
                    let mut buf = [0u8; 333];
                    for i in 0..100u64 {
                        let off = (t * 7919 + i * 613) % 60_000;
                        p.read_exact_at(&mut buf, off).unwrap();
                        assert_eq!(&buf[..], &data[off as usize..off as usize + 333]);
                    }
                });
            }
        });
    }

    #[test]
    fn stream_content_pumps_and_seeks() {
        let data = bytes(3_000_000);
        let c = StreamContent(Arc::new(data.clone()));
        let mut got = Vec::new();
        let n = c.pump(&mut ReadBuf::new(65536), &mut |b| got.extend_from_slice(b));
        assert_eq!(n.unwrap(), data.len() as u64);
        assert_eq!(got, data);
        let mut r = c.open().unwrap();
        r.seek(SeekFrom::Start(1_000_000)).unwrap();
        let mut b = [0u8; 4];
        r.read_exact(&mut b).unwrap();
        assert_eq!(b, data[1_000_000..1_000_004]);
    }
}
