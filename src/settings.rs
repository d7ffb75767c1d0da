//! The value parsers and checks that the settings groups of every owner
//! share: durations and integers in a range, secrets, values that can be
//! `off`, and the defaults of a group.
//!
//! A leaf: owners (`token`, `password`, `store`, ...) import it to declare
//! their settings; it must not import them, nor `config`, which layers the
//! sources and attributes a failure ([`Invalid`]) to where its value came from.

use std::fmt::Display;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretBox, SecretString};

/// A check of settings that failed: the file key to blame and how to fix it.
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
pub fn invalid<T>(key: &'static str, message: impl Into<String>) -> Checked<T> {
    Err(Invalid {
        key,
        message: message.into(),
    })
}

/// A setting that can also be `off` (`None`). An alias rather than
/// `Option`, so clap takes it as one value with a default instead of an
/// optional argument.
pub type OrOff<T> = Option<T>;

/// The defaults of a settings group: an empty command line with every
/// `AUTHD_*` variable ignored, so a default is written only in its `#[arg]`.
///
/// # Panics
/// If a group's own default does not parse; `every_default_parses` (in
/// `config`'s tests) makes sure none does.
#[must_use]
#[allow(clippy::expect_used)] // a default that does not parse is a bug the tests catch
pub fn defaults<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults"))
        .mut_args(|arg| arg.env(None::<&'static str>));
    let matches = command
        .try_get_matches_from(["defaults"])
        .expect("the defaults parse");
    T::from_arg_matches(&matches).expect("the defaults parse")
}

/// Parses `250ms`, `30s`, `15m`, `1h`, `7d`, or a bare number of seconds.
#[must_use]
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
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

/// A value parser for a duration between `min` and `max`.
pub fn duration(
    min: Duration,
    max: Duration,
) -> impl Fn(&str) -> Result<Duration, String> + Clone + Send + Sync + 'static {
    move |text| {
        let value = parse_duration(text).ok_or_else(|| {
            format!("`{text}` is not a duration; use a number with ms, s, m, h or d, e.g. 15m")
        })?;
        if (min..=max).contains(&value) {
            Ok(value)
        } else {
            Err(format!("{text} is out of range ({min:?} to {max:?})"))
        }
    }
}

/// A value parser for a whole number between `min` and `max`.
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
            Ok(None)
        } else {
            inner(text).map(Some).map_err(|e| format!("{e}, or off"))
        }
    }
}

/// A value parser for a string that is not blank.
///
/// # Errors
/// For a blank string.
pub fn non_empty(text: &str) -> Result<String, String> {
    if text.trim().is_empty() {
        Err("must not be empty".to_owned())
    } else {
        Ok(text.to_owned())
    }
}

/// A value parser for a secret: a [`SecretString`] from the moment it is read.
///
/// # Errors
/// Never.
#[must_use = "a parser's result is the value"]
pub fn secret(text: &str) -> Result<SecretString, std::convert::Infallible> {
    Ok(SecretString::from(text.to_owned()))
}

/// Reads a `*_FILE` secret (trailing newline ignored) straight into a secret type.
///
/// # Errors
/// `key` and the reason when the file cannot be read.
pub fn read_secret_file(path: &Path, key: &'static str) -> Checked<SecretString> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(SecretString::from(
            text.trim_end_matches(['\r', '\n']).to_owned(),
        )),
        Err(e) => invalid(key, format!("cannot read {}: {e}", path.display())),
    }
}

/// A secret given by value (`key`) or in a file (`file_key`), at least 32
/// bytes; a short one is blamed on the setting it came from.
///
/// # Errors
/// An unreadable file or a short secret.
pub fn long_secret(
    value: Option<&SecretString>,
    file: Option<&Path>,
    key: &'static str,
    file_key: &'static str,
) -> Checked<Option<std::sync::Arc<SecretBox<Vec<u8>>>>> {
    let (secret, from) = match (value, file) {
        (Some(value), _) => (value.clone(), key),
        (None, Some(path)) => (read_secret_file(path, file_key)?, file_key),
        (None, None) => return Ok(None),
    };
    if secret.expose_secret().len() < 32 {
        return invalid(
            from,
            "is shorter than 32 bytes; generate one with `head -c 48 /dev/urandom | base64`",
        );
    }
    let bytes = secret.expose_secret().as_bytes().to_vec();
    Ok(Some(std::sync::Arc::new(SecretBox::new(Box::new(bytes)))))
}
