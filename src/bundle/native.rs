//! The native JSON bundle (DESIGN.md §3.2) and the legacy Defender ATP
//! threat-intelligence API spelling of the same model.
//!
//! Accepted shapes:
//! - `{"alertDefinitions": [...], "iocs": [...]}` (camelCase or PascalCase);
//! - the API's bulk-upload bodies `{"alertDefinitions": [...]}` / `{"iocs": [...]}`;
//! - the API's collection envelope `{"@odata.context": "...#AlertDefinitions", "value": [...]}`,
//!   where each element is classified by the context or, without one, by its
//!   fields;
//! - a bare array of entries, classified the same way.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer};

use super::draft::{Draft, DraftAlert, DraftIoc, Entry, Place};
use super::error::BundleError;
use super::locate;
use super::model::{AlertDefinition, DetectionFunction, IocType, Severity};
use super::value;
use std::path::Path;

/// One element of any list: the union of alert-definition and IOC fields, so
/// the envelope's mixed lists parse in one pass.
#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
pub(super) struct RawEntry<'a> {
    #[serde(alias = "Id", alias = "ID", deserialize_with = "opt_id")]
    pub(super) id: Option<String>,
    #[serde(alias = "Name")]
    name: Option<String>,
    #[serde(alias = "Title")]
    title: Option<String>,
    #[serde(alias = "Severity", borrow)]
    severity: Option<Cow<'a, str>>,
    #[serde(alias = "Category")]
    category: Option<String>,
    #[serde(
        alias = "UxDescription",
        alias = "uxDescription",
        alias = "Description"
    )]
    description: Option<String>,
    #[serde(alias = "InternalDescription")]
    internal_description: Option<String>,
    #[serde(alias = "RecommendedAction", alias = "recommendedActions")]
    recommended_action: Option<String>,
    #[serde(alias = "MitreTechniques", deserialize_with = "opt_string_list")]
    mitre_techniques: Option<Vec<String>>,
    #[serde(alias = "Enabled", deserialize_with = "opt_bool")]
    enabled: Option<bool>,
    /// Borrowed from the text where it has no escapes: read once, turned
    /// into an enum, and there are a million of them in big bundles.
    #[serde(rename = "type", alias = "Type", borrow)]
    kind: Option<Cow<'a, str>>,
    #[serde(alias = "Value")]
    value: Option<String>,
    #[serde(alias = "DetectionFunction", borrow)]
    detection_function: Option<Cow<'a, str>>,
    #[serde(alias = "ExpiresAt")]
    expires_at: Option<String>,
    /// An IOC's own description (`iocDescription`; `description` is taken
    /// by alert definitions in the union).
    #[serde(alias = "IocDescription", alias = "comment", alias = "Comment")]
    ioc_description: Option<String>,
    /// False-positive regex (see `Ioc::exclude`).
    exclude: Option<String>,
    #[serde(alias = "AlertDefinitionId", deserialize_with = "opt_id")]
    alert_definition_id: Option<String>,
    #[serde(
        rename = "AlertDefinition@odata.bind",
        alias = "alertDefinition@odata.bind"
    )]
    odata_bind: Option<String>,
    /// `$expand=AlertDefinition` nests the whole definition; its id is the
    /// reference.
    #[serde(alias = "AlertDefinition")]
    alert_definition: Option<NestedRef>,
}

#[derive(Deserialize, Default)]
#[serde(default, rename_all = "camelCase")]
struct NestedRef {
    #[serde(alias = "Id", alias = "ID", deserialize_with = "opt_id")]
    id: Option<String>,
}

pub(super) const ALERTS_KEYS: &[&str] = &["alertDefinitions"];
pub(super) const IOCS_KEYS: &[&str] = &["iocs", "indicatorsOfCompromise"];
pub(super) const VALUE_KEYS: &[&str] = &["value"];

/// Parses a native or legacy-Defender bundle. `text` has no byte order mark.
///
/// Entries are checked one by one as the JSON parser reaches them (a
/// streaming visitor), so a million-IOC bundle never exists twice in memory
/// as raw entries and as drafts.
pub fn parse(path: &Path, text: &[u8]) -> Result<Draft, Vec<BundleError>> {
    if let Some(result) = super::native_par::parse(path, text) {
        return result;
    }
    parse_streaming(path, text)
}

/// The one-pass parse every document can take (see [`parse`]).
pub(super) fn parse_streaming(path: &Path, text: &[u8]) -> Result<Draft, Vec<BundleError>> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let mut ctx = Ctx::new(path, text);
    let mut de = serde_json::Deserializer::from_slice(text);
    let parsed = if first == Some(b'[') {
        ctx.draft.format = "defender-ti-api";
        ctx.lists += 1;
        de::DeserializeSeed::deserialize(
            ListSeed {
                ctx: &mut ctx,
                label: "[]",
                keys: &[],
                class: Class::ByFields,
            },
            &mut de,
        )
    } else {
        de::DeserializeSeed::deserialize(FileSeed(&mut ctx), &mut de)
    };
    parsed
        .and_then(|()| de.end())
        .map_err(|e| vec![BundleError::json(path, "bundle JSON", &e)])?;
    if ctx.lists == 0 {
        return Err(vec![BundleError::file(
            path,
            "no \"alertDefinitions\", \"iocs\" or \"value\" list: not a breachscan/Defender bundle",
        )]);
    }
    if ctx.errors.is_empty() {
        Ok(ctx.draft)
    } else {
        Err(ctx.errors)
    }
}

/// The list a top-level key names, under any of its spellings.
pub(super) fn list_of(key: &str) -> Option<&'static str> {
    match key {
        "alertDefinitions" | "AlertDefinitions" => Some("alertDefinitions"),
        "iocs" | "Iocs" | "IOCs" | "IndicatorsOfCompromise" | "indicatorsOfCompromise" => {
            Some("iocs")
        }
        "value" => Some("value"),
        _ => None,
    }
}

/// How the entries of a list are told apart.
#[derive(Clone, Copy)]
pub(super) enum Class {
    Alerts,
    Iocs,
    /// The API envelope: by its `@odata.context` when it came first, else
    /// by each entry's fields.
    ByFields,
}

impl Class {
    /// For the API envelope's `value` list.
    pub(super) fn for_context(context: Option<&str>) -> Class {
        match context {
            Some(c) if c.ends_with("#AlertDefinitions") => Class::Alerts,
            Some(c) if c.ends_with("#IndicatorsOfCompromise") => Class::Iocs,
            _ => Class::ByFields,
        }
    }
}

/// The top-level object: its lists are visited in place.
struct FileSeed<'c, 'a>(&'c mut Ctx<'a>);

impl<'de> de::DeserializeSeed<'de> for FileSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> de::Visitor<'de> for FileSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a bundle object")
    }

    fn visit_map<M: de::MapAccess<'de>>(self, mut map: M) -> Result<(), M::Error> {
        let ctx = self.0;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let (label, keys, class): (&'static str, &[&[&str]], Class) = match list_of(&key) {
                Some("alertDefinitions") => ("alertDefinitions", &[ALERTS_KEYS], Class::Alerts),
                Some("iocs") => ("iocs", &[IOCS_KEYS], Class::Iocs),
                Some(_) => {
                    ctx.draft.format = "defender-ti-api";
                    let class = Class::for_context(ctx.context.as_deref());
                    ("value", &[VALUE_KEYS], class)
                }
                None if key == "@odata.context" => {
                    ctx.context = map.next_value::<Option<String>>()?;
                    continue;
                }
                None => {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
            };
            ctx.lists += 1;
            map.next_value_seed(ListSeed {
                ctx: &mut *ctx,
                label,
                keys,
                class,
            })?;
        }
        Ok(())
    }
}

/// One list of entries, each checked as soon as it is parsed.
struct ListSeed<'c, 'a> {
    ctx: &'c mut Ctx<'a>,
    label: &'static str,
    keys: &'static [&'static [&'static str]],
    class: Class,
}

impl<'de> de::DeserializeSeed<'de> for ListSeed<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> de::Visitor<'de> for ListSeed<'_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a list of entries")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<S: de::SeqAccess<'de>>(self, mut seq: S) -> Result<(), S::Error> {
        let ctx = self.ctx;
        let offsets = locate::element_offsets(ctx.text, self.keys);
        let positions = locate::line_cols(ctx.text, &offsets);
        match self.class {
            Class::Alerts => ctx.draft.alerts.reserve(offsets.len()),
            _ => ctx.draft.iocs.reserve(offsets.len()),
        }
        let mut index = 0;
        while let Some(raw) = seq.next_element::<RawEntry<'de>>()? {
            let pos = positions.get(index).copied().unwrap_or((0, 0));
            let object_at = offsets.get(index).copied();
            ctx.take(raw, self.class, (self.label, index), pos, object_at);
            index += 1;
        }
        Ok(())
    }
}

impl RawEntry<'_> {
    fn looks_like_ioc(&self) -> bool {
        self.kind.is_some()
            || self.detection_function.is_some()
            || self.alert_definition_id.is_some()
            || self.odata_bind.is_some()
            || self.alert_definition.is_some()
    }
}

pub(super) struct Ctx<'a> {
    path: &'a Path,
    text: &'a [u8],
    pub(super) errors: Vec<BundleError>,
    pub(super) draft: Draft,
    /// The API envelope's `@odata.context`, once seen.
    context: Option<String>,
    /// Lists met so far (none: not a bundle of ours).
    lists: usize,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(path: &'a Path, text: &'a [u8]) -> Self {
        Ctx {
            path,
            text,
            errors: Vec::new(),
            draft: Draft {
                format: "native",
                ..Draft::default()
            },
            context: None,
            lists: 0,
        }
    }

    /// Checks one entry of a list and keeps it as a draft (or its errors).
    /// `entry` is the list and index, `pos` its line and column, `object_at`
    /// its byte offset (for the position of a field named in an error).
    pub(super) fn take(
        &mut self,
        raw: RawEntry<'_>,
        class: Class,
        entry: (&'static str, usize),
        pos: (usize, usize),
        object_at: Option<usize>,
    ) {
        let at = Place {
            file: 0,
            entry: Entry::Indexed(entry.0, entry.1),
            id: raw.id.clone(),
            line: pos.0,
            column: pos.1,
        };
        let is_ioc = match class {
            Class::Alerts => false,
            Class::Iocs => true,
            Class::ByFields => raw.looks_like_ioc(),
        };
        if is_ioc {
            self.take_ioc(raw, at, object_at);
        } else {
            self.take_alert(raw, at, object_at);
        }
    }

    fn field_error(
        &mut self,
        at: &Place,
        object_at: Option<usize>,
        field: &str,
        keys: &[&str],
        message: String,
    ) {
        let mut err = at.error(self.path, message);
        err.field = Some(field.to_string());
        if let Some(off) = object_at.and_then(|o| locate::field_offset(self.text, o, keys)) {
            let (l, c) = locate::line_col(self.text, off);
            err.line = Some(l);
            err.column = Some(c);
        }
        self.errors.push(err);
    }

    fn take_alert(&mut self, raw: RawEntry<'_>, at: Place, object_at: Option<usize>) {
        let before = self.errors.len();
        let Some(id) = raw.id.clone() else {
            let e = at.error(
                self.path,
                "alert definition has no \"id\"; IOCs refer to alert definitions by id".into(),
            );
            self.errors.push(e);
            return;
        };
        let name = raw
            .name
            .clone()
            .or_else(|| raw.title.clone())
            .unwrap_or_default();
        if name.trim().is_empty() {
            self.field_error(
                &at,
                object_at,
                "name",
                &["name"],
                "alert definition has no name".into(),
            );
        }
        let severity = match raw.severity.as_deref() {
            None => {
                self.field_error(
                    &at,
                    object_at,
                    "severity",
                    &["severity"],
                    "missing; one of Informational, Low, Medium, High".into(),
                );
                Severity::Informational
            }
            Some(s) => Severity::parse(s).unwrap_or_else(|| {
                self.field_error(
                    &at,
                    object_at,
                    "severity",
                    &["severity"],
                    format!("{s:?} is not a severity; one of Informational, Low, Medium, High"),
                );
                Severity::Informational
            }),
        };
        if self.errors.len() > before {
            return;
        }
        self.draft.alerts.push(DraftAlert {
            def: AlertDefinition {
                id,
                name: name.trim().to_string(),
                title: raw.title,
                severity,
                category: raw.category,
                description: raw.description,
                internal_description: raw.internal_description,
                recommended_action: raw.recommended_action,
                mitre_techniques: raw.mitre_techniques.unwrap_or_default(),
                enabled: raw.enabled.unwrap_or(true),
            },
            at,
        });
    }

    fn take_ioc(&mut self, raw: RawEntry<'_>, at: Place, object_at: Option<usize>) {
        let before = self.errors.len();
        let kind = match raw.kind.as_deref() {
            None => {
                self.field_error(&at, object_at, "type", &["type"], "missing IOC type".into());
                None
            }
            Some(t) => IocType::parse(t).or_else(|| {
                let known: Vec<_> = IocType::ALL.iter().map(|t| t.as_str()).collect();
                self.field_error(
                    &at,
                    object_at,
                    "type",
                    &["type"],
                    format!("unknown IOC type {t:?}; known: {}", known.join(", ")),
                );
                None
            }),
        };
        let function = match raw.detection_function.as_deref() {
            None => Some(DetectionFunction::Equals),
            Some(f) => DetectionFunction::parse(f).or_else(|| {
                self.field_error(&at, object_at, "detectionFunction", &["detectionFunction"],
                    format!("unknown detection function {f:?}; known: Equals, StartWith, EndWith, Contains, Regex"));
                None
            }),
        };
        let value = raw
            .value
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_string();
        if let (Some(kind), Some(function)) = (kind, function) {
            let keys = &["detectionFunction"];
            if let Err(msg) = value::check_function(kind, function) {
                self.field_error(&at, object_at, "detectionFunction", keys, msg);
            } else if let Err(msg) = value::check(kind, function, &value) {
                self.field_error(&at, object_at, "value", &["value"], msg);
            }
        }
        let expires_at = match raw.expires_at.as_deref().filter(|s| !s.trim().is_empty()) {
            None => None,
            Some(s) => match value::parse_time(s) {
                Ok(t) => Some(t),
                Err(msg) => {
                    self.field_error(&at, object_at, "expiresAt", &["expiresAt"], msg);
                    None
                }
            },
        };
        let exclude = raw.exclude.clone().filter(|x| !x.trim().is_empty());
        if let Some(Err(msg)) = exclude.as_deref().map(value::check_regex) {
            self.field_error(&at, object_at, "exclude", &["exclude"], msg);
        }
        let alert_ref = raw
            .alert_definition_id
            .clone()
            .or_else(|| raw.odata_bind.as_deref().and_then(parse_odata_ref))
            .or_else(|| raw.alert_definition.as_ref().and_then(|n| n.id.clone()));
        if alert_ref.is_none() {
            let msg = match raw.odata_bind.as_deref() {
                Some(b) => format!("{b:?} does not name an alert definition; expected \"AlertDefinitions(N)\""),
                None => "IOC names no alert definition (alertDefinitionId or AlertDefinition@odata.bind)".into(),
            };
            self.field_error(
                &at,
                object_at,
                "alertDefinitionId",
                &["alertDefinitionId", "AlertDefinition@odata.bind"],
                msg,
            );
        }
        if self.errors.len() > before {
            return;
        }
        if let (Some(kind), Some(function)) = (kind, function) {
            self.draft.iocs.push(DraftIoc {
                id: raw.id,
                alert_ref: alert_ref.unwrap_or_default(),
                kind,
                value,
                function,
                enabled: raw.enabled.unwrap_or(true),
                expires_at,
                description: raw.ioc_description,
                exclude,
                at,
            });
        }
    }
}

/// `AlertDefinitions(7)`, `AlertDefinitions('ad-1')` or a full URL ending so.
fn parse_odata_ref(bind: &str) -> Option<String> {
    let start = bind.rfind("AlertDefinitions(")? + "AlertDefinitions(".len();
    let inner = bind[start..].strip_suffix(')')?;
    let inner = inner.trim().trim_matches('\'').trim_matches('"');
    (!inner.is_empty()).then(|| inner.to_string())
}

/// A string or a number, trimmed; read without building a JSON value
/// (this runs twice for each of a million IOCs).
fn opt_id<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct V;
    impl<'de> de::Visitor<'de> for V {
        type Value = Option<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("an id (a string or a number)")
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(s.trim().to_string()))
        }
        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }
        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }
        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
            Ok(Some(
                serde_json::Number::from_f64(n).map_or_else(|| n.to_string(), |n| n.to_string()),
            ))
        }
        fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
            Err(E::custom(format!("an id is a string or a number, not {b}")))
        }
        fn visit_seq<A: de::SeqAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom(
                "an id is a string or a number, not a list",
            ))
        }
        fn visit_map<A: de::MapAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
            Err(de::Error::custom(
                "an id is a string or a number, not an object",
            ))
        }
    }
    d.deserialize_option(V)
}

/// `true`/`false`, or the strings PowerShell payloads send (`"true"`).
fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::Bool(b)) => Ok(Some(b)),
        Some(serde_json::Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(Some(true)),
            "false" | "0" | "no" => Ok(Some(false)),
            _ => Err(de::Error::custom(format!("{s:?} is not true or false"))),
        },
        Some(other) => Err(de::Error::custom(format!("{other} is not true or false"))),
    }
}

/// A list of strings, or one comma-separated string.
fn opt_string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    let v = Option::<serde_json::Value>::deserialize(d)?;
    match v {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(serde_json::Value::String(s)) => Ok(Some(
            s.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect(),
        )),
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .map(|i| match i {
                serde_json::Value::String(s) => Ok(s),
                other => Err(de::Error::custom(format!("{other} is not a string"))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(other) => Err(de::Error::custom(format!(
            "{other} is not a list of strings"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odata_binds_are_parsed() {
        assert_eq!(parse_odata_ref("AlertDefinitions(1)").as_deref(), Some("1"));
        assert_eq!(
            parse_odata_ref("https://ti.example/v1.0/AlertDefinitions('ad-x')").as_deref(),
            Some("ad-x")
        );
        assert_eq!(parse_odata_ref("AlertDefinitions()"), None);
        assert_eq!(parse_odata_ref("Foo(1)"), None);
    }
}
