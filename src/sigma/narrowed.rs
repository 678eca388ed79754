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

use std::collections::HashMap;
use std::sync::OnceLock;

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
    needs: Vec<RuleNeed>,
    /// The channels the tables name; a class each, in this order, and one
    /// more for every other channel.
    channels: Vec<&'static str>,
    /// The ids the tables or the rules name.
    named: IdMap<u32, ()>,
    /// (channel class, id) → index in `sets`.
    set_of: IdMap<(usize, Id), usize>,
    /// Distinct sets of rules, and their prefilters once built.
    sets: Vec<(RuleBits, OnceLock<Prefilter>)>,
}

impl Narrowed {
    /// `allowed(channel, id)` gives the rules records of that channel and
    /// id can meet; `rule_ids` are the event ids rules require.
    pub fn new(
        needs: Vec<RuleNeed>,
        rule_ids: impl IntoIterator<Item = u32>,
        allowed: impl Fn(&str, Option<u32>) -> RuleBits,
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
        let mut index: HashMap<RuleBits, usize> = HashMap::new();
        let mut sets = Vec::new();
        let mut set_of = IdMap::default();
        let mut ids: Vec<Id> = vec![Id::None, Id::Other];
        ids.extend(named.keys().map(|&i| Id::Named(i)));
        for class in 0..=channels.len() {
            let channel = channels.get(class).copied().unwrap_or("");
            for &id in &ids {
                let id_value = match id {
                    Id::None => None,
                    Id::Named(i) => Some(i),
                    Id::Other => other,
                };
                let set = allowed(channel, id_value);
                let at = *index.entry(set.clone()).or_insert_with(|| {
                    sets.push((set, OnceLock::new()));
                    sets.len() - 1
                });
                set_of.insert((class, id), at);
            }
        }
        Narrowed {
            needs,
            channels,
            named,
            set_of,
            sets,
        }
    }

    /// The prefilter of the rules records of `channel` and `event_id` can
    /// meet.
    pub fn get(&self, channel: &str, event_id: Option<u32>) -> Option<&Prefilter> {
        let class = self
            .channels
            .iter()
            .position(|k| k.eq_ignore_ascii_case(channel))
            .unwrap_or(self.channels.len());
        let id = match event_id {
            None => Id::None,
            Some(i) if self.named.contains_key(&i) => Id::Named(i),
            Some(_) => Id::Other,
        };
        let (set, built) = &self.sets[*self.set_of.get(&(class, id))?];
        Some(built.get_or_init(|| Prefilter::build_for(&self.needs, Some(set))))
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
        let a = n.get("Security", Some(4689)).unwrap();
        // Rule 0's literal is not searched for: not a candidate here.
        assert!(!a.may_match(b"mimikatz"));
        assert!(a.may_match(b"whoami /all"));
        let b = n.get("Some/Channel", Some(77)).unwrap();
        assert!(std::ptr::eq(a, b));
        let c = n.get("SECURITY", Some(4688)).unwrap();
        assert!(c.may_match(b"mimikatz"));
    }
}
