//! breachscan — an offline forensic scanner.
//!
//! The pipeline (see `DESIGN.md` in the shared folder):
//! bundle files → [`bundle::Bundle`] → compiled [`matcher::Matcher`];
//! targets → [`source::FileSource`] (host directories today, filesystems in
//! images later) → [`scan`] hashes and matches every entry on a worker pool →
//! [`report::ReportSink`] → the JSON report.
//!
//! Each layer is one module with one small trait at its boundary, so a new
//! evidence source or record parser is a new file plus one registry line.

pub mod artifact;
pub mod batch;
pub mod bundle;
pub mod cli;
pub mod collect;
pub mod evidence;
#[doc(hidden)]
pub mod fuzzing;
pub mod hash;
pub mod matcher;
pub mod panics;
pub mod report;
pub mod scan;
pub mod sigma;
pub mod source;
pub mod stop;
