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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use aho_corasick::{AhoCorasick, MatchKind};
use rayon::prelude::*;
use regex::{Regex, RegexSet};

use super::literals::{Need, Text, fold_lower, regex_conjuncts_case_insensitive};
use crate::bundle::value::{REGEX_SIZE_LIMIT, compile_regex};
use crate::bundle::{Bundle, DetectionFunction, IocIdx};

/// Lazy-DFA cache of the `RegexSet` of regexes without literals, whatever
/// their number: thousands of patterns thrash the default 2 MiB cache and
/// fall back to the slow engines; the cache grows only as states are used.
const UNSCREENED_DFA_LIMIT: usize = 64 << 20;

/// A regex IOC's pattern, read once per scan: every field kind it is
/// matched in and the record prefilter share it.
pub struct Entry {
    pattern: String,
    /// Its literals as they appear in a value ([`Text::Value`]).
    value: Option<Vec<String>>,
    /// Its literals as they appear in a record's screened text
    /// ([`Text::Screened`]).
    pub screened: Option<Vec<String>>,
    /// Other literals its matches contain as they appear in a value, folded
    /// and with `/` as `\\` (as [`Regexes::find`] searches): one of each
    /// list must be in a value before the regex runs on it.
    also: Vec<Vec<String>>,
    /// A path separator every one of its value literals holds: a spelling
    /// of a path without it cannot match.
    separator: Option<u8>,
    /// Compiled on first use; `None` if it does not compile (it did when
    /// the bundle loaded, with the same builder: not expected).
    compiled: OnceLock<Option<Regex>>,
}

impl Entry {
    fn new(pattern: &str) -> Entry {
        let [mut value, screened] =
            regex_conjuncts_case_insensitive(pattern, [Text::Value, Text::Screened]);
        let also = value
            .drain(1..)
            .filter_map(useful)
            .map(|lits| lits.iter().map(|l| unslash(l)).collect())
            .collect();
        let value = useful(value.swap_remove(0));
        let separator = value.as_ref().and_then(|lits| {
            [b'\\', b'/']
                .into_iter()
                .find(|&b| lits.iter().all(|l| l.as_bytes().contains(&b)))
        });
        Entry {
            pattern: pattern.to_string(),
            value,
            screened: screened.into_iter().next().and_then(useful),
            also,
            separator,
            compiled: OnceLock::new(),
        }
    }

    /// Whether it has literals to be screened by.
    pub fn is_screened(&self) -> bool {
        self.value.is_some()
    }

    fn is_match(&self, form: &str) -> bool {
        self.compiled
            .get_or_init(|| compile_regex(&self.pattern).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(form))
    }
}

/// The regex IOCs of a bundle, each read (on all cores) and compiled once.
#[derive(Default)]
pub struct Catalog {
    entries: HashMap<String, Arc<Entry>>,
    /// [`Regexes`] built from it, by their list: field kinds given the
    /// same regexes (Loki's file-name regexes are both path and
    /// command-line IOCs) share one set, built by the first to ask.
    built: Mutex<Vec<(RegexList, Arc<Shared>)>>,
}

type RegexList = Vec<(String, IocIdx)>;
type Shared = OnceLock<Result<Arc<Regexes>, String>>;

impl Catalog {
    pub fn of(bundle: &Bundle) -> Catalog {
        let mut patterns: Vec<&str> = bundle
            .active_iocs()
            .filter(|(_, i)| i.function == DetectionFunction::Regex)
            .map(|(_, i)| i.value.as_str())
            .collect();
        patterns.sort_unstable();
        patterns.dedup();
        let entries = patterns
            .into_par_iter()
            .map(|p| (p.to_string(), Arc::new(Entry::new(p))))
            .collect();
        Catalog {
            entries,
            built: Mutex::default(),
        }
    }

    /// The set of `regexes`, built once for every caller with the same
    /// list (the others wait for it).
    pub fn regexes(&self, regexes: RegexList) -> Result<Arc<Regexes>, String> {
        let shared = {
            let mut built = self.built.lock().unwrap_or_else(PoisonError::into_inner);
            match built.iter().find(|(list, _)| *list == regexes) {
                Some((_, shared)) => Arc::clone(shared),
                None => {
                    let shared = Arc::new(Shared::new());
                    built.push((regexes.clone(), Arc::clone(&shared)));
                    shared
                }
            }
        };
        shared
            .get_or_init(|| Regexes::build(regexes, self).map(Arc::new))
            .clone()
    }

    /// The entry of `pattern` (read now if the catalog lacks it).
    pub fn get(&self, pattern: &str) -> Arc<Entry> {
        self.entries
            .get(pattern)
            .cloned()
            .unwrap_or_else(|| Arc::new(Entry::new(pattern)))
    }
}

#[derive(Default)]
pub struct Regexes {
    /// Over the screened regexes' literals (lower case).
    ac: Option<AhoCorasick>,
    /// Per literal of `ac`: the indices in `screened` it stands for.
    by_literal: Vec<Vec<u32>>,
    /// Per literal of `ac` standing for [`GROUP_FROM`] regexes or more
    /// (`.exe` in Loki's set): those regexes as one set, built on first
    /// use, so that a value holding it is read once, not once per regex.
    groups: Vec<Option<OnceLock<Option<RegexSet>>>>,
    /// Per literal: the separator every regex it stands for needs (see
    /// [`Entry::separator`]), if they agree.
    separators: Vec<Option<u8>>,
    screened: Vec<(Arc<Entry>, IocIdx)>,
    /// Per screened regex: its [`Entry::also`] lists as literals of `ac`,
    /// so that the one search names them too (no substring search per
    /// candidate regex).
    also: Vec<Vec<Vec<u32>>>,
    /// Regexes with no literal, run on every value.
    unscreened: Option<RegexSet>,
    unscreened_iocs: Vec<IocIdx>,
}

/// Regexes sharing one literal from which they are run as one set.
const GROUP_FROM: usize = 8;

/// Lazy-DFA cache of each such set.
const GROUP_DFA_LIMIT: usize = 16 << 20;

/// Literals shorter than this are in nearly every value: a regex whose
/// best literals are that short is run on every value instead.
const MIN_USEFUL: usize = 3;

/// `s` with every `/` as `\\`: how literals are searched (see
/// [`Regexes::find`]).
fn unslash(s: &str) -> String {
    s.replace('/', "\\")
}

/// The literals one of which every match of a regex IOC contains, or `None`
/// when it has none or they are too short to screen by.
fn useful(need: Need) -> Option<Vec<String>> {
    match need {
        Need::OneOf(v) if v.iter().all(|l| l.len() >= MIN_USEFUL) => Some(v),
        _ => None,
    }
}

impl Regexes {
    pub fn build(regexes: Vec<(String, IocIdx)>, catalog: &Catalog) -> Result<Regexes, String> {
        let mut lits: Vec<String> = Vec::new();
        let mut by_literal: Vec<Vec<u32>> = Vec::new();
        let mut index = HashMap::<String, usize>::new();
        let mut screened = Vec::new();
        let mut also = Vec::new();
        let mut unscreened = Vec::new();
        let mut id_of = |lit: String, lits: &mut Vec<String>, by_literal: &mut Vec<Vec<u32>>| {
            *index.entry(lit).or_insert_with_key(|l| {
                lits.push(l.clone());
                by_literal.push(Vec::new());
                lits.len() - 1
            })
        };
        for (pattern, ioc) in regexes {
            let entry = catalog.get(&pattern);
            match &entry.value {
                Some(found) => {
                    let at = screened.len() as u32;
                    for lit in found {
                        let id = id_of(unslash(lit), &mut lits, &mut by_literal);
                        // Two literals may read alike once unslashed: list it once.
                        if by_literal[id].last() != Some(&at) {
                            by_literal[id].push(at);
                        }
                    }
                    // Literals only needed alongside stand for no regex.
                    let ids = entry.also.iter().map(|list| {
                        let ids = list
                            .iter()
                            .map(|l| id_of(l.clone(), &mut lits, &mut by_literal));
                        ids.map(|id| id as u32).collect()
                    });
                    also.push(ids.collect());
                    screened.push((entry, ioc));
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
        let groups = by_literal
            .iter()
            .map(|members| (members.len() >= GROUP_FROM).then(OnceLock::new))
            .collect();
        let separators = by_literal
            .iter()
            .map(|members| {
                let first = members
                    .first()
                    .and_then(|&r| screened[r as usize].0.separator);
                members
                    .iter()
                    .all(|&r| screened[r as usize].0.separator == first)
                    .then_some(first)
                    .flatten()
            })
            .collect();
        Ok(Regexes {
            ac,
            by_literal,
            groups,
            separators,
            screened,
            also,
            unscreened: set,
            unscreened_iocs: unscreened.into_iter().map(|(_, i)| i).collect(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.screened.is_empty() && self.unscreened.is_none()
    }

    /// Pushes the IOC of every regex that matches one of `forms` onto `out`
    /// (in no order, maybe more than once). The forms are spellings of one
    /// value that differ only in `/` against `\\` (a path written both
    /// ways): the literals are searched once, in the value with every `/`
    /// read as `\\` (the literals were turned the same way), and the
    /// regexes they name run on each form that holds the separator all
    /// their literals hold, if any (`\\svchost\.exe$` only on the form
    /// with backslashes).
    pub fn find(&self, forms: &[&str], out: &mut Vec<IocIdx>) {
        let Some(first) = forms.first() else {
            return;
        };
        debug_assert!(forms.iter().all(|f| unslash(f) == unslash(first)));
        let can_hold = |separator: Option<u8>, form: &str| {
            separator.is_none_or(|b| memchr::memchr(b, form.as_bytes()).is_some())
        };
        if let Some(ac) = &self.ac {
            let mut folded = Vec::with_capacity(first.len());
            fold_lower(first, &mut folded);
            for b in &mut folded {
                if *b == b'/' {
                    *b = b'\\';
                }
            }
            let mut found: Vec<usize> = ac
                .find_overlapping_iter(&folded)
                .map(|m| m.pattern().as_usize())
                .collect();
            found.sort_unstable();
            found.dedup();
            let mut candidates: Vec<u32> = Vec::new();
            for &lit in &found {
                let members = &self.by_literal[lit];
                let set = self.groups[lit].as_ref().and_then(|g| {
                    g.get_or_init(|| {
                        regex::RegexSetBuilder::new(
                            members
                                .iter()
                                .map(|&r| self.screened[r as usize].0.pattern.as_str()),
                        )
                        .case_insensitive(true)
                        .size_limit(REGEX_SIZE_LIMIT.saturating_mul(members.len()))
                        .dfa_size_limit(GROUP_DFA_LIMIT)
                        .build()
                        .ok()
                    })
                    .as_ref()
                });
                match set {
                    Some(set) => {
                        for form in forms.iter().filter(|f| can_hold(self.separators[lit], f)) {
                            out.extend(
                                set.matches(form)
                                    .iter()
                                    .map(|i| self.screened[members[i] as usize].1),
                            );
                        }
                    }
                    // Too big as one set: each on its own.
                    None => candidates.extend_from_slice(members),
                }
            }
            candidates.sort_unstable();
            candidates.dedup();
            // One literal of each list in the (unslashed, folded) value.
            let holds = |ids: &Vec<u32>| {
                ids.iter()
                    .any(|&id| found.binary_search(&(id as usize)).is_ok())
            };
            for r in candidates {
                let (entry, ioc) = &self.screened[r as usize];
                if self.also[r as usize].iter().all(holds)
                    && forms
                        .iter()
                        .any(|form| can_hold(entry.separator, form) && entry.is_match(form))
                {
                    out.push(*ioc);
                }
            }
        }
        if let Some(set) = &self.unscreened {
            for form in forms {
                out.extend(set.matches(form).iter().map(|i| self.unscreened_iocs[i]));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(r: &Regexes, form: &str) -> Vec<IocIdx> {
        let mut out = Vec::new();
        r.find(&[form], &mut out);
        out.sort_unstable();
        out
    }

    /// Field kinds given the same regexes share one set; another list
    /// gets its own.
    #[test]
    fn the_same_list_is_built_once() {
        let catalog = Catalog::default();
        let list = |i: IocIdx| vec![(r"\\svcsstat\.exe$".to_string(), i)];
        let a = catalog.regexes(list(0)).unwrap();
        let b = catalog.regexes(list(0)).unwrap();
        let c = catalog.regexes(list(1)).unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!(found(&c, r"C:\x\svcsstat.exe"), vec![1]);
    }

    #[test]
    fn only_regexes_whose_literal_is_present_run_and_all_that_match_are_found() {
        let r = Regexes::build(
            vec![
                (r"\\svcsstat\.exe$".into(), 0),
                (r"(TEMP|Temp)\\[^\\]+\.(xmd|yls)$".into(), 1),
                (r"^\d{6}$".into(), 2),
                (r"\\MIMIKATZ".into(), 3),
            ],
            &Catalog::default(),
        )
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
        // Regexes sharing a literal run as one set.
        let many: Vec<(String, IocIdx)> = (0..GROUP_FROM as IocIdx + 2)
            .map(|i| (format!(r"\\x{i}[a-z]*\.exe$"), i))
            .chain([(r"\\[a-z]\.exe$".to_string(), 99)])
            .collect();
        let g = Regexes::build(many, &Catalog::default()).unwrap();
        assert!(g.groups.iter().any(Option::is_some));
        assert_eq!(found(&g, r"C:\x3abc.exe"), [3]);
        assert_eq!(found(&g, r"C:\q.exe"), [99]);
        // Not compiled until a value held its literal.
        assert!(r.screened[1].0.compiled.get().is_some());
        let fresh =
            Regexes::build(vec![(r"\\svcsstat\.exe$".into(), 0)], &Catalog::default()).unwrap();
        assert_eq!(found(&fresh, "notepad.exe"), Vec::<IocIdx>::new());
        assert!(fresh.screened[0].0.compiled.get().is_none());
        // Each top-level piece's literal is needed: a value holding the
        // screened one but not `.flv` does not run the regex.
        let flv = Regexes::build(
            vec![(r"Windows\\[0-9a-z]+.flv".into(), 0)],
            &Catalog::default(),
        )
        .unwrap();
        assert_eq!(flv.screened[0].0.also.len(), 1);
        assert_eq!(found(&flv, r"C:\Windows\x.exe"), Vec::<IocIdx>::new());
        assert!(flv.screened[0].0.compiled.get().is_none());
        assert_eq!(found(&flv, r"C:\Windows\x1.FLV"), [0]);
        assert_eq!(found(&flv, "C:/Windows/x1.flv"), Vec::<IocIdx>::new());
    }

    /// Every regex of Loki's signature-base against paths, screened and
    /// unscreened: the screen never loses a match.
    #[test]
    fn screening_finds_what_running_every_regex_finds() {
        let file = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/corpus/bundles/signature-base/filename-iocs.txt"
        );
        let text = std::fs::read_to_string(file).expect("the shared corpus");
        let patterns: Vec<(String, IocIdx)> = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter_map(|l| l.split(';').next())
            .filter(|p| compile_regex(p).is_ok())
            .enumerate()
            .map(|(i, p)| (p.to_string(), i as IocIdx))
            .collect();
        assert!(patterns.len() > 3000);
        let screened = Regexes::build(patterns.clone(), &Catalog::default()).unwrap();
        let every = regex::RegexSetBuilder::new(patterns.iter().map(|(p, _)| p))
            .case_insensitive(true)
            .size_limit(REGEX_SIZE_LIMIT * patterns.len())
            .dfa_size_limit(256 << 20)
            .build()
            .unwrap();
        let paths = [
            r"C:\Windows\System32\123.exe",
            r"C:\Windows\Temp\key1234567.pub",
            r"C:\Users\x\AppData\Local\Temp\svchost.exe",
            r"C:\ProgramData\Mail\MailAg\x.dll",
            r"C:\inetpub\wwwroot\images\a.exe",
            r"C:\tools\mimikatz.exe",
            r"C:\tools\WCE.EXE",
            r"C:\Documents and Settings\u\Application Data\sydmain.dll",
            r"C:\q.exe",
            r"C:\Windows\svchost.exe",
            r"C:\PerfLogs\x.exe",
            r"C:\ProgramData\p.exe",
            r"C:\Temp\dl_12.exe",
            "C:\\Windows\\\u{17F}ystem32\\cmd.exe",
            r"C:\Program Files\Common Files\System\ado\msado15.dll",
            "/inetpub/wwwroot/aspnet_client/system_web/shell.aspx",
            "/Users/bob/Downloads/invoice.pdf.exe",
        ];
        let mut hits = 0;
        for path in paths {
            for form in [path.to_string(), path.replace('\\', "/")] {
                let mut got = Vec::new();
                screened.find(&[&form], &mut got);
                got.sort_unstable();
                got.dedup();
                let want: Vec<IocIdx> =
                    every.matches(&form).iter().map(|i| patterns[i].1).collect();
                assert_eq!(got, want, "{form}");
                hits += want.len();
            }
            // Both spellings at once: what either finds.
            let (slashed, windows) = (path.replace('\\', "/"), path.replace('/', "\\"));
            let mut got = Vec::new();
            screened.find(&[&slashed, &windows], &mut got);
            got.sort_unstable();
            got.dedup();
            let mut want: Vec<IocIdx> = [&slashed, &windows]
                .iter()
                .flat_map(|f| every.matches(f).into_iter().map(|i| patterns[i].1))
                .collect();
            want.sort_unstable();
            want.dedup();
            assert_eq!(got, want, "{path}");
        }
        assert!(hits > 20, "the paths hit: {hits}");
    }
}
