//! A subscriber's position in one hub's sequence ([`Cursor`]) and its
//! opaque text form: base64url of a version byte, the hub's instance id,
//! its generation and the sequence number.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::error::{Error, Result};

/// A position in one hub's sequence; opaque to callers (base64url of a
/// version byte, the hub's random instance id, its generation and the
/// sequence number).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub(super) instance: [u8; 16],
    pub(super) generation: u64,
    pub(super) seq: u64,
}

const CURSOR_VERSION: u8 = 1;
const CURSOR_BYTES: usize = 1 + 16 + 8 + 8;

impl Cursor {
    /// The text a caller passes back.
    #[must_use]
    pub fn encode(&self) -> String {
        let mut bytes = Vec::with_capacity(CURSOR_BYTES);
        bytes.push(CURSOR_VERSION);
        bytes.extend_from_slice(&self.instance);
        bytes.extend_from_slice(&self.generation.to_be_bytes());
        bytes.extend_from_slice(&self.seq.to_be_bytes());
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Parses a cursor a caller sent back.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] on `cursor` when it is not one this
    /// service writes.
    pub fn decode(text: &str) -> Result<Self> {
        let bad = || {
            Error::invalid(
                "cursor",
                "is not a cursor this service sent; pass back the `cursor` of an event \
                 exactly, or leave it empty for a fresh start with a snapshot",
            )
        };
        if text.len() > 64 {
            return Err(bad());
        }
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| bad())?;
        if bytes.len() != CURSOR_BYTES || bytes[0] != CURSOR_VERSION {
            return Err(bad());
        }
        let mut instance = [0; 16];
        instance.copy_from_slice(&bytes[1..17]);
        let word = |at: usize| {
            let mut w = [0; 8];
            w.copy_from_slice(&bytes[at..at + 8]);
            u64::from_be_bytes(w)
        };
        Ok(Self {
            instance,
            generation: word(17),
            seq: word(25),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_survives_its_round_trip() {
        let cursor = Cursor {
            instance: [7; 16],
            generation: 3,
            seq: 42,
        };
        assert_eq!(Cursor::decode(&cursor.encode()).expect("decodes"), cursor);
    }

    #[test]
    fn text_that_is_not_a_cursor_is_an_invalid_argument() {
        for bogus in ["", "not-a-cursor", "AAAA", &"A".repeat(200)] {
            let err = Cursor::decode(bogus).expect_err("refused");
            assert!(
                matches!(
                    err,
                    Error::InvalidArgument {
                        field: "cursor",
                        ..
                    }
                ),
                "{bogus}: {err:?}"
            );
        }
    }
}
