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

use rsigma_eval::matcher::GroupMode;
use rsigma_eval::{CompiledDetection, CompiledDetectionItem, CompiledMatcher, CompiledRule};
use rsigma_parser::{ConditionExpr, Quantifier};
use std::collections::HashMap;

use crate::artifact::ValueKind;
use crate::matcher::fits_kind;
pub use crate::matcher::literals::{MAX_LITERAL, Need, fold_lower, regex};

/// A rule whose best literals are shorter than this is screened by its
/// channel instead: one- and two-letter literals are in nearly every
/// record, and finding them everywhere costs more than they save.
const MIN_USEFUL: usize = 3;

/// Event fields whose value is not text of the record as written (the
/// record's time, formatted by us): no literal can be taken from them.
const SYNTHETIC_FIELDS: &[&str] = &["TimeCreated"];

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
