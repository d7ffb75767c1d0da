//! The revocation stream's scenarios (issue 13), both on a scratch
//! PostgreSQL database (`--postgres`, created with `psql` and dropped at the
//! end) with authd's release binary spawned on loopback:
//!
//! - `revocation-lag`: `--replicas` replicas (default 2: A and B), and one
//!   `authd_client` [`Verifier`] connected to each (a service account's
//!   credentials; each is a WatchRevocations subscriber). `--users` users
//!   log in `--revocations` times in all (on every replica in turn); every
//!   token is checked valid by every verifier and by A's remote Verify
//!   first. Then, on a fixed schedule of `--rate` per second (the k-th at
//!   k/rate, at most [`REVOKING_AT_ONCE`] calls in flight), each session is
//!   ended **on the last replica**, or with `--spread` on every replica in
//!   turn (Logout with its refresh token; each user's last one with
//!   LogoutAll), and for each, the time from that call's return until each
//!   verifier answers invalid is taken by a watcher task that re-checks the
//!   token on every change the verifier applies ([`Verifier::changes`]).
//!   The baseline, for the same revocations at the same moments: each
//!   replica's remote Verify polled over gRPC in a tight loop until it
//!   answers `valid=false` (the same path up to that replica: the commit,
//!   PostgreSQL NOTIFY, its change feed, with its cache instead of its
//!   stream and the verifier at the end), for every revocation up to
//!   [`REMOTE_SAMPLES_PER_SECOND`] and every k-th above it. Percentiles per
//!   replica; `--csv` appends them in `docs/scaling`'s format.
//! - `subscribers`: one authd; an admin service account flips the `active`
//!   flag of a pool of users at `--rate` per second for the whole run (each
//!   flip is one `UserChanged` event to every subscriber). The server's CPU
//!   time (`/proc/PID/stat`) and resident memory (`VmRSS`) are read over a
//!   `--duration` window with no subscriber, then with `--subscribers` raw
//!   WatchRevocations streams (each on its own connection, read as fast as
//!   they come), then with none again; the differences divided by the
//!   number of subscribers are the cost of one.
//!
//! Every wait here is bounded ([`LAG_LIMIT`], [`SETUP_LIMIT`]) and every loop
//! counted; the servers are killed by their own PIDs when they drop.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use authd_client::{Credentials, Verdict, Verifier};
use tokio::task::JoinSet;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};

use crate::Args;
use crate::pb;
use crate::pb::admin_service_client::AdminServiceClient;
use crate::pb::auth_service_client::AuthServiceClient;
use crate::process::{ScratchDatabase, Server, authd_binary, authd_command, load_average, serve};

/// The longest a revocation may take to show before it counts as not seen.
pub const LAG_LIMIT: Duration = Duration::from_secs(5);
/// The longest any one set-up step (a login, a stream's snapshot) may take.
const SETUP_LIMIT: Duration = Duration::from_secs(30);
/// The password of the scenario's users (they exist only in the scratch database).
const PASSWORD: &str = "load test password 1";
/// Users whose `active` flag the `subscribers` scenario flips.
const FLIPPED_USERS: usize = 10;
/// Logins and user creations in flight at once during set-up.
const SETUP_CONCURRENCY: usize = 4;

/// Runs `revocation-lag` or `subscribers`.
pub async fn run(args: &Args, window: Duration) -> Result<(), String> {
    if !args.rate.is_finite() || args.rate <= 0.0 || args.rate > 10_000.0 {
        return Err(format!(
            "--rate {} must be above 0 and at most 10000",
            args.rate
        ));
    }
    match args.scenario.as_str() {
        "revocation-lag" => lag(args).await,
        "subscribers" => subscribers(args, window).await,
        other => Err(format!("unknown scenario {other}")),
    }
}

/// The servers and the database they share. Fields drop in order: the
/// servers (killed by PID) before the database is dropped.
struct Fleet {
    replicas: Vec<Server>,
    db: ScratchDatabase,
    authd: PathBuf,
}

impl Fleet {
    /// A scratch database and `count` replicas on it, started one after the
    /// other (the first one migrates and makes the signing keys).
    fn start(args: &Args, count: usize) -> Result<Self, String> {
        let authd = authd_binary()?;
        let db = ScratchDatabase::create(&args.postgres)?;
        let mut replicas = Vec::new();
        for _ in 0..count {
            replicas.push(serve(&authd, &db.url, &args.extra_server_flags)?);
        }
        Ok(Self {
            replicas,
            db,
            authd,
        })
    }

    /// Creates a service account with the command line; its client id and secret.
    fn service_account(&self, name: &str, roles: &[&str]) -> Result<(String, String), String> {
        let mut command = vec!["service-account", "add", name];
        for role in roles {
            command.extend(["--role", role]);
        }
        let out = authd_command(&self.authd, &self.db.url, &command)?;
        let field = |label: &str| {
            out.lines()
                .find_map(|line| line.strip_prefix(label))
                .map(|value| value.trim().to_owned())
                .ok_or_else(|| format!("`authd service-account add` printed no {label:?}"))
        };
        Ok((field("client id:")?, field("client secret:")?))
    }
}

async fn channel(server: &Server) -> Result<Channel, String> {
    endpoint(server)?
        .connect()
        .await
        .map_err(|e| format!("cannot connect to {}: {e}", server.addr))
}

fn endpoint(server: &Server) -> Result<Endpoint, String> {
    Ok(Endpoint::from_shared(format!("http://{}", server.addr))
        .map_err(|e| e.to_string())?
        .tcp_nodelay(true))
}

/// A request carrying `authorization: Bearer <token>`.
fn bearer<T>(message: T, token: &str) -> Result<Request<T>, String> {
    let mut request = Request::new(message);
    let value = format!("Bearer {token}")
        .parse()
        .map_err(|_| "a token that is not header text".to_owned())?;
    request.metadata_mut().insert("authorization", value);
    Ok(request)
}

async fn service_token(
    client: &mut AuthServiceClient<Channel>,
    (client_id, client_secret): &(String, String),
) -> Result<String, String> {
    let answer = client
        .issue_service_token(pb::IssueServiceTokenRequest {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
            audience: String::new(),
        })
        .await
        .map_err(|e| format!("IssueServiceToken failed: {e}"))?;
    Ok(answer.into_inner().access_token)
}

/// Creates `count` users named `{prefix}-{i}` through the admin API; their ids, in order.
async fn create_users(
    admin: &AdminServiceClient<Channel>,
    token: &str,
    prefix: &str,
    count: usize,
) -> Result<Vec<String>, String> {
    let mut tasks = JoinSet::new();
    for worker in 0..SETUP_CONCURRENCY {
        let admin = admin.clone();
        let token = token.to_owned();
        let prefix = prefix.to_owned();
        tasks.spawn(async move {
            let mut made = Vec::new();
            for i in (worker..count).step_by(SETUP_CONCURRENCY) {
                let request = pb::CreateUserRequest {
                    username: format!("{prefix}-{i}"),
                    email: String::new(),
                    roles: Vec::new(),
                    password: PASSWORD.to_owned(),
                    active: Some(true),
                };
                let user = retry_busy(|| {
                    let mut admin = admin.clone();
                    let request = bearer(request.clone(), &token);
                    async move { admin.create_user(request?).await.map_err(Into::into) }
                })
                .await
                .map_err(|e| format!("CreateUser failed: {e}"))?;
                made.push((i, user.into_inner().id));
            }
            Ok::<_, String>(made)
        });
    }
    let mut ids = vec![String::new(); count];
    while let Some(done) = tasks.join_next().await {
        for (i, id) in done.map_err(|e| e.to_string())?? {
            ids[i] = id;
        }
    }
    Ok(ids)
}

/// Why a set-up call failed: a status (retried when RESOURCE_EXHAUSTED) or
/// a request that could not be built.
enum CallError {
    Status(tonic::Status),
    Other(String),
}

impl From<tonic::Status> for CallError {
    fn from(status: tonic::Status) -> Self {
        Self::Status(status)
    }
}

impl From<String> for CallError {
    fn from(text: String) -> Self {
        Self::Other(text)
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Status(status) => write!(f, "{:?}: {}", status.code(), status.message()),
            Self::Other(text) => f.write_str(text),
        }
    }
}

/// Calls `call` until it succeeds, backing off 50 ms after RESOURCE_EXHAUSTED
/// (the hashing pool is busy) as its message asks, for at most [`SETUP_LIMIT`].
async fn retry_busy<T, F, Fut>(mut call: F) -> Result<T, CallError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, CallError>>,
{
    let deadline = Instant::now() + SETUP_LIMIT;
    loop {
        match call().await {
            Err(CallError::Status(status))
                if status.code() == Code::ResourceExhausted && Instant::now() < deadline =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => return other,
        }
    }
}

/// One logged-in session and how the scenario ends it.
#[derive(Clone)]
struct Session {
    access_token: String,
    refresh_token: String,
    /// Ended with LogoutAll (the user's last session) rather than Logout.
    logout_all: bool,
}

/// `total` sessions of `users` users, round-robin (session `k` belongs to
/// user `k % users`), logged in alternately on each of `servers`; in the
/// order they will be ended, each user's last one marked for LogoutAll.
async fn log_in(
    servers: &[AuthServiceClient<Channel>],
    users: usize,
    total: usize,
) -> Result<Vec<Session>, String> {
    let mut tasks = JoinSet::new();
    for worker in 0..SETUP_CONCURRENCY {
        let servers = servers.to_vec();
        tasks.spawn(async move {
            let mut made = Vec::new();
            for k in (worker..total).step_by(SETUP_CONCURRENCY) {
                let request = pb::LoginRequest {
                    username: format!("lag-{}", k % users),
                    password: PASSWORD.to_owned(),
                };
                let answer = retry_busy(|| {
                    let mut client = servers[k % servers.len()].clone();
                    let request = request.clone();
                    async move { client.login(request).await.map_err(Into::into) }
                })
                .await
                .map_err(|e| format!("Login failed: {e}"))?
                .into_inner();
                made.push((k, answer.access_token, answer.refresh_token));
            }
            Ok::<_, String>(made)
        });
    }
    let mut sessions = vec![None; total];
    while let Some(done) = tasks.join_next().await {
        for (k, access_token, refresh_token) in done.map_err(|e| e.to_string())?? {
            sessions[k] = Some(Session {
                access_token,
                refresh_token,
                logout_all: k + users >= total,
            });
        }
    }
    sessions
        .into_iter()
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| "a login went missing".to_owned())
}

/// How long the revocations took to show at one place, one entry per
/// revocation: `None` when it did not show within [`LAG_LIMIT`].
#[derive(Debug, Default)]
pub struct Lags {
    seen: Vec<Duration>,
    missed: usize,
}

/// One percentile of [`Lags`].
/// Ordered: every seen lag is below [`Lag::Missed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lag {
    /// Within [`LAG_LIMIT`].
    Seen(Duration),
    /// Past [`LAG_LIMIT`] (that many revocations were never seen).
    Missed,
}

impl std::fmt::Display for Lag {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Seen(d) => write!(f, "{:.3} ms", d.as_secs_f64() * 1000.0),
            Self::Missed => write!(f, "> {} s", LAG_LIMIT.as_secs()),
        }
    }
}

impl Lags {
    pub fn add(&mut self, lag: Option<Duration>) {
        match lag {
            Some(lag) => self.seen.push(lag),
            None => self.missed += 1,
        }
    }

    pub fn count(&self) -> usize {
        self.seen.len() + self.missed
    }

    /// The nearest-rank percentile, `p` in (0, 1] (1 is the maximum): the
    /// smallest lag at least `p` of all revocations were seen within. The
    /// missed ones rank above every seen one. `None` when there is none.
    pub fn percentile(&mut self, p: f64) -> Option<Lag> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        self.seen.sort_unstable();
        let rank = ((p.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
        Some(
            self.seen
                .get(rank - 1)
                .map_or(Lag::Missed, |lag| Lag::Seen(*lag)),
        )
    }

    fn report(&mut self, label: &str) -> Option<Lag> {
        let (p50, p99, max) = (
            self.percentile(0.50)?,
            self.percentile(0.99)?,
            self.percentile(1.0)?,
        );
        println!(
            "  {label:<36} p50 {p50:>10}  p99 {p99:>10}  max {max:>10}  ({} revocations, {} not seen within {} s)",
            self.count(),
            self.missed,
            LAG_LIMIT.as_secs()
        );
        Some(p99)
    }
}

/// `ours` / `base` as text, when both were seen.
fn ratio(ours: Option<Lag>, base: Option<Lag>) -> String {
    match (ours, base) {
        (Some(Lag::Seen(ours)), Some(Lag::Seen(base))) if !base.is_zero() => {
            format!("{:.2}x", ours.as_secs_f64() / base.as_secs_f64())
        }
        _ => "n/a".to_owned(),
    }
}

/// From `since` until `verifier` answers invalid for `token`, re-checking on
/// every change it applies; `None` past [`LAG_LIMIT`]. Also counts the
/// answers that were "unavailable" (fail closed) on the way.
async fn verifier_until_invalid(
    verifier: Verifier,
    token: String,
    since: Instant,
    unavailable: Arc<AtomicU64>,
) -> Option<Duration> {
    let deadline = tokio::time::Instant::from_std(since + LAG_LIMIT);
    let mut changes = verifier.changes();
    // Bounded by the deadline; each pass waits for a change.
    loop {
        // Marked seen before the check, so a change after it wakes the wait.
        changes.borrow_and_update();
        match verifier.verify(&token) {
            Ok(Verdict::Invalid(_)) => return Some(since.elapsed()),
            Ok(Verdict::Valid(_)) => {}
            Err(_) => {
                unavailable.fetch_add(1, Ordering::Relaxed);
            }
        }
        match tokio::time::timeout_at(deadline, changes.changed()).await {
            Ok(Ok(())) => {}
            Ok(Err(_)) | Err(_) => return None,
        }
    }
}

/// From `since` until `client`'s remote Verify answers `valid=false` for
/// `token`, polling in a tight loop; `None` past [`LAG_LIMIT`].
async fn remote_until_invalid(
    mut client: AuthServiceClient<Channel>,
    token: String,
    since: Instant,
) -> Option<Duration> {
    let deadline = since + LAG_LIMIT;
    while Instant::now() < deadline {
        if let Ok(answer) = client
            .verify(pb::VerifyRequest {
                token: token.clone(),
            })
            .await
            && !answer.into_inner().valid
        {
            return Some(since.elapsed());
        }
    }
    None
}

/// Revocations in flight at once (calls made, not yet returned); a bound,
/// so a slow server backs the schedule up instead of piling up calls.
const REVOKING_AT_ONCE: usize = 64;
/// Sampled revocations per second whose remote Verify is polled at every
/// replica (at higher `--rate`, every k-th revocation), so the polling
/// itself stays a small load next to the revocations.
const REMOTE_SAMPLES_PER_SECOND: f64 = 100.0;

/// Where a lag was taken: a replica's verifier (a WatchRevocations
/// subscriber) or its remote Verify.
#[derive(Debug, Clone, Copy)]
enum Place {
    Verifier(usize),
    Remote(usize),
}

/// Replica `r`'s name: A, B, ... (then R27, R28, ...).
fn replica_name(r: usize) -> String {
    u8::try_from(r).ok().filter(|r| *r < 26).map_or_else(
        || format!("R{}", r + 1),
        |r| char::from(b'A' + r).to_string(),
    )
}

/// Every `every`-th revocation is polled remotely: 1 up to
/// [`REMOTE_SAMPLES_PER_SECOND`], then as many as keep it there.
fn remote_sample_every(rate: f64) -> usize {
    (rate / REMOTE_SAMPLES_PER_SECOND).ceil().max(1.0) as usize
}

/// Ends `session` on `revoker`: LogoutAll for a user's last session, else Logout.
async fn end_session(
    mut revoker: AuthServiceClient<Channel>,
    session: &Session,
) -> Result<(), String> {
    let ended = if session.logout_all {
        revoker
            .logout_all(bearer(pb::LogoutAllRequest {}, &session.access_token)?)
            .await
            .map(|_| ())
    } else {
        revoker
            .logout(pb::LogoutRequest {
                refresh_token: session.refresh_token.clone(),
            })
            .await
            .map(|_| ())
    };
    ended.map_err(|e| format!("a revocation failed: {e}"))
}

async fn lag(args: &Args) -> Result<(), String> {
    let (users, total) = (args.users.max(1), args.revocations.max(1));
    let count = args.replicas.clamp(2, 16);
    let fleet = Fleet::start(args, count)?;
    let names: Vec<String> = (0..count).map(replica_name).collect();
    let revoking = if args.spread {
        "every replica in turn".to_owned()
    } else {
        names[count - 1].clone()
    };
    let every = remote_sample_every(args.rate);
    println!(
        "authd-load: scenario revocation-lag, {count} replicas ({}) on a scratch PostgreSQL \
         database, {users} users, {total} revocations on {revoking} at {}/s, remote Verify \
         polled for {} revocation; load average {}",
        fleet
            .replicas
            .iter()
            .zip(&names)
            .map(|(server, name)| format!("{name} {}", server.addr))
            .collect::<Vec<_>>()
            .join(", "),
        args.rate,
        if every == 1 {
            "every".to_owned()
        } else {
            format!("every {every}th")
        },
        load_average().unwrap_or_default()
    );
    let admin_account = fleet.service_account("load-admin", &["admin"])?;
    let verifier_account = fleet.service_account("load-verifiers", &[])?;
    let mut on = Vec::new();
    for server in &fleet.replicas {
        on.push(AuthServiceClient::new(channel(server).await?));
    }
    let admin_token = service_token(&mut on[0], &admin_account).await?;
    let admin = AdminServiceClient::new(channel(&fleet.replicas[0]).await?);
    create_users(&admin, &admin_token, "lag", users).await?;
    let started = Instant::now();
    let sessions = log_in(&on, users, total).await?;
    println!(
        "  {total} sessions of {users} users logged in ({:.1} s)",
        started.elapsed().as_secs_f64()
    );

    let credentials =
        Credentials::service_account(verifier_account.0.clone(), verifier_account.1.clone());
    let mut verifiers = Vec::new();
    for (server, name) in fleet.replicas.iter().zip(&names) {
        verifiers.push(
            Verifier::connect(endpoint(server)?, credentials.clone())
                .await
                .map_err(|e| format!("the verifier on {name} did not connect: {e}"))?,
        );
    }
    // Every token valid everywhere first (this also warms A's caches).
    for session in &sessions {
        for (name, verifier) in names.iter().zip(&verifiers) {
            match verifier.verify(&session.access_token) {
                Ok(Verdict::Valid(_)) => {}
                other => {
                    return Err(format!(
                        "the verifier on {name} answered {other:?} before any revocation"
                    ));
                }
            }
        }
        let answer = on[0]
            .verify(pb::VerifyRequest {
                token: session.access_token.clone(),
            })
            .await
            .map_err(|e| format!("Verify on A failed: {e}"))?;
        if !answer.into_inner().valid {
            return Err("A's Verify answered invalid before any revocation".into());
        }
    }

    let unavailable = Arc::new(AtomicU64::new(0));
    let in_flight = Arc::new(tokio::sync::Semaphore::new(REVOKING_AT_ONCE));
    let mut revocations = JoinSet::new();
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let load_before = load_average().unwrap_or_default();
    let measured = tokio::time::Instant::now();
    for (k, session) in sessions.iter().enumerate() {
        // On schedule (the k-th at k periods), not after the previous one returned.
        tokio::time::sleep_until(measured + period * u32::try_from(k).unwrap_or(u32::MAX)).await;
        let permit = Arc::clone(&in_flight)
            .acquire_owned()
            .await
            .map_err(|e| e.to_string())?;
        let revoker = if args.spread { k % count } else { count - 1 };
        let revoker = on[revoker].clone();
        let remote: Vec<_> = if k % every == 0 {
            on.clone()
        } else {
            Vec::new()
        };
        let (verifiers, session, unavailable) =
            (verifiers.clone(), session.clone(), Arc::clone(&unavailable));
        revocations.spawn(async move {
            let ended = end_session(revoker, &session).await;
            let returned = Instant::now();
            drop(permit);
            ended?;
            let mut waits = JoinSet::new();
            for (r, verifier) in verifiers.into_iter().enumerate() {
                let wait = verifier_until_invalid(
                    verifier,
                    session.access_token.clone(),
                    returned,
                    Arc::clone(&unavailable),
                );
                waits.spawn(async move { (Place::Verifier(r), wait.await) });
            }
            for (r, client) in remote.into_iter().enumerate() {
                let wait = remote_until_invalid(client, session.access_token.clone(), returned);
                waits.spawn(async move { (Place::Remote(r), wait.await) });
            }
            let mut seen = Vec::new();
            while let Some(done) = waits.join_next().await {
                seen.push(done.map_err(|e| e.to_string())?);
            }
            Ok::<_, String>(seen)
        });
    }
    let scheduled = measured.elapsed();
    let mut at_verifier: Vec<Lags> = (0..count).map(|_| Lags::default()).collect();
    let mut at_remote: Vec<Lags> = (0..count).map(|_| Lags::default()).collect();
    while let Some(done) = revocations.join_next().await {
        for (place, lag) in done.map_err(|e| e.to_string())?? {
            match place {
                Place::Verifier(r) => at_verifier[r].add(lag),
                Place::Remote(r) => at_remote[r].add(lag),
            }
        }
    }
    let load_after = load_average().unwrap_or_default();
    println!(
        "  {total} revocations ({} Logout, {} LogoutAll) made in {:.2} s ({:.0}/s achieved, \
         {}/s asked); load average {load_before} before, {load_after} after",
        sessions.iter().filter(|s| !s.logout_all).count(),
        sessions.iter().filter(|s| s.logout_all).count(),
        scheduled.as_secs_f64(),
        total as f64 / scheduled.as_secs_f64().max(1e-9),
        args.rate,
    );
    let mut rows = Vec::new();
    let mut all_met = true;
    for r in 0..count {
        let name = &names[r];
        let verifier = at_verifier[r].report(&format!("verifier on {name} (subscriber)"));
        let remote = at_remote[r].report(&format!("remote Verify on {name}"));
        println!(
            "  {:<36} ratio of p99s, verifier / remote Verify: {}",
            "",
            ratio(verifier, remote)
        );
        for (kind, lags) in [
            ("subscriber", &mut at_verifier[r]),
            ("Verify", &mut at_remote[r]),
        ] {
            for (label, p) in [("p50", 0.50), ("p99", 0.99)] {
                rows.push(CsvRow {
                    series: format!("{kind} {label}"),
                    replica: r + 1,
                    lag: lags.percentile(p),
                });
            }
            all_met &= lags.percentile(0.99).is_some_and(|p99| p99 <= TARGET);
        }
    }
    println!(
        "  target p99 <= {} ms at every replica's verifier and remote Verify: {}; {} \
         unavailable answers",
        TARGET_MS,
        if all_met { "met" } else { "NOT met" },
        unavailable.load(Ordering::Relaxed)
    );
    if let Some(path) = &args.csv {
        let note = format!("of {count} replicas; loadavg {load_after}");
        write_csv(path, args.rate, &rows, &note)?;
        println!("  {} rows appended to {}", rows.len(), path.display());
    }
    drop(verifiers);
    drop(fleet);
    Ok(())
}

/// The lag target of issue 16, at every replica.
const TARGET_MS: u64 = 100;
const TARGET: Lag = Lag::Seen(Duration::from_millis(TARGET_MS));

/// One percentile at one replica, for `--csv`.
struct CsvRow {
    series: String,
    replica: usize,
    lag: Option<Lag>,
}

/// Appends `rows` to the CSV at `path` (`series,x,y,unit,note`, the format
/// of `docs/scaling/*.csv`; the header is written when the file is new),
/// `x` the asked rate. A revocation never seen leaves `y` empty.
fn write_csv(path: &std::path::Path, rate: f64, rows: &[CsvRow], note: &str) -> Result<(), String> {
    use std::fmt::Write as _;
    use std::io::Write as _;
    let new = !path.exists();
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut text = String::new();
    if new {
        text.push_str("series,x,y,unit,note\n");
    }
    for row in rows {
        let y = match row.lag {
            Some(Lag::Seen(d)) => format!("{:.3}", d.as_secs_f64() * 1000.0),
            _ => String::new(),
        };
        let _ = writeln!(
            text,
            "{},{rate},{y},ms,replica {} {note}",
            row.series, row.replica
        );
    }
    file.write_all(text.as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

async fn subscribers(args: &Args, window: Duration) -> Result<(), String> {
    let count = args.subscribers;
    let fleet = Fleet::start(args, 1)?;
    let server = &fleet.replicas[0];
    println!(
        "authd-load: scenario subscribers, authd {} on a scratch PostgreSQL database, \
         {count} subscribers, {}/s user changes, {window:?} per window; load average {}",
        server.addr,
        args.rate,
        load_average().unwrap_or_default()
    );
    let admin_account = fleet.service_account("load-admin", &["admin"])?;
    let watcher_account = fleet.service_account("load-watchers", &[])?;
    let mut client = AuthServiceClient::new(channel(server).await?);
    let admin_token = service_token(&mut client, &admin_account).await?;
    let watch_token = service_token(&mut client, &watcher_account).await?;
    let admin = AdminServiceClient::new(channel(server).await?);
    let users = create_users(&admin, &admin_token, "flip", FLIPPED_USERS).await?;

    // The steady revocation rate, for the whole run (bounded in count).
    let warmup = Duration::from_secs(2);
    let run_for = (window + warmup) * 3 + SETUP_LIMIT;
    let limit = (args.rate * run_for.as_secs_f64()).ceil() as u64;
    let (stop_flipper, mut flipper_stopped) = tokio::sync::watch::channel(false);
    let flipper = {
        let mut admin = admin.clone();
        let period = Duration::from_secs_f64(1.0 / args.rate);
        tokio::spawn(async move {
            let (mut ok, mut failed) = (0u64, 0u64);
            let mut ticker = tokio::time::interval(period);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            for i in 0..limit {
                tokio::select! {
                    _ = flipper_stopped.changed() => break,
                    _ = ticker.tick() => {}
                }
                let i = usize::try_from(i).unwrap_or(usize::MAX);
                let user = pb::User {
                    id: users[i % users.len()].clone(),
                    // The first pass disables, the next enables, and so on.
                    active: (i / users.len()) % 2 == 1,
                    ..pb::User::default()
                };
                let request = pb::UpdateUserRequest {
                    user: Some(user),
                    update_mask: Some(prost_types::FieldMask {
                        paths: vec!["active".to_owned()],
                    }),
                };
                let answer = match bearer(request, &admin_token) {
                    Ok(request) => admin.update_user(request).await.map(|_| ()),
                    Err(e) => Err(tonic::Status::internal(e)),
                };
                if answer.is_ok() { ok += 1 } else { failed += 1 }
            }
            (ok, failed)
        })
    };

    tokio::time::sleep(warmup).await;
    let idle = measure(server, window).await;
    idle.report("0 subscribers");

    let events = Arc::new(AtomicU64::new(0));
    let (stop_streams, streams_stopped) = tokio::sync::watch::channel(false);
    let (synced_tx, mut synced_rx) = tokio::sync::mpsc::channel::<Result<(), String>>(count.max(1));
    let mut streams = JoinSet::new();
    for _ in 0..count {
        let request = bearer(pb::WatchRevocationsRequest::default(), &watch_token)?;
        let mut watcher = AuthServiceClient::new(channel(server).await?);
        let (events, synced, mut stop) = (
            Arc::clone(&events),
            synced_tx.clone(),
            streams_stopped.clone(),
        );
        streams.spawn(async move {
            let mut stream = match watcher.watch_revocations(request).await {
                Ok(stream) => stream.into_inner(),
                Err(e) => {
                    let _ = synced
                        .send(Err(format!("WatchRevocations failed: {e}")))
                        .await;
                    return Err(format!("WatchRevocations failed: {e}"));
                }
            };
            let mut live = false;
            loop {
                let message = tokio::select! {
                    _ = stop.changed() => return Ok(()),
                    message = stream.message() => message,
                };
                match message {
                    Ok(Some(event)) => {
                        if matches!(
                            event.event,
                            Some(pb::revocation_event::Event::SnapshotEnd(_))
                        ) {
                            live = true;
                            let _ = synced.send(Ok(())).await;
                        } else if live {
                            events.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(None) => return Err("a stream ended".to_owned()),
                    Err(e) => {
                        return Err(format!("a stream failed: {:?} {}", e.code(), e.message()));
                    }
                }
            }
        });
    }
    drop(synced_tx);
    for _ in 0..count {
        match tokio::time::timeout(SETUP_LIMIT, synced_rx.recv()).await {
            Ok(Some(Ok(()))) => {}
            Ok(Some(Err(e))) => return Err(e),
            Ok(None) | Err(_) => return Err("a subscriber got no snapshot in time".into()),
        }
    }
    tokio::time::sleep(warmup).await;
    let events_before = events.load(Ordering::Relaxed);
    let busy = measure(server, window).await;
    let delivered = events.load(Ordering::Relaxed) - events_before;
    busy.report(&format!("{count} subscribers"));
    println!(
        "  {:.1} events/s delivered to each subscriber in the window",
        delivered as f64 / count.max(1) as f64 / window.as_secs_f64()
    );

    // Streams closed: does the cost go away again?
    let _ = stop_streams.send(true);
    let mut stream_errors = Vec::new();
    while let Some(done) = streams.join_next().await {
        match done {
            Ok(Ok(())) => {}
            Ok(Err(e)) => stream_errors.push(e),
            Err(e) => stream_errors.push(e.to_string()),
        }
    }
    tokio::time::sleep(warmup).await;
    let after = measure(server, window).await;
    after.report("0 again (streams closed)");
    let _ = stop_flipper.send(true);
    let (ok, failed) = flipper.await.map_err(|e| e.to_string())?;
    println!("  {ok} user changes made ({failed} failed) over the run");
    if count > 0 {
        let n = count as f64;
        println!(
            "  per subscriber: CPU {:.3}% of one core ({:.1} us per second), memory {:.1} KiB \
             (RSS {} -> {} KiB); load average {}",
            (busy.cpu_share() - idle.cpu_share()) * 100.0 / n,
            (busy.cpu_share() - idle.cpu_share()) * 1e6 / n,
            (busy.rss_mean_kib - idle.rss_mean_kib) / n,
            idle.rss_end_kib,
            busy.rss_end_kib,
            load_average().unwrap_or_default()
        );
    }
    if !stream_errors.is_empty() {
        println!(
            "  {} streams ended early: {}",
            stream_errors.len(),
            stream_errors[0]
        );
    }
    drop(fleet);
    Ok(())
}

/// The server's CPU and memory over one window.
struct Usage {
    window: Duration,
    cpu_seconds: f64,
    rss_mean_kib: f64,
    rss_end_kib: u64,
}

impl Usage {
    fn cpu_share(&self) -> f64 {
        self.cpu_seconds / self.window.as_secs_f64()
    }

    fn report(&self, label: &str) {
        println!(
            "  {label:<26} server CPU {:>6.2}% of one core, RSS mean {:>8.0} KiB, at the end {:>7} KiB",
            self.cpu_share() * 100.0,
            self.rss_mean_kib,
            self.rss_end_kib
        );
    }
}

/// Reads `server`'s CPU time over `window` and samples its RSS every 100 ms.
async fn measure(server: &Server, window: Duration) -> Usage {
    let started = Instant::now();
    let cpu_before = server.cpu_seconds().unwrap_or_default();
    let mut samples = Vec::new();
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    while started.elapsed() < window {
        ticker.tick().await;
        if let Some((_, rss)) = server.memory_kib() {
            samples.push(rss);
        }
    }
    let cpu_seconds = server.cpu_seconds().unwrap_or_default() - cpu_before;
    Usage {
        window: started.elapsed(),
        cpu_seconds,
        rss_mean_kib: samples.iter().sum::<u64>() as f64 / samples.len().max(1) as f64,
        rss_end_kib: samples.last().copied().unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn percentiles_are_nearest_rank_over_every_revocation() {
        let mut lags = Lags::default();
        for n in (1..=100).rev() {
            lags.add(Some(ms(n)));
        }
        assert_eq!(
            lags.percentile(0.50),
            Some(Lag::Seen(Duration::from_millis(50)))
        );
        assert_eq!(
            lags.percentile(0.99),
            Some(Lag::Seen(Duration::from_millis(99)))
        );
        assert_eq!(
            lags.percentile(1.0),
            Some(Lag::Seen(Duration::from_millis(100)))
        );
        assert_eq!(
            lags.percentile(0.0),
            Some(Lag::Seen(Duration::from_millis(1)))
        );
    }

    #[test]
    fn revocations_never_seen_rank_above_every_seen_one() {
        let mut lags = Lags::default();
        for n in 1..=98 {
            lags.add(Some(ms(n)));
        }
        lags.add(None);
        lags.add(None);
        assert_eq!(lags.count(), 100);
        assert_eq!(
            lags.percentile(0.98),
            Some(Lag::Seen(Duration::from_millis(98)))
        );
        assert_eq!(lags.percentile(0.99), Some(Lag::Missed));
        assert_eq!(lags.percentile(1.0), Some(Lag::Missed));
        assert_eq!(Lag::Missed.to_string(), "> 5 s");
    }

    #[test]
    fn a_single_revocation_is_every_percentile_and_none_is_none() {
        let mut lags = Lags::default();
        assert_eq!(lags.percentile(0.5), None);
        lags.add(Some(ms(7)));
        assert_eq!(
            lags.percentile(0.01),
            Some(Lag::Seen(Duration::from_millis(7)))
        );
        assert_eq!(
            lags.percentile(1.0),
            Some(Lag::Seen(Duration::from_millis(7)))
        );
    }

    #[test]
    fn replicas_are_lettered_and_remote_polls_are_sampled_above_a_hundred_per_second() {
        assert_eq!(replica_name(0), "A");
        assert_eq!(replica_name(3), "D");
        assert_eq!(replica_name(26), "R27");
        assert_eq!(remote_sample_every(50.0), 1);
        assert_eq!(remote_sample_every(100.0), 1);
        assert_eq!(remote_sample_every(1000.0), 10);
        assert_eq!(remote_sample_every(150.0), 2);
        assert!(Lag::Seen(Duration::from_secs(1000)) < Lag::Missed);
    }

    #[test]
    fn csv_rows_append_under_one_header_and_a_missed_lag_is_empty() {
        let dir = std::env::temp_dir().join(format!("authd-load-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("fanout.csv");
        let rows = [
            CsvRow {
                series: "subscriber p99".into(),
                replica: 1,
                lag: Some(Lag::Seen(ms(3))),
            },
            CsvRow {
                series: "Verify p99".into(),
                replica: 2,
                lag: Some(Lag::Missed),
            },
        ];
        write_csv(&path, 100.0, &rows, "of 4 replicas; loadavg 1 2 3").unwrap();
        write_csv(&path, 1000.0, &rows[..1], "of 4 replicas").unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            text,
            "series,x,y,unit,note\n\
             subscriber p99,100,3.000,ms,replica 1 of 4 replicas; loadavg 1 2 3\n\
             Verify p99,100,,ms,replica 2 of 4 replicas; loadavg 1 2 3\n\
             subscriber p99,1000,3.000,ms,replica 1 of 4 replicas\n"
        );
    }

    #[test]
    fn the_ratio_needs_both_figures_seen() {
        let seen = |n| Some(Lag::Seen(Duration::from_millis(n)));
        assert_eq!(ratio(seen(30), seen(20)), "1.50x");
        assert_eq!(ratio(Some(Lag::Missed), seen(20)), "n/a");
        assert_eq!(ratio(seen(30), None), "n/a");
    }
}
