//! `POST /oauth2/introspect`: OAuth 2.0 token introspection (RFC 7662) for
//! service accounts. Calls [`AuthCore::introspect`], which authenticates the
//! client and runs Verify's checks; the shared form parsing, client
//! authentication and error mapping are [`super`]'s.
//!
//! - `token` (required) is the token to describe; `token_type_hint` is
//!   read and ignored, whatever its value: RFC 7662 §2.1 lets the server
//!   ignore it and defines no error for it, and authd tells its token kinds
//!   apart by their shape.
//! - The body is at most [`MAX_TOKEN_FORM_BYTES`].
//!
//! | Answer | When |
//! |---|---|
//! | 200 `{"active":true,"sub","username","exp","iat","nbf","iss","aud","jti","token_type":"Bearer","roles"}` | a valid access token; a service account's also has `client_id`, and `username` is the account's name |
//! | 200 `{"active":false}` | anything else: invalid for any reason (§2.2 gives no reason), or a refresh token (never active here) |
//! | 400 `invalid_request` | as every endpoint (see [`super`]), and no `token` |
//!
//! [`AuthCore::introspect`]: crate::service::AuthCore::introspect

use axum::extract::{Request, State};
use axum::response::Response;

use super::{
    CLIENT_PARAMS, Endpoint, MAX_TOKEN_FORM_BYTES, client_credentials, json_ok, observed,
    read_form, required_token,
};
use crate::http::HttpState;
use crate::metrics::Method;
use crate::service::Principal;

/// The introspection endpoint, for the parts every endpoint shares.
const INTROSPECT: Endpoint = Endpoint {
    method: Method::OAuth2Introspect,
    name: "the introspection endpoint",
    form_rule: "RFC 7662 §2.1",
    max_body: MAX_TOKEN_FORM_BYTES,
};

/// The parameters the introspection endpoint reads.
const KNOWN: [&str; 4] = [
    "token",
    "token_type_hint",
    CLIENT_PARAMS[0],
    CLIENT_PARAMS[1],
];

/// Token introspection (RFC 7662)
///
/// For a service account: whether a token is active, and whose. Anything
/// not active (invalid for any reason, or a refresh token) is exactly
/// `{"active": false}`.
#[utoipa::path(
    post,
    path = "/oauth2/introspect",
    operation_id = "introspect",
    tag = "oauth2",
    request_body(content = crate::http::openapi::TokenParams, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "The token's state", body = crate::http::openapi::Introspection),
        (status = 400, description = "`invalid_request`: wrong content type, malformed body or Basic header, a repeated parameter, both authentication methods, a bad field, no `token`", body = super::ErrorBody),
        (status = 401, description = "`invalid_client`: no, unknown or wrong credentials (one answer), another scheme",
            body = super::ErrorBody, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"authd\"`"))),
        (status = 413, description = "`invalid_request`: the body is over 64 KiB", body = super::ErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed attempts from this client id or address",
            body = super::ErrorBody, headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 500, description = "`server_error`: a bug; the description holds only a correlation id", body = super::ErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the database is unreachable, or authd is saturated",
            body = super::ErrorBody, headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub(in crate::http) async fn handle(State(state): State<HttpState>, request: Request) -> Response {
    observed(&state, INTROSPECT, async {
        let (parts, body) = request.into_parts();
        let mut params = read_form(INTROSPECT, &parts.headers, body, &KNOWN).await?;
        let credentials = client_credentials(&state, &parts, &mut params)?;
        let token = required_token(&mut params, INTROSPECT.form_rule)?;
        let now = state.core.clock().now_unix();
        let principal = state.core.introspect(&credentials, &token, now).await?;
        Ok(json_ok(&answer(principal.as_ref())))
    })
    .await
}

/// Any other method on `/oauth2/introspect`.
pub(in crate::http) async fn method_not_allowed(State(state): State<HttpState>) -> Response {
    observed(&state, INTROSPECT, async {
        Err(super::method_not_allowed(INTROSPECT))
    })
    .await
}

/// The §2.2 answer: the token's claims and its principal as stored now, or
/// exactly `{"active": false}`.
fn answer(principal: Option<&Principal>) -> serde_json::Value {
    let (claims, username, client_id) = match principal {
        None => return serde_json::json!({ "active": false }),
        Some(Principal::User { user, claims }) => (claims, &user.username, None),
        Some(Principal::ServiceAccount { account, claims }) => {
            (claims, &account.name, claims.client_id.as_deref())
        }
    };
    let mut body = serde_json::json!({
        "active": true,
        "sub": claims.sub,
        "username": username,
        "exp": claims.exp,
        "iat": claims.iat,
        "nbf": claims.nbf,
        "iss": claims.iss,
        "aud": claims.aud,
        "jti": claims.jti,
        "token_type": "Bearer",
        "roles": claims.roles,
    });
    if let Some(client_id) = client_id {
        body["client_id"] = client_id.into();
    }
    body
}
