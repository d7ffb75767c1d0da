//! Connection limits shared by both listeners: how many connections are
//! open, how long a new one may take to say what it wants, how much it may
//! send before it has, and what the accept loop does when accepting fails.
//!
//! Without them a client that opens sockets and sends nothing (or half an
//! HTTP/2 preface, or an unfinished HTTP/1 header) holds a descriptor and up
//! to hyper's read buffer for ever, and a thousand of them exhaust the usual
//! open-file limit (issue 15, finding 1). The defences, each on both ports:
//!
//! - **A cap per listener** ([`Listener`], `--grpc-max-connections`,
//!   `--http-max-connections`): each accepted connection owns a semaphore
//!   permit until it closes. At the cap the listener stops accepting, so new
//!   connections *wait* in the kernel's listen backlog and are accepted the
//!   moment one closes. Waiting rather than refusing: a refusal still costs
//!   an accept (a descriptor) and an error for a well-behaved client, while
//!   waiting costs nothing, and the opening deadline below guarantees that
//!   slots held by idle sockets come free within it.
//! - **An opening deadline** ([`Guarded`], `--header-read-timeout`): from
//!   accept, a connection must deliver its first request head (HTTP/1: up to
//!   the blank line; HTTP/2: the 24-byte preface and its first frame, the
//!   client's SETTINGS) within the timeout, or its reads fail and the server
//!   closes it. Over TLS (on both ports authd runs the handshake itself,
//!   [`tls_handshake`], each in its own task) the same deadline covers the
//!   handshake (also bounded by [`crate::tls::HANDSHAKE_TIMEOUT`]) and then
//!   the first request head on the decrypted stream.
//! - **Bounded memory before the first request**: on the gRPC port an HTTP/1
//!   head longer than [`MAX_HEAD_BYTES`] fails the read at once (tonic does
//!   not let hyper's buffer be set); the HTTP listener sets hyper's
//!   `max_buf_size` to it instead, so hyper answers 431.
//! - **Accept errors back off** ([`AcceptBackoff`]): from 10 ms doubling to
//!   1 s while accepting fails (out of descriptors, `EMFILE`), with at most
//!   one warning per [`WARN_INTERVAL`] naming the error and how many were
//!   not logged; per-connection errors (a peer that reset before accept) are
//!   retried at once.
//! - **The soft open-file limit is raised to the hard limit** at start-up
//!   ([`raise_open_file_limit`]), logged at info with both values.
//! - **An idle timeout on the gRPC port** ([`Guarded::with_idle_timeout`],
//!   `--grpc-idle-timeout`; tonic has no such option, and the HTTP listener
//!   has its own in `http::serve`): a connection that carries no traffic
//!   for the timeout has its reads fail, so the server closes it. Traffic is
//!   any byte either way except HTTP/2 PING frames and their answers: the
//!   server pings every idle connection every 30 s (keepalive), and a client
//!   answering them is not using the connection. A stream that sends (such
//!   as WatchRevocations' heartbeats) keeps its connection. No task or
//!   timer per byte: one `Sleep` per connection, re-armed from the last
//!   traffic only when it fires. Over TLS the wrapper sits on the decrypted
//!   side ([`Listener::into_tls_stream`]), so it parses the same frames.
//!
//! Later requests on a kept-alive connection are bounded by hyper itself
//! (its HTTP/1 header read timeout restarts for each head; HTTP/2 keepalive
//! pings drop dead peers): see `App::run_until_stopped` and
//! `http::serve` for what each listener sets.
//!
//! No SQL, no crypto, no settings: the app hands the values in.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tokio_stream::Stream;

mod guarded;
mod tls_accept;

pub use guarded::Guarded;
pub use tls_accept::{TlsConnection, tls_handshake};

/// The most bytes an HTTP/1 client may send before its first request head
/// is complete: more than twice the largest bearer token authd accepts
/// (`--max-token-bytes` is at most 64 KiB), so an oversized token still gets
/// its answer rather than a reset, and well below hyper's own buffer (about
/// 400 KiB), which is what a half-sent head would otherwise hold.
pub const MAX_HEAD_BYTES: usize = 160 * 1024;

/// The first delay after an accept error.
pub const BACKOFF_START: Duration = Duration::from_millis(10);
/// The longest delay between accept attempts while they keep failing.
pub const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one accept-error warning per listener in this long.
pub const WARN_INTERVAL: Duration = Duration::from_secs(5);

/// What a connection sends first, as far as the opening deadline cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opening {
    /// Plain HTTP (HTTP/1 or h2c, told apart by the preface): the opening
    /// is over when the first request head (HTTP/1) or the preface and the
    /// first frame (HTTP/2) have arrived. With `bound_head`, an HTTP/1 head
    /// past [`MAX_HEAD_BYTES`] fails the read (for a server whose hyper
    /// buffer cannot be set, tonic's); without, hyper's own `max_buf_size`
    /// bounds it and answers 431.
    Http {
        /// Whether this wrapper bounds the first head's size.
        bound_head: bool,
    },
}

/// A listener that holds at most `max` connections at once, and whose
/// accept never fails: errors are retried with [`AcceptBackoff`].
#[derive(Debug)]
pub struct Listener {
    inner: TcpListener,
    /// One permit per open connection, owned by the connection.
    permits: Arc<Semaphore>,
    header_timeout: Duration,
    backoff: AcceptBackoff,
    /// Which listener, in warnings.
    name: &'static str,
}

/// A connection just accepted: the socket, its permit and when its opening
/// must be over. Turned into a [`Guarded`] stream, possibly after a TLS
/// handshake of the caller's (which the deadline then also bounds).
#[derive(Debug)]
pub struct Accepted {
    /// The socket (TCP_NODELAY set).
    pub stream: TcpStream,
    /// The client's address.
    pub peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    deadline: Instant,
}

impl Accepted {
    /// When the connection's opening must be over.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// The socket itself, guarded.
    #[must_use]
    pub fn guard(self, opening: Opening) -> Guarded<TcpStream> {
        Guarded::new(self.stream, self.permit, self.deadline, opening)
    }

    /// Splits off the socket, keeping the permit and deadline for the
    /// stream the caller builds on it (its TLS session).
    #[must_use]
    pub fn take_stream(self) -> (TcpStream, Pending) {
        (
            self.stream,
            Pending {
                permit: self.permit,
                deadline: self.deadline,
            },
        )
    }
}

/// A connection's permit and deadline while the caller works on its socket
/// (a TLS handshake).
#[derive(Debug)]
pub struct Pending {
    permit: OwnedSemaphorePermit,
    deadline: Instant,
}

impl Pending {
    /// When the connection's opening must be over.
    #[must_use]
    pub fn deadline(&self) -> Instant {
        self.deadline
    }

    /// `stream` guarded with this connection's permit and deadline.
    #[must_use]
    pub fn guard<S>(self, stream: S, opening: Opening) -> Guarded<S> {
        Guarded::new(stream, self.permit, self.deadline, opening)
    }
}

impl Listener {
    /// `listener`, holding at most `max_connections` at once, each of which
    /// must finish its opening within `header_timeout`.
    #[must_use]
    pub fn new(
        listener: TcpListener,
        name: &'static str,
        max_connections: usize,
        header_timeout: Duration,
    ) -> Self {
        Self {
            inner: listener,
            permits: Arc::new(Semaphore::new(max_connections)),
            header_timeout,
            backoff: AcceptBackoff::default(),
            name,
        }
    }

    /// How long each connection's opening may take.
    #[must_use]
    pub fn header_timeout(&self) -> Duration {
        self.header_timeout
    }

    /// The next connection: waits while the listener is at its cap, and
    /// while accepting fails (backing off, see [`AcceptBackoff`]).
    pub async fn accept(&mut self) -> Accepted {
        // The semaphore is never closed, so this cannot fail; if it ever
        // did, waiting for ever is the fail-closed answer.
        let Ok(permit) = Arc::clone(&self.permits).acquire_owned().await else {
            return std::future::pending().await;
        };
        loop {
            match self.inner.accept().await {
                Ok((stream, peer)) => {
                    self.backoff.succeeded();
                    // Small unary messages must not wait for Nagle's algorithm.
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "could not set TCP_NODELAY");
                    }
                    return Accepted {
                        stream,
                        peer,
                        permit,
                        deadline: Instant::now() + self.header_timeout,
                    };
                }
                Err(e) if is_per_connection(&e) => {
                    tracing::debug!(listener = self.name, error = %e, "a connection ended before it was accepted");
                }
                Err(e) => {
                    let step = self.backoff.failed(Instant::now());
                    if let Some(unlogged) = step.warn {
                        tracing::warn!(
                            listener = self.name,
                            error = %e,
                            retry_in = ?step.delay,
                            errors_not_logged = unlogged,
                            "accepting connections failed (out of file descriptors? raise \
                             `ulimit -n` or lower the connection cap); backing off"
                        );
                    }
                    tokio::time::sleep(step.delay).await;
                }
            }
        }
    }

    /// The connections as a stream (what tonic's `serve_with_incoming`
    /// takes), each guarded with `opening` and closed after `idle` without
    /// traffic ([`Guarded::with_idle_timeout`]). It never ends and never
    /// yields an error.
    pub fn into_stream(
        self,
        opening: Opening,
        idle: Option<Duration>,
    ) -> impl Stream<Item = io::Result<Guarded<TcpStream>>> + Send + 'static {
        // futures-util's `unfold` (already in the build through axum and
        // tonic) turns the async accept into a stream without a task of its own.
        futures_util::stream::unfold(self, move |mut listener| async move {
            let accepted = listener.accept().await;
            Some((
                Ok(accepted.guard(opening).with_idle_timeout(idle)),
                listener,
            ))
        })
    }
}

/// Errors about one connection, not the listener: the peer gave up between
/// the handshake and the accept. Retrying at once is right.
fn is_per_connection(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionRefused
    )
}

/// The accept loop's answer to failures: how long to wait, and whether to
/// warn. Time is handed in, so tests drive it.
#[derive(Debug, Default, Clone)]
pub struct AcceptBackoff {
    /// The delay after the last failure; `None` after a success.
    delay: Option<Duration>,
    /// When the last warning was logged.
    last_warning: Option<Instant>,
    /// Failures since the last warning that were not logged.
    unlogged: u64,
}

/// What to do after one accept error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffStep {
    /// How long to wait before accepting again.
    pub delay: Duration,
    /// `Some(n)`: log a warning now, mentioning `n` earlier errors that were
    /// not logged; `None`: stay quiet (one was logged less than
    /// [`WARN_INTERVAL`] ago).
    pub warn: Option<u64>,
}

impl AcceptBackoff {
    /// One more failure at `now`.
    pub fn failed(&mut self, now: Instant) -> BackoffStep {
        let delay = self
            .delay
            .map_or(BACKOFF_START, |d| (d * 2).min(BACKOFF_MAX));
        self.delay = Some(delay);
        let warn = match self.last_warning {
            Some(at) if now.saturating_duration_since(at) < WARN_INTERVAL => {
                self.unlogged += 1;
                None
            }
            _ => {
                self.last_warning = Some(now);
                Some(std::mem::take(&mut self.unlogged))
            }
        };
        BackoffStep { delay, warn }
    }

    /// Accepting worked: the next failure starts from the shortest delay.
    pub fn succeeded(&mut self) {
        self.delay = None;
    }
}

/// Raises the soft limit on open files to the hard limit, so the connection
/// caps, not the descriptor table, decide how many clients are held; logs
/// the old and new values at info. A failure is logged at warn and start-up
/// goes on with the old limit.
pub fn raise_open_file_limit() {
    #[cfg(target_os = "linux")]
    {
        // rustix (already in the build through procfs, with `process`): a
        // safe wrapper over getrlimit/setrlimit, as `unsafe_code` is forbidden.
        use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
        let old = getrlimit(Resource::Nofile);
        let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_owned(), |n| n.to_string());
        if old.current == old.maximum {
            tracing::info!(
                soft = %show(old.current),
                hard = %show(old.maximum),
                "open-file limit already at its hard limit"
            );
            return;
        }
        let new = Rlimit {
            current: old.maximum,
            maximum: old.maximum,
        };
        match setrlimit(Resource::Nofile, new) {
            Ok(()) => tracing::info!(
                old_soft = %show(old.current),
                new_soft = %show(old.maximum),
                hard = %show(old.maximum),
                "raised the open-file limit to its hard limit"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                soft = %show(old.current),
                hard = %show(old.maximum),
                "could not raise the open-file limit; keeping it"
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_ten_milliseconds_to_one_second_and_resets_on_success() {
        let mut backoff = AcceptBackoff::default();
        let now = Instant::now();
        let delays: Vec<_> = (0..9).map(|_| backoff.failed(now).delay).collect();
        let ms = |n| Duration::from_millis(n);
        assert_eq!(
            delays,
            [
                ms(10),
                ms(20),
                ms(40),
                ms(80),
                ms(160),
                ms(320),
                ms(640),
                ms(1000),
                ms(1000)
            ]
        );
        backoff.succeeded();
        assert_eq!(backoff.failed(now).delay, ms(10));
    }

    #[tokio::test(start_paused = true)]
    async fn accept_errors_warn_at_most_once_per_interval_counting_the_quiet_ones() {
        let mut backoff = AcceptBackoff::default();
        // The first error warns at once.
        assert_eq!(backoff.failed(Instant::now()).warn, Some(0));
        // A storm of errors within the interval stays quiet...
        for _ in 0..99 {
            tokio::time::advance(Duration::from_millis(10)).await;
            assert_eq!(backoff.failed(Instant::now()).warn, None);
        }
        // ...and the first one past it warns, saying how many were not logged.
        tokio::time::advance(WARN_INTERVAL).await;
        assert_eq!(backoff.failed(Instant::now()).warn, Some(99));
        assert_eq!(backoff.failed(Instant::now()).warn, None);
    }
}
