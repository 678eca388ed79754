//! What a format parser hands to the merge step: entries checked on their
//! own, not yet checked against each other (ids, references), each carrying
//! its place in its file.

use std::path::Path;

use jiff::Timestamp;

use super::error::BundleError;
use super::model::{AlertDefinition, DetectionFunction, IocType};

/// Where an entry sits: its list and index, its id, and its line/column
/// (0 when the format has none).
#[derive(Debug, Clone, Default)]
pub struct Place {
    /// Index of the bundle file among those loaded; set by the merge step.
    pub file: usize,
    /// e.g. `iocs[3]`.
    pub entry: String,
    pub id: Option<String>,
    pub line: usize,
    pub column: usize,
}

impl Place {
    /// An error about this entry as a whole.
    pub fn error(&self, path: &Path, message: String) -> BundleError {
        // Line formats have no entry label beyond the line itself.
        let entry = match &self.id {
            Some(id) if self.entry.is_empty() => Some(format!("id {id:?}")),
            Some(id) => Some(format!("{} (id {id:?})", self.entry)),
            None if self.entry.is_empty() => None,
            None => Some(self.entry.clone()),
        };
        BundleError {
            file: path.to_path_buf(),
            line: (self.line > 0).then_some(self.line),
            column: (self.column > 0).then_some(self.column),
            entry,
            field: None,
            message,
        }
    }
}

#[derive(Debug, Clone)]
pub struct DraftAlert {
    pub def: AlertDefinition,
    pub at: Place,
}

#[derive(Debug, Clone)]
pub struct DraftIoc {
    /// Generated from the place when the format has no ids.
    pub id: Option<String>,
    /// Id of the alert definition, possibly in another bundle file.
    pub alert_ref: String,
    pub kind: IocType,
    pub value: String,
    pub function: DetectionFunction,
    pub enabled: bool,
    pub expires_at: Option<Timestamp>,
    pub description: Option<String>,
    pub exclude: Option<String>,
    pub at: Place,
}

/// One parsed file.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub format: &'static str,
    pub alerts: Vec<DraftAlert>,
    pub iocs: Vec<DraftIoc>,
    /// Entries the format holds but breachscan does not use, each with the
    /// reason (shown by `bundle check`, counted in the report).
    pub unused: Vec<BundleError>,
}
