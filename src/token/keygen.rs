//! Key material: generating key pairs for each algorithm, parsing a stored
//! public half into a verifier and its JWK, checking a private half against
//! it, and the RFC 7638 thumbprints that serve as key ids.
//!
//! Split from [`super::keys`], which owns the in-memory [`super::KeySet`]
//! built from these parts. What this module must not do: keep or log a
//! private key; it hands PKCS#8 bytes straight into a `SecretBox` or a signer.

use std::fmt;

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use secrecy::SecretBox;

use super::keys::{Jwk, alg_name};
use crate::error::{Error, Result};
use crate::store::{KeyState, StoredKey};

/// The public half of a stored key, as a verifier and a JWK.
pub(super) struct PublicKey {
    pub(super) decoding: DecodingKey,
    pub(super) jwk: Jwk,
}

impl PublicKey {
    pub(super) fn parse(algorithm: Algorithm, kid: &str, public: &[u8]) -> Result<Self> {
        let bad = |what: &str| {
            Error::internal_msg(
                "loading a signing key",
                format!("key {kid} has an unusable public key ({what})"),
            )
        };
        let jwk = |kty, crv| Jwk {
            kty,
            kid: kid.to_owned(),
            alg: alg_name(algorithm),
            use_: "sig",
            crv,
            x: None,
            y: None,
            n: None,
            e: None,
        };
        match algorithm {
            Algorithm::EdDSA => {
                if public.len() != 32 {
                    return Err(bad("not 32 bytes"));
                }
                Ok(Self {
                    decoding: DecodingKey::from_ed_der(public),
                    jwk: Jwk {
                        x: Some(URL_SAFE_NO_PAD.encode(public)),
                        ..jwk("OKP", Some("Ed25519"))
                    },
                })
            }
            Algorithm::ES256 => {
                if public.len() != 65 || public[0] != 4 {
                    return Err(bad("not an uncompressed P-256 point"));
                }
                Ok(Self {
                    decoding: DecodingKey::from_ec_der(public),
                    jwk: Jwk {
                        x: Some(URL_SAFE_NO_PAD.encode(&public[1..33])),
                        y: Some(URL_SAFE_NO_PAD.encode(&public[33..])),
                        ..jwk("EC", Some("P-256"))
                    },
                })
            }
            Algorithm::RS256 => {
                let parsed = aws_lc_rs::rsa::PublicKey::from_der(public)
                    .map_err(|_| bad("not an RSA public key"))?;
                if parsed.modulus_len() < 256 {
                    return Err(bad("RSA modulus under 2048 bits"));
                }
                Ok(Self {
                    decoding: DecodingKey::from_rsa_der(public),
                    jwk: Jwk {
                        n: Some(
                            URL_SAFE_NO_PAD
                                .encode(parsed.modulus().big_endian_without_leading_zero()),
                        ),
                        e: Some(
                            URL_SAFE_NO_PAD
                                .encode(parsed.exponent().big_endian_without_leading_zero()),
                        ),
                        ..jwk("RSA", None)
                    },
                })
            }
            _ => Err(bad("unsupported algorithm")),
        }
    }
}

/// Checks a private key (PKCS#8) against its stored public half and turns
/// it into a signer.
pub(super) fn private_encoding_key(
    algorithm: Algorithm,
    kid: &str,
    pkcs8: &[u8],
    public: &[u8],
) -> Result<EncodingKey> {
    let unusable =
        |what: &str| Error::internal_msg("loading a signing key", format!("key {kid}: {what}"));
    let derived_public = match algorithm {
        Algorithm::EdDSA => Ed25519KeyPair::from_pkcs8(pkcs8)
            .map_err(|_| unusable("the private key does not parse"))?
            .public_key()
            .as_ref()
            .to_vec(),
        Algorithm::ES256 => EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8)
            .map_err(|_| unusable("the private key does not parse"))?
            .public_key()
            .as_ref()
            .to_vec(),
        Algorithm::RS256 => RsaKeyPair::from_pkcs8(pkcs8)
            .map_err(|_| unusable("the private key does not parse"))?
            .public_key()
            .as_ref()
            .to_vec(),
        _ => return Err(unusable("unsupported algorithm")),
    };
    if derived_public != public {
        return Err(unusable("mismatched halves"));
    }
    Ok(match algorithm {
        Algorithm::EdDSA => EncodingKey::from_ed_der(pkcs8),
        Algorithm::ES256 => EncodingKey::from_ec_der(pkcs8),
        // jsonwebtoken signs RSA with a PKCS#1 `RSAPrivateKey`, which PKCS#8 wraps.
        _ => EncodingKey::from_rsa_der(
            pkcs8_inner_key(pkcs8).ok_or_else(|| unusable("the PKCS#8 wrapper does not parse"))?,
        ),
    })
}

/// The `privateKey` OCTET STRING of a DER PKCS#8 `PrivateKeyInfo`
/// (SEQUENCE { INTEGER version, SEQUENCE algorithm, OCTET STRING key, ... }).
fn pkcs8_inner_key(der: &[u8]) -> Option<&[u8]> {
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, rest) = rest.split_first()?;
        let (len, rest) = if first < 0x80 {
            (usize::from(first), rest)
        } else {
            let count = usize::from(first & 0x7f);
            if count == 0 || count > 4 || rest.len() < count {
                return None;
            }
            let len = rest[..count]
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
            (len, &rest[count..])
        };
        if rest.len() < len {
            return None;
        }
        Some((tag, &rest[..len], &rest[len..]))
    }
    let (0x30, info, _) = element(der)? else {
        return None;
    };
    let (0x02, _, rest) = element(info)? else {
        return None;
    };
    let (0x30, _, rest) = element(rest)? else {
        return None;
    };
    let (0x04, key, _) = element(rest)? else {
        return None;
    };
    Some(key)
}

/// Generates a fresh Ed25519 key as a current stored key.
///
/// # Errors
/// [`Error::Internal`] if the system RNG fails.
pub fn generate_ed25519(now: i64) -> Result<StoredKey> {
    generate(Algorithm::EdDSA, KeyState::Current, now)
}

/// Generates a fresh key pair for `algorithm` (EdDSA, ES256 or RS256 with
/// 2048-bit modulus), stored in `state` and active from `now`.
///
/// # Errors
/// [`Error::Internal`] if the RNG fails or the algorithm is not one authd generates.
pub fn generate(algorithm: Algorithm, state: KeyState, now: i64) -> Result<StoredKey> {
    let failed = |e: &dyn fmt::Display| Error::internal_msg("generating a signing key", e);
    let rng = SystemRandom::new();
    let (pkcs8, public_key): (Vec<u8>, Vec<u8>) = match algorithm {
        Algorithm::EdDSA => {
            let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng).map_err(|e| failed(&e))?;
            let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|e| failed(&e))?;
            (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
        }
        Algorithm::ES256 => {
            let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .map_err(|e| failed(&e))?;
            let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
                .map_err(|e| failed(&e))?;
            (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
        }
        Algorithm::RS256 => {
            use aws_lc_rs::encoding::AsDer as _;
            let pair =
                RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).map_err(|e| failed(&e))?;
            let pkcs8 = pair.as_der().map_err(|e| failed(&e))?;
            (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
        }
        other => {
            return Err(failed(&format!(
                "{other:?} keys are not generated by authd"
            )));
        }
    };
    let kid = thumbprint(algorithm, &public_key)?;
    Ok(StoredKey {
        kid,
        algorithm: alg_name(algorithm).to_owned(),
        state,
        private_key: SecretBox::new(Box::new(pkcs8)),
        public_key,
        created_at: now,
        activates_at: now,
        retires_at: None,
        overlap_secs: None,
    })
}

/// The RFC 7638 thumbprint of a public key's JWK: its required members in
/// lexicographic order, no whitespace, hashed with SHA-256.
fn thumbprint(algorithm: Algorithm, public_key: &[u8]) -> Result<String> {
    let jwk = PublicKey::parse(algorithm, "", public_key)?.jwk;
    let canonical = match algorithm {
        Algorithm::EdDSA => format!(
            r#"{{"crv":"Ed25519","kty":"OKP","x":"{}"}}"#,
            jwk.x.unwrap_or_default()
        ),
        Algorithm::ES256 => format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            jwk.x.unwrap_or_default(),
            jwk.y.unwrap_or_default()
        ),
        _ => format!(
            r#"{{"e":"{}","kty":"RSA","n":"{}"}}"#,
            jwk.e.unwrap_or_default(),
            jwk.n.unwrap_or_default()
        ),
    };
    Ok(URL_SAFE_NO_PAD.encode(digest(&SHA256, canonical.as_bytes()).as_ref()))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret as _;

    use super::*;

    #[test]
    fn pkcs8_unwrapping_rejects_truncated_input() {
        let key = generate(Algorithm::RS256, KeyState::Current, 1).unwrap();
        let der = key.private_key.expose_secret();
        assert!(pkcs8_inner_key(der).is_some());
        assert!(pkcs8_inner_key(&der[..der.len() / 2]).is_none());
        assert!(pkcs8_inner_key(&[]).is_none());
    }

    #[test]
    fn key_ids_are_thumbprints_of_the_public_half() {
        let a = generate_ed25519(1).unwrap();
        assert_eq!(a.kid, thumbprint(Algorithm::EdDSA, &a.public_key).unwrap());
        assert_ne!(a.kid, generate_ed25519(1).unwrap().kid, "fresh keys differ");
    }
}
