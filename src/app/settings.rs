//! The server's own settings: its listeners, their limits and timing.

use std::net::SocketAddr;
use std::time::Duration;

use crate::settings::{self, OrOff, duration, int};

/// Where the server listens, and the limits and timing of serving.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerSettings {
    /// Address of the gRPC listener; port 0 picks a free port.
    #[arg(long, env = "AUTHD_LISTEN", value_name = "ADDR", default_value = "127.0.0.1:50051",
          value_parser = address)]
    pub listen: SocketAddr,

    /// Address of the HTTP listener (JWKS, discovery, health, metrics), or `off`.
    #[arg(long, env = "AUTHD_HTTP_LISTEN", value_name = "ADDR", default_value = "127.0.0.1:8080",
          value_parser = settings::or_off(address))]
    pub http_listen: OrOff<SocketAddr>,

    /// How long shutdown waits for in-flight calls.
    #[arg(long, env = "AUTHD_SHUTDOWN_GRACE", default_value = "10s", value_parser = duration("0s", "10m"))]
    pub shutdown_grace: Duration,

    /// Longest time one gRPC call may take before it is cancelled; a
    /// shorter `grpc-timeout` from the caller wins.
    #[arg(long, env = "AUTHD_REQUEST_TIMEOUT", default_value = "10s", value_parser = duration("100ms", "10m"))]
    pub request_timeout: Duration,

    /// Largest gRPC request message accepted, in bytes; bigger ones are
    /// refused before they are read.
    #[arg(long, env = "AUTHD_MAX_MESSAGE_BYTES", default_value = "65536",
          value_parser = int(4096_usize, 4 * 1024 * 1024))]
    pub max_message_bytes: usize,

    /// How long cached user/session state may be trusted after the change
    /// feed was last heard from; past it Verify reads the database.
    #[arg(long, env = "AUTHD_CACHE_TRUST_BOUND", default_value = "3s", value_parser = duration("0s", "60s"))]
    pub cache_trust_bound: Duration,

    /// Most users, and most sessions, the state cache holds (each kind); a
    /// full one is emptied rather than grown, so memory stays bounded at any N.
    #[arg(long, env = "AUTHD_STATE_CACHE_ENTRIES", default_value = "100000", value_parser = int(1_usize, 10_000_000))]
    pub state_cache_entries: usize,

    /// How often a serving authd pings its database; health and `/readyz`
    /// turn NOT_SERVING at the first ping that fails.
    #[arg(long, env = "AUTHD_READINESS_PROBE_INTERVAL", default_value = "1s", value_parser = duration("100ms", "1m"))]
    pub readiness_probe_interval: Duration,

    /// Revocation events kept for WatchRevocations subscribers resuming
    /// with a cursor; one older than that gets a snapshot instead.
    #[arg(long, env = "AUTHD_REVOCATION_HISTORY", default_value = "10000", value_parser = int(1_usize, 1_000_000))]
    pub revocation_history: usize,

    /// Most connections the gRPC listener holds at once; further clients
    /// wait in the kernel's backlog until one closes. Below the open-file
    /// limit, so a flood of sockets cannot take every descriptor.
    #[arg(long, env = "AUTHD_GRPC_MAX_CONNECTIONS", default_value = "4096",
          value_parser = int(1_usize, 1_000_000))]
    pub grpc_max_connections: usize,

    /// Most connections the HTTP listener holds at once (it serves
    /// probes, scrapes and OAuth2 clients: fewer than gRPC).
    #[arg(long, env = "AUTHD_HTTP_MAX_CONNECTIONS", default_value = "1024",
          value_parser = int(1_usize, 1_000_000))]
    pub http_max_connections: usize,

    /// How long a new connection on either listener may take to send its
    /// first request head (HTTP/1) or HTTP/2 preface and first frame
    /// (including a TLS handshake); slower ones are closed.
    #[arg(long, env = "AUTHD_HEADER_READ_TIMEOUT", default_value = "10s", value_parser = duration("100ms", "5m"))]
    pub header_read_timeout: Duration,

    /// An HTTP-listener connection with no request in progress for this
    /// long is closed (HTTP/2: GOAWAY).
    #[arg(long, env = "AUTHD_HTTP_IDLE_TIMEOUT", default_value = "5m", value_parser = duration("1s", "1h"))]
    pub http_idle_timeout: Duration,
}

/// A value parser for `IP:PORT`.
fn address(text: &str) -> Result<SocketAddr, String> {
    text.trim()
        .parse()
        .map_err(|_| format!("`{text}` is not an address; use IP:PORT such as 127.0.0.1:50051"))
}
