//! Service accounts' client secrets and client ids: random values, the
//! secrets stored only as hashes.
//!
//! A client secret is `authd_sa_` followed by 256 random bits in base64url
//! (the prefix lets secret scanners recognise a leaked one). The database
//! keeps only its SHA-256. A fast hash is enough here, unlike for
//! passwords: a 256-bit random value has no dictionary to guess from, so
//! an attacker holding the hash faces 2^256 candidates whatever the hash
//! costs, and a slow hash would only make every token request slower.
//! A presented secret is hashed and compared with the account's stored
//! hashes in constant time.

use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;

use crate::error::{Error, Result};

/// The prefix of every client secret.
pub const PREFIX: &str = "authd_sa_";

/// The prefix of every client id.
pub const CLIENT_ID_PREFIX: &str = "sa-";

/// Longest client secret looked at; longer input cannot be one.
pub const MAX_SECRET_LEN: usize = 128;

/// Longest client id looked up; longer input cannot be one.
pub const MAX_CLIENT_ID_LEN: usize = 128;

fn random<const N: usize>(what: &'static str) -> Result<[u8; N]> {
    let mut bytes = [0u8; N];
    aws_lc_rs::rand::fill(&mut bytes).map_err(|e| Error::internal_msg(what, e))?;
    Ok(bytes)
}

/// A new random client secret.
///
/// # Errors
/// [`Error::Internal`] if the system RNG fails.
pub fn generate() -> Result<SecretString> {
    let bytes = random::<32>("generating a client secret")?;
    Ok(SecretString::from(format!(
        "{PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

/// A new random client id: `sa-` and 128 random bits in base64url. Not a
/// secret, only unguessable enough that ids of other accounts cannot be
/// enumerated.
///
/// # Errors
/// [`Error::Internal`] if the system RNG fails.
pub fn generate_client_id() -> Result<String> {
    let bytes = random::<16>("generating a client id")?;
    Ok(format!(
        "{CLIENT_ID_PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    ))
}

/// The stored form of a secret: base64url SHA-256.
#[must_use]
pub fn hash(secret: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, secret.as_bytes()).as_ref())
}

/// Whether two hashes are equal, in time independent of where they differ.
#[must_use]
pub fn hashes_match(presented: &str, stored: &str) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(presented.as_bytes(), stored.as_bytes())
        .is_ok()
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn a_secret_is_the_prefix_and_256_random_bits_and_only_its_hash_matches() {
        let secret = generate().unwrap();
        let value = secret.expose_secret();
        let rest = value.strip_prefix(PREFIX).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(rest).unwrap().len(), 32);
        assert_ne!(value, generate().unwrap().expose_secret());
        let stored = hash(value);
        assert!(!stored.contains(rest));
        assert!(hashes_match(&hash(value), &stored));
        assert!(!hashes_match(&hash("authd_sa_other"), &stored));
        assert!(generate_client_id().unwrap().starts_with(CLIENT_ID_PREFIX));
    }
}
