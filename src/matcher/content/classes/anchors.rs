//! The anchors of the search of bytes (a buffer holding a NUL, searched in
//! ASCII and in UTF-16LE around each `.` and `:`): only those that can be
//! inside a match are visited.
//!
//! In random or compressed data a dot or a colon comes every 128 bytes and
//! almost none of them joins two host characters; finding each with
//! `memchr2` and reading around it cost half as much as the bytes' SHA-1.
//! One vector pass that reads each anchor's neighbours keeps about one in
//! eight (one in fifteen of the dots).

use super::super::{is_host_char, is_ip_char};

/// The anchors wanted: the characters some literal holds (both when they
/// hold neither: URLs only).
#[derive(Clone, Copy, Debug)]
pub(in crate::matcher::content) struct Anchors {
    pub(in crate::matcher::content) dot: bool,
    pub(in crate::matcher::content) colon: bool,
}

impl Anchors {
    /// Whether the wanted anchor at `at` can be inside a match: a dot
    /// joining two host characters (every dot of an ASCII host name's
    /// literal does, and an address's has digits on both sides), a colon
    /// beside an address character, either followed by a NUL (a UTF-16
    /// character). A dot that joins nothing is in no name the next
    /// joining dot does not find whole.
    fn keeps(self, buf: &[u8], at: usize) -> bool {
        let before = at.checked_sub(1).map(|i| buf[i]);
        let after = buf.get(at + 1).copied();
        match buf[at] {
            b'.' if self.dot => {
                after == Some(0)
                    || before.is_some_and(is_host_char) && after.is_some_and(is_host_char)
            }
            b':' if self.colon => {
                after == Some(0) || before.is_some_and(is_ip_char) || after.is_some_and(is_ip_char)
            }
            _ => false,
        }
    }

    /// Calls `each` with every anchor of `buf` that can be inside a match
    /// ([`Anchors::keeps`]), in order.
    pub(in crate::matcher::content) fn for_each(self, buf: &[u8], mut each: impl FnMut(usize)) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512bw") {
            // SAFETY: the CPU has AVX-512BW (and so AVX-512F).
            return unsafe { avx512::for_each(self, buf, &mut each) };
        }
        self.each_from(buf, 0, &mut each);
    }

    /// [`Anchors::for_each`] from `from`, one `memchr2` hit at a time.
    fn each_from(self, buf: &[u8], from: usize, each: &mut impl FnMut(usize)) {
        let (a, b) = match (self.dot, self.colon) {
            (true, false) => (b'.', b'.'),
            (false, true) => (b':', b':'),
            _ => (b'.', b':'),
        };
        for at in memchr::memchr2_iter(a, b, &buf[from..]) {
            if self.keeps(buf, from + at) {
                each(from + at);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::super::avx512::classify64;
    use super::{Anchors, is_host_char, is_ip_char};

    /// [`Anchors::for_each`] 64 bytes at a time: each word's classes are
    /// those of the text's masks (`classify64`), and its neighbours' bits
    /// are shifted in, the bytes either side of the word read one at a
    /// time.
    #[target_feature(enable = "avx512bw")]
    pub(super) fn for_each(anchors: Anchors, buf: &[u8], each: &mut impl FnMut(usize)) {
        let len = buf.len();
        // Byte 0 has no byte before it; a word needs the byte after it.
        if len < 66 {
            return anchors.each_from(buf, 0, each);
        }
        if anchors.keeps(buf, 0) {
            each(0);
        }
        // The bit of the byte before a word (`word << 1`) and after it.
        let around = |word: u64, before: bool, after: bool| {
            (
                word << 1 | u64::from(before),
                word >> 1 | u64::from(after) << 63,
            )
        };
        let mut i = 1;
        while i + 65 <= len {
            let Some(bytes) = buf[i..].first_chunk::<64>() else {
                break;
            };
            let word = classify64(bytes);
            let (first, last) = (buf[i - 1], buf[i + 64]);
            let (_, nul_after) = around(word.nul, false, last == 0);
            let mut keep = 0;
            if anchors.dot {
                let (before, after) = around(word.host, is_host_char(first), is_host_char(last));
                keep |= word.dot & (nul_after | before & after);
            }
            if anchors.colon {
                let (before, after) = around(word.ip, is_ip_char(first), is_ip_char(last));
                keep |= word.colon & (nul_after | before | after);
            }
            while keep != 0 {
                each(i + keep.trailing_zeros() as usize);
                keep &= keep - 1;
            }
            i += 64;
        }
        anchors.each_from(buf, i, each);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector pass keeps what the byte rule keeps, at every length
    /// and offset, across words' edges and at both ends.
    #[test]
    fn anchors_kept_are_those_the_byte_rule_keeps() {
        let mut rng = 11u64;
        let alphabet = b"..::\x00\x00aZ9f-_ /g\x80";
        let buf: Vec<u8> = (0..700)
            .map(|_| {
                rng = rng
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                alphabet[(rng >> 33) as usize % alphabet.len()]
            })
            .collect();
        let mut seen = [0; 2];
        for (dot, colon) in [(true, false), (false, true), (true, true)] {
            let anchors = Anchors { dot, colon };
            for (from, to) in (0..70)
                .map(|k| (k, 700 - k))
                .chain((0..140).map(|n| (3, 3 + n)))
            {
                let buf = &buf[from..to];
                let want: Vec<usize> = (0..buf.len())
                    .filter(|&at| anchors.keeps(buf, at))
                    .collect();
                let mut got = Vec::new();
                anchors.for_each(buf, |at| got.push(at));
                assert_eq!(got, want, "{anchors:?} in {from}..{to}");
                let mut bytewise = Vec::new();
                anchors.each_from(buf, 0, &mut |at| bytewise.push(at));
                assert_eq!(bytewise, want);
                let wanted = |b: u8| b == b'.' && dot || b == b':' && colon;
                let left = (0..buf.len()).filter(|&at| wanted(buf[at]) && !anchors.keeps(buf, at));
                seen[0] += want.len();
                seen[1] += left.count();
            }
        }
        assert!(seen.iter().all(|&n| n > 1000), "kept and left: {seen:?}");
    }
}
