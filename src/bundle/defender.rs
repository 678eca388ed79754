//! Microsoft Defender for Endpoint indicators: the API's JSON
//! (`{"value": […]}` from GET /api/indicators, `{"Indicators": […]}` for
//! batch import, or a bare array) and the portal's CSV import file
//! (`IndicatorType,IndicatorValue,ExpirationTime,Action,Severity,Title,
//! Description,RecommendedActions,RbacGroups,Category,MitreTechniques,…`).
//!
//! Indicators that share title and metadata share one alert definition.
//! Allow-list indicators (`Allowed`) are not IOCs, and certificate
//! thumbprints cannot be matched in files or records: both are listed as
//! not used, with the reason.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;

use super::draft::{Draft, DraftAlert, DraftIoc, Entry, Place};
use super::error::BundleError;
use super::locate;
use super::model::{AlertDefinition, DetectionFunction, IocType, Severity};
use super::value;

/// One indicator, from JSON or from a CSV row (columns by header name).
#[derive(Deserialize, Default, Debug)]
#[serde(default, rename_all = "camelCase")]
struct Indicator {
    #[serde(alias = "Id", alias = "ID")]
    id: Option<serde_json::Value>,
    #[serde(alias = "IndicatorValue")]
    indicator_value: Option<String>,
    #[serde(alias = "IndicatorType")]
    indicator_type: Option<String>,
    #[serde(alias = "Action")]
    action: Option<String>,
    #[serde(alias = "Title")]
    title: Option<String>,
    #[serde(alias = "Description")]
    description: Option<String>,
    #[serde(alias = "Severity")]
    severity: Option<String>,
    #[serde(alias = "Category")]
    category: Option<String>,
    #[serde(alias = "RecommendedActions")]
    recommended_actions: Option<String>,
    #[serde(alias = "MitreTechniques")]
    mitre_techniques: Option<serde_json::Value>,
    #[serde(alias = "ExpirationTime")]
    expiration_time: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct Envelope {
    #[serde(alias = "Value")]
    value: Option<Vec<Indicator>>,
    #[serde(alias = "indicators")]
    #[serde(rename = "Indicators")]
    indicators: Option<Vec<Indicator>>,
}

/// Whether a JSON text looks like Defender indicators (an `indicatorType`
/// key near the start).
pub fn looks_like_json(text: &[u8]) -> bool {
    let head = &text[..text.len().min(64 * 1024)];
    String::from_utf8_lossy(head)
        .to_ascii_lowercase()
        .contains("\"indicatortype\"")
}

/// Whether a text file is the portal's CSV (its header names the columns).
pub fn looks_like_csv(text: &str) -> bool {
    let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    let h = first.to_ascii_lowercase();
    h.contains("indicatortype") && h.contains("indicatorvalue")
}

pub fn parse_json(path: &Path, text: &[u8]) -> Result<Draft, Vec<BundleError>> {
    let first = text.iter().find(|b| !b.is_ascii_whitespace()).copied();
    let list: Vec<Indicator> = if first == Some(b'[') {
        serde_json::from_slice(text)
            .map_err(|e| vec![BundleError::json(path, "indicators JSON", &e)])?
    } else {
        let env: Envelope = serde_json::from_slice(text)
            .map_err(|e| vec![BundleError::json(path, "indicators JSON", &e)])?;
        env.value.or(env.indicators).unwrap_or_default()
    };
    let (label, keys): (&'static str, &[&[&str]]) = if first == Some(b'[') {
        ("[]", &[])
    } else {
        ("value", &[&["value", "indicators"]])
    };
    let offsets = locate::element_offsets(text, keys);
    let positions = locate::line_cols(text, &offsets);
    let rows = list
        .into_iter()
        .enumerate()
        .map(|(i, ind)| {
            let (line, column) = positions.get(i).copied().unwrap_or((0, 0));
            let at = Place {
                file: 0,
                entry: Entry::Indexed(label, i),
                id: None,
                line,
                column,
            };
            (at, ind)
        })
        .collect();
    build(path, "defender-indicators-json", rows)
}

pub fn parse_csv(path: &Path, text: &str) -> Result<Draft, Vec<BundleError>> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = match reader.headers() {
        Ok(h) => h
            .iter()
            .map(|c| c.to_ascii_lowercase().replace([' ', '_'], ""))
            .collect(),
        Err(e) => {
            return Err(vec![BundleError::file(
                path,
                format!("invalid CSV header: {e}"),
            )]);
        }
    };
    let col = |name: &str| headers.iter().position(|h| h == name);
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for rec in reader.records() {
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line() as usize);
                let mut err = BundleError::file(path, format!("invalid CSV row: {e}"));
                err.line = (line > 0).then_some(line);
                errors.push(err);
                continue;
            }
        };
        let line = rec.position().map_or(0, |p| p.line() as usize);
        let get = |name: &str| {
            col(name)
                .and_then(|i| rec.get(i))
                .map(str::to_string)
                .filter(|s| !s.is_empty())
        };
        let ind = Indicator {
            id: None,
            indicator_value: get("indicatorvalue"),
            indicator_type: get("indicatortype"),
            action: get("action"),
            title: get("title"),
            description: get("description"),
            severity: get("severity"),
            category: get("category"),
            recommended_actions: get("recommendedactions"),
            mitre_techniques: get("mitretechniques").map(serde_json::Value::String),
            expiration_time: get("expirationtime"),
        };
        let at = Place {
            file: 0,
            entry: Entry::None,
            id: None,
            line,
            column: 1,
        };
        rows.push((at, ind));
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    build(path, "defender-indicators-csv", rows)
}

fn techniques(v: &Option<serde_json::Value>) -> Vec<String> {
    match v {
        Some(serde_json::Value::Array(a)) => a
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => s
            .split([',', ';', ' '])
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn build(
    path: &Path,
    format: &'static str,
    rows: Vec<(Place, Indicator)>,
) -> Result<Draft, Vec<BundleError>> {
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut draft = Draft {
        format,
        ..Draft::default()
    };
    let mut errors = Vec::new();
    let mut alerts: HashMap<String, usize> = HashMap::new();
    for (n, (at, ind)) in rows.into_iter().enumerate() {
        let field_error = |field: &str, msg: String| {
            let mut e = at.error(path, msg);
            e.field = Some(field.into());
            e
        };
        let Some(kind_text) = ind.indicator_type.as_deref() else {
            errors.push(field_error("indicatorType", "missing".into()));
            continue;
        };
        if kind_text.eq_ignore_ascii_case("CertificateThumbprint") {
            draft.unused.push(at.error(path, "certificate thumbprints are not matched (files are not checked for signatures)".into()));
            continue;
        }
        let Some(kind) = IocType::parse(kind_text) else {
            errors.push(field_error(
                "indicatorType",
                format!("unknown indicator type {kind_text:?}"),
            ));
            continue;
        };
        let action = ind.action.clone().unwrap_or_default();
        if action.eq_ignore_ascii_case("allowed") || action.eq_ignore_ascii_case("allow") {
            draft.unused.push(at.error(
                path,
                "an allow-list indicator (action Allowed) is not an IOC".into(),
            ));
            continue;
        }
        let value = ind
            .indicator_value
            .clone()
            .unwrap_or_default()
            .trim()
            .to_string();
        if let Err(msg) = value::check(kind, DetectionFunction::Equals, &value) {
            errors.push(field_error("indicatorValue", msg));
            continue;
        }
        let severity = match ind.severity.as_deref() {
            None | Some("") => Severity::Informational,
            Some(s) => match Severity::parse(s) {
                Some(s) => s,
                None => {
                    errors.push(field_error(
                        "severity",
                        format!("{s:?} is not Informational, Low, Medium or High"),
                    ));
                    continue;
                }
            },
        };
        let expires_at = match ind
            .expiration_time
            .as_deref()
            .filter(|s| !s.trim().is_empty())
        {
            None => None,
            Some(s) => match value::parse_time(s) {
                Ok(t) => Some(t),
                Err(msg) => {
                    errors.push(field_error("expirationTime", msg));
                    continue;
                }
            },
        };
        let title = ind
            .title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| format!("Defender indicators ({file_name})"));
        let mitre = techniques(&ind.mitre_techniques);
        let key = format!(
            "{title}\u{0}{:?}\u{0}{severity}\u{0}{:?}\u{0}{:?}\u{0}{mitre:?}",
            ind.description, ind.category, ind.recommended_actions
        );
        let next = draft.alerts.len();
        let alert = *alerts.entry(key).or_insert(next);
        if alert == next {
            draft.alerts.push(DraftAlert {
                def: AlertDefinition {
                    id: format!("{file_name}#{}", next + 1),
                    name: title,
                    title: None,
                    severity,
                    category: ind.category.clone(),
                    description: ind.description.clone(),
                    internal_description: None,
                    recommended_action: ind.recommended_actions.clone(),
                    mitre_techniques: mitre,
                    enabled: true,
                },
                at: at.clone(),
            });
        }
        let id = match &ind.id {
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(serde_json::Value::Number(x)) => x.to_string(),
            _ => format!("{file_name}:{}", if at.line > 0 { at.line } else { n + 1 }),
        };
        draft.iocs.push(DraftIoc {
            id: Some(id),
            alert_ref: draft.alerts[alert].def.id.clone(),
            kind,
            value,
            function: DetectionFunction::Equals,
            enabled: true,
            expires_at,
            description: None,
            exclude: None,
            at,
        });
    }
    if errors.is_empty() {
        Ok(draft)
    } else {
        Err(errors)
    }
}
