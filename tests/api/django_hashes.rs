//! Django's password hashes at Login, over real gRPC on both databases: the
//! hashes are made by Django's own hashers (`tests/interop/django_hashes.py`,
//! Django from PyPI in the suite's virtual environment) with their default
//! costs, stored verbatim as `authd import django` stores them, checked by
//! authd with the right and wrong passwords, and replaced by Argon2id at the
//! first successful login, with an audit row saying so.

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use authd::clock::now_unix;
use authd::store::{AuditEntry, NewUser};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;
use tonic::Code;

use crate::helpers::{Backend, TestApp, assert_code, run_python_check, spawn_app};

on_both_backends!(
    every_django_format_logs_in_with_its_password_and_is_upgraded_to_argon2id,
    bcrypt_takes_the_first_72_bytes_of_a_password_as_django_does,
    an_unusable_django_password_never_logs_in,
    a_password_of_1025_bytes_against_a_django_hash_is_an_invalid_argument,
    tampered_django_hashes_with_huge_costs_are_refused_quickly,
);

/// What a new hash looks like at the test configuration's parameters.
const ARGON2ID_PREFIX: &str = "$argon2id$v=19$m=19456,t=2,p=1$";

/// One of Django's hashes and the passwords it was made for.
#[derive(Debug, Clone)]
struct Vector {
    name: String,
    hasher: String,
    encoded: String,
    right: Vec<String>,
    wrong: Vec<String>,
}

/// The vectors Django made, once per test run (making them costs Django's
/// full cost per hash, seconds in all).
async fn vectors() -> &'static [Vector] {
    static VECTORS: OnceLock<Vec<Vector>> = OnceLock::new();
    tokio::task::spawn_blocking(|| {
        VECTORS
            .get_or_init(|| {
                let out = run_python_check(
                    "django_hashes.py",
                    &[],
                    "",
                    "Django, bcrypt and argon2-cffi",
                    "Django's hashers could not make the test vectors",
                );
                let strings = |v: &Value, key: &str| -> Vec<String> {
                    v[key]
                        .as_array()
                        .expect("a list")
                        .iter()
                        .map(|s| s.as_str().expect("a string").to_owned())
                        .collect()
                };
                out["vectors"]
                    .as_array()
                    .expect("vectors")
                    .iter()
                    .map(|v| Vector {
                        name: v["name"].as_str().expect("name").to_owned(),
                        hasher: v["hasher"].as_str().expect("hasher").to_owned(),
                        encoded: v["encoded"].as_str().expect("encoded").to_owned(),
                        right: strings(v, "right"),
                        wrong: strings(v, "wrong"),
                    })
                    .collect()
            })
            .as_slice()
    })
    .await
    .expect("the vectors")
}

async fn vector(name: &str) -> Vector {
    vectors()
        .await
        .iter()
        .find(|v| v.name == name)
        .unwrap_or_else(|| panic!("no vector {name}"))
        .clone()
}

/// Puts a user with `hash` stored verbatim in the database, as the importer does.
async fn put_user(app: &TestApp, username: &str, hash: &str) -> String {
    let id = uuid::Uuid::new_v4().to_string();
    app.core
        .accounts()
        .store()
        .create_user(NewUser {
            id: id.clone(),
            username: username.to_owned(),
            email: None,
            password_hash: SecretString::from(hash.to_owned()),
            roles: vec![],
            created_at: now_unix(),
        })
        .await
        .expect("insert a user with a Django hash");
    id
}

async fn stored_hash(app: &TestApp, username: &str) -> String {
    app.core
        .accounts()
        .store()
        .find_credentials(username)
        .await
        .expect("read")
        .expect("the user exists")
        .password_hash
        .expose_secret()
        .to_owned()
}

async fn upgrade_rows(app: &TestApp, user_id: &str) -> Vec<AuditEntry> {
    app.core
        .accounts()
        .store()
        .audit_tail(10_000, None)
        .await
        .expect("read the audit log")
        .into_iter()
        .filter(|e| e.event == "password_upgraded" && e.user_id.as_deref() == Some(user_id))
        .collect()
}

async fn refused(app: &TestApp, username: &str, password: &str) {
    let status = assert_code(app.login(username, password).await, Code::Unauthenticated);
    assert_eq!(status.message(), "invalid username or password");
}

/// Wrong passwords are refused and change nothing; the right one logs in
/// and the hash becomes Argon2id, recorded once; the Argon2id hash then
/// serves the next logins.
async fn log_in_and_upgrade(app: &TestApp, v: &Vector) {
    let username = format!("dj-{}", v.name);
    let id = put_user(app, &username, &v.encoded).await;
    for wrong in &v.wrong {
        refused(app, &username, wrong).await;
    }
    assert_eq!(
        stored_hash(app, &username).await,
        v.encoded,
        "{}: a wrong password changes nothing",
        v.name
    );
    assert!(upgrade_rows(app, &id).await.is_empty());

    let response = app
        .login(&username, &v.right[0])
        .await
        .unwrap_or_else(|e| panic!("{}: the right password logs in: {e:?}", v.name));
    assert_eq!(response.user.expect("the user").username, username);
    assert!(
        app.verify(&response.access_token).await.valid,
        "{}: its token verifies",
        v.name
    );
    let upgraded = stored_hash(app, &username).await;
    assert!(
        upgraded.starts_with(ARGON2ID_PREFIX),
        "{}: upgraded to Argon2id at the configured parameters, not {upgraded}",
        v.name
    );
    let rows = upgrade_rows(app, &id).await;
    assert_eq!(rows.len(), 1, "{}: one upgrade row: {rows:?}", v.name);
    let row = &rows[0];
    assert_eq!(row.outcome, "success");
    assert_eq!(row.subject, username);
    assert_eq!(
        row.detail,
        format!(
            "Django {} hash replaced by Argon2id (m=19456, t=2, p=1) at login",
            v.hasher
        )
    );
    for part in v.encoded.split('$').skip(1).filter(|p| p.len() >= 16) {
        assert!(
            !row.detail.contains(part),
            "{}: the row holds no hash",
            v.name
        );
    }

    app.login(&username, &v.right[0])
        .await
        .unwrap_or_else(|e| panic!("{}: the Argon2id hash verifies: {e:?}", v.name));
    assert_eq!(
        stored_hash(app, &username).await,
        upgraded,
        "{}: an Argon2id hash at the configured parameters stays",
        v.name
    );
    assert_eq!(upgrade_rows(app, &id).await.len(), 1, "{}", v.name);
    refused(app, &username, &v.wrong[0]).await;
}

async fn every_django_format_logs_in_with_its_password_and_is_upgraded_to_argon2id(
    backend: Backend,
) {
    // Eleven users logging in at once at Django's full costs: room for all
    // of them in the hashing queue, and time to wait there on a busy machine.
    let app = Arc::new(
        TestApp::builder(backend)
            .config(|config| {
                config.password.hash_concurrency = 4;
                config.password.hash_queue_timeout = Duration::from_secs(120);
            })
            .spawn()
            .await,
    );
    let usable: Vec<Vector> = vectors()
        .await
        .iter()
        .filter(|v| !v.right.is_empty())
        .cloned()
        .collect();
    let hashers: std::collections::BTreeSet<&str> =
        usable.iter().map(|v| v.hasher.as_str()).collect();
    assert_eq!(
        hashers.into_iter().collect::<Vec<_>>(),
        [
            "argon2",
            "bcrypt",
            "bcrypt_sha256",
            "md5",
            "pbkdf2_sha1",
            "pbkdf2_sha256",
            "scrypt"
        ],
        "every hasher of Django 5 has a vector"
    );
    for kind in [
        "argon2$argon2i$v=19$",
        "argon2$argon2id$v=16$",
        "argon2$argon2i$m=",
    ] {
        assert!(
            usable.iter().any(|v| v.encoded.starts_with(kind)),
            "a vector {kind}"
        );
    }
    // The formats run side by side, as logins of different users do.
    let mut logins = tokio::task::JoinSet::new();
    for v in usable {
        let app = Arc::clone(&app);
        logins.spawn(async move { log_in_and_upgrade(&app, &v).await });
    }
    while let Some(done) = logins.join_next().await {
        done.expect("every format logs in and is upgraded");
    }
}

async fn bcrypt_takes_the_first_72_bytes_of_a_password_as_django_does(backend: Backend) {
    let app = spawn_app(backend).await;
    let v = vector("bcrypt_over_72_bytes").await;
    let (long, same_first_72) = (&v.right[0], &v.right[1]);
    assert!(long.len() > 72 && long != same_first_72);
    put_user(&app, "long", &v.encoded).await;
    for wrong in &v.wrong {
        refused(&app, "long", wrong).await;
    }
    app.login("long", same_first_72)
        .await
        .expect("the same first 72 bytes match, as in Django");
    // The upgrade hashed the password as given, all of it.
    assert!(stored_hash(&app, "long").await.starts_with(ARGON2ID_PREFIX));
    app.login("long", same_first_72)
        .await
        .expect("the password given");
    refused(&app, "long", long).await;
}

async fn an_unusable_django_password_never_logs_in(backend: Backend) {
    let app = spawn_app(backend).await;
    let v = vector("unusable").await;
    assert!(v.encoded.starts_with('!'), "{}", v.encoded);
    let id = put_user(&app, "locked", &v.encoded).await;
    let runs = app.hash_runs().await;
    for wrong in &v.wrong {
        refused(&app, "locked", wrong).await;
    }
    assert_eq!(
        app.hash_runs().await,
        runs + v.wrong.len() as u64,
        "each attempt costs one (dummy) hash on the pool, like an unknown user"
    );
    assert_eq!(stored_hash(&app, "locked").await, v.encoded);
    assert!(upgrade_rows(&app, &id).await.is_empty());
}

async fn a_password_of_1025_bytes_against_a_django_hash_is_an_invalid_argument(backend: Backend) {
    let app = spawn_app(backend).await;
    for name in ["pbkdf2_sha256", "bcrypt_sha256", "bcrypt"] {
        let v = vector(name).await;
        put_user(&app, name, &v.encoded).await;
        let runs = app.hash_runs().await;
        let long = format!("{}{}", v.right[0], "x".repeat(1025));
        let status = assert_code(app.login(name, &long).await, Code::InvalidArgument);
        assert!(
            status.message().contains("1024 bytes"),
            "{}",
            status.message()
        );
        assert_code(
            app.login(name, &"y".repeat(1025)).await,
            Code::InvalidArgument,
        );
        assert_eq!(
            app.hash_runs().await,
            runs,
            "{name}: refused before hashing"
        );
        assert_eq!(stored_hash(&app, name).await, v.encoded);
    }
}

async fn tampered_django_hashes_with_huge_costs_are_refused_quickly(backend: Backend) {
    let app = spawn_app(backend).await;
    let sha256 = vector("pbkdf2_sha256").await;
    // Each would take minutes to hours (or gigabytes) if attempted.
    let tampered = [
        sha256.encoded.replacen("$1000000$", "$4294967295$", 1),
        sha256
            .encoded
            .replacen("$1000000$", "$99999999999999999999999$", 1),
        "bcrypt$$2b$31$jsmy7OhO1N/fY6nq583Exu0dLzQbfnO65ZzPRcnMMVJp4B2lEZxga".to_owned(),
        "scrypt$1073741824$E2rOALrslvMeK4S19sxuFK$8$1$VPaMp5YUUaiqvNMPAOwrbqKHtss5NOAml0fO\
         WSDSuXYs2zqqVckH3r2SpNi79udXNC6/3+PHBFNvq+xPU1xvJA=="
            .to_owned(),
        "scrypt$16384$E2rOALrslvMeK4S19sxuFK$8$100000$VPaMp5YUUaiqvNMPAOwrbqKHtss5NOAml0fO\
         WSDSuXYs2zqqVckH3r2SpNi79udXNC6/3+PHBFNvq+xPU1xvJA=="
            .to_owned(),
        "argon2$argon2id$v=19$m=4194304,t=2,p=1$WHlRb2habFJuUUVmYThnNlNBdHlhZw$\
         Jnl2ky2JQ+pVtaere9YVJHi6pqoWhZaLwj4hADt4UmA"
            .to_owned(),
        "argon2$argon2id$v=19$m=65536,t=4000,p=1$WHlRb2habFJuUUVmYThnNlNBdHlhZw$\
         Jnl2ky2JQ+pVtaere9YVJHi6pqoWhZaLwj4hADt4UmA"
            .to_owned(),
    ];
    for (i, hash) in tampered.iter().enumerate() {
        let username = format!("tampered{i}");
        put_user(&app, &username, hash).await;
        let started = Instant::now();
        refused(&app, &username, &sha256.right[0]).await;
        // The dummy hash at the test parameters takes well under this even
        // on a loaded machine; the tampered work would take far longer.
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{username} refused without doing its work ({:?})",
            started.elapsed()
        );
        assert_eq!(&stored_hash(&app, &username).await, hash);
    }
    // Still serving: a real Django hash logs in.
    put_user(&app, "real", &sha256.encoded).await;
    app.login("real", &sha256.right[0])
        .await
        .expect("authd still serves");
}
