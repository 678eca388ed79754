//! The System values a screening names exactly: the record's event id and
//! channel, read where the walk is sure they are (the text of `System ›
//! EventID` and `System › Channel`), so that a filter can tell which rules
//! a record can meet before it is rendered. Anything else (a value met
//! twice with different text, a type this does not decode, an id past
//! 32 bits) leaves the fact unknown, which costs time, never a match.

use crate::artifact::SystemFacts;

/// Which System element a run of content belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum Field {
    /// Not a System value we name.
    #[default]
    None,
    /// The content of the `System` element itself.
    System,
    EventId,
    Channel,
}

impl Field {
    /// The field of an element named as `is_named` says, opened in content
    /// of field `self`; `system` when that element is `System` itself.
    pub(super) fn child(self, system: bool, is_named: impl Fn(&str) -> Option<bool>) -> Field {
        match self {
            _ if system => Field::System,
            Field::System if is_named("EventID") == Some(true) => Field::EventId,
            Field::System if is_named("Channel") == Some(true) => Field::Channel,
            _ => Field::None,
        }
    }
}

/// A value seen zero, one or several times.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
enum Slot<T> {
    #[default]
    Unseen,
    One(T),
    /// Seen with different values, or one that could not be read.
    Unknown,
}

impl<T: PartialEq> Slot<T> {
    fn put(&mut self, v: Option<T>) {
        *self = match (std::mem::take(self), v) {
            (Slot::Unseen, Some(v)) => Slot::One(v),
            (Slot::One(a), Some(b)) if a == b => Slot::One(a),
            _ => Slot::Unknown,
        };
    }

    fn get(&self) -> Option<&T> {
        match self {
            Slot::One(v) => Some(v),
            _ => None,
        }
    }
}

impl<T: PartialEq + Clone> Slot<T> {
    fn merge(&mut self, other: &Slot<T>) {
        match other {
            Slot::Unseen => {}
            Slot::One(v) => self.put(Some(v.clone())),
            Slot::Unknown => *self = Slot::Unknown,
        }
    }
}

/// What one record (or one template's static text) says of its event id
/// and channel.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Facts {
    event_id: Slot<u32>,
    channel: Slot<String>,
    /// Content the screener does not write as the renderer does was met
    /// (see `SystemFacts::verbatim`).
    inexact: bool,
}

impl Facts {
    /// Static text (UTF-16LE) met in the content of `field`.
    pub(super) fn text(&mut self, field: Field, utf16: &[u8]) {
        match field {
            Field::EventId => self.event_id.put(string(utf16).and_then(|s| event_id(&s))),
            Field::Channel => self.channel.put(string(utf16)),
            Field::None | Field::System => {}
        }
    }

    /// Content of `field` this does not decode (an entity, a character
    /// reference, CDATA, a processing instruction); the record's text is
    /// then no plain image of its values either.
    pub(super) fn unreadable(&mut self, field: Field) {
        self.inexact = true;
        match field {
            Field::EventId => self.event_id.put(None),
            Field::Channel => self.channel.put(None),
            Field::None | Field::System => {}
        }
    }

    /// A substitution value of type `ty` used as the text of `field`.
    pub(super) fn value(&mut self, field: Field, ty: u8, v: &[u8]) {
        match (field, ty) {
            (Field::EventId | Field::Channel, 0x01) => self.text(field, v),
            (Field::EventId, _) => self.event_id.put(unsigned(ty, v)),
            (Field::Channel, _) => self.channel.put(None),
            (Field::None | Field::System, _) => {}
        }
    }

    /// BinXML read without knowing which System element it sits in (a
    /// nested fragment or template instance inside the System block): it
    /// may hold the EventID or the Channel, which are then unknown.
    pub(super) fn untracked(&mut self) {
        self.event_id.put(None);
        self.channel.put(None);
    }

    /// Adds what a template's static text says.
    pub(super) fn merge(&mut self, other: &Facts) {
        self.event_id.merge(&other.event_id);
        self.channel.merge(&other.channel);
        self.inexact |= other.inexact;
    }

    /// An event id present but not read could be any id, under which the
    /// record may belong to log sources its channel alone does not give
    /// (Sysmon's event 1 is process creation): the channel is then not
    /// named either, so that no filter narrows by it.
    pub(super) fn get(&self) -> SystemFacts<'_> {
        let id_unread = self.event_id == Slot::Unknown;
        SystemFacts {
            channel: self
                .channel
                .get()
                .filter(|_| !id_unread)
                .map(String::as_str),
            event_id: self.event_id.get().copied(),
            verbatim: !self.inexact,
        }
    }
}

/// The id as the record's rendering reads it (see `evtx_json`).
fn event_id(s: &str) -> Option<u32> {
    s.trim().parse().ok()
}

/// UTF-16LE text as the crate renders it (trailing NULs dropped); `None`
/// when it is not plain text.
fn string(utf16: &[u8]) -> Option<String> {
    let units: Vec<u16> = utf16
        .chunks_exact(2)
        .map(|p| u16::from_le_bytes([p[0], p[1]]))
        .collect();
    let s = String::from_utf16(&units).ok()?;
    let s = s.trim_end_matches('\0');
    (!s.chars().any(char::is_control)).then(|| s.to_string())
}

/// An unsigned integer value (types 0x04, 0x06, 0x08, 0x0a) that fits 32
/// bits.
fn unsigned(ty: u8, v: &[u8]) -> Option<u32> {
    let n: u64 = match (ty, v.len()) {
        (0x04, 1) => u64::from(v[0]),
        (0x06, 2) => u64::from(u16::from_le_bytes([v[0], v[1]])),
        (0x08, 4) => u64::from(u32::from_le_bytes(v.try_into().ok()?)),
        (0x0a, 8) => u64::from_le_bytes(v.try_into().ok()?),
        _ => return None,
    };
    u32::try_from(n).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utf16(s: &str) -> Vec<u8> {
        s.encode_utf16().flat_map(u16::to_le_bytes).collect()
    }

    #[test]
    fn a_fact_is_known_only_when_every_sighting_agrees() {
        let mut f = Facts::default();
        assert_eq!(f.get().event_id, None);
        f.value(Field::EventId, 0x06, &4688u16.to_le_bytes());
        f.text(Field::Channel, &utf16("Security\0"));
        assert_eq!(f.get().event_id, Some(4688));
        assert_eq!(f.get().channel, Some("Security"));
        f.text(Field::EventId, &utf16(" 4688 "));
        assert_eq!(f.get().event_id, Some(4688));
        f.text(Field::EventId, &utf16("4624"));
        assert_eq!(f.get().event_id, None);
        let mut g = Facts::default();
        g.value(Field::EventId, 0x0a, &(1u64 << 40).to_le_bytes());
        assert_eq!(g.get().event_id, None);
        let mut h = Facts::default();
        h.value(Field::Channel, 0x01, &utf16("Sec\u{1}"));
        assert_eq!(h.get().channel, None);
        // BinXML inside the System block: neither is known, nor is the
        // channel named (no filter narrows by it).
        let mut u = Facts::default();
        u.text(Field::Channel, &utf16("Security"));
        u.value(Field::EventId, 0x06, &1u16.to_le_bytes());
        u.untracked();
        assert_eq!((u.get().channel, u.get().event_id), (None, None));
        let mut t = Facts::default();
        t.text(Field::Channel, &utf16("System"));
        let mut r = Facts::default();
        r.merge(&t);
        assert_eq!(r.get().channel, Some("System"));
        r.unreadable(Field::Channel);
        assert_eq!(r.get().channel, None);
    }
}
