//! The `auth.v1.AuthService` adapter.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use secrecy::{ExposeSecret as _, SecretString};
use tokio_stream::StreamExt as _;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use super::pb::auth_service_server::AuthService;
use super::pb::{self, get_user_request::Selector};
use super::{convert, status};
use crate::client_addr::TrustedProxies;
use crate::error::{Error, Result};
use crate::metrics::{Method, RpcMetrics};
use crate::service::{AuthCore, ClientInfo, UserSelector, Verification};
use crate::tls::AdminClients;

/// Serves `AuthService` by delegating to [`AuthCore`].
#[derive(Debug, Clone)]
pub struct AuthApi {
    core: AuthCore,
    /// Whose `x-forwarded-for` names the client (login throttling counts per address).
    trusted_proxies: TrustedProxies,
    /// Client certificates allowed on GetUser and RevokeSessions (empty: any caller).
    admin_clients: Arc<AdminClients>,
    /// Where each call's code and latency is recorded.
    metrics: RpcMetrics,
}

impl AuthApi {
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

    /// Records calls into `metrics` (an app's registry) instead of
    /// handles nobody exports.
    #[must_use]
    pub fn with_metrics(mut self, metrics: RpcMetrics) -> Self {
        self.metrics = metrics;
        self
    }

    /// The same, taking the client address from `x-forwarded-for` when the
    /// peer is one of `proxies`.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Restricts GetUser and RevokeSessions to client certificates on `allowed`.
    #[must_use]
    pub fn with_admin_clients(mut self, allowed: AdminClients) -> Self {
        self.admin_clients = Arc::new(allowed);
        self
    }

    /// Lets an admin-path call through only with an allowed client
    /// certificate (when an allow-list is configured). The adapter only
    /// extracts the certificates the TLS layer verified; the decision is
    /// [`AdminClients::authorize`].
    fn admit<T>(&self, rpc: &str, request: &Request<T>) -> Result<()> {
        let certs = request.peer_certs();
        self.admin_clients
            .authorize(rpc, certs.as_deref().map(Vec::as_slice))
    }
}

/// Runs one RPC inside a span named after its method and logs its outcome
/// (the status code and duration; never the request, which may hold secrets).
///
/// The span's fields are all it ever carries, in logs and in exported
/// traces: `method`, `code`, and `user_id` once the handler knows whose call
/// it is ([`record_user`]). Never a token, password or hash.
pub(super) async fn rpc<T>(
    metrics: &RpcMetrics,
    method: Method,
    handler: impl Future<Output = Result<T>>,
) -> std::result::Result<Response<T>, Status> {
    let span = tracing::info_span!(
        "rpc",
        method = method.name(),
        code = tracing::field::Empty,
        user_id = tracing::field::Empty
    );
    async move {
        let started = Instant::now();
        let result = handler.await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => status::code_of(e),
        };
        tracing::Span::current().record("code", tracing::field::debug(code));
        metrics.observe(method, code, started.elapsed());
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        // Successful calls log at debug: Verify runs on every request a
        // platform serves, and a line per call would cost more than the call.
        if code == tonic::Code::Ok {
            tracing::debug!(elapsed_ms, "rpc finished");
        } else {
            tracing::info!(elapsed_ms, "rpc finished");
        }
        result.map(Response::new).map_err(Status::from)
    }
    .instrument(span)
    .await
}

/// Records on the current RPC span the id of the user the call resolved:
/// who logged in or refreshed, whose token Verify found valid, the user
/// GetUser read. Only ids authd itself vouches for (never from an
/// unverified token).
fn record_user(id: &str) {
    tracing::Span::current().record("user_id", id);
}

/// The bearer token of `authorization` metadata, if there is exactly one.
///
/// The scheme must be exactly `Bearer` followed by one space.
pub(super) fn bearer(metadata: &MetadataMap) -> Result<Option<&str>> {
    let mut values = metadata.get_all("authorization").iter();
    let Some(value) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(Error::Unauthenticated(
            "send exactly one `authorization` metadata entry".to_owned(),
        ));
    }
    let token = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            Error::Unauthenticated(
                "the `authorization` metadata must be `Bearer <access token>`".to_owned(),
            )
        })?;
    Ok(Some(token))
}

/// The caller's address and user agent, for throttling and the session
/// record. The address is the peer's, or the last `x-forwarded-for` hop when
/// the peer is a trusted proxy ([`TrustedProxies::client_addr`]).
pub(super) fn client_info<T>(request: &Request<T>, proxies: &TrustedProxies) -> ClientInfo {
    let forwarded_for = request
        .metadata()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    ClientInfo {
        addr: request
            .remote_addr()
            .map(|a| proxies.client_addr(a.ip(), forwarded_for).to_string()),
        user_agent: request
            .metadata()
            .get("user-agent")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
    }
}

/// A non-empty string field as `Some`.
fn non_empty(value: String) -> Option<SecretString> {
    (!value.is_empty()).then(|| SecretString::from(value))
}

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> std::result::Result<Response<pb::LoginResponse>, Status> {
        rpc(&self.metrics, Method::Login, async {
            let client = client_info(&request, &self.trusted_proxies);
            let request = request.into_inner();
            let now = self.core.clock().now_unix();
            let out = self
                .core
                .login(
                    &request.username,
                    SecretString::from(request.password),
                    client,
                    now,
                )
                .await?;
            record_user(&out.user.id);
            Ok(pb::LoginResponse {
                expires_in: out.access.claims.exp - now,
                expires_at: Some(convert::timestamp(out.access.claims.exp)),
                session_id: out.access.claims.sid.clone(),
                access_token: out.access.token,
                token_type: "Bearer".to_owned(),
                user: Some(convert::user(out.user)),
                refresh_token: out.refresh_token.expose_secret().to_owned(),
            })
        })
        .await
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> std::result::Result<Response<pb::VerifyResponse>, Status> {
        rpc(&self.metrics, Method::Verify, async {
            let request = request.into_inner();
            let response = match self
                .core
                .verify(&request.token, self.core.clock().now_unix())
                .await?
            {
                Verification::Valid { user, claims } => {
                    record_user(&user.id);
                    pb::VerifyResponse {
                        valid: true,
                        reason: pb::InvalidReason::Unspecified.into(),
                        user: Some(convert::user(user)),
                        claims: Some(convert::claims(*claims)),
                        service_account: None,
                        principal_type: pb::PrincipalType::User.into(),
                    }
                }
                Verification::ValidServiceAccount { account, claims } => {
                    record_user(&account.id);
                    pb::VerifyResponse {
                        valid: true,
                        reason: pb::InvalidReason::Unspecified.into(),
                        user: None,
                        claims: Some(convert::claims(*claims)),
                        service_account: Some(convert::service_account(account)),
                        principal_type: pb::PrincipalType::ServiceAccount.into(),
                    }
                }
                Verification::Invalid(reason) => {
                    tracing::debug!(?reason, "token rejected");
                    pb::VerifyResponse {
                        valid: false,
                        reason: convert::reason(reason).into(),
                        user: None,
                        claims: None,
                        service_account: None,
                        principal_type: pb::PrincipalType::Unspecified.into(),
                    }
                }
            };
            Ok(response)
        })
        .await
    }

    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> std::result::Result<Response<pb::GetUserResponse>, Status> {
        rpc(&self.metrics, Method::GetUser, async {
            self.admit("GetUser", &request)?;
            let token = bearer(request.metadata())?;
            let selector = request.get_ref().selector.clone().map(|s| match s {
                Selector::Id(id) => UserSelector::Id(id),
                Selector::Username(name) => UserSelector::Username(name),
            });
            let user = self
                .core
                .get_user(token, selector, self.core.clock().now_unix())
                .await?;
            record_user(&user.id);
            Ok(pb::GetUserResponse {
                user: Some(convert::user(user)),
            })
        })
        .await
    }

    async fn refresh(
        &self,
        request: Request<pb::RefreshRequest>,
    ) -> std::result::Result<Response<pb::RefreshResponse>, Status> {
        rpc(&self.metrics, Method::Refresh, async {
            let token = SecretString::from(request.into_inner().refresh_token);
            let now = self.core.clock().now_unix();
            let out = self.core.refresh(&token, now).await?;
            record_user(&out.access.claims.sub);
            Ok(pb::RefreshResponse {
                expires_in: out.access.claims.exp - now,
                expires_at: Some(convert::timestamp(out.access.claims.exp)),
                access_token: out.access.token,
                refresh_token: out.refresh_token.expose_secret().to_owned(),
                token_type: "Bearer".to_owned(),
            })
        })
        .await
    }

    async fn logout(
        &self,
        request: Request<pb::LogoutRequest>,
    ) -> std::result::Result<Response<pb::LogoutResponse>, Status> {
        rpc(&self.metrics, Method::Logout, async {
            let token = bearer(request.metadata())?;
            let refresh_token = non_empty(request.get_ref().refresh_token.clone());
            self.core
                .logout(token, refresh_token.as_ref(), self.core.clock().now_unix())
                .await?;
            Ok(pb::LogoutResponse {})
        })
        .await
    }

    async fn logout_all(
        &self,
        request: Request<pb::LogoutAllRequest>,
    ) -> std::result::Result<Response<pb::LogoutAllResponse>, Status> {
        rpc(&self.metrics, Method::LogoutAll, async {
            let token = bearer(request.metadata())?;
            let ended = self
                .core
                .logout_all(token, self.core.clock().now_unix())
                .await?;
            Ok(pb::LogoutAllResponse {
                ended: i64::try_from(ended).unwrap_or(i64::MAX),
            })
        })
        .await
    }

    async fn list_sessions(
        &self,
        request: Request<pb::ListSessionsRequest>,
    ) -> std::result::Result<Response<pb::ListSessionsResponse>, Status> {
        rpc(&self.metrics, Method::ListSessions, async {
            let token = bearer(request.metadata())?;
            let sessions = self
                .core
                .list_sessions(token, self.core.clock().now_unix())
                .await?;
            Ok(pb::ListSessionsResponse {
                sessions: sessions.into_iter().map(convert::session).collect(),
            })
        })
        .await
    }

    async fn revoke_sessions(
        &self,
        request: Request<pb::RevokeSessionsRequest>,
    ) -> std::result::Result<Response<pb::RevokeSessionsResponse>, Status> {
        rpc(&self.metrics, Method::RevokeSessions, async {
            self.admit("RevokeSessions", &request)?;
            let token = bearer(request.metadata())?;
            let selector = request.get_ref().user.clone().map(|s| match s {
                pb::revoke_sessions_request::User::Id(id) => UserSelector::Id(id),
                pb::revoke_sessions_request::User::Username(name) => UserSelector::Username(name),
            });
            let ended = self
                .core
                .revoke_sessions(token, selector, self.core.clock().now_unix())
                .await?;
            Ok(pb::RevokeSessionsResponse {
                ended: i64::try_from(ended).unwrap_or(i64::MAX),
            })
        })
        .await
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> std::result::Result<Response<pb::GetJwksResponse>, Status> {
        rpc(&self.metrics, Method::GetJwks, async {
            Ok(convert::jwks(self.core.tokens().keys()))
        })
        .await
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> std::result::Result<Response<pb::ChangePasswordResponse>, Status> {
        rpc(&self.metrics, Method::ChangePassword, async {
            let client = client_info(&request, &self.trusted_proxies);
            let token = bearer(request.metadata())?.map(str::to_owned);
            let request = request.into_inner();
            let ended = self
                .core
                .change_password(
                    token.as_deref(),
                    SecretString::from(request.current_password),
                    SecretString::from(request.new_password),
                    &client,
                    self.core.clock().now_unix(),
                )
                .await?;
            Ok(pb::ChangePasswordResponse {
                ended_sessions: i64::try_from(ended).unwrap_or(i64::MAX),
            })
        })
        .await
    }

    async fn issue_service_token(
        &self,
        request: Request<pb::IssueServiceTokenRequest>,
    ) -> std::result::Result<Response<pb::IssueServiceTokenResponse>, Status> {
        rpc(&self.metrics, Method::IssueServiceToken, async {
            let client = client_info(&request, &self.trusted_proxies);
            let request = request.into_inner();
            let now = self.core.clock().now_unix();
            let audience = Some(request.audience.as_str()).filter(|a| !a.is_empty());
            let issued = self
                .core
                .issue_service_token(
                    &request.client_id,
                    SecretString::from(request.client_secret),
                    audience,
                    client,
                    now,
                )
                .await?;
            record_user(&issued.claims.sub);
            Ok(pb::IssueServiceTokenResponse {
                expires_in: issued.claims.exp - now,
                expires_at: Some(convert::timestamp(issued.claims.exp)),
                access_token: issued.token,
                token_type: "Bearer".to_owned(),
            })
        })
        .await
    }

    type WatchRevocationsStream = std::pin::Pin<
        Box<
            dyn tokio_stream::Stream<Item = std::result::Result<pb::RevocationEvent, Status>>
                + Send
                + 'static,
        >,
    >;

    async fn watch_revocations(
        &self,
        request: Request<pb::WatchRevocationsRequest>,
    ) -> std::result::Result<Response<Self::WatchRevocationsStream>, Status> {
        rpc(&self.metrics, Method::WatchRevocations, async {
            // An allowed client certificate admits the call by itself; the
            // service decides the rest.
            let cert_admitted =
                self.admin_clients.is_on() && self.admit("WatchRevocations", &request).is_ok();
            let token = bearer(request.metadata())?;
            let watch = self
                .core
                .watch_revocations(
                    token,
                    cert_admitted,
                    &request.get_ref().cursor,
                    self.core.clock().now_unix(),
                )
                .await?;
            let clock = self.core.clock().clone();
            let events: Self::WatchRevocationsStream = Box::pin(watch.map(move |item| {
                item.map(|item| convert::revocation_event(item, clock.now_unix()))
                    .map_err(Status::from)
            }));
            Ok(events)
        })
        .await
    }
}
