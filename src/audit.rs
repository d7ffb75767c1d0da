//! The audit log: which security-relevant events are recorded, what a row
//! holds, and how rows are rendered for `authd audit tail`.
//!
//! Rows go through [`crate::store::Store::append_audit`] into the append-only
//! `audit_log` table (a trigger refuses `UPDATE` and `DELETE`). Callers are
//! the decision makers ([`crate::service`], [`crate::cli`] through
//! [`crate::service::Accounts`], [`crate::token::rotation`]), never the gRPC
//! adapters; each writes the wording of its own events next to the code
//! that emits them, and this module owns only the events, the row and its
//! rendering.
//!
//! What this module must not do: put a secret in a row. Subjects and details
//! are built from usernames, ids, key ids and fixed phrases only; never a
//! password, token, refresh token or hash. Free text (a login name as
//! presented) is truncated and stripped of control characters, invisible
//! format characters (bidirectional overrides among them) and line and
//! paragraph separators, so a row can neither be huge, rewrite the terminal
//! of whoever tails the log, nor make its columns read as something else.
//!
//! A login name that matches no account is not stored as typed (it may be a
//! password typed into the wrong field): its row holds [`NameDigests`]'s
//! keyed hash of the folded name instead, the same for the same name, so an
//! administrator can still see that one unknown name was tried again and
//! again without learning what it was.
//!
//! Rows are written right after the action commits, not in its transaction:
//! that keeps the [`crate::store::Store`] methods unchanged, and a login
//! failure (which writes nothing else) costs one insert. The price is that a
//! crash between the two loses the row. A failed audit write is logged at
//! `warn` and does not fail the action, which has already happened: failing
//! the call would not undo it, only hide from the caller that it happened.

use std::fmt::Write as _;

use crate::store::{AuditEntry, NewAuditEntry, Store};
use crate::user::User;
use crate::validate;

/// The name of the instance secret that keys [`NameDigests`].
pub const UNKNOWN_NAME_SECRET: &str = "audit_unknown_names";

/// The keyed hash (HMAC-SHA256) that stands in the audit log for a login
/// name matching no account, under a key every replica on the database
/// shares (the instance secret [`UNKNOWN_NAME_SECRET`], made by the first
/// process that needs it). Without the key the name cannot be guessed
/// back from its row, not even by trying every dictionary word; with it,
/// an equal name gives the equal value on every replica, so repeats can
/// still be counted. aws-lc-rs's HMAC, the crypto crate authd already uses.
pub struct NameDigests {
    key: aws_lc_rs::hmac::Key,
}

impl std::fmt::Debug for NameDigests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NameDigests(..)")
    }
}

impl NameDigests {
    /// The prefix of a digest subject, so it never reads as a username.
    pub const PREFIX: &'static str = "unknown-name:";

    /// Digests under `secret` (at least 32 bytes).
    #[must_use]
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret),
        }
    }

    /// Digests under the key every process on `store`'s database shares.
    ///
    /// # Errors
    /// Database errors; [`crate::Error::Internal`] without randomness or
    /// for a stored key shorter than 32 bytes.
    pub async fn shared(store: &dyn Store, now: i64) -> crate::Result<Self> {
        use secrecy::ExposeSecret as _;
        let mut fresh = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut fresh).map_err(|_| {
            crate::Error::internal_msg("making the audit name key", "no randomness")
        })?;
        let secret = store
            .instance_secret(
                UNKNOWN_NAME_SECRET,
                &secrecy::SecretBox::new(Box::new(fresh)),
                now,
            )
            .await?;
        if secret.expose_secret().len() < 32 {
            return Err(crate::Error::internal_msg(
                "reading the audit name key",
                "the stored key is shorter than 32 bytes",
            ));
        }
        Ok(Self::new(secret.expose_secret()))
    }

    /// The subject standing for `login`: [`Self::PREFIX`] and the first 16
    /// bytes of the HMAC of the name folded as logins are matched (so
    /// `Mallory` and `mallory` agree), in hex.
    #[must_use]
    pub fn subject(&self, login: &str) -> String {
        let tag = aws_lc_rs::hmac::sign(&self.key, crate::user::login_key(login).as_bytes());
        let mut out = String::from(Self::PREFIX);
        for byte in &tag.as_ref()[..16] {
            let _ = write!(out, "{byte:02x}");
        }
        out
    }
}

/// Longest subject stored, in characters (a login name as presented may be 320 bytes).
pub const MAX_SUBJECT_CHARS: usize = 64;
/// Longest detail stored, in characters.
pub const MAX_DETAIL_CHARS: usize = 200;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditEvent {
    /// A login attempt (success or failure).
    Login,
    /// A login refused by throttling before the password was checked.
    LoginThrottled,
    /// A session ended by its user.
    Logout,
    /// All of a user's sessions ended by that user.
    LogoutAll,
    /// An administrator ended a user's sessions (or was refused).
    SessionsRevoked,
    /// A spent refresh token was presented again; its session was revoked.
    RefreshReuse,
    /// A user's password was set.
    PasswordChanged,
    /// A user's imported hash (Django's) was replaced by Argon2id at their
    /// first successful login; the detail names the old hasher, never the hash.
    PasswordUpgraded,
    /// A user was created.
    UserCreated,
    /// A user was disabled.
    UserDisabled,
    /// A user was enabled.
    UserEnabled,
    /// A user's roles were replaced.
    RolesChanged,
    /// A user's email was replaced or removed.
    EmailChanged,
    /// A user was deleted.
    UserDeleted,
    /// A user was created or updated by `authd import django`.
    UserImported,
    /// An administrator cleared failed-login counts (`authd user unlock`).
    LoginUnlocked,
    /// A new signing key was published (by `keys rotate` or the schedule).
    KeyPublished,
    /// A published key started signing; the old one became previous.
    KeyPromoted,
    /// A previous key was retired and its private key wiped.
    KeyRetired,
    /// A service account was created.
    ServiceAccountCreated,
    /// A service account's client secret was replaced.
    ServiceAccountSecretRotated,
    /// A service account was deleted.
    ServiceAccountDeleted,
    /// A service account asked for a token (success, failure or throttled).
    ServiceToken,
    /// Exported rows older than a time were removed (`authd audit purge`).
    AuditPurged,
}

impl AuditEvent {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Login => "login",
            Self::LoginThrottled => "login_throttled",
            Self::Logout => "logout",
            Self::LogoutAll => "logout_all",
            Self::SessionsRevoked => "sessions_revoked",
            Self::RefreshReuse => "refresh_reuse",
            Self::PasswordChanged => "password_changed",
            Self::PasswordUpgraded => "password_upgraded",
            Self::UserCreated => "user_created",
            Self::UserDisabled => "user_disabled",
            Self::UserEnabled => "user_enabled",
            Self::RolesChanged => "roles_changed",
            Self::EmailChanged => "email_changed",
            Self::UserDeleted => "user_deleted",
            Self::UserImported => "user_imported",
            Self::LoginUnlocked => "login_unlocked",
            Self::KeyPublished => "key_published",
            Self::KeyPromoted => "key_promoted",
            Self::KeyRetired => "key_retired",
            Self::ServiceAccountCreated => "service_account_created",
            Self::ServiceAccountSecretRotated => "service_account_secret_rotated",
            Self::ServiceAccountDeleted => "service_account_deleted",
            Self::ServiceToken => "service_token",
            Self::AuditPurged => "audit_purged",
        }
    }
}

/// How it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// It was done.
    Success,
    /// It was attempted and failed (e.g. a wrong password).
    Failure,
    /// It was refused for lack of permission, or as a defence (token reuse).
    Denied,
    /// It was refused by rate limiting.
    Throttled,
}

impl Outcome {
    /// The stored name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Failure => "failure",
            Self::Denied => "denied",
            Self::Throttled => "throttled",
        }
    }
}

/// One event to record, built with intent-named setters that clean their input.
#[derive(Debug, Clone)]
pub struct AuditRecord {
    entry: NewAuditEntry,
}

impl AuditRecord {
    /// An `event` with `outcome` at `now` (Unix seconds), about nobody yet.
    #[must_use]
    pub fn new(event: AuditEvent, outcome: Outcome, now: i64) -> Self {
        Self {
            entry: NewAuditEntry {
                at: now,
                event: event.as_str().to_owned(),
                user_id: None,
                subject: String::new(),
                client_addr: None,
                outcome: outcome.as_str().to_owned(),
                detail: String::new(),
            },
        }
    }

    /// About `user`: their id, with their username as the subject.
    #[must_use]
    pub fn user(self, user: &User) -> Self {
        self.user_id(&user.id).subject(&user.username)
    }

    /// About the user with this id.
    #[must_use]
    pub fn user_id(mut self, id: &str) -> Self {
        self.entry.user_id = Some(clean(id, MAX_SUBJECT_CHARS));
        self
    }

    /// The subject: a username (as presented, for failed logins) or a key id;
    /// truncated to [`MAX_SUBJECT_CHARS`], control and format characters and
    /// line and paragraph separators replaced.
    #[must_use]
    pub fn subject(mut self, subject: &str) -> Self {
        self.entry.subject = clean(subject, MAX_SUBJECT_CHARS);
        self
    }

    /// The client's address, if known.
    #[must_use]
    pub fn client_addr(mut self, addr: Option<&str>) -> Self {
        self.entry.client_addr = addr.map(|a| clean(a, MAX_SUBJECT_CHARS));
        self
    }

    /// A short explanation; never pass a secret. Truncated to [`MAX_DETAIL_CHARS`].
    #[must_use]
    pub fn detail(mut self, detail: &str) -> Self {
        self.entry.detail = clean(detail, MAX_DETAIL_CHARS);
        self
    }

    /// The row to append.
    #[must_use]
    pub fn entry(&self) -> &NewAuditEntry {
        &self.entry
    }
}

/// Appends `record` to the audit log. A failure is logged at `warn` (with
/// the event, never the row's free text) and otherwise swallowed: see the
/// module documentation for why the action it records is not failed.
pub async fn record(store: &dyn Store, record: AuditRecord) {
    let AuditRecord { entry } = record;
    if let Err(e) = store.append_audit(&entry).await {
        tracing::warn!(
            error = %e,
            event = %entry.event,
            outcome = %entry.outcome,
            "could not write the audit log; the action itself went ahead"
        );
    }
}

/// At most `max` characters of `s`, with every character that could make a
/// line display as something it is not replaced by `?`: control characters
/// (newlines, escape sequences), format characters (category Cf: the
/// bidirectional overrides such as U+202E, zero-width spaces, U+FEFF) and the
/// line and paragraph separators U+2028 and U+2029 (categories Zl and Zp,
/// one character each). An ellipsis marks a cut.
fn clean(s: &str, max: usize) -> String {
    let mut out: String = s
        .chars()
        .take(max)
        .map(|c| if misleads_on_screen(c) { '?' } else { c })
        .collect();
    if s.chars().nth(max).is_some() {
        out.pop();
        out.push('…');
    }
    out
}

/// Whether `c` is replaced by [`clean`]. The format-character table is
/// [`validate`]'s, the one that refuses them on input.
fn misleads_on_screen(c: char) -> bool {
    c.is_control() || validate::is_format(c) || validate::is_line_separator(c)
}

/// `at` (Unix seconds) as RFC 3339 UTC, e.g. `2026-11-29T05:04:14Z`.
#[must_use]
pub fn rfc3339(at: i64) -> String {
    let days = at.div_euclid(86_400);
    let secs = at.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`), in `i64` throughout so nothing is cast.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// One line for a terminal: time, event, subject, address, outcome, detail,
/// separated by two spaces; `-` for what is unknown. Text is cleaned again
/// here, in case a row was written by something other than authd.
#[must_use]
pub fn render_line(entry: &AuditEntry) -> String {
    let subject = match (entry.subject.as_str(), entry.user_id.as_deref()) {
        ("", Some(id)) => clean(id, MAX_SUBJECT_CHARS),
        ("", None) => "-".to_owned(),
        (subject, _) => clean(subject, MAX_SUBJECT_CHARS),
    };
    let mut line = format!(
        "{}  {:<16}  {:<24}  {:<15}  {:<9}",
        rfc3339(entry.at),
        clean(&entry.event, 32),
        subject,
        entry
            .client_addr
            .as_deref()
            .map_or_else(|| "-".to_owned(), |a| clean(a, MAX_SUBJECT_CHARS)),
        clean(&entry.outcome, 16),
    );
    if !entry.detail.is_empty() {
        let _ = write!(line, "  {}", clean(&entry.detail, MAX_DETAIL_CHARS));
    }
    line.trim_end().to_owned()
}

/// One JSON object (one line): every column, plus `time` in RFC 3339 UTC.
#[must_use]
pub fn render_json(entry: &AuditEntry) -> String {
    serde_json::json!({
        "id": entry.id,
        "time": rfc3339(entry.at),
        "at": entry.at,
        "event": entry.event,
        "user_id": entry.user_id,
        "subject": entry.subject,
        "client_addr": entry.client_addr,
        "outcome": entry.outcome,
        "detail": entry.detail,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_name_is_digested_alike_for_alike_names_and_apart_under_another_key() {
        let digests = NameDigests::new(&[7; 32]);
        let subject = digests.subject("Hunter2-Password!");
        assert!(subject.starts_with(NameDigests::PREFIX));
        assert_eq!(subject.len(), NameDigests::PREFIX.len() + 32);
        assert!(!subject.to_lowercase().contains("hunter2"));
        assert_eq!(subject, digests.subject("hunter2-password!"));
        assert_ne!(subject, digests.subject("hunter3-password!"));
        assert_ne!(
            subject,
            NameDigests::new(&[8; 32]).subject("Hunter2-Password!")
        );
        assert!(subject.len() <= MAX_SUBJECT_CHARS);
    }

    #[test]
    fn times_render_as_rfc3339_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(-1), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(rfc3339(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn free_text_is_truncated_and_stripped_of_control_characters() {
        let long = "a".repeat(400);
        let record = AuditRecord::new(AuditEvent::Login, Outcome::Failure, 0)
            .subject(&long)
            .detail("line one\nline two\u{1b}[31m");
        assert_eq!(record.entry().subject.chars().count(), MAX_SUBJECT_CHARS);
        assert!(record.entry().subject.ends_with('…'));
        assert_eq!(record.entry().detail, "line one?line two?[31m");
        assert_eq!(clean("short", 64), "short");
    }

    #[test]
    fn format_characters_and_line_and_paragraph_separators_are_escaped_like_control_characters() {
        // A row written by something other than authd, so only rendering cleans it.
        let entry = AuditEntry {
            id: 1,
            at: 0,
            event: "login".to_owned(),
            user_id: None,
            subject: "eve\u{202e}sseccus\u{2028}x".to_owned(),
            client_addr: Some("10.0.0.1\u{200b}".to_owned()),
            outcome: "failure\u{2029}".to_owned(),
            detail: "\u{feff}no such user\u{2066}".to_owned(),
        };
        let line = render_line(&entry);
        assert!(line.contains(" eve?sseccus?x "), "{line:?}");
        assert!(line.contains(" 10.0.0.1? "), "{line:?}");
        assert!(line.contains(" failure? "), "{line:?}");
        assert!(line.ends_with("?no such user?"), "{line:?}");
        for c in [
            '\u{202e}', '\u{2028}', '\u{2029}', '\u{200b}', '\u{feff}', '\u{2066}',
        ] {
            assert!(!line.contains(c), "U+{:04X} in {line:?}", u32::from(c));
        }
        // And when written: the stored subject is cleaned the same way.
        let record = AuditRecord::new(AuditEvent::Login, Outcome::Failure, 0)
            .subject("admin\u{202e}\u{2029}");
        assert_eq!(record.entry().subject, "admin??");
        // Visible non-ASCII text is kept.
        assert_eq!(clean("Zoë 東京", 64), "Zoë 東京");
    }

    #[test]
    fn a_line_shows_time_event_subject_address_outcome_and_detail() {
        let entry = AuditEntry {
            id: 7,
            at: 1_700_000_000,
            event: "login".to_owned(),
            user_id: None,
            subject: "mallory\r\n".to_owned(),
            client_addr: Some("127.0.0.1".to_owned()),
            outcome: "failure".to_owned(),
            detail: "no such user".to_owned(),
        };
        let line = render_line(&entry);
        assert!(line.starts_with("2023-11-14T22:13:20Z  login "), "{line}");
        assert!(line.contains("mallory??"), "{line}");
        assert!(line.contains("127.0.0.1"), "{line}");
        assert!(line.ends_with("failure    no such user"), "{line}");
        assert!(!line.contains('\n'));
        let json: serde_json::Value = serde_json::from_str(&render_json(&entry)).unwrap();
        assert_eq!(json["time"], "2023-11-14T22:13:20Z");
        assert_eq!(json["id"], 7);
        assert_eq!(json["user_id"], serde_json::Value::Null);
    }
}
