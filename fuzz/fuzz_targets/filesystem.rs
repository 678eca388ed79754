//! See `breachscan::fuzzing::filesystem`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| breachscan::fuzzing::filesystem(data));
