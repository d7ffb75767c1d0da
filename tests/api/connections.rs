//! Connection exhaustion (issue 15, finding 1): sockets that send nothing,
//! half an HTTP/2 preface or an unfinished HTTP/1 head are closed within
//! the header-read timeout on both listeners, each listener holds at most
//! its cap, clients beyond it wait instead of being refused, and the soft
//! open-file limit is raised to the hard one at start-up. Over TLS on the
//! gRPC port (authd runs the handshake) the same deadline bounds a stalled
//! handshake and then the HTTP opening, and the idle timeout still tells
//! pings from calls.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use crate::helpers::{Backend, TestApp, TestDb};

/// The cap each listener gets in these tests.
const CAP: usize = 20;
/// The header-read timeout these tests set.
const HEADER_TIMEOUT: Duration = Duration::from_secs(1);
/// Longest a test waits for the server to close a socket: the slowest are
/// queued behind a full cap for one timeout and then get their own, so
/// this leaves room for a busy machine.
const CLOSE_BOUND: Duration = Duration::from_secs(8);

/// What an abandoned socket sends before falling silent.
#[derive(Debug, Clone, Copy)]
enum Abandoned {
    /// Nothing at all.
    Nothing,
    /// The first 16 of the 24 bytes of the HTTP/2 preface.
    HalfPreface,
    /// An HTTP/1 request head without its blank line.
    PartialHead,
}

impl Abandoned {
    const ALL: [Self; 3] = [Self::Nothing, Self::HalfPreface, Self::PartialHead];

    fn bytes(self) -> &'static [u8] {
        match self {
            Self::Nothing => b"",
            Self::HalfPreface => b"PRI * HTTP/2.0\r\n",
            Self::PartialHead => b"GET /healthz HTTP/1.1\r\nHost: authd\r\nX-Slow: aaaa",
        }
    }
}

/// An authd whose listeners hold [`CAP`] connections each and close those
/// that have not sent a request head within [`HEADER_TIMEOUT`].
async fn spawn_with_small_limits() -> (TestApp, SocketAddr) {
    TestApp::builder(Backend::Sqlite)
        .config(|c| {
            c.server.grpc_max_connections = CAP;
            c.server.http_max_connections = CAP;
            c.server.header_read_timeout = HEADER_TIMEOUT;
        })
        .spawn_with_addr()
        .await
}

/// Opens a socket to `addr`, sends `what`, and watches it: the task answers
/// how long after the last byte was sent the server closed it (EOF or
/// reset), or `None` if it was still open after [`CLOSE_BOUND`].
async fn abandon(addr: SocketAddr, what: Abandoned) -> JoinHandle<Option<Duration>> {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(what.bytes()).await.expect("send");
    watch_close(stream, Instant::now())
}

/// Watches `stream` (plaintext or TLS): the task answers how long after
/// `since` the server closed it (EOF, reset, or a TLS record error), or
/// `None` if it was still open after [`CLOSE_BOUND`].
fn watch_close<S>(mut stream: S, since: Instant) -> JoinHandle<Option<Duration>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let closed = async {
            let mut buf = [0_u8; 4096];
            // Whatever the server answers before closing is read and ignored.
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        };
        tokio::time::timeout(CLOSE_BOUND, closed)
            .await
            .ok()
            .map(|()| since.elapsed())
    })
}

/// Health over a brand-new gRPC connection (not the test's own channel).
async fn health_over_a_new_connection(addr: SocketAddr) -> i32 {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("connect");
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .expect("health answers")
        .into_inner()
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_sockets_beyond_the_cap_are_closed_within_the_header_timeout_and_new_clients_are_served()
 {
    let (app, grpc) = spawn_with_small_limits().await;
    let http = crate::http::http(&app);
    // Half as many again as the cap, on each port, of every kind.
    let mut watchers = Vec::new();
    for addr in [grpc, http] {
        for i in 0..CAP + CAP / 2 {
            let what = Abandoned::ALL[i % Abandoned::ALL.len()];
            watchers.push((addr, what, abandon(addr, what).await));
        }
    }

    // Meanwhile: the test's own connection (opened before) keeps working...
    let mut health = HealthClient::new(app.channel.clone());
    let existing = tokio::time::timeout(
        Duration::from_secs(5),
        health.check(HealthCheckRequest::default()),
    )
    .await
    .expect("an existing connection is served at once")
    .expect("health answers");
    assert_eq!(existing.into_inner().status, 1, "SERVING");
    // ...and new clients are served once the idle sockets have been closed.
    let new_grpc = tokio::time::timeout(CLOSE_BOUND, health_over_a_new_connection(grpc))
        .await
        .expect("a new gRPC client is served");
    assert_eq!(new_grpc, 1, "SERVING");
    let healthz = tokio::time::timeout(CLOSE_BOUND, crate::http::get(http, "/healthz"))
        .await
        .expect("a new HTTP client is served");
    assert_eq!(healthz.status, 200);

    for (addr, what, watcher) in watchers {
        let closed = watcher.await.expect("watcher");
        let after = closed.unwrap_or_else(|| {
            panic!("a socket to {addr} that sent {what:?} was still open after {CLOSE_BOUND:?}")
        });
        // Closed by the timeout, not refused at once: those beyond the
        // cap waited for a slot, then had their own timeout.
        assert!(
            after >= HEADER_TIMEOUT.mul_f32(0.9),
            "a socket to {addr} that sent {what:?} was closed after {after:?}, before the timeout"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_sent_its_first_request_outlives_the_header_timeout() {
    let (app, _) = spawn_with_small_limits().await;
    // The test's channel finished its HTTP/2 opening at connect; idle past
    // the timeout, it is not closed (keepalive and max age bound it).
    tokio::time::sleep(HEADER_TIMEOUT * 2).await;
    let mut health = HealthClient::new(app.channel.clone());
    let status = health
        .check(HealthCheckRequest::default())
        .await
        .expect("the idle connection still serves")
        .into_inner()
        .status;
    assert_eq!(status, 1, "SERVING");
    // A head sent slowly but within the timeout is served.
    let http = crate::http::http(&app);
    let mut stream = TcpStream::connect(http).await.expect("connect");
    for part in [
        &b"GET /healthz HTTP/1.1\r\n"[..],
        b"Host: authd\r\n",
        b"Connection: close\r\n\r\n",
    ] {
        stream.write_all(part).await.expect("send");
        tokio::time::sleep(HEADER_TIMEOUT / 5).await;
    }
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfinished_head_larger_than_the_limit_is_closed_before_the_timeout() {
    // A long timeout, so only the size can close these.
    let (app, grpc) = TestApp::builder(Backend::Sqlite)
        .config(|c| c.server.header_read_timeout = Duration::from_secs(60))
        .spawn_with_addr()
        .await;
    for addr in [grpc, crate::http::http(&app)] {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        let mut head = b"GET /healthz HTTP/1.1\r\nHost: authd\r\nX-Big: ".to_vec();
        head.resize(authd::net::MAX_HEAD_BYTES + 4096, b'a');
        let started = Instant::now();
        // The server may close while this is still being written.
        let _ = stream.write_all(&head).await;
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            let mut buf = [0_u8; 4096];
            while let Ok(n) = stream.read(&mut buf).await {
                if n == 0 {
                    break;
                }
            }
        })
        .await;
        assert!(
            closed.is_ok(),
            "a {} KiB unfinished head to {addr} was still open after {:?}",
            head.len() / 1024,
            started.elapsed()
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_soft_open_file_limit_is_raised_to_the_hard_limit_at_start_up() {
    use std::io::BufRead as _;
    let db = TestDb::new(Backend::Sqlite).await;
    // Started with a low soft limit (the shell's `ulimit -S`), as under many
    // init systems' default of 1024.
    let mut command = std::process::Command::new("bash");
    command
        .args([
            "-c",
            r#"ulimit -Sn "$(( $(ulimit -Hn) < 256 ? $(ulimit -Hn) : 256 ))" && exec "$0" "$@""#,
        ])
        .arg(env!("CARGO_BIN_EXE_authd"))
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "off"])
        .args(["--log-format", "json"]);
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTHD_") {
            command.env_remove(key);
        }
    }
    let mut child = command
        .env("AUTHD_DATABASE_URL", &db.url)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start authd");
    let pid = child.id();
    let stderr = child.stderr.take().expect("stderr");
    let lines = tokio::task::spawn_blocking(move || {
        let mut seen = Vec::new();
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            let serving = line.contains("authd serving gRPC");
            seen.push(line);
            if serving {
                break;
            }
        }
        seen
    });
    let lines = tokio::time::timeout(Duration::from_secs(30), lines)
        .await
        .expect("authd starts")
        .expect("reader");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let _ = child.kill();
    let _ = child.wait();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("the open-files line");
    let values: Vec<&str> = open_files
        .trim_start_matches("Max open files")
        .split_whitespace()
        .collect();
    assert_eq!(values[0], values[1], "soft equals hard: {open_files}");
    assert!(
        lines.iter().any(|l| l.contains("open-file limit")),
        "the limit is logged: {lines:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_the_cap_new_connections_wait_until_one_closes_and_are_then_served() {
    // A long timeout, so only the cap holds the new clients back.
    let (app, grpc) = TestApp::builder(Backend::Sqlite)
        .config(|c| {
            c.server.grpc_max_connections = CAP;
            c.server.http_max_connections = CAP;
            c.server.header_read_timeout = Duration::from_secs(60);
        })
        .spawn_with_addr()
        .await;
    let http = crate::http::http(&app);
    // The test's own channel holds one gRPC slot; fill the rest of both.
    let mut idle = Vec::new();
    for (addr, count) in [(grpc, CAP - 1), (http, CAP)] {
        for _ in 0..count {
            idle.push(TcpStream::connect(addr).await.expect("connect"));
        }
    }
    let new_grpc = tokio::spawn(health_over_a_new_connection(grpc));
    let healthz = tokio::spawn(crate::http::get(http, "/healthz"));
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        !new_grpc.is_finished() && !healthz.is_finished(),
        "clients beyond the cap wait"
    );
    // The connection already open is not held up by the cap.
    let mut health = HealthClient::new(app.channel.clone());
    health
        .check(HealthCheckRequest::default())
        .await
        .expect("an existing connection is served at the cap");
    // One slot free on each port, and the waiting clients are served.
    drop(idle.pop());
    drop(idle.remove(0));
    let status = tokio::time::timeout(Duration::from_secs(10), new_grpc)
        .await
        .expect("the waiting gRPC client is served once a slot is free")
        .expect("task");
    assert_eq!(status, 1, "SERVING");
    let answer = tokio::time::timeout(Duration::from_secs(10), healthz)
        .await
        .expect("the waiting HTTP client is served once a slot is free")
        .expect("task");
    assert_eq!(answer.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http2_connection_to_the_http_port_with_no_request_is_closed_after_the_idle_timeout() {
    let idle_timeout = Duration::from_secs(1);
    let app = TestApp::builder(Backend::Sqlite)
        .config(move |c| c.server.http_idle_timeout = idle_timeout)
        .spawn()
        .await;
    let mut stream = TcpStream::connect(crate::http::http(&app))
        .await
        .expect("connect");
    // A complete HTTP/2 opening (preface and an empty SETTINGS frame), then
    // no request at all.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .expect("send");
    let opened = Instant::now();
    // Read frames until the server closes, answering its PINGs as any
    // client does (h2's graceful close waits for one to be answered).
    let mut types = Vec::new();
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        let mut pending = Vec::new();
        let mut buf = [0_u8; 4096];
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
            pending.extend_from_slice(&buf[..n]);
            while pending.len() >= 9 {
                let length = usize::from(pending[0]) << 16
                    | usize::from(pending[1]) << 8
                    | usize::from(pending[2]);
                if pending.len() < 9 + length {
                    break;
                }
                let frame: Vec<u8> = pending.drain(..9 + length).collect();
                types.push(frame[3]);
                if frame[3] == 6 && frame[4] & 1 == 0 {
                    let mut ack = frame.clone();
                    ack[4] = 1;
                    let _ = stream.write_all(&ack).await;
                }
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the idle connection was still open after 10 s"
    );
    let after = opened.elapsed();
    assert!(after >= idle_timeout.mul_f32(0.9), "closed after {after:?}");
    assert!(
        types.contains(&7),
        "a GOAWAY (type 7) before the close: frame types {types:?}"
    );
}

/// The gRPC idle timeout of the silent-client test: shorter than the
/// settings allow (2 s), to keep the test short.
const GRPC_IDLE_TIMEOUT: Duration = Duration::from_millis(500);

async fn spawn_with_grpc_idle_timeout(timeout: Duration) -> (TestApp, SocketAddr) {
    TestApp::builder(Backend::Sqlite)
        .config(move |c| c.server.grpc_idle_timeout = Some(timeout))
        .spawn_with_addr()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_client_silent_after_one_call_is_closed_after_the_idle_timeout_pings_or_not() {
    let (_app, addr) = spawn_with_grpc_idle_timeout(GRPC_IDLE_TIMEOUT).await;
    let tcp = TcpStream::connect(addr).await.expect("connect");
    one_call_then_only_pings(tcp, &format!("http://{addr}")).await;
}

/// Over `io` (an open connection to the gRPC port, plaintext or TLS, of an
/// app with [`GRPC_IDLE_TIMEOUT`]), a raw HTTP/2 client makes one call to
/// `base` (`scheme://authority`), then only pings until the server closes
/// the connection; asserts the pings were answered and that it was closed
/// after the idle timeout, not before, and within [`CLOSE_BOUND`].
async fn one_call_then_only_pings<IO>(io: IO, base: &str)
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (client, mut connection) = h2::client::Builder::new()
        .handshake::<_, &'static [u8]>(io)
        .await
        .expect("HTTP/2 handshake");
    let mut pings = connection.ping_pong().expect("a ping handle");
    let connection = tokio::spawn(async move {
        let _ = connection.await;
        Instant::now()
    });

    // One call: a health check (an empty message, length-prefixed).
    let mut client = client.ready().await.expect("ready");
    let request = http::Request::post(format!("{base}/grpc.health.v1.Health/Check"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(())
        .expect("a request");
    let (response, mut body) = client.send_request(request, false).expect("send");
    body.send_data(&[0, 0, 0, 0, 0], true).expect("the message");
    let response = response.await.expect("an answer");
    assert_eq!(response.status(), 200);
    let mut answer = response.into_body();
    while let Some(chunk) = answer.data().await {
        let chunk = chunk.expect("the answer's body");
        let _ = answer.flow_control().release_capacity(chunk.len());
    }
    let trailers = answer.trailers().await.expect("trailers").expect("some");
    assert_eq!(trailers["grpc-status"], "0");
    let called = Instant::now();

    // Then nothing but pings, as a keepalive sends them (and as the
    // server's own keepalive asks for): the server answers them, and still
    // closes the connection once it has carried nothing else for the timeout.
    let mut answered = 0;
    while tokio::time::timeout(CLOSE_BOUND, pings.ping(h2::Ping::opaque()))
        .await
        .is_ok_and(|pong| pong.is_ok())
    {
        answered += 1;
        assert!(
            called.elapsed() < CLOSE_BOUND,
            "still open after {CLOSE_BOUND:?} of pings"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let closed = tokio::time::timeout(CLOSE_BOUND, connection)
        .await
        .expect("the connection ended")
        .expect("task");
    let after = closed.duration_since(called);
    assert!(answered >= 3, "pings were answered meanwhile: {answered}");
    assert!(
        after + Duration::from_millis(100) >= GRPC_IDLE_TIMEOUT,
        "closed {after:?} after the call, before the timeout"
    );
    assert!(client.ready().await.is_err(), "no new call on it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_revocations_stream_keeps_its_connection_past_the_grpc_idle_timeout() {
    // Just above the heartbeat interval (1 s), as the settings' minimum is.
    let idle_timeout = Duration::from_millis(1500);
    let (app, _) = spawn_with_grpc_idle_timeout(idle_timeout).await;
    // Heartbeats flow while the change feed is trusted.
    app.wait_for_feed().await;
    app.create_user("root", &["admin"]).await;
    let root = app.token_for("root").await;
    let mut stream = app
        .client
        .clone()
        .watch_revocations(crate::helpers::with_bearer(
            authd::grpc::pb::WatchRevocationsRequest::default(),
            &root,
        ))
        .await
        .expect("admitted")
        .into_inner();
    // Its heartbeats (one a second) are traffic: the stream goes on for
    // four idle timeouts and more.
    let opened = Instant::now();
    let mut events = 0;
    while opened.elapsed() < idle_timeout * 4 {
        let event = tokio::time::timeout(Duration::from_secs(3), stream.message())
            .await
            .expect("an event within 3 s");
        assert!(
            matches!(event, Ok(Some(_))),
            "the stream ended after {:?}: {event:?}",
            opened.elapsed()
        );
        events += 1;
    }
    assert!(events >= 3, "hello and heartbeats: {events}");
}

/// An authd serving TLS (certificates from `pki`, no client CA) whose
/// listeners are customized by `customize`; the app's own channel speaks TLS.
async fn spawn_with_tls(
    pki: &crate::tls::Pki,
    customize: impl FnOnce(&mut authd::Config) + 'static,
) -> (TestApp, SocketAddr) {
    let settings = pki.server_settings(false);
    TestApp::builder(Backend::Sqlite)
        .config(move |c| {
            c.tls = settings;
            customize(c);
        })
        .endpoint(|addr| pki.endpoint(addr, None))
        .spawn_with_addr()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tls_grpc_client_silent_after_one_call_is_closed_after_the_idle_timeout_pings_or_not() {
    // authd terminates TLS below its connection wrapper, so the wrapper
    // reads the HTTP/2 frames, not ciphertext, and pings are not traffic.
    let pki = crate::tls::Pki::new();
    let (_app, addr) = spawn_with_tls(&pki, |c| {
        c.server.grpc_idle_timeout = Some(GRPC_IDLE_TIMEOUT);
    })
    .await;
    let tls = pki.connect_raw(addr, b"h2").await.expect("TLS handshake");
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]), "ALPN h2");
    one_call_then_only_pings(tls, &format!("https://localhost:{}", addr.port())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_clients_that_finish_the_handshake_but_not_the_http_opening_are_closed_within_the_header_timeout()
 {
    let pki = crate::tls::Pki::new();
    let (app, grpc) = spawn_with_tls(&pki, |c| c.server.header_read_timeout = HEADER_TIMEOUT).await;
    // After a complete handshake: nothing, half the HTTP/2 preface, half an
    // HTTP/1 head, each on the decrypted stream.
    let mut watchers = Vec::new();
    for what in Abandoned::ALL {
        // The deadline runs from accept, so from before the connect.
        let started = Instant::now();
        let mut tls = pki.connect_raw(grpc, b"h2").await.expect("TLS handshake");
        tls.write_all(what.bytes()).await.expect("send");
        tls.flush().await.expect("flush");
        watchers.push((what, watch_close(tls, started)));
    }
    for (what, watcher) in watchers {
        let after = watcher.await.expect("watcher").unwrap_or_else(|| {
            panic!("a TLS client that sent {what:?} was still open after {CLOSE_BOUND:?}")
        });
        assert!(
            after >= HEADER_TIMEOUT.mul_f32(0.9),
            "a TLS client that sent {what:?} was closed after {after:?}, before the timeout"
        );
    }
    // The app's own TLS channel, opened before and so now older than the
    // timeout, finished its opening and is still served.
    let status = HealthClient::new(app.channel.clone())
        .check(HealthCheckRequest::default())
        .await
        .expect("the TLS connection that finished its opening still serves")
        .into_inner()
        .status;
    assert_eq!(status, 1, "SERVING");
}

/// The first bytes of a TLS ClientHello: a handshake record announcing 512
/// bytes, and the start of the message; the rest never comes.
const PARTIAL_CLIENT_HELLO: &[u8] = &[
    0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stalled_tls_handshake_does_not_hold_up_another_client_and_is_closed_within_the_header_timeout()
 {
    // Longer than the other tests' timeout, so "served at once" has room
    // on a busy machine.
    let timeout = Duration::from_secs(2);
    let pki = crate::tls::Pki::new();
    let (_app, grpc) = spawn_with_tls(&pki, move |c| c.server.header_read_timeout = timeout).await;
    let started = Instant::now();
    // One socket sends nothing, one the first bytes of a ClientHello.
    let silent = TcpStream::connect(grpc).await.expect("connect");
    let mut partial = TcpStream::connect(grpc).await.expect("connect");
    partial.write_all(PARTIAL_CLIENT_HELLO).await.expect("send");
    let watchers = [
        ("nothing", watch_close(silent, started)),
        ("a partial ClientHello", watch_close(partial, started)),
    ];

    // Meanwhile a new TLS client is served at once, while both still hang.
    let channel = tokio::time::timeout(timeout / 2, pki.endpoint(grpc, None).connect())
        .await
        .expect("a new TLS client connects while the stalled handshakes hang")
        .expect("a TLS connection");
    let status = tokio::time::timeout(
        timeout / 2,
        HealthClient::new(channel).check(HealthCheckRequest::default()),
    )
    .await
    .expect("a new TLS client is served at once")
    .expect("health answers")
    .into_inner()
    .status;
    assert_eq!(status, 1, "SERVING");
    assert!(
        watchers.iter().all(|(_, watcher)| !watcher.is_finished()),
        "the stalled handshakes were still open while the new client was served"
    );

    for (what, watcher) in watchers {
        let after = watcher.await.expect("watcher").unwrap_or_else(|| {
            panic!("a TLS handshake that sent {what} was still open after {CLOSE_BOUND:?}")
        });
        assert!(
            after >= timeout.mul_f32(0.9),
            "a TLS handshake that sent {what} was closed after {after:?}, before the timeout"
        );
    }
}
