//! Fuzzes a stored password hash: Django's `inspect` and the login's dispatch
//! (Argon2id PHC or Django), cheap hashes checked for real.
//! The code is `authd::fuzzing::password_hash`, which the corpus replay test in
//! `cargo test` runs too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authd::fuzzing::password_hash(data));
