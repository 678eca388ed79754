//! A literal prefilter for event records.
//!
//! Rendering a record is the parser's cost; turning the rendering into
//! fields and matching them costs as much again. Almost no record matches
//! anything, so before that work one Aho-Corasick pass over the record's
//! text, in ASCII lower case, looks for a (lower-case) literal that every
//! possible hit must contain. Only records that pass are parsed and matched
//! precisely. Parsers lower-case the text they gather (cheaply, while
//! gathering): a case-sensitive automaton is smaller and quicker to build
//! than one folding case.
//!
//! Each IOC contributes one necessary literal: the address or its leading
//! octets, the domain, the longest run of plain
//! characters of a name, path, URL or registry key. "Plain" characters are
//! ASCII letters, digits and punctuation that no JSON or XML renderer
//! escapes, so the literal appears verbatim in any rendering of a record
//! whose fields hold the value. A regex contributes the literals one of
//! which each of its matches contains, as the EVTX screener writes values
//! (`literals::Text::Screened`: `\` and spaces kept); not a registry key's,
//! which is also matched under other spellings of its root. An IOC
//! without such a literal (a regex with none, a `/0` range, an IPv6 range,
//! a value with no plain run) disables the prefilter: correctness first.
//! Digests are no literals: the text's runs of hex digits are looked up
//! (`super::digest_runs`).
//!
//! Parsers may screen a record from its raw values instead of a rendering
//! (strings, binary as hex); for the value kinds they leave out unless asked
//! (numbers, GUIDs, SIDs, times), [`Prefilter::may_match_kind`] says whether
//! any literal could be written that way at all.

use std::net::IpAddr;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Once, OnceLock};

use aho_corasick::{AhoCorasick, AhoCorasickKind, Input, MatchKind};

use super::digest_runs::DigestRuns;
use super::literals::MAX_LITERAL;
use super::screened_regex::Group;
use crate::artifact::{Screening, ValueKind};
use crate::bundle::value::Cidr;
use crate::bundle::{DetectionFunction, Ioc, IocType};

/// The literal automata and what the literals can look like.
///
/// Only records need an automaton, so none is built until the scan meets
/// its first log ([`Prefilter::start`]): then a contiguous NFA over the
/// literals is built on a thread of its own (15 ms of one core for the
/// signature-base with its regexes), and the first screening waits for it.
/// A DFA runs several times faster over the records' text but costs five
/// times as much to build (0.1 core-seconds, 23 MB for the signature-base;
/// seconds for a million IOCs), which the corpus logs (8 MB of screened
/// text) never earned back. So a large one is bought as a ski is: once the
/// NFA has screened about as many bytes as would pay for the DFA's build
/// ([`Prefilter::dfa_after`], from the DFA's estimated size), it is built on
/// another thread and takes over when ready; no worker waits for it. A
/// small one ([`SMALL_DFA_CELLS`]) is built right after the NFA.
pub(super) struct Prefilter {
    /// The NFA once built; `None` inside when the literals are past
    /// [`DFA_MAX_BYTES`] (then the one automaton is the crate's own choice,
    /// in `fast`, waited for) or the crate refused it.
    quick: Arc<OnceLock<Option<AhoCorasick>>>,
    /// The DFA once built (`None` inside when it could not be: then the
    /// NFA goes on, or every record passes without one).
    fast: Arc<OnceLock<Option<AhoCorasick>>>,
    /// The literals, sorted, and their total length.
    lits: Arc<Vec<String>>,
    total: usize,
    started: Once,
    /// Text bytes the NFA has screened, and from how many the DFA is built
    /// (0: right after the NFA).
    screened: AtomicU64,
    dfa_after: u64,
    /// Per [`ValueKind`]: whether some literal could be in such a value's text.
    kinds: [bool; ValueKind::COUNT],
    /// Per literal: `None` when it stands for some IOC that hits wherever
    /// the literal is (as far as the prefilter can tell), else the regexes
    /// it is the literal of, which are run on the text to decide
    /// ([`Prefilter::screen`]).
    groups: Vec<Option<Group>>,
    /// Digest IOCs, looked up by the runs of hex digits in the text
    /// instead of being literals.
    digests: DigestRuns,
}

impl Prefilter {
    /// Whether `text` holds a literal. Not counted towards the DFA's
    /// price: the pieces asked about are of records already screened.
    pub fn is_match(&self, text: &[u8]) -> bool {
        self.digests.find(text)
            || (!self.lits.is_empty() && self.automaton(0).is_none_or(|ac| ac.is_match(text)))
    }

    /// Whether the record whose screened text is `text` could hit an IOC:
    /// it holds a literal, and, when each literal it holds stands only for
    /// regexes, one of those regexes matches the text as rewritten for it
    /// (`super::screened_regex`). `verbatim` says that the text is a plain
    /// image of the record's values (see `SystemFacts::verbatim`); when not,
    /// a literal alone decides.
    pub fn screen(&self, text: &[u8], verbatim: bool) -> Screening {
        let digest = || {
            if self.digests.find(text) {
                Screening::Render
            } else {
                Screening::NoLiteral
            }
        };
        if self.lits.is_empty() {
            return digest();
        }
        let Some(ac) = self.automaton(text.len()) else {
            return Screening::Render;
        };
        // The literal that ends first; most records hold none.
        let Some(first) = ac.find(text) else {
            return digest();
        };
        if !verbatim || self.groups[first.pattern().as_usize()].is_none() {
            return Screening::Render;
        }
        // Every literal: none ends before the first one does, and none is
        // longer than MAX_LITERAL.
        let from = first.end().saturating_sub(MAX_LITERAL);
        let mut found: Vec<&Group> = Vec::new();
        for m in ac.find_overlapping_iter(Input::new(text).range(from..)) {
            match &self.groups[m.pattern().as_usize()] {
                None => return Screening::Render,
                Some(g) if !found.iter().any(|f| std::ptr::eq(*f, g)) => found.push(g),
                Some(_) => {}
            }
        }
        if found.iter().any(|g| g.may_match(text)) || self.digests.find(text) {
            Screening::Render
        } else {
            Screening::Literals
        }
    }

    /// The automaton to screen `len` bytes of text with now (waiting for
    /// the first one); `None` when there is none, and every record passes.
    fn automaton(&self, len: usize) -> Option<&AhoCorasick> {
        if let Some(built) = self.fast.get() {
            return built
                .as_ref()
                .or_else(|| self.quick.get().and_then(Option::as_ref));
        }
        self.start();
        match self.quick.wait() {
            Some(ac) => {
                self.count(len);
                Some(ac)
            }
            // Nothing quick to screen with: wait for the one automaton.
            None => self.fast.wait().as_ref(),
        }
    }

    /// Starts building the NFA (once; later calls return at once).
    pub fn start(&self) {
        if self.lits.is_empty() {
            return;
        }
        self.started.call_once(|| {
            let (quick, fast) = (Arc::clone(&self.quick), Arc::clone(&self.fast));
            let (lits, total, dfa_after) = (Arc::clone(&self.lits), self.total, self.dfa_after);
            let spawned = spawn(move || {
                let nfa = (total <= DFA_MAX_BYTES)
                    .then(|| build_automaton(&lits, Some(AhoCorasickKind::ContiguousNFA)))
                    .flatten();
                let none = nfa.is_none();
                let _ = quick.set(nfa);
                if none || dfa_after == 0 {
                    let kind = (total <= DFA_MAX_BYTES).then_some(AhoCorasickKind::DFA);
                    let _ = fast.set(build_automaton(&lits, kind));
                }
            });
            if !spawned {
                // No thread to spare (the system is out of them): every
                // record passes, as without a prefilter.
                let _ = self.quick.set(None);
                let _ = self.fast.set(None);
            }
        });
    }

    /// Counts bytes the NFA screened; the count that crosses
    /// [`Prefilter::dfa_after`] starts the DFA's build.
    fn count(&self, bytes: usize) {
        let before = self.screened.fetch_add(bytes as u64, Ordering::Relaxed);
        if self.dfa_after > 0 && before < self.dfa_after && before + bytes as u64 >= self.dfa_after
        {
            let (fast, lits) = (Arc::clone(&self.fast), Arc::clone(&self.lits));
            // Without a thread the NFA goes on.
            let _ = spawn(move || {
                let _ = fast.set(build_automaton(&lits, Some(AhoCorasickKind::DFA)));
            });
        }
    }

    pub fn may_match_kind(&self, kind: ValueKind) -> bool {
        self.kinds[kind as usize]
    }
}

/// Runs `f` on a thread of its own; `false` when there is none to be had.
fn spawn(f: impl FnOnce() + Send + 'static) -> bool {
    std::thread::Builder::new()
        .name("breachscan-prefilter".into())
        .spawn(f)
        .is_ok()
}

/// Literal bytes up to which the prefilter is built as a DFA.
const DFA_MAX_BYTES: usize = 1 << 20;

/// Literal bytes beyond which no prefilter is built at all.
const PREFILTER_MAX_BYTES: usize = 4 << 20;

/// Literals shorter than this still work but let most records through.
const MIN_USEFUL: usize = 1;

/// DFA cells (estimated) up to which the DFA is built right after the NFA:
/// ~20 ms of one core, which a bundle of 10,000 IOCs earned back within
/// 2 MB of text; waiting for the text to prove it (below) cost such a
/// bundle more than the build.
const SMALL_DFA_CELLS: u64 = 2 << 20;

/// Bytes of text the NFA screens per cell of the DFA's transition table
/// before a larger DFA is built: the break-even point (ski rental's rule).
/// Measured here with the signature-base (2.5 million cells estimated once
/// digests left the literals): the build costs ~29 ns a cell (its NFA is
/// built again first), and the DFA saves ~2-2.5 ns a byte of text. Buying
/// at 2 bytes a cell built it over the corpus logs' 8 MB of text for ~70 ms
/// of a core it never earned back.
pub(crate) const TEXT_PER_DFA_CELL: u64 = 12;

/// Builds the prefilter, or `None` when some IOC has no necessary literal
/// (every record must then be parsed).
pub(super) fn build<'a>(
    iocs: impl Iterator<Item = &'a Ioc>,
    catalog: &super::regexes::Catalog,
) -> Option<Prefilter> {
    // Each literal and the regexes it stands for (`None`: some other IOC).
    let mut seen = crate::bundle::IdMap::<String, Option<Group>>::default();
    let mut digests = DigestRuns::default();
    let mut total = 0usize;
    for ioc in iocs {
        if ioc.kind.is_hash()
            && ioc.function != DetectionFunction::Regex
            && digests.add(ioc.value.trim())
        {
            continue;
        }
        let regex = (ioc.function == DetectionFunction::Regex).then_some(ioc.value.as_str());
        for lit in literals(ioc, catalog)? {
            if lit.len() < MIN_USEFUL {
                return None;
            }
            let lit = narrow(&lit.to_ascii_lowercase(), MAX_LITERAL).to_string();
            match seen.entry(lit) {
                std::collections::hash_map::Entry::Vacant(slot) => {
                    total += slot.key().len();
                    // Past the cap there will be no prefilter (below): stop
                    // collecting literals a million-IOC bundle would not use.
                    if total > PREFILTER_MAX_BYTES {
                        return None;
                    }
                    slot.insert(regex.map(|r| Group::new(vec![r.to_string()])));
                }
                std::collections::hash_map::Entry::Occupied(mut slot) => {
                    match (slot.get_mut(), regex) {
                        (Some(group), Some(r)) => group.add(r),
                        (group, _) => *group = None,
                    }
                }
            }
        }
    }
    if seen.is_empty() && digests.is_empty() {
        return None;
    }
    let mut seen: Vec<(String, Option<Group>)> = seen.into_iter().collect();
    seen.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let (lits, groups): (Vec<String>, Vec<Option<Group>>) = seen.into_iter().unzip();
    let mut kinds = [false; ValueKind::COUNT];
    for kind in ValueKind::ALL {
        kinds[kind as usize] = lits.iter().any(|l| fits_kind(l, kind));
    }
    let cells = dfa_cells(&lits);
    let p = Prefilter {
        quick: Arc::new(OnceLock::new()),
        fast: Arc::new(OnceLock::new()),
        dfa_after: if cells <= SMALL_DFA_CELLS {
            0
        } else {
            cells.saturating_mul(TEXT_PER_DFA_CELL)
        },
        lits: Arc::new(lits),
        total,
        started: Once::new(),
        screened: AtomicU64::new(0),
        kinds,
        groups,
        digests,
    };
    Some(p)
}

/// The DFA's transition-table cells for `lits` (sorted), estimated: its
/// states are the literals' trie nodes, each with a transition per class
/// of bytes (at most one class per distinct byte, and one for the rest).
pub(crate) fn dfa_cells(lits: &[String]) -> u64 {
    let mut nodes = 1u64;
    let mut used = [false; 256];
    let mut prev: &[u8] = &[];
    for l in lits {
        let l = l.as_bytes();
        let shared = l.iter().zip(prev).take_while(|(a, b)| a == b).count();
        nodes += (l.len() - shared) as u64;
        l.iter().for_each(|&b| used[usize::from(b)] = true);
        prev = l;
    }
    let classes = used.iter().filter(|&&u| u).count() as u64 + 1;
    nodes.saturating_mul(classes)
}

/// The automaton over `lits` of `kind` (the crate's choice for `None`), or
/// `None` when the crate refuses or panics: then every record passes.
fn build_automaton(lits: &[String], kind: Option<AhoCorasickKind>) -> Option<AhoCorasick> {
    // Beyond DFA_MAX_BYTES of literals (a million-IOC bundle) a DFA's
    // build alone took minutes and gigabytes (its size grows with the
    // literals times the alphabet), so the crate's own choice is used
    // there. Beyond PREFILTER_MAX_BYTES (checked above) building the
    // automaton (its failure links) would cost more than it saves: with a
    // million-IOC bundle it took 30 s. Without it every record is parsed:
    // slower logs, same results. The crate's own prefilter (a scan for rare
    // start bytes) is off: with thousands of literals it fires everywhere
    // and made the search four times slower.
    let mut b = AhoCorasick::builder();
    b.match_kind(MatchKind::Standard)
        .prefilter(false)
        .kind(kind);
    // A panic in the build must not leave screening waiting forever.
    std::panic::catch_unwind(|| b.build(lits).ok())
        .ok()
        .flatten()
}

/// The piece of `lit` (ASCII) of at most `max` bytes with the most
/// distinct characters, the last such: a piece of common text (a run of
/// zeros, `.exe`) would let more records through. A piece with a letter
/// wins over one of digits only, which could be a number and would make
/// parsers write out every integer value. A path (`\` in it) keeps its end:
/// its folders (`\windows\system32\`, as varied as any piece) are in most
/// records' paths, the file's name at the end in few.
pub(crate) fn narrow(lit: &str, max: usize) -> &str {
    if lit.len() <= max {
        return lit;
    }
    let end = lit.len() - max;
    if lit.contains('\\')
        && lit.is_char_boundary(end)
        && lit[end..].bytes().any(|b| b.is_ascii_alphabetic())
    {
        return &lit[end..];
    }
    let distinct = |w: &[u8]| {
        let mut seen = [false; 256];
        w.iter()
            .filter(|&&b| !std::mem::replace(&mut seen[usize::from(b)], true))
            .count()
    };
    let b = lit.as_bytes();
    let best = (0..=b.len() - max)
        .max_by_key(|&i| {
            let w = &b[i..i + max];
            (!w.iter().all(u8::is_ascii_digit), distinct(w), i)
        })
        .unwrap_or(0);
    &lit[best..best + max]
}

/// Whether the (lower-case) literal could be part of the text of some value
/// of `kind`, as the evtx crate writes it.
pub(crate) fn fits_kind(lit: &str, kind: ValueKind) -> bool {
    let only = |set: &str| lit.chars().all(|c| set.contains(c));
    match kind {
        ValueKind::Integer => lit.len() <= 20 && only("0123456789-"),
        ValueKind::Hex => lit.len() <= 18 && only("0123456789abcdefx"),
        ValueKind::Guid => fits_pattern(lit, "{hhhhhhhh-hhhh-hhhh-hhhh-hhhhhhhhhhhh}"),
        ValueKind::Sid => fits_sid(lit),
        ValueKind::Time => fits_pattern(lit, "dddd-dd-ddtdd:dd:dd.dddddddz"),
        // Shortest round-trip forms: at most 17 significant digits, plus
        // leading zeros and an exponent (generous bounds).
        ValueKind::Float => lit.len() <= 32 && only("0123456789.e+-infa"),
        ValueKind::Bool => "true".contains(lit) || "false".contains(lit),
    }
}

/// Whether `lit` could be part of `S-1-5-21-…`: pieces of at most 15
/// digits (the 48-bit authority; sub-authorities are 32-bit) between single
/// dashes, an `s` only before the first dash.
fn fits_sid(lit: &str) -> bool {
    let pieces: Vec<&str> = lit.split('-').collect();
    pieces.iter().enumerate().all(|(i, p)| {
        let inner = i > 0 && i + 1 < pieces.len();
        let digits = p.len() <= 15 && p.bytes().all(|b| b.is_ascii_digit());
        (digits && !(inner && p.is_empty())) || (i == 0 && pieces.len() > 1 && *p == "s")
    })
}

/// Whether `lit` is a substring of some string of `pattern`'s shape, where
/// `h` stands for a hex digit and `d` for a decimal digit.
fn fits_pattern(lit: &str, pattern: &str) -> bool {
    let (l, p) = (lit.as_bytes(), pattern.as_bytes());
    let fits = |c: u8, want: u8| match want {
        b'h' => c.is_ascii_hexdigit(),
        b'd' => c.is_ascii_digit(),
        w => c == w,
    };
    l.len() <= p.len()
        && (0..=p.len() - l.len()).any(|o| l.iter().zip(&p[o..]).all(|(&c, &w)| fits(c, w)))
}

/// A substring every record hit by `ioc` contains, if one can be named.
/// The literals one of which every record hit of `ioc` contains.
fn literals(ioc: &Ioc, catalog: &super::regexes::Catalog) -> Option<Vec<String>> {
    match (ioc.function, ioc.kind) {
        // Keys are also matched under other spellings of their root
        // (`HKU\<SID>` as `HKCU`), which the record does not hold.
        (DetectionFunction::Regex, IocType::RegistryKey) => None,
        // Matched on values as the record holds them.
        (DetectionFunction::Regex, _) => catalog.get(&ioc.value).screened.clone(),
        _ => literal(ioc).map(|l| vec![l]),
    }
}

/// The literal of a non-regex IOC.
pub(super) fn literal(ioc: &Ioc) -> Option<String> {
    let v = ioc.value.trim();
    if ioc.function == DetectionFunction::Regex {
        return None;
    }
    match ioc.kind {
        IocType::Md5 | IocType::Sha1 | IocType::Sha256 => Some(v.to_string()),
        IocType::IpAddress if ioc.function == DetectionFunction::Equals => {
            let c = Cidr::parse(v).ok()?;
            match c.addr {
                IpAddr::V4(a) if c.prefix >= 8 => {
                    let o = a.octets();
                    let whole = usize::from(c.prefix / 8);
                    let parts: Vec<String> = o[..whole].iter().map(u8::to_string).collect();
                    let mut s = parts.join(".");
                    if whole < 4 {
                        s.push('.');
                    }
                    Some(s)
                }
                // A v6 address is written compressed (RFC 5952) by Windows;
                // ranges have no fixed text prefix.
                IpAddr::V6(a) if c.prefix == 128 => match a.to_ipv4_mapped() {
                    Some(v4) => Some(v4.to_string()),
                    None => Some(a.to_string()),
                },
                _ => None,
            }
        }
        IocType::DomainName if ioc.function == DetectionFunction::Equals => {
            longest_plain_run(&crate::bundle::value::normalize_domain(v).ok()?)
        }
        IocType::RegistryKey => {
            // Roots are spelt several ways (HKLM, HKEY_LOCAL_MACHINE,
            // \REGISTRY\MACHINE): take the literal from the other segments.
            let roots = [
                "hklm",
                "hkcu",
                "hku",
                "hkcr",
                "hkey_local_machine",
                "hkey_current_user",
                "hkey_users",
                "hkey_classes_root",
                "registry",
                "machine",
                "user",
            ];
            let mut segs: Vec<&str> = v
                .split(['\\', '/'])
                .filter(|s| !roots.contains(&s.to_ascii_lowercase().as_str()))
                .collect();
            // A user's `Software\Classes\x` is `HKU\<SID>_Classes\x` and
            // `HKCR\x` in a record (`super::hkey`): the literal comes after.
            if segs.len() > 2
                && segs[0].eq_ignore_ascii_case("software")
                && segs[1].eq_ignore_ascii_case("classes")
            {
                segs.drain(..2);
            }
            longest_plain_run(&segs.join("\\"))
        }
        _ => longest_plain_run(v),
    }
}

/// Characters no renderer escapes (JSON escapes `"`, `\` and controls; XML
/// escapes `<`, `>`, `&`, quotes).
fn is_plain(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '.' | '-'
                | '_'
                | ':'
                | '@'
                | '%'
                | '$'
                | '~'
                | ','
                | ';'
                | '='
                | '+'
                | '#'
                | '!'
                | '('
                | ')'
                | '['
                | ']'
                | '{'
                | '}'
                | ' '
                | '^'
                | '|'
        )
}

fn longest_plain_run(s: &str) -> Option<String> {
    s.split(|c: char| !is_plain(c))
        .max_by_key(|r| r.len())
        .filter(|r| !r.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bundle::IocState;

    fn ioc(kind: IocType, value: &str, function: DetectionFunction) -> Ioc {
        Ioc {
            id: "i".into(),
            alert: 0,
            kind,
            value: value.into(),
            function,
            state: IocState::Active,
            expires_at: None,
            description: None,
            exclude: None,
        }
    }

    #[test]
    fn literals_are_necessary_substrings() {
        use DetectionFunction::*;
        let lit = |k, v, f| literal(&ioc(k, v, f));
        assert_eq!(
            lit(IocType::IpAddress, "203.0.113.0/24", Equals).as_deref(),
            Some("203.0.113.")
        );
        assert_eq!(
            lit(IocType::IpAddress, "172.16.0.0/12", Equals).as_deref(),
            Some("172.")
        );
        assert_eq!(
            lit(IocType::IpAddress, "198.51.100.7", Equals).as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(
            lit(IocType::IpAddress, "::ffff:198.51.100.7", Equals).as_deref(),
            Some("198.51.100.7")
        );
        assert_eq!(
            lit(IocType::IpAddress, "2001:DB8:0::1", Equals).as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(lit(IocType::IpAddress, "2001:db8::/32", Equals), None);
        assert_eq!(lit(IocType::IpAddress, "0.0.0.0/0", Equals), None);
        assert_eq!(
            lit(IocType::FilePath, r"C:\ProgramData\svc\", StartWith).as_deref(),
            Some("ProgramData")
        );
        assert_eq!(
            lit(IocType::Url, "https://dl.evil.com/stage2/", StartWith).as_deref(),
            Some("dl.evil.com")
        );
        assert_eq!(
            lit(
                IocType::RegistryKey,
                r"HKEY_LOCAL_MACHINE\Software\Microsoft\Windows\CurrentVersion\Run",
                StartWith
            )
            .as_deref(),
            Some("CurrentVersion")
        );
        // A record names a user's classes `HKU\<SID>_Classes\exefile`.
        assert_eq!(
            lit(
                IocType::RegistryKey,
                r"HKCU\Software\Classes\exefile\shell",
                StartWith
            )
            .as_deref(),
            Some("exefile")
        );
        assert_eq!(
            lit(IocType::DomainName, "*.Evil.com.", Equals).as_deref(),
            Some("evil.com")
        );
        assert_eq!(lit(IocType::FileName, "x.exe", Regex), None);
        assert_eq!(lit(IocType::FileName, "\\\\", Contains), None);
    }

    #[test]
    fn prefilter_is_off_when_any_ioc_has_no_literal() {
        let a = ioc(IocType::FileName, "mimikatz.exe", DetectionFunction::Equals);
        let b = ioc(IocType::FilePath, r"^[a-z]{8}$", DetectionFunction::Regex);
        assert!(build([&a].into_iter(), &Default::default()).is_some());
        assert!(build([&a, &b].into_iter(), &Default::default()).is_none());
        // A regex with literals screens by them; a registry key's does not
        // (the key is also matched under other spellings of its root).
        let c = ioc(
            IocType::FilePath,
            r"\\(svchost|lsass)\.exe$",
            DetectionFunction::Regex,
        );
        let by_regex = build([&a, &c].into_iter(), &Default::default()).unwrap();
        assert!(by_regex.is_match(b"c:\\x\\lsass.exe"));
        assert!(!by_regex.is_match(b"c:\\x\\notepad.exe"));
        let key = ioc(IocType::RegistryKey, r"HKCU\\Run", DetectionFunction::Regex);
        assert!(build([&a, &key].into_iter(), &Default::default()).is_none());
        let pf = build([&a].into_iter(), &Default::default()).unwrap();
        // Text comes lower-cased by the parser.
        assert!(pf.is_match(br#"{"image":"c:\\t\\mimikatz.exe"}"#));
        assert!(!pf.is_match(br#"{"Image":"C:\\T\\cmd.exe"}"#));
    }

    /// No automaton is built until a log asks for one (a scan of files
    /// alone never pays for it), a screening before `start` starts it, and
    /// the DFA is built only once the NFA has screened enough text.
    #[test]
    fn automata_are_built_on_demand() {
        let a = ioc(IocType::FileName, "mimikatz.exe", DetectionFunction::Equals);
        let mut p = build([&a].into_iter(), &Default::default()).unwrap();
        assert_eq!(p.dfa_after, 0, "a small DFA is built at once");
        // As if it were large.
        p.dfa_after = 4096;
        assert!(!p.started.is_completed() && p.quick.get().is_none());
        assert_eq!(
            p.screen(b"c:\\tools\\mimikatz.exe", true),
            Screening::Render
        );
        assert_eq!(p.screen(b"notepad.exe", true), Screening::NoLiteral);
        assert!(p.quick.get().is_some_and(Option::is_some));
        assert!(p.fast.get().is_none(), "too little text for a DFA yet");
        let mut q = build([&a].into_iter(), &Default::default()).unwrap();
        q.dfa_after = 4096;
        q.start();
        q.start();
        assert!(q.quick.wait().is_some());
        assert!(q.is_match(b"mimikatz.exe"));
        // Enough text screened (pieces asked about again do not count): the
        // DFA is built and takes over.
        let text = vec![b'x'; usize::try_from(q.dfa_after).unwrap()];
        assert!(!q.is_match(&text));
        assert!(q.fast.get().is_none());
        assert_eq!(q.screen(&text, true), Screening::NoLiteral);
        assert!(built_soon(&q.fast));
        assert!(q.is_match(b"c:\\mimikatz.exe") && !q.is_match(b"notepad.exe"));
        // A small one follows the NFA unasked.
        let r = build([&a].into_iter(), &Default::default()).unwrap();
        r.start();
        assert!(built_soon(&r.fast));
    }

    /// A literal that stands only for regexes lets a record through when
    /// one of them matches its text, and only then; any other literal, or a
    /// text that is not a plain image of its values, lets it through.
    #[test]
    fn regex_literals_are_checked_by_their_regexes() {
        let regex = |v| ioc(IocType::FilePath, v, DetectionFunction::Regex);
        let built = |iocs: &[&Ioc]| build(iocs.iter().copied(), &Default::default()).unwrap();
        let re = regex(r"\\win[0-9_]{0,3}\.exe$");
        let name = ioc(IocType::FileName, "winword.exe", DetectionFunction::Equals);
        let p = built(&[&re]);
        assert!(p.groups.iter().any(Option::is_some));
        let windows = b"c:\\windows\\system32\\cmd.exe\0x";
        assert!(p.is_match(windows), "it holds the literal");
        assert_eq!(p.screen(windows, true), Screening::Literals);
        assert_eq!(p.screen(windows, false), Screening::Render);
        assert_eq!(p.screen(b"a\0c:\\tmp\\win_7.exe", true), Screening::Render);
        assert_eq!(p.screen(b"notepad.exe", true), Screening::NoLiteral);
        // The same literal from an IOC that is no regex: no group.
        let both = built(&[&re, &name]);
        assert_eq!(both.screen(b"c:\\x\\winword.exe", true), Screening::Render);
        // A literal shared by a regex and another IOC stands for both.
        let digit = regex(r"mimikatz[0-9]+\.exe");
        let tool = ioc(IocType::FileName, "mimikatz", DetectionFunction::Equals);
        let alone = built(&[&digit]);
        assert_eq!(alone.screen(b"c:\\mimikatz.exe", true), Screening::Literals);
        let shared = built(&[&digit, &tool]);
        assert_eq!(shared.lits.len(), 1, "{:?}", shared.lits);
        assert_eq!(shared.screen(b"c:\\mimikatz.exe", true), Screening::Render);
    }

    /// Whether the automaton is built within a generous while (a build that
    /// never starts fails the test instead of hanging it).
    fn built_soon(cell: &OnceLock<Option<AhoCorasick>>) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while cell.get().is_none() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        cell.get().is_some_and(Option::is_some)
    }

    /// The estimate is the trie's nodes times the byte classes.
    #[test]
    fn dfa_cells_count_trie_nodes_and_classes() {
        let lits = ["abc", "abd", "b"].map(String::from);
        // Nodes: the root, a, ab, abc, abd, b; classes: a, b, c, d, other.
        assert_eq!(dfa_cells(&lits), 6 * 5);
    }
}

#[cfg(test)]
mod kind_tests {
    use super::*;

    #[test]
    fn long_literals_are_cut_to_their_most_varied_piece() {
        assert_eq!(narrow("implant7.exe", 16), "implant7.exe");
        let sha = "000000000000000000000000000000000000000000000000000000009e3779ba";
        assert_eq!(narrow(sha, 16), "000000009e3779ba");
        assert_eq!(
            narrow("aaaaaaaaaaaaaaaaaaaaabcdefghijklmnop", 16),
            "abcdefghijklmnop"
        );
        let l = "cdn7.bench-evil.example";
        assert!(l.contains(narrow(l, 16)) && narrow(l, 16).len() == 16);
        // A path keeps the file's name, not its most varied folders.
        assert_eq!(
            narrow(r":\windows\system32\wbem\wbemcomn.dll", 16),
            r"bem\wbemcomn.dll"
        );
    }

    #[test]
    fn literals_fit_the_kinds_they_could_be_written_in() {
        use ValueKind::*;
        let fits = |l: &str, k| fits_kind(l, k);
        // An address with three dots is no time, GUID or integer.
        assert!(!fits("198.51.100.7", Time));
        assert!(!fits("198.51.100.7", Integer));
        assert!(fits("198.51.100.7", Float)); // conservative
        // A /8 prefix could be the seconds of a time.
        assert!(fits("10.", Time));
        assert!(fits("34:33.45", Time));
        assert!(!fits("34:33.45x", Time));
        assert!(fits("4624", Integer));
        assert!(!fits("implant0.exe", Integer));
        assert!(fits("0x1f", Hex));
        assert!(fits("-4d2e-", Guid));
        assert!(!fits("{0123456789", Guid));
        assert!(fits("s-1-5-18", Sid));
        assert!(fits("21-3623811015-3361044348", Sid));
        assert!(!fits("1--5", Sid));
        assert!(!fits("5-s", Sid));
        // A digest that happens to be all digits is no SID, float or number.
        let digits = "0000000000000000000000000000000000000000000000000000000000000001";
        assert!(ValueKind::ALL.iter().all(|&k| !fits(digits, k)));
        assert!(fits("rue", Bool));
        assert!(!fits("truex", Bool));
        // A SHA-256 digest fits none of the short kinds.
        let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        assert!(ValueKind::ALL.iter().all(|&k| !fits(sha, k)));
    }
}
