//! [`Verifier::connect`]: the background task that keeps a verifier's
//! state current.
//!
//! One task per verifier holds one stream at a time: it takes a bearer
//! token (a fixed one, or a service account's from IssueServiceToken,
//! renewed before it expires), subscribes to WatchRevocations with the
//! cursor of the last event applied, fetches the keys with GetJwks (again
//! on every KeysChanged), and applies events through the verifier's
//! [`Feed`]. A stream that ends, errs or is silent for longer than the
//! staleness bound is dropped and opened again after a capped, jittered
//! backoff; meanwhile the verifier fails closed on its own once the bound
//! passes. Nothing here decides a token's fate.

use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret as _, SecretString};
use tokio::sync::oneshot;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};

use crate::clock::Clock;
use crate::keys::KeyError;
use crate::pb;
use crate::pb::auth_service_client::AuthServiceClient;
use crate::verifier::{DEFAULT_STALENESS, Feed, FeedError, Shared, TaskGuard, Verifier};

/// How the verifier authenticates its WatchRevocations subscription.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// A service account's client id and secret: the verifier gets its
    /// bearer token with IssueServiceToken and renews it before it expires.
    ServiceAccount {
        /// The account's client id.
        client_id: String,
        /// Its client secret (`authd_sa_...`).
        client_secret: SecretString,
    },
    /// A fixed bearer token (a service account's or an admin's), used as
    /// is; once it expires, resubscribing fails and the verifier turns
    /// unavailable.
    Bearer(SecretString),
}

impl Credentials {
    /// A service account's client id and secret.
    #[must_use]
    pub fn service_account(client_id: impl Into<String>, client_secret: impl Into<String>) -> Self {
        Self::ServiceAccount {
            client_id: client_id.into(),
            client_secret: SecretString::from(client_secret.into()),
        }
    }

    /// A fixed bearer token.
    #[must_use]
    pub fn bearer(token: impl Into<String>) -> Self {
        Self::Bearer(SecretString::from(token.into()))
    }
}

/// Why [`Verifier::connect`] gave up. After a successful connect nothing is
/// an error any more: the task retries, and verify answers unavailable.
#[derive(Debug)]
pub enum ConnectError {
    /// authd could not be reached, or a call failed.
    Rpc(Status),
    /// The keys cannot verify locally (an HS256 server publishes none).
    Keys(KeyError),
    /// The stream broke the protocol.
    Protocol(FeedError),
    /// No snapshot completed within the connect timeout.
    Timeout(Duration),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Rpc(status) => write!(
                f,
                "authd answered {:?}: {}",
                status.code(),
                status.message()
            ),
            Self::Keys(e) => e.fmt(f),
            Self::Protocol(e) => e.fmt(f),
            Self::Timeout(t) => write!(
                f,
                "no revocation snapshot arrived within {} ms",
                t.as_millis()
            ),
        }
    }
}

impl std::error::Error for ConnectError {}

impl From<Status> for ConnectError {
    fn from(status: Status) -> Self {
        Self::Rpc(status)
    }
}

/// Settings of a connected [`Verifier`]; from [`Verifier::builder`].
#[derive(Debug)]
pub struct VerifierBuilder {
    target: Target,
    credentials: Credentials,
    staleness: Duration,
    backoff_max: Duration,
    connect_timeout: Duration,
    clock: Clock,
    cache_entries: usize,
    cache_ttl_secs: i64,
}

/// Where authd is.
#[derive(Debug)]
enum Target {
    /// Connected lazily when the verifier connects.
    Endpoint(Box<Endpoint>),
    /// A channel the caller already has.
    Channel(Channel),
}

/// The first reconnect waits this long; each next one twice as long, up to
/// the cap.
const BACKOFF_MIN: Duration = Duration::from_millis(100);

impl VerifierBuilder {
    /// How long the stream may be silent before every verify answers
    /// unavailable (default 3 s; the server sends a heartbeat every
    /// second).
    #[must_use]
    pub fn staleness(mut self, bound: Duration) -> Self {
        self.staleness = bound;
        self
    }

    /// The longest wait between reconnects (default 5 s).
    #[must_use]
    pub fn backoff_max(mut self, cap: Duration) -> Self {
        self.backoff_max = cap.max(BACKOFF_MIN);
        self
    }

    /// How long [`Self::connect`] waits for the first snapshot (default 10 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The clock to read (tests pass a [`crate::ManualClock`]'s).
    #[must_use]
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Size of the verified-token cache (tokens whose signature already
    /// checked out), and the longest any one stays; authd's defaults.
    #[must_use]
    pub fn verified_cache(mut self, entries: usize, ttl_secs: i64) -> Self {
        self.cache_entries = entries;
        self.cache_ttl_secs = ttl_secs;
        self
    }

    /// Connects: subscribes, fetches the keys, and returns once the first
    /// snapshot is applied, with the stream kept by a background task of
    /// the current tokio runtime from then on.
    ///
    /// # Errors
    /// [`ConnectError`] when the first attempt fails in any way (authd
    /// unreachable, credentials refused, an HS256 server, no snapshot in
    /// time); nothing keeps running then.
    pub async fn connect(self) -> Result<Verifier, ConnectError> {
        let shared = Arc::new(Shared::new(
            self.clock.clone(),
            self.staleness,
            self.cache_entries,
            self.cache_ttl_secs,
        ));
        let channel = match self.target {
            Target::Endpoint(endpoint) => endpoint.connect_lazy(),
            Target::Channel(channel) => channel,
        };
        let (ready_tx, ready_rx) = oneshot::channel();
        let task = Task {
            client: AuthServiceClient::new(channel),
            feed: Feed::new(Arc::clone(&shared)),
            tokens: TokenSource::new(self.credentials, self.clock),
            staleness: self.staleness,
            backoff_max: self.backoff_max,
        };
        let handle = tokio::spawn(task.run(ready_tx));
        let guard = TaskGuard(handle);
        match tokio::time::timeout(self.connect_timeout, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(Verifier::with_task(shared, guard)),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(ConnectError::Protocol(FeedError::Empty)),
            Err(_) => Err(ConnectError::Timeout(self.connect_timeout)),
        }
    }
}

impl Verifier {
    /// The settings of a verifier of the authd at `endpoint` (configure TLS
    /// on the endpoint, `Endpoint::tls_config`), authenticating with
    /// `credentials`.
    #[must_use]
    pub fn builder(endpoint: Endpoint, credentials: Credentials) -> VerifierBuilder {
        Self::builder_for(Target::Endpoint(Box::new(endpoint)), credentials)
    }

    /// [`Self::builder`] over a channel the caller already has (it
    /// reconnects by itself).
    #[must_use]
    pub fn builder_on(channel: Channel, credentials: Credentials) -> VerifierBuilder {
        Self::builder_for(Target::Channel(channel), credentials)
    }

    fn builder_for(target: Target, credentials: Credentials) -> VerifierBuilder {
        VerifierBuilder {
            target,
            credentials,
            staleness: DEFAULT_STALENESS,
            backoff_max: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(10),
            clock: Clock::system(),
            cache_entries: authd_token::DEFAULT_VERIFIED_CACHE_ENTRIES,
            cache_ttl_secs: authd_token::DEFAULT_VERIFIED_CACHE_TTL_SECS,
        }
    }

    /// [`Self::builder`] with the defaults, connected.
    ///
    /// # Errors
    /// As [`VerifierBuilder::connect`].
    pub async fn connect(
        endpoint: Endpoint,
        credentials: Credentials,
    ) -> Result<Self, ConnectError> {
        Self::builder(endpoint, credentials).connect().await
    }
}

/// The bearer token to subscribe with.
#[derive(Debug)]
struct TokenSource {
    credentials: Credentials,
    clock: Clock,
    /// A service account's current token and when (Unix seconds) to renew it.
    issued: Option<(SecretString, i64)>,
}

impl TokenSource {
    fn new(credentials: Credentials, clock: Clock) -> Self {
        Self {
            credentials,
            clock,
            issued: None,
        }
    }

    /// A token good for a while yet: the fixed one, or a service account's,
    /// renewed once three quarters of its lifetime have passed.
    async fn bearer(
        &mut self,
        client: &mut AuthServiceClient<Channel>,
    ) -> Result<SecretString, Status> {
        let (client_id, client_secret) = match &self.credentials {
            Credentials::Bearer(token) => return Ok(token.clone()),
            Credentials::ServiceAccount {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        let now = self.clock.unix_secs();
        if let Some((token, renew_at)) = &self.issued
            && now < *renew_at
        {
            return Ok(token.clone());
        }
        let issued = client
            .issue_service_token(pb::IssueServiceTokenRequest {
                client_id: client_id.clone(),
                client_secret: client_secret.expose_secret().to_owned(),
                audience: String::new(),
            })
            .await?
            .into_inner();
        let token = SecretString::from(issued.access_token);
        let renew_at = now.saturating_add(issued.expires_in.max(0) * 3 / 4);
        self.issued = Some((token.clone(), renew_at));
        Ok(token)
    }
}

/// How one stream ended.
enum StreamEnd {
    /// The first attempt failed: [`VerifierBuilder::connect`] reports it.
    Failed(ConnectError),
    /// Silent for longer than the staleness bound.
    Silent,
}

impl From<Status> for StreamEnd {
    fn from(status: Status) -> Self {
        Self::Failed(ConnectError::Rpc(status))
    }
}

/// The background task of one verifier.
struct Task {
    client: AuthServiceClient<Channel>,
    feed: Feed,
    tokens: TokenSource,
    staleness: Duration,
    backoff_max: Duration,
}

impl Task {
    async fn run(mut self, ready: oneshot::Sender<Result<(), ConnectError>>) {
        let mut ready = Some(ready);
        let mut backoff = BACKOFF_MIN;
        loop {
            let end = self.stream(&mut ready, &mut backoff).await;
            let wait = match end {
                StreamEnd::Failed(e) => {
                    if let Some(ready) = ready.take() {
                        let _ = ready.send(Err(e));
                        return;
                    }
                    tracing::warn!(error = %e, "authd revocation stream ended; reconnecting");
                    match &e {
                        // A slow subscriber the server reset: resubscribe at
                        // once with the last cursor.
                        ConnectError::Rpc(s) if s.code() == Code::ResourceExhausted => BACKOFF_MIN,
                        // A cursor the server does not accept: start over.
                        ConnectError::Rpc(s) if s.code() == Code::InvalidArgument => {
                            self.feed.forget_cursor();
                            BACKOFF_MIN
                        }
                        _ => backoff,
                    }
                }
                StreamEnd::Silent => {
                    tracing::warn!(
                        "authd revocation stream silent for longer than the staleness bound; reconnecting"
                    );
                    backoff
                }
            };
            tokio::time::sleep(jitter(wait)).await;
            backoff = (backoff * 2).min(self.backoff_max);
            self.feed.new_stream();
        }
    }

    /// One stream, from subscribing to its end.
    async fn stream(
        &mut self,
        ready: &mut Option<oneshot::Sender<Result<(), ConnectError>>>,
        backoff: &mut Duration,
    ) -> StreamEnd {
        let token = match self.tokens.bearer(&mut self.client).await {
            Ok(token) => token,
            Err(status) => return status.into(),
        };
        let mut request = Request::new(pb::WatchRevocationsRequest {
            cursor: self.feed.cursor().unwrap_or_default().to_owned(),
        });
        match format!("Bearer {}", token.expose_secret()).parse() {
            Ok(value) => {
                request.metadata_mut().insert("authorization", value);
            }
            Err(_) => {
                return StreamEnd::Failed(ConnectError::Rpc(Status::unauthenticated(
                    "the bearer token is not valid header text",
                )));
            }
        }
        let mut stream = match self.client.watch_revocations(request).await {
            Ok(response) => response.into_inner(),
            Err(status) => return status.into(),
        };
        // Keys after subscribing: a key change from now on is an event.
        if let Err(end) = self.fetch_keys().await {
            return end;
        }
        loop {
            let message = match tokio::time::timeout(self.staleness, stream.message()).await {
                Err(_) => return StreamEnd::Silent,
                Ok(Err(status)) => return status.into(),
                Ok(Ok(None)) => {
                    return StreamEnd::Failed(ConnectError::Rpc(Status::unavailable(
                        "authd ended the revocation stream",
                    )));
                }
                Ok(Ok(Some(message))) => message,
            };
            let applied = match self.feed.apply(message) {
                Ok(applied) => applied,
                Err(e) => return StreamEnd::Failed(ConnectError::Protocol(e)),
            };
            if applied.refetch_keys
                && let Err(end) = self.fetch_keys().await
            {
                return end;
            }
            if applied.synced {
                *backoff = BACKOFF_MIN;
                if let Some(ready) = ready.take() {
                    let _ = ready.send(Ok(()));
                }
            }
        }
    }

    async fn fetch_keys(&mut self) -> Result<(), StreamEnd> {
        let jwks = self
            .client
            .get_jwks(pb::GetJwksRequest {})
            .await?
            .into_inner();
        match self.feed.set_keys(&jwks) {
            Ok(skipped) => {
                for e in skipped {
                    tracing::warn!(error = %e, "a published key is skipped; its tokens are UNKNOWN_KEY here");
                }
                Ok(())
            }
            Err(e) => Err(StreamEnd::Failed(ConnectError::Keys(e))),
        }
    }
}

/// `wait` shortened by up to half, so verifiers that lost the same server
/// do not all come back in the same millisecond. The randomness is the
/// standard library's per-process hash keys, enough for spreading retries.
fn jitter(wait: Duration) -> Duration {
    use std::hash::{BuildHasher as _, Hasher as _};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(wait.as_nanos());
    let permille = u32::try_from(hasher.finish() % 1000).unwrap_or(0);
    wait / 2 + wait * permille / 2000
}
