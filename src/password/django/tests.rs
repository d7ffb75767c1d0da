//! `inspect` on good and bad input, and `check::matches` on hashes Django's
//! own hashers made (Django 5.2 with low costs, so the tests are quick; the
//! integration suite runs Django itself for every format at its defaults).

use super::*;

/// Made by Django 5.2's hashers (costs lowered) for this password.
const PASSWORD: &str = "Ünïcode pässword 🔑";
const PBKDF2_SHA256: &str =
    "pbkdf2_sha256$1000$PD8pHoG3cOKiRL4Fq8nGFb$v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA=";
const PBKDF2_SHA1: &str = "pbkdf2_sha1$1000$mvbbWeCxLAP9sn3mZt0Xvm$ErSvVtof0emggcrZeVvVC7dQsc8=";
const ARGON2ID: &str = "argon2$argon2id$v=19$m=64,t=1,p=2$WHlRb2habFJuUUVmYThnNlNBdHlhZw$\
                        Jnl2ky2JQ+pVtaere9YVJHi6pqoWhZaLwj4hADt4UmA";
const BCRYPT_SHA256: &str =
    "bcrypt_sha256$$2b$04$zatYBtWJIYHFNCuWsp0EpO4J/b9tA/7tDWoM5v74/6I0ollSN71p.";
const BCRYPT: &str = "bcrypt$$2b$04$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxga";
const SCRYPT: &str = "scrypt$256$E2rOALrslvMeK4S19sxuFK$2$1$VPaMp5YUUaiqvNMPAOwrbqKHtss5NOAml0fO\
                      WSDSuXYs2zqqVckH3r2SpNi79udXNC6/3+PHBFNvq+xPU1xvJA==";
const MD5: &str = "md5$bO87zQDWBEH59XB0eAkvaQ$a2ed8876e9689f27750155bd7bc4fb0f";

const ALL: [(&str, DjangoAlgorithm); 7] = [
    (PBKDF2_SHA256, DjangoAlgorithm::Pbkdf2Sha256),
    (PBKDF2_SHA1, DjangoAlgorithm::Pbkdf2Sha1),
    (ARGON2ID, DjangoAlgorithm::Argon2),
    (BCRYPT_SHA256, DjangoAlgorithm::BcryptSha256),
    (BCRYPT, DjangoAlgorithm::Bcrypt),
    (SCRYPT, DjangoAlgorithm::Scrypt),
    (MD5, DjangoAlgorithm::Md5),
];

fn refused(encoded: &str) -> String {
    match inspect(encoded) {
        Err(HashProblem(text)) => text,
        Ok(ok) => panic!("{encoded:?} was accepted as {ok:?}"),
    }
}

/// `refused` and its text mentions `words`.
fn refused_for(encoded: &str, words: &str) {
    let text = refused(encoded);
    assert!(
        text.contains(words),
        "{encoded:?}: {text:?} lacks {words:?}"
    );
}

#[test]
fn every_format_django_makes_is_recognised() {
    for (encoded, algorithm) in ALL {
        assert_eq!(
            inspect(encoded),
            Ok(Inspected::Usable(algorithm)),
            "{encoded}"
        );
    }
    assert_eq!(
        inspect("!AE4WTpq9bPyHvbwRBqCkYibRlFy4dyz7RyLFSAV7"),
        Ok(Inspected::Unusable)
    );
    assert_eq!(inspect("!"), Ok(Inspected::Unusable));
    assert!(DjangoAlgorithm::Md5.is_weak());
    assert!(!DjangoAlgorithm::Pbkdf2Sha256.is_weak());
}

#[test]
fn django_hashes_match_their_password_and_no_other() {
    for (encoded, _) in ALL {
        let Ok(Parsed::Usable(hash)) = parse(encoded) else {
            panic!("{encoded} parses");
        };
        assert_eq!(
            check::matches(&hash, PASSWORD.as_bytes(), 19_456),
            Ok(true),
            "{encoded}"
        );
        assert_eq!(
            check::matches(&hash, b"Unicode password", 19_456),
            Ok(false),
            "{encoded}"
        );
    }
}

#[test]
fn argon2i_and_old_versions_are_read() {
    let v16 = ARGON2ID.replace("v=19", "v=16");
    let no_version = ARGON2ID.replace("v=19$", "");
    let argon2i = ARGON2ID.replace("argon2id", "argon2i");
    for encoded in [v16, no_version, argon2i] {
        assert_eq!(
            inspect(&encoded),
            Ok(Inspected::Usable(DjangoAlgorithm::Argon2))
        );
        // Same salt and digest under other parameters: a well-formed hash
        // this password does not match.
        let Ok(Parsed::Usable(hash)) = parse(&encoded) else {
            panic!("parses");
        };
        assert_eq!(
            check::matches(&hash, PASSWORD.as_bytes(), 19_456),
            Ok(false)
        );
    }
}

#[test]
fn unknown_or_foreign_formats_are_refused_without_echoing_them() {
    refused_for("sha1$salt$abc", "hasher \"sha1\"");
    refused_for(
        "unsalted_md5$$abc",
        "not a Django password hash authd can check",
    );
    refused_for("crypt$$abc", "not a Django password hash");
    // A plain-text password stored by mistake is never repeated.
    let text = refused("hunter2 the secret");
    assert!(!text.contains("hunter2"), "{text}");
    let text = refused("my secret password$x");
    assert!(!text.contains("secret"), "{text}");
    refused_for("", "no `<algorithm>$` prefix");
    refused_for(
        &format!("pbkdf2_sha256$1000${}$x", "a".repeat(600)),
        "longer than",
    );
}

#[test]
fn pbkdf2_with_truncated_or_non_numeric_parameters_is_refused() {
    refused_for("pbkdf2_sha256$1000$salt", "2 fields");
    refused_for("pbkdf2_sha256$", "1 fields");
    refused_for("pbkdf2_sha256$1000$salt$hash$extra", "4 fields");
    refused_for(
        "pbkdf2_sha256$ten$PD8pHoG3cOKiRL4Fq8nGFb$v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA=",
        "iteration count is not a decimal number",
    );
    refused_for(
        "pbkdf2_sha256$-1$PD8pHoG3cOKiRL4Fq8nGFb$v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA=",
        "not a decimal number",
    );
    refused_for(
        "pbkdf2_sha256$$PD8pHoG3cOKiRL4Fq8nGFb$v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA=",
        "not a decimal number",
    );
    refused_for(
        "pbkdf2_sha256$0$PD8pHoG3cOKiRL4Fq8nGFb$v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA=",
        "outside 1..=2000000",
    );
    refused_for(
        "pbkdf2_sha256$1000$$v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA=",
        "salt is empty",
    );
}

#[test]
fn pbkdf2_over_the_iteration_cap_is_refused() {
    let over = format!(
        "pbkdf2_sha256${}$PD8pHoG3cOKiRL4Fq8nGFb$v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA=",
        PBKDF2_MAX_ITERATIONS + 1
    );
    refused_for(&over, "authd's cap");
    refused_for(
        "pbkdf2_sha1$99999999999999999999999$mvbbWeCxLAP9sn3mZt0Xvm$ErSvVtof0emggcrZeVvVC7dQsc8=",
        "not a decimal number",
    );
    refused_for(
        "pbkdf2_sha1$18446744073709551615$mvbbWeCxLAP9sn3mZt0Xvm$ErSvVtof0emggcrZeVvVC7dQsc8=",
        "outside",
    );
    let at_cap = format!(
        "pbkdf2_sha256${PBKDF2_MAX_ITERATIONS}$PD8pHoG3cOKiRL4Fq8nGFb$\
         v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA="
    );
    assert!(inspect(&at_cap).is_ok());
}

#[test]
fn pbkdf2_with_bad_base64_or_a_wrong_length_is_refused() {
    refused_for(
        "pbkdf2_sha256$1000$PD8pHoG3cOKiRL4Fq8nGFb$v+uHbnIJY/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA",
        "not valid base64",
    );
    refused_for(
        "pbkdf2_sha256$1000$PD8pHoG3cOKiRL4Fq8nGFb$v+uHbnIJ*/aKSGrHZ9YM6uhlOhr/IVuqL0NHrKNNQsA=",
        "not valid base64",
    );
    // A SHA-1 length digest under the SHA-256 name.
    refused_for(
        "pbkdf2_sha256$1000$mvbbWeCxLAP9sn3mZt0Xvm$ErSvVtof0emggcrZeVvVC7dQsc8=",
        "20 bytes where 32..=32",
    );
}

#[test]
fn argon2_with_truncated_or_non_numeric_parameters_is_refused() {
    refused_for("argon2$argon2id$v=19$m=64,t=1,p=2", "3 fields");
    refused_for("argon2$argon2id$v=19", "2 fields");
    refused_for(
        "argon2$argon2d$v=19$m=64,t=1,p=2$WHlRb2habFJuUUVmYThnNlNBdHlhZw$Jnl2ky2JQ+pVtaere9YVJHi6pqoWhZaLwj4hADt4UmA",
        "not argon2id or argon2i",
    );
    refused_for(
        &ARGON2ID.replace("v=19", "v=20"),
        "version is not v=19 or v=16",
    );
    refused_for(
        &ARGON2ID.replace("m=64,t=1,p=2", "m=64,t=1"),
        "the costs are not",
    );
    refused_for(
        &ARGON2ID.replace("m=64,t=1,p=2", "m=64,t=1,p=2,x=1"),
        "the costs are not",
    );
    refused_for(
        &ARGON2ID.replace("m=64,t=1,p=2", "t=1,m=64,p=2"),
        "the costs are not",
    );
    refused_for(
        &ARGON2ID.replace("m=64,t=1,p=2", "m=sixty,t=1,p=2"),
        "memory cost (m) is not a decimal number",
    );
    refused_for(
        &ARGON2ID.replace("m=64,t=1,p=2", "m=64,t=,p=2"),
        "iteration count (t) is not a decimal number",
    );
    refused_for(
        &ARGON2ID.replace("m=64,t=1,p=2", "m=8,t=1,p=2"),
        "not valid Argon2 parameters",
    );
}

#[test]
fn argon2_over_authds_caps_is_refused() {
    refused_for(
        &ARGON2ID.replace("m=64", "m=4194304"),
        "memory cost (m) 4194304 is outside 1..=262144",
    );
    refused_for(&ARGON2ID.replace("t=1", "t=17"), "iteration count (t) 17");
    refused_for(&ARGON2ID.replace("p=2", "p=17"), "parallelism (p) 17");
    refused_for(&ARGON2ID.replace("p=2", "p=0"), "parallelism (p) 0");
}

#[test]
fn argon2_with_bad_base64_is_refused() {
    refused_for(
        &ARGON2ID.replace(
            "WHlRb2habFJuUUVmYThnNlNBdHlhZw",
            "WHlRb2hab*JuUUVmYThnNlNBdHlhZw",
        ),
        "salt is not valid base64",
    );
    refused_for(
        &ARGON2ID.replace(
            "Jnl2ky2JQ+pVtaere9YVJHi6pqoWhZaLwj4hADt4UmA",
            "Jnl2ky2JQ+pVtaere9Y!",
        ),
        "hash is not valid base64",
    );
    refused_for(
        &ARGON2ID.replace("WHlRb2habFJuUUVmYThnNlNBdHlhZw", "c2FsdA"),
        "salt is 4 bytes",
    );
}

#[test]
fn bcrypt_with_truncated_or_non_numeric_parameters_is_refused() {
    refused_for("bcrypt$$2b$04", "3 fields");
    refused_for(
        "bcrypt$2b$04$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxga",
        "3 fields",
    );
    refused_for(
        "bcrypt$x$2b$04$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxga",
        "not followed by `$$2b$`",
    );
    refused_for(
        "bcrypt$$2x$04$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxga",
        "prefix is not 2b",
    );
    refused_for(
        "bcrypt$$2b$ab$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxga",
        "cost is not a decimal number",
    );
    refused_for(
        "bcrypt$$2b$4$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxga",
        "cost is not two digits",
    );
    refused_for(
        "bcrypt_sha256$$2b$03$zatYBtWJIYHFNCuWsp0EpO4J/b9tA/7tDWoM5v74/6I0ollSN71p.",
        "cost 3 is outside 4..=13",
    );
    refused_for(
        "bcrypt$$2b$04$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4",
        "53 characters",
    );
}

#[test]
fn bcrypt_over_the_cost_cap_is_refused() {
    refused_for(
        "bcrypt$$2b$14$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxga",
        "cost 14 is outside 4..=13 (authd's cap",
    );
    refused_for(
        "bcrypt_sha256$$2b$31$zatYBtWJIYHFNCuWsp0EpO4J/b9tA/7tDWoM5v74/6I0ollSN71p.",
        "cost 31",
    );
}

#[test]
fn bcrypt_with_bad_base64_is_refused() {
    refused_for(
        "bcrypt$$2b$04$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxg+",
        "53 characters of bcrypt's base64",
    );
    refused_for(
        "bcrypt$$2b$04$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxg=",
        "53 characters of bcrypt's base64",
    );
}

#[test]
fn scrypt_with_truncated_or_non_numeric_parameters_is_refused() {
    refused_for("scrypt$256$E2rOALrslvMeK4S19sxuFK$2$1", "4 fields");
    refused_for(
        &SCRYPT.replace("$256$", "$two56$"),
        "work factor (n) is not a decimal number",
    );
    refused_for(
        &SCRYPT.replace("$2$1$", "$x$1$"),
        "block size (r) is not a decimal number",
    );
    refused_for(
        &SCRYPT.replace("$2$1$", "$2$$"),
        "parallelism (p) is not a decimal number",
    );
    refused_for(&SCRYPT.replace("$256$", "$255$"), "not a power of two");
    refused_for(
        &SCRYPT.replace("$256$", "$1$"),
        "work factor (n) 1 is outside",
    );
    refused_for(&SCRYPT.replace("$2$1$", "$0$1$"), "block size (r) 0");
}

#[test]
fn scrypt_over_the_memory_or_work_cap_is_refused() {
    // 2^21 · 8 · 128 bytes = 2 GiB.
    refused_for(
        &SCRYPT.replace("$256$", "$2097152$"),
        "work factor (n) 2097152 is outside",
    );
    refused_for(
        &SCRYPT
            .replace("$256$", "$1048576$")
            .replace("$2$1$", "$8$1$"),
        "KiB of memory",
    );
    refused_for(&SCRYPT.replace("$2$1$", "$8$1000$"), "n·r·p is 2048000");
    // Django 5.2's default, 2^14 · 8 · 5, is within.
    assert!(inspect(&SCRYPT.replace("$256$", "$16384$").replace("$2$1$", "$8$5$")).is_ok());
}

#[test]
fn scrypt_with_bad_base64_is_refused() {
    refused_for(
        &SCRYPT.replace("VPaMp5YU", "VPaMp5Y*"),
        "hash is not valid base64",
    );
    refused_for(
        "scrypt$256$E2rOALrslvMeK4S19sxuFK$2$1$VPaMp5YUUaiqvNMPAOwrbqKHtss5NOAml0fO",
        "hash is 27 bytes where 64..=64",
    );
}

#[test]
fn md5_with_truncated_or_bad_hex_is_refused() {
    refused_for("md5$bO87zQDWBEH59XB0eAkvaQ", "1 fields");
    refused_for(
        "md5$bO87zQDWBEH59XB0eAkvaQ$a2ed8876e9689f27",
        "32 hexadecimal digits",
    );
    refused_for(
        "md5$bO87zQDWBEH59XB0eAkvaQ$A2ED8876E9689F27750155BD7BC4FB0F",
        "lower-case hexadecimal",
    );
    refused_for(
        "md5$bO87zQDWBEH59XB0eAkvaQ$g2ed8876e9689f27750155bd7bc4fb0f",
        "lower-case hexadecimal",
    );
    refused_for("md5$$a2ed8876e9689f27750155bd7bc4fb0f", "salt is empty");
    refused_for(
        "md5$a b$a2ed8876e9689f27750155bd7bc4fb0f",
        "printable ASCII",
    );
}

#[test]
fn problems_never_repeat_the_salt_or_digest() {
    for bad in [
        PBKDF2_SHA256.replace("$1000$", "$x$"),
        ARGON2ID.replace("t=1", "t=99"),
        BCRYPT.replace("$04$", "$99$"),
        SCRYPT.replace("$256$", "$255$"),
        MD5.replace("a2ed", "zzzz"),
    ] {
        let text = refused(&bad);
        for part in bad.split('$').skip(1).filter(|p| p.len() > 8) {
            assert!(!text.contains(part), "{text:?} repeats {part:?}");
        }
    }
}
