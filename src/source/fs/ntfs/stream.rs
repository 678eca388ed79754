//! A non-resident NTFS attribute as a [`ReadAt`]: clusters found through the
//! data runs, sparse runs and bytes past the initialised size read as zeros
//! without I/O, LZNT1 compression units decoded to their true bytes.

use std::io;
use std::sync::{Arc, Mutex};

use super::lznt1;
use super::record::Run;
use crate::source::readat::ReadAt;

pub struct DataStream {
    vol: Arc<dyn ReadAt>,
    cluster: u64,
    /// Sorted by first VCN, without gaps between extents we were given.
    runs: Vec<Run>,
    size: u64,
    /// Bytes from here to `size` were never written and read as zeros.
    init: u64,
    /// Clusters per compression unit; 0 when the stream is not compressed.
    unit: u64,
    /// The last decoded compression unit, for small sequential reads.
    last_unit: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

impl DataStream {
    pub fn new(
        vol: Arc<dyn ReadAt>,
        cluster: u64,
        mut runs: Vec<Run>,
        size: u64,
        init: u64,
        compression_unit: u8,
    ) -> Self {
        runs.sort_by_key(|r| r.0);
        DataStream {
            vol,
            cluster,
            runs,
            size,
            init: init.min(size),
            unit: if compression_unit == 0 || compression_unit > 16 {
                0
            } else {
                1 << compression_unit
            },
            last_unit: Mutex::new(None),
        }
    }

    /// The run holding `vcn`: (run's first VCN, count, LCN).
    fn run_at(&self, vcn: u64) -> Option<&Run> {
        let i = self.runs.partition_point(|r| r.0 <= vcn);
        let r = self.runs.get(i.checked_sub(1)?)?;
        (vcn < r.0 + r.1).then_some(r)
    }

    fn no_run(&self, vcn: u64) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("no data run covers cluster {vcn} of the stream (damaged run list)"),
        )
    }

    /// Whether bytes `offset..offset + len` are all a hole (sparse runs, or
    /// past the initialised size): they read as zeros, so there is nothing
    /// to look at.
    pub fn is_hole(&self, offset: u64, len: u64) -> bool {
        if offset >= self.init {
            return true;
        }
        let end = offset.saturating_add(len).min(self.init);
        let mut vcn = offset / self.cluster;
        let last = end.div_ceil(self.cluster);
        while vcn < last {
            match self.run_at(vcn) {
                Some(&(first, count, None)) => vcn = first + count,
                _ => return false,
            }
        }
        true
    }

    /// Reads plain (uncompressed) clusters into `buf` from stream offset `pos`.
    fn read_plain(&self, buf: &mut [u8], pos: u64) -> io::Result<()> {
        let mut done = 0usize;
        while done < buf.len() {
            let at = pos + done as u64;
            let vcn = at / self.cluster;
            let &(first, count, lcn) = self.run_at(vcn).ok_or_else(|| self.no_run(vcn))?;
            // Saturating: damaged runs can name clusters past 2^64 bytes;
            // the read there fails and is reported.
            let run_end = (first + count).saturating_mul(self.cluster);
            let n = ((run_end - at) as usize).min(buf.len() - done);
            match lcn {
                None => buf[done..done + n].fill(0),
                Some(lcn) => {
                    let disk = lcn
                        .saturating_mul(self.cluster)
                        .saturating_add(at - first * self.cluster);
                    self.vol.read_exact_at(&mut buf[done..done + n], disk)?;
                }
            }
            done += n;
        }
        Ok(())
    }

    /// The decoded bytes of compression unit `u`.
    fn unit_bytes(&self, u: u64) -> io::Result<Arc<Vec<u8>>> {
        if let Some((cached, bytes)) = &*self.last_unit.lock().unwrap_or_else(|p| p.into_inner())
            && *cached == u
        {
            return Ok(bytes.clone());
        }
        let unit_bytes = (self.unit * self.cluster) as usize;
        let first_vcn = u * self.unit;
        // Count real and sparse clusters in the unit.
        let (mut real, mut sparse) = (0u64, 0u64);
        let mut vcn = first_vcn;
        while vcn < first_vcn + self.unit {
            let &(first, count, lcn) = self.run_at(vcn).ok_or_else(|| self.no_run(vcn))?;
            let n = (first + count - vcn).min(first_vcn + self.unit - vcn);
            if lcn.is_some() {
                real += n;
            } else {
                sparse += n;
            }
            vcn += n;
        }
        let mut out = vec![0u8; unit_bytes];
        if sparse == 0 {
            // Stored as is: compression did not pay for this unit.
            self.read_plain(&mut out, first_vcn * self.cluster)?;
        } else if real > 0 {
            let mut packed = vec![0u8; (real * self.cluster) as usize];
            self.read_plain(&mut packed, first_vcn * self.cluster)?;
            let mut dec = Vec::with_capacity(unit_bytes);
            lznt1::decompress(&packed, &mut dec, unit_bytes).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("compression unit at cluster {first_vcn}: {e}"),
                )
            })?;
            out[..dec.len()].copy_from_slice(&dec);
        }
        let out = Arc::new(out);
        *self.last_unit.lock().unwrap_or_else(|p| p.into_inner()) = Some((u, out.clone()));
        Ok(out)
    }
}

impl ReadAt for DataStream {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<usize> {
        if offset >= self.size {
            return Ok(0);
        }
        let want = buf.len().min((self.size - offset) as usize);
        let buf = &mut buf[..want];
        // Past the initialised size: zeros, whatever the clusters hold.
        let live = (self.init.saturating_sub(offset) as usize).min(want);
        buf[live..].fill(0);
        let buf = &mut buf[..live];
        if self.unit == 0 {
            self.read_plain(buf, offset)?;
            return Ok(want);
        }
        let unit_bytes = self.unit * self.cluster;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let unit = self.unit_bytes(at / unit_bytes)?;
            let within = (at % unit_bytes) as usize;
            let n = (unit.len() - within).min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&unit[within..within + n]);
            done += n;
        }
        Ok(want)
    }

    fn size(&self) -> u64 {
        self.size
    }

    /// Past the initialised size, and sparse runs before it; in compressed
    /// streams only whole sparse units (a partly sparse unit is a
    /// compressed one).
    fn hole_bytes(&self) -> u64 {
        let unit = self.unit.max(1);
        let init_clusters = self.init.div_ceil(self.cluster);
        let sparse: u64 = self
            .runs
            .iter()
            .filter(|r| r.2.is_none())
            .map(|&(first, count, _)| {
                let end = first.saturating_add(count).min(init_clusters);
                let (a, b) = (first.div_ceil(unit), end / unit);
                b.saturating_sub(a) * unit
            })
            .sum();
        let tail = self.size - self.init;
        sparse
            .saturating_mul(self.cluster)
            .min(self.init)
            .saturating_add(tail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn volume() -> Arc<dyn ReadAt> {
        Arc::new(
            (0..64 * 1024u32)
                .map(|i| (i / 512) as u8)
                .collect::<Vec<u8>>(),
        )
    }

    #[test]
    fn runs_sparse_and_uninitialised_tail() {
        // Clusters of 512: VCN 0-1 at LCN 10, VCN 2 sparse, VCN 3 at LCN 4.
        let s = DataStream::new(
            volume(),
            512,
            vec![(0, 2, Some(10)), (2, 1, None), (3, 1, Some(4))],
            2048,
            1800,
            0,
        );
        let mut b = vec![0xffu8; 2048];
        assert_eq!(s.read_at(&mut b, 0).unwrap(), 2048);
        assert!(b[..512].iter().all(|&x| x == 10));
        assert!(b[512..1024].iter().all(|&x| x == 11));
        assert!(b[1024..1536].iter().all(|&x| x == 0));
        assert!(b[1536..1800].iter().all(|&x| x == 4));
        assert!(b[1800..].iter().all(|&x| x == 0));
        let mut small = [0u8; 10];
        assert_eq!(s.read_at(&mut small, 2040).unwrap(), 8);
    }

    #[test]
    fn missing_run_is_an_error() {
        let s = DataStream::new(volume(), 512, vec![(0, 1, Some(1))], 4096, 4096, 0);
        let mut b = vec![0u8; 4096];
        let e = s.read_at(&mut b, 0).unwrap_err();
        assert!(e.to_string().contains("cluster 1"));
    }

    #[test]
    fn compressed_unit_decodes_and_stored_unit_reads_raw() {
        // Unit of 2 clusters of 512. Unit 0: one real cluster holding an
        // LZNT1 stream, one sparse. Unit 1: two real clusters, stored.
        let mut vol = vec![0u8; 8192];
        let body = [0b0000_0010, b'z', 0xfc, 0x03]; // 'z' then repeat 1 back, len 1023+3
        let header: u16 = 0x8000 | 0x3000 | (body.len() as u16 - 1);
        vol[512..514].copy_from_slice(&header.to_le_bytes());
        vol[514..518].copy_from_slice(&body);
        vol[1024..2048].fill(9);
        let s = DataStream::new(
            Arc::new(vol),
            512,
            vec![(0, 1, Some(1)), (1, 1, None), (2, 2, Some(2))],
            2048,
            2048,
            1,
        );
        let mut b = vec![0u8; 2048];
        s.read_exact_at(&mut b, 0).unwrap();
        assert!(b[..1024].iter().all(|&x| x == b'z'), "{:?}", &b[..16]);
        assert!(b[1024..].iter().all(|&x| x == 9));
    }
}
