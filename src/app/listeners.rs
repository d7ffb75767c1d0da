//! The gRPC port's transport: binding both listeners (with errors naming
//! the flag to change), the capped, deadline-guarded incoming connections,
//! TLS terminated by authd below the guard ([`crate::net`]), and tonic's
//! server with authd's HTTP/2 limits.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_stream::Stream;
use tonic::transport::Server;

use crate::error::{Error, Result};
use crate::net::{Guarded, Opening};

use super::settings;

/// Streams one client connection may have open; beyond it calls are shed
/// at once (RESOURCE_EXHAUSTED) instead of queueing without bound.
const MAX_STREAMS_PER_CONNECTION: usize = 100;
/// HTTP/2 pings on idle connections, to find dead peers (and keep NATs open).
const HTTP2_KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);
/// A peer that does not answer a ping within this is dropped.
const HTTP2_KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(10);
/// Request headers (metadata) per call: room for the largest bearer token
/// (`--max-token-bytes` is at most 64 KiB) and the usual gRPC headers.
const MAX_HEADER_LIST_BYTES: u32 = 96 * 1024;
/// Connections are closed (GOAWAY, in-flight calls finish) after this long,
/// idle or not, so no connection lives for ever and clients rebalance
/// across replicas.
const MAX_CONNECTION_AGE: Duration = Duration::from_secs(3600);

/// The gRPC server with authd's transport limits; docs/performance.md and
/// docs/security.md explain each choice. TLS is not tonic's: authd runs the
/// handshake below it ([`grpc_incoming`]).
pub(super) fn transport(config: &settings::ServerSettings) -> Server {
    let builder = Server::builder();
    // TCP_NODELAY is set on each accepted socket by `net::Listener`.
    // HTTP/1.1 too, for gRPC-Web from browsers (`grpc::web`); native gRPC
    // stays HTTP/2, and over TLS ALPN offers only h2 (`tls::grpc_acceptor`).
    builder
        .accept_http1(true)
        .http2_keepalive_interval(Some(HTTP2_KEEPALIVE_INTERVAL))
        .http2_keepalive_timeout(Some(HTTP2_KEEPALIVE_TIMEOUT))
        .http2_max_header_list_size(MAX_HEADER_LIST_BYTES)
        .max_connection_age(MAX_CONNECTION_AGE)
        .max_connection_age_grace(config.shutdown_grace)
        .max_concurrent_streams(u32::try_from(MAX_STREAMS_PER_CONNECTION).ok())
        .concurrency_limit_per_connection(MAX_STREAMS_PER_CONNECTION)
        .load_shed(true)
        // Also the cap on a caller's `grpc-timeout`: tonic uses the shorter.
        .timeout(config.request_timeout)
}

/// The gRPC listener's connections: plaintext ones, or TLS ones after
/// their handshake. The two are different stream types for tonic, whose
/// handlers find the peer certificates by the TLS one's connection info.
pub(super) enum GrpcIncoming<P, T> {
    /// Without TLS.
    Plain(P),
    /// With TLS, terminated by authd.
    Tls(T),
}

/// The gRPC listener's connections, capped, each with its opening deadline
/// and idle timeout, accept errors backed off (see [`crate::net`]). With
/// `tls` authd runs the handshake itself, each in its own task and within
/// the opening deadline, and guards the decrypted stream: the preface after
/// the handshake is held to the same deadline, and the idle timeout parses
/// HTTP/2 frames exactly as in plaintext.
pub(super) fn grpc_incoming(
    listener: TcpListener,
    config: &settings::ServerSettings,
    tls: Option<&crate::tls::TlsSettings>,
) -> GrpcIncoming<
    impl Stream<Item = io::Result<Guarded<TcpStream>>> + Send + 'static,
    impl Stream<Item = io::Result<crate::net::TlsConnection>> + Send + 'static,
> {
    let opening = Opening::Http { bound_head: true };
    let listener = crate::net::Listener::new(
        listener,
        "grpc",
        config.grpc_max_connections,
        config.header_read_timeout,
    );
    match tls {
        None => GrpcIncoming::Plain(listener.into_stream(opening, config.grpc_idle_timeout)),
        Some(tls) => GrpcIncoming::Tls(listener.into_tls_stream(
            tls.grpc_acceptor(),
            crate::tls::HANDSHAKE_TIMEOUT,
            opening,
            config.grpc_idle_timeout,
        )),
    }
}

/// Binds the gRPC listener and, unless turned off, the HTTP listener, with
/// errors that say which flag to change.
pub(super) async fn bind_listeners(
    config: &settings::ServerSettings,
) -> Result<(TcpListener, SocketAddr, Option<(TcpListener, SocketAddr)>)> {
    let listener = TcpListener::bind(config.listen).await.map_err(|e| {
        Error::Config(format!(
            "cannot listen on {}: {e}; choose another address with --listen / AUTHD_LISTEN",
            config.listen
        ))
    })?;
    let local_addr = listener
        .local_addr()
        .map_err(|e| Error::internal("reading the listen address", e))?;
    let http = match config.http_listen {
        None => None,
        Some(addr) => {
            let listener = TcpListener::bind(addr).await.map_err(|e| {
                Error::Config(format!(
                    "cannot listen on {addr}: {e}; choose another address with \
                     --http-listen / AUTHD_HTTP_LISTEN, or turn it off with `off`"
                ))
            })?;
            let bound = listener
                .local_addr()
                .map_err(|e| Error::internal("reading the HTTP listen address", e))?;
            Some((listener, bound))
        }
    };
    Ok((listener, local_addr, http))
}
