//! The fuzz targets' entry points: one function per target, each taking
//! the fuzzer's bytes, never panicking for any input, bounding its work, and
//! asserting what must hold for every input (docs/security.md, "Fuzzing").
//!
//! `fuzz/fuzz_targets/*.rs` (cargo-fuzz, nightly, outside the workspace)
//! are one-line calls of these, and the unit test below replays every file
//! of the committed corpus (`fuzz/corpus/<target>/`) through the same
//! functions on stable Rust, so what the fuzzer learnt stays checked by
//! `cargo test`. Not part of the service: no other module calls this one.
//!
//! - [`token`]: `TokenService::verify` (the `authd-token` rules with authd's
//!   keys, one of each algorithm), on text, on a header and claims with a
//!   stale signature, and on a header and claims the fixture key really
//!   signs, so the claim and header checks behind a valid signature are
//!   fuzzed too; a token that verifies must round-trip its claims.
//! - [`ext_authz`]: an Envoy `CheckRequest` as protobuf bytes, its bearer
//!   credential taken by ext_authz's rules and verified as above.
//! - [`config_file`]: a config file's text, layered into the command line
//!   and parsed as `authd serve` would, then the cross-field checks.
//! - [`password_hash`]: a stored password hash (authd's Argon2id PHC string
//!   or one of Django's), through `django::inspect` and the login's
//!   dispatch; cheap hashes are checked against a password for real.

// A fuzz entry point reports a broken invariant by panicking: that is what
// the fuzzer catches and the replay test fails on.
#![allow(clippy::expect_used)]

use std::path::Path;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;

use crate::store::KeyState;
use crate::token::keys::{alg_name, generate};
use crate::token::{Claims, KeySet, TokenService};

/// Longest input any entry reads; longer ones return at once (libFuzzer's
/// default `-max_len` is 4096, and every parser fuzzed here refuses far
/// less than this anyway).
pub const MAX_INPUT: usize = 64 * 1024;

/// The fixed `now` of every token check.
pub const NOW: i64 = 1_800_000_000;
/// The fixture's issuer and audience.
pub const ISSUER: &str = "authd";
/// The fixture's leeway, in seconds.
pub const LEEWAY: i64 = 10;
/// The fixture's HS256 secret: fixed, so corpus tokens signed with it
/// verify in every run (the other keys are generated per process).
pub const HS256_SECRET: &[u8] = b"authd fuzzing fixture secret, not a real one";

/// A token service of the fixture and one real token it issued.
struct Fixture {
    service: TokenService,
    token: String,
}

/// One token service per algorithm: HS256 (fixed secret), EdDSA, ES256, RS256.
static FIXTURES: LazyLock<Vec<Fixture>> = LazyLock::new(|| {
    let fixture = |keys: KeySet| {
        let service = TokenService::new(
            Arc::new(keys),
            ISSUER.to_owned(),
            ISSUER.to_owned(),
            Duration::from_secs(900),
            Duration::from_secs(LEEWAY.unsigned_abs()),
        )
        // A small cache: the signed modes fill it, and a hit is a path too.
        .with_verified_cache(1024, Duration::from_secs(300));
        let token = service
            .issue(&fixture_user(), "session-1", i64::MAX, NOW)
            .expect("the fixture issues a token")
            .token;
        Fixture { service, token }
    };
    let mut fixtures = vec![fixture(KeySet::hs256(HS256_SECRET).expect("an HS256 key"))];
    for algorithm in [
        jsonwebtoken::Algorithm::EdDSA,
        jsonwebtoken::Algorithm::ES256,
        jsonwebtoken::Algorithm::RS256,
    ] {
        let stored = generate(algorithm, KeyState::Current, NOW - 60).expect("a fresh key");
        fixtures.push(fixture(KeySet::from_stored(&[stored]).expect("a key set")));
    }
    fixtures
});

/// Fuzzes the token path. The first byte picks the mode (low two bits) and
/// the fixture key (next two bits: HS256, EdDSA, ES256, RS256); the rest:
/// - mode 0: the token text itself (lossy UTF-8), checked by every key's service;
/// - mode 1: `header 0xff claims`, each base64url-encoded and joined with a
///   real signature of another message: must never verify;
/// - mode 2: claims JSON, signed by the key with its own header;
/// - mode 3: `header 0xff claims`, signed by the key as they are, with
///   `"@kid"` in the header replaced by the key's id (as a JSON string).
///
/// Whatever verifies must satisfy the rules (issuer, audience, time, the
/// key's pinned algorithm and id) and give back exactly the signed claims.
///
/// # Panics
/// When an invariant breaks: that is a finding.
pub fn token(data: &[u8]) {
    if data.len() > MAX_INPUT {
        return;
    }
    let fixtures = &*FIXTURES;
    let Some((&first, rest)) = data.split_first() else {
        for fixture in fixtures {
            assert!(
                fixture.service.verify("", NOW).is_err(),
                "the empty token verified"
            );
        }
        return;
    };
    let Fixture { service, token } = &fixtures[usize::from(first >> 2) % fixtures.len()];
    let (header, claims) = match rest.iter().position(|&b| b == 0xff) {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => (rest, &[][..]),
    };
    match first & 3 {
        0 => {
            let text = String::from_utf8_lossy(rest);
            for fixture in fixtures {
                if let Ok(verified) = fixture.service.verify(&text, NOW) {
                    check_verified(&fixture.service, &text, &verified);
                }
            }
        }
        1 => {
            let signature = token.rsplit('.').next().unwrap_or_default();
            let forged = format!(
                "{}.{}.{signature}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(claims)
            );
            if forged != *token {
                assert!(
                    service.verify(&forged, NOW).is_err(),
                    "accepted a forged token: {forged:?}"
                );
            }
        }
        2 => {
            if let Some(signed) = sign(service, None, rest)
                && let Ok(verified) = service.verify(&signed, NOW)
            {
                check_verified(service, &signed, &verified);
            }
        }
        _ => {
            if let Some(signed) = sign(service, Some(header), claims)
                && let Ok(verified) = service.verify(&signed, NOW)
            {
                check_verified(service, &signed, &verified);
            }
        }
    }
}

/// A user for the fixture's real tokens.
fn fixture_user() -> crate::user::User {
    crate::user::User {
        id: "0190a5e4-7d1c-7c3e-9a53-6f1f4d1c2b3a".to_owned(),
        username: "alice".to_owned(),
        email: None,
        active: true,
        roles: vec!["admin".to_owned()],
        created_at: NOW - 3600,
        last_login_at: None,
        external_id: None,
    }
}

/// `header` (or the key's own header) and `claims` signed by the service's
/// key, as a compact JWT.
fn sign(service: &TokenService, header: Option<&[u8]>, claims: &[u8]) -> Option<String> {
    let key = service.keys().signing().ok()?;
    let encoding = key.encoding.as_ref()?;
    let kid = serde_json::to_string(&key.kid).ok()?;
    let header = match header {
        Some(header) => replace(header, b"\"@kid\"", kid.as_bytes()),
        None => format!(
            r#"{{"typ":"JWT","alg":"{}","kid":{kid}}}"#,
            alg_name(key.algorithm)
        )
        .into_bytes(),
    };
    let message = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let signature = jsonwebtoken::crypto::sign(message.as_bytes(), encoding, key.algorithm).ok()?;
    Some(format!("{message}.{signature}"))
}

/// `bytes` with every `from` replaced by `to`.
fn replace(bytes: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut rest = bytes;
    while !rest.is_empty() {
        if rest.starts_with(from) {
            out.extend_from_slice(to);
            rest = &rest[from.len()..];
        } else {
            out.push(rest[0]);
            rest = &rest[1..];
        }
    }
    out
}

/// What must hold of a token that verified.
fn check_verified(service: &TokenService, token: &str, claims: &Claims) {
    assert_eq!(
        claims.iss, ISSUER,
        "verified with another issuer: {token:?}"
    );
    assert!(
        claims.aud.to_vec().iter().any(|a| a == ISSUER),
        "verified without the audience: {token:?}"
    );
    assert!(
        NOW < claims.exp.saturating_add(LEEWAY),
        "verified expired: {token:?}"
    );
    assert!(
        claims.nbf <= NOW + LEEWAY && claims.iat <= NOW + LEEWAY,
        "verified before its time: {token:?}"
    );
    let header = jsonwebtoken::decode_header(token).expect("a verified token's header parses");
    let kid = header.kid.expect("a verified token names its key");
    let key = service
        .keys()
        .get(&kid)
        .expect("a verified token's key is held");
    assert_eq!(
        header.alg, key.algorithm,
        "verified with another algorithm: {token:?}"
    );
    let payload = token.split('.').nth(1).unwrap_or_default();
    let payload = URL_SAFE_NO_PAD
        .decode(payload)
        .expect("a verified payload decodes");
    let signed: Claims = serde_json::from_slice(&payload).expect("verified claims parse");
    assert_eq!(&signed, claims, "the claims did not round-trip: {token:?}");
}

/// Fuzzes ext_authz's handling of a `CheckRequest` (protobuf bytes, as
/// Envoy sends them): decoding, taking the one bearer credential by
/// `token::bearer`'s rules from both header fields, and verifying it with
/// the fixture's services. What it hands on is always a non-empty run of
/// base64url characters and dots.
///
/// # Panics
/// When an invariant breaks: that is a finding.
pub fn ext_authz(data: &[u8]) {
    use crate::grpc::ext_authz::pb::envoy::service::auth::v3::CheckRequest;
    use prost::Message as _;
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(request) = CheckRequest::decode(data) else {
        return;
    };
    let Ok(token) = crate::grpc::ext_authz::bearer_token(&request) else {
        return;
    };
    assert!(
        !token.is_empty()
            && token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')),
        "handed on a bearer token of other characters: {token:?}"
    );
    for fixture in &*FIXTURES {
        if let Ok(verified) = fixture.service.verify(token, NOW) {
            check_verified(&fixture.service, token, &verified);
        }
    }
}

/// Fuzzes the config file: the text parsed as TOML into file values, those
/// installed as the defaults of `authd`'s command line, the command line
/// (no flags) parsed with every value parser and the sources attributed,
/// then the owners' cross-field checks. A refusal is an `Err` naming where
/// (a syntax error's message names the file), never a panic.
///
/// The settings that name files to read (`database_url_file`, the secret
/// files, the TLS files) are cleared before the checks: the fuzzer must not
/// make the test read whatever path it writes.
///
/// # Panics
/// When an invariant breaks: that is a finding.
pub fn config_file(data: &[u8]) {
    use clap::FromArgMatches as _;
    if data.len() > MAX_INPUT {
        return;
    }
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = match crate::config::FileValues::parse(Path::new("fuzz.toml"), text) {
        Ok(file) => file,
        Err(e) => {
            let message = e.to_string();
            assert!(message.contains("config file fuzz.toml:"), "{message}");
            return;
        }
    };
    let Ok(command) = crate::cli::command(&file) else {
        return;
    };
    let args = crate::config::settings_after_subcommand(&command, vec!["authd".into()]);
    let sources = file.sources(&command, &args);
    let matches = match command.clone().try_get_matches_from(&args) {
        Ok(matches) => matches,
        Err(e) => {
            // Either a configuration error naming the key, or clap's own.
            drop(sources.explain(&command, e));
            return;
        }
    };
    let Ok(cli) = crate::cli::Cli::from_arg_matches(&matches) else {
        return;
    };
    let mut config = cli.config;
    config.admin.store.database_url_file = None;
    config.signing.hs256_secret_file = None;
    config.signing.key_encryption_secret_file = None;
    config.tls.tls_cert = None;
    config.tls.tls_key = None;
    config.tls.tls_client_ca = None;
    if let Err(e) = config.check(&sources) {
        assert!(
            e.to_string().starts_with("invalid configuration --"),
            "a check failed without naming its setting: {e}"
        );
    }
}

/// The password every cheap hash is checked against.
pub const PASSWORD: &str = "fuzz-password";

/// Fuzzes a stored password hash (the whole input, as text): Django's
/// `inspect`, then the login's dispatch (`password::verify::check`) for
/// hashes whose cost is tiny (the caps allow up to a second per check,
/// which would starve the fuzzer; the parsers run on every input). A hash
/// refused by its parser never matches; a Django hash that matches asks for
/// the Argon2id rehash; a refusal never repeats a salt or digest.
///
/// # Panics
/// When an invariant breaks: that is a finding.
pub fn password_hash(data: &[u8]) {
    use crate::password::Verdict;
    use crate::password::django::{Inspected, inspect};
    if data.len() > MAX_INPUT {
        return;
    }
    let stored = String::from_utf8_lossy(data);
    let inspected = inspect(&stored);
    match &inspected {
        Ok(Inspected::Usable(algorithm)) => assert!(
            stored.starts_with(&format!("{}$", algorithm.name())),
            "{algorithm:?} read from another hasher's hash"
        ),
        Ok(Inspected::Unusable) => assert!(stored.starts_with('!')),
        Err(problem) => assert_no_secret(&stored, &problem.0),
    }
    if !cheap(&stored) {
        return;
    }
    let configured = crate::password::Argon2Config {
        memory_kib: 8,
        iterations: 1,
        parallelism: 1,
    };
    let password = SecretString::from(PASSWORD);
    let verdict = crate::password::verify::check(&password, &stored, true, configured, "")
        .expect("the fixture's parameters are valid");
    if stored.starts_with('$') {
        return;
    }
    match inspected {
        Ok(Inspected::Usable(_)) => assert!(
            matches!(
                verdict,
                Verdict::Mismatch | Verdict::Match { needs_rehash: true }
            ),
            "a Django hash matched without asking for a rehash"
        ),
        _ => assert_eq!(verdict, Verdict::Mismatch, "a refused hash matched"),
    }
}

/// Whether checking `stored` costs next to nothing: an Argon2 memory of at
/// most 64 KiB and 2 passes, 64 PBKDF2 iterations, bcrypt's least cost
/// (4) or scrypt with `n·r·p` of at most 256. Anything else is parsed only.
fn cheap(stored: &str) -> bool {
    let fields: Vec<&str> = stored.split('$').collect();
    let small = |text: &str, max: u64| text.parse::<u64>().is_ok_and(|v| v <= max);
    let argon = |costs: &str| {
        let mut costs = costs.split(',');
        let mut cost = |key: &str, max| {
            costs
                .next()
                .and_then(|c| c.strip_prefix(key))
                .is_some_and(|v| small(v, max))
        };
        cost("m=", 64) && cost("t=", 2) && cost("p=", 4)
    };
    match fields.as_slice() {
        ["", "argon2id", _, costs, ..] | ["argon2", _, _, costs, ..] => argon(costs),
        ["pbkdf2_sha256" | "pbkdf2_sha1", iterations, ..] => small(iterations, 64),
        ["bcrypt" | "bcrypt_sha256", "", _, cost, ..] => *cost == "04",
        ["scrypt", n, _, r, p, ..] => {
            let (Ok(n), Ok(r), Ok(p)) = (n.parse::<u64>(), r.parse::<u64>(), p.parse::<u64>())
            else {
                return false;
            };
            n.saturating_mul(r).saturating_mul(p) <= 256
        }
        ["md5", ..] => true,
        _ => false,
    }
}

/// A problem's text must not repeat a field of the hash (after the hasher's
/// name) that looks like a salt or digest: 16 or more base64, bcrypt or hex
/// characters, with both a letter and a digit. The name itself may be shown
/// (when it looks like one), so a field that is part of it is not counted.
fn assert_no_secret(stored: &str, problem: &str) {
    let mut fields = stored.split('$');
    let name = fields.next().unwrap_or_default();
    for field in fields.filter(|field| !name.contains(field)) {
        let secret_like = field.len() >= 16
            && field.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'.' | b'_' | b'-')
            })
            && field.bytes().any(|b| b.is_ascii_alphabetic())
            && field.bytes().any(|b| b.is_ascii_digit());
        assert!(
            !(secret_like && problem.contains(field)),
            "a hash problem repeats a field of the hash: {problem}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An entry point.
    type Entry = fn(&[u8]);

    /// The fuzz targets and their entry points.
    const TARGETS: [(&str, Entry); 4] = [
        ("token", token),
        ("ext_authz", ext_authz),
        ("config_file", config_file),
        ("password_hash", password_hash),
    ];

    #[test]
    fn every_committed_corpus_file_replays_through_its_entry_point() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
        for (target, entry) in TARGETS {
            let dir = corpus.join(target);
            let files: Vec<_> = std::fs::read_dir(&dir)
                .unwrap_or_else(|e| panic!("the corpus {} is missing: {e}", dir.display()))
                .map(|entry| entry.expect("a corpus entry").path())
                .collect();
            assert!(!files.is_empty(), "the corpus {} is empty", dir.display());
            for file in files {
                let data = std::fs::read(&file).expect("a corpus file");
                assert!(
                    std::panic::catch_unwind(|| entry(&data)).is_ok(),
                    "{target} panicked on {}",
                    file.display()
                );
            }
        }
    }

    #[test]
    fn a_token_the_fixture_signs_verifies_and_round_trips_its_claims() {
        let claims = format!(
            r#"{{"iss":"authd","sub":"u1","aud":"authd","exp":{},"nbf":{NOW},"iat":{NOW},"jti":"j","sid":"s"}}"#,
            NOW + 60
        );
        for (i, fixture) in FIXTURES.iter().enumerate() {
            let service = &fixture.service;
            let signed = sign(service, None, claims.as_bytes()).expect("signed");
            let verified = service
                .verify(&signed, NOW)
                .expect("the fixture's token verifies");
            check_verified(service, &signed, &verified);
            let issued = service
                .verify(&fixture.token, NOW)
                .expect("the issued token verifies");
            check_verified(service, &fixture.token, &issued);
            let alg = alg_name(service.keys().signing().expect("a signing key").algorithm);
            let header = format!(r#"{{"alg":"{alg}","kid":"@kid"}}"#);
            let signed = sign(service, Some(header.as_bytes()), claims.as_bytes()).expect("signed");
            assert!(service.verify(&signed, NOW).is_ok(), "{header}");
            // The same through the entry point, in both signed modes.
            let key = u8::try_from(i).expect("four keys") << 2;
            token(&[&[key | 2][..], claims.as_bytes()].concat());
            token(
                &[
                    &[key | 3][..],
                    header.as_bytes(),
                    &[0xff],
                    claims.as_bytes(),
                ]
                .concat(),
            );
        }
    }

    #[test]
    fn a_later_field_inside_the_shown_hasher_name_is_not_a_leaked_salt() {
        // The fuzzer's first finding (fuzz/corpus/password_hash/regression-*):
        // the problem shows the unknown hasher's name, which here contains a
        // later field; the check blamed the name's text on the field.
        let stored = "pbkdf2pbkdf2_sha256$1000$PD8pHoG3cOKiRL4Fq8nGFb$kdf2pbkdf2_sha256$x";
        let problem = crate::password::django::inspect(stored).expect_err("an unknown hasher");
        assert!(problem.0.contains("pbkdf2pbkdf2_sha256"), "{problem}");
        password_hash(stored.as_bytes());
    }

    #[test]
    fn only_cheap_hashes_are_checked_for_real() {
        assert!(cheap("pbkdf2_sha256$1$salt$hash"));
        assert!(!cheap("pbkdf2_sha256$1000000$salt$hash"));
        assert!(cheap("$argon2id$v=19$m=64,t=1,p=1$salt$hash"));
        assert!(!cheap("$argon2id$v=19$m=19456,t=2,p=1$salt$hash"));
        assert!(cheap("argon2$argon2id$v=19$m=64,t=1,p=2$salt$hash"));
        assert!(cheap("bcrypt$$2b$04$x"));
        assert!(!cheap("bcrypt$$2b$12$x"));
        assert!(cheap("scrypt$16$salt$8$1$hash"));
        assert!(!cheap("scrypt$16384$salt$8$5$hash"));
        assert!(!cheap("sha1$salt$abc"));
    }
}
