//! A throwaway PostgreSQL cluster a test fully controls: started with
//! `initdb` + `pg_ctl` in a temporary directory on a free loopback port
//! (with TLS required, if the test asks: [`PgCluster::start_with_tls`]), and
//! stopped, restarted on the same port, or killed outright by the test.
//!
//! PostgreSQL refuses to run as root, so as root the cluster runs as the
//! `postgres` OS user (through `runuser`), in a directory handed to it. The
//! binaries come from `AUTHD_TEST_PG_BINDIR`, else `pg_config --bindir`.
//! A cluster that cannot start fails the test with the reason: it is never
//! skipped (in CI or anywhere else). `pg_ctl` only ever acts on this
//! cluster's own data directory.

use std::io::Write as _;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A private PostgreSQL server; stopped (immediately) and removed on drop.
pub struct PgCluster {
    dir: tempfile::TempDir,
    bindir: PathBuf,
    port: u16,
    running: bool,
}

fn bindir() -> PathBuf {
    if let Ok(dir) = std::env::var("AUTHD_TEST_PG_BINDIR") {
        return PathBuf::from(dir);
    }
    let out = Command::new("pg_config")
        .arg("--bindir")
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "pg_config not found ({e}): install the PostgreSQL server binaries \
                 or set AUTHD_TEST_PG_BINDIR to their directory"
            )
        });
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn as_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

impl PgCluster {
    /// Initialises and starts a cluster; panics with the reason if it cannot.
    pub fn start() -> Self {
        let mut cluster = Self::init();
        cluster.start_again();
        cluster
    }

    /// Like [`Self::start`], with TLS on (certificate chain `cert`, key
    /// `key`, both PEM) and required: TCP connections must use TLS
    /// (`hostssl` only in pg_hba.conf), so a plaintext client is refused.
    pub fn start_with_tls(cert: &Path, key: &Path) -> Self {
        let mut cluster = Self::init();
        // PostgreSQL wants its key readable by itself only.
        let (cert_copy, key_copy) = (
            cluster.dir.path().join("server.crt"),
            cluster.dir.path().join("server.key"),
        );
        std::fs::copy(cert, &cert_copy).expect("copy the server certificate");
        std::fs::copy(key, &key_copy).expect("copy the server key");
        std::fs::set_permissions(&key_copy, std::fs::Permissions::from_mode(0o600))
            .expect("restrict the server key");
        if as_root() {
            run(Command::new("chown")
                .arg("postgres:postgres")
                .arg(&cert_copy)
                .arg(&key_copy));
        }
        let data = cluster.data_dir();
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .expect("open postgresql.conf");
        writeln!(
            conf,
            "ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'",
            cert_copy.display(),
            key_copy.display()
        )
        .expect("turn TLS on");
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\nhostssl all all 127.0.0.1/32 trust\n",
        )
        .expect("require TLS in pg_hba.conf");
        cluster.start_again();
        cluster
    }

    /// An initialised, stopped cluster.
    fn init() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let root = as_root();
        if root {
            run(Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path()));
        }
        let cluster = Self {
            bindir: bindir(),
            port: free_port(),
            running: false,
            dir,
        };
        let data = cluster.data_dir();
        let mut initdb = cluster.pg_command("initdb");
        initdb.arg("-D").arg(&data).args([
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ]);
        run(&mut initdb);
        cluster
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// A command running the PostgreSQL binary `name` as a user it accepts.
    fn pg_command(&self, name: &str) -> Command {
        let program = self.bindir.join(name);
        if as_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(program);
            command
        } else {
            Command::new(program)
        }
    }

    /// The URL of database `postgres` on this cluster.
    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// The URL of database `postgres` on this cluster through `host` (a
    /// name or address of 127.0.0.1), with the query `query` (`sslmode=...`).
    pub fn url_via(&self, host: &str, query: &str) -> String {
        format!("postgres://postgres@{host}:{}/postgres?{query}", self.port)
    }

    /// Starts the (stopped) cluster again on the same port, waiting until it accepts connections.
    pub fn start_again(&mut self) {
        let data = self.data_dir();
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50",
            self.port,
            self.dir.path().display()
        );
        let mut start = self.pg_command("pg_ctl");
        start
            .arg("-D")
            .arg(&data)
            .args(["-o", &options, "-l"])
            .arg(self.dir.path().join("postgres.log"))
            .args(["-w", "-t", "30", "start"]);
        run(&mut start);
        self.running = true;
    }

    /// Stops the cluster at once (`-m immediate`): every connection drops.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        let data = self.data_dir();
        let mut stop = self.pg_command("pg_ctl");
        stop.arg("-D")
            .arg(&data)
            .args(["-m", "immediate", "-w", "-t", "30", "stop"]);
        run(&mut stop);
        self.running = false;
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data = self.data_dir();
            let _ = self
                .pg_command("pg_ctl")
                .arg("-D")
                .arg(&data)
                .args(["-m", "immediate", "-w", "-t", "30", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

#[track_caller]
fn run(command: &mut Command) {
    let out = command
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
