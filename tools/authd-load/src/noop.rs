//! The no-op baseline server: the same `auth.v1` service as authd, answering
//! Verify and Login with fixed messages of the same shape and size as
//! authd's and doing no work, so the ratio to it isolates what authd adds
//! over tonic, HTTP/2 and protobuf. Every other RPC is `UNIMPLEMENTED`.

use tonic::{Request, Response, Status};

use crate::pb;
use crate::pb::auth_service_server::{AuthService, AuthServiceServer};

/// The fixed answers.
#[derive(Debug, Clone)]
struct Noop {
    verify: pb::VerifyResponse,
    login: pb::LoginResponse,
}

/// Serves on a loopback port chosen by the OS, printing the address on the
/// first line of stdout (read by [`crate::process::spawn_noop`]).
pub async fn serve() -> Result<(), String> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .map_err(|e| e.to_string())?;
    println!("{}", listener.local_addr().map_err(|e| e.to_string())?);
    let user = pb::User {
        id: "0190a7d2-7b36-7c3b-9f5e-2a1c3d4e5f60".into(),
        username: "loadtest".into(),
        email: String::new(),
        active: true,
        roles: vec![],
        created_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        last_login_at: Some(prost_types::Timestamp {
            seconds: 1_800_000_000,
            nanos: 0,
        }),
        // As many bytes as the real answer: authd's test users have none.
        external_id: String::new(),
    };
    let noop = Noop {
        verify: pb::VerifyResponse {
            valid: true,
            reason: 0,
            user: Some(user.clone()),
            claims: Some(pb::Claims {
                sub: user.id.clone(),
                iat: 1_800_000_000,
                nbf: 1_800_000_000,
                exp: 1_800_000_900,
                jti: "4b1f7a4c-2d4e-4c8a-9a77-0a6a1f0c9e21".into(),
                iss: "authd".into(),
                aud: vec!["authd".into()],
                roles: vec![],
                sid: "0190a7d2-7b36-7c3b-9f5e-2a1c3d4e5f61".into(),
                principal_type: pb::PrincipalType::User.into(),
                client_id: String::new(),
                external_id: String::new(),
            }),
            service_account: None,
            principal_type: pb::PrincipalType::User.into(),
        },
        login: pb::LoginResponse {
            access_token: "x".repeat(480),
            token_type: "Bearer".into(),
            expires_in: 900,
            expires_at: None,
            user: Some(user),
            refresh_token: "r".repeat(46),
            session_id: "s".repeat(36),
        },
    };
    tonic::transport::Server::builder()
        .tcp_nodelay(true)
        .add_service(AuthServiceServer::new(noop))
        .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
        .await
        .map_err(|e| e.to_string())
}

#[tonic::async_trait]
impl AuthService for Noop {
    async fn login(
        &self,
        _: Request<pb::LoginRequest>,
    ) -> Result<Response<pb::LoginResponse>, Status> {
        Ok(Response::new(self.login.clone()))
    }
    async fn verify(
        &self,
        _: Request<pb::VerifyRequest>,
    ) -> Result<Response<pb::VerifyResponse>, Status> {
        Ok(Response::new(self.verify.clone()))
    }
    async fn get_user(
        &self,
        _: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::GetUserResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn refresh(
        &self,
        _: Request<pb::RefreshRequest>,
    ) -> Result<Response<pb::RefreshResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn logout(
        &self,
        _: Request<pb::LogoutRequest>,
    ) -> Result<Response<pb::LogoutResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn logout_all(
        &self,
        _: Request<pb::LogoutAllRequest>,
    ) -> Result<Response<pb::LogoutAllResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn list_sessions(
        &self,
        _: Request<pb::ListSessionsRequest>,
    ) -> Result<Response<pb::ListSessionsResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn revoke_sessions(
        &self,
        _: Request<pb::RevokeSessionsRequest>,
    ) -> Result<Response<pb::RevokeSessionsResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn get_jwks(
        &self,
        _: Request<pb::GetJwksRequest>,
    ) -> Result<Response<pb::GetJwksResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn change_password(
        &self,
        _: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::ChangePasswordResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    async fn issue_service_token(
        &self,
        _: Request<pb::IssueServiceTokenRequest>,
    ) -> Result<Response<pb::IssueServiceTokenResponse>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
    type WatchRevocationsStream = tokio_stream::Empty<Result<pb::RevocationEvent, Status>>;
    async fn watch_revocations(
        &self,
        _: Request<pb::WatchRevocationsRequest>,
    ) -> Result<Response<Self::WatchRevocationsStream>, Status> {
        Err(Status::unimplemented("no-op baseline"))
    }
}
