//! A compiled set of string IOCs for one kind of field (file names, paths,
//! command lines…). Matching costs the same whatever the number of IOCs:
//! `Equals` is a hash lookup, `StartWith`/`EndWith`/`Contains` share one
//! Aho-Corasick automaton, and regexes are screened by their literals
//! ([`Regexes`]).

use std::collections::HashMap;
use std::sync::Arc;

use aho_corasick::{AhoCorasick, MatchKind};

use super::regexes::{Catalog, Regexes};
use crate::bundle::{DetectionFunction, IocIdx};

#[derive(Default)]
pub struct TextSetBuilder {
    equals: HashMap<String, Vec<IocIdx>>,
    /// Unique pattern → (function, IOC) pairs that use it.
    patterns: HashMap<String, Vec<(DetectionFunction, IocIdx)>>,
    regexes: Vec<(String, IocIdx)>,
}

impl TextSetBuilder {
    /// Adds an IOC. `normalized` is the value passed through the same
    /// normalisation the haystacks get; `raw` is the value as written (used
    /// for regexes, which are matched case-insensitively on raw haystacks).
    pub fn add(&mut self, function: DetectionFunction, normalized: String, raw: &str, ioc: IocIdx) {
        match function {
            DetectionFunction::Equals => self.equals.entry(normalized).or_default().push(ioc),
            DetectionFunction::Regex => self.regexes.push((raw.to_string(), ioc)),
            f => self.patterns.entry(normalized).or_default().push((f, ioc)),
        }
    }

    /// The set, its regexes taken from the bundle's `catalog` (read once
    /// for every set).
    pub fn build_with(self, catalog: &Catalog) -> Result<TextSet, String> {
        let mut pats: Vec<(String, Vec<(DetectionFunction, IocIdx)>)> =
            self.patterns.into_iter().collect();
        pats.sort();
        let ac = if pats.is_empty() {
            None
        } else {
            Some(
                AhoCorasick::builder()
                    .match_kind(MatchKind::Standard)
                    .build(pats.iter().map(|(p, _)| p.as_str()))
                    .map_err(|e| format!("cannot compile string IOCs: {e}"))?,
            )
        };
        let regexes = catalog.regexes(self.regexes)?;
        Ok(TextSet {
            equals: self.equals,
            ac,
            ac_iocs: pats.into_iter().map(|(_, v)| v).collect(),
            regexes,
        })
    }
}

#[derive(Default)]
pub struct TextSet {
    equals: HashMap<String, Vec<IocIdx>>,
    ac: Option<AhoCorasick>,
    ac_iocs: Vec<Vec<(DetectionFunction, IocIdx)>>,
    regexes: Arc<Regexes>,
}

impl TextSet {
    pub fn is_empty(&self) -> bool {
        self.equals.is_empty() && self.ac.is_none() && self.regexes.is_empty()
    }

    /// Pushes every IOC matching `normalized` (Equals/StartWith/EndWith/
    /// Contains) or any of `raw_forms` (Regex; spellings of one value that
    /// differ only in `/` against `\\`) onto `out`, each once.
    pub fn find(&self, normalized: &str, raw_forms: &[&str], out: &mut Vec<IocIdx>) {
        let start = out.len();
        if let Some(v) = self.equals.get(normalized) {
            out.extend_from_slice(v);
        }
        if let Some(ac) = &self.ac {
            let len = normalized.len();
            for m in ac.find_overlapping_iter(normalized) {
                for &(f, ioc) in &self.ac_iocs[m.pattern().as_usize()] {
                    let hit = match f {
                        DetectionFunction::StartWith => m.start() == 0,
                        DetectionFunction::EndWith => m.end() == len,
                        _ => true,
                    };
                    if hit {
                        out.push(ioc);
                    }
                }
            }
        }
        self.regexes.find(raw_forms, out);
        if out.len() - start > 1 {
            out[start..].sort_unstable();
            let mut tail = out.split_off(start);
            tail.dedup();
            out.extend(tail);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use DetectionFunction::*;

    fn set(items: &[(DetectionFunction, &str)]) -> TextSet {
        let mut b = TextSetBuilder::default();
        for (i, (f, v)) in items.iter().enumerate() {
            b.add(*f, v.to_lowercase(), v, i as IocIdx);
        }
        b.build_with(&Catalog::default()).unwrap()
    }

    fn find(s: &TextSet, h: &str) -> Vec<IocIdx> {
        let mut out = Vec::new();
        s.find(&h.to_lowercase(), &[h], &mut out);
        out
    }

    #[test]
    fn every_function_is_honoured() {
        let s = set(&[
            (Equals, "evil.exe"),
            (StartWith, "evil"),
            (EndWith, ".exe"),
            (Contains, "vil.e"),
            (Regex, r"^e.il\.EXE$"),
            (StartWith, ".exe"),
        ]);
        assert_eq!(find(&s, "EVIL.exe"), vec![0, 1, 2, 3, 4]);
        assert_eq!(find(&s, "notevil.exe"), vec![2, 3]);
        assert_eq!(find(&s, "evil.exe.txt"), vec![1, 3]);
        assert_eq!(find(&s, "benign.txt"), Vec::<IocIdx>::new());
    }

    #[test]
    fn shared_patterns_and_repeats_report_each_ioc_once() {
        let s = set(&[(Contains, "ab"), (Contains, "ab"), (EndWith, "ab")]);
        assert_eq!(find(&s, "abab"), vec![0, 1, 2]);
    }
}
