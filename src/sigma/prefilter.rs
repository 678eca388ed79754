//! The rules' prefilter: one Aho-Corasick automaton over every rule's
//! literals (see `literals`), so that the cost per record does not grow
//! with the number of rules.
//!
//! It works twice. Before a record is rendered, over the text the parser
//! screens (its values in ASCII lower case): a record with none of the
//! literals is counted and never rendered. After rendering, over the
//! record's field values: the literals found name the candidate rules, and
//! only those (of the record's log sources) are evaluated.
//!
//! A rule whose detection needs nothing nameable needs the name of one of
//! its log sources' channels (a Sysmon rule fires only on records whose
//! Channel is Sysmon's); one that needs nothing and fits any channel makes
//! every record a candidate for it.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::artifact::{Screen, ValueKind};
use crate::matcher::{fits_kind, longest_plain_run, narrow};

use super::literals::MAX_LITERAL;

/// What one rule needs, as the prefilter is built from it.
pub struct RuleNeed {
    /// Literals of its detection, one of which every hit contains.
    pub literals: Option<Vec<String>>,
    /// The event ids it requires, if it does.
    pub event_ids: Option<Vec<u32>>,
    /// The channels of its log sources (`None`: any channel).
    pub channels: Option<Vec<&'static str>>,
}

/// How the rules are screened, for `rules check`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    /// By literals of their detection.
    pub literals: usize,
    /// By the event ids they require.
    pub event_ids: usize,
    /// By the names of their log sources' channels only.
    pub channels: usize,
    /// Not at all: asked on every record (they make every record render).
    pub every_record: usize,
    /// Of no log source breachscan maps: never asked.
    pub unmapped: usize,
}

/// A set of rules, a bit per rule.
pub type RuleBits = Vec<u64>;

pub fn bits(rules: usize) -> RuleBits {
    vec![0; rules.div_ceil(64)]
}

pub fn set(b: &mut RuleBits, rule: usize) {
    b[rule / 64] |= 1 << (rule % 64);
}

/// [`set`], growing `b` to hold `rule`.
pub fn set_growing(b: &mut RuleBits, rule: usize) {
    if b.len() <= rule / 64 {
        b.resize(rule / 64 + 1, 0);
    }
    set(b, rule);
}

pub struct Prefilter {
    /// `None` when no rule has a literal.
    ac: Option<AhoCorasick>,
    /// Per pattern of `ac`: the rules it makes candidates.
    by_pattern: Vec<Vec<u32>>,
    /// Rules that are candidates for every record.
    always: Vec<u32>,
    kinds: [bool; ValueKind::COUNT],
    rules: usize,
    pub coverage: Coverage,
}

impl Prefilter {
    pub fn build(needs: &[RuleNeed]) -> Prefilter {
        let mut patterns: Vec<String> = Vec::new();
        let mut by_pattern: Vec<Vec<u32>> = Vec::new();
        let mut index = std::collections::HashMap::<String, usize>::new();
        let mut always = Vec::new();
        let mut coverage = Coverage::default();
        for (rule, need) in needs.iter().enumerate() {
            let rule = rule as u32;
            // Event ids of three digits or more are rare as text elsewhere
            // in a record (the System block's id is gathered); shorter ones
            // are in every record's levels, tasks and opcodes.
            let ids = need
                .event_ids
                .as_ref()
                .filter(|ids| ids.iter().all(|&id| id >= 100));
            let lits = match (&need.literals, &need.channels) {
                // A rule of no channel we map is never asked.
                (_, Some(channels)) if channels.is_empty() => {
                    coverage.unmapped += 1;
                    continue;
                }
                (Some(l), _) => {
                    coverage.literals += 1;
                    l.clone()
                }
                (None, _) if ids.is_some() => {
                    coverage.event_ids += 1;
                    ids.into_iter().flatten().map(u32::to_string).collect()
                }
                (None, None) => {
                    coverage.every_record += 1;
                    always.push(rule);
                    continue;
                }
                (None, Some(channels)) => {
                    coverage.channels += 1;
                    channels
                        .iter()
                        .filter_map(|c| longest_plain_run(&c.to_ascii_lowercase()))
                        .map(|r| narrow(&r, MAX_LITERAL).to_string())
                        .collect()
                }
            };
            for lit in lits {
                let id = *index.entry(lit).or_insert_with_key(|l| {
                    patterns.push(l.clone());
                    by_pattern.push(Vec::new());
                    patterns.len() - 1
                });
                if by_pattern[id].last() != Some(&rule) {
                    by_pattern[id].push(rule);
                }
            }
        }
        let mut kinds = [false; ValueKind::COUNT];
        for kind in ValueKind::ALL {
            kinds[kind as usize] = patterns.iter().any(|l| fits_kind(l, kind));
        }
        // Standard semantics: the second pass needs every literal found,
        // overlapping ones too. A DFA, as the IOC prefilter's: it runs over
        // every record.
        let ac = (!patterns.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .kind(Some(AhoCorasickKind::DFA))
                    .prefilter(false)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        Prefilter {
            ac,
            by_pattern,
            always,
            kinds,
            rules: needs.len(),
            coverage,
        }
    }

    /// What the parsers may skip: nothing when some rule is asked on every
    /// record.
    pub fn screen(&self) -> Screen {
        if !self.always.is_empty() {
            Screen::Everything
        } else if self.by_pattern.is_empty() {
            // No rule, or none of a log source we map: nothing can fire.
            Screen::Nothing
        } else if self.ac.is_none() {
            // The automaton could not be built: ask every rule.
            Screen::Everything
        } else {
            Screen::Text
        }
    }

    /// Whether a record whose screened text is `text` could hit a rule.
    pub fn may_match(&self, text: &[u8]) -> bool {
        match self.screen() {
            Screen::Nothing => false,
            Screen::Everything => true,
            Screen::Text => self.ac.as_ref().is_some_and(|ac| ac.is_match(text)),
        }
    }

    pub fn may_match_kind(&self, kind: ValueKind) -> bool {
        self.kinds[kind as usize]
    }

    /// The rules a record whose lower-case field text is `text` is a
    /// candidate for.
    pub fn candidates(&self, text: &[u8]) -> RuleBits {
        let mut out = bits(self.rules);
        for &r in &self.always {
            set(&mut out, r as usize);
        }
        let mut mark = |rules: &[u32]| {
            for &r in rules {
                set(&mut out, r as usize);
            }
        };
        match &self.ac {
            Some(ac) => {
                for m in ac.find_overlapping_iter(text) {
                    mark(&self.by_pattern[m.pattern().as_usize()]);
                }
            }
            // No automaton: every rule that has literals.
            None => self.by_pattern.iter().for_each(|r| mark(r)),
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(b: &RuleBits) -> Vec<usize> {
        (0..b.len() * 64)
            .filter(|&i| b[i / 64] & (1 << (i % 64)) != 0)
            .collect()
    }

    #[test]
    fn candidates_are_the_rules_whose_literals_are_found() {
        let need = |l: Option<&[&str]>, c: Option<&[&'static str]>| RuleNeed {
            literals: l.map(|l| l.iter().map(|s| s.to_string()).collect()),
            event_ids: None,
            channels: c.map(<[_]>::to_vec),
        };
        let p = Prefilter::build(&[
            need(Some(&["mimikatz", "kiwi"]), None),
            need(None, Some(&["Microsoft-Windows-Sysmon/Operational"])),
            need(Some(&["whoami"]), Some(&["Security"])),
            need(None, Some(&[])),
        ]);
        assert_eq!(p.screen(), Screen::Text);
        let c = p.candidates(b"cmd /c kiwi\0microsoft-windows-sysmon/operational");
        assert_eq!(listed(&c), [0, 1]);
        assert!(!p.may_match(b"security\0notepad.exe"));
        assert!(p.may_match(b"x\0whoami /all"));
        assert_eq!(
            p.coverage,
            Coverage {
                literals: 2,
                event_ids: 0,
                channels: 1,
                every_record: 0,
                unmapped: 1
            }
        );
        let everything = Prefilter::build(&[need(None, None)]);
        assert_eq!(everything.screen(), Screen::Everything);
        assert_eq!(listed(&everything.candidates(b"")), [0]);
    }
}
