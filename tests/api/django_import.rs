//! `authd import django` against real Django projects, made by Django
//! itself (`tests/interop/django_project.py`: startproject, migrate,
//! create_user/create_superuser, groups, several hashers, dumpdata), into
//! authd databases of both kinds, through the real `authd` binary.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use authd::store::{self, Change, FeedItem, PoolSettings, Store};
use base64::Engine as _;
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::Value;

use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, authd_command, run_python};

on_both_backends!(
    a_django_database_is_imported_with_roles_external_ids_and_times,
    re_running_the_import_changes_only_what_changed_in_django,
    the_dumpdata_file_gives_the_same_users_as_the_database,
    bad_rows_are_skipped_with_reasons_and_bad_files_refused,
    imported_users_log_in_with_their_django_passwords_which_become_argon2id,
);

const PACKAGES: &str = "Django, bcrypt, argon2-cffi and psycopg (tests/interop/requirements.txt)";

/// The Django project every test reads (copies of) its database from.
struct Project {
    _dir: tempfile::TempDir,
    db: PathBuf,
    dump: PathBuf,
    dir: PathBuf,
    users: Value,
}

static PROJECT: tokio::sync::OnceCell<Project> = tokio::sync::OnceCell::const_new();

/// Makes a Django project in `dir` on `database` (an AUTHD_TEST_DJANGO_DB URL).
fn make_project(dir: &Path, database: &str) -> Value {
    let out = run_python_env(
        "django_project.py",
        &["create", &dir.display().to_string()],
        database,
    );
    assert!(
        out.status.success(),
        "Django could not make the project:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let made: Value = serde_json::from_slice(&out.stdout).expect("JSON from django_project.py");
    made["users"].clone()
}

fn run_python_env(script: &str, args: &[&str], database: &str) -> std::process::Output {
    let mut all = vec!["--database", database];
    all.extend_from_slice(args);
    run_python(script, &all, "", PACKAGES)
}

async fn project() -> &'static Project {
    PROJECT
        .get_or_init(|| async {
            tokio::task::spawn_blocking(|| {
                let dir = tempfile::tempdir().expect("a temporary directory");
                let db = dir.path().join("django.sqlite3");
                let site = dir.path().join("project");
                let users = make_project(&site, &sqlite_url(&db));
                Project {
                    db,
                    dump: site.join("dump.json"),
                    dir: site,
                    users,
                    _dir: dir,
                }
            })
            .await
            .expect("making the Django project")
        })
        .await
}

fn sqlite_url(path: &Path) -> String {
    format!("sqlite://{}", path.display())
}

/// A private copy of the project's database, for a test that changes it.
fn copy_of_django_db(project: &Project, into: &Path) -> PathBuf {
    let copy = into.join("django.sqlite3");
    std::fs::copy(&project.db, &copy).expect("copy the Django database");
    copy
}

/// Runs `authd import django ARGS` against authd's database `target`.
fn import(target: &str, args: &[&str]) -> (bool, String, String) {
    let out = authd_command()
        .args(["import", "django"])
        .args(args)
        .env("AUTHD_DATABASE_URL", target)
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run authd import django");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// [`import`], which must succeed; returns the report.
fn import_ok(target: &str, args: &[&str]) -> String {
    let (ok, stdout, stderr) = import(target, args);
    assert!(ok, "import failed:\n{stdout}\n{stderr}");
    stdout
}

async fn open(url: &str) -> Arc<dyn Store> {
    store::connect(
        &url.parse().expect("a database URL"),
        PoolSettings {
            max_connections: 2,
            acquire_timeout: Duration::from_secs(10),
        },
    )
    .await
    .expect("connect to authd's database")
}

fn pk(project: &Project, name: &str) -> String {
    project.users[name]["pk"].as_str().expect("a pk").to_owned()
}

fn summary(report: &str) -> &str {
    report.lines().last().unwrap_or_default()
}

/// The report line of the row with `pk`.
fn line<'a>(report: &'a str, pk: &str) -> &'a str {
    let wanted = format!(" pk {pk} ");
    report
        .lines()
        .find(|l| l.contains(&wanted))
        .unwrap_or_else(|| panic!("no line for pk {pk} in:\n{report}"))
}

async fn a_django_database_is_imported_with_roles_external_ids_and_times(backend: Backend) {
    let project = project().await;
    let db = TestDb::new(backend).await;
    let report = import_ok(&db.url, &["--django-database", &sqlite_url(&project.db)]);
    assert_eq!(
        summary(&report),
        "django import: 8 imported, 0 updated, 0 unchanged, 1 skipped",
        "{report}"
    );
    let weak = line(&report, &pk(project, "weak"));
    assert!(
        weak.starts_with("skipped") && weak.contains("--allow-weak-hashes"),
        "{weak}"
    );
    assert!(
        report.contains("note: group left out: `Rédacteurs` cannot be a role name"),
        "a group that cannot be a role is reported: {report}"
    );

    let store = open(&db.url).await;
    let admin = store.find_credentials("admin").await.unwrap().unwrap();
    assert_eq!(admin.user.roles, ["admin", "staff"]);
    assert_eq!(admin.user.external_id.as_deref(), Some("1"));
    assert_eq!(admin.user.email.as_deref(), Some("admin@example.com"));
    assert_eq!(
        admin.user.created_at,
        project.users["admin"]["date_joined"].as_i64().unwrap()
    );
    assert_eq!(admin.user.last_login_at, Some(1_796_040_000));
    assert!(
        admin
            .password_hash
            .expose_secret()
            .starts_with("pbkdf2_sha256$"),
        "the hash is stored verbatim"
    );
    let staffer = store.user_by_username("staffer").await.unwrap().unwrap();
    assert_eq!(staffer.roles, ["content_team", "editors", "staff"]);
    assert_eq!(staffer.last_login_at, None);
    let alice = store.find_credentials("alice").await.unwrap().unwrap();
    assert_eq!(alice.user.roles, ["editors"]);
    assert!(
        alice
            .password_hash
            .expose_secret()
            .starts_with("argon2$argon2id$")
    );
    let mallory = store.user_by_username("mallory").await.unwrap().unwrap();
    assert!(!mallory.active, "an inactive Django user is disabled");
    let nopass = store.find_credentials("nopass").await.unwrap().unwrap();
    assert!(nopass.password_hash.expose_secret().starts_with('!'));
    assert!(store.user_by_username("weak").await.unwrap().is_none());
    let by_pk = store
        .credentials_by_external_id(&pk(project, "carol"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(by_pk.user.username, "carol");
    store.close().await;

    // The external id is in `User`, in the `ext` claim and in Verify's claims.
    let app = TestApp::builder_on(db).spawn().await;
    let now = authd::clock::now_unix();
    app.core
        .accounts()
        .set_password("alice", SecretString::from(PASSWORD.to_owned()), now)
        .await
        .expect("set alice's password in authd");
    let token = app.token_for("alice").await;
    let verified = app.verify(&token).await;
    assert!(verified.valid, "{verified:?}");
    assert_eq!(verified.claims.unwrap().external_id, pk(project, "alice"));
    assert_eq!(verified.user.unwrap().external_id, pk(project, "alice"));
    assert_eq!(claims_of(&token)["ext"], pk(project, "alice"));

    app.create_user("native", &[]).await;
    let token = app.token_for("native").await;
    assert!(
        claims_of(&token).get("ext").is_none(),
        "no ext claim without an external id"
    );
    let verified = app.verify(&token).await;
    assert!(verified.valid, "a token without `ext` is valid");
    assert_eq!(verified.claims.unwrap().external_id, "");
}

fn claims_of(token: &str) -> Value {
    let payload = token.split('.').nth(1).expect("a JWT");
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&json).expect("JSON claims")
}

async fn re_running_the_import_changes_only_what_changed_in_django(backend: Backend) {
    let project = project().await;
    let here = tempfile::tempdir().unwrap();
    let django = copy_of_django_db(project, here.path());
    let source = sqlite_url(&django);
    let db = TestDb::new(backend).await;
    import_ok(&db.url, &["--django-database", &source]);

    let again = import_ok(&db.url, &["--django-database", &source]);
    assert_eq!(
        summary(&again),
        "django import: 0 imported, 0 updated, 8 unchanged, 1 skipped",
        "{again}"
    );

    // Django changes one row: staffer's email.
    let out = run_python_env(
        "django_project.py",
        &["change", &project.dir.display().to_string()],
        &source,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let dry = import_ok(&db.url, &["--django-database", &source, "--dry-run"]);
    assert_eq!(
        summary(&dry),
        "django import (dry run, nothing written): 0 would be imported, 1 would be updated, \
         7 unchanged, 1 skipped",
        "{dry}"
    );
    let staffer_pk = pk(project, "staffer");
    assert!(line(&dry, &staffer_pk).ends_with("changed: email"), "{dry}");
    let store = open(&db.url).await;
    let staffer = store.user_by_username("staffer").await.unwrap().unwrap();
    assert_eq!(
        staffer.email.as_deref(),
        Some("staffer@example.com"),
        "a dry run writes nothing"
    );

    let mut feed = store.change_feed().await.unwrap();
    let updated = import_ok(&db.url, &["--django-database", &source]);
    assert_eq!(
        summary(&updated),
        "django import: 0 imported, 1 updated, 7 unchanged, 1 skipped",
        "{updated}"
    );
    let staffer = store.user_by_username("staffer").await.unwrap().unwrap();
    assert_eq!(staffer.email.as_deref(), Some("staffer@new.example.com"));
    // Announced on the change feed, so a running server's cache learns.
    let wanted = Change::User(staffer.id.clone());
    let heard = tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            if let Ok(FeedItem::Change(change)) = feed.next().await
                && change == wanted
            {
                return;
            }
        }
    })
    .await;
    assert!(heard.is_ok(), "the update was not announced");
    store.close().await;
}

async fn the_dumpdata_file_gives_the_same_users_as_the_database(backend: Backend) {
    let project = project().await;
    let db = TestDb::new(backend).await;
    let dump = project.dump.display().to_string();
    let report = import_ok(&db.url, &["--dumpdata", &dump, "--allow-weak-hashes"]);
    assert_eq!(
        summary(&report),
        "django import: 9 imported, 0 updated, 0 unchanged, 0 skipped",
        "{report}"
    );
    let store = open(&db.url).await;
    let weak = store.find_credentials("weak").await.unwrap().unwrap();
    assert!(weak.password_hash.expose_secret().starts_with("md5$"));
    let staffer = store.user_by_username("staffer").await.unwrap().unwrap();
    assert_eq!(staffer.roles, ["content_team", "editors", "staff"]);
    assert_eq!(staffer.external_id, Some(pk(project, "staffer")));
    store.close().await;

    // The database says the same: nothing to change.
    let again = import_ok(
        &db.url,
        &[
            "--django-database",
            &sqlite_url(&project.db),
            "--allow-weak-hashes",
        ],
    );
    assert_eq!(
        summary(&again),
        "django import: 0 imported, 0 updated, 9 unchanged, 0 skipped",
        "{again}"
    );
}

// One bad-input table, read top to bottom: splitting it would hide which row is which.
#[allow(clippy::too_many_lines)]
async fn bad_rows_are_skipped_with_reasons_and_bad_files_refused(backend: Backend) {
    let project = project().await;
    let here = tempfile::tempdir().unwrap();
    let db = TestDb::new(backend).await;
    let write = |name: &str, text: &str| {
        let path = here.path().join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };

    let not_json = write("not.json", "this is not JSON");
    let (ok, _, stderr) = import(&db.url, &["--dumpdata", &not_json]);
    assert!(!ok && stderr.contains("is not JSON"), "{stderr}");
    let wrong = write(
        "wrong.json",
        r#"[{"model": "contenttypes.contenttype", "pk": 1, "fields": {"app_label": "auth"}}]"#,
    );
    let (ok, _, stderr) = import(&db.url, &["--dumpdata", &wrong]);
    assert!(
        !ok && stderr.contains("holds no auth.user") && stderr.contains("dumpdata auth.User"),
        "{stderr}"
    );
    let missing = here.path().join("missing.sqlite3");
    let (ok, _, stderr) = import(&db.url, &["--django-database", &sqlite_url(&missing)]);
    assert!(
        !ok && stderr.contains("cannot open the Django database"),
        "{stderr}"
    );
    let (ok, _, stderr) = import(
        &db.url,
        &[
            "--django-database",
            &sqlite_url(&project.db),
            "--user-table",
            "accounts_user",
        ],
    );
    assert!(!ok && stderr.contains("accounts_user"), "{stderr}");

    // A real dump, with bad rows added.
    let mut objects: Vec<Value> =
        serde_json::from_str(&std::fs::read_to_string(&project.dump).unwrap()).unwrap();
    let alice = objects
        .iter()
        .find(|o| o["fields"]["username"] == "alice")
        .unwrap()
        .clone();
    let variant = |pk: i64, username: &str, email: &str| {
        let mut o = alice.clone();
        o["pk"] = pk.into();
        o["fields"]["username"] = username.into();
        o["fields"]["email"] = email.into();
        o
    };
    for o in &mut objects {
        if o["fields"]["username"] == "bob" {
            o["fields"].as_object_mut().unwrap().remove("username");
        }
    }
    objects.push(variant(900, "ALICE", "other@example.com"));
    objects.push(variant(901, "frank", "admin@example.com"));
    let mut refused = variant(902, "grace", "grace@example.com");
    refused["fields"]["password"] = "sha1$salt$0123456789abcdef".into();
    objects.push(refused);
    objects.push(variant(903, "henry2", "HENRY@example.com"));
    objects.push(serde_json::json!({"model": "auth.permission", "pk": 1, "fields": {}}));
    let bad = write("bad.json", &serde_json::to_string(&objects).unwrap());

    // henry@example.com belongs to a user made in authd.
    let store = open(&db.url).await;
    store.migrate().await.unwrap();
    store
        .create_user(authd::store::NewUser {
            id: uuid::Uuid::new_v4().to_string(),
            username: "henry".to_owned(),
            email: Some("henry@example.com".to_owned()),
            password_hash: SecretString::from("$argon2id$v=19$m=19456,t=2,p=1$x$y".to_owned()),
            roles: vec![],
            created_at: 1_700_000_000,
        })
        .await
        .unwrap();

    let report = import_ok(&db.url, &["--dumpdata", &bad]);
    assert_eq!(
        summary(&report),
        "django import: 7 imported, 0 updated, 0 unchanged, 7 skipped",
        "{report}"
    );
    let skipped = |pk: &str, why: &str| {
        let l = line(&report, pk);
        assert!(l.starts_with("skipped") && l.contains(why), "{why}: {l}");
    };
    skipped(&pk(project, "bob"), "has no username");
    skipped("900", "in another case");
    skipped("901", "email `admin@example.com` is also pk 1's");
    skipped("902", "password:");
    skipped("903", "is taken by authd user `henry` (made in authd)");
    skipped(&pk(project, "weak"), "--allow-weak-hashes");
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("skipped") && l.contains("auth.permission")),
        "{report}"
    );
    assert!(
        !report.contains("sha1$salt"),
        "a refused hash is never printed: {report}"
    );
    assert!(store.user_by_username("grace").await.unwrap().is_none());
    store.close().await;
}

/// Django on PostgreSQL (a database the test creates, migrated by Django),
/// imported into both kinds of authd database.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_django_project_on_postgresql_is_imported() {
    let django = TestDb::new(Backend::Postgres).await;
    let dir = tempfile::tempdir().unwrap();
    let site = dir.path().join("project");
    let url = django.url.clone();
    let users = tokio::task::spawn_blocking(move || make_project(&site, &url))
        .await
        .unwrap();
    for backend in [Backend::Sqlite, Backend::Postgres] {
        let db = TestDb::new(backend).await;
        let report = import_ok(&db.url, &["--django-database", &django.url]);
        assert_eq!(
            summary(&report),
            "django import: 8 imported, 0 updated, 0 unchanged, 1 skipped",
            "{report}"
        );
        let store = open(&db.url).await;
        let admin = store.user_by_username("admin").await.unwrap().unwrap();
        assert_eq!(admin.external_id.as_deref(), users["admin"]["pk"].as_str());
        assert_eq!(admin.roles, ["admin", "staff"]);
        assert_eq!(
            admin.created_at,
            users["admin"]["date_joined"].as_i64().unwrap()
        );
        assert_eq!(admin.last_login_at, Some(1_796_040_000));
        let staffer = store.user_by_username("staffer").await.unwrap().unwrap();
        assert_eq!(staffer.roles, ["content_team", "editors", "staff"]);
        store.close().await;
    }
}

/// The issue's end-to-end check: a project Django made (startproject,
/// migrate, create_user/create_superuser with several hashers) is imported by
/// one command, and its users log in through authd with their old passwords,
/// which are then replaced by Argon2id, recorded in the audit log.
async fn imported_users_log_in_with_their_django_passwords_which_become_argon2id(backend: Backend) {
    let project = project().await;
    let db = TestDb::new(backend).await;
    let report = import_ok(
        &db.url,
        &[
            "--django-database",
            &sqlite_url(&project.db),
            "--allow-weak-hashes",
        ],
    );
    assert!(
        summary(&report).starts_with("django import: 9 imported"),
        "{report}"
    );
    let app = TestApp::builder_on(db)
        .config(|config| {
            // Logins one after another at Django's full costs, on a busy machine.
            config.password.hash_queue_timeout = Duration::from_secs(120);
        })
        .spawn()
        .await;
    let users = project.users.as_object().expect("the users Django made");
    let mut upgraded = Vec::new();
    for (name, made) in users {
        let Some(password) = made["password"].as_str() else {
            // Django's unusable password: no password logs in.
            let status = app.login(name, "pw-nopass-Correct-Horse-9").await;
            assert_eq!(status.unwrap_err().code(), tonic::Code::Unauthenticated);
            continue;
        };
        let wrong = app.login(name, &format!("{password}x")).await;
        assert_eq!(
            wrong.unwrap_err().code(),
            tonic::Code::Unauthenticated,
            "{name}"
        );
        let hasher = made["hasher"].as_str().unwrap_or_default();
        let login = app.login(name, password).await;
        if name == "mallory" {
            assert_eq!(
                login.unwrap_err().code(),
                tonic::Code::Unauthenticated,
                "inactive"
            );
            continue;
        }
        let login = login.unwrap_or_else(|e| panic!("{name} ({hasher}) logs in: {e}"));
        let verified = app.verify(&login.access_token).await;
        assert!(verified.valid, "{name}: {verified:?}");
        assert_eq!(
            verified.claims.expect("claims").external_id,
            pk(project, name),
            "{name}'s token names their Django pk"
        );
        let stored = app
            .core
            .accounts()
            .store()
            .find_credentials(name)
            .await
            .expect("read")
            .expect("the user exists");
        assert!(
            stored
                .password_hash
                .expose_secret()
                .starts_with("$argon2id$"),
            "{name}'s {hasher} hash is replaced by Argon2id"
        );
        // The Argon2id hash takes the same password from now on.
        app.login(name, password)
            .await
            .unwrap_or_else(|e| panic!("{name} logs in again: {e}"));
        upgraded.push(stored.user.id);
    }
    assert_eq!(upgraded.len(), 7, "every active user with a password");
    let rows = app
        .core
        .accounts()
        .store()
        .audit_tail(10_000, None)
        .await
        .expect("read the audit log");
    for id in &upgraded {
        let n = rows
            .iter()
            .filter(|e| e.event == "password_upgraded" && e.user_id.as_deref() == Some(id.as_str()))
            .count();
        assert_eq!(n, 1, "one upgrade row for {id}");
    }
}
