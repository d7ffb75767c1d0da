//! The service-account rows the [`Store`](super::Store) reads and writes:
//! accounts and the hashes of their client secrets (never a secret itself).

/// A service account to insert.
#[derive(Debug, Clone)]
pub struct NewServiceAccount {
    /// Fresh UUID.
    pub id: String,
    /// Validated name.
    pub name: String,
    /// Validated description (may be empty).
    pub description: String,
    /// Normalised roles.
    pub roles: Vec<String>,
    /// The OAuth2 client id.
    pub client_id: String,
    /// Unix seconds.
    pub created_at: i64,
}

/// A service account as stored. Never holds a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceAccount {
    /// Stable id, the `sub` claim of its tokens.
    pub id: String,
    /// Unique name (ignoring case).
    pub name: String,
    /// What it is for.
    pub description: String,
    /// Roles its tokens carry.
    pub roles: Vec<String>,
    /// The OAuth2 client id.
    pub client_id: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When it last got a token, Unix seconds.
    pub last_used_at: Option<i64>,
}

impl ServiceAccount {
    /// Whether the account holds `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// One stored client secret: its hash only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRecord {
    /// SHA-256 of the secret (see [`crate::token::client_secret`]).
    pub hash: String,
    /// Unix seconds.
    pub created_at: i64,
    /// When a rotated-out secret stops working; `None`: the current one.
    pub expires_at: Option<i64>,
}

/// A service account with its secrets' hashes, for authentication only.
#[derive(Debug, Clone)]
pub struct ServiceAccountCredentials {
    /// The account.
    pub account: ServiceAccount,
    /// Its secrets, newest first.
    pub secrets: Vec<SecretRecord>,
}
