//! Reading file content into a consumer, fast and read-only.
//!
//! Measured on these machines (DESIGN.md §4): a read buffer that is not
//! page-aligned makes the kernel's copy ~4× slower, so each worker owns one
//! page-aligned [`ReadBuf`]. Small files are read with `read()`; large ones
//! are memory-mapped and fed in chunks, which saves the kernel's copy
//! (~10% of a SHA-256 scan of large files) and lets the hasher split one
//! big chunk across two cores. Mappings are guarded ([`super::mapguard`]):
//! a file truncated while mapped reads as changed, it does not kill the
//! scan with SIGBUS.

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use super::mapguard;
use crate::stop::Stop;

/// Chunk handed to the consumer from a mapped file: big enough for the
/// two-core digest split, small enough to stay warm in cache.
const MAP_CHUNK: usize = 4 << 20;

/// Files at least this large are mapped rather than read (when mapping is
/// on): below it `read()` into the aligned buffer is faster.
pub const MMAP_MIN: u64 = 16 << 20;

const PAGE: usize = 4096;

/// A page-aligned read buffer, owned by one worker, with the scan's stop
/// request: every loop that fills it checks the request between reads.
pub struct ReadBuf {
    storage: Vec<u8>,
    offset: usize,
    len: usize,
    stop: Stop,
}

impl ReadBuf {
    pub fn new(len: usize) -> Self {
        let storage = vec![0u8; len + PAGE];
        let offset = storage.as_ptr().align_offset(PAGE).min(PAGE);
        ReadBuf {
            storage,
            offset,
            len,
            stop: Stop::default(),
        }
    }

    /// The buffer of a worker of a scan that `stop` can stop.
    pub fn for_scan(stop: &Stop) -> Self {
        ReadBuf {
            stop: stop.clone(),
            ..ReadBuf::default()
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        self.parts().0
    }

    pub fn as_slice(&self) -> &[u8] {
        &self.storage[self.offset..self.offset + self.len]
    }

    pub fn stop(&self) -> &Stop {
        &self.stop
    }

    /// The buffer and the stop request, borrowed together.
    pub fn parts(&mut self) -> (&mut [u8], &Stop) {
        (
            &mut self.storage[self.offset..self.offset + self.len],
            &self.stop,
        )
    }
}

impl Default for ReadBuf {
    fn default() -> Self {
        ReadBuf::new(1 << 20)
    }
}

/// Feeds a reader's bytes in order to `sink`; returns the number of bytes.
/// Stops with [`crate::stop::interrupted`] when the scan is asked to stop.
pub fn pump(
    reader: &mut dyn Read,
    buf: &mut ReadBuf,
    sink: &mut dyn FnMut(&[u8]),
) -> io::Result<u64> {
    pump_sized(reader, buf, sink, None)
}

/// [`pump`] of a file that held `size` bytes when it was opened: a short
/// read that ends exactly there is its end (a regular file reads short
/// only at its end), so a small file costs one `read`, not a second to see
/// end-of-file. A file that grew since reads on to its new end.
fn pump_sized(
    reader: &mut dyn Read,
    buf: &mut ReadBuf,
    sink: &mut dyn FnMut(&[u8]),
    size: Option<u64>,
) -> io::Result<u64> {
    let (buf, stop) = buf.parts();
    let mut total = 0u64;
    loop {
        stop.check()?;
        let n = match reader.read(buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        total += n as u64;
        sink(&buf[..n]);
        if n < buf.len() && size == Some(total) {
            return Ok(total);
        }
    }
}

/// Feeds an open host file to `sink`, mapping it when it is large,
/// `allow_mmap` is set and the mapping can be guarded; else reading it.
/// A mapped file that shrinks while read ends with [`shrank`].
pub fn pump_file(
    file: &File,
    size: u64,
    allow_mmap: bool,
    buf: &mut ReadBuf,
    sink: &mut dyn FnMut(&[u8]),
) -> io::Result<u64> {
    if allow_mmap && size >= MMAP_MIN {
        // SAFETY: a private read-only mapping, read only while its guard
        // is registered: pages past a truncated end read as zeros instead
        // of raising SIGBUS (see `mapguard`), and the guard reports it.
        let map = unsafe { memmap2::MmapOptions::new().map(file) };
        if let Ok(map) = map
            && let Some(guard) = mapguard::Guard::new(&map)
        {
            let _ = map.advise(memmap2::Advice::Sequential);
            for (i, chunk) in map.chunks(MAP_CHUNK).enumerate() {
                buf.stop().check()?;
                sink(chunk);
                if guard.faulted() {
                    return Err(shrank());
                }
                // Done with these pages: drop them from this process (the
                // page cache keeps them), so that memory stays flat however
                // big the file (a 600 MB log peaked at 640 MB RSS).
                // SAFETY: a read-only file mapping; the sink has returned
                // and cannot hold on to the slice (its lifetime ends with
                // the call), and nothing reads this range again.
                let _ = unsafe {
                    map.unchecked_advise_range(
                        memmap2::UncheckedAdvice::DontNeed,
                        i * MAP_CHUNK,
                        chunk.len(),
                    )
                };
            }
            drop(guard);
            return Ok(map.len() as u64);
        }
        // Mapping can fail on special filesystems; reading still works.
    }
    let mut reader = file;
    pump_sized(&mut reader, buf, sink, Some(size))
}

/// Marks a read as ended by the file shrinking under it.
#[derive(Debug)]
struct Shrank;

impl std::fmt::Display for Shrank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the file shrank while it was read (truncated during the scan): not hashed")
    }
}

impl std::error::Error for Shrank {}

/// The error of a mapped read whose file was truncated under it.
pub fn shrank() -> io::Error {
    io::Error::other(Shrank)
}

/// Whether `e` says the file changed size while it was read.
pub fn is_shrank(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Shrank>())
}

/// Opens evidence read-only, never blocking (a FIFO put where a file was
/// expected cannot hang the scan in `open`) and, unless `follow`, never
/// through a symbolic link; asks the kernel not to update the access time.
/// Callers check the type of what they got (`fstat`) before reading.
#[cfg(unix)]
pub fn open_evidence(path: &Path, follow: bool) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    let base = libc::O_NONBLOCK | libc::O_CLOEXEC | if follow { 0 } else { libc::O_NOFOLLOW };
    let open = |flags| OpenOptions::new().read(true).custom_flags(flags).open(path);
    match open(base | libc::O_NOATIME) {
        // O_NOATIME is refused for files the user does not own (EPERM).
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => open(base),
        r => r,
    }
}

#[cfg(not(unix))]
pub fn open_evidence(path: &Path, _follow: bool) -> io::Result<File> {
    OpenOptions::new().read(true).open(path)
}

/// The first `limit` bytes of the evidence file at `path`, opened as
/// [`open_evidence`] opens it (a registry hive or log read whole).
pub fn read_evidence(path: &Path, follow: bool, limit: u64) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    io::Read::read_to_end(
        &mut io::Read::take(open_evidence(path, follow)?, limit),
        &mut out,
    )?;
    Ok(out)
}

/// Opens a disk image file (a target, or a member of an image set) the
/// safe way ([`open_evidence`], links followed: the caller has decided
/// which links may be) and checks that it is a regular file, or a block
/// device when `device_ok` (a device named as a target).
pub fn open_image_file(path: &Path, device_ok: bool) -> io::Result<File> {
    let file = open_evidence(path, true)?;
    let ft = file.metadata()?.file_type();
    #[cfg(unix)]
    let device = {
        use std::os::unix::fs::FileTypeExt;
        ft.is_block_device()
    };
    #[cfg(not(unix))]
    let device = false;
    if ft.is_file() || (device_ok && device) {
        Ok(file)
    } else {
        Err(io::Error::other(format!(
            "{} is not a regular file{}: not opened",
            path.display(),
            if device_ok { " or block device" } else { "" }
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffer_is_page_aligned() {
        for len in [1, 4096, 1 << 20] {
            let mut b = ReadBuf::new(len);
            let s = b.as_mut_slice();
            assert_eq!(s.len(), len);
            assert_eq!(s.as_ptr() as usize % PAGE, 0);
        }
    }

    #[test]
    fn pump_delivers_every_byte_in_order() {
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut got = Vec::new();
        let n = pump(&mut &data[..], &mut ReadBuf::new(4096 * 3), &mut |c| {
            got.extend_from_slice(c)
        })
        .unwrap();
        assert_eq!(n, data.len() as u64);
        assert_eq!(got, data);
    }

    /// Counts the reads it serves; hands out at most `piece` bytes a call.
    struct Pieces<'a> {
        data: &'a [u8],
        piece: usize,
        reads: usize,
    }

    impl Read for Pieces<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            self.reads += 1;
            let n = buf.len().min(self.piece).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// A file read short at its known size ends there (one read, not a
    /// second to see end-of-file); short reads before it, or a size that
    /// was wrong, read on to the real end.
    #[test]
    fn sized_pump_stops_at_the_size_only_when_a_read_ends_there() {
        let data: Vec<u8> = (0..20_000u32).map(|i| i as u8).collect();
        let sized = |piece: usize, size: u64| {
            let mut r = Pieces {
                data: &data,
                piece,
                reads: 0,
            };
            let mut got = Vec::new();
            let mut buf = ReadBuf::new(4096 * 4);
            let n = pump_sized(
                &mut r,
                &mut buf,
                &mut |c| got.extend_from_slice(c),
                Some(size),
            );
            assert_eq!(got, data[..n.unwrap() as usize]);
            (got.len(), r.reads)
        };
        // A full buffer (16 KiB), then a short read at the size.
        assert_eq!(sized(usize::MAX, 20_000), (20_000, 2));
        assert_eq!(sized(999, 20_000), (20_000, 21));
        // Grown since its size was read: the read that reached the old
        // size filled the buffer, so it was not the end.
        assert_eq!(sized(usize::MAX, 16_384), (20_000, 3));
    }
}
