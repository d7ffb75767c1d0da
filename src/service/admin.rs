//! The admin API's user, unlock and audit decisions (`AdminService`):
//! every request checked whole before any query, then carried out through
//! [`Accounts`], the same calls the CLI makes, by an [`Actor`] the audit
//! rows name with their client address.
//!
//! The caller has been checked already ([`AuthCore::authorize_admin`]).
//! Field names in violations are the proto's (`user.email`, `roles[1]`).
//! Lists are keyset-paged with tamper-evident page tokens ([`super::pages`])
//! bound to the canonical text of the list's filters.

use secrecy::SecretString;

use super::pages::{PageTokens, page_size};
use super::{Accounts, Actor, AuthCore, ClientInfo, NewAccount};
use crate::error::{Error, Result};
use crate::password::{self, MAX_PASSWORD_BYTES};
use crate::store::{AuditEntry, AuditFilter, UserFilter};
use crate::user::{self, ADMIN_ROLE, MAX_EMAIL_LEN, MAX_USERNAME_LEN, User};
use crate::validate::Fields;

/// Longest login name (a username or an email), as Login takes it.
const MAX_LOGIN_BYTES: usize = 320;
/// Longest role name.
const MAX_ROLE_BYTES: usize = 64;
/// Longest audit event name looked for.
const MAX_EVENT_BYTES: usize = 64;
/// The paths `UpdateUser`'s mask may name.
const UPDATE_PATHS: [&str; 3] = ["email", "roles", "active"];

/// A `CreateUser` request.
#[derive(Debug)]
pub struct CreateUser {
    /// The new account (an empty email is none).
    pub account: NewAccount,
    /// Whether the user may log in at once.
    pub active: bool,
}

/// A `ListUsers` request.
#[derive(Debug, Clone, Default)]
pub struct ListUsers {
    /// Requested page size (0: the default).
    pub page_size: i32,
    /// The previous page's token; empty for the first page.
    pub page_token: String,
    /// A prefix of the username or email, ignoring case; empty for any.
    pub query: String,
    /// A role the users hold; empty for any.
    pub role: String,
    /// Only active or only disabled users.
    pub active: Option<bool>,
}

/// An `UpdateUser` request.
#[derive(Debug, Clone, Default)]
pub struct UpdateUser {
    /// The user's id.
    pub id: String,
    /// The field mask's paths.
    pub paths: Vec<String>,
    /// The new email (with `email` in the mask; empty removes it).
    pub email: String,
    /// The new roles (with `roles` in the mask).
    pub roles: Vec<String>,
    /// Active or not (with `active` in the mask).
    pub active: bool,
}

/// A `ListAuditEvents` request.
#[derive(Debug, Clone, Default)]
pub struct ListAuditEvents {
    /// Requested page size (0: the default).
    pub page_size: i32,
    /// The previous page's token; empty for the first page.
    pub page_token: String,
    /// A subject (ignoring case) or target id; empty for any.
    pub subject: String,
    /// An event name; empty for any.
    pub event: String,
    /// Only events at or after this time, Unix seconds (with its nanos, if
    /// any, as given: `(seconds, nanos)`).
    pub since: Option<(i64, i32)>,
}

/// One page of a list.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, in the list's order.
    pub items: Vec<T>,
    /// The token of the next page; empty on the last.
    pub next_page_token: String,
}

/// The admin API's operations for one checked caller; see the module docs.
#[derive(Debug)]
pub struct Admin<'a> {
    core: &'a AuthCore,
    /// The accounts service naming the caller and their address in every
    /// audit row it writes.
    accounts: Accounts,
}

impl AuthCore {
    /// The admin operations of `actor` calling from `client`.
    #[must_use]
    pub fn admin(&self, actor: &Actor, client: &ClientInfo) -> Admin<'_> {
        Admin {
            core: self,
            accounts: self
                .accounts()
                .clone()
                .with_actor(actor.describe())
                .with_client_addr(client.addr.clone()),
        }
    }
}

impl Admin<'_> {
    /// `CreateUser`.
    ///
    /// # Errors
    /// [`Error::InvalidFields`] listing every bad field,
    /// [`Error::AlreadyExists`], database errors.
    pub async fn create_user(&self, request: CreateUser, now: i64) -> Result<User> {
        let CreateUser {
            mut account,
            active,
        } = request;
        account.email = account.email.filter(|e| !e.is_empty());
        let mut fields = Fields::new();
        check_username(&mut fields, "username", &account.username);
        if let Some(email) = &account.email {
            check_email(&mut fields, "email", email);
        }
        check_roles(&mut fields, "roles", &account.roles);
        check_password(&mut fields, "password", &account.password);
        fields.finish()?;
        let user = self.accounts.create_user(account, now).await?;
        if active {
            Ok(user)
        } else {
            self.accounts.set_active(&user.username, false, now).await
        }
    }

    /// `ListUsers`: a page of users by id.
    ///
    /// # Errors
    /// [`Error::InvalidFields`] (including a bad `page_token`), database errors.
    pub async fn list_users(&self, request: &ListUsers, now: i64) -> Result<Page<User>> {
        let mut fields = Fields::new();
        let size = checked_page_size(&mut fields, request.page_size);
        fields.text("query", &request.query, MAX_EMAIL_LEN);
        if fields.text("role", &request.role, MAX_ROLE_BYTES) && !request.role.is_empty() {
            fields.check("role", user::normalize_roles([&request.role]).map(drop));
        }
        let filter = UserFilter {
            prefix: non_empty(&request.query),
            role: non_empty(&request.role),
            active: request.active,
        };
        // Matching ignores case, so the canonical query does too.
        let canonical = format!(
            "query={}\nrole={}\nactive={:?}",
            user::email_key(&request.query),
            request.role,
            request.active
        );
        let after = open_token(
            &mut fields,
            self.pages()?,
            &request.page_token,
            "users",
            &canonical,
            now,
        );
        fields.finish()?;
        let limit = u32::try_from(size + 1).unwrap_or(u32::MAX);
        let mut users = self
            .core
            .store()
            .list_users_page(&filter, after.as_deref(), limit)
            .await?;
        let next_page_token = if users.len() > size {
            users.truncate(size);
            let last = users.last().map(|u| u.id.as_str()).unwrap_or_default();
            self.pages()?.issue("users", &canonical, last, now)
        } else {
            String::new()
        };
        Ok(Page {
            items: users,
            next_page_token,
        })
    }

    /// `UpdateUser`: changes the fields the mask names, through the same
    /// calls as the CLI (`set_roles` and `set_active` end the user's
    /// sessions and announce it to every replica). Refuses to disable the
    /// last active admin or take the role from them; that is checked just
    /// before the change, not in its transaction, so two admins disabling
    /// each other at the same instant could both succeed (DeleteUser, which
    /// cannot be undone, decides in its transaction).
    ///
    /// # Errors
    /// [`Error::InvalidFields`], [`Error::NotFound`],
    /// [`Error::FailedPrecondition`], [`Error::AlreadyExists`] for a taken
    /// email, database errors.
    pub async fn update_user(&self, request: UpdateUser, now: i64) -> Result<User> {
        let mut fields = Fields::new();
        fields.uuid("user.id", &request.id);
        let unknown: Vec<String> = request
            .paths
            .iter()
            .filter(|p| !UPDATE_PATHS.contains(&p.as_str()))
            .map(|p| format!("`{}`", p.escape_debug()))
            .collect();
        if request.paths.is_empty() {
            fields.bad(
                "update_mask",
                "name at least one field to change: email, roles or active",
            );
        } else if !unknown.is_empty() {
            fields.bad(
                "update_mask",
                format!(
                    "unknown path {}: the paths are email, roles and active",
                    unknown.join(", ")
                ),
            );
        }
        let wants = |path: &str| request.paths.iter().any(|p| p == path);
        if wants("email") && !request.email.is_empty() {
            check_email(&mut fields, "user.email", &request.email);
        }
        if wants("roles") {
            check_roles(&mut fields, "user.roles", &request.roles);
        }
        fields.finish()?;

        let user = self.accounts.user_by_id(&request.id).await?;
        let roles = if wants("roles") {
            Some(user::normalize_roles(&request.roles)?)
        } else {
            None
        };
        let active = wants("active").then_some(request.active);
        let loses_admin = active == Some(false)
            || roles
                .as_ref()
                .is_some_and(|r| !r.iter().any(|r| r == ADMIN_ROLE));
        if user.active
            && user.has_role(ADMIN_ROLE)
            && loses_admin
            && !self.other_admin(&user).await?
        {
            return Err(Error::FailedPrecondition(
                "this is the last active user with the `admin` role: give the role to another \
                 user first, so authd can still be administered"
                    .to_owned(),
            ));
        }
        let mut now_user = user.clone();
        if wants("email") {
            let email = non_empty(&request.email);
            if email != user.email {
                now_user = self
                    .accounts
                    .set_email(&user.id, email.as_deref(), now)
                    .await?;
            }
        }
        if let Some(roles) = roles
            && roles != user.roles
        {
            now_user = self.accounts.set_roles(&user.username, &roles, now).await?;
        }
        if let Some(active) = active
            && active != user.active
        {
            now_user = self
                .accounts
                .set_active(&user.username, active, now)
                .await?;
        }
        Ok(now_user)
    }

    /// `SetPassword`: returns how many live sessions ended.
    ///
    /// # Errors
    /// [`Error::InvalidFields`], the password policy's refusal,
    /// [`Error::NotFound`], database errors.
    pub async fn set_password(&self, id: &str, password: SecretString, now: i64) -> Result<u64> {
        let mut fields = Fields::new();
        fields.uuid("id", id);
        check_password(&mut fields, "password", &password);
        fields.finish()?;
        self.accounts.set_password_by_id(id, password, now).await
    }

    /// `DeleteUser`.
    ///
    /// # Errors
    /// [`Error::InvalidFields`], [`Error::NotFound`],
    /// [`Error::FailedPrecondition`] for the last active admin.
    pub async fn delete_user(&self, id: &str) -> Result<User> {
        let mut fields = Fields::new();
        fields.uuid("id", id);
        fields.finish()?;
        self.accounts.delete_user_by_id(id).await
    }

    /// `UnlockLogin`: returns how many counts were cleared.
    ///
    /// # Errors
    /// [`Error::InvalidFields`], database errors.
    pub async fn unlock(&self, login: &str, address: &str) -> Result<u64> {
        let mut fields = Fields::new();
        fields.required("login", login, MAX_LOGIN_BYTES);
        if fields.text("address", address, 64)
            && !address.is_empty()
            && address.parse::<std::net::IpAddr>().is_err()
        {
            fields.bad(
                "address",
                "not an IP address; use e.g. 192.0.2.7 or 2001:db8::7",
            );
        }
        fields.finish()?;
        self.accounts
            .unlock(login, (!address.is_empty()).then_some(address))
            .await
    }

    /// `ListAuditEvents`: a page of the audit log, newest first.
    ///
    /// # Errors
    /// [`Error::InvalidFields`] (including a bad `page_token`), database errors.
    pub async fn list_audit_events(
        &self,
        request: &ListAuditEvents,
        now: i64,
    ) -> Result<Page<AuditEntry>> {
        let mut fields = Fields::new();
        let size = checked_page_size(&mut fields, request.page_size);
        fields.text("subject", &request.subject, MAX_LOGIN_BYTES);
        fields.text("event", &request.event, MAX_EVENT_BYTES);
        let since = match request.since {
            Some((_, nanos)) if !(0..1_000_000_000).contains(&nanos) => {
                fields.bad("since", "nanos must be between 0 and 999,999,999");
                None
            }
            // A row's time is whole seconds: "at or after 10.5" is 11.
            Some((seconds, nanos)) => Some(seconds.saturating_add(i64::from(nanos > 0))),
            None => None,
        };
        let filter = AuditFilter {
            subject: non_empty(&request.subject),
            event: non_empty(&request.event),
            since,
        };
        let canonical = format!(
            "subject={}\nevent={}\nsince={since:?}",
            request.subject.to_lowercase(),
            request.event
        );
        let before = open_token(
            &mut fields,
            self.pages()?,
            &request.page_token,
            "audit",
            &canonical,
            now,
        );
        let before = match before.map(|c| c.parse::<i64>()) {
            None => None,
            Some(Ok(id)) => Some(id),
            Some(Err(_)) => {
                fields.bad("page_token", "not a page token of this list");
                None
            }
        };
        fields.finish()?;
        let limit = u32::try_from(size + 1).unwrap_or(u32::MAX);
        let mut rows = self.core.store().audit_page(&filter, before, limit).await?;
        let next_page_token = if rows.len() > size {
            rows.truncate(size);
            let last = rows.last().map_or(0, |r| r.id);
            self.pages()?
                .issue("audit", &canonical, &last.to_string(), now)
        } else {
            String::new()
        };
        Ok(Page {
            items: rows,
            next_page_token,
        })
    }

    fn pages(&self) -> Result<&PageTokens> {
        self.core.page_tokens()
    }

    /// Whether an active admin other than `user` exists.
    async fn other_admin(&self, user: &User) -> Result<bool> {
        let admins = UserFilter {
            role: Some(ADMIN_ROLE.to_owned()),
            active: Some(true),
            ..UserFilter::default()
        };
        let found = self.core.store().list_users_page(&admins, None, 2).await?;
        Ok(found.iter().any(|u| u.id != user.id))
    }
}

fn non_empty(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_owned())
}

fn checked_page_size(fields: &mut Fields, requested: i32) -> usize {
    match page_size(requested) {
        Ok(size) => size,
        Err(e) => {
            fields.check("page_size", Err(e));
            0
        }
    }
}

/// The cursor in `token` (none for an empty token); a bad token is
/// recorded as a `page_token` violation.
fn open_token(
    fields: &mut Fields,
    pages: &PageTokens,
    token: &str,
    list: &str,
    canonical: &str,
    now: i64,
) -> Option<String> {
    if token.is_empty() {
        return None;
    }
    match pages.open(token, list, canonical, now) {
        Ok(cursor) => Some(cursor),
        Err(e) => {
            fields.check("page_token", Err(e));
            None
        }
    }
}

fn check_username(fields: &mut Fields, field: &str, username: &str) {
    if fields.required(field, username, MAX_USERNAME_LEN) {
        fields.check(field, user::validate_username(username));
    }
}

fn check_email(fields: &mut Fields, field: &str, email: &str) {
    if fields.text(field, email, MAX_EMAIL_LEN) {
        fields.check(field, user::validate_email(email));
    }
}

fn check_roles(fields: &mut Fields, field: &str, roles: &[String]) {
    for (i, role) in roles.iter().enumerate() {
        let name = format!("{field}[{i}]");
        if fields.required(name.clone(), role, MAX_ROLE_BYTES) {
            fields.check(name, user::normalize_roles([role]).map(drop));
        }
    }
}

/// Size only: the policy ([`Accounts::create_user`] and
/// [`Accounts::set_password`]) judges the rest. Never echoes the value.
fn check_password(fields: &mut Fields, field: &str, password: &SecretString) {
    use secrecy::ExposeSecret as _;
    let given = password.expose_secret();
    if given.len() > MAX_PASSWORD_BYTES {
        fields.bad(field, format!("must be at most {MAX_PASSWORD_BYTES} bytes"));
    } else {
        fields.check(field, password::validate_presented_password(given));
    }
}
