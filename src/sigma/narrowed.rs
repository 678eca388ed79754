//! Prefilters narrowed to the rules a record's channel and event id allow.
//!
//! A record of `Security` 4625 can meet a handful of the rules, a Sysmon
//! process creation a thousand: searching each record's text only for the
//! literals of the rules it can meet makes the automaton small (fewer
//! states, fewer cache misses) and its hits few.
//!
//! Which rules a record can meet depends on its channel only through the
//! log source tables (a channel they do not name is like any other) and on
//! its event id only through the ids the tables and the rules name (any
//! other id is like any other). So the (channel, id) classes, and the sets
//! of rules they allow, are finite and known when the rules load, whatever
//! the evidence holds; each set's prefilter is built on first use and then
//! read without a lock by every worker.
//!
//! A set's first automaton is an NFA; its DFA, several times faster over
//! text but several times dearer to build, is bought ski-rental style once
//! the NFA has screened the text that would have paid for it
//! (`Prefilter::dfa_price`): the sets of busy channels get one, the many
//! met by a few records do not (their DFAs were 4% of a scan's CPU).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use aho_corasick::AhoCorasickKind;
use rayon::prelude::*;

use crate::bundle::IdMap;

use super::logsource;
use super::prefilter::{Prefilter, RuleBits, RuleNeed};

/// An event id as far as rules can tell ids apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Id {
    None,
    Named(u32),
    /// An id no table or rule names.
    Other,
}

pub struct Narrowed {
    needs: Arc<[RuleNeed]>,
    /// The channels the tables name; a class each, in this order, and one
    /// more for every other channel.
    channels: Vec<&'static str>,
    /// The ids the tables or the rules name.
    named: IdMap<u32, ()>,
    /// (channel class, id) → index in `sets`.
    set_of: IdMap<(usize, Id), usize>,
    /// Distinct sets of rules, and their prefilters once built.
    sets: Vec<Set>,
    /// Per id: the rules a record of that id can meet on some channel
    /// (see [`Narrowed::any_channel`]).
    any_channel: IdMap<Id, RuleBits>,
}

/// A distinct set of rules and its prefilters.
struct Set {
    rules: RuleBits,
    /// With an NFA, built on first use.
    quick: OnceLock<Prefilter>,
    /// With a DFA, once `quick` has screened its price.
    fast: OnceLock<Prefilter>,
    screened: AtomicU64,
    /// Some worker is building `fast` (the others go on with `quick`).
    buying: AtomicBool,
}

impl Narrowed {
    /// `allowed(channel, id)` gives the rules records of that channel and
    /// id can meet; `rule_ids` are the event ids rules require.
    pub fn new(
        needs: impl Into<Arc<[RuleNeed]>>,
        rule_ids: impl IntoIterator<Item = u32>,
        allowed: impl Fn(&str, Option<u32>) -> RuleBits + Sync,
    ) -> Narrowed {
        let mut channels: Vec<&'static str> = Vec::new();
        let mut named: IdMap<u32, ()> = rule_ids.into_iter().map(|i| (i, ())).collect();
        for (c, id) in logsource::channel_ids() {
            if !channels.iter().any(|k| k.eq_ignore_ascii_case(c)) {
                channels.push(c);
            }
            named.extend(id.map(|i| (i, ())));
        }
        // Some id of no table or rule, standing for all of them.
        let other = (0..=u32::MAX).rev().find(|i| !named.contains_key(i));
        let mut ids: Vec<Id> = vec![Id::None, Id::Other];
        ids.extend(named.keys().map(|&i| Id::Named(i)));
        // Each class's rules, on every core (a class costs a few masks, but
        // there is one per channel the tables name and id anything names:
        // with the building of the masks, a fourteenth of loading the
        // SigmaHQ set, on one core); then the distinct ones.
        let classes: Vec<(usize, Id)> = (0..=channels.len())
            .flat_map(|class| ids.iter().map(move |&id| (class, id)))
            .collect();
        let allowed_sets: Vec<RuleBits> = classes
            .par_iter()
            .map(|&(class, id)| {
                let channel = channels.get(class).copied().unwrap_or("");
                let id_value = match id {
                    Id::None => None,
                    Id::Named(i) => Some(i),
                    Id::Other => other,
                };
                allowed(channel, id_value)
            })
            .collect();
        let mut index: HashMap<RuleBits, usize> = HashMap::new();
        let mut sets = Vec::new();
        let mut set_of = IdMap::default();
        for (key, set) in classes.into_iter().zip(allowed_sets) {
            let at = *index.entry(set.clone()).or_insert_with(|| {
                sets.push(Set {
                    rules: set,
                    quick: OnceLock::new(),
                    fast: OnceLock::new(),
                    screened: AtomicU64::new(0),
                    buying: AtomicBool::new(false),
                });
                sets.len() - 1
            });
            set_of.insert(key, at);
        }
        let mut any_channel: IdMap<Id, RuleBits> = IdMap::default();
        for (&(_, id), &at) in &set_of {
            let rules = &sets[at].rules;
            let union = any_channel.entry(id).or_default();
            if union.len() < rules.len() {
                union.resize(rules.len(), 0);
            }
            union.iter_mut().zip(rules).for_each(|(u, r)| *u |= r);
        }
        Narrowed {
            needs: needs.into(),
            channels,
            named,
            set_of,
            sets,
            any_channel,
        }
    }

    /// The rules a record of `event_id` can meet whatever its channel (the
    /// union over every channel class): what a record whose channel the
    /// screening could not read may fire.
    pub fn any_channel(&self, event_id: Option<u32>) -> &[u64] {
        self.any_channel
            .get(&self.id(event_id))
            .map_or(&[], Vec::as_slice)
    }

    /// The prefilter of the rules records of `channel` and `event_id` can
    /// meet, to screen `len` bytes of text with.
    pub fn get(&self, channel: &str, event_id: Option<u32>, len: usize) -> Option<&Prefilter> {
        let set = self.set(channel, event_id)?;
        if let Some(fast) = set.fast.get() {
            return Some(fast);
        }
        let build = |kind| Prefilter::build_for(&self.needs, Some(&set.rules), kind);
        let quick = set
            .quick
            .get_or_init(|| build(AhoCorasickKind::ContiguousNFA));
        let len = len as u64;
        let before = set.screened.fetch_add(len, Ordering::Relaxed);
        if before.saturating_add(len) >= quick.dfa_price && !set.buying.swap(true, Ordering::AcqRel)
        {
            return Some(set.fast.get_or_init(|| build(AhoCorasickKind::DFA)));
        }
        Some(quick)
    }

    fn set(&self, channel: &str, event_id: Option<u32>) -> Option<&Set> {
        let class = self
            .channels
            .iter()
            .position(|k| k.eq_ignore_ascii_case(channel))
            .unwrap_or(self.channels.len());
        Some(&self.sets[*self.set_of.get(&(class, self.id(event_id)))?])
    }

    fn id(&self, event_id: Option<u32>) -> Id {
        match event_id {
            None => Id::None,
            Some(i) if self.named.contains_key(&i) => Id::Named(i),
            Some(_) => Id::Other,
        }
    }

    /// Whether the set records of `channel` and `event_id` meet has its DFA.
    #[cfg(test)]
    fn has_dfa(&self, channel: &str, event_id: Option<u32>) -> bool {
        self.set(channel, event_id)
            .is_some_and(|s| s.fast.get().is_some())
    }

    /// Distinct sets of rules the classes allow.
    #[cfg(test)]
    fn sets(&self) -> usize {
        self.sets.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_allowing_the_same_rules_share_one_prefilter() {
        let need = |lit: &str| RuleNeed {
            literals: vec![vec![lit.to_string()]],
            event_ids: None,
            channels: None,
        };
        // Rule 0 on Security 4688 only, rule 1 everywhere.
        let n = Narrowed::new(vec![need("mimikatz"), need("whoami")], [4688], |c, id| {
            if c.eq_ignore_ascii_case("security") && id == Some(4688) {
                vec![0b11]
            } else {
                vec![0b10]
            }
        });
        assert_eq!(n.sets(), 2);
        let a = n.get("Security", Some(4689), 0).unwrap();
        // Rule 0's literal is not searched for: not a candidate here.
        assert!(!a.may_match(b"mimikatz"));
        assert!(a.may_match(b"whoami /all"));
        let b = n.get("Some/Channel", Some(77), 0).unwrap();
        assert!(std::ptr::eq(a, b));
        let c = n.get("SECURITY", Some(4688), 0).unwrap();
        assert!(c.may_match(b"mimikatz"));
        // Of a channel not read: what any channel allows for the id.
        assert_eq!(n.any_channel(Some(4688)), [0b11]);
        assert_eq!(n.any_channel(Some(4689)), [0b10]);
        assert_eq!(n.any_channel(None), [0b10]);
    }

    /// A set's DFA is built once its NFA has screened the DFA's price, and
    /// screens alike.
    #[test]
    fn a_set_buys_its_dfa_once_its_text_pays() {
        let need = RuleNeed {
            literals: vec![vec!["mimikatz".into(), "whoami".into()]],
            event_ids: None,
            channels: None,
        };
        let n = Narrowed::new(vec![need], [], |_, _| vec![0b1]);
        let quick = n.get("Security", Some(1), 0).unwrap();
        let price = quick.dfa_price;
        assert!(price > 0);
        assert!(!n.has_dfa("Security", Some(1)));
        let more = n.get("Security", Some(1), price as usize - 1).unwrap();
        assert!(std::ptr::eq(quick, more));
        assert!(!n.has_dfa("Security", Some(1)), "not paid yet");
        let fast = n.get("Security", Some(1), 1).unwrap();
        assert!(n.has_dfa("Security", Some(1)));
        assert!(!std::ptr::eq(quick, fast));
        for p in [quick, fast] {
            assert!(p.may_match(b"x whoami /all"));
            assert!(!p.may_match(b"notepad.exe"));
        }
    }
}
