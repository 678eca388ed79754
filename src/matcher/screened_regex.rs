//! A regex IOC turned into one that runs on a record's screened text.
//!
//! A literal tells the record prefilter little about a regex whose best
//! literal is common: `\\win[0-9_]{0,3}\.exe` needs only `\win`, which most
//! records naming a Windows path hold (7,354 of the corpus logs' 42,000
//! records passed on it alone). Running the regex itself on the screened
//! text decides such records before they are rendered, if the text can
//! never miss a match the rendering would give. The screened text
//! (`artifact::binxml::text`) is each data value whole, in ASCII lower case,
//! values apart by NUL bytes, every character outside ASCII one NUL per
//! UTF-16 unit or code-page byte (or, for three, the ASCII letter it folds
//! to); values are left out only when they hold no literal at all (then no
//! match lies in them). A regex hit lies inside one value (the matcher runs
//! regexes on values and on pieces of them). So [`on_screened_text`]
//! rewrites the regex so that:
//!
//! - each character it can consume becomes its image in the text: ASCII in
//!   lower case (whatever the regex's case flags); one that may lie outside
//!   ASCII may also be one NUL or more;
//! - a combining dot above may also be nothing at all: lower-casing `İ`
//!   gives `i` and one (the text holds `i`);
//! - anchors and word boundaries hold everywhere (a value's start or end is
//!   somewhere inside the text).
//!
//! Every match of the regex on a value is then a match of the rewritten one
//! on the text: it may let a record through, never turn one away that could
//! hit. The screener says when a record's text is not such a plain image of
//! its values (an entity or character reference, CDATA, a processing
//! instruction: `SystemFacts::verbatim`); then only literals screen it.

use std::sync::OnceLock;

use regex_automata::meta::{self, Regex};
use regex_automata::nfa::thompson::WhichCaptures;
use regex_syntax::hir::{
    Class, ClassUnicode, ClassUnicodeRange, Hir, HirKind, Literal, Repetition,
};

use super::literals::FOLDS_TO_ASCII;
use crate::bundle::limits::MAX_NESTING;
use crate::bundle::value::REGEX_SIZE_LIMIT;

/// The regexes one literal of the record prefilter stands for, run as one
/// on the text of a record that holds the literal (and no literal of
/// another kind of IOC), built the first time such a record comes.
pub(super) struct Group {
    patterns: Vec<String>,
    regex: OnceLock<Option<Regex>>,
}

/// Lazy-DFA cache of a group: a few regexes, ASCII classes only.
const GROUP_CACHE: usize = 4 << 20;

/// Most bytes a group's NFA may take (thousands of regexes sharing `.exe`
/// would otherwise ask for gigabytes).
const GROUP_NFA_LIMIT: usize = 64 << 20;

impl Group {
    pub fn new(patterns: Vec<String>) -> Group {
        Group {
            patterns,
            regex: OnceLock::new(),
        }
    }

    /// Adds a regex (repeats are dropped when the group is built: checking
    /// here would cost the square of a large group's size).
    pub fn add(&mut self, pattern: &str) {
        self.patterns.push(pattern.to_string());
    }

    /// Whether one of the regexes could match a value of the record whose
    /// screened text is `text`; `true` when they cannot be built as one.
    pub fn may_match(&self, text: &[u8]) -> bool {
        self.regex
            .get_or_init(|| self.build())
            .as_ref()
            .is_none_or(|re| re.is_match(text))
    }

    fn build(&self) -> Option<Regex> {
        let mut patterns: Vec<&str> = self.patterns.iter().map(String::as_str).collect();
        patterns.sort_unstable();
        patterns.dedup();
        let hirs: Option<Vec<Hir>> = patterns.iter().map(|p| on_screened_text(p)).collect();
        // A character may take a few states where the pattern had one; a
        // group past the cap lets its records through instead.
        let limit = REGEX_SIZE_LIMIT
            .saturating_mul(4)
            .saturating_mul(patterns.len())
            .min(GROUP_NFA_LIMIT);
        Regex::builder()
            .configure(
                meta::Config::new()
                    .nfa_size_limit(Some(limit))
                    .hybrid_cache_capacity(GROUP_CACHE)
                    .which_captures(WhichCaptures::None),
            )
            .build_from_hir(&Hir::alternation(hirs?))
            .ok()
    }
}

/// `pattern` (read case-insensitively, as regex IOCs are) rewritten to run
/// on screened text; `None` when it does not parse.
pub(super) fn on_screened_text(pattern: &str) -> Option<Hir> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(true)
        .nest_limit(MAX_NESTING as u32)
        .build()
        .parse(pattern)
        .ok()?;
    Some(rewrite(&hir))
}

/// Recursion is bounded by the parser's nest limit.
fn rewrite(h: &Hir) -> Hir {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Hir::empty(),
        // Valid UTF-8 (the parser refuses patterns that could match
        // anything else); a stray byte would be a character outside ASCII.
        HirKind::Literal(Literal(bytes)) => Hir::concat(
            String::from_utf8_lossy(bytes)
                .chars()
                .map(|c| atom(&[(c, c)]))
                .collect(),
        ),
        HirKind::Class(Class::Unicode(c)) => {
            let ranges: Vec<(char, char)> =
                c.ranges().iter().map(|r| (r.start(), r.end())).collect();
            atom(&ranges)
        }
        HirKind::Class(Class::Bytes(c)) => {
            // A byte above 0x7F (part of a character outside ASCII) reads
            // as a character outside ASCII too.
            let ranges: Vec<(char, char)> = c
                .ranges()
                .iter()
                .map(|r| (char::from(r.start()), char::from(r.end())))
                .collect();
            atom(&ranges)
        }
        HirKind::Repetition(r) => Hir::repetition(Repetition {
            min: r.min,
            max: r.max,
            greedy: r.greedy,
            sub: Box::new(rewrite(&r.sub)),
        }),
        HirKind::Capture(c) => rewrite(&c.sub),
        HirKind::Concat(parts) => Hir::concat(parts.iter().map(rewrite).collect()),
        HirKind::Alternation(parts) => Hir::alternation(parts.iter().map(rewrite).collect()),
    }
}

/// Lower-casing `İ` gives `i` and this.
const COMBINING_DOT_ABOVE: u32 = 0x307;

/// One character of the regex, which may be any of `ranges`, as the text
/// can hold it: its lower-case ASCII image, or NULs when it may lie
/// outside ASCII; nothing at all too when it may be
/// [`COMBINING_DOT_ABOVE`].
fn atom(ranges: &[(char, char)]) -> Hir {
    let mut ascii = [false; 128];
    let mut outside = false;
    let mut vanishes = false;
    for &(start, end) in ranges {
        let (s, e) = (u32::from(start), u32::from(end));
        for c in s..=e.min(0x7f) {
            ascii[usize::from((c as u8).to_ascii_lowercase())] = true;
        }
        for &(f, a) in FOLDS_TO_ASCII {
            if (s..=e).contains(&u32::from(f)) {
                ascii[usize::from(a)] = true;
            }
        }
        outside |= e > 0x7f;
        vanishes |= (s..=e).contains(&COMBINING_DOT_ABOVE);
    }
    ascii[0] |= outside;
    let mut class = Vec::new();
    let mut b = 0;
    while b < 128 {
        if ascii[b] {
            let start = b;
            while b + 1 < 128 && ascii[b + 1] {
                b += 1;
            }
            class.push(ClassUnicodeRange::new(
                char::from(start as u8),
                char::from(b as u8),
            ));
        }
        b += 1;
    }
    let one = Hir::class(Class::Unicode(ClassUnicode::new(class)));
    let image = if outside {
        let nuls = Hir::repetition(Repetition {
            min: 0,
            max: None,
            greedy: true,
            sub: Box::new(Hir::literal(*b"\0")),
        });
        Hir::concat(vec![one, nuls])
    } else {
        one
    };
    if vanishes {
        Hir::repetition(Repetition {
            min: 0,
            max: Some(1),
            greedy: true,
            sub: Box::new(image),
        })
    } else {
        image
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex_automata::meta::Regex;

    fn on_text(pattern: &str) -> Regex {
        Regex::builder()
            .build_from_hir(&on_screened_text(pattern).unwrap())
            .unwrap()
    }

    /// The text the screener writes for one value, alone.
    fn screened(value: &str) -> Vec<u8> {
        let mut out = Vec::new();
        for unit in value.encode_utf16() {
            out.push(match unit {
                0x01..=0x7f => (unit as u8).to_ascii_lowercase(),
                0x212a => b'k',
                0x0130 => b'i',
                0x017f => b's',
                _ => 0,
            });
        }
        out
    }

    #[test]
    fn a_match_on_a_value_is_a_match_on_its_screened_text() {
        // (regex, the form it runs on, the value whose text is screened)
        let cases = [
            (r"\\win[0-9_]{0,3}\.exe$", r"C:\Users\x\WIN12.exe", None),
            (r"^C:\\Temp\\[a-z]{3}\.dll$", r"c:\temp\ABC.DLL", None),
            (r"(?-i)\\Temp\\[A-Z]+\.ps1", r"D:\Temp\EVIL.ps1", None),
            (
                r"\\[\w]{1,3}\.exe\b",
                "C:\\\u{e9}t\u{e9}\\\u{e9}\u{e9}.exe",
                None,
            ),
            (
                r"\\[^\\]{1,4}\\x\.bat",
                "C:\\\u{1F600}\u{1F600}\\x.bat",
                None,
            ),
            (r"\\mimi\u{212A}atz", "C:\\tools\\MIMI\u{212A}ATZ.exe", None),
            (r"\\t\u{e4}st\.exe", "C:\\T\u{c4}ST.exe", None),
            (r"(?-u:\\x[a-z]y)", "\\xQy", None),
            // A domain is lower-cased before matching: one character
            // becomes two (`i` and a combining dot), the text holds one.
            (
                r"evi.l\.example$",
                "evi\u{307}l.example",
                Some("ev\u{130}l.example"),
            ),
        ];
        for (pattern, form, value) in cases {
            let original = regex::RegexBuilder::new(pattern)
                .case_insensitive(true)
                .build()
                .unwrap();
            assert!(original.is_match(form), "{pattern} on {form}");
            let value = value.unwrap_or(form);
            let mut text = b"some\0other value\0".to_vec();
            text.extend(screened(value));
            text.extend_from_slice(b"\0more");
            assert!(
                on_text(pattern).is_match(&text),
                "{pattern} on the text of {value}"
            );
        }
    }

    #[test]
    fn the_rewritten_regex_still_tells_values_apart() {
        let re = on_text(r"\\win[0-9_]{0,3}\.exe$");
        assert!(!re.is_match(b"c:\\windows\\system32\\svchost.exe\0x"));
        assert!(re.is_match(b"c:\\win7.exe\0x"));
        assert!(!re.is_match(b"c:\\wi\0n7.exe"));
        assert!(!re.is_match(b"c:\\wi n7.exe"));
        // A class that holds characters outside ASCII still needs one
        // character (a NUL if no ASCII one).
        let spaces = on_text(r"[\s]{7,}\.(exe|com)");
        assert!(!spaces.is_match(b"c:\\windows\\x.exe"));
        assert!(spaces.is_match(b"\0\0 \0\0\0\0\0.exe"));
        assert!(!on_text(r"\\svchost\u{201d}\.exe").is_match(b"c:\\svchost.exe"));
        assert!(!on_text(r"\\winlogon[0-9_a-z]{1,3}\.exe").is_match(b"c:\\winlogon.exe"));
        // Case flags do not matter: the text is lower case.
        assert!(on_text(r"(?-i)\\WIN\.exe").is_match(b"c:\\win.exe"));
    }
}
