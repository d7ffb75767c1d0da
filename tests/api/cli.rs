//! The `authd` command line, run as a real process against real databases.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

use authd::Error;
use tonic::Code;

use crate::helpers::{Backend, PASSWORD, TestApp, TestDb, assert_code, test_config};

on_both_backends!(
    user_add_creates_a_user_who_can_log_in,
    user_add_of_an_existing_name_in_other_case_fails_with_one_line,
    user_add_and_set_password_refuse_common_passwords_naming_the_rule,
    the_minimum_password_length_comes_from_the_flag_the_variable_or_the_file,
    user_commands_name_unknown_users,
    set_password_disable_and_enable_take_effect,
    passwords_are_never_taken_from_arguments,
    migrate_prepares_an_empty_database,
    user_unlock_lets_a_throttled_user_log_in_at_once,
    admin_commands_are_audited_and_audit_tail_prints_them,
    audit_tail_follow_prints_new_events_until_stopped,
    audit_tail_escapes_bidi_overrides_and_line_separators_in_a_login_name,
    read_only_commands_on_an_empty_database_create_nothing_and_say_so,
    keys_list_needs_no_key_encryption_secret,
    service_account_commands_add_list_rotate_and_delete,
);

/// Runs `authd ARGS` on `db` with `stdin` piped in, in a scratch directory.
fn authd(db_url: &str, args: &[&str], stdin: &str) -> Output {
    authd_with_stdin(db_url, args, &[], stdin)
}

/// [`authd`], with the variables `env` set too.
fn authd_with_stdin(db_url: &str, args: &[&str], env: &[(&str, &str)], stdin: &str) -> Output {
    let dir = tempfile::tempdir().expect("scratch dir");
    let mut command = crate::helpers::authd_command();
    let mut child = command
        .args(args)
        .env("AUTHD_DATABASE_URL", db_url)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run authd");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes())
        .ok();
    child.wait_with_output().expect("authd exits")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A failed command: non-zero exit, one line on stderr, no panic or backtrace.
#[track_caller]
fn assert_one_line_failure(output: &Output) -> String {
    assert!(!output.status.success(), "expected failure: {output:?}");
    let err = stderr(output);
    assert_eq!(err.trim_end().lines().count(), 1, "one line please: {err}");
    assert!(err.starts_with("error: "), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!err.contains("backtrace"), "{err}");
    err
}

async fn user_add_creates_a_user_who_can_log_in(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = authd(
        &db.url,
        &[
            "user",
            "add",
            "alice",
            "--email",
            "alice@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        "a long enough password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("created user alice"),
        "{}",
        stdout(&out)
    );

    let list = authd(&db.url, &["user", "list"], "");
    assert!(list.status.success(), "{}", stderr(&list));
    let listed = stdout(&list);
    assert!(
        listed.contains("alice")
            && listed.contains("alice@example.com")
            && listed.contains("admin"),
        "{listed}"
    );
    assert!(
        !listed.contains("argon2"),
        "no hashes in listings: {listed}"
    );

    let app = TestApp::builder_on(db).spawn().await;
    let response = app
        .login("alice@example.com", "a long enough password")
        .await
        .expect("the password from stdin works");
    assert_eq!(response.user.expect("user").roles, vec!["admin".to_owned()]);
}

async fn user_add_of_an_existing_name_in_other_case_fails_with_one_line(backend: Backend) {
    let db = TestDb::new(backend).await;
    let first = authd(
        &db.url,
        &["user", "add", "alice", "--password-stdin"],
        "plum orchard lantern\n",
    );
    assert!(first.status.success(), "{}", stderr(&first));

    let again = authd(
        &db.url,
        &["user", "add", "ALICE", "--password-stdin"],
        "quiet copper meadow\n",
    );
    let err = assert_one_line_failure(&again);
    assert!(err.contains("already exists"), "{err}");

    let short = authd(
        &db.url,
        &["user", "add", "bob", "--password-stdin"],
        "short\n",
    );
    let err = assert_one_line_failure(&short);
    assert!(err.contains("at least 8"), "{err}");

    let bad_name = authd(
        &db.url,
        &["user", "add", "bob smith", "--password-stdin"],
        "plum orchard lantern\n",
    );
    let err = assert_one_line_failure(&bad_name);
    assert!(err.contains("username"), "{err}");
}

async fn user_add_and_set_password_refuse_common_passwords_naming_the_rule(backend: Backend) {
    let db = TestDb::new(backend).await;
    for (password, rule) in [
        ("password1", "common passwords rule"),
        ("PaSsWoRd123", "common passwords rule"),
        ("drowssap", "common passwords rule"),
        ("qwertyuiop", "common passwords rule"),
        ("bobsmith2024", "easily guessed passwords rule"),
    ] {
        let out = authd(
            &db.url,
            &["user", "add", "bobsmith", "--password-stdin"],
            &format!("{password}\n"),
        );
        let err = assert_one_line_failure(&out);
        assert!(
            err.starts_with(&format!("error: invalid password: breaks the {rule}")),
            "{password}: {err}"
        );
        assert!(err.contains("choose another"), "{err}");
        assert!(!err.contains(password), "the password was echoed: {err}");
        assert!(!stdout(&out).contains(password), "{}", stdout(&out));
    }
    let list = stdout(&authd(&db.url, &["user", "list"], ""));
    assert!(!list.contains("bobsmith"), "no user was created: {list}");

    let out = authd(
        &db.url,
        &["user", "add", "bobsmith", "--password-stdin"],
        "plum orchard lantern\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = authd(
        &db.url,
        &["user", "set-password", "bobsmith", "--password-stdin"],
        "letmein1\n",
    );
    let err = assert_one_line_failure(&out);
    assert!(err.contains("breaks the common passwords rule"), "{err}");
    let app = TestApp::builder_on(db).spawn().await;
    app.login("bobsmith", "plum orchard lantern")
        .await
        .expect("the refused password did not replace the old one");
}

async fn the_minimum_password_length_comes_from_the_flag_the_variable_or_the_file(
    backend: Backend,
) {
    let db = TestDb::new(backend).await;
    // 22 characters: enough by default, not for a minimum of 30.
    let password = "plum orchard lantern 9\n";
    let dir = tempfile::tempdir().expect("dir");
    let file = dir.path().join("authd.toml");
    std::fs::write(&file, "password_min_length = 30\n").expect("write config");
    let file = file.to_str().expect("utf-8 path");
    let refusals = [
        authd(
            &db.url,
            &[
                "user",
                "add",
                "alice",
                "--password-min-length",
                "30",
                "--password-stdin",
            ],
            password,
        ),
        authd_with_stdin(
            &db.url,
            &["user", "add", "alice", "--password-stdin"],
            &[("AUTHD_PASSWORD_MIN_LENGTH", "30")],
            password,
        ),
        authd(
            &db.url,
            &["user", "add", "alice", "--config", file, "--password-stdin"],
            password,
        ),
    ];
    for out in &refusals {
        let err = assert_one_line_failure(out);
        assert_eq!(
            err.trim_end(),
            "error: invalid password: breaks the minimum length rule: use at least 30 characters"
        );
    }
    let out = authd_with_stdin(
        &db.url,
        &["user", "add", "alice", "--password-stdin"],
        &[("AUTHD_PASSWORD_MIN_LENGTH", "7")],
        password,
    );
    let err = assert_one_line_failure(&out);
    assert!(err.contains("AUTHD_PASSWORD_MIN_LENGTH"), "{err}");
    assert!(err.contains("between 8 and 64"), "{err}");
    let out = authd(
        &db.url,
        &["user", "add", "alice", "--password-stdin"],
        password,
    );
    assert!(out.status.success(), "the default is 8: {}", stderr(&out));
}

async fn user_commands_name_unknown_users(backend: Backend) {
    let db = TestDb::new(backend).await;
    for args in [
        &["user", "disable", "ghost"][..],
        &["user", "enable", "ghost"][..],
        &["user", "set-password", "ghost", "--password-stdin"][..],
    ] {
        let out = authd(&db.url, args, "new password here\n");
        let err = assert_one_line_failure(&out);
        assert!(err.contains("no user named \"ghost\""), "{args:?}: {err}");
    }
}

async fn set_password_disable_and_enable_take_effect(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    assert!(
        authd(
            &url,
            &["user", "add", "alice", "--password-stdin"],
            "first password\n"
        )
        .status
        .success()
    );
    let app = TestApp::builder_on(db).spawn().await;
    app.login("alice", "first password")
        .await
        .expect("first password works");

    let out = authd(
        &url,
        &["user", "set-password", "alice", "--password-stdin"],
        "second password\r\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert_code(
        app.login("alice", "first password").await,
        Code::Unauthenticated,
    );
    app.login("alice", "second password")
        .await
        .expect("the new password works");

    let out = authd(&url, &["user", "disable", "alice"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_code(
        app.login("alice", "second password").await,
        Code::Unauthenticated,
    );
    assert!(stdout(&authd(&url, &["user", "list"], "")).contains(" no "));

    let out = authd(&url, &["user", "enable", "alice"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    app.login("alice", "second password")
        .await
        .expect("enabled again");
}

async fn passwords_are_never_taken_from_arguments(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = authd(&db.url, &["user", "add", "bob", "hunter2hunter2"], "");
    assert!(!out.status.success());
    assert!(!stderr(&out).contains("panicked"));
    let out = authd(
        &db.url,
        &["user", "add", "bob", "--password", "hunter2hunter2"],
        "",
    );
    assert!(!out.status.success());
    // Without --password-stdin and with no terminal, it says how to pass one.
    let out = authd(&db.url, &["user", "add", "bob"], "hunter2hunter2\n");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("--password-stdin"), "{err}");
    let list = stdout(&authd(&db.url, &["user", "list"], ""));
    assert!(!list.contains("bob"), "{list}");
}

async fn user_unlock_lets_a_throttled_user_log_in_at_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let app = TestApp::builder_on(db)
        .config(|config| {
            // Long blocks, so only the unlock can end them within the test.
            config.throttle.login_backoff_base = std::time::Duration::from_secs(600);
            config.throttle.login_backoff_max = std::time::Duration::from_secs(600);
            config.throttle.login_free_failures_per_address = 5;
        })
        .spawn()
        .await;
    app.create_user_with("alice", Some("alice@example.com"), &[], PASSWORD)
        .await;
    // Three wrong guesses by username and two by email (in another case):
    // the account (five failures under its id, five free) and the address
    // (five, five free) are blocked.
    for (login, guesses) in [("alice", 3), ("ALICE@example.com", 2)] {
        for _ in 0..guesses {
            assert_code(
                app.login(login, "not the password").await,
                Code::Unauthenticated,
            );
        }
    }
    assert_code(app.login("alice", PASSWORD).await, Code::ResourceExhausted);

    let out = authd(&url, &["user", "unlock", "alice"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("unlocked alice (3 failed-login counts cleared)"),
        "{}",
        stdout(&out)
    );
    // The address is still blocked until it is unlocked too.
    assert_code(app.login("alice", PASSWORD).await, Code::ResourceExhausted);
    let out = authd(
        &url,
        &["user", "unlock", "alice", "--address", "127.0.0.1"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("address 127.0.0.1"),
        "{}",
        stdout(&out)
    );
    // Each unlock is in the audit log, with who did it.
    let audit = authd(&url, &["audit", "tail", "--json"], "");
    let unlocks: Vec<serde_json::Value> = stdout(&audit)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|e| e["event"] == "login_unlocked")
        .collect();
    assert_eq!(unlocks.len(), 2, "{}", stdout(&audit));
    assert_eq!(unlocks[1]["subject"], "alice");
    assert_eq!(unlocks[1]["client_addr"], "127.0.0.1");
    assert!(
        unlocks[1]["detail"].as_str().unwrap().contains("by cli"),
        "{}",
        unlocks[1]
    );
    app.login("alice@example.com", PASSWORD)
        .await
        .expect("unlocked: by email");
    app.login("alice", PASSWORD)
        .await
        .expect("unlocked: by username");

    let out = authd(
        &url,
        &["user", "unlock", "alice", "--address", "not-an-ip"],
        "",
    );
    let err = assert_one_line_failure(&out);
    assert!(err.contains("not an IP address"), "{err}");
}

async fn migrate_prepares_an_empty_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = authd(&db.url, &["migrate"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("up to date"));
    let out = authd(&db.url, &["migrate"], "");
    assert!(
        out.status.success(),
        "running it twice is fine: {}",
        stderr(&out)
    );
}

#[test]
fn commands_on_an_unreachable_postgres_fail_with_one_clear_line() {
    // Port 1 on loopback: nothing listens there, so the connection is refused.
    // (`serve` waits for the database instead: see tests/api/faults.rs.)
    let url = "postgres://authd:s3cretpw@127.0.0.1:1/authd";
    for args in [
        &["user", "list"][..],
        &["migrate"][..],
        &["keys", "list"][..],
    ] {
        let out = authd(url, args, "");
        let err = assert_one_line_failure(&out);
        assert!(err.contains("cannot reach the database"), "{err}");
        assert!(
            err.contains("postgres://authd:***@127.0.0.1:1/authd"),
            "{err}"
        );
        assert!(!err.contains("s3cretpw"), "the password leaked: {err}");
    }
}

#[tokio::test]
async fn building_the_app_on_an_unreachable_postgres_succeeds_but_is_not_ready() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = test_config(&db);
    config.admin.store.database_url = "postgres://authd@127.0.0.1:1/authd".parse().expect("a URL");
    config.admin.store.database_acquire_timeout = std::time::Duration::from_millis(200);
    let app = authd::App::build(config)
        .await
        .expect("starts without its database");
    let state = app.readiness().state();
    assert!(!state.started && !state.serving(), "{state:?}");
    assert!(matches!(
        app.readiness().check_started(),
        Err(Error::Unavailable { .. })
    ));
}

#[tokio::test]
async fn building_the_app_on_an_unopenable_sqlite_file_still_fails_fast() {
    let db = TestDb::new(Backend::Sqlite).await;
    let mut config = test_config(&db);
    config.admin.store.database_url = "sqlite:///nonexistent-dir/deeper/authd.db"
        .parse()
        .expect("a URL");
    let err = authd::App::build(config)
        .await
        .expect_err("no such directory");
    assert!(matches!(err, Error::Unavailable { .. }), "{err:?}");
}

#[test]
fn bad_configuration_is_rejected_with_a_fix() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());

    let out = authd(&url, &["--listen", "nope"], "");
    let err = assert_one_line_failure(&out);
    assert!(
        err.contains("--listen") && err.contains("AUTHD_LISTEN"),
        "{err}"
    );

    let out = authd(&url, &["--argon2-memory-kib", "1024"], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("OWASP"), "{err}");

    let out = authd(&url, &["--signing-algorithm", "HS256"], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("32 bytes"), "{err}");

    let out = authd(&url, &["--access-token-ttl", "forever"], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("--access-token-ttl"), "{err}");

    let out = authd("mysql://localhost/authd", &["migrate"], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("sqlite://"), "{err}");

    // A bad URL fails `serve` at once too: only an unreachable server is waited for.
    let out = authd("mysql://localhost/authd", &[], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("sqlite://"), "{err}");
    let out = authd("postgres://[::1", &["serve"], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("postgres://USER"), "{err}");
}

/// Whether `line` starts with an RFC 3339 UTC time (`YYYY-MM-DDTHH:MM:SSZ`).
fn starts_with_rfc3339_utc(line: &str) -> bool {
    let b = line.as_bytes();
    b.len() >= 20
        && b[..20].iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        })
}

async fn admin_commands_are_audited_and_audit_tail_prints_them(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let run = |args: &[&str], stdin: &str| {
        let out = authd(&url, args, stdin);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
        out
    };
    run(
        &["user", "add", "alice", "--password-stdin"],
        "first password\n",
    );
    run(&["user", "set-roles", "alice", "--role", "admin"], "");
    run(&["user", "disable", "alice"], "");
    run(&["user", "enable", "alice"], "");
    run(
        &["user", "set-password", "alice", "--password-stdin"],
        "second password\n",
    );
    run(&["user", "delete", "alice"], "");
    run(&["keys", "rotate"], "");

    let out = run(&["audit", "tail"], "");
    let text = stdout(&out);
    let lines: Vec<&str> = text.lines().collect();
    let events: Vec<&str> = lines
        .iter()
        .map(|l| l.split_whitespace().nth(1).expect("an event column"))
        .collect();
    assert_eq!(
        events,
        [
            "user_created",
            "roles_changed",
            "user_disabled",
            "user_enabled",
            "password_changed",
            "user_deleted",
            "key_published",
        ],
        "{text}"
    );
    for line in &lines {
        assert!(starts_with_rfc3339_utc(line), "{line}");
        assert!(line.contains("success"), "{line}");
    }
    for line in &lines[..6] {
        assert!(line.contains(" alice "), "{line}");
        assert!(line.contains("by cli, os user"), "{line}");
    }
    assert!(!text.contains("password\n") && !text.contains("first password"));
    assert!(!text.contains("$argon2"), "{text}");

    // -n picks the latest N, oldest first.
    let two = stdout(&run(&["audit", "tail", "-n", "2"], ""));
    let two: Vec<&str> = two.lines().collect();
    assert_eq!(two, lines[5..], "-n 2");
    let two = stdout(&run(&["audit", "tail", "--lines", "2"], ""));
    assert_eq!(two.lines().count(), 2);

    // --json: one object per line, every column, the time in RFC 3339 UTC.
    let json = stdout(&run(&["audit", "tail", "--json", "-n", "1"], ""));
    let row: serde_json::Value = serde_json::from_str(json.trim()).expect("one JSON object");
    assert_eq!(row["event"], "key_published");
    assert_eq!(row["outcome"], "success");
    assert!(starts_with_rfc3339_utc(row["time"].as_str().expect("time")));
    assert!(row["id"].as_i64().is_some() && row["at"].as_i64().is_some());

    // Nonsense counts are refused with one line.
    let out = authd(&url, &["audit", "tail", "-n", "0"], "");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.starts_with("error: ") && err.contains("--lines"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
}

/// "Trojan Source" in the audit log: a login name with U+202E (which shows
/// what follows reversed) and U+2028 (which some terminals and viewers break
/// the line at) could make a failed login read as another name's success.
async fn audit_tail_escapes_bidi_overrides_and_line_separators_in_a_login_name(backend: Backend) {
    let db = TestDb::new(backend).await;
    let url = db.url.clone();
    let app = TestApp::builder_on(db).spawn().await;
    let forged = "mallory\u{202e}sseccus\u{2028}2026-11-29T05:04:14Z  login  root";
    assert_code(
        app.login(forged, "not the password").await,
        Code::Unauthenticated,
    );
    // A name that names no account is stored as its digest, so the login
    // itself cannot forge anything any more; a row written by something
    // other than authd still can try, and `audit tail` escapes it.
    app.core
        .accounts()
        .store()
        .append_audit(&authd::store::NewAuditEntry {
            at: 0,
            event: "login".to_owned(),
            user_id: None,
            subject: forged.to_owned(),
            client_addr: Some("127.0.0.1".to_owned()),
            outcome: "failure".to_owned(),
            detail: "no such user".to_owned(),
        })
        .await
        .expect("a raw row");

    let out = authd(&url, &["audit", "tail"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        !text.contains('\u{202e}') && !text.contains('\u{2028}'),
        "{text:?}"
    );
    // One line for the raw row, whatever else start-up recorded; the
    // login's own row names the digest.
    let lines: Vec<&str> = text.lines().filter(|l| l.contains("mallory")).collect();
    assert_eq!(lines.len(), 1, "{text:?}");
    assert_eq!(
        text.lines()
            .filter(|l| l.contains(authd::audit::NameDigests::PREFIX))
            .count(),
        1,
        "{text:?}"
    );
    assert!(
        lines[0].contains(" mallory?sseccus?2026-11-29T05:04:14Z  login  root "),
        "{text:?}"
    );
    assert!(lines[0].contains("  failure  "), "{text:?}");
}

async fn audit_tail_follow_prints_new_events_until_stopped(backend: Backend) {
    use std::io::BufRead as _;
    use std::time::{Duration, Instant};

    let db = TestDb::new(backend).await;
    let out = authd(
        &db.url,
        &["user", "add", "alice", "--password-stdin"],
        "first password\n",
    );
    assert!(out.status.success(), "{}", stderr(&out));

    let mut command = crate::helpers::authd_command();
    let mut child = command
        .args(["audit", "tail", "--follow", "--poll-interval-ms", "100"])
        .env("AUTHD_DATABASE_URL", &db.url)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run authd audit tail --follow");
    let stdout_pipe = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout_pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next_line = |what: &str| {
        rx.recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|e| panic!("no {what} line within 20 s: {e}"))
    };

    let first = next_line("existing");
    assert!(first.contains("user_created"), "{first}");

    // Another process acts; the follower prints it on a later poll.
    let out = authd(&db.url, &["user", "disable", "alice"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let second = next_line("followed");
    assert!(
        second.contains("user_disabled") && second.contains("alice"),
        "{second}"
    );

    // SIGTERM (as Ctrl-C would) ends it cleanly; bounded wait.
    let pid = child.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().ok();
            panic!("audit tail --follow did not stop on SIGTERM");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "exit status {status:?}");
    reader.join().expect("reader thread");
}

/// The tables of `db` (PostgreSQL's public schema, or SQLite's catalogue).
async fn tables(db: &TestDb) -> Vec<String> {
    use sqlx::Connection as _;
    if db.url.starts_with("sqlite:") {
        let mut conn = sqlx::SqliteConnection::connect(&db.url)
            .await
            .expect("open SQLite");
        sqlx::query_scalar("SELECT name FROM sqlite_master WHERE type = 'table'")
            .fetch_all(&mut conn)
            .await
            .expect("list tables")
    } else {
        let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
        sqlx::query_scalar("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
            .fetch_all(&mut conn)
            .await
            .expect("list tables")
    }
}

async fn read_only_commands_on_an_empty_database_create_nothing_and_say_so(backend: Backend) {
    let db = TestDb::new(backend).await;
    let file = db
        .url
        .strip_prefix("sqlite://")
        .map(std::path::PathBuf::from);
    for args in [
        &["user", "list"][..],
        &["keys", "list"][..],
        &["audit", "tail"][..],
        &["service-account", "list"][..],
    ] {
        let out = authd(&db.url, args, "");
        let err = assert_one_line_failure(&out);
        assert!(err.contains("no authd schema at "), "{args:?}: {err}");
        assert!(err.contains("run `authd migrate`"), "{args:?}: {err}");
        match &file {
            Some(path) => assert!(!path.exists(), "{args:?} created {}", path.display()),
            None => assert_eq!(tables(&db).await, Vec::<String>::new(), "{args:?}"),
        }
    }
    // After `migrate`, the same commands work and still change nothing.
    let out = authd(&db.url, &["migrate"], "");
    assert!(out.status.success(), "{}", stderr(&out));
    let before = tables(&db).await;
    for args in [
        &["user", "list"][..],
        &["keys", "list"][..],
        &["audit", "tail"][..],
        &["service-account", "list"][..],
    ] {
        let out = authd(&db.url, args, "");
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }
    assert_eq!(tables(&db).await, before);
}

#[test]
fn a_read_only_command_on_a_mistyped_sqlite_path_creates_no_file() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("typo.db");
    let url = format!("sqlite://{}", path.display());
    let out = authd(&url, &["user", "list"], "");
    let err = assert_one_line_failure(&out);
    assert!(
        err.contains(&format!("no authd schema at {url}; run `authd migrate`")),
        "{err}"
    );
    assert!(!path.exists());
}

async fn keys_list_needs_no_key_encryption_secret(backend: Backend) {
    let db = TestDb::new(backend).await;
    let secret = "a key-encryption secret of 32+ bytes";
    let out = authd_with(
        &db.url,
        &["keys", "rotate", "--signing-algorithm", "ES256"],
        &[("AUTHD_KEY_ENCRYPTION_SECRET", secret)],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    // Encrypted keys are listed without the secret, and nothing is rotated.
    let list = |out: &Output| {
        stdout(out)
            .lines()
            .skip(1)
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    let first = authd(&db.url, &["keys", "list"], "");
    assert!(first.status.success(), "{}", stderr(&first));
    let keys = list(&first);
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(keys.iter().any(|k| k.contains("ES256")), "{keys:?}");
    let again = authd(&db.url, &["keys", "list"], "");
    assert_eq!(list(&again), keys);
}

/// `authd ARGS` with extra environment variables.
fn authd_with(db_url: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let dir = tempfile::tempdir().expect("scratch dir");
    let mut command = crate::helpers::authd_command();
    command
        .args(args)
        .env("AUTHD_DATABASE_URL", db_url)
        .envs(env.iter().copied())
        .current_dir(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("run authd")
}

#[test]
fn admin_commands_show_only_the_settings_they_use() {
    let help = |args: &[&str]| {
        let out = authd("sqlite://unused.db", args, "");
        assert!(out.status.success(), "{}", stderr(&out));
        stdout(&out)
    };
    let server = help(&["serve", "--help"]);
    for flag in [
        "--listen",
        "--database-url",
        "--tls-cert",
        "--argon2-memory-kib",
        "--log",
    ] {
        assert!(
            server.contains(flag),
            "{flag} missing from serve --help:\n{server}"
        );
    }
    assert!(help(&["--help"]).contains("--listen"));
    let list = help(&["user", "list", "--help"]);
    for flag in ["--config", "--database-url", "--log"] {
        assert!(
            list.contains(flag),
            "{flag} missing from user list --help:\n{list}"
        );
    }
    for flag in [
        "--listen",
        "--tls-cert",
        "--argon2-memory-kib",
        "--signing-algorithm",
    ] {
        assert!(!list.contains(flag), "{flag} in user list --help:\n{list}");
    }
    assert!(help(&["user", "add", "--help"]).contains("--argon2-memory-kib"));
    let rotate = help(&["keys", "rotate", "--help"]);
    assert!(rotate.contains("--key-encryption-secret") && !rotate.contains("--listen"));
    assert!(!help(&["keys", "list", "--help"]).contains("--key-encryption-secret"));
    assert!(!help(&["audit", "tail", "--help"]).contains("--listen"));
    assert!(!help(&["migrate", "--help"]).contains("--listen"));
    // A server flag given to an admin command is refused, not ignored.
    let out = authd(
        "sqlite://unused.db",
        &["user", "list", "--listen", "127.0.0.1:1"],
        "",
    );
    assert!(!out.status.success());
}

#[test]
fn one_config_file_serves_every_command_and_unknown_keys_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let config = dir.path().join("authd.toml");
    // Server-only keys are ignored by `migrate`, which does not use them.
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:6000\"\naccess_token_ttl = 600\n",
    )
    .expect("write");
    let path = config.to_str().expect("UTF-8");
    let out = authd(&url, &["migrate", "--config", path], "");
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::write(
        &config,
        "listen = \"127.0.0.1:6000\"\n\nlisten_adress = \"x\"\n",
    )
    .expect("write");
    let out = authd(&url, &["migrate", "--config", path], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains(&format!("{path}:3:17")), "{err}");
    assert!(err.contains("unknown key `listen_adress`"), "{err}");
}

#[test]
fn bad_values_say_where_they_came_from() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let out = authd_with(&url, &["serve"], &[("AUTHD_ACCESS_TOKEN_TTL", "forever")]);
    let err = assert_one_line_failure(&out);
    assert!(
        err.contains("--access-token-ttl")
            && err.contains("environment variable AUTHD_ACCESS_TOKEN_TTL"),
        "{err}"
    );
    let out = authd(&url, &["serve", "--access-token-ttl", "forever"], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("set by the command-line flag"), "{err}");
    let config = dir.path().join("authd.toml");
    std::fs::write(&config, "# authd\naccess_token_ttl = \"forever\"\n").expect("write");
    let path = config.to_str().expect("UTF-8");
    let out = authd(&url, &["serve", "--config", path], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains(&format!("set in {path}:2:20")), "{err}");
    std::fs::write(&config, "access_token_ttl = 5m\n").expect("write");
    let out = authd(&url, &["serve", "--config", path], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains(&format!("{path}:1:")), "{err}");
}

#[test]
fn logs_to_a_pipe_carry_no_colour_codes() {
    let dir = tempfile::tempdir().expect("dir");
    let url = format!("sqlite://{}", dir.path().join("a.db").display());
    let lines = serve_until(
        &["--http-listen", "off", "--log", "info"],
        &[("AUTHD_DATABASE_URL", url.as_str())],
        |line| line.contains("serving gRPC"),
    );
    assert!(
        lines.iter().any(|l| l.contains("serving gRPC")),
        "{lines:?}"
    );
    assert!(
        lines.iter().all(|l| !l.contains('\u{1b}')),
        "ANSI codes: {lines:?}"
    );
}

#[tokio::test]
async fn settings_before_the_subcommand_apply_to_it() {
    let db = TestDb::new(Backend::Sqlite).await;
    let out = authd(
        "sqlite::memory:",
        &["--database-url", &db.url, "migrate"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let flag = format!("--database-url={}", db.url);
    let out = authd(
        "sqlite::memory:",
        &[&flag, "--log", "warn", "user", "list"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("USERNAME"), "{}", stdout(&out));
    // A server setting is not the subcommand's, and is refused as before.
    let out = authd(&db.url, &["--listen", "127.0.0.1:1", "migrate"], "");
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--listen"), "{}", stderr(&out));
}

/// Runs `authd serve --listen 127.0.0.1:0 ARGS` with `env` (and no other
/// `AUTHD_*` or `NO_COLOR` variable), stderr a pipe, collecting its log lines
/// until one satisfies `done` (at most 100); then stops it with SIGTERM.
fn serve_until(args: &[&str], env: &[(&str, &str)], done: impl Fn(&str) -> bool) -> Vec<String> {
    use std::io::BufRead as _;
    let mut command = Command::new(env!("CARGO_BIN_EXE_authd"));
    for (key, _) in std::env::vars() {
        if key.starts_with("AUTHD_") || key == "NO_COLOR" {
            command.env_remove(key);
        }
    }
    let mut child = command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run authd serve");
    let stderr_pipe = child.stderr.take().expect("stderr");
    let mut lines = Vec::new();
    for line in std::io::BufReader::new(stderr_pipe).lines().take(100) {
        let Ok(line) = line else { break };
        let finished = done(&line);
        lines.push(line);
        if finished {
            break;
        }
    }
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill");
    child.wait().expect("authd exits");
    lines
}

/// The first JSON log line of `authd serve` whose message is `message`.
fn serve_until_logged(args: &[&str], env: &[(&str, &str)], message: &str) -> serde_json::Value {
    let parse = |line: &str| serde_json::from_str::<serde_json::Value>(line).ok();
    let is_it = |line: &str| parse(line).is_some_and(|e| e["fields"]["message"] == message);
    let mut all = vec!["--http-listen", "127.0.0.1:0", "--log-format", "json"];
    all.extend_from_slice(args);
    let lines = serve_until(&all, env, is_it);
    lines
        .iter()
        .find(|line| is_it(line))
        .and_then(|line| parse(line))
        .unwrap_or_else(|| panic!("no {message:?} line in {lines:?}"))
}

#[tokio::test]
async fn the_start_up_line_names_version_database_config_listeners_and_signing_key() {
    let db = TestDb::new(Backend::Postgres).await;
    // Trust authentication ignores the password; the line must not show it.
    let with_password = db.url.replacen("://postgres@", "://postgres:s3cretpw@", 1);
    assert_ne!(
        with_password, db.url,
        "the test URL names the postgres user"
    );
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("authd.toml");
    std::fs::write(&config, "signing_algorithm = \"ES256\"\n").expect("config file");
    let config = config.display().to_string();
    let line = serve_until_logged(
        &["--config", &config],
        &[("AUTHD_DATABASE_URL", with_password.as_str())],
        "authd serving gRPC",
    );
    let fields = &line["fields"];
    assert_eq!(fields["version"], env!("CARGO_PKG_VERSION"), "{line}");
    assert_eq!(fields["backend"], "postgres", "{line}");
    let database = fields["database"].as_str().expect("database");
    assert!(database.contains("postgres:***@"), "{line}");
    assert!(
        !line.to_string().contains("s3cretpw"),
        "the password leaked: {line}"
    );
    assert_eq!(fields["config_file"], config.as_str(), "{line}");
    assert!(
        fields["addr"]
            .as_str()
            .expect("addr")
            .starts_with("127.0.0.1:")
    );
    assert!(
        fields["http"]
            .as_str()
            .expect("http")
            .starts_with("127.0.0.1:")
    );
    assert_eq!(fields["signing_algorithm"], "ES256", "{line}");
    assert!(
        fields["kid"].as_str().is_some_and(|k| k.len() > 20),
        "{line}"
    );
}

#[test]
fn help_never_shows_a_secret_from_the_config_file() {
    let dir = tempfile::tempdir().expect("dir");
    let config = dir.path().join("authd.toml");
    std::fs::write(
        &config,
        "database_url = \"postgres://u:topsecretpw@db/authd\"\n\
         hs256_secret = \"an-hs256-secret-from-the-file-0123456789\"\n\
         key_encryption_secret = \"a-key-encryption-secret-from-the-file-01\"\n\
         issuer = \"from-the-file\"\n",
    )
    .expect("config file");
    let config = config.display().to_string();
    for args in [
        vec!["serve", "--config", &config, "--help"],
        vec!["user", "list", "--config", &config, "--help"],
        vec!["keys", "rotate", "--config", &config, "--help"],
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_authd"))
            .args(&args)
            .env_remove("AUTHD_DATABASE_URL")
            .output()
            .expect("run authd");
        let help = stdout(&output);
        assert!(output.status.success(), "{args:?}: {}", stderr(&output));
        for secret in ["topsecretpw", "an-hs256-secret", "a-key-encryption-secret"] {
            assert!(!help.contains(secret), "{args:?} shows {secret}:\n{help}");
        }
    }
    // Other file values still show as the defaults they now are.
    let output = Command::new(env!("CARGO_BIN_EXE_authd"))
        .args(["serve", "--config", &config, "--help"])
        .output()
        .expect("run authd");
    assert!(stdout(&output).contains("[default: from-the-file]"));
}

/// The value after `label` on the line that starts with it.
fn value_after(out: &str, label: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(label))
        .unwrap_or_else(|| panic!("no {label:?} in {out}"))
        .trim()
        .to_owned()
}

async fn service_account_commands_add_list_rotate_and_delete(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = authd(
        &db.url,
        &[
            "service-account",
            "add",
            "ci-bot",
            "--role",
            "deploy",
            "--description",
            "deploys from CI",
        ],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let printed = stdout(&out);
    let client_id = value_after(&printed, "client id:");
    let secret = value_after(&printed, "client secret:");
    assert!(
        client_id.starts_with("sa-") && secret.starts_with("authd_sa_"),
        "{printed}"
    );
    let id = printed
        .split("(id ")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .expect("the id")
        .to_owned();

    let out = authd(&db.url, &["service-account", "add", "CI-BOT"], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("already exists"), "{err}");

    let list = authd(&db.url, &["service-account", "list"], "");
    assert!(list.status.success(), "{}", stderr(&list));
    let listed = stdout(&list);
    assert!(
        listed.contains(&id) && listed.contains("ci-bot") && listed.contains(&client_id),
        "{listed}"
    );
    assert!(
        listed.contains("deploy") && listed.contains("never"),
        "{listed}"
    );
    assert!(
        !listed.contains("authd_sa_"),
        "no secrets in listings: {listed}"
    );

    let out = authd(
        &db.url,
        &["service-account", "rotate", &id, "--overlap", "1h"],
        "",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let rotated = stdout(&out);
    let new_secret = value_after(&rotated, "new client secret:");
    assert!(
        rotated.contains("the previous secret works until"),
        "{rotated}"
    );
    let out = authd(
        &db.url,
        &["service-account", "rotate", &id, "--overlap", "31d"],
        "",
    );
    assert!(!out.status.success(), "an overlap over 30 days is refused");

    // Both secrets work on the server (within the overlap).
    let app = TestApp::builder_on(TestDb::attach(&db.url)).spawn().await;
    for secret in [&secret, &new_secret] {
        app.client
            .clone()
            .issue_service_token(authd::grpc::pb::IssueServiceTokenRequest {
                client_id: client_id.clone(),
                client_secret: secret.clone(),
                audience: String::new(),
            })
            .await
            .expect("a token for the secret the CLI printed");
    }

    let out = authd(&db.url, &["service-account", "delete", &id], "");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("deleted service account ci-bot"));
    let out = authd(&db.url, &["service-account", "delete", &id], "");
    let err = assert_one_line_failure(&out);
    assert!(err.contains("no such service account"), "{err}");
    let rows = app
        .core
        .accounts()
        .store()
        .audit_tail(20, None)
        .await
        .expect("audit");
    assert!(
        rows.iter()
            .any(|r| r.event == "service_account_deleted" && r.detail.contains("by cli, os user")),
        "{rows:?}"
    );
    drop(app);
    drop(db);
}
