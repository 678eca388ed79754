//! The report-merge benchmark: a batch's shard reports merged into one.
//!
//! Data: one real shard report (a scan of a folder of 1,000 small files,
//! each evidence of a FileName IOC), copied into `--shards` reports that
//! differ in their target's name, as the units of a batch over as many
//! folders would. Figures: `report merge` wall time and peak memory.

use std::fs;
use std::path::PathBuf;

use anyhow::Result;

use crate::{breachscan_exe, measure};

#[derive(clap::Args)]
pub struct Args {
    /// Where the generated data lives (reused across runs).
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// Shard reports to merge.
    #[arg(long, default_value_t = 1000)]
    shards: usize,
    /// Evidence items in each shard.
    #[arg(long, default_value_t = 1000)]
    evidence: usize,
    /// Timed runs (the median is shown).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    let base = args.dir.join("merge");
    let files = base.join("t0000");
    let shards = base.join(format!("shards-{}x{}", args.shards, args.evidence));
    fs::create_dir_all(&shards)?;
    if !files.join(".done").exists() {
        fs::create_dir_all(&files)?;
        for i in 0..args.evidence {
            fs::write(
                files.join(format!("file-{i:05}.txt")),
                format!("payload {i}\n"),
            )?;
        }
        fs::write(files.join(".done"), b"")?;
    }
    let bundle = base.join("bundle.json");
    fs::write(
        &bundle,
        r#"{"alertDefinitions":[{"id":"a","name":"Staged payloads","severity":"High"}],
            "iocs":[{"id":"i","alertDefinitionId":"a","type":"FileName","value":"file-","detectionFunction":"StartWith"}]}"#,
    )?;
    let first = base.join("shard-0000.json");
    let status = std::process::Command::new(&exe)
        .args(["scan", "-q", "--as-of", "2026-01-01T00:00:00Z", "-b"])
        .arg(&bundle)
        .arg("-o")
        .arg(&first)
        .arg(&files)
        .status()?;
    anyhow::ensure!(status.code() == Some(1), "the shard scan failed: {status}");
    let text = fs::read_to_string(&first)?;
    let target = files.display().to_string();
    let mut paths = Vec::with_capacity(args.shards);
    for n in 0..args.shards {
        let p = shards.join(format!("{n:05}.json"));
        if !p.exists() {
            let renamed = target.replace("t0000", &format!("t{n:04}"));
            fs::write(&p, text.replace(&target, &renamed))?;
        }
        paths.push(p.display().to_string());
    }
    let shard_mb = fs::metadata(&first)?.len() as f64 / 1e6;
    let out = base.join("merged.json");
    let mut argv = vec!["report", "merge", "-o", out.to_str().unwrap_or_default()];
    argv.extend(paths.iter().map(String::as_str));
    let (took, peak) = measure(&exe, &argv, args.runs, &[1])?;
    println!(
        "\n{} shard reports of {} evidence items ({:.1} MB each, {:.0} MB in all)\n",
        args.shards,
        args.evidence,
        shard_mb,
        shard_mb * args.shards as f64
    );
    println!("| merge | evidence | time | evidence/s | peak memory | merged report |");
    println!("|---|---:|---:|---:|---:|---:|");
    let total = args.shards * args.evidence;
    println!(
        "| breachscan report merge | {total} | {:.2} s | {:.0} | {} MB | {:.0} MB |",
        took.as_secs_f64(),
        total as f64 / took.as_secs_f64(),
        peak / 1024,
        fs::metadata(&out)?.len() as f64 / 1e6
    );
    Ok(())
}
