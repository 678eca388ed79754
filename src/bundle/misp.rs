//! MISP event exports: a plain event object, `{"Event": …}`, or
//! `{"response": [{"Event": …}, …]}`.
//!
//! Each event becomes an alert definition: name from `info`, severity from
//! `threat_level_id` (1 High, 2 Medium, 3 Low, 4 Informational), MITRE
//! techniques from `mitre-attack-pattern` tags and galaxy clusters. Its
//! attributes, and those of its objects, become IOCs; composite types are
//! split (`filename|sha256` → the digest, with the name as description;
//! `domain|ip` → both; `ip-dst|port` → the address; `regkey|value` → the
//! key). Only attributes marked `to_ids` are used unless all are asked for;
//! every attribute not used is listed with the reason.

use std::path::Path;

use serde_json::Value;

use super::draft::{Draft, DraftAlert, DraftIoc, Entry, Place};
use super::error::BundleError;
use super::model::{AlertDefinition, DetectionFunction, IocType, Severity};
use super::value;

/// Whether a JSON document is a MISP export.
pub fn looks_like(text: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&text[..text.len().min(4096)]).to_string();
    let h = head.trim_start();
    h.starts_with("{\"response\"")
        || h.starts_with("{\"Event\"")
        || (head.contains("\"Attribute\"") && head.contains("\"threat_level_id\""))
        || head.contains("\"Event\": {")
        || head.contains("\"Event\":{")
}

pub fn parse(path: &Path, text: &[u8], all_attributes: bool) -> Result<Draft, Vec<BundleError>> {
    let doc: Value =
        serde_json::from_slice(text).map_err(|e| vec![BundleError::json(path, "MISP JSON", &e)])?;
    let events: Vec<&Value> = if let Some(list) = doc.get("response").and_then(Value::as_array) {
        list.iter().map(|e| e.get("Event").unwrap_or(e)).collect()
    } else if let Some(ev) = doc.get("Event") {
        vec![ev]
    } else {
        vec![&doc]
    };
    let file_name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let mut draft = Draft {
        format: "misp",
        ..Draft::default()
    };
    for (n, ev) in events.into_iter().enumerate() {
        let label = format!("Event[{n}]");
        let alert_id = ev
            .get("uuid")
            .or_else(|| ev.get("id"))
            .and_then(scalar)
            .unwrap_or_else(|| format!("{file_name}#{}", n + 1));
        let info = ev
            .get("info")
            .and_then(scalar)
            .unwrap_or_else(|| format!("MISP event {alert_id}"));
        let severity = match ev.get("threat_level_id").and_then(scalar).as_deref() {
            Some("1") => Severity::High,
            Some("2") => Severity::Medium,
            Some("3") => Severity::Low,
            _ => Severity::Informational,
        };
        let tags: Vec<String> = ev
            .get("Tag")
            .and_then(Value::as_array)
            .map(|t| {
                t.iter()
                    .filter_map(|t| t.get("name").and_then(scalar))
                    .collect()
            })
            .unwrap_or_default();
        let mut mitre = Vec::new();
        for t in &tags {
            value::mitre_ids_in(t, &mut mitre);
        }
        for g in ev
            .get("Galaxy")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            for c in g
                .get("GalaxyCluster")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(v) = c.get("value").and_then(scalar) {
                    value::mitre_ids_in(&v, &mut mitre);
                }
                for id in c
                    .pointer("/meta/external_id")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(v) = scalar(id) {
                        value::mitre_ids_in(&v, &mut mitre);
                    }
                }
            }
        }
        let description = if tags.is_empty() {
            info.clone()
        } else {
            format!("{info} (tags: {})", tags.join(", "))
        };
        let alert = draft.alerts.len();
        draft.alerts.push(DraftAlert {
            def: AlertDefinition {
                id: alert_id.clone(),
                name: info.chars().take(200).collect(),
                title: None,
                severity,
                category: Some("MISP event".into()),
                description: Some(description),
                internal_description: None,
                recommended_action: None,
                mitre_techniques: mitre,
                enabled: true,
            },
            at: place(&label),
        });

        let mut attrs: Vec<(String, &Value, Option<String>)> = Vec::new();
        for (i, a) in ev
            .get("Attribute")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            attrs.push((format!("{label}.Attribute[{i}]"), a, None));
        }
        for (j, o) in ev
            .get("Object")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let oname = o.get("name").and_then(scalar);
            for (i, a) in o
                .get("Attribute")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .enumerate()
            {
                attrs.push((
                    format!("{label}.Object[{j}].Attribute[{i}]"),
                    a,
                    oname.clone(),
                ));
            }
        }
        for (entry, a, object) in attrs {
            let at = place(&entry);
            let t = a.get("type").and_then(scalar).unwrap_or_default();
            let v = a.get("value").and_then(scalar).unwrap_or_default();
            if a.get("deleted").and_then(Value::as_bool) == Some(true) {
                draft
                    .unused
                    .push(at.error(path, format!("{t} {v:?}: attribute is deleted")));
                continue;
            }
            let to_ids = a.get("to_ids").and_then(Value::as_bool).unwrap_or(false);
            if !to_ids && !all_attributes {
                draft.unused.push(at.error(
                    path,
                    format!(
                        "{t} {v:?}: to_ids is false (take all attributes with --all-attributes)"
                    ),
                ));
                continue;
            }
            let iocs = match map_attribute(&t, &v) {
                Ok(iocs) => iocs,
                Err(why) => {
                    draft
                        .unused
                        .push(at.error(path, format!("{t} {v:?}: {why}")));
                    continue;
                }
            };
            let comment = a.get("comment").and_then(scalar).filter(|c| !c.is_empty());
            let uuid = a.get("uuid").and_then(scalar);
            let many = iocs.len() > 1;
            for (k, (kind, value, note)) in iocs.into_iter().enumerate() {
                if let Err(why) = value::check(kind, DetectionFunction::Equals, &value) {
                    draft
                        .unused
                        .push(at.error(path, format!("{t} {v:?}: {why}")));
                    continue;
                }
                let mut desc: Vec<String> = Vec::new();
                desc.extend(object.clone().map(|o| format!("object {o}")));
                desc.extend(note);
                desc.extend(comment.clone());
                let base = uuid
                    .clone()
                    .unwrap_or_else(|| format!("{file_name}:{entry}"));
                draft.iocs.push(DraftIoc {
                    id: Some(if many { format!("{base}/{k}") } else { base }),
                    alert_ref: draft.alerts[alert].def.id.clone(),
                    kind,
                    value,
                    function: DetectionFunction::Equals,
                    enabled: true,
                    expires_at: None,
                    description: (!desc.is_empty()).then(|| desc.join("; ")),
                    exclude: None,
                    at: at.clone(),
                });
            }
        }
    }
    Ok(draft)
}

fn place(entry: &str) -> Place {
    Place {
        file: 0,
        entry: Entry::Text(entry.to_string()),
        id: None,
        line: 0,
        column: 0,
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The IOCs an attribute stands for: (type, value, note for the
/// description), or why it is not used.
fn map_attribute(t: &str, v: &str) -> Result<Vec<(IocType, String, Option<String>)>, String> {
    let split = || {
        v.split_once('|')
            .map(|(a, b)| (a.trim().to_string(), b.trim().to_string()))
    };
    let one = |k: IocType, v: &str| Ok(vec![(k, v.trim().to_string(), None)]);
    match t {
        "md5" => one(IocType::Md5, v),
        "sha1" => one(IocType::Sha1, v),
        "sha256" => one(IocType::Sha256, v),
        "filename" => one(IocType::FileName, v),
        "ip-dst" | "ip-src" => one(IocType::IpAddress, v),
        "domain" | "hostname" => one(IocType::DomainName, v),
        "url" => one(IocType::Url, v),
        "regkey" => one(IocType::RegistryKey, v),
        "filename|md5" | "filename|sha1" | "filename|sha256" => {
            let (name, hash) = split().ok_or("composite value without '|'")?;
            let kind = match t {
                "filename|md5" => IocType::Md5,
                "filename|sha1" => IocType::Sha1,
                _ => IocType::Sha256,
            };
            // The digest identifies the file; the name alone would flag every
            // file so named.
            Ok(vec![(kind, hash, Some(format!("file name {name}")))])
        }
        "ip-dst|port" | "ip-src|port" | "hostname|port" => {
            let (host, port) = split().ok_or("composite value without '|'")?;
            let kind = if t == "hostname|port" {
                IocType::DomainName
            } else {
                IocType::IpAddress
            };
            Ok(vec![(kind, host, Some(format!("port {port}")))])
        }
        "domain|ip" => {
            let (domain, ip) = split().ok_or("composite value without '|'")?;
            Ok(vec![
                (IocType::DomainName, domain, None),
                (IocType::IpAddress, ip, None),
            ])
        }
        "regkey|value" => {
            let (key, data) = split().ok_or("composite value without '|'")?;
            Ok(vec![(
                IocType::RegistryKey,
                key,
                Some(format!("value {data}")),
            )])
        }
        other => Err(format!("MISP type {other} is not matched by breachscan")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn techniques_are_found_in_tags() {
        let mut v = Vec::new();
        value::mitre_ids_in(
            r#"misp-galaxy:mitre-attack-pattern="Launch Daemon - T1543.004""#,
            &mut v,
        );
        value::mitre_ids_in("Archive - T1560", &mut v);
        value::mitre_ids_in("not XT12345 nor T12", &mut v);
        assert_eq!(v, vec!["T1543.004", "T1560"]);
    }

    #[test]
    fn composites_split() {
        let r = map_attribute(
            "filename|sha1",
            "a.exe|92cfceb39d57d914ed8b14d0e37643de0797ae56",
        )
        .unwrap();
        assert_eq!(r[0].0, IocType::Sha1);
        assert_eq!(r[0].2.as_deref(), Some("file name a.exe"));
        assert_eq!(
            map_attribute("domain|ip", "evil.com|10.0.0.1")
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            map_attribute("ip-dst|port", "10.0.0.1|443").unwrap()[0].1,
            "10.0.0.1"
        );
        assert!(map_attribute("mutex", "x").is_err());
    }
}
