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
//! recognised hash on the hashing pool and replaces it with Argon2id after
//! the first successful login.

use thiserror::Error;

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

/// Which Django hasher made `encoded`, and whether authd can check it.
///
/// No hashing happens here: this is the importer's check and the login
/// path's dispatch.
pub fn inspect(encoded: &str) -> Result<Inspected, HashProblem> {
    if encoded.starts_with('!') {
        return Ok(Inspected::Unusable);
    }
    let name = encoded.split('$').next().unwrap_or_default();
    let algorithm = match name {
        "pbkdf2_sha256" => DjangoAlgorithm::Pbkdf2Sha256,
        "pbkdf2_sha1" => DjangoAlgorithm::Pbkdf2Sha1,
        "argon2" => DjangoAlgorithm::Argon2,
        "bcrypt_sha256" => DjangoAlgorithm::BcryptSha256,
        "bcrypt" => DjangoAlgorithm::Bcrypt,
        "scrypt" => DjangoAlgorithm::Scrypt,
        "md5" => DjangoAlgorithm::Md5,
        _ => {
            return Err(HashProblem(format!(
                "not a Django password hash authd can check (hasher {:?})",
                name.chars().take(32).collect::<String>()
            )));
        }
    };
    Ok(Inspected::Usable(algorithm))
}
