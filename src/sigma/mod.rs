//! Custom detections: Sigma rules over every event record the scan reads.
//!
//! Rules are parsed and evaluated by `rsigma-parser`/`rsigma-eval` (see the
//! README for why); this module loads rule files with their problems named
//! by line, maps records onto Sigma log sources (`logsource`) and fields
//! (`event`), and turns matches into findings of [`Detection::Rule`]. Each
//! rule is an alert definition of its own in the report.
//!
//! [`Detection::Rule`]: crate::evidence::Detection::Rule

mod correlate;
mod event;
mod literals;
mod load;
mod logsource;
mod narrowed;
mod prefilter;

pub use load::RuleProblem;
pub use prefilter::Coverage;

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use rsigma_eval::{CompiledRule, Engine, MatchDetailLevel};
use rsigma_parser::{
    ConditionOperator, CorrelationCondition, CorrelationRule, CorrelationType, FilterRuleTarget,
    Level, LogSource, SigmaRule,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifact::{Record, Screen, SystemFacts, ValueKind};
use crate::evidence::Finding;

/// The index of a rule in [`RuleSet::rules`].
pub type RuleIdx = u32;

/// Custom attribute carrying our index through the engine's results.
const INDEX_ATTR: &str = "breachscan_rule_index";

/// A rule as the report describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleInfo {
    /// The rule's `id`, or `file:line` when it has none.
    pub id: String,
    pub title: String,
    /// `informational` … `critical`.
    pub level: Option<String>,
    pub status: Option<String>,
    pub description: Option<String>,
    pub author: Option<String>,
    pub tags: Vec<String>,
    pub references: Vec<String>,
    pub falsepositives: Vec<String>,
    /// The file and line it was read from.
    pub file: String,
    pub line: u64,
    /// For a correlation rule: what it counts, over which rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub correlation: Option<CorrelationInfo>,
}

/// What a correlation rule aggregates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrelationInfo {
    /// `event_count`, `value_count`, `temporal`, `temporal_ordered`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The rules it groups, by id or name as written.
    pub rules: Vec<String>,
    pub group_by: Vec<String>,
    /// The window, as written (`1h`) and in seconds.
    pub timespan: String,
    pub timespan_seconds: u64,
}

impl RuleInfo {
    /// `attack.t1059.001` → `T1059.001`.
    pub fn mitre_techniques(&self) -> Vec<String> {
        self.tags
            .iter()
            .filter_map(|t| t.strip_prefix("attack.t"))
            .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()))
            .map(|t| format!("T{}", t.to_ascii_uppercase()))
            .collect()
    }
}

/// One rule file as loaded.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleFile {
    pub path: String,
    pub sha256: String,
    /// Detection rules loaded from it.
    pub rules: usize,
    /// Filters applied from it.
    pub filters: usize,
    /// Correlation rules loaded from it.
    #[serde(default)]
    pub correlations: usize,
    /// What was not loaded, or not as written.
    pub problems: Vec<RuleProblem>,
}

/// A rule that fired on a record, and the fields that made it fire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleHit {
    pub rule: RuleIdx,
    pub fields: Vec<(String, String)>,
}

/// One compiled detection rule (filters applied) in an engine of its own,
/// so that a record is evaluated only against its candidate rules.
struct Slot {
    engine: Engine,
    rule: RuleIdx,
    logsource: LogSource,
}

type SourceKey = (Option<&'static str>, Option<&'static str>);

/// Every rule of a scan, compiled once and shared by the workers.
pub struct RuleSet {
    pub files: Vec<RuleFile>,
    /// Detection and correlation rules, indexed by [`RuleIdx`].
    pub rules: Vec<RuleInfo>,
    slots: Vec<Slot>,
    prefilter: prefilter::Prefilter,
    /// The prefilter narrowed per channel and event id.
    narrowed: narrowed::Narrowed,
    /// Per log source a record can belong to (service, category): the
    /// slots whose rules are asked on it.
    by_source: HashMap<SourceKey, prefilter::RuleBits>,
    /// Per event id: the slots whose rules require it; `any_event_id`,
    /// those that require none.
    by_event_id: HashMap<u32, prefilter::RuleBits>,
    any_event_id: prefilter::RuleBits,
    /// Correlation rules, run over the scan's findings at its end.
    correlations: Vec<CorrelationRule>,
    /// The detection rules correlations name, as parsed.
    named: Vec<(RuleIdx, SigmaRule)>,
}

/// Text that makes a rule document's parse panic in debug builds (tests).
#[cfg(debug_assertions)]
pub use load::FAULT_MARKER as PARSE_FAULT_MARKER;

/// A rule title that makes compiling the rule panic in debug builds (tests).
#[cfg(debug_assertions)]
pub const COMPILE_FAULT_MARKER: &str = "breachscan-test-fault:sigma-compile";

/// A rule title that makes indexing the compiled rule (its literals, its
/// engine) panic in debug builds (tests).
#[cfg(debug_assertions)]
pub const INDEX_FAULT_MARKER: &str = "breachscan-test-fault:sigma-index";

impl RuleSet {
    /// No rules: records are matched by IOCs only.
    pub fn empty() -> RuleSet {
        RuleSet {
            files: Vec::new(),
            rules: Vec::new(),
            slots: Vec::new(),
            prefilter: prefilter::Prefilter::build(&[]),
            narrowed: narrowed::Narrowed::new(Vec::new(), [], |_, _| Vec::new()),
            by_source: HashMap::new(),
            by_event_id: HashMap::new(),
            any_event_id: Vec::new(),
            correlations: Vec::new(),
            named: Vec::new(),
        }
    }

    /// Loads every rule under `paths`. Fails only when a path cannot be
    /// read at all; a document or rule that cannot be used is a problem of
    /// its file, and the others load.
    pub fn load(paths: &[PathBuf]) -> Result<RuleSet, String> {
        use rayon::prelude::*;
        let mut set = RuleSet::empty();
        let mut rules: Vec<(RuleIdx, SigmaRule)> = Vec::new();
        let mut filters = Vec::new();
        let mut files = Vec::new();
        for path in paths {
            files.extend(load::rule_files(path)?);
        }
        // Reading and parsing thousands of files is most of the loading:
        // in parallel; registering them (ids, indices) in file order.
        let read: Vec<ReadFile> = files.par_iter().map(|f| read_file(f)).collect();
        for r in read {
            set.register(r, &mut rules, &mut filters);
        }
        let compiled: Vec<_> = rules
            .par_iter()
            .map(|(_, r)| {
                // A panic compiling one rule (a bug met on a strange rule)
                // costs that rule, listed, not the load.
                let compile = || {
                    // Debug builds only: a fault the tests inject.
                    #[cfg(debug_assertions)]
                    if r.title.contains(COMPILE_FAULT_MARKER) {
                        panic!("fault injected by a test");
                    }
                    rsigma_eval::compile_rule(r)
                };
                match std::panic::catch_unwind(compile) {
                    Ok(compiled) => compiled.map_err(|e| e.to_string()),
                    Err(p) => Err(format!(
                        "the rule compiler failed ({})",
                        crate::panics::message(&p)
                    )),
                }
            })
            .collect();
        let mut ok = Vec::new();
        for ((idx, _), c) in rules.iter().zip(compiled) {
            match c {
                Ok(c) => ok.push(c),
                Err(e) => set.not_loaded(*idx, &e),
            }
        }
        let compiled = if filters.is_empty() {
            ok
        } else {
            set.apply_filters(ok, filters, &rules)
        };
        set.check_correlations(rules);
        set.compile(compiled);
        Ok(set)
    }

    /// The rules with the filters applied (rsigma applies them to an
    /// engine's rules), filters that cannot be applied or name no loaded
    /// rule being problems of their files.
    fn apply_filters(
        &mut self,
        compiled: Vec<CompiledRule>,
        filters: Vec<(usize, u64, rsigma_parser::FilterRule)>,
        rules: &[(RuleIdx, SigmaRule)],
    ) -> Vec<CompiledRule> {
        let mut engine = Engine::new();
        engine.extend_compiled_rules(compiled);
        for (file, line, filter) in filters {
            if let FilterRuleTarget::Specific(refs) = &filter.rules
                && !rules.iter().any(|(_, r)| {
                    refs.iter()
                        .any(|x| r.id.as_deref() == Some(x.as_str()) || r.title == *x)
                })
            {
                self.files[file].problems.push(RuleProblem {
                    line: Some(line),
                    rule: Some(filter.title.clone()),
                    message: format!("filter names no loaded rule: {}", refs.join(", ")),
                });
            }
            if let Err(e) = engine.apply_filter(&filter) {
                let f = &mut self.files[file];
                f.filters -= 1;
                f.problems.push(RuleProblem {
                    line: Some(line),
                    rule: Some(filter.title.clone()),
                    message: format!("filter not applied: {e}"),
                });
            }
        }
        engine.rules().to_vec()
    }

    /// Lists rule `idx` as not loaded, for `why`, in its file's problems.
    fn not_loaded(&mut self, idx: RuleIdx, why: &str) {
        let info = &self.rules[idx as usize];
        if let Some(f) = self.files.iter_mut().find(|f| f.path == info.file) {
            f.rules -= 1;
            f.problems.push(RuleProblem {
                line: Some(info.line),
                rule: Some(info.title.clone()),
                message: format!("not loaded: {why}"),
            });
        }
    }

    /// One engine per compiled rule, and the prefilter over their literals.
    fn compile(&mut self, compiled: Vec<CompiledRule>) {
        use rayon::prelude::*;
        // Per rule, on every core: what it needs of a record's text, and its
        // engine (indexing a rule into one costs about what compiling it
        // does; one after the other they were a fifth of loading 2,400).
        let built: Vec<_> = compiled
            .into_par_iter()
            .filter_map(|compiled| {
                let rule = compiled
                    .custom_attributes
                    .get(INDEX_ATTR)
                    .and_then(|v| v.as_u64())? as RuleIdx;
                // A panic indexing one rule (a bug met on a strange rule)
                // costs that rule, listed, not the load.
                let index = std::panic::AssertUnwindSafe(|| {
                    // Debug builds only: a fault the tests inject.
                    #[cfg(debug_assertions)]
                    if compiled.title.contains(INDEX_FAULT_MARKER) {
                        panic!("fault injected by a test");
                    }
                    let literals = literals::rule_literals(&compiled);
                    let event_ids = literals::rule_event_ids(&compiled);
                    let logsource = compiled.logsource.clone();
                    let mut engine = Engine::new();
                    // Keyword matches are named only above `Off`; the
                    // detail is built only for rules that fire.
                    engine.set_match_detail(MatchDetailLevel::Summary);
                    engine.add_compiled_rule(compiled);
                    let slot = Slot {
                        engine,
                        rule,
                        logsource,
                    };
                    (slot, literals, event_ids)
                });
                Some(std::panic::catch_unwind(index).map_err(|p| {
                    let why = crate::panics::message(&p);
                    (rule, format!("indexing the rule failed ({why})"))
                }))
            })
            .collect();
        let mut channels = HashMap::new();
        let mut rule_needs = Vec::new();
        for built in built {
            let (slot, literals, event_ids) = match built {
                Ok(b) => b,
                Err((rule, why)) => {
                    self.not_loaded(rule, &why);
                    continue;
                }
            };
            let at = self.slots.len();
            match &event_ids {
                Some(ids) => {
                    for &id in ids {
                        let bits = self
                            .by_event_id
                            .entry(id)
                            .or_insert_with(|| prefilter::bits(0));
                        prefilter::set_growing(bits, at);
                    }
                }
                None => prefilter::set_growing(&mut self.any_event_id, at),
            }
            let ls = &slot.logsource;
            let key = (ls.product.clone(), ls.service.clone(), ls.category.clone());
            rule_needs.push(prefilter::RuleNeed {
                literals,
                event_ids,
                channels: channels
                    .entry(key)
                    .or_insert_with(|| logsource::channels(ls))
                    .clone(),
            });
            self.slots.push(slot);
        }
        self.by_source = logsource::all_sources()
            .into_par_iter()
            .map(|src| {
                let mut fits = prefilter::bits(self.slots.len());
                for (i, slot) in self.slots.iter().enumerate() {
                    if logsource::compatible(&slot.logsource, &src) {
                        prefilter::set(&mut fits, i);
                    }
                }
                ((src.service, src.category), fits)
            })
            .collect();
        // The whole set's automaton (an NFA of every literal) beside the
        // narrowed classes: one after the other they held one core for a
        // sixth of loading the SigmaHQ set.
        let ids: Vec<u32> = self.by_event_id.keys().copied().collect();
        // The needs are shared, not copied: the narrowed classes keep them.
        let needs: std::sync::Arc<[prefilter::RuleNeed]> = rule_needs.into();
        let (whole, narrowed) = rayon::join(
            || prefilter::Prefilter::build(&needs),
            || {
                narrowed::Narrowed::new(std::sync::Arc::clone(&needs), ids, |c, id| {
                    self.allowed(c, id)
                })
            },
        );
        self.prefilter = whole;
        self.narrowed = narrowed;
    }

    /// How the prefilter screens the rules (see `rules check`).
    pub fn coverage(&self) -> prefilter::Coverage {
        self.prefilter.coverage
    }

    /// Drops (as problems of their files) correlations that name no loaded
    /// rule or do not compile, and keeps the rules the others name.
    fn check_correlations(&mut self, rules: Vec<(RuleIdx, SigmaRule)>) {
        let loaded: std::collections::HashSet<&str> = rules
            .iter()
            .flat_map(|(_, r)| [r.id.as_deref(), r.name.as_deref()])
            .chain(
                self.correlations
                    .iter()
                    .flat_map(|c| [c.id.as_deref(), c.name.as_deref()]),
            )
            .flatten()
            .collect();
        let mut dropped: Vec<(usize, String)> = Vec::new();
        for (i, c) in self.correlations.iter().enumerate() {
            let missing: Vec<&str> = c
                .rules
                .iter()
                .map(String::as_str)
                .filter(|r| !loaded.contains(r))
                .collect();
            if !missing.is_empty() {
                dropped.push((
                    i,
                    format!("names rules that are not loaded: {}", missing.join(", ")),
                ));
            }
        }
        // rsigma-eval 0.15 keys temporal windows by a rule's id when it has
        // one but checks them by the reference as written: a rule named by
        // its `name:` is referred to by its id instead (the report keeps
        // the references as written).
        let ids: std::collections::HashMap<String, String> = rules
            .iter()
            .map(|(_, r)| (r.name.clone(), r.id.clone()))
            .chain(
                self.correlations
                    .iter()
                    .map(|c| (c.name.clone(), c.id.clone())),
            )
            .filter_map(|(name, id)| Some((name?, id?)))
            .collect();
        for c in &mut self.correlations {
            for r in &mut c.rules {
                if let Some(id) = ids.get(r.as_str()) {
                    *r = id.clone();
                }
            }
        }
        let keep = |dropped: &[(usize, String)], i: usize| !dropped.iter().any(|(d, _)| *d == i);
        let named = correlate::referenced(&rules, &self.correlations);
        let parsed: Vec<&SigmaRule> = rules
            .iter()
            .filter(|(i, _)| named.contains(i))
            .map(|(_, r)| r)
            .collect();
        for (i, c) in self.correlations.iter().enumerate() {
            if keep(&dropped, i)
                && let Err(e) = correlate::engine(&parsed, &[c])
            {
                dropped.push((i, format!("not loaded: {e}")));
            }
        }
        for (i, message) in &dropped {
            let c = &self.correlations[*i];
            let idx = correlate::index_of_rule(c);
            if let Some(info) = idx.and_then(|x| self.rules.get(x as usize))
                && let Some(f) = self.files.iter_mut().find(|f| f.path == info.file)
            {
                f.correlations -= 1;
                f.problems.push(RuleProblem {
                    line: Some(info.line),
                    rule: Some(c.title.clone()),
                    message: message.clone(),
                });
            }
        }
        let mut i = 0;
        self.correlations.retain(|_| {
            i += 1;
            keep(&dropped, i - 1)
        });
        self.named = rules
            .into_iter()
            .filter(|(i, _)| named.contains(i))
            .collect();
    }

    /// The correlation findings over a finished scan's `findings` (see
    /// `correlate`).
    pub fn correlate(&self, findings: &[Finding]) -> Vec<Finding> {
        correlate::run(self, findings)
    }

    /// Adds a read file's rules, correlations and filters, and its
    /// problems.
    fn register(
        &mut self,
        read: ReadFile,
        rules: &mut Vec<(RuleIdx, SigmaRule)>,
        filters: &mut Vec<(usize, u64, rsigma_parser::FilterRule)>,
    ) {
        let ReadFile {
            mut file,
            text,
            docs,
        } = read;
        let shown = file.path.clone();
        let text = match text {
            Ok(t) => t,
            Err(message) => {
                file.problems.push(RuleProblem {
                    line: None,
                    rule: None,
                    message,
                });
                self.files.push(file);
                return;
            }
        };
        let file_idx = self.files.len();
        for doc in docs {
            let body = &text[doc.text_start..];
            let title = doc
                .collection
                .rules
                .first()
                .map(|r| r.title.clone())
                .or_else(|| load::title_in(body));
            for message in &doc.collection.errors {
                let (line, message) = load::locate(body, doc.line, message);
                file.problems.push(RuleProblem {
                    line: Some(line),
                    rule: title.clone(),
                    message,
                });
            }
            for mut c in doc.collection.correlations {
                let temporal = matches!(
                    c.correlation_type,
                    CorrelationType::Temporal | CorrelationType::TemporalOrdered
                );
                if temporal && !load::has_correlation_condition(&text[doc.text_start..doc.text_end])
                {
                    c.condition = CorrelationCondition::Threshold {
                        predicates: vec![(ConditionOperator::Gte, c.rules.len() as u64)],
                        field: None,
                        percentile: None,
                    };
                }
                let idx = self.rules.len() as RuleIdx;
                c.custom_attributes
                    .insert(INDEX_ATTR.into(), yaml_serde::Value::from(idx as u64));
                self.rules.push(correlation_info(&c, &shown, doc.line));
                self.correlations.push(c);
                file.correlations += 1;
            }
            for mut rule in doc.collection.rules {
                let idx = self.rules.len();
                let mut info = info(&rule, &shown, doc.line);
                if let Some(first) = self.rules.iter().find(|r| r.id == info.id) {
                    file.problems.push(RuleProblem {
                        line: Some(doc.line),
                        rule: Some(rule.title.clone()),
                        message: format!(
                            "id {} is also the id of \"{}\" ({}:{}); reported as {}@{}:{}",
                            info.id, first.title, first.file, first.line, info.id, shown, doc.line
                        ),
                    });
                    info.id = format!("{}@{}:{}", info.id, shown, doc.line);
                }
                let idx = idx as RuleIdx;
                rule.custom_attributes
                    .insert(INDEX_ATTR.into(), yaml_serde::Value::from(idx as u64));
                self.rules.push(info);
                rules.push((idx, rule));
                file.rules += 1;
            }
            for filter in doc.collection.filters {
                filters.push((file_idx, doc.line, filter));
                file.filters += 1;
            }
        }
        self.files.push(file);
    }

    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// What record parsers may leave unrendered for the rules' sake.
    pub fn screen(&self) -> Screen {
        self.prefilter.screen()
    }

    /// Whether a record whose screened text is `text` could fire a rule.
    pub fn may_match(&self, text: &[u8]) -> bool {
        self.prefilter.may_match(text)
    }

    /// [`may_match`](Self::may_match) for a record whose System block says
    /// `facts`: only rules of its log sources and event id count.
    pub fn may_match_record(&self, text: &[u8], facts: &SystemFacts) -> bool {
        if self.prefilter.screen() != Screen::Text {
            return self.prefilter.may_match(text);
        }
        let Some(channel) = facts.channel else {
            // No id either (none, or one not read): any rule may apply.
            if facts.event_id.is_none() {
                return self.prefilter.may_match(text);
            }
            // A channel not read (or none) may be any: the record renders
            // when a rule some channel allows for its id is a candidate
            // (the whole prefilter says yes whenever any rule, of whatever
            // log source, needs no literal).
            let candidates = self.prefilter.candidates(text);
            return prefilter::meet(&candidates, self.narrowed.any_channel(facts.event_id));
        };
        if let Some(p) = self.narrowed(channel, facts.event_id, text.len()) {
            return p.may_match(text);
        }
        let candidates = self.prefilter.candidates(text);
        prefilter::meet(&candidates, &self.allowed(channel, facts.event_id))
    }

    /// The prefilter of the rules records of `channel` and `event_id` can
    /// meet (`None`: use the whole one, masked by [`Self::allowed`]).
    /// (`len`: the bytes of text it is to screen.)
    fn narrowed(
        &self,
        channel: &str,
        event_id: Option<u32>,
        len: usize,
    ) -> Option<&prefilter::Prefilter> {
        self.narrowed.get(channel, event_id, len)
    }

    /// The slots whose rules records of `channel` and `event_id` can meet:
    /// of one of the record's log sources, requiring its id or none.
    fn allowed(&self, channel: &str, event_id: Option<u32>) -> prefilter::RuleBits {
        let sources = logsource::sources(Some(channel), event_id);
        (0..self.slots.len().div_ceil(64))
            .map(|w| {
                let fits = sources.iter().fold(0, |m, src| {
                    m | self
                        .by_source
                        .get(&(src.service, src.category))
                        .map_or(u64::MAX, |f| f[w])
                });
                fits & self.id_fits(event_id, w)
            })
            .collect()
    }

    /// Whether `text` holds any rule's literal (see
    /// [`RecordFilter::holds_literal`](crate::artifact::RecordFilter::holds_literal)).
    pub fn holds_literal(&self, text: &[u8]) -> bool {
        self.prefilter.holds_literal(text)
    }

    /// Whether some rule's literal could be in a value of `kind`.
    pub fn may_match_kind(&self, kind: ValueKind) -> bool {
        self.prefilter.may_match_kind(kind)
    }

    /// Whether the set holds correlation rules (whose findings span the
    /// whole scan, so shard reports cannot merge into them).
    pub fn has_correlations(&self) -> bool {
        !self.correlations.is_empty()
    }

    /// The rules that fire on `rec`, each once, evaluated under every log
    /// source the record belongs to. Only the candidates the prefilter
    /// names from the record's text are evaluated.
    pub fn match_record(&self, rec: &Record) -> Vec<RuleHit> {
        let mut hits: Vec<RuleHit> = Vec::new();
        if self.is_empty() {
            return hits;
        }
        let system = event::system_fields(rec);
        let text = event::lower_text(rec, &system);
        let narrowed = rec
            .channel
            .as_deref()
            .filter(|_| self.prefilter.screen() == Screen::Text)
            .and_then(|c| self.narrowed(c, rec.event_id, text.len()));
        let candidates = match narrowed {
            Some(p) => p.candidates(&text),
            None => self.prefilter.candidates(&text),
        };
        if candidates.iter().all(|&w| w == 0) {
            return hits;
        }
        for src in logsource::sources(rec.channel.as_deref(), rec.event_id) {
            let ev = event::RecordEvent::new(rec, &system, src.renames);
            let fits = self.by_source.get(&(src.service, src.category));
            for (w, &word) in candidates.iter().enumerate() {
                let mut word =
                    word & fits.map_or(u64::MAX, |f| f[w]) & self.id_fits(rec.event_id, w);
                while word != 0 {
                    let c = w * 64 + word.trailing_zeros() as usize;
                    word &= word - 1;
                    let slot = &self.slots[c];
                    if fits.is_none() && !logsource::compatible(&slot.logsource, &src)
                        || hits.iter().any(|h| h.rule == slot.rule)
                    {
                        continue;
                    }
                    for m in slot.engine.evaluate(&ev) {
                        let mut fields: Vec<_> = m
                            .as_detection()
                            .map(|d| {
                                d.matched_fields
                                    .iter()
                                    .map(|f| (f.field.clone(), json_text(&f.value)))
                                    .collect()
                            })
                            .unwrap_or_default();
                        // The engine lists them in hash-map order, which
                        // changes from run to run; a report must not.
                        fields.sort_unstable();
                        fields.dedup();
                        hits.push(RuleHit {
                            rule: slot.rule,
                            fields,
                        });
                    }
                }
            }
        }
        hits
    }

    /// Word `w` of the slots whose required event ids a record of event id
    /// `id` has (all when it has no id: the rules' `EventID` then reads its
    /// data).
    fn id_fits(&self, id: Option<u32>, w: usize) -> u64 {
        let word = |b: &prefilter::RuleBits| b.get(w).copied().unwrap_or(0);
        match id {
            Some(id) => word(&self.any_event_id) | self.by_event_id.get(&id).map_or(0, word),
            None => u64::MAX,
        }
    }

    /// The results on `ev` (a record under log source `src`) of the rules
    /// `wanted` selects, without prefilter: for the correlation replay,
    /// whose records are few.
    fn evaluate(
        &self,
        ev: &event::RecordEvent,
        src: &logsource::Source,
        wanted: impl Fn(RuleIdx) -> bool,
    ) -> Vec<rsigma_eval::EvaluationResult> {
        self.slots
            .iter()
            .filter(|s| wanted(s.rule) && logsource::compatible(&s.logsource, src))
            .flat_map(|s| s.engine.evaluate(ev))
            .collect()
    }
}

/// A rule file read and parsed, not yet registered.
struct ReadFile {
    file: RuleFile,
    text: Result<String, String>,
    docs: Vec<load::Document>,
}

fn read_file(path: &Path) -> ReadFile {
    let mut file = RuleFile {
        path: path.display().to_string(),
        sha256: String::new(),
        rules: 0,
        filters: 0,
        correlations: 0,
        problems: Vec::new(),
    };
    let text = match std::fs::read(path) {
        Ok(bytes) => {
            file.sha256 = hex::encode(Sha256::digest(&bytes));
            String::from_utf8(bytes).map_err(|e| format!("not UTF-8 text: {e}"))
        }
        Err(e) => Err(format!("cannot read: {e}")),
    };
    let docs = text.as_deref().map(load::documents).unwrap_or_default();
    ReadFile { file, text, docs }
}

fn json_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        // An absence match (`Field: null`) has no value to show.
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn info(rule: &SigmaRule, file: &str, line: u64) -> RuleInfo {
    RuleInfo {
        id: rule.id.clone().unwrap_or_else(|| format!("{file}:{line}")),
        title: rule.title.clone(),
        level: rule.level.map(|l| level_name(l).to_string()),
        status: rule.status.map(|s| format!("{s:?}").to_ascii_lowercase()),
        description: rule.description.clone(),
        author: rule.author.clone(),
        tags: rule.tags.clone(),
        references: rule.references.clone(),
        falsepositives: rule.falsepositives.clone(),
        file: file.to_string(),
        line,
        correlation: None,
    }
}

fn correlation_info(c: &CorrelationRule, file: &str, line: u64) -> RuleInfo {
    RuleInfo {
        id: c
            .id
            .clone()
            .or_else(|| c.name.clone())
            .unwrap_or_else(|| format!("{file}:{line}")),
        title: c.title.clone(),
        level: c.level.map(|l| level_name(l).to_string()),
        status: c.status.map(|s| format!("{s:?}").to_ascii_lowercase()),
        description: c.description.clone(),
        author: c.author.clone(),
        tags: c.tags.clone(),
        references: c.references.clone(),
        falsepositives: c.falsepositives.clone(),
        file: file.to_string(),
        line,
        correlation: Some(CorrelationInfo {
            kind: c.correlation_type.as_str().to_string(),
            rules: c.rules.clone(),
            group_by: c.group_by.clone(),
            timespan: c.timespan.original.clone(),
            timespan_seconds: c.timespan.seconds,
        }),
    }
}

fn level_name(l: Level) -> &'static str {
    match l {
        Level::Informational => "informational",
        Level::Low => "low",
        Level::Medium => "medium",
        Level::High => "high",
        Level::Critical => "critical",
    }
}
