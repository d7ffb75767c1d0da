//! The servers under load: a scratch `authd serve` started from the release
//! binary beside this one, the no-op baseline (this binary again, with
//! `--serve-noop`), CPU pinning, and the CPU and memory figures read from
//! `/proc`. Each child is killed by its own PID when its [`Server`] drops;
//! nothing here sends requests (that is [`crate::drive`]).

use std::io::{BufRead as _, Write as _};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::Args;
use crate::drive::Outcome;

/// The CPUs this process could use when it started (before it pinned itself).
pub fn cpus() -> usize {
    static CPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CPUS.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// Whether servers go on CPU 0 and the load on the others (`--unpinned` turns it off).
static PINNING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);

/// Sets [`pinning`] once, before anything is spawned.
pub fn set_pinning(on: bool) {
    PINNING.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether pinning is on and possible (two or more CPUs).
pub fn pinning() -> bool {
    PINNING.load(std::sync::atomic::Ordering::Relaxed) && cpus() >= 2
}

/// A command pinned to CPU 0 when [`pinning`] is on.
pub fn pinned(program: &Path) -> Command {
    if pinning() && Command::new("taskset").arg("-V").output().is_ok() {
        let mut command = Command::new("taskset");
        command.args(["-c", "0"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

/// A scratch directory, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new() -> Result<Self, String> {
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
pub struct Server {
    child: Child,
    /// Where it serves gRPC (loopback, port chosen by the OS).
    pub addr: SocketAddr,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    /// CPU time (user + system) the server has used, from /proc (Linux; USER_HZ = 100).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).ok()?;
        // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
        let rest = stat.rsplit_once(')')?.1;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let ticks: u64 =
            fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
        Some(ticks as f64 / 100.0)
    }

    /// Peak and current resident memory of the server, in KiB.
    pub fn memory_kib(&self) -> Option<(u64, u64)> {
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
            "{name} not found beside {}; run `cargo build --release` at the repository root \
             (it builds the service)",
            exe.display()
        )
    })
}

/// The service's release binary beside this one.
pub fn authd_binary() -> Result<PathBuf, String> {
    sibling("authd")
}

/// Starts `authd serve` on a scratch SQLite database with a load-test user.
pub fn spawn_authd(dir: &Path, args: &Args) -> Result<Server, String> {
    let authd = authd_binary()?;
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
    serve(&authd, &url, &args.extra_server_flags)
}

/// Starts `authd serve` (pinned like every server here) on the database at
/// `url`, gRPC on a loopback port chosen by the OS, HTTP off, and returns
/// once it logs that it serves.
pub fn serve(authd: &Path, url: &str, extra_flags: &[String]) -> Result<Server, String> {
    let mut child = pinned(authd)
        .args(["serve", "--listen", "127.0.0.1:0", "--http-listen", "off"])
        .args(["--log-format", "json", "--log", "warn,authd::app=info"])
        .args(extra_flags)
        .env("AUTHD_DATABASE_URL", url)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| e.to_string())?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let mut lines = std::io::BufReader::new(stderr).lines();
    let addr = lines.by_ref().map_while(Result::ok).find_map(|line| {
        let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
        (entry["fields"]["message"] == "authd serving gRPC")
            .then(|| entry["fields"]["addr"].as_str()?.parse().ok())
            .flatten()
    });
    let Some(addr) = addr else {
        // Reap it (by its own PID) before saying so.
        let _ = child.kill();
        let _ = child.wait();
        return Err("authd did not start".into());
    };
    std::thread::spawn(move || lines.for_each(drop));
    Ok(Server { child, addr })
}

/// Runs an `authd` command (`service-account add ...`) against the database
/// at `url` and returns its standard output.
pub fn authd_command(authd: &Path, url: &str, args: &[&str]) -> Result<String, String> {
    let output = Command::new(authd)
        .args(args)
        .env("AUTHD_DATABASE_URL", url)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if !output.status.success() {
        return Err(format!(
            "authd {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    String::from_utf8(output.stdout).map_err(|e| e.to_string())
}

/// A scratch PostgreSQL database, created with `psql` on the server of
/// `--postgres` and dropped (`WITH (FORCE)`) when this value drops, after
/// the servers using it (declare it first, so it drops last). `psql`, as
/// these scenarios need two statements; `seed` (which writes millions of
/// rows) links sqlx, the same build as the service's.
pub struct ScratchDatabase {
    admin_url: String,
    name: String,
    /// The scratch database's URL, for `AUTHD_DATABASE_URL`.
    pub url: String,
}

impl ScratchDatabase {
    pub fn create(admin_url: &str) -> Result<Self, String> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!("authd_load_{}_{nanos}", std::process::id());
        let url = database_url(admin_url, &name)
            .ok_or_else(|| format!("--postgres {admin_url:?} is not a postgres:// URL"))?;
        psql(admin_url, &format!("CREATE DATABASE \"{name}\""))?;
        Ok(Self {
            admin_url: admin_url.to_owned(),
            name,
            url,
        })
    }
}

impl Drop for ScratchDatabase {
    fn drop(&mut self) {
        if let Err(e) = psql(
            &self.admin_url,
            &format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", self.name),
        ) {
            eprintln!("authd-load: could not drop {}: {e}", self.name);
        }
    }
}

fn psql(url: &str, statement: &str) -> Result<(), String> {
    let output = Command::new("psql")
        .args([
            "--no-psqlrc",
            "--quiet",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            statement,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run psql (the PostgreSQL client; install it): {e}"))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(format!(
            "psql {statement:?} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ))
    }
}

/// `url` with its database name replaced by `name`, query kept.
fn database_url(url: &str, name: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let scheme = &url[..url.len() - rest.len()];
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    Some(match query {
        Some(q) => format!("{scheme}{authority}/{name}?{q}"),
        None => format!("{scheme}{authority}/{name}"),
    })
}

/// Starts this binary as the no-op baseline server.
pub fn spawn_noop() -> Result<Server, String> {
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

/// The system's load averages (1, 5 and 15 minutes), from /proc/loadavg.
pub fn load_average() -> Option<String> {
    let text = std::fs::read_to_string("/proc/loadavg").ok()?;
    Some(
        text.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" "),
    )
}

/// Server CPU seconds per answered call during a phase.
pub fn cpu_per_call(server: &Server, before: Option<f64>, outcome: &Outcome) -> Option<f64> {
    let used = server.cpu_seconds()? - before?;
    let calls: u64 = outcome.codes.values().sum();
    (calls > 0).then(|| used / calls as f64)
}

pub fn report_cpu(server: &Server, before: Option<f64>, outcome: &Outcome) {
    if let (Some(after), Some(before)) = (server.cpu_seconds(), before) {
        println!(
            "             server CPU {:.0}% of one core",
            (after - before) / outcome.elapsed.as_secs_f64() * 100.0
        );
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn the_scratch_database_url_keeps_the_server_credentials_and_query() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "x").as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/x")
        );
        assert_eq!(
            database_url("postgresql://u:p@db:5432?sslmode=disable", "x").as_deref(),
            Some("postgresql://u:p@db:5432/x?sslmode=disable")
        );
        assert_eq!(
            database_url("postgres://h/db?a=1", "x").as_deref(),
            Some("postgres://h/x?a=1")
        );
        assert_eq!(database_url("sqlite://authd.db", "x"), None);
    }
}
