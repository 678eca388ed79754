//! Every input fuzzing found to crash, hang or over-allocate, replayed
//! through the same entry point as its fuzz target (`breachscan::fuzzing`).
//! Inputs live gzip-compressed under `fuzz/regressions/<target>/`; this
//! build has overflow checks on, as the fuzz builds do.

use std::io::Read;
use std::path::Path;

fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut out: Vec<(String, Vec<u8>)> = entries
        .map(|e| {
            let p = e.unwrap().path();
            let mut data = Vec::new();
            flate2::read::GzDecoder::new(std::fs::File::open(&p).unwrap())
                .read_to_end(&mut data)
                .unwrap();
            (p.file_name().unwrap().to_string_lossy().into_owned(), data)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fuzz_findings_stay_fixed() {
    let dir = tempfile::tempdir().unwrap();
    let mut n = 0;
    for target in [
        "bundle",
        "evtx",
        "volume",
        "filesystem",
        "container",
        "hive",
        "prefetch",
        "sigma",
        "content",
    ] {
        for (name, data) in inputs(target) {
            eprintln!("{target}/{name}");
            match target {
                "bundle" => breachscan::fuzzing::bundle(&data),
                "evtx" => breachscan::fuzzing::evtx(&data),
                "volume" => breachscan::fuzzing::volume(&data),
                "filesystem" => breachscan::fuzzing::filesystem(&data),
                "hive" => breachscan::fuzzing::hive(&data),
                "prefetch" => breachscan::fuzzing::prefetch(&data),
                "sigma" => breachscan::fuzzing::sigma(&data, dir.path()),
                "content" => breachscan::fuzzing::content(&data),
                _ => breachscan::fuzzing::container(&data, dir.path()),
            }
            n += 1;
        }
    }
    assert!(n > 0, "no regression inputs found");
}
