//! Writing a record's values as the ASCII a literal can be made of, the way
//! the evtx crate renders them (where it matters for a literal), in lower
//! case (the prefilter's literals are lower case; matching is
//! case-insensitive): strings with every non-ASCII unit a break, binary in
//! hex, numbers in decimal, hex integers `0x…`, SIDs `s-1-5-…` and GUIDs
//! `{…}` as the crate writes them.

/// Separates two values in the gathered text: no literal holds a NUL.
pub(super) const SEP: u8 = 0;

/// UTF-16LE text as the ASCII a literal can be made of: every other code
/// unit becomes a break, except the three that lower-case or case-fold to
/// ASCII (`literals::FOLDS_TO_ASCII`). Written to vectorise: most text is
/// ASCII, and the fix-up pass runs only when some unit is not.
pub(super) fn push_utf16(out: &mut Vec<u8>, bytes: &[u8]) {
    let start = out.len();
    out.resize(start + bytes.len() / 2, SEP);
    let dst = &mut out[start..];
    let mut wide = 0u8;
    for (d, p) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
        let (lo, hi) = (p[0], p[1]);
        wide |= hi | (lo & 0x80);
        *d = if hi == 0 && lo < 0x80 { lower(lo) } else { SEP };
    }
    if wide != 0 {
        for (d, p) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
            if p[1] != 0 {
                *d = unit_byte(u16::from_le_bytes([p[0], p[1]]));
            }
        }
    }
}

/// ASCII lower case, written to vectorise (no branch).
fn lower(b: u8) -> u8 {
    b | (u8::from(b.wrapping_sub(b'A') < 26) << 5)
}

pub(super) fn push_unit(out: &mut Vec<u8>, unit: u16) {
    out.push(unit_byte(unit));
}

fn unit_byte(unit: u16) -> u8 {
    match unit {
        0x01..=0x7f => lower(unit as u8),
        0x212a => b'k', // KELVIN SIGN
        0x0130 => b'i', // LATIN CAPITAL LETTER I WITH DOT ABOVE
        0x017f => b's', // LATIN SMALL LETTER LONG S (case-folds to `s`)
        _ => SEP,
    }
}

pub(super) fn push_utf16_list(out: &mut Vec<u8>, bytes: &[u8]) {
    for pair in bytes.chunks_exact(2) {
        match u16::from_le_bytes([pair[0], pair[1]]) {
            0 => out.push(b','),
            unit => push_unit(out, unit),
        }
    }
}

/// ANSI text: in every Windows code page a byte below 0x80 is that ASCII
/// character, and no byte above decodes to ASCII.
pub(super) fn push_ansi(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(bytes.iter().map(|&b| if b < 0x80 { lower(b) } else { SEP }));
}

/// ANSI string arrays: NUL-terminated items, which the crate renders joined
/// by commas.
pub(super) fn push_ansi_list(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend(bytes.iter().map(|&b| match b {
        0 => b',',
        0x01..=0x7f => lower(b),
        _ => SEP,
    }));
}

/// Binary as hex (the crate writes upper case; lower case here).
pub(super) fn push_hex(out: &mut Vec<u8>, bytes: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(bytes.len() * 2);
    for &b in bytes {
        out.push(HEX[usize::from(b >> 4)]);
        out.push(HEX[usize::from(b & 0xf)]);
    }
}

/// An integer value in decimal, as the crate writes it.
pub(super) fn push_integer(out: &mut Vec<u8>, ty: u8, v: &[u8]) -> Option<()> {
    match (ty, v.len()) {
        (0x03, 1) => push_signed(out, i64::from(v[0] as i8)),
        (0x04, 1) => push_digits(out, u64::from(v[0]), 10),
        (0x05, 2) => push_signed(out, i64::from(u16_at(v, 0)? as i16)),
        (0x06, 2) => push_digits(out, u64::from(u16_at(v, 0)?), 10),
        (0x07, 4) => push_signed(out, i64::from(u32_at(v, 0)? as i32)),
        (0x08, 4) => push_digits(out, u64::from(u32_at(v, 0)?), 10),
        (0x09, 8) => push_signed(out, u64_at(v, 0)? as i64),
        (0x0a, 8) => push_digits(out, u64_at(v, 0)?, 10),
        _ => return None,
    }
    Some(())
}

pub(super) fn push_signed(out: &mut Vec<u8>, n: i64) {
    if n < 0 {
        out.push(b'-');
    }
    push_digits(out, n.unsigned_abs(), 10);
}

/// `n` in base 10 or 16 (lower case), without allocating: this runs for
/// every number of every record when some literal could be a number.
pub(super) fn push_digits(out: &mut Vec<u8>, mut n: u64, base: u64) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = DIGITS[(n % base) as usize];
        n /= base;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

/// Ends a value: one break, however many values or elements end here (the
/// automaton then reads fewer bytes).
pub(super) fn sep(out: &mut Vec<u8>) {
    if out.last() != Some(&SEP) {
        out.push(SEP);
    }
}

pub(super) fn u16_at(c: &[u8], pos: usize) -> Option<u16> {
    Some(u16::from_le_bytes(c.get(pos..pos + 2)?.try_into().ok()?))
}

pub(super) fn u32_at(c: &[u8], pos: usize) -> Option<u32> {
    Some(u32::from_le_bytes(c.get(pos..pos + 4)?.try_into().ok()?))
}

pub(super) fn u64_at(c: &[u8], pos: usize) -> Option<u64> {
    Some(u64::from_le_bytes(c.get(pos..pos + 8)?.try_into().ok()?))
}

/// A SID (`v` at least as long as its sub-authority count says, checked by
/// the caller) as the crate writes it: `S-<revision>-<48-bit authority>`
/// and each sub-authority, with a lower-case `s`.
pub(super) fn push_sid(out: &mut Vec<u8>, v: &[u8]) {
    let &[revision, count, a0, a1, a2, a3, a4, a5, ref subs @ ..] = v else {
        return;
    };
    out.extend_from_slice(b"s-");
    push_digits(out, u64::from(revision), 10);
    out.push(b'-');
    push_digits(out, u64::from_be_bytes([0, 0, a0, a1, a2, a3, a4, a5]), 10);
    for sub in subs.chunks_exact(4).take(usize::from(count)) {
        out.push(b'-');
        let n = u32::from_le_bytes([sub[0], sub[1], sub[2], sub[3]]);
        push_digits(out, u64::from(n), 10);
    }
}

/// A GUID (16 bytes) as the crate writes it, `{8-4-4-4-12}` in lower-case
/// hex, the first three groups little-endian.
pub(super) fn push_guid(out: &mut Vec<u8>, v: &[u8; 16]) {
    const ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.push(b'{');
    for (i, &at) in ORDER.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push(b'-');
        }
        out.push(DIGITS[usize::from(v[at] >> 4)]);
        out.push(DIGITS[usize::from(v[at] & 0x0f)]);
    }
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The screened text folds what literals are folded by: a literal
    /// spelt with the ASCII letter is found in text holding the other.
    #[test]
    fn the_screen_folds_every_character_literals_fold() {
        for &(c, ascii) in crate::matcher::literals::FOLDS_TO_ASCII {
            let mut unit = [0u16; 1];
            c.encode_utf16(&mut unit);
            let mut out = Vec::new();
            push_utf16(&mut out, &unit[0].to_le_bytes());
            push_unit(&mut out, unit[0]);
            assert_eq!(out, [ascii, ascii], "{c}");
        }
    }
}
