//! Fuzzes ext_authz's handling of an Envoy `CheckRequest` (protobuf bytes): the
//! bearer credential by `token::bearer`'s rules, then the token checks.
//! The code is `authd::fuzzing::ext_authz`, which the corpus replay test in
//! `cargo test` runs too.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| authd::fuzzing::ext_authz(data));
