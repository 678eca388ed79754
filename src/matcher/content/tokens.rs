//! `Equals` literals found by looking up the tokens their boundaries cut,
//! not through the automaton.
//!
//! An address, host name or URL that must match whole can only sit between
//! the boundaries its type sets (see `left_ok`/`right_ok` in the parent): a
//! host name starts after a non-host character (a dot too: subdomains
//! match) and ends before one, an address fills a run of address
//! characters, a URL starts at its scheme. In a run of text the places
//! where such a value can start and end are few, and each candidate is one
//! hash lookup whatever the number of IOCs: the cost no longer grows with
//! the bundle (an automaton over 100,000 literals is a slow NFA of hundreds
//! of megabytes) and a text full of dotted names costs a lookup per name,
//! not a walk of the automaton. The candidates are a superset of the
//! matches; the parent's boundary check decides each, as it does the
//! automaton's.

use super::classes::{Anchors, Class as Bytes, Masks, Wanted};
use super::texts::TextSet;
use super::{Kind, is_host_char, is_ip_char, right_ok, run_around};

/// URL schemes up to which a URL's scheme is compared with each before its
/// characters are read (past them, every URL is read).
const SCHEMES: usize = 8;

/// The lookup a literal belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Class {
    Ip,
    Domain,
    Url,
}

/// The lookup for a literal of `kind` whose every IOC asks `Equals`, or
/// `None` to leave it to the automaton: it must be ASCII and hold a `.` or
/// `:` (runs are found around those), a host name must be labels joined by
/// single dots, and a URL must start with its scheme (its start is found
/// back from `://`).
pub(super) fn class_of(kind: Kind, text: &str) -> Option<Class> {
    // Byte loops: run once per literal, 100,000 times for a large bundle
    // (`str` searches for a `char` set, and a `memmem` searcher built per
    // call, made this most of the set's build).
    let t = text.as_bytes();
    if !text.is_ascii() || t.len() < 2 || !t.iter().any(|&c| c == b'.' || c == b':') {
        return None;
    }
    match kind {
        Kind::Ip4 | Kind::Ip6 if t.iter().all(|&c| is_ip_char(c)) => Some(Class::Ip),
        // Labels joined by single dots: a name in text is looked up from
        // its label starts to its end, where no label follows.
        Kind::Domain
            if t.iter().all(|&c| c == b'.' || is_host_char(c))
                && t[0] != b'.'
                && t[t.len() - 1] != b'.'
                && !t.windows(2).any(|w| w == b"..") =>
        {
            Some(Class::Domain)
        }
        Kind::Ip4 | Kind::Ip6 | Kind::Domain => None,
        Kind::Url => scheme_len(t).map(|_| Class::Url),
    }
}

/// Length of the scheme before the first `://`, when it is one.
fn scheme_len(t: &[u8]) -> Option<usize> {
    let k = t.windows(3).position(|w| w == b"://")?;
    (k > 0 && t[..k].iter().all(|&c| is_scheme_char(c))).then_some(k)
}

fn is_scheme_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')
}

/// The literals of one class by their lower-case text.
#[derive(Default)]
struct Table {
    texts: TextSet,
    /// Each text's literal number.
    literals: Vec<u32>,
    /// Characters the literals are made of, either case.
    alpha: Vec<bool>,
    /// One bit per [`key`] some literal has: most candidates in text are
    /// turned away by one load, without hashing or lower-casing them.
    filter: Vec<u64>,
    /// Host names: one bit per [`key`] of a literal's last two labels,
    /// which every name holding it as a suffix ends with. A name whose
    /// tail has no bit is turned away whole, not probed at each label
    /// (`www4.site6132.example.net`: one probe, not four).
    tails: Vec<u64>,
    /// Host names: one bit per hash of a literal's last [`Table::end_len`]
    /// bytes, folded (see [`Table::end_hash`]). A name in text that ends
    /// no literal is most often turned away by one load and one multiply,
    /// before its labels are found.
    ends: Vec<u64>,
    /// The shortest literal's length, at most 8 (0 until indexed).
    end_len: usize,
    min: usize,
    max: usize,
}

/// 16 bits of a candidate's length and its first and last two characters,
/// either case.
fn key(t: &[u8]) -> usize {
    let n = t.len();
    let w = u32::from_le_bytes([t[0], t[1], t[n - 2], t[n - 1]]) | 0x2020_2020;
    let h = (w ^ (n as u32).wrapping_mul(0x9e37_79b9)).wrapping_mul(0x85eb_ca6b);
    (h >> 16) as usize
}

/// A host name's last two labels (the name itself when it has one dot).
fn tail(name: &[u8]) -> &[u8] {
    let mut dots = memchr::memrchr_iter(b'.', name);
    match (dots.next(), dots.next()) {
        (Some(_), Some(d)) => &name[d + 1..],
        _ => name,
    }
}

impl Table {
    fn add_tail(&mut self, text: &str) {
        if self.tails.is_empty() {
            self.tails = vec![0; 1 << 10];
        }
        let k = key(tail(text.as_bytes()));
        self.tails[k / 64] |= 1 << (k % 64);
    }

    /// Whether a literal may end a name whose last two labels are `t`.
    fn may_end(&self, t: &[u8]) -> bool {
        if t.len() < 2 {
            return true;
        }
        let k = key(t);
        self.tails
            .get(k / 64)
            .is_none_or(|w| w & 1 << (k % 64) != 0)
    }

    /// Indexes the literals' last bytes (once every literal is added).
    fn index_ends(&mut self) {
        self.end_len = self.min.min(8);
        self.ends = vec![0; 1 << 10];
        for e in 0..self.texts.len() {
            let k = self.end_key(self.texts.get(e).as_bytes());
            self.ends[k / 64] |= 1 << (k % 64);
        }
    }

    /// A literal's last bytes as [`Table::may_end_at`] reads them in text:
    /// the literal placed at the end of a zeroed word (what lies before it
    /// in text is shifted out).
    fn end_key(&self, literal: &[u8]) -> usize {
        let mut word = [0u8; 8];
        let kept = literal.len().min(8);
        word[8 - kept..].copy_from_slice(&literal[literal.len() - kept..]);
        self.end_hash(u64::from_le_bytes(word))
    }

    /// The 8 bytes before `end` in text (one load), folded as both cases
    /// and every host character fold alike, their last
    /// [`Table::end_len`] kept, hashed to 16 bits.
    fn end_hash(&self, word: u64) -> usize {
        let kept = (word | 0x2020_2020_2020_2020) >> (64 - 8 * self.end_len);
        (kept.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as usize
    }

    /// Whether a literal may end at `end` in `buf` (`true` when the bytes
    /// before it are too few to tell).
    fn may_end_at(&self, buf: &[u8], end: usize) -> bool {
        let Some(&word) = end
            .checked_sub(8)
            .and_then(|from| buf.get(from..end))
            .and_then(|b| b.as_array::<8>())
        else {
            return true;
        };
        if self.end_len == 0 {
            return true;
        }
        let k = self.end_hash(u64::from_le_bytes(word));
        self.ends[k / 64] & 1 << (k % 64) != 0
    }

    fn add(&mut self, text: &str, literal: u32) {
        let t = text.as_bytes();
        if self.alpha.is_empty() {
            self.alpha = vec![false; 256];
            self.filter = vec![0; 1 << 10];
            self.min = usize::MAX;
        }
        for &c in t {
            self.alpha[usize::from(c.to_ascii_lowercase())] = true;
            self.alpha[usize::from(c.to_ascii_uppercase())] = true;
        }
        let k = key(t);
        self.filter[k / 64] |= 1 << (k % 64);
        self.min = self.min.min(t.len());
        self.max = self.max.max(t.len());
        // Literals come deduplicated: each text is new.
        self.texts.insert(text);
        self.literals.push(literal);
    }

    fn is_empty(&self) -> bool {
        self.literals.is_empty()
    }

    /// The literal `t` is, in any case (`lower` is room to lower-case it).
    fn get(&self, t: &[u8], lower: &mut Vec<u8>) -> Option<u32> {
        // An empty table's bounds are 0: `key` reads two bytes at each end.
        if t.len() < self.min.max(2) || t.len() > self.max {
            return None;
        }
        let k = key(t);
        if self.filter[k / 64] & 1 << (k % 64) == 0 {
            return None;
        }
        lower.clear();
        lower.extend(t.iter().map(u8::to_ascii_lowercase));
        let i = self.texts.find(lower)?;
        Some(self.literals[i as usize])
    }
}

/// The literals looked up by token.
#[derive(Default)]
pub(super) struct Tokens {
    ip: Table,
    domain: Table,
    url: Table,
    /// The URL literals' schemes (lower case), while they are few: a URL
    /// in text of another scheme (`https` for literals of `http`) is
    /// turned away before its characters are read.
    url_schemes: Vec<Box<[u8]>>,
    /// Characters of any literal, either case: the runs searched.
    token: Vec<bool>,
    /// What the masks of text must mark for these literals.
    wanted: Wanted,
    /// The searcher for `://` in binary data (text's are marked by its
    /// masks), built with the first URL literal: building one per buffer
    /// cost 5% of a scan of text with 33,333 URL IOCs.
    schemes: Option<memchr::memmem::Finder<'static>>,
}

/// Room the search reuses from one run to the next.
#[derive(Default)]
pub(super) struct Scratch {
    /// A UTF-16 run's characters.
    chars: Vec<u8>,
    /// A candidate in lower case.
    lower: Vec<u8>,
    /// Where candidates may start, in the segment being read.
    starts: Vec<usize>,
    /// The classes of a text buffer's bytes.
    masks: Masks,
}

/// One run of text: ASCII characters in any case, and the characters just
/// before and after it (`None` past the view's ends; non-ASCII as `0x80`).
struct Run<'r> {
    chars: &'r [u8],
    before: Option<u8>,
    after: [Option<u8>; 2],
}

impl Run<'_> {
    /// The character at `i`: in the run, or one of the two after it.
    fn at(&self, i: usize) -> Option<u8> {
        match i.checked_sub(self.chars.len()) {
            None => Some(self.chars[i]),
            Some(k) => self.after.get(k).copied().flatten(),
        }
    }

    fn prev(&self, s: usize) -> Option<u8> {
        if s == 0 {
            self.before
        } else {
            Some(self.chars[s - 1])
        }
    }
}

impl Tokens {
    pub(super) fn add(&mut self, class: Class, text: &str, literal: u32) {
        match class {
            Class::Ip => {
                self.ip.add(text, literal);
                let t = text.as_bytes();
                let digit = |i: usize| t.get(i).is_some_and(u8::is_ascii_digit);
                let mut dots =
                    (1..t.len()).filter(|&i| t[i] == b'.' && digit(i - 1) && digit(i + 1));
                let mut last = dots.next();
                let paired = dots.any(|d| {
                    let near = last.is_some_and(|l| d - l <= 4);
                    last = Some(d);
                    near
                });
                let colon = text.contains(':');
                self.wanted.colons |= colon;
                self.wanted.lone_dots |= !colon && !paired;
            }
            Class::Domain => {
                let last = text.rsplit('.').next().unwrap_or(text);
                self.wanted.digit_labels |= last.bytes().all(|c| c.is_ascii_digit());
                self.domain.add(text, literal);
                self.domain.add_tail(text);
            }
            Class::Url => {
                self.url.add(text, literal);
                let scheme = &text.as_bytes()[..scheme_len(text.as_bytes()).unwrap_or(0)];
                if !self.url_schemes.iter().any(|s| **s == *scheme) {
                    self.url_schemes.push(scheme.into());
                }
                self.schemes
                    .get_or_insert_with(|| memchr::memmem::Finder::new(b"://"));
            }
        }
        if self.token.is_empty() {
            self.token = vec![false; 256];
        }
        for c in text.bytes() {
            self.token[usize::from(c.to_ascii_lowercase())] = true;
            self.token[usize::from(c.to_ascii_uppercase())] = true;
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.token.is_empty()
    }

    /// Once every literal is added: indexes the last bytes of host names
    /// (without it every name's labels are read, as if each could end a
    /// literal).
    pub(super) fn index(&mut self) {
        if !self.domain.is_empty() {
            self.domain.index_ends();
        }
    }

    /// Bytes of the longest literal in UTF-16.
    pub(super) fn max_bytes(&self) -> usize {
        2 * [&self.ip, &self.domain, &self.url]
            .iter()
            .map(|t| t.max)
            .max()
            .unwrap_or(0)
    }

    /// Every candidate in `buf`, as ASCII and as UTF-16LE: (pattern, start,
    /// end) into `out`, pattern `2 * literal + 1` for ASCII and `2 *
    /// literal` for UTF-16, as the automaton numbers them. Every literal
    /// holds a `.` or `:`, so only what lies around one is looked at.
    /// `text`: the file has shown no NUL so far, and its dots are many, in
    /// long runs: its bytes are classified once
    /// ([`Tokens::find_in_text`]), and if `buf` holds no NUL (then no
    /// UTF-16 of ASCII characters either) the lookup reads the masks;
    /// other bytes are read around each anchor ([`Tokens::find_in_bytes`]).
    /// Returns whether `buf` was read as text (`text` when nothing was
    /// looked up).
    pub(super) fn find(
        &self,
        buf: &[u8],
        text: bool,
        scratch: &mut Scratch,
        out: &mut Vec<(usize, usize, usize)>,
    ) -> bool {
        if self.is_empty() {
            return text;
        }
        if text && self.find_in_text(buf, scratch, out) {
            return true;
        }
        if let Some(schemes) = &self.schemes {
            for at in schemes.find_iter(buf) {
                self.url_at(buf, at, &mut scratch.lower, out);
            }
        }
        self.find_in_bytes(buf, scratch, out);
        false
    }

    /// Host names, addresses and URLs in text, from its bit masks: each
    /// name of two labels or more once, at its end
    /// ([`Tokens::name_ending`]), each run of address characters that
    /// holds an anchor (see `classes::Wanted`), from its start, and each
    /// `://` ([`Tokens::url_at`]); unless `buf` holds a NUL (`false`).
    fn find_in_text(
        &self,
        buf: &[u8],
        scratch: &mut Scratch,
        out: &mut Vec<(usize, usize, usize)>,
    ) -> bool {
        let mut masks = std::mem::take(&mut scratch.masks);
        if !masks.fill(buf, self.wanted) {
            scratch.masks = masks;
            return false;
        }
        let (min, max) = (self.ip.min, self.ip.max);
        // Ends of the kinds some literal is of.
        let kinds = |table: &Table| if table.is_empty() { 0 } else { u64::MAX };
        let (name_kind, address_kind) = (kinds(&self.domain), kinds(&self.ip));
        let url_kind = kinds(&self.url);
        // One pass over the words: most hold no end of any kind.
        for ends in masks.ends() {
            let w = ends.word;
            let (mut names, mut addresses) =
                (ends.names & name_kind, ends.addresses & address_kind);
            let mut schemes = ends.schemes & url_kind;
            while schemes != 0 {
                let at = w * 64 + schemes.trailing_zeros() as usize;
                schemes &= schemes - 1;
                self.url_at(buf, at, &mut scratch.lower, out);
            }
            while names != 0 {
                let end = w * 64 + names.trailing_zeros() as usize;
                names &= names - 1;
                self.name_ending(buf, end, &masks, &mut scratch.lower, out);
            }
            while addresses != 0 {
                let to = w * 64 + addresses.trailing_zeros() as usize;
                addresses &= addresses - 1;
                let from = masks.run_start(Bytes::Ip, to, 0);
                if to - from < min {
                    continue;
                }
                // Inside the run, where the masks allow; at its end, where
                // nothing of an address follows, always.
                let inside = masks.stops(from + min, to.min(from + max + 1));
                let end = (to - from <= max).then_some(to);
                self.addresses_ending(buf, from, inside.chain(end), &mut scratch.lower, out);
            }
        }
        scratch.masks = masks;
        true
    }

    /// Host names and addresses in bytes that may hold UTF-16, around each
    /// `.` and `:`: in ASCII by [`Tokens::name_at`] and
    /// [`Tokens::addresses_in`] (the run of address characters around
    /// the anchor), in UTF-16 (rarer, decoded first) every
    /// class in the run.
    fn find_in_bytes(
        &self,
        buf: &[u8],
        scratch: &mut Scratch,
        out: &mut Vec<(usize, usize, usize)>,
    ) {
        let tok = |b: u8| self.token[usize::from(b)];
        let (mut names, mut addresses) = (0, 0);
        // Per byte parity: a UTF-16 string may start at any offset.
        let mut covered16 = [0usize; 2];
        let mut chars = std::mem::take(&mut scratch.chars);
        // An anchor no literal holds is in no match (each match holds one
        // of its own), so it is not visited: a log's `:`s (times, schemes)
        // when no literal has one. Read from such an anchor, a UTF-16 name
        // before it (`host:8080`) was read a second time and its matches
        // counted twice. Nor is one that joins nothing (see `Anchors`).
        let (dot, colon) = (tok(b'.'), tok(b':'));
        let anchors = Anchors {
            dot: dot || !colon,
            colon: colon || !dot,
        };
        anchors.for_each(buf, |at| {
            if buf[at] == b'.' && at >= names && !self.domain.is_empty() {
                names = self.name_at(buf, at, names, scratch, out);
            }
            // A dot in an address has a digit on each side; one that has
            // not (`www.example`) leaves the run to an anchor that has.
            let digits =
                |i: Option<usize>| i.and_then(|i| buf.get(i)).is_some_and(u8::is_ascii_digit);
            let in_address = buf[at] == b':' || digits(at.checked_sub(1)) && digits(Some(at + 1));
            if at >= addresses && in_address && !self.ip.is_empty() {
                let from;
                (from, addresses) = run_around(buf, at, addresses, is_ip_char);
                self.addresses_in(buf, from, addresses, &mut scratch.lower, out);
            }
            if buf.get(at + 1) != Some(&0) || at < covered16[at % 2] {
                return;
            }
            let unit = |i: usize| match buf.get(i..i + 2) {
                Some(&[lo, 0]) => Some(lo),
                _ => None,
            };
            let mut from = at;
            while from >= 2 && unit(from - 2).is_some_and(tok) {
                from -= 2;
            }
            let mut to = at + 2;
            while unit(to).is_some_and(tok) {
                to += 2;
            }
            covered16[at % 2] = to;
            chars.clear();
            chars.extend(buf[from..to].iter().step_by(2));
            let wide = |i: Option<usize>| i.and_then(|i| super::char_at(buf, Some(i), 2));
            let run = Run {
                chars: &chars,
                before: wide(from.checked_sub(2)),
                after: [wide(Some(to)), wide(Some(to + 2))],
            };
            self.candidates(&run, scratch, |lit, s, e| {
                out.push((2 * lit, from + 2 * s, from + 2 * e))
            });
        });
        scratch.chars = chars;
    }

    /// The URLs in ASCII whose `://` is at `at` (every literal holds one):
    /// from the scheme's start, each end a literal's lengths allow where
    /// the boundary rule allows one. Each `://` is visited once, whatever
    /// surrounds it.
    fn url_at(
        &self,
        buf: &[u8],
        at: usize,
        lower: &mut Vec<u8>,
        out: &mut Vec<(usize, usize, usize)>,
    ) {
        let table = &self.url;
        // Back over the scheme: a literal starts there (where one is, its
        // left boundary, which takes no scheme character, holds).
        let mut s = at;
        while s > 0 && at - s < table.max && is_scheme_char(buf[s - 1]) {
            s -= 1;
        }
        let scheme = &buf[s..at];
        let schemes = &self.url_schemes;
        let known = || schemes.iter().any(|k| k.eq_ignore_ascii_case(scheme));
        if s == at || schemes.len() <= SCHEMES && !known() {
            return;
        }
        let byte = |i: usize| buf.get(i).map(|&b| ascii(b));
        // Up to the first character no literal has (most often within the
        // scheme: `https` for literals of `http`).
        for e in s + 1..=buf.len().min(s + table.max) {
            if !table.alpha[usize::from(buf[e - 1])] {
                break;
            }
            if e - s >= table.min
                && right_ok(Kind::Url, byte(e), byte(e + 1))
                && let Some(lit) = table.get(&buf[s..e], lower)
            {
                out.push((2 * lit as usize + 1, s, e));
            }
        }
    }

    /// The host name of two labels or more that ends at `end` in
    /// classified text: once its last bytes and its last two labels pass
    /// the filters, its suffixes from each label start (of two labels or
    /// more: every literal holds a dot) are looked up, back to the name's
    /// start or to the longest literal.
    fn name_ending(
        &self,
        buf: &[u8],
        end: usize,
        masks: &Masks,
        lower: &mut Vec<u8>,
        out: &mut Vec<(usize, usize, usize)>,
    ) {
        let table = &self.domain;
        // A start at `floor` may be further back: longer than any literal.
        let floor = end.saturating_sub(table.max + 1);
        let label = |dot: usize| masks.run_start(Bytes::Host, dot, floor);
        // The last label follows a dot joining it to another (see
        // `classes::Word::finish`).
        if !table.may_end_at(buf, end) {
            return;
        }
        let mut start = label(label(end).saturating_sub(1));
        if end - start > table.max || !table.may_end(&buf[start..end]) {
            return;
        }
        loop {
            if let Some(lit) = table.get(&buf[start..end], lower) {
                out.push((2 * lit as usize + 1, start, end));
            }
            let joined = start >= 2 && buf[start - 1] == b'.' && is_host_char(buf[start - 2]);
            if !joined {
                return;
            }
            start = label(start - 1);
            if end - start > table.max {
                return;
            }
        }
    }

    /// A host name in ASCII, from its first dot (`dot`, at or past
    /// `covered`, where the last name ended): it has one end, where no
    /// label follows, and a start at each label; every suffix is one
    /// probe. Returns where it ends.
    fn name_at(
        &self,
        buf: &[u8],
        dot: usize,
        covered: usize,
        scratch: &mut Scratch,
        out: &mut Vec<(usize, usize, usize)>,
    ) -> usize {
        let host = |i: usize| buf.get(i).is_some_and(|&c| is_host_char(c));
        let starts = &mut scratch.starts;
        let mut from = dot;
        while from > covered && host(from - 1) {
            from -= 1;
        }
        starts.clear();
        starts.push(from);
        // `to` is at a dot: the name goes on while a label follows.
        let mut to = dot;
        while host(to + 1) {
            starts.push(to + 1);
            to += 1;
            while host(to) {
                to += 1;
            }
            if buf.get(to) != Some(&b'.') {
                break;
            }
        }
        // Every literal holds a dot: a suffix that matches holds the last
        // two labels (from the second-to-last start).
        if let [.., second, _] = starts[..]
            && !self.domain.may_end(&buf[second..to])
        {
            return to.max(dot + 1);
        }
        for &s in starts.iter() {
            if to > s
                && let Some(lit) = self.domain.get(&buf[s..to], &mut scratch.lower)
            {
                out.push((2 * lit as usize + 1, s, to));
            }
        }
        to.max(dot + 1)
    }

    /// The addresses in an ASCII run of address characters (`from..to`,
    /// where one may start) found by reading its bytes: one may end at the
    /// run's end or at a `.` or `:` the boundary rule allows (`10.0.0.5.`
    /// ends before the last dot).
    fn addresses_in(
        &self,
        buf: &[u8],
        from: usize,
        to: usize,
        lower: &mut Vec<u8>,
        out: &mut Vec<(usize, usize, usize)>,
    ) {
        let at = |i: usize| buf.get(i).map(|&b| ascii(b));
        let ends = (from + self.ip.min..=to.min(from + self.ip.max)).filter(|&e| {
            (e == to || matches!(buf[e], b'.' | b':')) && right_ok(Kind::Ip4, at(e), at(e + 1))
        });
        self.addresses_ending(buf, from, ends, lower, out);
    }

    /// The addresses from `from` to each of `ends`.
    fn addresses_ending(
        &self,
        buf: &[u8],
        from: usize,
        ends: impl Iterator<Item = usize>,
        lower: &mut Vec<u8>,
        out: &mut Vec<(usize, usize, usize)>,
    ) {
        for e in ends {
            if let Some(lit) = self.ip.get(&buf[from..e], lower) {
                out.push((2 * lit as usize + 1, from, e));
            }
        }
    }

    /// The (literal, start, end) in a run's characters that some table
    /// holds and whose boundaries could be right.
    fn candidates(
        &self,
        run: &Run,
        scratch: &mut Scratch,
        mut hit: impl FnMut(usize, usize, usize),
    ) {
        if !self.ip.is_empty() {
            // The Ip4 rule on the right is the looser of the two.
            let left = |p: Option<u8>| {
                p.is_none_or(|c| !(c.is_ascii_hexdigit() || matches!(c, b'.' | b':')))
            };
            self.ip.scan(run, scratch, left, Kind::Ip4, &mut hit);
        }
        if !self.domain.is_empty() {
            let left = |p: Option<u8>| p.is_none_or(|c| !is_host_char(c));
            self.domain.scan(run, scratch, left, Kind::Domain, &mut hit);
        }
        if !self.url.is_empty() {
            let n = run.chars.len();
            // A run is short (a line's URL): a searcher for `://` would
            // cost more to build than the search.
            let schemes = memchr::memchr_iter(b':', run.chars)
                .filter(|&k| run.chars[k..].starts_with(b"://"));
            for k in schemes {
                let mut s = k;
                while s > 0 && is_scheme_char(run.chars[s - 1]) {
                    s -= 1;
                }
                if s == k {
                    continue;
                }
                for e in s + 1..=n.min(s + self.url.max) {
                    if !self.url.alpha[usize::from(run.chars[e - 1])] {
                        break;
                    }
                    if right_ok(Kind::Url, run.at(e), run.at(e + 1))
                        && let Some(lit) = self.url.get(&run.chars[s..e], &mut scratch.lower)
                    {
                        hit(lit as usize, s, e);
                    }
                }
            }
        }
    }
}

impl Table {
    /// One pass over a run: where `left` allows a start, it is kept (while
    /// the characters since are the table's); where `right` allows an
    /// end, the spans from the kept starts are looked up.
    fn scan(
        &self,
        run: &Run,
        scratch: &mut Scratch,
        left: impl Fn(Option<u8>) -> bool,
        right: Kind,
        hit: &mut impl FnMut(usize, usize, usize),
    ) {
        let n = run.chars.len();
        let starts = &mut scratch.starts;
        starts.clear();
        let mut first = 0;
        for e in 0..=n {
            if first < starts.len() && right_ok(right, run.at(e), run.at(e + 1)) {
                for &s in &starts[first..] {
                    if e - s < self.min {
                        break;
                    }
                    if let Some(lit) = self.get(&run.chars[s..e], &mut scratch.lower) {
                        hit(lit as usize, s, e);
                    }
                }
            }
            if e == n {
                break;
            }
            if !self.alpha[usize::from(run.chars[e])] {
                starts.clear();
                first = 0;
                continue;
            }
            if left(run.prev(e)) {
                starts.push(e);
            }
            while first < starts.len() && e + 1 - starts[first] > self.max {
                first += 1;
            }
        }
    }
}

/// A byte as the boundary checks read it: non-ASCII as `0x80`.
fn ascii(b: u8) -> u8 {
    if b.is_ascii() { b } else { 0x80 }
}
