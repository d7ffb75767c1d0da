//! `/auth/verify`: forward authentication for reverse proxies, nginx
//! (`auth_request`), Caddy (`forward_auth`) and Traefik (`forwardAuth`).
//!
//! The proxy sends each client request's headers here before it passes the
//! request on; authd answers whether the bearer token in them is valid and,
//! if so, whose it is. Adapter only: no SQL, no crypto, no policy. The token
//! goes to [`AuthCore::verify`](crate::service::AuthCore::verify), so it meets every check Verify makes
//! (signature, expiry, revocation, disabled user, ended session, ...); the
//! header rules are [`crate::token::bearer`]'s, the same as Envoy's
//! ext_authz (`grpc::ext_authz`), so the two doors refuse alike.
//!
//! Any method is answered alike (proxies send `GET`, some the client's own
//! method), and the request body is never read. The answers, fail-closed:
//!
//! | Answer | When |
//! |---|---|
//! | 200, empty body, with the identity headers | exactly one `Authorization: Bearer <token>` whose token verifies (a user's or a service account's) |
//! | 401 + `WWW-Authenticate: Bearer error="invalid_token"` | no `Authorization` header, two of them, another scheme (`bearer` in lower case too, as ext_authz), a malformed, expired, revoked or otherwise invalid token |
//! | 503 + `Retry-After: 1` | authd cannot decide: its database is unreachable while the cache is not trusted, or it is saturated |
//! | 500 | a bug; the body holds only a correlation id |
//!
//! The identity headers are ext_authz's, with its names and settings
//! ([`ExtAuthzHeaders`], `--ext-authz-*-header`): the user's or service
//! account's id, its name, its roles (comma-separated, sent empty when it has
//! none, so a proxy that copies the header overwrites a client's copy) and
//! the principal type (`user` or `service_account`). The proxy copies them
//! onto the request it passes on; it must also drop any copy the client sent
//! (README, "Behind nginx / Caddy / Traefik").
//!
//! A token in the query string (`?access_token=`) is ignored: RFC 6750 §2.3
//! discourages it, and proxies log query strings. The original method and
//! URI come from `X-Forwarded-Method` / `X-Forwarded-Uri` (Caddy, Traefik)
//! or `X-Original-Method` / `X-Original-URI` (nginx): they are recorded on
//! the request's span (the URI without its query string, which may carry
//! credentials) and decide nothing. Every answer carries `Cache-Control:
//! no-store`, so no cache between the proxy and authd keeps one client's
//! answer for another. Each request counts under
//! `authd_rpc_*{method="ForwardAuth"}` with the gRPC code it maps to.

use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tonic::Code;
use tracing::Instrument as _;

use super::HttpState;
use crate::error::Error;
use crate::grpc::ext_authz::{ExtAuthzHeaders, Identity};
use crate::grpc::status;
use crate::metrics::Method;
use crate::token::bearer;

/// The path proxies are pointed at.
pub const PATH: &str = "/auth/verify";

/// Longest original URI recorded on the span; the rest is cut.
const MAX_LOGGED_URI: usize = 256;

/// A refused or failed check: the HTTP answer and the gRPC code it counts as.
#[derive(Debug)]
struct Refusal {
    status: StatusCode,
    code: Code,
    /// The plain-text body: what is wrong, never an echo of the request
    /// nor internal detail.
    body: String,
}

impl Refusal {
    /// 401 with the bearer challenge; `why` goes to the log only.
    fn invalid_token(why: &str) -> Self {
        tracing::debug!(why, "forward-auth denied a request");
        Self {
            status: StatusCode::UNAUTHORIZED,
            code: Code::Unauthenticated,
            body: "invalid or missing bearer token\n".to_owned(),
        }
    }
}

impl From<Error> for Refusal {
    /// The one mapping from [`Error`] to a forward-auth answer. Exhaustive:
    /// a new variant must choose one. The gRPC code counted is the one
    /// [`status::code_of`] gives, so every door reports alike.
    fn from(error: Error) -> Self {
        let code = status::code_of(&error);
        let refusal = |status, body: String| Self { status, code, body };
        match error {
            // Verify reports a bad token as an answer, not an error; any
            // caller error that still gets here is a denial all the same.
            Error::InvalidArgument { .. }
            | Error::InvalidFields(_)
            | Error::InvalidCredentials
            | Error::Unauthenticated(_)
            | Error::PermissionDenied(_)
            | Error::NotFound(_)
            | Error::AlreadyExists(_)
            | Error::FailedPrecondition(_) => {
                tracing::debug!(error = %error, "forward-auth denied a request");
                refusal(
                    StatusCode::UNAUTHORIZED,
                    "invalid or missing bearer token\n".to_owned(),
                )
            }
            Error::ResourceExhausted(_) | Error::Throttled { .. } | Error::Interrupted(_) => {
                refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "authd is saturated; retry later\n".to_owned(),
                )
            }
            Error::Unavailable { .. } => {
                let id = status::correlation_id();
                tracing::error!(error = %error, error_id = %id, "dependency unavailable");
                refusal(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!(
                        "authd cannot reach its database right now; retry later (error id {id})\n"
                    ),
                )
            }
            Error::Internal { .. } | Error::Config(_) => {
                let id = status::correlation_id();
                tracing::error!(error = %error, error_id = %id, "internal error");
                refusal(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("internal error (error id {id})\n"),
                )
            }
        }
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            self.body,
        )
            .into_response();
        let headers = response.headers_mut();
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(bearer::CHALLENGE),
            );
        }
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

/// Forward-auth for reverse proxies
///
/// nginx `auth_request`, Caddy `forward_auth` and Traefik `forwardAuth` ask
/// here whether the client's `Authorization: Bearer` token is valid; any
/// method is answered alike and the body is never read.
#[utoipa::path(
    method(get, post, put, delete, patch, head, options, trace),
    path = "/auth/verify",
    operation_id = "forward_auth",
    tag = "forward-auth",
    params(
        ("X-Forwarded-Method" = Option<String>, Header, description = "The client's method (Caddy, Traefik); logged only"),
        ("X-Forwarded-Uri" = Option<String>, Header, description = "The client's URI (Caddy, Traefik); logged without its query"),
        ("X-Original-Method" = Option<String>, Header, description = "The client's method (nginx); logged only"),
        ("X-Original-URI" = Option<String>, Header, description = "The client's URI (nginx); logged without its query"),
    ),
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Valid: empty body, the identity headers (names set by `--ext-authz-*-header`)",
            headers(
                ("X-Authd-User-Id" = String, description = "The user's or service account's id"),
                ("X-Authd-Username" = String, description = "Its name"),
                ("X-Authd-Roles" = String, description = "Its roles, comma-separated (empty when none)"),
            )),
        (status = 401, description = "No, two, or another scheme's `Authorization` header, or an invalid token",
            body = String, content_type = "text/plain",
            headers(("WWW-Authenticate" = String, description = "`Bearer error=\"invalid_token\"`"))),
        (status = 500, description = "A bug; the body holds only a correlation id", body = String, content_type = "text/plain"),
        (status = 503, description = "authd cannot decide (database unreachable while the cache is untrusted, or saturated)",
            body = String, content_type = "text/plain", headers(("Retry-After" = i64, description = "`1`"))),
    )
)]
pub(super) async fn verify(State(state): State<HttpState>, request: Request) -> Response {
    let headers = request.headers();
    let method = forwarded(headers, &["x-forwarded-method", "x-original-method"])
        .map(|m| truncated(&m).to_owned());
    let uri = forwarded(headers, &["x-forwarded-uri", "x-original-uri"])
        .map(|u| truncated(without_query(&u)).to_owned());
    let span = tracing::info_span!(
        "rpc",
        method = Method::ForwardAuth.name(),
        code = tracing::field::Empty,
        user_id = tracing::field::Empty,
        forwarded_method = method.as_deref().map(tracing::field::debug),
        forwarded_uri = uri.as_deref().map(tracing::field::debug),
    );
    async move {
        let started = Instant::now();
        let (code, response) = match check(&state, request.headers()).await {
            Ok(response) => (Code::Ok, response),
            Err(refusal) => (refusal.code, refusal.into_response()),
        };
        tracing::Span::current().record("code", tracing::field::debug(code));
        state
            .metrics
            .rpc()
            .observe(Method::ForwardAuth, code, started.elapsed());
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        let http_status = response.status().as_u16();
        // Like Verify: a line per allowed request would cost more than the check.
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

/// The answer for a request whose headers are `headers`.
async fn check(state: &HttpState, headers: &HeaderMap) -> Result<Response, Refusal> {
    let values = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .map(HeaderValue::as_bytes);
    let token = bearer::from_authorization(values).map_err(Refusal::invalid_token)?;
    let now = state.core.clock().now_unix();
    let who = Identity::of(state.core.verify(token, now).await?)
        .map_err(|reason| Refusal::invalid_token(reason.describe()))?;
    tracing::Span::current().record("user_id", who.id.as_str());
    allowed(&state.identity_headers, who)
}

/// The 200 answer, naming `who` in the identity headers.
fn allowed(names: &ExtAuthzHeaders, who: Identity) -> Result<Response, Refusal> {
    let mut response = (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response();
    let headers = response.headers_mut();
    for (name, value) in [
        (&names.user_id, who.id),
        (&names.username, who.name),
        (&names.roles, who.roles.join(",")),
        (&names.principal_type, who.principal_type.to_owned()),
    ] {
        // Names are validated settings and values validated identifiers:
        // a failure here is a bug, and no half-filled 200 goes out.
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|e| Error::internal("naming an identity header", e))?;
        let value = HeaderValue::try_from(value)
            .map_err(|e| Error::internal("filling an identity header", e))?;
        headers.insert(name, value);
    }
    Ok(response)
}

/// The first of the `names` headers present, as text (bytes that are not
/// UTF-8 replaced), for the span.
fn forwarded(headers: &HeaderMap, names: &[&str]) -> Option<String> {
    names
        .iter()
        .find_map(|name| headers.get(*name))
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
}

/// `uri` without its query string (which may carry credentials) or fragment.
fn without_query(uri: &str) -> &str {
    uri.split(['?', '#']).next().unwrap_or_default()
}

/// At most [`MAX_LOGGED_URI`] bytes of `text`, cut on a character boundary.
fn truncated(text: &str) -> &str {
    let mut end = text.len().min(MAX_LOGGED_URI);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_logged_uri_has_no_query_and_a_bounded_length() {
        assert_eq!(without_query("/orders?access_token=abc"), "/orders");
        assert_eq!(without_query("/a#frag?x"), "/a");
        assert_eq!(without_query("?x"), "");
        let long = "é".repeat(300);
        assert!(truncated(&long).len() <= MAX_LOGGED_URI);
        assert!(truncated(&long).chars().all(|c| c == 'é'));
    }

    #[test]
    fn every_error_maps_to_a_denial_or_a_failure() {
        let unavailable = Refusal::from(Error::Unavailable {
            context: "reading",
            source: "db at 10.0.0.1 down".into(),
        });
        assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(unavailable.code, Code::Unavailable);
        assert!(!unavailable.body.contains("10.0.0.1"));
        let internal = Refusal::from(Error::internal_msg("x", "secret detail"));
        assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!internal.body.contains("secret detail"));
        let denied = Refusal::from(Error::Unauthenticated("no".to_owned()));
        assert_eq!(denied.status, StatusCode::UNAUTHORIZED);
        let response = denied.into_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            bearer::CHALLENGE
        );
    }

    #[test]
    fn an_allowed_answer_carries_every_identity_header_roles_even_when_empty() {
        let response = allowed(
            &ExtAuthzHeaders::default(),
            Identity {
                id: "u1".to_owned(),
                name: "alice".to_owned(),
                roles: Vec::new(),
                principal_type: "user",
            },
        )
        .unwrap();
        let headers = response.headers();
        assert_eq!(headers["x-authd-user-id"], "u1");
        assert_eq!(headers["x-authd-username"], "alice");
        assert_eq!(headers["x-authd-roles"], "");
        assert_eq!(headers["x-authd-principal-type"], "user");
        assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    }
}
