//! Layering: the TOML file's values become the defaults of the arguments
//! whose id is the key, on every (sub)command that has one, so clap's own
//! order gives defaults < file < env < flags with one parser. Where a value
//! came from is `ArgMatches::value_source` of a parse that accepts every
//! value (so a refused one has a source too) plus the file's spans. A key no
//! command knows is refused with its line; one another command uses is ignored.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::Path;

use clap::parser::ValueSource;
use clap::{Arg, ArgMatches, Command};

use crate::error::{Error, Result};

/// Where each explicitly set value came from (`set in FILE:LINE:COLUMN`,
/// `set by the environment variable AUTHD_...`, `set by the command-line
/// flag`), by file key; settings left at their default have no entry.
#[derive(Debug, Clone, Default)]
pub struct Sources(BTreeMap<String, String>);

impl Sources {
    /// `checked`, its failure blamed on its key and that value's source.
    ///
    /// # Errors
    /// [`Error::Config`] from [`Self::bad`] when `checked` failed.
    pub fn attribute<T>(&self, checked: crate::settings::Checked<T>) -> Result<T> {
        checked.map_err(|invalid| self.bad(invalid.key, &invalid.message))
    }

    /// A configuration error about `key` (a file key): its flag, variable
    /// and file key, where its value came from, and `message` (the fix).
    #[must_use]
    pub fn bad(&self, key: &str, message: &str) -> Error {
        let (flag, env) = (key.replace('_', "-"), key.to_ascii_uppercase());
        let from = self.0.get(key).map_or(String::new(), |s| format!(", {s}"));
        let at = format!("--{flag} (env AUTHD_{env}, file key {key}){from}");
        Error::Config(format!("invalid configuration {at}: {message}"))
    }

    /// clap's refusal of a value of `command`, as [`Self::bad`] with the
    /// value parser's fix.
    ///
    /// # Errors
    /// Any other clap error (usage, `--help`) is handed back unchanged.
    pub fn explain(&self, command: &Command, error: clap::Error) -> Result<Error, clap::Error> {
        use clap::error::{ContextKind, ContextValue, ErrorKind};
        let text = |kind| match error.get(kind) {
            Some(ContextValue::String(text)) => Some(text.as_str()),
            _ => None,
        };
        let long = text(ContextKind::InvalidArg).and_then(|arg| arg.strip_prefix("--"));
        let arg = long.and_then(|long| find(command, long.split([' ', '=']).next()?));
        let (Some(arg), ErrorKind::ValueValidation | ErrorKind::InvalidValue) = (arg, error.kind())
        else {
            return Err(error);
        };
        let cause = std::error::Error::source(&error);
        let message = match (cause, error.get(ContextKind::ValidValue)) {
            (Some(cause), _) => cause.to_string(),
            (None, Some(ContextValue::Strings(names))) => {
                let value = text(ContextKind::InvalidValue).unwrap_or_default();
                format!("`{value}` is not one of {}", names.join(", "))
            }
            _ => return Err(error),
        };
        Ok(self.bad(arg.get_id().as_str(), &message))
    }
}

/// The values of a config file, with where each one is.
#[derive(Debug, Clone, Default)]
pub struct FileValues {
    /// Key, its values as command-line text, and `FILE:LINE:COLUMN` of the value.
    entries: Vec<(String, Vec<String>, String)>,
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
            let why = format!("cannot read config file {}: {e}", path.display());
            Error::Config(format!("{why}; check --config / AUTHD_CONFIG"))
        })?;
        Self::parse(path, &text)
    }

    /// Parses `text`, the content of the file at `path` (`pub(crate)` for
    /// the `fuzzing` entry point; [`Self::read`] reads the file).
    pub(crate) fn parse(path: &Path, text: &str) -> Result<Self> {
        use toml::de::{DeTable, DeValue};
        let at = |offset: usize| {
            let before = &text[..offset.min(text.len())];
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            let line = before.matches('\n').count() + 1;
            format!("{}:{line}:{column}", path.display())
        };
        let table = DeTable::parse(text).map_err(|e| {
            let at = at(e.span().map_or(0, |span| span.start));
            let message = e.message().trim_end().to_owned();
            Error::Config(format!("config file {at} is not valid TOML: {message}"))
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
            let (key, at) = (key.get_ref().to_string(), at(value.span().start));
            let values = match value.get_ref() {
                DeValue::Array(items) => items.iter().map(|v| scalar(v.get_ref())).collect(),
                other => scalar(other).map(|v| vec![v]),
            };
            let Some(values) = values else {
                let what = "must be a string, number, boolean or a list of those";
                return Err(Error::Config(format!("config file {at}: `{key}` {what}")));
            };
            entries.push((key, values, at));
        }
        Ok(Self { entries })
    }

    /// Installs the file's values as defaults on every (sub)command of
    /// `command` that has an argument with the key as its id.
    ///
    /// # Errors
    /// [`Error::Config`] naming a key no command knows, with its line.
    pub fn apply(&self, mut command: Command) -> Result<Command> {
        for (key, values, at) in &self.entries {
            let mut known = false;
            command = each_arg(command, &mut |arg| {
                // `config` names the file itself; a file cannot point elsewhere.
                if arg.get_id() != key || key == "config" {
                    return arg;
                }
                known = true;
                // A secret's value must not show up as `--help`'s "[default: ...]".
                let secret = arg.is_hide_env_values_set();
                arg.default_values(values.clone())
                    .hide_default_value(secret)
            });
            if !known {
                return Err(Error::Config(format!(
                    "config file {at}: unknown key `{key}`; the keys are the flag names with \
                     `_` for `-` (see `authd serve --help`)"
                )));
            }
        }
        Ok(command)
    }

    /// Where the settings of the command that `args` run got their values:
    /// `args` parsed with every value accepted (so a refused one has its
    /// source too), down to the deepest subcommand, whose sources win.
    #[must_use]
    pub fn sources(&self, command: &Command, args: &[OsString]) -> Sources {
        let accepting = each_arg(command.clone(), &mut |arg| {
            if arg.get_action().takes_values() {
                arg.value_parser(clap::builder::ValueParser::os_string())
            } else {
                arg
            }
        });
        match accepting.clone().try_get_matches_from(args) {
            Ok(matches) => self.sources_of(&accepting, &matches),
            Err(_) => Sources::default(),
        }
    }

    fn sources_of(&self, command: &Command, matches: &ArgMatches) -> Sources {
        let mut sources = Sources::default();
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            let env = arg.get_env().unwrap_or_default().to_string_lossy();
            let source = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => "set by the command-line flag".to_owned(),
                Some(ValueSource::EnvVariable) => format!("set by the environment variable {env}"),
                _ => match self.entries.iter().find(|(key, ..)| key == id) {
                    Some((.., at)) => format!("set in {at}"),
                    None => continue,
                },
            };
            sources.0.insert(id.to_owned(), source);
        }
        if let Some((name, sub)) = matches.subcommand()
            && let Some(level) = command.find_subcommand(name)
        {
            sources.0.extend(self.sources_of(level, sub).0);
        }
        sources
    }
}

/// `command` with each variable a bare `#[arg(env)]` names after its field
/// (`LISTEN`) given the `AUTHD_` prefix, so flag, file key and variable all
/// come from the field's name.
#[must_use]
pub fn authd_env(command: Command) -> Command {
    each_arg(command, &mut |arg| {
        let env = arg.get_env().map(|env| env.to_string_lossy().into_owned());
        match env {
            Some(env) if !env.starts_with("AUTHD_") => arg.env(format!("AUTHD_{env}")),
            _ => arg,
        }
    })
}

/// `command` with `change` applied to the arguments of it and of every subcommand.
fn each_arg(command: Command, change: &mut impl FnMut(Arg) -> Arg) -> Command {
    command
        .mut_args(&mut *change)
        .mut_subcommands(|sub| each_arg(sub, change))
}

/// The argument with long flag `long` on `command` or a subcommand.
fn find<'a>(command: &'a Command, long: &str) -> Option<&'a Arg> {
    let here = command.get_arguments().find(|a| a.get_long() == Some(long));
    here.or_else(|| command.get_subcommands().find_map(|sub| find(sub, long)))
}

/// `authd --config FILE migrate` as `authd migrate --config FILE`: settings
/// before the subcommand move after it, if the subcommand takes them all
/// (main accepted both orders).
#[must_use]
pub fn settings_after_subcommand(command: &Command, mut args: Vec<OsString>) -> Vec<OsString> {
    // Whether `word` is a `--flag` of `on`, and then whether its value is the next word.
    let flag = |on: &Command, word: &OsString| {
        let word = word.to_str()?.strip_prefix("--")?;
        let (name, inline) = (word.split('=').next()?, word.contains('='));
        let arg = on.get_arguments().find(|a| a.get_long() == Some(name))?;
        Some(!inline && arg.get_action().takes_values())
    };
    let mut at = 1;
    while let Some(value_follows) = args.get(at).and_then(|word| flag(command, word)) {
        at += 1 + usize::from(value_follows);
    }
    let takes_all = |sub: &Command| {
        let mut flags = args[1..at]
            .iter()
            .filter(|w| w.to_string_lossy().starts_with("--"));
        flags.all(|word| flag(sub, word).is_some())
    };
    let sub = args.get(at).and_then(|word| command.find_subcommand(word));
    if at > 1 && sub.is_some_and(takes_all) {
        args[1..=at].rotate_right(1);
    }
    args
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
        assert_eq!(file.entries[1].2, "a.toml:2:17");
    }
}
