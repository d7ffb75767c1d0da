//! The caches stay within their configured bounds at any number of users
//! and sessions (issue 16): each is filled far past its bound through the
//! public path (Verify over gRPC, tokens signed with the server's own key
//! for users and sessions it has never seen) while `/metrics` is watched.
//! No timing: only sizes are checked.

use authd::grpc::pb::InvalidReason;
use aws_lc_rs::signature::Ed25519KeyPair;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp};

on_both_backends!(the_state_and_verified_token_caches_never_hold_more_than_their_bounds);

/// Bounds below the 16 shards' multiple (17) and above it, so a per-shard
/// bound rounded up would show.
const STATE_BOUND: u32 = 20;
const VERIFIED_BOUND: u32 = 17;
/// Distinct tokens of each kind sent: ten times the bounds.
const TOKENS: usize = 200;

/// Signs `claims` with the app's current key (EdDSA, the default).
struct Signer {
    kid: String,
    pair: Ed25519KeyPair,
}

impl Signer {
    async fn of(app: &TestApp, token: &str) -> Self {
        let header = token.split('.').next().expect("a JWT");
        let header: Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).expect("base64url"))
                .expect("a JSON header");
        let keys = app
            .core
            .accounts()
            .store()
            .signing_keys()
            .await
            .expect("the signing keys");
        let pair = Ed25519KeyPair::from_pkcs8(keys[0].private_key.expose_secret())
            .expect("an Ed25519 key");
        Self {
            kid: header["kid"].as_str().expect("a kid").to_owned(),
            pair,
        }
    }

    fn sign(&self, claims: &Value) -> String {
        let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": self.kid}).to_string();
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature = self.pair.sign(message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
    }
}

/// The largest of each cache's size seen so far.
#[derive(Debug, Default)]
struct Most {
    users: f64,
    sessions: f64,
    verified: f64,
}

impl Most {
    async fn observe(&mut self, app: &TestApp) {
        let scrape = app.scrape().await;
        self.users = self
            .users
            .max(scrape.value(r#"authd_state_cache_entries{kind="user"}"#));
        self.sessions = self
            .sessions
            .max(scrape.value(r#"authd_state_cache_entries{kind="session"}"#));
        self.verified = self
            .verified
            .max(scrape.value("authd_verified_token_cache_entries"));
    }
}

async fn the_state_and_verified_token_caches_never_hold_more_than_their_bounds(backend: Backend) {
    let app = TestApp::builder(backend)
        .config(|c| {
            c.server.state_cache_entries = STATE_BOUND as usize;
            c.token.verify_cache_entries = VERIFIED_BOUND as usize;
        })
        .spawn()
        .await;
    app.create_user("alice", &[]).await;
    let token = app.token_for("alice").await;
    app.wait_for_feed().await;
    let signer = Signer::of(&app, &token).await;
    let payload = token.split('.').nth(1).expect("a JWT");
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url"))
            .expect("JSON claims");

    let mut most = Most::default();
    for i in 0..TOKENS {
        // Alice's, for a session that does not exist: a known-missing session is cached.
        let mut unknown_session = claims.clone();
        unknown_session["sid"] = json!(format!("no-such-session-{i}"));
        unknown_session["jti"] = json!(format!("jti-s-{i}"));
        let answer = app.verify(&signer.sign(&unknown_session)).await;
        assert_eq!(answer.reason(), InvalidReason::SessionEnded, "{answer:?}");
        // A user that does not exist: a known-missing user is cached.
        let mut unknown_user = claims.clone();
        unknown_user["sub"] = json!(format!("no-such-user-{i}"));
        unknown_user["jti"] = json!(format!("jti-u-{i}"));
        let answer = app.verify(&signer.sign(&unknown_user)).await;
        assert_eq!(answer.reason(), InvalidReason::UserNotFound, "{answer:?}");
        if i % 4 == 3 {
            most.observe(&app).await;
        }
    }
    most.observe(&app).await;
    let (state, verified) = (f64::from(STATE_BOUND), f64::from(VERIFIED_BOUND));
    assert!(most.users <= state, "users {most:?}");
    assert!(most.sessions <= state, "sessions {most:?}");
    assert!(most.verified <= verified, "verified tokens {most:?}");
    // And they were filled, so the bounds were what held them.
    assert!(most.users >= state / 2.0, "users {most:?}");
    assert!(most.sessions >= state / 2.0, "sessions {most:?}");
    assert!(most.verified >= verified / 2.0, "verified tokens {most:?}");
}
