//! Which bytes of a buffer are host-name and address characters, as bit
//! masks, so that the token lookup finds where a name or an address run
//! starts and ends with a bit scan instead of a byte loop.
//!
//! In text such as proxy logs every line holds several dotted names, and
//! walking back and forth over their bytes one at a time was most of the
//! token lookup's time. One pass over the buffer (the loop below is
//! branch-free, which the compiler turns into vector compares) gives both
//! masks; binary data, whose few dots sit in short runs, keeps the byte
//! loops (`Tokens::find` classifies only text).

/// Bit `i % 64` of word `i / 64` of each mask: whether byte `i` is a host
/// character (`super::is_host_char`) or an address character (a hex
/// digit, `.` or `:`).
#[derive(Default)]
pub(super) struct Masks {
    host: Vec<u64>,
    ip: Vec<u64>,
    len: usize,
}

/// The class of bytes a run is made of.
#[derive(Clone, Copy)]
pub(super) enum Class {
    Host,
    Ip,
}

impl Masks {
    /// Classifies `buf` (the masks' room is reused).
    pub(super) fn fill(&mut self, buf: &[u8]) {
        self.fill_with(buf, |word| match word.try_into() {
            Ok(whole) => classify64(whole),
            Err(_) => classify_bytes(word),
        });
    }

    /// [`Masks::fill`] one byte at a time: the reference of the tests.
    #[cfg(test)]
    fn fill_bytewise(&mut self, buf: &[u8]) {
        self.fill_with(buf, classify_bytes);
    }

    /// Classifies `buf` 64 bytes (a mask word) at a time with `classify`.
    fn fill_with(&mut self, buf: &[u8], classify: impl Fn(&[u8]) -> (u64, u64)) {
        self.host.clear();
        self.ip.clear();
        self.len = buf.len();
        for word in buf.chunks(64) {
            let (h, p) = classify(word);
            self.host.push(h);
            self.ip.push(p);
        }
    }

    fn mask(&self, class: Class) -> &[u64] {
        match class {
            Class::Host => &self.host,
            Class::Ip => &self.ip,
        }
    }

    /// The first position at or after `i` whose byte is not of `class`
    /// (the buffer's length if none).
    pub(super) fn run_end(&self, class: Class, i: usize) -> usize {
        let m = self.mask(class);
        let mut w = i / 64;
        let Some(&word) = m.get(w) else {
            return self.len.max(i);
        };
        let mut outside = !word & (u64::MAX << (i % 64));
        loop {
            if outside != 0 {
                return (w * 64 + outside.trailing_zeros() as usize).min(self.len);
            }
            w += 1;
            match m.get(w) {
                Some(&word) => outside = !word,
                None => return self.len,
            }
        }
    }

    /// Where the run of `class` bytes that ends just before `i` starts, no
    /// further back than `floor`.
    pub(super) fn run_start(&self, class: Class, i: usize, floor: usize) -> usize {
        if i <= floor {
            return i;
        }
        let m = self.mask(class);
        let last = i - 1;
        let mut w = last / 64;
        let mut outside = !m[w] & (u64::MAX >> (63 - last % 64));
        loop {
            if outside != 0 {
                let at = w * 64 + 63 - outside.leading_zeros() as usize;
                return (at + 1).max(floor);
            }
            if w == 0 || w * 64 <= floor {
                return floor;
            }
            w -= 1;
            outside = !m[w];
        }
    }
}

/// The masks of up to 64 bytes, one at a time.
fn classify_bytes(bytes: &[u8]) -> (u64, u64) {
    let (mut h, mut p) = (0u64, 0u64);
    for (i, &b) in bytes.iter().enumerate() {
        let digit = b.wrapping_sub(b'0') < 10;
        let lower = (b | 0x20).wrapping_sub(b'a');
        let host = digit | (lower < 26) | (b == b'-') | (b == b'_');
        let ip = digit | (lower < 6) | (b == b'.') | (b == b':');
        h |= u64::from(host) << i;
        p |= u64::from(ip) << i;
    }
    (h, p)
}

/// The masks of 64 bytes, sixteen at a time in SSE2 (every x86-64 CPU has
/// it): a byte is in `lo..=hi` when `byte - lo`, wrapped, is at most
/// `hi - lo`.
#[cfg(target_arch = "x86_64")]
fn classify64(bytes: &[u8; 64]) -> (u64, u64) {
    use std::arch::x86_64::*;
    let (mut h, mut p) = (0u64, 0u64);
    for (k, part) in bytes.chunks_exact(16).enumerate() {
        // SAFETY: `part` holds 16 bytes (an unaligned load); SSE2 is part
        // of the x86-64 baseline the crate is built for.
        let (host, ip) = unsafe {
            let x = _mm_loadu_si128(part.as_ptr().cast());
            let within =
                |d: __m128i, span: i8| _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span)), d);
            let digit = within(_mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8)), 9);
            let letter = _mm_sub_epi8(
                _mm_or_si128(x, _mm_set1_epi8(0x20)),
                _mm_set1_epi8(b'a' as i8),
            );
            let is = |c: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(c as i8));
            let host = _mm_or_si128(
                _mm_or_si128(digit, within(letter, 25)),
                _mm_or_si128(is(b'-'), is(b'_')),
            );
            let ip = _mm_or_si128(
                _mm_or_si128(digit, within(letter, 5)),
                _mm_or_si128(is(b'.'), is(b':')),
            );
            (_mm_movemask_epi8(host) as u16, _mm_movemask_epi8(ip) as u16)
        };
        h |= u64::from(host) << (16 * k);
        p |= u64::from(ip) << (16 * k);
    }
    (h, p)
}

#[cfg(not(target_arch = "x86_64"))]
fn classify64(bytes: &[u8; 64]) -> (u64, u64) {
    classify_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector classification is the byte-wise one, for every byte value
    /// at every position of a word.
    #[test]
    fn every_byte_is_classified_as_byte_by_byte() {
        let buf: Vec<u8> = (0..=255u8)
            .chain((0..=255u8).rev())
            .chain(0..=200)
            .collect();
        let (mut fast, mut slow) = (Masks::default(), Masks::default());
        for start in 0..64 {
            fast.fill(&buf[start..]);
            slow.fill_bytewise(&buf[start..]);
            assert_eq!(
                (&fast.host, &fast.ip),
                (&slow.host, &slow.ip),
                "from {start}"
            );
        }
    }

    /// The bit scans give what byte loops give, at every position and
    /// floor, across word boundaries and at the buffer's ends.
    #[test]
    fn bit_scans_agree_with_byte_loops() {
        let host = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
        let ip = |b: u8| b.is_ascii_hexdigit() || matches!(b, b'.' | b':');
        let mut rng = 7u64;
        let mut masks = Masks::default();
        for len in [0, 1, 63, 64, 65, 130, 300] {
            let buf: Vec<u8> = (0..len)
                .map(|i| {
                    rng = rng
                        .wrapping_mul(6364136223846793005)
                        .wrapping_add(1442695040888963407);
                    // Long runs as well as short ones.
                    let pick = (rng >> 33) as usize;
                    let alphabet = b"ab.:-_Zf9 /\x80\x00G";
                    if (i / 70) % 2 == 0 {
                        b'a'
                    } else {
                        alphabet[pick % alphabet.len()]
                    }
                })
                .collect();
            masks.fill(&buf);
            for (class, inside) in [
                (Class::Host, &host as &dyn Fn(u8) -> bool),
                (Class::Ip, &ip),
            ] {
                for i in 0..=len {
                    let mut end = i;
                    while end < len && inside(buf[end]) {
                        end += 1;
                    }
                    assert_eq!(masks.run_end(class, i), end, "end from {i} of {len}");
                    for floor in [0, i / 2, i.saturating_sub(1), i] {
                        let mut start = i;
                        while start > floor && inside(buf[start - 1]) {
                            start -= 1;
                        }
                        assert_eq!(
                            masks.run_start(class, i, floor),
                            start,
                            "start {i} {floor} of {len}"
                        );
                    }
                }
            }
        }
    }
}
