//! The directory-hashing benchmark (issue: walking skeleton, point 9).
//!
//! Data: a few large files (2 GiB by default) and 100,000 small files
//! (1–32 KiB), generated once, deterministically, and reused. Every tool runs
//! with a warm page cache so the figures compare hashing and walking, not the
//! disk. The ceiling is what the digests alone can do: their speed
//! measured in-process on every core at once. This VM's speed drifts
//! by 20–30% within minutes, so the ceiling is measured again right before
//! every timed run and "of ceiling" is the median of the runs' own ratios
//! (the line above the table shows the first measure).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use breachscan::hash::{DigestSet, MultiHasher, md5_lanes};

use crate::{breachscan_exe, drop_caches, have, sh_quote, time_once};

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    data: Data,
    /// Timed runs per measurement (the median is shown).
    #[arg(long, default_value_t = 3)]
    runs: usize,
    /// Drop the page cache before every run (root), for every tool.
    #[arg(long)]
    cold: bool,
}

/// The generated files this bench and the content bench read.
#[derive(clap::Args)]
pub struct Data {
    /// Where the generated data lives (reused across runs).
    #[arg(long, default_value = "target/bench-data")]
    pub dir: PathBuf,
    /// Total size of the large files, in GiB.
    #[arg(long, default_value_t = 2)]
    large_gib: u64,
    /// Number of small files.
    #[arg(long, default_value_t = 100_000)]
    small_files: usize,
}

/// One generated set: its folder, files and bytes.
pub struct Set {
    pub dir: PathBuf,
    pub files: usize,
    pub bytes: u64,
}

impl Data {
    /// The large and the small set, generated the first time.
    pub fn ensure(&self) -> Result<(Set, Set)> {
        fs::create_dir_all(&self.dir)?;
        let large = self.dir.join("large");
        let small = self.dir.join("small");
        let (lf, lb) = ensure_large(&large, self.large_gib << 30)?;
        let (sf, sb) = ensure_small(&small, self.small_files)?;
        let set = |dir, files, bytes| Set { dir, files, bytes };
        Ok((set(large, lf, lb), set(small, sf, sb)))
    }
}

const LARGE_FILE: u64 = 256 << 20;

pub fn run(args: &Args) -> Result<()> {
    let exe = breachscan_exe()?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let (large, small) = args.data.ensure()?;
    let (large_files, large_bytes, large) = (large.files, large.bytes, large.dir);
    let (small_files, small_bytes, small) = (small.files, small.bytes, small.dir);
    let (sha256_bundle, all3_bundle) = write_bundles(&args.data.dir)?;

    eprintln!("measuring the digests' speed on all cores…");
    let sha256_ceiling = || {
        all_cores(cores, &|b| {
            per_core_mbs(
                DigestSet {
                    sha256: true,
                    ..DigestSet::NONE
                },
                b,
            )
        })
    };
    // The scanner hashes up to 16 files at once, their MD5s in vector lanes
    // (`hash::md5_lanes`), where the CPU has them: that is its ceiling, for
    // as many streams as there are files (up to 16): MD5 is one chain per
    // file, so eight files fill eight lanes at most, whoever hashes them.
    let all3_ceiling = |streams: usize| {
        if md5_lanes::vectorized() {
            all_cores(cores, &|b| per_core_lanes_mbs(streams, b))
        } else {
            all_cores(cores, &|b| per_core_mbs(DigestSet::ALL, b))
        }
    };
    let one_stream = all_cores(cores, &|b| per_core_mbs(DigestSet::ALL, b));
    let lanes_text = if md5_lanes::vectorized() {
        let kernel = md5_lanes::Kernel::best().name();
        format!(
            "over 16 files a core at once (MD5 in {kernel} lanes) {:.0} MB/s, over 8 {:.0} MB/s",
            all3_ceiling(16),
            all3_ceiling(8)
        )
    } else {
        "no MD5 lanes on this CPU".to_string()
    };
    println!(
        "\n{cores} cores at once: SHA-256 {:.0} MB/s; MD5+SHA-1+SHA-256 of one file a core {one_stream:.0} MB/s, {lanes_text} (ceilings measured again before every run; \"of ceiling\" is the median of the runs' ratios)\n",
        sha256_ceiling()
    );
    if args.cold {
        println!("(page cache dropped before every run: data read from the disk)\n");
    }
    println!(
        "| data | tool | digests | time | MB/s | files/s | of ceiling | of the 16-lane ceiling |"
    );
    println!("|---|---|---|---:|---:|---:|---:|---:|");

    let sets = [
        (
            format!("large ({large_files} × 256 MiB)"),
            &large,
            large_files,
            large_bytes,
        ),
        (
            format!("small ({small_files} files, 1–32 KiB)"),
            &small,
            small_files,
            small_bytes,
        ),
    ];
    for (label, dir, files, bytes) in &sets {
        let d = sh_quote(dir);
        let row = |tool: &str, digests: &str, (took, of): (Duration, Vec<f64>)| {
            let secs = took.as_secs_f64();
            let mbs = *bytes as f64 / 1e6 / secs;
            let own = of.first().copied().unwrap_or(f64::NAN);
            let sixteen = of.last().copied().unwrap_or(f64::NAN);
            println!(
                "| {label} | {tool} | {digests} | {secs:.2} s | {mbs:.0} | {:.0} | {own:.2}× | {sixteen:.2}× |",
                *files as f64 / secs
            );
        };
        let timed = |cmd: &str, ok: &[i32], ceilings: &[&dyn Fn() -> f64]| {
            timed_beside_ceilings(cmd, ok, args, *bytes, ceilings)
        };
        let streams = (*files).clamp(1, 16);
        let own_all3 = || all3_ceiling(streams);
        let sixteen_all3 = || all3_ceiling(16);
        let all3: Vec<&dyn Fn() -> f64> = if streams < 16 {
            vec![&own_all3, &sixteen_all3]
        } else {
            vec![&sixteen_all3]
        };
        let sha256: [&dyn Fn() -> f64; 1] = [&sha256_ceiling];
        for (digests, bundle, ceilings) in [
            ("SHA-256", &sha256_bundle, &sha256[..]),
            ("MD5+SHA-1+SHA-256", &all3_bundle, &all3[..]),
        ] {
            let cmd = format!("{} scan -q -b {} {d}", sh_quote(&exe), sh_quote(bundle));
            row("breachscan", digests, timed(&cmd, &[0, 1], ceilings)?);
        }
        if have("sha256sum") {
            let cmd = format!("find {d} -type f -print0 | xargs -0 -P {cores} -n 256 sha256sum");
            row(
                &format!("sha256sum (xargs -P {cores})"),
                "SHA-256",
                timed(&cmd, &[0], &sha256)?,
            );
        }
        if have("hashdeep") {
            let cmd = format!("hashdeep -r -c md5,sha1,sha256 -j {cores} {d}");
            row(
                &format!("hashdeep -j {cores}"),
                "MD5+SHA-1+SHA-256",
                timed(&cmd, &[0], &all3)?,
            );
        }
    }
    Ok(())
}

/// Median wall time of `cmd` over the runs (after a warm-up unless cold)
/// and, for each ceiling, the median of each run's speed over that ceiling
/// (MB/s on all cores) measured just before the run.
fn timed_beside_ceilings(
    cmd: &str,
    ok: &[i32],
    args: &Args,
    bytes: u64,
    ceilings: &[&dyn Fn() -> f64],
) -> Result<(Duration, Vec<f64>)> {
    if !args.cold {
        time_once(cmd, ok)?;
    }
    let mut times = Vec::new();
    let mut ratios = vec![Vec::new(); ceilings.len()];
    for _ in 0..args.runs.max(1) {
        let now: Vec<f64> = ceilings.iter().map(|c| c()).collect();
        if args.cold {
            drop_caches()?;
        }
        let took = time_once(cmd, ok)?;
        let mbs = bytes as f64 / 1e6 / took.as_secs_f64();
        for (r, c) in ratios.iter_mut().zip(now) {
            r.push(mbs / c);
        }
        times.push(took);
    }
    times.sort();
    let medians = ratios
        .into_iter()
        .map(|mut r| {
            r.sort_by(f64::total_cmp);
            r[r.len() / 2]
        })
        .collect();
    Ok((times[times.len() / 2], medians))
}

/// The digests' speed on every core at once, in MB/s: `per_core` on one
/// thread per core, started together, summed. (Measured on all cores, not
/// one core's speed times the cores: two busy vCPUs need not each run as
/// fast as one alone.)
fn all_cores(cores: usize, per_core: &(dyn Fn(&Barrier) -> f64 + Sync)) -> f64 {
    let start = Barrier::new(cores);
    std::thread::scope(|s| {
        let threads: Vec<_> = (0..cores).map(|_| s.spawn(|| per_core(&start))).collect();
        threads.into_iter().map(|t| t.join().unwrap_or(0.0)).sum()
    })
}

/// Single-thread digest speed over an in-memory buffer, in MB/s.
fn per_core_mbs(set: DigestSet, start: &Barrier) -> f64 {
    let buf: Vec<u8> = pseudo_random(7, 64 << 20);
    // One worker thread: the hasher's two-core split runs inline.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    let measure = || {
        let mut h = MultiHasher::new(set);
        h.update(&buf); // warm-up
        let rounds = 6;
        start.wait();
        let start = Instant::now();
        for _ in 0..rounds {
            for chunk in buf.chunks(1 << 20) {
                h.update(chunk);
            }
        }
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(h.finish());
        (rounds * buf.len()) as f64 / 1e6 / secs
    };
    match pool {
        Ok(p) => p.install(measure),
        Err(_) => measure(),
    }
}

/// Single-thread speed of all three digests over `streams` streams fed
/// together (as the scanner's lanes feed them), in MB/s.
fn per_core_lanes_mbs(streams: usize, start: &Barrier) -> f64 {
    let bufs: Vec<Vec<u8>> = (0..streams as u64)
        .map(|i| pseudo_random(11 + i, 4 << 20))
        .collect();
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
    let measure = || {
        let mut hs: Vec<MultiHasher> = (0..streams)
            .map(|_| MultiHasher::new(DigestSet::ALL))
            .collect();
        let mut feed = || {
            for at in (0..4 << 20).step_by(256 << 10) {
                let mut jobs: Vec<(&mut MultiHasher, &[u8])> = hs
                    .iter_mut()
                    .zip(&bufs)
                    .map(|(h, b)| (h, &b[at..at + (256 << 10)]))
                    .collect();
                MultiHasher::update_many(&mut jobs, true);
            }
        };
        feed(); // warm-up
        let rounds = 4;
        start.wait();
        let start = Instant::now();
        for _ in 0..rounds {
            feed();
        }
        let secs = start.elapsed().as_secs_f64();
        std::hint::black_box(hs.into_iter().map(MultiHasher::finish).count());
        (rounds * streams * (4 << 20)) as f64 / 1e6 / secs
    };
    match pool {
        Ok(p) => p.install(measure),
        Err(_) => measure(),
    }
}

/// Deterministic incompressible bytes (xorshift64*).
fn pseudo_random(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        s ^= s >> 12;
        s ^= s << 25;
        s ^= s >> 27;
        out.extend_from_slice(&s.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Reuses data generated with the same parameters; regenerates otherwise.
pub(crate) fn fresh(dir: &Path, params: &str) -> Result<bool> {
    let marker = dir.join(".params");
    if fs::read_to_string(&marker).is_ok_and(|p| p == params) {
        return Ok(false);
    }
    if dir.exists() {
        fs::remove_dir_all(dir)?;
    }
    fs::create_dir_all(dir)?;
    Ok(true)
}

/// Marks generated data as complete, once it is on disk (`sync_disk`).
pub(crate) fn mark(dir: &Path, params: &str) -> Result<()> {
    crate::sync_disk()?;
    fs::write(dir.join(".params"), params).context("write marker")
}

fn ensure_large(dir: &Path, total: u64) -> Result<(usize, u64)> {
    let n = total.div_ceil(LARGE_FILE).max(1) as usize;
    let params = format!("large {n} x {LARGE_FILE}");
    if fresh(dir, &params)? {
        eprintln!("generating {n} large files in {}…", dir.display());
        for i in 0..n {
            let mut f =
                std::io::BufWriter::new(fs::File::create(dir.join(format!("large-{i:02}.bin")))?);
            for block in 0..(LARGE_FILE >> 24) {
                f.write_all(&pseudo_random((i as u64) << 32 | block, 16 << 20))?;
            }
            f.flush()?;
        }
        mark(dir, &params)?;
    }
    Ok((n, n as u64 * LARGE_FILE))
}

fn ensure_small(dir: &Path, n: usize) -> Result<(usize, u64)> {
    let params = format!("small {n}");
    let size_of = |i: usize| 1024 + (i.wrapping_mul(2_654_435_761) % (31 * 1024));
    if fresh(dir, &params)? {
        eprintln!("generating {n} small files in {}…", dir.display());
        let pool = pseudo_random(99, 64 << 20);
        for i in 0..n {
            let sub = dir.join(format!("d{:03}", i / 1000));
            if i % 1000 == 0 {
                fs::create_dir_all(&sub)?;
            }
            let off = (i * 4099) % (pool.len() - 32 * 1024);
            let mut data = pool[off..off + size_of(i)].to_vec();
            data[..8].copy_from_slice(&(i as u64).to_le_bytes()); // unique content
            fs::write(sub.join(format!("f{i:06}.bin")), data)?;
        }
        mark(dir, &params)?;
    }
    Ok((n, (0..n).map(|i| size_of(i) as u64).sum()))
}

/// Bundles with no hit on the data: one needing SHA-256 only, one needing
/// all three digests.
fn write_bundles(dir: &Path) -> Result<(PathBuf, PathBuf)> {
    let ad = r#"{"id": "b", "name": "bench", "severity": "Low"}"#;
    let ioc = |t: &str, len: usize| {
        format!(
            r#"{{"id": "{t}", "alertDefinitionId": "b", "type": "{t}", "value": "{}"}}"#,
            "0".repeat(len)
        )
    };
    let sha = dir.join("bundle-sha256.json");
    fs::write(
        &sha,
        format!(
            r#"{{"alertDefinitions": [{ad}], "iocs": [{}]}}"#,
            ioc("Sha256", 64)
        ),
    )?;
    let all = dir.join("bundle-all3.json");
    fs::write(
        &all,
        format!(
            r#"{{"alertDefinitions": [{ad}], "iocs": [{}, {}, {}]}}"#,
            ioc("Md5", 32),
            ioc("Sha1", 40),
            ioc("Sha256", 64)
        ),
    )?;
    Ok((sha, all))
}
