//! The server's own settings: its listeners, their limits and timing.

use std::net::SocketAddr;
use std::time::Duration;

use crate::settings::{OrOff, duration, int, or_off};

/// Where the server listens, and the limits and timing of serving.
#[derive(Debug, Clone, clap::Args)]
pub struct ServerSettings {
    /// Address of the gRPC listener; port 0 picks a free port.
    #[arg(long, env, value_name = "ADDR", default_value = "127.0.0.1:50051",
          value_parser = address)]
    pub listen: SocketAddr,

    /// Address of the HTTP listener (JWKS, discovery, health, metrics), or `off`.
    #[arg(long, env, value_name = "ADDR", default_value = "127.0.0.1:8080",
          value_parser = or_off(address))]
    pub http_listen: OrOff<SocketAddr>,

    /// How long shutdown waits for in-flight calls.
    #[arg(long, env, default_value = "10s", value_parser = duration("0s", "10m"))]
    pub shutdown_grace: Duration,

    /// Longest time one gRPC call may take before it is cancelled (a shorter `grpc-timeout` wins).
    #[arg(long, env, default_value = "10s", value_parser = duration("100ms", "10m"))]
    pub request_timeout: Duration,

    /// Largest gRPC request message in bytes; bigger ones are refused before they are read.
    #[arg(long, env, default_value = "65536", value_parser = int(4096_usize, 4 * 1024 * 1024))]
    pub max_message_bytes: usize,

    /// How long cached state is trusted after the change feed was last heard from.
    #[arg(long, env, default_value = "3s", value_parser = duration("0s", "60s"))]
    pub cache_trust_bound: Duration,

    /// Most users, and most sessions, the state cache holds (each kind); a
    /// full one is emptied rather than grown, so memory stays bounded at any N.
    #[arg(long, env, default_value = "100000", value_parser = int(1_usize, 10_000_000))]
    pub state_cache_entries: usize,

    /// How often a serving authd pings its database; health turns NOT_SERVING at the first failure.
    #[arg(long, env, default_value = "1s", value_parser = duration("100ms", "1m"))]
    pub readiness_probe_interval: Duration,

    /// Revocation events kept for WatchRevocations resumes; an older cursor gets a snapshot.
    #[arg(long, env, default_value = "10000", value_parser = int(1_usize, 1_000_000))]
    pub revocation_history: usize,

    /// Most connections the gRPC listener holds at once; more wait in the kernel's backlog.
    #[arg(long, env, default_value = "4096", value_parser = int(1_usize, 1_000_000))]
    pub grpc_max_connections: usize,

    /// Most connections the HTTP listener (probes, scrapes, OAuth2 clients) holds at once.
    #[arg(long, env, default_value = "1024", value_parser = int(1_usize, 1_000_000))]
    pub http_max_connections: usize,

    /// How long a new connection may take to send its first request (TLS handshake included).
    #[arg(long, env, default_value = "10s", value_parser = duration("100ms", "5m"))]
    pub header_read_timeout: Duration,

    /// An HTTP-listener connection with no request in progress this long is closed.
    #[arg(long, env, default_value = "5m", value_parser = duration("1s", "1h"))]
    pub http_idle_timeout: Duration,

    /// A gRPC-listener connection with no traffic but HTTP/2 pings either
    /// way for this long is closed (`off`: only the 1 h connection age);
    /// at least 2s, above WatchRevocations' 1 s heartbeat.
    #[arg(long, env, default_value = "5m", value_parser = or_off(duration("2s", "1h")))]
    pub grpc_idle_timeout: OrOff<Duration>,
}

/// A value parser for `IP:PORT`.
fn address(text: &str) -> Result<SocketAddr, String> {
    let fix = |_| format!("`{text}` is not an address; use IP:PORT such as 127.0.0.1:50051");
    text.trim().parse().map_err(fix)
}
