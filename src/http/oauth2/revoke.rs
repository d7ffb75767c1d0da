//! `POST /oauth2/revoke`: OAuth 2.0 token revocation (RFC 7009) for service
//! accounts. Calls [`AuthCore::revoke`], which authenticates the client and
//! decides what ending the token means; the shared form parsing, client
//! authentication and error mapping are [`super`]'s.
//!
//! - `token` (required) is a refresh token or an access token; either ends
//!   its session.
//! - `token_type_hint` may be `refresh_token` or `access_token` (RFC 7009
//!   §2.1's registered values); authd tells the kinds apart by their shape,
//!   so a right or wrong hint changes nothing. Any other value is 400
//!   `unsupported_token_type`: §2.2.1 defines that error for a token type
//!   the server cannot revoke, and a hint naming a type authd does not
//!   issue says the client holds such a token; a 200 would tell it that
//!   token was revoked.
//! - The body is at most [`MAX_TOKEN_FORM_BYTES`].
//!
//! | Answer | When |
//! |---|---|
//! | 200 `{}` | the token's session ended, or there was nothing to end (an unknown, malformed or already invalid token, §2.2) |
//! | 400 `unsupported_token_type` | a `token_type_hint` other than those two, or a service account's valid access token (it has no session, and stays valid until it expires) |
//! | 400 `invalid_request` | as every endpoint (see [`super`]), and no `token` |
//!
//! [`AuthCore::revoke`]: crate::service::AuthCore::revoke

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use tonic::Code;

use super::{
    CLIENT_PARAMS, Endpoint, MAX_TOKEN_FORM_BYTES, Refusal, client_credentials, json_ok, observed,
    read_form, required_token,
};
use crate::http::HttpState;
use crate::metrics::Method;
use crate::service::Revocation;

/// The revocation endpoint, for the parts every endpoint shares.
const REVOKE: Endpoint = Endpoint {
    method: Method::OAuth2Revoke,
    name: "the revocation endpoint",
    form_rule: "RFC 7009 §2.1",
    max_body: MAX_TOKEN_FORM_BYTES,
};

/// The parameters the revocation endpoint reads.
const KNOWN: [&str; 4] = [
    "token",
    "token_type_hint",
    CLIENT_PARAMS[0],
    CLIENT_PARAMS[1],
];

/// Token revocation (RFC 7009)
///
/// For a service account: ends the session of a refresh token or a user's
/// access token. An unknown, malformed or already invalid token is a 200
/// too (§2.2).
#[utoipa::path(
    post,
    path = "/oauth2/revoke",
    operation_id = "revoke",
    tag = "oauth2",
    request_body(content = crate::http::openapi::TokenParams, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "Ended, or nothing to end: `{}`", body = Object),
        (status = 400, description = "`invalid_request`: wrong content type, malformed body or Basic header, a repeated parameter, both authentication methods, a bad field, no `token`; `unsupported_token_type`: a hint other than `access_token` or `refresh_token`, or a service account's access token", body = super::ErrorBody),
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
    observed(&state, REVOKE, async {
        let (parts, body) = request.into_parts();
        let mut params = read_form(REVOKE, &parts.headers, body, &KNOWN).await?;
        let credentials = client_credentials(&state, &parts, &mut params)?;
        let token = required_token(&mut params, REVOKE.form_rule)?;
        match params.get("token_type_hint") {
            None | Some("access_token" | "refresh_token") => {}
            Some(_) => {
                return Err(unsupported(
                    Code::InvalidArgument,
                    "authd issues and revokes only token_type_hint=access_token and \
                     refresh_token tokens; omit the hint or send one of those",
                ));
            }
        }
        let now = state.core.clock().now_unix();
        match state.core.revoke(&credentials, &token, now).await? {
            Revocation::Ended | Revocation::NothingToEnd => Ok(json_ok(&serde_json::json!({}))),
            Revocation::Unsupported => Err(unsupported(
                Code::Unimplemented,
                "a service account's access token has no session and cannot be revoked; it \
                 stays valid until it expires (exp). Delete the service account to stop all \
                 its tokens at once",
            )),
        }
    })
    .await
}

/// Any other method on `/oauth2/revoke`.
pub(in crate::http) async fn method_not_allowed(State(state): State<HttpState>) -> Response {
    observed(&state, REVOKE, async {
        Err(super::method_not_allowed(REVOKE))
    })
    .await
}

/// 400 `unsupported_token_type` (§2.2.1), counted as `code`.
fn unsupported(code: Code, description: &str) -> Refusal {
    Refusal::new(
        StatusCode::BAD_REQUEST,
        "unsupported_token_type",
        code,
        description.to_owned(),
    )
}
