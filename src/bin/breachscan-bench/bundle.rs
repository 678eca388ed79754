//! The bundle-scale benchmark (issue: IOC formats, point 7).
//!
//! Data: a native bundle of 1,000,000 IOCs of mixed types (hashes, file
//! names and paths, addresses and ranges, domains, URLs, registry keys,
//! with Equals, StartWith, EndWith and Contains) over 500 alert
//! definitions, a 10-IOC bundle, and a directory of 1 GiB (256 files of
//! 4 MiB) plus 20,000 small files. Generated once, deterministically.
//!
//! Figures: `bundle check` wall time and peak memory (what loading costs),
//! and `scan` of the directory with each bundle — total, and minus the
//! load — so scan speed can be compared with the small bundle's.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::{Rng, breachscan_exe, measure};

#[derive(clap::Args)]
pub struct Args {
    /// Where the generated data lives (reused across runs).
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// IOCs in the large bundle.
    #[arg(long, default_value_t = 1_000_000)]
    iocs: usize,
    /// Timed runs per measurement (the median is shown).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    let base = args.dir.join("bundle");
    fs::create_dir_all(&base)?;
    let big = base.join(format!("iocs-{}.json", args.iocs));
    if !big.exists() {
        eprintln!("writing a {}-IOC bundle…", args.iocs);
        write_bundle(&big, args.iocs)?;
    }
    let small = base.join("iocs-10.json");
    write_bundle(&small, 10)?;
    let tree = base.join("tree");
    if !tree.join(".done").exists() {
        eprintln!("writing the scanned directory…");
        write_tree(&tree)?;
    }
    let tree_bytes = 256u64 * (4 << 20) + 20_000 * 8192;
    println!(
        "\nbundle: {} IOCs ({:.0} MB); directory: 256 × 4 MiB + 20,000 × 8 KiB ({:.0} MB)\n",
        args.iocs,
        fs::metadata(&big)?.len() as f64 / 1e6,
        tree_bytes as f64 / 1e6
    );
    println!(
        "| bundle | bundle check (load) | peak memory | scan: total | of which load + compile | scanning | scan MB/s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let report = base.join("report.json");
    let mut small_speed = None;
    for (label, bundle) in [("10 IOCs", &small), (&*format!("{} IOCs", args.iocs), &big)] {
        let b = bundle.to_str().unwrap_or_default();
        let (load, load_rss) = measure(&exe, &["bundle", "check", b], args.runs, &[0])?;
        let r = report.to_str().unwrap_or_default();
        let t = tree.to_str().unwrap_or_default();
        let (scan, _) = measure(
            &exe,
            &["scan", "-q", "-b", b, "-o", r, t],
            args.runs,
            &[0, 1],
        )?;
        // The last run's own split of its time (report `scan.timings`).
        let rep: serde_json::Value = serde_json::from_slice(&fs::read(&report)?)?;
        let tm = &rep["scan"]["timings"];
        let startup =
            tm["bundleLoad"].as_f64().unwrap_or(0.0) + tm["matcherBuild"].as_f64().unwrap_or(0.0);
        let scanning = tm["scan"].as_f64().unwrap_or(f64::NAN);
        let speed = tree_bytes as f64 / 1e6 / scanning;
        let rel = small_speed.map_or(String::new(), |s: f64| format!(" ({:.2}×)", speed / s));
        small_speed.get_or_insert(speed);
        println!(
            "| {label} | {:.2} s | {:.0} MB | {:.2} s | {startup:.2} s | {scanning:.2} s | {speed:.0}{rel} |",
            load.as_secs_f64(),
            load_rss as f64 / 1024.0,
            scan.as_secs_f64(),
        );
    }
    Ok(())
}

fn write_bundle(path: &Path, n: usize) -> Result<()> {
    let mut out = std::io::BufWriter::new(fs::File::create(path)?);
    let defs = (n / 2000).clamp(1, 500);
    write!(out, "{{\"alertDefinitions\":[")?;
    for d in 0..defs {
        let sev = ["High", "Medium", "Low", "Informational"][d % 4];
        write!(
            out,
            "{}{{\"id\":\"ad-{d}\",\"name\":\"Campaign {d}\",\"severity\":\"{sev}\",\"category\":\"Malware\",\"mitreTechniques\":[\"T1059\"]}}",
            if d > 0 { "," } else { "" }
        )?;
    }
    write!(out, "],\"iocs\":[")?;
    let mut rng = Rng(7);
    for i in 0..n {
        let r = rng.next_u64();
        let (kind, value, function) = match i % 20 {
            0..=5 => (
                "Sha256",
                format!(
                    "{:016x}{:016x}{:016x}{:016x}",
                    r,
                    rng.next_u64(),
                    rng.next_u64(),
                    i
                ),
                "Equals",
            ),
            6..=8 => (
                "Sha1",
                format!("{:016x}{:016x}{:08x}", r, rng.next_u64(), i as u32),
                "Equals",
            ),
            9..=11 => ("Md5", format!("{:016x}{:016x}", r, i), "Equals"),
            12 => ("FileName", format!("tool{i}-{:x}.exe", r >> 40), "Equals"),
            13 => ("FileName", format!("dropper{i}"), "StartWith"),
            14 => (
                "FilePath",
                format!("C:\\Users\\Public\\stage{i}\\"),
                "StartWith",
            ),
            15 => (
                "IpAddress",
                format!(
                    "{}.{}.{}.{}",
                    11 + (r % 200),
                    (r >> 8) % 256,
                    (r >> 16) % 256,
                    (r >> 24) % 256
                ),
                "Equals",
            ),
            16 => (
                "IpAddress",
                format!(
                    "{}.{}.{}.0/24",
                    11 + (r % 200),
                    (r >> 8) % 256,
                    (r >> 16) % 256
                ),
                "Equals",
            ),
            17 => (
                "DomainName",
                format!("c2-{i}-{:x}.example-bad.net", r >> 48),
                "Equals",
            ),
            18 => (
                "Url",
                format!("http://dl-{i}.example-bad.org/p/{:x}", r >> 32),
                "Equals",
            ),
            _ => (
                "RegistryKey",
                format!("HKLM\\Software\\Evil{i}\\Run"),
                "Contains",
            ),
        };
        write!(
            out,
            "{}{{\"id\":\"i{i}\",\"type\":\"{kind}\",\"value\":{},\"detectionFunction\":\"{function}\",\"alertDefinitionId\":\"ad-{}\"}}",
            if i > 0 { "," } else { "" },
            serde_json::to_string(&value)?,
            i % defs
        )?;
    }
    write!(out, "]}}")?;
    out.flush()?;
    Ok(())
}

fn write_tree(tree: &Path) -> Result<()> {
    let _ = fs::remove_dir_all(tree);
    let mut rng = Rng(3);
    let mut buf = vec![0u8; 4 << 20];
    for i in 0..256 {
        let d = tree.join(format!("big/{:02}", i % 16));
        fs::create_dir_all(&d)?;
        for c in buf.chunks_mut(8) {
            c.copy_from_slice(&rng.next_u64().to_le_bytes()[..c.len()]);
        }
        fs::write(d.join(format!("f{i:03}.bin")), &buf)?;
    }
    for i in 0..20_000 {
        let d = tree.join(format!("small/{:03}", i % 200));
        if i < 200 {
            fs::create_dir_all(&d)?;
        }
        let off = (i * 4099) % (buf.len() - 8192);
        fs::write(d.join(format!("s{i:05}.dat")), &buf[off..off + 8192])?;
    }
    fs::write(tree.join(".done"), b"")?;
    Ok(())
}
