//! The bearer credential of an HTTP request (RFC 6750 §2.1): the one
//! parsing rule of every door that takes `Authorization: Bearer` (the
//! server's ext_authz and forward-auth, and the client libraries'
//! middleware), so all of them refuse exactly the same headers.
//!
//! Pure text rules, no token check: what passes here still goes through
//! every check Verify makes. The rules, fail-closed:
//! - exactly one `Authorization` header (two are refused, never one picked);
//! - the scheme spelled exactly `Bearer`, then one space: `bearer`, `BEARER`
//!   or two spaces are refused. RFC 7235 calls the scheme case-insensitive,
//!   but every client authd issues tokens to sends `Bearer`, and one
//!   spelling leaves no room for two proxies to disagree about a request;
//! - the token made of base64url characters and dots only (what a JWT is):
//!   a comma (duplicate headers merged into one), a space, a second
//!   credential or any other byte is refused here rather than handed on.

/// The `WWW-Authenticate` challenge sent with every refusal of a bearer
/// credential (RFC 6750 §3).
pub const CHALLENGE: &str = r#"Bearer error="invalid_token""#;

/// The token of the request whose `Authorization` header values (every
/// one, in any order, as raw bytes) are `values`; why it has none otherwise.
///
/// # Errors
/// A short reason, for the logs (never an echo of the header).
pub fn from_authorization<'a>(
    values: impl IntoIterator<Item = &'a [u8]>,
) -> Result<&'a str, &'static str> {
    let mut values = values.into_iter();
    let Some(value) = values.next() else {
        return Err("no authorization header");
    };
    if values.next().is_some() {
        return Err("more than one authorization header");
    }
    let token = value
        .strip_prefix(b"Bearer ")
        .ok_or("the authorization scheme is not exactly `Bearer`")?;
    if token.is_empty()
        || !token
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err("the bearer token is malformed");
    }
    std::str::from_utf8(token).map_err(|_| "the bearer token is malformed")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse<'a>(values: &[&'a [u8]]) -> Result<&'a str, &'static str> {
        from_authorization(values.iter().copied())
    }

    #[test]
    fn only_one_exact_bearer_credential_is_accepted() {
        assert_eq!(parse(&[b"Bearer a.b.c"]), Ok("a.b.c"));
        assert_eq!(parse(&[b"Bearer eyJ-_x.y_-.z09"]), Ok("eyJ-_x.y_-.z09"));
        for bad in [
            &b"bearer a.b.c"[..],
            b"BEARER a.b.c",
            b"Bearer ",
            b"Bearer",
            b"Bearer  a.b.c",
            b"Bearer a.b.c ",
            b"Bearer\ta.b.c",
            b"Basic dXNlcjpwdw==",
            b"Bearer a.b.c,Bearer d.e.f",
            b"Bearer a.b.c, Bearer d.e.f",
            b"Bearer a.b.c\xff",
            b"Bearer a.b\x80.c",
            b"Bearer a.b.c=",
            b"a.b.c",
            b"",
        ] {
            assert!(parse(&[bad]).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(parse(&[]), Err("no authorization header"));
        assert_eq!(
            parse(&[b"Bearer a.b.c", b"Bearer a.b.c"]),
            Err("more than one authorization header")
        );
    }
}
