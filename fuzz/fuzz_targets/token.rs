//! Fuzzes `TokenService::verify` with a key of each algorithm: token text, forged
//! signatures, and headers and claims the fixture really signs.
//! The code is `authd::fuzzing::token`, which the corpus replay test in
//! `cargo test` runs too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authd::fuzzing::token(data));
