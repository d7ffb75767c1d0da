//! authd's published keys (GetJwks) as verification keys, each pinned to
//! the one algorithm its JWK names. Only EdDSA (Ed25519), ES256 (P-256) and
//! RS256 are taken, with the `kty` and `crv` that algorithm needs; a JWK
//! that fits none of them is refused rather than guessed at.

use std::collections::HashMap;
use std::sync::Arc;

use authd_token::{Algorithm, DecodingKey, KeyLookup, VerificationKey};

use crate::pb;

/// Why a key set from GetJwks cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyError {
    /// The set is empty: the server signs with a shared secret (HS256),
    /// which it never publishes.
    NoPublishedKeys,
    /// A JWK that is not one of authd's key shapes.
    Unsupported {
        /// Its `kid`.
        kid: String,
        /// What is wrong with it.
        why: &'static str,
    },
}

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NoPublishedKeys => f.write_str(
                "authd publishes no keys (GetJwks is empty): it signs with a shared HS256 \
                 secret, and local verification needs asymmetric keys; run authd with \
                 --signing-algorithm EdDSA, ES256 or RS256, or call Verify instead",
            ),
            Self::Unsupported { kid, why } => write!(f, "the published key {kid:?} {why}"),
        }
    }
}

impl std::error::Error for KeyError {}

/// One verification key and the algorithm it is pinned to.
pub(crate) struct Key {
    algorithm: Algorithm,
    decoding: DecodingKey,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Key")
            .field("algorithm", &self.algorithm)
            .finish_non_exhaustive()
    }
}

impl VerificationKey for Key {
    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl Key {
    /// A key from an algorithm and its key material (the offline feed).
    pub(crate) fn new(algorithm: Algorithm, decoding: DecodingKey) -> Self {
        Self {
            algorithm,
            decoding,
        }
    }

    /// The key a JWK describes, pinned to its `alg`.
    fn from_jwk(jwk: &pb::Jwk) -> Result<Self, KeyError> {
        let refuse = |why| KeyError::Unsupported {
            kid: jwk.kid.clone(),
            why,
        };
        if !jwk.r#use.is_empty() && jwk.r#use != "sig" {
            return Err(refuse("is not a signature key"));
        }
        let bad_material = |_| refuse("has key material that does not decode");
        let (algorithm, decoding) = match (jwk.alg.as_str(), jwk.kty.as_str(), jwk.crv.as_str()) {
            ("EdDSA", "OKP", "Ed25519") => (
                Algorithm::EdDSA,
                DecodingKey::from_ed_components(&jwk.x).map_err(bad_material)?,
            ),
            ("ES256", "EC", "P-256") => (
                Algorithm::ES256,
                DecodingKey::from_ec_components(&jwk.x, &jwk.y).map_err(bad_material)?,
            ),
            ("RS256", "RSA", _) => (
                Algorithm::RS256,
                DecodingKey::from_rsa_components(&jwk.n, &jwk.e).map_err(bad_material)?,
            ),
            _ => {
                return Err(refuse(
                    "is not EdDSA/Ed25519, ES256/P-256 or RS256 with a matching kty",
                ));
            }
        };
        Ok(Self::new(algorithm, decoding))
    }
}

/// The keys held now, by `kid`.
#[derive(Debug, Default)]
pub(crate) struct KeySet {
    keys: HashMap<String, Arc<Key>>,
}

impl KeySet {
    /// The keys of a GetJwks answer, and the JWKs skipped because they are
    /// none of authd's key shapes (their tokens are then UNKNOWN_KEY here:
    /// refused, never accepted on a guess).
    ///
    /// # Errors
    /// [`KeyError::NoPublishedKeys`] when the set is empty (HS256), or the
    /// first skipped key's error when no key at all is usable.
    pub(crate) fn from_jwks(jwks: &pb::GetJwksResponse) -> Result<(Self, Vec<KeyError>), KeyError> {
        if jwks.keys.is_empty() {
            return Err(KeyError::NoPublishedKeys);
        }
        let mut keys = HashMap::with_capacity(jwks.keys.len());
        let mut skipped = Vec::new();
        for jwk in &jwks.keys {
            let key = if jwk.kid.is_empty() {
                Err(KeyError::Unsupported {
                    kid: String::new(),
                    why: "has no kid",
                })
            } else {
                Key::from_jwk(jwk)
            };
            match key {
                Ok(key) => {
                    keys.insert(jwk.kid.clone(), Arc::new(key));
                }
                Err(e) => skipped.push(e),
            }
        }
        if keys.is_empty() {
            return Err(skipped.swap_remove(0));
        }
        Ok((Self { keys }, skipped))
    }

    /// A set of the given keys.
    pub(crate) fn from_keys(keys: impl IntoIterator<Item = (String, Key)>) -> Self {
        Self {
            keys: keys
                .into_iter()
                .map(|(kid, k)| (kid, Arc::new(k)))
                .collect(),
        }
    }

    /// Forgets the keys `kids` names (retired: their tokens are unknown at once).
    pub(crate) fn retire<'a>(&mut self, kids: impl IntoIterator<Item = &'a String>) {
        for kid in kids {
            self.keys.remove(kid.as_str());
        }
    }

    /// How many keys are held.
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }
}

impl KeyLookup for KeySet {
    type Key = Key;

    fn key(&self, kid: &str) -> Option<Arc<Key>> {
        self.keys.get(kid).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwk(alg: &str, kty: &str, crv: &str) -> pb::Jwk {
        pb::Jwk {
            kty: kty.into(),
            kid: "k1".into(),
            alg: alg.into(),
            r#use: "sig".into(),
            crv: crv.into(),
            // 32 bytes of base64url: a syntactically fine Ed25519 key.
            x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo".into(),
            ..pb::Jwk::default()
        }
    }

    #[test]
    fn an_empty_key_set_says_local_verification_needs_asymmetric_keys() {
        let err = KeySet::from_jwks(&pb::GetJwksResponse::default()).unwrap_err();
        assert_eq!(err, KeyError::NoPublishedKeys);
        assert!(err.to_string().contains("asymmetric"), "{err}");
    }

    #[test]
    fn each_key_is_pinned_to_its_alg_and_odd_shapes_are_refused() {
        let (set, skipped) = KeySet::from_jwks(&pb::GetJwksResponse {
            keys: vec![
                jwk("EdDSA", "OKP", "Ed25519"),
                pb::Jwk {
                    kid: "k2".into(),
                    ..jwk("HS256", "oct", "")
                },
            ],
            jwks_json: String::new(),
        })
        .unwrap();
        assert_eq!(set.key("k1").unwrap().algorithm(), Algorithm::EdDSA);
        assert_eq!(
            skipped.len(),
            1,
            "the unusable key is skipped, not guessed at"
        );
        assert!(set.key("k2").is_none());
        for bad in [
            jwk("HS256", "oct", ""),
            jwk("EdDSA", "EC", "Ed25519"),
            jwk("ES256", "OKP", "Ed25519"),
            jwk("none", "OKP", "Ed25519"),
            pb::Jwk {
                r#use: "enc".into(),
                ..jwk("EdDSA", "OKP", "Ed25519")
            },
        ] {
            let jwks = pb::GetJwksResponse {
                keys: vec![bad.clone()],
                jwks_json: String::new(),
            };
            assert!(KeySet::from_jwks(&jwks).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn retired_keys_are_forgotten() {
        let (mut set, _) = KeySet::from_jwks(&pb::GetJwksResponse {
            keys: vec![jwk("EdDSA", "OKP", "Ed25519")],
            jwks_json: String::new(),
        })
        .unwrap();
        set.retire(&["k1".to_owned()]);
        assert_eq!(set.len(), 0);
    }
}
