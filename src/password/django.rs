//! Password hashes made by Django's hashers, as `authd import django` stores
//! them (verbatim, in the user's `password_hash`).
//!
//! [`inspect`] is the contract between the importer and the login path: it
//! says, without hashing anything, which of Django's hashers made an encoded
//! hash (`<algorithm>$<parameters>$<salt>$<hash>`, Django's
//! `django.contrib.auth.hashers`), whether its parameters are within authd's
//! caps, and whether the hash is Django's "unusable password" (`!` followed
//! by random text), which no password matches. The importer reports what
//! `inspect` refuses instead of storing it; the login path checks a
//! recognised hash on the hashing pool (`check`, called from
//! [`super::PasswordHasher::verify`]) and replaces it with Argon2id after
//! the first successful login.
//!
//! Every format of Django 5.x is read: `pbkdf2_sha256`, `pbkdf2_sha1`,
//! `argon2` (`argon2id` and `argon2i`, version 19, 16 or none, which is 16),
//! `bcrypt_sha256`, `bcrypt`, `scrypt` and salted `md5`. The caps allow
//! about twice the work of Django 5.2's defaults, under a second of one idle
//! core, and for the memory-hard ones no more memory than an Argon2 hash of
//! authd's may take ([`super::ARGON2_MAX_MEMORY_KIB`]), so a tampered row can
//! make a login neither slow nor huge. Django's Argon2 hashes are held to
//! authd's own Argon2 caps, the same as authd's stored hashes:
//!
//! | hasher | cap | Django 5.2's default |
//! |---|---|---|
//! | `pbkdf2_sha256`, `pbkdf2_sha1` | [`PBKDF2_MAX_ITERATIONS`] | 1,000,000 |
//! | `bcrypt`, `bcrypt_sha256` | [`BCRYPT_MAX_COST`] | 12 |
//! | `scrypt` | `128·n·r` ≤ [`super::ARGON2_MAX_MEMORY_KIB`] KiB, `n·r·p` ≤ [`SCRYPT_MAX_WORK`] | n = 2¹⁴, r = 8, p = 5 |
//! | `argon2` | authd's own Argon2 caps (memory, iterations, lanes) | m = 102,400, t = 2, p = 8 |
//!
//! What this module must not do: put any part of a hash (salt, digest) in a
//! [`HashProblem`]'s text, which is logged and printed by the importer.

use base64::Engine as _;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::{DecodePaddingMode, general_purpose};
use thiserror::Error;

use super::cost::{ARGON2_MAX_ITERATIONS, ARGON2_MAX_MEMORY_KIB, ARGON2_MAX_PARALLELISM};

pub(super) mod check;
#[cfg(test)]
mod tests;

/// Most PBKDF2 iterations a stored hash may ask for: twice Django 5.2's
/// default (1,000,000; Django 6.0 makes 1,200,000), so hashes of current and
/// the next few Django releases import, while one check stays under half a
/// second of one idle x86 core (aws-lc's PBKDF2-HMAC-SHA256 does about 5
/// million iterations a second there; measured on the 2-core CI machine
/// under load, 2,000,000 took 1.0 s).
pub const PBKDF2_MAX_ITERATIONS: u32 = 2_000_000;

/// Highest bcrypt cost (log₂ of the rounds) a stored hash may ask for:
/// Django's default 12 and one step up. Each step doubles the time: 12 takes
/// about 0.3 s of one idle core, 13 about 0.6 s, 14 would be over a second.
pub const BCRYPT_MAX_COST: u32 = 13;

/// Most scrypt work (`n·r·p`, which the time grows with) a stored hash may
/// ask for: 2²⁰, 1.6 times Django 5.2's default (2¹⁴·8·5, about 0.45 s of
/// one idle core with the scrypt crate), so about 0.75 s. The memory
/// (`128·n·r` bytes) has the Argon2 cap.
pub const SCRYPT_MAX_WORK: u64 = 1 << 20;

/// Longest encoded hash read. Django's `password` column holds 128
/// characters; anything much longer is not Django's.
pub const MAX_ENCODED_LEN: usize = 512;

/// Longest salt read, in bytes (Django makes 22 characters).
const MAX_SALT_LEN: usize = 128;

/// The Django hashers authd can check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DjangoAlgorithm {
    /// `pbkdf2_sha256$<iterations>$<salt>$<hash>` (Django's default).
    Pbkdf2Sha256,
    /// `pbkdf2_sha1$<iterations>$<salt>$<hash>`.
    Pbkdf2Sha1,
    /// `argon2$argon2id$v=19$m=..,t=..,p=..$<salt>$<hash>` (also `argon2i`,
    /// `v=16` or no version).
    Argon2,
    /// `bcrypt_sha256$$2b$<cost>$<salt+hash>`.
    BcryptSha256,
    /// `bcrypt$$2b$<cost>$<salt+hash>` (passwords truncated to 72 bytes).
    Bcrypt,
    /// `scrypt$<n>$<salt>$<r>$<p>$<hash>`.
    Scrypt,
    /// `md5$<salt>$<hash>`: weak, imported only when asked for.
    Md5,
}

impl DjangoAlgorithm {
    /// Django's name for the hasher: the first field of the encoded hash.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::Pbkdf2Sha256 => "pbkdf2_sha256",
            Self::Pbkdf2Sha1 => "pbkdf2_sha1",
            Self::Argon2 => "argon2",
            Self::BcryptSha256 => "bcrypt_sha256",
            Self::Bcrypt => "bcrypt",
            Self::Scrypt => "scrypt",
            Self::Md5 => "md5",
        }
    }

    /// Whether the hasher is too weak to import without
    /// `--allow-weak-hashes` (salted MD5).
    #[must_use]
    pub fn is_weak(self) -> bool {
        matches!(self, Self::Md5)
    }
}

/// What an encoded Django hash is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inspected {
    /// A hash one of the [`DjangoAlgorithm`]s can check.
    Usable(DjangoAlgorithm),
    /// Django's unusable password (`!...`): the account cannot log in until
    /// a password is set.
    Unusable,
}

/// Why an encoded hash cannot be imported or checked; the text says which
/// part is wrong, never the hash itself.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{0}")]
pub struct HashProblem(pub String);

/// Which Django hasher made `encoded`, and whether authd can check it: the
/// structure of every field and the parameters against the caps.
///
/// No hashing happens here: this is the importer's check and the login
/// path's dispatch.
///
/// # Errors
/// [`HashProblem`] naming the hasher and the field that is wrong (a
/// truncated or non-numeric parameter, a cost over the cap, bad base64).
pub fn inspect(encoded: &str) -> Result<Inspected, HashProblem> {
    Ok(match parse(encoded)? {
        Parsed::Unusable => Inspected::Unusable,
        Parsed::Usable(hash) => Inspected::Usable(hash.algorithm()),
    })
}

/// A parsed encoded hash.
#[derive(Debug)]
pub(super) enum Parsed<'a> {
    /// Django's unusable password.
    Unusable,
    /// A hash to check.
    Usable(Hash<'a>),
}

/// The parts of a usable hash that checking it needs, within the caps.
#[derive(Debug)]
pub(super) enum Hash<'a> {
    /// PBKDF2-HMAC; `sha1` picks the PRF (else SHA-256).
    Pbkdf2 {
        sha1: bool,
        iterations: std::num::NonZeroU32,
        salt: &'a str,
        expected: Vec<u8>,
    },
    /// Argon2i or Argon2id (`argon2::Algorithm`), any version.
    Argon2 {
        algorithm: argon2::Algorithm,
        version: argon2::Version,
        params: argon2::Params,
        salt: Vec<u8>,
        expected: Vec<u8>,
    },
    /// bcrypt of the password (truncated to 72 bytes) or, with `sha256`, of
    /// the hex SHA-256 of the password; `modular` is `$2b$<cost>$<53 chars>`.
    Bcrypt { sha256: bool, modular: &'a str },
    /// scrypt with `n = 2^log_n`, 64 bytes of output.
    Scrypt {
        log_n: u8,
        r: u32,
        p: u32,
        salt: &'a str,
        expected: Vec<u8>,
    },
    /// MD5 of salt and password.
    Md5 { salt: &'a str, expected: [u8; 16] },
}

impl Hash<'_> {
    /// The hasher that made it.
    pub(super) fn algorithm(&self) -> DjangoAlgorithm {
        match self {
            Self::Pbkdf2 { sha1: true, .. } => DjangoAlgorithm::Pbkdf2Sha1,
            Self::Pbkdf2 { sha1: false, .. } => DjangoAlgorithm::Pbkdf2Sha256,
            Self::Argon2 { .. } => DjangoAlgorithm::Argon2,
            Self::Bcrypt { sha256: true, .. } => DjangoAlgorithm::BcryptSha256,
            Self::Bcrypt { sha256: false, .. } => DjangoAlgorithm::Bcrypt,
            Self::Scrypt { .. } => DjangoAlgorithm::Scrypt,
            Self::Md5 { .. } => DjangoAlgorithm::Md5,
        }
    }
}

fn problem(algorithm: DjangoAlgorithm, what: impl std::fmt::Display) -> HashProblem {
    HashProblem(format!("{} hash: {what}", algorithm.name()))
}

/// Reads `encoded` into the parts checking it needs, refusing anything
/// Django would not have made or that is over the caps.
pub(super) fn parse(encoded: &str) -> Result<Parsed<'_>, HashProblem> {
    if encoded.starts_with('!') {
        return Ok(Parsed::Unusable);
    }
    if encoded.len() > MAX_ENCODED_LEN {
        return Err(HashProblem(format!(
            "not a Django password hash: longer than {MAX_ENCODED_LEN} bytes"
        )));
    }
    let Some((name, rest)) = encoded.split_once('$') else {
        return Err(HashProblem(
            "not a Django password hash: no `<algorithm>$` prefix".to_owned(),
        ));
    };
    let hash = match name {
        "pbkdf2_sha256" => pbkdf2(DjangoAlgorithm::Pbkdf2Sha256, rest)?,
        "pbkdf2_sha1" => pbkdf2(DjangoAlgorithm::Pbkdf2Sha1, rest)?,
        "argon2" => argon2(rest)?,
        "bcrypt_sha256" => bcrypt(DjangoAlgorithm::BcryptSha256, rest)?,
        "bcrypt" => bcrypt(DjangoAlgorithm::Bcrypt, rest)?,
        "scrypt" => scrypt(rest)?,
        "md5" => md5(rest)?,
        _ => {
            // The name is shown only when it looks like a hasher's name:
            // a row holding a plain-text password must not end up in a log.
            let shown = if !name.is_empty()
                && name.len() <= 32
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                format!(" (hasher {name:?})")
            } else {
                String::new()
            };
            return Err(HashProblem(format!(
                "not a Django password hash authd can check{shown}; authd reads pbkdf2_sha256, \
                 pbkdf2_sha1, argon2, bcrypt_sha256, bcrypt, scrypt and md5"
            )));
        }
    };
    Ok(Parsed::Usable(hash))
}

/// Exactly `N` `$`-separated fields of `rest`.
fn fields<'a, const N: usize>(
    algorithm: DjangoAlgorithm,
    rest: &'a str,
    shape: &str,
) -> Result<[&'a str; N], HashProblem> {
    let parts: Vec<&str> = rest.split('$').collect();
    <[&str; N]>::try_from(parts).map_err(|parts| {
        problem(
            algorithm,
            format!(
                "{} fields after the hasher's name where {N} were expected ({shape})",
                parts.len()
            ),
        )
    })
}

/// A decimal parameter: digits only, no sign, within `range`.
fn number(
    algorithm: DjangoAlgorithm,
    what: &str,
    text: &str,
    range: std::ops::RangeInclusive<u64>,
) -> Result<u64, HashProblem> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(problem(
            algorithm,
            format!("the {what} is not a decimal number"),
        ));
    }
    let value: u64 = text
        .parse()
        .map_err(|_| problem(algorithm, format!("the {what} is not a decimal number")))?;
    if !range.contains(&value) {
        return Err(problem(
            algorithm,
            format!(
                "the {what} {value} is outside {}..={} (authd's cap bounds the work of one login)",
                range.start(),
                range.end()
            ),
        ));
    }
    Ok(value)
}

/// A salt Django could have made: not empty, no `$`, printable ASCII.
fn salt(algorithm: DjangoAlgorithm, text: &str) -> Result<&str, HashProblem> {
    if text.is_empty() {
        return Err(problem(algorithm, "the salt is empty"));
    }
    if text.len() > MAX_SALT_LEN {
        return Err(problem(
            algorithm,
            format!("the salt is longer than {MAX_SALT_LEN} bytes"),
        ));
    }
    if !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(problem(
            algorithm,
            "the salt holds characters other than printable ASCII",
        ));
    }
    Ok(text)
}

/// Standard base64 (`+/`) with or without padding, as Argon2's PHC strings
/// write it (without) and Python's `base64` reads it.
const B64_ANY_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

fn base64(
    algorithm: DjangoAlgorithm,
    what: &str,
    text: &str,
    engine: &general_purpose::GeneralPurpose,
    len: std::ops::RangeInclusive<usize>,
) -> Result<Vec<u8>, HashProblem> {
    let bytes = engine
        .decode(text)
        .map_err(|_| problem(algorithm, format!("the {what} is not valid base64")))?;
    if !len.contains(&bytes.len()) {
        return Err(problem(
            algorithm,
            format!(
                "the {what} is {} bytes where {}..={} were expected",
                bytes.len(),
                len.start(),
                len.end()
            ),
        ));
    }
    Ok(bytes)
}

/// `<iterations>$<salt>$<hash>`: PBKDF2-HMAC with the digest's own output
/// length, which is what Django makes and compares.
fn pbkdf2(algorithm: DjangoAlgorithm, rest: &str) -> Result<Hash<'_>, HashProblem> {
    let [iterations, salt_text, hash] = fields(algorithm, rest, "iterations, salt, hash")?;
    let iterations = number(
        algorithm,
        "iteration count",
        iterations,
        1..=u64::from(PBKDF2_MAX_ITERATIONS),
    )?;
    let iterations = u32::try_from(iterations)
        .ok()
        .and_then(std::num::NonZeroU32::new)
        .ok_or_else(|| problem(algorithm, "the iteration count is out of range"))?;
    let sha1 = algorithm == DjangoAlgorithm::Pbkdf2Sha1;
    let len = if sha1 { 20 } else { 32 };
    Ok(Hash::Pbkdf2 {
        sha1,
        iterations,
        salt: salt(algorithm, salt_text)?,
        expected: base64(algorithm, "hash", hash, &STANDARD, len..=len)?,
    })
}

/// `argon2<variety>$v=<version>$m=<m>,t=<t>,p=<p>$<salt>$<hash>`, the
/// version field optional (absent is version 16, as argon2-cffi reads it).
fn argon2(rest: &str) -> Result<Hash<'_>, HashProblem> {
    let algo = DjangoAlgorithm::Argon2;
    let parts: Vec<&str> = rest.split('$').collect();
    let (variety, version, costs, salt_text, hash) = match parts.as_slice() {
        [variety, version, costs, salt, hash] => (*variety, Some(*version), *costs, *salt, *hash),
        [variety, costs, salt, hash] => (*variety, None, *costs, *salt, *hash),
        _ => {
            return Err(problem(
                algo,
                format!(
                    "{} fields after the hasher's name where 5 were expected \
                     (variety, version, m/t/p costs, salt, hash)",
                    parts.len()
                ),
            ));
        }
    };
    let algorithm = match variety {
        "argon2id" => argon2::Algorithm::Argon2id,
        "argon2i" => argon2::Algorithm::Argon2i,
        _ => return Err(problem(algo, "the variety is not argon2id or argon2i")),
    };
    let version = match version {
        None | Some("v=16") => argon2::Version::V0x10,
        Some("v=19") => argon2::Version::V0x13,
        Some(_) => return Err(problem(algo, "the version is not v=19 or v=16")),
    };
    let mut costs = costs.split(',');
    let mut cost = |key: &str| costs.next().and_then(|field| field.strip_prefix(key));
    let (Some(m), Some(t), Some(p), None) = (cost("m="), cost("t="), cost("p="), cost("")) else {
        return Err(problem(
            algo,
            "the costs are not `m=<memory KiB>,t=<iterations>,p=<lanes>`",
        ));
    };
    let cap = |what, text, max: u32| -> Result<u32, HashProblem> {
        let value = number(algo, what, text, 1..=u64::from(max))?;
        u32::try_from(value).map_err(|_| problem(algo, format!("the {what} is out of range")))
    };
    let m = cap("memory cost (m)", m, ARGON2_MAX_MEMORY_KIB)?;
    let t = cap("iteration count (t)", t, ARGON2_MAX_ITERATIONS)?;
    let p = cap("parallelism (p)", p, ARGON2_MAX_PARALLELISM)?;
    let salt = base64(
        algo,
        "salt",
        salt_text,
        &B64_ANY_PADDING,
        argon2::MIN_SALT_LEN..=MAX_SALT_LEN,
    )?;
    let expected = base64(algo, "hash", hash, &B64_ANY_PADDING, 4..=64)?;
    let params = argon2::Params::new(m, t, p, Some(expected.len())).map_err(|e| {
        problem(
            algo,
            format!("the costs are not valid Argon2 parameters: {e}"),
        )
    })?;
    Ok(Hash::Argon2 {
        algorithm,
        version,
        params,
        salt,
        expected,
    })
}

/// `$2b$<cost>$<22 chars salt><31 chars hash>` after an empty field (the
/// `$$`); `2a` and `2y` are read too.
fn bcrypt(algorithm: DjangoAlgorithm, rest: &str) -> Result<Hash<'_>, HashProblem> {
    let [empty, prefix, cost, data] =
        fields(algorithm, rest, "empty, bcrypt prefix, cost, salt and hash")?;
    if !empty.is_empty() {
        return Err(problem(
            algorithm,
            "the hasher's name is not followed by `$$2b$`",
        ));
    }
    if !matches!(prefix, "2a" | "2b" | "2y") {
        return Err(problem(algorithm, "the bcrypt prefix is not 2b, 2a or 2y"));
    }
    if cost.len() != 2 {
        return Err(problem(algorithm, "the cost is not two digits"));
    }
    number(algorithm, "cost", cost, 4..=u64::from(BCRYPT_MAX_COST))?;
    let bcrypt_alphabet = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'/';
    if data.len() != 53 || !data.bytes().all(bcrypt_alphabet) {
        return Err(problem(
            algorithm,
            "the salt and hash are not 53 characters of bcrypt's base64",
        ));
    }
    // Decoded by the bcrypt crate itself, so an encoding it refuses is
    // refused here and never reaches a login.
    let modular = rest;
    modular
        .parse::<::bcrypt::HashParts>()
        .map_err(|_| problem(algorithm, "the salt and hash are not valid bcrypt base64"))?;
    Ok(Hash::Bcrypt {
        sha256: algorithm == DjangoAlgorithm::BcryptSha256,
        modular,
    })
}

/// `<n>$<salt>$<r>$<p>$<hash>` with 64 bytes of hash, as Django makes.
fn scrypt(rest: &str) -> Result<Hash<'_>, HashProblem> {
    let algo = DjangoAlgorithm::Scrypt;
    let [n, salt_text, r, p, hash] = fields(
        algo,
        rest,
        "work factor n, salt, block size r, parallelism p, hash",
    )?;
    let n = number(algo, "work factor (n)", n, 2..=SCRYPT_MAX_WORK)?;
    if !n.is_power_of_two() {
        return Err(problem(algo, "the work factor (n) is not a power of two"));
    }
    let r = number(algo, "block size (r)", r, 1..=SCRYPT_MAX_WORK)?;
    let p = number(algo, "parallelism (p)", p, 1..=SCRYPT_MAX_WORK)?;
    let memory_kib = n.saturating_mul(r).saturating_mul(128) / 1024;
    if memory_kib > u64::from(ARGON2_MAX_MEMORY_KIB) {
        return Err(problem(
            algo,
            format!(
                "n·r needs {memory_kib} KiB of memory, over authd's cap of \
                 {ARGON2_MAX_MEMORY_KIB} KiB"
            ),
        ));
    }
    let work = n.saturating_mul(r).saturating_mul(p);
    if work > SCRYPT_MAX_WORK {
        return Err(problem(
            algo,
            format!("n·r·p is {work}, over authd's cap of {SCRYPT_MAX_WORK}"),
        ));
    }
    let small = |v: u64| u32::try_from(v).map_err(|_| problem(algo, "a cost is out of range"));
    Ok(Hash::Scrypt {
        log_n: u8::try_from(n.trailing_zeros())
            .map_err(|_| problem(algo, "the work factor (n) is out of range"))?,
        r: small(r)?,
        p: small(p)?,
        salt: salt(algo, salt_text)?,
        expected: base64(algo, "hash", hash, &STANDARD, 64..=64)?,
    })
}

/// `<salt>$<32 lower-case hex digits>`.
fn md5(rest: &str) -> Result<Hash<'_>, HashProblem> {
    let algo = DjangoAlgorithm::Md5;
    let [salt_text, hash] = fields(algo, rest, "salt, hash")?;
    let hex = |b: u8| match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    };
    let mut expected = [0u8; 16];
    let digits = hash.as_bytes();
    if digits.len() != 32 {
        return Err(problem(algo, "the hash is not 32 hexadecimal digits"));
    }
    for (byte, pair) in expected.iter_mut().zip(digits.chunks_exact(2)) {
        let (Some(high), Some(low)) = (hex(pair[0]), hex(pair[1])) else {
            return Err(problem(
                algo,
                "the hash is not 32 lower-case hexadecimal digits",
            ));
        };
        *byte = high << 4 | low;
    }
    Ok(Hash::Md5 {
        salt: salt(algo, salt_text)?,
        expected,
    })
}
