//! Shared helpers for the integration tests: run the real binary the way a
//! user does and read its report.
#![allow(dead_code)]

pub mod batch;
pub mod evtx_templates;
pub mod hive;
pub mod sigma;
// The plain writer lives inside the template writer (which shares its
// framing, and is also compiled into the crate's unit tests).
#[allow(unused_imports)]
pub use evtx_templates::plain as evtx;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

pub fn breachscan(args: &[&str]) -> Run {
    let out = Command::new(env!("CARGO_BIN_EXE_breachscan"))
        .args(args)
        .output()
        .expect("run breachscan");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `breachscan scan -q -b BUNDLE -o REPORT [EXTRA…] TARGET`, and the report.
pub fn scan_to(bundle: &Path, report: &Path, target: &Path, extra: &[&str]) -> (Run, Value) {
    scan_bundles(&[bundle], report, target, extra)
}

/// `breachscan scan -q -b B1 -b B2 … -o REPORT [EXTRA…] TARGET`, and the
/// report.
pub fn scan_bundles(
    bundles: &[&Path],
    report: &Path,
    target: &Path,
    extra: &[&str],
) -> (Run, Value) {
    let mut args = vec!["scan", "-q"];
    for b in bundles {
        args.extend(["-b", b.to_str().unwrap()]);
    }
    args.extend(["-o", report.to_str().unwrap()]);
    args.extend_from_slice(extra);
    args.push(target.to_str().unwrap());
    let run = breachscan(&args);
    let value = read_report(report);
    (run, value)
}

/// Reads a report file: it must be JSON, valid against the report's
/// schema, and read back into the report model unchanged.
pub fn read_report(path: &Path) -> Value {
    let v = serde_json::from_slice(&std::fs::read(path).expect("report written"))
        .expect("report is JSON");
    check_report(&v);
    v
}

/// [`read_report`] for a report written to stdout.
pub fn parse_report(text: &str) -> Value {
    let v = serde_json::from_str(text).expect("report is JSON");
    check_report(&v);
    v
}

/// Every report a test produces is checked here: valid against
/// `schemas/report.schema.json`, and read back by the report model into
/// the very same JSON.
pub fn check_report(v: &Value) {
    static SCHEMA: std::sync::OnceLock<jsonschema::Validator> = std::sync::OnceLock::new();
    let validator = SCHEMA.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/report.schema.json");
        let schema: Value =
            serde_json::from_slice(&std::fs::read(path).expect("schema present")).expect("JSON");
        jsonschema::options()
            .should_validate_formats(true)
            .build(&schema)
            .expect("the schema compiles")
    });
    let errors: Vec<String> = validator
        .iter_errors(v)
        .take(10)
        .map(|e| format!("{e} (at {})", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match its schema:\n{}",
        errors.join("\n")
    );
    let model: breachscan::report::Report =
        serde_json::from_value(v.clone()).expect("the report reads back");
    assert_eq!(
        &serde_json::to_value(&model).expect("serializes"),
        v,
        "the report reads back unchanged"
    );
}

/// A folder of the shared real-world corpus, or `None` (saying so) when it
/// is absent: corpus checks skip rather than fail without it.
pub fn corpus(sub: &str) -> Option<PathBuf> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/corpus")
        .join(sub);
    if p.is_dir() {
        Some(p)
    } else {
        eprintln!("corpus folder {} absent: check skipped", p.display());
        None
    }
}

/// xorshift64: deterministic, so a failure reproduces.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Every evidence item in a report, alert by alert.
pub fn evidence(report: &Value) -> impl Iterator<Item = &Value> {
    report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap().iter())
}

/// Every evidence item of kind `file` in a report.
pub fn file_evidence(report: &Value) -> impl Iterator<Item = &Value> {
    evidence(report).filter(|e| e["kind"] == "file")
}

/// The bytes of a gzip-compressed sample.
pub fn gunzip(path: &Path) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).expect("sample exists"))
        .read_to_end(&mut out)
        .expect("sample is gzip");
    out
}

/// The repository's `samples/` folder.
pub fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("samples")
}

/// `(ioc id, location path)` of every evidence item, sorted.
pub fn hits(report: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap().iter())
        .map(|e| {
            (
                e["ioc"]["id"].as_str().unwrap().to_string(),
                e["location"]["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// `(ioc id, record id, field)` of every record evidence item, of the log
/// at `path` when given.
pub fn record_hits(report: &Value, path: Option<&str>) -> BTreeSet<(String, u64, String)> {
    report["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["evidence"].as_array().unwrap())
        .filter(|e| e["kind"] == "record" && path.is_none_or(|p| e["location"]["path"] == p))
        .map(|e| {
            (
                e["ioc"]["id"].as_str().unwrap().to_string(),
                e["record"]["recordId"].as_u64().unwrap(),
                e["field"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// `(kind, path)` of every entry in `errors`, sorted.
pub fn problems(report: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["kind"].as_str().unwrap().to_string(),
                e["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

/// The `errors` entries, but for the one every NTFS volume has: its
/// bad-cluster map listed as not file content.
pub fn errors_but_bad_clusters(report: &Value) -> Vec<Value> {
    report["errors"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            !(e["kind"] == "notFileContent"
                && e["path"].as_str().unwrap().ends_with("/$BadClus:$Bad"))
        })
        .cloned()
        .collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

pub fn sha1_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha1::Sha1::digest(data))
}

pub fn md5_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(md5::Md5::digest(data))
}

/// How a limited run ended.
pub struct Limited {
    pub run: Run,
    /// Killed for running past its time.
    pub timed_out: bool,
    /// The signal that ended it, if one did (SIGABRT on a failed
    /// allocation or a stack overflow, SIGKILL on a timeout).
    pub signal: Option<i32>,
}

/// Runs breachscan with at most `mem_mib` MiB of address space and
/// `secs` seconds, the way a robustness test must: an input that makes it
/// allocate without bound or loop then fails the test (abort or timeout)
/// instead of taking the machine or the CI run with it.
pub fn breachscan_limited(args: &[&str], mem_mib: u64, secs: u64) -> Limited {
    use std::io::Read;
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    use std::process::Stdio;
    let limit = mem_mib << 20;
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_breachscan"));
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe; nothing else runs between
    // fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            let rl = libc::rlimit {
                rlim_cur: limit,
                rlim_max: limit,
            };
            if libc::setrlimit(libc::RLIMIT_AS, &rl) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("run breachscan");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    let mut timed_out = false;
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if std::time::Instant::now() > deadline {
            timed_out = true;
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    Limited {
        run: Run {
            code: status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&t_out.join().unwrap()).into_owned(),
            stderr: String::from_utf8_lossy(&t_err.join().unwrap()).into_owned(),
        },
        timed_out,
        signal: status.signal(),
    }
}

/// Builds an ext4 volume of `size` (`8M`) holding `tree`, with
/// `mkfs.ext4 -d` (no mount); false, said on stderr, where e2fsprogs is
/// missing (CI installs it).
pub fn ext4_image(tree: &Path, image: &Path, size: &str) -> bool {
    let made = Command::new("mkfs.ext4")
        .args(["-q", "-F", "-d"])
        .arg(tree)
        .arg(image)
        .arg(size)
        .status();
    let ok = made.is_ok_and(|s| s.success());
    if !ok {
        eprintln!("mkfs.ext4 (e2fsprogs) not available: check skipped");
    }
    ok
}
