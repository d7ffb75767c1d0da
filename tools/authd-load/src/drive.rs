//! The client side of a phase: connections, the workers that send one kind
//! of request until the phase's deadline, and what they saw ([`Outcome`]:
//! latencies and status codes). Nothing here starts or measures a server
//! (that is [`crate::process`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tonic::transport::Channel;

use crate::Args;
use crate::pb;
use crate::pb::auth_service_client::AuthServiceClient;

pub async fn connect(
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
pub struct Outcome {
    /// One entry per call, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Calls per gRPC status code (`Ok`, `ResourceExhausted`, ...).
    pub codes: BTreeMap<String, u64>,
    /// How long the phase took, from the first request to the last answer.
    pub elapsed: Duration,
}

impl Outcome {
    pub fn merge(&mut self, other: Outcome) {
        self.latencies_us.extend(other.latencies_us);
        for (code, n) in other.codes {
            *self.codes.entry(code).or_default() += n;
        }
    }

    pub fn ok_per_second(&self) -> f64 {
        self.codes.get("Ok").copied().unwrap_or_default() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return 0.0;
        }
        self.latencies_us.sort_unstable();
        let i = ((self.latencies_us.len() - 1) as f64 * p).round() as usize;
        f64::from(self.latencies_us[i]) / 1000.0
    }

    pub fn report(&mut self, label: &str) {
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
pub enum Load {
    Verify(Arc<Vec<String>>),
    /// Each token once, shared by all workers (`next` is the next unsent
    /// one); a worker stops when they run out.
    VerifyOnce {
        tokens: Arc<Vec<String>>,
        next: Arc<AtomicUsize>,
    },
    Login {
        username: String,
        password: String,
        backoff: Option<Duration>,
    },
}

/// Runs `concurrency` workers over `clients` until `duration` has passed.
pub async fn drive(
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
                        Load::VerifyOnce { tokens, next } => {
                            let Some(token) = tokens.get(next.fetch_add(1, Ordering::Relaxed))
                            else {
                                break;
                            };
                            // A first-sight token must be valid: an invalid
                            // answer counts as a failure, not as a call served.
                            match client
                                .verify(pb::VerifyRequest {
                                    token: token.clone(),
                                })
                                .await
                            {
                                Ok(answer) if !answer.get_ref().valid => {
                                    Err(tonic::Status::failed_precondition("invalid"))
                                }
                                other => other.map(|_| ()),
                            }
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
pub async fn valid_tokens(
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

pub fn garbage(count: usize) -> Vec<String> {
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
