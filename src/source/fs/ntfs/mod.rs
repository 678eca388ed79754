//! NTFS, read-only, from the MFT up.
//!
//! Our own reader rather than the `ntfs` crate: a scanner wants every MFT
//! record — deleted ones included — in disk order, each named $DATA stream
//! as its own item, LZNT1 decoded (the crate returns compressed clusters as
//! data, DESIGN.md §5) and positional reads that many workers share. Paths
//! come from each record's $FILE_NAME parent chain, like TSK's, so deleted
//! files keep their directory while it still exists and land under
//! `/$OrphanFiles` when it does not.

mod lznt1;
mod record;
mod stream;
mod walk;

use std::sync::Arc;

use record::{ATTR_ATTRIBUTE_LIST, ATTR_DATA, ATTR_STANDARD_INFORMATION, Attr, Body, Header, Run};
use stream::DataStream;

use super::Filesystem;
use crate::source::SourceItem;
use crate::source::readat::ReadAt;
use crate::source::volume::{VolumeInfo, le16, le64};

/// The update-sequence stride of MFT records: 512 bytes on every volume,
/// 4K-sector disks included (their records carry one entry per 512 bytes).
const FIXUP_STRIDE: usize = 512;

/// Largest attribute list we read (real ones are a few KiB).
const MAX_ATTRIBUTE_LIST: u64 = 1 << 20;

/// Largest compression unit decoded: Windows compresses in units of 16
/// clusters of at most 4 KiB (64 KiB); a damaged header could otherwise
/// ask for 2^16 clusters of 2 MiB at once.
const MAX_COMPRESSION_UNIT: u64 = 1 << 20;

pub struct Ntfs {
    vol: Arc<dyn ReadAt>,
    cluster: u64,
    record_size: usize,
    /// Fixup stride ([`FIXUP_STRIDE`]).
    sector: usize,
    mft: DataStream,
    /// Why the $MFT was read from its mirror, when it was: damage the
    /// walk lists although the volume could be read.
    mirror_used: Option<String>,
}

/// Boot sector facts.
struct Boot {
    cluster: u64,
    record_size: u64,
    mft_lcn: u64,
    mirror_lcn: u64,
}

fn boot(b: &[u8]) -> Result<Boot, String> {
    if &b[3..11] != b"NTFS    " {
        return Err("no NTFS signature in the boot sector".into());
    }
    let sector = u64::from(le16(b, 11));
    if !(256..=4096).contains(&sector) || !sector.is_power_of_two() {
        return Err(format!("implausible bytes per sector {sector}"));
    }
    let spc = b[13];
    let cluster = if spc > 0x80 {
        sector << (256 - u32::from(spc)).min(20)
    } else {
        sector * u64::from(spc)
    };
    if cluster == 0 || !cluster.is_power_of_two() || cluster > 2 << 20 {
        return Err(format!("implausible cluster size {cluster}"));
    }
    let cpr = b[64] as i8;
    let record_size = if cpr < 0 {
        1u64 << (-i32::from(cpr)).min(16)
    } else {
        cluster * cpr as u64
    };
    if !(256..=65536).contains(&record_size) {
        return Err(format!("implausible MFT record size {record_size}"));
    }
    Ok(Boot {
        cluster,
        record_size,
        mft_lcn: le64(b, 48),
        mirror_lcn: le64(b, 56),
    })
}

/// One record after fixup, with its header.
struct Rec {
    bytes: Vec<u8>,
    header: Header,
}

impl Rec {
    fn parse(mut bytes: Vec<u8>, sector: usize) -> Result<Option<Rec>, String> {
        match &bytes[..4] {
            b"FILE" => {}
            b"BAAD" => return Err("record marked BAAD (failed multi-sector transfer)".into()),
            _ => return Ok(None),
        }
        record::fixup(&mut bytes, sector)?;
        let header = record::header(&bytes)?;
        Ok(Some(Rec { bytes, header }))
    }

    fn attributes(&self) -> (Vec<Attr<'_>>, Option<String>) {
        record::attributes(&self.bytes, &self.header)
    }
}

impl Ntfs {
    pub fn open(vol: Arc<dyn ReadAt>) -> Result<Ntfs, String> {
        let mut b = [0u8; 512];
        vol.read_exact_at(&mut b, 0)
            .map_err(|e| format!("boot sector: {e}"))?;
        let bt = boot(&b)?;
        let (cluster, record_size, sector) = (bt.cluster, bt.record_size as usize, FIXUP_STRIDE);
        // $MFT's own record, from the MFT or else its mirror.
        let mut why = String::new();
        for (lcn, what) in [(bt.mft_lcn, "$MFT"), (bt.mirror_lcn, "$MFTMirr")] {
            let mut raw = vec![0u8; record_size];
            let at = lcn.saturating_mul(cluster);
            let rec = vol
                .read_exact_at(&mut raw, at)
                .map_err(|e| e.to_string())
                .and_then(|()| Rec::parse(raw, sector))
                .and_then(|r| r.ok_or_else(|| "no FILE signature".to_string()));
            match rec.and_then(|r| Self::mft_stream(&vol, cluster, record_size, sector, &r)) {
                Ok(mft) => {
                    return Ok(Ntfs {
                        vol,
                        cluster,
                        record_size,
                        sector,
                        mft,
                        mirror_used: (!why.is_empty()).then(|| {
                            format!(
                                "{}; its copy in $MFTMirr was used",
                                why.trim_end_matches("; ")
                            )
                        }),
                    });
                }
                Err(e) => why.push_str(&format!("{what} record 0 at byte {at}: {e}; ")),
            }
        }
        Err(format!(
            "cannot read the MFT: {}",
            why.trim_end_matches("; ")
        ))
    }

    /// The $MFT data stream from record 0, following its attribute list
    /// (large, fragmented MFTs keep their later runs in extension records,
    /// which the first runs already reach).
    fn mft_stream(
        vol: &Arc<dyn ReadAt>,
        cluster: u64,
        record_size: usize,
        sector: usize,
        rec0: &Rec,
    ) -> Result<DataStream, String> {
        let (attrs, _) = rec0.attributes();
        let data: Vec<&Attr> = attrs
            .iter()
            .filter(|a| a.kind == ATTR_DATA && a.name.is_empty())
            .collect();
        let (runs, size, init) = extents_runs(&data, cluster)?;
        if size > vol.size() {
            return Err(format!(
                "$MFT of {size} bytes is larger than the {}-byte volume",
                vol.size()
            ));
        }
        let first = DataStream::new(vol.clone(), cluster, runs.clone(), size, init, 0);
        let Some(list) = attrs.iter().find(|a| a.kind == ATTR_ATTRIBUTE_LIST) else {
            return Ok(first);
        };
        let list = attr_value(vol, cluster, list)?;
        let mut all_runs = runs;
        for e in record::attribute_list(&list) {
            if e.kind != ATTR_DATA || e.record == 0 {
                continue;
            }
            let mut raw = vec![0u8; record_size];
            first
                .read_exact_at(&mut raw, e.record.saturating_mul(record_size as u64))
                .map_err(|err| format!("$MFT extension record {}: {err}", e.record))?;
            let Some(ext) = Rec::parse(raw, sector)? else {
                continue;
            };
            let (ext_attrs, _) = ext.attributes();
            for a in ext_attrs
                .iter()
                .filter(|a| a.kind == ATTR_DATA && a.name.is_empty())
            {
                if let Body::NonResident(nr) = &a.body {
                    all_runs.extend(record::runs(nr.runs, nr.start_vcn)?);
                }
            }
        }
        all_runs.sort_by_key(|r| r.0);
        all_runs.dedup();
        Ok(DataStream::new(
            vol.clone(),
            cluster,
            all_runs,
            size,
            init,
            0,
        ))
    }

    fn record_count(&self) -> u64 {
        self.mft.size() / self.record_size as u64
    }

    /// Reads record `n`; `Ok(None)` for a record that was never used.
    fn record(&self, n: u64) -> Result<Option<Rec>, String> {
        let mut raw = vec![0u8; self.record_size];
        self.mft
            .read_exact_at(&mut raw, n.saturating_mul(self.record_size as u64))
            .map_err(|e| e.to_string())?;
        Rec::parse(raw, self.sector)
    }
}

/// Runs, data size and initialised size of a $DATA attribute split over
/// several extents (records); sizes come from the extent at VCN 0. A data
/// size beyond what the runs map (sparse runs included) is damage: read
/// as is, it could claim petabytes of zeros.
fn extents_runs(extents: &[&Attr], cluster: u64) -> Result<(Vec<Run>, u64, u64), String> {
    let mut runs = Vec::new();
    let (mut size, mut init) = (0, 0);
    for a in extents {
        if let Body::NonResident(nr) = &a.body {
            if nr.start_vcn == 0 {
                size = nr.data_size;
                init = nr.init_size;
            }
            runs.extend(record::runs(nr.runs, nr.start_vcn)?);
        }
    }
    runs.sort_by_key(|r| r.0);
    let mapped = runs
        .last()
        .map_or(0, |r| (r.0 + r.1).saturating_mul(cluster));
    if size > mapped {
        return Err(format!(
            "data size {size} is beyond the {mapped} bytes its runs map"
        ));
    }
    Ok((runs, size, init))
}

/// The whole value of a small attribute (resident or not).
fn attr_value(vol: &Arc<dyn ReadAt>, cluster: u64, a: &Attr) -> Result<Vec<u8>, String> {
    match &a.body {
        Body::Resident(v) => Ok(v.to_vec()),
        Body::NonResident(nr) => {
            if nr.data_size > MAX_ATTRIBUTE_LIST {
                return Err(format!("attribute list of {} bytes", nr.data_size));
            }
            let runs = record::runs(nr.runs, nr.start_vcn)?;
            let s = DataStream::new(vol.clone(), cluster, runs, nr.data_size, nr.init_size, 0);
            let mut v = vec![0u8; nr.data_size as usize];
            s.read_exact_at(&mut v, 0).map_err(|e| e.to_string())?;
            Ok(v)
        }
    }
}

/// FILETIME (100 ns since 1601) to a timestamp; 0 and nonsense give `None`.
fn filetime(ft: u64) -> Option<jiff::Timestamp> {
    const UNIX_EPOCH: i128 = 116_444_736_000_000_000;
    if ft == 0 {
        return None;
    }
    let nanos = (i128::from(ft) - UNIX_EPOCH) * 100;
    jiff::Timestamp::from_nanosecond(nanos).ok()
}

/// Standard-information times of a record: created, modified, changed, accessed.
fn times(attrs: &[Attr]) -> [Option<jiff::Timestamp>; 4] {
    attrs
        .iter()
        .find(|a| a.kind == ATTR_STANDARD_INFORMATION)
        .and_then(|a| match a.body {
            Body::Resident(v) => record::standard_times(v),
            Body::NonResident(_) => None,
        })
        .map_or([None; 4], |t| t.map(filetime))
}

impl Filesystem for Ntfs {
    fn kind(&self) -> &'static str {
        "ntfs"
    }

    fn entries(
        self: Arc<Self>,
        volume: Arc<VolumeInfo>,
        stop: &crate::stop::Stop,
    ) -> Box<dyn Iterator<Item = SourceItem> + Send> {
        Box::new(walk::Walk::new(self, volume, stop.clone()))
    }
}
