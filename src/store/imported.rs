//! The rows of users brought from another system (`authd import django`):
//! what the importer writes through the [`Store`](super::Store), matched
//! by the user's external id.

/// An account as the system it comes from has it, for
/// [`Store::create_imported_user`](super::Store::create_imported_user) and
/// [`Store::update_imported_user`](super::Store::update_imported_user). The
/// password hash travels separately (a secret, and kept as it is on an
/// update that does not replace it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// The id in the other system (a Django primary key, as text); validated.
    pub external_id: String,
    /// Validated username.
    pub username: String,
    /// Validated email, if any.
    pub email: Option<String>,
    /// False for an account the other system has disabled.
    pub active: bool,
    /// Normalised roles.
    pub roles: Vec<String>,
    /// When the other system created the account, Unix seconds.
    pub created_at: i64,
    /// The last successful login, Unix seconds.
    pub last_login_at: Option<i64>,
}
