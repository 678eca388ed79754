//! The cost of `--content` (issue 15, point 5): the same scan with and
//! without the search of file bytes for network IOCs, on the files bench's
//! random data (large and small files) and on text (proxy-log lines full of
//! host names, addresses and URLs: the worst case for the automaton), with
//! the Loki signature-base hash IOCs alone and with its C2 IOCs added, and
//! with 100,000 generated network IOCs.

use std::fmt::Write as _;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::files::{Data, fresh, mark};
use crate::{Rng, breachscan_exe, run_once};

#[derive(clap::Args)]
pub struct Args {
    /// The files bench's data (shared with it).
    #[command(flatten)]
    data: Data,
    /// Total size of the text files, in MiB.
    #[arg(long, default_value_t = 512)]
    text_mib: u64,
    /// The signature-base folder (hash-iocs.txt, c2-iocs.txt).
    #[arg(long, default_value = "../shared/corpus/bundles/signature-base")]
    signature_base: PathBuf,
    /// Timed runs per measurement (the median is shown).
    #[arg(long, default_value_t = 3)]
    runs: usize,
}

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    let (large, small) = args.data.ensure()?;
    let text = args.data.dir.join("text");
    let text_bytes = ensure_text(&text, args.text_mib << 20)?;
    let hashes = args.signature_base.join("hash-iocs.txt");
    let c2 = args.signature_base.join("c2-iocs.txt");
    anyhow::ensure!(
        hashes.exists() && c2.exists(),
        "{} needs hash-iocs.txt and c2-iocs.txt",
        args.signature_base.display()
    );
    let many = args.data.dir.join("bundle-network-100k.json");
    write_network_bundle(&many, 100_000)?;

    println!(
        "| data | bundle | without content | with --content | cost | peak RSS without / with |"
    );
    println!("|---|---|---:|---:|---:|---:|");
    let sets = [
        (
            format!("large files, random ({} MiB)", large.bytes >> 20),
            large.dir,
        ),
        (
            format!("small files, random ({} MiB)", small.bytes >> 20),
            small.dir,
        ),
        (format!("text: proxy logs ({} MiB)", text_bytes >> 20), text),
    ];
    let h = hashes.to_string_lossy().into_owned();
    let c = c2.to_string_lossy().into_owned();
    let m = many.to_string_lossy().into_owned();
    let bundles: [(&str, Vec<&str>); 2] = [
        ("signature-base hash + C2 IOCs", vec!["-b", &h, "-b", &c]),
        (
            "signature-base hash + 100k network IOCs",
            vec!["-b", &h, "-b", &m],
        ),
    ];
    for (label, dir) in &sets {
        let d = dir.to_string_lossy().into_owned();
        for (name, bundle) in &bundles {
            let command = |flag| {
                let mut a = vec!["scan", "-q", flag, "-o", "-"];
                a.extend(bundle.iter().copied());
                a.push(d.as_str());
                a
            };
            let (off, off_rss, on, on_rss) = interleaved(
                &exe,
                &command("--no-content"),
                &command("--content"),
                args.runs,
            )?;
            println!(
                "| {label} | {name} | {off:.2} s | {on:.2} s | {:+.0}% | {} / {} MiB |",
                (on / off - 1.0) * 100.0,
                off_rss >> 10,
                on_rss >> 10
            );
        }
    }
    Ok(())
}

/// Medians of `runs` runs of `a` and of `b` (seconds) and their peak
/// resident sets (KiB), the two alternated after a warm-up of each, so
/// that the machine's drift over the minutes of a row falls on both
/// alike (timed one after the other, a slow spell made a cost of -17%).
fn interleaved(exe: &Path, a: &[&str], b: &[&str], runs: usize) -> Result<(f64, u64, f64, u64)> {
    let (mut times, mut peaks) = ([Vec::new(), Vec::new()], [0, 0]);
    for i in 0..=runs.max(1) {
        for (k, args) in [a, b].into_iter().enumerate() {
            let (took, hwm) = run_once(exe, args, &[0, 1])?;
            if i > 0 {
                times[k].push(took.as_secs_f64());
                peaks[k] = peaks[k].max(hwm);
            }
        }
    }
    let [a_med, b_med] = times.map(|mut t| {
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    });
    Ok((a_med, peaks[0], b_med, peaks[1]))
}

/// Proxy-log-like text: every line a time, a client address, a URL with a
/// host name, a status, a size and a user agent; no line holds an IOC.
fn ensure_text(dir: &Path, total: u64) -> Result<u64> {
    const FILE: u64 = 64 << 20;
    let n = total.div_ceil(FILE).max(1);
    let params = format!("text {n} x {FILE}");
    if fresh(dir, &params)? {
        eprintln!("generating {n} text files in {}…", dir.display());
        let mut rng = Rng(0x7e57);
        for i in 0..n {
            let path = dir.join(format!("proxy-{i:02}.log"));
            let mut f = std::io::BufWriter::new(fs::File::create(&path)?);
            let mut written = 0;
            let mut line = String::new();
            while written < FILE {
                line.clear();
                let r = rng.next_u64();
                let _ = writeln!(
                    line,
                    "2024-05-{:02}T{:02}:{:02}:{:02}Z 10.{}.{}.{} GET https://www{}.site{}.example.net/p/{:x}.php?id={} {} {} \"Mozilla/5.0 (Windows NT 10.0; Win64; x64)\"",
                    r % 28 + 1,
                    r >> 8 & 23,
                    r >> 16 & 59,
                    r >> 24 & 59,
                    r >> 32 & 255,
                    r >> 40 & 255,
                    r >> 48 & 255,
                    r % 7,
                    r % 50_000,
                    r >> 20,
                    r % 1000,
                    [200, 302, 404][(r % 3) as usize],
                    r % 100_000
                );
                f.write_all(&line.as_bytes()[..line.len().min((FILE - written) as usize)])?;
                written += line.len() as u64;
            }
            f.flush()?;
        }
        mark(dir, &params)?;
    }
    Ok(n * FILE)
}

/// `n` network IOCs (a third each domains, addresses, URLs) that the
/// generated data does not hold.
fn write_network_bundle(path: &Path, n: usize) -> Result<()> {
    if path.exists() {
        return Ok(());
    }
    let mut iocs = Vec::with_capacity(n);
    let mut rng = Rng(0xc2);
    for i in 0..n {
        let r = rng.next_u64();
        let (kind, value) = match i % 3 {
            0 => (
                "DomainName",
                format!("c{:x}.bad{}.example.org", r >> 16, r % 97),
            ),
            1 => (
                "IpAddress",
                format!(
                    "172.{}.{}.{}",
                    r >> 8 & 15 | 16,
                    r >> 16 & 255,
                    r >> 24 & 255
                ),
            ),
            _ => (
                "Url",
                format!("http://u{:x}.bad.example.org/gate.php", r >> 20),
            ),
        };
        iocs.push(
            serde_json::json!({"id": format!("n{i}"), "alertDefinitionId": "net",
            "type": kind, "value": value}),
        );
    }
    let bundle = serde_json::json!({
        "alertDefinitions": [{"id": "net", "name": "network", "severity": "High"}],
        "iocs": iocs,
    });
    fs::write(path, bundle.to_string()).context("write network bundle")
}
