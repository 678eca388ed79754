//! What the report says of a detection: the alert definition it raises and
//! how it is described. The bundle is one catalog; rule sets are another.
//! A new detection kind is one arm in each method here.

use super::model::{AlertDefinitionReport, DetectionRef, IocReport};
use crate::bundle::{Bundle, Severity};
use crate::evidence::Detection;

pub trait Catalog {
    /// The alert definition `d` raises, as the report shows it, and its
    /// severity (alerts are ordered by it).
    fn alert(&self, d: &Detection) -> (Severity, AlertDefinitionReport);
    /// The detection's reference and own description.
    fn describe(&self, d: &Detection) -> Described;
}

/// A detection as an evidence item shows it: `detection` and the object
/// of its kind (a rule kind adds its own).
pub struct Described {
    pub detection: DetectionRef,
    pub ioc: Option<IocReport>,
}

impl Catalog for Bundle {
    fn alert(&self, d: &Detection) -> (Severity, AlertDefinitionReport) {
        let def = match d {
            Detection::Ioc { ioc } => &self.alert_definitions[self.iocs[*ioc as usize].alert],
        };
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
            },
        )
    }

    fn describe(&self, d: &Detection) -> Described {
        match d {
            Detection::Ioc { ioc } => {
                let ioc = &self.iocs[*ioc as usize];
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
        }
    }
}
