//! Encryption of private signing keys at rest.
//!
//! When a key-encryption secret is configured, every private key authd
//! stores is sealed with AES-256-GCM under a key derived from the secret
//! (HKDF-SHA256), with a fresh random nonce and the key id as associated
//! data, so a sealed key cannot be moved to another row. Stored form:
//! `AKE1 || nonce (12 bytes) || ciphertext || tag`. Unsealed keys are plain
//! PKCS#8 DER, which starts with `0x30`, so both forms can coexist while a
//! database is being migrated to encryption.
//!
//! What it protects against: a copy of the database (a backup, a replica,
//! an SQL injection elsewhere) is not enough to mint tokens. What it does
//! not: anyone who holds both the database and the secret, or who controls
//! a running authd process (the current key is in its memory).

use std::fmt;

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hkdf::{HKDF_SHA256, Salt};
use secrecy::SecretBox;

use crate::error::{Error, Result};

/// Marks a sealed key; PKCS#8 DER never starts with these bytes.
const MAGIC: &[u8; 4] = b"AKE1";

/// The key that seals and opens stored private keys.
pub struct KeyEncryptionKey {
    key: LessSafeKey,
}

impl fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("KeyEncryptionKey([redacted])")
    }
}

impl KeyEncryptionKey {
    /// Derives the key from the configured secret.
    ///
    /// # Errors
    /// [`Error::Internal`] if key derivation fails.
    pub fn from_secret(secret: &[u8]) -> Result<Self> {
        let prk = Salt::new(HKDF_SHA256, b"authd signing-key encryption").extract(secret);
        let info = [b"AES-256-GCM v1".as_slice()];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .map_err(|_| Error::internal_msg("deriving the key-encryption key", "HKDF failed"))?;
        Ok(Self {
            key: LessSafeKey::new(UnboundKey::from(okm)),
        })
    }

    /// Whether stored key bytes are sealed (rather than plain PKCS#8).
    #[must_use]
    pub fn is_sealed(stored: &[u8]) -> bool {
        stored.starts_with(MAGIC)
    }

    /// Seals `plaintext` for the key `kid`.
    ///
    /// # Errors
    /// [`Error::Internal`] if the RNG or the cipher fails.
    pub fn seal(&self, kid: &str, plaintext: &[u8]) -> Result<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        aws_lc_rs::rand::fill(&mut nonce)
            .map_err(|_| Error::internal_msg("encrypting a signing key", "RNG failed"))?;
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(kid.as_bytes()),
                &mut buffer,
            )
            .map_err(|_| Error::internal_msg("encrypting a signing key", "AEAD failed"))?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + buffer.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&buffer);
        Ok(out)
    }

    /// Opens a sealed key of `kid`.
    ///
    /// # Errors
    /// [`Error::Config`] when it does not open: the secret is not the one
    /// it was sealed with (or the row was tampered with).
    pub fn open(&self, kid: &str, sealed: &[u8]) -> Result<SecretBox<Vec<u8>>> {
        let wrong = || {
            Error::Config(format!(
                "signing key {kid} does not decrypt with the configured key-encryption secret; \
                 configure the secret it was stored with"
            ))
        };
        let body = sealed.strip_prefix(MAGIC.as_slice()).ok_or_else(wrong)?;
        if body.len() < NONCE_LEN {
            return Err(wrong());
        }
        let (nonce, ciphertext) = body.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| wrong())?;
        let mut buffer = ciphertext.to_vec();
        let plaintext_len = self
            .key
            .open_in_place(nonce, Aad::from(kid.as_bytes()), &mut buffer)
            .map_err(|_| wrong())?
            .len();
        buffer.truncate(plaintext_len);
        Ok(SecretBox::new(Box::new(buffer)))
    }
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_secret_and_kid() {
        let kek = KeyEncryptionKey::from_secret(b"0123456789abcdef0123456789abcdef").unwrap();
        let sealed = kek.seal("kid-1", b"0\x82private").unwrap();
        assert!(KeyEncryptionKey::is_sealed(&sealed));
        assert!(!sealed.windows(7).any(|w| w == b"private"));
        assert_eq!(
            kek.open("kid-1", &sealed)
                .unwrap()
                .expose_secret()
                .as_slice(),
            b"0\x82private"
        );
        assert!(kek.open("kid-2", &sealed).is_err(), "bound to its kid");
        let other = KeyEncryptionKey::from_secret(b"another secret, also 32 bytes long").unwrap();
        assert!(other.open("kid-1", &sealed).is_err());
        assert!(kek.open("kid-1", b"AKE1short").is_err());
        assert_eq!(format!("{kek:?}"), "KeyEncryptionKey([redacted])");
    }
}
