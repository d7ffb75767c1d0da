//! Token settings owned by `token`: how access tokens are signed.
//!
//! Declares the types only; it must not read the configuration (that is
//! `config`'s job, above this module).

use secrecy::SecretBox;

/// How access tokens are signed.
#[derive(Debug, Clone)]
pub enum Signing {
    /// Ed25519 with a key pair generated on first start and kept in the database.
    EdDsa,
    /// ECDSA P-256 with SHA-256, key pairs kept in the database.
    Es256,
    /// RSA (2048-bit) PKCS#1 v1.5 with SHA-256, key pairs kept in the database.
    Rs256,
    /// HMAC-SHA256 with a shared secret; anyone holding it can mint tokens.
    Hs256 {
        /// The shared secret (at least 32 bytes).
        secret: std::sync::Arc<SecretBox<Vec<u8>>>,
    },
}

