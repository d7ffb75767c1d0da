//! Real reverse proxies in front of a test upstream, asking authd's
//! `/auth/verify`: nginx (`auth_request`) and Caddy (`forward_auth`), the
//! Debian packages `nginx` and `caddy` (`tests/run` installs them).
//!
//! Each proxy runs as a process of its own from a temporary directory
//! (config, pid file, logs), listening on a free loopback port, with the
//! configuration from `examples/` (the one the README shows), only its
//! addresses replaced. The test kills only the processes it started, by
//! their PID, when the handle drops. The upstream is [`Upstream`]: a tiny
//! HTTP server that answers every request with the request head it
//! received, so a test sees exactly which headers the proxy passed on.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The addresses the example configurations name, replaced by the test's.
pub const EXAMPLE_PROXY: &str = "127.0.0.1:8000";
/// authd's HTTP listener in the examples (its default).
pub const EXAMPLE_AUTHD: &str = "127.0.0.1:8080";
/// The protected application in the examples.
pub const EXAMPLE_UPSTREAM: &str = "127.0.0.1:9000";

/// How long a proxy may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// An HTTP server answering every request with `200` and, as the body, the
/// request head it received (request line and headers, as sent).
pub struct Upstream {
    pub addr: SocketAddr,
    /// Requests received so far.
    requests: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Upstream {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind upstream");
        let addr = listener.local_addr().expect("upstream address");
        let requests = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&requests);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(echo(stream, Arc::clone(&counter)));
            }
        });
        Self {
            addr,
            requests,
            task,
        }
    }

    /// How many requests have reached it.
    pub fn requests(&self) -> usize {
        self.requests.load(Ordering::SeqCst)
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one request (at most 64 KiB of head, 10 s) with its head.
async fn echo(mut stream: TcpStream, requests: Arc<AtomicUsize>) {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        true
    })
    .await;
    if !matches!(read, Ok(true)) {
        return;
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let end = head
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(head.len());
    let body = &head[..end];
    let answer = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.write_all(body).await;
    let _ = stream.shutdown().await;
}

/// The headers of a request head the upstream echoed, names lower-cased,
/// in the order received.
pub fn echoed_headers(body: &str) -> Vec<(String, String)> {
    body.split("\r\n")
        .skip(1)
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect()
}

/// Which proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Nginx,
    Caddy,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Self::Nginx => "nginx",
            Self::Caddy => "caddy",
        }
    }
}

/// A running proxy, stopped (by PID) when dropped.
pub struct Proxy {
    pub kind: Kind,
    pub addr: SocketAddr,
    child: Child,
    dir: tempfile::TempDir,
}

/// The example configuration of `kind` with the test's addresses.
pub fn example_config(
    kind: Kind,
    proxy: SocketAddr,
    authd: SocketAddr,
    upstream: SocketAddr,
) -> String {
    let file = match kind {
        Kind::Nginx => "examples/nginx/authd.conf",
        Kind::Caddy => "examples/caddy/Caddyfile",
    };
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text =
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    for example in [EXAMPLE_PROXY, EXAMPLE_AUTHD, EXAMPLE_UPSTREAM] {
        assert!(text.contains(example), "{file} names {example}");
    }
    text.replace(EXAMPLE_PROXY, &proxy.to_string())
        .replace(EXAMPLE_AUTHD, &authd.to_string())
        .replace(EXAMPLE_UPSTREAM, &upstream.to_string())
}

/// A loopback port nothing listens on now (the proxy binds it next).
fn free_port() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address")
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// `program` (looked up in `PATH` and `/usr/sbin`), or a failure saying
/// how to install it.
fn command(program: &str, package: &str) -> Command {
    let dirs = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default();
    let found = dirs
        .into_iter()
        .chain([PathBuf::from("/usr/sbin")])
        .map(|dir| dir.join(program))
        .find(|path| path.is_file());
    let path = found.unwrap_or_else(|| {
        panic!(
            "`{program}` is not installed: this test runs a real {program} in front of authd. \
             Install it with `apt-get install -y {package}` (or run the suite with \
             `bash tests/run`, which does)"
        )
    });
    Command::new(path)
}

impl Proxy {
    /// Starts `kind` with its example configuration in front of `upstream`,
    /// asking the authd HTTP listener at `authd`; returns once it listens.
    pub async fn start(kind: Kind, authd: SocketAddr, upstream: SocketAddr) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let mut last_error = String::new();
        // A port found free may be taken before the proxy binds it: a few tries.
        for _ in 0..3 {
            let addr = free_port();
            let site = example_config(kind, addr, authd, upstream);
            let mut child = match kind {
                Kind::Nginx => start_nginx(dir.path(), &site),
                Kind::Caddy => start_caddy(dir.path(), &site),
            };
            match wait_until_listening(&mut child, addr).await {
                Ok(()) => {
                    return Self {
                        kind,
                        addr,
                        child,
                        dir,
                    };
                }
                Err(why) => {
                    stop(&mut child);
                    last_error = format!("{why}\n{}", logs(kind, dir.path()));
                }
            }
        }
        panic!("{} did not start: {last_error}", kind.name());
    }

    /// The proxy's own log, for failure messages.
    pub fn logs(&self) -> String {
        logs(self.kind, self.dir.path())
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        stop(&mut self.child);
    }
}

/// nginx in the foreground (`daemon off`) with `site` (an `http`-context
/// file) included from a main configuration whose every path is in `dir`.
fn start_nginx(dir: &Path, site: &str) -> Child {
    let d = dir.display();
    std::fs::write(dir.join("authd.conf"), site).expect("write the site");
    // As root, nginx would switch its workers to the compiled-in user;
    // name an unprivileged one. Otherwise the directive only draws a warning.
    let user = if is_root() {
        "user nobody nogroup;"
    } else {
        ""
    };
    let main = format!(
        "daemon off;\n{user}\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
         events {{ worker_connections 64; }}\n\
         http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  \
         proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  \
         scgi_temp_path {d}/scgi;\n  include {d}/authd.conf;\n}}\n"
    );
    let conf = dir.join("nginx.conf");
    std::fs::write(&conf, main).expect("write nginx.conf");
    command("nginx", "nginx")
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(&conf)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).expect("stderr file"))
        .spawn()
        .expect("start nginx")
}

/// Caddy with `site` after global options that keep it to itself: no admin
/// endpoint, no certificates, its state in `dir`.
fn start_caddy(dir: &Path, site: &str) -> Child {
    let caddyfile = dir.join("Caddyfile");
    std::fs::write(
        &caddyfile,
        format!("{{\n\tadmin off\n\tauto_https off\n}}\n\n{site}"),
    )
    .expect("write the Caddyfile");
    command("caddy", "caddy")
        .args(["run", "--adapter", "caddyfile", "--config"])
        .arg(&caddyfile)
        .env("HOME", dir)
        .env("XDG_DATA_HOME", dir.join("data"))
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.join("stderr.log")).expect("stderr file"))
        .spawn()
        .expect("start caddy")
}

/// Waits (at most [`START_TIMEOUT`]) until `addr` accepts connections,
/// failing early if `child` exits.
async fn wait_until_listening(child: &mut Child, addr: SocketAddr) -> Result<(), String> {
    let started = Instant::now();
    while started.elapsed() < START_TIMEOUT {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("it exited with {status}"));
        }
        if TcpStream::connect(addr).await.is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "it did not listen on {addr} within {START_TIMEOUT:?}"
    ))
}

fn logs(kind: Kind, dir: &Path) -> String {
    let mut out = String::new();
    for file in ["stderr.log", "error.log"] {
        if let Ok(text) = std::fs::read_to_string(dir.join(file)) {
            let _ = write!(out, "--- {} {file}:\n{text}\n", kind.name());
        }
    }
    out
}

/// Stops `child` and the processes it started: SIGTERM (nginx's master
/// then stops its workers), at most 5 s, then SIGKILL to each.
fn stop(child: &mut Child) {
    if matches!(child.try_wait(), Ok(Some(_))) {
        return;
    }
    let pid = child.id();
    let workers = children_of(pid);
    let _ = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if matches!(child.try_wait(), Ok(Some(_))) {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    if !matches!(child.try_wait(), Ok(Some(_))) {
        let _ = child.kill();
        let _ = child.wait();
    }
    for worker in workers {
        // A worker that outlived its master (the PID still names an nginx).
        let comm = std::fs::read_to_string(format!("/proc/{worker}/comm")).unwrap_or_default();
        if comm.trim() == "nginx" {
            let _ = Command::new("kill")
                .args(["-KILL", &worker.to_string()])
                .status();
        }
    }
}

/// The PIDs whose parent is `pid` (from `/proc/*/stat`).
fn children_of(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            std::fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().nth(1))
                    .and_then(|ppid| ppid.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}
