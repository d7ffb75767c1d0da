//! What RPC spans carry, which is what the `otlp` feature exports: the
//! method, the status code and the user id, and never a token or password.
//!
//! A capturing `tracing` layer is installed as the default subscriber of the
//! test's thread, and the test runs on a current-thread runtime so the
//! server's tasks run (and record) on that thread too.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use authd::grpc::pb;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt as _};
use tracing_subscriber::{Layer, Registry};

use crate::helpers::{Backend, PASSWORD, assert_code, spawn_app};

/// Every span (name and fields, merged over its life) and every event seen.
#[derive(Debug, Default)]
struct Recorded {
    spans: HashMap<u64, (String, HashMap<String, String>)>,
    events: Vec<HashMap<String, String>>,
}

impl Recorded {
    /// The fields of every `rpc` span whose method is `method`, in no order.
    fn rpc_spans(&self, method: &str) -> Vec<&HashMap<String, String>> {
        self.spans
            .values()
            .filter(|(name, fields)| {
                name == "rpc" && fields.get("method").map(String::as_str) == Some(method)
            })
            .map(|(_, fields)| fields)
            .collect()
    }

    /// Every recorded field value, of spans and events alike.
    fn all_values(&self) -> impl Iterator<Item = &String> {
        self.spans
            .values()
            .flat_map(|(_, fields)| fields.values())
            .chain(self.events.iter().flat_map(HashMap::values))
    }
}

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Recorded>>);

struct FieldsVisitor<'a>(&'a mut HashMap<String, String>);

impl Visit for FieldsVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
}

impl Layer<Registry> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _ctx: Context<'_, Registry>) {
        let mut fields = HashMap::new();
        attrs.record(&mut FieldsVisitor(&mut fields));
        self.0
            .lock()
            .unwrap()
            .spans
            .insert(id.into_u64(), (attrs.metadata().name().to_owned(), fields));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _ctx: Context<'_, Registry>) {
        let mut recorded = self.0.lock().unwrap();
        if let Some((_, fields)) = recorded.spans.get_mut(&id.into_u64()) {
            values.record(&mut FieldsVisitor(fields));
        }
    }

    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, Registry>) {
        let mut fields = HashMap::new();
        event.record(&mut FieldsVisitor(&mut fields));
        self.0.lock().unwrap().events.push(fields);
    }
}

/// Logs in (right and wrong password), verifies, reads the user and
/// refreshes, capturing every span and event, then checks what they hold.
async fn rpc_spans_carry_method_code_and_user_id_but_no_secret(backend: Backend) {
    // One process-wide capture: a thread-local subscriber misses spans whose
    // callsites other tests in this process registered first. Every test's
    // spans land here; this test looks only at its own user's.
    static CAPTURE: std::sync::OnceLock<Capture> = std::sync::OnceLock::new();
    let capture = CAPTURE
        .get_or_init(|| {
            let capture = Capture::default();
            let _ =
                tracing::subscriber::set_global_default(Registry::default().with(capture.clone()));
            capture
        })
        .clone();

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

// Current-thread runtimes: the capture is the test thread's default subscriber.
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
