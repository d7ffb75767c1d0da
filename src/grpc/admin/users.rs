//! AdminService's user, login-throttle and audit RPCs.

use tonic::Request;

use super::AdminApi;
use crate::error::{Error, Result};
use crate::grpc::pb;

/// `CreateUser`. SKELETON: not implemented yet.
pub(super) async fn create(
    api: &AdminApi,
    request: Request<pb::CreateUserRequest>,
) -> Result<pb::User> {
    let _caller = api.caller("CreateUser", &request).await?;
    Err(Error::FailedPrecondition(
        "CreateUser is not implemented yet".to_owned(),
    ))
}

/// `ListUsers`. SKELETON: not implemented yet.
pub(super) async fn list(
    api: &AdminApi,
    request: Request<pb::ListUsersRequest>,
) -> Result<pb::ListUsersResponse> {
    let _caller = api.caller("ListUsers", &request).await?;
    Err(Error::FailedPrecondition(
        "ListUsers is not implemented yet".to_owned(),
    ))
}

/// `UpdateUser`. SKELETON: not implemented yet.
pub(super) async fn update(
    api: &AdminApi,
    request: Request<pb::UpdateUserRequest>,
) -> Result<pb::User> {
    let _caller = api.caller("UpdateUser", &request).await?;
    Err(Error::FailedPrecondition(
        "UpdateUser is not implemented yet".to_owned(),
    ))
}

/// `SetPassword`. SKELETON: not implemented yet.
pub(super) async fn set_password(
    api: &AdminApi,
    request: Request<pb::SetPasswordRequest>,
) -> Result<pb::SetPasswordResponse> {
    let _caller = api.caller("SetPassword", &request).await?;
    Err(Error::FailedPrecondition(
        "SetPassword is not implemented yet".to_owned(),
    ))
}

/// `DeleteUser`. SKELETON: not implemented yet.
pub(super) async fn delete(api: &AdminApi, request: Request<pb::DeleteUserRequest>) -> Result<()> {
    let _caller = api.caller("DeleteUser", &request).await?;
    Err(Error::FailedPrecondition(
        "DeleteUser is not implemented yet".to_owned(),
    ))
}

/// `UnlockLogin`. SKELETON: not implemented yet.
pub(super) async fn unlock(
    api: &AdminApi,
    request: Request<pb::UnlockLoginRequest>,
) -> Result<pb::UnlockLoginResponse> {
    let _caller = api.caller("UnlockLogin", &request).await?;
    Err(Error::FailedPrecondition(
        "UnlockLogin is not implemented yet".to_owned(),
    ))
}

/// `ListAuditEvents`. SKELETON: not implemented yet.
pub(super) async fn list_audit_events(
    api: &AdminApi,
    request: Request<pb::ListAuditEventsRequest>,
) -> Result<pb::ListAuditEventsResponse> {
    let _caller = api.caller("ListAuditEvents", &request).await?;
    Err(Error::FailedPrecondition(
        "ListAuditEvents is not implemented yet".to_owned(),
    ))
}
