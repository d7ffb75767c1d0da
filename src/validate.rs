//! The edge checks every request's text goes through before any query:
//! length, and no character that has no business in a name.
//!
//! Refused everywhere: NUL (PostgreSQL cannot store it and answers with an
//! error, which used to come back as `INTERNAL`), the other control
//! characters (Unicode category Cc: a row or a log line must not rewrite the
//! terminal showing it), and the invisible format characters (category Cf),
//! among them the bidirectional controls U+200E/U+200F, U+202A-U+202E and
//! U+2066-U+2069 that make `admin\u{202e}nimda` look like something else
//! ("Trojan Source", CVE-2021-42574), and the line and paragraph separators
//! U+2028/U+2029 (categories Zl, Zp), which many terminals and log viewers
//! break lines at, so a name could fake a second audit or log row.
//!
//! A [`Fields`] collects every bad field of one request, so the caller gets
//! one `INVALID_ARGUMENT` with a field violation per field
//! ([`Error::InvalidFields`]) and fixes them all in one round. It knows
//! nothing about what a field means (that is [`crate::user`]'s and the
//! services' job); messages never repeat the value, which may be a secret.

use crate::error::{Error, Result, Violation};

/// Why `text` may not be used as a name, if it may not: the first character
/// that is NUL, a control character or an invisible format character.
#[must_use]
pub fn forbidden_char(text: &str) -> Option<String> {
    text.chars().enumerate().find_map(|(at, c)| {
        let what = if c == '\0' {
            "a NUL character"
        } else if c.is_control() {
            "a control character"
        } else if is_bidi_control(c) {
            "a bidirectional-text control character"
        } else if is_line_separator(c) {
            "a line or paragraph separator"
        } else if is_format(c) {
            "an invisible format character"
        } else {
            return None;
        };
        Some(format!(
            "contains {what} (U+{:04X}) at position {}",
            u32::from(c),
            at + 1
        ))
    })
}

/// The bidirectional controls: marks, embeddings, overrides and isolates.
fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{061C}')
}

/// U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR, the only
/// characters of categories Zl and Zp. Also escaped by [`crate::audit`].
pub(crate) fn is_line_separator(c: char) -> bool {
    matches!(c, '\u{2028}' | '\u{2029}')
}

/// Unicode's format characters (general category Cf), as of Unicode 15.
/// Also what [`crate::audit`] escapes on output, so there is one table.
pub(crate) fn is_format(c: char) -> bool {
    matches!(c,
        '\u{00AD}'
        | '\u{0600}'..='\u{0605}'
        | '\u{061C}'
        | '\u{06DD}'
        | '\u{070F}'
        | '\u{0890}'..='\u{0891}'
        | '\u{08E2}'
        | '\u{180E}'
        | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}'
        | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{206F}'
        | '\u{FEFF}'
        | '\u{FFF9}'..='\u{FFFB}'
        | '\u{110BD}'
        | '\u{110CD}'
        | '\u{13430}'..='\u{1343F}'
        | '\u{1BCA0}'..='\u{1BCA3}'
        | '\u{1D173}'..='\u{1D17A}'
        | '\u{E0001}'
        | '\u{E0020}'..='\u{E007F}'
    )
}

/// Checks one text value: at most `max_bytes`, no forbidden character.
///
/// # Errors
/// [`Error::InvalidArgument`] on `field`.
pub fn text(field: &'static str, value: &str, max_bytes: usize) -> Result<()> {
    let mut fields = Fields::new();
    fields.text(field, value, max_bytes);
    match fields.violations.pop() {
        Some(v) => Err(Error::invalid(field, v.message)),
        None => Ok(()),
    }
}

/// The bad fields of one request, collected before anything is looked up.
#[derive(Debug, Default)]
#[must_use]
pub struct Fields {
    violations: Vec<Violation>,
}

impl Fields {
    /// No bad field yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` is bad because of `message`.
    pub fn bad(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.violations.push(Violation::new(field, message));
    }

    /// Checks `value` as [`text`] does, recording a violation of `field`;
    /// returns whether it passed (so further checks can be skipped).
    pub fn text(&mut self, field: impl Into<String>, value: &str, max_bytes: usize) -> bool {
        let message = if value.len() > max_bytes {
            Some(format!("must be at most {max_bytes} bytes"))
        } else {
            forbidden_char(value)
        };
        match message {
            Some(message) => {
                self.bad(field, message);
                false
            }
            None => true,
        }
    }

    /// [`Self::text`], also refusing an empty value.
    pub fn required(&mut self, field: impl Into<String>, value: &str, max_bytes: usize) -> bool {
        let field = field.into();
        if value.is_empty() {
            self.bad(field, "must not be empty");
            return false;
        }
        self.text(field, value, max_bytes)
    }

    /// Checks that `value` is a UUID (how authd names users and service
    /// accounts), in its hyphenated form.
    pub fn uuid(&mut self, field: impl Into<String>, value: &str) -> bool {
        let field = field.into();
        if value.is_empty() {
            self.bad(field, "must not be empty");
            return false;
        }
        let ok = value.len() == 36 && uuid::Uuid::try_parse(value).is_ok();
        if !ok {
            self.bad(
                field,
                "must be an id as authd returns it, a UUID such as 0192c1a2-7f3e-7c4d-9a1b-2c3d4e5f6a7b",
            );
        }
        ok
    }

    /// Runs a check that reports one [`Error::InvalidArgument`] and records
    /// it under `field` (the request's name for it, which may differ from
    /// the one the check uses); returns whether it passed.
    pub fn check(&mut self, field: impl Into<String>, result: Result<()>) -> bool {
        match result {
            Ok(()) => true,
            Err(Error::InvalidArgument { message, .. }) => {
                self.bad(field, message);
                false
            }
            Err(Error::InvalidFields(violations)) => {
                self.violations.extend(violations);
                false
            }
            Err(other) => {
                self.bad(field, other.to_string());
                false
            }
        }
    }

    /// Whether every field checked so far passed.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.violations.is_empty()
    }

    /// `Ok` if no field was bad, otherwise every violation in one error.
    ///
    /// # Errors
    /// [`Error::InvalidFields`].
    pub fn finish(self) -> Result<()> {
        match Error::from_violations(self.violations) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_with_nul_control_bidi_or_format_characters_are_refused() {
        for bad in [
            "a\0b",
            "a\u{7}b",
            "a\nb",
            "a\u{9b}b",
            "adm\u{202e}nimda",
            "a\u{200f}",
            "\u{2066}x",
            "zero\u{200b}width",
            "\u{feff}bom",
            "tag\u{e0041}",
            "line\u{2028}break",
            "para\u{2029}graph",
        ] {
            assert!(forbidden_char(bad).is_some(), "{bad:?}");
        }
        for ok in ["alice", "Zoë", "名前", "a.b_c-d", "o'brien@example.com", ""] {
            assert_eq!(forbidden_char(ok), None, "{ok:?}");
        }
        let why = forbidden_char("ab\0").unwrap();
        assert!(why.contains("NUL") && why.contains("U+0000") && why.contains("position 3"));
    }

    #[test]
    fn every_bad_field_is_reported_once() {
        let mut fields = Fields::new();
        assert!(!fields.required("username", "", 64));
        assert!(!fields.text("email", &"e".repeat(300), 254));
        assert!(fields.text("role", "admin", 64));
        assert!(!fields.uuid("id", "not-a-uuid"));
        assert!(fields.uuid("id", "0192c1a2-7f3e-7c4d-9a1b-2c3d4e5f6a7b"));
        let Err(Error::InvalidFields(violations)) = fields.finish() else {
            panic!("three bad fields");
        };
        let names: Vec<&str> = violations.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(names, ["username", "email", "id"]);
        assert!(Fields::new().finish().is_ok());
    }
}
