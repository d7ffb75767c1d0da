//! The OAuth 2.0 endpoints of the HTTP listener, for service accounts:
//!
//! - [`token`]: `POST /oauth2/token`, the client credentials grant (RFC 6749
//!   §4.4), so any OAuth2 client library gets an authd access token with no
//!   gRPC.
//! - [`introspect`]: `POST /oauth2/introspect`, token introspection (RFC
//!   7662): is this token active, and whose.
//! - [`revoke`]: `POST /oauth2/revoke`, token revocation (RFC 7009): end
//!   the token's session.
//!
//! Adapter only: each endpoint unpacks the form and the client's
//! credentials, calls one [`AuthCore`](crate::service::AuthCore) method
//! (which checks the secret, throttles and decides) and packs the answer; no
//! SQL, no crypto, no policy. What this module owns is what the RFCs leave
//! to the endpoints' syntax, shared by all of them:
//!
//! - The body is `application/x-www-form-urlencoded` (RFC 6749 §3.2), of
//!   bounded size (each endpoint's cap); a parameter sent twice is
//!   `invalid_request` (§3.2), one sent empty counts as omitted, unknown
//!   ones are ignored. Another content type (JSON included) is 400
//!   `invalid_request`, not 415: the RFCs' error answers are §5.2's, whose
//!   `invalid_request` is exactly "a request the endpoint cannot parse", and
//!   OAuth2 client libraries read an error from that JSON, not from a 415.
//! - The client authenticates with HTTP Basic (`client_secret_basic`, §2.3.1:
//!   the id and secret are form-urlencoded, then base64) or with `client_id`
//!   and `client_secret` in the body (`client_secret_post`), never both
//!   (§2.3, `invalid_request`). A `client_id` in the body next to Basic is
//!   allowed when it names the same client. Any other `Authorization`
//!   scheme (a user's `Bearer` token included), or no credentials, is
//!   `invalid_client`.
//!
//! Every answer is JSON with `Cache-Control: no-store` and `Pragma:
//! no-cache` (§5.1). Errors are `{"error", "error_description"}` (§5.2),
//! mapped from [`Error`] in one exhaustive place ([`Refusal::from`]). The
//! answers every endpoint shares:
//!
//! | Answer | When |
//! |---|---|
//! | 400 `invalid_request` | wrong content type, malformed body or Basic header, a repeated parameter, both authentication methods, a bad field |
//! | 401 `invalid_client` + `WWW-Authenticate: Basic realm="authd"` | no, unknown or wrong credentials (one answer), another auth scheme |
//! | 405 `invalid_request` + `Allow: POST` | another method |
//! | 413 `invalid_request` | a body over the endpoint's cap |
//! | 429 `temporarily_unavailable` + `Retry-After` | too many failed attempts from this client id or address (RFC 6585) |
//! | 503 `temporarily_unavailable` | the database is unreachable, or authd is saturated |
//! | 500 `server_error` | a bug; the description holds only a correlation id |
//!
//! Throttling is the service's; the address it counts under is the peer's,
//! or the last `x-forwarded-for` hop when the peer is a trusted proxy, as
//! on the gRPC side. Secrets (the client secret, a token sent to be
//! inspected) are never logged: each call's span holds only the method, the
//! gRPC code it counts as (for `authd_rpc_*{method="OAuth2Token"}` and the
//! like) and the service account's id once authd vouches for it.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
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
use crate::service::{ClientCredentials, ClientInfo};

pub mod introspect;
pub mod revoke;
pub mod token;

/// The largest token request body: a client id, a 256-bit secret and an
/// audience fit many times over; anything bigger is not a token request.
pub const MAX_BODY_BYTES: usize = 8 * 1024;

/// The largest body of an introspection or revocation request: a token of
/// the largest size Verify reads ([`crate::token::MAX_TOKEN_BYTES`]),
/// percent-encoded, and the client's credentials fit; anything bigger is
/// refused before it is read.
pub const MAX_TOKEN_FORM_BYTES: usize = 64 * 1024;

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
            Error::ResourceExhausted(message) | Error::Interrupted(message) => refusal(
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
    /// `unauthorized_client`, `unsupported_token_type`,
    /// `temporarily_unavailable`, `server_error`).
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

/// What differs between the endpoints in the parts they share.
#[derive(Debug, Clone, Copy)]
struct Endpoint {
    /// What its calls are counted and logged as.
    method: Method,
    /// Its name in messages ("the token endpoint").
    name: &'static str,
    /// The RFC section that says how its parameters are sent.
    form_rule: &'static str,
    /// The largest body it reads.
    max_body: usize,
}

/// The answer to any method but POST.
fn method_not_allowed(endpoint: Endpoint) -> Refusal {
    Refusal::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "invalid_request",
        Code::Unimplemented,
        format!("{} takes POST only ({})", endpoint.name, endpoint.form_rule),
    )
}

/// Runs one request in a span like a gRPC call's (method, code, the
/// account id once known; never the request), records it under the
/// endpoint's [`Method`] and logs its outcome.
async fn observed(
    state: &HttpState,
    endpoint: Endpoint,
    handler: impl Future<Output = Result<Response, Refusal>>,
) -> Response {
    let method = endpoint.method;
    let span = tracing::info_span!(
        "rpc",
        method = method.name(),
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
        state.metrics.rpc().observe(method, code, started.elapsed());
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

/// A 200 JSON answer, never cached.
fn json_ok(body: &impl Serialize) -> Response {
    let body = serde_json::to_string(body).unwrap_or_default();
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

/// Reads the body of a request to `endpoint`: the content type, the size
/// (at most the endpoint's cap), then [`Params::parse`] with the names it
/// reads.
async fn read_form(
    endpoint: Endpoint,
    headers: &HeaderMap,
    body: Body,
    known: &[&'static str],
) -> Result<Params, Refusal> {
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err(Refusal::invalid_request(format!(
            "send the parameters as Content-Type: application/x-www-form-urlencoded ({})",
            endpoint.form_rule
        )));
    }
    let max = endpoint.max_body;
    let too_large = || {
        Refusal::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "invalid_request",
            Code::InvalidArgument,
            format!("the request body must be at most {max} bytes"),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(too_large());
    }
    // A chunked body past the limit, or one that broke off: either way
    // nothing to parse.
    let bytes = axum::body::to_bytes(body, max)
        .await
        .map_err(|_| too_large())?;
    Params::parse(&bytes, known)
}

/// The parameters of an `application/x-www-form-urlencoded` body (RFC 6749
/// §3.2) that an endpoint reads. `Debug` names only which were sent: the
/// values may be secrets (a client secret, a token to inspect).
struct Params {
    values: Vec<(&'static str, String)>,
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.values.iter().map(|(name, _)| name))
            .finish()
    }
}

impl Params {
    /// Each parameter named in `known` at most once, and UTF-8 once
    /// decoded; one sent empty counts as omitted, others are ignored (§3.2).
    fn parse(bytes: &[u8], known: &[&'static str]) -> Result<Self, Refusal> {
        let mut values: Vec<(&'static str, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(bytes) {
            // §3.2: unrecognized parameters are ignored.
            let Some(name) = known.iter().copied().find(|k| *k == name) else {
                continue;
            };
            // §3.2: a parameter sent without a value is treated as omitted.
            if value.is_empty() {
                continue;
            }
            if values.iter().any(|(n, _)| *n == name) {
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
            values.push((name, value.into_owned()));
        }
        Ok(Self { values })
    }

    /// The value of `name`, if sent (and not empty).
    fn get(&self, name: &str) -> Option<&str> {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Takes the value of `name` out, if sent.
    fn take(&mut self, name: &str) -> Option<String> {
        let at = self.values.iter().position(|(n, _)| *n == name)?;
        Some(self.values.swap_remove(at).1)
    }

    /// Takes the value of a secret parameter out.
    fn take_secret(&mut self, name: &str) -> Option<SecretString> {
        self.take(name).map(SecretString::from)
    }
}

/// The names of the client-authentication parameters every endpoint reads.
const CLIENT_PARAMS: [&str; 2] = ["client_id", "client_secret"];

/// The client's id and secret, from HTTP Basic or the body's `client_id`
/// and `client_secret` (taken out of `params`), never both (§2.3).
fn credentials(
    headers: &HeaderMap,
    params: &mut Params,
) -> Result<(String, SecretString), Refusal> {
    let form_id = params.take("client_id");
    let form_secret = params.take_secret("client_secret");
    match (basic(headers)?, form_id, form_secret) {
        (Some(_), _, Some(_)) => Err(Refusal::invalid_request(
            "the client authenticated twice, with the Authorization header and with \
             client_secret in the body; use one method (RFC 6749 §2.3)",
        )),
        (Some((id, _)), Some(form_id), None) if form_id != id => Err(Refusal::invalid_request(
            "client_id in the body names another client than the Authorization header",
        )),
        (Some((id, secret)), _, None) | (None, Some(id), Some(secret)) => Ok((id, secret)),
        (None, _, _) => Err(Refusal::invalid_client(
            "client authentication is required: HTTP Basic with the client id and secret, \
             or client_id and client_secret in the body",
        )),
    }
}

/// The client's [`credentials`] and where it called from, for the service.
fn client_credentials(
    state: &HttpState,
    parts: &axum::http::request::Parts,
    params: &mut Params,
) -> Result<ClientCredentials, Refusal> {
    let (client_id, client_secret) = credentials(&parts.headers, params)?;
    let peer = parts.extensions.get::<Peer>().map(|p| p.0);
    Ok(ClientCredentials {
        client_id,
        client_secret,
        client: client_info(state, peer, &parts.headers),
    })
}

/// The `token` parameter of an introspection or revocation request.
fn required_token(params: &mut Params, rule: &str) -> Result<SecretString, Refusal> {
    params.take_secret("token").ok_or_else(|| {
        Refusal::invalid_request(format!(
            "`token` is missing; send the token as token=... ({rule})"
        ))
    })
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
mod tests;
