//! See `breachscan::fuzzing::content`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| breachscan::fuzzing::content(data));
