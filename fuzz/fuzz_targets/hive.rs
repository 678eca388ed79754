//! See `breachscan::fuzzing::hive`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| breachscan::fuzzing::hive(data));
