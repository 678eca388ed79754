//! Builds a [`Record`] straight from the evtx crate's JSON rendering of one
//! event, with serde visitors: no intermediate `serde_json::Value` tree
//! (which, with the `preserve_order` feature the crate enables, is an
//! `IndexMap` per object and dominated the parse profile).
//!
//! Shape: `{"Event": {"System": {"Provider": {"#attributes": {"Name": …}},
//! "EventID": 4624 | "4624" | {"#attributes": …, "#text": 4624}, "Channel",
//! "Computer", "Security": {"#attributes": {"UserID"}}}, "EventData": {…},
//! "UserData": {…}}}`.

use std::fmt;
use std::ops::Deref;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::Record;

/// Fills `rec` from one record's JSON; on an error `rec` is as it was (the
/// caller retries with control characters escaped, and a first attempt that
/// failed after the System block must not leave its values twice). `rec`
/// comes with its header's values only: copying it is cheap.
pub fn fill_record(json: &[u8], rec: &mut Record) -> Result<(), serde_json::Error> {
    let mut filled = rec.clone();
    let mut de = serde_json::Deserializer::from_slice(json);
    RootSeed { rec: &mut filled }.deserialize(&mut de)?;
    de.end()?;
    *rec = filled;
    Ok(())
}

/// Attributes of data elements are rendering details: dropped from the
/// pairs `data[from..]`.
fn drop_attributes(data: &mut Vec<(String, String)>, from: usize) {
    let mut i = 0;
    data.retain(|(k, _)| {
        i += 1;
        i <= from || !k.starts_with('@')
    });
}

/// One child element of System, flattened into `pairs` (see `Flatten`),
/// applied to `rec` (`binxml::fill` builds the same pairs).
pub(super) fn apply_system(rec: &mut Record, key: &str, pairs: &[(String, String)]) {
    // After flattening, an element's text is under its own name and its
    // attributes under theirs.
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    match key {
        "Provider" => rec.provider = get("@Name"),
        "EventID" => rec.event_id = get("EventID").and_then(|s| s.trim().parse().ok()),
        "Channel" => rec.channel = get("Channel"),
        "Computer" => rec.computer = get("Computer"),
        "Security" => rec.user = get("@UserID"),
        "Level" | "Task" | "Opcode" | "Keywords" | "Version" => {
            if let Some(v) = get(key) {
                rec.system.push((key.to_string(), v));
            }
        }
        "Execution" => {
            for (k, v) in pairs {
                if let Some(name) = k.strip_prefix('@') {
                    rec.system.push((name.to_string(), v.clone()));
                }
            }
        }
        // The number Event Viewer shows; the header's number (already in
        // `record_id`) stays when the block has none.
        "EventRecordID" => {
            if let Some(id) = get("EventRecordID").and_then(|s| s.trim().parse().ok()) {
                rec.record_id = id;
            }
        }
        _ => {}
    }
}

/// A map key, borrowed from the input when it has no escapes (serde's `Cow`
/// always allocates, and keys are most of the strings in a record).
enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Deref for Key<'_> {
    type Target = str;
    fn deref(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> serde::Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a key")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(v))
            }
        }
        d.deserialize_str(V)
    }
}

struct RootSeed<'a> {
    rec: &'a mut Record,
}

impl<'de> DeserializeSeed<'de> for RootSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // `any`, not `map`: an element can render as null (empty events).
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for RootSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an event object")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            if &*key == "Event" {
                map.next_value_seed(EventSeed {
                    rec: &mut *self.rec,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

struct EventSeed<'a> {
    rec: &'a mut Record,
}

impl<'de> DeserializeSeed<'de> for EventSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // `any`, not `map`: an element can render as null (empty events).
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for EventSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the Event element")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key {
                "System" => map.next_value_seed(SystemSeed {
                    rec: &mut *self.rec,
                })?,
                "EventData" | "UserData" => {
                    let from = self.rec.data.len();
                    map.next_value_seed(Flatten {
                        name: &key,
                        out: &mut self.rec.data,
                    })?;
                    drop_attributes(&mut self.rec.data, from);
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

struct SystemSeed<'a> {
    rec: &'a mut Record,
}

impl<'de> DeserializeSeed<'de> for SystemSeed<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // `any`, not `map`: an element can render as null (empty events).
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for SystemSeed<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("the System element")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let mut pairs = Vec::new();
            map.next_value_seed(Flatten {
                name: &key,
                out: &mut pairs,
            })?;
            apply_system(self.rec, &key, &pairs);
        }
        Ok(())
    }
}

/// Flattens a JSON subtree into `(name, value)` pairs named by the innermost
/// element: `{"Image": "x"}` → `Image`; `#text` takes its element's name;
/// arrays repeat the name; `#attributes` children are `@Attr` (kept only for
/// System, where the caller asks for them, and dropped from data).
struct Flatten<'a> {
    name: &'a str,
    out: &'a mut Vec<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl Flatten<'_> {
    fn push(self, v: String) {
        self.out.push((self.name.to_string(), v));
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("event data")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            match &*key {
                "#attributes" => map.next_value_seed(Attributes {
                    out: &mut *self.out,
                })?,
                "#text" => map.next_value_seed(Flatten {
                    name: self.name,
                    out: &mut *self.out,
                })?,
                k => map.next_value_seed(Flatten {
                    name: k,
                    out: &mut *self.out,
                })?,
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq
            .next_element_seed(Flatten {
                name: self.name,
                out: &mut *self.out,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_string<E>(self, v: String) -> Result<(), E> {
        self.push(v);
        Ok(())
    }
    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.push(v.to_string());
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// `#attributes` objects: kept as `@Name` pairs.
struct Attributes<'a> {
    out: &'a mut Vec<(String, String)>,
}

impl<'de> DeserializeSeed<'de> for Attributes<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        // `any`, not `map`: an element can render as null (empty events).
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Attributes<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("attributes")
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<Key<'de>>()? {
            let name = format!("@{}", &*key);
            map.next_value_seed(Flatten {
                name: &name,
                out: &mut *self.out,
            })?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn empty() -> Record {
        Record::default()
    }

    #[test]
    fn null_elements_are_empty_not_errors() {
        for json in [
            r#"{"Event": null}"#,
            r#"{"Event": {"System": null, "EventData": null}}"#,
        ] {
            let mut r = empty();
            fill_record(json.as_bytes(), &mut r).unwrap();
            assert_eq!(r, empty(), "{json}");
        }
    }

    #[test]
    fn a_failed_fill_leaves_the_record_as_it_was() {
        let mut r = empty();
        r.record_id = 7;
        let bad = b"{\"Event\": {\"System\": {\"Level\": 4, \"Channel\": \"S\", \"EventRecordID\": 9}, \"EventData\": {\"a\": \"b\", \"c\": \"x\x01\"}}}";
        assert!(fill_record(bad, &mut r).is_err());
        let mut expected = empty();
        expected.record_id = 7;
        assert_eq!(r, expected);
    }

    #[test]
    fn escaped_keys_are_read() {
        let mut r = empty();
        fill_record(br#"{"Event": {"EventData": {"Na\u006de": "v"}}}"#, &mut r).unwrap();
        assert_eq!(r.data, vec![("Name".to_string(), "v".to_string())]);
    }
}
