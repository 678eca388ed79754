//! Digest IOCs in a record's screened text, found as runs of hex digits.
//!
//! A record hits a digest IOC only where one of its values, or an
//! `alg=hex` piece of one, is the whole digest (`match_hash_field` in
//! `record.rs`), so in the screened text (values in ASCII lower case, apart
//! by non-hex bytes) the digest is a whole run of 32, 40 or 64 hex digits.
//! Looking each such run up in a set replaces a 16-character piece of
//! every digest in the literal automaton: signature-base's 3,357 digests
//! were about half of its trie, which the first log waits for while it is
//! built and every record's search walks.

use std::collections::HashSet;

/// Hex digit lengths of MD5, SHA-1 and SHA-256.
const LENGTHS: [usize; 3] = [32, 40, 64];

#[derive(Default)]
pub(super) struct DigestRuns {
    /// Lower-case hex of every digest IOC.
    set: HashSet<Box<[u8]>, foldhash::fast::RandomState>,
}

impl DigestRuns {
    /// Adds a digest given as hex (either case); `false` when it is not
    /// 32, 40 or 64 hex digits (the matcher could not hit it either).
    pub fn add(&mut self, hex: &str) -> bool {
        let b = hex.as_bytes();
        if !LENGTHS.contains(&b.len()) || !b.iter().all(u8::is_ascii_hexdigit) {
            return false;
        }
        self.set.insert(b.to_ascii_lowercase().into_boxed_slice());
        true
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }

    /// Whether some whole run of hex digits in `text` (no hex digit either
    /// side) is one of the digests. Runs shorter than 32 are of no
    /// interest, so the search looks at every 32nd byte: where it is not a
    /// hex digit, no such run holds any of the 32 bytes before it.
    pub fn find(&self, text: &[u8]) -> bool {
        const MIN: usize = LENGTHS[0];
        if self.set.is_empty() {
            return false;
        }
        let hex = |i: usize| text[i].is_ascii_hexdigit();
        // Invariant: no hex digit at `i - MIN` (or it is before the text).
        let mut i = MIN - 1;
        while i < text.len() {
            if !hex(i) {
                i += MIN;
                continue;
            }
            let mut start = i;
            while start > 0 && hex(start - 1) {
                start -= 1;
            }
            let mut end = i + 1;
            while end < text.len() && hex(end) {
                end += 1;
            }
            let run = &text[start..end];
            if LENGTHS.contains(&run.len()) && self.holds(run) {
                return true;
            }
            i = end + MIN;
        }
        false
    }

    fn holds(&self, run: &[u8]) -> bool {
        if !run.iter().any(u8::is_ascii_uppercase) {
            return self.set.contains(run);
        }
        let mut lower = [0u8; 64];
        let lower = &mut lower[..run.len()];
        lower.copy_from_slice(run);
        lower.make_ascii_lowercase();
        self.set.contains(&*lower)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MD5: &str = "0123456789ABCDEF0123456789abcdef";
    const SHA1: &str = "92cfceb39d57d914ed8b14d0e37643de0797ae56";

    fn runs() -> DigestRuns {
        let mut d = DigestRuns::default();
        assert!(d.add(MD5));
        assert!(d.add(SHA1));
        assert!(!d.add("0123"), "too short");
        assert!(!d.add(&"g".repeat(32)), "not hex");
        d
    }

    #[test]
    fn whole_runs_are_found_in_either_case() {
        let d = runs();
        for text in [
            format!("\0{}\0", MD5.to_lowercase()),
            MD5.to_string(),
            format!("sha1={SHA1},md5=x"),
            format!("x\0md5={}", MD5.to_uppercase()),
        ] {
            assert!(d.find(text.as_bytes()), "{text}");
        }
    }

    /// A digest inside a longer run of hex digits is not a value's whole
    /// digest: the matcher would not hit it.
    #[test]
    fn pieces_of_longer_runs_and_other_digests_are_not() {
        let d = runs();
        for text in [
            format!("0{MD5}"),
            format!("{SHA1}a"),
            "0123456789abcdef0123456789abcdee".to_string(),
            String::new(),
            "sha1=".to_string(),
        ] {
            assert!(!d.find(text.as_bytes()), "{text}");
        }
        assert!(!DigestRuns::default().find(MD5.as_bytes()));
    }

    /// The search skips ahead; a digest is found wherever it starts and
    /// whatever short runs of hex digits come before it.
    #[test]
    fn every_place_and_neighbourhood() {
        let d = runs();
        for digest in [MD5, SHA1] {
            for pad in 0..70 {
                for filler in ["x", "ab ", "0123456789abcdef0123456789abcde-"] {
                    let before: String = filler.chars().cycle().take(pad).collect();
                    let text = format!("{before}\0{digest}\0{before}");
                    assert!(d.find(text.as_bytes()), "{text}");
                    let longer = format!("{before}\0{digest}0{before}");
                    assert!(!d.find(longer.as_bytes()), "{longer}");
                }
            }
        }
    }
}
