//! `POST /oauth2/token`: the OAuth 2.0 client credentials grant (RFC 6749
//! §4.4) for service accounts, so any OAuth2 client library gets an authd
//! access token with no gRPC.
//!
//! Adapter only: this module unpacks the form and the client's credentials,
//! calls [`AuthCore::issue_service_token`] (which checks the secret, throttles
//! and signs) and packs the answer; no SQL, no crypto, no policy. What it
//! decides is only what the RFC leaves to the token endpoint's syntax:
//!
//! - The body is `application/x-www-form-urlencoded` (§3.2), at most
//!   [`MAX_BODY_BYTES`]; a parameter sent twice is `invalid_request` (§3.2),
//!   one sent empty counts as omitted, unknown ones are ignored.
//! - `grant_type` must be `client_credentials` (`unsupported_grant_type`
//!   otherwise, `invalid_request` when missing). `audience` (optional, as in
//!   RFC 8693) asks for a token for that audience; a refused audience is
//!   `invalid_target`.
//! - `scope` is refused (`invalid_scope`): authd tokens carry the account's
//!   roles, not scopes, and silently issuing an unscoped token to a client
//!   that asked for a scope would let it believe it got one (§3.3 lets the
//!   server refuse).
//! - The client authenticates with HTTP Basic (`client_secret_basic`, §2.3.1:
//!   the id and secret are form-urlencoded, then base64) or with `client_id`
//!   and `client_secret` in the body (`client_secret_post`), never both
//!   (§2.3, `invalid_request`). A `client_id` in the body next to Basic is
//!   allowed when it names the same client. Any other `Authorization`
//!   scheme, or no credentials, is `invalid_client`.
//!
//! Every answer is JSON with `Cache-Control: no-store` and `Pragma:
//! no-cache` (§5.1). Errors are `{"error", "error_description"}` (§5.2),
//! mapped from [`Error`] in one exhaustive place ([`Refusal::from`]):
//!
//! | Answer | When |
//! |---|---|
//! | 200 `{"access_token","token_type":"Bearer","expires_in"}` | issued |
//! | 400 `invalid_request` | wrong content type, malformed body or Basic header, a repeated parameter, no `grant_type`, both authentication methods, a bad field |
//! | 400 `unsupported_grant_type` | any grant but `client_credentials` |
//! | 400 `invalid_scope` / `invalid_target` | a `scope`; a refused `audience` |
//! | 401 `invalid_client` + `WWW-Authenticate: Basic realm="authd"` | no, unknown or wrong credentials (one answer), another auth scheme |
//! | 405 `invalid_request` + `Allow: POST` | another method |
//! | 413 `invalid_request` | a body over [`MAX_BODY_BYTES`] |
//! | 429 `temporarily_unavailable` + `Retry-After` | too many failed attempts from this client id or address (RFC 6585) |
//! | 503 `temporarily_unavailable` | the database is unreachable, or authd is saturated |
//! | 500 `server_error` | a bug; the description holds only a correlation id |
//!
//! Throttling is the service's; the address it counts under is the peer's,
//! or the last `x-forwarded-for` hop when the peer is a trusted proxy, as
//! on the gRPC side. The secret is never logged: the call's span holds only
//! the method, the gRPC code it counts as (for `authd_rpc_*{method="OAuth2Token"}`)
//! and the service account's id once authd vouches for it.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use secrecy::SecretString;
use serde::Serialize;
use tonic::Code;
use tracing::Instrument as _;

use super::HttpState;
use crate::error::Error;
use crate::grpc::status;
use crate::metrics::Method;
use crate::service::ClientInfo;
use crate::token::IssuedToken;

/// The largest accepted request body: a client id, a 256-bit secret and an
/// audience fit many times over; anything bigger is not a token request.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// The `WWW-Authenticate` challenge of every 401 (§5.2).
pub const CHALLENGE: &str = "Basic realm=\"authd\"";

/// The peer of the connection a request came on, put on every request by
/// [`super::serve`]: what the throttling address is derived from.
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// An OAuth2 error answer (§5.2).
#[derive(Debug)]
pub struct Refusal {
    /// The HTTP status.
    status: StatusCode,
    /// The §5.2 `error` code.
    error: &'static str,
    /// The `error_description`: what is wrong and how to fix it, never a
    /// secret or an echo of the request.
    description: String,
    /// The gRPC code this answer counts as in the RPC metrics and span.
    code: Code,
    /// Seconds for `Retry-After` (429 and 503 only).
    retry_after: Option<i64>,
}

impl Refusal {
    fn new(status: StatusCode, error: &'static str, code: Code, description: String) -> Self {
        Self {
            status,
            error,
            description,
            code,
            retry_after: None,
        }
    }

    /// 400 `invalid_request`: the request is malformed.
    fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            Code::InvalidArgument,
            description.into(),
        )
    }

    /// 401 `invalid_client`: client authentication failed.
    fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            Code::Unauthenticated,
            description.into(),
        )
    }

    fn with_retry_after(mut self, seconds: i64) -> Self {
        self.retry_after = Some(seconds.max(1));
        self
    }
}

impl From<Error> for Refusal {
    /// The one mapping from [`Error`] to an OAuth2 answer. Exhaustive: a
    /// new variant must choose one. The gRPC code counted is the one
    /// [`status::code_of`] gives, so both doors report alike.
    fn from(error: Error) -> Self {
        let code = status::code_of(&error);
        let refusal = |status, oauth, description| Self::new(status, oauth, code, description);
        match error {
            Error::InvalidArgument { field, .. } if is_client_field(field) => refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                error.to_string(),
            ),
            Error::InvalidFields(ref violations)
                if violations.iter().any(|v| is_client_field(&v.field)) =>
            {
                refusal(
                    StatusCode::UNAUTHORIZED,
                    "invalid_client",
                    error.to_string(),
                )
            }
            // RFC 8693 §2.2.2: the server will not issue a token for that audience.
            Error::InvalidArgument {
                field: "audience", ..
            } => refusal(StatusCode::BAD_REQUEST, "invalid_target", error.to_string()),
            Error::InvalidFields(ref violations)
                if violations.iter().all(|v| v.field == "audience") =>
            {
                refusal(StatusCode::BAD_REQUEST, "invalid_target", error.to_string())
            }
            Error::InvalidArgument { .. }
            | Error::InvalidFields(_)
            | Error::AlreadyExists(_)
            | Error::FailedPrecondition(_) => refusal(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                error.to_string(),
            ),
            // Unknown client and wrong secret are one answer.
            Error::InvalidCredentials | Error::NotFound(_) => refusal(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "unknown client_id or wrong client_secret".to_owned(),
            ),
            Error::Unauthenticated(message) => {
                refusal(StatusCode::UNAUTHORIZED, "invalid_client", message)
            }
            Error::PermissionDenied(message) => {
                refusal(StatusCode::BAD_REQUEST, "unauthorized_client", message)
            }
            Error::Throttled { retry_after_secs } => refusal(
                StatusCode::TOO_MANY_REQUESTS,
                "temporarily_unavailable",
                error.to_string(),
            )
            .with_retry_after(retry_after_secs),
            Error::ResourceExhausted(message) => refusal(
                StatusCode::SERVICE_UNAVAILABLE,
                "temporarily_unavailable",
                message,
            )
            .with_retry_after(1),
            Error::Unavailable { .. } => {
                let id = status::correlation_id();
                tracing::error!(error = %error, error_id = %id, "dependency unavailable");
                refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "temporarily_unavailable",
                    format!(
                        "authd cannot reach its database right now; retry later (error id {id})"
                    ),
                )
            }
            Error::Internal { .. } | Error::Config(_) => {
                let id = status::correlation_id();
                tracing::error!(error = %error, error_id = %id, "internal error");
                refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "server_error",
                    format!("internal error (error id {id})"),
                )
            }
        }
    }
}

/// Whether a field the service refused belongs to the client's credentials
/// (a malformed id or secret fails client authentication, §5.2).
fn is_client_field(field: &str) -> bool {
    matches!(field, "client_id" | "client_secret")
}

/// The body of every error answer (RFC 6749 §5.2).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct ErrorBody<'a> {
    /// The §5.2 error code (`invalid_request`, `invalid_client`,
    /// `unsupported_grant_type`, `invalid_scope`, `invalid_target`,
    /// `unauthorized_client`, `temporarily_unavailable`, `server_error`).
    #[schema(example = "invalid_client")]
    error: &'a str,
    /// What is wrong and how to fix it; never a secret or an echo of the request.
    error_description: &'a str,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = serde_json::to_string(&ErrorBody {
            error: self.error,
            error_description: &self.description,
        })
        .unwrap_or_default();
        let mut response = (self.status, json_headers(), body).into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(CHALLENGE),
            );
        }
        if self.status == StatusCode::METHOD_NOT_ALLOWED {
            headers.insert(header::ALLOW, HeaderValue::from_static("POST"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// Every answer's headers: JSON, never cached (§5.1).
fn json_headers() -> [(header::HeaderName, &'static str); 3] {
    [
        (header::CONTENT_TYPE, "application/json"),
        (header::CACHE_CONTROL, "no-store"),
        (header::PRAGMA, "no-cache"),
    ]
}

/// Client credentials grant (RFC 6749 §4.4)
///
/// A service account trades its client id and secret for an access token:
/// by HTTP Basic (`client_secret_basic`: each form-urlencoded, then base64)
/// or by `client_id` and `client_secret` in the form (`client_secret_post`),
/// never both. Every answer has `Cache-Control: no-store`.
#[utoipa::path(
    post,
    path = "/oauth2/token",
    tag = "oauth2",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded",
        description = "The token request (RFC 6749 §4.4.2); a parameter sent empty counts as omitted, unknown ones are ignored"),
    security(("client_basic" = []), ()),
    responses(
        (status = 200, description = "Issued", body = TokenResponse),
        (status = 400, description = "`invalid_request` (wrong content type, malformed body or Basic header, a repeated parameter, no `grant_type`, both authentication methods, a bad field), `unsupported_grant_type`, `invalid_scope`, `invalid_target`, `unauthorized_client`", body = ErrorBody),
        (status = 401, description = "`invalid_client`: no, unknown or wrong credentials (one answer), another scheme",
            body = ErrorBody, headers(("WWW-Authenticate" = String, description = "`Basic realm=\"authd\"`"))),
        (status = 413, description = "`invalid_request`: the body is over 8 KiB", body = ErrorBody),
        (status = 429, description = "`temporarily_unavailable`: too many failed attempts from this client id or address",
            body = ErrorBody, headers(("Retry-After" = i64, description = "Seconds to wait"))),
        (status = 500, description = "`server_error`: a bug; the description holds only a correlation id", body = ErrorBody),
        (status = 503, description = "`temporarily_unavailable`: the database is unreachable, or authd is saturated",
            body = ErrorBody, headers(("Retry-After" = i64, description = "Seconds to wait"))),
    )
)]
pub(super) async fn token(State(state): State<HttpState>, request: Request) -> Response {
    observed(&state, async {
        let (parts, body) = request.into_parts();
        let peer = parts.extensions.get::<Peer>().map(|p| p.0);
        let client = client_info(&state, peer, &parts.headers);
        let form = read_form(&parts.headers, body).await?;
        let (client_id, client_secret) = credentials(&parts.headers, &form)?;
        let now = state.core.clock().now_unix();
        let issued = state
            .core
            .issue_service_token(
                &client_id,
                client_secret,
                form.audience.as_deref(),
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
pub(super) async fn method_not_allowed(State(state): State<HttpState>) -> Response {
    observed(&state, async {
        Err(Refusal::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            Code::Unimplemented,
            "the token endpoint takes POST only (RFC 6749 §3.2)".to_owned(),
        ))
    })
    .await
}

/// Runs one token request in a span like a gRPC call's (method, code, the
/// account id once known; never the request), records it under
/// [`Method::OAuth2Token`] and logs its outcome.
async fn observed(
    state: &HttpState,
    handler: impl Future<Output = Result<Response, Refusal>>,
) -> Response {
    let span = tracing::info_span!(
        "rpc",
        method = Method::OAuth2Token.name(),
        code = tracing::field::Empty,
        user_id = tracing::field::Empty
    );
    async move {
        let started = Instant::now();
        let (code, response) = match handler.await {
            Ok(response) => (Code::Ok, response),
            Err(refusal) => (refusal.code, refusal.into_response()),
        };
        tracing::Span::current().record("code", tracing::field::debug(code));
        state
            .metrics
            .rpc()
            .observe(Method::OAuth2Token, code, started.elapsed());
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let http_status = response.status().as_u16();
        if code == Code::Ok {
            tracing::debug!(elapsed_ms, http_status, "rpc finished");
        } else {
            tracing::info!(elapsed_ms, http_status, "rpc finished");
        }
        response
    }
    .instrument(span)
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
    let body = serde_json::to_string(&TokenResponse {
        access_token: &issued.token,
        token_type: "Bearer",
        expires_in: (issued.claims.exp - now).max(0),
    })
    .unwrap_or_default();
    (StatusCode::OK, json_headers(), body).into_response()
}

/// The caller's address (the peer, or a trusted proxy's last
/// `x-forwarded-for` hop) and user agent, as the gRPC adapter takes them.
fn client_info(state: &HttpState, peer: Option<SocketAddr>, headers: &HeaderMap) -> ClientInfo {
    let forwarded_for = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    ClientInfo {
        addr: peer.map(|p| {
            state
                .trusted_proxies
                .client_addr(p.ip(), forwarded_for)
                .to_string()
        }),
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// The parameters of a token request this endpoint reads (`Debug` hides
/// the secret); also the request body's schema in the OpenAPI document.
#[derive(Debug, Default, utoipa::ToSchema)]
#[schema(description = "The token request (RFC 6749 §4.4.2)")]
pub(crate) struct TokenForm {
    /// Must be `client_credentials`.
    #[schema(required, value_type = String, schema_with = grant_type_schema)]
    grant_type: Option<String>,
    /// Refused (`invalid_scope`): a token carries the account's roles, not scopes.
    #[schema(nullable = false)]
    scope: Option<String>,
    /// The audience the token is for (as in RFC 8693); the configured one when omitted.
    #[schema(nullable = false)]
    audience: Option<String>,
    /// The client id (`client_secret_post`; or next to Basic, naming the same client).
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    #[schema(value_type = Option<String>, nullable = false, format = Password)]
    client_secret: Option<SecretString>,
}

/// `grant_type`'s schema: the one value this endpoint grants.
fn grant_type_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["client_credentials"]))
        .description(Some("Must be `client_credentials`"))
        .build()
}

/// Reads and parses the body: the content type, the size, each known
/// parameter at most once, UTF-8, and the grant type and scope.
async fn read_form(headers: &HeaderMap, body: Body) -> Result<TokenForm, Refusal> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(Refusal::invalid_request(
            "send the parameters as Content-Type: application/x-www-form-urlencoded \
             (RFC 6749 §3.2)",
        ));
    }
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            Code::InvalidArgument,
            format!("the request body must be at most {MAX_BODY_BYTES} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    // A chunked body past the limit, or one that broke off: either way
    // nothing to parse.
    let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
        .await
        .map_err(|_| too_large())?;
    parse_form(&bytes)
}

/// The parameters of an `application/x-www-form-urlencoded` body (§3.2).
fn parse_form(bytes: &[u8]) -> Result<TokenForm, Refusal> {
    let mut form = TokenForm::default();
    let mut client_secret: Option<String> = None;
    for (name, value) in form_urlencoded::parse(bytes) {
        let slot = match name.as_ref() {
            "grant_type" => &mut form.grant_type,
            "scope" => &mut form.scope,
            "audience" => &mut form.audience,
            "client_id" => &mut form.client_id,
            "client_secret" => &mut client_secret,
            // §3.2: unrecognized parameters are ignored.
            _ => continue,
        };
        // §3.2: a parameter sent without a value is treated as omitted.
        if value.is_empty() {
            continue;
        }
        if slot.is_some() {
            return Err(Refusal::invalid_request(format!(
                "`{name}` is sent more than once; send each parameter once (RFC 6749 §3.2)"
            )));
        }
        // The parser replaces bytes that are not UTF-8 with U+FFFD.
        if value.contains('\u{fffd}') {
            return Err(Refusal::invalid_request(format!(
                "`{name}` is not UTF-8 once percent-decoded"
            )));
        }
        *slot = Some(value.into_owned());
    }
    form.client_secret = client_secret.map(SecretString::from);
    match form.grant_type.as_deref() {
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
    if form.scope.is_some() {
        return Err(Refusal::new(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            Code::InvalidArgument,
            "authd issues no scopes (a token carries the service account's roles); \
             omit scope"
                .to_owned(),
        ));
    }
    Ok(form)
}

/// The client's id and secret, from HTTP Basic or the body, never both (§2.3).
fn credentials(headers: &HeaderMap, form: &TokenForm) -> Result<(String, SecretString), Refusal> {
    match (basic(headers)?, &form.client_id, &form.client_secret) {
        (Some(_), _, Some(_)) => Err(Refusal::invalid_request(
            "the client authenticated twice, with the Authorization header and with \
             client_secret in the body; use one method (RFC 6749 §2.3)",
        )),
        (Some((id, _)), Some(form_id), None) if *form_id != id => Err(Refusal::invalid_request(
            "client_id in the body names another client than the Authorization header",
        )),
        (Some((id, secret)), _, None) => Ok((id, secret)),
        (None, Some(id), Some(secret)) => Ok((id.clone(), secret.clone())),
        (None, _, _) => Err(Refusal::invalid_client(
            "client authentication is required: HTTP Basic with the client id and secret, \
             or client_id and client_secret in the body",
        )),
    }
}

/// The id and secret of an `Authorization: Basic` header (§2.3.1): base64
/// of `id:secret`, each form-urlencoded first. `None` without the header.
fn basic(headers: &HeaderMap) -> Result<Option<(String, SecretString)>, Refusal> {
    let mut values = headers.get_all(header::AUTHORIZATION).iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Refusal::invalid_request(
            "send at most one Authorization header",
        ));
    }
    let malformed = |what: &str| {
        Refusal::invalid_request(format!(
            "malformed Basic credentials: {what}; send `Basic base64(client_id:client_secret)`, \
             each form-urlencoded first (RFC 6749 §2.3.1)"
        ))
    };
    let value = value.to_str().map_err(|_| malformed("not ASCII"))?;
    let (scheme, encoded) = value.split_once(' ').unwrap_or((value, ""));
    if !scheme.eq_ignore_ascii_case("basic") {
        return Err(Refusal::invalid_client(
            "unsupported client authentication scheme; use HTTP Basic, or client_id and \
             client_secret in the body",
        ));
    }
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded.trim())
        .map_err(|_| malformed("not base64"))?;
    let decoded =
        SecretString::from(String::from_utf8(decoded).map_err(|_| malformed("not UTF-8"))?);
    let (id, secret) = secrecy::ExposeSecret::expose_secret(&decoded)
        .split_once(':')
        .ok_or_else(|| malformed("no `:` between the id and the secret"))?;
    let id = form_decode(id).ok_or_else(|| malformed("the client id is not UTF-8"))?;
    let secret = form_decode(secret).ok_or_else(|| malformed("the secret is not UTF-8"))?;
    if id.is_empty() || secret.is_empty() {
        return Err(Refusal::invalid_client(
            "the Basic credentials need both a client id and a secret",
        ));
    }
    Ok(Some((id, SecretString::from(secret))))
}

/// Undoes `application/x-www-form-urlencoded` encoding of one value (`+` is
/// a space, `%XX` a byte); `None` unless the result is UTF-8.
fn form_decode(value: &str) -> Option<String> {
    let spaced = value.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .ok()
        .map(std::borrow::Cow::into_owned)
}

#[cfg(test)]
mod tests {
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
    fn a_repeated_parameter_is_refused_and_an_empty_one_is_omitted() {
        let refusal =
            parse_form(b"grant_type=client_credentials&client_id=a&client_id=b").unwrap_err();
        assert_eq!(refusal.error, "invalid_request");
        assert!(refusal.description.contains("client_id"));
        let form = parse_form(b"grant_type=client_credentials&scope=&x=1&audience=api").unwrap();
        assert!(form.scope.is_none());
        assert_eq!(form.audience.as_deref(), Some("api"));
    }

    #[test]
    fn the_secret_never_appears_in_a_refusal() {
        let refusal = parse_form(
            b"grant_type=client_credentials&client_secret=hunter2&client_secret=hunter2",
        )
        .unwrap_err();
        assert!(!format!("{refusal:?}").contains("hunter2"));
        let form = parse_form(b"grant_type=client_credentials&client_secret=hunter2").unwrap();
        let headers = basic_header(&format!("Basic {}", b64("id:hunter2")));
        let refusal = credentials(&headers, &form).unwrap_err();
        assert!(!format!("{refusal:?}").contains("hunter2"));
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
}
