//! The Python package's `authd.LocalVerifier` answers the token-attack list
//! exactly as the server's Verify does.
//!
//! The attack tokens are [`crate::token_attacks`]' own ([`Kit::all_attacks`],
//! not a copy), plus the kit's real token. Verify answers each here; then
//! `clients/python/tests/parity_check.py` runs in the Python environment the
//! package is installed in (`AUTHD_TEST_CLIENT_PYTHON`, which `tests/run`
//! sets to `target/py-venv/bin/python`), connects a `LocalVerifier` to a
//! second replica on the same database (same keys, same rules) as a service
//! account, and answers each token in process. The two lists must be equal,
//! reason for reason.
//!
//! [`Kit::all_attacks`]: crate::token_attacks::Kit::all_attacks

use std::path::PathBuf;
use std::process::{Command, Stdio};

use authd::grpc::pb::{self, admin_service_client::AdminServiceClient};
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, TestDb, with_bearer};
use crate::token_attacks::kit;

on_both_backends!(the_python_local_verifier_answers_every_token_attack_as_the_server_does,);

/// The Python with the `authd` package installed: `AUTHD_TEST_CLIENT_PYTHON`,
/// else the checkout's `target/py-venv` (which `bash tests/run` makes). Missing
/// is a failure saying how to make it, never a skip.
fn client_python() -> PathBuf {
    if let Some(path) = std::env::var_os("AUTHD_TEST_CLIENT_PYTHON").filter(|p| !p.is_empty()) {
        return PathBuf::from(path);
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/py-venv/bin/python");
    assert!(
        venv.is_file(),
        "no Python with the authd package at {}: run the suite with `bash tests/run` \
         (or `bash tests/run python -k nothing_matches` once), which installs clients/python \
         into target/py-venv, or set AUTHD_TEST_CLIENT_PYTHON",
        venv.display()
    );
    venv
}

/// Verify's answer as the Python package names it: `valid <user id>`, or the
/// reason without its prefix. A request Verify refuses before reading it (the
/// 100 KiB token is over the message limit: OUT_OF_RANGE) is what the
/// package's own classes make of that refusal, `MALFORMED`.
async fn server_answer(app: &TestApp, token: &str) -> String {
    let answer = app
        .client
        .clone()
        .verify(pb::VerifyRequest {
            token: token.to_owned(),
        })
        .await;
    match answer {
        Ok(response) => {
            let response = response.into_inner();
            if response.valid {
                let claims = response.claims.expect("a valid answer has claims");
                format!("valid {}", claims.sub)
            } else {
                response
                    .reason()
                    .as_str_name()
                    .trim_start_matches("INVALID_REASON_")
                    .to_owned()
            }
        }
        Err(status) if status.code() == tonic::Code::OutOfRange => "MALFORMED".to_owned(),
        Err(status) => panic!("Verify failed: {status:?}"),
    }
}

/// A service account the Python verifier watches revocations as.
async fn service_account(app: &TestApp) -> (String, String) {
    app.create_user("root", &["admin"]).await;
    let admin_token = app.token_for("root").await;
    let created = AdminServiceClient::new(app.channel.clone())
        .create_service_account(with_bearer(
            pb::CreateServiceAccountRequest {
                name: "parity".to_owned(),
                description: "the Python parity check".to_owned(),
                roles: vec![],
            },
            &admin_token,
        ))
        .await
        .expect("create a service account")
        .into_inner();
    let client_id = created
        .service_account
        .expect("the account")
        .client_id
        .clone();
    (client_id, created.client_secret)
}

async fn the_python_local_verifier_answers_every_token_attack_as_the_server_does(backend: Backend) {
    let kit = kit(backend).await;
    let mut cases: Vec<(String, String)> =
        vec![("the kit's own token".to_owned(), kit.token.clone())];
    cases.extend(kit.all_attacks().into_iter().map(|a| (a.name, a.token)));
    let mut expected = Vec::with_capacity(cases.len());
    for (_, token) in &cases {
        expected.push(server_answer(&kit.app, token).await);
    }
    assert!(
        expected[0].starts_with("valid "),
        "the kit's token is valid"
    );

    let (client_id, client_secret) = service_account(&kit.app).await;
    let (_replica, addr) = TestApp::builder_on(TestDb::attach(kit.app.database_url()))
        .spawn_with_addr()
        .await;
    let input = json!({
        "target": addr.to_string(),
        "client_id": client_id,
        "client_secret": client_secret,
        "tokens": cases.iter().map(|(_, token)| token).collect::<Vec<_>>(),
    })
    .to_string();
    let python = client_python();
    let script =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("clients/python/tests/parity_check.py");
    // The check talks to the replica this runtime serves: wait for it off the runtime.
    let out = tokio::task::spawn_blocking(move || {
        use std::io::Write as _;
        let mut child = Command::new(&python)
            .arg(&script)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", python.display()));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write the tokens");
        child.wait_with_output().expect("the check finishes")
    })
    .await
    .expect("the check ran");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "parity_check.py failed:\n{stderr}");
    let answers: Vec<String> = match serde_json::from_slice::<Value>(&out.stdout) {
        Ok(Value::Array(items)) => items
            .into_iter()
            .map(|v| v.as_str().expect("answers are strings").to_owned())
            .collect(),
        other => panic!("parity_check.py printed no JSON list: {other:?}\n{stderr}"),
    };
    assert_eq!(answers.len(), cases.len(), "one answer per token");
    let differences: Vec<String> = cases
        .iter()
        .zip(expected.iter().zip(&answers))
        .filter(|(_, (server, local))| server != local)
        .map(|((name, _), (server, local))| format!("{name}: server {server}, Python {local}"))
        .collect();
    assert!(
        differences.is_empty(),
        "the Python verifier differs from Verify on {} of {} tokens:\n{}",
        differences.len(),
        cases.len(),
        differences.join("\n")
    );
}
