//! The scale scenarios (docs/scaling.md), run against a server on a seeded
//! database (`--on-database`, see [`crate::seed`]):
//!
//! - `verify-first-sight`: `--tokens` live seeded sessions are read from the
//!   database, and a token is signed for each ([`crate::first_sight`]; the
//!   server runs with `--signing-algorithm HS256` and the same
//!   `--hs256-secret`). Every token is sent once: each Verify checks a
//!   signature it has not seen and reads a session (and, unless another of
//!   the user's sessions came first, the user) from the database. The phase
//!   ends at `--duration` or when the tokens run out; an answer of invalid
//!   counts as `FailedPrecondition`, not as a call served. With `--baseline`, the
//!   no-op server answers the same tokens first.
//! - `list-users`: the admin `user-0` (a seeded known user) lists users:
//!   the first page, repeatedly; then it walks the whole table a page of
//!   1000 at a time (bounded by [`WALK_LIMIT`]) to reach a page token deep
//!   in it, and lists that page repeatedly. Keyset pagination should make
//!   both cost the same.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::time::{Duration, Instant};

use tonic::Request;

use crate::Args;
use crate::drive::{Load, Outcome, connect, drive};
use crate::pb;
use crate::pb::admin_service_client::AdminServiceClient;
use crate::process::{Server, spawn_noop};

/// The longest the `list-users` walk to a deep page may take.
pub const WALK_LIMIT: Duration = Duration::from_secs(180);
/// The page size the walk moves by.
const WALK_PAGE: i32 = 1000;
/// The page size measured, first page and deep page alike.
const MEASURED_PAGE: i32 = 100;

/// Unix seconds now.
fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Runs `verify-first-sight` against `server`, a spawned authd on `url`.
pub async fn first_sight(
    args: &Args,
    server: &Server,
    url: &str,
    duration: Duration,
) -> Result<(), String> {
    let secret = args
        .hs256_secret
        .as_deref()
        .ok_or("verify-first-sight needs --hs256-secret (and the server running HS256 with it)")?;
    let warmup = 500.min(args.tokens / 10);
    let targets = crate::first_sight::sample(url, args.tokens + warmup, "", now()).await?;
    let issued = now();
    let tokens = targets
        .iter()
        .enumerate()
        .map(|(i, target)| {
            crate::first_sight::token(
                secret.as_bytes(),
                "authd",
                "authd",
                target,
                &format!("first-sight-{}-{i}", std::process::id()),
                issued,
                900,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let distinct_users = targets
        .iter()
        .map(|t| t.user_id.as_str())
        .collect::<std::collections::HashSet<_>>()
        .len();
    let (warm, measured) = tokens.split_at(warmup.min(tokens.len()));
    println!(
        "  {} first-sight tokens for {} sessions of {distinct_users} distinct users ({} for warm-up)",
        measured.len(),
        targets.len(),
        warm.len()
    );
    if args.baseline {
        let noop = spawn_noop()?;
        let noop_clients = connect(noop.addr, args.connections).await?;
        let load = Load::Verify(Arc::new(measured.to_vec()));
        drive(&noop_clients, &load, args.concurrency, duration / 5).await;
        let mut outcome = drive(&noop_clients, &load, args.concurrency, duration).await;
        outcome.report("baseline");
        crate::emit(args, "baseline verify", &mut outcome);
    }
    let clients = connect(server.addr, args.connections).await?;
    let once = |tokens: &[String]| Load::VerifyOnce {
        tokens: Arc::new(tokens.to_vec()),
        next: Arc::new(AtomicUsize::new(0)),
    };
    drive(&clients, &once(warm), args.concurrency, duration).await;
    let mut outcome = drive(&clients, &once(measured), args.concurrency, duration).await;
    outcome.report("authd");
    let sent: u64 = outcome.codes.values().sum();
    if sent as usize >= measured.len() {
        println!("  (the tokens ran out before --duration: raise --tokens for a longer phase)");
    }
    crate::emit(args, "verify-first-sight", &mut outcome);
    Ok(())
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

/// Lists the page at `page_token` one call at a time until `duration`.
async fn list_repeatedly(
    admin: &mut AdminServiceClient<tonic::transport::Channel>,
    token: &str,
    page_token: &str,
    duration: Duration,
) -> Result<Outcome, String> {
    let started = Instant::now();
    let mut outcome = Outcome::default();
    // Bounded by time and by count.
    for _ in 0..1_000_000 {
        if started.elapsed() >= duration {
            break;
        }
        let sent = Instant::now();
        let answer = admin
            .list_users(bearer(
                pb::ListUsersRequest {
                    page_size: MEASURED_PAGE,
                    page_token: page_token.to_owned(),
                    ..Default::default()
                },
                token,
            )?)
            .await;
        outcome
            .latencies_us
            .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
        let code = answer.map_or_else(|s| s.code(), |_| tonic::Code::Ok);
        *outcome.codes.entry(format!("{code:?}")).or_default() += 1;
    }
    outcome.elapsed = started.elapsed();
    Ok(outcome)
}

/// Runs `list-users` against `server`.
pub async fn list_users(args: &Args, server: &Server, duration: Duration) -> Result<(), String> {
    let clients = connect(server.addr, 1).await?;
    let login = clients[0]
        .clone()
        .login(pb::LoginRequest {
            username: args.username.clone(),
            password: args.password.clone(),
        })
        .await
        .map_err(|e| format!("the admin's login failed: {e}"))?
        .into_inner();
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut admin = AdminServiceClient::new(channel);
    let token = login.access_token;
    list_repeatedly(&mut admin, &token, "", duration / 5).await?;
    let mut first = list_repeatedly(&mut admin, &token, "", duration).await?;
    first.report("page 1");

    // Walk to the deepest page, keeping the last token that still had a page after it.
    let walk_started = Instant::now();
    let (mut page_token, mut deep_token, mut rows) = (String::new(), String::new(), 0usize);
    for _ in 0..100_000 {
        if walk_started.elapsed() >= WALK_LIMIT {
            println!("  (the walk stopped at its time limit)");
            break;
        }
        let page = admin
            .list_users(bearer(
                pb::ListUsersRequest {
                    page_size: WALK_PAGE,
                    page_token: page_token.clone(),
                    ..Default::default()
                },
                &token,
            )?)
            .await
            .map_err(|e| format!("ListUsers: {e}"))?
            .into_inner();
        rows += page.users.len();
        if page.next_page_token.is_empty() {
            break;
        }
        deep_token = page.next_page_token.clone();
        page_token = page.next_page_token;
    }
    println!(
        "  walked {rows} users in {:.1} s; the deep page starts after row {rows_before}",
        walk_started.elapsed().as_secs_f64(),
        rows_before = rows.saturating_sub(WALK_PAGE as usize)
    );
    let mut deep = list_repeatedly(&mut admin, &token, &deep_token, duration).await?;
    deep.report("deep page");
    println!(
        "  ratio: deep page p50 {:.2}x page 1, p99 {:.2}x",
        deep.percentile_ms(0.5) / first.percentile_ms(0.5).max(0.001),
        deep.percentile_ms(0.99) / first.percentile_ms(0.99).max(0.001)
    );
    crate::emit(args, "list-users page 1", &mut first);
    crate::emit(args, "list-users deep page", &mut deep);
    Ok(())
}
