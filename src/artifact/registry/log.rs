//! Transaction logs of a dirty hive applied in memory, as Windows applies
//! them when it loads the hive (Suhanov, "Windows registry file format
//! specification", §Format of transaction log files): the new format's
//! log entries (`HvLE`, Windows 8.1 and later) and the old format's dirty
//! vector (`DIRT`). The evidence file is never written: the hive's bytes
//! are a copy.

use super::hive::{BASE_BLOCK, BaseBlock, u32_le, u64_le};

/// The seed of the log entries' Marvin32 hashes: the specification's
/// 14219357686671994754 (0xC5554E7A884DEF82) with its bytes reversed, as
/// the hashes in real Windows logs verify.
const MARVIN_SEED: u64 = 0x82EF_4D88_7A4E_55C5;

/// What applying a hive's logs did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Log entries (new format) or dirty pages (old format) applied, per
    /// log file, by name.
    pub applied: Vec<(String, usize)>,
    /// Dirty pages written (512 bytes each in the old format).
    pub pages: usize,
    /// Why a log, or its tail, was not applied.
    pub stopped: Vec<String>,
    /// Facts about what was applied.
    pub notes: Vec<String>,
    /// Logs found beside the hive (set by the caller that looked).
    pub logs: usize,
}

/// Applies `logs` (name, bytes; `.LOG1` before `.LOG2`) to the dirty hive
/// `hive` (a whole primary file), growing it to the hive bins size the
/// last entry gives, at most `limit` bytes.
pub fn recover(hive: &mut Vec<u8>, logs: &[(String, &[u8])], limit: usize) -> Recovery {
    let mut out = Recovery::default();
    let Ok(base) = BaseBlock::parse(hive) else {
        return out;
    };
    // New format: every valid entry of every log, applied in sequence from
    // the primary's secondary sequence number on, without gaps.
    let mut entries: Vec<(u32, usize, Entry)> = Vec::new();
    for (i, (name, log)) in logs.iter().enumerate() {
        match BaseBlock::parse(log) {
            Ok(b) if b.file_type == 6 => {
                let (found, why) = entries_of(log);
                if let Some(why) = why {
                    out.stopped.push(format!("{name}: {why}"));
                }
                entries.extend(found.into_iter().map(|e| (e.seq, i, e)));
            }
            Ok(b) if b.file_type == 1 || b.file_type == 2 => {
                if out.applied.iter().any(|(_, n)| *n > 0) {
                    continue;
                }
                match apply_old(hive, &base, log, limit) {
                    Ok(pages) => {
                        out.pages += pages;
                        out.applied.push((name.clone(), pages));
                    }
                    Err(e) => out.stopped.push(format!("{name}: {e}")),
                }
            }
            Ok(b) => out.stopped.push(format!(
                "{name}: not a transaction log (file type {})",
                b.file_type
            )),
            Err(e) => out.stopped.push(format!("{name}: {e}")),
        }
    }
    entries.sort_by_key(|(seq, file, _)| (*seq, *file));
    entries.dedup_by_key(|(seq, _, _)| *seq);
    let mut next = base.secondary_seq;
    let mut counts = vec![0usize; logs.len()];
    let mut started = false;
    for (seq, file, e) in entries {
        if seq < next {
            continue;
        }
        if seq != next && started {
            out.stopped.push(format!(
                "log entry {seq} follows {}: entries missing, the rest not applied",
                next.wrapping_sub(1)
            ));
            break;
        }
        if seq != next {
            // A partial reconcile wrote the entries before this one into
            // the primary file without updating its base block; the logs
            // were rotated since (the specification's "missing log
            // entries"): what follows is applied.
            out.notes.push(format!(
                "entries {next} to {} are in no log (written to the hive by a partial \
                 reconcile); applied from {seq}",
                seq - 1
            ));
        }
        if let Err(why) = e.apply(hive, logs[file].1, limit) {
            out.stopped
                .push(format!("{}: entry {seq}: {why}", logs[file].0));
            break;
        }
        started = true;
        out.pages += e.pages;
        counts[file] += 1;
        next = seq.wrapping_add(1);
    }
    for (i, n) in counts.into_iter().enumerate() {
        if n > 0 {
            out.applied.push((logs[i].0.clone(), n));
        }
    }
    if started {
        // The base block as Windows leaves it: clean, at the last entry.
        let last = next.wrapping_sub(1);
        hive[4..8].copy_from_slice(&last.to_le_bytes());
        hive[8..12].copy_from_slice(&last.to_le_bytes());
    }
    out
}

/// One valid log entry: where it is in its log and what it says.
struct Entry {
    at: usize,
    seq: u32,
    bins_size: u32,
    pages: usize,
}

/// The entries of a new-format log up to the first that is not valid, and
/// why it stopped there (nothing when at the end or at unused space).
fn entries_of(log: &[u8]) -> (Vec<Entry>, Option<String>) {
    let mut out = Vec::new();
    let mut at = 512;
    while at + 40 <= log.len() {
        let e = &log[at..];
        if &e[..4] != b"HvLE" {
            return (out, None);
        }
        let size = u32_le(e, 4).unwrap_or(0) as usize;
        if size < 40 || !size.is_multiple_of(512) || size > e.len() {
            return (
                out,
                Some(format!("entry at {at}: size {size} does not fit")),
            );
        }
        let entry = &e[..size];
        let hash1 = u64_le(entry, 24).unwrap_or(0);
        let hash2 = u64_le(entry, 32).unwrap_or(0);
        if marvin32(MARVIN_SEED, &entry[40..]) != hash1
            || marvin32(MARVIN_SEED, &entry[..32]) != hash2
        {
            return (out, Some(format!("entry at {at}: its hashes do not match")));
        }
        out.push(Entry {
            at,
            seq: u32_le(entry, 12).unwrap_or(0),
            bins_size: u32_le(entry, 16).unwrap_or(0),
            pages: u32_le(entry, 20).unwrap_or(0) as usize,
        });
        at += size;
    }
    (out, None)
}

impl Entry {
    /// Writes the entry's dirty pages into `hive`.
    fn apply(&self, hive: &mut Vec<u8>, log: &[u8], limit: usize) -> Result<(), String> {
        let e = &log[self.at..];
        let size = u32_le(e, 4).unwrap_or(0) as usize;
        let end = BASE_BLOCK
            .checked_add(self.bins_size as usize)
            .filter(|&n| n <= limit && self.bins_size.is_multiple_of(4096))
            .ok_or_else(|| format!("hive bins size {} is not plausible", self.bins_size))?;
        let refs_end = 40 + self.pages.checked_mul(8).ok_or("too many pages")?;
        if refs_end > size {
            return Err(format!("{} page references do not fit", self.pages));
        }
        if hive.len() < end {
            hive.resize(end, 0);
        }
        let mut data = refs_end;
        for p in 0..self.pages {
            let off = u32_le(e, 40 + p * 8).unwrap_or(0) as usize;
            let len = u32_le(e, 44 + p * 8).unwrap_or(0) as usize;
            let page = e
                .get(data..data.saturating_add(len))
                .filter(|_| data + len <= size)
                .ok_or_else(|| format!("page {p} runs past the entry"))?;
            let to = BASE_BLOCK + off;
            if to.checked_add(len).is_none_or(|x| x > end) {
                return Err(format!("page {p} at {off} lies past the hive bins"));
            }
            hive[to..to + len].copy_from_slice(page);
            data += len;
        }
        hive[40..44].copy_from_slice(&self.bins_size.to_le_bytes());
        Ok(())
    }
}

/// Applies an old-format log (base block, `DIRT` bitmap of 512-byte pages,
/// the dirty pages); its count of pages.
fn apply_old(hive: &mut [u8], base: &BaseBlock, log: &[u8], limit: usize) -> Result<usize, String> {
    let lb = BaseBlock::parse(log)?;
    if lb.primary_seq != lb.secondary_seq {
        return Err("the log itself was not completely written".into());
    }
    if lb.last_written != base.last_written {
        return Err("written at another time than the hive (not its log)".into());
    }
    if log.get(512..516) != Some(b"DIRT") {
        return Err("no dirty vector".into());
    }
    let bins = base.bins_size as usize;
    if BASE_BLOCK + bins > hive.len().min(limit) {
        return Err("the hive is shorter than its hive bins size".into());
    }
    let bits = bins / 512;
    let bitmap = log
        .get(516..516 + bits.div_ceil(8))
        .ok_or("dirty vector runs past the log")?;
    let mut page_at = (516 + bitmap.len()).div_ceil(512) * 512;
    let mut pages = 0;
    for bit in 0..bits {
        if bitmap[bit / 8] & (1 << (bit % 8)) == 0 {
            continue;
        }
        let page = log
            .get(page_at..page_at + 512)
            .ok_or_else(|| format!("dirty page {pages} runs past the log"))?;
        let to = BASE_BLOCK + bit * 512;
        hive[to..to + 512].copy_from_slice(page);
        page_at += 512;
        pages += 1;
    }
    hive[4..8].copy_from_slice(&lb.primary_seq.to_le_bytes());
    hive[8..12].copy_from_slice(&lb.primary_seq.to_le_bytes());
    Ok(pages)
}

/// Marvin32, the keyed hash Windows uses for log entries.
pub fn marvin32(seed: u64, data: &[u8]) -> u64 {
    let (mut lo, mut hi) = (seed as u32, (seed >> 32) as u32);
    let block = |lo: &mut u32, hi: &mut u32| {
        *hi ^= *lo;
        *lo = lo.rotate_left(20);
        *lo = lo.wrapping_add(*hi);
        *hi = hi.rotate_left(9);
        *hi ^= *lo;
        *lo = lo.rotate_left(27);
        *lo = lo.wrapping_add(*hi);
        *hi = hi.rotate_left(19);
    };
    let mut words = data.chunks_exact(4);
    for w in &mut words {
        lo = lo.wrapping_add(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
        block(&mut lo, &mut hi);
    }
    let r = words.remainder();
    let last = match r.len() {
        0 => 0x80,
        1 => 0x8000 | u32::from(r[0]),
        2 => 0x80_0000 | u32::from(u16::from_le_bytes([r[0], r[1]])),
        _ => 0x8000_0000 | (u32::from(r[2]) << 16) | u32::from(u16::from_le_bytes([r[0], r[1]])),
    };
    lo = lo.wrapping_add(last);
    block(&mut lo, &mut hi);
    block(&mut lo, &mut hi);
    (u64::from(hi) << 32) | u64::from(lo)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marvin32_matches_the_published_test_vectors() {
        // The vectors of .NET's MarvinTests (seed 0x004fb61a001bdbcc and
        // one with the high bit set), lengths 0 to 7.
        let s0 = 0x004f_b61a_001b_dbcc;
        let s1 = 0x804f_b61a_001b_dbcc;
        let cases: [(u64, &[u8], u64); 10] = [
            (s0, b"", 0x30ed_35c1_00cd_3c7d),
            (s0, &[0xaf], 0x48e7_3fc7_7d75_ddc1),
            (s0, &[0xe7, 0x0f], 0xb5f6_e1fc_485d_bff8),
            (s0, &[0x37, 0xf4, 0x95], 0xf0b0_7c78_9b8c_f7e8),
            (s0, &[0x86, 0x42, 0xdc, 0x59], 0x7008_f2e8_7e9c_f556),
            (s0, &[0x15, 0x3f, 0xb7, 0x98, 0x26], 0xe6c0_8c6d_a2af_a997),
            (
                s0,
                &[0x09, 0x32, 0xe6, 0x24, 0x6c, 0x47],
                0x6f04_bf1a_5ea2_4060,
            ),
            (
                s0,
                &[0xab, 0x42, 0x7e, 0xa8, 0xd1, 0x0f, 0xc7],
                0xe118_47e4_f067_8c41,
            ),
            (s1, b"", 0x10a9_d5d3_996f_d65d),
            (s1, &[0xaf], 0x6820_1f91_960e_bf91),
        ];
        for (seed, data, want) in cases {
            assert_eq!(marvin32(seed, data), want, "{data:02x?}");
        }
    }
}
