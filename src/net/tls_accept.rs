//! TLS terminated by authd on a guarded listener: the handshake of each
//! accepted connection, bounded by its opening deadline, and only then the
//! [`Guarded`] wrapper around the decrypted stream, so the opening deadline
//! and the idle timeout read HTTP, not ciphertext.
//!
//! Why not tonic's `Server::tls_config`: its acceptor runs on top of the
//! incoming stream, so a wrapper below it sees only TLS records; it could
//! neither hold the HTTP/2 preface after the handshake to the deadline nor
//! tell a PING from a call (every TLS record looks alike), and a client
//! answering keepalive pings kept its connection, and its slot under the
//! cap, for the hour of the connection age. Here the wrapper sits on the
//! plaintext side, exactly as without TLS; tonic still sees a
//! `tokio_rustls::server::TlsStream` inside (through `Guarded`'s
//! `Connected`), so handlers' `peer_certs()` are what they were.
//!
//! Handshakes run concurrently, each in its own task (as tonic's did): a
//! client that stalls its handshake never holds up accepting or another
//! client's handshake. Each holds its connection's permit meanwhile, so the
//! cap counts sockets mid-handshake. A failed or timed-out handshake is
//! logged at debug (it is the client's doing, and a scanner makes many)
//! and the socket closed; the stream of connections never ends for it.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::Stream;

use super::{Accepted, Guarded, Listener, Opening};

/// A connection whose handshake is done, guarded on its decrypted side.
pub type TlsConnection = Guarded<TlsStream<TcpStream>>;

/// Runs the TLS handshake on `accepted`'s socket, within its opening
/// deadline and at most `limit`, and guards the decrypted stream with
/// `opening` and the rest of the same deadline (the HTTP opening must then
/// follow in what is left of it).
///
/// # Errors
/// The handshake's own error (no TLS, an unknown CA's client certificate,
/// a reset), or `TimedOut` when it was not done in time.
pub async fn tls_handshake(
    accepted: Accepted,
    acceptor: &TlsAcceptor,
    limit: Duration,
    opening: Opening,
) -> io::Result<TlsConnection> {
    let (stream, pending) = accepted.take_stream();
    let deadline = pending.deadline().min(tokio::time::Instant::now() + limit);
    match tokio::time::timeout_at(deadline, acceptor.accept(stream)).await {
        Ok(Ok(stream)) => Ok(pending.guard(stream, opening)),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the TLS handshake was not done within --header-read-timeout",
        )),
    }
}

/// The next accepted connection, with the listener handed back, as one
/// owned future, so it survives while a handshake completes instead of
/// being dropped (and its accept backoff cut short) and re-made.
type Accepting = Pin<Box<dyn Future<Output = (Listener, Accepted)> + Send>>;

fn accepting(mut listener: Listener) -> Accepting {
    Box::pin(async move {
        let accepted = listener.accept().await;
        (listener, accepted)
    })
}

/// The accept in progress and the handshakes in progress.
struct State {
    accepting: Accepting,
    handshakes: JoinSet<Option<TlsConnection>>,
}

impl Listener {
    /// The connections as a stream (what tonic's `serve_with_incoming`
    /// takes), each after its TLS handshake with `acceptor` (bounded by the
    /// opening deadline and `handshake_limit`), guarded on the decrypted
    /// side with `opening` and closed after `idle` without traffic, as
    /// [`Listener::into_stream`] guards plaintext ones. It never ends and
    /// never yields an error.
    pub fn into_tls_stream(
        self,
        acceptor: TlsAcceptor,
        handshake_limit: Duration,
        opening: Opening,
        idle: Option<Duration>,
    ) -> impl Stream<Item = io::Result<TlsConnection>> + Send + 'static {
        let name = self.name;
        let state = State {
            accepting: accepting(self),
            handshakes: JoinSet::new(),
        };
        futures_util::stream::unfold(state, move |mut state| {
            let acceptor = acceptor.clone();
            async move {
                loop {
                    tokio::select! {
                        (listener, accepted) = &mut state.accepting => {
                            state.accepting = accepting(listener);
                            let acceptor = acceptor.clone();
                            let handshake = async move {
                                let peer = accepted.peer;
                                tls_handshake(accepted, &acceptor, handshake_limit, opening)
                                    .await
                                    .map(|stream| stream.with_idle_timeout(idle))
                                    .inspect_err(|e| {
                                        tracing::debug!(
                                            listener = name, %peer, error = %e,
                                            "TLS handshake failed; connection closed"
                                        );
                                    })
                                    .ok()
                            };
                            state.handshakes.spawn(handshake);
                        }
                        Some(done) = state.handshakes.join_next(), if !state.handshakes.is_empty() => {
                            match done {
                                Ok(Some(stream)) => return Some((Ok(stream), state)),
                                Ok(None) => {}
                                // A panic in rustls or tokio-rustls: a bug,
                                // but only this connection's.
                                Err(e) => tracing::warn!(
                                    listener = name, error = %e, "a TLS handshake task failed"
                                ),
                            }
                        }
                    }
                }
            }
        })
    }
}
