//! The progress bar on stderr (only when stderr is a terminal): files, bytes,
//! throughput and, once the estimate walk has sized the targets, an ETA.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressState, ProgressStyle};

use crate::scan::Progress;

pub struct Bar {
    bar: ProgressBar,
    files: Arc<AtomicU64>,
    files_total: Arc<AtomicU64>,
    bytes_total: AtomicU64,
    sized: AtomicBool,
}

impl Bar {
    pub fn new() -> Self {
        let files = Arc::new(AtomicU64::new(0));
        let files_total = Arc::new(AtomicU64::new(0));
        let bar = ProgressBar::new_spinner();
        bar.set_style(style(
            "{spinner} {files} files · {bytes} · {binary_bytes_per_sec} · {elapsed} · {wide_msg}",
            &files,
            &files_total,
        ));
        bar.enable_steady_tick(Duration::from_millis(120));
        Bar {
            bar,
            files,
            files_total,
            bytes_total: AtomicU64::new(0),
            sized: AtomicBool::new(false),
        }
    }

    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }

    /// A callback that shows what an image's walk is opening.
    pub fn watch(&self) -> crate::source::Watch {
        let bar = self.bar.clone();
        crate::source::Watch(Some(std::sync::Arc::new(move |what: &str| {
            bar.set_message(what.to_string());
        })))
    }
}

fn style(template: &str, files: &Arc<AtomicU64>, total: &Arc<AtomicU64>) -> ProgressStyle {
    let (files, total) = (files.clone(), total.clone());
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .progress_chars("=> ")
        .with_key(
            "files",
            move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                let done = files.load(Ordering::Relaxed);
                let _ = match total.load(Ordering::Relaxed) {
                    0 => write!(w, "{done}"),
                    t => write!(w, "{done}/{t}"),
                };
            },
        )
}

impl Progress for Bar {
    fn wants_estimate(&self) -> bool {
        true
    }

    fn add_estimate(&self, files: u64, bytes: u64) {
        self.files_total.fetch_add(files, Ordering::Relaxed);
        // A spinner has no length to increase; set the running total.
        let total = self.bytes_total.fetch_add(bytes, Ordering::Relaxed) + bytes;
        self.bar.set_length(total);
        if !self.sized.swap(true, Ordering::Relaxed) {
            self.bar.set_style(style(
                "{spinner} [{bar:30}] {bytes}/{total_bytes} · {files} files · {binary_bytes_per_sec} · ETA {eta} · {wide_msg}",
                &self.files,
                &self.files_total,
            ));
        }
    }

    fn file_done(&self, bytes: u64) {
        self.files.fetch_add(1, Ordering::Relaxed);
        self.bar.inc(bytes);
    }

    fn stage(&self, what: &str) {
        self.bar.set_message(what.to_string());
    }
}

/// A spinner with what is being done, for the steps before the scan (a
/// million-IOC bundle loads and compiles for seconds); cleared when
/// dropped.
pub struct Stage(ProgressBar);

impl Stage {
    /// Shown only when `show` (stderr is a terminal, not `--quiet`).
    pub fn start(show: bool, what: &str) -> Option<Stage> {
        show.then(|| {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {wide_msg} {elapsed}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(what.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            Stage(bar)
        })
    }
}

impl Drop for Stage {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}
