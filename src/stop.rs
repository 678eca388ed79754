//! Stopping a scan early: the CLI requests it when Ctrl-C or SIGTERM
//! arrives, and every loop that walks or reads checks it between items and
//! between chunks, so a scan stops within a chunk's read and still writes
//! a report saying what it covered.

use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

/// A shared stop request: the number of the signal that asked, or none.
/// Cloning shares the request.
#[derive(Debug, Clone, Default)]
pub struct Stop(Arc<AtomicI32>);

impl Stop {
    /// Asks the scan to stop because of `signal` (kept: the first one).
    pub fn request(&self, signal: i32) {
        let _ = self
            .0
            .compare_exchange(0, signal, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// The signal that asked the scan to stop, if one did.
    pub fn requested(&self) -> Option<i32> {
        match self.0.load(Ordering::Relaxed) {
            0 => None,
            s => Some(s),
        }
    }

    /// `Err` (see [`interrupted`]) once a stop is requested.
    pub fn check(&self) -> io::Result<()> {
        match self.requested() {
            None => Ok(()),
            Some(_) => Err(interrupted()),
        }
    }
}

/// Marks an I/O error as the scan's own stop, not the evidence's fault.
#[derive(Debug)]
struct Interrupted;

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("not finished: the scan was interrupted")
    }
}

impl std::error::Error for Interrupted {}

/// The error a read returns when the scan was asked to stop.
pub fn interrupted() -> io::Error {
    io::Error::other(Interrupted)
}

/// Whether `e` is [`interrupted`] rather than a failure of the evidence.
pub fn is_interrupted(e: &io::Error) -> bool {
    e.get_ref().is_some_and(|inner| inner.is::<Interrupted>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_signal_is_kept_and_errors_are_recognised() {
        let s = Stop::default();
        assert!(s.check().is_ok());
        let shared = s.clone();
        shared.request(15);
        shared.request(2);
        assert_eq!(s.requested(), Some(15));
        let e = s.check().unwrap_err();
        assert!(is_interrupted(&e));
        assert!(!is_interrupted(&io::Error::other("disk")));
    }
}
