//! Keeping gRPC health true to [`Readiness`]: the database probe that
//! records whether the database answers, the mirror that follows every
//! change, and [`report_health`], the one projection of a [`ReadyState`]
//! onto the health reporter. Nothing here decides when to stop or holds a
//! flag of its own: it reads and writes [`Readiness`] only.

use std::sync::Arc;
use std::time::Duration;

use tonic::server::NamedService;
use tonic_health::ServingStatus;

use crate::grpc::pb::admin_service_server::AdminServiceServer;
use crate::grpc::pb::auth_service_server::AuthServiceServer;
use crate::grpc::{AdminApi, AuthApi};
use crate::readiness::{Readiness, ReadyState};
use crate::store::Store;

/// Pings the database every `interval` (`--readiness-probe-interval`) once
/// started, each ping bounded by `limit`, and records the answer in
/// `readiness`. The only readiness query: gRPC health and `/readyz` both
/// serve this last answer.
pub(super) async fn probe_database(
    store: Arc<dyn Store>,
    readiness: Readiness,
    limit: Duration,
    interval: Duration,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        if !readiness.state().started {
            continue;
        }
        let up = matches!(tokio::time::timeout(limit, store.ping()).await, Ok(Ok(())));
        let was_up = readiness.state().database_up;
        if up != was_up {
            if up {
                tracing::info!("database answers again; reporting SERVING");
            } else {
                tracing::warn!("database does not answer; reporting NOT_SERVING");
            }
        }
        readiness.set_database_up(up);
    }
}

/// Keeps gRPC health (the whole server and `auth.v1.AuthService`) equal to
/// [`crate::readiness::ReadyState::serving`].
pub(super) async fn mirror_readiness(
    readiness: Readiness,
    health: tonic_health::server::HealthReporter,
) {
    let mut changes = readiness.subscribe();
    loop {
        let state = *changes.borrow_and_update();
        report_health(&health, state).await;
        if changes.changed().await.is_err() {
            return;
        }
    }
}

/// Projects `state` onto gRPC health: the whole server (`""`) and
/// `auth.v1.AuthService` (and `auth.v1.AdminService`) say SERVING exactly when
/// [`crate::readiness::ReadyState::serving`]. The one writer of health.
pub(super) async fn report_health(
    health: &tonic_health::server::HealthReporter,
    state: ReadyState,
) {
    let auth_name = <AuthServiceServer<AuthApi> as NamedService>::NAME;
    let status = if state.serving() {
        ServingStatus::Serving
    } else {
        ServingStatus::NotServing
    };
    health.set_service_status("", status).await;
    health.set_service_status(auth_name, status).await;
    let admin_name = <AdminServiceServer<AdminApi> as NamedService>::NAME;
    health.set_service_status(admin_name, status).await;
}
