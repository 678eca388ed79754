//! `breachscan-bench`: generates benchmark data and measures the release
//! `breachscan` binary on it the way a user runs it, beside peer tools where
//! they are installed. Prints a Markdown table for the README.
//!
//!     cargo build --release && target/release/breachscan-bench files
//!
//! Speed goals are checked here, never in timed unit tests.

mod batch;
mod bundle;
mod content;
mod evtx;
mod files;
mod hive;
mod image;
mod merge;
mod regexes;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant};

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "breachscan-bench",
    about = "Benchmarks breachscan against peer tools on generated data"
)]
struct Cli {
    #[command(subcommand)]
    command: Bench,
}

#[derive(Subcommand)]
enum Bench {
    /// Directory hashing: large files and many small files, SHA-256-only and
    /// all-three-digest bundles, beside sha256sum and hashdeep.
    Files(files::Args),
    /// Event logs: records/s of a bare evtx-crate parse to JSON beside
    /// breachscan with a 10,000-IOC bundle.
    Evtx(evtx::Args),
    /// Disk images: MB/s over a ~1.5 GiB NTFS image (raw and E01) with all
    /// three digests, beside TSK's fiwalk.
    Image(image::Args),
    /// Bundle scale: load time and memory of a 1,000,000-IOC bundle, and
    /// scan speed with it beside a 10-IOC bundle.
    Bundle(bundle::Args),
    /// Batches: N images as a Slurm job array on the local cluster (root)
    /// beside one scan process, and `batch merge` of 1,000 units.
    Batch(batch::Args),
    /// Report merge: 1,000 shard reports of 1,000 evidence items merged.
    Merge(merge::Args),
    /// Registry hives: keys and values per second beside regipy.
    Hive(hive::Args),
    /// File content search (--content): its cost beside the same scan
    /// without it.
    Content(content::Args),
    /// Regex-heavy bundles: Loki signature-base whole beside its hash IOCs
    /// alone, over event logs and 100,000 files.
    Regexes(regexes::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Bench::Files(args) => files::run(&args),
        Bench::Evtx(args) => evtx::run(&args),
        Bench::Image(args) => image::run(&args),
        Bench::Bundle(args) => bundle::run(&args),
        Bench::Merge(args) => merge::run(&args),
        Bench::Batch(args) => batch::run(&args),
        Bench::Hive(args) => hive::run(&args),
        Bench::Content(args) => content::run(&args),
        Bench::Regexes(args) => regexes::run(&args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("breachscan-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The `breachscan` binary built beside this one.
pub fn breachscan_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?.with_file_name("breachscan");
    anyhow::ensure!(
        exe.exists(),
        "{} not found: run `cargo build --release` first",
        exe.display()
    );
    Ok(exe)
}

/// Whether `tool` is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool} >/dev/null 2>&1")])
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a shell command `runs` times (after one warm-up run that fills the
/// page cache) and returns the median wall time. Output is discarded; a
/// failing command is an error unless its exit code is in `ok_codes`.
pub fn time_cmd(cmd: &str, runs: usize, ok_codes: &[i32]) -> anyhow::Result<Duration> {
    time_once(cmd, ok_codes)?;
    let mut times: Vec<Duration> = (0..runs.max(1))
        .map(|_| time_once(cmd, ok_codes))
        .collect::<Result<_, _>>()?;
    times.sort();
    Ok(times[times.len() / 2])
}

/// [`time_cmd`], or with `cold` the median of `runs` each started after the
/// page cache is dropped (root): a seized drive is read from its disk, not
/// from memory.
pub fn time_cmd_in(
    cmd: &str,
    runs: usize,
    ok_codes: &[i32],
    cold: bool,
) -> anyhow::Result<Duration> {
    if !cold {
        return time_cmd(cmd, runs, ok_codes);
    }
    let mut times = Vec::new();
    for _ in 0..runs.max(1) {
        drop_caches()?;
        times.push(time_once(cmd, ok_codes)?);
    }
    times.sort();
    Ok(times[times.len() / 2])
}

/// Writes generated data out to disk: measurements right after writing
/// gigabytes otherwise run beside their writeback (8 large files measured
/// 4.5 s instead of 2.4 s), and a cache can only be dropped once clean.
pub fn sync_disk() -> anyhow::Result<()> {
    use anyhow::Context;
    Command::new("sync").status().context("sync")?;
    Ok(())
}

/// Writes dirty pages out and drops the page cache.
pub fn drop_caches() -> anyhow::Result<()> {
    use anyhow::Context;
    sync_disk()?;
    std::fs::write("/proc/sys/vm/drop_caches", "3")
        .context("--cold drops the page cache: it needs root")
}

/// One timed run of `sh -c CMD`, which must exit with one of `ok_codes`.
pub fn time_once(cmd: &str, ok_codes: &[i32]) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let status = Command::new("sh")
        .args(["-c", cmd])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    let took = start.elapsed();
    let code = status.code().unwrap_or(-1);
    anyhow::ensure!(ok_codes.contains(&code), "`{cmd}` exited with {code}");
    Ok(took)
}

/// Median wall time over `runs` (after one warm-up) and the largest peak
/// resident set of those runs, in KiB. The peak is the child's own
/// `VmHWM`, polled while it runs: the `ru_maxrss` that `wait4` reports
/// counts the memory of the (big) bench process the child was forked from.
pub fn measure(
    exe: &Path,
    args: &[&str],
    runs: usize,
    ok: &[i32],
) -> anyhow::Result<(Duration, u64)> {
    let mut times = Vec::new();
    let mut peak = 0;
    for i in 0..=runs.max(1) {
        let (took, hwm) = run_once(exe, args, ok)?;
        if i > 0 {
            times.push(took);
            peak = peak.max(hwm);
        }
    }
    times.sort();
    Ok((times[times.len() / 2], peak))
}

/// One run of `exe`: its wall time and peak resident set in KiB (see
/// [`measure`]); an exit code not in `ok` is an error.
pub fn run_once(exe: &Path, args: &[&str], ok: &[i32]) -> anyhow::Result<(Duration, u64)> {
    let start = Instant::now();
    let child = Command::new(exe)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let pid = child.id() as libc::pid_t;
    let status_file = format!("/proc/{pid}/status");
    let mut hwm = 0;
    let mut status = 0;
    loop {
        if let Some(kib) = std::fs::read_to_string(&status_file).ok().and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        }) {
            hwm = hwm.max(kib);
        }
        // SAFETY: plain non-blocking waitpid on our own child.
        let done = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        anyhow::ensure!(done >= 0, "waitpid failed");
        if done == pid {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let took = start.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    anyhow::ensure!(ok.contains(&code), "breachscan {args:?} exited with {code}");
    Ok((took, hwm))
}

/// Quotes a path for `sh -c`.
pub fn sh_quote(p: &std::path::Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', r"'\''"))
}

/// xorshift64*: fast, deterministic filler (not for anything secret).
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for c in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            c.copy_from_slice(&v[..c.len()]);
        }
    }
}
