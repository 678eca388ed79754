//! IOCs given at scan time, without a bundle: `--ioc TYPE:VALUE` and
//! `--ioc-file LIST` (one a line). A responder with one hash or domain from
//! a phone call scans at once. All of them raise one derived alert
//! definition, [`ALERT_ID`].
//!
//! A line is `TYPE:VALUE` or `TYPE/FUNCTION:VALUE` (`filepath/startwith:
//! C:\ProgramData\x\`), or a bare value whose type is plain from its shape:
//! a 32/40/64-digit hex digest, an address or range, a URL, a registry key,
//! a path. A bare name such as `evil.example` could be a domain or a file
//! name, so it must be typed; the error says how.

use std::path::Path;

use super::draft::{Draft, DraftAlert, DraftIoc, Entry, Place};
use super::error::BundleError;
use super::model::{AlertDefinition, DetectionFunction, IocType, Severity};
use super::value;

/// The one alert definition ad-hoc IOCs raise.
pub const ALERT_ID: &str = "adhoc";

/// Parses one ad-hoc list named `path` (`--ioc` for the command line's,
/// whose "lines" are its arguments in order). The first list of a scan
/// (`define`) carries the alert definition.
pub fn parse(path: &Path, text: &str, define: bool) -> Result<Draft, Vec<BundleError>> {
    let mut draft = Draft {
        format: "adhoc",
        ..Draft::default()
    };
    if define {
        draft.alerts.push(DraftAlert {
            def: definition(),
            at: place(0),
        });
    }
    let mut errors = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (i, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at = place(i + 1);
        let (kind, function, value) = match typed(line) {
            Ok(t) => t,
            Err(msg) => {
                errors.push(at.error(path, msg));
                continue;
            }
        };
        if let Err(msg) = value::check_function(kind, function)
            .and_then(|()| value::check(kind, function, &value))
        {
            errors.push(at.error(path, msg));
            continue;
        }
        if !seen.insert((kind, function, value.clone())) {
            draft
                .unused
                .push(at.error(path, "the same IOC as an earlier line".into()));
            continue;
        }
        draft.iocs.push(DraftIoc {
            id: None,
            alert_ref: ALERT_ID.into(),
            kind,
            value,
            function,
            enabled: true,
            expires_at: None,
            description: None,
            exclude: None,
            at,
        });
    }
    if errors.is_empty() {
        Ok(draft)
    } else {
        Err(errors)
    }
}

fn place(line: usize) -> Place {
    Place {
        file: 0,
        entry: Entry::None,
        id: None,
        line,
        column: usize::from(line > 0),
    }
}

fn definition() -> AlertDefinition {
    AlertDefinition {
        id: ALERT_ID.into(),
        name: "IOCs given at scan time".into(),
        title: None,
        severity: Severity::High,
        category: Some("Ad hoc".into()),
        description: Some(
            "IOCs given on the command line (--ioc, --ioc-file), not from a bundle.".into(),
        ),
        internal_description: None,
        recommended_action: None,
        mitre_techniques: Vec::new(),
        enabled: true,
    }
}

const TYPES: &str = "md5, sha1, sha256, hash, filename, filepath, ip, domain, url, registry";

/// The type, function and value a line names.
fn typed(line: &str) -> Result<(IocType, DetectionFunction, String), String> {
    if let Some((head, rest)) = line.split_once(':') {
        let (t, f) = head.split_once('/').unwrap_or((head, ""));
        let function = if f.is_empty() {
            Some(DetectionFunction::Equals)
        } else {
            DetectionFunction::parse(f)
        };
        if let Some(kind) = type_word(t, rest.trim()) {
            let function = function.ok_or_else(|| {
                format!(
                    "unknown detection function {f:?} (equals, startwith, endwith, contains, \
                     regex)"
                )
            })?;
            return Ok((kind, function, rest.trim().to_string()));
        }
        if !f.is_empty() || is_type_like(t) {
            return Err(format!("unknown IOC type {t:?} (one of {TYPES})"));
        }
    }
    let kind = guess(line).ok_or_else(|| {
        format!(
            "cannot tell what {line:?} is (a domain? a file name?): write TYPE:VALUE, e.g. \
             domain:{line} or filename:{line} (types: {TYPES})"
        )
    })?;
    Ok((kind, DetectionFunction::Equals, line.to_string()))
}

/// The IOC type a word names; `hash` by the digest's length.
fn type_word(word: &str, value: &str) -> Option<IocType> {
    let w = word.trim().to_ascii_lowercase();
    match w.as_str() {
        "hash" => digest_type(value),
        "name" | "file" => Some(IocType::FileName),
        "path" => Some(IocType::FilePath),
        "address" => Some(IocType::IpAddress),
        "host" => Some(IocType::DomainName),
        "registry" | "regkey" | "key" => Some(IocType::RegistryKey),
        _ => IocType::parse(&w),
    }
}

/// A head that looks meant as a type (a word of letters), not a drive
/// letter or a URL scheme's part of a bare value.
fn is_type_like(t: &str) -> bool {
    t.len() > 1
        && t.bytes().all(|b| b.is_ascii_alphanumeric())
        && !t.eq_ignore_ascii_case("http")
        && !t.eq_ignore_ascii_case("https")
        && !t.eq_ignore_ascii_case("ftp")
        && !t.bytes().all(|b| b.is_ascii_hexdigit())
}

fn digest_type(v: &str) -> Option<IocType> {
    if !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match v.len() {
        32 => Some(IocType::Md5),
        40 => Some(IocType::Sha1),
        64 => Some(IocType::Sha256),
        _ => None,
    }
}

/// The type of a bare value, when its shape says it.
fn guess(v: &str) -> Option<IocType> {
    let lower = v.to_ascii_lowercase();
    if let Some(t) = digest_type(v) {
        Some(t)
    } else if value::Cidr::parse(v).is_ok() {
        Some(IocType::IpAddress)
    } else if v.contains("://") {
        Some(IocType::Url)
    } else if [
        "hklm\\",
        "hkcu\\",
        "hku\\",
        "hkcr\\",
        "hkey_",
        "\\registry\\",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        Some(IocType::RegistryKey)
    } else if v.contains(['\\', '/']) {
        Some(IocType::FilePath)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str) -> Vec<(IocType, DetectionFunction, String)> {
        parse(Path::new("--ioc"), text, true)
            .unwrap()
            .iocs
            .into_iter()
            .map(|i| (i.kind, i.function, i.value))
            .collect()
    }

    #[test]
    fn typed_and_bare_values_are_read() {
        use DetectionFunction::*;
        use IocType::*;
        let sha = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let text = format!(
            "sha256:{sha}\nhash:d41d8cd98f00b204e9800998ecf8427e\n# comment\n\ndomain:evil.example\n\
             filepath/startwith:C:\\ProgramData\\x\\\n10.0.0.0/8\nhttp://evil.example/gate\n\
             C:\\Users\\x.exe\nHKCU\\Software\\Run\nname:evil.exe\nIP:2001:db8::1\n{sha}\n"
        );
        assert_eq!(
            kinds(&text),
            vec![
                (Sha256, Equals, sha.to_string()),
                (Md5, Equals, "d41d8cd98f00b204e9800998ecf8427e".into()),
                (DomainName, Equals, "evil.example".into()),
                (FilePath, StartWith, "C:\\ProgramData\\x\\".into()),
                (IpAddress, Equals, "10.0.0.0/8".into()),
                (Url, Equals, "http://evil.example/gate".into()),
                (FilePath, Equals, "C:\\Users\\x.exe".into()),
                (RegistryKey, Equals, "HKCU\\Software\\Run".into()),
                (FileName, Equals, "evil.exe".into()),
                (IpAddress, Equals, "2001:db8::1".into()),
            ]
        );
    }

    #[test]
    fn what_cannot_be_read_is_named_by_line() {
        let errs = parse(
            Path::new("list.txt"),
            "evil.example\nsha256:abc\nfoo:bar\ndomain/near:x.example\n",
            true,
        )
        .unwrap_err();
        let shown: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
        assert_eq!(shown.len(), 4, "{shown:?}");
        assert!(shown[0].contains("list.txt:1") && shown[0].contains("domain:evil.example"));
        assert!(shown[1].contains("list.txt:2"), "{shown:?}");
        assert!(shown[2].contains("unknown IOC type \"foo\""), "{shown:?}");
        assert!(
            shown[3].contains("unknown detection function \"near\""),
            "{shown:?}"
        );
    }
}
