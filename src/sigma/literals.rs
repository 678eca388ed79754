//! What text a rule needs: for each compiled rule, clauses (sets of
//! literals) each of which has a literal in the text of every record the
//! rule can fire on.
//!
//! The analysis follows the rule's logic: an AND needs what each of its
//! parts needs (the clauses of all, the most selective kept), an OR needs
//! one of what each branch needs (clauses distributed over the branches
//! while few, else one clause of each branch's best), a NOT or a matcher
//! with no text of its own (numbers, ranges, `exists`, field references,
//! placeholders) needs nothing. Requiring every clause, not one, is what
//! keeps a rule such as `Image|endswith: \rundll32.exe` *and*
//! `CommandLine|contains: ...` from making every rundll32 record a
//! candidate. Regexes (Sigma `re`, and values with inner wildcards,
//! which compile to regexes) are read through their syntax tree for the
//! literals every match contains. Literals are lower case and made only of
//! the characters a record's screened text writes as they are (all of ASCII
//! but controls and the five XML writes as entities: `\` is kept, so
//! `Image|contains: '~1\'` screens), so they appear verbatim in that text and
//! in the record's values folded by `fold_lower`, the two texts the
//! prefilter searches. When in
//! doubt the answer is `Any`: a rule that needs nothing is asked on every
//! record of its log sources, which costs time, never a detection.

use rsigma_eval::matcher::GroupMode;
use rsigma_eval::{CompiledDetection, CompiledDetectionItem, CompiledMatcher, CompiledRule};
use rsigma_parser::{ConditionExpr, Quantifier};
use std::collections::HashMap;

use crate::artifact::ValueKind;
use crate::matcher::fits_kind;
use crate::matcher::literals::score_of;
pub use crate::matcher::literals::{Need, fold_lower, regex, regex_conjuncts};

/// A rule whose best literals are shorter than this is screened by its
/// channel instead: one- and two-letter literals are in nearly every
/// record, and finding them everywhere costs more than they save.
const MIN_USEFUL: usize = 3;

/// Event fields whose value is not text of the record as written (the
/// record's time, formatted by us): no literal can be taken from them.
const SYNTHETIC_FIELDS: &[&str] = &["TimeCreated"];

/// Clauses a rule keeps at most: each costs a bit per rule and record, and
/// past a few the next adds little.
const MAX_CLAUSES: usize = 4;

/// What the analysis asks of the leaves of a rule's logic.
struct Leaves<N> {
    item: fn(&CompiledDetectionItem) -> N,
    keywords: fn(&CompiledMatcher) -> N,
}

/// How the needs of a rule's parts combine.
trait Combine: From<Need> {
    fn all_of(parts: impl Iterator<Item = Self>) -> Self;
    fn any_of(parts: impl Iterator<Item = Self>) -> Self;
}

impl Combine for Need {
    fn all_of(parts: impl Iterator<Item = Self>) -> Self {
        Need::all_of(parts)
    }
    fn any_of(parts: impl Iterator<Item = Self>) -> Self {
        Need::any_of(parts)
    }
}

/// Clauses that must all be found, each a set of literals of which one
/// must be (none: the rule needs nothing nameable). Each clause is sorted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clauses(pub Vec<Vec<String>>);

impl From<Need> for Clauses {
    fn from(n: Need) -> Self {
        match n {
            Need::Any => Clauses::default(),
            Need::OneOf(mut v) => {
                v.sort();
                v.dedup();
                Clauses(vec![v])
            }
        }
    }
}

impl Clauses {
    /// The most selective clauses, at most [`MAX_CLAUSES`]; clauses with a
    /// literal too short to screen anything are dropped.
    fn best(mut self) -> Self {
        self.0.retain(|c| c.iter().all(|l| l.len() >= MIN_USEFUL));
        self.0
            .sort_by(|a, b| score_of(b).cmp(&score_of(a)).then_with(|| a.cmp(b)));
        self.0.dedup();
        self.0.truncate(MAX_CLAUSES);
        self
    }

    /// The one clause that stands for the others where clauses cannot be
    /// kept apart (`None`: nothing nameable).
    fn first(self) -> Option<Vec<String>> {
        self.best().0.into_iter().next()
    }
}

fn union(a: &[String], b: &[String]) -> Vec<String> {
    let mut u: Vec<String> = a.iter().chain(b).cloned().collect();
    u.sort();
    u.dedup();
    u
}

impl Combine for Clauses {
    fn all_of(parts: impl Iterator<Item = Self>) -> Self {
        Clauses(parts.flat_map(|p| p.0).collect()).best()
    }

    fn any_of(parts: impl Iterator<Item = Self>) -> Self {
        let parts: Vec<Clauses> = parts.collect();
        if parts.is_empty() || parts.iter().any(|p| p.0.is_empty()) {
            return Clauses::default();
        }
        // Value lists run to hundreds of one-clause branches: one union,
        // sorted once.
        if parts.iter().all(|p| p.0.len() == 1) {
            let mut all: Vec<String> = parts.into_iter().flat_map(|p| p.0).flatten().collect();
            all.sort();
            all.dedup();
            return Clauses(vec![all]);
        }
        let mut acc: Option<Clauses> = None;
        for p in parts {
            acc = Some(match acc {
                None => p.best(),
                Some(a) => or(a, p.best()),
            });
            if acc.as_ref().is_some_and(|a| a.0.is_empty()) {
                return Clauses::default();
            }
        }
        acc.unwrap_or_default()
    }
}

/// `(a1 ∧ a2) ∨ (b1 ∧ b2)` is `(a1 ∨ b1) ∧ (a1 ∨ b2) ∧ (a2 ∨ b1) ∧
/// (a2 ∨ b2)`: distributed while that gives few clauses, else the best
/// clause of each side joined.
fn or(a: Clauses, b: Clauses) -> Clauses {
    if a.0.len() * b.0.len() <= MAX_CLAUSES {
        let mut out = Vec::new();
        for x in &a.0 {
            for y in &b.0 {
                out.push(union(x, y));
            }
        }
        return Clauses(out).best();
    }
    match (a.first(), b.first()) {
        (Some(x), Some(y)) => Clauses(vec![union(&x, &y)]),
        _ => Clauses::default(),
    }
}

/// The literal clauses of `rule` (empty when it needs nothing nameable).
pub fn rule_literals(rule: &CompiledRule) -> Vec<Vec<String>> {
    let leaves = Leaves {
        item,
        keywords: |m| keyword(m).into(),
    };
    analyse::<Clauses>(rule, &leaves).best().0
}

/// The event ids a record must have for `rule` to fire on it (`EventID:
/// 4688`, or one of a list, required by the rule's logic), or `None`.
pub fn rule_event_ids(rule: &CompiledRule) -> Option<Vec<u32>> {
    let leaves = Leaves {
        item: event_id_item,
        keywords: |_| Need::Any,
    };
    match analyse::<Need>(rule, &leaves) {
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
            _ => match group(m) {
                Some((GroupMode::Any, ms)) => Need::any_of(ms.iter().map(ids)),
                Some((GroupMode::All, ms)) => Need::all_of(ms.iter().map(ids)),
                None => Need::Any,
            },
        }
    }
    match (&i.field, i.exists) {
        (Some(f), None) if f == "EventID" => ids(&i.matcher),
        _ => Need::Any,
    }
}

fn analyse<N: Combine>(rule: &CompiledRule, leaves: &Leaves<N>) -> N {
    // Several conditions: the rule fires when any does.
    N::any_of(
        rule.conditions
            .iter()
            .map(|c| condition(c, &rule.detections, leaves)),
    )
}

fn condition<N: Combine>(
    c: &ConditionExpr,
    dets: &HashMap<String, CompiledDetection>,
    l: &Leaves<N>,
) -> N {
    match c {
        ConditionExpr::And(xs) => N::all_of(xs.iter().map(|x| condition(x, dets, l))),
        ConditionExpr::Or(xs) => N::any_of(xs.iter().map(|x| condition(x, dets, l))),
        ConditionExpr::Not(_) => Need::Any.into(),
        ConditionExpr::Identifier(name) => {
            dets.get(name).map_or(Need::Any.into(), |d| detection(d, l))
        }
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
                Quantifier::All => N::all_of(named),
                Quantifier::Any | Quantifier::Count(1..) => N::any_of(named),
                Quantifier::Count(0) => Need::Any.into(),
            }
        }
    }
}

fn detection<N: Combine>(d: &CompiledDetection, l: &Leaves<N>) -> N {
    match d {
        CompiledDetection::AllOf(items) => N::all_of(items.iter().map(l.item)),
        CompiledDetection::AnyOf(ds) => N::any_of(ds.iter().map(|d| detection(d, l))),
        CompiledDetection::Keywords(m) => (l.keywords)(m),
        CompiledDetection::And(ds) => N::all_of(ds.iter().map(|d| detection(d, l))),
        CompiledDetection::Conditional {
            named,
            condition: c,
        } => condition(c, named, l),
        // Quantifiers over array items (`none of`) are not analysed.
        CompiledDetection::ArrayMatch { .. } => Need::Any.into(),
    }
}

fn item(i: &CompiledDetectionItem) -> Clauses {
    if i.exists.is_some() {
        return Clauses::default();
    }
    match &i.field {
        Some(f) if SYNTHETIC_FIELDS.contains(&f.as_str()) => Clauses::default(),
        Some(_) => matcher_clauses(&i.matcher),
        None => keyword(&i.matcher).into(),
    }
}

/// What a field's matcher needs, as clauses: all of `contains|all`'s
/// values and every necessary piece of a regex (`cmd.+powershell`) are
/// kept, where [`matcher`], one set of literals, keeps the best one
/// (`powershell`, in most PowerShell script blocks, for `contains|all:
/// powershell, WindowStyle, Hidden`).
fn matcher_clauses(m: &CompiledMatcher) -> Clauses {
    let regex = |p: &str| Clauses::all_of(regex_conjuncts(p).into_iter().map(Clauses::from));
    match m {
        CompiledMatcher::Regex(r) => regex(r.as_str()),
        CompiledMatcher::RegexSetMatch {
            set,
            mode: GroupMode::All,
        } => Clauses::all_of(set.patterns().iter().map(|p| regex(p))),
        _ => match group(m) {
            Some((GroupMode::All, ms)) => Clauses::all_of(ms.iter().map(matcher_clauses)),
            Some((GroupMode::Any, ms)) => Clauses::any_of(ms.iter().map(matcher_clauses)),
            None => matcher(m).into(),
        },
    }
}

/// A matcher made of others (`AnyOf`, `AllOf`, and children sharing one
/// lower-casing of the field), with how they combine.
fn group(m: &CompiledMatcher) -> Option<(GroupMode, &[CompiledMatcher])> {
    match m {
        CompiledMatcher::AnyOf(ms) => Some((GroupMode::Any, ms)),
        CompiledMatcher::AllOf(ms) => Some((GroupMode::All, ms)),
        CompiledMatcher::CaseInsensitiveGroup { children, mode } => Some((*mode, children)),
        _ => None,
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
        _ => match group(m) {
            Some((GroupMode::Any, ms)) => Need::any_of(ms.iter().map(matcher)),
            Some((GroupMode::All, ms)) => Need::all_of(ms.iter().map(matcher)),
            None => Need::Any,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(clauses: &[&[&str]]) -> Clauses {
        Clauses(
            clauses
                .iter()
                .map(|c| c.iter().map(|s| s.to_string()).collect())
                .collect(),
        )
    }

    #[test]
    fn an_and_keeps_each_part_and_an_or_distributes_while_few() {
        let and =
            Clauses::all_of([c(&[&["rundll32"]]), c(&[&["javascript", "vbscript"]])].into_iter());
        assert_eq!(and, c(&[&["rundll32"], &["javascript", "vbscript"]]));
        // (a ∧ b) ∨ c = (a ∨ c) ∧ (b ∨ c)
        let or = Clauses::any_of([and.clone(), c(&[&["mshta"]])].into_iter());
        assert_eq!(
            or,
            c(&[&["mshta", "rundll32"], &["javascript", "mshta", "vbscript"]])
        );
        // Anything ORed with what needs nothing needs nothing.
        assert_eq!(
            Clauses::any_of([and, Clauses::default()].into_iter()),
            Clauses::default()
        );
        // Too many clauses to distribute: the best (longest) of each side,
        // joined.
        let wide = |p: &str| {
            c(&[
                &[&format!("{p}aaaa")],
                &[&format!("{p}bbb")],
                &[&format!("{p}cccccc")],
            ])
        };
        assert_eq!(
            Clauses::any_of([wide("x"), wide("y")].into_iter()),
            c(&[&["xcccccc", "ycccccc"]])
        );
        // Literals too short to screen anything are no clause.
        assert_eq!(
            Clauses::all_of([c(&[&["ab"]]), c(&[&["cmd"]])].into_iter()),
            c(&[&["cmd"]])
        );
    }

    fn literals_of(detection: &str) -> Vec<Vec<String>> {
        let yaml = format!(
            "title: t\nlogsource: {{product: windows}}\ndetection:\n{detection}\n    condition: sel\n"
        );
        let rules = rsigma_parser::parse_sigma_yaml(&yaml).unwrap().rules;
        rule_literals(&rsigma_eval::compile_rule(&rules[0]).unwrap())
    }

    #[test]
    fn literals_keep_what_the_screened_text_writes_as_it_is() {
        // `\` is in the screened text as in the values: `~1\` is a literal
        // of three characters, where a rendering's plain run was `~1`, too
        // short, and left the rule asked on every record of its source.
        assert_eq!(
            literals_of("    sel:\n        Image|contains: ['~1\\', '~2\\']"),
            [["~1\\", "~2\\"]]
        );
        // Wildcards compile to regexes, read the same way (each piece
        // between them a clause); an escaped one is a character.
        assert_eq!(
            literals_of("    sel:\n        Image|endswith: '\\Temp*\\evil.exe'"),
            [["\\evil.exe"], ["\\temp"]]
        );
        assert_eq!(
            literals_of("    sel:\n        Image|endswith: '\\Temp\\*\\evil.exe'"),
            [["\\temp*\\evil.exe"]]
        );
        // Every value of `contains|all`, and every necessary piece of a
        // regex, is a clause of its own: a record needs all of them.
        assert_eq!(
            literals_of(
                "    sel:\n        CommandLine|contains|all: [powershell, WindowStyle, Hidden]"
            ),
            [["powershell"], ["windowstyle"], ["hidden"]]
        );
        assert_eq!(
            literals_of(
                "    sel:\n        CommandLine|re: 'cmd.{0,5}(?:/c|/r).+powershell.+(?:input|noexit)'"
            ),
            vec![vec!["powershell"], vec!["input", "noexit"], vec!["cmd"]]
        );
        // What XML writes as an entity is a break in the screened text.
        assert_eq!(
            literals_of("    sel:\n        CommandLine|contains: 'a&b>cdefg'"),
            [["cdefg"]]
        );
    }
}
