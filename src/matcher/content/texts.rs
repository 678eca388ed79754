//! A set of texts numbered in the order they came: the texts laid end to
//! end, found by open addressing over their numbers.
//!
//! The content search's literals are interned here while the set is built
//! (a bundle may hold 100,000 network IOCs) and its token tables look
//! candidates up in one. A map of boxed texts took an allocation a text,
//! a rehash of every text as it grew, and reads of texts scattered over
//! the heap: most of the build's time for 100,000 IOCs.

use std::hash::BuildHasher as _;

#[derive(Default)]
pub(super) struct TextSet {
    /// The texts, one after another.
    text: String,
    /// Each text's end in `text` (its start is the one before's end): a
    /// `usize`, since several bundles of up to 4 GiB each may hold more
    /// text than a `u32` counts. The texts' numbers are `u32`s as the
    /// IOCs' are: a text is at most one a literal, a literal one an IOC.
    ends: Vec<usize>,
    /// Text number + 1 by hash, 0 for none; empty or a power of two at
    /// least twice the texts.
    slots: Vec<u32>,
}

impl TextSet {
    pub(super) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Text `i`.
    pub(super) fn get(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |p| self.ends[p]);
        &self.text[start..self.ends[i]]
    }

    fn hash(t: &[u8]) -> usize {
        foldhash::fast::FixedState::default().hash_one(t) as usize
    }

    /// The number of `t`, if it is in the set.
    pub(super) fn find(&self, t: &[u8]) -> Option<u32> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut at = Self::hash(t);
        loop {
            let i = self.slots[at & mask].checked_sub(1)?;
            if self.get(i as usize).as_bytes() == t {
                return Some(i);
            }
            at = at.wrapping_add(1);
        }
    }

    /// The number of `t`, added when it is new (`true`).
    pub(super) fn insert(&mut self, t: &str) -> (u32, bool) {
        if let Some(i) = self.find(t.as_bytes()) {
            return (i, false);
        }
        if 2 * (self.len() + 1) > self.slots.len() {
            self.grow();
        }
        let i = self.len() as u32;
        self.text.push_str(t);
        self.ends.push(self.text.len());
        self.place(i);
        (i, true)
    }

    /// Doubles the slots and places every text again.
    fn grow(&mut self) {
        self.slots = vec![0; (2 * self.slots.len()).max(16)];
        for i in 0..self.len() as u32 {
            self.place(i);
        }
    }

    /// Puts text `i` in the first free slot from its hash's.
    fn place(&mut self, i: u32) {
        let mask = self.slots.len() - 1;
        let mut at = Self::hash(self.get(i as usize).as_bytes());
        while self.slots[at & mask] != 0 {
            at = at.wrapping_add(1);
        }
        self.slots[at & mask] = i + 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_numbered_once_and_found_after_growing() {
        let mut set = TextSet::default();
        assert_eq!(set.find(b"a"), None);
        let words: Vec<String> = (0..1000).map(|n| format!("w{n}.example")).collect();
        for (n, w) in words.iter().enumerate() {
            assert_eq!(set.insert(w), (n as u32, true));
        }
        for (n, w) in words.iter().enumerate() {
            assert_eq!(set.insert(w), (n as u32, false));
            assert_eq!(set.find(w.as_bytes()), Some(n as u32));
            assert_eq!(set.get(n), w);
        }
        assert_eq!(set.find(b"w1000.example"), None);
        assert_eq!(set.find(b"w1.exampl"), None);
        assert_eq!(set.len(), 1000);
    }
}
