//! Registry key paths, spelt as `RegistryKey` IOCs spell them. One key has
//! several names: a user's keys are `HKU\<SID>\…` in event logs and in
//! IOCs written on a live machine, `HKCU\…` in IOCs written for "the
//! user", and the merged `HKCR\…` view covers both `HKLM\SOFTWARE\Classes`
//! and a user's classes (`HKU\<SID>_Classes`, `HKCU\Software\Classes`). A
//! key is matched under each of its names, so an IOC finds it however it
//! was written.

/// A key path in lower case with its root abbreviated (`hklm\…`, `hku\…`),
/// however it was written (`HKEY_LOCAL_MACHINE\`, `\REGISTRY\MACHINE\`,
/// `Registry::`).
pub fn normalize_registry(s: &str) -> String {
    let mut k = s.trim().replace('/', "\\").to_lowercase();
    const ROOTS: [(&str, &str); 7] = [
        ("\\registry\\machine\\", "hklm\\"),
        ("\\registry\\user\\", "hku\\"),
        ("hkey_local_machine\\", "hklm\\"),
        ("hkey_current_user\\", "hkcu\\"),
        ("hkey_users\\", "hku\\"),
        ("hkey_classes_root\\", "hkcr\\"),
        ("registry::", ""),
    ];
    for (from, to) in ROOTS {
        if let Some(rest) = k.strip_prefix(from) {
            k = format!("{to}{rest}");
        }
    }
    k
}

/// The other names of the normalised key path `key` (not `key` itself):
/// `hku\<sid>\x` is also `hkcu\x`, `hku\<sid>_classes\x` also
/// `hkcu\software\classes\x` and `hkcr\x`, a machine's or a user's
/// `…\software\classes\x` also `hkcr\x`. `sid` is the owner of a user's
/// hive read from disk (where keys are named `hkcu\…`): its keys are then
/// also `hku\<sid>\…` (and `hku\<sid>_classes\…`).
pub fn other_names(key: &str, sid: Option<&str>) -> Vec<String> {
    let mut out = Vec::new();
    let join = |root: &str, rest: &str| {
        if rest.is_empty() {
            root.to_string()
        } else {
            format!("{root}\\{rest}")
        }
    };
    let split = |k: &str| -> (String, String) {
        let (first, rest) = k.split_once('\\').unwrap_or((k, ""));
        (first.to_string(), rest.to_string())
    };
    // The user's part of the key (below `hkcu`), if it is a user's key.
    let user_rest = if let Some(rest) = key.strip_prefix("hku\\") {
        let (who, rest) = split(rest);
        if who.strip_suffix("_classes").is_some_and(is_sid) {
            out.push(join("hkcu\\software\\classes", &rest));
            out.push(join("hkcr", &rest));
            None
        } else if is_sid(&who) {
            out.push(join("hkcu", &rest));
            Some(rest)
        } else {
            None
        }
    } else if key == "hkcu" {
        Some(String::new())
    } else {
        key.strip_prefix("hkcu\\").map(str::to_string)
    };
    if let Some(rest) = &user_rest {
        let classes = classes_below(rest);
        if let Some(c) = &classes {
            out.push(join("hkcr", c));
        }
        if let Some(sid) = sid.map(str::to_lowercase) {
            out.push(join(&format!("hku\\{sid}"), rest));
            if let Some(c) = &classes {
                out.push(join(&format!("hku\\{sid}_classes"), c));
            }
        }
    }
    if let Some(rest) = key.strip_prefix("hklm\\")
        && let Some(c) = classes_below(rest)
    {
        out.push(join("hkcr", &c));
    }
    out
}

/// `x` of `software\classes\x` (or `""` for the classes key itself).
fn classes_below(rest: &str) -> Option<String> {
    const CLASSES: &str = "software\\classes";
    let tail = rest.strip_prefix(CLASSES)?;
    if tail.is_empty() {
        Some(String::new())
    } else {
        tail.strip_prefix('\\').map(str::to_string)
    }
}

/// A security identifier as written in a key name (`s-1-5-21-…`).
pub fn is_sid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("s-1-").or_else(|| s.strip_prefix("S-1-")) else {
        return false;
    };
    !rest.is_empty()
        && rest
            .split('-')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// Whether the normalised IOC key `key` names one user by SID
/// (`hku\s-1-5-21-…\…`): such an IOC needs the owner of a user's hive.
pub fn names_user_sid(key: &str) -> bool {
    key.strip_prefix("hku\\").is_some_and(|rest| {
        let who = rest.split('\\').next().unwrap_or("");
        is_sid(who.strip_suffix("_classes").unwrap_or(who))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SID: &str = "S-1-5-21-1111-2222-3333-1001";

    #[test]
    fn user_keys_have_their_sid_and_hkcu_names() {
        let sid = SID.to_lowercase();
        let k = format!("hku\\{sid}\\software\\run");
        assert_eq!(other_names(&k, None), vec!["hkcu\\software\\run"]);
        let k = format!("hku\\{sid}_classes\\ms-settings\\shell");
        assert_eq!(
            other_names(&k, None),
            vec![
                "hkcu\\software\\classes\\ms-settings\\shell",
                "hkcr\\ms-settings\\shell"
            ]
        );
        assert_eq!(
            other_names("hkcu\\software\\run", Some(SID)),
            vec![format!("hku\\{sid}\\software\\run")]
        );
        assert_eq!(
            other_names("hkcu\\software\\classes\\x", Some(SID)),
            vec![
                "hkcr\\x".to_string(),
                format!("hku\\{sid}\\software\\classes\\x"),
                format!("hku\\{sid}_classes\\x"),
            ]
        );
        assert_eq!(other_names("hkcu", Some(SID)), vec![format!("hku\\{sid}")]);
        assert_eq!(
            other_names("hklm\\software\\classes\\cls", None),
            vec!["hkcr\\cls"]
        );
        // Not a user's key, not a SID, not under classes.
        assert!(other_names("hku\\.default\\software", None).is_empty());
        assert!(other_names("hklm\\software\\classesx\\y", None).is_empty());
        assert!(other_names("hkcu\\software\\run", None).is_empty());
    }

    #[test]
    fn sids_are_recognised() {
        assert!(is_sid("s-1-5-18"));
        assert!(is_sid(SID));
        assert!(!is_sid("s-1-"));
        assert!(!is_sid("s-1-5-x"));
        assert!(!is_sid(".default"));
        assert!(names_user_sid("hku\\s-1-5-21-1-2-3-1001\\software"));
        assert!(names_user_sid("hku\\s-1-5-21-1-2-3-1001_classes\\x"));
        assert!(!names_user_sid("hku\\.default\\software"));
        assert!(!names_user_sid("hkcu\\software"));
    }

    #[test]
    fn roots_are_abbreviated() {
        assert_eq!(
            normalize_registry(r"\REGISTRY\MACHINE\SOFTWARE\Run"),
            normalize_registry(r"HKEY_LOCAL_MACHINE\Software\Run")
        );
        assert_eq!(
            normalize_registry(r"HKEY_USERS\S-1-5-18\X"),
            "hku\\s-1-5-18\\x"
        );
    }
}
