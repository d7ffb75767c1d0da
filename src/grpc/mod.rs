//! gRPC transport: the generated `auth.v1` types, the `AuthService`
//! adapter, the Envoy ext_authz adapter ([`ext_authz`]), gRPC-Web for
//! browsers with its CORS allow-list ([`web`]), and the one mapping from
//! [`crate::Error`] to `tonic::Status`.
//!
//! Adapter only: no SQL and no crypto here. Handlers unpack the request,
//! call [`crate::service::AuthCore`], and pack the answer.

use std::fmt;

pub mod admin;
pub mod auth;
pub mod convert;
pub mod ext_authz;
pub mod status;
pub mod web;

pub use admin::AdminApi;
pub use auth::AuthApi;

/// An interceptor that refuses every call with `UNAVAILABLE` (and an
/// actionable message) until start-up is done, so a server that came up
/// while its database was down never runs a call against unmigrated tables
/// or without signing keys. Once started it passes everything; later
/// database outages surface from the calls themselves, within the acquire
/// timeout.
pub fn startup_gate(
    readiness: crate::readiness::Readiness,
) -> impl FnMut(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |request| {
        readiness.check_started()?;
        Ok(request)
    }
}

/// Code generated from `proto/auth/v1/auth.proto`.
#[allow(
    missing_docs,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::default_trait_access
)]
pub mod pb {
    tonic::include_proto!("auth.v1");

    /// The encoded descriptor set of `auth.v1`, with comments, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("auth_v1_descriptor");
}

impl fmt::Debug for pb::LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for pb::LoginResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginResponse")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("session_id", &self.session_id)
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .field("user", &self.user)
            .finish()
    }
}

impl fmt::Debug for pb::RefreshRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshRequest")
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for pb::RefreshResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RefreshResponse")
            .field("access_token", &"[redacted]")
            .field("refresh_token", &"[redacted]")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for pb::LogoutRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LogoutRequest")
            .field("refresh_token", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for pb::VerifyRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyRequest")
            .field("token", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for pb::ChangePasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChangePasswordRequest")
            .field("current_password", &"[redacted]")
            .field("new_password", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for pb::IssueServiceTokenRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssueServiceTokenRequest")
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .field("audience", &self.audience)
            .finish()
    }
}

impl fmt::Debug for pb::IssueServiceTokenResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IssueServiceTokenResponse")
            .field("access_token", &"[redacted]")
            .field("token_type", &self.token_type)
            .field("expires_in", &self.expires_in)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

impl fmt::Debug for pb::CreateUserRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateUserRequest")
            .field("username", &self.username)
            .field("email", &self.email)
            .field("roles", &self.roles)
            .field("password", &"[redacted]")
            .field("active", &self.active)
            .finish()
    }
}

impl fmt::Debug for pb::SetPasswordRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SetPasswordRequest")
            .field("id", &self.id)
            .field("password", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for pb::CreateServiceAccountResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CreateServiceAccountResponse")
            .field("service_account", &self.service_account)
            .field("client_id", &self.client_id)
            .field("client_secret", &"[redacted]")
            .finish()
    }
}

impl fmt::Debug for pb::RotateServiceAccountSecretResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RotateServiceAccountSecretResponse")
            .field("client_secret", &"[redacted]")
            .field(
                "previous_secret_expires_at",
                &self.previous_secret_expires_at,
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::pb;

    #[test]
    fn debug_output_of_admin_and_machine_messages_hides_secrets() {
        let secret = "authd_sa_s3cr3t-value";
        for debug in [
            format!(
                "{:?}",
                pb::ChangePasswordRequest {
                    current_password: secret.into(),
                    new_password: secret.into(),
                }
            ),
            format!(
                "{:?}",
                pb::IssueServiceTokenRequest {
                    client_id: "c".into(),
                    client_secret: secret.into(),
                    audience: String::new(),
                }
            ),
            format!(
                "{:?}",
                pb::IssueServiceTokenResponse {
                    access_token: secret.into(),
                    ..Default::default()
                }
            ),
            format!(
                "{:?}",
                pb::CreateUserRequest {
                    username: "alice".into(),
                    password: secret.into(),
                    ..Default::default()
                }
            ),
            format!(
                "{:?}",
                pb::SetPasswordRequest {
                    id: "1".into(),
                    password: secret.into(),
                }
            ),
            format!(
                "{:?}",
                pb::CreateServiceAccountResponse {
                    client_secret: secret.into(),
                    ..Default::default()
                }
            ),
            format!(
                "{:?}",
                pb::RotateServiceAccountSecretResponse {
                    client_secret: secret.into(),
                    previous_secret_expires_at: None,
                }
            ),
        ] {
            assert!(!debug.contains("s3cr3t"), "{debug}");
        }
    }

    #[test]
    fn debug_output_of_requests_hides_secrets() {
        let login = pb::LoginRequest {
            username: "alice".into(),
            password: "hunter2hunter2".into(),
        };
        assert!(!format!("{login:?}").contains("hunter2"));
        let verify = pb::VerifyRequest {
            token: "eyJhbGciOi.secret.token".into(),
        };
        assert!(!format!("{verify:?}").contains("eyJ"));
        let response = pb::LoginResponse {
            access_token: "eyJhbGciOi.secret.token".into(),
            refresh_token: "rt_secretrefresh".into(),
            ..Default::default()
        };
        assert!(!format!("{response:?}").contains("eyJ"));
        assert!(!format!("{response:?}").contains("rt_secret"));
        let refresh = pb::RefreshResponse {
            access_token: "eyJhbGciOi.secret.token".into(),
            refresh_token: "rt_secretrefresh".into(),
            ..Default::default()
        };
        assert!(!format!("{refresh:?}").contains("eyJ"));
        assert!(!format!("{refresh:?}").contains("rt_secret"));
        for debug in [
            format!(
                "{:?}",
                pb::RefreshRequest {
                    refresh_token: "rt_secretrefresh".into()
                }
            ),
            format!(
                "{:?}",
                pb::LogoutRequest {
                    refresh_token: "rt_secretrefresh".into()
                }
            ),
        ] {
            assert!(!debug.contains("rt_secret"), "{debug}");
        }
    }
}
