//! An event record as Sigma rules see it: the System block's fields
//! (`EventID`, `Channel`, `Provider_Name`, `Computer`, `Level`, …) and the
//! EventData/UserData fields by name, read straight from the [`Record`]
//! (no JSON tree is built per record). A name that repeats (unnamed
//! `<Data>` elements) is an array: a rule matches when any item does.

use std::borrow::Cow;

use rsigma_eval::{Event, EventValue};
use serde_json::{Map, Value};

use crate::artifact::Record;

/// A record under one log source's field names.
pub struct RecordEvent<'a> {
    rec: &'a Record,
    /// System fields as `(name, value)`, built once per record.
    system: &'a [(&'static str, Cow<'a, str>)],
    /// `(rule field, record field)`: read the second under the first name
    /// (see `logsource::PROCESS_CREATION_4688`).
    renames: &'static [(&'static str, &'static str)],
}

/// The System fields of `rec` that rules can name.
pub fn system_fields(rec: &Record) -> Vec<(&'static str, Cow<'_, str>)> {
    let mut out: Vec<(&'static str, Cow<'_, str>)> = Vec::with_capacity(12);
    if let Some(id) = rec.event_id {
        out.push(("EventID", Cow::Owned(id.to_string())));
    }
    let named = [
        ("Channel", &rec.channel),
        ("Provider_Name", &rec.provider),
        ("Computer", &rec.computer),
        ("UserID", &rec.user),
    ];
    for (name, v) in named {
        if let Some(v) = v {
            out.push((name, Cow::Borrowed(v.as_str())));
        }
    }
    out.push(("EventRecordID", Cow::Owned(rec.record_id.to_string())));
    if let Some(t) = rec.timestamp {
        out.push(("TimeCreated", Cow::Owned(t.to_string())));
    }
    for (k, v) in &rec.system {
        if let Some(name) = SYSTEM_NAMES.iter().find(|n| **n == k.as_str()) {
            out.push((name, Cow::Borrowed(v.as_str())));
        }
    }
    out
}

/// Every value a rule can read from `rec` (the data fields, renamed or
/// not, and the System fields), in ASCII lower case, NUL-separated: the
/// text the prefilter's second pass searches.
pub fn lower_text(rec: &Record, system: &[(&'static str, Cow<'_, str>)]) -> Vec<u8> {
    let values = rec
        .data
        .iter()
        .map(|(_, v)| v.as_str())
        .chain(system.iter().map(|(_, v)| v.as_ref()));
    let mut out = Vec::with_capacity(1024);
    for v in values {
        super::literals::fold_lower(v, &mut out);
        out.push(0);
    }
    out
}

/// The other System values a record keeps (see `Record::system`).
const SYSTEM_NAMES: &[&str] = &[
    "Level",
    "Task",
    "Opcode",
    "Keywords",
    "Version",
    "ProcessID",
    "ThreadID",
];

impl<'a> RecordEvent<'a> {
    pub fn new(
        rec: &'a Record,
        system: &'a [(&'static str, Cow<'a, str>)],
        renames: &'static [(&'static str, &'static str)],
    ) -> Self {
        RecordEvent {
            rec,
            system,
            renames,
        }
    }

    fn data(&self, name: &str) -> Option<EventValue<'_>> {
        let mut found = self
            .rec
            .data
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| EventValue::Str(Cow::Borrowed(v.as_str())));
        let first = found.next()?;
        match found.next() {
            None => Some(first),
            Some(second) => {
                let mut all = vec![first, second];
                all.extend(found);
                Some(EventValue::Array(all))
            }
        }
    }
}

impl Event for RecordEvent<'_> {
    fn get_field(&self, path: &str) -> Option<EventValue<'_>> {
        // A renamed field reads its source (4688's `ProcessId` under
        // process_creation is `NewProcessId`; its own is `ParentProcessId`).
        if let Some((_, from)) = self.renames.iter().find(|(to, _)| *to == path) {
            return self.data(from);
        }
        if let Some((_, v)) = self.system.iter().find(|(k, _)| *k == path) {
            return Some(EventValue::Str(Cow::Borrowed(v)));
        }
        self.data(path)
    }

    fn any_string_value(&self, pred: &dyn Fn(&str) -> bool) -> bool {
        self.rec.data.iter().any(|(_, v)| pred(v)) || self.system.iter().any(|(_, v)| pred(v))
    }

    fn all_string_values(&self) -> Vec<Cow<'_, str>> {
        let data = self.rec.data.iter().map(|(_, v)| Cow::Borrowed(v.as_str()));
        let system = self.system.iter().map(|(_, v)| Cow::Borrowed(v.as_ref()));
        data.chain(system).collect()
    }

    fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (k, v) in self.system {
            map.insert((*k).to_string(), Value::String(v.to_string()));
        }
        for (k, _) in &self.rec.data {
            if !map.contains_key(k)
                && let Some(v) = self.get_field(k)
            {
                map.insert(k.clone(), value_json(&v));
            }
        }
        for (to, _) in self.renames {
            if let Some(v) = self.get_field(to) {
                map.insert((*to).to_string(), value_json(&v));
            }
        }
        Value::Object(map)
    }
}

fn value_json(v: &EventValue) -> Value {
    match v {
        EventValue::Array(items) => Value::Array(items.iter().map(value_json).collect()),
        other => other
            .as_str()
            .map_or(Value::Null, |s| Value::String(s.into_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_repeat_as_arrays_and_4688_reads_as_process_creation() {
        let rec = Record {
            event_id: Some(4688),
            channel: Some("Security".into()),
            data: vec![
                ("NewProcessName".into(), "C:\\x.exe".into()),
                ("ProcessId".into(), "0x10".into()),
                ("Data".into(), "a".into()),
                ("Data".into(), "b".into()),
            ],
            ..Record::default()
        };
        let sys = system_fields(&rec);
        let plain = RecordEvent::new(&rec, &sys, &[]);
        assert_eq!(
            plain.get_field("EventID"),
            Some(EventValue::Str("4688".into()))
        );
        assert_eq!(
            plain.get_field("ProcessId"),
            Some(EventValue::Str("0x10".into()))
        );
        assert!(matches!(plain.get_field("Data"), Some(EventValue::Array(a)) if a.len() == 2));
        let pc = RecordEvent::new(&rec, &sys, crate::sigma::logsource::PROCESS_CREATION_4688);
        assert_eq!(
            pc.get_field("Image"),
            Some(EventValue::Str("C:\\x.exe".into()))
        );
        assert_eq!(
            pc.get_field("ParentProcessId"),
            Some(EventValue::Str("0x10".into()))
        );
        assert_eq!(pc.get_field("ProcessId"), None);
    }
}
