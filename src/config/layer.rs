//! Layering: the TOML file becomes the defaults of the command line, and
//! every value remembers where it came from.
//!
//! clap already orders flags over `AUTHD_*` variables over defaults, so the
//! file's values are installed as the defaults of the arguments whose id is
//! the file key (`Arg::default_values`), on every (sub)command that has one,
//! before parsing. That gives defaults < file < env < flags with one parser,
//! and `ArgMatches::value_source` plus the file's spans say where a value
//! came from. A key that no command knows is refused with its line; a key
//! another command uses is ignored by this one.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use clap::parser::ValueSource;

/// Where a setting's value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// The config file, at this line and column (1-based).
    File {
        /// The file as given to `--config`.
        path: PathBuf,
        /// Line of the value.
        line: usize,
        /// Column of the value.
        column: usize,
    },
    /// The named environment variable.
    Env(String),
    /// The command-line flag.
    Flag,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File { path, line, column } => {
                write!(f, "set in {}:{line}:{column}", path.display())
            }
            Self::Env(name) => write!(f, "set by the environment variable {name}"),
            Self::Flag => write!(f, "set by the command-line flag"),
        }
    }
}

/// Where each explicitly set value came from, by file key; settings left
/// at their default have no entry.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    sources: BTreeMap<String, Source>,
}

impl Sources {
    /// Where `key` (`access_token_ttl` or `access-token-ttl`) was set, if it was.
    #[must_use]
    pub fn of(&self, key: &str) -> Option<&Source> {
        self.sources.get(&key.replace('-', "_"))
    }

    /// `checked`, its failure blamed on its key and that value's source.
    ///
    /// # Errors
    /// [`Error::Config`] from [`Self::bad`] when `checked` failed.
    pub fn attribute<T>(&self, checked: crate::settings::Checked<T>) -> Result<T> {
        checked.map_err(|invalid| self.bad(invalid.key, &invalid.message))
    }

    /// A configuration error about `key`: its flag, variable and file key,
    /// where its value came from, and `message` (which says how to fix it).
    #[must_use]
    pub fn bad(&self, key: &str, message: &str) -> Error {
        let key = key.replace('-', "_");
        let flag = key.replace('_', "-");
        let env = format!("AUTHD_{}", key.to_ascii_uppercase());
        let from = self
            .of(&key)
            .map(|source| format!(", {source}"))
            .unwrap_or_default();
        Error::Config(format!(
            "invalid configuration --{flag} (env {env}, file key {key}){from}: {message}"
        ))
    }
}

/// The values of a config file, with where each one is.
#[derive(Debug, Clone, Default)]
pub struct FileValues {
    path: PathBuf,
    /// Key, its values as command-line text, and line and column.
    entries: Vec<(String, Vec<String>, usize, usize)>,
}

impl FileValues {
    /// Reads and parses `path`.
    ///
    /// # Errors
    /// [`Error::Config`] for an unreadable file, a syntax error (with its
    /// line and column) or a value that is not a string, number, boolean
    /// or array of those.
    pub fn read(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::Config(format!(
                "cannot read config file {}: {e}; check --config / AUTHD_CONFIG",
                path.display()
            ))
        })?;
        Self::parse(path, &text)
    }

    fn parse(path: &Path, text: &str) -> Result<Self> {
        use toml::de::{DeTable, DeValue};
        let at = |offset: usize| {
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            (line, column)
        };
        let table = DeTable::parse(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |span| at(span.start));
            Error::Config(format!(
                "config file {}:{line}:{column} is not valid TOML: {}",
                path.display(),
                e.message().trim_end()
            ))
        })?;
        let scalar = |value: &DeValue<'_>| match value {
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Integer(i) => Some(i.as_str().replace('_', "")),
            DeValue::Float(f) => Some(f.as_str().to_owned()),
            DeValue::Boolean(b) => Some(b.to_string()),
            _ => None,
        };
        let mut entries = Vec::new();
        for (key, value) in table.get_ref() {
            let (line, column) = at(value.span().start);
            let values = match value.get_ref() {
                DeValue::Array(items) => items.iter().map(|v| scalar(v.get_ref())).collect(),
                other => scalar(other).map(|v| vec![v]),
            };
            let values = values.ok_or_else(|| {
                Error::Config(format!(
                    "config file {}:{line}:{column}: `{}` must be a string, number, boolean \
                     or a list of those",
                    path.display(),
                    key.get_ref()
                ))
            })?;
            entries.push((key.get_ref().to_string(), values, line, column));
        }
        Ok(Self {
            path: path.to_owned(),
            entries,
        })
    }

    /// Installs the file's values as defaults on every (sub)command of
    /// `command` that has an argument with the key as its id.
    ///
    /// # Errors
    /// [`Error::Config`] naming a key no command knows, with its line.
    pub fn apply(&self, mut command: clap::Command) -> Result<clap::Command> {
        for (key, values, line, column) in &self.entries {
            // `config` names the file itself; a file cannot point elsewhere.
            if key == "config" || !knows(&command, key) {
                return Err(Error::Config(format!(
                    "config file {}:{line}:{column}: unknown key `{key}`; the keys are the \
                     flag names with `_` for `-` (see `authd serve --help`)",
                    self.path.display()
                )));
            }
            command = set_default(command, key, values);
        }
        Ok(command)
    }

    /// Where `key` is in the file, if it is there.
    fn source(&self, key: &str) -> Option<Source> {
        self.entries
            .iter()
            .find(|(k, ..)| k == key)
            .map(|(_, _, line, column)| Source::File {
                path: self.path.clone(),
                line: *line,
                column: *column,
            })
    }

    /// The sources of the settings of `command` as parsed into `matches`.
    #[must_use]
    pub fn sources(&self, command: &clap::Command, matches: &clap::ArgMatches) -> Sources {
        let mut sources = BTreeMap::new();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            let source = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => Some(Source::Flag),
                Some(ValueSource::EnvVariable) => arg
                    .get_env()
                    .map(|name| Source::Env(name.to_string_lossy().into_owned())),
                Some(ValueSource::DefaultValue) => self.source(id),
                _ => None,
            };
            if let Some(source) = source {
                sources.insert(id.to_owned(), source);
            }
        }
        Sources { sources }
    }
}

impl FileValues {
    /// clap's refusal of a value, as a configuration error naming the key,
    /// where the value came from (the flag if it is in `args`, else the
    /// variable if it is set, else the file) and the value parser's fix.
    ///
    /// # Errors
    /// Any other clap error (usage, `--help`) is handed back unchanged.
    pub fn explain(
        &self,
        command: &clap::Command,
        args: &[std::ffi::OsString],
        error: clap::Error,
    ) -> std::result::Result<Error, clap::Error> {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        if !matches!(
            error.kind(),
            ErrorKind::ValueValidation | ErrorKind::InvalidValue
        ) {
            return Err(error);
        }
        let long = match error.get(ContextKind::InvalidArg) {
            Some(ContextValue::String(arg)) => arg
                .trim_start_matches('-')
                .split([' ', '='])
                .next()
                .unwrap_or_default()
                .to_owned(),
            _ => return Err(error),
        };
        let Some(arg) = find(command, &long) else {
            return Err(error);
        };
        let key = arg.get_id().as_str().to_owned();
        let flag = format!("--{long}");
        let env = arg
            .get_env()
            .filter(|name| std::env::var_os(name).is_some());
        let source = if args.iter().any(|a| {
            let a = a.to_string_lossy();
            a == flag || a.starts_with(&format!("{flag}="))
        }) {
            Some(Source::Flag)
        } else if let Some(name) = env {
            Some(Source::Env(name.to_string_lossy().into_owned()))
        } else {
            self.source(&key)
        };
        let message = match std::error::Error::source(&error) {
            Some(cause) => cause.to_string(),
            None => match error.get(ContextKind::ValidValue) {
                Some(ContextValue::Strings(valid)) => match error.get(ContextKind::InvalidValue) {
                    Some(ContextValue::String(value)) => {
                        format!("`{value}` is not one of {}", valid.join(", "))
                    }
                    _ => format!("use one of {}", valid.join(", ")),
                },
                _ => return Err(error),
            },
        };
        let sources = Sources {
            sources: source.map(|s| (key.clone(), s)).into_iter().collect(),
        };
        Ok(sources.bad(&key, &message))
    }
}

/// The argument with long flag `long` on `command` or a subcommand.
fn find<'a>(command: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| command.get_subcommands().find_map(|sub| find(sub, long)))
}

/// `authd --config FILE migrate` as `authd migrate --config FILE`: settings
/// before the subcommand move after it, if the subcommand takes them all
/// (main accepted both orders).
#[must_use]
pub fn settings_after_subcommand(
    command: &clap::Command,
    mut args: Vec<std::ffi::OsString>,
) -> Vec<std::ffi::OsString> {
    let long = |arg: &std::ffi::OsString| {
        let text = arg.to_string_lossy();
        let name = text.strip_prefix("--")?.split('=').next()?.to_owned();
        Some((name, text.contains('=')))
    };
    let mut at = 1;
    while let Some((name, inline)) = args.get(at).and_then(long) {
        let Some(arg) = command
            .get_arguments()
            .find(|a| a.get_long() == Some(&name))
        else {
            return args;
        };
        at += if !inline && arg.get_action().takes_values() {
            2
        } else {
            1
        };
    }
    let sub = args
        .get(at)
        .and_then(|a| command.find_subcommand(a.to_string_lossy().as_ref()));
    let takes = |sub: &clap::Command| {
        let mut flags = args[1..at.min(args.len())].iter().filter_map(long);
        flags.all(|(name, _)| sub.get_arguments().any(|a| a.get_long() == Some(&name)))
    };
    if at > 1 && sub.is_some_and(takes) {
        args[1..=at].rotate_right(1);
    }
    args
}

fn knows(command: &clap::Command, key: &str) -> bool {
    command.get_arguments().any(|a| a.get_id() == key)
        || command.get_subcommands().any(|sub| knows(sub, key))
}

fn set_default(command: clap::Command, key: &str, values: &[String]) -> clap::Command {
    command
        .mut_args(|arg| {
            if arg.get_id() == key {
                // A secret's value from the file must not show up as the
                // "[default: ...]" of `--help`.
                let secret = arg.is_hide_env_values_set();
                arg.default_values(
                    values
                        .iter()
                        .map(|v| clap::builder::OsStr::from(clap::builder::Str::from(v.clone()))),
                )
                .hide_default_value(secret)
            } else {
                arg
            }
        })
        .mut_subcommands(|sub| set_default(sub, key, values))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_and_unknown_keys_name_the_line_and_column() {
        let path = Path::new("/etc/authd.toml");
        let message = FileValues::parse(path, "listen = \"x\"\nleeway = 1.5.0\n")
            .unwrap_err()
            .to_string();
        assert!(message.contains("/etc/authd.toml:2:"), "{message}");
        let file = FileValues::parse(path, "issuer = \"a\"\n\nno_such_key = 1\n").unwrap();
        let command = clap::Command::new("t").arg(clap::Arg::new("issuer").long("issuer"));
        let message = file.apply(command).unwrap_err().to_string();
        assert!(message.contains("/etc/authd.toml:3:15"), "{message}");
        assert!(message.contains("no_such_key"), "{message}");
    }

    #[test]
    fn integers_and_lists_become_command_line_text() {
        let file = FileValues::parse(
            Path::new("a.toml"),
            "access_token_ttl = 600\nadmin_clients = [\"dns:a\", \"cn:b\"]\nallow_plaintext = true\n",
        )
        .unwrap();
        assert_eq!(file.entries[0].1, vec!["600"]);
        assert_eq!(file.entries[1].1, vec!["dns:a", "cn:b"]);
        assert_eq!(file.entries[2].1, vec!["true"]);
        assert_eq!((file.entries[1].2, file.entries[1].3), (2, 17));
    }
}
