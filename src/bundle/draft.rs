//! What a format parser hands to the merge step: entries checked on their
//! own, not yet checked against each other (ids, references), each carrying
//! its place in its file.

use std::path::Path;

use jiff::Timestamp;

use super::error::BundleError;
use super::model::{AlertDefinition, DetectionFunction, IocType};

/// Which entry of a file: a list and index (`iocs[3]`), a free label, or
/// nothing beyond the line (line formats). Kept unformatted: a million-IOC
/// bundle would otherwise format a million labels that no error ever shows.
#[derive(Debug, Clone, Default)]
pub enum Entry {
    #[default]
    None,
    Indexed(&'static str, usize),
    Text(String),
}

impl Entry {
    pub fn text(&self) -> Option<String> {
        match self {
            Entry::None => None,
            Entry::Indexed(list, i) => Some(format!("{list}[{i}]")),
            Entry::Text(t) => Some(t.clone()),
        }
    }
}

/// Where an entry sits: its list and index, its id, and its line/column
/// (0 when the format has none).
#[derive(Debug, Clone, Default)]
pub struct Place {
    /// Index of the bundle file among those loaded; set by the merge step.
    pub file: usize,
    pub entry: Entry,
    pub id: Option<String>,
    pub line: usize,
    pub column: usize,
}

impl Place {
    /// An error about this entry as a whole.
    pub fn error(&self, path: &Path, message: String) -> BundleError {
        // Line formats have no entry label beyond the line itself.
        let entry = match (&self.id, self.entry.text()) {
            (Some(id), None) => Some(format!("id {id:?}")),
            (Some(id), Some(e)) => Some(format!("{e} (id {id:?})")),
            (None, e) => e,
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
