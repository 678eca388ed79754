//! Registry hives as evidence: every key and value of a hive file, its path
//! written the way `RegistryKey` IOCs write it (`HKLM\SOFTWARE\…`,
//! `HKLM\SYSTEM\CurrentControlSet\…`, `HKCU\…`), its data decoded by type.
//!
//! `hive` reads the file; this module names where the hive was mounted
//! (from the file's name, else the path the hive records of itself) and
//! turns keys and values into [`RegistryItem`]s, one at a time, for the
//! matcher.

pub mod amcache;
pub mod deleted;
pub mod hive;
pub mod log;
pub mod profiles;

use serde::{Deserialize, Serialize};

use hive::{Damage, Hive, Key, Value};

/// Whether a file starting with `head` is a registry hive (primary or log).
pub fn is_hive(head: &[u8]) -> bool {
    head.starts_with(b"regf")
}

/// One key, or one value of a key, of a hive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryItem {
    /// The hive's mount point (`HKLM\SOFTWARE`, `HKCU` …), as IOCs write it.
    pub hive: String,
    /// The key's full path as IOCs write it (the current control set as
    /// `CurrentControlSet`).
    pub key: String,
    /// The key's path as stored, when it differs (`ControlSet001`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_key: Option<String>,
    /// The value, for a value item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<RegistryValue>,
    /// The key's last write (its values have none of their own).
    pub last_written: Option<jiff::Timestamp>,
    /// Offset of the key's (or value's) cell after the base block.
    pub cell: u32,
    /// Recovered from the hive's free cells: deleted, still readable.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub deleted: bool,
    /// The owner of a user's hive (NTUSER.DAT, UsrClass.dat), from the
    /// ProfileList of the SOFTWARE hive beside it: its `HKCU\…` keys are
    /// also `HKU\<sid>\…`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RegistryValue {
    /// Empty for the key's default value.
    pub name: String,
    /// `REG_SZ`, `REG_DWORD` …
    #[serde(rename = "type")]
    pub data_type: String,
    /// The data as text: strings as they are (a multi-string's items one a
    /// line), numbers in decimal, anything else in hex.
    pub data: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

impl RegistryItem {
    /// The path an IOC naming this item is matched against: the key's, or
    /// the key's and the value's name (`…\Run\Updater`).
    pub fn path(&self) -> String {
        match &self.value {
            Some(v) => format!("{}\\{}", self.key, v.name),
            None => self.key.clone(),
        }
    }

    /// The stored form of [`Self::path`], when the key's differs.
    pub fn stored_path(&self) -> Option<String> {
        let stored = self.stored_key.as_ref()?;
        Some(match &self.value {
            Some(v) => format!("{stored}\\{}", v.name),
            None => stored.clone(),
        })
    }

    /// The value's data as strings to match IOCs in (string types only).
    pub fn strings(&self) -> impl Iterator<Item = &str> {
        let text = self
            .value
            .as_ref()
            .filter(|v| {
                matches!(
                    v.data_type.as_str(),
                    "REG_SZ" | "REG_EXPAND_SZ" | "REG_MULTI_SZ" | "REG_LINK"
                )
            })
            .map_or("", |v| v.data.as_str());
        text.lines().filter(|l| !l.trim().is_empty())
    }
}

/// Applies the transaction logs beside the dirty hive file `hive` on the
/// host to its bytes (see [`log::recover`]), read through `read`; a log
/// that cannot be read is said in `stopped`, and `logs` counts those found.
pub fn replay_host_logs(
    hive: &std::path::Path,
    bytes: &mut Vec<u8>,
    limit: usize,
    read: impl Fn(&std::path::Path) -> std::io::Result<Vec<u8>>,
) -> log::Recovery {
    let mut logs = Vec::new();
    let mut unreadable = Vec::new();
    for (name, r) in host_logs(hive, read) {
        match r {
            Ok(b) => logs.push((name, b)),
            Err(e) => unreadable.push(format!("{name}: {e}")),
        }
    }
    let views: Vec<(String, &[u8])> = logs.iter().map(|(n, b)| (n.clone(), &b[..])).collect();
    let mut r = log::recover(bytes, &views, limit);
    r.logs = logs.len() + unreadable.len();
    r.stopped.extend(unreadable);
    r
}

/// The transaction logs beside the hive file `hive` on the host
/// (`NAME.LOG1`, `NAME.LOG2`, `NAME.LOG`, in any case), in the order they
/// are applied, read through `read` (evidence-safe, bounded by the caller).
fn host_logs(
    hive: &std::path::Path,
    read: impl Fn(&std::path::Path) -> std::io::Result<Vec<u8>>,
) -> Vec<(String, std::io::Result<Vec<u8>>)> {
    let (Some(dir), Some(name)) = (hive.parent(), hive.file_name()) else {
        return Vec::new();
    };
    let name = name.to_string_lossy().to_lowercase();
    let Ok(listing) = std::fs::read_dir(if dir.as_os_str().is_empty() {
        std::path::Path::new(".")
    } else {
        dir
    }) else {
        return Vec::new();
    };
    let mut found: Vec<(usize, std::path::PathBuf, String)> = listing
        .flatten()
        .filter_map(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            let rank = [".log1", ".log2", ".log"]
                .iter()
                .position(|ext| n.to_lowercase() == format!("{name}{ext}"))?;
            Some((rank, e.path(), n))
        })
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|(_, path, n)| (n, read(&path)))
        .collect()
}

/// Where a hive is mounted, from its file name (`SOFTWARE`, `NTUSER.DAT`
/// …), else from the path it records of itself; `None` for a file that is
/// no known hive (its keys are then named under its file name).
pub fn mount_point(file_name: &str, recorded: &str) -> Option<&'static str> {
    let by_name = |n: &str| -> Option<&'static str> {
        Some(match n.to_ascii_uppercase().as_str() {
            "SYSTEM" => "HKLM\\SYSTEM",
            "SOFTWARE" => "HKLM\\SOFTWARE",
            "SAM" => "HKLM\\SAM",
            "SECURITY" => "HKLM\\SECURITY",
            "COMPONENTS" => "HKLM\\COMPONENTS",
            "DRIVERS" => "HKLM\\DRIVERS",
            "BCD" | "BCD00000000" => "HKLM\\BCD00000000",
            "DEFAULT" => "HKU\\.DEFAULT",
            "NTUSER.DAT" => "HKCU",
            "USRCLASS.DAT" => "HKCU\\Software\\Classes",
            _ => return None,
        })
    };
    let last = |p: &str| p.rsplit(['\\', '/']).next().unwrap_or("").to_string();
    by_name(&last(file_name)).or_else(|| by_name(&last(recorded)))
}

/// Whether a hive mounted at `mount` is a user's (NTUSER.DAT,
/// UsrClass.dat), whose keys are also named under its owner's SID.
pub fn is_user_mount(mount: &str) -> bool {
    mount == "HKCU" || mount.starts_with("HKCU\\")
}

/// Reads every key and value of the hive file `bytes`, named under its
/// mount point, handing each to `visit`; `sid` is the owner of a user's
/// hive, when known. What could not be read is returned as damage. `Err`
/// when the file is no hive at all.
pub fn scan(
    bytes: &[u8],
    file_name: &str,
    sid: Option<&str>,
    mut visit: impl FnMut(&RegistryItem),
) -> Result<Vec<Damage>, String> {
    let h = Hive::new(bytes)?;
    // A transaction log (.LOG1, .LOG2) starts as a hive does; its entries
    // are not keys. It is hashed and matched as a file.
    if h.base.file_type != 0 {
        return Ok(Vec::new());
    }
    let file = file_name.rsplit(['\\', '/']).next().unwrap_or(file_name);
    let mount =
        mount_point(file_name, &h.base.file_name).map_or_else(|| file.to_string(), str::to_string);
    let mut damage = Vec::new();
    let current = (mount == "HKLM\\SYSTEM")
        .then(|| current_control_set(&h, &mut damage))
        .flatten();
    let mut item = RegistryItem {
        hive: mount.clone(),
        key: String::new(),
        stored_key: None,
        value: None,
        last_written: None,
        cell: 0,
        deleted: false,
        sid: sid.map(str::to_string),
    };
    let mut values_damage = Vec::new();
    // A key's path as IOCs write it, and as stored when that differs.
    let named = |below: &str| {
        let stored = if below.is_empty() {
            mount.clone()
        } else {
            format!("{mount}\\{below}")
        };
        let n = current
            .as_deref()
            .and_then(|cs| rename_control_set(below, cs));
        let key = n.map_or_else(|| stored.clone(), |n| format!("{mount}\\{n}"));
        let stored = (key != stored).then_some(stored);
        (key, stored)
    };
    h.walk(&mut damage, |below, key| {
        (item.key, item.stored_key) = named(below);
        item.last_written = filetime(key.last_written);
        item.cell = key.cell;
        item.value = None;
        visit(&item);
        for v in h.values(key, &mut values_damage) {
            item.cell = v.cell;
            item.value = Some(decode(&v));
            visit(&item);
        }
    });
    damage.extend(values_damage);
    // Then what deleted keys and values left in free cells.
    item.deleted = true;
    for found in deleted::recover(&h) {
        match found {
            deleted::Found::Key { below, key, values } => {
                (item.key, item.stored_key) = named(&below);
                item.last_written = filetime(key.last_written);
                item.cell = key.cell;
                item.value = None;
                visit(&item);
                for v in values {
                    item.cell = v.cell;
                    item.value = Some(decode(&v));
                    visit(&item);
                }
            }
            deleted::Found::Value(v) => {
                (item.key, item.stored_key) = named("?");
                item.last_written = None;
                item.cell = v.cell;
                item.value = Some(decode(&v));
                visit(&item);
            }
        }
    }
    Ok(damage)
}

/// The `ControlSet00N` that `Select\Current` names.
fn current_control_set(h: &Hive, damage: &mut Vec<Damage>) -> Option<String> {
    let root = h.key(h.base.root).ok()?;
    let select = find_child(h, &root, "Select", damage)?;
    let current = h
        .values(&select, damage)
        .into_iter()
        .find(|v| v.name.eq_ignore_ascii_case("Current"))?;
    let n = u32::from_le_bytes(current.data.get(..4)?.try_into().ok()?);
    Some(format!("ControlSet{n:03}"))
}

fn find_child(h: &Hive, key: &Key, name: &str, damage: &mut Vec<Damage>) -> Option<Key> {
    h.subkeys(key, damage)
        .into_iter()
        .filter_map(|off| h.key(off).ok())
        .find(|k| k.name.eq_ignore_ascii_case(name))
}

/// `path` with its first component `current` (the current control set)
/// named `CurrentControlSet`; `None` when it is not under it.
fn rename_control_set(path: &str, current: &str) -> Option<String> {
    let (first, rest) = path.split_once('\\').unwrap_or((path, ""));
    first.eq_ignore_ascii_case(current).then(|| {
        if rest.is_empty() {
            "CurrentControlSet".to_string()
        } else {
            format!("CurrentControlSet\\{rest}")
        }
    })
}

/// A FILETIME (100 ns since 1601) as a timestamp; `None` for zero or out
/// of range.
pub fn filetime(ft: u64) -> Option<jiff::Timestamp> {
    const UNIX_EPOCH: i128 = 116_444_736_000_000_000;
    if ft == 0 {
        return None;
    }
    let nanos = (i128::from(ft) - UNIX_EPOCH) * 100;
    jiff::Timestamp::from_nanosecond(nanos).ok()
}

/// The name of value type `t`.
pub fn type_name(t: u32) -> String {
    match t {
        0 => "REG_NONE".into(),
        1 => "REG_SZ".into(),
        2 => "REG_EXPAND_SZ".into(),
        3 => "REG_BINARY".into(),
        4 => "REG_DWORD".into(),
        5 => "REG_DWORD_BIG_ENDIAN".into(),
        6 => "REG_LINK".into(),
        7 => "REG_MULTI_SZ".into(),
        8 => "REG_RESOURCE_LIST".into(),
        9 => "REG_FULL_RESOURCE_DESCRIPTOR".into(),
        10 => "REG_RESOURCE_REQUIREMENTS_LIST".into(),
        11 => "REG_QWORD".into(),
        other => format!("0x{other:x}"),
    }
}

/// Hex shown of binary data at most (the rest is cut, said with `…`).
const MAX_HEX: usize = 512;

/// A value with its data as text (see [`RegistryValue::data`]).
pub fn decode(v: &Value) -> RegistryValue {
    let d = &v.data;
    let utf16 = |b: &[u8]| -> Vec<String> {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|p| u16::from_le_bytes([p[0], p[1]]))
            .collect();
        units
            .split(|&u| u == 0)
            .map(String::from_utf16_lossy)
            .collect()
    };
    let data = match v.data_type {
        1 | 2 | 6 => utf16(d).into_iter().next().unwrap_or_default(),
        7 => utf16(d)
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("\n"),
        4 if d.len() >= 4 => u32::from_le_bytes([d[0], d[1], d[2], d[3]]).to_string(),
        5 if d.len() >= 4 => u32::from_be_bytes([d[0], d[1], d[2], d[3]]).to_string(),
        11 if d.len() >= 8 => u64::from_le_bytes(d[..8].try_into().unwrap_or([0; 8])).to_string(),
        _ if d.len() > MAX_HEX => format!("{}…", hex::encode(&d[..MAX_HEX])),
        _ => hex::encode(d),
    };
    RegistryValue {
        name: v.name.clone(),
        data_type: type_name(v.data_type),
        data,
        truncated: v.truncated,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hives_are_mounted_where_iocs_name_them() {
        assert_eq!(
            mount_point("/Windows/System32/config/SOFTWARE", ""),
            Some("HKLM\\SOFTWARE")
        );
        assert_eq!(mount_point("/Users/bob/NTUSER.DAT", ""), Some("HKCU"));
        assert_eq!(
            mount_point(
                "copy-of-hive.bin",
                "\\??\\C:\\Windows\\System32\\config\\SYSTEM"
            ),
            Some("HKLM\\SYSTEM")
        );
        assert_eq!(mount_point("x.bin", "emRoot\\System32\\Config\\what"), None);
        assert_eq!(
            rename_control_set("ControlSet002\\Services\\x", "ControlSet002").as_deref(),
            Some("CurrentControlSet\\Services\\x")
        );
        assert_eq!(
            rename_control_set("ControlSet001\\Services", "ControlSet002"),
            None
        );
    }

    #[test]
    fn values_are_decoded_by_type() {
        let v = |t, data: Vec<u8>| {
            decode(&Value {
                cell: 0,
                name: "n".into(),
                data_type: t,
                data,
                truncated: false,
            })
            .data
        };
        let wide = |s: &str| {
            s.encode_utf16()
                .flat_map(u16::to_le_bytes)
                .collect::<Vec<u8>>()
        };
        assert_eq!(v(1, wide("C:\\x.exe\0")), "C:\\x.exe");
        assert_eq!(v(7, wide("a\0b\0\0")), "a\nb");
        assert_eq!(v(4, 7u32.to_le_bytes().to_vec()), "7");
        assert_eq!(v(5, 7u32.to_be_bytes().to_vec()), "7");
        assert_eq!(v(11, u64::MAX.to_le_bytes().to_vec()), u64::MAX.to_string());
        assert_eq!(v(3, vec![0xde, 0xad]), "dead");
        assert!(v(3, vec![0; 2000]).ends_with('…'));
    }
}
