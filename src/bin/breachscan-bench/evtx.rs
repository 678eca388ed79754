//! The event-log benchmark (issue: EVTX, point 7): records/s of a bare parse
//! of the logs (evtx crate to JSON, files spread over all cores) beside
//! breachscan scanning the same logs with 10,000-IOC bundles: one with digest
//! IOCs (so every log is also hashed, which a bare parse does not do), one
//! of record types only (the record pipeline alone), one with wide hits.
//!
//! The logs are real ones (by default `../shared/corpus/evtx`), hard-linked
//! `--copies` times into one folder so the run is long enough to time.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use evtx::{EvtxParser, ParserSettings};
use rayon::prelude::*;
use sha2::Digest;

use crate::{breachscan_exe, measure, sh_quote, time_once};

#[derive(clap::Args)]
pub struct Args {
    /// Folder holding the logs to replicate (searched recursively).
    #[arg(long, default_value = "../shared/corpus/evtx")]
    logs: PathBuf,
    /// Copies of each log (hard links).
    #[arg(long, default_value_t = 8)]
    copies: usize,
    /// Where the replicated logs and the bundle go.
    #[arg(long, default_value = "target/bench-data/evtx")]
    dir: PathBuf,
    /// Sigma rules scanned over the same logs (the SigmaHQ Windows set).
    #[arg(long, default_value = "../shared/corpus/sigma/rules/windows")]
    rules: PathBuf,
    /// Timed rounds (the median of each measurement is shown).
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Hayabusa's rules config folder (`rules/config` of hayabusa-rules),
    /// which it cannot run without; its row needs `hayabusa` on the PATH.
    #[arg(long)]
    hayabusa_config: Option<PathBuf>,
    /// Chainsaw's Sigma mapping (`mappings/sigma-event-logs-all.yml` of its
    /// source); its row needs `chainsaw` on the PATH.
    #[arg(long)]
    chainsaw_mapping: Option<PathBuf>,
}

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    let logs = find_logs(&args.logs)?;
    anyhow::ensure!(
        !logs.is_empty(),
        "no EVTX files under {}",
        args.logs.display()
    );
    let data = args.dir.join("logs");
    if data.exists() {
        fs::remove_dir_all(&data)?;
    }
    let mut files = Vec::new();
    for copy in 0..args.copies {
        let sub = data.join(format!("copy{copy:02}"));
        fs::create_dir_all(&sub)?;
        for (i, log) in logs.iter().enumerate() {
            let dst = sub.join(format!("{i:04}.evtx"));
            if fs::hard_link(log, &dst).is_err() {
                fs::copy(log, &dst).with_context(|| format!("copy {}", log.display()))?;
            }
            files.push(dst);
        }
    }
    let bytes: u64 = files
        .iter()
        .map(|f| fs::metadata(f).map_or(0, |m| m.len()))
        .sum();
    let quiet_bundle = write_bundle(&args.dir, Mix::Quiet)?;
    let hits_bundle = write_bundle(&args.dir, Mix::Hits)?;
    let record_bundle = write_bundle(&args.dir, Mix::RecordTypes)?;

    // Bare parse: every record rendered to JSON, files over all cores.
    let bare = || {
        files
            .par_iter()
            .map(|f| {
                let settings = ParserSettings::new().num_threads(1).indent(false);
                EvtxParser::from_path(f)
                    .map(|p| {
                        p.with_configuration(settings)
                            .records_json_bytes()
                            .filter(Result::is_ok)
                            .count() as u64
                    })
                    .unwrap_or(0)
            })
            .sum::<u64>()
    };
    // One run of each first (page cache, lazy pages), then rounds in which
    // every measurement runs once, so that a slow spell of this VM falls on
    // all of them alike; each figure is the median of its rounds.
    let scans = [
        ("10,000 IOCs, no hit", &quiet_bundle),
        (
            "10,000 IOCs of record types only (no digest: logs not hashed), no hit",
            &record_bundle,
        ),
        ("10,000 IOCs, 2 of them hit widely", &hits_bundle),
    ];
    let cmd = |bundle: &Path, report: &Path| {
        format!(
            "{} scan -q -b {} -o {} {}",
            sh_quote(&exe),
            sh_quote(bundle),
            sh_quote(report),
            sh_quote(&data)
        )
    };
    let reports: Vec<PathBuf> = (0..scans.len())
        .map(|i| args.dir.join(format!("report-{i}.json")))
        .collect();
    let rules_report = args.dir.join("report-rules.json");
    let rules_cmd = args.rules.is_dir().then(|| {
        format!(
            "{} scan -q --rules {} -o {} {}",
            sh_quote(&exe),
            sh_quote(&args.rules),
            sh_quote(&rules_report),
            sh_quote(&data)
        )
    });
    let bare_records = bare();
    for ((_, bundle), report) in scans.iter().zip(&reports) {
        time_once(&cmd(bundle, report), &[0, 1])?;
    }
    if let Some(c) = &rules_cmd {
        time_once(c, &[0, 1])?;
    }
    let mut rules_times = Vec::new();
    let mut bare_times = Vec::new();
    let mut scan_times = vec![Vec::new(); scans.len()];
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        bare();
        bare_times.push(start.elapsed());
        for (i, (_, bundle)) in scans.iter().enumerate() {
            scan_times[i].push(time_once(&cmd(bundle, &reports[i]), &[0, 1])?);
        }
        if let Some(c) = &rules_cmd {
            rules_times.push(time_once(c, &[0, 1])?);
        }
    }
    let median = |mut v: Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let bare_time = median(bare_times);

    println!(
        "\n{} logs ({} distinct × {} copies), {:.1} MB; medians of {} interleaved rounds\n",
        files.len(),
        logs.len(),
        args.copies,
        bytes as f64 / 1e6,
        args.runs.max(1)
    );
    println!("| tool | records | time | records/s | vs bare parse |");
    println!("|---|---:|---:|---:|---:|");
    let rate = |n: u64, t: Duration| n as f64 / t.as_secs_f64();
    let bare_rate = rate(bare_records, bare_time);
    println!(
        "| evtx crate → JSON (bare parse, all cores) | {bare_records} | {:.2} s | {bare_rate:.0} | 1.00× |",
        bare_time.as_secs_f64()
    );
    for (((label, _), times), report) in scans.iter().zip(scan_times).zip(&reports) {
        let scan_time = median(times);
        let r: serde_json::Value = serde_json::from_slice(&fs::read(report)?)?;
        let scanned = r["summary"]["recordsScanned"].as_u64().unwrap_or(0);
        let evidence = r["summary"]["evidence"].as_u64().unwrap_or(0);
        let ours = rate(scanned, scan_time);
        println!(
            "| breachscan, {label} ({evidence} evidence) | {scanned} | {:.2} s | {ours:.0} | {:.2}× |",
            scan_time.as_secs_f64(),
            ours / bare_rate
        );
    }
    if rules_cmd.is_some() {
        let t = median(rules_times);
        let r: serde_json::Value = serde_json::from_slice(&fs::read(&rules_report)?)?;
        let scanned = r["summary"]["recordsScanned"].as_u64().unwrap_or(0);
        let evidence = r["summary"]["evidence"].as_u64().unwrap_or(0);
        let rules: u64 = r["rules"]
            .as_array()
            .map_or(0, |f| f.iter().filter_map(|f| f["rules"].as_u64()).sum());
        let ours = rate(scanned, t);
        println!(
            "| breachscan, {rules} Sigma rules ({evidence} evidence) | {scanned} | {:.2} s | {ours:.0} | {:.2}× |",
            t.as_secs_f64(),
            ours / bare_rate
        );
    } else {
        println!(
            "(no Sigma rules at {}: rules row skipped)",
            args.rules.display()
        );
    }
    peers(args, &data.join("copy00"), bare_rate)?;
    big_log(args, &exe, &logs, &quiet_bundle)
}

/// Chainsaw and Hayabusa with the same rules on one copy of the logs (they
/// take minutes where breachscan takes seconds: one run each, after a
/// warm-up of the page cache by the rounds above). Their rate is the
/// records of those logs (as the bare parse counts them) over their time.
fn peers(args: &Args, logs: &Path, bare_rate: f64) -> Result<()> {
    if !args.rules.is_dir() {
        return Ok(());
    }
    let records = count_records(&find_logs(logs)?);
    let out = args.dir.join("peer-out");
    let rules = sh_quote(&args.rules);
    let runs: [(&str, Option<&PathBuf>, &str, String); 2] = [
        (
            "chainsaw",
            args.chainsaw_mapping.as_ref(),
            "--chainsaw-mapping",
            format!(
                "hunt {} -s {rules} --mapping {{cfg}} --jsonl -q --skip-errors -o {}",
                sh_quote(logs),
                sh_quote(&out)
            ),
        ),
        (
            "hayabusa",
            args.hayabusa_config.as_ref(),
            "--hayabusa-config",
            // -A -a: the rules are plain Sigma (no Channel condition of
            // hayabusa's converted set), so its channel filter would drop
            // all but a few; every rule is asked on every record instead.
            format!(
                "dfir-timeline -d {} -r {rules} -c {{cfg}} -A -a -w -q -Q -N -K -C -t jsonl -o {}",
                sh_quote(logs),
                sh_quote(&out)
            ),
        ),
    ];
    for (name, cfg, flag, cmd) in runs {
        let (Some(exe), Some(cfg)) = (which(name), cfg) else {
            println!("({name} is not on the PATH or {flag} is not given: its row is skipped)");
            continue;
        };
        let _ = fs::remove_file(&out);
        let cmd = format!(
            "{} {}",
            sh_quote(&exe),
            cmd.replace("{cfg}", &sh_quote(cfg))
        );
        let t = time_once(&cmd, &[0])?;
        let rate = records as f64 / t.as_secs_f64();
        println!(
            "| {name} ({}), same rules, 1 copy, one run | {records} | {:.2} s | {rate:.0} | {:.3}× |",
            peer_version(&exe),
            t.as_secs_f64(),
            rate / bare_rate
        );
    }
    Ok(())
}

/// Records in `files`, as the bare parse counts them.
fn count_records(files: &[PathBuf]) -> u64 {
    files
        .par_iter()
        .map(|f| {
            EvtxParser::from_path(f).map_or(0, |p| {
                p.with_configuration(ParserSettings::new().num_threads(1))
                    .records_json_bytes()
                    .filter(Result::is_ok)
                    .count() as u64
            })
        })
        .sum()
}

/// The first line `--version` (or, for tools without it, `help`) prints,
/// up to a ` - `, for the table.
fn peer_version(exe: &Path) -> String {
    ["--version", "help"]
        .iter()
        .find_map(|arg| {
            let o = std::process::Command::new(exe).arg(arg).output().ok()?;
            o.status.success().then_some(())?;
            let text = String::from_utf8_lossy(&o.stdout).into_owned();
            let line = text.lines().find(|l| !l.trim().is_empty())?;
            Some(line.split(" - ").next()?.trim().to_string())
        })
        .unwrap_or_else(|| "version unknown".into())
}

/// `name` on the PATH.
fn which(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// One big log (the corpus logs' chunks repeated to ~600 MB): records/s of
/// the crate's own multi-threaded parse beside breachscan's, and
/// breachscan's peak memory, which must not grow with the log.
fn big_log(args: &Args, exe: &Path, logs: &[PathBuf], bundle: &Path) -> Result<()> {
    const SIZE: usize = 600 << 20;
    let path = args.dir.join("big.evtx");
    if fs::metadata(&path).map_or(true, |m| m.len() < SIZE as u64) {
        let mut chunks = Vec::new();
        for log in logs {
            let data = fs::read(log)?;
            for c in data.get(4096..).unwrap_or_default().chunks_exact(65536) {
                if c.starts_with(b"ElfChnk\0") {
                    chunks.push(c.to_vec());
                }
            }
        }
        anyhow::ensure!(!chunks.is_empty(), "no chunks in the logs");
        let first = fs::read(&logs[0])?;
        let header = first
            .get(..4096)
            .with_context(|| format!("{}: shorter than an EVTX header", logs[0].display()))?;
        let mut out = std::io::BufWriter::new(fs::File::create(&path)?);
        std::io::Write::write_all(&mut out, header)?;
        let mut written = 4096;
        while written < SIZE {
            for c in &chunks {
                std::io::Write::write_all(&mut out, c)?;
                written += c.len();
            }
        }
        std::io::Write::flush(&mut out)?;
    }
    let size = fs::metadata(&path)?.len();
    let bare = || -> u64 {
        let settings = ParserSettings::new().num_threads(0).indent(false);
        EvtxParser::from_path(&path).map_or(0, |p| {
            p.with_configuration(settings)
                .records_json_bytes()
                .filter(Result::is_ok)
                .count() as u64
        })
    };
    let records = bare();
    let mut times = Vec::new();
    for _ in 0..args.runs.max(1) {
        let start = Instant::now();
        bare();
        times.push(start.elapsed());
    }
    times.sort();
    let bare_time = times[times.len() / 2];
    let report = args.dir.join("report-big.json");
    let p = |x: &Path| x.to_str().unwrap_or_default().to_string();
    let scan_args = ["scan", "-q", "-b", &p(bundle), "-o", &p(&report), &p(&path)];
    let (scan_time, peak_kib) = measure(exe, &scan_args, args.runs, &[0, 1])?;
    let r: serde_json::Value = serde_json::from_slice(&fs::read(&report)?)?;
    let scanned = r["summary"]["recordsScanned"].as_u64().unwrap_or(0);
    let rate = |n: u64, t: Duration| n as f64 / t.as_secs_f64();
    println!(
        "\nOne {:.0} MB log (the corpus chunks repeated), medians of {}:\n",
        size as f64 / 1e6,
        args.runs.max(1)
    );
    println!("| tool | records | time | records/s | vs bare parse | peak RSS |");
    println!("|---|---:|---:|---:|---:|---:|");
    println!(
        "| evtx crate → JSON (its own multi-threaded parse) | {records} | {:.2} s | {:.0} | 1.00× | — |",
        bare_time.as_secs_f64(),
        rate(records, bare_time)
    );
    println!(
        "| breachscan, 10,000 IOCs, no hit | {scanned} | {:.2} s | {:.0} | {:.2}× | {:.0} MB |",
        scan_time.as_secs_f64(),
        rate(scanned, scan_time),
        rate(scanned, scan_time) / rate(records, bare_time),
        peak_kib as f64 / 1024.0
    );
    Ok(())
}

fn find_logs(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry?;
        if entry.file_type().is_file() {
            let mut head = [0u8; 8];
            if fs::File::open(entry.path())
                .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut head))
                .is_ok()
                && &head == b"ElfFile\0"
            {
                out.push(entry.into_path());
            }
        }
    }
    Ok(out)
}

/// The bench bundles.
#[derive(Clone, Copy, PartialEq)]
enum Mix {
    /// 10,000 IOCs of mixed types (SHA-256 among them) that the corpus does
    /// not contain: matching cost alone, every log hashed too.
    Quiet,
    /// The same with two IOCs replaced by ones that hit thousands of records
    /// (`cmd.exe`, the lab's 10.0.2.0/24), adding evidence volume.
    Hits,
    /// 10,000 IOCs of the types only records can hold (no digest, so no
    /// file is hashed): the record pipeline alone beside the bare parse.
    RecordTypes,
}

fn write_bundle(dir: &Path, mix: Mix) -> Result<PathBuf> {
    let mut iocs = Vec::new();
    let mut ioc = |t: &str, v: String, f: &str| {
        let n = iocs.len();
        iocs.push(
            serde_json::json!({"id": format!("i{n}"), "alertDefinitionId": "b",
            "type": t, "value": v, "detectionFunction": f}),
        );
    };
    let per_type: u32 = if mix == Mix::RecordTypes { 2500 } else { 2000 };
    for i in 0..per_type {
        if mix != Mix::RecordTypes {
            // Digests as real ones look: random hex (of a counter).
            let digest = sha2::Sha256::digest(format!("bench-ioc-{i}").as_bytes());
            ioc("Sha256", hex::encode(digest), "Equals");
        }
        ioc(
            "IpAddress",
            format!("198.18.{}.{}/32", i / 256, i % 256),
            "Equals",
        );
        ioc("DomainName", format!("c2-{i}.bench-evil.example"), "Equals");
        ioc("FileName", format!("implant{i}.exe"), "Equals");
        ioc(
            "Url",
            format!("https://cdn{i}.bench-evil.example/p"),
            "StartWith",
        );
    }
    if mix == Mix::Hits {
        iocs.truncate(9_998);
        let mut ioc = |t: &str, v: &str, n: usize| {
            iocs.push(
                serde_json::json!({"id": format!("hit{n}"), "alertDefinitionId": "b",
                "type": t, "value": v, "detectionFunction": "Equals"}),
            );
        };
        ioc("FileName", "cmd.exe", 0);
        ioc("IpAddress", "10.0.2.0/24", 1);
    }
    let b = serde_json::json!({
        "alertDefinitions": [{"id": "b", "name": "bench", "severity": "Low"}],
        "iocs": iocs
    });
    fs::create_dir_all(dir)?;
    let p = dir.join(match mix {
        Mix::Quiet => "bundle-10k.json",
        Mix::Hits => "bundle-10k-hits.json",
        Mix::RecordTypes => "bundle-10k-records.json",
    });
    fs::write(&p, serde_json::to_vec(&b)?)?;
    Ok(p)
}
