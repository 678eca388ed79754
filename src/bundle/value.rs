//! Parsing and checking of IOC values, shared by every bundle format and by
//! the matcher that compiles them. A value that passes [`check`] compiles.

use std::net::IpAddr;

use jiff::Timestamp;

use super::model::{DetectionFunction, IocType};

/// Regexes are compiled with a size limit so a hostile bundle cannot make
/// the scanner allocate without bound.
pub const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Checks that `function` applies to `kind`: hash IOCs compare whole
/// digests, so they allow only `Equals`.
pub fn check_function(kind: IocType, function: DetectionFunction) -> Result<(), String> {
    if kind.is_hash() && function != DetectionFunction::Equals {
        return Err(format!(
            "a {kind} IOC compares whole digests, so its detection function must be Equals, not {function}"
        ));
    }
    Ok(())
}

/// Checks that `value` is meaningful for `kind` with `function`; the error
/// says what is wrong in words a bundle author understands.
pub fn check(kind: IocType, function: DetectionFunction, value: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err("value is empty".into());
    }
    super::limits::check_value_len(value, function == DetectionFunction::Regex)?;
    if kind.is_hash() {
        return check_digest(kind, value);
    }
    match function {
        DetectionFunction::Regex => check_regex(value),
        DetectionFunction::Equals => match kind {
            IocType::IpAddress => Cidr::parse(value).map(|_| ()),
            IocType::DomainName => normalize_domain(value).map(|_| ()),
            _ => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Expected digest length in hex digits.
pub fn digest_hex_len(kind: IocType) -> usize {
    match kind {
        IocType::Md5 => 32,
        IocType::Sha1 => 40,
        IocType::Sha256 => 64,
        _ => 0,
    }
}

/// Decodes a hex digest (any case) of the length `kind` requires.
pub fn parse_digest(kind: IocType, value: &str) -> Result<Vec<u8>, String> {
    check_digest(kind, value)?;
    hex::decode(value).map_err(|e| format!("not hex: {e}"))
}

/// Whether `value` is a hex digest of the length `kind` requires, without
/// decoding it (loading checks a million of them).
fn check_digest(kind: IocType, value: &str) -> Result<(), String> {
    let want = digest_hex_len(kind);
    if value.len() != want {
        return Err(format!(
            "a {kind} is {want} hex digits, this value has {} characters",
            value.chars().count()
        ));
    }
    if let Some((i, c)) = value.char_indices().find(|(_, c)| !c.is_ascii_hexdigit()) {
        return Err(format!(
            "a {kind} is hex digits only; character {} is {c:?}",
            i + 1
        ));
    }
    Ok(())
}

/// Whether `value` compiles as [`compile_regex`] compiles it (one pattern;
/// for many, reuse a [`RegexCheck`]).
pub fn check_regex(value: &str) -> Result<(), String> {
    RegexCheck::new().check(value)
}

/// Checks regexes as [`compile_regex`] would compile them, at a fraction of
/// the cost (validating Loki's 3,700 file-name regexes was a fifth of a
/// scan of the corpus logs): only the parts of a compile that can fail are
/// checked, each pattern parsed once: its syntax, then its forward NFA
/// (with captures) and its reverse NFA (without) under the same size
/// limit, as `regex`'s engine builds them, not the engines and literal
/// prefilters that only speed a search; and the NFAs are built only when a
/// bound read from the syntax ([`super::nfa_bound`]) does not already keep
/// them far below the limit. The compilers are kept from one pattern to
/// the next: a fresh one allocates and clears tables for UTF-8 classes,
/// which was half the cost. What this check refuses is decided, and
/// worded, by the full compile.
pub struct RegexCheck {
    parser: regex_syntax::Parser,
    forward: regex_automata::nfa::thompson::Compiler,
    reverse: regex_automata::nfa::thompson::Compiler,
}

impl Default for RegexCheck {
    fn default() -> Self {
        Self::new()
    }
}

impl RegexCheck {
    pub fn new() -> RegexCheck {
        use regex_automata::nfa::thompson::{Compiler, Config, WhichCaptures};
        let config = Config::new()
            .utf8(true)
            .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
            .shrink(false);
        let mut forward = Compiler::new();
        forward.configure(config.clone().which_captures(WhichCaptures::All));
        let mut reverse = Compiler::new();
        reverse.configure(config.which_captures(WhichCaptures::None).reverse(true));
        RegexCheck {
            parser: Self::parser(),
            forward,
            reverse,
        }
    }

    fn parser() -> regex_syntax::Parser {
        regex_syntax::ParserBuilder::new()
            .case_insensitive(true)
            .nest_limit(super::limits::MAX_NESTING as u32)
            .utf8(true)
            .build()
    }

    pub fn check(&mut self, value: &str) -> Result<(), String> {
        super::limits::check_value_len(value, true)?;
        if self.builds(value) {
            Ok(())
        } else {
            compile_regex(value).map(|_| ())
        }
    }

    /// Whether the parts of a compile that can fail succeed. The NFAs are
    /// built only for a pattern whose bound comes near the size limit.
    /// A parser is not reused after a refusal: regex-syntax 0.8's
    /// translator keeps its frames when translation fails (an unknown
    /// Unicode class, say), and the next pattern then trips its assertion.
    fn builds(&mut self, value: &str) -> bool {
        let Ok(hir) = self.parser.parse(value) else {
            self.parser = Self::parser();
            return false;
        };
        super::nfa_bound::nfa_bytes(&hir) <= (REGEX_SIZE_LIMIT / 2) as u64
            || (self.forward.build_from_hir(&hir).is_ok()
                && self.reverse.build_from_hir(&hir).is_ok())
    }
}

pub fn compile_regex(value: &str) -> Result<regex::Regex, String> {
    super::limits::check_value_len(value, true)?;
    regex::RegexBuilder::new(value)
        .case_insensitive(true)
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(super::limits::MAX_NESTING as u32)
        .build()
        .map_err(|e| {
            // The regex crate draws a caret diagram over several lines; a
            // bundle error is one line, so keep the final "error: …" line.
            let text = e.to_string();
            let last = text
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .unwrap_or("");
            format!(
                "invalid regular expression: {}",
                last.trim().trim_start_matches("error: ")
            )
        })
}

/// Domain as matched: lower case, no trailing dot, no leading `*.` (a domain
/// IOC already covers its subdomains).
pub fn normalize_domain(value: &str) -> Result<String, String> {
    let d = value.trim().trim_end_matches('.').to_lowercase();
    let d = d.strip_prefix("*.").unwrap_or(&d).to_string();
    if d.is_empty() {
        return Err("domain is empty".into());
    }
    if let Some(c) = d
        .chars()
        .find(|c| c.is_whitespace() || matches!(c, '/' | '\\' | ':' | '@' | '?' | '#' | '*'))
    {
        return Err(format!(
            "{c:?} cannot appear in a domain name (use a Url IOC for URLs)"
        ));
    }
    if d.split('.').any(str::is_empty) {
        return Err("domain name has an empty label (\"..\")".into());
    }
    Ok(d)
}

/// An address or a CIDR range; a bare address is a range of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(value: &str) -> Result<Cidr, String> {
        let value = value.trim();
        let (addr, prefix) = match value.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (value, None),
        };
        let addr: IpAddr = addr
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("{value:?} is not an IPv4/IPv6 address or CIDR range"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("CIDR prefix {p:?} must be a number from 0 to {max}"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V4(ip)) => net.to_ipv4_mapped().is_some_and(|n| {
                self.prefix >= 96 && prefix_eq(&n.octets(), &ip.octets(), self.prefix - 96)
            }),
            (IpAddr::V4(net), IpAddr::V6(ip)) => ip
                .to_ipv4_mapped()
                .is_some_and(|ip| prefix_eq(&net.octets(), &ip.octets(), self.prefix)),
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    if rest == 0 {
        return true;
    }
    let mask = 0xFFu8 << (8 - rest);
    (a[full] & mask) == (b[full] & mask)
}

/// Parses an expiry time: RFC 3339, or a date-time without offset (taken as
/// UTC, as Defender exports write it), or a bare date.
pub fn parse_time(value: &str) -> Result<Timestamp, String> {
    let v = value.trim();
    if let Ok(ts) = v.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(z) = v
        .parse::<jiff::civil::DateTime>()
        .and_then(|dt| dt.to_zoned(jiff::tz::TimeZone::UTC))
    {
        return Ok(z.timestamp());
    }
    Err(format!(
        "{v:?} is not a date-time (expected RFC 3339, e.g. 2026-01-31T00:00:00Z)"
    ))
}

/// `T1234` and `T1234.001` anywhere in `s`.
pub fn mitre_ids_in(s: &str, out: &mut Vec<String>) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let boundary = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if boundary
            && b[i] == b'T'
            && b.len() >= i + 5
            && b[i + 1..i + 5].iter().all(u8::is_ascii_digit)
        {
            let mut end = i + 5;
            if b.len() >= end + 4
                && b[end] == b'.'
                && b[end + 1..end + 4].iter().all(u8::is_ascii_digit)
            {
                end += 4;
            }
            if b.get(end).is_none_or(|c| !c.is_ascii_alphanumeric()) {
                let t = s[i..end].to_string();
                if !out.contains(&t) {
                    out.push(t);
                }
            }
            i = end;
        } else {
            i += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_light_regex_check_accepts_and_words_what_the_compile_does() {
        let nested = format!("{}a{}", "(".repeat(200), ")".repeat(200));
        for p in [
            r"\\svcsstat\.exe$",
            r"(?i)\\procdump(64)?(a)?\.(exe|zip)",
            r"(TEMP|Temp)\\[^\\]+\.(xmd|yls)$",
            "a{1000}{1000}",
            r"\w{500}\W{500}",
            r"(?=lookahead)",
            r"back(ref)\1",
            "unclosed(",
            nested.as_str(),
            "",
        ] {
            let full = compile_regex(p).map(|_| ());
            assert_eq!(check_regex(p), full, "{p:.40}");
        }
        assert!(check_regex("a{1000}{1000}").is_err(), "over the size limit");
    }

    /// The light check must never accept what the compile refuses: at the
    /// size limit, for pieces whose forward and reverse automata differ
    /// (captures, UTF-8 classes, case folding), with one checker reused
    /// across refusals as loading does.
    #[test]
    fn the_light_regex_check_refuses_from_the_same_size_as_the_compile() {
        let mut check = RegexCheck::new();
        for piece in [r"\w", r"[^\\]", "(ab|cd)", "é"] {
            let at = |n: u32| format!("{piece}{{{n}}}");
            // The smallest count the compile refuses: doubling, then
            // halving the gap (compiles near the limit are the slow ones).
            let (mut ok, mut refused) = (1u32, 2u32);
            while compile_regex(&at(refused)).is_ok() {
                (ok, refused) = (refused, refused * 2);
            }
            while refused - ok > 1 {
                let mid = (ok + refused) / 2;
                if compile_regex(&at(mid)).is_ok() {
                    ok = mid;
                } else {
                    refused = mid;
                }
            }
            assert!(check.builds(&at(ok)), "{piece}{{{ok}}} compiles");
            assert!(!check.builds(&at(refused)), "{piece}{{{refused}}} does not");
            assert!(check.check(&at(refused)).is_err());
        }
    }

    /// Fuzzing found a refused translation (`\\p[`: no such class) left
    /// the reused parser broken for the next, valid, pattern.
    #[test]
    fn a_refused_pattern_leaves_the_checker_usable() {
        let mut check = RegexCheck::new();
        for bad in [r"a(b\p[\]{4})", r"(x)\p{NoSuchClass}", "(?-u:\\xFF)"] {
            assert!(check.check(bad).is_err(), "{bad}");
            assert!(check.check(r"(a)(b)\.exe;[0-9]{2}").is_ok(), "after {bad}");
        }
    }

    #[test]
    fn digests_are_checked_for_length_and_hex() {
        assert!(parse_digest(IocType::Sha1, "92cfceb39d57d914ed8b14d0e37643de0797ae56").is_ok());
        assert!(parse_digest(IocType::Sha1, "92CFCEB39D57D914ED8B14D0E37643DE0797AE56").is_ok());
        let e = parse_digest(IocType::Sha1, "92cfceb39d57d914ed8b14d0e37643de0797ae5").unwrap_err();
        assert!(e.contains("40 hex digits"), "{e}");
        let e = parse_digest(IocType::Md5, "z0000000000000000000000000000000").unwrap_err();
        assert!(e.contains("character 1"), "{e}");
    }

    #[test]
    fn hash_iocs_only_allow_equals() {
        let e = check_function(IocType::Sha256, DetectionFunction::StartWith).unwrap_err();
        assert!(e.contains("must be Equals"));
    }

    #[test]
    fn cidr_ranges_match_v4_v6_and_mapped() {
        let net = Cidr::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(net.contains("::ffff:10.1.0.9".parse().unwrap()));
        let one = Cidr::parse("192.0.2.7").unwrap();
        assert!(one.contains("192.0.2.7".parse().unwrap()));
        assert!(!one.contains("192.0.2.8".parse().unwrap()));
        let v6 = Cidr::parse("2001:db8::/32").unwrap();
        assert!(v6.contains("2001:db8:1::1".parse().unwrap()));
        assert!(!v6.contains("2001:db9::1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0.300").is_err());
        assert!(
            Cidr::parse("0.0.0.0/0")
                .unwrap()
                .contains("8.8.8.8".parse().unwrap())
        );
    }

    #[test]
    fn domains_are_normalised_and_checked() {
        assert_eq!(normalize_domain("Evil.COM.").unwrap(), "evil.com");
        assert_eq!(normalize_domain("*.evil.com").unwrap(), "evil.com");
        assert!(normalize_domain("http://evil.com/x").is_err());
        assert!(normalize_domain("a..b").is_err());
    }

    #[test]
    fn mitre_ids_are_found_in_text() {
        let mut v = Vec::new();
        mitre_ids_in(
            r#"misp-galaxy:mitre-attack-pattern="Launch Daemon - T1543.004""#,
            &mut v,
        );
        mitre_ids_in("Archive - T1560, T1560 again", &mut v);
        mitre_ids_in("not XT12345 nor T12", &mut v);
        assert_eq!(v, vec!["T1543.004", "T1560"]);
    }

    #[test]
    fn times_accept_offsets_and_naive_utc() {
        let a = parse_time("2020-01-02T03:04:05Z").unwrap();
        let b = parse_time("2020-01-02T03:04:05").unwrap();
        assert_eq!(a, b);
        assert!(parse_time("2020-01-02").is_ok());
        assert!(parse_time("yesterday").is_err());
    }
}
