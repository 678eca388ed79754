//! Which Sigma log sources a Windows event record belongs to: the one
//! readable table of the mapping (services onto channels, categories onto
//! channel and event id, and Security 4688's field names for
//! `process_creation`), as SigmaHQ's rules assume and as chainsaw and
//! hayabusa map them. A record is evaluated once per log source it
//! belongs to; a rule whose `logsource` names none of them is not asked.

/// `service` of the rules (product `windows`) by the record's channel.
/// Channels compare case-insensitively.
const SERVICES: &[(&str, &str)] = &[
    ("Security", "security"),
    ("System", "system"),
    ("Application", "application"),
    ("Microsoft-Windows-Sysmon/Operational", "sysmon"),
    ("Microsoft-Windows-PowerShell/Operational", "powershell"),
    ("PowerShellCore/Operational", "powershell"),
    ("Windows PowerShell", "powershell-classic"),
    (
        "Microsoft-Windows-Windows Defender/Operational",
        "windefend",
    ),
    (
        "Microsoft-Windows-CodeIntegrity/Operational",
        "codeintegrity-operational",
    ),
    (
        "Microsoft-Windows-AppXDeploymentServer/Operational",
        "appxdeployment-server",
    ),
    (
        "Microsoft-Windows-AppxPackaging/Operational",
        "appxpackaging-om",
    ),
    (
        "Microsoft-Windows-AppModel-Runtime/Admin",
        "appmodel-runtime",
    ),
    (
        "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
        "firewall-as",
    ),
    ("MSExchange Management", "msexchange-management"),
    ("Microsoft-Windows-Bits-Client/Operational", "bits-client"),
    ("Microsoft-Windows-DNS-Client/Operational", "dns-client"),
    ("DNS Server", "dns-server"),
    (
        "Microsoft-Windows-IIS-Configuration/Operational",
        "iis-configuration",
    ),
    (
        "Microsoft-Windows-TaskScheduler/Operational",
        "taskscheduler",
    ),
    ("Microsoft-Windows-NTLM/Operational", "ntlm"),
    ("Microsoft-Windows-WMI-Activity/Operational", "wmi"),
    (
        "Microsoft-Windows-Security-Mitigations/KernelMode",
        "security-mitigations",
    ),
    (
        "Microsoft-Windows-Security-Mitigations/UserMode",
        "security-mitigations",
    ),
    ("Microsoft-Windows-AppLocker/EXE and DLL", "applocker"),
    ("Microsoft-Windows-AppLocker/MSI and Script", "applocker"),
    (
        "Microsoft-Windows-AppLocker/Packaged app-Deployment",
        "applocker",
    ),
    (
        "Microsoft-Windows-AppLocker/Packaged app-Execution",
        "applocker",
    ),
    (
        "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
        "terminalservices-localsessionmanager",
    ),
    (
        "Microsoft-Windows-SMBServer/Connectivity",
        "smbserver-connectivity",
    ),
    ("Microsoft-Windows-SmbClient/Security", "smbclient-security"),
    (
        "Microsoft-Windows-SMBClient/Connectivity",
        "smbclient-connectivity",
    ),
    ("Microsoft-Windows-Shell-Core/Operational", "shell-core"),
    ("OpenSSH/Operational", "openssh"),
    ("Microsoft-ServiceBus-Client", "microsoft-servicebus-client"),
    ("Microsoft-Windows-LSA/Operational", "lsa-server"),
    ("Microsoft-Windows-LDAP-Client/Debug", "ldap"),
    (
        "Microsoft-Windows-DriverFrameworks-UserMode/Operational",
        "driver-framework",
    ),
    (
        "Microsoft-Windows-Diagnosis-Scripted/Operational",
        "diagnosis-scripted",
    ),
    (
        "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
        "certificateservicesclient-lifecycle-system",
    ),
    ("Microsoft-Windows-CAPI2/Operational", "capi2"),
    ("Microsoft-Windows-PrintService/Admin", "printservice-admin"),
    (
        "Microsoft-Windows-PrintService/Operational",
        "printservice-operational",
    ),
    (
        "Microsoft-Windows-Kernel-ShimEngine/Operational",
        "shim-engine",
    ),
    ("Microsoft-Windows-VHDMP/Operational", "vhdmp"),
    (
        "Microsoft-Windows-BitLocker/BitLocker Management",
        "bitlocker",
    ),
    ("Microsoft-Windows-Hyper-V-Worker-Admin", "hyper-v-worker"),
];

const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";
const PS: &str = "Microsoft-Windows-PowerShell/Operational";
const PS_CORE: &str = "PowerShellCore/Operational";
const PS_CLASSIC: &str = "Windows PowerShell";

/// `category` of the rules by channel and event ids.
const CATEGORIES: &[(&str, &[u32], &str)] = &[
    (SYSMON, &[1], "process_creation"),
    ("Security", &[4688], "process_creation"),
    (SYSMON, &[2], "file_change"),
    (SYSMON, &[3], "network_connection"),
    (SYSMON, &[4], "sysmon_status"),
    (SYSMON, &[16], "sysmon_status"),
    (SYSMON, &[5], "process_termination"),
    (SYSMON, &[6], "driver_load"),
    (SYSMON, &[7], "image_load"),
    (SYSMON, &[8], "create_remote_thread"),
    (SYSMON, &[9], "raw_access_thread"),
    (SYSMON, &[10], "process_access"),
    (SYSMON, &[11], "file_event"),
    (SYSMON, &[12, 13, 14], "registry_event"),
    (SYSMON, &[12], "registry_add"),
    (SYSMON, &[12], "registry_delete"),
    (SYSMON, &[13], "registry_set"),
    (SYSMON, &[14], "registry_rename"),
    (SYSMON, &[15], "create_stream_hash"),
    (SYSMON, &[17, 18], "pipe_created"),
    (SYSMON, &[19, 20, 21], "wmi_event"),
    (SYSMON, &[22], "dns_query"),
    (SYSMON, &[23, 26], "file_delete"),
    (SYSMON, &[24], "clipboard_capture"),
    (SYSMON, &[25], "process_tampering"),
    (SYSMON, &[26], "file_delete_detected"),
    (SYSMON, &[27], "file_block_executable"),
    (SYSMON, &[28], "file_block_shredding"),
    (SYSMON, &[29], "file_executable_detected"),
    (SYSMON, &[255], "sysmon_error"),
    (PS, &[4104], "ps_script"),
    (PS_CORE, &[4104], "ps_script"),
    (PS, &[4103], "ps_module"),
    (PS_CORE, &[4103], "ps_module"),
    (PS_CLASSIC, &[400], "ps_classic_start"),
    (PS_CLASSIC, &[600], "ps_classic_provider_start"),
    (PS_CLASSIC, &[800], "ps_classic_script"),
];

/// Security 4688's fields under the names `process_creation` rules use
/// (Sysmon's): `(rule field, 4688 field)`. In 4688 `ProcessId` is the
/// creator, so it becomes `ParentProcessId`.
pub const PROCESS_CREATION_4688: &[(&str, &str)] = &[
    ("Image", "NewProcessName"),
    ("ParentImage", "ParentProcessName"),
    ("ProcessId", "NewProcessId"),
    ("ParentProcessId", "ProcessId"),
    ("User", "SubjectUserName"),
    ("LogonId", "SubjectLogonId"),
    ("IntegrityLevel", "MandatoryLabel"),
];

/// One log source a record belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Source {
    pub service: Option<&'static str>,
    pub category: Option<&'static str>,
    /// Fields renamed for this source (4688 as `process_creation`).
    pub renames: &'static [(&'static str, &'static str)],
}

/// The log sources of a record of `channel` with `event_id`: always the
/// product alone (with its service when the channel has one), then each
/// category.
pub fn sources(channel: Option<&str>, event_id: Option<u32>) -> Vec<Source> {
    let channel = channel.unwrap_or("");
    let service = SERVICES
        .iter()
        .find(|(c, _)| c.eq_ignore_ascii_case(channel))
        .map(|(_, s)| *s);
    let mut out = vec![Source {
        service,
        category: None,
        renames: &[],
    }];
    let Some(id) = event_id else {
        return out;
    };
    for (c, ids, category) in CATEGORIES {
        if c.eq_ignore_ascii_case(channel) && ids.contains(&id) {
            let renames = if id == 4688 {
                PROCESS_CREATION_4688
            } else {
                &[]
            };
            out.push(Source {
                service: None,
                category: Some(category),
                renames,
            });
        }
    }
    out
}

/// Every mapped channel with each event id the tables name for it, and
/// with no id; a channel in both tables comes more than once.
pub fn channel_ids() -> impl Iterator<Item = (&'static str, Option<u32>)> {
    let channels = SERVICES
        .iter()
        .map(|(c, _)| *c)
        .chain(CATEGORIES.iter().map(|(c, _, _)| *c));
    channels.flat_map(|c| {
        let ids = CATEGORIES
            .iter()
            .filter(move |(ch, _, _)| *ch == c)
            .flat_map(|(_, ids, _)| ids.iter().copied().map(Some));
        std::iter::once(None).chain(ids).map(move |id| (c, id))
    })
}

/// Every log source [`sources`] can return.
pub fn all_sources() -> Vec<Source> {
    let mut out: Vec<Source> = sources(Some(""), None);
    for (c, id) in channel_ids() {
        for s in sources(Some(c), id) {
            if !out
                .iter()
                .any(|o| (o.service, o.category) == (s.service, s.category))
            {
                out.push(s);
            }
        }
    }
    out
}

/// Whether a rule of log source `rule` is asked on records of `src`: what
/// the rule names (product, service, category) the source has, compared
/// ignoring case (Sigma's and rsigma's semantics).
pub fn compatible(rule: &rsigma_parser::LogSource, src: &Source) -> bool {
    let fits = |want: &Option<String>, have: Option<&str>| {
        want.as_deref()
            .is_none_or(|w| have.is_some_and(|h| h.eq_ignore_ascii_case(w)))
    };
    fits(&rule.product, Some("windows"))
        && fits(&rule.service, src.service)
        && fits(&rule.category, src.category)
}

/// The channels whose records a rule of log source `rule` can be asked
/// on, or `None` when records of any channel can (a rule naming only the
/// product). Derived from the tables above, so it cannot disagree with
/// [`sources`].
pub fn channels(rule: &rsigma_parser::LogSource) -> Option<Vec<&'static str>> {
    if sources(Some(""), None).iter().any(|s| compatible(rule, s)) {
        return None;
    }
    let mut out: Vec<&'static str> = Vec::new();
    for (channel, id) in channel_ids() {
        if !out.contains(&channel)
            && sources(Some(channel), id)
                .iter()
                .any(|s| compatible(rule, s))
        {
            out.push(channel);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_belongs_to_its_service_and_its_categories() {
        let s = sources(Some("microsoft-windows-sysmon/operational"), Some(12));
        let cats: Vec<_> = s.iter().filter_map(|s| s.category).collect();
        assert_eq!(s[0].service, Some("sysmon"));
        assert_eq!(cats, ["registry_event", "registry_add", "registry_delete"]);
        let s = sources(Some("Security"), Some(4688));
        assert_eq!(s[1].category, Some("process_creation"));
        assert_eq!(s[1].renames, PROCESS_CREATION_4688);
        let s = sources(Some("Some/Other"), None);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].service, None);
    }

    #[test]
    fn rules_reach_the_channels_of_their_sources() {
        let ls = |service: Option<&str>, category: Option<&str>| rsigma_parser::LogSource {
            product: Some("windows".into()),
            service: service.map(Into::into),
            category: category.map(Into::into),
            ..Default::default()
        };
        assert_eq!(
            channels(&ls(None, Some("process_creation"))),
            Some(vec!["Security", SYSMON])
        );
        assert_eq!(
            channels(&ls(Some("powershell"), None)),
            Some(vec![PS, PS_CORE])
        );
        assert_eq!(channels(&ls(None, None)), None);
        assert_eq!(channels(&ls(None, Some("no_such_category"))), Some(vec![]));
        let linux = rsigma_parser::LogSource {
            product: Some("linux".into()),
            ..Default::default()
        };
        assert_eq!(channels(&linux), Some(vec![]));
    }
}
