//! Fuzzes a config file's text: TOML, layered into the command line, parsed and
//! checked as `authd serve` would.
//! The code is `authd::fuzzing::config_file`, which the corpus replay test in
//! `cargo test` runs too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authd::fuzzing::config_file(data));
