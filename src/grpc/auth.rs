//! The `auth.v1.AuthService` adapter.

use std::future::Future;
use std::time::Instant;

use secrecy::SecretString;
use tonic::metadata::MetadataMap;
use tonic::{Request, Response, Status};
use tracing::Instrument as _;

use super::pb::auth_service_server::AuthService;
use super::pb::{self, get_user_request::Selector};
use super::{convert, status};
use crate::error::{Error, Result};
use crate::service::{AuthCore, UserSelector, Verification};
use crate::token::now_unix;

/// Serves `AuthService` by delegating to [`AuthCore`].
#[derive(Debug, Clone)]
pub struct AuthApi {
    core: AuthCore,
}

impl AuthApi {
    /// An adapter over `core`.
    #[must_use]
    pub fn new(core: AuthCore) -> Self {
        Self { core }
    }
}

/// Runs one RPC inside a span named after its method and logs its outcome
/// (the status code and duration; never the request, which may hold secrets).
async fn rpc<T>(
    method: &'static str,
    handler: impl Future<Output = Result<T>>,
) -> std::result::Result<Response<T>, Status> {
    let span = tracing::info_span!("rpc", method, code = tracing::field::Empty);
    async move {
        let started = Instant::now();
        let result = handler.await;
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(e) => status::code_of(e),
        };
        tracing::Span::current().record("code", tracing::field::debug(code));
        crate::metrics::global().observe_rpc(method, code, started.elapsed());
        let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(elapsed_ms, "rpc finished");
        result.map(Response::new).map_err(Status::from)
    }
    .instrument(span)
    .await
}

/// The bearer token of `authorization` metadata, if there is exactly one.
///
/// The scheme must be exactly `Bearer` followed by one space.
fn bearer(metadata: &MetadataMap) -> Result<Option<&str>> {
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

#[tonic::async_trait]
impl AuthService for AuthApi {
    async fn login(
        &self,
        request: Request<pb::LoginRequest>,
    ) -> std::result::Result<Response<pb::LoginResponse>, Status> {
        rpc("Login", async {
            let request = request.into_inner();
            let now = now_unix();
            let out = self
                .core
                .login(&request.username, SecretString::from(request.password), now)
                .await?;
            let expires_in = out.access.claims.exp - now;
            Ok(pb::LoginResponse {
                access_token: out.access.token,
                token_type: "Bearer".to_owned(),
                expires_in,
                expires_at: Some(convert::timestamp(out.access.claims.exp)),
                user: Some(convert::user(out.user)),
            })
        })
        .await
    }

    async fn verify(
        &self,
        request: Request<pb::VerifyRequest>,
    ) -> std::result::Result<Response<pb::VerifyResponse>, Status> {
        rpc("Verify", async {
            let request = request.into_inner();
            let response = match self.core.verify(&request.token, now_unix()).await? {
                Verification::Valid { user, claims } => pb::VerifyResponse {
                    valid: true,
                    reason: pb::InvalidReason::Unspecified.into(),
                    user: Some(convert::user(user)),
                    claims: Some(convert::claims(*claims)),
                },
                Verification::Invalid(reason) => {
                    tracing::debug!(?reason, "token rejected");
                    pb::VerifyResponse {
                        valid: false,
                        reason: convert::reason(reason).into(),
                        user: None,
                        claims: None,
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
        rpc("GetUser", async {
            let token = bearer(request.metadata())?;
            let selector = request.get_ref().selector.clone().map(|s| match s {
                Selector::Id(id) => UserSelector::Id(id),
                Selector::Username(name) => UserSelector::Username(name),
            });
            let user = self.core.get_user(token, selector, now_unix()).await?;
            Ok(pb::GetUserResponse {
                user: Some(convert::user(user)),
            })
        })
        .await
    }

    async fn get_jwks(
        &self,
        _request: Request<pb::GetJwksRequest>,
    ) -> std::result::Result<Response<pb::GetJwksResponse>, Status> {
        rpc("GetJwks", async {
            Ok(convert::jwks(self.core.tokens().keys()))
        })
        .await
    }
}
