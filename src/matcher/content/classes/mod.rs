//! Which bytes of a text buffer are host-name and address characters, as
//! bit masks, and from them where host names end and where address runs
//! are anchored, so that the token lookup visits a handful of places per
//! line instead of every dot.
//!
//! In text such as proxy logs every line holds several dotted names, and
//! walking their bytes (then every dot of them) one at a time was most of
//! the token lookup's time. One pass over the buffer classifies it, a
//! vector compare a class; a second gives, from a word and its
//! neighbours, one bit per place the lookup must visit (see
//! [`Word::finish`]), eight words at once where the CPU has AVX-512
//! ([`avx512`]). Binary data, whose few dots sit in short runs, keeps the
//! byte loops (`Tokens::find` classifies only text), from the anchors
//! [`Anchors`] keeps.

mod anchors;
#[cfg(target_arch = "x86_64")]
mod avx512;

pub(super) use anchors::Anchors;

/// Bit `i % 64` of word `i / 64` of each mask: whether byte `i` is a host
/// character (`super::is_host_char`) or an address character (a hex
/// digit, `.` or `:`), or ends a host name or an address run, or starts a
/// URL's `://`. The room is
/// kept from one buffer to the next: only the words of the buffer and the
/// padding after them are written, the rest not read.
#[derive(Default)]
pub(super) struct Masks {
    /// Each word's classes at index `w + 1`: a zero word before the first
    /// and after the last [`Masks::places`] word, so that a word's
    /// neighbours are read without a check.
    classes: Classes,
    places: Places,
    /// Words of the buffer.
    words: usize,
    /// Words of [`Places`]: one past the buffer's (a name or a run can end
    /// at its end), rounded up to a multiple of 8 (a vector's).
    padded: usize,
    len: usize,
}

/// The classes of bytes, one mask each.
#[derive(Default)]
struct Classes {
    host: Vec<u64>,
    ip: Vec<u64>,
    dot: Vec<u64>,
    digit: Vec<u64>,
    colon: Vec<u64>,
    slash: Vec<u64>,
}

/// The places the lookup visits, at index `w`.
#[derive(Default)]
struct Places {
    /// Bit `e`: a host name of at least two labels ends just before byte
    /// `e`.
    name_ends: Vec<u64>,
    /// Bit `e`: a run of address characters holding an anchor (a `.`
    /// between digits, or a `:` when asked: every address literal holds
    /// one) ends just before byte `e`.
    address_ends: Vec<u64>,
    /// Bit `e`: an address may end just before byte `e` inside a run (a
    /// `:`, or a `.` not followed by a digit: `right_ok`'s rule).
    stops: Vec<u64>,
}

/// One word's places as [`Masks::ends`] gives them.
pub(super) struct Ends {
    pub(super) word: usize,
    pub(super) names: u64,
    pub(super) addresses: u64,
    pub(super) schemes: u64,
}

/// One word's places.
struct Slot {
    name_ends: u64,
    address_ends: u64,
    stops: u64,
}

impl Classes {
    /// Classifies `buf` 64 bytes at a time into index `w + 1` (the room is
    /// sized and the padding zeroed by [`Masks::size`]); whether it holds
    /// a NUL. It stops at the first word that does: such a buffer is
    /// searched as bytes, and a small binary file is mostly its first one.
    #[inline(always)]
    fn fill(&mut self, buf: &[u8], classify: impl Fn(&[u8]) -> Word) -> bool {
        for (w, word) in buf.chunks(64).map(classify).enumerate() {
            if word.nul != 0 {
                return true;
            }
            self.host[w + 1] = word.host;
            self.ip[w + 1] = word.ip;
            self.dot[w + 1] = word.dot;
            self.digit[w + 1] = word.digit;
            self.colon[w + 1] = word.colon;
            self.slash[w + 1] = word.slash;
        }
        false
    }

    /// The classes at index `i` (word `i - 1`).
    fn word(&self, i: usize) -> Word {
        Word {
            host: self.host[i],
            ip: self.ip[i],
            dot: self.dot[i],
            digit: self.digit[i],
            colon: self.colon[i],
            slash: self.slash[i],
            nul: 0,
        }
    }
}

/// The class of bytes a run is made of.
#[derive(Clone, Copy)]
pub(super) enum Class {
    Host,
    Ip,
}

/// The classes of one word's 64 bytes.
#[derive(Clone, Copy, Default)]
struct Word {
    host: u64,
    ip: u64,
    dot: u64,
    digit: u64,
    colon: u64,
    slash: u64,
    /// NUL bytes: text holds none (a buffer that does is searched as
    /// bytes instead; found here, it costs no pass of its own).
    nul: u64,
}

/// Bits of `x` moved one byte back: bit `i` says what bit `i + 1` said
/// (`after` is the next word).
fn next(x: u64, after: u64) -> u64 {
    x >> 1 | after << 63
}

/// Bits of `x` moved one byte on: bit `i` says what bit `i - 1` said
/// (`before` is the previous word).
fn prev(x: u64, before: u64) -> u64 {
    x << 1 | before >> 63
}

/// Which places the masks mark besides names of letters and addresses'
/// dots.
#[derive(Clone, Copy, Default)]
pub(super) struct Wanted {
    /// Every `:` anchors an address run (some address literal holds one).
    pub(super) colons: bool,
    /// Every dot between digits anchors an address run (some address
    /// literal holds no `:` and no two such dots four bytes or less apart,
    /// as every dotted quad does; otherwise a lone one, `Mozilla/5.0`,
    /// anchors nothing).
    pub(super) lone_dots: bool,
    /// Names whose last label is all digits end too (some host-name
    /// literal's is; in text they are addresses and versions: `10.0.0.1`,
    /// `Mozilla/5.0`, left to the address lookup).
    pub(super) digit_labels: bool,
}

/// What [`Word::finish`] carries from one word to the next: the previous
/// word's joining dots and dots between digits, and the sums' carries.
#[derive(Clone, Copy, Default)]
struct Carry {
    joining: u64,
    /// A label that started after a joining dot goes on.
    label: bool,
    /// A host run holding a character other than a digit goes on.
    lettered: bool,
    /// An address run holding an anchor goes on.
    address: bool,
    /// The previous word's dots between digits.
    between: u64,
}

/// `a + b + carry`, and whether it carries out of the word.
fn add(a: u64, b: u64, carry: bool) -> (u64, bool) {
    let (sum, over) = a.overflowing_add(b);
    let (sum, over2) = sum.overflowing_add(u64::from(carry));
    (sum, over | over2)
}

impl Word {
    /// This word's name ends and address run ends, given its neighbours.
    ///
    /// A joining dot has a host character on each side. A host run that
    /// starts right after one is a name's second or later label; adding a
    /// bit at its start to the host mask carries through the run and sets
    /// the bit just past it (the carry passes to the next word). That
    /// place ends a name unless it is itself a joining dot (another label
    /// follows): exactly `right_ok`'s rule for a domain. Adding the run's
    /// characters other than digits marks, the same way, the runs that
    /// hold one; adding its anchors, the address runs that hold one.
    #[inline(always)]
    fn finish(&self, before: &Word, after: &Word, carry: &mut Carry, wanted: Wanted) -> Slot {
        let joining = self.dot & prev(self.host, before.host) & next(self.host, after.host);
        let starts = prev(joining, carry.joining);
        let (joined, label) = add(self.host, starts, carry.label);
        let (lettered, letters) = add(self.host, self.host & !self.digit, carry.lettered);
        let digit_labels = if wanted.digit_labels { u64::MAX } else { 0 };
        let ends = joined & !self.host & !joining & (lettered | digit_labels);
        let between = self.dot & prev(self.digit, before.digit) & next(self.digit, after.digit);
        // Another such dot 2, 3 or 4 bytes before.
        let before = carry.between;
        let paired = (between | between << 1 | between << 2) << 2
            | before >> 62
            | before >> 61
            | before >> 60;
        let dots = between & if wanted.lone_dots { u64::MAX } else { paired };
        let colons = if wanted.colons { self.colon } else { 0 };
        let (anchored, address) = add(self.ip, dots | colons, carry.address);
        *carry = Carry {
            joining,
            label,
            lettered: letters,
            address,
            between,
        };
        Slot {
            name_ends: ends,
            address_ends: anchored & !self.ip,
            stops: self.colon | self.dot & !next(self.digit, after.digit),
        }
    }
}

impl Masks {
    /// Classifies `buf` (the masks' room is reused); whether it is text
    /// (holds no NUL).
    pub(super) fn fill(&mut self, buf: &[u8], wanted: Wanted) -> bool {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx512bw") {
            self.size(buf.len());
            // SAFETY: the CPU has AVX-512BW (and so AVX-512F).
            return unsafe {
                let nul = avx512::classify(buf, &mut self.classes);
                if !nul {
                    avx512::finish(&self.classes, &mut self.places, self.padded, wanted);
                }
                !nul
            };
        }
        self.fill_portable(buf, wanted)
    }

    /// [`Masks::fill`] with what every x86-64 CPU has: SSE2 compares and
    /// a word at a time.
    fn fill_portable(&mut self, buf: &[u8], wanted: Wanted) -> bool {
        self.fill_with(buf, wanted, |word| match word.try_into() {
            Ok(whole) => classify64(whole),
            Err(_) => classify_bytes(word),
        })
    }

    /// [`Masks::fill`] one byte at a time: the reference of the tests.
    #[cfg(test)]
    fn fill_bytewise(&mut self, buf: &[u8], wanted: Wanted) -> bool {
        self.fill_with(buf, wanted, classify_bytes)
    }

    /// Classifies `buf` 64 bytes (a mask word) at a time with `classify`,
    /// then finishes each word from its neighbours; whether it is text.
    fn fill_with(&mut self, buf: &[u8], wanted: Wanted, classify: impl Fn(&[u8]) -> Word) -> bool {
        self.size(buf.len());
        let c = &mut self.classes;
        if c.fill(buf, classify) {
            return false;
        }
        let mut carry = Carry::default();
        let p = &mut self.places;
        for w in 0..self.padded {
            let slot = c
                .word(w + 1)
                .finish(&c.word(w), &c.word(w + 2), &mut carry, wanted);
            p.name_ends[w] = slot.name_ends;
            p.address_ends[w] = slot.address_ends;
            p.stops[w] = slot.stops;
        }
        true
    }

    /// Sizes the room for `len` bytes and zeroes the padding around the
    /// words the classification writes.
    fn size(&mut self, len: usize) {
        let n = len.div_ceil(64);
        let padded = (n + 1).next_multiple_of(8);
        (self.words, self.padded, self.len) = (n, padded, len);
        let c = &mut self.classes;
        for mask in [
            &mut c.host,
            &mut c.ip,
            &mut c.dot,
            &mut c.digit,
            &mut c.colon,
            &mut c.slash,
        ] {
            if mask.len() < padded + 2 {
                mask.resize(padded + 2, 0);
            }
            mask[0] = 0;
            mask[n + 1..padded + 2].fill(0);
        }
        let p = &mut self.places;
        for mask in [&mut p.name_ends, &mut p.address_ends, &mut p.stops] {
            if mask.len() < padded {
                mask.resize(padded, 0);
            }
        }
    }

    /// Each word's index, the host names of two labels or more that end
    /// in it and the runs of address characters holding an anchor that do
    /// (bit `i`: just before byte `64 * index + i`), and the `://` that
    /// start in it (bit `i`: at byte `64 * index + i`; in place of a
    /// search for them, a fifth of the lookup's time in text).
    pub(super) fn ends(&self) -> impl Iterator<Item = Ends> + '_ {
        let (p, c) = (&self.places, &self.classes);
        (0..self.words + 1).map(move |w| {
            let (slash, after) = (c.slash[w + 1], c.slash[w + 2]);
            Ends {
                word: w,
                names: p.name_ends[w],
                addresses: p.address_ends[w],
                schemes: c.colon[w + 1] & next(slash, after) & (slash >> 2 | after << 62),
            }
        })
    }

    /// The places in `from..to` where an address may end inside a run
    /// (see [`Places::stops`]), in order.
    pub(super) fn stops(&self, from: usize, to: usize) -> impl Iterator<Item = usize> + '_ {
        let (first, to) = (from / 64, to.max(from));
        let words = self.places.stops[first..to.div_ceil(64)].iter().enumerate();
        bits(words.map(move |(k, &stops)| {
            // Bits `from % 64..` of the first word, `..to % 64` of the last.
            let w = first + k;
            let low = from.saturating_sub(w * 64);
            let high = (to - w * 64).min(64);
            (w, stops & u64::MAX << low & u64::MAX >> (64 - high))
        }))
    }

    /// The word `w` of the mask of `class`.
    fn word(&self, class: Class, w: usize) -> u64 {
        match class {
            Class::Host => self.classes.host[w + 1],
            Class::Ip => self.classes.ip[w + 1],
        }
    }

    /// Where the run of `class` bytes that ends just before `i` starts, no
    /// further back than `floor`.
    #[inline]
    pub(super) fn run_start(&self, class: Class, i: usize, floor: usize) -> usize {
        if i <= floor {
            return i;
        }
        let last = i - 1;
        let mut w = last / 64;
        let mut outside = !self.word(class, w) & (u64::MAX >> (63 - last % 64));
        loop {
            if outside != 0 {
                let at = w * 64 + 63 - outside.leading_zeros() as usize;
                return (at + 1).max(floor);
            }
            if w == 0 || w * 64 <= floor {
                return floor;
            }
            w -= 1;
            outside = !self.word(class, w);
        }
    }
}

/// The set bits of the words (each with its index), in order.
fn bits(words: impl Iterator<Item = (usize, u64)>) -> impl Iterator<Item = usize> {
    words.flat_map(|(w, word)| {
        let mut rest = word;
        std::iter::from_fn(move || {
            (rest != 0).then(|| {
                let i = rest.trailing_zeros() as usize;
                rest &= rest - 1;
                w * 64 + i
            })
        })
    })
}

/// The classes of up to 64 bytes, one at a time.
fn classify_bytes(bytes: &[u8]) -> Word {
    let mut w = Word::default();
    for (i, &b) in bytes.iter().enumerate() {
        let digit = b.wrapping_sub(b'0') < 10;
        let lower = (b | 0x20).wrapping_sub(b'a');
        let host = digit | (lower < 26) | (b == b'-') | (b == b'_');
        let ip = digit | (lower < 6) | (b == b'.') | (b == b':');
        w.host |= u64::from(host) << i;
        w.ip |= u64::from(ip) << i;
        w.dot |= u64::from(b == b'.') << i;
        w.digit |= u64::from(digit) << i;
        w.colon |= u64::from(b == b':') << i;
        w.slash |= u64::from(b == b'/') << i;
        w.nul |= u64::from(b == 0) << i;
    }
    w
}

/// The classes of 64 bytes, sixteen at a time in SSE2 (every x86-64 CPU
/// has it): a byte is in `lo..=hi` when `byte - lo`, wrapped, is at most
/// `hi - lo`.
#[cfg(target_arch = "x86_64")]
fn classify64(bytes: &[u8; 64]) -> Word {
    use std::arch::x86_64::*;
    let mut w = Word::default();
    for (k, part) in bytes.chunks_exact(16).enumerate() {
        // SAFETY: `part` holds 16 bytes (an unaligned load); SSE2 is part
        // of the x86-64 baseline the crate is built for.
        let [host, ip, dot, digit, colon, slash, nul] = unsafe {
            let x = _mm_loadu_si128(part.as_ptr().cast());
            let within =
                |d: __m128i, span: i8| _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(span)), d);
            let digit = within(_mm_sub_epi8(x, _mm_set1_epi8(b'0' as i8)), 9);
            let letter = _mm_sub_epi8(
                _mm_or_si128(x, _mm_set1_epi8(0x20)),
                _mm_set1_epi8(b'a' as i8),
            );
            let is = |c: u8| _mm_cmpeq_epi8(x, _mm_set1_epi8(c as i8));
            let (dot, colon) = (is(b'.'), is(b':'));
            let host = _mm_or_si128(
                _mm_or_si128(digit, within(letter, 25)),
                _mm_or_si128(is(b'-'), is(b'_')),
            );
            let ip = _mm_or_si128(
                _mm_or_si128(digit, within(letter, 5)),
                _mm_or_si128(dot, colon),
            );
            let marks = [host, ip, dot, digit, colon, is(b'/'), is(0)];
            marks.map(|m| _mm_movemask_epi8(m) as u16)
        };
        let at = 16 * k;
        w.host |= u64::from(host) << at;
        w.ip |= u64::from(ip) << at;
        w.dot |= u64::from(dot) << at;
        w.digit |= u64::from(digit) << at;
        w.colon |= u64::from(colon) << at;
        w.slash |= u64::from(slash) << at;
        w.nul |= u64::from(nul) << at;
    }
    w
}

#[cfg(not(target_arch = "x86_64"))]
fn classify64(bytes: &[u8; 64]) -> Word {
    classify_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vector classification is the byte-wise one, for every byte value
    /// at every position of a word.
    #[test]
    fn every_byte_is_classified_as_byte_by_byte() {
        // Every byte but NUL, which ends the classification (below).
        let buf: Vec<u8> = (1..=255u8)
            .chain((1..=255u8).rev())
            .chain(1..=200)
            .collect();
        let mut fast = Masks::default();
        let (mut portable, mut slow) = (Masks::default(), Masks::default());
        for start in 0..64 {
            for wanted in every_wanted() {
                assert!(fast.fill(&buf[start..], wanted));
                assert!(portable.fill_portable(&buf[start..], wanted));
                assert!(slow.fill_bytewise(&buf[start..], wanted));
                for m in [&fast, &portable] {
                    assert_eq!(m.used(), slow.used(), "from {start}");
                }
            }
        }
        // A NUL anywhere makes the buffer not text, in every classification.
        for at in 0..buf.len() {
            let mut with = buf.clone();
            with[at] = 0;
            assert!(!fast.fill(&with, Wanted::default()), "NUL at {at}");
            assert!(!portable.fill_portable(&with, Wanted::default()));
            assert!(!slow.fill_bytewise(&with, Wanted::default()));
        }
    }

    impl Masks {
        /// The masks' words that are the buffer's, with their padding.
        fn used(&self) -> Vec<&[u64]> {
            let (c, p, m) = (&self.classes, &self.places, self.padded);
            let classes = [&c.host, &c.ip, &c.dot, &c.digit, &c.colon, &c.slash];
            let classes = classes.map(|v| &v[..m + 2]);
            let places = [&p.name_ends, &p.address_ends, &p.stops].map(|v| &v[..m]);
            classes.into_iter().chain(places).collect()
        }
    }

    fn every_wanted() -> impl Iterator<Item = Wanted> {
        (0..8).map(|k| Wanted {
            colons: k & 1 != 0,
            digit_labels: k & 2 != 0,
            lone_dots: k & 4 != 0,
        })
    }

    /// Random bytes over the characters that make and break names and
    /// addresses, long runs and short ones, at every length around a
    /// word's.
    fn buffers() -> impl Iterator<Item = Vec<u8>> {
        let mut rng = 7u64;
        // Addresses and names across a word's edge, at every offset, and
        // across the edge of a block of eight words (byte 512).
        let edges = [64, 512].into_iter().flat_map(|edge| {
            (edge - 44..edge + 16).map(|at| {
                let piece = b"12.34.56 123.234.101 1.2.3.4:5 a.bc h://";
                let mut buf = vec![b' '; 600];
                buf[at..at + piece.len()].copy_from_slice(piece);
                buf
            })
        });
        // Runs longer than a word, whose sums carry through whole words
        // (and from one block of eight to the next): a label, a label of
        // digits after a letter, address runs.
        let heads: [(&[u8], u8); 4] = [
            (b"x.", b'a'),
            (b"x.a", b'9'),
            (b"1.2.3.4", b'9'),
            (b"1.2.3.4", b'f'),
        ];
        let long = heads.into_iter().flat_map(|(head, fill)| {
            [0, 300, 440, 500].map(move |pad| {
                let mut buf = vec![b' '; pad];
                buf.extend_from_slice(head);
                buf.extend(std::iter::repeat_n(fill, 300));
                buf.push(b' ');
                buf
            })
        });
        let random = [0, 1, 2, 63, 64, 65, 127, 128, 130, 300, 1000]
            .into_iter()
            .map(move |len| {
                (0..len)
                    .map(|i| {
                        rng = rng
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        let pick = (rng >> 33) as usize;
                        let alphabet = b"ab.:-_Zf9 /\x80\x01G";
                        match (i / 70) % 3 {
                            0 => b'a',
                            1 => b"a.9"[pick % 3],
                            _ => alphabet[pick % alphabet.len()],
                        }
                    })
                    .collect()
            });
        // Text with a NUL at a word's or a block's edge, or at its end:
        // the classification stops there (the masks are not read).
        let nul = [0, 63, 64, 511, 512, 699].map(|at| {
            let mut buf = b"a.bc 1.2.3.4 ".repeat(54);
            buf[at] = 0;
            buf
        });
        edges.chain(long).chain(random).chain(nul)
    }

    /// Name ends and address run ends are where the byte rules put them:
    /// a name ends after a host character whose label follows a dot
    /// joining two host characters, where no further label follows
    /// (`right_ok` for a domain), unless the label is all digits and those
    /// are not asked for; a run of address characters ends where the next
    /// byte is none, if it holds a dot between digits (with another 2 to 4
    /// bytes before it, unless lone ones are asked for), or a colon when
    /// asked; inside a run, an address may end at a colon or at a dot no
    /// digit follows; a URL's `://` is where one is.
    #[test]
    fn name_and_address_ends_follow_the_byte_rules() {
        let host = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
        let ip = |b: u8| b.is_ascii_hexdigit() || matches!(b, b'.' | b':');
        let (mut masks, mut portable) = (Masks::default(), Masks::default());
        let mut seen = [0; 5];
        for buf in buffers() {
            let at = |i: usize| buf.get(i).copied().unwrap_or(b' ');
            // The start of the run of `inside` bytes that ends at `e`.
            let start = |e: usize, inside: &dyn Fn(u8) -> bool| {
                let mut s = e;
                while s > 0 && inside(buf[s - 1]) {
                    s -= 1;
                }
                s
            };
            let text = !buf.contains(&0);
            seen[3 + usize::from(text)] += 1;
            for wanted in every_wanted() {
                assert_eq!(masks.fill(&buf, wanted), text, "NUL in {buf:?}");
                // Without AVX-512 the word-at-a-time finish does the same.
                assert_eq!(portable.fill_portable(&buf, wanted), text);
                if !text {
                    continue;
                }
                assert_eq!(portable.used(), masks.used(), "word at a time: {buf:?}");
                let ends: Vec<usize> = (1..=buf.len())
                    .filter(|&e| {
                        let s = start(e, &host);
                        let joined = s < e && s >= 2 && buf[s - 1] == b'.' && host(buf[s - 2]);
                        let more = host(at(e)) || at(e) == b'.' && host(at(e + 1));
                        let digits = buf[s..e].iter().all(u8::is_ascii_digit);
                        joined && !more && (wanted.digit_labels || !digits)
                    })
                    .collect();
                let between = |i: usize| {
                    let digit = |j: Option<usize>| j.is_some_and(|j| at(j).is_ascii_digit());
                    buf[i] == b'.' && digit(i.checked_sub(1)) && digit(Some(i + 1))
                };
                let paired = |i: usize| (2..=4).any(|k| i >= k && between(i - k));
                let anchor = |i: usize| {
                    between(i) && (wanted.lone_dots || paired(i)) || wanted.colons && buf[i] == b':'
                };
                let anchors: Vec<usize> = (1..=buf.len())
                    .filter(|&e| ip(buf[e - 1]) && !ip(at(e)))
                    .filter(|&e| (start(e, &ip)..e).any(anchor))
                    .collect();
                let set = |word: u64, w: usize| {
                    (0..64)
                        .filter(move |i| word >> i & 1 != 0)
                        .map(move |i| w * 64 + i)
                };
                let names = masks.ends().flat_map(|e| set(e.names, e.word));
                let addresses = masks.ends().flat_map(|e| set(e.addresses, e.word));
                let schemes = masks.ends().flat_map(|e| set(e.schemes, e.word));
                assert_eq!(names.collect::<Vec<_>>(), ends, "{buf:?}");
                assert_eq!(addresses.collect::<Vec<_>>(), anchors, "{buf:?}");
                let urls: Vec<usize> = memchr::memmem::find_iter(&buf, b"://").collect();
                assert_eq!(schemes.collect::<Vec<_>>(), urls, "{buf:?}");
                let stop =
                    |p: usize| buf[p] == b':' || buf[p] == b'.' && !at(p + 1).is_ascii_digit();
                let len = buf.len();
                for (from, to) in [(0, len), (1, len), (len / 3, len / 2), (63, 130), (64, 64)] {
                    let (from, to) = (from.min(len), to.min(len));
                    let want: Vec<usize> = (from..to).filter(|&p| stop(p)).collect();
                    let got: Vec<usize> = masks.stops(from, to).collect();
                    assert_eq!(got, want, "stops in {from}..{to} of {buf:?}");
                }
                seen[0] += ends.len();
                seen[1] += anchors.len();
                seen[2] += urls.len();
            }
        }
        assert!(
            seen[..3].iter().all(|&n| n > 50) && seen[3] > 0 && seen[4] > 0,
            "the buffers hold each, and some a NUL: {seen:?}"
        );
    }

    /// The bit scan gives what a byte loop gives, at every position and
    /// floor, across word boundaries and at the buffer's ends.
    #[test]
    fn bit_scans_agree_with_byte_loops() {
        let host = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_');
        let ip = |b: u8| b.is_ascii_hexdigit() || matches!(b, b'.' | b':');
        let mut masks = Masks::default();
        for buf in buffers() {
            let len = buf.len();
            if !masks.fill(&buf, Wanted::default()) {
                continue;
            }
            for (class, inside) in [
                (Class::Host, &host as &dyn Fn(u8) -> bool),
                (Class::Ip, &ip),
            ] {
                for i in 0..=len {
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
