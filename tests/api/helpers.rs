//! Shared test harness: databases, a running server, and intent-named helpers.

use std::net::SocketAddr;

use authd::clock::{Clock, ManualClock, now_unix};
use authd::grpc::pb;
use authd::grpc::pb::auth_service_client::AuthServiceClient;
use authd::service::{AuthCore, NewAccount};
use authd::token::rotation::KeyManager;
use authd::user::User;
use authd::{App, Config};
use secrecy::SecretString;
use sqlx::Connection as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;
use tonic::{Request, Status};

/// The password every helper-created user gets unless a test says otherwise.
/// It carries [`crate::log_capture::PASSWORD_MARKER`], so the suite's log
/// scanner recognises it (and its upper-case form) in any log line.
pub const PASSWORD: &str = "correct horse battery staple pwmark7q";

/// Runs the named `async fn name(backend: Backend)` tests once per database.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// Which database a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The PostgreSQL server tests create their databases on.
pub fn postgres_admin_url() -> String {
    std::env::var("AUTHD_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

/// A fresh, empty database, removed when dropped.
#[derive(Debug)]
pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    pg_name: Option<String>,
}

impl TestDb {
    pub async fn new(backend: Backend) -> Self {
        crate::log_capture::install();
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let url = format!("sqlite://{}", dir.path().join("authd.db").display());
                Self {
                    url,
                    _dir: Some(dir),
                    pg_name: None,
                }
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .unwrap_or_else(|e| {
                        panic!(
                            "PostgreSQL is not reachable at {admin}: {e}\n\
                         The suite needs a real PostgreSQL. Start one (on Debian: \
                         `pg_ctlcluster 15 main start`) or point AUTHD_TEST_DATABASE_URL \
                         at a server where this user may CREATE DATABASE."
                        )
                    });
                let name = format!("authd_test_{}", uuid::Uuid::new_v4().simple());
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE \"{name}\"")))
                    .execute(&mut conn)
                    .await
                    .expect("CREATE DATABASE");
                conn.close().await.ok();
                let url = replace_database(&admin, &name);
                Self {
                    url,
                    _dir: None,
                    pg_name: Some(name),
                }
            }
        }
    }
}

impl TestDb {
    /// Another handle on an existing database (a second replica's view),
    /// which does not drop it.
    pub fn attach(url: &str) -> Self {
        Self {
            url: url.to_owned(),
            _dir: None,
            pg_name: None,
        }
    }
}

/// `admin` with its database name replaced by `name`.
fn replace_database(admin: &str, name: &str) -> String {
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some(name) = self.pg_name.take() else {
            return;
        };
        let admin = postgres_admin_url();
        // Drop runs outside any runtime we may block; use a thread of our own.
        let _ = std::thread::spawn(move || {
            let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            rt.block_on(async {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&admin).await {
                    let _ = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"
                    )))
                    .execute(&mut conn)
                    .await;
                }
            });
        })
        .join();
    }
}

/// A configuration for tests: the given database, a free loopback port.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config::default();
    config.server.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    config.admin.store.database_url = db.url.parse().expect("a test database URL");
    config.server.http_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    // Hashing runs at the lowest priority; on a busy CI machine a login
    // may take seconds. Tests of the timeout set their own.
    config.server.request_timeout = std::time::Duration::from_secs(120);
    config
}

/// A running authd and a client connected to it.
pub struct TestApp {
    pub client: AuthServiceClient<Channel>,
    pub channel: Channel,
    pub core: AuthCore,
    /// The HTTP listener's address (JWKS, health, metrics), unless turned off.
    pub http_addr: Option<SocketAddr>,
    /// The key manager, to rotate and reload keys at chosen times.
    pub keys: KeyManager,
    /// Kept so the database outlives the server.
    db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<authd::Result<()>>>,
}

/// Starts authd on `backend` with the default test configuration.
pub async fn spawn_app(backend: Backend) -> TestApp {
    TestApp::builder(backend).spawn().await
}

/// How a test's authd is started: the one way in, so every test server is
/// built the same (log scanning, port 0, the test configuration). Start it
/// with [`TestApp::builder`] or [`TestApp::builder_on`].
pub struct TestAppBuilder<'a> {
    db: Database,
    clock: Clock,
    customize: Vec<Customize<'a>>,
    endpoint: Box<dyn FnOnce(SocketAddr) -> tonic::transport::Endpoint + 'a>,
}

/// One adjustment of the test configuration.
type Customize<'a> = Box<dyn FnOnce(&mut Config) + 'a>;

/// Where a test server's database comes from.
enum Database {
    Fresh(Backend),
    Given(TestDb),
}

impl TestApp {
    /// A test authd on a fresh database of `backend`.
    pub fn builder<'a>(backend: Backend) -> TestAppBuilder<'a> {
        TestAppBuilder::new(Database::Fresh(backend))
    }

    /// A test authd on an existing database (a second replica's view, or
    /// one a test prepared).
    pub fn builder_on<'a>(db: TestDb) -> TestAppBuilder<'a> {
        TestAppBuilder::new(Database::Given(db))
    }
}

impl<'a> TestAppBuilder<'a> {
    fn new(db: Database) -> Self {
        Self {
            db,
            clock: Clock::system(),
            customize: Vec::new(),
            endpoint: Box::new(|addr| {
                Channel::from_shared(format!("http://{addr}")).expect("a valid URI")
            }),
        }
    }

    /// Adjusts the test configuration before the server is built.
    #[must_use]
    pub fn config(mut self, customize: impl FnOnce(&mut Config) + 'a) -> Self {
        self.customize.push(Box::new(customize));
        self
    }

    /// Every part of the server reads time from `clock`, which stands still
    /// until the test advances it.
    #[must_use]
    pub fn clock(mut self, clock: &ManualClock) -> Self {
        self.clock = clock.clock();
        self
    }

    /// The test client connects through `endpoint` (for example over TLS).
    #[must_use]
    pub fn endpoint(
        mut self,
        endpoint: impl FnOnce(SocketAddr) -> tonic::transport::Endpoint + 'a,
    ) -> Self {
        self.endpoint = Box::new(endpoint);
        self
    }

    /// Builds, starts and connects to the server.
    pub async fn spawn(self) -> TestApp {
        self.spawn_with_addr().await.0
    }

    /// [`Self::spawn`], also returning the gRPC address for further clients.
    pub async fn spawn_with_addr(self) -> (TestApp, SocketAddr) {
        crate::log_capture::install();
        let db = match self.db {
            Database::Fresh(backend) => TestDb::new(backend).await,
            Database::Given(db) => db,
        };
        let mut config = test_config(&db);
        for customize in self.customize {
            customize(&mut config);
        }
        let app = App::build_with_clock(config, self.clock)
            .await
            .expect("authd builds");
        let addr = app.local_addr();
        let core = app.core().clone();
        let http_addr = app.http_addr();
        let keys = app.key_manager().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        // The listener is already bound, so connecting needs no retry or sleep.
        let channel = (self.endpoint)(addr)
            .connect()
            .await
            .expect("connect to authd");
        let app = TestApp {
            client: AuthServiceClient::new(channel.clone()),
            channel,
            core,
            http_addr,
            keys,
            db,
            shutdown: Some(tx),
            server: Some(server),
        };
        (app, addr)
    }
}

impl TestApp {
    /// The URL of this app's database, for a second process or replica.
    pub fn database_url(&self) -> &str {
        &self.db.url
    }

    /// Starts another authd on this app's database: a second replica. It
    /// must not outlive `self`, which owns the database.
    pub async fn spawn_replica(&self, customize: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::builder_on(TestDb::attach(&self.db.url))
            .config(customize)
            .spawn()
            .await
    }

    /// Creates a user directly through the account service.
    pub async fn create_user(&self, username: &str, roles: &[&str]) -> User {
        self.create_user_with(username, None, roles, PASSWORD).await
    }

    pub async fn create_user_with(
        &self,
        username: &str,
        email: Option<&str>,
        roles: &[&str],
        password: &str,
    ) -> User {
        self.core
            .accounts()
            .create_user(
                NewAccount {
                    username: username.to_owned(),
                    email: email.map(str::to_owned),
                    roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                    password: SecretString::from(password.to_owned()),
                },
                now_unix(),
            )
            .await
            .expect("create user")
    }

    pub async fn login(&self, username: &str, password: &str) -> Result<pb::LoginResponse, Status> {
        self.client
            .clone()
            .login(pb::LoginRequest {
                username: username.to_owned(),
                password: password.to_owned(),
            })
            .await
            .map(tonic::Response::into_inner)
    }

    /// Logs in with [`PASSWORD`] and returns the access token.
    pub async fn token_for(&self, username: &str) -> String {
        self.login(username, PASSWORD)
            .await
            .expect("login succeeds")
            .access_token
    }

    /// Logs `username` in and returns the new session's id.
    pub async fn session_of(&self, username: &str) -> String {
        self.login(username, PASSWORD)
            .await
            .expect("login succeeds")
            .session_id
    }

    pub async fn verify(&self, token: &str) -> pb::VerifyResponse {
        self.client
            .clone()
            .verify(pb::VerifyRequest {
                token: token.to_owned(),
            })
            .await
            .expect("Verify answers invalid tokens without an error status")
            .into_inner()
    }

    pub async fn get_user(
        &self,
        authorization: Option<&str>,
        selector: Option<pb::get_user_request::Selector>,
    ) -> Result<pb::User, Status> {
        let mut request = Request::new(pb::GetUserRequest { selector });
        if let Some(value) = authorization {
            request
                .metadata_mut()
                .insert("authorization", value.parse().expect("ascii metadata"));
        }
        self.client
            .clone()
            .get_user(request)
            .await
            .map(|r| r.into_inner().user.expect("a user"))
    }

    /// Waits (at most 10 s) until the change feed is live and the state
    /// cache trusted, so what follows sees the steady state.
    pub async fn wait_for_feed(&self) {
        assert!(
            self.core
                .cache()
                .wait_until_trusted(std::time::Duration::from_secs(10))
                .await,
            "the change feed did not come up within 10 s"
        );
    }

    /// Signals shutdown without waiting.
    pub fn begin_shutdown(&mut self) -> JoinHandle<authd::Result<()>> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        self.server.take().expect("server still running")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            server.abort();
        }
        // Every test's traffic is scanned for secrets (see `log_capture`);
        // a leak anywhere fails every app dropped after it.
        if !std::thread::panicking() {
            crate::log_capture::assert_no_leaks();
        }
    }
}

/// authd as its own OS process (the real binary), killed by PID when dropped.
pub struct AuthdProcess {
    pub child: std::process::Child,
    pub addr: SocketAddr,
    pub client: AuthServiceClient<Channel>,
}

impl Drop for AuthdProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl AuthdProcess {
    /// Starts `authd serve` on a free loopback port against `database_url`,
    /// with the HTTP listener off and `extra` arguments, and connects to it.
    pub async fn spawn(database_url: &str, extra: &[&str]) -> Self {
        use std::io::BufRead as _;
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_authd"))
            .args(["serve", "--listen", "127.0.0.1:0", "--log-format", "json"])
            .args(["--http-listen", "off"])
            .args(extra)
            .env("AUTHD_DATABASE_URL", database_url)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("start authd");
        let stderr = child.stderr.take().expect("stderr");
        // The server logs its bound address once it listens.
        let addr = tokio::task::spawn_blocking(move || {
            let mut lines = std::io::BufReader::new(stderr).lines();
            let addr = lines.by_ref().map_while(Result::ok).find_map(|line| {
                let entry: serde_json::Value = serde_json::from_str(&line).ok()?;
                (entry["fields"]["message"] == "authd serving gRPC")
                    .then(|| entry["fields"]["addr"].as_str().map(str::to_owned))
                    .flatten()
            });
            // Keep draining so the child never blocks on a full pipe.
            std::thread::spawn(move || lines.for_each(drop));
            addr
        })
        .await
        .expect("reader")
        .expect("authd reported its address");
        let addr: SocketAddr = addr.parse().expect("a socket address");
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("uri")
            .connect()
            .await
            .expect("connect to the authd process");
        Self {
            child,
            addr,
            client: AuthServiceClient::new(channel),
        }
    }

    /// A fresh connection (its own HTTP/2 connection, not a clone).
    pub async fn connect(&self) -> AuthServiceClient<Channel> {
        let channel = Channel::from_shared(format!("http://{}", self.addr))
            .expect("uri")
            .connect()
            .await
            .expect("connect to the authd process");
        AuthServiceClient::new(channel)
    }

    /// Resident memory now and at its peak, in KiB (`/proc/PID/status`).
    pub fn memory_kib(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("read /proc/PID/status");
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("{name} in /proc/PID/status"))
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

/// Asserts a status code and returns the status for further checks.
#[track_caller]
pub fn assert_code<T: std::fmt::Debug>(result: Result<T, Status>, code: tonic::Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got Ok({value:?})"),
        Err(status) => {
            assert_eq!(status.code(), code, "unexpected status: {status:?}");
            status
        }
    }
}

/// `message` with the metadata `authorization: Bearer <token>`.
pub fn with_bearer<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request.metadata_mut().insert(
        "authorization",
        format!("Bearer {token}").parse().expect("ascii"),
    );
    request
}

/// Sends one reflection (v1) request over `channel` and returns the answer.
pub async fn reflect(
    channel: &Channel,
    request: tonic_reflection::pb::v1::server_reflection_request::MessageRequest,
) -> tonic_reflection::pb::v1::server_reflection_response::MessageResponse {
    use tokio_stream::StreamExt as _;
    use tonic_reflection::pb::v1::ServerReflectionRequest;
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    let mut client = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("v1 reflection")
        .into_inner();
    let response = stream.next().await.expect("a response").expect("ok");
    response.message_response.expect("an answer")
}

/// The services reflection v1 lists on `channel`.
pub async fn list_services(channel: &Channel) -> Vec<String> {
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    match reflect(channel, MessageRequest::ListServices(String::new())).await {
        MessageResponse::ListServicesResponse(list) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

/// The services the older reflection protocol (v1alpha) lists on `channel`.
pub async fn list_services_v1alpha(channel: &Channel) -> Vec<String> {
    use tokio_stream::StreamExt as _;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;
    let mut client = ServerReflectionClient::new(channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = client
        .server_reflection_info(tokio_stream::once(request))
        .await
        .expect("v1alpha reflection")
        .into_inner();
    let response = stream.next().await.expect("a response").expect("ok");
    match response.message_response {
        Some(MessageResponse::ListServicesResponse(list)) => {
            list.service.into_iter().map(|s| s.name).collect()
        }
        other => panic!("unexpected reflection answer {other:?}"),
    }
}

/// Runs `tests/interop/<script>` with `args` and `input` on standard input,
/// with the Python interpreter (`AUTHD_TEST_PYTHON` overrides `python3`).
/// `packages` names what `pip install` needs, for the message when it is
/// missing (`.ci/run` installs it).
pub fn run_python(
    script: &str,
    args: &[&str],
    input: &str,
    packages: &str,
) -> std::process::Output {
    use std::io::Write as _;
    use std::process::{Command, Stdio};
    let python = std::env::var("AUTHD_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let path = format!("{}/tests/interop/{script}", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(&python)
        .arg(&path)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run {python}: {e}. This test needs Python 3 with {packages}: \
                 run the suite with `bash tests/run`, which installs {packages} into its own virtual environment"
            )
        });
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write to the check");
    let out = child.wait_with_output().expect("python finishes");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("ModuleNotFoundError"),
        "{packages} missing: run the suite with `bash tests/run`, which installs {packages} into its own virtual environment\n{stderr}"
    );
    out
}

/// [`run_python`], which must succeed; returns the JSON it prints.
/// `refused` says what a failure of the script means.
pub fn run_python_check(
    script: &str,
    args: &[&str],
    input: &str,
    packages: &str,
    refused: &str,
) -> serde_json::Value {
    let out = run_python(script, args, input, packages);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{refused}:\n{stderr}\n{input}");
    serde_json::from_slice(&out.stdout).expect("JSON from the check")
}

/// The real `authd` binary, with no `AUTHD_*` variable inherited from the
/// environment the tests run in.
pub fn authd_command() -> std::process::Command {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_authd"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTHD_") {
            command.env_remove(key);
        }
    }
    command
}
