//! The value parsers and checks the owners' settings groups share. A leaf:
//! it must not import the owners, nor `config`, which attributes an
//! [`Invalid`] to where the value came from.

use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretBox, SecretString};

/// A failed check of settings: the file key to blame and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The file key of the setting (`access_token_ttl`).
    pub key: &'static str,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The outcome of a settings check.
pub type Checked<T = ()> = Result<T, Invalid>;

/// A failed check of `key`.
///
/// # Errors
/// Always.
pub fn invalid<T>(key: &'static str, message: impl Into<String>) -> Checked<T> {
    let message = message.into();
    Err(Invalid { key, message })
}

/// A setting that can be `off` (`None`); an alias, not `Option`, so clap
/// takes it as one value with a default rather than an optional argument.
pub type OrOff<T> = Option<T>;

/// The defaults of a settings group: an empty command line with every
/// variable ignored, so each default is written only in its `#[arg]`.
///
/// # Panics
/// If a default does not parse, which `config`'s tests would show.
#[must_use]
#[allow(clippy::expect_used)] // a default that does not parse is a bug the tests catch
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults")).mut_args(|a| a.env(None::<&str>));
    let matches = command.try_get_matches_from(["defaults"]);
    T::from_arg_matches(&matches.expect("the defaults parse")).expect("the defaults parse")
}

/// Parses a bare number of seconds or what humantime reads (`250ms`, `15m`, `1h30m`, `7d`).
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let secs = text.parse().map(Duration::from_secs);
    secs.or_else(|_| humantime::parse_duration(text)).ok()
}

/// A value parser for a duration from `min` to `max` (written as users do: `"100ms"`, `"30d"`).
#[must_use]
pub fn duration(min: &'static str, max: &'static str) -> impl Parser<Duration> {
    let (low, high) = (parse_duration(min), parse_duration(max));
    move |text: &str| match parse_duration(text) {
        Some(value) if (low..=high).contains(&Some(value)) => Ok(value),
        Some(_) => Err(format!("{text} is out of range ({min} to {max})")),
        None => Err(format!("`{text}` is not a duration (e.g. 90s, 15m, 7d)")),
    }
}

/// A value parser for a whole number from `min` to `max`.
#[must_use]
pub fn int<T>(min: T, max: T) -> impl Parser<T>
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |text: &str| match text.trim().parse::<T>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(format!("must be between {min} and {max}")),
    }
}

/// A value parser for `off` or what `inner` parses.
#[must_use]
pub fn or_off<T>(inner: impl Parser<T>) -> impl Parser<OrOff<T>> {
    move |text: &str| match text {
        off if off.eq_ignore_ascii_case("off") => Ok(None),
        _ => inner(text).map(Some).map_err(|e| format!("{e}, or off")),
    }
}

/// What clap takes as a value parser (a closure from text to a value or the fix).
pub trait Parser<T>: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static {}
impl<T, F: Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static> Parser<T> for F {}

/// A value parser for a string that is not blank.
///
/// # Errors
/// For a blank string.
pub fn non_empty(text: &str) -> Result<String, String> {
    let value = Some(text.to_owned()).filter(|text| !text.trim().is_empty());
    value.ok_or_else(|| "must not be empty".to_owned())
}

/// Reads a `*_FILE` secret (trailing newline ignored) straight into a secret type.
///
/// # Errors
/// `key`, and why, when the file cannot be read.
pub fn read_secret_file(path: &Path, key: &'static str) -> Checked<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text.trim_end_matches(['\r', '\n']).into()),
        Err(e) => invalid(key, format!("cannot read {}: {e}", path.display())),
    }
}

/// The secret of at least 32 bytes given by value (`keys.0`) or in a file
/// (`keys.1`), if either is set; a short one is blamed on the setting it came from.
///
/// # Errors
/// An unreadable file or a short secret.
pub fn long_secret(
    value: Option<&SecretString>,
    file: Option<&Path>,
    keys: (&'static str, &'static str),
) -> Checked<Option<Arc<SecretBox<Vec<u8>>>>> {
    let (secret, from) = match (value, file) {
        (Some(value), _) => (value.clone(), keys.0),
        (None, Some(path)) => (read_secret_file(path, keys.1)?, keys.1),
        (None, None) => return Ok(None),
    };
    if secret.expose_secret().len() < 32 {
        let fix = "is shorter than 32 bytes; generate one with `head -c 48 /dev/urandom | base64`";
        return invalid(from, fix);
    }
    let bytes = Box::new(secret.expose_secret().as_bytes().to_vec());
    Ok(Some(Arc::new(SecretBox::new(bytes))))
}
