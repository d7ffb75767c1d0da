//! `authd-load`: drives authd over real gRPC and reports throughput and
//! latency, next to a no-op baseline measured in the same run.
//!
//! ```sh
//! cargo build --release
//! target/release/authd-load --spawn --baseline --scenario verify-same
//! ```
//!
//! With `--spawn` it starts its own `authd serve` (the release binary beside
//! it) on a scratch SQLite database, and with `--baseline` a no-op gRPC
//! server with the same request and response shapes; both are pinned to CPU
//! 0 with `taskset` when there are two or more CPUs, and the load generator
//! to the others. Without `--spawn` it drives `--target` with an existing
//! user's `--username`/`--password`. Figures are also printed as ratios to
//! the baseline (or, for `login`, to raw Argon2id hashes/s measured on the
//! server's CPU in the same run), since absolute numbers on shared machines
//! drift from run to run. Every phase is bounded by `--duration`.
//!
//! Scenarios: `verify-same` (one valid token), `verify-distinct` (`--tokens`
//! valid tokens round-robin), `verify-invalid` (random garbage), `login`,
//! and `mixed` (Verify latency while clients flood Login, against the same
//! Verify load without the flood).

#![allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::too_many_lines,
    reason = "a measurement tool: counts and latencies are converted for display"
)]

use std::collections::BTreeMap;
use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use authd::grpc::pb;
use authd::grpc::pb::auth_service_client::AuthServiceClient;
use authd::grpc::pb::auth_service_server::{AuthService, AuthServiceServer};
use clap::Parser;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

/// Load generator for authd.
#[derive(Debug, Parser)]
#[command(name = "authd-load", version, about)]
struct Args {
    /// verify-same, verify-distinct, verify-invalid, login or mixed.
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
    /// How long each measured phase runs, e.g. 10s.
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
    /// Internal: run the no-op baseline server and print its address.
    #[arg(long, hide = true)]
    serve_noop: bool,
    /// Internal: measure raw Argon2id hashes/s for this many seconds.
    #[arg(long, hide = true)]
    raw_argon2: Option<u64>,
}

fn main() -> Result<(), String> {
    let args = Args::parse();
    if args.serve_noop {
        return runtime()?.block_on(serve_noop());
    }
    if let Some(seconds) = args.raw_argon2 {
        println!("{}", raw_argon2(Duration::from_secs(seconds)));
        return Ok(());
    }
    // Keep the load off CPU 0, where the servers run (threads made later inherit this).
    if cpus() >= 2 {
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

/// The CPUs this process could use when it started (before it pinned itself).
fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// A command pinned to CPU 0 when there is more than one CPU.
fn pinned(program: &PathBuf) -> Command {
    if cpus() >= 2 && Command::new("taskset").arg("-V").output().is_ok() {
        let mut command = Command::new("taskset");
        command.args(["-c", "0"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Result<Self, String> {
        let dir = std::env::temp_dir().join(format!("authd-load-{}", std::process::id()));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        Ok(Self(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed (by PID) when dropped.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// CPU time (user + system) the server has used, from /proc (Linux; USER_HZ = 100).
    fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ticks as f64 / 100.0)
    }

    /// Peak and current resident memory of the server, in KiB.
    fn memory_kib(&self) -> Option<(u64, u64)> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).ok()?;
        let field = |name: &str| {
            status
                .lines()
                .find(|l| l.starts_with(name))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        };
        Some((field("VmHWM:")?, field("VmRSS:")?))
    }
}

fn sibling(name: &str) -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let path = exe.with_file_name(name);
    path.exists().then_some(path).ok_or_else(|| {
        format!(
            "{name} not found beside {}; run cargo build --release",
            exe.display()
        )
    })
}

/// Starts `authd serve` on a scratch SQLite database with a load-test user.
fn spawn_authd(dir: &std::path::Path, args: &Args) -> Result<Server, String> {
    let authd = sibling("authd")?;
    let url = format!("sqlite://{}", dir.join("authd.db").display());
    let mut add = Command::new(&authd)
        .args(["user", "add", &args.username, "--password-stdin"])
        .env("AUTHD_DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .map_err(|e| e.to_string())?;
    if let Some(mut stdin) = add.stdin.take() {
        writeln!(stdin, "{}", args.password).map_err(|e| e.to_string())?;
    }
    if !add.wait().map_err(|e| e.to_string())?.success() {
        return Err("could not create the load-test user".into());
    }
    let mut child = pinned(&authd)
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "off"])
        .args(["--log-format", "json", "--log", "warn,authd::app=info"])
        .args(&args.extra_server_flags)
        .env("AUTHD_DATABASE_URL", &url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = lines
        .by_ref()
        .map_while(Result::ok)
        .find_map(|line| {
            let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
            (entry["fields"]["message"] == "authd serving gRPC")
                .then(|| entry["fields"]["addr"].as_str()?.parse().ok())
                .flatten()
        })
        .ok_or("authd did not start")?;
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Server { child, addr })
}

/// Starts this binary as the no-op baseline server.
fn spawn_noop() -> Result<Server, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut child = pinned(&exe)
        .arg("--serve-noop")
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    let addr = line
        .trim()
        .parse()
        .map_err(|_| format!("bad address {line:?}"))?;
    Ok(Server { child, addr })
}

async fn connect(
    addr: SocketAddr,
    connections: usize,
) -> Result<Vec<AuthServiceClient<Channel>>, String> {
    let mut clients = Vec::new();
    for _ in 0..connections.max(1) {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .map_err(|e| e.to_string())?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
        clients.push(AuthServiceClient::new(channel));
    }
    Ok(clients)
}

/// What one phase measured.
#[derive(Debug, Default)]
struct Outcome {
    latencies_us: Vec<u32>,
    codes: BTreeMap<String, u64>,
    elapsed: Duration,
}

impl Outcome {
    fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        for (code, n) in other.codes {
            *self.codes.entry(code).or_default() += n;
        }
    }

    fn ok_per_second(&self) -> f64 {
        self.codes.get("Ok").copied().unwrap_or_default() as f64 / self.elapsed.as_secs_f64()
    }

    fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    fn report(&mut self, label: &str) {
        let total: u64 = self.codes.values().sum();
        println!(
            "  {label:<10} {:>9.0} ok/s  p50 {:>7.3} ms  p99 {:>7.3} ms  p99.9 {:>7.3} ms  ({total} calls: {})",
            self.ok_per_second(),
            self.percentile_ms(0.50),
            self.percentile_ms(0.99),
            self.percentile_ms(0.999),
            self.codes
                .iter()
                .map(|(c, n)| format!("{c} {n}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
}

/// Which request each worker sends.
#[derive(Clone)]
enum Load {
    Verify(Arc<Vec<String>>),
    Login {
        username: String,
        password: String,
        backoff: Option<Duration>,
    },
}

/// Runs `concurrency` workers over `clients` until `duration` has passed.
async fn drive(
    clients: &[AuthServiceClient<Channel>],
    load: &Load,
    concurrency: usize,
    duration: Duration,
) -> Outcome {
    let started = Instant::now();
    let deadline = started + duration;
    let workers: Vec<_> = (0..concurrency.max(1))
        .map(|worker| {
            let mut client = clients[worker % clients.len()].clone();
            let load = load.clone();
            tokio::spawn(async move {
                let mut outcome = Outcome::default();
                let mut i = worker;
                while Instant::now() < deadline {
                    let sent = Instant::now();
                    let code = match &load {
                        Load::Verify(tokens) => {
                            let token = tokens[i % tokens.len()].clone();
                            i += 1;
                            client.verify(pb::VerifyRequest { token }).await.map(|_| ())
                        }
                        Load::Login {
                            username, password, ..
                        } => client
                            .login(pb::LoginRequest {
                                username: username.clone(),
                                password: password.clone(),
                            })
                            .await
                            .map(|_| ()),
                    }
                    .map_or_else(|s| s.code(), |()| tonic::Code::Ok);
                    outcome
                        .latencies_us
                        .push(u32::try_from(sent.elapsed().as_micros()).unwrap_or(u32::MAX));
                    *outcome.codes.entry(format!("{code:?}")).or_default() += 1;
                    if let (
                        Load::Login {
                            backoff: Some(pause),
                            ..
                        },
                        tonic::Code::ResourceExhausted,
                    ) = (&load, code)
                    {
                        tokio::time::sleep(*pause).await;
                    }
                }
                outcome
            })
        })
        .collect();
    let mut total = Outcome::default();
    for worker in workers {
        if let Ok(outcome) = worker.await {
            total.merge(outcome);
        }
    }
    total.elapsed = started.elapsed();
    total
}

/// Logs in once and refreshes `count - 1` times: `count` distinct valid access tokens.
async fn valid_tokens(
    client: &mut AuthServiceClient<Channel>,
    args: &Args,
    count: usize,
) -> Result<Vec<String>, String> {
    let login = client
        .login(pb::LoginRequest {
            username: args.username.clone(),
            password: args.password.clone(),
        })
        .await
        .map_err(|e| format!("login failed: {e}"))?
        .into_inner();
    let mut tokens = vec![login.access_token];
    let mut refresh = login.refresh_token;
    while tokens.len() < count {
        let next = client
            .refresh(pb::RefreshRequest {
                refresh_token: refresh,
            })
            .await
            .map_err(|e| format!("refresh failed: {e}"))?
            .into_inner();
        tokens.push(next.access_token);
        refresh = next.refresh_token;
    }
    Ok(tokens)
}

fn garbage(count: usize) -> Vec<String> {
    let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            (0..3)
                .map(|_| {
                    (0..40)
                        .map(|_| {
                            seed ^= seed << 13;
                            seed ^= seed >> 7;
                            seed ^= seed << 17;
                            char::from(
                                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
                                    [(seed % 64) as usize],
                            )
                        })
                        .collect::<String>()
                })
                .collect::<Vec<_>>()
                .join(".")
        })
        .collect()
}

async fn run(args: Args) -> Result<(), String> {
    let duration = authd::config::parse_duration(&args.duration)
        .ok_or_else(|| format!("--duration {:?} is not a duration", args.duration))?;
    let scratch = Scratch::new()?;
    let authd_server = if args.spawn {
        Some(spawn_authd(&scratch.0, &args)?)
    } else {
        None
    };
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
        "authd-load: scenario {}, {} connections, {} in flight, {:?} per phase, {} CPUs (servers on CPU 0, load on the rest)",
        args.scenario,
        args.connections,
        args.concurrency,
        duration,
        cpus()
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
            let raw = measure_raw_argon2(duration)?;
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

/// Server CPU seconds per answered call during a phase.
fn cpu_per_call(server: &Server, before: Option<f64>, outcome: &Outcome) -> Option<f64> {
    let used = server.cpu_seconds()? - before?;
    let calls: u64 = outcome.codes.values().sum();
    (calls > 0).then(|| used / calls as f64)
}

fn report_cpu(server: &Server, before: Option<f64>, outcome: &Outcome) {
    if let (Some(after), Some(before)) = (server.cpu_seconds(), before) {
        println!(
            "             server CPU {:.0}% of one core",
            (after - before) / outcome.elapsed.as_secs_f64() * 100.0
        );
    }
}

/// Raw Argon2id hashes/s at authd's default parameters, on CPU 0, with one
/// thread per CPU authd hashes on.
fn measure_raw_argon2(duration: Duration) -> Result<f64, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let out = pinned(&exe)
        .args(["--raw-argon2", &duration.as_secs().max(1).to_string()])
        .output()
        .map_err(|e| e.to_string())?;
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| "raw argon2 measurement failed".to_owned())
}

fn raw_argon2(duration: Duration) -> f64 {
    use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, Version};
    // As many threads as authd would hash on with the CPUs this process got.
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let deadline = Instant::now() + duration;
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            std::thread::spawn(move || {
                let params = Params::new(19_456, 2, 1, None).unwrap_or_default();
                let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
                let mut n = 0u64;
                while Instant::now() < deadline {
                    if argon.hash_password(b"load test password 1").is_ok() {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().filter_map(|h| h.join().ok()).sum();
    total as f64 / started.elapsed().as_secs_f64()
}

/// The no-op baseline: answers Verify and Login with fixed messages of the
/// same shape as authd's, doing no work.
#[derive(Debug, Clone)]
struct Noop {
    verify: pb::VerifyResponse,
    login: pb::LoginResponse,
}

async fn serve_noop() -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", listener.local_addr().map_err(|e| e.to_string())?);
    let user = pb::User {
        id: "0190a7d2-7b36-7c3b-9f5e-2a1c3d4e5f60".into(),
        username: "loadtest".into(),
        email: String::new(),
        active: true,
        roles: vec![],
        created_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        last_login_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
    };
    let noop = Noop {
        verify: pb::VerifyResponse {
            valid: true,
            reason: 0,
            user: Some(user.clone()),
            claims: Some(pb::Claims {
                sub: user.id.clone(),
                iat: 1_800_000_000,
                nbf: 1_800_000_000,
                exp: 1_800_000_900,
                jti: "4b1f7a4c-2d4e-4c8a-9a77-0a6a1f0c9e21".into(),
                iss: "authd".into(),
                aud: vec!["authd".into()],
                roles: vec![],
                sid: "0190a7d2-7b36-7c3b-9f5e-2a1c3d4e5f61".into(),
            }),
        },
        login: pb::LoginResponse {
            access_token: "x".repeat(480),
            token_type: "Bearer".into(),
            expires_in: 900,
            expires_at: None,
            user: Some(user),
            refresh_token: "r".repeat(46),
            session_id: "s".repeat(36),
        },
    };
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(AuthServiceServer::new(noop))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .map_err(|e| e.to_string())
}

#[tonic::async_trait]
impl AuthService for Noop {
    async fn login(
        &self,
        _: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        Ok(Response::new(self.login.clone()))
    }
    async fn verify(
        &self,
        _: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        Ok(Response::new(self.verify.clone()))
    }
    async fn get_user(
        &self,
        _: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn refresh(
        &self,
        _: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn logout(
        &self,
        _: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn logout_all(
        &self,
        _: Request<pb::LogoutAllRequest>,
    ) -> Result<Response<pb::LogoutAllResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn list_sessions(
        &self,
        _: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn revoke_sessions(
        &self,
        _: Request<pb::RevokeSessionsRequest>,
    ) -> Result<Response<pb::RevokeSessionsResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn get_jwks(
        &self,
        _: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
}
