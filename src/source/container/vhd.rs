//! VHD (Virtual PC / Hyper-V gen 1): fixed and dynamic disks.
//!
//! Fixed: the disk followed by a 512-byte footer. Dynamic: a footer copy,
//! a dynamic header pointing at the block allocation table (BAT), and
//! blocks of a sector bitmap followed by data; a block missing from the BAT
//! reads as zeros. Differencing disks need their parent and are refused
//! with a clear error. All fields are big-endian.

use std::io;
use std::path::Path;

use crate::source::readat::{HostFile, ReadAt};

const UNALLOCATED: u32 = 0xffff_ffff;

pub struct Vhd {
    file: HostFile,
    size: u64,
    /// `None` for a fixed disk.
    dynamic: Option<Dynamic>,
}

struct Dynamic {
    block_size: u64,
    /// Bytes of sector bitmap before each block's data.
    bitmap: u64,
    /// Sector offset of each block, or [`UNALLOCATED`].
    bat: Vec<u32>,
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn be64(b: &[u8], at: usize) -> u64 {
    (u64::from(be32(b, at)) << 32) | u64::from(be32(b, at + 4))
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

impl Vhd {
    pub fn open(path: &Path) -> io::Result<Vhd> {
        let file = HostFile::open(path, false)?;
        let len = file.size();
        if len < 512 {
            return Err(bad("file is smaller than a VHD footer".into()));
        }
        let mut footer = [0u8; 512];
        file.read_exact_at(&mut footer, len - 512)?;
        if &footer[..8] != b"conectix" {
            // Dynamic disks also keep a copy of the footer at the start.
            file.read_exact_at(&mut footer, 0)?;
            if &footer[..8] != b"conectix" {
                return Err(bad(
                    "no VHD footer (\"conectix\") at the end or start".into()
                ));
            }
        }
        let size = be64(&footer, 48);
        match be32(&footer, 60) {
            2 => {
                if size > len - 512 {
                    return Err(bad(format!(
                        "fixed VHD claims {size} bytes but the file holds {}",
                        len - 512
                    )));
                }
                Ok(Vhd {
                    file,
                    size,
                    dynamic: None,
                })
            }
            3 => {
                let dynamic = Self::dynamic(&file, be64(&footer, 16), size)?;
                Ok(Vhd {
                    file,
                    size,
                    dynamic: Some(dynamic),
                })
            }
            4 => Err(bad(
                "differencing VHD: its content depends on a parent disk; scan the parent \
                 merged with it (e.g. qemu-img convert) instead"
                    .into(),
            )),
            t => Err(bad(format!("unknown VHD disk type {t}"))),
        }
    }

    fn dynamic(file: &HostFile, header_at: u64, size: u64) -> io::Result<Dynamic> {
        let mut h = [0u8; 1024];
        file.read_exact_at(&mut h, header_at)?;
        if &h[..8] != b"cxsparse" {
            return Err(bad(format!(
                "no dynamic header (\"cxsparse\") at byte {header_at}"
            )));
        }
        let table_at = be64(&h, 16);
        let entries = u64::from(be32(&h, 28));
        let block_size = u64::from(be32(&h, 32));
        if block_size == 0 || block_size % 512 != 0 || block_size > 256 << 20 {
            return Err(bad(format!("implausible VHD block size {block_size}")));
        }
        if entries < size.div_ceil(block_size) || entries > 1 << 28 {
            return Err(bad(format!(
                "BAT of {entries} entries cannot cover {size} bytes in blocks of {block_size}"
            )));
        }
        // The table lies in the file: checked against it before it is
        // allocated (the header alone could ask for a gigabyte).
        if table_at.saturating_add(entries * 4) > file.size() {
            return Err(bad(format!(
                "BAT of {entries} entries at byte {table_at} runs past the {}-byte file",
                file.size()
            )));
        }
        let mut raw = vec![0u8; entries as usize * 4];
        file.read_exact_at(&mut raw, table_at)?;
        let bat = raw.chunks_exact(4).map(|c| be32(c, 0)).collect();
        let bitmap = (block_size / 512).div_ceil(8).div_ceil(512) * 512;
        Ok(Dynamic {
            block_size,
            bitmap,
            bat,
        })
    }
}

impl ReadAt for Vhd {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size {
            return Ok(0);
        }
        let want = buf.len().min((self.size - offset) as usize);
        let Some(d) = &self.dynamic else {
            self.file.read_exact_at(&mut buf[..want], offset)?;
            return Ok(want);
        };
        let mut done = 0;
        while done < want {
            let at = offset + done as u64;
            let (block, within) = (at / d.block_size, at % d.block_size);
            let n = ((d.block_size - within) as usize).min(want - done);
            let entry = d.bat.get(block as usize).copied().unwrap_or(UNALLOCATED);
            if entry == UNALLOCATED {
                buf[done..done + n].fill(0);
            } else {
                let data = u64::from(entry) * 512 + d.bitmap + within;
                self.file.read_exact_at(&mut buf[done..done + n], data)?;
            }
            done += n;
        }
        Ok(want)
    }

    fn size(&self) -> u64 {
        self.size
    }
}
