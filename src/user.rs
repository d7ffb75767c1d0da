//! The user model and the rules for its fields.
//!
//! Usernames, emails and roles are validated here, once, for every entry
//! point (gRPC and CLI). Uniqueness ignores case: the store indexes the
//! lower-cased forms returned by [`username_key`] and [`email_key`], computed
//! in Rust so PostgreSQL and SQLite agree exactly.

use crate::error::{Error, Result};

/// The role that lets a token read any user.
pub const ADMIN_ROLE: &str = "admin";

/// Longest username, in bytes.
pub const MAX_USERNAME_LEN: usize = 64;
/// Longest email address, in bytes.
pub const MAX_EMAIL_LEN: usize = 254;
/// Longest external id, in bytes (a Django primary key as text: an integer
/// or a UUID, far shorter).
pub const MAX_EXTERNAL_ID_LEN: usize = 128;

/// A user account as authd stores it, minus the password hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable id (a UUID), the `sub` of the user's tokens.
    pub id: String,
    /// Username as registered.
    pub username: String,
    /// Email address as registered, if any.
    pub email: Option<String>,
    /// False once disabled.
    pub active: bool,
    /// Granted roles, sorted and unique.
    pub roles: Vec<String>,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Last successful login, Unix seconds.
    pub last_login_at: Option<i64>,
    /// The user's id in the system they were imported from (a Django
    /// project's `auth_user` primary key, as text); `None` for users made in
    /// authd. Unique when set; the `ext` claim of their access tokens.
    pub external_id: Option<String>,
}

impl User {
    /// Whether the user holds `role`.
    #[must_use]
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.iter().any(|r| r == role)
    }
}

/// Checks a username: 1 to 64 characters from `A-Z a-z 0-9 . _ -`, starting
/// with a letter or digit. No `@`, so a login name is never ambiguous between
/// a username and an email.
///
/// # Errors
/// [`Error::InvalidArgument`] on the `username` field.
pub fn validate_username(username: &str) -> Result<()> {
    if username.is_empty() {
        return Err(Error::invalid("username", "must not be empty"));
    }
    if username.len() > MAX_USERNAME_LEN {
        return Err(Error::invalid(
            "username",
            format!("must be at most {MAX_USERNAME_LEN} characters"),
        ));
    }
    let mut chars = username.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !(first_ok && rest_ok) {
        return Err(Error::invalid(
            "username",
            "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit",
        ));
    }
    Ok(())
}

/// Checks an email address: one `@` with text on both sides, no spaces or
/// control characters, at most 254 bytes. Deliverability is not checked.
///
/// # Errors
/// [`Error::InvalidArgument`] on the `email` field.
pub fn validate_email(email: &str) -> Result<()> {
    let ok = email.len() <= MAX_EMAIL_LEN
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && matches!(email.split_once('@'), Some((local, domain))
            if !local.is_empty() && !domain.is_empty() && !domain.contains('@'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "email",
            "must look like name@example.com (at most 254 bytes)",
        ))
    }
}

/// Checks an external id: 1 to 128 bytes of printable ASCII (no spaces), so
/// it sits in a token claim and a log line as it is.
///
/// # Errors
/// [`Error::InvalidArgument`] on the `external_id` field.
pub fn validate_external_id(external_id: &str) -> Result<()> {
    if external_id.is_empty() || external_id.len() > MAX_EXTERNAL_ID_LEN {
        return Err(Error::invalid(
            "external_id",
            format!("must be 1 to {MAX_EXTERNAL_ID_LEN} bytes"),
        ));
    }
    if !external_id.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::invalid(
            "external_id",
            "may contain only printable ASCII characters, no spaces",
        ));
    }
    Ok(())
}

/// Checks and normalises a role list: each role 1 to 64 characters of
/// `a-z 0-9 . _ : -`, starting with a letter; the result is sorted and unique.
///
/// # Errors
/// [`Error::InvalidArgument`] on the `role` field.
pub fn normalize_roles<I, S>(roles: I) -> Result<Vec<String>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let mut out = Vec::new();
    for role in roles {
        let role = role.as_ref();
        let mut chars = role.chars();
        let ok = role.len() <= 64
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| {
                c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | ':' | '-')
            });
        if !ok {
            return Err(Error::invalid(
                "role",
                format!(
                    "`{}` is not a role name: use lower-case letters, digits, '.', '_', ':' and '-', starting with a letter",
                    role.escape_debug()
                ),
            ));
        }
        out.push(role.to_owned());
    }
    out.sort();
    out.dedup();
    Ok(out)
}

/// The role named like `name` (for example a Django group's name): trimmed,
/// lower-cased, each run of spaces made one `_`, then held to the role rules
/// of [`normalize_roles`]. `Content Editors` becomes `content_editors`.
///
/// # Errors
/// [`Error::InvalidArgument`] on the `role` field when the result still is
/// no role name (other punctuation, non-ASCII letters, a leading digit, more
/// than 64 characters); the message names the original.
pub fn role_from_name(name: &str) -> Result<String> {
    let words: Vec<String> = name.split_whitespace().map(str::to_lowercase).collect();
    let role = words.join("_");
    match normalize_roles([&role]) {
        Ok(mut roles) if roles.len() == 1 => Ok(roles.remove(0)),
        _ => Err(Error::invalid(
            "role",
            format!(
                "`{}` cannot be a role name, even lower-cased with `_` for spaces: a role is 1 to 64 \
                 of `a-z 0-9 . _ : -`, starting with a letter",
                name.escape_debug()
            ),
        )),
    }
}

/// The case-insensitive uniqueness key of a username.
#[must_use]
pub fn username_key(username: &str) -> String {
    username.to_ascii_lowercase()
}

/// The key a login name (a username or an email) is looked up by: folded
/// to lower case, matching [`username_key`] and [`email_key`] alike. Login
/// throttling counts failures under the same key, so the two cannot drift.
#[must_use]
pub fn login_key(login: &str) -> String {
    login.to_lowercase()
}

/// The case-insensitive uniqueness key of an email address.
#[must_use]
pub fn email_key(email: &str) -> String {
    email.to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_documented_alphabet() {
        for ok in ["alice", "Bob_2", "a", "x.y-z", &"a".repeat(64)] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-alice",
            "al ice",
            "alice@example.com",
            "ålice",
            "a\0b",
            &"a".repeat(65),
        ] {
            assert!(validate_username(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_need_one_at_sign_and_no_spaces() {
        assert!(validate_email("alice@example.com").is_ok());
        for bad in ["alice", "@example.com", "alice@", "a b@c", "a@b@c"] {
            assert!(validate_email(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn roles_are_validated_sorted_and_deduplicated() {
        assert_eq!(
            normalize_roles(["viewer", "admin", "viewer"]).unwrap(),
            vec!["admin".to_owned(), "viewer".to_owned()]
        );
        assert!(normalize_roles(["Admin"]).is_err());
        assert!(normalize_roles(["a b"]).is_err());
        assert!(normalize_roles([""]).is_err());
    }

    #[test]
    fn names_become_roles_lower_cased_with_underscores() {
        assert_eq!(role_from_name("Editors").unwrap(), "editors");
        assert_eq!(
            role_from_name(" Content  Editors ").unwrap(),
            "content_editors"
        );
        assert_eq!(role_from_name("billing:read").unwrap(), "billing:read");
        for bad in ["", "   ", "Rédacteurs", "1st-line", "a/b", &"a".repeat(65)] {
            assert!(role_from_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn external_ids_are_short_printable_ascii() {
        for ok in ["1", "42", "7f0c9d1e-2b3a-4c5d-8e9f-0a1b2c3d4e5f"] {
            assert!(validate_external_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a b", "a\0", "é", &"1".repeat(129)] {
            assert!(validate_external_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn uniqueness_keys_ignore_case() {
        assert_eq!(username_key("Alice"), username_key("aLICE"));
        assert_eq!(email_key("Alice@Example.COM"), "alice@example.com");
    }
}
