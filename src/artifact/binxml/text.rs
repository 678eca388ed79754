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

/// A FILETIME (100 ns ticks since 1601-01-01 UTC) as the crate writes it,
/// `yyyy-mm-ddThh:mm:ss.fffffffZ` in lower case: years past 9999 keep their
/// last four digits, and a count past `i64::MAX` is written as zeros.
pub(super) fn push_filetime(out: &mut Vec<u8>, ticks: u64) {
    const PER_SEC: u64 = 10_000_000;
    const PER_DAY: u64 = 86_400 * PER_SEC;
    if ticks > i64::MAX as u64 {
        return push_datetime(out, [0; 6], 0);
    }
    let (days, rest) = (ticks / PER_DAY, ticks % PER_DAY);
    let (year, month, day) = civil_from_days_since_1601(days);
    let secs = rest / PER_SEC;
    let fields = [
        year % 10_000,
        month,
        day,
        secs / 3_600,
        secs / 60 % 60,
        secs % 60,
    ];
    push_datetime(out, fields, rest % PER_SEC);
}

/// A SYSTEMTIME (eight little-endian 16-bit fields) as the crate writes
/// it: one Windows would not take as a time is 1601-01-01 at midnight.
pub(super) fn push_systemtime(out: &mut Vec<u8>, v: &[u8; 16]) {
    let f = |i: usize| u64::from(u16::from_le_bytes([v[2 * i], v[2 * i + 1]]));
    let (year, month, day) = (f(0), f(1), f(3));
    let (hour, minute, second, millis) = (f(4), f(5), f(6), f(7));
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    let valid = (1601..=30827).contains(&year)
        && (1..=12).contains(&month)
        && (1..=month_days).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60
        && millis < 1_000;
    if valid {
        let fields = [year % 10_000, month, day, hour, minute, second];
        push_datetime(out, fields, millis * 10_000);
    } else {
        push_datetime(out, [1601, 1, 1, 0, 0, 0], 0);
    }
}

/// Year, month, day, hour, minute, second and the second's 100 ns ticks,
/// zero-padded to 4, 2 … and 7 digits.
fn push_datetime(out: &mut Vec<u8>, fields: [u64; 6], ticks: u64) {
    let mut buf = *b"0000-00-00t00:00:00.0000000z";
    let mut put = |at: usize, width: usize, mut n: u64| {
        for b in buf[at..at + width].iter_mut().rev() {
            *b = b'0' + (n % 10) as u8;
            n /= 10;
        }
    };
    for (&n, (at, width)) in fields
        .iter()
        .zip([(0, 4), (5, 2), (8, 2), (11, 2), (14, 2), (17, 2)])
    {
        put(at, width, n);
    }
    put(20, 7, ticks);
    out.extend_from_slice(&buf);
}

/// The proleptic Gregorian date `days` after 1601-01-01 (Howard Hinnant's
/// `civil_from_days`, counted from 0000-03-01, 584,694 days earlier, in
/// 400-year eras of 146,097 days that start on a March 1st).
fn civil_from_days_since_1601(days: u64) -> (u64, u64, u64) {
    let z = days + 584_694;
    let (era, doe) = (z / 146_097, z % 146_097);
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (era * 400 + yoe + u64::from(month <= 2), month, day)
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
