//! Bundle errors name the place: file, line and column, entry and field, so a
//! responder can fix a 100,000-line export without guessing.

use std::fmt;
use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleError {
    pub file: PathBuf,
    /// 1-based line and column of the entry or field, where known.
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The entry, e.g. `iocs[3] (id "ioc-4")`.
    pub entry: Option<String>,
    /// The field inside the entry, e.g. `value`.
    pub field: Option<String>,
    pub message: String,
}

impl BundleError {
    /// An error about the file as a whole (unreadable, not JSON, …).
    pub fn file(file: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        BundleError {
            file: file.into(),
            line: None,
            column: None,
            entry: None,
            field: None,
            message: message.into(),
        }
    }
}

impl BundleError {
    /// A JSON syntax or type error, at serde's line and column (without
    /// serde's own " at line L column C" suffix, which the prefix repeats).
    pub fn json(file: impl Into<PathBuf>, what: &str, e: &serde_json::Error) -> Self {
        let mut err = BundleError::file(file, format!("invalid {what}: {e}"));
        if e.line() > 0 {
            err.line = Some(e.line());
            err.column = Some(e.column());
            let msg = e.to_string();
            let msg = msg
                .rsplit_once(" at line ")
                .map_or(msg.as_str(), |(m, _)| m);
            err.message = format!("invalid {what}: {msg}");
        }
        err
    }
}

impl fmt::Display for BundleError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(entry) = &self.entry {
            write!(f, "{entry}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "field \"{field}\": ")?;
        }
        f.write_str(&self.message)
    }
}

impl std::error::Error for BundleError {}

/// Every problem found in the bundle files given, reported together so one
/// run of `bundle check` shows them all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleErrors(pub Vec<BundleError>);

impl fmt::Display for BundleErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for BundleErrors {}
