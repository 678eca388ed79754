//! See `breachscan::fuzzing::volume`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| breachscan::fuzzing::volume(data));
