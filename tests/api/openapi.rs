//! `GET /openapi.json` and schemathesis: the document is served, and every
//! answer authd gives to requests generated from it conforms to it (no
//! 5xx, only documented status codes, content types and body schemas).
//!
//! schemathesis (a Python package, `tests/interop/requirements.txt`) runs
//! from the suite's virtual environment (`AUTHD_TEST_PYTHON`, set by
//! `bash tests/run`), authenticating with a real service account's
//! credentials by HTTP Basic so the OAuth2 endpoints are reached past
//! client authentication too.

use std::io::Read as _;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::{Backend, TestApp, spawn_app};
use crate::http::{get, http};
use crate::oauth2::service_account;

on_both_backends!(openapi_json_is_an_openapi_3_1_document_of_every_path);

/// The longest schemathesis may run before the test kills it and fails.
const SCHEMATHESIS_BUDGET: Duration = Duration::from_secs(120);

/// The document is served as JSON, is OpenAPI 3.1, names each path of the
/// listener and the two security schemes.
async fn openapi_json_is_an_openapi_3_1_document_of_every_path(backend: Backend) {
    let app = spawn_app(backend).await;
    let response = get(http(&app), "/openapi.json").await;
    assert_eq!(response.status, 200, "{}", response.body);
    assert_eq!(response.header("content-type"), Some("application/json"));
    let doc = response.json();
    assert!(
        doc["openapi"]
            .as_str()
            .unwrap_or_default()
            .starts_with("3.1."),
        "{doc}"
    );
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/openid-configuration",
        "/healthz",
        "/readyz",
        "/metrics",
        "/oauth2/token",
        "/oauth2/introspect",
        "/oauth2/revoke",
        "/auth/verify",
        "/openapi.json",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} is not documented");
    }
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["client_basic"]["scheme"], "basic");
    assert_eq!(schemes["bearer"]["scheme"], "bearer");
}

/// schemathesis generates requests for every operation from the served
/// document (its examples, boundary values and random ones, valid and
/// invalid) and checks each answer: never a 5xx, a documented status code
/// and content type, a body matching the documented schema, documented
/// headers, 405 for an undocumented method, invalid input refused.
/// `positive_data_acceptance` stays off: `audience` is accepted only when
/// it is the configured one, which a document built from the code cannot
/// name. SQLite is enough: the HTTP surface is the same on both databases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_server_error_and_no_answer_outside_the_document() {
    let app = spawn_app(Backend::Sqlite).await;
    let (client_id, client_secret) = service_account(&app, "schemathesis").await;
    let doc = get(http(&app), "/openapi.json").await.json();
    // schemathesis leaves out the document it was given.
    let operations: usize = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(path, _)| *path != "/openapi.json")
        .map(|(_, item)| item.as_object().unwrap().len())
        .sum();
    let auth = format!("{client_id}:{client_secret}");
    let run = schemathesis(&app, &["--auth", &auth]).await;
    assert_conforms(&run);
    // It tested every operation, not none.
    assert!(
        run.output.contains(&format!("Tested: {operations}\n")),
        "not all {operations} operations were tested:\n{}",
        run.output
    );
    // Forward-auth again with a valid bearer token, so its 200 answers
    // (with the identity headers) are checked too. It answers any method,
    // by design (proxies send their own), so also methods OpenAPI cannot
    // list (`QUERY`, ...): the undeclared-method check is off here.
    app.create_user("alice", &["staff"]).await;
    let bearer = format!("Authorization: Bearer {}", app.token_for("alice").await);
    let run = schemathesis(
        &app,
        &[
            "-H",
            &bearer,
            "--include-path",
            "/auth/verify",
            "--exclude-checks",
            "unsupported_method",
        ],
    )
    .await;
    assert_conforms(&run);
    assert!(run.output.contains("Tested: 8\n"), "{}", run.output);
}

/// Asserts a schemathesis run passed, saying how to get it when it is missing.
fn assert_conforms(run: &Run) {
    assert!(
        !run.output.contains("No module named"),
        "schemathesis is missing: run the suite with `bash tests/run`, which installs \
         tests/interop/requirements.txt into its own virtual environment\n{}",
        run.output
    );
    assert!(
        run.success,
        "schemathesis found answers outside the OpenAPI document (or crashed):\n{}",
        run.output
    );
}

/// Runs schemathesis with `extra` arguments against `app`'s document.
async fn schemathesis(app: &TestApp, extra: &[&str]) -> Run {
    let url = format!("http://{}/openapi.json", http(app));
    let python = std::env::var("AUTHD_TEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let report = tempfile::tempdir().unwrap();
    let mut command = Command::new(&python);
    command
        .args(["-m", "schemathesis.cli", "run", &url])
        .args(extra)
        .args([
            "--checks",
            "not_a_server_error,status_code_conformance,content_type_conformance,\
             response_schema_conformance,response_headers_conformance,unsupported_method,\
             negative_data_rejection,missing_required_header",
        ])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--max-examples", "100", "--seed", "14", "--workers", "1"])
        .args(["--request-timeout", "10", "--generation-database", "none"])
        .args(["--no-color", "--report-dir"])
        .arg(report.path())
        // Its cache goes to the working directory: keep it out of the checkout.
        .current_dir(report.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let run = tokio::task::spawn_blocking(move || run_bounded(command, &python))
        .await
        .unwrap();
    drop(report);
    run
}

/// What a bounded run printed and whether it exited 0.
struct Run {
    success: bool,
    output: String,
}

/// Runs `command`, killing it (by its own child handle) past
/// [`SCHEMATHESIS_BUDGET`].
fn run_bounded(mut command: Command, python: &str) -> Run {
    let mut child = command.spawn().unwrap_or_else(|e| {
        panic!(
            "cannot run {python}: {e}. This test needs Python 3 with schemathesis: run the \
             suite with `bash tests/run`, which installs it into its own virtual environment"
        )
    });
    // Drain both pipes on threads so a full pipe never stalls the child.
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).ok();
        text
    });
    let err = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).ok();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > SCHEMATHESIS_BUDGET {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = format!("{}{}", out.join().unwrap(), err.join().unwrap());
    match status {
        Some(status) => Run {
            success: status.success(),
            output,
        },
        None => Run {
            success: false,
            output: format!("schemathesis did not finish within {SCHEMATHESIS_BUDGET:?}\n{output}"),
        },
    }
}
