//! Matching IOCs inside event records (DESIGN.md §3.3).
//!
//! Each IOC type is looked for in the fields where such values live, and
//! every hit names its field:
//! - hashes: any field holding a digest, alone or as Sysmon's
//!   `SHA1=…,MD5=…,SHA256=…,IMPHASH=…` list in any subset and order;
//! - FileName / FilePath: path fields (`Image`, `TargetFilename`, …) and the
//!   tokens of command lines; FileName also names inside any other string;
//! - IpAddress: any field whose value is an address (v4, v6, v4-mapped);
//! - DomainName: host-name fields (`QueryName`, `DestinationHostname`, …)
//!   and the hosts of URLs in any field; `Equals` covers subdomains;
//! - Url: URLs found in any field; RegistryKey: `TargetObject`/`ObjectName`,
//!   with `HKLM\` and `\REGISTRY\MACHINE\` spellings unified;
//! - `Contains` and `Regex` IOCs of every string type also search command
//!   lines and script blocks.
//!
//! The cost per field does not grow with the number of IOCs: hash maps,
//! a prefix-length-indexed CIDR table, a domain-suffix map and
//! [`TextSet`]s (Aho-Corasick + RegexSet).

use std::collections::HashMap;
use std::net::IpAddr;

use crate::artifact::Record;
use crate::artifact::registry::RegistryItem;
use crate::bundle::value::{Cidr, normalize_domain};
use crate::bundle::{DetectionFunction, Ioc, IocIdx, IocType};

use super::hkey::{normalize_registry, other_names};
use super::regexes::Catalog;
use super::text::{TextSet, TextSetBuilder};
use super::{Hit, Matcher, normalize_name, normalize_path};

/// The record-only parts of the compiled bundle.
#[derive(Default)]
pub(super) struct RecordSets {
    ips: IpTable,
    ip_text: TextSet,
    domains: crate::bundle::IdMap<String, Vec<IocIdx>>,
    domain_text: TextSet,
    urls: TextSet,
    registry: TextSet,
    /// `Contains`/`Regex` IOCs of the string types, searched in command
    /// lines and script blocks.
    command_text: TextSet,
}

#[derive(Default)]
pub(super) struct RecordSetsBuilder {
    ips: IpTable,
    ip_text: TextSetBuilder,
    domains: crate::bundle::IdMap<String, Vec<IocIdx>>,
    domain_text: TextSetBuilder,
    urls: TextSetBuilder,
    registry: TextSetBuilder,
    command_text: TextSetBuilder,
}

impl RecordSetsBuilder {
    pub fn add(&mut self, idx: IocIdx, ioc: &Ioc) {
        let v = ioc.value.as_str();
        let f = ioc.function;
        match (ioc.kind, f) {
            (IocType::IpAddress, DetectionFunction::Equals) => {
                if let Ok(c) = Cidr::parse(v) {
                    self.ips.add(c, idx);
                }
            }
            (IocType::IpAddress, _) => self.ip_text.add(f, v.to_lowercase(), v, idx),
            (IocType::DomainName, DetectionFunction::Equals) => {
                if let Ok(d) = normalize_domain(v) {
                    self.domains.entry(d).or_default().push(idx);
                }
            }
            (IocType::DomainName, _) => self.domain_text.add(f, v.to_lowercase(), v, idx),
            (IocType::Url, _) => self.urls.add(f, normalize_url(v), v, idx),
            (IocType::RegistryKey, _) => self.registry.add(f, normalize_registry(v), v, idx),
            _ => {}
        }
        // Command lines and scripts: substrings and regexes of any string IOC.
        if matches!(f, DetectionFunction::Contains | DetectionFunction::Regex)
            && !ioc.kind.is_hash()
        {
            let norm = match ioc.kind {
                IocType::FilePath => normalize_path(v, false),
                _ => v.to_lowercase(),
            };
            self.command_text.add(f, norm, v, idx);
        }
    }

    pub fn build(self, catalog: &Catalog) -> Result<RecordSets, String> {
        Ok(RecordSets {
            ips: self.ips,
            ip_text: self.ip_text.build_with(catalog)?,
            domains: self.domains,
            domain_text: self.domain_text.build_with(catalog)?,
            urls: self.urls.build_with(catalog)?,
            registry: self.registry.build_with(catalog)?,
            command_text: self.command_text.build_with(catalog)?,
        })
    }
}

/// Addresses and ranges, one hash map per prefix length.
#[derive(Default)]
struct IpTable {
    by_prefix: Vec<(u8, HashMap<IpAddr, Vec<IocIdx>>)>,
}

impl IpTable {
    fn add(&mut self, c: Cidr, idx: IocIdx) {
        let (addr, prefix) = match c.addr {
            IpAddr::V6(v6) if c.prefix >= 96 && v6.to_ipv4_mapped().is_some() => (
                IpAddr::V4(
                    v6.to_ipv4_mapped()
                        .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                ),
                c.prefix - 96,
            ),
            _ => (c.addr, c.prefix),
        };
        let key = mask(addr, prefix);
        let slot = match self.by_prefix.iter().position(|(p, m)| {
            *p == prefix && m.keys().next().is_none_or(|k| k.is_ipv4() == key.is_ipv4())
        }) {
            Some(i) => i,
            None => {
                self.by_prefix.push((prefix, HashMap::new()));
                self.by_prefix.len() - 1
            }
        };
        self.by_prefix[slot].1.entry(key).or_default().push(idx);
    }

    fn is_empty(&self) -> bool {
        self.by_prefix.is_empty()
    }

    fn find(&self, ip: IpAddr, out: &mut Vec<IocIdx>) {
        for (prefix, map) in &self.by_prefix {
            let max = if ip.is_ipv4() { 32 } else { 128 };
            if *prefix > max {
                continue;
            }
            if let Some(v) = map.get(&mask(ip, *prefix)) {
                out.extend_from_slice(v);
            }
        }
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix.min(32)))
            };
            IpAddr::V4((bits & m).into())
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = if prefix == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(prefix.min(128)))
            };
            IpAddr::V6((bits & m).into())
        }
    }
}

/// Parses a field value as an address: plain, bracketed, or v4-mapped v6
/// (`::ffff:10.0.0.1`, as Windows logs IPv4 peers of dual-stack sockets).
fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_start_matches('[').trim_end_matches(']');
    let first = s.as_bytes().first()?;
    if !(first.is_ascii_hexdigit() || *first == b':') {
        return None;
    }
    match s.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)),
        v4 => Some(v4),
    }
}

/// The runs of `s` made of the ASCII bytes `keep` takes, each with its
/// offset; none when `searched` is false (the caller's cheap test found
/// nothing to look for). Cut as bytes: every byte of a non-ASCII character
/// is a boundary, as the character is, so a run's ends are character
/// boundaries.
fn ascii_runs<'a>(
    s: &'a str,
    searched: bool,
    keep: impl Fn(u8) -> bool + 'a,
) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    let bytes = if searched { s.as_bytes() } else { &[] };
    bytes.split(move |&c| !keep(c)).filter_map(move |run| {
        let at = run.as_ptr() as usize - bytes.as_ptr() as usize;
        Some((at, s.get(at..at + run.len())?))
    })
}

/// The addresses written inside a text, each with the text that holds it:
/// runs of the characters an address is written with (hex digits, `.`,
/// `:`, `%`) that parse as one once a `:port` (IPv4) or a `%zone` (IPv6)
/// is taken off. A run is bounded by any other character, so
/// `192.168.1.100` never yields `192.168.1.1` and `10.0.0.5x` yields
/// `10.0.0.5`, but `v1.2.3.4a` (a hex letter after) yields nothing.
pub(super) fn embedded_ips(s: &str) -> impl Iterator<Item = (&str, IpAddr)> {
    // Most values (numbers, SIDs, GUIDs, names) hold neither a dot nor a
    // colon and cost one memchr2.
    let searched = memchr::memchr2(b'.', b':', s.as_bytes()).is_some();
    ascii_runs(s, searched, |c| {
        c.is_ascii_hexdigit() || matches!(c, b'.' | b':' | b'%')
    })
    .filter_map(|(_, run)| {
        let run = run.trim_matches('.');
        // `tcp:10.0.0.5:443`: one colon before an address is not part of
        // it (an IPv6 address starts with two, `::1`, or none).
        let run = match run.strip_prefix(':') {
            Some(rest) if !rest.starts_with(':') => rest,
            _ => run,
        };
        let count = |b: u8| run.bytes().filter(|&c| c == b).count();
        let (dots, colons) = (count(b'.'), count(b':'));
        // An IPv4 address (maybe with a port), or an IPv6 one.
        if !(dots == 3 && colons <= 1 || colons >= 2) {
            return None;
        }
        let bare = run.split('%').next().unwrap_or(run);
        let bare = match (dots, colons) {
            (3, 1) => bare.split(':').next().unwrap_or(bare),
            _ => bare,
        };
        parse_ip(bare).map(|ip| (run, ip))
    })
}

/// The host names written inside a text: runs of the characters a host
/// name is made of (letters, digits, `-`, `.`) holding a dot and a letter,
/// trimmed of dots. A run is bounded by any other character, so
/// `evil.example.com` is one run (which `evil.example` does not match)
/// and `evil.example` in `\\evil.example\share` another. File names are
/// not host names: a run that ends a path (after `\` or `/`, nothing but
/// a quote or a space after it) or ends in a file extension (`cmd.exe`)
/// is left out; URLs' hosts are matched as URLs.
fn embedded_hosts(s: &str) -> impl Iterator<Item = &str> {
    // A host name has a dot.
    let bytes = s.as_bytes();
    let searched = memchr::memchr(b'.', bytes).is_some();
    ascii_runs(s, searched, |c| {
        c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.')
    })
    .filter_map(move |(at, run)| {
        let end = at + run.len();
        let lead = run.len() - run.trim_start_matches('.').len();
        let host = run.trim_matches('.');
        let last = host.rsplit('.').next().unwrap_or("");
        let after = bytes.get(end).copied();
        let ends_path = at > 0
            && matches!(bytes[at - 1], b'\\' | b'/')
            && matches!(after, None | Some(b'"' | b'\'' | b' ' | b'\t'));
        let plausible = host.contains('.')
            && host.bytes().any(|b| b.is_ascii_alphabetic())
            && !FILE_EXTENSIONS.contains(&last.to_ascii_lowercase().as_str());
        (plausible && !(ends_path && lead == 0)).then_some(host)
    })
}

/// The file names written inside a text: runs between path separators,
/// quotes, white space and the characters Windows forbids in names
/// (`<>:"/\\|?*`, also `,;=()[]@`), trimmed of trailing dots, that end in
/// an extension (`.` and 1 to 8 letters or digits after a name). So
/// `a.exe` is found in `\\srv\share\a.exe` and `"a.exe"` but never in
/// `wusa.exe`; a name with no extension is matched in path fields only,
/// and the host of a UNC path or URL or after `@` is not a file name.
fn embedded_file_names(s: &str) -> impl Iterator<Item = &str> {
    // A name has a dot: text without one (numbers, SIDs, GUIDs) is not cut.
    let s = if memchr::memchr(b'.', s.as_bytes()).is_some() {
        s
    } else {
        ""
    };
    let is_sep = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | '\\' | '/' | '<' | '>' | ':' | '|' | '?' | '*' | ',' | ';' | '='
            )
            || matches!(c, '(' | ')' | '[' | ']' | '@')
    };
    s.split_terminator(is_sep)
        .map(move |run| (run.as_ptr() as usize - s.as_ptr() as usize, run))
        .filter_map(move |(at, run)| {
            let name = run.trim_end_matches('.');
            let (stem, ext) = name.rsplit_once('.')?;
            let ext_ok =
                (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric());
            let before = &s[..at];
            // `\\host\` and `scheme://host/` open with a doubled separator
            // after a non-name character; `C:\\dir\\a.exe` (escaped) does not.
            let lead = before
                .strip_suffix("\\\\")
                .or_else(|| before.strip_suffix("//"));
            let host = lead.is_some_and(|l| !l.ends_with(|c: char| c.is_alphanumeric()))
                || before.ends_with('@');
            (ext_ok && !stem.trim_matches('.').is_empty() && !host).then_some(name)
        })
}

/// Extensions of files that a host name's last label is not (`.com`, a
/// real top-level domain, is not here).
const FILE_EXTENSIONS: &[&str] = &[
    "exe", "dll", "sys", "drv", "ocx", "cpl", "scr", "msi", "msp", "ps1", "psm1", "psd1", "bat",
    "cmd", "vbs", "vbe", "js", "jse", "wsf", "wsh", "hta", "lnk", "inf", "ini", "txt", "log",
    "dat", "tmp", "evtx", "etl", "xml", "json", "csv", "doc", "docx", "docm", "xls", "xlsx",
    "xlsm", "ppt", "pptx", "pdf", "rtf", "zip", "rar", "7z", "cab", "iso", "img", "vhd", "vhdx",
    "db", "sqlite", "pf", "mui", "manifest", "config", "dmp", "bin", "jar", "py", "sh",
];

/// URLs compare with scheme and host in lower case, path as written.
pub fn normalize_url(s: &str) -> String {
    let s = s.trim();
    match s.find("://") {
        Some(i) => {
            let rest = &s[i + 3..];
            let host_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            format!(
                "{}://{}{}",
                s[..i].to_ascii_lowercase(),
                rest[..host_end].to_lowercase(),
                &rest[host_end..]
            )
        }
        None => {
            let host_end = s.find(['/', '?', '#']).unwrap_or(s.len());
            format!("{}{}", s[..host_end].to_lowercase(), &s[host_end..])
        }
    }
}

/// The host of a URL, without port or credentials.
fn url_host(url: &str) -> Option<&str> {
    let rest = &url[url.find("://")? + 3..];
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let host = authority.rsplit('@').next().unwrap_or(authority);
    let host = if host.starts_with('[') {
        host.split(']').next().map(|h| h.trim_start_matches('['))?
    } else {
        host.split(':').next()?
    };
    (!host.is_empty()).then_some(host)
}

/// URLs (`scheme://…`) inside free text, up to whitespace or a quote.
fn find_urls(s: &str) -> impl Iterator<Item = &str> {
    let mut rest = s;
    std::iter::from_fn(move || {
        loop {
            let i = rest.find("://")?;
            // Back over the scheme's characters; the one before them may be
            // multi-byte, so step past it by its length.
            let start = rest[..i]
                .char_indices()
                .rev()
                .find(|(_, c)| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
                .map_or(0, |(p, c)| p + c.len_utf8());
            let end = rest[i..]
                .find(|c: char| c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`'))
                .map_or(rest.len(), |e| i + e);
            let url = &rest[start..end];
            rest = &rest[end..];
            if start < i {
                return Some(url);
            }
        }
    })
}

/// Tokens of a command line: split on whitespace outside double quotes,
/// quotes removed; a quoted token that holds whitespace also yields its
/// words, because `cmd /c "tool.exe -x"` quotes a whole command while
/// `"C:\Program Files\x.exe"` quotes one path.
fn command_tokens(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = None;
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => {
                if let Some(st) = start.take() {
                    out.push(&s[st..i]);
                }
                quoted = !quoted;
                start = Some(i + 1);
            }
            c if c.is_whitespace() && !quoted => {
                if let Some(st) = start.take() {
                    out.push(&s[st..i]);
                }
            }
            _ => {
                if start.is_none() {
                    start = Some(i);
                }
            }
        }
    }
    if let Some(st) = start {
        out.push(&s[st..]);
    }
    let words: Vec<&str> = out
        .iter()
        .filter(|t| t.contains(char::is_whitespace))
        .flat_map(|t| t.split_whitespace())
        .collect();
    out.extend(words);
    out.retain(|t| !t.is_empty());
    out
}

fn is_path_field(n: &str) -> bool {
    matches!(
        n,
        "application" | "destination" | "path" | "servicefilename" | "imagepath" | "scriptpath"
    ) || ["image", "filename", "path", "processname", "imageloaded"]
        .iter()
        .any(|suffix| n.ends_with(suffix))
}

fn is_domain_field(n: &str) -> bool {
    matches!(
        n,
        "queryname"
            | "destinationhostname"
            | "sourcehostname"
            | "hostname"
            | "servername"
            | "targetservername"
            | "host"
            | "domainname"
            | "dnsname"
    )
}

fn is_registry_field(n: &str, value: &str) -> bool {
    match n {
        "targetobject" | "keyname" | "newname" | "registrykey" => true,
        "objectname" => {
            let v = value.trim_start().to_ascii_lowercase();
            v.starts_with("\\registry\\") || v.starts_with("hk")
        }
        _ => false,
    }
}

fn is_command_field(n: &str) -> bool {
    matches!(
        n,
        "commandline"
            | "parentcommandline"
            | "scriptblocktext"
            | "payload"
            | "contextinfo"
            | "hostapplication"
            | "imagepath"
            | "servicefilename"
            | "processcommandline"
    )
}

impl Matcher {
    /// Every IOC hit in one record's data fields.
    pub fn match_record(&self, rec: &Record, out: &mut Vec<Hit>) {
        if !self.has_record_iocs {
            return;
        }
        let start = out.len();
        let mut iocs = Vec::new();
        for (name, value) in &rec.data {
            if value.is_empty() {
                continue;
            }
            let lname = name.to_ascii_lowercase();
            let mut push = |iocs: &mut Vec<IocIdx>, matched: &str| {
                for ioc in iocs.drain(..) {
                    out.push(Hit {
                        ioc,
                        field: name.clone(),
                        value: matched.to_string(),
                    });
                }
            };
            self.match_hash_field(value, &mut iocs, &mut push);
            let want_ip = !self.record.ips.is_empty() || !self.record.ip_text.is_empty();
            if let Some(ip) = want_ip.then(|| parse_ip(value)).flatten() {
                self.record.ips.find(ip, &mut iocs);
                let text = value.trim().to_lowercase();
                self.record.ip_text.find(&text, &[value.trim()], &mut iocs);
                push(&mut iocs, value);
            } else if want_ip {
                // Addresses inside text: `10.0.2.16:45820`, `\\10.0.0.5\share`,
                // `fe80::1%10`, a command line's argument.
                for (token, ip) in embedded_ips(value) {
                    self.record.ips.find(ip, &mut iocs);
                    self.record
                        .ip_text
                        .find(&token.to_lowercase(), &[token], &mut iocs);
                    push(&mut iocs, token);
                }
            }
            if is_path_field(&lname) {
                self.match_path_value(value, &mut iocs);
                push(&mut iocs, value);
            }
            if is_domain_field(&lname) {
                self.match_domain(value, &mut iocs);
                push(&mut iocs, value);
            } else if !self.record.domains.is_empty() {
                // Host names inside text (`\\evil.example\share`,
                // `user@evil.example`), on label boundaries: `Equals`
                // domain IOCs only, as in host-name fields.
                for host in embedded_hosts(value) {
                    self.match_domain_exact(&host.to_ascii_lowercase(), &mut iocs);
                    push(&mut iocs, host);
                }
            }
            if !self.file_name.is_empty() && !is_path_field(&lname) && !is_command_field(&lname) {
                // File names inside text (5145's `RelativeTargetName`, a
                // message, a list), on separator and quote boundaries.
                for name in embedded_file_names(value) {
                    self.file_name
                        .find(&normalize_name(name), &[name], &mut iocs);
                    push(&mut iocs, name);
                }
            }
            if is_registry_field(&lname, value) {
                self.match_key(value, None, &mut iocs);
                push(&mut iocs, value);
            }
            if value.contains("://") {
                for url in find_urls(value) {
                    self.match_url(url, &mut iocs);
                    push(&mut iocs, url);
                }
            }
            if is_command_field(&lname) {
                let lower = value.to_lowercase();
                self.record.command_text.find(&lower, &[value], &mut iocs);
                let alt = normalize_path(value, false);
                if alt != lower {
                    self.record.command_text.find(&alt, &[], &mut iocs);
                }
                for token in command_tokens(value) {
                    self.match_path_value(token, &mut iocs);
                }
                push(&mut iocs, value);
            }
        }
        self.finish_hits(out, start);
    }

    /// The hits from `start` on without excluded ones, one per IOC and
    /// field: a value can be reached by two routes (a URL in a command
    /// line, a path token in a path field).
    fn finish_hits(&self, out: &mut Vec<Hit>, start: usize) {
        self.drop_excluded(out, start);
        let mut tail = out.split_off(start);
        tail.sort();
        tail.dedup_by(|a, b| a.ioc == b.ioc && a.field == b.field);
        out.extend(tail);
    }

    /// A URL against Url IOCs, and its host against DomainName IOCs.
    fn match_url(&self, url: &str, iocs: &mut Vec<IocIdx>) {
        self.record.urls.find(&normalize_url(url), &[url], iocs);
        if let Some(host) = url_host(url) {
            self.match_domain(host, iocs);
        }
    }

    fn match_hash_field(
        &self,
        value: &str,
        iocs: &mut Vec<IocIdx>,
        push: &mut impl FnMut(&mut Vec<IocIdx>, &str),
    ) {
        if self.digests.is_empty() {
            return;
        }
        let v = value.trim();
        let mut check = |alg: Option<&str>, hex_str: &str| {
            let Ok(bytes) = hex::decode(hex_str) else {
                return;
            };
            let found = match (alg, bytes.len()) {
                (None | Some("md5"), 16) => self.md5.get(&bytes[..]),
                (None | Some("sha1"), 20) => self.sha1.get(&bytes[..]),
                (None | Some("sha256"), 32) => self.sha256.get(&bytes[..]),
                _ => None,
            };
            if let Some(v) = found {
                iocs.extend_from_slice(v);
                push(iocs, hex_str);
            }
        };
        if matches!(v.len(), 32 | 40 | 64) && v.bytes().all(|b| b.is_ascii_hexdigit()) {
            check(None, v);
        } else if v.contains('=') {
            for pair in v.split([',', ' ', ';']) {
                if let Some((alg, h)) = pair.split_once('=') {
                    let alg = alg.trim().to_ascii_lowercase().replace('-', "");
                    check(Some(alg.as_str()), h.trim());
                }
            }
        }
    }

    /// Every IOC hit in one registry key or value: `RegistryKey` IOCs on
    /// its path (a value's as `key\name`, the stored control set's too),
    /// and the string data of a value as a record's command line is
    /// matched (the whole and its tokens as paths and names, digests,
    /// addresses, URLs, host names; `Contains`/`Regex` IOCs in the text). A
    /// Run key's `C:\ProgramData\x\beacon.exe` is FilePath evidence.
    pub fn match_registry(&self, item: &RegistryItem, out: &mut Vec<Hit>) {
        if !self.has_record_iocs {
            return;
        }
        let start = out.len();
        let mut iocs = Vec::new();
        let mut push = |iocs: &mut Vec<IocIdx>, field: &str, matched: &str| {
            for ioc in iocs.drain(..) {
                out.push(Hit {
                    ioc,
                    field: field.to_string(),
                    value: matched.to_string(),
                });
            }
        };
        if !self.record.registry.is_empty() {
            let path = item.path();
            let field = if item.value.is_some() { "value" } else { "key" };
            let sid = item.sid.as_deref();
            self.match_key(&path, sid, &mut iocs);
            if let Some(stored) = item.stored_path() {
                self.match_key(&stored, sid, &mut iocs);
            }
            iocs.sort_unstable();
            iocs.dedup();
            push(&mut iocs, field, &path);
        }
        // Amcache keeps a program's SHA-1 as `0000` + 40 hex digits, in
        // `FileId` (InventoryApplicationFile) or `101` (the older `File`).
        let amcache_id = item
            .value
            .as_ref()
            .is_some_and(|v| matches!(v.name.as_str(), "FileId" | "101"));
        for s in item.strings() {
            let s = match s.trim().strip_prefix("0000") {
                Some(sha1) if amcache_id && sha1.len() == 40 => sha1,
                _ => s,
            };
            self.match_hash_field(s, &mut iocs, &mut |iocs, m| push(iocs, "data", m));
            let s = s.trim();
            // The whole value or addresses inside it (`10.0.0.5:8080`).
            let whole = parse_ip(s).map(|ip| (s, ip));
            for (text, ip) in whole
                .into_iter()
                .chain(embedded_ips(s).filter(|_| whole.is_none()))
            {
                self.record.ips.find(ip, &mut iocs);
                self.record
                    .ip_text
                    .find(&text.to_lowercase(), &[text], &mut iocs);
            }
            self.match_path_value(s, &mut iocs);
            for token in command_tokens(s) {
                self.match_path_value(token, &mut iocs);
            }
            let lower = s.to_lowercase();
            self.record.command_text.find(&lower, &[s], &mut iocs);
            for url in find_urls(s) {
                self.match_url(url, &mut iocs);
            }
            // Names inside the text: `rundll32 x.dll,Entry`, a list.
            if !self.file_name.is_empty() {
                for name in embedded_file_names(s) {
                    self.file_name
                        .find(&normalize_name(name), &[name], &mut iocs);
                }
            }
            // A value that is a host name (a proxy, a C2 setting), or host
            // names inside it (a proxy list), as in record strings.
            if s.contains('.') && !s.contains(['\\', '/', ' ', ':']) {
                self.match_domain(s, &mut iocs);
            } else if !self.record.domains.is_empty() {
                for host in embedded_hosts(s) {
                    self.match_domain_exact(&host.to_ascii_lowercase(), &mut iocs);
                }
            }
            push(&mut iocs, "data", s);
        }
        self.finish_hits(out, start);
    }

    /// `RegistryKey` IOCs on the key path `key` under each of its names
    /// (`hku\<sid>\…` is also `hkcu\…`; see [`super::hkey`]); `sid` is the
    /// owner of the user's hive it comes from, when known. Each IOC once.
    fn match_key(&self, key: &str, sid: Option<&str>, iocs: &mut Vec<IocIdx>) {
        let start = iocs.len();
        let normalized = normalize_registry(key);
        self.record.registry.find(&normalized, &[key], iocs);
        let others = other_names(&normalized, sid);
        for other in &others {
            self.record.registry.find(other, &[other], iocs);
        }
        if !others.is_empty() {
            let mut tail = iocs.split_off(start);
            tail.sort_unstable();
            tail.dedup();
            iocs.extend(tail);
        }
    }

    /// A path value against FilePath and its last component against FileName.
    fn match_path_value(&self, value: &str, iocs: &mut Vec<IocIdx>) {
        let name = value.rsplit(['\\', '/']).next().unwrap_or(value);
        if !self.file_name.is_empty() {
            self.file_name.find(&normalize_name(name), &[name], iocs);
        }
        if !self.file_path.is_empty() {
            self.file_path
                .find(&normalize_path(value, true), &[value], iocs);
        }
    }

    /// [`Self::match_domain`] against the `Equals` domain IOCs only;
    /// `host` in lower case.
    fn match_domain_exact(&self, host: &str, iocs: &mut Vec<IocIdx>) {
        let mut rest = host;
        loop {
            if let Some(v) = self.record.domains.get(rest) {
                iocs.extend_from_slice(v);
            }
            match rest.find('.') {
                Some(i) => rest = &rest[i + 1..],
                None => break,
            }
        }
    }

    /// Domain `Equals` IOCs cover subdomains: try every suffix at a dot.
    fn match_domain(&self, value: &str, iocs: &mut Vec<IocIdx>) {
        let d = value.trim().trim_end_matches('.').to_lowercase();
        if d.is_empty() {
            return;
        }
        if !self.record.domains.is_empty() {
            self.match_domain_exact(&d, iocs);
        }
        self.record.domain_text.find(&d, &[value], iocs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_registry_and_tokens_normalise() {
        assert_eq!(
            normalize_url("HTTPS://Evil.COM/Gate.php"),
            "https://evil.com/Gate.php"
        );
        assert_eq!(url_host("http://user@Evil.com:8080/x"), Some("Evil.com"));
        assert_eq!(url_host("http://[2001:db8::1]:80/"), Some("2001:db8::1"));
        assert_eq!(
            command_tokens(r#""C:\Program Files\x.exe" -a  b"#),
            vec![
                r"C:\Program Files\x.exe",
                "-a",
                "b",
                r"C:\Program",
                r"Files\x.exe"
            ]
        );
        assert!(
            command_tokens(r#"cmd.exe /c "procdump.exe -ma lsass.exe""#).contains(&"procdump.exe")
        );
        let urls: Vec<_> = find_urls("iwr 'http://a.b/c?d=1' ; x https://e.f").collect();
        assert_eq!(urls, vec!["http://a.b/c?d=1", "https://e.f"]);
        let urls: Vec<_> = find_urls("é://x ¦http://ü.example/p ://").collect();
        assert_eq!(urls, vec!["http://ü.example/p"]);
    }

    #[test]
    fn addresses_inside_text_are_found_on_their_boundaries() {
        let found = |s| {
            embedded_ips(s)
                .map(|(t, ip)| format!("{t}={ip}"))
                .collect::<Vec<_>>()
        };
        assert_eq!(found("10.0.2.16:45820"), ["10.0.2.16:45820=10.0.2.16"]);
        assert_eq!(found(r"\\10.0.0.5\share"), ["10.0.0.5=10.0.0.5"]);
        assert_eq!(found("fe80::1c2:3%10 up"), ["fe80::1c2:3%10=fe80::1c2:3"]);
        assert_eq!(found("[2001:db8::1]:443"), ["2001:db8::1=2001:db8::1"]);
        assert_eq!(
            found("net use 192.168.1.100."),
            ["192.168.1.100=192.168.1.100"]
        );
        // Versions, words and longer runs are no address.
        assert!(found("10.0.17763.1 cafe 1.2.3.4.5 deadbeef:1").is_empty());
        // Non-ASCII text bounds a run as any other character does.
        assert_eq!(found("é10.0.0.7ü:80"), ["10.0.0.7=10.0.0.7"]);
        assert_eq!(found("адрес:10.1.2.3:445"), ["10.1.2.3:445=10.1.2.3"]);
        assert_eq!(found("tcp:fe80::1 ::1"), ["fe80::1=fe80::1", "::1=::1"]);
    }

    #[test]
    fn file_names_inside_text_are_found_on_separator_boundaries() {
        let found = |s| embedded_file_names(s).collect::<Vec<_>>();
        assert_eq!(found(r"\\srv\share\tools\a.exe"), ["a.exe"]);
        assert_eq!(found(r#"loaded "a.exe", then b.dll."#), ["a.exe", "b.dll"]);
        assert_eq!(found("x.exe:Zone.Identifier"), ["x.exe"]);
        assert_eq!(found(r"C:\\dir\\a.exe"), ["a.exe"]);
        // Inside a longer name, no extension, or a host: not a file name.
        assert_eq!(found("wusa.exe update"), ["wusa.exe"]);
        assert!(
            found(r"\\evil.example\share http://evil.example/ bob@evil.example .exe x.").is_empty()
        );
    }

    #[test]
    fn host_names_inside_text_are_runs_of_host_characters() {
        let found = |s| embedded_hosts(s).collect::<Vec<_>>();
        assert_eq!(found(r"\\evil.example\share"), ["evil.example"]);
        assert_eq!(found("mail bob@evil.example."), ["evil.example"]);
        assert_eq!(found("evil.example.com:443"), ["evil.example.com"]);
        // No letter, or no dot: not a host name; nor a file.
        assert!(found("10.0.0.5 localhost").is_empty());
        assert!(found(r"C:\Windows\cmd.exe /c x.ps1 C:\tmp\evil.example").is_empty());
        // Non-ASCII text bounds a run as any other character does.
        assert_eq!(found("ü.evil.example»"), ["evil.example"]);
        assert_eq!(found("hôte:evil.example"), ["evil.example"]);
        assert_eq!(found("é\\evil.example\\tmp\\a.example"), ["evil.example"]);
    }

    #[test]
    fn ip_table_matches_ranges_and_mapped_addresses() {
        let mut t = IpTable::default();
        t.add(Cidr::parse("10.1.0.0/16").unwrap(), 0);
        t.add(Cidr::parse("192.0.2.7").unwrap(), 1);
        t.add(Cidr::parse("2001:db8::/32").unwrap(), 2);
        let find = |s: &str| {
            let mut v = Vec::new();
            t.find(parse_ip(s).unwrap(), &mut v);
            v
        };
        assert_eq!(find("10.1.2.3"), vec![0]);
        assert_eq!(find("::ffff:192.0.2.7"), vec![1]);
        assert_eq!(find("2001:db8:5::1"), vec![2]);
        assert!(find("10.2.0.1").is_empty());
        assert!(parse_ip("Security").is_none());
    }
}
