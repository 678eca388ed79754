//! The bundle model every format loads into: alert definitions holding IOCs.
//!
//! The model follows Defender ATP custom threat intelligence: an alert
//! definition carries the metadata raised on a match, an IOC carries the
//! concrete detection logic and belongs to exactly one alert definition.

use std::fmt;
use std::path::PathBuf;

use jiff::Timestamp;

/// Index of an IOC in [`Bundle::iocs`]; compact so matcher tables stay small.
pub type IocIdx = u32;

/// Alert severity, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
}

impl Severity {
    /// Every severity, most severe first (the order reports list them in).
    pub const ALL_DESC: [Severity; 4] = [
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Informational,
    ];

    /// Parses any letter case; exports spell it `High`, `HIGH` or `high`.
    pub fn parse(s: &str) -> Option<Severity> {
        match s.trim().to_ascii_lowercase().as_str() {
            "informational" | "info" => Some(Severity::Informational),
            "low" => Some(Severity::Low),
            "medium" => Some(Severity::Medium),
            "high" => Some(Severity::High),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an IOC's value describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IocType {
    Sha1,
    Sha256,
    Md5,
    FileName,
    FilePath,
    IpAddress,
    DomainName,
    Url,
    RegistryKey,
}

impl IocType {
    pub const ALL: [IocType; 9] = [
        IocType::Sha1,
        IocType::Sha256,
        IocType::Md5,
        IocType::FileName,
        IocType::FilePath,
        IocType::IpAddress,
        IocType::DomainName,
        IocType::Url,
        IocType::RegistryKey,
    ];

    /// Case-insensitive, ignoring `-`/`_`/spaces: exports write `SHA1`,
    /// `Sha1`, `sha-1`, `FileSha1` or `file_name`.
    pub fn parse(s: &str) -> Option<IocType> {
        let key: String = s
            .chars()
            .filter(|c| !matches!(c, '-' | '_' | ' '))
            .flat_map(char::to_lowercase)
            .collect();
        Some(match key.as_str() {
            // `FileSha1` … are the Defender for Endpoint indicator spellings.
            "sha1" | "filesha1" => IocType::Sha1,
            "sha256" | "filesha256" => IocType::Sha256,
            "md5" | "filemd5" => IocType::Md5,
            "filename" => IocType::FileName,
            "filepath" => IocType::FilePath,
            "ipaddress" | "ip" => IocType::IpAddress,
            "domainname" | "domain" => IocType::DomainName,
            "url" | "uri" => IocType::Url,
            "registrykey" => IocType::RegistryKey,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            IocType::Sha1 => "Sha1",
            IocType::Sha256 => "Sha256",
            IocType::Md5 => "Md5",
            IocType::FileName => "FileName",
            IocType::FilePath => "FilePath",
            IocType::IpAddress => "IpAddress",
            IocType::DomainName => "DomainName",
            IocType::Url => "Url",
            IocType::RegistryKey => "RegistryKey",
        }
    }

    /// Hash types compare whole digests, so only `Equals` makes sense.
    pub fn is_hash(self) -> bool {
        matches!(self, IocType::Sha1 | IocType::Sha256 | IocType::Md5)
    }
}

impl fmt::Display for IocType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How an IOC's value is compared with what the evidence holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DetectionFunction {
    Equals,
    StartWith,
    EndWith,
    Contains,
    Regex,
}

impl DetectionFunction {
    /// Accepts the Defender spellings (`StartWith`) and the English ones
    /// (`StartsWith`), in any case.
    pub fn parse(s: &str) -> Option<DetectionFunction> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "equals" | "equal" | "is" => DetectionFunction::Equals,
            "startwith" | "startswith" => DetectionFunction::StartWith,
            "endwith" | "endswith" => DetectionFunction::EndWith,
            "contains" => DetectionFunction::Contains,
            "regex" | "matches" => DetectionFunction::Regex,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DetectionFunction::Equals => "Equals",
            DetectionFunction::StartWith => "StartWith",
            DetectionFunction::EndWith => "EndWith",
            DetectionFunction::Contains => "Contains",
            DetectionFunction::Regex => "Regex",
        }
    }
}

impl fmt::Display for DetectionFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an IOC takes part in matching. Inactive IOCs are still loaded and
/// counted so the report shows what the bundle held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IocState {
    Active,
    /// `enabled: false` on the IOC or on its alert definition.
    Disabled,
    /// `expiresAt` lies before the scan's reference time.
    Expired,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertDefinition {
    /// Ids are strings even when the file wrote a number (`1` and `"1"` are
    /// the same id), because IOCs refer to them either way.
    pub id: String,
    pub name: String,
    pub title: Option<String>,
    pub severity: Severity,
    pub category: Option<String>,
    pub description: Option<String>,
    pub internal_description: Option<String>,
    pub recommended_action: Option<String>,
    pub mitre_techniques: Vec<String>,
    pub enabled: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ioc {
    pub id: String,
    /// Index into [`Bundle::alert_definitions`].
    pub alert: usize,
    pub kind: IocType,
    /// The value as the bundle wrote it (trimmed); matchers normalise it.
    pub value: String,
    pub function: DetectionFunction,
    pub state: IocState,
    pub expires_at: Option<Timestamp>,
    /// What the feed says about this value (Loki comments, MISP comments).
    pub description: Option<String>,
    /// A regex for known false positives: a hit whose matched value it
    /// matches is dropped (Loki filename-iocs' third field).
    pub exclude: Option<String>,
}

impl Ioc {
    pub fn is_active(&self) -> bool {
        self.state == IocState::Active
    }
}

/// One loaded bundle file, as the report's `bundles[]` describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct BundleFile {
    pub path: PathBuf,
    /// SHA-256 of the file's bytes, so a report names exactly which export
    /// produced it.
    pub sha256: String,
    pub format: &'static str,
    pub alert_definitions: usize,
    pub iocs: usize,
    pub iocs_active: usize,
    /// Entries not used, with the reason (see [`Bundle::unused`]).
    pub entries_unused: usize,
}

/// Every alert definition and IOC of all bundle files given, merged and
/// cross-checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Bundle {
    pub files: Vec<BundleFile>,
    pub alert_definitions: Vec<AlertDefinition>,
    pub iocs: Vec<Ioc>,
    /// Entries of the files that were not used, each naming its place and
    /// the reason.
    pub unused: Vec<super::BundleError>,
}

impl Bundle {
    pub fn active_iocs(&self) -> impl Iterator<Item = (IocIdx, &Ioc)> {
        self.iocs
            .iter()
            .enumerate()
            .filter(|(_, ioc)| ioc.is_active())
            .map(|(i, ioc)| (i as IocIdx, ioc))
    }

    pub fn alert_of(&self, ioc: IocIdx) -> &AlertDefinition {
        &self.alert_definitions[self.iocs[ioc as usize].alert]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_and_function_spellings() {
        for s in ["Sha256", "SHA256", "sha-256", "FileSha256", "file_sha256"] {
            assert_eq!(IocType::parse(s), Some(IocType::Sha256), "{s}");
        }
        assert_eq!(IocType::parse("FileName"), Some(IocType::FileName));
        assert_eq!(IocType::parse("Mutex"), None);
        assert_eq!(
            DetectionFunction::parse("StartsWith"),
            Some(DetectionFunction::StartWith)
        );
        assert_eq!(
            DetectionFunction::parse("endwith"),
            Some(DetectionFunction::EndWith)
        );
        assert_eq!(Severity::parse("HIGH"), Some(Severity::High));
        assert_eq!(Severity::parse("Critical"), None);
    }
}
