//! STIX 2.1 bundles: indicators with `pattern_type: stix`.
//!
//! Patterns are parsed for real (observation expressions in brackets,
//! AND/OR/FOLLOWEDBY between and inside them, `=`, `IN`, `LIKE`, `MATCHES`,
//! quoted path steps such as `file:hashes.'SHA-256'`) and reduced to a
//! disjunction of conjunctions. Each single comparison becomes an IOC;
//! conjunctions of several comparisons, `!=`, qualifiers and objects
//! breachscan cannot see (certificates, e-mail addresses, apps) are listed
//! as not used, with the reason — never dropped in silence.
//!
//! Alert definitions come from what an indicator `indicates` (malware,
//! campaign, threat actor…; the first by id), else from the indicator
//! itself: name, description, MITRE technique ids from external references.
//! `valid_until` becomes the IOCs' expiry; revoked indicators are disabled.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use super::dnf;
use super::draft::{Draft, DraftAlert, DraftIoc, Entry, Place};
use super::error::BundleError;
use super::model::{AlertDefinition, DetectionFunction, IocType, Severity};
use super::{limits, value};

/// Whether a JSON document is a STIX bundle.
pub fn looks_like(text: &[u8]) -> bool {
    let head =
        String::from_utf8_lossy(&text[..text.len().min(4096)]).replace(char::is_whitespace, "");
    head.contains("\"type\":\"bundle\"") && head.contains("\"objects\"")
}

/// One comparison of a pattern.
#[derive(Debug, Clone, PartialEq)]
struct Comparison {
    path: String,
    op: String,
    values: Vec<String>,
}

/// A pattern in disjunctive normal form: any term matches when all of its
/// comparisons do.
type Dnf = Vec<Vec<Comparison>>;

pub fn parse(path: &Path, text: &[u8]) -> Result<Draft, Vec<BundleError>> {
    let doc: Value =
        serde_json::from_slice(text).map_err(|e| vec![BundleError::json(path, "STIX JSON", &e)])?;
    let objects = doc
        .get("objects")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let by_id: HashMap<&str, &Value> = objects
        .iter()
        .filter_map(|o| Some((o.get("id")?.as_str()?, o)))
        .collect();
    let mut indicates: HashMap<&str, Vec<&str>> = HashMap::new();
    for o in &objects {
        if str_of(o, "type") == Some("relationship")
            && str_of(o, "relationship_type") == Some("indicates")
            && let (Some(src), Some(dst)) = (str_of(o, "source_ref"), str_of(o, "target_ref"))
        {
            indicates.entry(src).or_default().push(dst);
        }
    }
    let mut draft = Draft {
        format: "stix-2.1",
        ..Draft::default()
    };
    let mut errors = Vec::new();
    let mut alerts: HashMap<String, usize> = HashMap::new();
    for (i, ind) in objects.iter().enumerate() {
        if str_of(ind, "type") != Some("indicator") {
            continue;
        }
        let ind_id = str_of(ind, "id").unwrap_or("").to_string();
        let at = Place {
            file: 0,
            entry: Entry::Indexed("objects", i),
            id: Some(ind_id.clone()),
            line: 0,
            column: 0,
        };
        let pattern_type = str_of(ind, "pattern_type").unwrap_or("stix");
        if pattern_type != "stix" {
            draft.unused.push(at.error(
                path,
                format!("pattern_type {pattern_type} is not supported"),
            ));
            continue;
        }
        let Some(pattern) = str_of(ind, "pattern") else {
            draft
                .unused
                .push(at.error(path, "indicator without a pattern".into()));
            continue;
        };
        let dnf = match parse_pattern(pattern) {
            Ok(d) => d,
            Err(e) => {
                let mut err = at.error(path, format!("pattern {}: {e}", limits::excerpt(pattern)));
                err.field = Some("pattern".into());
                errors.push(err);
                continue;
            }
        };
        let expires_at = match str_of(ind, "valid_until") {
            Some(t) => match value::parse_time(t) {
                Ok(t) => Some(t),
                Err(msg) => {
                    let mut err = at.error(path, msg);
                    err.field = Some("valid_until".into());
                    errors.push(err);
                    continue;
                }
            },
            None => None,
        };
        // The alert definition: what the indicator indicates, else itself.
        let mut targets = indicates.get(ind_id.as_str()).cloned().unwrap_or_default();
        targets.sort();
        let source = targets
            .first()
            .and_then(|t| by_id.get(t).copied())
            .unwrap_or(ind);
        let key = str_of(source, "id").unwrap_or(&ind_id).to_string();
        let next = draft.alerts.len();
        let alert = *alerts.entry(key.clone()).or_insert(next);
        if alert == next {
            draft.alerts.push(DraftAlert {
                def: definition(&key, source, ind),
                at: at.clone(),
            });
        }
        let revoked = ind.get("revoked").and_then(Value::as_bool) == Some(true);
        let ind_name = str_of(ind, "name").map(str::to_string);
        let mut n = 0;
        for term in dnf {
            if term.len() > 1 {
                let why = dnf::and_message("comparisons", &term, |c| {
                    format!("{} {} {:?}", c.path, c.op, c.values)
                });
                draft.unused.push(at.error(path, why));
                continue;
            }
            let c = &term[0];
            let mapped = match map_comparison(c) {
                Ok(m) => m,
                Err(why) => {
                    draft
                        .unused
                        .push(at.error(path, format!("{} {} {:?}: {why}", c.path, c.op, c.values)));
                    continue;
                }
            };
            for (kind, function, v) in mapped {
                if let Err(why) = value::check(kind, function, &v) {
                    draft
                        .unused
                        .push(at.error(path, format!("{} {v:?}: {why}", c.path)));
                    continue;
                }
                n += 1;
                draft.iocs.push(DraftIoc {
                    id: Some(format!("{ind_id}/{n}")),
                    alert_ref: draft.alerts[alert].def.id.clone(),
                    kind,
                    value: v,
                    function,
                    enabled: !revoked,
                    expires_at,
                    description: ind_name.clone(),
                    exclude: None,
                    at: at.clone(),
                });
            }
        }
    }
    if errors.is_empty() {
        Ok(draft)
    } else {
        Err(errors)
    }
}

fn str_of<'a>(o: &'a Value, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str)
}

fn definition(id: &str, source: &Value, ind: &Value) -> AlertDefinition {
    let name = str_of(source, "name")
        .or_else(|| str_of(ind, "name"))
        .map(str::to_string)
        .unwrap_or_else(|| format!("STIX indicator {id}"));
    let kind = str_of(source, "type").unwrap_or("indicator");
    let mut mitre = Vec::new();
    for o in [source, ind] {
        for r in o
            .get("external_references")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if str_of(r, "source_name").is_some_and(|s| s.starts_with("mitre"))
                && let Some(t) = str_of(r, "external_id").filter(|t| t.starts_with('T'))
                && !mitre.iter().any(|m| m == t)
            {
                mitre.push(t.to_string());
            }
        }
    }
    let labels: Vec<&str> = source
        .get("labels")
        .or_else(|| source.get("malware_types"))
        .and_then(Value::as_array)
        .map(|l| l.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut description = str_of(source, "description")
        .or_else(|| str_of(ind, "description"))
        .unwrap_or("")
        .to_string();
    if !labels.is_empty() {
        description = format!("{description} (labels: {})", labels.join(", "))
            .trim()
            .to_string();
    }
    AlertDefinition {
        id: id.to_string(),
        name,
        title: None,
        severity: Severity::Medium,
        category: Some(kind.to_string()),
        description: (!description.is_empty()).then_some(description),
        internal_description: None,
        recommended_action: None,
        mitre_techniques: mitre,
        enabled: true,
    }
}

/// IOCs for one comparison, or why it cannot be one.
fn map_comparison(c: &Comparison) -> Result<Vec<(IocType, DetectionFunction, String)>, String> {
    let (object, prop) = c.path.split_once(':').ok_or("path without object type")?;
    let prop = prop.replace('\'', "");
    let kind = match (object, prop.as_str()) {
        ("file", p) if p.starts_with("hashes.") => {
            let alg: String = p["hashes.".len()..]
                .chars()
                .filter(|c| c.is_ascii_alphanumeric())
                .collect();
            match alg.to_ascii_lowercase().as_str() {
                "md5" => IocType::Md5,
                "sha1" => IocType::Sha1,
                "sha256" => IocType::Sha256,
                other => return Err(format!("hash algorithm {other} is not computed")),
            }
        }
        ("file" | "process", "name") => IocType::FileName,
        ("file", "parent_directory_ref.path") => IocType::FilePath,
        ("ipv4-addr" | "ipv6-addr", "value") => IocType::IpAddress,
        ("domain-name", "value") | ("network-traffic", "dst_ref.value") => IocType::DomainName,
        ("url", "value") => IocType::Url,
        ("windows-registry-key", "key") => IocType::RegistryKey,
        _ => {
            return Err(format!(
                "{object}:{prop} is not something breachscan can observe"
            ));
        }
    };
    let function = match c.op.as_str() {
        "=" | "IN" => DetectionFunction::Equals,
        "LIKE" => DetectionFunction::Contains, // refined per value below
        "MATCHES" => DetectionFunction::Regex,
        op => return Err(format!("operator {op} cannot be an IOC")),
    };
    let mut out = Vec::new();
    for v in &c.values {
        // A domain-name or network-traffic value that is an address.
        let kind = if kind == IocType::DomainName && value::Cidr::parse(v).is_ok() {
            IocType::IpAddress
        } else {
            kind
        };
        let (function, v) = match (c.op.as_str(), kind) {
            ("LIKE", _) => like(v),
            // A parent directory: every path below it.
            (_, IocType::FilePath) => (
                DetectionFunction::StartWith,
                format!("{}\\", v.trim_end_matches(['\\', '/'])),
            ),
            _ => (function, v.clone()),
        };
        if kind.is_hash() && function != DetectionFunction::Equals {
            return Err("a hash compares whole digests".into());
        }
        out.push((kind, function, v));
    }
    Ok(out)
}

/// SQL LIKE (`%` any run, `_` one character) as the cheapest function.
fn like(p: &str) -> (DetectionFunction, String) {
    let inner = p.trim_matches('%');
    if !inner.contains(['%', '_']) {
        let (lead, trail) = (p.starts_with('%'), p.ends_with('%') && p.len() > 1);
        return match (lead, trail) {
            (false, false) => (DetectionFunction::Equals, p.to_string()),
            (false, true) => (DetectionFunction::StartWith, inner.to_string()),
            (true, false) => (DetectionFunction::EndWith, inner.to_string()),
            (true, true) => (DetectionFunction::Contains, inner.to_string()),
        };
    }
    let mut re = String::from("^");
    for ch in p.chars() {
        match ch {
            '%' => re.push_str(".*"),
            '_' => re.push('.'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    (DetectionFunction::Regex, re)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    LBracket,
    RBracket,
    LParen,
    RParen,
    Comma,
    Word(String),
    Str(String),
    Op(String),
}

fn tokenize(p: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let cs: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '[' => (out.push(Tok::LBracket), i += 1).1,
            ']' => (out.push(Tok::RBracket), i += 1).1,
            '(' => (out.push(Tok::LParen), i += 1).1,
            ')' => (out.push(Tok::RParen), i += 1).1,
            ',' => (out.push(Tok::Comma), i += 1).1,
            '\'' => {
                let mut s = String::new();
                i += 1;
                loop {
                    match cs.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => {
                            s.push(*cs.get(i + 1).ok_or("unterminated string")?);
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(c) => {
                            s.push(*c);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Str(s));
            }
            '=' | '!' | '<' | '>' => {
                let two: String = cs[i..(i + 2).min(cs.len())].iter().collect();
                let op = if matches!(two.as_str(), "!=" | "<=" | ">=") {
                    two
                } else {
                    c.to_string()
                };
                i += op.len();
                out.push(Tok::Op(op));
            }
            _ => {
                // A word: keywords, numbers, or an object path, which may hold
                // quoted steps (`file:hashes.'SHA-256'`).
                let mut w = String::new();
                while let Some(&c) = cs.get(i) {
                    if c == '\'' && w.ends_with('.') {
                        let end = cs[i + 1..]
                            .iter()
                            .position(|&c| c == '\'')
                            .ok_or("unterminated path step")?;
                        w.extend(&cs[i..i + end + 2]);
                        i += end + 2;
                    } else if c.is_whitespace()
                        || matches!(
                            c,
                            '[' | ']' | '(' | ')' | ',' | '=' | '!' | '<' | '>' | '\''
                        )
                    {
                        break;
                    } else {
                        w.push(c);
                        i += 1;
                    }
                }
                out.push(Tok::Word(w));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
    /// Open parentheses and brackets around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.i)
    }

    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn consume(&mut self, t: Tok) -> Result<(), String> {
        if self.peek() == Some(&t) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected {t:?}, found {:?}", self.peek()))
        }
    }

    /// observation (OR|AND|FOLLOWEDBY observation)*, lowest precedence OR.
    fn pattern(&mut self) -> Result<Dnf, String> {
        let mut acc = self.obs_and()?;
        while self.keyword("OR") {
            self.i += 1;
            acc.extend(self.obs_and()?);
        }
        Ok(acc)
    }

    fn obs_and(&mut self) -> Result<Dnf, String> {
        let mut acc = self.observation()?;
        while self.keyword("AND") || self.keyword("FOLLOWEDBY") {
            self.i += 1;
            acc = dnf::and(acc, self.observation()?)?;
        }
        Ok(acc)
    }

    /// Enters a parenthesis or bracket: nesting is bounded, so a hostile
    /// pattern cannot exhaust the stack of this recursive-descent parser.
    fn open(&mut self) -> Result<(), String> {
        self.i += 1;
        self.depth += 1;
        if self.depth > limits::MAX_NESTING {
            return Err(format!("nested deeper than {} levels", limits::MAX_NESTING));
        }
        Ok(())
    }

    fn close(&mut self, t: Tok) -> Result<(), String> {
        self.consume(t)?;
        self.depth -= 1;
        Ok(())
    }

    fn observation(&mut self) -> Result<Dnf, String> {
        let d = match self.peek() {
            Some(Tok::LBracket) => {
                self.open()?;
                let d = self.comp_or()?;
                self.close(Tok::RBracket)?;
                d
            }
            Some(Tok::LParen) => {
                self.open()?;
                let d = self.pattern()?;
                self.close(Tok::RParen)?;
                d
            }
            t => return Err(format!("expected '[' or '(', found {t:?}")),
        };
        if ["WITHIN", "REPEATS", "START"]
            .iter()
            .any(|k| self.keyword(k))
        {
            return Err("qualifiers (WITHIN, REPEATS, START/STOP) are not supported".into());
        }
        Ok(d)
    }

    fn comp_or(&mut self) -> Result<Dnf, String> {
        let mut acc = self.comp_and()?;
        while self.keyword("OR") {
            self.i += 1;
            acc.extend(self.comp_and()?);
        }
        Ok(acc)
    }

    fn comp_and(&mut self) -> Result<Dnf, String> {
        let mut acc = self.comparison()?;
        while self.keyword("AND") {
            self.i += 1;
            acc = dnf::and(acc, self.comparison()?)?;
        }
        Ok(acc)
    }

    fn comparison(&mut self) -> Result<Dnf, String> {
        if self.peek() == Some(&Tok::LParen) {
            self.open()?;
            let d = self.comp_or()?;
            self.close(Tok::RParen)?;
            return Ok(d);
        }
        let path = match self.peek() {
            Some(Tok::Word(w)) if w.contains(':') => w.clone(),
            t => return Err(format!("expected an object path, found {t:?}")),
        };
        self.i += 1;
        let mut negate = false;
        if self.keyword("NOT") {
            negate = true;
            self.i += 1;
        }
        let op = match self.peek() {
            Some(Tok::Op(o)) => o.clone(),
            Some(Tok::Word(w))
                if ["IN", "LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                w.to_ascii_uppercase()
            }
            t => return Err(format!("expected an operator, found {t:?}")),
        };
        self.i += 1;
        let values = if op == "IN" {
            self.consume(Tok::LParen)?;
            let mut v = vec![self.literal()?];
            while self.peek() == Some(&Tok::Comma) {
                self.i += 1;
                v.push(self.literal()?);
            }
            self.consume(Tok::RParen)?;
            v
        } else {
            vec![self.literal()?]
        };
        let op = if negate { format!("NOT {op}") } else { op };
        Ok(vec![vec![Comparison { path, op, values }]])
    }

    fn literal(&mut self) -> Result<String, String> {
        let v = match self.peek() {
            Some(Tok::Str(s)) => s.clone(),
            Some(Tok::Word(w)) => w.clone(),
            t => return Err(format!("expected a value, found {t:?}")),
        };
        self.i += 1;
        Ok(v)
    }
}

fn parse_pattern(p: &str) -> Result<Dnf, String> {
    let mut parser = Parser {
        toks: tokenize(p)?,
        i: 0,
        depth: 0,
    };
    let d = parser.pattern()?;
    if parser.i != parser.toks.len() {
        return Err(format!("unexpected {:?}", parser.toks[parser.i]));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(p: &str) -> Vec<(IocType, DetectionFunction, String)> {
        let d = parse_pattern(p).unwrap();
        d.iter()
            .flat_map(|t| map_comparison(&t[0]).unwrap())
            .collect()
    }

    #[test]
    fn patterns_parse_to_dnf() {
        let d = parse_pattern("[ipv4-addr:value = '1.2.3.4'] OR [domain-name:value = 'a.com' OR domain-name:value = 'b.com']").unwrap();
        assert_eq!(d.len(), 3);
        let d = parse_pattern(
            "[x509-certificate:issuer = 'CN=x' AND x509-certificate:serial_number = '0e']",
        )
        .unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].len(), 2);
        let d =
            parse_pattern("([file:name = 'a'] AND [file:name = 'b']) OR [url:value = 'http://x/']")
                .unwrap();
        assert_eq!(d.iter().map(Vec::len).collect::<Vec<_>>(), vec![2, 1]);
        assert!(parse_pattern("[file:name = 'a'").is_err());
        assert!(parse_pattern("[file:name = 'a'] WITHIN 5 SECONDS").is_err());
    }

    #[test]
    fn comparisons_map_to_iocs() {
        let h = "ef537f25c895bfa782526529a9b63d97aa631564d5d789c2b765448c8635fb6c";
        assert_eq!(
            one(&format!("[file:hashes.'SHA-256' = '{h}']"))[0].0,
            IocType::Sha256
        );
        assert_eq!(
            one(&format!("[file:hashes.sha256='{h}']"))[0].0,
            IocType::Sha256
        );
        assert_eq!(
            one("[file:hashes.MD5 = '900150983cd24fb0d6963f7d28e17f72']")[0].0,
            IocType::Md5
        );
        assert_eq!(
            one("[domain-name:value='176.223.111.131']")[0].0,
            IocType::IpAddress
        );
        assert_eq!(
            one("[ipv4-addr:value IN ('10.0.0.1', '10.0.0.2')]").len(),
            2
        );
        assert_eq!(
            one("[file:name LIKE 'mimi%']")[0],
            (
                IocType::FileName,
                DetectionFunction::StartWith,
                "mimi".into()
            )
        );
        assert_eq!(
            one("[file:name LIKE 'a_c%']")[0].1,
            DetectionFunction::Regex
        );
        assert_eq!(
            one("[url:value MATCHES '^https?://evil']")[0].1,
            DetectionFunction::Regex
        );
        assert_eq!(
            one("[file:parent_directory_ref.path = 'C:\\\\Temp']")[0],
            (
                IocType::FilePath,
                DetectionFunction::StartWith,
                "C:\\Temp\\".into()
            )
        );
        let d = parse_pattern("[email-addr:value = 'a@b.c']").unwrap();
        assert!(map_comparison(&d[0][0]).is_err());
        let d = parse_pattern("[file:name != 'x']").unwrap();
        assert!(map_comparison(&d[0][0]).is_err());
    }
}
