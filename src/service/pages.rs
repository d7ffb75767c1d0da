//! Page sizes and page tokens for the List methods (AIP-158).
//!
//! A page token is opaque to callers and tamper-evident: it carries which
//! list it belongs to, a digest of that list's filters, the keyset cursor
//! (the sort key of the last row served) and when it was issued, all under
//! an HMAC-SHA256 tag. A token that was altered, made for another list or
//! other filters, or is older than [`PAGE_TOKEN_LIFETIME_SECS`], is refused
//! with `INVALID_ARGUMENT` on `page_token`. The key is shared by every
//! replica (a caller may page through several), so it comes from the store;
//! [`PageTokens::random`] is for one process alone (tests, the CLI).

use aws_lc_rs::digest::{SHA256, digest};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use secrecy::{ExposeSecret as _, SecretBox};

use crate::error::{Error, Result};
use crate::store::Store;

/// The name of the page-token key among the store's instance secrets.
pub const PAGE_TOKEN_SECRET: &str = "page_tokens";

/// The page size when a request asks for 0.
pub const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page a request may ask for.
pub const MAX_PAGE_SIZE: usize = 1000;
/// How long a page token stays usable: a list paged through for longer is
/// started again.
pub const PAGE_TOKEN_LIFETIME_SECS: i64 = 24 * 3600;

/// The page size a List request asks for: 0 is the default, negative or
/// over [`MAX_PAGE_SIZE`] is refused.
///
/// # Errors
/// [`Error::InvalidArgument`] on `page_size`.
pub fn page_size(requested: i32) -> Result<usize> {
    match usize::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) if n <= MAX_PAGE_SIZE => Ok(n),
        _ => Err(Error::invalid(
            "page_size",
            format!("must be between 0 (the default, {DEFAULT_PAGE_SIZE}) and {MAX_PAGE_SIZE}"),
        )),
    }
}

/// Issues and opens page tokens with one HMAC key.
#[derive(Clone)]
pub struct PageTokens {
    key: hmac::Key,
}

impl std::fmt::Debug for PageTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PageTokens([redacted])")
    }
}

impl PageTokens {
    /// Tokens under `secret` (at least 32 bytes, shared by every replica).
    #[must_use]
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// Tokens under the key every process on `store`'s database shares:
    /// the stored one, or (for the first process) 32 fresh random bytes it
    /// stores for the others.
    ///
    /// # Errors
    /// Database errors; [`Error::Internal`] without randomness or for a
    /// stored key shorter than 32 bytes.
    pub async fn shared(store: &dyn Store, now: i64) -> Result<Self> {
        let mut fresh = vec![0u8; 32];
        aws_lc_rs::rand::fill(&mut fresh)
            .map_err(|_| Error::internal_msg("making a page-token key", "no randomness"))?;
        let secret = store
            .instance_secret(PAGE_TOKEN_SECRET, &SecretBox::new(Box::new(fresh)), now)
            .await?;
        if secret.expose_secret().len() < 32 {
            return Err(Error::internal_msg(
                "reading the page-token key",
                "the stored key is shorter than 32 bytes",
            ));
        }
        Ok(Self::new(secret.expose_secret()))
    }

    /// Tokens under a fresh random key, valid in this process only.
    ///
    /// # Errors
    /// [`Error::Internal`] if the system's random source fails.
    pub fn random() -> Result<Self> {
        let mut secret = [0u8; 32];
        aws_lc_rs::rand::fill(&mut secret)
            .map_err(|_| Error::internal_msg("making a page-token key", "no randomness"))?;
        Ok(Self::new(&secret))
    }

    /// A token resuming `list` (for example `"users"`) after `cursor`, for a
    /// request with `filters` (any canonical text of the request's filters).
    #[must_use]
    pub fn issue(&self, list: &str, filters: &str, cursor: &str, now: i64) -> String {
        let body = format!("{now}\n{}\n{cursor}", filters_digest(list, filters));
        let tag = hmac::sign(&self.key, body.as_bytes());
        let mut raw = body.into_bytes();
        raw.push(b'\n');
        raw.extend_from_slice(tag.as_ref());
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// The cursor in `token`, if it is intact, was issued for `list` with
    /// the same `filters`, and has not expired.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] on `page_token`, saying to start again.
    pub fn open(&self, token: &str, list: &str, filters: &str, now: i64) -> Result<String> {
        let refused = |why: &str| {
            Error::invalid(
                "page_token",
                format!("{why}; start again from the first page (an empty page_token)"),
            )
        };
        let raw = URL_SAFE_NO_PAD
            .decode(token)
            .map_err(|_| refused("not a page token of this list"))?;
        let tag_len = SHA256.output_len();
        if raw.len() < tag_len + 1 || raw[raw.len() - tag_len - 1] != b'\n' {
            return Err(refused("not a page token of this list"));
        }
        let (body, tag) = raw.split_at(raw.len() - tag_len - 1);
        hmac::verify(&self.key, body, &tag[1..])
            .map_err(|_| refused("not a page token of this list"))?;
        let body = std::str::from_utf8(body).map_err(|_| refused("not a page token"))?;
        let mut parts = body.splitn(3, '\n');
        let (Some(issued), Some(digest), Some(cursor)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(refused("not a page token of this list"));
        };
        if digest != filters_digest(list, filters) {
            return Err(refused(
                "the page token was made for other filters or another list",
            ));
        }
        let issued: i64 = issued.parse().map_err(|_| refused("not a page token"))?;
        if now.saturating_sub(issued) > PAGE_TOKEN_LIFETIME_SECS || issued > now + 300 {
            return Err(refused("the page token has expired"));
        }
        Ok(cursor.to_owned())
    }
}

fn filters_digest(list: &str, filters: &str) -> String {
    let d = digest(&SHA256, format!("{list}\n{filters}").as_bytes());
    URL_SAFE_NO_PAD.encode(&d.as_ref()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes_default_and_are_bounded() {
        assert_eq!(page_size(0).unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(page_size(1).unwrap(), 1);
        assert_eq!(page_size(1000).unwrap(), 1000);
        for bad in [-1, 1001, i32::MIN, i32::MAX] {
            let err = page_size(bad).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidArgument {
                        field: "page_size",
                        ..
                    }
                ),
                "{err}"
            );
        }
    }

    #[test]
    fn a_token_opens_only_for_its_list_and_filters_and_while_fresh() {
        let pages = PageTokens::random().unwrap();
        let token = pages.issue("users", "q=al", "0192-id", 1_000);
        assert_eq!(
            pages.open(&token, "users", "q=al", 1_100).unwrap(),
            "0192-id"
        );
        assert!(pages.open(&token, "users", "q=bo", 1_100).is_err());
        assert!(pages.open(&token, "audit", "q=al", 1_100).is_err());
        assert!(
            pages
                .open(
                    &token,
                    "users",
                    "q=al",
                    1_000 + PAGE_TOKEN_LIFETIME_SECS + 1
                )
                .is_err()
        );
        // Another key (another deployment) does not accept it.
        assert!(
            PageTokens::random()
                .unwrap()
                .open(&token, "users", "q=al", 1_100)
                .is_err()
        );
    }

    #[test]
    fn a_forged_token_is_refused() {
        let pages = PageTokens::random().unwrap();
        let token = pages.issue("users", "", "b", 1_000);
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        let at = raw.iter().position(|&c| c == b'b').unwrap();
        raw[at] = b'a';
        let forged = URL_SAFE_NO_PAD.encode(raw);
        for bad in [
            forged.as_str(),
            "",
            "garbage",
            "AAAA",
            &token[..token.len() - 2],
        ] {
            let err = pages.open(bad, "users", "", 1_000).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::InvalidArgument {
                        field: "page_token",
                        ..
                    }
                ),
                "{bad:?}: {err}"
            );
        }
    }
}
