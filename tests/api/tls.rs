//! Transport security: TLS on the gRPC and HTTP listeners, mutual TLS with
//! the `--admin-clients` allow-list, and the refusal of plaintext on a
//! non-loopback address.
//!
//! Certificates are made per test with the `openssl` command line (a CA, a
//! server certificate for `localhost`/127.0.0.1, client certificates), so
//! no crypto crate beyond aws-lc-rs enters the build.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use authd::config::{Sources, TlsArgs};
use authd::grpc::pb;
use authd::grpc::pb::admin_service_client::AdminServiceClient;
use authd::grpc::pb::auth_service_client::AuthServiceClient;
use authd::tls::{ClientIdentity, TlsSettings};
use authd::{Config, Error};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tonic::Code;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::helpers::{Backend, PASSWORD, TestApp, assert_code, with_bearer};

on_both_backends!(login_and_verify_work_over_tls);

/// The identities on the allow-list of the mutual-TLS tests.
const ADMIN_DNS: &str = "admin.authd.test";
const ADMIN_SPIFFE: &str = "spiffe://authd.test/ns/ops/sa/admin";

/// Bounds every connection attempt that is expected to fail.
const ATTEMPT: Duration = Duration::from_secs(10);

/// A scratch PKI made with the openssl CLI: CAs, server and client
/// certificates (also used by `healthcheck`).
pub(crate) struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// A CA `ca` and a server certificate `server` for localhost and 127.0.0.1.
    pub(crate) fn new() -> Self {
        let pki = Self {
            dir: tempfile::tempdir().expect("a scratch directory"),
        };
        pki.ca("ca");
        pki.leaf(
            "ca",
            "server",
            "localhost",
            "DNS:localhost,IP:127.0.0.1",
            "serverAuth",
        );
        pki
    }

    pub(crate) fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn read(&self, file: &str) -> Vec<u8> {
        std::fs::read(self.path(file)).expect("a PKI file")
    }

    fn openssl(&self, args: &[&str]) {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path())
            .output()
            .expect("run openssl (the TLS tests make their certificates with the openssl CLI)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// A self-signed P-256 CA in `NAME.pem` / `NAME.key`.
    pub(crate) fn ca(&self, name: &str) {
        self.openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &format!("/CN=authd test {name}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    /// A P-256 leaf `NAME.pem` / `NAME.key` signed by `ca`, with common
    /// name `cn`, subject alternative names `sans` (openssl syntax) and
    /// extended key usage `usage`.
    pub(crate) fn leaf(&self, ca: &str, name: &str, cn: &str, sans: &str, usage: &str) {
        self.openssl(&[
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ]);
        let ext = format!(
            "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\n\
             extendedKeyUsage={usage}\nsubjectAltName={sans}\n"
        );
        std::fs::write(self.path(&format!("{name}.ext")), ext).expect("write extensions");
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}.key"),
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    /// A client certificate `name` signed by `ca`.
    fn client(&self, ca: &str, name: &str, cn: &str, sans: &str) {
        self.leaf(ca, name, cn, sans, "clientAuth");
    }

    /// The server's TLS settings, with `ca.pem` as client CA if `mutual`.
    pub(crate) fn server_settings(&self, mutual: bool) -> TlsArgs {
        TlsArgs {
            tls_cert: Some(self.path("server.pem")),
            tls_key: Some(self.path("server.key")),
            tls_client_ca: mutual.then(|| self.path("ca.pem")),
            ..TlsArgs::default()
        }
    }

    /// A gRPC endpoint trusting `ca.pem` for `localhost`, presenting the
    /// client certificate `client` if given.
    pub(crate) fn endpoint(&self, addr: SocketAddr, client: Option<&str>) -> Endpoint {
        let mut tls = ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(self.read("ca.pem")))
            .domain_name("localhost");
        if let Some(name) = client {
            tls = tls.identity(Identity::from_pem(
                self.read(&format!("{name}.pem")),
                self.read(&format!("{name}.key")),
            ));
        }
        Channel::from_shared(format!("https://{addr}"))
            .expect("a valid URI")
            .connect_timeout(ATTEMPT)
            .tls_config(tls)
            .expect("client TLS settings")
    }

    /// A connected client presenting `client` (or no certificate).
    async fn client_for(
        &self,
        addr: SocketAddr,
        client: Option<&str>,
    ) -> AuthServiceClient<Channel> {
        AuthServiceClient::new(
            self.endpoint(addr, client)
                .connect()
                .await
                .expect("a TLS connection"),
        )
    }

    /// A raw TLS connection to `addr` (as `localhost`, trusting `ca.pem`)
    /// offering `alpn`, without a client certificate.
    pub(crate) async fn connect_raw(
        &self,
        addr: SocketAddr,
        alpn: &[u8],
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let mut roots = rustls::RootCertStore::empty();
        for cert in CertificateDer::pem_slice_iter(&self.read("ca.pem")) {
            roots
                .add(cert.expect("a CA certificate"))
                .expect("a trust anchor");
        }
        let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
        let tcp = TcpStream::connect(addr).await?;
        let server_name = ServerName::try_from("localhost").expect("a DNS name");
        connector.connect(server_name, tcp).await
    }
}

async fn login(
    client: &AuthServiceClient<Channel>,
    username: &str,
) -> Result<pb::LoginResponse, tonic::Status> {
    client
        .clone()
        .login(pb::LoginRequest {
            username: username.to_owned(),
            password: PASSWORD.to_owned(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn get_user(
    client: &AuthServiceClient<Channel>,
    token: &str,
    username: &str,
) -> Result<pb::GetUserResponse, tonic::Status> {
    let selector = Some(pb::get_user_request::Selector::Username(
        username.to_owned(),
    ));
    client
        .clone()
        .get_user(with_bearer(pb::GetUserRequest { selector }, token))
        .await
        .map(tonic::Response::into_inner)
}

async fn revoke(
    client: &AuthServiceClient<Channel>,
    token: &str,
    username: &str,
) -> Result<pb::RevokeSessionsResponse, tonic::Status> {
    client
        .clone()
        .revoke_sessions(with_bearer(
            pb::RevokeSessionsRequest {
                user: Some(pb::revoke_sessions_request::User::Username(
                    username.to_owned(),
                )),
            },
            token,
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn login_and_verify_work_over_tls(backend: Backend) {
    let pki = Pki::new();
    let (app, _) = TestApp::builder(backend)
        .config(|c| c.tls = pki.server_settings(false))
        .endpoint(|addr| pki.endpoint(addr, None))
        .spawn_with_addr()
        .await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    let verified = app.verify(&token).await;
    assert!(verified.valid, "{verified:?}");
    assert_eq!(verified.user.expect("the user").username, "alice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_plaintext_client_cannot_talk_to_a_tls_server() {
    let pki = Pki::new();
    let (app, addr) = TestApp::builder(Backend::Sqlite)
        .config(|c| c.tls = pki.server_settings(false))
        .endpoint(|addr| pki.endpoint(addr, None))
        .spawn_with_addr()
        .await;
    app.create_user("alice", &[]).await;
    let attempt = async {
        let channel = Channel::from_shared(format!("http://{addr}"))
            .expect("a valid URI")
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        AuthServiceClient::new(channel)
            .verify(pb::VerifyRequest {
                token: "x.y.z".into(),
            })
            .await
            .map(|_| ())
            .map_err(|status| status.to_string())
    };
    let outcome = tokio::time::timeout(ATTEMPT, attempt)
        .await
        .expect("the server answers plaintext promptly");
    assert!(outcome.is_err(), "plaintext got an answer: {outcome:?}");
    // The TLS client on the same server still works.
    assert!(app.login("alice", PASSWORD).await.is_ok());
}

/// `GET path` over HTTPS trusting `ca.pem`: a minimal HTTP/1.1 client.
async fn https_get(pki: &Pki, addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = pki.connect_raw(addr, b"http/1.1").await?;
    stream
        .write_all(
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                .as_bytes(),
        )
        .await?;
    let mut raw = Vec::new();
    if let Err(e) = stream.read_to_end(&mut raw).await {
        // A server that closes without close_notify after a complete response is fine here.
        if e.kind() != std::io::ErrorKind::UnexpectedEof || raw.is_empty() {
            return Err(e);
        }
    }
    let text = String::from_utf8(raw).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("a header block");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    Ok((status, body.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwks_is_served_over_https_and_plaintext_http_gets_no_answer() {
    let pki = Pki::new();
    let (app, _) = TestApp::builder(Backend::Sqlite)
        .config(|c| c.tls = pki.server_settings(false))
        .endpoint(|addr| pki.endpoint(addr, None))
        .spawn_with_addr()
        .await;
    let http = app.http_addr.expect("the HTTP listener is on");
    let (status, body) = https_get(&pki, http, "/.well-known/jwks.json")
        .await
        .expect("HTTPS GET");
    assert_eq!(status, 200, "{body}");
    let jwks: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        jwks["keys"][0]["kid"],
        app.core.tokens().keys().signing().unwrap().kid.as_str()
    );
    // Discovery names the JWKS under https, as the client reached it.
    let (status, body) = https_get(&pki, http, "/.well-known/openid-configuration")
        .await
        .expect("HTTPS GET");
    assert_eq!(status, 200, "{body}");
    let doc: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert!(
        doc["jwks_uri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("https://")),
        "{doc}"
    );

    // Plaintext HTTP to the TLS listener: the handshake fails and the
    // connection closes without an HTTP answer.
    let plaintext = async {
        let mut stream = TcpStream::connect(http).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await?;
        let mut raw = Vec::new();
        let _ = stream.read_to_end(&mut raw).await;
        Ok::<_, std::io::Error>(raw)
    };
    let raw = tokio::time::timeout(ATTEMPT, plaintext)
        .await
        .expect("the server closes promptly")
        .expect("connect");
    assert!(
        !String::from_utf8_lossy(&raw).contains("HTTP/1.1 200"),
        "plaintext HTTP was answered: {}",
        String::from_utf8_lossy(&raw)
    );
}

/// A mutual-TLS app whose allow-list names [`ADMIN_DNS`] and
/// [`ADMIN_SPIFFE`], with client certificates `admin-dns`, `admin-spiffe`,
/// `intruder` (same CA, not listed) and `stranger` (listed name, unknown
/// CA); `root` (admin role) and `bob` exist.
async fn mutual_tls_app(pki: &Pki) -> (TestApp, SocketAddr) {
    pki.client("ca", "admin-dns", "ops", &format!("DNS:{ADMIN_DNS}"));
    pki.client("ca", "admin-spiffe", "ops", &format!("URI:{ADMIN_SPIFFE}"));
    pki.client("ca", "intruder", "intruder", "DNS:intruder.authd.test");
    pki.ca("other-ca");
    pki.client("other-ca", "stranger", "ops", &format!("DNS:{ADMIN_DNS}"));
    let allowed: Vec<ClientIdentity> = [format!("dns:{ADMIN_DNS}"), format!("uri:{ADMIN_SPIFFE}")]
        .iter()
        .map(|id| id.parse().expect("an identity"))
        .collect();
    let (app, addr) = TestApp::builder(Backend::Sqlite)
        .config(|c| {
            c.tls = pki.server_settings(true);
            c.tls.admin_clients = allowed;
        })
        .endpoint(|addr| pki.endpoint(addr, None))
        .spawn_with_addr()
        .await;
    app.create_user("root", &["admin"]).await;
    app.create_user("bob", &[]).await;
    (app, addr)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_user_and_revoke_sessions_with_an_allowed_client_certificate_succeed() {
    let pki = Pki::new();
    let (app, addr) = mutual_tls_app(&pki).await;
    for cert in ["admin-dns", "admin-spiffe"] {
        let client = pki.client_for(addr, Some(cert)).await;
        let root = login(&client, "root").await.expect("login").access_token;
        login(&client, "bob").await.expect("bob logs in");
        let me = get_user(&client, &root, "bob").await.expect("GetUser");
        assert_eq!(me.user.expect("a user").username, "bob", "{cert}");
        let ended = revoke(&client, &root, "bob").await.expect("RevokeSessions");
        assert!(ended.ended >= 1, "{cert}: {ended:?}");
    }
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_calls_without_an_allowed_client_certificate_are_permission_denied() {
    let pki = Pki::new();
    let (app, addr) = mutual_tls_app(&pki).await;
    let bob = app.token_for("bob").await;
    for cert in [None, Some("intruder")] {
        let client = pki.client_for(addr, cert).await;
        // Login and Verify need no certificate and no allow-list entry.
        let root = login(&client, "root").await.expect("login").access_token;
        let verified = client
            .clone()
            .verify(pb::VerifyRequest {
                token: root.clone(),
            })
            .await
            .expect("Verify")
            .into_inner();
        assert!(verified.valid);

        let status = assert_code(
            get_user(&client, &root, "root").await,
            Code::PermissionDenied,
        );
        assert!(
            status.message().contains("--admin-clients")
                && status.message().contains("client certificate"),
            "{cert:?}: {}",
            status.message()
        );
        let status = assert_code(revoke(&client, &root, "bob").await, Code::PermissionDenied);
        assert!(
            status.message().contains("RevokeSessions"),
            "{}",
            status.message()
        );
        if cert.is_some() {
            assert!(
                status.message().contains("dns:intruder.authd.test"),
                "the message names the identity presented: {}",
                status.message()
            );
        }
    }
    // The refused calls revoked nothing.
    assert!(app.verify(&bob).await.valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_service_needs_an_allowed_client_certificate_too() {
    let pki = Pki::new();
    let (app, addr) = mutual_tls_app(&pki).await;
    for cert in [None, Some("intruder"), Some("admin-dns")] {
        let channel = pki
            .endpoint(addr, cert)
            .connect()
            .await
            .expect("a TLS connection");
        let root = login(&AuthServiceClient::new(channel.clone()), "root")
            .await
            .expect("login")
            .access_token;
        let listed = AdminServiceClient::new(channel)
            .list_users(with_bearer(pb::ListUsersRequest::default(), &root))
            .await;
        if cert == Some("admin-dns") {
            let users = listed
                .expect("ListUsers with an allowed certificate")
                .into_inner();
            assert!(users.users.iter().any(|u| u.username == "bob"), "{users:?}");
        } else {
            let status = assert_code(listed, Code::PermissionDenied);
            assert!(
                status.message().contains("ListUsers")
                    && status.message().contains("client certificate"),
                "{cert:?}: {}",
                status.message()
            );
        }
    }
    drop(app);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_from_an_unknown_ca_is_rejected_at_the_handshake() {
    let pki = Pki::new();
    let (_app, addr) = mutual_tls_app(&pki).await;
    // The certificate names an allowed identity, but no trusted CA signed it.
    let attempt = async {
        let channel = pki
            .endpoint(addr, Some("stranger"))
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        login(&AuthServiceClient::new(channel), "root")
            .await
            .map(|_| ())
            .map_err(|status| status.to_string())
    };
    let outcome = tokio::time::timeout(ATTEMPT, attempt)
        .await
        .expect("the handshake fails promptly");
    assert!(
        outcome.is_err(),
        "an unknown CA's certificate got in: {outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_allow_list_get_user_needs_no_client_certificate() {
    let pki = Pki::new();
    let (app, addr) = TestApp::builder(Backend::Sqlite)
        .config(|c| c.tls = pki.server_settings(true))
        .endpoint(|addr| pki.endpoint(addr, None))
        .spawn_with_addr()
        .await;
    app.create_user("alice", &[]).await;
    let client = pki.client_for(addr, None).await;
    let token = login(&client, "alice").await.expect("login").access_token;
    assert!(get_user(&client, &token, "alice").await.is_ok());
}

fn load(config: &Config) -> Result<Config, Error> {
    config.check(&Sources::default()).map(|()| config.clone())
}

/// The configuration `authd ARGS` would serve with (config file included).
fn load_argv(flags: &[&str]) -> Result<Config, Error> {
    match authd::cli::parse_from(std::iter::once("authd").chain(flags.iter().copied())) {
        Ok((cli, sources)) => cli.config.check(&sources).map(|()| cli.config),
        Err(authd::cli::ParseFailure::Config(e)) => Err(e),
        Err(authd::cli::ParseFailure::Clap(e)) => panic!("{e}"),
    }
}

fn tls_args(cert: &Path, key: &Path) -> Config {
    let mut config = Config::default();
    config.tls.tls_cert = Some(cert.to_owned());
    config.tls.tls_key = Some(key.to_owned());
    config
}

#[track_caller]
fn assert_names(result: Result<Config, Error>, flag: &str, env: &str) -> String {
    let message = result.expect_err("a configuration error").to_string();
    assert!(message.contains(flag), "{message}");
    assert!(message.contains(env), "{message}");
    message
}

#[test]
fn tls_files_that_are_missing_unparsable_or_mismatched_stop_start_up_naming_the_flag() {
    let pki = Pki::new();
    pki.client("ca", "other", "other", "DNS:other.authd.test");
    std::fs::write(pki.path("junk.pem"), "not pem at all\n").expect("write");

    let config = load(&tls_args(&pki.path("server.pem"), &pki.path("server.key"))).expect("valid");
    assert!(
        TlsSettings::from_args(&config.tls)
            .expect("valid")
            .is_some()
    );

    let missing = pki.path("missing.pem");
    assert_names(
        load(&tls_args(&missing, &pki.path("server.key"))),
        "--tls-cert",
        "AUTHD_TLS_CERT",
    );
    assert_names(
        load(&tls_args(&pki.path("server.pem"), &missing)),
        "--tls-key",
        "AUTHD_TLS_KEY",
    );
    // A key where the certificate should be, and junk where the key should be.
    assert_names(
        load(&tls_args(&pki.path("server.key"), &pki.path("server.key"))),
        "--tls-cert",
        "AUTHD_TLS_CERT",
    );
    assert_names(
        load(&tls_args(&pki.path("server.pem"), &pki.path("junk.pem"))),
        "--tls-key",
        "AUTHD_TLS_KEY",
    );
    // Another certificate's key.
    let message = assert_names(
        load(&tls_args(&pki.path("server.pem"), &pki.path("other.key"))),
        "--tls-key",
        "AUTHD_TLS_KEY",
    );
    assert!(message.contains("belongs to"), "{message}");
    // One without the other.
    assert_names(
        load(&{
            let mut config = Config::default();
            config.tls.tls_cert = Some(pki.path("server.pem"));
            config
        }),
        "--tls-key",
        "AUTHD_TLS_KEY",
    );
    assert_names(
        load(&{
            let mut config = tls_args(&pki.path("server.pem"), &pki.path("server.key"));
            config.tls.tls_client_ca = Some(pki.path("junk.pem"));
            config
        }),
        "--tls-client-ca",
        "AUTHD_TLS_CLIENT_CA",
    );
    // The key never shows in Debug output.
    let key = String::from_utf8(pki.read("server.key")).expect("PEM text");
    let body = key.lines().nth(1).expect("a base64 line");
    assert!(!format!("{:?}", TlsSettings::from_args(&config.tls)).contains(body));
}

#[test]
fn tls_and_the_allow_list_can_be_set_in_the_config_file() {
    let pki = Pki::new();
    let file = pki.path("authd.toml");
    std::fs::write(
        &file,
        format!(
            "listen = \"0.0.0.0:50051\"\ntls_cert = {:?}\ntls_key = {:?}\ntls_client_ca = {:?}\n\
             admin_clients = [\"dns:{ADMIN_DNS}\", \"uri:{ADMIN_SPIFFE}\"]\n",
            pki.path("server.pem"),
            pki.path("server.key"),
            pki.path("ca.pem"),
        ),
    )
    .expect("write the config file");
    let config = load_argv(&["--config", file.to_str().expect("a UTF-8 path")])
        .expect("TLS makes a non-loopback address acceptable");
    let tls = TlsSettings::from_args(&config.tls)
        .expect("valid")
        .expect("TLS on");
    assert!(tls.verifies_clients());
    assert_eq!(config.tls.admin_clients.len(), 2);
}

/// Runs `authd serve` on a fresh SQLite file with the given environment
/// (only for configurations refused before anything is bound).
fn authd_serve(env: &[(&str, &str)]) -> std::process::Output {
    let dir = tempfile::tempdir().expect("scratch dir");
    let mut command = crate::helpers::authd_command();
    command
        .arg("serve")
        .env("AUTHD_DATABASE_URL", "sqlite://authd.db")
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .output()
        .expect("run authd")
}

#[test]
fn a_non_loopback_address_without_tls_is_refused_unless_plaintext_is_allowed() {
    // Refused while the configuration is checked, before anything is bound.
    let refused = authd_serve(&[("AUTHD_LISTEN", "0.0.0.0:50051")]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    for needed in [
        "0.0.0.0:50051",
        "--tls-cert",
        "--allow-plaintext",
        "AUTHD_ALLOW_PLAINTEXT",
    ] {
        assert!(err.contains(needed), "{needed} missing from: {err}");
    }
    assert!(err.lines().count() == 1, "{err}");
    // Allowed, the server would bind every interface, so it is checked in process.
    let allowed =
        load_argv(&["--listen", "0.0.0.0:50051", "--allow-plaintext"]).expect("plaintext allowed");
    assert!(allowed.tls.allow_plaintext);
}
