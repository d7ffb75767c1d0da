//! TLS to PostgreSQL: the URL's `sslmode` and `sslrootcert`, against the
//! local PostgreSQL (TLS on, with Debian's self-signed "snakeoil"
//! certificate for `localhost`) and against a throwaway cluster
//! ([`PgCluster::start_with_tls`]) that requires TLS, with a CA and server
//! certificate each test makes with the `openssl` command line
//! ([`crate::tls::Pki`]).
//!
//! A refused connection is read through `authd::store::check_reachable`,
//! the one direct connection start-up and the commands make to report why
//! the database cannot be reached.

use std::time::Duration;

use authd::store::{DatabaseUrl, PoolSettings, postgres::PgStore};
use tonic::Code;

use crate::helpers::{PASSWORD, TestApp, TestDb, postgres_admin_url};
use crate::pg_cluster::PgCluster;
use crate::tls::Pki;

/// Pool settings for the probes: one connection, a few seconds at most.
const POOL: PoolSettings = PoolSettings {
    max_connections: 1,
    acquire_timeout: Duration::from_secs(5),
};

/// `url` with `query` appended (`sslmode=...`).
fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

/// One direct connection to `url`: `Ok` or the error authd reports.
async fn reach(url: &str) -> Result<(), String> {
    let url: DatabaseUrl = url.parse().expect("a PostgreSQL URL");
    authd::store::check_reachable(&url, POOL)
        .await
        .map_err(|e| e.to_string())
}

/// Whether the connection to `url` is encrypted, as the server sees it.
async fn server_sees_tls(url: &str) -> bool {
    let store = PgStore::connect_lazy(url, POOL).expect("a valid URL");
    let (ssl,): (bool,) =
        sqlx::query_as("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(store.pool())
            .await
            .unwrap_or_else(|e| panic!("query over {url}: {e}"));
    store.pool().close().await;
    ssl
}

/// A CA `ca`, a second CA `other`, and `pg.pem`: a server certificate for
/// `localhost` only (no IP address), signed by `ca`.
fn pki_for_localhost() -> Pki {
    let pki = Pki::new();
    pki.ca("other");
    pki.leaf("ca", "pg", "localhost", "DNS:localhost", "serverAuth");
    pki
}

/// `sslrootcert=PATH` for `pki`'s `name.pem`.
fn root_cert(pki: &Pki, name: &str) -> String {
    format!("sslrootcert={}", pki.path(&format!("{name}.pem")).display())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_require_encrypts_the_connection_to_the_local_postgres_and_serves_a_login() {
    let fresh = TestDb::new(crate::helpers::Backend::Postgres).await;
    let url = with_query(&fresh.url, "sslmode=require");
    assert!(
        server_sees_tls(&url).await,
        "the local PostgreSQL must have TLS on (ssl = on in postgresql.conf) for this test"
    );
    let app = TestApp::builder_on(TestDb::attach(&url)).spawn().await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login over TLS");
    assert!(app.verify(&login.access_token).await.valid);
    drop(app);
    drop(fresh);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_refuses_the_local_self_signed_certificate_and_says_why() {
    // The snakeoil certificate is self-signed: no CA authd trusts signed it.
    let url = with_query(&postgres_admin_url(), "sslmode=verify-full");
    let url = url.replace("127.0.0.1", "localhost");
    let err = reach(&url).await.expect_err("verify-full without the CA");
    assert!(
        err.contains("the server's certificate is not signed by Mozilla's roots"),
        "{err}"
    );
    assert!(err.contains("set sslrootcert"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_verify_full_with_the_right_ca_serves_a_login_and_with_another_ca_fails() {
    let pki = pki_for_localhost();
    let cluster = PgCluster::start_with_tls(&pki.path("pg.pem"), &pki.path("pg.key"));

    // Another CA: refused, with the file named, before any query.
    let wrong = cluster.url_via(
        "localhost",
        &format!("sslmode=verify-full&{}", root_cert(&pki, "other")),
    );
    let err = reach(&wrong)
        .await
        .expect_err("a certificate from another CA");
    let other = pki.path("other.pem");
    assert!(
        err.contains(&format!(
            "the server's certificate is not signed by sslrootcert {}",
            other.display()
        )),
        "{err}"
    );
    // libpq's rule: `require` with a root certificate checks the CA too.
    let require = cluster.url_via(
        "localhost",
        &format!("sslmode=require&{}", root_cert(&pki, "other")),
    );
    let err = reach(&require).await.expect_err("require + sslrootcert");
    assert!(err.contains("not signed by sslrootcert"), "{err}");
    // A server authd cannot authenticate gets no calls: UNAVAILABLE, no plaintext fallback.
    let refused = TestApp::builder_on(TestDb::attach(&wrong)).spawn().await;
    let status = refused
        .login("alice", PASSWORD)
        .await
        .expect_err("no database");
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    drop(refused);

    // The right CA: the app starts on the cluster and serves a Login.
    let right = cluster.url_via(
        "localhost",
        &format!("sslmode=verify-full&{}", root_cert(&pki, "ca")),
    );
    reach(&right).await.expect("verify-full with the right CA");
    assert!(server_sees_tls(&right).await);
    let app = TestApp::builder_on(TestDb::attach(&right)).spawn().await;
    app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.expect("login");
    assert!(app.verify(&login.access_token).await.valid);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_ca_ignores_the_host_name_that_verify_full_checks() {
    let pki = pki_for_localhost();
    let cluster = PgCluster::start_with_tls(&pki.path("pg.pem"), &pki.path("pg.key"));
    let ca = root_cert(&pki, "ca");

    // 127.0.0.1 is not among the names of a certificate for `localhost`.
    let by_address = |mode: &str| cluster.url_via("127.0.0.1", &format!("sslmode={mode}&{ca}"));
    reach(&by_address("verify-ca"))
        .await
        .expect("verify-ca checks the CA only");
    let err = reach(&by_address("verify-full"))
        .await
        .expect_err("verify-full checks the name");
    assert!(
        err.contains("the server's certificate is not valid for host 127.0.0.1"),
        "{err}"
    );
    // Through the name the certificate lists, verify-full is satisfied.
    reach(&cluster.url_via("localhost", &format!("sslmode=verify-full&{ca}")))
        .await
        .expect("verify-full via localhost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sslmode_disable_is_refused_by_a_server_that_requires_tls_and_prefer_uses_it() {
    let pki = pki_for_localhost();
    let cluster = PgCluster::start_with_tls(&pki.path("pg.pem"), &pki.path("pg.key"));

    let err = reach(&cluster.url_via("127.0.0.1", "sslmode=disable"))
        .await
        .expect_err("plaintext against hostssl");
    assert!(
        err.contains("the server refuses unencrypted connections"),
        "{err}"
    );
    assert!(err.contains("sslmode=disable"), "{err}");
    // `prefer` (the default) and `require` take the TLS the server offers.
    assert!(server_sees_tls(&cluster.url_via("127.0.0.1", "sslmode=prefer")).await);
    assert!(server_sees_tls(&cluster.url()).await);
    reach(&cluster.url_via("127.0.0.1", "sslmode=require"))
        .await
        .expect("require");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_sslrootcert_or_an_unknown_sslmode_is_a_configuration_error() {
    let missing = "postgres://postgres@localhost:5432/postgres?sslmode=verify-full\
                   &sslrootcert=/nonexistent/ca.pem";
    let err = PgStore::connect_lazy(missing, POOL).expect_err("no such file");
    assert!(
        matches!(&err, authd::Error::Config(m) if m.contains("sslrootcert /nonexistent/ca.pem cannot be read")),
        "{err:?}"
    );
    let err = "postgres://postgres:pw@localhost/postgres?sslmode=allow"
        .parse::<DatabaseUrl>()
        .expect_err("allow would never use TLS");
    assert!(
        err.contains("not supported") && !err.contains("pw"),
        "{err}"
    );
}
