//! Refresh tokens: opaque random values, stored only as hashes.
//!
//! A refresh token is `rt_` followed by 256 random bits in base64url; it has
//! no dots, so it can never pass for a JWT, and a JWT is never found among
//! refresh token hashes. The database keeps `SHA-256(token)` only.
//!
//! When a token is rotated, its successor is kept *sealed* (AES-256-GCM)
//! under a key derived from the old token, which the database does not hold.
//! So a client that retries a refresh within the grace window, presenting
//! the old token again, can be handed the same successor, while a stolen
//! copy of the database reveals no usable token.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::digest::{SHA256, digest};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, Result};

/// The prefix of every refresh token.
pub const PREFIX: &str = "rt_";

/// Longest input treated as a possible refresh token.
const MAX_LEN: usize = 128;

/// A new random refresh token.
///
/// # Errors
/// [`Error::Internal`] if the system RNG fails.
pub fn generate() -> Result<SecretString> {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|e| Error::internal_msg("generating a refresh token", e))?;
    Ok(SecretString::from(format!(
        "{PREFIX}{}",
        URL_SAFE_NO_PAD.encode(bytes)
    )))
}

/// Whether `token` has the shape of a refresh token (checked before any lookup).
#[must_use]
pub fn looks_valid(token: &str) -> bool {
    token.len() <= MAX_LEN
        && token
            .strip_prefix(PREFIX)
            .is_some_and(|rest| !rest.is_empty() && URL_SAFE_NO_PAD.decode(rest).is_ok())
}

/// The stored form of a token: base64url SHA-256.
#[must_use]
pub fn hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(digest(&SHA256, token.as_bytes()).as_ref())
}

fn sealing_key(old_token: &str) -> Result<LessSafeKey> {
    let key = digest(
        &SHA256,
        &[
            b"authd refresh successor v1\0".as_slice(),
            old_token.as_bytes(),
        ]
        .concat(),
    );
    UnboundKey::new(&AES_256_GCM, key.as_ref())
        .map(LessSafeKey::new)
        .map_err(|e| Error::internal_msg("sealing a refresh token", e))
}

/// Seals `successor` so that only a holder of `old_token` can open it.
///
/// # Errors
/// [`Error::Internal`] on a crypto failure.
pub fn seal(old_token: &str, successor: &SecretString) -> Result<Vec<u8>> {
    let key = sealing_key(old_token)?;
    let mut nonce = [0u8; NONCE_LEN];
    aws_lc_rs::rand::fill(&mut nonce)
        .map_err(|e| Error::internal_msg("sealing a refresh token", e))?;
    let mut sealed = successor.expose_secret().as_bytes().to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::empty(),
        &mut sealed,
    )
    .map_err(|e| Error::internal_msg("sealing a refresh token", e))?;
    let mut out = nonce.to_vec();
    out.extend_from_slice(&sealed);
    Ok(out)
}

/// Opens what [`seal`] made, with the same `old_token`; `None` if it does not open.
#[must_use]
pub fn open(old_token: &str, sealed: &[u8]) -> Option<SecretString> {
    let key = sealing_key(old_token).ok()?;
    let (nonce, ciphertext) = sealed.split_at_checked(NONCE_LEN)?;
    let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
    let mut buffer = ciphertext.to_vec();
    let plain = key.open_in_place(nonce, Aad::empty(), &mut buffer).ok()?;
    String::from_utf8(plain.to_vec())
        .ok()
        .map(SecretString::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_prefixed_and_not_jwts() {
        let a = generate().unwrap();
        let b = generate().unwrap();
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert!(a.expose_secret().starts_with(PREFIX));
        assert!(!a.expose_secret().contains('.'));
        assert!(looks_valid(a.expose_secret()));
        assert!(!looks_valid("eyJhbGciOiJFZERTQSJ9.e30.sig"));
        assert!(!looks_valid("rt_"));
        assert!(!looks_valid(&format!("rt_{}", "A".repeat(500))));
        // 32 bytes of randomness.
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(&a.expose_secret()[PREFIX.len()..])
                .unwrap()
                .len(),
            32
        );
    }

    #[test]
    fn hashes_are_stable_and_do_not_contain_the_token() {
        let t = generate().unwrap();
        assert_eq!(hash(t.expose_secret()), hash(t.expose_secret()));
        assert!(!hash(t.expose_secret()).contains(&t.expose_secret()[PREFIX.len()..]));
    }

    #[test]
    fn only_the_old_token_opens_the_sealed_successor() {
        let old = generate().unwrap();
        let other = generate().unwrap();
        let successor = generate().unwrap();
        let sealed = seal(old.expose_secret(), &successor).unwrap();
        assert_eq!(
            open(old.expose_secret(), &sealed).unwrap().expose_secret(),
            successor.expose_secret()
        );
        assert!(open(other.expose_secret(), &sealed).is_none());
        let mut tampered = sealed.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(open(old.expose_secret(), &tampered).is_none());
        assert!(open(old.expose_secret(), &sealed[..5]).is_none());
    }
}
