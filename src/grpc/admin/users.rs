//! AdminService's user, login-throttle and audit RPCs: unpack, call
//! [`crate::service::Admin`], pack. Checks and decisions live there.

use secrecy::SecretString;
use tonic::Request;

use super::AdminApi;
use crate::error::Result;
use crate::grpc::{convert, pb};
use crate::service::{self, NewAccount};
use crate::store::AuditEntry;

/// `CreateUser`.
pub(super) async fn create(
    api: &AdminApi,
    request: Request<pb::CreateUserRequest>,
) -> Result<pb::User> {
    let caller = api.caller("CreateUser", &request).await?;
    let request = request.into_inner();
    let now = api.core().clock().now_unix();
    let user = api
        .core()
        .admin(&caller.actor, &caller.client)
        .create_user(
            service::CreateUser {
                account: NewAccount {
                    username: request.username,
                    email: Some(request.email),
                    roles: request.roles,
                    password: SecretString::from(request.password),
                },
                active: request.active.unwrap_or(true),
            },
            now,
        )
        .await?;
    Ok(convert::user(user))
}

/// `ListUsers`.
pub(super) async fn list(
    api: &AdminApi,
    request: Request<pb::ListUsersRequest>,
) -> Result<pb::ListUsersResponse> {
    let caller = api.caller("ListUsers", &request).await?;
    let request = request.into_inner();
    let now = api.core().clock().now_unix();
    let page = api
        .core()
        .admin(&caller.actor, &caller.client)
        .list_users(
            &service::ListUsers {
                page_size: request.page_size,
                page_token: request.page_token,
                query: request.query,
                role: request.role,
                active: request.active,
            },
            now,
        )
        .await?;
    Ok(pb::ListUsersResponse {
        users: page.items.into_iter().map(convert::user).collect(),
        next_page_token: page.next_page_token,
    })
}

/// `UpdateUser`.
pub(super) async fn update(
    api: &AdminApi,
    request: Request<pb::UpdateUserRequest>,
) -> Result<pb::User> {
    let caller = api.caller("UpdateUser", &request).await?;
    let request = request.into_inner();
    let now = api.core().clock().now_unix();
    let user = request.user.unwrap_or_default();
    let user = api
        .core()
        .admin(&caller.actor, &caller.client)
        .update_user(
            service::UpdateUser {
                id: user.id,
                paths: request.update_mask.map(|m| m.paths).unwrap_or_default(),
                email: user.email,
                roles: user.roles,
                active: user.active,
            },
            now,
        )
        .await?;
    Ok(convert::user(user))
}

/// `SetPassword`.
pub(super) async fn set_password(
    api: &AdminApi,
    request: Request<pb::SetPasswordRequest>,
) -> Result<pb::SetPasswordResponse> {
    let caller = api.caller("SetPassword", &request).await?;
    let request = request.into_inner();
    let now = api.core().clock().now_unix();
    let ended = api
        .core()
        .admin(&caller.actor, &caller.client)
        .set_password(&request.id, SecretString::from(request.password), now)
        .await?;
    Ok(pb::SetPasswordResponse {
        ended_sessions: i64::try_from(ended).unwrap_or(i64::MAX),
    })
}

/// `DeleteUser`.
pub(super) async fn delete(api: &AdminApi, request: Request<pb::DeleteUserRequest>) -> Result<()> {
    let caller = api.caller("DeleteUser", &request).await?;
    api.core()
        .admin(&caller.actor, &caller.client)
        .delete_user(&request.get_ref().id)
        .await?;
    Ok(())
}

/// `UnlockLogin`.
pub(super) async fn unlock(
    api: &AdminApi,
    request: Request<pb::UnlockLoginRequest>,
) -> Result<pb::UnlockLoginResponse> {
    let caller = api.caller("UnlockLogin", &request).await?;
    let request = request.get_ref();
    let cleared = api
        .core()
        .admin(&caller.actor, &caller.client)
        .unlock(&request.login, &request.address)
        .await?;
    Ok(pb::UnlockLoginResponse {
        cleared: i64::try_from(cleared).unwrap_or(i64::MAX),
    })
}

/// `ListAuditEvents`.
pub(super) async fn list_audit_events(
    api: &AdminApi,
    request: Request<pb::ListAuditEventsRequest>,
) -> Result<pb::ListAuditEventsResponse> {
    let caller = api.caller("ListAuditEvents", &request).await?;
    let request = request.into_inner();
    let now = api.core().clock().now_unix();
    let page = api
        .core()
        .admin(&caller.actor, &caller.client)
        .list_audit_events(
            &service::ListAuditEvents {
                page_size: request.page_size,
                page_token: request.page_token,
                subject: request.subject,
                event: request.event,
                since: request.since.map(|t| (t.seconds, t.nanos)),
            },
            now,
        )
        .await?;
    Ok(pb::ListAuditEventsResponse {
        events: page.items.into_iter().map(audit_event).collect(),
        next_page_token: page.next_page_token,
    })
}

/// An audit row as the `auth.v1.AuditEvent` message.
fn audit_event(row: AuditEntry) -> pb::AuditEvent {
    pb::AuditEvent {
        id: row.id,
        time: Some(convert::timestamp(row.at)),
        event: row.event,
        outcome: row.outcome,
        subject: row.subject,
        target_id: row.user_id.unwrap_or_default(),
        client_address: row.client_addr.unwrap_or_default(),
        detail: row.detail,
    }
}
