//! Regex IOCs of one field kind, screened by their literals.
//!
//! A `RegexSet` of Loki's 3,700 file-name regexes costs 16× a hash-only
//! scan and 200 MB of lazy-DFA cache: every path goes through all of them.
//! Instead each regex is read for the literals one of which every match
//! contains (`literals::regex_case_insensitive`); one Aho-Corasick
//! automaton over all of them names, for a value, the few regexes whose
//! literal it holds, and only those run, each compiled the first time it is
//! needed. The regexes with no literal (`^[a-z]{8}\.dll$` has only `.dll`…
//! `^\d+$` has none) share one `RegexSet` run on every value; `bundle check`
//! counts and lists them.

use std::sync::OnceLock;

use aho_corasick::{AhoCorasick, MatchKind};
use regex::{Regex, RegexSet};

use super::literals::{Need, Text, fold_lower, regex_case_insensitive};
use crate::bundle::IocIdx;
use crate::bundle::value::{REGEX_SIZE_LIMIT, compile_regex};

/// Lazy-DFA cache of the `RegexSet` of regexes without literals, whatever
/// their number: thousands of patterns thrash the default 2 MiB cache and
/// fall back to the slow engines; the cache grows only as states are used.
const UNSCREENED_DFA_LIMIT: usize = 64 << 20;

/// One screened regex.
struct Screened {
    pattern: String,
    ioc: IocIdx,
    /// Compiled on first use; `None` if it does not compile (it did when
    /// the bundle loaded, with the same builder: not expected).
    compiled: OnceLock<Option<Regex>>,
}

#[derive(Default)]
pub struct Regexes {
    /// Over the screened regexes' literals (lower case).
    ac: Option<AhoCorasick>,
    /// Per literal of `ac`: the indices in `screened` it stands for.
    by_literal: Vec<Vec<u32>>,
    screened: Vec<Screened>,
    /// Regexes with no literal, run on every value.
    unscreened: Option<RegexSet>,
    unscreened_iocs: Vec<IocIdx>,
}

/// The literals one of which every match of a regex IOC contains, as they
/// appear in text `t`, or `None`.
pub fn literals(pattern: &str, t: Text) -> Option<Vec<String>> {
    match regex_case_insensitive(pattern, t) {
        Need::OneOf(v) => Some(v),
        Need::Any => None,
    }
}

impl Regexes {
    pub fn build(regexes: Vec<(String, IocIdx)>) -> Result<Regexes, String> {
        let mut lits: Vec<String> = Vec::new();
        let mut by_literal: Vec<Vec<u32>> = Vec::new();
        let mut index = std::collections::HashMap::<String, usize>::new();
        let mut screened = Vec::new();
        let mut unscreened = Vec::new();
        for (pattern, ioc) in regexes {
            match literals(&pattern, Text::Value) {
                Some(found) => {
                    let at = screened.len() as u32;
                    for lit in found {
                        let id = *index.entry(lit).or_insert_with_key(|l| {
                            lits.push(l.clone());
                            by_literal.push(Vec::new());
                            lits.len() - 1
                        });
                        by_literal[id].push(at);
                    }
                    screened.push(Screened {
                        pattern,
                        ioc,
                        compiled: OnceLock::new(),
                    });
                }
                None => unscreened.push((pattern, ioc)),
            }
        }
        let ac = if lits.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(&lits)
                    .map_err(|e| format!("cannot compile the regex IOCs' literals: {e}"))?,
            )
        };
        let set = if unscreened.is_empty() {
            None
        } else {
            Some(
                regex::RegexSetBuilder::new(unscreened.iter().map(|(r, _)| r.as_str()))
                    .case_insensitive(true)
                    .size_limit(REGEX_SIZE_LIMIT.saturating_mul(unscreened.len()))
                    .dfa_size_limit(UNSCREENED_DFA_LIMIT)
                    .build()
                    .map_err(|e| format!("cannot compile regex IOCs: {e}"))?,
            )
        };
        Ok(Regexes {
            ac,
            by_literal,
            screened,
            unscreened: set,
            unscreened_iocs: unscreened.into_iter().map(|(_, i)| i).collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.screened.is_empty() && self.unscreened.is_none()
    }

    /// Pushes the IOC of every regex that matches `form` onto `out` (in no
    /// order; a regex may be pushed once per call).
    pub fn find(&self, form: &str, out: &mut Vec<IocIdx>) {
        if let Some(ac) = &self.ac {
            let mut folded = Vec::with_capacity(form.len());
            fold_lower(form, &mut folded);
            let mut candidates: Vec<u32> = Vec::new();
            for m in ac.find_overlapping_iter(&folded) {
                candidates.extend_from_slice(&self.by_literal[m.pattern().as_usize()]);
            }
            candidates.sort_unstable();
            candidates.dedup();
            for r in candidates {
                let s = &self.screened[r as usize];
                let re = s.compiled.get_or_init(|| compile_regex(&s.pattern).ok());
                if re.as_ref().is_some_and(|re| re.is_match(form)) {
                    out.push(s.ioc);
                }
            }
        }
        if let Some(set) = &self.unscreened {
            out.extend(set.matches(form).iter().map(|i| self.unscreened_iocs[i]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(r: &Regexes, form: &str) -> Vec<IocIdx> {
        let mut out = Vec::new();
        r.find(form, &mut out);
        out.sort_unstable();
        out
    }

    #[test]
    fn only_regexes_whose_literal_is_present_run_and_all_that_match_are_found() {
        let r = Regexes::build(vec![
            (r"\\svcsstat\.exe$".into(), 0),
            (r"(TEMP|Temp)\\[^\\]+\.(xmd|yls)$".into(), 1),
            (r"^\d{6}$".into(), 2),
            (r"\\MIMIKATZ".into(), 3),
        ])
        .unwrap();
        assert_eq!(r.unscreened_iocs, [2], "no literal: run on every value");
        assert_eq!(found(&r, r"C:\Windows\SVCSSTAT.EXE"), [0]);
        assert_eq!(found(&r, r"C:\Users\x\AppData\Local\Temp\a.yls"), [1]);
        assert_eq!(found(&r, "123456"), [2]);
        assert_eq!(found(&r, r"C:\tools\mimiKatz\x"), [3]);
        // The Kelvin sign and the long s fold to `k` and `s` for the regex
        // and for the screen.
        assert_eq!(found(&r, "C:\\tools\\mimi\u{212A}atz"), [3]);
        assert_eq!(found(&r, "C:\\Windows\\\u{17F}vcsstat.exe"), [0]);
        assert_eq!(found(&r, r"C:\Windows\notepad.exe"), Vec::<IocIdx>::new());
        // Not compiled until a value held its literal.
        assert!(r.screened[1].compiled.get().is_some());
        let fresh = Regexes::build(vec![(r"\\svcsstat\.exe$".into(), 0)]).unwrap();
        assert_eq!(found(&fresh, "notepad.exe"), Vec::<IocIdx>::new());
        assert!(fresh.screened[0].compiled.get().is_none());
    }
}
