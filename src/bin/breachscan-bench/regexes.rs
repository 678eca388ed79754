//! Regex-heavy bundles (issue: speed at real bundle sizes, point 1): Loki's
//! signature-base, its hash IOCs alone beside all of it (hashes, 3,700
//! file-name regexes, C2 addresses and domains), over the corpus logs and
//! over a generated tree of 100,000 small files with Windows-like paths.
//! Target: the whole set within 1.5× the time of the hashes alone, peak
//! memory under 100 MB above it.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::{Rng, breachscan_exe, measure};

#[derive(clap::Args)]
pub struct Args {
    /// Loki's signature-base `iocs` folder (hash-iocs.txt, filename-iocs.txt,
    /// c2-iocs.txt).
    #[arg(long, default_value = "../shared/corpus/bundles/signature-base")]
    signature_base: PathBuf,
    /// Event logs scanned (searched recursively).
    #[arg(long, default_value = "../shared/corpus/evtx")]
    logs: PathBuf,
    /// Where the generated tree lives (reused across runs).
    #[arg(long, default_value = "target/bench-data/regexes")]
    dir: PathBuf,
    /// Files in the generated tree.
    #[arg(long, default_value_t = 100_000)]
    files: usize,
    /// Timed runs per measurement (the median is shown).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    let sb = |f: &str| args.signature_base.join(f).display().to_string();
    let (hashes, names, c2) = (
        sb("hash-iocs.txt"),
        sb("filename-iocs.txt"),
        sb("c2-iocs.txt"),
    );
    let tree = args.dir.join("tree");
    ensure_tree(&tree, args.files)?;
    let out = args.dir.join("report.json").display().to_string();
    println!(
        "\nLoki signature-base: hash IOCs alone beside hash + file-name regexes + C2 IOCs; \
         medians of {}\n",
        args.runs
    );
    println!("| data | bundle | time | peak RSS | vs hash IOCs alone |");
    println!("|---|---|---:|---:|---:|");
    let data = [
        (
            format!("{} (event logs)", args.logs.display()),
            args.logs.clone(),
        ),
        (format!("{} files, Windows-like paths", args.files), tree),
    ];
    for (label, target) in &data {
        let target = target.display().to_string();
        let mut base = None;
        for (name, bundles) in [
            ("hash-iocs.txt", vec![hashes.as_str()]),
            (
                "hash + filename + c2 (3,702 regexes)",
                vec![hashes.as_str(), names.as_str(), c2.as_str()],
            ),
        ] {
            let mut argv = vec!["scan", "-q", "-o", out.as_str()];
            for b in &bundles {
                argv.extend(["--bundle", b]);
            }
            argv.push(target.as_str());
            let (t, kib) = measure(&exe, &argv, args.runs, &[0, 1, 3])?;
            let secs = t.as_secs_f64();
            let (b0, _) = *base.get_or_insert((secs, kib));
            println!(
                "| {label} | {name} | {secs:.2} s | {:.0} MB | {:.2}× |",
                kib as f64 / 1024.0,
                secs / b0
            );
        }
    }
    Ok(())
}

/// Folders and names a Windows drive has, for paths the file-name regexes
/// are written against (none is a Loki IOC on its own).
const DIRS: &[&str] = &[
    "Windows/System32",
    "Windows/SysWOW64",
    "Windows/Temp",
    "Windows/System32/drivers",
    "Program Files/Common Files/microsoft shared",
    "Program Files (x86)/Microsoft Office/root/Office16",
    "ProgramData/Microsoft/Windows/Start Menu/Programs",
    "Users/alice/AppData/Local/Temp",
    "Users/alice/AppData/Roaming/Microsoft/Windows/Recent",
    "Users/bob/Documents",
    "Users/bob/Downloads",
    "inetpub/wwwroot/aspnet_client/system_web",
];
const STEMS: &[&str] = &[
    "kernelbase",
    "ntdll",
    "msvcrt",
    "user32",
    "report",
    "setup",
    "update",
    "index",
    "readme",
    "config",
    "cache",
    "thumb",
    "invoice",
    "photo",
    "data",
    "log",
];
const EXTS: &[&str] = &[
    "dll", "exe", "sys", "txt", "log", "jpg", "docx", "xml", "aspx", "tmp",
];

fn ensure_tree(dir: &Path, n: usize) -> Result<()> {
    let done = dir.join(format!(".done-{n}"));
    if done.exists() {
        return Ok(());
    }
    eprintln!("generating {n} files in {}…", dir.display());
    let _ = fs::remove_dir_all(dir);
    let mut rng = Rng(0x5eed_1234);
    for i in 0..n {
        let base = DIRS[(rng.next_u64() % DIRS.len() as u64) as usize];
        let sub = dir.join(base).join(format!("{:02}", i % 50));
        if i < DIRS.len() * 50 || !sub.exists() {
            fs::create_dir_all(&sub)?;
        }
        let stem = STEMS[(rng.next_u64() % STEMS.len() as u64) as usize];
        let ext = EXTS[(rng.next_u64() % EXTS.len() as u64) as usize];
        let body = format!("file {i}\n").repeat(1 + (i % 64));
        fs::write(sub.join(format!("{stem}{i}.{ext}")), body)?;
    }
    crate::sync_disk()?;
    fs::write(done, b"")?;
    Ok(())
}
