//! The rules' prefilter: one Aho-Corasick automaton over every rule's
//! literals (see `literals`), so that the cost per record does not grow
//! with the number of rules.
//!
//! A rule needs clauses: sets of literals, each of which must have one in
//! a record's text for the rule to fire on it (see `literals`). A record is
//! a candidate for a rule when every clause of the rule is found; a rule
//! with no clause is a candidate for every record, which its log sources'
//! channels and event ids (applied by `RuleSet` as bit masks, once the
//! record's channel and event id are known) then narrow.
//!
//! It works twice. Before a record is rendered, over the text the parser
//! screens (its values in ASCII lower case, the System block's too), with
//! the channel and event id the screening read: a record that is no rule's
//! candidate is counted and never rendered. After rendering, over the
//! record's field values: the candidates, and only those (of the record's
//! log sources), are evaluated.

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::artifact::{Screen, ValueKind};
use crate::matcher::{TEXT_PER_DFA_CELL, dfa_cells, fits_kind};

/// What one rule needs, as the prefilter is built from it.
#[derive(Debug, Clone)]
pub struct RuleNeed {
    /// Clauses of its detection (see `literals`).
    pub literals: Vec<Vec<String>>,
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

/// Whether some rule is in both sets.
pub fn meet(a: &[u64], b: &[u64]) -> bool {
    a.iter().zip(b).any(|(x, y)| x & y != 0)
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
    /// Per pattern of `ac`: the rules it satisfies alone (their only
    /// clause), as `(word, bits)` of a [`RuleBits`].
    whole: Vec<Vec<(u32, u64)>>,
    /// Per pattern: the rules of several clauses (by their index in
    /// `full`) and the clause it satisfies, as a bit.
    partial: Vec<Vec<(u32, u8)>>,
    /// Per rule of several clauses: its rule index and all its clauses' bits.
    full: Vec<(u32, u8)>,
    /// Rules with no clause: candidates for every record (of their log
    /// sources).
    base: RuleBits,
    /// Some rule is asked on every record of every channel.
    everything: bool,
    kinds: [bool; ValueKind::COUNT],
    rules: usize,
    pub coverage: Coverage,
    /// Bytes of text an NFA of these literals screens before a DFA of them
    /// pays for its build (see `matcher::TEXT_PER_DFA_CELL`).
    pub dfa_price: u64,
}

impl Prefilter {
    /// The whole set's prefilter: it screens only what no narrowed one can
    /// (records of unknown channel, pieces of text asked alone), and its
    /// DFA would take a fifth of loading: an NFA.
    pub fn build(needs: &[RuleNeed]) -> Prefilter {
        Prefilter::build_for(needs, None, AhoCorasickKind::ContiguousNFA)
    }

    /// The prefilter of the rules `only` holds (all when `None`), its
    /// automaton of `kind`; the others are never candidates. Rule indices
    /// stay those of `needs`.
    pub fn build_for(
        needs: &[RuleNeed],
        only: Option<&RuleBits>,
        kind: AhoCorasickKind,
    ) -> Prefilter {
        let wanted = |rule: usize| only.is_none_or(|b| b[rule / 64] & (1 << (rule % 64)) != 0);
        let mut patterns: Vec<String> = Vec::new();
        let mut by_pattern: Vec<(RuleBits, Vec<(u32, u8)>)> = Vec::new();
        let mut index = std::collections::HashMap::<String, usize>::new();
        let mut base = bits(needs.len());
        let mut full = Vec::new();
        let mut everything = false;
        let mut coverage = Coverage::default();
        for (rule, need) in needs.iter().enumerate() {
            if !wanted(rule) {
                continue;
            }
            if need.channels.as_ref().is_some_and(|c| c.is_empty()) {
                // A rule of no channel we map is never asked.
                coverage.unmapped += 1;
                continue;
            }
            if need.literals.is_empty() {
                set(&mut base, rule);
                // Event ids of three digits or more are rare; shorter ones
                // (`EventID: 1` of Sysmon) screen little even as masks.
                if need.event_ids.is_some() {
                    coverage.event_ids += 1;
                } else if need.channels.is_some() {
                    coverage.channels += 1;
                } else {
                    coverage.every_record += 1;
                    everything = true;
                }
                continue;
            }
            coverage.literals += 1;
            // A clause is a bit of a byte.
            let clauses = &need.literals[..need.literals.len().min(8)];
            let several = clauses.len() > 1;
            if several {
                full.push((rule as u32, ((1u16 << clauses.len()) - 1) as u8));
            }
            for (clause, lits) in clauses.iter().enumerate() {
                for lit in lits {
                    let id = *index.entry(lit.clone()).or_insert_with_key(|l| {
                        patterns.push(l.clone());
                        by_pattern.push((bits(needs.len()), Vec::new()));
                        patterns.len() - 1
                    });
                    let (whole, partial) = &mut by_pattern[id];
                    if several {
                        let entry = ((full.len() - 1) as u32, 1u8 << clause);
                        if !partial.contains(&entry) {
                            partial.push(entry);
                        }
                    } else {
                        set(whole, rule);
                    }
                }
            }
        }
        let mut kinds = [false; ValueKind::COUNT];
        for kind in ValueKind::ALL {
            kinds[kind as usize] = patterns.iter().any(|l| fits_kind(l, kind));
        }
        let mut sorted = patterns.clone();
        sorted.sort_unstable();
        let dfa_price = dfa_cells(&sorted).saturating_mul(TEXT_PER_DFA_CELL);
        // Standard semantics: every literal found, overlapping ones too.
        let ac = (!patterns.is_empty())
            .then(|| {
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .kind(Some(kind))
                    .prefilter(false)
                    .build(&patterns)
                    .ok()
            })
            .flatten();
        let (whole, partial) = by_pattern
            .into_iter()
            .map(|(w, p)| {
                let w = w.iter().enumerate().filter(|(_, b)| **b != 0);
                (w.map(|(i, b)| (i as u32, *b)).collect(), p)
            })
            .unzip();
        Prefilter {
            ac,
            whole,
            partial,
            full,
            base,
            everything,
            kinds,
            rules: needs.len(),
            coverage,
            dfa_price,
        }
    }

    /// What the parsers may skip: nothing when some rule is asked on every
    /// record.
    pub fn screen(&self) -> Screen {
        if self.everything {
            Screen::Everything
        } else if self.whole.is_empty() && self.base.iter().all(|&w| w == 0) {
            // No rule, or none of a log source we map: nothing can fire.
            Screen::Nothing
        } else if self.ac.is_none() && !self.whole.is_empty() {
            // The automaton could not be built: ask every rule.
            Screen::Everything
        } else {
            Screen::Text
        }
    }

    /// Whether a record whose screened text is `text` is some rule's
    /// candidate (stops at the first).
    pub fn may_match(&self, text: &[u8]) -> bool {
        match self.screen() {
            Screen::Nothing => false,
            Screen::Everything => true,
            Screen::Text if self.base.iter().any(|&w| w != 0) => true,
            Screen::Text => self
                .ac
                .as_ref()
                .is_some_and(|ac| self.search(ac, text, |_, _| true)),
        }
    }

    /// Whether `text` holds any rule's literal: a piece of a record's text
    /// that holds none can be left out of it (see `artifact::binxml`).
    pub fn holds_literal(&self, text: &[u8]) -> bool {
        match self.screen() {
            Screen::Nothing => false,
            Screen::Everything => true,
            Screen::Text => self.ac.as_ref().is_some_and(|ac| ac.is_match(text)),
        }
    }

    pub fn may_match_kind(&self, kind: ValueKind) -> bool {
        self.kinds[kind as usize]
    }

    /// The rules a record whose lower-case text is `text` is a candidate
    /// for: those whose every clause has a literal in it, and those with
    /// no clause.
    pub fn candidates(&self, text: &[u8]) -> RuleBits {
        let mut out = self.base.clone();
        let Some(ac) = &self.ac else {
            // No automaton: every rule (none has a literal, or it could not
            // be built).
            if !self.whole.is_empty() {
                (0..self.rules).for_each(|r| set(&mut out, r));
            }
            return out;
        };
        self.search(ac, text, |w, b| {
            out[w] |= b;
            false
        });
        out
    }

    /// Runs `ac` over `text`, handing `found` each rule complete (as a word
    /// of [`RuleBits`] and its bits) until `found` says to stop; whether it
    /// did.
    fn search(
        &self,
        ac: &AhoCorasick,
        text: &[u8],
        mut found: impl FnMut(usize, u64) -> bool,
    ) -> bool {
        let mut clauses = vec![0u8; self.full.len()];
        for m in ac.find_overlapping_iter(text) {
            let p = m.pattern().as_usize();
            for &(w, b) in &self.whole[p] {
                if found(w as usize, b) {
                    return true;
                }
            }
            for &(i, bit) in &self.partial[p] {
                let f = &mut clauses[i as usize];
                *f |= bit;
                let (rule, all) = self.full[i as usize];
                if *f == all && found(rule as usize / 64, 1 << (rule % 64)) {
                    return true;
                }
            }
        }
        false
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
        let need = |l: &[&[&str]], c: Option<&[&'static str]>| RuleNeed {
            literals: l
                .iter()
                .map(|c| c.iter().map(|s| s.to_string()).collect())
                .collect(),
            event_ids: None,
            channels: c.map(<[_]>::to_vec),
        };
        let p = Prefilter::build(&[
            need(&[&["mimikatz", "kiwi"]], None),
            need(&[], Some(&["Microsoft-Windows-Sysmon/Operational"])),
            need(&[&["whoami"]], Some(&["Security"])),
            need(&[], Some(&[])),
            need(&[&["rundll32"], &["javascript:", "vbscript:"]], None),
        ]);
        assert_eq!(p.screen(), Screen::Text);
        // Rule 1 needs no literal: its channel, a mask of `RuleSet`, decides.
        let c = p.candidates(b"cmd /c kiwi\0rundll32.exe");
        assert_eq!(listed(&c), [0, 1]);
        let c = p.candidates(b"x\0whoami /all\0rundll32 vbscript:x");
        assert_eq!(listed(&c), [1, 2, 4]);
        assert!(p.holds_literal(b"rundll32"));
        assert!(!p.holds_literal(b"notepad.exe"));
        assert_eq!(
            p.coverage,
            Coverage {
                literals: 3,
                event_ids: 0,
                channels: 1,
                every_record: 0,
                unmapped: 1
            }
        );
        let everything = Prefilter::build(&[need(&[], None)]);
        assert_eq!(everything.screen(), Screen::Everything);
        assert_eq!(listed(&everything.candidates(b"")), [0]);
    }
}
