//! The disk-image benchmark (issue: disk images, point 8).
//!
//! Data: an NTFS volume of ~1.5 GiB holding a few thousand files of
//! pseudo-random bytes (a power-law-ish mix of small and large files),
//! built without mounting (mkntfs + wimlib-imagex apply), and the same
//! volume as an E01 (ewfacquire, deflate). Generated once and reused.
//!
//! breachscan runs with a bundle holding an MD5, a SHA-1 and a SHA-256 IOC,
//! so every file gets all three digests; fiwalk (TSK) computes MD5 and SHA-1
//! of every file by default. Both read the same image with a warm page
//! cache; MB/s is the bytes of file content breachscan reports hashing,
//! divided by each tool's wall time.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, ensure};

use crate::{Rng, breachscan_exe, have, sh_quote, time_cmd_in};

#[derive(clap::Args)]
pub struct Args {
    /// Where the generated data lives (reused across runs).
    #[arg(long, default_value = "target/bench-data")]
    dir: PathBuf,
    /// Size of the NTFS volume, in MiB.
    #[arg(long, default_value_t = 1536)]
    volume_mib: u64,
    /// Number of files in it.
    #[arg(long, default_value_t = 3000)]
    files: usize,
    /// Timed runs per measurement (the median is shown).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Drop the page cache before every run (root), for every tool.
    #[arg(long)]
    cold: bool,
}

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    for tool in ["mkntfs", "wimlib-imagex", "ewfacquire"] {
        ensure!(
            have(tool),
            "{tool} is needed to build the image (apt-get install ntfs-3g wimtools ewf-tools)"
        );
    }
    let base = args.dir.join("image");
    fs::create_dir_all(&base)?;
    let raw = base.join(format!("ntfs-{}m-{}f.raw", args.volume_mib, args.files));
    let e01 = raw.with_extension("E01");
    if !raw.exists() {
        build_image(&base, &raw, args)?;
    }
    if !e01.exists() {
        eprintln!("acquiring {} as E01…", raw.display());
        let target = e01.with_extension("");
        let status = Command::new("ewfacquire")
            .args([
                "-u",
                "-q",
                "-f",
                "encase6",
                "-c",
                "deflate:fast",
                "-S",
                "8GiB",
                "-t",
            ])
            .arg(&target)
            .arg(&raw)
            .status()?;
        ensure!(status.success() && e01.exists(), "ewfacquire failed");
    }
    let md5 = r#"{"id":"m","type":"Md5","value":"00000000000000000000000000000001","alertDefinitionId":"ad"}"#;
    let sha1 = r#"{"id":"s1","type":"Sha1","value":"0000000000000000000000000000000000000001","alertDefinitionId":"ad"}"#;
    let sha256 = r#"{"id":"s2","type":"Sha256","value":"0000000000000000000000000000000000000000000000000000000000000001","alertDefinitionId":"ad"}"#;
    let write_bundle = |name: &str, iocs: &[&str]| -> Result<PathBuf> {
        let p = base.join(name);
        fs::write(
            &p,
            format!(
                r#"{{"alertDefinitions":[{{"id":"ad","name":"bench","severity":"Low"}}],"iocs":[{}]}}"#,
                iocs.join(",")
            ),
        )?;
        Ok(p)
    };
    let bundles = [
        (
            "MD5+SHA-1+SHA-256",
            write_bundle("all-three.json", &[md5, sha1, sha256])?,
        ),
        ("MD5+SHA-1", write_bundle("md5-sha1.json", &[md5, sha1])?),
    ];
    let report = base.join("report.json");
    let image_bytes = fs::metadata(&raw)?.len();
    println!(
        "\nimage: NTFS {} MiB, {} files (raw {:.0} MB, E01 {:.0} MB)\n",
        args.volume_mib,
        args.files,
        image_bytes as f64 / 1e6,
        fs::metadata(&e01)?.len() as f64 / 1e6
    );
    if args.cold {
        println!("(page cache dropped before every run: data read from the disk)\n");
    }
    println!("| image | tool | digests | time | MB/s (file bytes) | vs fiwalk |");
    println!("|---|---|---|---:|---:|---:|");
    for (label, image) in [("raw", &raw), ("E01", &e01)] {
        let mut rows = Vec::new();
        let mut bytes = 0f64;
        for (digests, bundle) in &bundles {
            let cmd = format!(
                "{} scan -q -b {} -o {} {}",
                sh_quote(&exe),
                sh_quote(bundle),
                sh_quote(&report),
                sh_quote(image)
            );
            let took = time_cmd_in(&cmd, args.runs, &[0, 1], args.cold)?;
            let r: serde_json::Value = serde_json::from_slice(&fs::read(&report)?)?;
            bytes = r["summary"]["bytesHashed"]
                .as_u64()
                .context("bytesHashed")? as f64;
            let files = r["summary"]["filesScanned"].as_u64().unwrap_or(0);
            ensure!(
                files as usize >= args.files,
                "breachscan saw {files} files, fewer than the {} planted",
                args.files
            );
            rows.push(("breachscan", *digests, took));
        }
        if have("fiwalk") {
            let out = base.join("fiwalk.txt");
            // fiwalk refuses to overwrite its output file.
            let cmd = format!(
                "rm -f {o}; fiwalk -T {o} {}",
                sh_quote(image),
                o = sh_quote(&out)
            );
            rows.push((
                "fiwalk",
                "MD5+SHA-1",
                time_cmd_in(&cmd, args.runs, &[0], args.cold)?,
            ));
        }
        let mbs = |d: std::time::Duration| bytes / 1e6 / d.as_secs_f64();
        let peer = rows.iter().find(|r| r.0 == "fiwalk").map(|r| mbs(r.2));
        for (tool, digests, took) in &rows {
            let vs = peer.map_or("—".into(), |p| format!("{:.2}×", mbs(*took) / p));
            println!(
                "| {label} | {tool} | {digests} | {:.2} s | {:.0} | {vs} |",
                took.as_secs_f64(),
                mbs(*took)
            );
        }
        if peer.is_none() {
            println!("| {label} | fiwalk | not installed (apt-get install sleuthkit) | | | |");
        }
    }
    verify_rows(&exe, &e01, &bundles[1].1, &report, image_bytes, args)
}

/// `--verify-image` beside ewfverify on the E01: the scan with and without
/// the media hashed after it, and ewfverify (MD5 and SHA-1) alone. MB/s is
/// media bytes over wall time.
fn verify_rows(
    exe: &Path,
    e01: &Path,
    bundle: &Path,
    report: &Path,
    media: u64,
    args: &Args,
) -> Result<()> {
    println!("\n| E01 verification | time | MB/s (media) | vs ewfverify |");
    println!("|---|---:|---:|---:|");
    let scan = |extra: &str| {
        format!(
            "{} scan -q {extra} -b {} -o {} {}",
            sh_quote(exe),
            sh_quote(bundle),
            sh_quote(report),
            sh_quote(e01)
        )
    };
    let mut rows = vec![
        (
            "breachscan scan",
            time_cmd_in(&scan(""), args.runs, &[0, 1], args.cold)?,
        ),
        (
            "breachscan scan --verify-image",
            time_cmd_in(&scan("--verify-image"), args.runs, &[0, 1], args.cold)?,
        ),
    ];
    let r: serde_json::Value = serde_json::from_slice(&fs::read(report)?)?;
    ensure!(
        r["sources"][0]["image"]["verification"] == "match",
        "the bench E01 did not verify: {}",
        r["sources"][0]["image"]
    );
    if have("ewfverify") {
        let cmd = format!("ewfverify -q -d sha1 {}", sh_quote(e01));
        rows.push((
            "ewfverify -d sha1",
            time_cmd_in(&cmd, args.runs, &[0], args.cold)?,
        ));
    }
    let mbs = |d: std::time::Duration| media as f64 / 1e6 / d.as_secs_f64();
    let peer = rows
        .iter()
        .find(|r| r.0.starts_with("ewfverify"))
        .map(|r| r.1);
    for (tool, took) in &rows {
        let vs = peer.map_or("—".into(), |p| {
            format!("{:.2}×", p.as_secs_f64() / took.as_secs_f64())
        });
        println!(
            "| {tool} | {:.2} s | {:.0} | {vs} |",
            took.as_secs_f64(),
            mbs(*took)
        );
    }
    if peer.is_none() {
        println!("| ewfverify | not installed (apt-get install ewf-tools) | | |");
    }
    Ok(())
}

/// Sizes that fill ~85% of the volume: most files small (4–256 KiB), one
/// in twenty medium (1–4 MiB), the rest of the space in a few large ones
/// (one in a hundred).
fn sizes(args: &Args) -> Vec<u64> {
    let budget = args.volume_mib * (1 << 20) * 85 / 100;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut v: Vec<u64> = (0..args.files)
        .map(|i| {
            if i % 20 == 0 {
                (1 << 20) + rng.next_u64() % (3 << 20)
            } else {
                4096 + rng.next_u64() % (252 << 10)
            }
        })
        .collect();
    let used: u64 = v.iter().sum();
    let large = (args.files / 100).max(1);
    let rest = budget.saturating_sub(used) / large as u64;
    for s in v.iter_mut().skip(1).step_by(100).take(large) {
        *s = rest.max(*s);
    }
    v
}

fn build_image(base: &Path, raw: &Path, args: &Args) -> Result<()> {
    let payload = base.join("payload");
    let _ = fs::remove_dir_all(&payload);
    eprintln!("writing {} files…", args.files);
    let mut rng = Rng(42);
    let mut buf = vec![0u8; 1 << 20];
    for (i, size) in sizes(args).into_iter().enumerate() {
        let dir = payload.join(format!("d{:02}/s{:02}", i % 37, i % 11));
        fs::create_dir_all(&dir)?;
        let mut f = fs::File::create(dir.join(format!("file{i:05}.bin")))?;
        let mut left = size;
        while left > 0 {
            let n = left.min(buf.len() as u64) as usize;
            rng.fill(&mut buf[..n]);
            f.write_all(&buf[..n])?;
            left -= n as u64;
        }
    }
    eprintln!("building the NTFS volume…");
    let wim = base.join("payload.wim");
    let f = fs::File::create(raw)?;
    f.set_len(args.volume_mib << 20)?;
    drop(f);
    let sh = |cmd: String| -> Result<()> {
        let ok = Command::new("sh").args(["-c", &cmd]).status()?.success();
        ensure!(ok, "`{cmd}` failed");
        Ok(())
    };
    sh(format!(
        "mkntfs -F -Q -q -L BENCH {} >/dev/null 2>&1",
        sh_quote(raw)
    ))?;
    sh(format!(
        "wimlib-imagex capture {} {} bench --compress=none >/dev/null",
        sh_quote(&payload),
        sh_quote(&wim)
    ))?;
    sh(format!(
        "wimlib-imagex apply {} 1 {} >/dev/null",
        sh_quote(&wim),
        sh_quote(raw)
    ))?;
    fs::remove_file(&wim)?;
    fs::remove_dir_all(&payload)?;
    Ok(())
}
