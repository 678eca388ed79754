//! Line-oriented IOC files, recognised by content:
//! - plain hash lists: one digest per line, `md5sum`/`sha1sum`/`sha256sum`
//!   output (`HEX  name`, `HEX *name`, `SHA256 (name) = HEX`), and hashdeep
//!   files (`%%%% HASHDEEP-1.0` with a `%%%% size,md5,…` column line);
//! - Loki/THOR signature-base `hash-iocs` (`HASH;COMMENT` or
//!   `HASH;SCORE;COMMENT`), `filename-iocs` (`REGEX;SCORE[;FP_REGEX]` over
//!   full paths) and `c2-iocs` (one domain or address per line), the last
//!   two grouped under `# comment` headers.
//!
//! These formats have no alert definitions, so they are derived: one per
//! hash list file, one per Loki comment (hash-iocs) or comment block
//! (c2-iocs), with the severity from the Loki score (≥ 75 High, ≥ 40 Medium,
//! else Low; hashes without a score count as 100, as Loki does). Every line
//! that cannot be used is reported with its line number; an exact repeat of
//! an earlier line's IOC is listed as not used rather than matched twice.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use super::draft::{Draft, DraftAlert, DraftIoc, Entry, Place};
use super::error::BundleError;
use super::model::{AlertDefinition, DetectionFunction, IocType, Severity};
use super::value;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    HashList,
    Hashdeep,
    LokiHashes,
    LokiFilenames,
    LokiC2,
}

impl LineFormat {
    pub fn name(self) -> &'static str {
        match self {
            LineFormat::HashList => "hash-list",
            LineFormat::Hashdeep => "hashdeep",
            LineFormat::LokiHashes => "loki-hash-iocs",
            LineFormat::LokiFilenames => "loki-filename-iocs",
            LineFormat::LokiC2 => "loki-c2-iocs",
        }
    }
}

/// Data lines: not blank, not `#` comments.
fn data_lines(text: &str) -> impl Iterator<Item = (usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
}

fn digest_type(s: &str) -> Option<IocType> {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match s.len() {
        32 => Some(IocType::Md5),
        40 => Some(IocType::Sha1),
        64 => Some(IocType::Sha256),
        _ => None,
    }
}

/// The format of a text bundle, judged from its first data line (and the
/// hashdeep header); `None` when it is none of these.
pub fn detect(text: &str) -> Option<LineFormat> {
    if text.trim_start().starts_with("%%%% HASHDEEP") {
        return Some(LineFormat::Hashdeep);
    }
    let (_, first) = data_lines(text).next()?;
    let head = first.split([';', ' ', '\t']).next().unwrap_or("");
    if digest_type(head).is_some() {
        return Some(if first.contains(';') {
            LineFormat::LokiHashes
        } else {
            LineFormat::HashList
        });
    }
    if tagged_digest(first).is_some() {
        return Some(LineFormat::HashList);
    }
    let mut fields = first.split(';');
    if let (Some(_), Some(score)) = (fields.next(), fields.next())
        && score.trim().parse::<u32>().is_ok()
    {
        return Some(LineFormat::LokiFilenames);
    }
    let value = first.split(';').next().unwrap_or("").trim();
    if value::Cidr::parse(value).is_ok()
        || (value.contains('.') && value::normalize_domain(value).is_ok() && !value.contains(' '))
    {
        return Some(LineFormat::LokiC2);
    }
    None
}

/// `SHA256 (name) = HEX`, the BSD/`--tag` spelling.
fn tagged_digest(line: &str) -> Option<(&str, &str)> {
    let (left, hex) = line.rsplit_once(" = ")?;
    let open = left.find(" (")?;
    let name = left[open + 2..].strip_suffix(')')?;
    digest_type(hex.trim())?;
    Some((name, hex.trim()))
}

struct Builder<'a> {
    path: &'a Path,
    draft: Draft,
    errors: Vec<BundleError>,
    alerts: HashMap<String, usize>,
    seen: HashSet<(IocType, String, usize)>,
}

impl<'a> Builder<'a> {
    fn new(path: &'a Path, format: LineFormat) -> Self {
        Builder {
            path,
            draft: Draft {
                format: format.name(),
                ..Draft::default()
            },
            errors: Vec::new(),
            alerts: HashMap::new(),
            seen: HashSet::new(),
        }
    }

    fn place(line: usize) -> Place {
        Place {
            file: 0,
            entry: Entry::None,
            id: None,
            line,
            column: 1,
        }
    }

    fn file_name(&self) -> String {
        self.path.file_name().map_or_else(
            || self.path.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        )
    }

    /// The alert definition named `key`, created on first use.
    fn alert(
        &mut self,
        key: &str,
        make: impl FnOnce(String) -> AlertDefinition,
        line: usize,
    ) -> usize {
        if let Some(&i) = self.alerts.get(key) {
            return i;
        }
        let id = format!("{}#{}", self.file_name(), self.draft.alerts.len() + 1);
        self.draft.alerts.push(DraftAlert {
            def: make(id),
            at: Self::place(line),
        });
        self.alerts
            .insert(key.to_string(), self.draft.alerts.len() - 1);
        self.draft.alerts.len() - 1
    }

    fn ioc(
        &mut self,
        alert: usize,
        kind: IocType,
        value: &str,
        line: usize,
        description: Option<String>,
    ) {
        let f = DetectionFunction::Equals;
        if let Err(msg) = value::check(kind, f, value) {
            self.errors.push(Self::place(line).error(self.path, msg));
            return;
        }
        self.ioc_with(alert, kind, f, value, line, description, None);
    }

    /// Adds an IOC whose value the caller has checked, unless the same
    /// value was already added to the same alert definition.
    #[allow(clippy::too_many_arguments)]
    fn ioc_with(
        &mut self,
        alert: usize,
        kind: IocType,
        function: DetectionFunction,
        value: &str,
        line: usize,
        description: Option<String>,
        exclude: Option<String>,
    ) {
        let key = (kind, value.to_ascii_lowercase(), alert);
        if !self.seen.insert(key) {
            self.draft.unused.push(Self::place(line).error(
                self.path,
                format!("repeats an earlier {kind} {value}: not used twice"),
            ));
            return;
        }
        self.draft.iocs.push(DraftIoc {
            id: Some(format!("{}:{line}", self.file_name())),
            alert_ref: self.draft.alerts[alert].def.id.clone(),
            kind,
            value: value.to_string(),
            function,
            enabled: true,
            expires_at: None,
            description,
            exclude,
            at: Self::place(line),
        });
    }

    fn unused_line(&mut self, line: usize, why: String) {
        self.draft
            .unused
            .push(Self::place(line).error(self.path, why));
    }

    fn unusable(&mut self, line: usize, why: String) {
        self.errors.push(Self::place(line).error(self.path, why));
    }

    fn finish(self) -> Result<Draft, Vec<BundleError>> {
        if self.errors.is_empty() {
            Ok(self.draft)
        } else {
            Err(self.errors)
        }
    }
}

fn definition(
    id: String,
    name: String,
    severity: Severity,
    category: &str,
    description: String,
) -> AlertDefinition {
    AlertDefinition {
        id,
        name,
        title: None,
        severity,
        category: Some(category.into()),
        description: Some(description),
        internal_description: None,
        recommended_action: None,
        mitre_techniques: Vec::new(),
        enabled: true,
    }
}

fn severity_of(score: u32) -> Severity {
    match score {
        75.. => Severity::High,
        40..=74 => Severity::Medium,
        _ => Severity::Low,
    }
}

pub fn parse(path: &Path, text: &str, format: LineFormat) -> Result<Draft, Vec<BundleError>> {
    let mut b = Builder::new(path, format);
    match format {
        LineFormat::HashList => hash_list(&mut b, text),
        LineFormat::Hashdeep => hashdeep(&mut b, text),
        LineFormat::LokiHashes => loki_hashes(&mut b, text),
        LineFormat::LokiFilenames => loki_filenames(&mut b, text),
        LineFormat::LokiC2 => loki_c2(&mut b, text),
    }
    b.finish()
}

fn list_alert(b: &mut Builder, line: usize) -> usize {
    let file = b.file_name();
    let p = b.path.display().to_string();
    b.alert(
        "",
        |id| {
            definition(
                id,
                format!("Known-bad hashes ({file})"),
                Severity::High,
                "Malware",
                format!("A file's digest is listed in the hash list {p}."),
            )
        },
        line,
    )
}

fn hash_list(b: &mut Builder, text: &str) {
    for (line, l) in data_lines(text) {
        let (hex, name) = match tagged_digest(l) {
            Some((name, hex)) => (hex, Some(name)),
            None => {
                let mut parts = l.splitn(2, char::is_whitespace);
                let hex = parts.next().unwrap_or("");
                let name = parts
                    .next()
                    .map(|n| n.trim_start().trim_start_matches('*'))
                    .filter(|n| !n.is_empty());
                (hex, name)
            }
        };
        let Some(kind) = digest_type(hex) else {
            b.unusable(
                line,
                format!("{hex:?} is not an MD5, SHA-1 or SHA-256 digest (32, 40 or 64 hex digits)"),
            );
            continue;
        };
        let alert = list_alert(b, line);
        b.ioc(
            alert,
            kind,
            hex,
            line,
            name.map(|n| format!("listed as {n}")),
        );
    }
}

fn hashdeep(b: &mut Builder, text: &str) {
    let mut columns: Vec<String> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let l = raw.trim();
        if let Some(cols) = l.strip_prefix("%%%% size,") {
            columns = std::iter::once("size".to_string())
                .chain(cols.split(',').map(|c| c.trim().to_ascii_lowercase()))
                .collect();
            continue;
        }
        if l.is_empty() || l.starts_with('%') || l.starts_with('#') {
            continue;
        }
        if columns.is_empty() {
            b.unusable(
                line,
                "hashdeep row before the \"%%%% size,…\" column line".into(),
            );
            continue;
        }
        // The file name is last and may hold commas.
        let fields: Vec<&str> = l.splitn(columns.len(), ',').collect();
        if fields.len() != columns.len() {
            b.unusable(
                line,
                format!(
                    "expected {} comma-separated fields ({})",
                    columns.len(),
                    columns.join(",")
                ),
            );
            continue;
        }
        let name = fields.last().copied().unwrap_or("");
        let alert = list_alert(b, line);
        for (col, val) in columns.iter().zip(&fields) {
            let kind = match col.as_str() {
                "md5" => IocType::Md5,
                "sha1" => IocType::Sha1,
                "sha256" => IocType::Sha256,
                _ => continue,
            };
            b.ioc(
                alert,
                kind,
                val.trim(),
                line,
                Some(format!("listed as {name}")),
            );
        }
    }
}

fn loki_hashes(b: &mut Builder, text: &str) {
    for (line, l) in data_lines(text) {
        let (hex, rest) = l.split_once(';').unwrap_or((l, ""));
        let hex = hex.trim();
        // `HASH;SCORE;COMMENT` only when the middle is a number: comments
        // themselves contain semicolons.
        let (score, comment) = match rest.split_once(';') {
            Some((s, c)) if s.trim().parse::<u32>().is_ok() => {
                (s.trim().parse().unwrap_or(100), c.trim().to_string())
            }
            _ => (100, rest.trim().to_string()),
        };
        let Some(kind) = digest_type(hex) else {
            b.unusable(
                line,
                format!("{hex:?} is not an MD5, SHA-1 or SHA-256 digest (32, 40 or 64 hex digits)"),
            );
            continue;
        };
        let title = comment_title(&comment, &b.file_name());
        let key = format!("{}|{title}", severity_of(score));
        let alert = b.alert(
            &key,
            |id| {
                definition(
                    id,
                    title.clone(),
                    severity_of(score),
                    "Malware",
                    comment.clone(),
                )
            },
            line,
        );
        b.ioc(
            alert,
            kind,
            hex,
            line,
            (!comment.is_empty()).then(|| comment.clone()),
        );
    }
}

/// A short alert name from a Loki comment: the text before its reference
/// link, at most 100 characters.
fn comment_title(comment: &str, file: &str) -> String {
    let cut = comment
        .find(" - http")
        .or_else(|| comment.find(" http"))
        .unwrap_or(comment.len());
    let t = comment[..cut].trim().trim_end_matches(['-', ';', ' ']);
    if t.is_empty() {
        return format!("Signature-base hash ({file})");
    }
    t.chars().take(100).collect()
}

/// Lines with the `# comment` header of the block they are in; headers are
/// comments with letters or digits (decoration lines are not).
fn under_headers(text: &str) -> impl Iterator<Item = (usize, &str, String)> {
    let mut header = String::new();
    text.lines().enumerate().filter_map(move |(i, raw)| {
        let l = raw.trim();
        if let Some(c) = l.strip_prefix('#') {
            let c = c.trim();
            if c.chars().any(char::is_alphanumeric) {
                header = c.to_string();
            }
            return None;
        }
        (!l.is_empty()).then(|| (i + 1, l, header.clone()))
    })
}

fn loki_filenames(b: &mut Builder, text: &str) {
    use rayon::prelude::*;
    // REGEX;SCORE[;FALSE_POSITIVE_REGEX], split once: line, regex, score,
    // false-positive regex, block header.
    type Line<'t> = (usize, &'t str, Option<&'t str>, Option<&'t str>, String);
    let lines: Vec<Line> = under_headers(text)
        .map(|(line, l, header)| {
            let mut parts = l.splitn(3, ';');
            let regex = parts.next().unwrap_or("").trim();
            let score = parts.next().map(str::trim);
            let fp = parts.next().map(str::trim).filter(|s| !s.is_empty());
            (line, regex, score, fp, header)
        })
        .collect();
    // Compiling each regex is most of the load (3,700 in signature-base):
    // checked on all cores first, in line order.
    type Checked = (Result<(), String>, Option<Result<(), String>>);
    let compiled: Vec<Checked> = lines
        .par_iter()
        .map_init(value::RegexCheck::new, |check, (_, regex, _, fp, _)| {
            let main = if regex.is_empty() {
                Ok(())
            } else {
                check.check(regex)
            };
            (main, fp.map(|fp| check.check(fp)))
        })
        .collect();
    for ((line, regex, score, fp, header), (main, fp_checked)) in lines.into_iter().zip(compiled) {
        let score = score.and_then(|s| s.parse::<u32>().ok());
        let Some(score) = score else {
            b.unusable(line, "expected REGEX;SCORE[;FALSE_POSITIVE_REGEX]".into());
            continue;
        };
        // Loki's engine (Python `re`) accepts syntax Rust's regex does not
        // (look-around, back-references): such entries are listed as not
        // used, not fatal.
        if regex.is_empty() {
            // It would compile, and match every path.
            b.unusable(line, "empty file name regex".into());
            continue;
        }
        if let Err(e) = main {
            b.unused_line(line, format!("file name regex not usable here: {e}"));
            continue;
        }
        if let Some(Err(e)) = fp_checked {
            b.unused_line(line, format!("false-positive regex not usable here: {e}"));
            continue;
        }
        let name = if header.is_empty() {
            format!("Suspicious file names ({})", b.file_name())
        } else {
            header.chars().take(100).collect()
        };
        let severity = severity_of(score);
        let alert = b.alert(
            &format!("{severity}|{name}"),
            |id| {
                definition(
                    id,
                    name.clone(),
                    severity,
                    "Malware",
                    format!("File names and paths known from: {name}"),
                )
            },
            line,
        );
        let description = (!header.is_empty()).then_some(header);
        let exclude = fp.map(String::from);
        let f = DetectionFunction::Regex;
        b.ioc_with(
            alert,
            IocType::FilePath,
            f,
            regex,
            line,
            description,
            exclude,
        );
    }
}

fn loki_c2(b: &mut Builder, text: &str) {
    for (line, l, header) in under_headers(text) {
        let (value, comment) = match l.split_once(';') {
            Some((v, c)) => (v.trim(), Some(c.trim().to_string())),
            None => (l, None),
        };
        let kind = if value::Cidr::parse(value).is_ok() {
            IocType::IpAddress
        } else if value::normalize_domain(value).is_ok() && !value.contains(' ') {
            IocType::DomainName
        } else {
            b.unusable(
                line,
                format!("{value:?} is neither an IP address, a CIDR range nor a domain name"),
            );
            continue;
        };
        let name = if header.is_empty() {
            format!("C2 servers ({})", b.file_name())
        } else {
            header.chars().take(100).collect()
        };
        let alert = b.alert(
            &name,
            |id| {
                definition(
                    id,
                    name.clone(),
                    Severity::High,
                    "CommandAndControl",
                    format!("Command-and-control servers: {name}"),
                )
            },
            line,
        );
        b.ioc(alert, kind, value, line, comment);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_are_detected_by_content() {
        let h = "0c2674c3a97c53082187d930efb645c2";
        assert_eq!(detect(&format!("# c\n{h}\n")), Some(LineFormat::HashList));
        assert_eq!(
            detect(&format!("{h}  /bin/ls\n")),
            Some(LineFormat::HashList)
        );
        assert_eq!(
            detect(&format!("MD5 (ls) = {h}\n")),
            Some(LineFormat::HashList)
        );
        assert_eq!(
            detect(&format!("{h};Sakula\n")),
            Some(LineFormat::LokiHashes)
        );
        assert_eq!(detect("%%%% HASHDEEP-1.0\n"), Some(LineFormat::Hashdeep));
        assert_eq!(
            detect("# Snowman\nsuroot.com\n58.64.143.244\n"),
            Some(LineFormat::LokiC2)
        );
        assert_eq!(detect("hello world\n"), None);
    }

    #[test]
    fn loki_hash_lines_split_score_and_comment() {
        let text = "# header\n\
            0c2674c3a97c53082187d930efb645c2;DEEP PANDA Sakula - http://x\n\
            0c2674c3a97c53082187d930efb645c2;DEEP PANDA Sakula - http://x\n\
            bf4f41403280c1b115650d470f9b260a5c9042c04d9bcc2a6ca504a66379b2d6;55;Vulnerable Log4j\n\
            f81aa77d23ca6662efb3e6e33538a60e39abb5ca66102e07ffa318a6d6cd78ec;Triton - flogon.js; - https://y\n";
        let d = parse(Path::new("hash-iocs.txt"), text, LineFormat::LokiHashes).unwrap();
        assert_eq!(d.iocs.len(), 3);
        assert_eq!(d.unused.len(), 1);
        assert_eq!(d.unused[0].line, Some(3));
        let names: Vec<(&str, Severity)> = d
            .alerts
            .iter()
            .map(|a| (a.def.name.as_str(), a.def.severity))
            .collect();
        assert_eq!(
            names,
            vec![
                ("DEEP PANDA Sakula", Severity::High),
                ("Vulnerable Log4j", Severity::Medium),
                ("Triton - flogon.js", Severity::High)
            ]
        );
        assert_eq!(
            d.iocs[2].description.as_deref(),
            Some("Triton - flogon.js; - https://y")
        );
    }

    #[test]
    fn c2_lines_group_under_headers_and_bad_lines_are_named() {
        let text = "# Snowman\nsuroot.com\n58.64.143.244\n\n# Other\n10.0.0.0/8\nnot a host\n";
        let errs = parse(Path::new("c2.txt"), text, LineFormat::LokiC2).unwrap_err();
        assert_eq!(errs.len(), 1);
        assert_eq!(errs[0].line, Some(7));
        let ok = parse(
            Path::new("c2.txt"),
            &text.replace("not a host\n", ""),
            LineFormat::LokiC2,
        )
        .unwrap();
        assert_eq!(ok.alerts.len(), 2);
        assert_eq!(ok.alerts[0].def.name, "Snowman");
        let kinds: Vec<IocType> = ok.iocs.iter().map(|i| i.kind).collect();
        assert_eq!(
            kinds,
            vec![IocType::DomainName, IocType::IpAddress, IocType::IpAddress]
        );
    }

    #[test]
    fn empty_filename_regexes_are_rejected() {
        let e = parse(
            Path::new("f.txt"),
            "# x\n\\\\a\\.exe;80\n;80\n",
            LineFormat::LokiFilenames,
        )
        .unwrap_err();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].line, Some(3));
    }

    #[test]
    fn hash_lists_and_hashdeep() {
        let h = "900150983cd24fb0d6963f7d28e17f72";
        let d = parse(
            Path::new("l.md5"),
            &format!("{h} *abc.txt\nzz\n"),
            LineFormat::HashList,
        )
        .unwrap_err();
        assert_eq!(d[0].line, Some(2));
        let d = parse(
            Path::new("l.md5"),
            &format!("{h} *abc.txt\n"),
            LineFormat::HashList,
        )
        .unwrap();
        assert_eq!(d.iocs[0].description.as_deref(), Some("listed as abc.txt"));
        let deep = format!(
            "%%%% HASHDEEP-1.0\n%%%% size,md5,sha256,filename\n## comment\n3,{h},ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad,/x/a,b.txt\n"
        );
        let d = parse(Path::new("h.txt"), &deep, LineFormat::Hashdeep).unwrap();
        assert_eq!(d.iocs.len(), 2);
        assert_eq!(
            d.iocs[1].description.as_deref(),
            Some("listed as /x/a,b.txt")
        );
    }
}
