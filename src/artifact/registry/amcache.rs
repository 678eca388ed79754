//! Amcache.hve: the programs Windows inventoried as they ran or were
//! installed, each a key with its SHA-1, path, size and version, kept after
//! the file itself is gone. Two layouts: `Root\InventoryApplicationFile\<id>`
//! (Windows 10 and later: `FileId` is `0000` + SHA-1, `LowerCaseLongPath`,
//! `Name`, `Size` …) and the older `Root\File\<volume>\<id>` (values named
//! by number: `101` SHA-1, `15` path, `6` size, `0` product, `1` company,
//! `5` version).
//!
//! The hive's walk hands every item to [`Programs::offer`], which gathers a
//! program's values by its key; [`Programs::finish`] gives the programs.

use std::collections::HashMap;

use super::RegistryItem;
use crate::artifact::program::Program;

/// The programs of one hive, gathered as its items are walked.
#[derive(Default)]
pub struct Programs {
    by_key: HashMap<String, Program>,
}

/// Which layout a key belongs to, from its path below the mount point.
fn layout(key: &str) -> Option<&'static str> {
    let parts: Vec<&str> = key.split('\\').collect();
    let root = parts.iter().position(|p| p.eq_ignore_ascii_case("root"))?;
    match &parts[root + 1..] {
        [k, _] if k.eq_ignore_ascii_case("InventoryApplicationFile") => Some("amcache"),
        [k, _, _] if k.eq_ignore_ascii_case("File") => Some("amcache-file"),
        _ => None,
    }
}

impl Programs {
    /// Takes an item of the hive; true when it is a value of a program
    /// field (a SHA-1, path, name or size), which [`Programs::finish`]
    /// makes evidence of the program instead of the value.
    pub fn offer(&mut self, item: &RegistryItem) -> bool {
        let Some(source) = layout(&item.key) else {
            return false;
        };
        let program = self
            .by_key
            .entry(item.key.clone())
            .or_insert_with(|| Program {
                source: source.into(),
                key: item.key.clone(),
                last_written: item.last_written,
                deleted: item.deleted,
                ..Program::default()
            });
        let Some(v) = &item.value else { return false };
        let data = v.data.trim();
        let text = || (!data.is_empty()).then(|| data.to_string());
        let old = source == "amcache-file";
        match v.name.as_str() {
            "FileId" | "101" => {
                let sha1 = data.strip_prefix("0000").unwrap_or(data);
                if sha1.len() == 40 && sha1.bytes().all(|b| b.is_ascii_hexdigit()) {
                    program.sha1 = Some(sha1.to_ascii_lowercase());
                }
                true
            }
            "LowerCaseLongPath" | "15" => {
                program.path = text();
                true
            }
            "Name" if !old => {
                program.name = text();
                true
            }
            "Size" | "6" => {
                program.size = parse_number(data);
                true
            }
            "ProductName" | "0" => {
                program.product = text();
                false
            }
            "Publisher" | "1" => {
                program.publisher = text();
                false
            }
            "Version" | "5" => {
                program.version = text();
                false
            }
            "LinkDate" if !old => {
                program.link_date = text();
                false
            }
            _ => false,
        }
    }

    /// The programs seen, in key order; a program without a name is named
    /// by its path's last component.
    pub fn finish(self) -> Vec<Program> {
        let mut out: Vec<Program> =
            self.by_key
                .into_values()
                .filter(|p| p.sha1.is_some() || p.path.is_some() || p.name.is_some())
                .map(|mut p| {
                    if p.name.is_none() {
                        p.name = p.path.as_deref().map(|path| {
                            path.rsplit(['\\', '/']).next().unwrap_or(path).to_string()
                        });
                    }
                    p
                })
                .collect();
        out.sort_by(|a, b| (&a.key, a.deleted).cmp(&(&b.key, b.deleted)));
        out
    }
}

/// `0x7fac0` or `523968`, as Amcache writes sizes (string or number).
fn parse_number(s: &str) -> Option<u64> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::artifact::registry::RegistryValue;

    fn value(key: &str, name: &str, data: &str) -> RegistryItem {
        RegistryItem {
            hive: "amcache.hve".into(),
            key: key.into(),
            stored_key: None,
            value: Some(RegistryValue {
                name: name.into(),
                data_type: "REG_SZ".into(),
                data: data.into(),
                truncated: false,
            }),
            last_written: None,
            cell: 0,
            deleted: false,
            sid: None,
        }
    }

    #[test]
    fn both_layouts_give_programs() {
        let new = r"amcache.hve\Root\InventoryApplicationFile\x|1";
        let old = r"amcache.hve\Root\File\vol\10";
        let mut p = Programs::default();
        let sha1 = "0000186fef64c415af7d11986c7254db81ef65549ebc";
        assert!(p.offer(&value(new, "FileId", sha1)));
        assert!(p.offer(&value(new, "LowerCaseLongPath", r"c:\tools\evil.exe")));
        assert!(p.offer(&value(new, "Size", "0x7fac0")));
        assert!(!p.offer(&value(new, "BinaryType", "PE64_AMD64")));
        assert!(p.offer(&value(old, "15", r"C:\Windows\x.dll")));
        assert!(!p.offer(&value(r"amcache.hve\Root\File\vol", "101", sha1)));
        let got = p.finish();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].source, "amcache-file");
        assert_eq!(got[0].name.as_deref(), Some("x.dll"));
        assert_eq!(got[1].sha1.as_deref(), Some(&sha1[4..]));
        assert_eq!(got[1].size, Some(0x7fac0));
        assert_eq!(got[1].name.as_deref(), Some("evil.exe"));
    }
}
