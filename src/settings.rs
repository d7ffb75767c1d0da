//! The value parsers and checks the owners' settings groups share: durations
//! and integers in a range, values that can be `off`, secrets, and a group's
//! defaults.
//!
//! A leaf: owners import it; it must not import them, nor `config`, which
//! attributes an [`Invalid`] to where the value came from.

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
    let command = T::augment_args(clap::Command::new("defaults"))
        .mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command.try_get_matches_from(["defaults"]);
    T::from_arg_matches(&matches.expect("the defaults parse")).expect("the defaults parse")
}

/// Parses `250ms`, `30s`, `15m`, `1h`, `7d`, or a bare number of seconds.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let (number, unit) = text.split_at(
        text.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(text.len()),
    );
    let n: u64 = number.parse().ok()?;
    let millis = match unit.trim() {
        "ms" => Some(n),
        "" | "s" => n.checked_mul(1000),
        "m" => n.checked_mul(60_000),
        "h" => n.checked_mul(3_600_000),
        "d" => n.checked_mul(86_400_000),
        _ => None,
    }?;
    Some(Duration::from_millis(millis))
}

/// A value parser for a duration from `min` to `max` (both written as the
/// user would, `"100ms"`, `"30d"`).
pub fn duration(
    min: &'static str,
    max: &'static str,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    let (low, high) = (
        parse_duration(min).unwrap_or_default(),
        parse_duration(max).unwrap_or_default(),
    );
    move |text| match parse_duration(text) {
        Some(value) if (low..=high).contains(&value) => Ok(value),
        Some(_) => Err(format!("{text} is out of range ({min} to {max})")),
        None => Err(format!(
            "`{text}` is not a duration; use a number with ms, s, m, h or d, e.g. 15m"
        )),
    }
}

/// A value parser for a whole number from `min` to `max`.
pub fn int<T>(min: T, max: T) -> impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static
where
    T: FromStr + PartialOrd + Display + Copy + Send + Sync + 'static,
{
    move |text| match text.trim().parse::<T>() {
        Ok(value) if (min..=max).contains(&value) => Ok(value),
        _ => Err(format!("must be between {min} and {max}")),
    }
}

/// A value parser for `off` or what `inner` parses.
pub fn or_off<T>(
    inner: impl Fn(&str) -> Result<T, String> + Clone + Send + Sync + 'static,
) -> impl Fn(&str) -> Result<OrOff<T>, String> + Clone + Send + Sync + 'static {
    move |text| {
        if text.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        inner(text).map(Some).map_err(|e| format!("{e}, or off"))
    }
}

/// A value parser for a string that is not blank.
///
/// # Errors
/// For a blank string.
pub fn non_empty(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        return Err("must not be empty".to_owned());
    }
    Ok(text.to_owned())
}

/// Reads a `*_FILE` secret (trailing newline ignored) straight into a secret type.
///
/// # Errors
/// `key`, and why, when the file cannot be read.
pub fn read_secret_file(path: &Path, key: &'static str) -> Checked<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(SecretString::from(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        )),
        Err(e) => invalid(key, format!("cannot read {}: {e}", path.display())),
    }
}

/// A secret of at least 32 bytes given by value (`key`) or in a file
/// (`file_key`); a short one is blamed on the setting it came from.
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
        return invalid(
            from,
            "is shorter than 32 bytes; generate one with `head -c 48 /dev/urandom | base64`",
        );
    }
    Ok(Some(Arc::new(SecretBox::new(Box::new(
        secret.expose_secret().as_bytes().to_vec(),
    )))))
}
