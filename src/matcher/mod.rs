//! The compiled form of a bundle: answers "which IOCs does this file hit".
//!
//! Compiled once per scan and shared by every worker (`&Matcher` is `Sync`).
//! Each IOC type gets the structure that makes its lookup independent of the
//! number of IOCs (DESIGN.md §2): hash maps of digests, [`text::TextSet`]s for
//! names and paths.

mod digest_runs;
pub(crate) mod literals;
mod prefilter;
mod screened_regex;
// The literal helpers the Sigma rules' prefilter shares.
pub(crate) use prefilter::{TEXT_PER_DFA_CELL, dfa_cells, fits_kind, narrow};
pub mod content;
pub mod hkey;
mod record;
mod regexes;
pub mod text;

pub use hkey::normalize_registry;
pub use record::normalize_url;

use std::collections::HashMap;
use std::sync::OnceLock;

use crate::artifact::program::Program;
use crate::bundle::{Bundle, DetectionFunction, IdMap, IocIdx, IocType, value};
use crate::hash::{DigestSet, Digests};
use text::{TextSet, TextSetBuilder};

/// How a bundle's active regex IOCs are screened (for `bundle check`): how
/// many have literals, and which have none (each such regex runs on every
/// value of its field kind, and disables the record prefilter).
pub fn regex_screening(bundle: &Bundle) -> (usize, Vec<IocIdx>) {
    let catalog = regexes::Catalog::of(bundle);
    let (screened, bare): (Vec<IocIdx>, Vec<IocIdx>) = bundle
        .active_iocs()
        .filter(|(_, ioc)| ioc.function == DetectionFunction::Regex)
        .map(|(i, _)| i)
        .partition(|&i| catalog.get(&bundle.iocs[i as usize].value).is_screened());
    (screened.len(), bare)
}

/// One IOC hit: which IOC, which field of the artifact, and the value there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    pub ioc: IocIdx,
    pub field: String,
    pub value: String,
}

pub struct Matcher {
    digests: DigestSet,
    md5: IdMap<[u8; 16], Vec<IocIdx>>,
    sha1: IdMap<[u8; 20], Vec<IocIdx>>,
    sha256: IdMap<[u8; 32], Vec<IocIdx>>,
    file_name: TextSet,
    file_path: TextSet,
    record: record::RecordSets,
    /// Whether any active IOC exists (every type can hit a record).
    has_record_iocs: bool,
    /// Whether some `RegistryKey` IOC names one user by SID
    /// (`HKU\S-1-5-21-…\…`), which a user's hive matches only once its
    /// owner is known.
    names_user_sid: bool,
    /// Necessary literals of every active IOC; `None` when some IOC has
    /// none (see `prefilter`).
    record_prefilter: Option<prefilter::Prefilter>,
    /// False-positive regexes by IOC (see `Ioc::exclude`).
    exclusions: HashMap<IocIdx, Exclusion>,
    /// Network IOCs searched in file bytes; empty unless asked for
    /// ([`Matcher::search_content`]).
    content: content::ContentSet,
}

impl Matcher {
    /// Compiles the bundle's active IOCs. Values were checked when the bundle
    /// loaded; this fails only if the combined regexes exceed their size
    /// limit.
    pub fn new(bundle: &Bundle) -> Result<Matcher, String> {
        Matcher::with_content(bundle, false)
    }

    /// [`Matcher::new`], also searching file bytes for the bundle's
    /// addresses, host names and URLs when `content` (`--content`).
    pub fn with_content(bundle: &Bundle, content: bool) -> Result<Matcher, String> {
        // Regex IOCs are read once (on all cores), for every set below. Then
        // digest maps, file sets, record sets, the record prefilter's
        // literals and the content search's are gathered side by side: with
        // a million IOCs each takes about a second (the content set of
        // 100,000 network IOCs, 0.15 s). The prefilter's automata are built
        // later, on threads of their own, once the scan meets a log (see
        // `prefilter::Prefilter`).
        let catalog = regexes::Catalog::of(bundle);
        let (((digests, files), (rest, record_prefilter)), content) = rayon::join(
            || {
                rayon::join(
                    || {
                        rayon::join(
                            || Self::digest_maps(bundle),
                            || Self::file_sets(bundle, &catalog),
                        )
                    },
                    || {
                        rayon::join(
                            || Self::record_sets(bundle, &catalog),
                            || prefilter::build(bundle.active_iocs().map(|(_, i)| i), &catalog),
                        )
                    },
                )
            },
            || content.then(|| content::ContentSet::new(bundle)),
        );
        let (md5, sha1, sha256) = digests;
        let (file_name, file_path) = files?;
        let (record, exclusions) = rest?;
        Ok(Matcher {
            digests: DigestSet {
                md5: !md5.is_empty(),
                sha1: !sha1.is_empty(),
                sha256: !sha256.is_empty(),
            },
            md5,
            sha1,
            sha256,
            file_name,
            file_path,
            record,
            has_record_iocs: bundle.active_iocs().next().is_some(),
            names_user_sid: bundle.active_iocs().any(|(_, i)| {
                i.kind == IocType::RegistryKey
                    && hkey::names_user_sid(&normalize_registry(&i.value))
            }),
            record_prefilter,
            exclusions,
            content: content.transpose()?.unwrap_or_default(),
        })
    }

    /// Whether the bundle has digest IOCs: files are then read for their
    /// digests (what `Matcher::digests_needed` says, known before the
    /// matcher is built).
    pub fn wants_digests(bundle: &Bundle) -> bool {
        bundle.active_iocs().any(|(_, i)| match i.kind {
            IocType::Md5 => digest_key::<16>(&i.value).is_some(),
            IocType::Sha1 => digest_key::<20>(&i.value).is_some(),
            IocType::Sha256 => digest_key::<32>(&i.value).is_some(),
            _ => false,
        })
    }

    /// How many IOCs file bytes are searched for, and how many network
    /// IOCs have no literal to search (regexes, address ranges).
    pub fn content_search(&self) -> (usize, usize) {
        (self.content.searched(), self.content.unsearched())
    }

    /// The literals to search file bytes for, if any.
    pub fn content(&self) -> Option<&content::ContentSet> {
        (!self.content.is_empty()).then_some(&self.content)
    }

    /// Whether an IOC's false-positive regex rejects a matched value.
    pub fn excluded(&self, ioc: IocIdx, value: &str) -> bool {
        self.exclusions.get(&ioc).is_some_and(|x| x.rejects(value))
    }

    #[allow(clippy::type_complexity)]
    fn digest_maps(
        bundle: &Bundle,
    ) -> (
        IdMap<[u8; 16], Vec<IocIdx>>,
        IdMap<[u8; 20], Vec<IocIdx>>,
        IdMap<[u8; 32], Vec<IocIdx>>,
    ) {
        let count = |k| bundle.active_iocs().filter(|(_, i)| i.kind == k).count();
        let mut md5 = IdMap::default();
        let mut sha1 = IdMap::default();
        let mut sha256 = IdMap::default();
        md5.reserve(count(IocType::Md5));
        sha1.reserve(count(IocType::Sha1));
        sha256.reserve(count(IocType::Sha256));
        for (idx, ioc) in bundle.active_iocs() {
            let v = ioc.value.as_str();
            match ioc.kind {
                IocType::Md5 => push(&mut md5, v, idx),
                IocType::Sha1 => push(&mut sha1, v, idx),
                IocType::Sha256 => push(&mut sha256, v, idx),
                _ => {}
            }
        }
        (md5, sha1, sha256)
    }

    /// File name and path sets.
    fn file_sets(
        bundle: &Bundle,
        catalog: &regexes::Catalog,
    ) -> Result<(TextSet, TextSet), String> {
        let mut names = TextSetBuilder::default();
        let mut paths = TextSetBuilder::default();
        for (idx, ioc) in bundle.active_iocs() {
            let v = ioc.value.as_str();
            match ioc.kind {
                IocType::FileName => names.add(ioc.function, normalize_name(v), v, idx),
                IocType::FilePath => {
                    let anchored = matches!(
                        ioc.function,
                        DetectionFunction::Equals | DetectionFunction::StartWith
                    );
                    paths.add(ioc.function, normalize_path(v, anchored), v, idx)
                }
                _ => {}
            }
        }
        Ok((names.build_with(catalog)?, paths.build_with(catalog)?))
    }

    /// Event record sets and false-positive regexes.
    fn record_sets(
        bundle: &Bundle,
        catalog: &regexes::Catalog,
    ) -> Result<(record::RecordSets, HashMap<IocIdx, Exclusion>), String> {
        let mut records = record::RecordSetsBuilder::default();
        let mut exclusions = HashMap::new();
        for (idx, ioc) in bundle.active_iocs() {
            if let Some(x) = &ioc.exclude {
                exclusions.insert(idx, Exclusion::new(x));
            }
            records.add(idx, ioc);
        }
        Ok((records.build(catalog)?, exclusions))
    }

    /// Starts building the record prefilter (in the background, once): the
    /// scan calls it on meeting a log, so that the build overlaps the log's
    /// first reads and a scan without logs never pays for it.
    pub fn prepare_records(&self) {
        if self.has_record_iocs
            && let Some(p) = &self.record_prefilter
        {
            p.start();
        }
    }

    /// The digests a file must have computed for hash IOCs to be checked.
    /// Whether registry hives are worth reading: some IOC could hit a key,
    /// a value or its data.
    pub fn wants_registry(&self) -> bool {
        self.has_record_iocs
    }

    /// Whether some IOC names a user's keys by SID (`HKU\<SID>\…`): a
    /// user's hive whose owner is not known is then listed.
    pub fn wants_user_sid(&self) -> bool {
        self.names_user_sid
    }

    /// Sha1, FilePath and FileName IOCs against a program an execution
    /// trace (Amcache, prefetch) records, which may be all that is left of
    /// it; recorded volume paths (`\\VOLUME{…}\\…`) compare volume-relative.
    pub fn match_program(&self, p: &Program, out: &mut Vec<Hit>) {
        let start = out.len();
        let mut iocs = Vec::new();
        let mut push = |iocs: &mut Vec<IocIdx>, field: &str, value: &str| {
            out.extend(iocs.drain(..).map(|ioc| Hit {
                ioc,
                field: field.into(),
                value: value.into(),
            }));
        };
        if let Some(sha1) = &p.sha1 {
            if let Some(v) = hex::decode(sha1).ok().and_then(|b| self.sha1.get(&b[..])) {
                iocs.extend_from_slice(v);
            }
            push(&mut iocs, "sha1", sha1);
        }
        let on_volume = crate::artifact::prefetch::volume_relative;
        if let Some(path) = p.path.as_deref().filter(|_| !self.file_path.is_empty()) {
            let rel = on_volume(path);
            self.file_path
                .find(&normalize_path(rel, true), &[rel], &mut iocs);
            push(&mut iocs, "filePath", path);
        }
        if let Some(name) = p.name.as_deref().filter(|_| !self.file_name.is_empty()) {
            self.file_name
                .find(&normalize_name(name), &[name], &mut iocs);
            push(&mut iocs, "fileName", name);
        }
        // What a prefetch file says the program loaded (its DLLs, its
        // data files), the program itself aside.
        for file in p
            .loaded
            .iter()
            .filter(|f| Some(f.as_str()) != p.path.as_deref())
        {
            let rel = on_volume(file);
            if !self.file_path.is_empty() {
                self.file_path
                    .find(&normalize_path(rel, true), &[rel], &mut iocs);
            }
            if !self.file_name.is_empty() {
                let name = rel.rsplit('\\').next().unwrap_or(rel);
                self.file_name
                    .find(&normalize_name(name), &[name], &mut iocs);
            }
            push(&mut iocs, "loadedFile", file);
        }
        self.drop_excluded(out, start);
    }

    pub fn digests_needed(&self) -> DigestSet {
        self.digests
    }

    /// Drops hits from `start` on whose IOC has a false-positive regex that
    /// matches the hit's value (either path separator).
    pub(super) fn drop_excluded(&self, out: &mut Vec<Hit>, start: usize) {
        if self.exclusions.is_empty() {
            return;
        }
        let mut i = start;
        while i < out.len() {
            if self.excluded(out[i].ioc, &out[i].value) {
                out.remove(i);
            } else {
                i += 1;
            }
        }
    }

    /// FileName and FilePath IOCs against a file's `/`-separated path inside
    /// its source.
    pub fn match_path(&self, path: &str, out: &mut Vec<Hit>) {
        let start = out.len();
        self.match_path_unfiltered(path, out);
        self.drop_excluded(out, start);
    }

    fn match_path_unfiltered(&self, path: &str, out: &mut Vec<Hit>) {
        if !self.file_name.is_empty() {
            let name = path.rsplit('/').next().unwrap_or(path);
            let mut iocs = Vec::new();
            self.file_name
                .find(&normalize_name(name), &[name], &mut iocs);
            out.extend(iocs.into_iter().map(|ioc| Hit {
                ioc,
                field: "fileName".into(),
                value: name.to_string(),
            }));
        }
        if !self.file_path.is_empty() {
            // Regexes written for Windows paths use `\`; try both spellings.
            let windows = path.replace('/', "\\");
            let mut iocs = Vec::new();
            self.file_path
                .find(&normalize_path(path, true), &[path, &windows], &mut iocs);
            out.extend(iocs.into_iter().map(|ioc| Hit {
                ioc,
                field: "filePath".into(),
                value: path.to_string(),
            }));
        }
    }

    /// Hash IOCs against the digests computed for a file.
    pub fn match_digests(&self, d: &Digests, out: &mut Vec<Hit>) {
        if let Some(v) = d.md5.as_ref().and_then(|h| self.md5.get(h)) {
            out.extend(v.iter().map(|&ioc| hit(ioc, "md5", &d.md5)));
        }
        if let Some(v) = d.sha1.as_ref().and_then(|h| self.sha1.get(h)) {
            out.extend(v.iter().map(|&ioc| hit(ioc, "sha1", &d.sha1)));
        }
        if let Some(v) = d.sha256.as_ref().and_then(|h| self.sha256.get(h)) {
            out.extend(v.iter().map(|&ioc| hit(ioc, "sha256", &d.sha256)));
        }
    }
}

/// The parsers' view of the record prefilter.
impl crate::artifact::RecordFilter for Matcher {
    fn screen(&self) -> crate::artifact::Screen {
        use crate::artifact::Screen;
        match (self.has_record_iocs, &self.record_prefilter) {
            (false, _) => Screen::Nothing,
            (true, None) => Screen::Everything,
            (true, Some(_)) => Screen::Text,
        }
    }

    /// Whether `text` (a record's values gathered by a parser) holds a
    /// literal of some IOC; `false` lets the parser skip turning the record
    /// into fields. [`Self::screen_record`] says more when it can.
    fn may_match(&self, text: &[u8]) -> bool {
        self.has_record_iocs
            && self
                .record_prefilter
                .as_ref()
                .is_none_or(|p| p.is_match(text))
    }

    fn screen_record(
        &self,
        text: &[u8],
        facts: &crate::artifact::SystemFacts,
    ) -> crate::artifact::Screening {
        use crate::artifact::Screening;
        match &self.record_prefilter {
            _ if !self.has_record_iocs => Screening::NoLiteral,
            None => Screening::Render,
            Some(p) => p.screen(text, facts.verbatim),
        }
    }

    fn may_match_kind(&self, kind: crate::artifact::ValueKind) -> bool {
        self.record_prefilter
            .as_ref()
            .is_none_or(|p| p.may_match_kind(kind))
    }
}

/// An IOC's false-positive regex, compiled when a hit first needs it:
/// hits are rare, and compiling signature-base's 30 up front was a twentieth
/// of loading it. Loading checked that it compiles (`value::RegexCheck`).
struct Exclusion {
    pattern: String,
    compiled: OnceLock<Option<regex::Regex>>,
}

impl Exclusion {
    fn new(pattern: &str) -> Exclusion {
        Exclusion {
            pattern: pattern.to_string(),
            compiled: OnceLock::new(),
        }
    }

    /// Whether it matches `value` (either path separator). Should the
    /// compile fail after all, nothing is rejected: the hit is reported.
    fn rejects(&self, value: &str) -> bool {
        self.compiled
            .get_or_init(|| value::compile_regex(&self.pattern).ok())
            .as_ref()
            .is_some_and(|re| re.is_match(value) || re.is_match(&value.replace('/', "\\")))
    }
}

fn hit<const N: usize>(ioc: IocIdx, field: &str, digest: &Option<[u8; N]>) -> Hit {
    Hit {
        ioc,
        field: field.into(),
        value: digest.map(hex::encode).unwrap_or_default(),
    }
}

/// Adds a digest IOC; its value was checked (hex, length) when loaded.
fn push<const N: usize>(map: &mut IdMap<[u8; N], Vec<IocIdx>>, hex_value: &str, idx: IocIdx) {
    if let Some(key) = digest_key(hex_value) {
        map.entry(key).or_default().push(idx);
    }
}

/// A digest IOC's value as bytes, if it is one of `N` bytes in hex.
fn digest_key<const N: usize>(hex_value: &str) -> Option<[u8; N]> {
    let mut key = [0u8; N];
    hex::decode_to_slice(hex_value.trim(), &mut key).ok()?;
    Some(key)
}

/// File names compare case-insensitively (Windows evidence).
pub fn normalize_name(s: &str) -> String {
    s.to_lowercase()
}

/// Paths compare case-insensitively with either separator, and without a
/// drive letter or `\\?\` prefix: `C:\Windows\x.exe` and the NTFS path
/// `/Windows/x.exe` are the same file. `anchored` values (Equals, StartWith)
/// are made absolute so `Windows\x.exe` also means `/windows/x.exe`.
pub fn normalize_path(s: &str, anchored: bool) -> String {
    let mut p = s.trim().replace('\\', "/").to_lowercase();
    for prefix in ["//?/", "//./"] {
        if let Some(rest) = p.strip_prefix(prefix) {
            p = rest.to_string();
        }
    }
    let b = p.as_bytes();
    if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
        p.replace_range(..2, "");
    }
    if anchored && !p.starts_with('/') {
        p.insert(0, '/');
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_paths_normalise_to_volume_paths() {
        assert_eq!(
            normalize_path(r"C:\Windows\System32\evil.exe", true),
            "/windows/system32/evil.exe"
        );
        assert_eq!(normalize_path(r"\\?\C:\Temp\", true), "/temp/");
        assert_eq!(normalize_path(r"Users\x", true), "/users/x");
        assert_eq!(
            normalize_path(r"\System32\Evil.EXE", false),
            "/system32/evil.exe"
        );
        assert_eq!(normalize_path("/Tools/a.exe", true), "/tools/a.exe");
    }
}
