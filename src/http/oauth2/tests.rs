//! Unit tests of the shared parts: Basic credentials and the error mapping.

use super::*;
use crate::error::Violation;
use secrecy::ExposeSecret as _;

fn basic_header(value: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(header::AUTHORIZATION, value.parse().unwrap());
    headers
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

#[test]
fn basic_credentials_are_form_decoded_after_base64() {
    let headers = basic_header(&format!("basic {}", b64("sa%3Aone+x:s%25e+cret")));
    let (id, secret) = basic(&headers).unwrap().unwrap();
    assert_eq!(id, "sa:one x");
    assert_eq!(secret.expose_secret(), "s%e cret");
}

#[test]
fn malformed_basic_credentials_are_invalid_requests() {
    for value in [
        "Basic !!!".to_owned(),
        format!("Basic {}", b64("no-colon")),
        format!("Basic {}", b64("id:%FF")),
    ] {
        let refusal = basic(&basic_header(&value)).unwrap_err();
        assert_eq!(refusal.error, "invalid_request", "{value}");
        assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
    }
    let refusal = basic(&basic_header("Bearer abc")).unwrap_err();
    assert_eq!(refusal.error, "invalid_client");
}

#[test]
fn every_error_maps_to_an_oauth2_answer() {
    let cases = [
        (Error::InvalidCredentials, 401, "invalid_client"),
        (
            Error::invalid("client_id", "too long"),
            401,
            "invalid_client",
        ),
        (
            Error::invalid("audience", "not served"),
            400,
            "invalid_target",
        ),
        (
            Error::InvalidFields(vec![Violation::new("audience", "not served")]),
            400,
            "invalid_target",
        ),
        (
            Error::InvalidFields(vec![
                Violation::new("audience", "not served"),
                Violation::new("client_secret", "too long"),
            ]),
            401,
            "invalid_client",
        ),
        (Error::invalid("other", "bad"), 400, "invalid_request"),
        (
            Error::Throttled {
                retry_after_secs: 7,
            },
            429,
            "temporarily_unavailable",
        ),
        (
            Error::Unavailable {
                context: "reading",
                source: "db at 10.0.0.1 down".into(),
            },
            503,
            "temporarily_unavailable",
        ),
        (
            Error::internal_msg("x", "secret detail"),
            500,
            "server_error",
        ),
    ];
    for (error, status, oauth) in cases {
        let refusal = Refusal::from(error);
        assert_eq!(refusal.status.as_u16(), status, "{refusal:?}");
        assert_eq!(refusal.error, oauth);
        assert!(!refusal.description.contains("10.0.0.1"));
        assert!(!refusal.description.contains("secret detail"));
    }
    let throttled = Refusal::from(Error::Throttled {
        retry_after_secs: 7,
    });
    assert_eq!(throttled.retry_after, Some(7));
    assert_eq!(throttled.code, Code::ResourceExhausted);
}
