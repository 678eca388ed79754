//! What the report says of a detection: the alert definition it raises and
//! how it is described. The bundle is one catalog, the rule set another;
//! [`Detections`] answers for both. A new detection kind is one arm in
//! each method here.

use super::model::{AlertDefinitionReport, DetectionRef, IocReport, RuleDefinitionReport};
use crate::bundle::{Bundle, Severity};
use crate::evidence::Detection;
use crate::sigma::{RuleInfo, RuleSet};

pub trait Catalog {
    /// The alert definition `d` raises, as the report shows it, and its
    /// severity (alerts are ordered by it).
    fn alert(&self, d: &Detection) -> (Severity, AlertDefinitionReport);
    /// The detection's reference and own description.
    fn describe(&self, d: &Detection) -> Described;
}

/// A detection as an evidence item shows it: `detection` and the object
/// of its kind (a rule is described by its alert definition).
pub struct Described {
    pub detection: DetectionRef,
    pub ioc: Option<IocReport>,
}

/// The scan's detections: the bundle's IOCs and the rules.
pub struct Detections<'a> {
    pub bundle: &'a Bundle,
    pub rules: &'a RuleSet,
}

impl Catalog for Detections<'_> {
    fn alert(&self, d: &Detection) -> (Severity, AlertDefinitionReport) {
        match d {
            Detection::Ioc { ioc } => {
                let def = &self.bundle.alert_definitions[self.bundle.iocs[*ioc as usize].alert];
                (
                    def.severity,
                    AlertDefinitionReport {
                        id: def.id.clone(),
                        name: def.name.clone(),
                        title: def.title.clone(),
                        severity: def.severity.as_str().into(),
                        category: def.category.clone(),
                        description: def.description.clone(),
                        recommended_action: def.recommended_action.clone(),
                        mitre_techniques: def.mitre_techniques.clone(),
                        rule: None,
                    },
                )
            }
            Detection::Rule { rule } => rule_alert(&self.rules.rules[*rule as usize]),
        }
    }

    fn describe(&self, d: &Detection) -> Described {
        match d {
            Detection::Ioc { ioc } => {
                let ioc = &self.bundle.iocs[*ioc as usize];
                Described {
                    detection: DetectionRef {
                        kind: "ioc".into(),
                        id: ioc.id.clone(),
                    },
                    ioc: Some(IocReport {
                        id: ioc.id.clone(),
                        kind: ioc.kind.as_str().into(),
                        value: ioc.value.clone(),
                        detection_function: ioc.function.as_str().into(),
                        description: ioc.description.clone(),
                    }),
                }
            }
            Detection::Rule { rule } => Described {
                detection: DetectionRef {
                    kind: "rule".into(),
                    id: self.rules.rules[*rule as usize].id.clone(),
                },
                ioc: None,
            },
        }
    }
}

/// A rule as an alert definition: its level is the severity (`critical`
/// is `High`, the highest the model has; the level itself stays in `rule`).
fn rule_alert(r: &RuleInfo) -> (Severity, AlertDefinitionReport) {
    let severity = match r.level.as_deref() {
        Some("critical" | "high") => Severity::High,
        Some("medium") => Severity::Medium,
        Some("low") => Severity::Low,
        _ => Severity::Informational,
    };
    (
        severity,
        AlertDefinitionReport {
            id: r.id.clone(),
            name: r.title.clone(),
            title: Some(r.title.clone()),
            severity: severity.as_str().into(),
            category: Some("Sigma rule".into()),
            description: r.description.clone(),
            recommended_action: None,
            mitre_techniques: r.mitre_techniques(),
            rule: Some(RuleDefinitionReport {
                level: r.level.clone(),
                status: r.status.clone(),
                author: r.author.clone(),
                tags: r.tags.clone(),
                references: r.references.clone(),
                false_positives: r.falsepositives.clone(),
                file: r.file.clone(),
                line: r.line,
                correlation: r.correlation.clone(),
            }),
        },
    )
}
