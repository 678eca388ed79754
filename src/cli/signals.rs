//! Ctrl-C and SIGTERM during a scan: the first asks the scan to stop (it
//! finishes the chunk it is reading and writes a report marked
//! incomplete); a second one, or a scan still running [`GRACE`] later
//! (stuck reading a pipe or a dead network share), ends the process at
//! once, removing the unfinished report file.
//!
//! The signals are blocked in every thread and taken by one thread of our
//! own with `sigwait`, so nothing runs in signal-handler context.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::stop::Stop;

/// How long a stopping scan may take before the process ends without it.
pub const GRACE: Duration = Duration::from_secs(10);

/// The temporary report file to remove if the process must end at once.
pub type Unfinished = Arc<Mutex<Option<PathBuf>>>;

/// The conventional exit code of a process ended by `signal`.
pub fn exit_code(signal: i32) -> u8 {
    (128 + signal).clamp(0, 255) as u8
}

pub fn name(signal: i32) -> &'static str {
    match signal {
        libc::SIGINT => "SIGINT",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP",
        _ => "a signal",
    }
}

/// Blocks SIGINT, SIGTERM and SIGHUP in this thread (and so in every thread
/// it starts from now on) and starts the thread that takes them. Call
/// before any other thread is started.
pub fn install(stop: Stop, unfinished: Unfinished) -> std::io::Result<()> {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid sigset_t; the signal numbers are valid.
    unsafe {
        libc::sigemptyset(&mut set);
        for s in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
            libc::sigaddset(&mut set, s);
        }
    }
    // SAFETY: `set` is initialised; the old mask is not wanted.
    let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if rc != 0 {
        return Err(std::io::Error::from_raw_os_error(rc));
    }
    std::thread::Builder::new()
        .name("breachscan-signals".into())
        .spawn(move || wait(set, stop, unfinished))?;
    Ok(())
}

fn wait(set: libc::sigset_t, stop: Stop, unfinished: Unfinished) {
    let mut first = 0;
    // SAFETY: `set` is initialised and `first` is a valid out pointer.
    if unsafe { libc::sigwait(&set, &mut first) } != 0 {
        return;
    }
    stop.request(first);
    eprintln!(
        "\nbreachscan: {} received: stopping and writing the report of what was scanned \
         (again to quit at once)",
        name(first)
    );
    let timeout = libc::timespec {
        tv_sec: GRACE.as_secs() as libc::time_t,
        tv_nsec: 0,
    };
    // SAFETY: valid set and timeout; no siginfo wanted.
    let second = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &timeout) };
    let why = if second > 0 {
        format!("{} received again", name(second))
    } else {
        format!("the scan did not stop within {} s", GRACE.as_secs())
    };
    if let Some(tmp) = unfinished
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
    {
        let _ = std::fs::remove_file(tmp);
    }
    eprintln!("breachscan: {why}: quitting without a report");
    std::process::exit(i32::from(exit_code(first)));
}
