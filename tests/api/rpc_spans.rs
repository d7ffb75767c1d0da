//! What RPC spans carry, which is what the `otlp` feature exports: the
//! method, the status code and the user id, and never a token or password.
//!
//! The spans are those the suite's global subscriber captured (see
//! `log_capture`), which also scans every line for secrets.

use authd::grpc::pb;

use crate::helpers::{Backend, PASSWORD, assert_code, spawn_app};

/// Logs in (right and wrong password), verifies, reads the user and
/// refreshes, capturing every span and event, then checks what they hold.
async fn rpc_spans_carry_method_code_and_user_id_but_no_secret(backend: Backend) {
    // The suite's one process-wide subscriber (`log_capture`): every test's
    // spans land there; this test looks only at its own user's.
    let capture = &crate::log_capture::install().spans;

    let app = spawn_app(backend).await;
    let alice = app.create_user("alice", &[]).await;
    let login = app.login("alice", PASSWORD).await.unwrap();
    let wrong_password = "not alice's password at all";
    assert_code(
        app.login("alice", wrong_password).await,
        tonic::Code::Unauthenticated,
    );
    assert!(app.verify(&login.access_token).await.valid);
    app.get_user(
        Some(&format!("Bearer {}", login.access_token)),
        Some(pb::get_user_request::Selector::Username("alice".into())),
    )
    .await
    .unwrap();
    let refreshed = app
        .client
        .clone()
        .refresh(pb::RefreshRequest {
            refresh_token: login.refresh_token.clone(),
        })
        .await
        .unwrap()
        .into_inner();

    let recorded = capture.0.lock().unwrap();
    for method in ["Login", "Verify", "GetUser", "Refresh"] {
        let spans = recorded.rpc_spans(method);
        assert!(
            spans.iter().any(|fields| {
                fields.get("code").map(String::as_str) == Some("Ok")
                    && fields.get("user_id") == Some(&alice.id)
            }),
            "no {method} span with code Ok and alice's user id: {spans:?}"
        );
    }
    assert!(
        recorded.rpc_spans("Login").iter().any(|fields| {
            fields.get("code").map(String::as_str) == Some("Unauthenticated")
                && !fields.contains_key("user_id")
        }),
        "a refused login records its code and no user"
    );

    let signature = |token: &str| token.rsplit('.').next().unwrap().to_owned();
    let secrets = [
        login.access_token.clone(),
        signature(&login.access_token),
        login.refresh_token.clone(),
        refreshed.access_token.clone(),
        signature(&refreshed.access_token),
        refreshed.refresh_token.clone(),
        PASSWORD.to_owned(),
        wrong_password.to_owned(),
    ];
    let mut values = 0;
    for value in recorded.all_values() {
        values += 1;
        for secret in &secrets {
            assert!(
                !value.contains(secret.as_str()),
                "a secret was recorded: {value}"
            );
        }
    }
    assert!(values > 0, "the capture saw nothing");
    drop(recorded);
    drop(app);
}

mod sqlite {
    #[tokio::test]
    async fn rpc_spans_carry_method_code_and_user_id_but_no_secret() {
        super::rpc_spans_carry_method_code_and_user_id_but_no_secret(
            crate::helpers::Backend::Sqlite,
        )
        .await;
    }
}

mod postgres {
    #[tokio::test]
    async fn rpc_spans_carry_method_code_and_user_id_but_no_secret() {
        super::rpc_spans_carry_method_code_and_user_id_but_no_secret(
            crate::helpers::Backend::Postgres,
        )
        .await;
    }
}
