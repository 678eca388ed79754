//! MFT records: the update-sequence fixup and the attributes a scanner
//! needs ($STANDARD_INFORMATION, $ATTRIBUTE_LIST, $FILE_NAME, $DATA).
//!
//! Every offset read from the record is bounds-checked: records on seized
//! disks are torn, half-overwritten or crafted, and a bad one must become a
//! reported problem, never a panic.

use crate::source::volume::{le16, le32, le64};

pub const ATTR_STANDARD_INFORMATION: u32 = 0x10;
pub const ATTR_ATTRIBUTE_LIST: u32 = 0x20;
pub const ATTR_FILE_NAME: u32 = 0x30;
pub const ATTR_DATA: u32 = 0x80;

/// Record number (low 48 bits) and sequence number of a file reference.
pub fn split_ref(r: u64) -> (u64, u16) {
    (r & 0xffff_ffff_ffff, (r >> 48) as u16)
}

/// Applies the update-sequence fixup in place. `Err` names what is wrong.
pub fn fixup(rec: &mut [u8], sector: usize) -> Result<(), String> {
    let usa_off = usize::from(le16(rec, 4));
    let usa_count = usize::from(le16(rec, 6));
    if usa_count == 0 || usa_off + 2 * usa_count > rec.len() || (usa_count - 1) * sector > rec.len()
    {
        return Err(format!(
            "update sequence array out of bounds (offset {usa_off}, {usa_count} entries)"
        ));
    }
    let usn = [rec[usa_off], rec[usa_off + 1]];
    for i in 1..usa_count {
        let end = i * sector;
        if rec[end - 2..end] != usn {
            return Err(format!(
                "torn write: sector {i} fails its update sequence check"
            ));
        }
        let (a, b) = (rec[usa_off + 2 * i], rec[usa_off + 2 * i + 1]);
        rec[end - 2] = a;
        rec[end - 1] = b;
    }
    Ok(())
}

/// The header fields of a record.
#[derive(Debug, Clone, Copy)]
pub struct Header {
    pub sequence: u16,
    pub in_use: bool,
    pub directory: bool,
    /// 0 for a base record; else the base record it extends.
    pub base: u64,
    attrs_offset: usize,
    used: usize,
}

pub fn header(rec: &[u8]) -> Result<Header, String> {
    let flags = le16(rec, 22);
    let attrs_offset = usize::from(le16(rec, 20));
    let used = (le32(rec, 24) as usize).min(rec.len());
    if attrs_offset < 42 || attrs_offset >= used {
        return Err(format!(
            "attribute offset {attrs_offset} outside the record"
        ));
    }
    Ok(Header {
        sequence: le16(rec, 16),
        in_use: flags & 1 != 0,
        directory: flags & 2 != 0,
        base: split_ref(le64(rec, 32)).0,
        attrs_offset,
        used,
    })
}

/// One attribute, borrowed from its record.
#[derive(Debug, Clone)]
pub struct Attr<'a> {
    pub kind: u32,
    /// UTF-16 name units (empty for the unnamed attribute).
    pub name: Vec<u16>,
    pub flags: u16,
    pub body: Body<'a>,
}

#[derive(Debug, Clone)]
pub enum Body<'a> {
    Resident(&'a [u8]),
    NonResident(NonResident<'a>),
}

#[derive(Debug, Clone)]
pub struct NonResident<'a> {
    pub start_vcn: u64,
    pub runs: &'a [u8],
    /// log2 of clusters per compression unit (0: not compressed).
    pub compression_unit: u8,
    pub data_size: u64,
    pub init_size: u64,
}

impl Attr<'_> {
    pub fn compressed(&self) -> bool {
        self.flags & 0x0001 != 0
    }
}

/// The attributes of a record, up to the end marker; a malformed attribute
/// ends the list with an error naming its offset.
pub fn attributes<'a>(rec: &'a [u8], h: &Header) -> (Vec<Attr<'a>>, Option<String>) {
    let mut out = Vec::new();
    let mut at = h.attrs_offset;
    while at + 8 <= h.used {
        let kind = le32(rec, at);
        if kind == 0xffff_ffff {
            return (out, None);
        }
        let len = le32(rec, at + 4) as usize;
        if len < 16 || at + len > h.used {
            return (
                out,
                Some(format!("attribute at offset {at} has length {len}")),
            );
        }
        let a = &rec[at..at + len];
        match attribute(a, kind) {
            Some(attr) => out.push(attr),
            None => {
                return (
                    out,
                    Some(format!("attribute 0x{kind:x} at offset {at} is malformed")),
                );
            }
        }
        at += len;
    }
    (out, None)
}

fn attribute(a: &[u8], kind: u32) -> Option<Attr<'_>> {
    let non_resident = a[8] != 0;
    let name_len = usize::from(a[9]);
    let name_off = usize::from(le16(a, 10));
    let flags = le16(a, 12);
    let name = if name_len == 0 {
        Vec::new()
    } else {
        a.get(name_off..name_off + 2 * name_len)?
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect()
    };
    let body = if non_resident {
        if a.len() < 64 {
            return None;
        }
        let runs_off = usize::from(le16(a, 32));
        Body::NonResident(NonResident {
            start_vcn: le64(a, 16),
            runs: a.get(runs_off..)?,
            compression_unit: a[34],
            data_size: le64(a, 48),
            init_size: le64(a, 56),
        })
    } else {
        if a.len() < 24 {
            return None;
        }
        let len = le32(a, 16) as usize;
        let off = usize::from(le16(a, 20));
        Body::Resident(a.get(off..off.checked_add(len)?)?)
    };
    Some(Attr {
        kind,
        name,
        flags,
        body,
    })
}

/// A $FILE_NAME value.
#[derive(Debug, Clone)]
pub struct FileName {
    pub parent: u64,
    pub parent_seq: u16,
    /// 0 POSIX, 1 Win32, 2 DOS (8.3), 3 Win32 and DOS.
    pub namespace: u8,
    pub name: Vec<u16>,
}

pub fn file_name(v: &[u8]) -> Option<FileName> {
    if v.len() < 66 {
        return None;
    }
    let (parent, parent_seq) = split_ref(le64(v, 0));
    let len = usize::from(v[64]);
    let name = v
        .get(66..66 + 2 * len)?
        .chunks_exact(2)
        .map(|c| u16::from_le_bytes([c[0], c[1]]))
        .collect();
    Some(FileName {
        parent,
        parent_seq,
        namespace: v[65],
        name,
    })
}

/// $STANDARD_INFORMATION times, as raw FILETIMEs: created, modified,
/// MFT entry changed, accessed.
pub fn standard_times(v: &[u8]) -> Option<[u64; 4]> {
    (v.len() >= 32).then(|| [le64(v, 0), le64(v, 8), le64(v, 16), le64(v, 24)])
}

/// One $ATTRIBUTE_LIST entry: where an attribute of this file lives.
#[derive(Debug, Clone)]
pub struct ListEntry {
    pub kind: u32,
    pub record: u64,
}

pub fn attribute_list(v: &[u8]) -> Vec<ListEntry> {
    let mut out = Vec::new();
    let mut at = 0;
    while at + 26 <= v.len() {
        let len = usize::from(le16(v, at + 4));
        if len < 26 {
            break;
        }
        out.push(ListEntry {
            kind: le32(v, at),
            record: split_ref(le64(v, at + 16)).0,
        });
        at += len;
    }
    out
}

/// Data runs: (first VCN, cluster count, LCN or `None` for sparse).
pub type Run = (u64, u64, Option<u64>);

/// Decodes a mapping-pairs array starting at `start_vcn`.
pub fn runs(mut b: &[u8], start_vcn: u64) -> Result<Vec<Run>, String> {
    let mut out = Vec::new();
    let mut vcn = start_vcn;
    let mut lcn: i64 = 0;
    while let Some((&head, rest)) = b.split_first() {
        if head == 0 {
            return Ok(out);
        }
        let (len_size, off_size) = (usize::from(head & 0x0f), usize::from(head >> 4));
        if len_size == 0 || len_size > 8 || off_size > 8 || rest.len() < len_size + off_size {
            return Err(format!("bad run header 0x{head:02x} at VCN {vcn}"));
        }
        let count = le_uint(&rest[..len_size]);
        if off_size == 0 {
            out.push((vcn, count, None));
        } else {
            lcn = lcn.wrapping_add(le_int(&rest[len_size..len_size + off_size]));
            if lcn < 0 {
                return Err(format!("run at VCN {vcn} points before the volume start"));
            }
            out.push((vcn, count, Some(lcn as u64)));
        }
        vcn = vcn
            .checked_add(count)
            .ok_or_else(|| format!("run length overflows at VCN {vcn}"))?;
        b = &rest[len_size + off_size..];
    }
    Ok(out)
}

fn le_uint(b: &[u8]) -> u64 {
    b.iter().rev().fold(0, |acc, &x| (acc << 8) | u64::from(x))
}

fn le_int(b: &[u8]) -> i64 {
    let u = le_uint(b);
    let shift = 64 - 8 * b.len() as u32;
    ((u << shift) as i64) >> shift
}

/// UTF-16 to bytes without loss: valid text becomes UTF-8, an unpaired
/// surrogate becomes its 3-byte generalised UTF-8 form (WTF-8), which the
/// report shows escaped and keeps exactly in `pathHex`.
pub fn utf16_bytes(units: &[u16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(units.len());
    for r in char::decode_utf16(units.iter().copied()) {
        match r {
            Ok(c) => {
                let mut b = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            }
            Err(e) => {
                let u = e.unpaired_surrogate();
                out.extend_from_slice(&[
                    0xe0 | (u >> 12) as u8,
                    0x80 | ((u >> 6) & 0x3f) as u8,
                    0x80 | (u & 0x3f) as u8,
                ]);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_decode_relative_and_sparse() {
        // 0x21: 1 length byte, 2 offset bytes: 0x10 clusters at 0x1000;
        // 0x01: sparse 5; 0x11: 3 clusters at -0x10 relative.
        let b = [0x21, 0x10, 0x00, 0x10, 0x01, 0x05, 0x11, 0x03, 0xf0, 0x00];
        let r = runs(&b, 0).unwrap();
        assert_eq!(
            r,
            [(0, 16, Some(0x1000)), (16, 5, None), (21, 3, Some(0xff0))]
        );
        assert!(runs(&[0x21, 0x10, 0x00, 0x80], 0).is_err()); // negative LCN
        assert!(runs(&[0x91], 0).is_err());
    }

    #[test]
    fn fixup_restores_sector_ends_and_detects_torn_writes() {
        let mut rec = vec![0u8; 1024];
        rec[4..6].copy_from_slice(&48u16.to_le_bytes());
        rec[6..8].copy_from_slice(&3u16.to_le_bytes());
        rec[48..54].copy_from_slice(&[0x11, 0x22, 0xaa, 0xbb, 0xcc, 0xdd]);
        rec[510..512].copy_from_slice(&[0x11, 0x22]);
        rec[1022..1024].copy_from_slice(&[0x11, 0x22]);
        let mut good = rec.clone();
        fixup(&mut good, 512).unwrap();
        assert_eq!(&good[510..512], &[0xaa, 0xbb]);
        assert_eq!(&good[1022..1024], &[0xcc, 0xdd]);
        rec[1023] = 0;
        assert!(fixup(&mut rec, 512).unwrap_err().contains("sector 2"));
    }

    #[test]
    fn unpaired_surrogates_are_kept() {
        assert_eq!(utf16_bytes(&[0x61, 0xd800, 0x62]), b"a\xed\xa0\x80b");
        assert_eq!(
            utf16_bytes(&"é€".encode_utf16().collect::<Vec<_>>()),
            "é€".as_bytes()
        );
    }
}
