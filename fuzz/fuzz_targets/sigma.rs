//! See `breachscan::fuzzing::sigma`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("breachscan-fuzz-sigma-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    breachscan::fuzzing::sigma(data, &dir);
});
