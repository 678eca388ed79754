//! Panics caught at the boundaries where one bad input must cost only
//! itself (a file, a log, a rule document), never the scan.

use std::any::Any;

/// The text a caught panic carries.
pub fn message(p: &Box<dyn Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
