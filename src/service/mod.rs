//! The authentication logic: accounts, login, sessions, verification and
//! user reads, one file per job, with no transport types.
//!
//! The gRPC adapters in [`crate::grpc`] and the CLI in [`crate::cli`] call in
//! here. Time is a parameter (`now`, Unix seconds) wherever it matters; the
//! adapters read it from the one [`Clock`] ([`AuthCore::clock`]), and the
//! few methods that take no `now` read that same clock.
//!
//! - `accounts`: [`Accounts`], administration (create, list, enable and
//!   disable, roles, delete, password, unlock); needs no signing keys.
//! - `login`: [`AuthCore::login`], with throttling and the one place a
//!   login's outcome is decided and audited.
//! - `sessions`: refresh, logout, logout of all sessions, listing and
//!   revoking sessions.
//! - `change_password`: [`AuthCore::change_password`], the user's own
//!   password change, through Login's throttle and hashing pool.
//! - `verify`: [`AuthCore::verify`] and [`AuthCore::authenticate`], reading
//!   user and session state through the [`StateCache`].
//! - `users`: [`AuthCore::get_user`] and the admin check
//!   ([`AuthCore::authorize_admin`]).
//! - `admin`: [`Admin`], the admin API's user, unlock and audit operations
//!   ([`AuthCore::admin`]): whole-request validation, then [`Accounts`].
//! - `oauth`: [`AuthCore::introspect`] and [`AuthCore::revoke`], what an
//!   authenticated OAuth2 client may learn about or do to a token (RFC 7662,
//!   RFC 7009).
//! - `watch`: [`AuthCore::watch_revocations`], who may open the revocation
//!   stream ([`crate::revocations`]) and the token rules its hello carries.
//! - [`pages`]: page sizes and tamper-evident page tokens for List methods.
//! - `import`: [`DjangoImport`], `authd import django`'s decisions: a Django
//!   user row to an authd user (roles, external id, the hash verbatim),
//!   idempotent by external id, one transaction per row.
//!
//! Each job's audit wording sits next to the code that records it;
//! [`crate::audit`] owns the events, the row and its rendering. What this
//! module must not do: know about gRPC or HTTP, write SQL, or read the
//! system time itself.

use std::sync::Arc;

use crate::audit::{self, AuditRecord};
use crate::cache::StateCache;
use crate::clock::Clock;
use crate::password::PasswordHasher;
use crate::revocations::RevocationHub;
use crate::store::{Change, Store};
use crate::throttle::ThrottlePolicy;
use crate::token::TokenService;

mod accounts;
mod admin;
mod change_password;
mod import;
mod login;
mod oauth;
pub mod pages;
mod service_accounts;
mod sessions;
mod users;
mod verify;
mod watch;

pub use accounts::{Accounts, NewAccount};
pub use admin::{Admin, CreateUser, ListAuditEvents, ListUsers, Page, UpdateUser};
pub use import::{
    DjangoImport, DjangoUser, ImportCounts, ImportOptions, RowOutcome, RowReport, STAFF_ROLE,
};
pub use login::{ClientInfo, LoginOutcome};
pub use oauth::{ClientCredentials, Revocation};
pub use service_accounts::{
    ChangedBy, CreatedServiceAccount, NewServiceAccountRequest, RotatedSecret,
};
pub use sessions::{RefreshOutcome, SessionInfo};
pub use users::{Actor, PrincipalKind, UserSelector};
pub use verify::{Principal, Verification};

/// What every job needs, held once: [`Accounts`] owns it and [`AuthCore`]
/// reaches it through its accounts.
#[derive(Debug, Clone)]
struct Context {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    clock: Clock,
    /// The cache behind Verify, when this process serves Verify (the CLI
    /// has none): changes drop its entries at once, so this replica never
    /// answers from state it has just changed.
    cache: Option<Arc<StateCache>>,
}

impl Context {
    fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// Drops what `change` makes stale from the local cache, if any. The
    /// store announces it to the other processes.
    fn forget(&self, change: &Change) {
        if let Some(cache) = &self.cache {
            cache.apply(change);
        }
    }

    /// Appends `record` to the audit log (a failure is logged, not returned).
    async fn audit(&self, record: AuditRecord) {
        audit::record(self.store(), record).await;
    }
}

/// Session settings.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// Absolute lifetime, seconds.
    pub lifetime_secs: i64,
    /// Refresh retry grace, seconds.
    pub grace_secs: i64,
    /// A session whose refresh token has not been used for this many
    /// seconds ends at its next Refresh (`None`: no idle timeout).
    pub idle_secs: Option<i64>,
    /// Live sessions per user (0: unlimited).
    pub max_per_user: u32,
}

/// The authentication core, shared by all handlers; cheap to clone.
#[derive(Debug, Clone)]
pub struct AuthCore {
    /// Account administration, and the shared context (store, hasher, clock).
    accounts: Accounts,
    tokens: TokenService,
    cache: Arc<StateCache>,
    sessions: SessionPolicy,
    throttle: ThrottlePolicy,
    /// The key of the List methods' page tokens: a random one of this
    /// process until [`AuthCore::with_page_tokens`] gives the shared one
    /// (`None` only if the system had no randomness).
    pages: Option<pages::PageTokens>,
    /// The revocation hub behind WatchRevocations (`None` until the app
    /// gives it, [`AuthCore::with_revocations`]).
    revocations: Option<Arc<RevocationHub>>,
    /// The key of the audit log's stand-ins for unknown login names, read
    /// from the store the first time one is needed.
    unknown_names: Arc<tokio::sync::OnceCell<crate::audit::NameDigests>>,
    /// Woken whenever a claimed login attempt of this process is resolved,
    /// so attempts waiting for room in the throttle try again at once.
    resolved_claims: Arc<tokio::sync::Notify>,
    /// Permits to wait for such room, [`login::MAX_CLAIM_WAITERS`] in all.
    claim_waiters: Arc<tokio::sync::Semaphore>,
}

impl AuthCore {
    /// Assembles the core: `accounts` brings the store, the hasher and the
    /// clock; it is given `cache` so its changes drop cached state at once.
    #[must_use]
    pub fn new(
        accounts: Accounts,
        tokens: TokenService,
        cache: Arc<StateCache>,
        sessions: SessionPolicy,
    ) -> Self {
        Self {
            accounts: accounts.with_cache(Arc::clone(&cache)),
            tokens,
            cache,
            sessions,
            throttle: ThrottlePolicy::default(),
            pages: pages::PageTokens::random().ok(),
            revocations: None,
            unknown_names: Arc::new(tokio::sync::OnceCell::new()),
            resolved_claims: Arc::new(tokio::sync::Notify::new()),
            claim_waiters: Arc::new(tokio::sync::Semaphore::new(login::MAX_CLAIM_WAITERS)),
        }
    }

    /// The same, serving WatchRevocations from `hub`.
    #[must_use]
    pub fn with_revocations(mut self, hub: Arc<RevocationHub>) -> Self {
        self.revocations = Some(hub);
        self
    }

    /// The same, with page tokens under the key every replica shares.
    #[must_use]
    pub fn with_page_tokens(mut self, pages: pages::PageTokens) -> Self {
        self.pages = Some(pages);
        self
    }

    /// The page tokens of the List methods.
    ///
    /// # Errors
    /// [`Error::Internal`](crate::Error::Internal) if no key could be made.
    pub fn page_tokens(&self) -> crate::error::Result<&pages::PageTokens> {
        self.pages
            .as_ref()
            .ok_or_else(|| crate::Error::internal_msg("paging", "no page-token key"))
    }

    /// The same, throttling failed logins by `policy` instead of the default.
    #[must_use]
    pub fn with_throttle(mut self, policy: ThrottlePolicy) -> Self {
        self.throttle = policy;
        self
    }

    fn ctx(&self) -> &Context {
        self.accounts.ctx()
    }

    fn store(&self) -> &dyn Store {
        self.ctx().store()
    }

    /// The login throttling policy.
    #[must_use]
    pub fn throttle(&self) -> &ThrottlePolicy {
        &self.throttle
    }

    /// Account administration.
    #[must_use]
    pub fn accounts(&self) -> &Accounts {
        &self.accounts
    }

    /// The password hasher.
    #[must_use]
    pub fn hasher(&self) -> &PasswordHasher {
        &self.ctx().hasher
    }

    /// The clock every `now` passed in here should come from.
    #[must_use]
    pub fn clock(&self) -> &Clock {
        &self.ctx().clock
    }

    /// The token service (tests use it to mint tokens at chosen times).
    #[must_use]
    pub fn tokens(&self) -> &TokenService {
        &self.tokens
    }

    /// The state cache behind Verify (its counters are observable).
    #[must_use]
    pub fn cache(&self) -> &Arc<StateCache> {
        &self.cache
    }
}
