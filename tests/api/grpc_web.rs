//! gRPC-Web on the gRPC port: a real npm client (Connect's gRPC-Web
//! transport, `tests/grpc-web/client.mjs`) logs in, verifies and reads its
//! user over HTTP/1.1 and HTTP/2, plaintext and TLS; the CORS answers a browser relies on
//! (preflights from an allowed and a refused origin, raw HTTP/1.1); an
//! oversized gRPC-Web request; and the `*` origin refused at start-up.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

use authd::grpc::web::Origin;

use crate::helpers::{Backend, PASSWORD, TestApp};

/// The origin the tests allow (a front end's dev server).
const ALLOWED: &str = "http://localhost:5173";
/// The bound on one client run or raw exchange.
const BOUND: Duration = Duration::from_secs(60);

/// A test authd on SQLite allowing `origins` (comma-separated, or none).
async fn app_allowing(origins: &str) -> (TestApp, SocketAddr) {
    let origins: Vec<_> = origins
        .split(',')
        .filter(|o| !o.is_empty())
        .map(|o| o.parse::<Origin>().expect("a valid origin"))
        .collect();
    TestApp::builder(Backend::Sqlite)
        .config(move |c| c.grpc_web.grpc_web_allowed_origins = origins)
        .spawn_with_addr()
        .await
}

/// The Node project holding the client; `npm ci` there (which `bash
/// tests/run` does) installs it.
fn client_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/grpc-web")
}

/// Runs `client.mjs` against `addr` as `username` (password [`PASSWORD`])
/// with `extra` arguments; returns the JSON it prints.
async fn run_client(addr: SocketAddr, username: &str, extra: &[&str]) -> serde_json::Value {
    run_client_at(&format!("http://{addr}"), username, extra, None).await
}

/// [`run_client`] against `url`, trusting the CA in `ca_file` if given.
async fn run_client_at(
    url: &str,
    username: &str,
    extra: &[&str],
    ca_file: Option<PathBuf>,
) -> serde_json::Value {
    let dir = client_dir();
    assert!(
        dir.join("node_modules/@connectrpc/connect-node").is_dir(),
        "the gRPC-Web client's npm packages are not installed in {}: run the suite with \
         `bash tests/run` (it runs `npm ci` there), or `npm ci --prefix tests/grpc-web`; \
         it needs Node.js 20+ and npm (`apt-get install nodejs npm`)",
        dir.display()
    );
    let scratch = tempfile::tempdir().expect("scratch dir");
    let descriptors = scratch.path().join("auth_v1.binpb");
    std::fs::write(&descriptors, authd::grpc::pb::FILE_DESCRIPTOR_SET).expect("descriptor set");
    let mut command = std::process::Command::new("node");
    command
        .current_dir(&dir)
        .arg("client.mjs")
        .args(["--url", url, "--username", username])
        .arg("--descriptors")
        .arg(&descriptors)
        .args(extra)
        .env("AUTHD_TEST_PASSWORD", PASSWORD);
    if let Some(ca) = ca_file {
        command.env("NODE_EXTRA_CA_CERTS", ca);
    }
    let run = tokio::task::spawn_blocking(move || command.output());
    let out = tokio::time::timeout(BOUND, run)
        .await
        .expect("the client finishes within a minute")
        .expect("the client thread")
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `node`: {e}. The gRPC-Web test needs Node.js 20+ and npm \
                 (`apt-get install nodejs npm`, then `bash tests/run`)"
            )
        });
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "client.mjs failed:\n{stderr}");
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("client.mjs printed no JSON ({e}):\n{stderr}"))
}

/// Sends `request` (a whole HTTP/1.1 request with `Connection: close`) and
/// returns the status and the header lines, names in lower case.
async fn http1(addr: SocketAddr, request: &str) -> (u16, Vec<(String, String)>) {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connect");
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        raw
    };
    let raw = tokio::time::timeout(BOUND, exchange)
        .await
        .expect("an answer within a minute");
    let text = String::from_utf8_lossy(&raw);
    let head = text.split("\r\n\r\n").next().unwrap_or_default();
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {text:?}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers)
}

/// A browser's preflight for a gRPC-Web Login from `origin`.
fn preflight(origin: &str) -> String {
    format!(
        "OPTIONS /auth.v1.AuthService/GetUser HTTP/1.1\r\nHost: localhost\r\n\
         Origin: {origin}\r\nAccess-Control-Request-Method: POST\r\n\
         Access-Control-Request-Headers: authorization,content-type,x-grpc-web,x-user-agent,grpc-timeout\r\n\
         Connection: close\r\n\r\n"
    )
}

/// The value of header `name`, if present.
fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// The comma-separated list in header `name`, lower case.
fn list(headers: &[(String, String)], name: &str) -> Vec<String> {
    header(headers, name)
        .unwrap_or_default()
        .split(',')
        .map(|v| v.trim().to_ascii_lowercase())
        .filter(|v| !v.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_npm_grpc_web_client_logs_in_verifies_and_reads_its_user_over_http1() {
    let (app, addr) = app_allowing(ALLOWED).await;
    app.create_user("webby", &["reader"]).await;
    let answers = run_client(addr, "webby", &["--http", "1.1", "--origin", ALLOWED]).await;

    let login = &answers["login"];
    assert_eq!(login["ok"], true, "{answers}");
    assert_eq!(login["tokenType"], "Bearer", "{answers}");
    assert_eq!(login["hasAccessToken"], true, "{answers}");
    assert_eq!(login["hasRefreshToken"], true, "{answers}");
    assert!(login["expiresIn"].as_i64().unwrap() > 0, "{answers}");
    // The actual (not preflight) answer to an allowed origin: readable by
    // the page, with the status headers exposed.
    assert_eq!(login["allowOrigin"], ALLOWED, "{answers}");
    let exposed = login["exposeHeaders"]
        .as_str()
        .unwrap_or_default()
        .to_ascii_lowercase();
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        assert!(exposed.contains(name), "{name} not exposed: {answers}");
    }

    assert_eq!(answers["verify"]["valid"], true, "{answers}");
    assert_eq!(answers["verify"]["username"], "webby", "{answers}");
    assert_eq!(answers["getUser"]["username"], "webby", "{answers}");
    assert_eq!(answers["getUser"]["roles"][0], "reader", "{answers}");
    // Refusals travel as gRPC-Web statuses the client reads.
    assert_eq!(answers["getUserWithoutToken"]["ok"], false, "{answers}");
    assert_eq!(
        answers["getUserWithoutToken"]["codeName"], "Unauthenticated",
        "{answers}"
    );
    assert_eq!(
        answers["wrongPassword"]["codeName"], "Unauthenticated",
        "{answers}"
    );

    // The session it started is a real one.
    let session = answers["login"]["sessionId"].as_str().unwrap();
    assert!(!session.is_empty(), "{answers}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_allow_list_grpc_web_works_over_http2_with_no_cors_headers() {
    let (app, addr) = app_allowing("").await;
    app.create_user("h2web", &[]).await;
    let answers = run_client(addr, "h2web", &["--http", "2", "--origin", ALLOWED]).await;
    assert_eq!(answers["login"]["ok"], true, "{answers}");
    assert_eq!(answers["verify"]["valid"], true, "{answers}");
    assert_eq!(answers["getUser"]["username"], "h2web", "{answers}");
    // No allow-list: nothing tells a browser it may read the answer.
    assert!(answers["login"]["allowOrigin"].is_null(), "{answers}");
    assert!(answers["login"]["exposeHeaders"].is_null(), "{answers}");
    // Native gRPC on the same port is unchanged.
    assert!(app.login("h2web", PASSWORD).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_web_works_over_tls_on_http2_and_http1() {
    let pki = crate::tls::Pki::new();
    let (app, addr) = TestApp::builder(Backend::Sqlite)
        .config(|c| c.tls = pki.server_settings(false))
        .endpoint(|addr| pki.endpoint(addr, None))
        .spawn_with_addr()
        .await;
    app.create_user("tlsweb", &[]).await;
    let url = format!("https://localhost:{}", addr.port());
    for http in ["2", "1.1"] {
        let answers =
            run_client_at(&url, "tlsweb", &["--http", http], Some(pki.path("ca.pem"))).await;
        assert_eq!(answers["login"]["ok"], true, "HTTP/{http}: {answers}");
        assert_eq!(answers["verify"]["valid"], true, "HTTP/{http}: {answers}");
        assert_eq!(
            answers["getUser"]["username"], "tlsweb",
            "HTTP/{http}: {answers}"
        );
    }
    // Native gRPC over TLS on the same port is unchanged.
    assert!(app.login("tlsweb", PASSWORD).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_grpc_web_request_over_the_message_limit_is_refused_with_a_status() {
    let (app, addr) = app_allowing(ALLOWED).await;
    app.create_user("big", &[]).await;
    // The default limit is 64 KiB; this username alone is bigger. Over
    // HTTP/2: on HTTP/1.1 the server may answer and close before the client
    // has written the whole body, and the client then sees its own write
    // fail (EPIPE) instead of the status (seen once in CI).
    let answers = run_client(addr, "big", &["--oversized", "70000", "--http", "2"]).await;
    let oversized = &answers["oversized"];
    assert_eq!(oversized["ok"], false, "{answers}");
    assert!(
        ["ResourceExhausted", "OutOfRange"].contains(&oversized["codeName"].as_str().unwrap()),
        "{answers}"
    );
    assert!(
        oversized["message"].as_str().unwrap().contains("too large"),
        "{answers}"
    );
    // The server is unharmed and still answers both protocols.
    assert!(app.login("big", PASSWORD).await.is_ok());
    let again = run_client(addr, "big", &[]).await;
    assert_eq!(again["login"]["ok"], true, "{again}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_from_an_allowed_origin_allows_the_grpc_web_headers() {
    let (_app, addr) = app_allowing(&format!("https://app.example.com,{ALLOWED}")).await;
    let (status, headers) = http1(addr, &preflight(ALLOWED)).await;
    assert!((200..300).contains(&status), "{status} {headers:?}");
    assert_eq!(
        header(&headers, "access-control-allow-origin"),
        Some(ALLOWED),
        "{headers:?}"
    );
    let allowed = list(&headers, "access-control-allow-headers");
    for name in [
        "authorization",
        "content-type",
        "x-grpc-web",
        "x-user-agent",
        "grpc-timeout",
    ] {
        assert!(
            allowed.contains(&name.to_owned()),
            "{name} not allowed: {headers:?}"
        );
    }
    assert!(
        list(&headers, "access-control-allow-methods").contains(&"post".to_owned()),
        "{headers:?}"
    );
    // No cookies are read, so none are invited.
    assert_eq!(
        header(&headers, "access-control-allow-credentials"),
        None,
        "{headers:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preflight_from_a_refused_origin_or_without_an_allow_list_allows_nothing() {
    let (_app, addr) = app_allowing(ALLOWED).await;
    for origin in ["https://evil.example", "http://localhost:5174", "null"] {
        let (_, headers) = http1(addr, &preflight(origin)).await;
        let granted: Vec<_> = headers
            .iter()
            .filter(|(k, _)| k.starts_with("access-control-allow-"))
            .collect();
        assert!(granted.is_empty(), "{origin} was granted {granted:?}");
    }
    let (_app, addr) = app_allowing("").await;
    let (_, headers) = http1(addr, &preflight(ALLOWED)).await;
    assert!(
        !headers
            .iter()
            .any(|(k, _)| k.starts_with("access-control-")),
        "CORS headers without an allow-list: {headers:?}"
    );
}

#[test]
fn a_wildcard_origin_is_refused_at_start_up_naming_the_setting() {
    let dir = tempfile::tempdir().expect("scratch dir");
    let serve = |args: &[&str], env: &[(&str, &str)]| {
        let out = crate::helpers::authd_command()
            .arg("serve")
            .args(args)
            .env("AUTHD_DATABASE_URL", "sqlite://authd.db")
            .envs(env.iter().copied())
            .current_dir(dir.path())
            .output()
            .expect("run authd");
        assert!(!out.status.success(), "authd started with `*`");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    for err in [
        serve(
            &["--grpc-web-allowed-origins", "https://app.example.com,*"],
            &[],
        ),
        serve(&[], &[("AUTHD_GRPC_WEB_ALLOWED_ORIGINS", "*")]),
    ] {
        assert!(
            err.contains("grpc-web-allowed-origins")
                || err.contains("AUTHD_GRPC_WEB_ALLOWED_ORIGINS"),
            "{err}"
        );
        assert!(
            err.contains("every web page") && err.contains("https://app.example.com"),
            "{err}"
        );
    }
    let err = serve(
        &["--grpc-web-allowed-origins", "https://app.example.com/"],
        &[],
    );
    assert!(err.contains("no path"), "{err}");
}

#[test]
fn the_allow_list_comes_from_a_flag_or_a_config_file_list() {
    let parse = |args: &[&str]| match authd::cli::parse_from(
        std::iter::once("authd").chain(args.iter().copied()),
    ) {
        Ok((cli, _)) => cli
            .config
            .grpc_web
            .grpc_web_allowed_origins
            .iter()
            .map(|o| o.as_str().to_owned())
            .collect::<Vec<_>>(),
        Err(authd::cli::ParseFailure::Config(e)) => panic!("{args:?}: {e}"),
        Err(authd::cli::ParseFailure::Clap(e)) => panic!("{args:?}: {e}"),
    };
    assert_eq!(
        parse(&[
            "--grpc-web-allowed-origins",
            "https://App.Example.com, http://localhost:5173"
        ]),
        ["https://app.example.com", "http://localhost:5173"]
    );
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("authd.toml");
    std::fs::write(
        &file,
        "grpc_web_allowed_origins = [\"https://a.example\", \"https://b.example:8443\"]\n",
    )
    .expect("config file");
    assert_eq!(
        parse(&["--config", file.to_str().unwrap()]),
        ["https://a.example", "https://b.example:8443"]
    );
    assert!(parse(&[]).is_empty());
}
