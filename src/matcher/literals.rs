//! The literals a text must contain to match: a regex's, read through its
//! syntax tree, and the longest run of a value that the text searched
//! holds verbatim. Shared by the IOC matcher (regex IOCs: its record
//! prefilter and the regexes' own screen) and the Sigma rules' prefilter.
//!
//! Literals are lower case and made only of characters the text they are
//! searched in writes as they are ([`Text`]): a record's screened text
//! keeps all of ASCII but controls and the characters XML writes as
//! entities; a value folded by [`fold_lower`] keeps all of ASCII.
//! When in doubt the answer is [`Need::Any`]: a regex with no literal is
//! tried on every value, which costs time, never a match.

use regex_syntax::hir::{Class, Hir, HirKind};

use super::narrow;

/// Literals are cut to this many bytes: any piece of a necessary substring
/// is one too, 16 characters rarely occur by chance, and an automaton's
/// size (its build time, and its cache misses while searching) grows with
/// the literals' total length. A SHA-256 literal would be 64.
pub const MAX_LITERAL: usize = 16;

/// Regex literals grown past this many alternatives are given up (`Any`).
const MAX_ALTERNATIVES: usize = 64;

/// Characters outside ASCII that Unicode lower-casing (which rules'
/// case-insensitive matching uses) turns into an ASCII letter, or that
/// simple case folding (which case-insensitive regexes use) puts in one
/// class with an ASCII letter, and that letter: the texts the prefilters
/// search fold them the same way (see `artifact::binxml::text`), so a
/// literal spelt with the letter is found.
pub const FOLDS_TO_ASCII: &[(char, u8)] =
    &[('\u{130}', b'i'), ('\u{17F}', b's'), ('\u{212A}', b'k')];

/// `s` in ASCII lower case, with [`FOLDS_TO_ASCII`] folded.
pub fn fold_lower(s: &str, out: &mut Vec<u8>) {
    if s.is_ascii() {
        out.extend(s.bytes().map(|b| b.to_ascii_lowercase()));
        return;
    }
    for c in s.chars() {
        match FOLDS_TO_ASCII.iter().find(|(f, _)| *f == c) {
            Some((_, a)) => out.push(*a),
            None if c.is_ascii() => out.push(c.to_ascii_lowercase() as u8),
            None => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
        }
    }
}

/// What a rule, detection or matcher needs of a record's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Need {
    /// Nothing that can be named.
    Any,
    /// One of these literals (never empty).
    OneOf(Vec<String>),
}

impl Need {
    /// The literal of `raw` in the texts Sigma rules are screened by (the
    /// record's screened text and its folded values: [`Text::Screened`]).
    pub fn literal(raw: &str) -> Need {
        Need::literal_in(raw, Text::Screened)
    }

    /// The literal of `raw` as it appears in text `t`.
    pub fn literal_in(raw: &str, t: Text) -> Need {
        let lower = raw.to_ascii_lowercase();
        let longest = |breaks: fn(char) -> bool| {
            lower
                .split(breaks)
                .max_by_key(|r| r.len())
                .filter(|r| !r.is_empty())
                .map(str::to_string)
        };
        let run = match t {
            Text::Screened => longest(|c| {
                !c.is_ascii() || c.is_ascii_control() || matches!(c, '&' | '<' | '>' | '"' | '\'')
            }),
            Text::Value => longest(|c| !c.is_ascii()),
        };
        match run {
            Some(run) => Need::OneOf(vec![narrow(&run, MAX_LITERAL).to_string()]),
            None => Need::Any,
        }
    }

    /// Needed when either of the two is (an OR).
    pub fn or(self, other: Need) -> Need {
        match (self, other) {
            (Need::OneOf(mut a), Need::OneOf(b)) => {
                a.extend(b);
                a.sort();
                a.dedup();
                Need::OneOf(a)
            }
            _ => Need::Any,
        }
    }

    /// Needed when both are (an AND): the more selective of the two.
    pub fn and(self, other: Need) -> Need {
        match (self, other) {
            (Need::Any, n) | (n, Need::Any) => n,
            (a, b) => {
                if score(&b) > score(&a) {
                    b
                } else {
                    a
                }
            }
        }
    }

    /// Needed when any of them is (sorted once, not at every step: value
    /// lists run to hundreds).
    pub fn any_of(needs: impl IntoIterator<Item = Need>) -> Need {
        let mut all = Vec::new();
        let mut empty = true;
        for n in needs {
            empty = false;
            match n {
                Need::Any => return Need::Any,
                Need::OneOf(v) => all.extend(v),
            }
        }
        if empty {
            return Need::Any;
        }
        all.sort();
        all.dedup();
        Need::OneOf(all)
    }

    pub fn all_of(needs: impl IntoIterator<Item = Need>) -> Need {
        needs.into_iter().fold(Need::Any, Need::and)
    }
}

/// How selective a set of literals is: the shortest literal (longer ones
/// occur by chance less often), then the fewer the better.
fn score(n: &Need) -> (usize, std::cmp::Reverse<usize>) {
    match n {
        Need::Any => (0, std::cmp::Reverse(usize::MAX)),
        Need::OneOf(v) => score_of(v),
    }
}

/// [`score`] of the set `v`.
pub fn score_of(v: &[String]) -> (usize, std::cmp::Reverse<usize>) {
    (
        v.iter().map(String::len).min().unwrap_or(0).min(8),
        std::cmp::Reverse(v.len()),
    )
}

/// The literals every match of `pattern` contains, in the texts Sigma
/// rules are screened by ([`Text::Screened`], as [`Need::literal`]).
pub fn regex(pattern: &str) -> Need {
    regex_with(pattern, false, Text::Screened)
}

/// The literals of `pattern`'s top-level pieces, each necessary on its
/// own (`cmd.+/c.+powershell`: `cmd`, `/c` and `powershell`), the most
/// selective first, in the texts Sigma rules are screened by; never empty
/// (`[Any]` when nothing is nameable).
pub fn regex_conjuncts(pattern: &str) -> Vec<Need> {
    let [needs] = conjuncts(parse(pattern, false).as_ref(), [Text::Screened]);
    needs
}

/// The text literals are searched in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Text {
    /// A record's text as the EVTX screener gathers it (`artifact::binxml`:
    /// each value as it is, entity references as breaks): ASCII but
    /// controls and the five characters XML writes as entities.
    Screened,
    /// The value itself, folded by [`fold_lower`]: any ASCII.
    Value,
}

fn regex_with(pattern: &str, case_insensitive: bool, t: Text) -> Need {
    parse(pattern, case_insensitive).map_or(Need::Any, |hir| need_of(&hir, t))
}

fn parse(pattern: &str, case_insensitive: bool) -> Option<Hir> {
    regex_syntax::ParserBuilder::new()
        .case_insensitive(case_insensitive)
        .build()
        .parse(pattern)
        .ok()
}

/// A case-insensitive pattern's syntax as far as literals go. Reading it
/// case-sensitively is much cheaper (no class of case variants for each
/// letter) and gives the same literals whenever its literal characters are
/// ASCII: folding case only adds, to a class or a letter, variants whose
/// lower-case ASCII image is the one already there (`K` for `k`, the Kelvin
/// sign and `ſ` fold to `k` and `s` in [`class_set`] too), or variants
/// outside ASCII, which [`class_set`] gives up on either way. A letter
/// outside ASCII read case-sensitively would be a literal of its own case
/// only: such a pattern is read case-insensitively.
fn parse_folded(pattern: &str) -> Option<Hir> {
    parse(pattern, false)
        .filter(ascii_literals)
        .or_else(|| parse(pattern, true))
}

/// Whether every literal of `h` is ASCII (recursion bounded by the parser's
/// nest limit).
fn ascii_literals(h: &Hir) -> bool {
    match h.kind() {
        HirKind::Literal(l) => l.0.is_ascii(),
        HirKind::Capture(c) => ascii_literals(&c.sub),
        HirKind::Repetition(r) => ascii_literals(&r.sub),
        HirKind::Concat(parts) | HirKind::Alternation(parts) => parts.iter().all(ascii_literals),
        HirKind::Empty | HirKind::Look(_) | HirKind::Class(_) => true,
    }
}

fn need_of(hir: &Hir, t: Text) -> Need {
    let (need, exact) = walk(hir, t);
    match exact {
        Some(set) => set_need(&set, t).and(need),
        None => need,
    }
}

/// The (lower-case) strings a node matches, when they are few enough to
/// list: `(q32|q64)\.exe` is `q32.exe`, `q64.exe`.
type Exact = Option<Vec<String>>;

/// Longest exact string kept.
const MAX_EXACT_LEN: usize = 256;

/// Most characters a class may stand for and still be listed (an
/// alphabet: `\\[a-z]\.exe` is 26 literals, each rarer than `.exe`).
const MAX_CLASS: usize = 26;

/// What a set of exact strings needs: one of their literals.
fn set_need(set: &[String], t: Text) -> Need {
    Need::any_of(set.iter().map(|s| Need::literal_in(s, t)))
}

/// Every `a` followed by every `b`, if that is few enough to list.
fn product(a: &[String], b: &[String]) -> Exact {
    if a.len().saturating_mul(b.len()) > MAX_ALTERNATIVES {
        return None;
    }
    let mut out = Vec::with_capacity(a.len() * b.len());
    for x in a {
        for y in b {
            if x.len() + y.len() > MAX_EXACT_LEN {
                return None;
            }
            out.push(format!("{x}{y}"));
        }
    }
    out.sort();
    out.dedup();
    Some(out)
}

/// What a concatenation needs, each piece necessary on its own: every
/// part's need, and each run of adjacent exact parts as one set of strings;
/// when every part is exact, the whole run is returned as exact instead.
fn concat(parts: &[Hir], t: Text) -> (Vec<Need>, Exact) {
    let mut needs = Vec::new();
    let mut all_exact = true;
    let mut run = vec![String::new()];
    let flush = |needs: &mut Vec<Need>, run: &mut Vec<String>| {
        if run.iter().any(|s| !s.is_empty()) {
            needs.push(set_need(run, t));
        }
        *run = vec![String::new()];
    };
    for p in parts {
        let (n, exact) = walk(p, t);
        needs.push(n);
        match exact {
            Some(set) => match product(&run, &set) {
                Some(joined) => run = joined,
                None => {
                    // Too many to list: what came before is a run of its
                    // own, and this part starts the next.
                    all_exact = false;
                    flush(&mut needs, &mut run);
                    run = set;
                }
            },
            None => {
                all_exact = false;
                flush(&mut needs, &mut run);
            }
        }
    }
    if all_exact {
        return (needs, Some(run));
    }
    flush(&mut needs, &mut run);
    (needs, None)
}

/// What a regex IOC's matches contain in each of `texts` (the pattern parsed
/// once, case-sensitively where that reads the same: [`parse_folded`];
/// parsing is most of the cost). IOC regexes match case-insensitively: each
/// letter is a class of its case variants, and one with a variant outside
/// ASCII that [`fold_lower`] does not fold gives no literal. The result is
/// the needs of the pattern's top-level pieces, each necessary on its own
/// (`\\win[0-9]{0,3}\.exe`: `\\win` and `.exe`), the most selective first:
/// a screen runs on the first, and the others can turn a candidate away
/// before its regex runs. Never empty.
pub fn regex_conjuncts_case_insensitive<const N: usize>(
    pattern: &str,
    texts: [Text; N],
) -> [Vec<Need>; N] {
    conjuncts(parse_folded(pattern).as_ref(), texts)
}

fn conjuncts<const N: usize>(parsed: Option<&Hir>, texts: [Text; N]) -> [Vec<Need>; N] {
    let Some(mut hir) = parsed else {
        return texts.map(|_| vec![Need::Any]);
    };
    while let HirKind::Capture(c) = hir.kind() {
        hir = &c.sub;
    }
    texts.map(|t| {
        let mut needs = match hir.kind() {
            HirKind::Concat(parts) => {
                let (mut needs, exact) = concat(parts, t);
                if let Some(set) = exact {
                    needs.push(set_need(&set, t));
                }
                needs
            }
            _ => vec![need_of(hir, t)],
        };
        needs.retain(|n| *n != Need::Any);
        needs.sort_by_key(|n| std::cmp::Reverse(score(n)));
        if needs.is_empty() {
            needs.push(Need::Any);
        }
        needs
    })
}

/// A node's need, and the exact strings it matches if they are few.
fn walk(h: &Hir, t: Text) -> (Need, Exact) {
    let empty = || Some(vec![String::new()]);
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => (Need::Any, empty()),
        HirKind::Literal(l) => match std::str::from_utf8(&l.0) {
            Ok(s) => (Need::Any, Some(vec![s.to_lowercase()])),
            Err(_) => (Need::Any, None),
        },
        HirKind::Class(c) => (Need::Any, class_set(c)),
        HirKind::Capture(c) => walk(&c.sub, t),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return (Need::Any, None);
            }
            let (need, exact) = walk(&r.sub, t);
            let Some(set) = exact else {
                return (need, None);
            };
            if r.max == Some(r.min) {
                if set.iter().all(String::is_empty) {
                    // `(?:){4294967295}`: nothing, however often.
                    return (need, Some(set));
                }
                // Each round lengthens the strings or multiplies them:
                // the caps end the loop within MAX_EXACT_LEN rounds.
                let mut all = empty();
                for _ in 0..r.min {
                    all = all.and_then(|a| product(&a, &set));
                    if all.is_none() {
                        break;
                    }
                }
                if all.is_some() {
                    return (need, all);
                }
            }
            (set_need(&set, t).and(need), None)
        }
        HirKind::Concat(parts) => {
            let (needs, exact) = concat(parts, t);
            (needs.into_iter().fold(Need::Any, Need::and), exact)
        }
        HirKind::Alternation(alts) => {
            let mut need = Need::OneOf(Vec::new());
            let mut union: Exact = Some(Vec::new());
            for a in alts {
                let (n, exact) = walk(a, t);
                let branch = match &exact {
                    Some(set) => set_need(set, t).and(n),
                    None => n,
                };
                need = need.or(branch);
                union = match (union, exact) {
                    (Some(mut u), Some(set)) if u.len() + set.len() <= MAX_ALTERNATIVES => {
                        u.extend(set);
                        Some(u)
                    }
                    _ => None,
                };
                if let Need::OneOf(v) = &need
                    && v.len() > MAX_ALTERNATIVES
                {
                    return (Need::Any, None);
                }
            }
            let union = union.map(|mut u| {
                u.sort();
                u.dedup();
                u
            });
            match need {
                Need::OneOf(v) if v.is_empty() => (Need::Any, union),
                n => (n, union),
            }
        }
    }
}

/// The lower-case ASCII characters a class stands for, when they are few
/// (`(?i)k` is `[Kk\u{212A}]`, one letter: members outside ASCII count as
/// the letter the texts fold them to, [`FOLDS_TO_ASCII`]; any other member
/// outside ASCII gives `None`).
fn class_set(c: &Class) -> Exact {
    let mut found: Vec<u8> = Vec::new();
    let mut add = |ch: char| -> bool {
        let b = if ch.is_ascii() {
            (ch as u8).to_ascii_lowercase()
        } else if let Some((_, a)) = FOLDS_TO_ASCII.iter().find(|(c, _)| *c == ch) {
            *a
        } else {
            return false;
        };
        if !found.contains(&b) {
            found.push(b);
        }
        found.len() <= MAX_CLASS
    };
    let ok = match c {
        Class::Unicode(u) => u.ranges().iter().all(|r| {
            (r.end() as u32 - r.start() as u32) < 128 && (r.start()..=r.end()).all(&mut add)
        }),
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .all(|r| r.end() < 0x80 && (r.start()..=r.end()).all(|b| add(char::from(b)))),
    };
    if !ok {
        return None;
    }
    found.sort();
    Some(
        found
            .into_iter()
            .map(|b| char::from(b).to_string())
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reading a pattern case-sensitively where that is allowed gives the
    /// literals reading it case-insensitively gives, or others as good:
    /// regex-syntax factors alternations differently in the two modes
    /// (`(Windows|WinXP)` is `Win(dows|XP)` case-insensitively), so the
    /// readings may differ in their other pieces, never in whether a
    /// pattern can be screened.
    #[test]
    fn case_sensitive_reading_gives_the_case_insensitive_literals() {
        let texts = [Text::Value, Text::Screened];
        let both = |p: &str| {
            (
                conjuncts(parse(p, true).as_ref(), texts),
                conjuncts(parse_folded(p).as_ref(), texts),
            )
        };
        for p in [
            r"\\mimi[k]atz\.exe",
            r"\\S[a-z]{2}host\.exe$",
            r"(?-i)\\Temp\\[A-Z]{3}\.ps1",
            r"(?i:AB)cd\x{212A}\.dll",
            r"\\t\x{e4}st\.exe",
            r"\\\x{17F}vchost\.exe",
            r"[[:upper:]]{2}\.bat",
            r"\p{Lu}x\.exe",
            r"caf\u{e9}\\(a|b|\x{130})\.exe",
        ] {
            let (folded, quick) = both(p);
            assert_eq!(quick, folded, "{p}");
        }
        // A letter outside ASCII is read with its case variants.
        let umlaut = r"t\x{e4}st";
        assert!(parse(umlaut, false).is_some_and(|h| !ascii_literals(&h)));
        assert_eq!(parse_folded(umlaut), parse(umlaut, true));
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/bundles/signature-base/filename-iocs.txt"
        );
        let loki = std::fs::read_to_string(file).unwrap_or_default();
        for p in loki.lines().filter(|l| !l.starts_with('#')) {
            let p = p.split(';').next().unwrap_or("");
            let (folded, quick) = both(p);
            for (f, q) in folded.iter().zip(&quick) {
                assert_eq!(f[0] == Need::Any, q[0] == Need::Any, "{p}");
            }
        }
    }

    fn lits(n: Need) -> Vec<String> {
        match n {
            Need::OneOf(v) => v,
            Need::Any => Vec::new(),
        }
    }

    #[test]
    fn the_folding_table_is_complete() {
        let mut found: Vec<(char, u8)> = (0x80..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter_map(|c| Some((c, c.to_lowercase().find(char::is_ascii)? as u8)))
            .collect();
        // What `(?i)` puts beside each ASCII letter.
        let hir = regex_syntax::ParserBuilder::new()
            .case_insensitive(true)
            .build()
            .parse("[a-z]")
            .unwrap();
        let HirKind::Class(Class::Unicode(class)) = hir.kind() else {
            panic!("a class")
        };
        for r in class.ranges() {
            for c in (r.start()..=r.end()).filter(|c| !c.is_ascii()) {
                let letter = (b'a'..=b'z')
                    .find(|&l| {
                        let one = format!("(?i){}", char::from(l));
                        regex::Regex::new(&one).unwrap().is_match(&c.to_string())
                    })
                    .unwrap();
                found.push((c, letter));
            }
        }
        found.sort();
        found.dedup();
        assert_eq!(found, FOLDS_TO_ASCII);
        let mut out = Vec::new();
        fold_lower("Invo\u{212A}e-Mimi\u{130}é\u{17F}", &mut out);
        assert_eq!(out, "invoke-mimiiés".as_bytes());
    }

    #[test]
    fn regexes_yield_the_literals_every_match_contains() {
        let folded = |p, t| {
            let [needs] = regex_conjuncts_case_insensitive(p, [t]);
            needs[0].clone()
        };
        // Sigma wildcards compile to `.*`; case folding to classes.
        assert_eq!(lits(regex(r"(?i)^.*\\whoami\.exe$")), ["\\whoami.exe"]);
        assert_eq!(lits(regex(r"(?i)^.*foo.*barbaz.*$")), ["barbaz"]);
        assert_eq!(lits(regex(r"(?i)(mimikatz|kiwi)")), ["kiwi", "mimikatz"]);
        assert_eq!(lits(regex(r"abc\d+defg")), ["defg"]);
        assert_eq!(lits(regex(r"(ab){3}")), ["ababab"]);
        assert_eq!(regex(r"a?b*"), Need::Any);
        assert_eq!(regex(r"[a-z0-9]+\d"), Need::Any);
        // Few strings are listed: alternations and small classes beside
        // literals.
        let value = |p| lits(folded(p, Text::Value));
        assert_eq!(value(r"\\(q32|Q64)\.exe"), ["\\q32.exe", "\\q64.exe"]);
        let screened = |p| lits(folded(p, Text::Screened));
        assert_eq!(screened(r"\\Temp\\a&b\.exe"), ["\\temp\\a"]);
        let letters = value(r"\\[a-z]\.exe$");
        assert_eq!(letters.len(), 26);
        assert_eq!(letters[10], "\\k.exe");
        assert_eq!(
            value(r"dl_[0-9]{2}\.exe"),
            [".exe"],
            "100 strings: not listed"
        );
        assert_eq!(lits(regex(r"x[ab]{2}y")), ["xaay", "xaby", "xbay", "xbby"]);
        assert_eq!(regex(r"(foo|.*)"), Need::Any);
        assert_eq!(regex(r"(?i)é+"), Need::Any);
        // Huge counts end at once (a hostile bundle's regex).
        assert_eq!(regex(r"(?:){4294967295}"), Need::Any);
        assert_eq!(regex(r"(?:^){4294967295}"), Need::Any);
        assert_eq!(lits(regex(r"ab(?:c|){4294967295}x")), ["ab"]);
        assert_eq!(lits(regex(r"a{4294967295}")), ["a"]);
        // Case-insensitive `s` also matches `ſ`, which the texts fold to `s`.
        assert_eq!(
            lits(folded(r"\\Evils\.exe", Text::Screened)),
            ["\\evils.exe"]
        );
        assert_eq!(lits(folded(r"mimikatz", Text::Screened)), ["mimikatz"]);
        // In a value itself any ASCII can be part of a literal.
        let value = |p| lits(folded(p, Text::Value));
        assert_eq!(value(r"\\winz\\\.exe"), ["\\winz\\.exe"]);
        // In the screened text, not the characters XML writes as entities.
        assert_eq!(
            lits(folded(r"\\winz\\\.exe", Text::Screened)),
            ["\\winz\\.exe"]
        );
        assert_eq!(lits(regex(r"a<b>cdef")), ["cdef"]);
    }
}
