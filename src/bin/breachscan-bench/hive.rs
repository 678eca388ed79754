//! Registry hives (issue: hives, point 5): keys and values per second of
//! `breachscan hive dump` beside regipy (PyPI), which reads the same hive
//! in Python, when `python3 -c "import regipy"` works. Both read every key
//! and value and write nothing kept: breachscan its JSON lines to
//! /dev/null, regipy its subkeys' values counted.

use std::fs;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::{breachscan_exe, sh_quote, time_cmd};

#[derive(clap::Args)]
pub struct Args {
    /// Hive files (gzip-compressed ones are unpacked first).
    #[arg(default_values = ["samples/hives/NTUSER.DAT.gz", "samples/hives/amcache.hve.gz"])]
    hives: Vec<PathBuf>,
    /// Where unpacked hives go.
    #[arg(long, default_value = "target/bench-data/hive")]
    dir: PathBuf,
    /// Timed runs of breachscan (median); regipy runs once.
    #[arg(long, default_value_t = 5)]
    runs: usize,
}

const REGIPY: &str = r#"
import sys
from regipy.registry import RegistryHive
k = v = 0
for sk in RegistryHive(sys.argv[1]).recurse_subkeys(as_json=False):
    k += 1
    v += len(sk.values or [])
print(k, v)
"#;

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    fs::create_dir_all(&args.dir)?;
    let script = args.dir.join("regipy_count.py");
    fs::write(&script, REGIPY)?;
    let regipy = crate::have("python3")
        && std::process::Command::new("python3")
            .args(["-c", "import regipy"])
            .status()
            .is_ok_and(|s| s.success());
    println!("| hive | size | keys + values | breachscan hive dump | regipy | ratio |");
    println!("|---|---:|---:|---:|---:|---:|");
    for hive in &args.hives {
        let name = hive.file_name().context("hive path")?.to_string_lossy();
        let name = name.strip_suffix(".gz").unwrap_or(&name).to_string();
        let path = args.dir.join(&name);
        let bytes = fs::read(hive).with_context(|| format!("read {}", hive.display()))?;
        let bytes = if hive.extension().is_some_and(|e| e == "gz") {
            let mut out = Vec::new();
            std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut out)?;
            out
        } else {
            bytes
        };
        fs::write(&path, &bytes)?;
        let dump = std::process::Command::new(&exe)
            .args(["hive", "dump"])
            .arg(&path)
            .output()?;
        let items = dump.stdout.iter().filter(|&&b| b == b'\n').count();
        let cmd = format!(
            "{} hive dump {} > /dev/null",
            sh_quote(&exe),
            sh_quote(&path)
        );
        let ours = time_cmd(&cmd, args.runs, &[0, 1])?;
        let rate = |t: std::time::Duration| items as f64 / t.as_secs_f64();
        let peer = if regipy {
            let cmd = format!("python3 {} {}", sh_quote(&script), sh_quote(&path));
            Some(time_cmd(&cmd, 1, &[0])?)
        } else {
            None
        };
        println!(
            "| {name} | {:.1} MB | {items} | {:.3} s ({:.0}/s) | {} | {} |",
            bytes.len() as f64 / 1e6,
            ours.as_secs_f64(),
            rate(ours),
            peer.map_or("not installed".into(), |t| format!(
                "{:.2} s ({:.0}/s)",
                t.as_secs_f64(),
                rate(t)
            )),
            peer.map_or("—".into(), |t| format!(
                "{:.0}×",
                t.as_secs_f64() / ours.as_secs_f64()
            )),
        );
    }
    Ok(())
}
