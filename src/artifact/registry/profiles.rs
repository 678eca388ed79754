//! Whose is a user's hive: the SOFTWARE hive's
//! `Microsoft\Windows NT\CurrentVersion\ProfileList\<SID>\ProfileImagePath`
//! names each account's profile folder (`C:\Users\bob`); the NTUSER.DAT in
//! that folder (and the UsrClass.dat below it) is mounted at `HKU\<SID>`.
//! Paths here are `/`-separated inside one volume or host folder, lower
//! case, with no leading `/`.

use super::RegistryItem;

const PROFILE_LIST: &str = "hklm\\software\\microsoft\\windows nt\\currentversion\\profilelist\\";

/// One account's profile: its SID and the folder it names, as a path
/// inside the volume (`users/bob`), relative to the system's root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub sid: String,
    pub folder: String,
    pub deleted: bool,
}

/// The profile a SOFTWARE hive's item records, if it is a
/// `ProfileList\<SID>` key's `ProfileImagePath`.
pub fn profile_of(item: &RegistryItem) -> Option<Profile> {
    let value = item.value.as_ref()?;
    if !value.name.eq_ignore_ascii_case("ProfileImagePath") {
        return None;
    }
    let key = item.key.to_lowercase();
    let sid = key.strip_prefix(PROFILE_LIST)?;
    if !crate::matcher::hkey::is_sid(sid) {
        return None;
    }
    let folder = folder_of(value.data.lines().next()?)?;
    Some(Profile {
        sid: item.key[item.key.len() - sid.len()..].to_string(),
        folder,
        deleted: item.deleted,
    })
}

/// `%SystemDrive%\Users\bob` or `C:\Users\bob` as `users/bob`; `None` for
/// a folder on no drive we can place (a UNC path, a variable we do not
/// know).
fn folder_of(path: &str) -> Option<String> {
    let p = path.trim().replace('/', "\\").to_lowercase();
    let rest = if let Some(r) = p.strip_prefix("%systemdrive%") {
        r.to_string()
    } else if let Some(r) = p
        .strip_prefix("%systemroot%")
        .or_else(|| p.strip_prefix("%windir%"))
    {
        format!("windows{r}")
    } else if p.len() >= 2 && p.as_bytes()[0].is_ascii_alphabetic() && p.as_bytes()[1] == b':' {
        p[2..].to_string()
    } else {
        return None;
    };
    let folder: Vec<&str> = rest.split('\\').filter(|s| !s.is_empty()).collect();
    (!folder.is_empty() && !folder.iter().any(|s| *s == ".." || s.contains('%')))
        .then(|| folder.join("/"))
}

/// The system's root for the SOFTWARE hive at `path`: the folder holding
/// `Windows/System32/config/` (or its `RegBack`), else the hive's own
/// folder (hives copied out loose, their users' folders beside them).
pub fn system_root(path: &str) -> String {
    let p = path.to_lowercase();
    let p = p.trim_start_matches('/');
    for tail in [
        "windows/system32/config/regback/software",
        "windows/system32/config/software",
    ] {
        if let Some(root) = p.strip_suffix(tail)
            && (root.is_empty() || root.ends_with('/'))
        {
            return root.to_string();
        }
    }
    p.rsplit_once('/')
        .map_or_else(String::new, |(dir, _)| format!("{dir}/"))
}

/// The SID of the user's hive at `path`, among `profiles` each under its
/// system root: the profile whose folder holds the hive, the innermost one
/// when several do, a live entry over a deleted one.
pub fn owner<'a>(
    profiles: impl IntoIterator<Item = (&'a str, &'a Profile)>,
    path: &str,
) -> Option<&'a str> {
    let p = path.to_lowercase();
    let p = p.trim_start_matches('/');
    profiles
        .into_iter()
        .filter(|(root, prof)| {
            p.strip_prefix(root)
                .and_then(|r| r.strip_prefix(prof.folder.as_str()))
                .is_some_and(|r| r.starts_with('/'))
        })
        .max_by_key(|(root, prof)| (root.len() + prof.folder.len(), !prof.deleted))
        .map(|(_, prof)| prof.sid.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::registry::RegistryValue;

    fn item(key: &str, name: &str, data: &str) -> RegistryItem {
        RegistryItem {
            hive: "HKLM\\SOFTWARE".into(),
            key: key.into(),
            stored_key: None,
            value: Some(RegistryValue {
                name: name.into(),
                data_type: "REG_EXPAND_SZ".into(),
                data: data.into(),
                truncated: false,
            }),
            last_written: None,
            cell: 0,
            deleted: false,
            sid: None,
        }
    }

    const LIST: &str = r"HKLM\SOFTWARE\Microsoft\Windows NT\CurrentVersion\ProfileList";

    #[test]
    fn profiles_are_read_from_profile_list() {
        let p = profile_of(&item(
            &format!(r"{LIST}\S-1-5-21-1-2-3-1001"),
            "ProfileImagePath",
            r"C:\Users\Bob",
        ))
        .unwrap();
        assert_eq!(
            (p.sid.as_str(), p.folder.as_str()),
            ("S-1-5-21-1-2-3-1001", "users/bob")
        );
        let sys = item(
            &format!(r"{LIST}\S-1-5-18"),
            "ProfileImagePath",
            r"%systemroot%\system32\config\systemprofile",
        );
        assert_eq!(
            profile_of(&sys).unwrap().folder,
            "windows/system32/config/systemprofile"
        );
        // Not a profile path, not a SID, a UNC folder.
        assert!(profile_of(&item(&format!(r"{LIST}\S-1-5-18"), "Flags", "C:\\x")).is_none());
        assert!(
            profile_of(&item(
                &format!(r"{LIST}\Other"),
                "ProfileImagePath",
                "C:\\x"
            ))
            .is_none()
        );
        assert!(
            profile_of(&item(
                &format!(r"{LIST}\S-1-5-20"),
                "ProfileImagePath",
                r"\\srv\x"
            ))
            .is_none()
        );
    }

    #[test]
    fn a_users_hive_belongs_to_the_profile_that_holds_it() {
        assert_eq!(system_root("/Windows/System32/config/SOFTWARE"), "");
        assert_eq!(system_root("C/Windows/System32/config/SOFTWARE"), "c/");
        assert_eq!(
            system_root("c/windows/system32/config/RegBack/SOFTWARE"),
            "c/"
        );
        assert_eq!(system_root("case/hives/SOFTWARE"), "case/hives/");
        assert_eq!(system_root("SOFTWARE"), "");
        let bob = Profile {
            sid: "S-1-5-21-1-2-3-1001".into(),
            folder: "users/bob".into(),
            deleted: false,
        };
        let bobby = Profile {
            sid: "S-1-5-21-1-2-3-1002".into(),
            folder: "users/bobby".into(),
            deleted: false,
        };
        let all = || [("c/", &bob), ("c/", &bobby)];
        assert_eq!(
            owner(all(), "C/Users/Bob/NTUSER.DAT"),
            Some("S-1-5-21-1-2-3-1001")
        );
        assert_eq!(
            owner(
                all(),
                "/c/Users/bobby/AppData/Local/Microsoft/Windows/UsrClass.dat"
            ),
            Some("S-1-5-21-1-2-3-1002")
        );
        // Another system's copy of the same folder, a folder outside.
        assert_eq!(owner(all(), "d/Users/bob/NTUSER.DAT"), None);
        assert_eq!(owner(all(), "c/Users/NTUSER.DAT"), None);
        // A live entry wins over a deleted one for the same folder.
        let old = Profile {
            sid: "S-1-5-21-9-9-9-1001".into(),
            deleted: true,
            ..bob.clone()
        };
        assert_eq!(
            owner([("c/", &old), ("c/", &bob)], "c/users/bob/ntuser.dat"),
            Some("S-1-5-21-1-2-3-1001")
        );
    }
}
