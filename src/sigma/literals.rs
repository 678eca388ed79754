//! What text a rule needs: for each compiled rule, a set of literals one of
//! which is in the text of every record the rule can fire on.
//!
//! The analysis follows the rule's logic: an AND needs what any one of its
//! parts needs (the part with the most selective literals is taken), an OR
//! needs one of what each branch needs, a NOT or a matcher with no text of
//! its own (numbers, ranges, `exists`, field references, placeholders)
//! needs nothing. Regexes (Sigma `re`, and values with inner wildcards,
//! which compile to regexes) are read through their syntax tree for the
//! literals every match contains. Literals are lower case and made only of
//! "plain" characters (see `matcher::longest_plain_run`), so they appear
//! verbatim in a record's screened text as in any rendering of it. When in
//! doubt the answer is `Any`: a rule that needs nothing is asked on every
//! record of its log sources, which costs time, never a detection.

use regex_syntax::hir::{Class, Hir, HirKind};
use rsigma_eval::matcher::GroupMode;
use rsigma_eval::{CompiledDetection, CompiledDetectionItem, CompiledMatcher, CompiledRule};
use rsigma_parser::{ConditionExpr, Quantifier};
use std::collections::HashMap;

use crate::artifact::ValueKind;
use crate::matcher::{fits_kind, longest_plain_run, narrow};

/// Literals are cut to this many bytes, as the IOC prefilter's: a piece of
/// a necessary substring is one too, and the automaton stays small.
pub const MAX_LITERAL: usize = 16;

/// A rule whose best literals are shorter than this is screened by its
/// channel instead: one- and two-letter literals are in nearly every
/// record, and finding them everywhere costs more than they save.
const MIN_USEFUL: usize = 3;

/// Regex literals grown past this many alternatives are given up (`Any`).
const MAX_ALTERNATIVES: usize = 64;

/// Event fields whose value is not text of the record as written (the
/// record's time, formatted by us): no literal can be taken from them.
const SYNTHETIC_FIELDS: &[&str] = &["TimeCreated"];

/// Characters outside ASCII that Unicode lower-casing (which rules'
/// case-insensitive matching uses) turns into ASCII letters, and that
/// letter: the texts the prefilter searches fold them the same way (see
/// `artifact::binxml::text`), so a literal spelt with the letter is found.
pub const FOLDS_TO_ASCII: &[(char, u8)] = &[('\u{130}', b'i'), ('\u{212A}', b'k')];

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
    fn literal(raw: &str) -> Need {
        match longest_plain_run(&raw.to_ascii_lowercase()) {
            Some(run) => Need::OneOf(vec![narrow(&run, MAX_LITERAL).to_string()]),
            None => Need::Any,
        }
    }

    /// Needed when either of the two is (an OR).
    fn or(self, other: Need) -> Need {
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
    fn and(self, other: Need) -> Need {
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
    fn any_of(needs: impl IntoIterator<Item = Need>) -> Need {
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

    fn all_of(needs: impl IntoIterator<Item = Need>) -> Need {
        needs.into_iter().fold(Need::Any, Need::and)
    }
}

/// How selective a set of literals is: the shortest literal (longer ones
/// occur by chance less often), then the fewer the better.
fn score(n: &Need) -> (usize, std::cmp::Reverse<usize>) {
    match n {
        Need::Any => (0, std::cmp::Reverse(usize::MAX)),
        Need::OneOf(v) => (
            v.iter().map(String::len).min().unwrap_or(0).min(8),
            std::cmp::Reverse(v.len()),
        ),
    }
}

/// What the analysis asks of the leaves of a rule's logic.
struct Leaves {
    item: fn(&CompiledDetectionItem) -> Need,
    keywords: fn(&CompiledMatcher) -> Need,
}

/// The literals of `rule`, or `None` when it needs nothing nameable.
pub fn rule_literals(rule: &CompiledRule) -> Option<Vec<String>> {
    let leaves = Leaves {
        item,
        keywords: keyword,
    };
    match analyse(rule, &leaves) {
        Need::OneOf(v) if v.iter().all(|l| l.len() >= MIN_USEFUL) => Some(v),
        _ => None,
    }
}

/// The event ids a record must have for `rule` to fire on it (`EventID:
/// 4688`, or one of a list, required by the rule's logic), or `None`.
pub fn rule_event_ids(rule: &CompiledRule) -> Option<Vec<u32>> {
    let leaves = Leaves {
        item: event_id_item,
        keywords: |_| Need::Any,
    };
    match analyse(rule, &leaves) {
        Need::OneOf(v) => v.iter().map(|s| s.parse().ok()).collect(),
        Need::Any => None,
    }
}

/// `EventID` compared with numbers (rules write `EventID: 4688`, which
/// compiles to numeric equality) or with their exact decimal text (the
/// event gives the id as that text).
fn event_id_item(i: &CompiledDetectionItem) -> Need {
    fn ids(m: &CompiledMatcher) -> Need {
        match m {
            CompiledMatcher::NumericEq(n)
                if n.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(n) =>
            {
                Need::OneOf(vec![(*n as u32).to_string()])
            }
            CompiledMatcher::Exact { value, .. }
                if value.parse::<u32>().is_ok_and(|n| n.to_string() == *value) =>
            {
                Need::OneOf(vec![value.clone()])
            }
            CompiledMatcher::AnyOf(ms)
            | CompiledMatcher::CaseInsensitiveGroup {
                children: ms,
                mode: GroupMode::Any,
            } => Need::any_of(ms.iter().map(ids)),
            CompiledMatcher::AllOf(ms)
            | CompiledMatcher::CaseInsensitiveGroup {
                children: ms,
                mode: GroupMode::All,
            } => Need::all_of(ms.iter().map(ids)),
            _ => Need::Any,
        }
    }
    match (&i.field, i.exists) {
        (Some(f), None) if f == "EventID" => ids(&i.matcher),
        _ => Need::Any,
    }
}

fn analyse(rule: &CompiledRule, leaves: &Leaves) -> Need {
    // Several conditions: the rule fires when any does.
    Need::any_of(
        rule.conditions
            .iter()
            .map(|c| condition(c, &rule.detections, leaves)),
    )
}

fn condition(c: &ConditionExpr, dets: &HashMap<String, CompiledDetection>, l: &Leaves) -> Need {
    match c {
        ConditionExpr::And(xs) => Need::all_of(xs.iter().map(|x| condition(x, dets, l))),
        ConditionExpr::Or(xs) => Need::any_of(xs.iter().map(|x| condition(x, dets, l))),
        ConditionExpr::Not(_) => Need::Any,
        ConditionExpr::Identifier(name) => dets.get(name).map_or(Need::Any, |d| detection(d, l)),
        ConditionExpr::Selector {
            quantifier,
            pattern,
        } => {
            let named = dets
                .iter()
                .filter(|(name, _)| pattern.matches_detection_name(name))
                .map(|(_, d)| detection(d, l));
            match quantifier {
                // `all of` over no detection is true of every record.
                Quantifier::All => Need::all_of(named),
                Quantifier::Any | Quantifier::Count(1..) => Need::any_of(named),
                Quantifier::Count(0) => Need::Any,
            }
        }
    }
}

fn detection(d: &CompiledDetection, l: &Leaves) -> Need {
    match d {
        CompiledDetection::AllOf(items) => Need::all_of(items.iter().map(|i| (l.item)(i))),
        CompiledDetection::AnyOf(ds) => Need::any_of(ds.iter().map(|d| detection(d, l))),
        CompiledDetection::Keywords(m) => (l.keywords)(m),
        CompiledDetection::And(ds) => Need::all_of(ds.iter().map(|d| detection(d, l))),
        CompiledDetection::Conditional {
            named,
            condition: c,
        } => condition(c, named, l),
        // Quantifiers over array items (`none of`) are not analysed.
        CompiledDetection::ArrayMatch { .. } => Need::Any,
    }
}

fn item(i: &CompiledDetectionItem) -> Need {
    if i.exists.is_some() {
        return Need::Any;
    }
    match &i.field {
        Some(f) if SYNTHETIC_FIELDS.contains(&f.as_str()) => Need::Any,
        Some(_) => matcher(&i.matcher),
        None => keyword(&i.matcher),
    }
}

/// A keyword matches any value, the formatted time too: literals that
/// could be part of it are given up.
fn keyword(m: &CompiledMatcher) -> Need {
    match matcher(m) {
        Need::OneOf(v) if v.iter().any(|l| could_be_time(l)) => Need::Any,
        n => n,
    }
}

fn could_be_time(lit: &str) -> bool {
    fits_kind(lit, ValueKind::Time) || lit.chars().all(|c| "0123456789-:. utc".contains(c))
}

fn matcher(m: &CompiledMatcher) -> Need {
    match m {
        CompiledMatcher::Exact { value, .. }
        | CompiledMatcher::Contains { value, .. }
        | CompiledMatcher::StartsWith { value, .. }
        | CompiledMatcher::EndsWith { value, .. } => Need::literal(value),
        CompiledMatcher::AhoCorasickSet { needles, .. } => {
            Need::any_of(needles.iter().map(|n| Need::literal(n)))
        }
        CompiledMatcher::Regex(r) => regex(r.as_str()),
        CompiledMatcher::RegexSetMatch { set, mode } => {
            let each = set.patterns().iter().map(|p| regex(p));
            match mode {
                GroupMode::Any => Need::any_of(each),
                GroupMode::All => Need::all_of(each),
            }
        }
        CompiledMatcher::AnyOf(ms) => Need::any_of(ms.iter().map(matcher)),
        CompiledMatcher::AllOf(ms) => Need::all_of(ms.iter().map(matcher)),
        // Children sharing one lower-casing of the field.
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => match mode {
            GroupMode::Any => Need::any_of(children.iter().map(matcher)),
            GroupMode::All => Need::all_of(children.iter().map(matcher)),
        },
        _ => Need::Any,
    }
}

/// The literals every match of `pattern` contains.
pub fn regex(pattern: &str) -> Need {
    match regex_syntax::Parser::new().parse(pattern) {
        Ok(hir) => {
            let (need, exact) = walk(&hir);
            match exact {
                Some(s) if !s.is_empty() => Need::literal(&s).and(need),
                _ => need,
            }
        }
        Err(_) => Need::Any,
    }
}

/// A node's need, and the exact (lower-case) text it matches if it matches
/// only one.
fn walk(h: &Hir) -> (Need, Option<String>) {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => (Need::Any, Some(String::new())),
        HirKind::Literal(l) => match std::str::from_utf8(&l.0) {
            Ok(s) => (Need::Any, Some(s.to_lowercase())),
            Err(_) => (Need::Any, None),
        },
        HirKind::Class(c) => (Need::Any, class_char(c).map(String::from)),
        HirKind::Capture(c) => walk(&c.sub),
        HirKind::Repetition(r) => {
            if r.min == 0 {
                return (Need::Any, None);
            }
            let (need, exact) = walk(&r.sub);
            match exact {
                Some(s) if r.max == Some(r.min) && s.len() * r.min as usize <= 256 => {
                    (need, Some(s.repeat(r.min as usize)))
                }
                Some(s) if !s.is_empty() => (Need::literal(&s).and(need), None),
                _ => (need, None),
            }
        }
        HirKind::Concat(parts) => {
            // Adjacent exact parts form one literal; each part's own need
            // and each such run are all necessary.
            let mut need = Need::Any;
            let mut all_exact = true;
            let mut run = String::new();
            for p in parts {
                let (n, exact) = walk(p);
                need = need.and(n);
                match exact {
                    Some(s) => run.push_str(&s),
                    None => {
                        all_exact = false;
                        if !run.is_empty() {
                            need = need.and(Need::literal(&run));
                        }
                        run.clear();
                    }
                }
            }
            if all_exact {
                return (need, Some(run));
            }
            if !run.is_empty() {
                need = need.and(Need::literal(&run));
            }
            (need, None)
        }
        HirKind::Alternation(alts) => {
            let mut need = Need::OneOf(Vec::new());
            for a in alts {
                let (n, exact) = walk(a);
                let branch = match exact {
                    Some(s) if !s.is_empty() => Need::literal(&s).and(n),
                    _ => n,
                };
                need = need.or(branch);
                if let Need::OneOf(v) = &need
                    && v.len() > MAX_ALTERNATIVES
                {
                    return (Need::Any, None);
                }
            }
            match need {
                Need::OneOf(v) if v.is_empty() => (Need::Any, None),
                n => (n, None),
            }
        }
    }
}

/// The one lower-case ASCII character a class stands for, when every
/// member is that letter in some case (`(?i)k` is `[Kk\u{212A}]`; members
/// that fold to ASCII from outside it, like the Kelvin sign, are caught by
/// the prefilter's folding literals).
fn class_char(c: &Class) -> Option<char> {
    let mut found: Option<char> = None;
    let mut check = |ch: char| -> bool {
        if !ch.is_ascii() {
            return FOLDS_TO_ASCII.iter().any(|(c, _)| *c == ch);
        }
        let l = ch.to_ascii_lowercase();
        match found {
            None => {
                found = Some(l);
                true
            }
            Some(f) => f == l,
        }
    };
    let ok = match c {
        Class::Unicode(u) => u.ranges().iter().all(|r| {
            (r.end() as u32 - r.start() as u32) < 64 && (r.start()..=r.end()).all(&mut check)
        }),
        Class::Bytes(b) => b
            .ranges()
            .iter()
            .all(|r| r.end() < 0x80 && (r.start()..=r.end()).all(|b| check(char::from(b)))),
    };
    if ok { found } else { None }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lits(n: Need) -> Vec<String> {
        match n {
            Need::OneOf(v) => v,
            Need::Any => Vec::new(),
        }
    }

    #[test]
    fn the_folding_table_is_complete() {
        let found: Vec<(char, u8)> = (0x80..=0x10FFFF)
            .filter_map(char::from_u32)
            .filter_map(|c| Some((c, c.to_lowercase().find(char::is_ascii)? as u8)))
            .collect();
        assert_eq!(found, FOLDS_TO_ASCII);
        let mut out = Vec::new();
        fold_lower("Invo\u{212A}e-Mimi\u{130}é", &mut out);
        assert_eq!(out, "invoke-mimiié".as_bytes());
    }

    #[test]
    fn regexes_yield_the_literals_every_match_contains() {
        // Sigma wildcards compile to `.*`; case folding to classes.
        assert_eq!(lits(regex(r"(?i)^.*\\whoami\.exe$")), ["whoami.exe"]);
        assert_eq!(lits(regex(r"(?i)^.*foo.*barbaz.*$")), ["barbaz"]);
        assert_eq!(lits(regex(r"(?i)(mimikatz|kiwi)")), ["kiwi", "mimikatz"]);
        assert_eq!(lits(regex(r"abc\d+defg")), ["defg"]);
        assert_eq!(lits(regex(r"(ab){3}")), ["ababab"]);
        assert_eq!(regex(r"a?b*"), Need::Any);
        assert_eq!(regex(r"[a-z]+\d"), Need::Any);
        assert_eq!(regex(r"(foo|.*)"), Need::Any);
        assert_eq!(regex(r"(?i)é+"), Need::Any);
    }
}
