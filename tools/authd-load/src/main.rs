//! `authd-load`: drives authd over real gRPC and reports throughput and
//! latency, next to a no-op baseline measured in the same run.
//!
//! ```sh
//! cargo build --release      # the service, which --spawn starts
//! cargo run --release -p authd-load -- --spawn --baseline --scenario verify-same
//! ```
//!
//! With `--spawn` it starts its own `authd serve` (the release binary beside
//! it in the workspace's `target/release`) on a scratch SQLite database, and
//! with `--baseline` a no-op gRPC server with the same request and response
//! shapes; both are pinned to CPU 0 with `taskset` when there are two or more
//! CPUs, and the load generator to the others (`--unpinned`: nothing is
//! pinned, servers and load share every CPU). Without `--spawn` it drives `--target` with an existing
//! user's `--username`/`--password`. Figures are also printed as ratios to
//! the baseline (or, for `login`, to raw Argon2id hashes/s measured on the
//! server's CPU in the same run), since absolute numbers on shared machines
//! drift from run to run. Every phase is bounded by `--duration`.
//!
//! Scenarios: `verify-same` (one valid token), `verify-distinct` (`--tokens`
//! valid tokens round-robin), `verify-invalid` (random garbage), `login`,
//! and `mixed` (Verify latency while clients flood Login, against the same
//! Verify load without the flood). Two more measure the revocation stream
//! on a scratch PostgreSQL database (`--postgres`), always with servers of
//! their own: `revocation-lag` (from a revoking call's return on one
//! replica to local verifiers on every replica answering invalid, against
//! each replica's remote Verify; `--replicas`, `--spread`, `--csv`) and
//! `subscribers` (server CPU and memory per WatchRevocations subscriber);
//! see [`revocations`]. `seed` (a subcommand, [`seed`]) writes users and
//! sessions into an authd database for the scale measurements
//! (docs/scaling.md), and with `--on-database` authd is spawned on such a
//! database, where `verify-first-sight` and `list-users` run ([`scale`]);
//! `--csv` appends each phase's figures to a CSV in docs/scaling's format.
//!
//! # Layout
//!
//! This file holds the flags and the scenarios (`run`). [`process`] starts
//! and measures the servers (spawned authd, no-op baseline, CPU pinning),
//! [`drive`] runs the client workers and summarises what they saw, [`noop`]
//! is the baseline server, and [`argon`] the raw Argon2id reference of the
//! `login` scenario; [`revocations`] holds the two revocation-stream
//! scenarios, [`seed`] the seeding, [`first_sight`] the tokens it signs for
//! seeded sessions and [`scale`] the two scale scenarios. The gRPC types are generated from the service's
//! `proto/` by `build.rs`; the tool does not link the `authd` library.

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines,
    reason = "a measurement tool: counts and latencies are converted for display"
)]

mod argon;
mod drive;
mod first_sight;
mod noop;
mod process;
mod revocations;
mod scale;
mod seed;

use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;

use crate::drive::{Load, connect, drive, garbage, valid_tokens};
use crate::process::{Scratch, Server, cpu_per_call, cpus, report_cpu, spawn_authd, spawn_noop};

/// Code generated from `proto/auth/v1/auth.proto` (see `build.rs`).
#[allow(
    missing_docs,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::default_trait_access
)]
mod pb {
    tonic::include_proto!("auth.v1");
}

/// Load generator for authd.
#[allow(clippy::struct_excessive_bools)] // independent command-line switches
#[derive(Debug, Parser)]
#[command(
    name = "authd-load",
    version,
    about,
    args_conflicts_with_subcommands = true
)]
struct Args {
    /// `seed`: write users and sessions into a database instead of running a scenario.
    #[command(subcommand)]
    command: Option<Sub>,
    /// verify-same, verify-distinct, verify-invalid, login, mixed, revocation-lag, subscribers,
    /// verify-first-sight or list-users (the last two need --on-database).
    #[arg(long, default_value = "verify-same")]
    scenario: String,
    /// Start a scratch authd (release binary beside this one) instead of using --target.
    #[arg(long)]
    spawn: bool,
    /// Also measure a no-op server with the same shapes and print ratios.
    #[arg(long)]
    baseline: bool,
    /// A running authd's gRPC address.
    #[arg(long, default_value = "127.0.0.1:50051")]
    target: String,
    /// Username to log in with (created by --spawn).
    #[arg(long, default_value = "loadtest")]
    username: String,
    /// Password for --username.
    #[arg(long, default_value = "load test password 1")]
    password: String,
    /// How long each measured phase runs: a bare number is seconds, or e.g. 10s, 1m30s.
    #[arg(long, default_value = "10s")]
    duration: String,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Requests in flight at once, spread over the connections.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Distinct valid tokens for verify-distinct.
    #[arg(long, default_value_t = 2000)]
    tokens: usize,
    /// Login clients in the mixed scenario's flood (each backs off 50 ms after RESOURCE_EXHAUSTED).
    #[arg(long, default_value_t = 200)]
    flood: usize,
    /// Extra flag for the spawned authd, e.g. `--server-arg=--verify-cache-entries=0`; repeatable.
    #[arg(long = "server-arg", allow_hyphen_values = true)]
    extra_server_flags: Vec<String>,
    /// Pin nothing: servers and load share every CPU, as on a real host
    /// (by default the servers run on CPU 0 and the load on the others).
    #[arg(long)]
    unpinned: bool,
    /// PostgreSQL server for revocation-lag and subscribers (a scratch database is made there and dropped).
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    postgres: String,
    /// Users whose sessions revocation-lag ends (round-robin).
    #[arg(long, default_value_t = 100)]
    users: usize,
    /// Sessions revocation-lag ends, one revocation each.
    #[arg(long, default_value_t = 1000)]
    revocations: usize,
    /// Replicas revocation-lag starts (2 to 16), each with a verifier subscribed to it.
    #[arg(long, default_value_t = 2)]
    replicas: usize,
    /// revocation-lag: end the sessions on every replica in turn, not all on the last one.
    #[arg(long)]
    spread: bool,
    /// Revocations per second in revocation-lag and subscribers.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    /// Raw WatchRevocations streams in the subscribers scenario.
    #[arg(long, default_value_t = 100)]
    subscribers: usize,
    /// Spawn authd on this existing (seeded) database instead of a scratch
    /// SQLite one, adding no user (log in with a seeded one: --username
    /// user-1 --password "seeded user password 1"). Needed by
    /// verify-first-sight and list-users.
    #[arg(long)]
    on_database: Option<String>,
    /// The HS256 secret the server on --on-database runs with
    /// (`--server-arg=--signing-algorithm=HS256 --server-arg=--hs256-secret=...`),
    /// so verify-first-sight can sign tokens for seeded sessions.
    #[arg(long)]
    hs256_secret: Option<String>,
    /// Append the phase's figures (p50, p99 in ms; ok/s; revocation-lag:
    /// its p50/p99 per replica) to this CSV (docs/scaling's format:
    /// series,x,y,unit,note; tools/scaling/plot.py).
    #[arg(long)]
    csv: Option<std::path::PathBuf>,
    /// The x value of the CSV rows (e.g. the seeded users).
    #[arg(long, default_value_t = 0)]
    csv_x: u64,
    /// Internal: run the no-op baseline server and print its address.
    #[arg(long, hide = true)]
    serve_noop: bool,
    /// Internal: measure raw Argon2id hashes/s for this many seconds.
    #[arg(long, hide = true)]
    raw_argon2: Option<u64>,
}

/// Commands other than the scenarios.
#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Write N users and M sessions straight into an authd database (runs
    /// `authd migrate` first), for scale measurements. Only the first
    /// --known-users users get a real Argon2id hash, of the password
    /// "seeded user password 1" (user-0 .. user-K-1; user-0 is an admin); all
    /// the others share one hash of a random password nobody knows, so
    /// seeding a million users takes seconds, not hours. Most users get 0-2
    /// sessions, a few up to --max-per-user; the same --seed gives the same
    /// rows. PostgreSQL: COPY in one transaction; SQLite: batched inserts.
    Seed(SeedArgs),
}

#[derive(Debug, clap::Args)]
struct SeedArgs {
    /// The authd database: postgres://... or sqlite:PATH (must have no users).
    #[arg(long)]
    database_url: String,
    /// Users to write (user-0, user-1, ...).
    #[arg(long)]
    users: u64,
    /// Sessions to write, one refresh-token row each.
    #[arg(long)]
    sessions: u64,
    /// Users with a real Argon2id hash of the known password.
    #[arg(long, default_value_t = 100)]
    known_users: u64,
    /// The generator's seed.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Most sessions one user gets (authd's --max-sessions-per-user).
    #[arg(long, default_value_t = 100)]
    max_per_user: u32,
    /// Session lifetime (authd's --session-lifetime): sessions start within
    /// the last one and expire within the next.
    #[arg(long, default_value = "7d")]
    session_lifetime: String,
    /// Do not run `authd migrate` first (the schema is there already).
    #[arg(long)]
    no_migrate: bool,
}

/// `authd-load seed`.
fn seed_command(args: &SeedArgs) -> Result<(), String> {
    let lifetime = parse_duration(&args.session_lifetime).ok_or_else(|| {
        format!(
            "--session-lifetime {:?} is not a duration",
            args.session_lifetime
        )
    })?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|e| e.to_string())?
        .as_secs();
    let plan = seed::Plan {
        users: args.users,
        sessions: args.sessions,
        known: args.known_users.min(args.users),
        seed: args.seed,
        max_per_user: args.max_per_user,
        session_lifetime: i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX),
        now: i64::try_from(now).unwrap_or(i64::MAX),
    };
    plan.check()?;
    if !args.no_migrate {
        process::authd_command(&process::authd_binary()?, &args.database_url, &["migrate"])?;
    }
    let report = runtime()?.block_on(seed::seed(&args.database_url, &plan))?;
    println!(
        "authd-load seed: {} users, {} sessions, {} refresh tokens in {:.1} s \
         ({:.0} rows/s; {} Argon2id hashes in {:.1} s before)",
        report.users,
        report.sessions,
        report.refresh_tokens,
        report.writing.as_secs_f64(),
        report.rows_per_second(),
        plan.known + 1,
        report.hashing.as_secs_f64()
    );
    Ok(())
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if let Some(Sub::Seed(seed)) = &args.command {
        return seed_command(seed);
    }
    if args.serve_noop {
        return runtime()?.block_on(noop::serve());
    }
    if let Some(seconds) = args.raw_argon2 {
        println!("{}", argon::raw(Duration::from_secs(seconds)));
        return Ok(());
    }
    process::set_pinning(!args.unpinned);
    // Keep the load off CPU 0, where the servers run (threads made later inherit this).
    if process::pinning() {
        let others = format!("1-{}", cpus() - 1);
        let _ = Command::new("taskset")
            .args(["-p", "-c", &others, &std::process::id().to_string()])
            .stdout(Stdio::null())
            .status();
    }
    runtime()?.block_on(run(args))
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

async fn run(args: Args) -> Result<(), String> {
    let duration = parse_duration(&args.duration)
        .ok_or_else(|| format!("--duration {:?} is not a duration", args.duration))?;
    if matches!(args.scenario.as_str(), "revocation-lag" | "subscribers") {
        return revocations::run(&args, duration).await;
    }
    let scratch = Scratch::new()?;
    let authd_server = if let Some(url) = &args.on_database {
        Some(process::serve(
            &process::authd_binary()?,
            url,
            &args.extra_server_flags,
        )?)
    } else if args.spawn {
        Some(spawn_authd(&scratch.0, &args)?)
    } else {
        None
    };
    if matches!(args.scenario.as_str(), "verify-first-sight" | "list-users") {
        let (Some(server), Some(url)) = (&authd_server, &args.on_database) else {
            return Err(format!("{} needs --on-database", args.scenario));
        };
        println!(
            "authd-load: scenario {}, {} connections, {} in flight, {:?} per phase, load average {}",
            args.scenario,
            args.connections,
            args.concurrency,
            duration,
            process::load_average().unwrap_or_default()
        );
        return if args.scenario == "list-users" {
            scale::list_users(&args, server, duration).await
        } else {
            scale::first_sight(&args, server, url, duration).await
        };
    }
    let target: SocketAddr = match &authd_server {
        Some(server) => server.addr,
        None => args
            .target
            .parse()
            .map_err(|_| format!("bad --target {}", args.target))?,
    };
    let clients = connect(target, args.connections).await?;
    let mut first = clients[0].clone();
    println!(
        "authd-load: scenario {}, {} connections, {} in flight, {:?} per phase, {} CPUs ({})",
        args.scenario,
        args.connections,
        args.concurrency,
        duration,
        cpus(),
        if process::pinning() {
            "servers on CPU 0, load on the rest"
        } else {
            "unpinned: servers and load share every CPU"
        }
    );

    let verify_tokens = match args.scenario.as_str() {
        "verify-same" | "mixed" => valid_tokens(&mut first, &args, 1).await?,
        "verify-distinct" => valid_tokens(&mut first, &args, args.tokens).await?,
        "verify-invalid" => garbage(10_000),
        "login" => Vec::new(),
        other => return Err(format!("unknown scenario {other}")),
    };
    let verify = Load::Verify(Arc::new(verify_tokens));
    // Well-behaved clients: back off 50 ms after RESOURCE_EXHAUSTED, as its message asks.
    let login = Load::Login {
        username: args.username.clone(),
        password: args.password.clone(),
        backoff: Some(Duration::from_millis(50)),
    };
    let warmup = (duration / 5).min(Duration::from_secs(2));

    let mut baseline_rate = None;
    let mut baseline_cpu = None;
    if args.baseline && args.scenario != "login" {
        let noop = spawn_noop()?;
        let noop_clients = connect(noop.addr, args.connections).await?;
        drive(&noop_clients, &verify, args.concurrency, warmup).await;
        let cpu_before = noop.cpu_seconds();
        let mut outcome = drive(&noop_clients, &verify, args.concurrency, duration).await;
        outcome.report("baseline");
        emit(&args, "baseline verify", &mut outcome);
        report_cpu(&noop, cpu_before, &outcome);
        baseline_rate = Some(outcome.ok_per_second());
        baseline_cpu = cpu_per_call(&noop, cpu_before, &outcome);
    }

    match args.scenario.as_str() {
        "login" => {
            let mem_before = authd_server.as_ref().and_then(Server::memory_kib);
            drive(&clients, &login, args.concurrency, warmup).await;
            let mut outcome = drive(&clients, &login, args.concurrency, duration).await;
            outcome.report("authd");
            emit(&args, "login", &mut outcome);
            let raw = argon::measure(duration)?;
            println!("  raw argon2id {raw:.1} hashes/s on the server's CPU");
            println!(
                "  ratio: login {:.2}x raw argon2id hashes/s",
                outcome.ok_per_second() / raw
            );
            if let (Some(server), Some((_, base))) = (&authd_server, mem_before)
                && let Some((peak, _)) = server.memory_kib()
            {
                // The spawned server is pinned to one CPU, so it hashes with one permit.
                let permits = 1u64;
                let bound = base + permits * 19_456;
                println!(
                    "  memory: peak {peak} KiB, idle {base} KiB before the run, bound base + \
                     {permits} permit x 19456 KiB = {bound} KiB: peak {:.2}x the bound",
                    peak as f64 / bound as f64
                );
            }
        }
        "mixed" => {
            let verifiers = (args.concurrency / 4).max(1);
            drive(&clients, &verify, verifiers, warmup).await;
            let mut idle = drive(&clients, &verify, verifiers, duration).await;
            idle.report("idle");
            let flood = Load::Login {
                username: args.username.clone(),
                password: args.password.clone(),
                backoff: Some(Duration::from_millis(50)),
            };
            let flood_clients = connect(target, 2).await?;
            let flooding = {
                let flood_clients = flood_clients.clone();
                let flood = flood.clone();
                let clients_n = args.flood;
                tokio::spawn(async move {
                    drive(&flood_clients, &flood, clients_n, duration + warmup * 2).await
                })
            };
            tokio::time::sleep(warmup).await;
            let mut busy = drive(&clients, &verify, verifiers, duration).await;
            busy.report("flood");
            let mut logins = flooding.await.map_err(|e| e.to_string())?;
            logins.report("logins");
            let (idle_p99, busy_p99) = (idle.percentile_ms(0.99), busy.percentile_ms(0.99));
            let errors: u64 = busy
                .codes
                .iter()
                .filter(|(c, _)| *c != "Ok")
                .map(|(_, n)| n)
                .sum();
            println!(
                "  ratio: Verify p99 under the login flood {:.2}x idle p99 ({busy_p99:.3} ms vs {idle_p99:.3} ms), {errors} Verify errors",
                busy_p99 / idle_p99.max(0.001)
            );
        }
        _ => {
            drive(&clients, &verify, args.concurrency, warmup).await;
            let cpu_before = authd_server.as_ref().and_then(Server::cpu_seconds);
            let mut outcome = drive(&clients, &verify, args.concurrency, duration).await;
            outcome.report("authd");
            emit(&args, &args.scenario, &mut outcome);
            let authd_cpu = authd_server.as_ref().and_then(|server| {
                report_cpu(server, cpu_before, &outcome);
                cpu_per_call(server, cpu_before, &outcome)
            });
            if let Some(base) = baseline_rate {
                println!(
                    "  ratio: {} {:.2}x the no-op baseline's requests/s",
                    args.scenario,
                    outcome.ok_per_second() / base
                );
            }
            if let (Some(base), Some(ours)) = (baseline_cpu, authd_cpu) {
                println!(
                    "  ratio: server CPU per call {:.2}x the baseline's ({:.1} us vs {:.1} us); \
                     requests/s per server CPU-second {:.2}x",
                    ours / base,
                    ours * 1e6,
                    base * 1e6,
                    base / ours
                );
            }
        }
    }
    drop(authd_server);
    Ok(())
}

/// Appends `outcome`'s p50, p99 (ms) and ok/s as rows of `--csv`, with
/// x `--csv-x` and the load average as the note.
pub(crate) fn emit(args: &Args, series: &str, outcome: &mut drive::Outcome) {
    use std::io::Write as _;
    let Some(path) = &args.csv else { return };
    let note = format!("loadavg {}", process::load_average().unwrap_or_default());
    let rows = format!(
        "{series} p50,{x},{:.3},ms,{note}\n{series} p99,{x},{:.3},ms,{note}\n{series} rate,{x},{:.1},per_s,{note}\n",
        outcome.percentile_ms(0.5),
        outcome.percentile_ms(0.99),
        outcome.ok_per_second(),
        x = args.csv_x,
    );
    let fresh = !path.exists();
    let written = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| {
            if fresh {
                file.write_all(b"series,x,y,unit,note\n")?;
            }
            file.write_all(rows.as_bytes())
        });
    if let Err(e) = written {
        eprintln!("authd-load: cannot write {}: {e}", path.display());
    }
}

/// A duration flag, in the forms authd's own settings take: a bare number is
/// seconds, anything else goes to humantime (`500ms`, `8s`, `1m30s`).
fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    match text.parse::<u64>() {
        Ok(seconds) => Some(Duration::from_secs(seconds)),
        Err(_) => humantime::parse_duration(text).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bare_number_is_seconds_and_units_are_read_by_humantime() {
        assert_eq!(parse_duration("8"), Some(Duration::from_secs(8)));
        assert_eq!(parse_duration(" 8s "), Some(Duration::from_secs(8)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration(""), None);
    }

    #[test]
    fn the_flags_parse() {
        use clap::CommandFactory as _;
        Args::command().debug_assert();
        let args = Args::try_parse_from(["authd-load", "--spawn", "--duration", "8s"]);
        assert!(args.is_ok_and(|args| args.spawn && args.scenario == "verify-same"));
        let args =
            Args::try_parse_from(["authd-load", "--scenario", "subscribers", "--rate", "20"]);
        assert!(args.is_ok_and(|args| (args.rate - 20.0).abs() < 1e-9 && args.subscribers == 100));
        let args = Args::try_parse_from([
            "authd-load",
            "--scenario",
            "revocation-lag",
            "--replicas",
            "4",
            "--spread",
            "--csv",
            "fanout.csv",
        ]);
        assert!(args.is_ok_and(|args| args.replicas == 4 && args.spread && args.csv.is_some()));
    }
}
