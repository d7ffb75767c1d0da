//! Signing keys: generation, persistence and the in-memory key set.
//!
//! With EdDSA (the default) an Ed25519 key pair is generated on first start
//! and stored in the database, so every replica sharing the database signs
//! with the same key and a restart keeps tokens valid. A unique index allows
//! one `current` key, so replicas starting together agree on one. With HS256
//! the key is the configured secret and nothing is stored.
//!
//! Every key carries its algorithm; verification uses that algorithm and no
//! other. Key ids are RFC 7638 JWK thumbprints (EdDSA) or a hash of the
//! secret (HS256), never something a token can choose.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair as _};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretBox};

use crate::config::Signing;
use crate::error::{Error, Result};
use crate::store::{KeyState, Store, StoredKey};

/// One key, ready to sign and/or verify.
pub struct SigningKey {
    /// Key id, the `kid` header.
    pub kid: String,
    /// The one algorithm this key is used with.
    pub algorithm: Algorithm,
    /// Present when this process may sign with the key.
    pub(crate) encoding: Option<EncodingKey>,
    /// Verifies signatures.
    pub(crate) decoding: DecodingKey,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("can_sign", &self.encoding.is_some())
            .finish_non_exhaustive()
    }
}

/// The keys this process signs and verifies with.
#[derive(Debug)]
pub struct KeySet {
    signing: Arc<SigningKey>,
    by_kid: HashMap<String, Arc<SigningKey>>,
}

impl KeySet {
    /// The key new tokens are signed with.
    #[must_use]
    pub fn signing(&self) -> &SigningKey {
        &self.signing
    }

    /// The verifying key with id `kid`, if authd holds it.
    #[must_use]
    pub fn get(&self, kid: &str) -> Option<&SigningKey> {
        self.by_kid.get(kid).map(AsRef::as_ref)
    }

    /// Loads the key set for `signing`, generating and storing an Ed25519
    /// key if the database has none yet.
    ///
    /// # Errors
    /// Database errors, or [`Error::Internal`] for a stored key that does not parse.
    pub async fn load_or_create(store: &dyn Store, signing: &Signing, now: i64) -> Result<Self> {
        match signing {
            Signing::Hs256 { secret } => Self::hs256(secret.expose_secret()),
            Signing::EdDsa => {
                let mut stored = store.signing_keys().await?;
                if !stored.iter().any(|k| k.state == KeyState::Current) {
                    let key = generate_ed25519(now)?;
                    if store.insert_signing_key(&key).await? {
                        tracing::info!(kid = %key.kid, "generated a new Ed25519 signing key");
                    }
                    // Whoever won the race, the stored current key is the one.
                    stored = store.signing_keys().await?;
                }
                Self::from_stored(&stored)
            }
        }
    }

    /// A key set holding only the HS256 secret.
    ///
    /// # Errors
    /// [`Error::Config`] for an empty secret.
    pub fn hs256(secret: &[u8]) -> Result<Self> {
        let unusable = |_| Error::Config("the HS256 secret is not usable".to_owned());
        let kid = format!(
            "hs256-{}",
            URL_SAFE_NO_PAD.encode(
                &digest(&SHA256, &[b"authd hs256 kid\0".as_slice(), secret].concat()).as_ref()
                    [..12]
            )
        );
        let key = Arc::new(SigningKey {
            kid: kid.clone(),
            algorithm: Algorithm::HS256,
            encoding: Some(EncodingKey::from_secret(secret).map_err(unusable)?),
            decoding: DecodingKey::from_secret(secret).map_err(unusable)?,
        });
        Ok(Self {
            signing: Arc::clone(&key),
            by_kid: HashMap::from([(kid, key)]),
        })
    }

    /// Builds the set from stored EdDSA keys; exactly one must be current.
    ///
    /// # Errors
    /// [`Error::Internal`] when there is no current key or a key is unusable.
    pub fn from_stored(stored: &[StoredKey]) -> Result<Self> {
        let mut signing = None;
        let mut keys = Vec::new();
        for key in stored {
            if key.algorithm != "EdDSA" {
                // Another algorithm's key (a later version of authd); not ours to use.
                continue;
            }
            let pair = Ed25519KeyPair::from_pkcs8(key.private_key.expose_secret())
                .map_err(|e| Error::internal_msg("loading a signing key", e))?;
            if pair.public_key().as_ref() != key.public_key.as_slice() {
                return Err(Error::internal_msg(
                    "loading a signing key",
                    format!("key {} has mismatched halves", key.kid),
                ));
            }
            let loaded = Arc::new(SigningKey {
                kid: key.kid.clone(),
                algorithm: Algorithm::EdDSA,
                encoding: Some(EncodingKey::from_ed_der(key.private_key.expose_secret())),
                decoding: DecodingKey::from_ed_der(&key.public_key),
            });
            if key.state == KeyState::Current {
                signing = Some(Arc::clone(&loaded));
            }
            keys.push(loaded);
        }
        let signing = signing.ok_or_else(|| {
            Error::internal_msg("loading signing keys", "no current EdDSA signing key")
        })?;
        Ok(Self {
            signing,
            by_kid: super::index(keys),
        })
    }
}

/// Generates a fresh Ed25519 key as a current stored key.
///
/// # Errors
/// [`Error::Internal`] if the system RNG fails.
pub fn generate_ed25519(now: i64) -> Result<StoredKey> {
    let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
        .map_err(|e| Error::internal_msg("generating a signing key", e))?;
    let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
        .map_err(|e| Error::internal_msg("generating a signing key", e))?;
    let public_key = pair.public_key().as_ref().to_vec();
    Ok(StoredKey {
        kid: ed25519_thumbprint(&public_key),
        algorithm: "EdDSA".to_owned(),
        state: KeyState::Current,
        private_key: SecretBox::new(Box::new(pkcs8.as_ref().to_vec())),
        public_key,
        created_at: now,
    })
}

/// The RFC 7638 thumbprint of an Ed25519 public key's JWK.
fn ed25519_thumbprint(public_key: &[u8]) -> String {
    let jwk = format!(
        r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
        URL_SAFE_NO_PAD.encode(public_key)
    );
    URL_SAFE_NO_PAD.encode(digest(&SHA256, jwk.as_bytes()).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_load_and_debug_hides_the_private_half() {
        let key = generate_ed25519(1).unwrap();
        let debug = format!("{key:?}");
        assert!(!debug.contains(&format!("{:?}", key.private_key.expose_secret())));
        let set = KeySet::from_stored(&[key]).unwrap();
        assert_eq!(set.signing().algorithm, Algorithm::EdDSA);
        assert!(set.get(&set.signing().kid).is_some());
        assert!(set.get("nope").is_none());
        assert!(!format!("{set:?}").contains("content"));
    }

    #[test]
    fn hs256_key_ids_are_stable_and_reveal_no_secret() {
        let a = KeySet::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
        let b = KeySet::hs256(b"0123456789abcdef0123456789abcdef").unwrap();
        assert_eq!(a.signing().kid, b.signing().kid);
        assert!(!a.signing().kid.contains("0123"));
    }
}
