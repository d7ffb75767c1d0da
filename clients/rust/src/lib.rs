//! Verifies authd access tokens in the caller's own process, with the same
//! answers as authd's `Verify`, and refuses a revoked token within
//! milliseconds of the revocation on any replica.
//!
//! A [`Verifier`] fetches authd's public keys (`GetJwks`) and subscribes to
//! `WatchRevocations`: a snapshot of every revocation that can still matter,
//! then live events (ended sessions, disabled and deleted users, deleted
//! service accounts, key changes) and a heartbeat every second. A token is
//! checked by the token rules authd itself uses (the shared `authd-token`
//! crate, never a copy), then against that revocation state; a token seen
//! before costs a hash lookup plus the revocation checks.
//!
//! It **fails closed**: before the first snapshot is complete, and once the
//! stream has been silent for longer than the staleness bound (default
//! 3 s), every [`Verifier::verify`] answers [`Unavailable`] until the stream
//! is back; it never answers valid from state it cannot vouch for. Streams
//! that end are resumed with their cursor, with a capped backoff.
//!
//! ```no_run
//! # async fn run() -> Result<(), authd_client::ConnectError> {
//! use authd_client::{Credentials, Verdict, Verifier};
//! let endpoint = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051");
//! let verifier = Verifier::connect(endpoint, Credentials::service_account("sa-id", "authd_sa_...")).await?;
//! match verifier.verify("eyJ...") {
//!     Ok(Verdict::Valid(principal)) => println!("valid {}", principal.id()),
//!     Ok(Verdict::Invalid(reason)) => println!("invalid {}", reason.name()),
//!     Err(unavailable) => println!("unavailable: {unavailable}"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`verifier`]: the [`Verifier`], its answers ([`Verdict`], [`Principal`],
//!   [`Unavailable`]) and the offline [`Feed`] that drives one without a
//!   server (benchmarks, tests, callers relaying the stream themselves);
//! - [`connect`](mod@connect): the background task that holds the stream: credentials and
//!   their renewal, GetJwks, WatchRevocations, resumption and backoff;
//! - `state`: the revocation state and how each event changes it (snapshot
//!   staged aside and swapped in at `snapshot_end`);
//! - `keys`: JWKs turned into verification keys, each pinned to its `alg`;
//! - [`clock`]: the time the verifier reads, a manual one for tests;
//! - [`layer`]: the tower middleware for tonic and axum servers;
//! - [`pb`]: the generated `auth.v1` client types.

pub mod clock;
pub mod connect;
mod keys;
pub mod layer;
mod state;
pub mod verifier;

/// The `auth.v1` messages and the generated gRPC client.
#[allow(missing_docs, clippy::pedantic, missing_debug_implementations)]
pub mod pb {
    tonic::include_proto!("auth.v1");
}

pub use authd_token::{Claims, InvalidReason, PrincipalKind, Rules};
pub use clock::{Clock, ManualClock};
pub use connect::{ConnectError, Credentials, VerifierBuilder};
pub use keys::KeyError;
pub use layer::{AuthLayer, RequireToken, ResponseFuture};
pub use verifier::{Feed, FeedError, Principal, Unavailable, Verdict, Verifier};
