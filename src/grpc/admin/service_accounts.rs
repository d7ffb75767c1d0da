//! AdminService's service-account RPCs: unpack, call
//! [`crate::service::Accounts`] / [`crate::service::AuthCore`], pack.

use std::time::Duration;

use secrecy::ExposeSecret as _;
use tonic::Request;

use super::{AdminApi, Caller};
use crate::error::{Error, Result};
use crate::grpc::{convert, pb};
use crate::service::{ChangedBy, NewServiceAccountRequest};

fn changed_by(caller: &Caller) -> ChangedBy {
    ChangedBy {
        actor: caller.actor.describe(),
        client_addr: caller.client.addr.clone(),
    }
}

/// `CreateServiceAccount`.
pub(super) async fn create(
    api: &AdminApi,
    request: Request<pb::CreateServiceAccountRequest>,
) -> Result<pb::CreateServiceAccountResponse> {
    let caller = api.caller("CreateServiceAccount", &request).await?;
    let request = request.into_inner();
    let now = api.core().clock().now_unix();
    let created = api
        .core()
        .accounts()
        .create_service_account(
            NewServiceAccountRequest {
                name: request.name,
                description: request.description,
                roles: request.roles,
            },
            &changed_by(&caller),
            now,
        )
        .await?;
    Ok(pb::CreateServiceAccountResponse {
        client_id: created.account.client_id.clone(),
        service_account: Some(convert::service_account(created.account)),
        client_secret: created.client_secret.expose_secret().to_owned(),
    })
}

/// `ListServiceAccounts`.
pub(super) async fn list(
    api: &AdminApi,
    request: Request<pb::ListServiceAccountsRequest>,
) -> Result<pb::ListServiceAccountsResponse> {
    let _caller = api.caller("ListServiceAccounts", &request).await?;
    let request = request.into_inner();
    let (accounts, next_page_token) = api
        .core()
        .list_service_accounts(
            request.page_size,
            &request.page_token,
            api.core().clock().now_unix(),
        )
        .await?;
    Ok(pb::ListServiceAccountsResponse {
        service_accounts: accounts.into_iter().map(convert::service_account).collect(),
        next_page_token,
    })
}

/// The `overlap` of a rotation: unset is zero; negative is refused.
fn overlap(value: Option<prost_types::Duration>) -> Result<Duration> {
    let Some(d) = value else {
        return Ok(Duration::ZERO);
    };
    let (Ok(secs), Ok(nanos)) = (u64::try_from(d.seconds), u32::try_from(d.nanos)) else {
        return Err(Error::invalid("overlap", "must not be negative"));
    };
    if nanos >= 1_000_000_000 {
        return Err(Error::invalid("overlap", "is not a valid duration"));
    }
    Ok(Duration::new(secs, nanos))
}

/// `RotateServiceAccountSecret`.
pub(super) async fn rotate_secret(
    api: &AdminApi,
    request: Request<pb::RotateServiceAccountSecretRequest>,
) -> Result<pb::RotateServiceAccountSecretResponse> {
    let caller = api.caller("RotateServiceAccountSecret", &request).await?;
    let request = request.into_inner();
    let overlap = overlap(request.overlap)?;
    let rotated = api
        .core()
        .accounts()
        .rotate_service_account_secret(
            &request.id,
            overlap,
            &changed_by(&caller),
            api.core().clock().now_unix(),
        )
        .await?;
    Ok(pb::RotateServiceAccountSecretResponse {
        client_secret: rotated.client_secret.expose_secret().to_owned(),
        previous_secret_expires_at: rotated.previous_expires_at.map(convert::timestamp),
    })
}

/// `DeleteServiceAccount`.
pub(super) async fn delete(
    api: &AdminApi,
    request: Request<pb::DeleteServiceAccountRequest>,
) -> Result<()> {
    let caller = api.caller("DeleteServiceAccount", &request).await?;
    api.core()
        .accounts()
        .delete_service_account(
            &request.get_ref().id,
            &changed_by(&caller),
            api.core().clock().now_unix(),
        )
        .await?;
    Ok(())
}
