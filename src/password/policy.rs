//! The rules a new password must meet (NIST SP 800-63B-4, section 3.1.1.2):
//! a minimum length, a maximum length, no composition rules, and no common,
//! expected or known-compromised password.
//!
//! The blocklist is zxcvbn's: the 30,000 most common passwords of real
//! breaches, plus English words, names, film and TV words, keyboard walks,
//! repeats, sequences and dates, each also recognised in other case,
//! reversed or with l33t substitutions, and the account's own username and
//! email (the "context-specific words" NIST asks for). Its dictionaries ship
//! inside the crate and are built once per process ([`warm_up`]), never per
//! call. A check reads at most the first 100 characters and costs from a
//! tenth of a millisecond to about 20 ms, so callers run it on the hashing
//! threads ([`super::PasswordHasher::hash_new`]), never on the async runtime.
//!
//! Must not echo the password: every refusal names the rule it broke and
//! says how to pick another, in words of its own.

use secrecy::{ExposeSecret as _, SecretString};

use super::MAX_PASSWORD_BYTES;
use super::settings::PasswordSettings;
use crate::error::Error;
use crate::settings;

/// Fewest guesses a new password must need by zxcvbn's estimate.
///
/// 10^6 is zxcvbn's own line between score 1 ("protection from throttled
/// online attacks" only) and score 2, and it is where a blocklist earns its
/// keep: an online attacker, slowed by authd's throttling, tries the most
/// likely passwords first, and everything below a million guesses is on
/// their list (every entry of the common-password dictionary lands there,
/// `password1`, `123456789`, `Dragon` and `p@ssw0rd` alike). Above it,
/// zxcvbn has nothing specific left to object to, and NIST forbids the
/// composition rules that would. A higher bar (score 3, 10^10) would refuse
/// ordinary two-word passphrases users can remember, which NIST says a
/// verifier should not do for a length-checked password.
pub const MIN_GUESSES_LOG10: f64 = 6.0;

/// Which rule a password broke: named in every refusal so a person (or a
/// console putting the message next to the field) knows what to change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Fewer characters (Unicode code points) than `--password-min-length`.
    MinimumLength,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    MaximumLength,
    /// A common or known-compromised password (zxcvbn's password list), in
    /// any case, reversed, with l33t substitutions or a few characters added.
    CommonPassword,
    /// Guessable in fewer than 10^6 tries otherwise: a word, name, date,
    /// keyboard walk, repeat or sequence, or the account's own name.
    EasyToGuess,
}

impl Rule {
    /// The rule's name as it appears in refusals.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MinimumLength => "minimum length",
            Self::MaximumLength => "maximum length",
            Self::CommonPassword => "common passwords",
            Self::EasyToGuess => "easily guessed passwords",
        }
    }
}

/// A refusal: the rule and a message that says how to do better, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The rule that was broken.
    pub rule: Rule,
    /// What to do instead, without the password.
    pub message: String,
}

impl Refusal {
    /// The [`Error::InvalidArgument`] for request field `field`
    /// (`password`, or `new_password` for a password change).
    #[must_use]
    pub fn into_error(self, field: &'static str) -> Error {
        Error::invalid(field, self.message)
    }
}

/// The password policy, built once from the settings; cheap to copy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    /// Fewest characters (code points) accepted.
    min_chars: usize,
}

impl Default for PasswordPolicy {
    /// The settings' default: at least 8 characters.
    fn default() -> Self {
        Self::from_settings(&settings::defaults::<PasswordSettings>())
    }
}

impl PasswordPolicy {
    /// The policy `settings` ask for (`--password-min-length`).
    #[must_use]
    pub fn from_settings(settings: &PasswordSettings) -> Self {
        Self {
            min_chars: settings.password_min_length,
        }
    }

    /// The fewest characters a new password may have.
    #[must_use]
    pub fn min_chars(&self) -> usize {
        self.min_chars
    }

    /// Checks a new password, with no account words to refuse.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for field `password`, naming the rule.
    pub fn check(&self, password: &SecretString) -> Result<(), Error> {
        self.check_for(password, &[])
            .map_err(|v| v.into_error("password"))
    }

    /// Checks a new password, refusing also one built from `context`: the
    /// account's username and email, which an attacker targeting it knows.
    ///
    /// # Errors
    /// The first [`Refusal`]: length first (cheap, and a password of the
    /// wrong length is never run through the dictionaries), then the blocklist.
    pub fn check_for(&self, password: &SecretString, context: &[&str]) -> Result<(), Refusal> {
        let password = password.expose_secret();
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(Refusal {
                rule: Rule::MaximumLength,
                message: format!(
                    "breaks the {} rule: use at most {MAX_PASSWORD_BYTES} bytes",
                    Rule::MaximumLength.as_str()
                ),
            });
        }
        if password.chars().count() < self.min_chars {
            return Err(Refusal {
                rule: Rule::MinimumLength,
                message: format!(
                    "breaks the {} rule: use at least {} characters",
                    Rule::MinimumLength.as_str(),
                    self.min_chars
                ),
            });
        }
        let mut words: Vec<&str> = Vec::with_capacity(context.len() + 2);
        words.push("authd");
        for &word in context.iter().filter(|w| !w.is_empty()) {
            words.push(word);
            // The local part of an email is a word of its own.
            if let Some((local, _)) = word.split_once('@') {
                words.push(local);
            }
        }
        let estimate = zxcvbn::zxcvbn(password, &words);
        if estimate.guesses_log10() >= MIN_GUESSES_LOG10 {
            return Ok(());
        }
        // zxcvbn's warnings are fixed sentences; none quotes the password.
        let warning = estimate
            .feedback()
            .and_then(zxcvbn::feedback::Feedback::warning);
        let common = matches!(
            warning,
            Some(
                zxcvbn::feedback::Warning::ThisIsATop10Password
                    | zxcvbn::feedback::Warning::ThisIsATop100Password
                    | zxcvbn::feedback::Warning::ThisIsACommonPassword
                    | zxcvbn::feedback::Warning::ThisIsSimilarToACommonlyUsedPassword
            )
        );
        let advice = "choose another; a few uncommon words together make a good one";
        Err(if common {
            Refusal {
                rule: Rule::CommonPassword,
                message: format!(
                    "breaks the {} rule: it is, or is close to, one of the common and \
                     compromised passwords authd refuses; {advice}",
                    Rule::CommonPassword.as_str()
                ),
            }
        } else {
            let why = warning.map_or_else(String::new, |w| format!(" ({w})"));
            Refusal {
                rule: Rule::EasyToGuess,
                message: format!(
                    "breaks the {} rule: it would be among an attacker's first million \
                     guesses{why}; {advice}",
                    Rule::EasyToGuess.as_str()
                ),
            }
        })
    }
}

/// Builds zxcvbn's dictionaries now (about 40 ms, once per process) rather
/// than in the first password check after start-up.
pub fn warm_up() {
    let _ = zxcvbn::zxcvbn("authd warm-up", &[]);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(password: &str) -> Result<(), Refusal> {
        PasswordPolicy::default().check_for(&SecretString::from(password.to_owned()), &[])
    }

    fn rule(password: &str) -> Option<Rule> {
        check(password).err().map(|v| v.rule)
    }

    #[test]
    fn a_password_shorter_than_the_minimum_is_refused_by_the_length_rule() {
        let err = check("Zq8#vLm").unwrap_err();
        assert_eq!(err.rule, Rule::MinimumLength);
        assert_eq!(
            err.message,
            "breaks the minimum length rule: use at least 8 characters"
        );
    }

    #[test]
    fn exactly_the_minimum_is_enough_when_it_is_not_guessable() {
        assert_eq!(check("Zq8#vLm!"), Ok(()));
        // Eight characters, sixteen bytes: characters are counted, not bytes.
        assert_eq!("жщфэюёйц".chars().count(), 8);
        assert_eq!(check("жщфэюёйц"), Ok(()));
        assert_eq!(rule("жщфэюёй"), Some(Rule::MinimumLength));
    }

    #[test]
    fn the_minimum_comes_from_the_settings() {
        let mut settings = settings::defaults::<PasswordSettings>();
        assert_eq!(settings.password_min_length, 8);
        settings.password_min_length = 20;
        let policy = PasswordPolicy::from_settings(&settings);
        let secret = SecretString::from("Zq8#vLm!Tr4&wPn".to_owned());
        assert_eq!(
            policy.check_for(&secret, &[]).unwrap_err().rule,
            Rule::MinimumLength
        );
        assert!(PasswordPolicy::default().check(&secret).is_ok());
    }

    #[test]
    fn more_than_1024_bytes_is_refused_and_1024_is_not() {
        let random = "Zq8#vLm!Tr4&wPn%";
        let exact = random.repeat(64);
        assert_eq!(exact.len(), 1024);
        assert_eq!(check(&exact), Ok(()));
        let over = format!("{exact}x");
        let err = check(&over).unwrap_err();
        assert_eq!(err.rule, Rule::MaximumLength);
        assert!(
            err.message.contains("at most 1024 bytes"),
            "{}",
            err.message
        );
    }

    #[test]
    fn common_and_breached_passwords_are_refused_in_any_case_and_disguise() {
        for password in [
            "password1",
            "123456789",
            "PaSsWoRd",
            "QWERTYUIOP",
            "iloveyou",
            "p@ssw0rd",
            "drowssap",
            "Password123",
            "Mustang1969",
        ] {
            assert_eq!(rule(password), Some(Rule::CommonPassword), "{password}");
        }
    }

    #[test]
    fn words_names_dates_and_simple_patterns_are_refused() {
        for password in ["aaaaaaaaaa", "abcdefgh", "December2024", "hunter2hunter2"] {
            assert_eq!(rule(password), Some(Rule::EasyToGuess), "{password}");
        }
    }

    #[test]
    fn the_account_name_is_not_a_password() {
        let policy = PasswordPolicy::default();
        let secret = SecretString::from("Vrxqlmtzbw1".to_owned());
        assert!(policy.check_for(&secret, &[]).is_ok());
        let refused = policy
            .check_for(&secret, &["vrxqlmtzbw", "someone@example.com"])
            .unwrap_err();
        assert_eq!(refused.rule, Rule::EasyToGuess);
        let by_email = policy
            .check_for(&secret, &["someone", "vrxqlmtzbw@example.com"])
            .unwrap_err();
        assert_eq!(by_email.rule, Rule::EasyToGuess);
    }

    #[test]
    fn long_random_passphrases_are_accepted_without_composition_rules() {
        for password in [
            "fmqxbk lrpzv nwuyd tsiea",
            "correct horse battery staple",
            "ibdsn4k2-vq8hz",
            "Crème brûlée à minuit",
            "no digits or symbols needed here",
        ] {
            assert_eq!(check(password), Ok(()), "{password}");
        }
    }

    #[test]
    fn a_refusal_never_contains_the_password() {
        for password in [
            "short",
            "password1",
            "Password123",
            "pwmark7",
            "aaaaaaaaaa",
            &"pwmark7q".repeat(200),
        ] {
            let err = PasswordPolicy::default()
                .check(&SecretString::from(password.to_owned()))
                .unwrap_err();
            let shown = format!("{err} {err:?}");
            assert!(
                shown.starts_with("invalid password: breaks the "),
                "{shown}"
            );
            assert!(!shown.contains(password), "{shown}");
            assert!(!shown.to_lowercase().contains("pwmark7q"), "{shown}");
        }
    }
}
