//! The signature and claim checks of an access token: [`Rules`] say what a
//! token must carry, a [`Checker`] applies them with the keys of a
//! [`KeyLookup`] and remembers tokens that passed.

use std::collections::HashMap;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::Deserialize;

use crate::verified::VerifiedTokens;
use crate::{Claims, InvalidReason, MAX_TOKEN_BYTES};

/// What every token must say, and how much clock skew is forgiven.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rules {
    /// The `iss` every token must carry.
    pub issuer: String,
    /// The audience every token's `aud` must include.
    pub audience: String,
    /// Seconds of skew allowed on `exp`, `nbf` and `iat`.
    pub leeway_secs: i64,
    /// Longest token parsed at all; longer is [`InvalidReason::Malformed`].
    pub max_token_bytes: usize,
}

impl Rules {
    /// Rules for `issuer` and `audience` with `leeway_secs` of skew and the
    /// default [`MAX_TOKEN_BYTES`].
    #[must_use]
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>, leeway_secs: i64) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            leeway_secs,
            max_token_bytes: MAX_TOKEN_BYTES,
        }
    }
}

/// A key that verifies signatures: the one algorithm it is pinned to, and
/// the key material.
pub trait VerificationKey {
    /// The only algorithm a token signed by this key may name.
    fn algorithm(&self) -> Algorithm;
    /// The key that checks the signature.
    fn decoding_key(&self) -> &DecodingKey;
}

/// Where a [`Checker`] finds the key a token's `kid` names. A miss is only
/// a miss: implementations must not fetch anything on one (a token naming
/// an unknown key costs nothing).
pub trait KeyLookup {
    /// The key type held.
    type Key: VerificationKey;
    /// The key with id `kid`, if it is held now.
    fn key(&self, kid: &str) -> Option<Arc<Self::Key>>;
}

/// Applies [`Rules`] to tokens; cheap to share (`Arc` it), and holds the
/// [`VerifiedTokens`] cache so a token seen before skips the signature.
#[derive(Debug)]
pub struct Checker {
    rules: Rules,
    /// Tokens whose signature and claims already checked out.
    verified: VerifiedTokens,
    /// Prepared per algorithm once, not per call.
    validations: HashMap<Algorithm, jsonwebtoken::Validation>,
}

/// Just enough of the JOSE header to choose a key; parsed before anything
/// else. Duplicate members make it malformed (serde refuses them). Headers
/// that point at keys (`jku`, `x5u`, `jwk`, `x5c`) are ignored: keys come
/// only from the caller's [`KeyLookup`].
#[derive(Deserialize)]
struct RawHeader {
    alg: String,
    kid: Option<String>,
    /// RFC 7515 §4.1.11: a token naming extensions the recipient must
    /// understand is refused, since authd understands none.
    crit: Option<serde::de::IgnoredAny>,
}

impl Checker {
    /// A checker of `rules` whose verified-token cache holds at most
    /// `cache_entries` tokens (0 turns it off), each at most
    /// `cache_ttl_secs`.
    #[must_use]
    pub fn new(rules: Rules, cache_entries: usize, cache_ttl_secs: i64) -> Self {
        let validations = [
            Algorithm::EdDSA,
            Algorithm::ES256,
            Algorithm::RS256,
            Algorithm::HS256,
        ]
        .into_iter()
        .map(|alg| (alg, validation_for(alg, &rules.issuer, &rules.audience)))
        .collect();
        Self {
            rules,
            verified: VerifiedTokens::new(cache_entries, cache_ttl_secs),
            validations,
        }
    }

    /// The rules applied.
    #[must_use]
    pub fn rules(&self) -> &Rules {
        &self.rules
    }

    /// The verified-token cache (its counters are observable).
    #[must_use]
    pub fn verified_cache(&self) -> &VerifiedTokens {
        &self.verified
    }

    /// Checks `token` at time `now` (Unix seconds) with the keys of `keys`
    /// and returns its claims.
    ///
    /// # Errors
    /// The first [`InvalidReason`] found.
    pub fn verify<K: KeyLookup>(
        &self,
        token: &str,
        now: i64,
        keys: &K,
    ) -> Result<Arc<Claims>, InvalidReason> {
        if token.is_empty() || token.len() > self.rules.max_token_bytes {
            return Err(InvalidReason::Malformed);
        }
        if let Some((claims, kid)) = self.verified.get(token, now) {
            // Seen and verified before: only what can change is re-checked.
            if keys.key(&kid).is_none() {
                return Err(InvalidReason::UnknownKey);
            }
            self.check_time(&claims, now)?;
            return Ok(claims);
        }
        let mut segments = token.split('.');
        let header_b64 = segments.next().unwrap_or_default();
        let payload_b64 = segments.next().unwrap_or_default();
        if segments.count() != 1 {
            return Err(InvalidReason::Malformed);
        }
        let header_json = URL_SAFE_NO_PAD
            .decode(header_b64)
            .map_err(|_| InvalidReason::Malformed)?;
        let payload_json = URL_SAFE_NO_PAD
            .decode(payload_b64)
            .map_err(|_| InvalidReason::Malformed)?;
        if !shallow_json(&header_json) || !shallow_json(&payload_json) {
            return Err(InvalidReason::Malformed);
        }
        let header: RawHeader =
            serde_json::from_slice(&header_json).map_err(|_| InvalidReason::Malformed)?;
        if header.crit.is_some() {
            return Err(InvalidReason::Malformed);
        }
        let alg: Algorithm = header
            .alg
            .parse()
            .map_err(|_| InvalidReason::AlgorithmMismatch)?;
        let kid = header.kid.ok_or(InvalidReason::UnknownKey)?;
        let key = keys.key(&kid).ok_or(InvalidReason::UnknownKey)?;
        if key.algorithm() != alg {
            return Err(InvalidReason::AlgorithmMismatch);
        }

        let validation = self
            .validations
            .get(&key.algorithm())
            .ok_or(InvalidReason::AlgorithmMismatch)?;
        let data =
            jsonwebtoken::decode::<Claims>(token, key.decoding_key(), validation).map_err(|e| {
                match e.kind() {
                    ErrorKind::InvalidSignature
                    | ErrorKind::InvalidEcdsaKey
                    | ErrorKind::InvalidEddsaKey => InvalidReason::BadSignature,
                    ErrorKind::InvalidAlgorithm | ErrorKind::MissingAlgorithm => {
                        InvalidReason::AlgorithmMismatch
                    }
                    ErrorKind::InvalidIssuer => InvalidReason::WrongIssuer,
                    ErrorKind::InvalidAudience => InvalidReason::WrongAudience,
                    _ => InvalidReason::Malformed,
                }
            })?;
        let claims = Arc::new(data.claims);
        self.check_time(&claims, now)?;
        self.verified.put(
            token,
            Arc::clone(&claims),
            &kid,
            claims.exp.saturating_add(self.rules.leeway_secs),
            now,
        );
        Ok(claims)
    }

    fn check_time(&self, claims: &Claims, now: i64) -> Result<(), InvalidReason> {
        let leeway = self.rules.leeway_secs;
        if now >= claims.exp.saturating_add(leeway) {
            return Err(InvalidReason::Expired);
        }
        // A token "issued" in the future is as unusable as one not yet valid.
        if claims.nbf > now.saturating_add(leeway) || claims.iat > now.saturating_add(leeway) {
            return Err(InvalidReason::NotYetValid);
        }
        Ok(())
    }
}

/// The jsonwebtoken checks for `alg`: required claims, issuer and audience;
/// time is checked against the caller's `now` instead.
fn validation_for(alg: Algorithm, issuer: &str, audience: &str) -> jsonwebtoken::Validation {
    let mut validation = jsonwebtoken::Validation::new(alg);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.leeway = 0;
    validation
}

/// Deepest JSON nesting accepted in a token's header or claims (authd's own
/// tokens need 2: the `roles` array inside the claims object).
const MAX_JSON_DEPTH: usize = 8;

/// Whether `json` nests no deeper than [`MAX_JSON_DEPTH`], counting brackets
/// outside strings. Cheap, and bounds the work any JSON parser does later.
fn shallow_json(json: &[u8]) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_JSON_DEPTH {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_depth_is_counted_outside_strings_only() {
        assert!(shallow_json(br#"{"roles":["a","b"]}"#));
        assert!(shallow_json(br#"{"x":"[[[[[[[[[[[[[[[["}"#));
        assert!(shallow_json(br#"{"x":"\"[[[[[[[[[[[[[[[[\""}"#));
        assert!(!shallow_json(&[b'['; 9]));
        assert!(shallow_json(&[b'['; 8]));
    }
}
