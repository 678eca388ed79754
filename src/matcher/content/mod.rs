//! Network IOCs inside file bytes (`--content`): the bundle's addresses,
//! host names and URLs searched in the bytes a file is hashed from, as
//! ASCII/UTF-8 and as UTF-16LE, in one pass: those that must match whole
//! (`Equals`) looked up by token ([`tokens`]), the others by one
//! Aho-Corasick automaton.
//!
//! Bytes arrive in chunks cut anywhere, so each match is decided once, in
//! the first chunk that holds its right context: a match whose context
//! reaches into the previous chunk is decided on a small seam (the last
//! [`ContentSet::window`] bytes before the chunk and as many after its
//! start); the rest in place. Nothing is copied but the seam, and memory
//! is that seam whatever the file's size.
//!
//! A literal is found only on the boundaries of its type, the same as
//! inside record strings: an address not inside a longer run of address
//! characters (`192.168.1.100` never matches `192.168.1.1`), a host name
//! on label boundaries (subdomains match `Equals`), a URL not followed by
//! more of a URL. Regex IOCs and address ranges have no literal: they are
//! counted ([`ContentSet::unsearched`]), not searched.

use std::collections::HashMap;
use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};
use serde::{Deserialize, Serialize};

use crate::bundle::value::{Cidr, normalize_domain};
use crate::bundle::{Bundle, DetectionFunction, IocIdx, IocType};

use super::record::normalize_url;

mod classes;
mod texts;
mod tokens;

/// Bytes on each side of a match that its evidence is made of: the
/// boundary checks (two characters), the whole host name of a subdomain
/// and the excerpt. A match is decided only once all of them are at hand
/// (or the file ends), so the evidence does not depend on how the bytes
/// were cut into chunks.
const CTX: usize = 40;

/// Bytes before a match that its evidence may need: a subdomain is shown
/// whole (up to [`CTX`] bytes further left, see [`host_start`]), and its
/// excerpt starts [`CTX`] bytes before that.
const LEFT: usize = 2 * CTX;

/// A chunk is searched whole once this many runs were searched and they
/// held more than 1/[`DENSE_SHARE`] of the bytes so far (text; random and
/// binary data hold few runs as long as a literal).
const DENSE_AFTER_RUNS: usize = 16;
const DENSE_SHARE: usize = 4;

/// Bytes that make [`ContentStream::feed`] panic in debug builds (tests).
#[cfg(debug_assertions)]
pub const FAULT_MARKER: &[u8] = b"breachscan-test-fault:content-feed";

/// Patterns up to which the automaton is a DFA (fastest per byte; past
/// some thousands of literals its tables grow large).
const DFA_PATTERNS: usize = 20_000;

/// Where in a file a network IOC was found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContentHit {
    /// Byte offset of the first occurrence from the start of the file.
    pub offset: u64,
    /// `ascii` (ASCII or UTF-8) or `utf-16le`.
    pub encoding: String,
    /// The bytes around the first occurrence, non-printable ones escaped
    /// (`\xNN`, `\uNNNN`).
    pub excerpt: String,
    /// Occurrences of this IOC in the file (each on its boundaries).
    pub occurrences: u64,
}

/// What kind of value a literal is, for its boundaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Ip4,
    Ip6,
    Domain,
    Url,
}

/// One IOC behind a literal, with the boundaries its function asks.
#[derive(Debug, Clone)]
struct Target {
    ioc: IocIdx,
    kind: Kind,
    left: bool,
    right: bool,
    /// For `Equals` URLs: the normalised URL (its path compares exactly).
    url: Option<String>,
}

/// The compiled literals; empty when the bundle has no network IOC.
#[derive(Default)]
pub struct ContentSet {
    /// The bytes of the literals the automaton searches, by its pattern
    /// index, and the pattern each stands for (see [`Literal`]).
    encoded: Vec<Vec<u8>>,
    patterns: Vec<usize>,
    /// The `Equals` literals, looked up by token instead.
    tokens: tokens::Tokens,
    /// The automaton over them (lower-cased bytes), built by the first
    /// file that is searched: a scan of event logs alone never needs it,
    /// and a DFA over thousands of literals takes a fifth of a second.
    ac: OnceLock<Option<AhoCorasick>>,
    /// The automaton over only the patterns without a NUL byte (the UTF-8
    /// ones, as a rule), for text that holds none: no other pattern can
    /// be in it, and half the patterns make half the tables (12 MB less to
    /// walk for signature-base's C2 list). Built on first use, as `ac`.
    nul_free: OnceLock<Option<AhoCorasick>>,
    /// Its pattern indices in `encoded`.
    nul_free_patterns: Vec<usize>,
    /// The literals in lower case, as a decoded match must read; the
    /// automaton holds literal `i` twice: pattern `2i` in UTF-16LE, `2i +
    /// 1` in ASCII/UTF-8.
    texts: texts::TextSet,
    /// The IOCs behind the literals, each literal's together, and where
    /// each literal's are.
    targets: Vec<Target>,
    ranges: Vec<std::ops::Range<u32>>,
    max_len: usize,
    /// The shortest of the automaton's patterns.
    min_len: usize,
    /// The bytes the automaton's literals are made of, either case (see
    /// [`ContentSet::find`]).
    literal_byte: Vec<bool>,
    /// Whether every literal of the automaton holds a `.` or `:` (then only
    /// runs of literal bytes around one are searched).
    anchored: bool,
    /// IOCs searched, and network IOCs with nothing to search.
    searched: usize,
    unsearched: usize,
}

impl ContentSet {
    pub fn new(bundle: &Bundle) -> Result<ContentSet, String> {
        ContentSet::build(bundle, None)
    }

    /// `by_token` forbids the token lookup (the tests compare the two);
    /// by default every literal that has one is looked up by token. With
    /// text classified by bit masks (`classes`) the lookup costs less than
    /// the DFA's walk on proxy logs (signature-base's C2 list over 512 MiB,
    /// interleaved: 2,118 → 1,945 ms of CPU for the scan, 1,043 without
    /// content) and needs no DFA built for random data; past
    /// [`DFA_PATTERNS`] the automaton is a slow NFA of hundreds of
    /// megabytes.
    pub(crate) fn build(bundle: &Bundle, by_token: Option<bool>) -> Result<ContentSet, String> {
        // Each literal is interned as it is made (its text still in cache)
        // with the lookup class its IOC allows, then the IOCs are grouped
        // by literal: with 100,000 network IOCs, half the CPU of a map of
        // lists keyed by the texts.
        let mut texts = texts::TextSet::default();
        // Per literal: the class every IOC behind it allows so far (`None`
        // once two differ or one allows none).
        let mut classes: Vec<Option<tokens::Class>> = Vec::new();
        let mut found: Vec<(u32, Target)> = Vec::new();
        let (mut searched, mut unsearched) = (0, 0);
        let by_token = by_token.unwrap_or(true);
        for (ioc, i) in bundle.active_iocs() {
            let (left, right) = match i.function {
                DetectionFunction::Equals => (true, true),
                DetectionFunction::StartWith => (true, false),
                DetectionFunction::EndWith => (false, true),
                DetectionFunction::Contains => (false, false),
                DetectionFunction::Regex => {
                    unsearched += usize::from(is_network(i.kind));
                    continue;
                }
            };
            let v = i.value.trim();
            let before = found.len();
            let mut add = |literal: String, kind, url| {
                if literal.is_empty() {
                    return;
                }
                let class = (left && right && by_token)
                    .then(|| tokens::class_of(kind, &literal))
                    .flatten();
                let (n, new) = texts.insert(&literal);
                if new {
                    classes.push(class);
                } else if classes[n as usize] != class {
                    classes[n as usize] = None;
                }
                let t = Target {
                    ioc,
                    kind,
                    left,
                    right,
                    url,
                };
                found.push((n, t));
            };
            match i.kind {
                IocType::IpAddress if i.function == DetectionFunction::Equals => {
                    let Ok(c) = Cidr::parse(v) else { continue };
                    if c.prefix < if c.addr.is_ipv4() { 32 } else { 128 } {
                        unsearched += 1;
                        continue;
                    }
                    let kind = if c.addr.is_ipv4() {
                        Kind::Ip4
                    } else {
                        Kind::Ip6
                    };
                    // The IOC as written and the address's usual spelling.
                    let written = v.trim_start_matches('[').trim_end_matches(']');
                    let written = written.to_ascii_lowercase();
                    let canonical = c.addr.to_string();
                    if written != canonical {
                        add(written, kind, None);
                    }
                    add(canonical, kind, None);
                }
                IocType::IpAddress => {
                    let kind = if v.contains(':') {
                        Kind::Ip6
                    } else {
                        Kind::Ip4
                    };
                    add(v.to_ascii_lowercase(), kind, None);
                }
                IocType::DomainName => {
                    let d = normalize_domain(v).unwrap_or_else(|_| v.to_lowercase());
                    add(d, Kind::Domain, None);
                }
                IocType::Url => {
                    let url = (i.function == DetectionFunction::Equals).then(|| normalize_url(v));
                    add(v.to_lowercase(), Kind::Url, url);
                }
                _ => {}
            }
            searched += usize::from(found.len() > before);
        }
        if texts.len() == 0 {
            return Ok(ContentSet {
                unsearched,
                ..ContentSet::default()
            });
        }
        // The IOCs of each literal together, in bundle order (a stable
        // sort by literal).
        found.sort_by_key(|&(n, _)| n);
        // Every literal has an IOC: the groups are literals 0, 1, ….
        let mut ranges = Vec::with_capacity(texts.len());
        for group in found.chunk_by(|a, b| a.0 == b.0) {
            let start = ranges.last().map_or(0, |r: &std::ops::Range<u32>| r.end);
            ranges.push(start..start + group.len() as u32);
        }
        let targets: Vec<Target> = found.into_iter().map(|(_, t)| t).collect();
        // Literals of one lookup class are looked up by token; the rest go
        // to the automaton.
        let mut tokens = tokens::Tokens::default();
        let mut bytes = Vec::new();
        let mut patterns = Vec::new();
        for (i, class) in classes.into_iter().enumerate() {
            let text = texts.get(i);
            match class {
                Some(class) => tokens.add(class, text, i as u32),
                None => {
                    bytes.extend([encode(text, true), encode(text, false)]);
                    patterns.extend([2 * i, 2 * i + 1]);
                }
            }
        }
        tokens.index();
        let max_len = bytes
            .iter()
            .map(Vec::len)
            .chain([tokens.max_bytes()])
            .max()
            .unwrap_or(0);
        let min_len = bytes.iter().map(Vec::len).min().unwrap_or(0);
        let mut literal_byte = vec![false; 256];
        for &b in bytes.iter().flatten() {
            literal_byte[usize::from(b.to_ascii_lowercase())] = true;
            literal_byte[usize::from(b.to_ascii_uppercase())] = true;
        }
        let anchored = bytes.iter().all(|b| b.contains(&b'.') || b.contains(&b':'));
        let nul_free_patterns = (0..bytes.len())
            .filter(|&i| !bytes[i].contains(&0))
            .collect();
        Ok(ContentSet {
            encoded: bytes,
            patterns,
            tokens,
            ac: OnceLock::new(),
            nul_free: OnceLock::new(),
            nul_free_patterns,
            texts,
            targets,
            ranges,
            max_len,
            min_len,
            literal_byte,
            anchored,
            searched,
            unsearched,
        })
    }

    /// Whether there is anything to search for.
    pub fn is_empty(&self) -> bool {
        self.texts.len() == 0
    }

    /// The automaton, built on first use. A DFA is the fastest per byte;
    /// past some thousands of literals its tables grow large, and the
    /// contiguous NFA is far smaller. Only a set past the crate's state
    /// limits fails to build: then bytes are not searched, said once.
    fn automaton(&self) -> Option<&AhoCorasick> {
        self.ac
            .get_or_init(|| self.build_automaton(&self.encoded))
            .as_ref()
    }

    /// [`automaton`](Self::automaton) over the patterns without a NUL byte.
    fn nul_free_automaton(&self) -> Option<&AhoCorasick> {
        self.nul_free
            .get_or_init(|| {
                let some: Vec<&[u8]> = self
                    .nul_free_patterns
                    .iter()
                    .map(|&i| self.encoded[i].as_slice())
                    .collect();
                self.build_automaton(&some)
            })
            .as_ref()
    }

    fn build_automaton<P: AsRef<[u8]>>(&self, patterns: &[P]) -> Option<AhoCorasick> {
        let kinds: &[AhoCorasickKind] = if patterns.len() <= DFA_PATTERNS {
            &[AhoCorasickKind::DFA, AhoCorasickKind::ContiguousNFA]
        } else {
            &[
                AhoCorasickKind::ContiguousNFA,
                AhoCorasickKind::NoncontiguousNFA,
            ]
        };
        let mut last = None;
        for &kind in kinds {
            match AhoCorasickBuilder::new()
                .kind(Some(kind))
                .match_kind(MatchKind::Standard)
                // Anchored sets search runs, or dense text whole, where
                // the crate's rare-byte prefilter fires all the time: 14%
                // of the CPU of a text scan.
                .prefilter(!self.anchored)
                .build(patterns)
            {
                Ok(ac) => return Some(ac),
                Err(e) => last = Some(e),
            }
        }
        if let Some(e) = last {
            eprintln!("breachscan: --content: file bytes not searched: {e}");
        }
        None
    }

    /// Network IOCs with no literal to search (regexes, address ranges).
    pub fn unsearched(&self) -> usize {
        self.unsearched
    }

    /// IOCs whose values are searched.
    pub fn searched(&self) -> usize {
        self.searched
    }

    /// Bytes kept from one chunk for the next: a match and its context.
    fn window(&self) -> usize {
        self.max_len + LEFT + CTX
    }

    /// Every literal in `buf`: (pattern, start, end) into `out`, those
    /// looked up by token (see [`tokens`]) and those of the automaton. A
    /// literal is made of literal bytes only, so it lies inside a run of
    /// them; when every literal of the automaton holds a `.` or `:`, only
    /// the runs around one (found with `memchr2`) and as long as the
    /// shortest literal are searched: random and binary data have few, text
    /// has many. Runs are lower-cased into `scratch` for a case-sensitive
    /// automaton. `text`: no NUL so far in the file; returns whether `buf`
    /// holds none either.
    fn find(
        &self,
        buf: &[u8],
        text: bool,
        scratch: &mut Vec<u8>,
        tokens: &mut tokens::Scratch,
        out: &mut Vec<(usize, usize, usize)>,
    ) -> bool {
        if buf.is_empty() {
            return text;
        }
        let text = self.tokens.find(buf, text, tokens, out);
        if self.encoded.is_empty() {
            return text;
        }
        // The automaton is built when a first run needs searching: files
        // with no `.` or `:` (a tree of small text files) never wait for it.
        // Bytes without a NUL cannot hold a UTF-16 pattern of ASCII
        // characters: the smaller automaton searches them. Asked of files
        // with no NUL so far (`text`: logs, scripts), not buffer by buffer
        // or run by run: in binary data some pieces hold a NUL and some do
        // not, and two automata in turn cost more than one.
        let nul_free = text && memchr::memchr(0, buf).is_none();
        let mut search = |from: usize, to: usize| {
            scratch.clear();
            scratch.extend(buf[from..to].iter().map(u8::to_ascii_lowercase));
            let (ac, index) = if nul_free {
                (self.nul_free_automaton(), Some(&self.nul_free_patterns))
            } else {
                (self.automaton(), None)
            };
            let Some(ac) = ac else { return };
            for m in ac.find_overlapping_iter(scratch.as_slice()) {
                let mut at = m.pattern().as_usize();
                if let Some(index) = index {
                    at = index[at];
                }
                out.push((self.patterns[at], from + m.start(), from + m.end()));
            }
        };
        if !self.anchored {
            search(0, buf.len());
            return nul_free;
        }
        let lit = |b: u8| self.literal_byte[usize::from(b)];
        let mut covered = 0;
        let (mut runs, mut searched) = (0, 0);
        for at in memchr::memchr2_iter(b'.', b':', buf) {
            if at < covered {
                continue;
            }
            // Text (logs, lists, configuration) is mostly runs: one search
            // of the rest costs less than a search per run. Every literal
            // lies inside a run, and none before `covered` is left.
            if runs >= DENSE_AFTER_RUNS && searched * DENSE_SHARE > at {
                search(covered, buf.len());
                return nul_free;
            }
            let (from, to) = run_around(buf, at, covered, lit);
            covered = to;
            if to - from >= self.min_len {
                search(from, to);
                runs += 1;
                searched += to - from;
            }
        }
        nul_free
    }

    /// Every IOC found in `data` fed in pieces of `piece` bytes (tests and
    /// fuzzing compare cuts and ways of searching).
    pub(crate) fn search_in_pieces(
        &self,
        data: &[u8],
        piece: usize,
    ) -> Vec<(IocIdx, ContentHit, String)> {
        let mut s = self.stream();
        for c in data.chunks(piece.max(1)) {
            s.feed(c);
        }
        s.finish()
    }

    /// A search over one file's bytes, fed in order.
    pub fn stream(&self) -> ContentStream<'_> {
        ContentStream {
            set: self,
            carry: Vec::new(),
            seam: Vec::new(),
            scratch: Vec::new(),
            tokens: tokens::Scratch::default(),
            matches: Vec::new(),
            binary: false,
            pos: 0,
            found: HashMap::new(),
            held: Vec::new(),
        }
    }
}

fn is_network(kind: IocType) -> bool {
    matches!(
        kind,
        IocType::IpAddress | IocType::DomainName | IocType::Url
    )
}

/// The bytes a pattern is searched as.
fn encode(text: &str, utf16: bool) -> Vec<u8> {
    if utf16 {
        text.encode_utf16().flat_map(u16::to_le_bytes).collect()
    } else {
        text.as_bytes().to_vec()
    }
}

/// One file's search in progress.
pub struct ContentStream<'a> {
    set: &'a ContentSet,
    /// The last [`ContentSet::window`] bytes fed (fewer at the start).
    carry: Vec<u8>,
    seam: Vec<u8>,
    scratch: Vec<u8>,
    tokens: tokens::Scratch,
    matches: Vec<(usize, usize, usize)>,
    /// A NUL byte was searched: not text (see [`ContentSet::find`]).
    binary: bool,
    /// Bytes fed so far.
    pos: u64,
    found: HashMap<IocIdx, (ContentHit, String)>,
    /// A small first chunk, not searched yet: if it is the whole file,
    /// [`ContentStream::finish`] searches it once, every match decided,
    /// instead of once as it comes and again in the carry at the end (a
    /// small file is most of its carry).
    held: Vec<u8>,
}

/// A first chunk up to this size waits to see whether it is the whole
/// file: holding it costs a copy, a second search of the carry costs more.
const HOLD: usize = 16 * 1024;

/// Searched bytes: `buf` starts at file offset `base`.
struct View<'b> {
    buf: &'b [u8],
    base: u64,
}

impl ContentStream<'_> {
    /// Searches the next bytes of the file.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.set.is_empty() || chunk.is_empty() {
            return;
        }
        // Debug builds only: a fault the tests inject to check that a
        // panic here fails one file, not the scan.
        #[cfg(debug_assertions)]
        if memchr::memmem::find(chunk, FAULT_MARKER).is_some() {
            panic!("fault injected by a test");
        }
        if self.pos == 0 && self.held.is_empty() && chunk.len() <= HOLD {
            self.held.extend_from_slice(chunk);
            return;
        }
        if !self.held.is_empty() {
            let held = std::mem::take(&mut self.held);
            self.search_chunk(&held);
        }
        self.search_chunk(chunk);
    }

    /// Searches the next bytes of the file, deciding the matches whose
    /// context they complete.
    fn search_chunk(&mut self, chunk: &[u8]) {
        let pos = self.pos;
        let end = pos + chunk.len() as u64;
        let (ctx, left) = (CTX as u64, LEFT as u64);
        // Matches whose left context is in earlier bytes, decided now that
        // their right context has arrived.
        if !self.carry.is_empty() {
            let mut seam = std::mem::take(&mut self.seam);
            seam.clear();
            seam.extend_from_slice(&self.carry);
            seam.extend_from_slice(&chunk[..chunk.len().min(self.set.window())]);
            let view = View {
                buf: &seam,
                base: pos - self.carry.len() as u64,
            };
            self.search(&view, |s, e| {
                s < pos + left && e + ctx > pos && e + ctx <= end
            });
            self.seam = seam;
        }
        let view = View {
            buf: chunk,
            base: pos,
        };
        self.search(&view, |s, e| {
            (s >= pos + left || pos == 0) && e + ctx <= end
        });
        // Keep the last window of bytes for the next seam.
        let w = self.set.window();
        if chunk.len() >= w {
            self.carry.clear();
            self.carry.extend_from_slice(&chunk[chunk.len() - w..]);
        } else {
            self.carry.extend_from_slice(chunk);
            let cut = self.carry.len().saturating_sub(w);
            self.carry.drain(..cut);
        }
        self.pos = end;
    }

    /// The matches cut short by the end of the file, then every IOC found
    /// with its first occurrence and its matched text.
    pub fn finish(mut self) -> Vec<(IocIdx, ContentHit, String)> {
        let held = std::mem::take(&mut self.held);
        if held.is_empty() {
            let carry = std::mem::take(&mut self.carry);
            let view = View {
                buf: &carry,
                base: self.pos - carry.len() as u64,
            };
            let end = self.pos;
            self.search(&view, |_, e| e + CTX as u64 > end);
        } else {
            // The whole file: every match has all the context it has.
            self.search(
                &View {
                    buf: &held,
                    base: 0,
                },
                |_, _| true,
            );
        }
        let mut out: Vec<_> = self
            .found
            .into_iter()
            .map(|(ioc, (hit, text))| (ioc, hit, text))
            .collect();
        out.sort_by_key(|(ioc, hit, _)| (hit.offset, *ioc));
        out
    }

    /// Checks the matches in `view` whose file offsets (start, end) this
    /// step decides.
    fn search(&mut self, view: &View, decide: impl Fn(u64, u64) -> bool) {
        let mut matches = std::mem::take(&mut self.matches);
        matches.clear();
        // A NUL turns the rest of the file to binary (seen while the text
        // is classified: a pass of its own cost 7% of the search).
        self.binary |= !self.set.find(
            view.buf,
            !self.binary,
            &mut self.scratch,
            &mut self.tokens,
            &mut matches,
        );
        for &(pattern, start, end) in &matches {
            if decide(view.base + start as u64, view.base + end as u64) {
                self.check(view, pattern, start, end);
            }
        }
        self.matches = matches;
    }

    /// Checks a match's boundaries and text, and counts it for its IOCs.
    fn check(&mut self, view: &View, pattern: usize, start: usize, end: usize) {
        let (lit, utf16) = (pattern / 2, pattern.is_multiple_of(2));
        let (unit, encoding) = if utf16 { (2, "utf-16le") } else { (1, "ascii") };
        let Some(text) = decode(&view.buf[start..end], utf16) else {
            return;
        };
        if text.to_lowercase() != self.set.texts.get(lit) {
            return;
        }
        let prev = char_at(view.buf, start.checked_sub(unit), unit);
        let next = char_at(view.buf, Some(end), unit);
        let next2 = char_at(view.buf, Some(end + unit), unit);
        let r = &self.set.ranges[lit];
        for t in &self.set.targets[r.start as usize..r.end as usize] {
            let ok = (!t.left || left_ok(t, prev))
                && (!t.right || right_ok(t.kind, next, next2))
                && t.url.as_ref().is_none_or(|u| normalize_url(&text) == *u);
            if !ok {
                continue;
            }
            // A subdomain is shown whole (`cdn.evil.example`).
            let (start, text) = match t.kind {
                Kind::Domain if prev == Some(b'.') => {
                    let from = host_start(view.buf, start, unit);
                    let whole = decode(&view.buf[from..end], utf16);
                    whole.map_or((start, text.clone()), |w| (from, w))
                }
                _ => (start, text.clone()),
            };
            let offset = view.base + start as u64;
            let (hit, matched) = self.found.entry(t.ioc).or_insert_with(|| {
                let first = ContentHit {
                    offset: u64::MAX,
                    encoding: String::new(),
                    excerpt: String::new(),
                    occurrences: 0,
                };
                (first, String::new())
            });
            hit.occurrences += 1;
            // The first occurrence is kept (a seam decided later can hold
            // an earlier one).
            if offset < hit.offset {
                hit.offset = offset;
                hit.encoding = encoding.into();
                hit.excerpt = excerpt(view.buf, start, end, unit);
                *matched = text;
            }
        }
    }
}

/// The run of bytes `inside` allows around `at` (taken whatever it is),
/// reaching back no further than `floor`: `(start, end)`.
fn run_around(buf: &[u8], at: usize, floor: usize, inside: impl Fn(u8) -> bool) -> (usize, usize) {
    let mut from = at;
    while from > floor && inside(buf[from - 1]) {
        from -= 1;
    }
    let mut to = at + 1;
    while to < buf.len() && inside(buf[to]) {
        to += 1;
    }
    (from, to)
}

/// The character next to a match at `at`, `None` past either end of the
/// view (where the caller made sure the file starts or ends); non-ASCII
/// characters as `0x80`.
fn char_at(buf: &[u8], at: Option<usize>, unit: usize) -> Option<u8> {
    let bytes = buf.get(at?..at? + unit)?;
    match bytes {
        [b] if b.is_ascii() => Some(*b),
        [lo, 0] if lo.is_ascii() => Some(*lo),
        _ => Some(0x80),
    }
}

/// Where the host name holding a match at `start` begins: back over host
/// characters and dots (at most [`CTX`] bytes), leading dots left out.
fn host_start(buf: &[u8], start: usize, unit: usize) -> usize {
    let floor = start.saturating_sub(CTX);
    let mut from = start;
    while from >= floor + unit {
        match char_at(buf, Some(from - unit), unit) {
            Some(c) if c == b'.' || is_host_char(c) => from -= unit,
            _ => break,
        }
    }
    while from < start && char_at(buf, Some(from), unit) == Some(b'.') {
        from += unit;
    }
    from
}

/// Letters, digits, `-` and `_`. A non-ASCII character is a boundary:
/// in binary data any byte can precede a string, and IOC lists write
/// international names in punycode.
fn is_host_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_')
}

/// The characters an address is written with.
fn is_ip_char(c: u8) -> bool {
    c.is_ascii_hexdigit() || matches!(c, b'.' | b':')
}

fn left_ok(t: &Target, prev: Option<u8>) -> bool {
    let Some(c) = prev else { return true };
    match t.kind {
        Kind::Ip4 | Kind::Ip6 => !(c.is_ascii_hexdigit() || matches!(c, b'.' | b':')),
        // `files.evil.example` is inside `evil.example` for `Equals` and
        // `EndWith`; a value that must start the name takes no dot.
        Kind::Domain => !is_host_char(c) && (t.right || c != b'.'),
        Kind::Url => !(c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.')),
    }
}

fn right_ok(kind: Kind, next: Option<u8>, next2: Option<u8>) -> bool {
    let Some(c) = next else { return true };
    let n2 = next2.unwrap_or(b' ');
    match kind {
        Kind::Ip4 => !(c.is_ascii_hexdigit() || c == b'.' && n2.is_ascii_digit()),
        Kind::Ip6 => {
            !(c.is_ascii_hexdigit()
                || c == b':' && (n2.is_ascii_hexdigit() || n2 == b':')
                || c == b'.' && n2.is_ascii_digit())
        }
        Kind::Domain => !(is_host_char(c) || c == b'.' && is_host_char(n2)),
        Kind::Url => {
            let more = |c: u8| {
                c.is_ascii_alphanumeric()
                    || matches!(c, b'-' | b'_' | b'/' | b'?' | b'#' | b'%' | b'&' | b'=')
                    || matches!(c, b'~' | b'+' | b'@')
            };
            !(more(c) || matches!(c, b'.' | b':' | b',' | b';') && more(n2))
        }
    }
}

/// A match's bytes as text (`None` if they are not text in the encoding).
fn decode(bytes: &[u8], utf16: bool) -> Option<String> {
    if utf16 {
        let units = bytes
            .chunks_exact(2)
            .map(|u| u16::from_le_bytes([u[0], u[1]]));
        char::decode_utf16(units)
            .collect::<Result<String, _>>()
            .ok()
    } else {
        std::str::from_utf8(bytes).ok().map(str::to_string)
    }
}

/// Up to [`CTX`] bytes either side of a match, escaped: printable
/// ASCII as is, other bytes `\xNN` (UTF-16 units `\uNNNN`).
fn excerpt(buf: &[u8], start: usize, end: usize, unit: usize) -> String {
    let from = start - (start.min(CTX) / unit) * unit;
    let to = (end + CTX).min(buf.len());
    let mut out = String::new();
    if unit == 2 {
        for u in buf[from..to].chunks_exact(2) {
            match u16::from_le_bytes([u[0], u[1]]) {
                c @ 0x20..=0x7e => out.push(c as u8 as char),
                c => out.push_str(&format!("\\u{c:04x}")),
            }
        }
    } else {
        for &b in &buf[from..to] {
            match b {
                0x20..=0x7e => out.push(b as char),
                _ => out.push_str(&format!("\\x{b:02x}")),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests;
