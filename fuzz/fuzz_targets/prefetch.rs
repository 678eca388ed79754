//! See `breachscan::fuzzing::prefetch`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| breachscan::fuzzing::prefetch(data));
