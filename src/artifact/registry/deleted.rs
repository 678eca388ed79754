//! Deleted keys and values: records a hive still holds in its free cells.
//!
//! Windows frees a deleted key's cells without wiping them, and merges a
//! freed cell with free neighbours, so old `nk` and `vk` records sit at the
//! start of a free cell or at any 8-byte boundary inside a merged one. A
//! key found there is named through its parent offset while the parent is
//! a live key (else its path starts with `?`), and its values are read
//! from its value list if that still holds; a value no recovered key
//! lists is reported on its own. What does not parse as a plausible record
//! is left alone: free space is not damage.

use std::collections::HashSet;

use super::hive::{Hive, Key, Value};

/// A record found in free space.
pub enum Found {
    /// A deleted key: its path below the hive's root and its values.
    Key {
        below: String,
        key: Key,
        values: Vec<Value>,
    },
    /// A deleted value whose key is not known.
    Value(Value),
}

/// Parent links followed at most (a deeper chain is named from `?`).
const MAX_DEPTH: usize = 512;

/// Every deleted key and value the free cells of `h` hold.
pub fn recover(h: &Hive) -> Vec<Found> {
    let mut keys = Vec::new();
    let mut value_cells = Vec::new();
    for (off, data) in h.free_cells() {
        for p in (0..data.len().saturating_sub(1)).step_by(8) {
            // The record's data starts at `off + 4 + p`: its cell (size
            // field first) at `off + p`.
            let cell = off + p as u32;
            match &data[p..p + 2] {
                b"nk" => {
                    if let Some(k) = h.key_in(cell, true).ok().filter(plausible_key) {
                        keys.push(k);
                    }
                }
                b"vk" => value_cells.push(cell),
                _ => {}
            }
        }
    }
    let mut listed = HashSet::new();
    let mut out = Vec::new();
    for key in keys {
        let mut ignored = Vec::new();
        let values: Vec<Value> = h
            .values_in(&key, true, &mut ignored)
            .into_iter()
            .filter(plausible_value)
            .collect();
        listed.extend(values.iter().map(|v| v.cell));
        let below = match path_of(h, key.parent) {
            Some(p) if p.is_empty() => key.name.clone(),
            Some(p) => format!("{p}\\{}", key.name),
            None => format!("?\\{}", key.name),
        };
        out.push(Found::Key { below, key, values });
    }
    for cell in value_cells {
        if listed.contains(&cell) {
            continue;
        }
        if let Some(v) = h.value_in(cell, true).ok().filter(plausible_value) {
            out.push(Found::Value(v));
        }
    }
    out
}

/// The path below the root of the live key at `off` (empty for the root);
/// `None` when the chain does not reach the root through live keys.
fn path_of(h: &Hive, mut off: u32) -> Option<String> {
    let mut names = Vec::new();
    let mut seen = HashSet::new();
    for _ in 0..MAX_DEPTH {
        if off == h.base.root {
            names.reverse();
            return Some(names.join("\\"));
        }
        if !seen.insert(off) {
            return None;
        }
        let k = h.key(off).ok()?;
        names.push(k.name);
        off = k.parent;
    }
    None
}

/// A key record in free space worth reporting: a name of printable
/// characters and a time of its own.
fn plausible_key(k: &Key) -> bool {
    !k.name.is_empty() && k.last_written != 0 && k.name.chars().all(|c| !c.is_control())
}

/// A value record in free space worth reporting: a known type and a name
/// of printable characters.
fn plausible_value(v: &Value) -> bool {
    v.data_type <= 11 && v.name.chars().all(|c| !c.is_control())
}
