//! Writes a loaded bundle as the native JSON of DESIGN.md §3.2, so a bundle
//! converted from any format scans identically: same ids, metadata, states
//! (disabled IOCs stay disabled; expiry is kept, not pre-judged), IOC
//! descriptions and false-positive regexes.

use serde_json::{Map, Value, json};

use super::model::{Bundle, IocState};

pub fn to_native(bundle: &Bundle) -> Value {
    let alerts: Vec<Value> = bundle
        .alert_definitions
        .iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("id".into(), json!(a.id));
            m.insert("name".into(), json!(a.name));
            opt(&mut m, "title", &a.title);
            m.insert("severity".into(), json!(a.severity.as_str()));
            opt(&mut m, "category", &a.category);
            opt(&mut m, "description", &a.description);
            opt(&mut m, "internalDescription", &a.internal_description);
            opt(&mut m, "recommendedAction", &a.recommended_action);
            m.insert("mitreTechniques".into(), json!(a.mitre_techniques));
            m.insert("enabled".into(), json!(a.enabled));
            Value::Object(m)
        })
        .collect();
    let iocs: Vec<Value> = bundle
        .iocs
        .iter()
        .map(|i| {
            let alert = &bundle.alert_definitions[i.alert];
            let mut m = Map::new();
            m.insert("id".into(), json!(i.id));
            m.insert("alertDefinitionId".into(), json!(alert.id));
            m.insert("type".into(), json!(i.kind.as_str()));
            m.insert("value".into(), json!(i.value));
            m.insert("detectionFunction".into(), json!(i.function.as_str()));
            // Disabled through its alert definition stays so via the
            // definition; only the IOC's own switch is written here.
            let own_disabled = i.state == IocState::Disabled && alert.enabled;
            m.insert("enabled".into(), json!(!own_disabled));
            if let Some(t) = i.expires_at {
                m.insert("expiresAt".into(), json!(t.to_string()));
            }
            opt(&mut m, "iocDescription", &i.description);
            opt(&mut m, "exclude", &i.exclude);
            Value::Object(m)
        })
        .collect();
    json!({ "alertDefinitions": alerts, "iocs": iocs })
}

fn opt(m: &mut Map<String, Value>, key: &str, v: &Option<String>) {
    if let Some(v) = v {
        m.insert(key.into(), json!(v));
    }
}
