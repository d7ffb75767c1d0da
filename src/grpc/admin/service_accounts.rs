//! AdminService's service-account RPCs.

use tonic::Request;

use super::AdminApi;
use crate::error::{Error, Result};
use crate::grpc::pb;

/// `CreateServiceAccount`. SKELETON: not implemented yet.
pub(super) async fn create(
    api: &AdminApi,
    request: Request<pb::CreateServiceAccountRequest>,
) -> Result<pb::CreateServiceAccountResponse> {
    let _caller = api.caller("CreateServiceAccount", &request).await?;
    Err(Error::FailedPrecondition(
        "CreateServiceAccount is not implemented yet".to_owned(),
    ))
}

/// `ListServiceAccounts`. SKELETON: not implemented yet.
pub(super) async fn list(
    api: &AdminApi,
    request: Request<pb::ListServiceAccountsRequest>,
) -> Result<pb::ListServiceAccountsResponse> {
    let _caller = api.caller("ListServiceAccounts", &request).await?;
    Err(Error::FailedPrecondition(
        "ListServiceAccounts is not implemented yet".to_owned(),
    ))
}

/// `RotateServiceAccountSecret`. SKELETON: not implemented yet.
pub(super) async fn rotate_secret(
    api: &AdminApi,
    request: Request<pb::RotateServiceAccountSecretRequest>,
) -> Result<pb::RotateServiceAccountSecretResponse> {
    let _caller = api.caller("RotateServiceAccountSecret", &request).await?;
    Err(Error::FailedPrecondition(
        "RotateServiceAccountSecret is not implemented yet".to_owned(),
    ))
}

/// `DeleteServiceAccount`. SKELETON: not implemented yet.
pub(super) async fn delete(
    api: &AdminApi,
    request: Request<pb::DeleteServiceAccountRequest>,
) -> Result<()> {
    let _caller = api.caller("DeleteServiceAccount", &request).await?;
    Err(Error::FailedPrecondition(
        "DeleteServiceAccount is not implemented yet".to_owned(),
    ))
}
