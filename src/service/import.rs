//! `authd import django`'s decisions: how a Django user row becomes an
//! authd user, what a re-run changes, and why a row is skipped.
//!
//! The importer (`cli::import`) reads the rows, from a Django database or a
//! `dumpdata` file, into [`DjangoUser`]s and hands them here one at a time;
//! [`DjangoImport::import`] checks each against authd's rules and writes it
//! through the [`Store`](crate::store::Store) in one transaction of its own
//! (so nothing is half-written), matched by the user's external id (Django's
//! primary key). A row authd cannot take is skipped with a reason; it never
//! stops the import. Only a database failure does.
//!
//! The mapping:
//!
//! - `username`, `email` (Django's `""` is none) and `is_active` as they are,
//!   held to [`crate::user`]'s rules;
//! - roles: `is_superuser` gives `admin`, `is_staff` gives `staff`, and each
//!   group the role [`crate::user::role_from_name`] makes of its name; a
//!   group that cannot be a role is left out with a note in the report;
//! - `date_joined` is the creation time, `last_login` the last login;
//! - `password` is stored verbatim when [`crate::password::django::inspect`]
//!   accepts it (an unusable `!...` one too: that account cannot log in
//!   until a password is set); weak MD5 hashes only when asked for.
//!
//! On a re-run Django wins for every field but two: a password set or
//! upgraded in authd since (anything that is no longer a Django hash) is
//! kept, and the last login is the later of the two. A change that revokes
//! tokens (disabled, new password, other roles) ends the user's sessions in
//! the same transaction. Must not read the rows itself nor print anything:
//! the command line does both.

use std::collections::HashMap;

use secrecy::{ExposeSecret as _, SecretString};

use super::Accounts;
use crate::audit::{AuditEvent, AuditRecord, Outcome};
use crate::error::{Error, Result};
use crate::password::django::{self, Inspected};
use crate::store::{Change, Credentials, EndReason, ImportedUser};
use crate::user::{self, User};

/// A user row as Django has it (`auth_user` and its groups), read by the
/// importer. `Debug` hides the password hash.
#[derive(Clone)]
pub struct DjangoUser {
    /// The primary key, as text: the authd user's external id.
    pub pk: String,
    /// `username`.
    pub username: String,
    /// `email`; empty when the user has none.
    pub email: String,
    /// `password`: Django's encoded hash.
    pub password: SecretString,
    /// `is_active`.
    pub is_active: bool,
    /// `is_superuser`.
    pub is_superuser: bool,
    /// `is_staff`.
    pub is_staff: bool,
    /// The names of the user's groups.
    pub groups: Vec<String>,
    /// `date_joined`, Unix seconds.
    pub date_joined: i64,
    /// `last_login`, Unix seconds.
    pub last_login: Option<i64>,
}

impl std::fmt::Debug for DjangoUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DjangoUser")
            .field("pk", &self.pk)
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish_non_exhaustive()
    }
}

/// How the import runs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ImportOptions {
    /// Import salted MD5 hashes (`--allow-weak-hashes`) instead of skipping them.
    pub allow_weak_hashes: bool,
    /// Decide and report, write nothing (`--dry-run`).
    pub dry_run: bool,
}

/// What happened to one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowOutcome {
    /// A new authd user (with `--dry-run`: would be).
    Imported {
        /// The user's roles.
        roles: Vec<String>,
    },
    /// An existing user (same external id) took the changed fields.
    Updated {
        /// Which fields changed, e.g. `email`, `roles`.
        changed: Vec<&'static str>,
    },
    /// An existing user already matched the row.
    Unchanged,
    /// The row was not written.
    Skipped {
        /// Why, and how to fix it; never the hash.
        reason: String,
    },
}

/// One row's line in the report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowReport {
    /// Django's primary key, or where the row was when it has none.
    pub source: String,
    /// The username, as Django has it (may be empty).
    pub username: String,
    /// What happened.
    pub outcome: RowOutcome,
    /// What was left out of an imported row (e.g. a group that cannot be a role).
    pub notes: Vec<String>,
}

/// The counts at the end of an import.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ImportCounts {
    /// New users.
    pub imported: u64,
    /// Users that took changes.
    pub updated: u64,
    /// Users that already matched.
    pub unchanged: u64,
    /// Rows not written.
    pub skipped: u64,
}

impl ImportCounts {
    fn count(&mut self, outcome: &RowOutcome) {
        match outcome {
            RowOutcome::Imported { .. } => self.imported += 1,
            RowOutcome::Updated { .. } => self.updated += 1,
            RowOutcome::Unchanged => self.unchanged += 1,
            RowOutcome::Skipped { .. } => self.skipped += 1,
        }
    }
}

/// One run of `authd import django`: feed it the rows, then read the counts.
#[derive(Debug)]
pub struct DjangoImport {
    accounts: Accounts,
    options: ImportOptions,
    /// Username keys already taken in this run, with the pk that took them:
    /// Django's usernames are case-sensitive, authd's are not.
    usernames: HashMap<String, (String, String)>,
    /// Email keys already taken in this run, likewise.
    emails: HashMap<String, String>,
    counts: ImportCounts,
}

/// What a row asks for, checked against authd's rules.
struct Plan {
    user: ImportedUser,
    password: SecretString,
    notes: Vec<String>,
}

impl Accounts {
    /// Starts an import through these accounts (their store, and their
    /// actor in the audit rows).
    #[must_use]
    pub fn django_import(&self, options: ImportOptions) -> DjangoImport {
        DjangoImport {
            accounts: self.clone(),
            options,
            usernames: HashMap::new(),
            emails: HashMap::new(),
            counts: ImportCounts::default(),
        }
    }
}

impl DjangoImport {
    /// The counts so far.
    #[must_use]
    pub fn counts(&self) -> ImportCounts {
        self.counts
    }

    /// Counts a row the importer could not read (`source` says where it
    /// was), with the reason, and returns its report line.
    pub fn skip_unreadable(
        &mut self,
        source: String,
        username: String,
        reason: String,
    ) -> RowReport {
        self.report(source, username, RowOutcome::Skipped { reason }, Vec::new())
    }

    fn report(
        &mut self,
        source: String,
        username: String,
        outcome: RowOutcome,
        notes: Vec<String>,
    ) -> RowReport {
        self.counts.count(&outcome);
        RowReport {
            source,
            username,
            outcome,
            notes,
        }
    }

    /// Imports one row at `now`: a new user, an update of the user with the
    /// same external id, unchanged, or skipped with the reason.
    ///
    /// # Errors
    /// Only database failures ([`Error::Unavailable`], [`Error::Internal`]):
    /// everything wrong with the row itself is a [`RowOutcome::Skipped`].
    pub async fn import(&mut self, row: DjangoUser, now: i64) -> Result<RowReport> {
        let source = format!("pk {}", row.pk);
        let username = row.username.clone();
        let outcome = match self.plan(row) {
            Err(reason) => (RowOutcome::Skipped { reason }, Vec::new()),
            Ok(plan) => {
                let notes = plan.notes.clone();
                (self.apply(plan, now).await?, notes)
            }
        };
        Ok(self.report(source, username, outcome.0, outcome.1))
    }

    /// Checks a row against authd's rules and this run's earlier rows.
    fn plan(&mut self, row: DjangoUser) -> std::result::Result<Plan, String> {
        user::validate_external_id(&row.pk).map_err(|e| format!("primary key: {}", message(&e)))?;
        user::validate_username(&row.username).map_err(|e| message(&e))?;
        let email = Some(row.email.trim().to_owned()).filter(|e| !e.is_empty());
        if let Some(email) = &email {
            user::validate_email(email).map_err(|e| message(&e))?;
            if let Some(why) = crate::validate::forbidden_char(email) {
                return Err(format!("email {why}"));
            }
        }
        check_hash(&row.password, self.options.allow_weak_hashes)?;
        let (roles, notes) = roles_of(&row);

        let key = user::username_key(&row.username);
        if let Some((pk, name)) = self.usernames.get(&key) {
            return Err(format!(
                "username `{}` is pk {pk}'s `{name}` in another case; authd usernames ignore \
                 case, so rename one of them in Django and import again",
                row.username
            ));
        }
        if let Some(email) = &email
            && let Some(pk) = self.emails.get(&user::email_key(email))
        {
            return Err(format!(
                "email `{email}` is also pk {pk}'s; authd emails are unique (ignoring case), \
                 so change one of them in Django and import again"
            ));
        }
        self.usernames
            .insert(key, (row.pk.clone(), row.username.clone()));
        if let Some(email) = &email {
            self.emails.insert(user::email_key(email), row.pk.clone());
        }
        Ok(Plan {
            user: ImportedUser {
                external_id: row.pk,
                username: row.username,
                email,
                active: row.is_active,
                roles,
                created_at: row.date_joined,
                last_login_at: row.last_login,
            },
            password: row.password,
            notes,
        })
    }

    /// Writes (or with `--dry-run` only decides) what `plan` asks for.
    async fn apply(&self, plan: Plan, now: i64) -> Result<RowOutcome> {
        let store = self.accounts.store();
        let existing = store
            .credentials_by_external_id(&plan.user.external_id)
            .await?;
        if let Some(taken) = self.taken_by_another(&plan.user, existing.as_ref()).await? {
            return Ok(RowOutcome::Skipped { reason: taken });
        }
        let Some(existing) = existing else {
            return self.create(plan, now).await;
        };
        let change = Changes::between(&existing, &plan);
        if change.fields.is_empty() {
            return Ok(RowOutcome::Unchanged);
        }
        if self.options.dry_run {
            return Ok(RowOutcome::Updated {
                changed: change.fields,
            });
        }
        let written = store
            .update_imported_user(
                &existing.user.id,
                &change.user,
                change.password.then_some(&plan.password),
                change.end,
                now,
            )
            .await;
        let user = match written {
            Ok(user) => user,
            Err(Error::AlreadyExists(reason) | Error::NotFound(reason)) => {
                return Ok(RowOutcome::Skipped { reason });
            }
            Err(e) => return Err(e),
        };
        self.forget(&user);
        let mut detail = format!(
            "updated from Django pk {}: {}",
            user.external_id.as_deref().unwrap_or_default(),
            change.fields.join(", ")
        );
        if change.end.is_some() {
            detail.push_str("; sessions ended");
        }
        self.audit(&user, &detail, now).await;
        Ok(RowOutcome::Updated {
            changed: change.fields,
        })
    }

    async fn create(&self, plan: Plan, now: i64) -> Result<RowOutcome> {
        let roles = plan.user.roles.clone();
        if self.options.dry_run {
            return Ok(RowOutcome::Imported { roles });
        }
        let id = uuid::Uuid::new_v4().to_string();
        let written = self
            .accounts
            .store()
            .create_imported_user(&id, &plan.user, &plan.password)
            .await;
        let user = match written {
            Ok(user) => user,
            Err(Error::AlreadyExists(reason)) => return Ok(RowOutcome::Skipped { reason }),
            Err(e) => return Err(e),
        };
        self.forget(&user);
        let detail = format!(
            "created from Django pk {}; roles: {}",
            plan.user.external_id,
            if roles.is_empty() {
                "(none)".to_owned()
            } else {
                roles.join(",")
            }
        );
        self.audit(&user, &detail, now).await;
        Ok(RowOutcome::Imported { roles })
    }

    /// Why the row's username or email cannot be written: another authd
    /// user (not the one with this external id) has it. Checked before
    /// writing so `--dry-run` reports it too; the store's unique indexes
    /// still decide a race.
    async fn taken_by_another(
        &self,
        user: &ImportedUser,
        existing: Option<&Credentials>,
    ) -> Result<Option<String>> {
        let store = self.accounts.store();
        let mine = |other: &User| existing.is_some_and(|e| e.user.id == other.id);
        if let Some(other) = store.user_by_username(&user.username).await?
            && !mine(&other)
        {
            return Ok(Some(format!(
                "username `{}` is taken by authd user `{}`{} (usernames ignore case)",
                user.username,
                other.username,
                from_where(&other)
            )));
        }
        if let Some(email) = &user.email
            && let Some(other) = store.find_credentials(email).await?
            && !mine(&other.user)
        {
            return Ok(Some(format!(
                "email `{email}` is taken by authd user `{}`{} (emails ignore case)",
                other.user.username,
                from_where(&other.user)
            )));
        }
        Ok(None)
    }

    fn forget(&self, user: &User) {
        self.accounts.ctx().forget(&Change::User(user.id.clone()));
        self.accounts
            .ctx()
            .forget(&Change::UserSessions(user.id.clone()));
    }

    async fn audit(&self, user: &User, detail: &str, now: i64) {
        let detail = self.accounts.by_actor(detail);
        self.accounts
            .ctx()
            .audit(
                AuditRecord::new(AuditEvent::UserImported, Outcome::Success, now)
                    .user(user)
                    .detail(&detail),
            )
            .await;
    }
}

/// What an update changes.
struct Changes {
    /// The row to write: the plan, with the later last login.
    user: ImportedUser,
    /// The names of the changed fields, for the report.
    fields: Vec<&'static str>,
    /// Whether the password hash is replaced.
    password: bool,
    /// Why the user's sessions end, if they do.
    end: Option<EndReason>,
}

impl Changes {
    fn between(existing: &Credentials, plan: &Plan) -> Self {
        let old = &existing.user;
        let mut user = plan.user.clone();
        // A login through authd after the import is newer than Django's.
        user.last_login_at = old.last_login_at.max(user.last_login_at);
        // A hash that is no longer Django's was set or upgraded in authd:
        // it is the user's current password, and stays.
        let stored = existing.password_hash.expose_secret();
        let password = django::inspect(stored).is_ok() && stored != plan.password.expose_secret();
        let mut fields = Vec::new();
        for (changed, name) in [
            (old.username != user.username, "username"),
            (old.email != user.email, "email"),
            (old.active != user.active, "active"),
            (old.roles != user.roles, "roles"),
            (old.created_at != user.created_at, "created"),
            (old.last_login_at != user.last_login_at, "last login"),
            (password, "password"),
        ] {
            if changed {
                fields.push(name);
            }
        }
        let end = if old.active && !user.active {
            Some(EndReason::UserDisabled)
        } else if password {
            Some(EndReason::PasswordChanged)
        } else if old.roles != user.roles {
            Some(EndReason::RolesChanged)
        } else {
            None
        };
        Self {
            user,
            fields,
            password,
            end,
        }
    }
}

/// Whether authd takes the hash; the reason when it does not (never the hash).
fn check_hash(password: &SecretString, allow_weak: bool) -> std::result::Result<(), String> {
    match django::inspect(password.expose_secret()) {
        Ok(Inspected::Usable(algorithm)) if algorithm.is_weak() && !allow_weak => Err(format!(
            "password: a `{}` hash is too weak to import; pass --allow-weak-hashes to take it \
             (it becomes Argon2id at the user's first login), or have the user set a new \
             password in Django first",
            algorithm.name()
        )),
        // Unusable (`!...`) passwords are imported too: no password matches them.
        Ok(Inspected::Usable(_) | Inspected::Unusable) => Ok(()),
        Err(problem) => Err(format!("password: {problem}")),
    }
}

/// The roles of a row, and a note for each group that cannot be one.
fn roles_of(row: &DjangoUser) -> (Vec<String>, Vec<String>) {
    let mut roles = Vec::new();
    let mut notes = Vec::new();
    if row.is_superuser {
        roles.push(user::ADMIN_ROLE.to_owned());
    }
    if row.is_staff {
        roles.push(STAFF_ROLE.to_owned());
    }
    for group in &row.groups {
        match user::role_from_name(group) {
            Ok(role) => roles.push(role),
            Err(Error::InvalidArgument { message, .. }) => {
                notes.push(format!("group left out: {message}"));
            }
            Err(e) => notes.push(format!("group left out: {e}")),
        }
    }
    // Each role is valid by now, so this only sorts and deduplicates.
    let roles = user::normalize_roles(&roles).unwrap_or(roles);
    (roles, notes)
}

/// The role Django's `is_staff` becomes.
pub const STAFF_ROLE: &str = "staff";

/// An [`Error::InvalidArgument`]'s message without the `invalid <field>:`
/// prefix repeated, for a report line.
fn message(error: &Error) -> String {
    match error {
        Error::InvalidArgument { field, message } => format!("{field} {message}"),
        other => other.to_string(),
    }
}

/// `" (Django pk N)"` for an imported user, `" (made in authd)"` otherwise.
fn from_where(user: &User) -> String {
    match &user.external_id {
        Some(pk) => format!(" (Django pk {pk})"),
        None => " (made in authd)".to_owned(),
    }
}
