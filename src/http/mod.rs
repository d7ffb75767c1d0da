//! The HTTP listener: JWKS, OpenID discovery, health, Prometheus metrics,
//! the OAuth2 endpoints (token, introspection, revocation) and forward-auth
//! for reverse proxies.
//!
//! Adapter only: no SQL and no crypto here. Handlers read the live
//! [`KeySet`], read [`Readiness`] (whose database flag the app's background
//! probe keeps; `/readyz` itself never queries the database), render the app's
//! [`Metrics`], or hand an OAuth2 request to [`AuthCore`] ([`oauth2`]), or a
//! proxy's question about a bearer token ([`forward_auth`]). The router is axum's (already in the build through
//! tonic), served with hyper-util's connection builder, so the listener adds
//! no framework of its own. Everything here is public information; nothing
//! secret is ever served, except the access token `/oauth2/token` issues to
//! the client that authenticated for it (and what introspection says about a
//! token to an authenticated client that holds it), and the identity headers
//! `/auth/verify` returns to the proxy that asked.
//!
//! | Path | Answer |
//! |---|---|
//! | `GET /.well-known/jwks.json` | the published public keys, `Cache-Control: public, max-age=300` |
//! | `GET /.well-known/openid-configuration` | issuer, `jwks_uri` and the signing algorithms |
//! | `GET /healthz` | 200 while the process serves |
//! | `GET /readyz` | 200 when start-up is done, the database answered the last background probe (every `--readiness-probe-interval`) and authd is not shutting down, else 503; no database query of its own |
//! | `GET /metrics` | Prometheus text format |
//! | `POST /oauth2/token` | an access token for a service account (RFC 6749 §4.4, see [`oauth2::token`]) |
//! | `POST /oauth2/introspect` | whether a token is active, and whose (RFC 7662, see [`oauth2::introspect`]); for service accounts |
//! | `POST /oauth2/revoke` | ends a token's session (RFC 7009, see [`oauth2::revoke`]); for service accounts |
//! | `/auth/verify` (any method) | forward-auth for nginx `auth_request`, Caddy `forward_auth`, Traefik `forwardAuth`: 200 with the identity headers for a valid `Authorization: Bearer` token, 401 otherwise, 503 when authd cannot decide (see [`forward_auth`]) |
//! | `GET /openapi.json` | the OpenAPI 3.1 document of every path here, generated from the handlers ([`openapi`]) |
//!
//! Each handler carries its `#[utoipa::path]` (method, path, every status
//! it answers, the body schemas), so the document is written next to the
//! code it describes; [`openapi`]'s unit test fails when a route of
//! [`router`], or one of its methods, is missing from it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use serde::Serialize;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::client_addr::TrustedProxies;
use crate::grpc::ext_authz::ExtAuthzHeaders;
use crate::metrics::{self, Metrics};
use crate::readiness::Readiness;
use crate::service::AuthCore;
use crate::token::KeySet;

pub mod forward_auth;
pub mod oauth2;
pub mod openapi;

/// How long JWKS and discovery responses may be cached (5 minutes). Shorter
/// than the default key pre-publish period (1h), so caches learn a key
/// before it signs.
pub const JWKS_CACHE_CONTROL: &str = "public, max-age=300";

/// What the HTTP handlers read.
#[derive(Debug, Clone)]
pub struct HttpState {
    /// The live key set (public halves only are served).
    pub keys: Arc<KeySet>,
    /// The configured `iss`.
    pub issuer: String,
    /// This app's series, rendered by `/metrics`.
    pub metrics: Metrics,
    /// What `/readyz` answers from: 503 until migrations and keys are
    /// loaded, while the last database probe failed, and once shutdown has
    /// begun.
    pub readiness: Readiness,
    /// The listener's own address, for `jwks_uri` when the request has no
    /// usable authority (`:authority` or Host).
    pub local_addr: SocketAddr,
    /// Whether this listener serves TLS (`jwks_uri` is then `https://`).
    pub tls: bool,
    /// Issues service-account tokens on `/oauth2/token`.
    pub core: AuthCore,
    /// Whose `x-forwarded-for` names the client on `/oauth2/token` (failed
    /// client authentications are throttled per address).
    pub trusted_proxies: TrustedProxies,
    /// The names of the identity headers `/auth/verify` answers with
    /// (ext_authz's settings: both doors name the caller alike).
    pub identity_headers: ExtAuthzHeaders,
}

/// The routes, served with `state`.
pub fn router(state: HttpState) -> Router {
    routes().with_state(state)
}

/// Every route of the listener, before the state is given: what
/// [`router`] serves and what [`openapi`]'s unit test compares the
/// document with.
fn routes() -> Router<HttpState> {
    Router::new()
        .route("/.well-known/jwks.json", get(jwks))
        .route(
            "/.well-known/openid-configuration",
            get(openid_configuration),
        )
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics_text))
        .route(
            "/oauth2/token",
            post(oauth2::token::handle).fallback(oauth2::token::method_not_allowed),
        )
        .route(
            "/oauth2/introspect",
            post(oauth2::introspect::handle).fallback(oauth2::introspect::method_not_allowed),
        )
        .route(
            "/oauth2/revoke",
            post(oauth2::revoke::handle).fallback(oauth2::revoke::method_not_allowed),
        )
        .route(forward_auth::PATH, any(forward_auth::verify))
        .route("/openapi.json", get(openapi::openapi_json))
}

/// The most HTTP/2 streams one connection may have open; these endpoints
/// answer at once, so a client needs few.
const MAX_STREAMS_PER_CONNECTION: u32 = 100;
/// HTTP/2 request headers: as much as an HTTP/1 head may have (room for
/// an oversized bearer token on `/auth/verify` to get its 401).
const MAX_HEADER_LIST_BYTES: u32 = 160 * 1024;
/// hyper's HTTP/1 read buffer (its default is about 400 KiB, held by every
/// connection that sends a head slowly): [`crate::net::MAX_HEAD_BYTES`];
/// a longer head is answered 431.
const MAX_HTTP1_BUFFER: usize = crate::net::MAX_HEAD_BYTES;
/// HTTP/2 pings on idle connections find dead peers...
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// ...which are dropped when a ping is not answered within this.
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until the task is aborted. The app aborts
/// it only after the gRPC drain, so during shutdown `/readyz` answers 503
/// and `/metrics` can still be scraped. Dropping the task drops every open
/// connection with it (these endpoints hold no state worth draining).
///
/// The listener caps the open connections and each one's opening (see
/// [`crate::net`]): the TLS handshake (also bounded by
/// [`crate::tls::HANDSHAKE_TIMEOUT`], in the connection's own task so a
/// slow client cannot stall the accept loop) and the first request head must
/// be done by the connection's deadline. Later HTTP/1 heads get the same
/// time (hyper's header read timeout, which also closes a kept-alive
/// connection idle that long); a connection with no request in progress
/// for `idle_timeout` is closed (HTTP/2: GOAWAY first). A failed handshake
/// is logged at debug and the connection dropped.
pub async fn serve(
    mut listener: crate::net::Listener,
    router: Router,
    tls: Option<TlsAcceptor>,
    idle_timeout: Duration,
) {
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(listener.header_timeout())
        .max_buf_size(MAX_HTTP1_BUFFER);
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(HTTP2_KEEPALIVE_INTERVAL)
        .keep_alive_timeout(HTTP2_KEEPALIVE_TIMEOUT)
        .max_concurrent_streams(MAX_STREAMS_PER_CONNECTION)
        .max_header_list_size(MAX_HEADER_LIST_BYTES);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let peer = accepted.peer;
                let (activity, idle) = tokio::sync::watch::channel(0_usize);
                // Each request carries its connection's peer (the throttling
                // address) and counts as activity while it runs.
                let router = router.clone().map_request(with_peer(peer));
                let service = TowerToHyperService::new(tower::service_fn(move |request| {
                    let in_flight = InFlight::begin(&activity);
                    let answer = router.clone().oneshot(request);
                    async move {
                        let answer = answer.await;
                        drop(in_flight);
                        answer
                    }
                }));
                let tls = tls.clone();
                let builder = builder.clone();
                connections.spawn(async move {
                    match tls {
                        None => {
                            let stream = accepted.guard(crate::net::Opening::Http { bound_head: false });
                            serve_connection(&builder, stream, service, idle, idle_timeout).await;
                        }
                        Some(acceptor) => {
                            let opening = crate::net::Opening::Http { bound_head: false };
                            let limit = crate::tls::HANDSHAKE_TIMEOUT;
                            match crate::net::tls_handshake(accepted, &acceptor, limit, opening).await {
                                Ok(stream) => {
                                    serve_connection(&builder, stream, service, idle, idle_timeout)
                                        .await;
                                }
                                Err(e) => tracing::debug!(%peer, error = %e, "HTTP TLS handshake failed"),
                            }
                        }
                    }
                });
            }
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Serves one connection until it ends, closing it gracefully once no
/// request has been in progress for `idle_timeout`.
async fn serve_connection<S, Svc>(
    builder: &hyper_util::server::conn::auto::Builder<TokioExecutor>,
    stream: S,
    service: Svc,
    mut idle: tokio::sync::watch::Receiver<usize>,
    idle_timeout: Duration,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    Svc: hyper::service::Service<
            hyper::Request<hyper::body::Incoming>,
            Response = axum::response::Response,
            Error = std::convert::Infallible,
        > + Send
        + 'static,
    Svc::Future: Send + 'static,
{
    let connection = builder.serve_connection(TokioIo::new(stream), service);
    tokio::pin!(connection);
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = idle_for(&mut idle, idle_timeout) => {
            connection.as_mut().graceful_shutdown();
            // HTTP/2's graceful close waits for the peer to answer a PING;
            // one that does not is dropped as keepalive would drop it.
            match tokio::time::timeout(HTTP2_KEEPALIVE_TIMEOUT, connection.as_mut()).await {
                Ok(served) => served,
                Err(_) => return,
            }
        }
    };
    if let Err(e) = served {
        tracing::debug!(error = %e, "HTTP connection ended with an error");
    }
}

/// One request in progress on a connection; dropping it ends it.
struct InFlight(tokio::sync::watch::Sender<usize>);

impl InFlight {
    fn begin(activity: &tokio::sync::watch::Sender<usize>) -> Self {
        activity.send_modify(|n| *n += 1);
        Self(activity.clone())
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// Resolves once no request has been in progress for `timeout`.
async fn idle_for(idle: &mut tokio::sync::watch::Receiver<usize>, timeout: Duration) {
    loop {
        if idle.wait_for(|n| *n == 0).await.is_err() {
            // The service (and with it every sender) is gone: the
            // connection is ending by itself.
            return std::future::pending().await;
        }
        // Any change (a request starting) restarts the wait.
        if tokio::time::timeout(timeout, idle.changed()).await.is_err() {
            return;
        }
    }
}

/// Puts the connection's peer on each of its requests, for [`oauth2`].
fn with_peer<B>(
    peer: SocketAddr,
) -> impl FnMut(axum::http::Request<B>) -> axum::http::Request<B> + Clone {
    move |mut request| {
        request.extensions_mut().insert(oauth2::Peer(peer));
        request
    }
}

fn json(body: String, cache: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, cache),
        ],
        body,
    )
        .into_response()
}

/// The published public keys (JWK Set, RFC 7517 §5)
///
/// The current signing key, the next one (published before it signs) and
/// the previous one (until the tokens it signed have expired).
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    responses(
        (status = 200, description = "The JWK Set", body = openapi::JwkSet,
            content_type = "application/json",
            headers(("Cache-Control" = String, description = "`public, max-age=300`"))),
    )
)]
async fn jwks(State(state): State<HttpState>) -> Response {
    json(state.keys.jwks_json(), JWKS_CACHE_CONTROL)
}

/// The OpenID Provider metadata authd serves (OpenID Connect Discovery 1.0 §3).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub(crate) struct OpenIdConfiguration {
    /// The configured `iss` of every token.
    issuer: String,
    /// Where the JWK Set is: under the issuer when it is a URL, else under
    /// this listener as the client reached it (HTTP/2's `:authority`, else
    /// the `Host` header).
    jwks_uri: String,
    /// The JWA names of the published keys' algorithms.
    id_token_signing_alg_values_supported: Vec<&'static str>,
    /// The same algorithms.
    token_endpoint_auth_signing_alg_values_supported: Vec<&'static str>,
    /// Always `["token"]`.
    response_types_supported: Vec<&'static str>,
    /// Always `["public"]`.
    subject_types_supported: Vec<&'static str>,
    /// The claims authd's tokens carry.
    claims_supported: Vec<&'static str>,
}

/// OpenID Connect discovery
///
/// Enough for a stock JWT library to find the keys: the issuer, `jwks_uri`
/// and the signing algorithms.
#[utoipa::path(
    get,
    path = "/.well-known/openid-configuration",
    tag = "keys",
    responses(
        (status = 200, description = "The provider metadata", body = OpenIdConfiguration,
            content_type = "application/json",
            headers(
                ("Cache-Control" = String, description = "`public, max-age=300`, or `private, max-age=300` when `jwks_uri` comes from the request's authority (`:authority` or `Host`)"),
                ("Vary" = String, description = "`host` when `jwks_uri` comes from the request's authority (`:authority` or `Host`)"),
            )),
    )
)]
async fn openid_configuration(
    State(state): State<HttpState>,
    uri: axum::http::Uri,
    headers: HeaderMap,
) -> Response {
    let from_host = !(state.issuer.starts_with("https://") || state.issuer.starts_with("http://"));
    let base = if from_host {
        // The issuer is not a URL: point at this listener as the client
        // reached it. HTTP/2 names it in `:authority`, which hyper puts in the
        // request URI (and which wins over any Host, RFC 9113 §8.3.1), as does
        // an HTTP/1.1 absolute-form target (RFC 9112 §3.2.2); else `Host`.
        let host = uri
            .authority()
            .map(axum::http::uri::Authority::as_str)
            .or_else(|| headers.get(header::HOST).and_then(|h| h.to_str().ok()))
            .filter(|h| {
                !h.is_empty()
                    && h.len() <= 255
                    && h.bytes().all(|b| {
                        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']')
                    })
            })
            .map_or_else(|| state.local_addr.to_string(), str::to_owned);
        format!("{}://{host}", if state.tls { "https" } else { "http" })
    } else {
        state.issuer.trim_end_matches('/').to_owned()
    };
    let algs = state.keys.published_algorithms();
    let doc = OpenIdConfiguration {
        issuer: state.issuer.clone(),
        jwks_uri: format!("{base}/.well-known/jwks.json"),
        id_token_signing_alg_values_supported: algs.clone(),
        token_endpoint_auth_signing_alg_values_supported: algs,
        response_types_supported: vec!["token"],
        subject_types_supported: vec!["public"],
        claims_supported: vec!["iss", "sub", "aud", "exp", "nbf", "iat", "jti", "roles"],
    };
    let body = serde_json::to_string(&doc).unwrap_or_default();
    let mut response = json(body, JWKS_CACHE_CONTROL);
    if from_host {
        // The document depends on the authority: a shared cache must not
        // serve one client's `jwks_uri` to another.
        let headers = response.headers_mut();
        headers.insert(header::VARY, header::HeaderValue::from_static("host"));
        headers.insert(
            header::CACHE_CONTROL,
            header::HeaderValue::from_static("private, max-age=300"),
        );
    }
    response
}

/// Liveness
///
/// 200 while the process serves HTTP at all; it says nothing about the database.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process serves", body = String,
        content_type = "text/plain", example = "ok\n")),
)]
async fn healthz() -> &'static str {
    "ok\n"
}

/// Readiness
///
/// 200 once start-up is done, while the database answered the last
/// background probe and authd is not shutting down; the body says which.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "Ready", body = String, content_type = "text/plain",
            example = "ready\n"),
        (status = 503, description = "Starting, database unavailable, or shutting down",
            body = String, content_type = "text/plain", example = "database unavailable\n"),
    )
)]
async fn readyz(State(state): State<HttpState>) -> Response {
    let ready = state.readiness.state();
    if ready.stopping {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    if !ready.started {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "starting: waiting for the database\n",
        )
            .into_response();
    }
    // The background probe's last answer, not a query of our own: probes
    // are unauthenticated and may come in bursts, and each ping would take
    // a pooled connection from the calls that need one.
    if ready.database_up {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "database unavailable\n").into_response()
    }
}

/// Prometheus metrics
///
/// Every series of this process in the Prometheus text format 0.0.4.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses((status = 200, description = "The series", body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8")),
)]
async fn metrics_text(State(state): State<HttpState>) -> Response {
    let body = state.metrics.render();
    ([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], body).into_response()
}
