//! Process lifecycle: build everything, serve until told to stop, drain.
//!
//! [`App::build`] connects and migrates the store, loads the keys, starts
//! the background tasks (following the change feed, heartbeats, purging
//! expired sessions) and binds the listener (port 0 picks a free one, which
//! tests rely on), so once it returns the server is reachable.
//!
//! With PostgreSQL, an unreachable database does not stop start-up: the
//! pool connects lazily, migrations and key loading move to a `start-up`
//! task that retries with capped backoff, and until it succeeds gRPC health
//! and `/readyz` say NOT_SERVING and every call is refused with
//! `UNAVAILABLE` (see [`crate::readiness`]). While serving, a probe pings
//! the database every second and mirrors the answer into health, so a
//! database outage shows as NOT_SERVING and recovers by itself. Configuration
//! errors (a bad URL, a wrong key-encryption secret) still fail at once, and
//! SQLite, a local file, still fails fast on any error. [`App::run_until_stopped`] serves
//! `AuthService`, gRPC health and reflection (v1 and v1alpha) on that one
//! port until the shutdown future resolves, then reports NOT_SERVING, lets
//! in-flight calls finish within the grace period and closes the pool.
//!
//! The same port serves Envoy's ext_authz `Authorization/Check`, and
//! gRPC-Web for browsers (HTTP/1.1 or HTTP/2, CORS from an allow-list, see
//! [`crate::grpc::web`]). Alongside,
//! the HTTP listener (its own port, off-able) serves JWKS, discovery,
//! health and metrics, and a background task keeps the signing keys in step
//! with the database (see [`crate::token::rotation`]).
//!
//! Both listeners accept through [`crate::net`]: a cap on open connections
//! each (`--grpc-max-connections`, `--http-max-connections`), a deadline for
//! a new connection's first request head (`--header-read-timeout`), accept
//! errors backed off, and the soft open-file limit raised to the hard one
//! before serving.
//!
//! Every background task is spawned through the one supervisor in
//! `app/tasks.rs`, which logs each end and stops them all, last started first,
//! once the gRPC drain is over. "Stopping" is held by [`Readiness`] alone:
//! the shutdown path marks it, and health, `/readyz`, the key refresher,
//! the drain deadline and the supervisor read it; `app/health.rs` keeps gRPC
//! health equal to it.

mod health;
mod listeners;
mod startup;
mod tasks;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::Either;
use tokio::net::TcpListener;
use tonic::service::interceptor::InterceptedService;

pub mod settings;

use crate::cache::{self, StateCache};
use crate::clock::Clock;
use crate::config::Config;
use crate::error::{Error, Result};
use crate::grpc::ext_authz::ExtAuthzApi;
use crate::grpc::ext_authz::pb::envoy::service::auth::v3::authorization_server::AuthorizationServer;
use crate::grpc::pb::admin_service_server::AdminServiceServer;
use crate::grpc::pb::auth_service_server::AuthServiceServer;
use crate::grpc::{AdminApi, AuthApi, pb};
use crate::metrics::{Metrics, Sources};
use crate::password::settings::PasswordSettings;
use crate::password::{PasswordHasher, PasswordPolicy};
use crate::readiness::Readiness;
use crate::revocations::RevocationHub;
use crate::service::pages::PageTokens;
use crate::service::{Accounts, AuthCore, SessionPolicy};
use crate::store::{self, DatabaseUrl, PoolSettings, Store};
use crate::tls::AdminClients;
use crate::token::TokenService;
use crate::token::rotation::{KeyManager, KeyPolicy};
use health::{mirror_readiness, probe_database, report_health};
use listeners::{GrpcIncoming, bind_listeners, grpc_incoming, transport};
use startup::begin_start_up;
use tasks::Tasks;

/// A built, bound, not yet serving authd.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    local_addr: SocketAddr,
    core: AuthCore,
    store: Arc<dyn Store>,
    config: Config,
    /// TLS read from the files `config` names, once; `None`: plaintext.
    tls: Option<crate::tls::TlsSettings>,
    /// Every background task, supervised (see [`tasks`]).
    tasks: Tasks,
    /// Applies rotations and reloads keys; its refresher runs while serving.
    keys: KeyManager,
    /// The bound HTTP listener and its address, unless turned off.
    http: Option<(TcpListener, SocketAddr)>,
    /// The database, for the start-up line (shown redacted).
    database: DatabaseUrl,
    /// Started / database up / stopping, mirrored into health and `/readyz`.
    readiness: Readiness,
    /// This app's own registry: served on `/metrics`, recorded by the adapters.
    metrics: Metrics,
}

/// How often expired and long-ended sessions are deleted.
const PURGE_INTERVAL: Duration = Duration::from_secs(600);
/// How long an ended session is kept (for the record and reuse answers).
const ENDED_SESSION_RETENTION_SECS: i64 = 86_400;
/// Cached entries are re-read at least this often, whatever the feed says.
const CACHE_ENTRY_TTL: Duration = Duration::from_secs(60);
/// How long start-up waits for the change feed before serving from the database.
const FEED_START_WAIT: Duration = Duration::from_secs(3);

/// Opens the store at `url` and applies migrations, for commands that run
/// once: an unreachable PostgreSQL is reported with its cause at once.
///
/// # Errors
/// [`Error::Unavailable`] if the database cannot be reached.
pub async fn open_store(url: &DatabaseUrl, pool: PoolSettings) -> Result<Arc<dyn Store>> {
    store::check_reachable(url, pool).await?;
    let store = store::connect(url, pool).await?;
    store.migrate().await?;
    Ok(store)
}

/// Builds the password hasher for `config`, holding new passwords to its policy.
///
/// # Errors
/// [`Error::Config`] for unusable parameters.
pub async fn password_hasher(config: &Config) -> Result<PasswordHasher> {
    hasher_for(&config.password).await
}

/// Builds the password hasher `settings` describe (the server's, and the
/// CLI's for `user add` and `user set-password`), with their password policy.
///
/// # Errors
/// [`Error::Config`] for unusable parameters.
pub async fn hasher_for(settings: &PasswordSettings) -> Result<PasswordHasher> {
    Ok(PasswordHasher::new(
        settings.argon2(),
        settings.hash_concurrency,
        settings.hash_queue_timeout,
    )
    .await?
    .with_policy(PasswordPolicy::from_settings(settings)))
}

impl App {
    /// Connects, migrates, loads keys and binds the listener.
    ///
    /// With PostgreSQL, an unreachable database is not an error: one
    /// attempt is made here, then a background task keeps trying while the
    /// server runs NOT_SERVING (see the module docs).
    ///
    /// # Errors
    /// [`Error::Unavailable`] for an unreachable SQLite database,
    /// [`Error::Config`] for a bad URL or secret, or if the address cannot be bound.
    pub async fn build(config: Config) -> Result<Self> {
        Self::build_with_clock(config, Clock::system()).await
    }

    /// [`Self::build`], with every part reading time from `clock` (tests
    /// pass a [`crate::clock::ManualClock`]'s handle and move it).
    ///
    /// # Errors
    /// As [`Self::build`].
    pub async fn build_with_clock(config: Config, clock: Clock) -> Result<Self> {
        config.check(&crate::config::Sources::default())?;
        let tls = crate::tls::TlsSettings::from_args(&config.tls)?;
        let database = crate::config::Sources::default().attribute(config.admin.store.url())?;
        let store = store::connect(&database, config.admin.store.pool()).await?;
        let hash_wait = crate::metrics::latency_histogram();
        let hasher = password_hasher(&config).await?.with_wait_observer({
            let hash_wait = hash_wait.clone();
            Arc::new(move |waited| hash_wait.observe(waited))
        });
        let key_policy = KeyPolicy::new(
            &config.signing,
            &config.lifetimes,
            config.token.key_rotation_interval,
        )?;
        let keys = KeyManager::unloaded(Arc::clone(&store), key_policy, clock.clone());
        let readiness = Readiness::new();
        let mut tasks = Tasks::new(readiness.clone());
        begin_start_up(
            &database,
            config.admin.store.pool(),
            &store,
            &keys,
            &readiness,
            &mut tasks,
        )
        .await?;
        let tokens = TokenService::new(
            Arc::clone(keys.keys()),
            config.token.issuer.clone(),
            config.token.audience.clone(),
            config.lifetimes.access_token_ttl,
            config.lifetimes.leeway,
        )
        .with_max_token_bytes(config.token.max_token_bytes)
        .with_verified_cache(
            config.token.verify_cache_entries,
            config.token.verify_cache_ttl,
        );
        let cache = Arc::new(StateCache::new(
            config.server.cache_trust_bound,
            CACHE_ENTRY_TTL,
            config.server.state_cache_entries,
            clock.clone(),
        ));
        let revocations = revocation_hub(&config, &store, &cache, &keys, &readiness);
        spawn_state_tasks(&mut tasks, &config, &store, &cache, &revocations, &clock);
        let policy = SessionPolicy {
            lifetime_secs: i64::try_from(config.token.session_lifetime.as_secs())
                .unwrap_or(i64::MAX),
            grace_secs: i64::try_from(config.token.refresh_grace.as_secs()).unwrap_or(i64::MAX),
            idle_secs: config
                .token
                .refresh_idle_timeout
                .map(|idle| i64::try_from(idle.as_secs()).unwrap_or(i64::MAX)),
            max_per_user: config.token.max_sessions_per_user,
        };
        let metrics = Metrics::new(
            Sources {
                hasher: hasher.clone(),
                cache: Arc::clone(&cache),
                tokens: tokens.clone(),
                keys: keys.clone(),
                store: Arc::clone(&store),
                revocations: Arc::clone(&revocations),
            },
            hash_wait,
        );
        let accounts = Accounts::new(Arc::clone(&store), hasher, clock.clone());
        let core = AuthCore::new(accounts, tokens, Arc::clone(&cache), policy)
            .with_throttle(config.throttle.policy())
            .with_revocations(revocations);
        // Page tokens must open on every replica: their key is the one
        // stored in the database. A start-up still waiting for the database
        // keeps this process's own key until the next start (its page
        // tokens then open only here).
        let core = if readiness.state().started {
            core.with_page_tokens(PageTokens::shared(store.as_ref(), clock.now_unix()).await?)
        } else {
            tracing::warn!("database not reached yet: page tokens open on this replica only");
            core
        };
        if readiness.state().started
            && !config.server.cache_trust_bound.is_zero()
            && !cache.wait_until_trusted(FEED_START_WAIT).await
        {
            tracing::warn!("change feed not live yet; Verify reads the database until it is");
        }
        let (listener, local_addr, http) = bind_listeners(&config.server).await?;
        Ok(Self {
            listener,
            local_addr,
            core,
            store,
            config,
            tls,
            tasks,
            keys,
            http,
            database,
            readiness,
            metrics,
        })
    }

    /// This app's metrics (what `/metrics` serves).
    #[must_use]
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Whether this app has started, sees its database and is not stopping.
    #[must_use]
    pub fn readiness(&self) -> &Readiness {
        &self.readiness
    }

    /// The bound HTTP address, unless the HTTP listener is off.
    #[must_use]
    pub fn http_addr(&self) -> Option<SocketAddr> {
        self.http.as_ref().map(|(_, addr)| *addr)
    }

    /// The key manager (rotation, listing, reloading).
    #[must_use]
    pub fn key_manager(&self) -> &KeyManager {
        &self.keys
    }

    /// The bound address (the real port when configured with port 0).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The authentication core this app serves.
    #[must_use]
    pub fn core(&self) -> &AuthCore {
        &self.core
    }

    /// Serves until `shutdown` resolves, then drains and closes.
    ///
    /// # Errors
    /// [`Error::Internal`] if the server fails.
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<()> {
        // Before any connection: the caps, not the descriptor table, decide.
        crate::net::raise_open_file_limit();
        let (health, health_service) = tonic_health::server::health_reporter();
        report_health(&health, self.readiness.state()).await;

        // Each version also lists the other, so `list` through either names both.
        let reflection_v1 = reflection(tonic_reflection::pb::v1alpha::FILE_DESCRIPTOR_SET)
            .build_v1()
            .map_err(|e| Error::internal("building the reflection service", e))?;
        let reflection_v1alpha = reflection(tonic_reflection::pb::v1::FILE_DESCRIPTOR_SET)
            .build_v1alpha()
            .map_err(|e| Error::internal("building the reflection service", e))?;

        let reporter = health.clone();
        let readiness = self.readiness.clone();
        let signal = async move {
            shutdown.await;
            tracing::info!("shutdown requested: reporting NOT_SERVING and draining calls");
            readiness.mark_stopping();
            // The mirror would report this too, but as another task, maybe
            // after tonic has begun the drain (it starts the moment this
            // future resolves): written here, a health check on a draining
            // connection can never still see SERVING. Same projection, so
            // the two writers cannot disagree.
            report_health(&reporter, readiness.state()).await;
        };

        self.tasks.spawn(
            "readiness-mirror",
            mirror_readiness(self.readiness.clone(), health.clone()),
        );
        self.tasks.spawn(
            "database-probe",
            probe_database(
                Arc::clone(&self.store),
                self.readiness.clone(),
                self.config.admin.store.database_acquire_timeout + Duration::from_secs(1),
                self.config.server.readiness_probe_interval,
            ),
        );
        let http_addr = self.http_addr();
        // Last, so the supervisor (last started, first stopped) takes the
        // HTTP listener down first after the drain.
        self.spawn_background();
        let gate = crate::grpc::startup_gate(self.readiness.clone());
        self.log_start_up(http_addr);
        let incoming = grpc_incoming(self.listener, &self.config.server, self.tls.as_ref());
        let max_message = self.config.server.max_message_bytes;
        let admin_clients = AdminClients::new(self.config.tls.admin_clients.clone());
        let router = transport(&self.config.server)
            // CORS outside gRPC-Web: it answers preflights itself and marks
            // the answers to allowed origins (see `grpc::web`).
            .layer(tower::util::option_layer(self.config.grpc_web.cors_layer()))
            .layer(crate::grpc::web::GrpcWebLayer::new())
            .add_service(health_service.max_decoding_message_size(max_message))
            .add_service(reflection_v1.max_decoding_message_size(max_message))
            .add_service(reflection_v1alpha.max_decoding_message_size(max_message))
            .add_service(InterceptedService::new(
                AuthorizationServer::new(
                    ExtAuthzApi::new(self.core.clone(), self.config.ext_authz.headers())
                        .with_metrics(self.metrics.rpc()),
                )
                .max_decoding_message_size(max_message),
                gate.clone(),
            ))
            .add_service(InterceptedService::new(
                AdminServiceServer::new(
                    AdminApi::new(self.core.clone())
                        .with_trusted_proxies(self.config.throttle.trusted_proxies.clone())
                        .with_admin_clients(admin_clients.clone())
                        .with_metrics(self.metrics.rpc()),
                )
                .max_decoding_message_size(max_message),
                gate.clone(),
            ))
            .add_service(InterceptedService::new(
                AuthServiceServer::new(
                    AuthApi::new(self.core)
                        .with_trusted_proxies(self.config.throttle.trusted_proxies.clone())
                        .with_admin_clients(admin_clients)
                        .with_metrics(self.metrics.rpc()),
                )
                .max_decoding_message_size(max_message),
                gate,
            ));
        // Boxed: two servers' futures inline would make this one too large.
        let server = match incoming {
            GrpcIncoming::Plain(incoming) => Either::Left(Box::pin(
                router.serve_with_incoming_shutdown(incoming, signal),
            )),
            GrpcIncoming::Tls(incoming) => Either::Right(Box::pin(
                router.serve_with_incoming_shutdown(incoming, signal),
            )),
        };

        let grace = self.config.server.shutdown_grace;
        let stopping = self.readiness.stopping();
        let drain_deadline = async move {
            stopping.await;
            tokio::time::sleep(grace).await;
        };
        let outcome = tokio::select! {
            result = server => result.map_err(|e| Error::internal("serving gRPC", e)),
            () = drain_deadline => {
                tracing::warn!(?grace, "drain period over; closing the remaining connections");
                Ok(())
            }
        };
        // Also when the server failed rather than being asked to stop: from
        // here on every task that ends is ending for shutdown.
        self.readiness.mark_stopping();
        // Only now, with the gRPC drain over, does the HTTP listener stop
        // answering (`/readyz` said 503 throughout); then the rest.
        self.tasks.shutdown().await;
        self.store.close().await;
        tracing::info!("authd stopped");
        outcome
    }
}

impl App {
    /// The one start-up line: what runs, on what, where, signing how. Tests
    /// and operators find the bound gRPC address in it (`addr`); the
    /// database URL is redacted, and no secret is among the fields.
    fn log_start_up(&self, http_addr: Option<SocketAddr>) {
        let (algorithm, kid) = match self.keys.keys().signing() {
            Ok(key) => (
                crate::token::keys::alg_name(key.algorithm).to_owned(),
                key.kid.clone(),
            ),
            // PostgreSQL down at start-up: keys load once it answers.
            Err(_) => ("not loaded yet".to_owned(), "-".to_owned()),
        };
        let config_file = self
            .config
            .admin
            .config
            .as_deref()
            .map_or_else(|| "none".to_owned(), |p| p.display().to_string());
        tracing::info!(
            version = env!("CARGO_PKG_VERSION"),
            addr = %self.local_addr,
            http = %http_addr.map_or_else(|| "off".to_owned(), |a| a.to_string()),
            backend = self.database.backend(),
            database = %self.database.redacted(),
            database_tls = %self.database.tls_mode(),
            config_file = %config_file,
            signing_algorithm = %algorithm,
            kid = %kid,
            tls = self.tls.is_some(),
            client_certificates = self.tls.as_ref().is_some_and(crate::tls::TlsSettings::verifies_clients),
            "authd serving gRPC"
        );
    }
}

/// A reflection service builder knowing authd's services, health, ext_authz
/// and `other_version` (the other reflection protocol's descriptors).
fn reflection(other_version: &'static [u8]) -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(crate::grpc::ext_authz::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(other_version)
}

/// Starts the tasks that keep shared state current: the change feed into
/// `cache`, heartbeats through it, and purging of ended sessions and of
/// forgotten failed-login counts.
fn spawn_state_tasks(
    tasks: &mut Tasks,
    config: &Config,
    store: &Arc<dyn Store>,
    cache: &Arc<StateCache>,
    revocations: &Arc<RevocationHub>,
    clock: &Clock,
) {
    tasks.spawn(
        "change-feed",
        cache::follow_changes(
            Arc::clone(store),
            Arc::clone(cache),
            Arc::clone(revocations) as Arc<dyn cache::FeedListener>,
            config.server.cache_trust_bound.max(Duration::from_secs(1)) * 2,
        ),
    );
    tasks.spawn("revocation-hub", Arc::clone(revocations).run());
    tasks.spawn(
        "feed-heartbeat",
        cache::send_heartbeats(
            Arc::clone(store),
            (config.server.cache_trust_bound / 3).max(Duration::from_millis(100)),
        ),
    );
    // Ended sessions and tombstones stay while a token from before could
    // still be unexpired: the revocation stream's snapshot reads them.
    // Expired ones only once past the leeway too: a token may not outlive
    // its session, but is accepted up to `leeway` after its `exp`.
    let retention = ENDED_SESSION_RETENTION_SECS.max(revocation_window_secs(config));
    let leeway = i64::try_from(config.lifetimes.leeway.as_secs()).unwrap_or(i64::MAX);
    tasks.spawn(
        "session-purge",
        purge_sessions(Arc::clone(store), clock.clone(), leeway, retention),
    );
    tasks.spawn(
        "login-failure-purge",
        purge_login_failures(Arc::clone(store), config.throttle.policy(), clock.clone()),
    );
}

/// The revocation hub over the app's store, cache, keys and clock.
fn revocation_hub(
    config: &Config,
    store: &Arc<dyn Store>,
    cache: &Arc<StateCache>,
    keys: &KeyManager,
    readiness: &Readiness,
) -> Arc<RevocationHub> {
    Arc::new(RevocationHub::new(
        Arc::clone(store),
        Arc::clone(cache),
        Arc::clone(keys.keys()),
        keys.clock().clone(),
        readiness.clone(),
        revocation_window_secs(config),
        config.server.revocation_history,
    ))
}

/// How far back a revocation can still matter, seconds: the longest
/// access-token lifetime plus the leeway.
fn revocation_window_secs(config: &Config) -> i64 {
    let window = config.lifetimes.access_token_ttl + config.lifetimes.leeway;
    i64::try_from(window.as_secs()).unwrap_or(i64::MAX)
}

/// Deletes sessions expired for longer than `leeway_secs`, and ended
/// sessions and tombstones older than `retention_secs`, forever.
async fn purge_sessions(
    store: Arc<dyn Store>,
    clock: Clock,
    leeway_secs: i64,
    retention_secs: i64,
) {
    let mut ticker = tokio::time::interval(PURGE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let now = clock.now_unix();
        let started = clock.now();
        match store
            .purge_sessions(now - leeway_secs, now - retention_secs)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                sessions = n,
                elapsed_ms = clock.now().saturating_duration_since(started).as_millis(),
                "purged expired and ended sessions"
            ),
            Err(e) => tracing::warn!(error = %e, "purging sessions failed; will retry"),
        }
    }
}

/// Deletes failed-login counts that no longer count (their window is
/// over), forever; they would be ignored anyway, this only bounds the table.
async fn purge_login_failures(
    store: Arc<dyn Store>,
    policy: crate::throttle::ThrottlePolicy,
    clock: Clock,
) {
    let mut ticker = tokio::time::interval(PURGE_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        match store
            .purge_login_failures(policy.forget_before(clock.now_unix()))
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(counts = n, "purged expired failed-login counts"),
            Err(e) => tracing::warn!(error = %e, "purging failed-login counts failed; will retry"),
        }
    }
}

impl App {
    /// Starts the key refresher (which ends by itself once readiness says
    /// stopping) and the HTTP listener (which keeps answering, `/readyz`
    /// with 503, until the gRPC drain is over and the supervisor stops it).
    fn spawn_background(&mut self) {
        let refresher = self.keys.clone();
        let keys_changed = self.core.cache().keys_changed();
        self.tasks.spawn(
            "key-refresher",
            refresher.run_refresher(keys_changed, self.readiness.stopping()),
        );
        if let Some((listener, addr)) = self.http.take() {
            let router = crate::http::router(crate::http::HttpState {
                keys: Arc::clone(self.keys.keys()),
                issuer: self.config.token.issuer.clone(),
                metrics: self.metrics.clone(),
                readiness: self.readiness.clone(),
                local_addr: addr,
                tls: self.tls.is_some(),
                core: self.core.clone(),
                trusted_proxies: self.config.throttle.trusted_proxies.clone(),
                identity_headers: self.config.ext_authz.headers(),
            });
            let tls = self
                .tls
                .as_ref()
                .map(crate::tls::TlsSettings::http_acceptor);
            tracing::info!(%addr, tls = tls.is_some(), "authd serving HTTP (JWKS, health, metrics, OAuth2 token)");
            let listener = crate::net::Listener::new(
                listener,
                "http",
                self.config.server.http_max_connections,
                self.config.server.header_read_timeout,
            );
            self.tasks.spawn(
                "http",
                crate::http::serve(listener, router, tls, self.config.server.http_idle_timeout),
            );
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
