//! A slice of a directory tree: the entries whose paths fall in a half-open
//! range `[from, to)` of the tree's walk order (children sorted by name
//! bytes, parents before children). A batch splits a big tree into slices
//! scanned by different workers; every entry, and every problem found at a
//! path, falls in exactly one slice, so the slices' reports add up to the
//! report of the whole tree (`report merge` joins them).

use std::cmp::Ordering;
use std::ffi::OsStr;
use std::path::{Component, Path};

use serde::{Deserialize, Serialize};

/// The range, as paths relative to the tree's root with `/` between
/// components; `None` is the tree's start (for `from`) or end (for `to`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Slice {
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub to: Option<String>,
}

impl Slice {
    /// Whether the entry at `rel` (relative to the root; empty for the root
    /// itself) belongs to this slice.
    pub fn contains(&self, rel: &Path) -> bool {
        let p = components(rel);
        self.from
            .as_deref()
            .is_none_or(|f| compare(&p, &split(f)) != Ordering::Less)
            && self
                .to
                .as_deref()
                .is_none_or(|t| compare(&p, &split(t)) == Ordering::Less)
    }

    /// Whether the directory at `rel` may hold entries of this slice, so
    /// the walk must enter it.
    pub fn may_enter(&self, rel: &Path) -> bool {
        let d = components(rel);
        let before_end = self
            .to
            .as_deref()
            .is_none_or(|t| compare(&d, &split(t)) == Ordering::Less);
        let reaches_start = self.from.as_deref().is_none_or(|f| {
            let f = split(f);
            compare(&d, &f) != Ordering::Less || f.starts_with(&d)
        });
        before_end && reaches_start
    }

    /// Whether this slice is the whole tree.
    pub fn is_whole(&self) -> bool {
        self.from.is_none() && self.to.is_none()
    }
}

/// Slices, in walk order, joined where one ends where the next starts;
/// `None` when two overlap (then they are not slices of one partition).
pub fn join(mut slices: Vec<Slice>) -> Option<Vec<Slice>> {
    fn key(s: &Slice) -> Option<Vec<&[u8]>> {
        s.from.as_deref().map(split)
    }
    slices.sort_by(|a, b| match (key(a), key(b)) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(x), Some(y)) => compare(&x, &y),
    });
    let mut out: Vec<Slice> = Vec::with_capacity(slices.len());
    for s in slices {
        if let Some(last) = out.last_mut() {
            let overlap = match (&last.to, &s.from) {
                (None, _) | (_, None) => true,
                (Some(end), Some(start)) => {
                    compare(&split(end), &split(start)) == Ordering::Greater
                }
            };
            if overlap {
                return None;
            }
            if last.to == s.from {
                last.to = s.to;
                continue;
            }
        }
        out.push(s);
    }
    Some(out)
}

fn components(rel: &Path) -> Vec<&[u8]> {
    use std::os::unix::ffi::OsStrExt;
    rel.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(OsStr::as_bytes(n)),
            _ => None,
        })
        .collect()
}

fn split(s: &str) -> Vec<&[u8]> {
    s.split('/')
        .filter(|c| !c.is_empty())
        .map(str::as_bytes)
        .collect()
}

/// Walk order: component by component, each compared as bytes (what a
/// walk with children sorted by name gives).
fn compare(a: &[&[u8]], b: &[&[u8]]) -> Ordering {
    a.cmp(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(from: Option<&str>, to: Option<&str>) -> Slice {
        Slice {
            from: from.map(Into::into),
            to: to.map(Into::into),
        }
    }

    #[test]
    fn ranges_follow_walk_order() {
        let a = s(None, Some("b/c"));
        let b = s(Some("b/c"), None);
        for (p, in_a) in [
            ("", true),
            ("a", true),
            ("b", true),
            ("b/b", true),
            ("b/c", false),
            ("b/c/x", false),
            ("b/d", false),
            ("ba", false),
            ("c", false),
        ] {
            assert_eq!(a.contains(Path::new(p)), in_a, "{p}");
            assert_eq!(b.contains(Path::new(p)), !in_a, "{p}");
        }
        // `b` holds entries of both; `a` only of the first, `c` of the second.
        assert!(a.may_enter(Path::new("b")) && b.may_enter(Path::new("b")));
        assert!(a.may_enter(Path::new("a")) && !b.may_enter(Path::new("a")));
        assert!(!a.may_enter(Path::new("c")) && b.may_enter(Path::new("c")));
        // Byte order, not a locale's: "B" < "a".
        assert!(s(None, Some("a")).contains(Path::new("B")));
    }

    #[test]
    fn slices_join_into_the_whole_tree_or_refuse_overlaps() {
        let parts = vec![
            s(Some("m"), None),
            s(None, Some("g")),
            s(Some("g"), Some("m")),
        ];
        assert_eq!(join(parts).unwrap(), vec![Slice::default()]);
        let gap = join(vec![s(None, Some("g")), s(Some("m"), None)]).unwrap();
        assert_eq!(gap.len(), 2);
        assert!(join(vec![s(None, Some("m")), s(Some("g"), None)]).is_none());
        assert!(join(vec![s(None, None), s(None, Some("a"))]).is_none());
    }
}
