//! Reading file content into a consumer, fast and read-only.
//!
//! Measured on these machines (DESIGN.md §4): a read buffer that is not
//! page-aligned makes the kernel's copy ~4× slower, so each worker owns one
//! page-aligned [`ReadBuf`]. Every file is read with `read()`, never
//! memory-mapped: a mapped file that another process truncates during the
//! scan kills the scanner with SIGBUS, and with the aligned buffer reading
//! costs the same (8 × 256 MiB, SHA-256: 0.72 s read, 0.73 s mapped).

use std::fs::{File, OpenOptions};
use std::io::{self, Read};
use std::path::Path;

use crate::stop::Stop;

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
    }
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
}
