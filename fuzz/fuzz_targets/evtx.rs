//! See `breachscan::fuzzing::evtx`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| breachscan::fuzzing::evtx(data));
