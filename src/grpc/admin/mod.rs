//! The `auth.v1.AdminService` adapter: users ([`users`]) and service
//! accounts ([`service_accounts`]) managed over the network.
//!
//! Adapter only, like [`super::auth`]: each handler checks who is calling
//! ([`AdminApi::actor`]), unpacks the request, calls
//! [`crate::service`], and packs the answer. No SQL and no crypto here;
//! validation of values lives in the service layer, which reports every bad
//! field at once ([`crate::Error::InvalidFields`]).

use std::sync::Arc;

use tonic::{Request, Response, Status};

use super::auth::{bearer, client_info, rpc};
use super::pb;
use super::pb::admin_service_server::AdminService;
use crate::client_addr::TrustedProxies;
use crate::error::Result;
use crate::metrics::{Method, RpcMetrics};
use crate::service::{Actor, AuthCore, ClientInfo};
use crate::tls::AdminClients;

mod service_accounts;
mod users;

/// Serves `AdminService` by delegating to [`AuthCore`] and its accounts.
#[derive(Debug, Clone)]
pub struct AdminApi {
    core: AuthCore,
    /// Whose `x-forwarded-for` names the client (audit rows name the address).
    trusted_proxies: TrustedProxies,
    /// Client certificates allowed on every admin call (empty: any caller
    /// with an admin token).
    admin_clients: Arc<AdminClients>,
    /// Where each call's code and latency is recorded.
    metrics: RpcMetrics,
}

/// A checked admin call: who makes it and from where.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The principal of the admin-role bearer token.
    pub actor: Actor,
    /// The client's address and user agent, for the audit rows.
    pub client: ClientInfo,
}

impl AdminApi {
    /// An adapter over `core`, believing no `x-forwarded-for` and with no
    /// client-certificate allow-list.
    #[must_use]
    pub fn new(core: AuthCore) -> Self {
        Self {
            core,
            trusted_proxies: TrustedProxies::default(),
            admin_clients: Arc::default(),
            metrics: RpcMetrics::default(),
        }
    }

    /// Records calls into `metrics` (an app's registry).
    #[must_use]
    pub fn with_metrics(mut self, metrics: RpcMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// Takes the client address from `x-forwarded-for` when the peer is one
    /// of `proxies`.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Restricts every call to client certificates on `allowed`.
    #[must_use]
    pub fn with_admin_clients(mut self, allowed: AdminClients) -> Self {
        self.admin_clients = Arc::new(allowed);
        self
    }

    /// The core this adapter calls.
    #[must_use]
    pub fn core(&self) -> &AuthCore {
        &self.core
    }

    /// Who is calling, once they are allowed to: an allowed client
    /// certificate (when an allow-list is set), then a bearer token whose
    /// principal holds the `admin` role. Decided before the request's own
    /// fields are looked at, so a caller without the role learns nothing
    /// about which records exist.
    ///
    /// # Errors
    /// `UNAUTHENTICATED` without a valid token, `PERMISSION_DENIED` without
    /// the role or an allowed certificate.
    pub async fn caller<T>(&self, rpc: &str, request: &Request<T>) -> Result<Caller> {
        let certs = request.peer_certs();
        self.admin_clients
            .authorize(rpc, certs.as_deref().map(Vec::as_slice))?;
        let token = bearer(request.metadata())?;
        let actor = self
            .core
            .authorize_admin(token, self.core.clock().now_unix())
            .await?;
        Ok(Caller {
            actor,
            client: client_info(request, &self.trusted_proxies),
        })
    }
}

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> std::result::Result<Response<pb::User>, Status> {
        rpc(
            &self.metrics,
            Method::CreateUser,
            users::create(self, request),
        )
        .await
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> std::result::Result<Response<pb::ListUsersResponse>, Status> {
        rpc(&self.metrics, Method::ListUsers, users::list(self, request)).await
    }

    async fn update_user(
        &self,
        request: Request<pb::UpdateUserRequest>,
    ) -> std::result::Result<Response<pb::User>, Status> {
        rpc(
            &self.metrics,
            Method::UpdateUser,
            users::update(self, request),
        )
        .await
    }

    async fn set_password(
        &self,
        request: Request<pb::SetPasswordRequest>,
    ) -> std::result::Result<Response<pb::SetPasswordResponse>, Status> {
        rpc(
            &self.metrics,
            Method::SetPassword,
            users::set_password(self, request),
        )
        .await
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> std::result::Result<Response<()>, Status> {
        rpc(
            &self.metrics,
            Method::DeleteUser,
            users::delete(self, request),
        )
        .await
    }

    async fn unlock_login(
        &self,
        request: Request<pb::UnlockLoginRequest>,
    ) -> std::result::Result<Response<pb::UnlockLoginResponse>, Status> {
        rpc(
            &self.metrics,
            Method::UnlockLogin,
            users::unlock(self, request),
        )
        .await
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> std::result::Result<Response<pb::ListAuditEventsResponse>, Status> {
        rpc(
            &self.metrics,
            Method::ListAuditEvents,
            users::list_audit_events(self, request),
        )
        .await
    }

    async fn create_service_account(
        &self,
        request: Request<pb::CreateServiceAccountRequest>,
    ) -> std::result::Result<Response<pb::CreateServiceAccountResponse>, Status> {
        rpc(
            &self.metrics,
            Method::CreateServiceAccount,
            service_accounts::create(self, request),
        )
        .await
    }

    async fn list_service_accounts(
        &self,
        request: Request<pb::ListServiceAccountsRequest>,
    ) -> std::result::Result<Response<pb::ListServiceAccountsResponse>, Status> {
        rpc(
            &self.metrics,
            Method::ListServiceAccounts,
            service_accounts::list(self, request),
        )
        .await
    }

    async fn rotate_service_account_secret(
        &self,
        request: Request<pb::RotateServiceAccountSecretRequest>,
    ) -> std::result::Result<Response<pb::RotateServiceAccountSecretResponse>, Status> {
        rpc(
            &self.metrics,
            Method::RotateServiceAccountSecret,
            service_accounts::rotate_secret(self, request),
        )
        .await
    }

    async fn delete_service_account(
        &self,
        request: Request<pb::DeleteServiceAccountRequest>,
    ) -> std::result::Result<Response<()>, Status> {
        rpc(
            &self.metrics,
            Method::DeleteServiceAccount,
            service_accounts::delete(self, request),
        )
        .await
    }
}
