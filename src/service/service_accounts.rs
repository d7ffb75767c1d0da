//! Service accounts: machine identities with OAuth2 client credentials.
//!
//! Administration (create, list, rotate the secret, delete) is on
//! [`Accounts`], so the CLI and the admin API share it; issuing a token for
//! a client id and secret is [`AuthCore::issue_service_token`], used by
//! `AuthService.IssueServiceToken` and `POST /oauth2/token`; checking them
//! without issuing anything is [`AuthCore::authenticate_client`], the client
//! authentication of `POST /oauth2/introspect` and `/oauth2/revoke`.
//!
//! Token requests are throttled exactly like logins ([`crate::throttle`]):
//! failures are counted under the client id (key `client:<id>`, with the
//! account allowance) and the client address, so an unknown client id and a
//! wrong secret look the same, in answer and in cost (one query each, then
//! the same hash comparison). Secrets exist only in the answers that create
//! them; [`crate::token::client_secret`] says why a SHA-256 is how they are
//! kept. Must not log or audit a secret or its hash.

use std::fmt::Write as _;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};

use super::login::Counted;
use super::{Accounts, AuthCore, ClientInfo, pages};
use crate::audit::{AuditEvent, AuditRecord, Outcome};
use crate::error::{Error, Result, Violation};
use crate::store::{Change, NewServiceAccount, ServiceAccount};
use crate::throttle::{AttemptKeys, address_key};
use crate::token::{IssuedToken, client_secret};
use crate::user::{self, ADMIN_ROLE};

/// Longest service-account name, in characters.
pub const MAX_NAME_LEN: usize = 64;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 200;
/// Longest overlap of a rotated-out secret.
pub const MAX_OVERLAP: Duration = Duration::from_secs(30 * 24 * 3600);

/// The one answer to an unknown client id and a wrong secret.
const BAD_CLIENT: &str = "invalid client id or client secret";

/// The page-token list name of ListServiceAccounts.
const LIST: &str = "service_accounts";

/// Who asks for an administrative change, for its audit row.
#[derive(Debug, Clone)]
pub struct ChangedBy {
    /// How the audit log names them (`Actor::describe`, or the CLI's OS user).
    pub actor: String,
    /// Their address, when they called over the network.
    pub client_addr: Option<String>,
}

/// A service account to create, as requested.
#[derive(Debug, Clone, Default)]
pub struct NewServiceAccountRequest {
    /// 1 to 64 characters of `A-Z a-z 0-9 . _ -`, starting with a letter or digit.
    pub name: String,
    /// What it is for; at most 200 characters, no control characters.
    pub description: String,
    /// Roles its tokens carry.
    pub roles: Vec<String>,
}

/// A created service account and its client secret (shown once).
#[derive(Debug)]
pub struct CreatedServiceAccount {
    /// The account (its client id included).
    pub account: ServiceAccount,
    /// The client secret; authd keeps only its hash.
    pub client_secret: SecretString,
}

/// A rotated secret (shown once).
#[derive(Debug)]
pub struct RotatedSecret {
    /// The new client secret.
    pub client_secret: SecretString,
    /// Until when the previous secret still works, if it was given an overlap.
    pub previous_expires_at: Option<i64>,
}

/// Checks a service-account name: the rules of usernames, on field `name`.
fn check_name(name: &str, violations: &mut Vec<Violation>) {
    if name.is_empty() {
        violations.push(Violation::new("name", "must not be empty"));
    } else if name.chars().count() > MAX_NAME_LEN {
        violations.push(Violation::new(
            "name",
            format!("must be at most {MAX_NAME_LEN} characters"),
        ));
    } else if user::validate_username(name).is_err() {
        // Also refuses NUL, control and bidirectional-override characters.
        violations.push(Violation::new(
            "name",
            "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit",
        ));
    }
}

/// Whether `c` reorders text when displayed (bidirectional controls), so a
/// description could show something other than what it holds.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn check_description(description: &str, violations: &mut Vec<Violation>) {
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        violations.push(Violation::new(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters"),
        ));
    } else if description
        .chars()
        .any(|c| c.is_control() || is_bidi_control(c))
    {
        violations.push(Violation::new(
            "description",
            "must not contain control or bidirectional-formatting characters",
        ));
    }
}

/// The account id of a rotate or delete request.
fn check_id(id: &str) -> Result<()> {
    if id.is_empty() {
        return Err(Error::invalid("id", "must not be empty"));
    }
    if id.len() > 64 {
        return Err(Error::invalid("id", "is not a service account id"));
    }
    Ok(())
}

/// Checks a presented client id and secret before any query.
fn check_client_credentials(
    client_id: &str,
    client_secret: &SecretString,
    violations: &mut Vec<Violation>,
) {
    if client_id.is_empty() {
        violations.push(Violation::new("client_id", "must not be empty"));
    } else if client_id.len() > client_secret::MAX_CLIENT_ID_LEN {
        violations.push(Violation::new(
            "client_id",
            format!("must be at most {} bytes", client_secret::MAX_CLIENT_ID_LEN),
        ));
    } else if let Some(why) = crate::validate::forbidden_char(client_id) {
        // No client id holds one (authd makes them); a NUL would reach
        // the query, which PostgreSQL refuses with an error.
        violations.push(Violation::new("client_id", why));
    }
    let secret_len = client_secret.expose_secret().len();
    if secret_len == 0 {
        violations.push(Violation::new("client_secret", "must not be empty"));
    } else if secret_len > client_secret::MAX_SECRET_LEN {
        violations.push(Violation::new(
            "client_secret",
            format!("must be at most {} bytes", client_secret::MAX_SECRET_LEN),
        ));
    }
}

fn seconds(d: Duration) -> i64 {
    i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
}

impl Accounts {
    /// Creates a service account with a fresh client id and secret.
    ///
    /// # Errors
    /// [`Error::InvalidFields`] naming every bad field (`name`,
    /// `description`, `roles`), [`Error::AlreadyExists`] for a taken name
    /// (ignoring case).
    pub async fn create_service_account(
        &self,
        request: NewServiceAccountRequest,
        by: &ChangedBy,
        now: i64,
    ) -> Result<CreatedServiceAccount> {
        let mut violations = Vec::new();
        check_name(&request.name, &mut violations);
        check_description(&request.description, &mut violations);
        let roles = match user::normalize_roles(&request.roles) {
            Ok(roles) => roles,
            Err(e) => {
                let message = match e {
                    Error::InvalidArgument { message, .. } => message,
                    other => other.to_string(),
                };
                violations.push(Violation::new("roles", message));
                Vec::new()
            }
        };
        if let Some(e) = Error::from_violations(violations) {
            return Err(e);
        }
        let client_secret = client_secret::generate()?;
        let account = self
            .store()
            .create_service_account(
                &NewServiceAccount {
                    id: uuid::Uuid::now_v7().to_string(),
                    name: request.name,
                    description: request.description,
                    roles,
                    client_id: client_secret::generate_client_id()?,
                    created_at: now,
                },
                &client_secret::hash(client_secret.expose_secret()),
            )
            .await?;
        let detail = format!(
            "client id {}; roles: {}",
            account.client_id,
            roles_text(&account.roles)
        );
        self.audit_service_account(
            AuditEvent::ServiceAccountCreated,
            &account,
            &detail,
            by,
            now,
        )
        .await;
        Ok(CreatedServiceAccount {
            account,
            client_secret,
        })
    }

    /// One page of service accounts in id order: at most `limit` after
    /// `after_id`, and whether more follow.
    ///
    /// # Errors
    /// Database errors.
    pub async fn list_service_accounts(
        &self,
        after_id: Option<&str>,
        limit: usize,
    ) -> Result<(Vec<ServiceAccount>, bool)> {
        let fetch = u32::try_from(limit.saturating_add(1)).unwrap_or(u32::MAX);
        let mut accounts = self.store().list_service_accounts(after_id, fetch).await?;
        let more = accounts.len() > limit;
        accounts.truncate(limit);
        Ok((accounts, more))
    }

    /// Gives account `id` a new client secret; the current one keeps
    /// working for `overlap` (zero: it stops at once).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] on `id` or `overlap` (over 30 days),
    /// [`Error::NotFound`] when there is no such account.
    pub async fn rotate_service_account_secret(
        &self,
        id: &str,
        overlap: Duration,
        by: &ChangedBy,
        now: i64,
    ) -> Result<RotatedSecret> {
        check_id(id)?;
        if overlap > MAX_OVERLAP {
            return Err(Error::invalid("overlap", "must be at most 30 days"));
        }
        let client_secret = client_secret::generate()?;
        let previous_expires_at = now.saturating_add(seconds(overlap));
        let account = self
            .store()
            .rotate_service_account_secret(
                id,
                &client_secret::hash(client_secret.expose_secret()),
                now,
                previous_expires_at,
            )
            .await?;
        let previous_expires_at = (!overlap.is_zero()).then_some(previous_expires_at);
        let mut detail = "new client secret; ".to_owned();
        match previous_expires_at {
            Some(at) => {
                let _ = write!(
                    detail,
                    "the previous one works until {}",
                    crate::audit::rfc3339(at)
                );
            }
            None => detail.push_str("the previous one stopped at once"),
        }
        self.audit_service_account(
            AuditEvent::ServiceAccountSecretRotated,
            &account,
            &detail,
            by,
            now,
        )
        .await;
        Ok(RotatedSecret {
            client_secret,
            previous_expires_at,
        })
    }

    /// Deletes service account `id`: its secrets stop at once, and its
    /// tokens stop verifying on every replica (the store announces it).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] on `id`, [`Error::NotFound`],
    /// [`Error::FailedPrecondition`] if it is the last principal with the
    /// `admin` role.
    pub async fn delete_service_account(
        &self,
        id: &str,
        by: &ChangedBy,
        now: i64,
    ) -> Result<ServiceAccount> {
        check_id(id)?;
        let account = self
            .store()
            .service_account(id)
            .await?
            .ok_or_else(|| Error::NotFound("no such service account".to_owned()))?;
        if account.has_role(ADMIN_ROLE) && self.store().admin_principals_except(id).await? == 0 {
            return Err(Error::FailedPrecondition(
                "this is the last principal with the `admin` role; grant it to another user or \
                 service account first, so authd can still be administered"
                    .to_owned(),
            ));
        }
        let account = self.store().delete_service_account(id).await?;
        self.ctx()
            .forget(&Change::ServiceAccount(account.id.clone()));
        let detail = format!("client id {}", account.client_id);
        self.audit_service_account(
            AuditEvent::ServiceAccountDeleted,
            &account,
            &detail,
            by,
            now,
        )
        .await;
        Ok(account)
    }

    async fn audit_service_account(
        &self,
        event: AuditEvent,
        account: &ServiceAccount,
        detail: &str,
        by: &ChangedBy,
        now: i64,
    ) {
        let detail = format!("{detail}; by {}", by.actor);
        let record = AuditRecord::new(event, Outcome::Success, now)
            .user_id(&account.id)
            .subject(&account.name)
            .client_addr(by.client_addr.as_deref())
            .detail(&detail);
        self.ctx().audit(record).await;
    }
}

fn roles_text(roles: &[String]) -> String {
    if roles.is_empty() {
        "(none)".to_owned()
    } else {
        roles.join(", ")
    }
}

/// How one token request ended.
enum Attempt {
    Throttled(crate::throttle::Blocked),
    /// A wrong secret or an unknown client id; with what the audit log
    /// names the client by (an unknown id by its keyed digest).
    Failed {
        counted: Counted,
        subject: String,
    },
    Succeeded {
        account: ServiceAccount,
        counted: Counted,
    },
}

impl AuthCore {
    /// One page of ListServiceAccounts: `page_size` as the request asks
    /// ([`pages::page_size`]), resuming after `page_token` (empty: the
    /// first page). Returns the accounts and the next page's token (empty
    /// on the last page).
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] on `page_size` or `page_token`.
    pub async fn list_service_accounts(
        &self,
        page_size: i32,
        page_token: &str,
        now: i64,
    ) -> Result<(Vec<ServiceAccount>, String)> {
        let limit = pages::page_size(page_size)?;
        let tokens = self.page_tokens()?;
        let after = if page_token.is_empty() {
            None
        } else {
            Some(tokens.open(page_token, LIST, "", now)?)
        };
        let (accounts, more) = self
            .accounts()
            .list_service_accounts(after.as_deref(), limit)
            .await?;
        let next = match accounts.last() {
            Some(last) if more => tokens.issue(LIST, "", &last.id, now),
            _ => String::new(),
        };
        Ok((accounts, next))
    }

    /// Checks a service account's client id and secret (throttled per
    /// client id and per address, like passwords) and issues it an access
    /// token for `audience` (`None`: the configured one).
    ///
    /// # Errors
    /// [`Error::Unauthenticated`] for an unknown client id or a wrong
    /// secret (the same message), [`Error::Throttled`] after too many
    /// failures, [`Error::InvalidArgument`] for a malformed field or an
    /// audience other than the configured one.
    pub async fn issue_service_token(
        &self,
        client_id: &str,
        client_secret: SecretString,
        audience: Option<&str>,
        client: ClientInfo,
        now: i64,
    ) -> Result<IssuedToken> {
        let mut violations = Vec::new();
        check_client_credentials(client_id, &client_secret, &mut violations);
        if let Some(audience) = audience
            && audience != self.tokens.audience()
        {
            violations.push(Violation::new(
                "audience",
                format!(
                    "authd issues tokens for its configured audience only ({:?}); leave it empty",
                    self.tokens.audience()
                ),
            ));
        }
        if let Some(e) = Error::from_violations(violations) {
            return Err(e);
        }
        let addr = client.addr.as_deref();
        let account = self
            .checked_client(client_id, &client_secret, addr, now)
            .await?;
        if let Err(e) = self.store().touch_service_account(&account.id, now).await {
            tracing::warn!(error = %e, "could not record a service account's use");
        }
        let issued = self.tokens.issue_service(&account, now)?;
        let detail = format!("token {}", issued.claims.jti);
        let record = AuditRecord::new(AuditEvent::ServiceToken, Outcome::Success, now)
            .user_id(&account.id)
            .subject(&account.name)
            .client_addr(addr)
            .detail(&detail);
        self.ctx().audit(record).await;
        Ok(issued)
    }

    /// Authenticates an OAuth2 client by its client id and secret, as
    /// [`Self::issue_service_token`] does (the same checks, throttle and
    /// audit rows for failures), without issuing anything: the client
    /// authentication of the introspection and revocation endpoints.
    ///
    /// # Errors
    /// As [`Self::issue_service_token`], less the audience.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        client: &ClientInfo,
        now: i64,
    ) -> Result<ServiceAccount> {
        let mut violations = Vec::new();
        check_client_credentials(client_id, client_secret, &mut violations);
        if let Some(e) = Error::from_violations(violations) {
            return Err(e);
        }
        self.checked_client(client_id, client_secret, client.addr.as_deref(), now)
            .await
    }

    /// The throttled secret check of well-formed client credentials: the
    /// account, or why not.
    async fn checked_client(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        addr: Option<&str>,
        now: i64,
    ) -> Result<ServiceAccount> {
        // Its own key kind's prefix, so a client id never shares a count
        // with a username.
        let keys = AttemptKeys {
            account: format!("client:{client_id}"),
            user: None,
            address: addr.map(address_key),
        };
        match self
            .attempt_service_token(client_id, client_secret, keys, addr, now)
            .await?
        {
            Attempt::Throttled(blocked) => {
                // Logged, not audited one by one: the block was recorded
                // when the failure that started it was.
                tracing::info!(
                    key = blocked.kind.as_str(),
                    retry_after_secs = blocked.retry_after_secs,
                    "service token request throttled"
                );
                Err(Error::Throttled {
                    retry_after_secs: blocked.retry_after_secs,
                })
            }
            Attempt::Failed { counted, subject } => {
                self.note_failure(counted, AuditEvent::ServiceToken, &subject, addr, now)
                    .await;
                Err(Error::Unauthenticated(BAD_CLIENT.to_owned()))
            }
            Attempt::Succeeded { account, counted } => {
                self.take_back(counted, now).await;
                Ok(account)
            }
        }
    }

    /// Checks the throttle, then the secret.
    async fn attempt_service_token(
        &self,
        client_id: &str,
        client_secret: &SecretString,
        keys: AttemptKeys,
        addr: Option<&str>,
        now: i64,
    ) -> Result<Attempt> {
        // Counted before the secret is compared, as Login counts passwords.
        let counted = match self.throttle_claim(keys, now).await? {
            Ok(counted) => counted,
            Err(blocked) => return Ok(Attempt::Throttled(blocked)),
        };
        let found = self.store().service_account_credentials(client_id).await?;
        let presented = client_secret::hash(client_secret.expose_secret());
        // Every live secret is compared (in constant time), and an unknown
        // client id compares against a dummy, so the work is the same.
        let matched = if let Some(credentials) = &found {
            credentials
                .secrets
                .iter()
                .filter(|s| s.expires_at.is_none_or(|at| at > now))
                .fold(false, |any, s| {
                    client_secret::hashes_match(&presented, &s.hash) | any
                })
        } else {
            let dummy = client_secret::hash("authd_sa_dummy");
            client_secret::hashes_match(&presented, &dummy)
        };
        match found {
            Some(credentials) if matched => Ok(Attempt::Succeeded {
                account: credentials.account,
                counted,
            }),
            found => {
                // An unknown client id may be a secret pasted into the wrong
                // field: the log holds its keyed digest, as for login names.
                let subject = match &found {
                    Some(c) => c.account.name.clone(),
                    None => self.login_subject(client_id, false, now).await,
                };
                let why = if found.is_some() {
                    "wrong or expired client secret"
                } else {
                    "unknown client id"
                };
                let mut record = AuditRecord::new(AuditEvent::ServiceToken, Outcome::Failure, now)
                    .subject(&subject)
                    .client_addr(addr)
                    .detail(why);
                if let Some(c) = &found {
                    record = record.user_id(&c.account.id);
                }
                self.ctx().audit(record).await;
                let subject = match found {
                    Some(_) => client_id.to_owned(),
                    None => subject,
                };
                Ok(Attempt::Failed { counted, subject })
            }
        }
    }
}
