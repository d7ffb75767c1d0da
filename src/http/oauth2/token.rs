//! `POST /oauth2/token`: the OAuth 2.0 client credentials grant (RFC 6749
//! §4.4) for service accounts. Calls [`AuthCore::issue_service_token`]
//! (which checks the secret, throttles and signs); the shared form parsing,
//! client authentication and error mapping are [`super`]'s.
//!
//! - `grant_type` must be `client_credentials` (`unsupported_grant_type`
//!   otherwise, `invalid_request` when missing). `audience` (optional, as in
//!   RFC 8693) asks for a token for that audience; a refused audience is
//!   `invalid_target`.
//! - `scope` is refused (`invalid_scope`): authd tokens carry the account's
//!   roles, not scopes, and silently issuing an unscoped token to a client
//!   that asked for a scope would let it believe it got one (§3.3 lets the
//!   server refuse).
//! - The body is at most [`MAX_BODY_BYTES`].
//!
//! | Answer | When |
//! |---|---|
//! | 200 `{"access_token","token_type":"Bearer","expires_in"}` | issued |
//! | 400 `invalid_request` | as every endpoint (see [`super`]), and no `grant_type` |
//! | 400 `unsupported_grant_type` | any grant but `client_credentials` |
//! | 400 `invalid_scope` / `invalid_target` | a `scope`; a refused `audience` |
//!
//! [`AuthCore::issue_service_token`]: crate::service::AuthCore::issue_service_token

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use secrecy::SecretString;
use serde::Serialize;
use tonic::Code;

use super::{
    CLIENT_PARAMS, Endpoint, MAX_BODY_BYTES, Params, Peer, Refusal, client_info, credentials,
    json_ok, observed, read_form,
};
use crate::http::HttpState;
use crate::metrics::Method;
use crate::token::IssuedToken;

/// The token endpoint, for the parts every endpoint shares.
const TOKEN: Endpoint = Endpoint {
    method: Method::OAuth2Token,
    name: "the token endpoint",
    form_rule: "RFC 6749 §3.2",
    max_body: MAX_BODY_BYTES,
};

/// The parameters the token endpoint reads.
const KNOWN: [&str; 5] = [
    "grant_type",
    "scope",
    "audience",
    CLIENT_PARAMS[0],
    CLIENT_PARAMS[1],
];

/// Client credentials grant (RFC 6749 §4.4)
///
/// A service account trades its client id and secret for an access token:
/// by HTTP Basic (`client_secret_basic`: each form-urlencoded, then base64)
/// or by `client_id` and `client_secret` in the form (`client_secret_post`),
/// never both. Every answer has `Cache-Control: no-store`.
#[utoipa::path(
    post,
    path = "/oauth2/token",
    operation_id = "token",
    tag = "oauth2",
    request_body(content = crate::http::openapi::TokenRequest, content_type = "application/x-www-form-urlencoded"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "Issued", body = TokenResponse),
        (status = 400, description = "`invalid_request`: wrong content type, malformed body or Basic header, a repeated parameter, both authentication methods, a bad field, no `grant_type`; `unsupported_grant_type`, `invalid_scope`, `invalid_target`, `unauthorized_client`", body = super::ErrorBody),
        (status = 401, description = "`invalid_client`: no, unknown or wrong credentials (one answer), another scheme",
            body = super::ErrorBody, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"authd\"`"))),
        (status = 413, description = "`invalid_request`: the body is over 8 KiB", body = super::ErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed attempts from this client id or address",
            body = super::ErrorBody, headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 500, description = "`server_error`: a bug; the description holds only a correlation id", body = super::ErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the database is unreachable, or authd is saturated",
            body = super::ErrorBody, headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub(in crate::http) async fn handle(State(state): State<HttpState>, request: Request) -> Response {
    observed(&state, TOKEN, async {
        let (parts, body) = request.into_parts();
        let peer = parts.extensions.get::<Peer>().map(|p| p.0);
        let client = client_info(&state, peer, &parts.headers);
        let mut params = parse_form(read_form(TOKEN, &parts.headers, body, &KNOWN).await?)?;
        let (client_id, client_secret): (String, SecretString) =
            credentials(&parts.headers, &mut params)?;
        let now = state.core.clock().now_unix();
        let issued = state
            .core
            .issue_service_token(
                &client_id,
                client_secret,
                params.get("audience"),
                client,
                now,
            )
            .await?;
        tracing::Span::current().record("user_id", issued.claims.sub.as_str());
        Ok(issued_response(&issued, now))
    })
    .await
}

/// Any other method on `/oauth2/token`.
pub(in crate::http) async fn method_not_allowed(State(state): State<HttpState>) -> Response {
    observed(&state, TOKEN, async {
        Err(super::method_not_allowed(TOKEN))
    })
    .await
}

/// The 200 answer's body (§5.1). No refresh token: the client simply asks again.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct TokenResponse<'a> {
    /// The access token, a JWT signed by the current key.
    access_token: &'a str,
    /// Always `Bearer`.
    #[schema(example = "Bearer")]
    token_type: &'static str,
    /// Seconds until the token expires.
    #[schema(minimum = 0)]
    expires_in: i64,
}

/// The 200 answer (§5.1).
fn issued_response(issued: &IssuedToken, now: i64) -> Response {
    json_ok(&TokenResponse {
        access_token: &issued.token,
        token_type: "Bearer",
        expires_in: (issued.claims.exp - now).max(0),
    })
}

/// Checks the grant type and the scope of a parsed token request.
fn parse_form(params: Params) -> Result<Params, Refusal> {
    match params.get("grant_type") {
        Some("client_credentials") => {}
        Some(_) => {
            return Err(Refusal::new(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                Code::InvalidArgument,
                "this endpoint issues tokens for grant_type=client_credentials only".to_owned(),
            ));
        }
        None => {
            return Err(Refusal::invalid_request(
                "grant_type is missing; send grant_type=client_credentials",
            ));
        }
    }
    if params.get("scope").is_some() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            Code::InvalidArgument,
            "authd issues no scopes (a token carries the service account's roles); \
             omit scope"
                .to_owned(),
        ));
    }
    Ok(params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, header};
    use base64::Engine as _;

    fn parse(bytes: &[u8]) -> Result<Params, Refusal> {
        parse_form(Params::parse(bytes, &KNOWN)?)
    }

    #[test]
    fn a_repeated_parameter_is_refused_and_an_empty_one_is_omitted() {
        let refusal = parse(b"grant_type=client_credentials&client_id=a&client_id=b").unwrap_err();
        assert_eq!(refusal.error, "invalid_request");
        assert!(refusal.description.contains("client_id"));
        let form = parse(b"grant_type=client_credentials&scope=&x=1&audience=api").unwrap();
        assert!(form.get("scope").is_none());
        assert_eq!(form.get("audience"), Some("api"));
    }

    #[test]
    fn the_secret_never_appears_in_a_refusal() {
        let refusal =
            parse(b"grant_type=client_credentials&client_secret=hunter2&client_secret=hunter2")
                .unwrap_err();
        assert!(!format!("{refusal:?}").contains("hunter2"));
        let mut form = parse(b"grant_type=client_credentials&client_secret=hunter2").unwrap();
        assert!(!format!("{form:?}").contains("hunter2"));
        let mut headers = HeaderMap::new();
        let basic = base64::engine::general_purpose::STANDARD.encode("id:hunter2");
        headers.insert(
            header::AUTHORIZATION,
            format!("Basic {basic}").parse().unwrap(),
        );
        let refusal = credentials(&headers, &mut form).unwrap_err();
        assert!(!format!("{refusal:?}").contains("hunter2"));
    }
}
