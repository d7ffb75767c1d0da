//! The Envoy `envoy.service.auth.v3.Authorization` adapter (ext_authz).
//!
//! Adapter only: no SQL and no crypto here. It takes the bearer token from
//! the request's `authorization` header and asks [`AuthCore::verify`], so it
//! honours every check Verify makes. The answer, fail-closed:
//! - exactly one `authorization: Bearer <token>` (scheme spelled exactly so;
//!   the rules are [`crate::token::bearer`]'s, shared with the HTTP
//!   forward-auth door `http::forward_auth`) whose token verifies, a user's or a service account's: OK, with the
//!   identity headers set on the request (the id, the username or
//!   service-account name, the roles and the principal type)
//!   (overwriting any the client sent) and the ones not set removed;
//! - anything else (no header, another scheme, `bearer`, two headers, an
//!   invalid token): denied with HTTP 401 and
//!   `www-authenticate: Bearer error="invalid_token"` (Envoy's default
//!   would be 403);
//! - a failure of authd itself: a gRPC error status, so Envoy applies its
//!   own failure policy (deny unless configured otherwise).

use std::time::Instant;

use tonic::{Request, Response, Status};

use crate::service::{AuthCore, Verification};
use crate::token::InvalidReason;

/// Code generated from the vendored Envoy protos (`proto/envoy`, `proto/google/rpc`).
#[allow(
    missing_docs,
    clippy::pedantic,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::default_trait_access
)]
pub mod pb {
    /// Envoy's packages.
    pub mod envoy {
        /// `envoy.service.*`
        pub mod service {
            /// `envoy.service.auth.*`
            pub mod auth {
                /// `envoy.service.auth.v3`: the Authorization service.
                pub mod v3 {
                    tonic::include_proto!("envoy.service.auth.v3");
                }
            }
        }
        /// `envoy.config.*`
        pub mod config {
            /// `envoy.config.core.*`
            pub mod core {
                /// `envoy.config.core.v3`: headers.
                pub mod v3 {
                    tonic::include_proto!("envoy.config.core.v3");
                }
            }
        }
        /// `envoy.type.*`
        pub mod r#type {
            /// `envoy.type.v3`: HTTP status.
            pub mod v3 {
                tonic::include_proto!("envoy.r#type.v3");
            }
        }
    }
    /// Google's packages.
    pub mod google {
        /// `google.rpc`: the status message.
        pub mod rpc {
            tonic::include_proto!("google.rpc");
        }
    }

    /// The encoded descriptor set of the vendored protos, for reflection.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("envoy_ext_authz_descriptor");
}

use pb::envoy::config::core::v3::{HeaderValue, HeaderValueOption, header_value_option};
use pb::envoy::service::auth::v3::authorization_server::Authorization;
use pb::envoy::service::auth::v3::{
    CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse, check_response,
};
use pb::envoy::r#type::v3::{HttpStatus, StatusCode};

/// The challenge sent with every denial (the same as forward-auth's).
pub const WWW_AUTHENTICATE: &str = crate::token::bearer::CHALLENGE;

/// Serves ext_authz `Check` by delegating to [`AuthCore::verify`].
#[derive(Debug, Clone)]
pub struct ExtAuthzApi {
    core: AuthCore,
    headers: ExtAuthzHeaders,
    /// Where each check's code and latency is recorded.
    metrics: crate::metrics::RpcMetrics,
}

impl ExtAuthzApi {
    /// An adapter over `core`, setting the identity headers named in `headers`.
    #[must_use]
    pub fn new(core: AuthCore, headers: ExtAuthzHeaders) -> Self {
        Self {
            core,
            headers,
            metrics: crate::metrics::RpcMetrics::default(),
        }
    }

    /// Records checks into `metrics` (an app's registry) instead of
    /// handles nobody exports.
    #[must_use]
    pub fn with_metrics(mut self, metrics: crate::metrics::RpcMetrics) -> Self {
        self.metrics = metrics;
        self
    }
}

/// Why a request's credential was refused before any token check
/// (`pub(crate)` for the `fuzzing` entry point).
pub(crate) fn bearer_token(request: &CheckRequest) -> Result<&str, &'static str> {
    let http = request
        .attributes
        .as_ref()
        .and_then(|a| a.request.as_ref())
        .and_then(|r| r.http.as_ref())
        .ok_or("the check request carries no HTTP request")?;
    let mut values: Vec<&[u8]> = http
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .map(|(_, v)| v.as_bytes())
        .collect();
    if let Some(map) = &http.header_map {
        values.extend(
            map.headers
                .iter()
                .filter(|h| h.key.eq_ignore_ascii_case("authorization"))
                .map(|h| {
                    if h.raw_value.is_empty() {
                        h.value.as_bytes()
                    } else {
                        h.raw_value.as_slice()
                    }
                }),
        );
    }
    crate::token::bearer::from_authorization(values)
}

fn header(key: &str, value: String) -> HeaderValueOption {
    HeaderValueOption {
        header: Some(HeaderValue {
            key: key.to_owned(),
            value,
            raw_value: Vec::new(),
        }),
        append_action: header_value_option::HeaderAppendAction::OverwriteIfExistsOrAdd.into(),
    }
}

fn denied(why: &str) -> CheckResponse {
    tracing::debug!(why, "ext_authz denied a request");
    CheckResponse {
        status: Some(pb::google::rpc::Status {
            code: tonic::Code::Unauthenticated as i32,
            message: why.to_owned(),
        }),
        http_response: Some(check_response::HttpResponse::DeniedResponse(
            DeniedHttpResponse {
                status: Some(HttpStatus {
                    code: StatusCode::Unauthorized.into(),
                }),
                headers: vec![header("www-authenticate", WWW_AUTHENTICATE.to_owned())],
                body: "invalid or missing bearer token\n".to_owned(),
            },
        )),
    }
}

/// Whom an allowed request's identity headers name: what ext_authz and
/// the HTTP forward-auth door (`http::forward_auth`) both set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's or service account's id.
    pub id: String,
    /// The username or service-account name.
    pub name: String,
    /// The roles, sorted.
    pub roles: Vec<String>,
    /// `user` or `service_account`.
    pub principal_type: &'static str,
}

impl Identity {
    /// Whom a valid `verification` vouches for; why not otherwise.
    ///
    /// # Errors
    /// The reason of an invalid verification.
    pub fn of(verification: Verification) -> Result<Self, InvalidReason> {
        match verification {
            Verification::Valid { user, .. } => Ok(Self {
                id: user.id,
                name: user.username,
                roles: user.roles,
                principal_type: "user",
            }),
            Verification::ValidServiceAccount { account, .. } => Ok(Self {
                id: account.id,
                name: account.name,
                roles: account.roles,
                principal_type: "service_account",
            }),
            Verification::Invalid(reason) => Err(reason),
        }
    }
}

impl ExtAuthzApi {
    /// The OK answer, setting the identity headers for `who`.
    fn allowed(&self, who: Identity) -> CheckResponse {
        let mut set = vec![
            header(&self.headers.user_id, who.id),
            header(&self.headers.username, who.name),
            header(&self.headers.principal_type, who.principal_type.to_owned()),
        ];
        // Envoy removes after it sets, so only headers not set go
        // in `headers_to_remove` (an empty value would be dropped
        // by Envoy rather than overwrite the client's copy).
        let mut remove = Vec::new();
        if who.roles.is_empty() {
            remove.push(self.headers.roles.clone());
        } else {
            set.push(header(&self.headers.roles, who.roles.join(",")));
        }
        // Many servers read `x_authd_roles` as `x-authd-roles`:
        // the other spelling of each name never reaches them.
        remove.extend(self.headers.other_spellings());
        CheckResponse {
            status: Some(pb::google::rpc::Status {
                code: tonic::Code::Ok as i32,
                message: String::new(),
            }),
            http_response: Some(check_response::HttpResponse::OkResponse(OkHttpResponse {
                headers: set,
                headers_to_remove: remove,
            })),
        }
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthzApi {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let started = Instant::now();
        let request = request.into_inner();
        let outcome = match bearer_token(&request) {
            Err(why) => Ok(denied(why)),
            Ok(token) => match self.core.verify(token, self.core.clock().now_unix()).await {
                Ok(verification) => Ok(match Identity::of(verification) {
                    Ok(who) => self.allowed(who),
                    Err(reason) => denied(reason.describe()),
                }),
                Err(e) => Err(e),
            },
        };
        let code = match &outcome {
            Ok(r) => tonic::Code::from(r.status.as_ref().map_or(0, |s| s.code)),
            Err(e) => super::status::code_of(e),
        };
        self.metrics
            .observe(crate::metrics::Method::Check, code, started.elapsed());
        outcome.map(Response::new).map_err(Status::from)
    }
}

#[cfg(test)]
mod tests {
    use super::pb::envoy::service::auth::v3::{AttributeContext, attribute_context};
    use super::*;

    fn request(headers: &[(&str, &str)]) -> CheckRequest {
        CheckRequest {
            attributes: Some(AttributeContext {
                request: Some(attribute_context::Request {
                    http: Some(attribute_context::HttpRequest {
                        headers: headers
                            .iter()
                            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                            .collect(),
                        ..Default::default()
                    }),
                }),
            }),
        }
    }

    #[test]
    fn only_one_exact_bearer_credential_is_accepted() {
        assert_eq!(
            bearer_token(&request(&[("authorization", "Bearer a.b.c")])),
            Ok("a.b.c")
        );
        for bad in [
            "bearer a.b.c",
            "Bearer ",
            "Bearer  a.b.c",
            "Basic dXNlcjpwdw==",
            "Bearer a.b.c,Bearer d.e.f",
            "Bearer a.b.c, Bearer d.e.f",
            "a.b.c",
        ] {
            assert!(
                bearer_token(&request(&[("authorization", bad)])).is_err(),
                "{bad}"
            );
        }
        assert!(bearer_token(&request(&[])).is_err());
        assert!(bearer_token(&CheckRequest::default()).is_err());
    }
}

/// Names of the request headers ext_authz sets on allowed requests, and
/// forward-auth (`http::forward_auth`) answers with (lower case).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtAuthzHeaders {
    /// Carries the user id.
    pub user_id: String,
    /// Carries the username.
    pub username: String,
    /// Carries the roles, comma-separated.
    pub roles: String,
    /// Carries the kind of principal: `user` or `service_account`.
    pub principal_type: String,
}

impl ExtAuthzHeaders {
    /// Every other spelling of the three names with `-` and `_` swapped
    /// (`x_authd-roles`, `x_authd_roles`, ...): servers that map `_` to `-`
    /// (or both to `_`, as CGI does) would read a client's copy under such a
    /// name as ours, so ext_authz removes them all.
    #[must_use]
    pub fn other_spellings(&self) -> Vec<String> {
        let mut out = Vec::new();
        for name in [
            &self.user_id,
            &self.username,
            &self.roles,
            &self.principal_type,
        ] {
            let separators: Vec<usize> = name
                .bytes()
                .enumerate()
                .filter(|(_, b)| matches!(b, b'-' | b'_'))
                .map(|(i, _)| i)
                .collect();
            // Validated names have at most `MAX_HEADER_SEPARATORS` separators.
            let count = separators.len().min(MAX_HEADER_SEPARATORS);
            for mask in 0u32..(1 << count) {
                let mut bytes = name.clone().into_bytes();
                for (bit, &at) in separators.iter().take(count).enumerate() {
                    bytes[at] = if mask & (1 << bit) == 0 { b'-' } else { b'_' };
                }
                let spelling = String::from_utf8(bytes).unwrap_or_default();
                if &spelling != name && !out.contains(&spelling) {
                    out.push(spelling);
                }
            }
        }
        out
    }
}

/// Most `-`/`_` separators an ext_authz header name may have (its other
/// spellings, all removed on every allowed request, number 2^this).
const MAX_HEADER_SEPARATORS: usize = 5;

/// Headers ext_authz must never set: they carry the caller's own
/// credentials or steer the proxy.
const RESERVED_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "host",
    "content-length",
    "content-type",
    "transfer-encoding",
    "connection",
    "te",
    "upgrade",
    "proxy-authorization",
    "x-forwarded-for",
    "x-envoy-original-path",
];

impl Default for ExtAuthzHeaders {
    fn default() -> Self {
        crate::settings::defaults::<ExtAuthzSettings>().headers()
    }
}

/// The identity headers ext_authz and forward-auth set, as settings.
#[derive(Debug, Clone, clap::Args)]
pub struct ExtAuthzSettings {
    /// ext_authz and forward-auth: request header carrying the user id upstream.
    #[arg(long, env, default_value = "x-authd-user-id", value_parser = header_name)]
    pub ext_authz_user_id_header: String,

    /// ext_authz and forward-auth: request header carrying the username.
    #[arg(long, env, default_value = "x-authd-username", value_parser = header_name)]
    pub ext_authz_username_header: String,

    /// ext_authz and forward-auth: request header carrying the roles, comma-separated.
    #[arg(long, env, default_value = "x-authd-roles", value_parser = header_name)]
    pub ext_authz_roles_header: String,

    /// ext_authz and forward-auth: request header carrying `user` or `service_account`.
    #[arg(long, env, default_value = "x-authd-principal-type", value_parser = header_name)]
    pub ext_authz_principal_type_header: String,
}

impl ExtAuthzSettings {
    /// The header names, lower case.
    #[must_use]
    pub fn headers(&self) -> ExtAuthzHeaders {
        ExtAuthzHeaders {
            user_id: self.ext_authz_user_id_header.to_ascii_lowercase(),
            username: self.ext_authz_username_header.to_ascii_lowercase(),
            roles: self.ext_authz_roles_header.to_ascii_lowercase(),
            principal_type: self.ext_authz_principal_type_header.to_ascii_lowercase(),
        }
    }

    /// Checks that the four names are different headers (`-` and `_` alike).
    ///
    /// # Errors
    /// Blames the roles header, or the principal-type header.
    pub fn check(&self) -> crate::settings::Checked {
        let h = self.headers();
        let [a, b, c, kind] =
            [h.user_id, h.username, h.roles, h.principal_type].map(|n| n.replace('_', "-"));
        if [&a, &b, &c].contains(&&kind) {
            let fix = "must name a header other than the user-id, username and roles headers";
            return crate::settings::invalid("ext_authz_principal_type_header", fix);
        }
        if a == b || a == c || b == c {
            let fix = "--ext-authz-user-id-header, --ext-authz-username-header and \
                --ext-authz-roles-header must name three different headers";
            return crate::settings::invalid("ext_authz_roles_header", fix);
        }
        Ok(())
    }
}

/// A value parser for a header name we may set: letters, digits, `-`, `_`,
/// at most [`MAX_HEADER_SEPARATORS`] separators, none the caller relies on.
fn header_name(text: &str) -> Result<String, String> {
    let name = text.to_ascii_lowercase();
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err("must be an HTTP header name (letters, digits, '-', '_')".to_owned());
    }
    if name.bytes().filter(|b| matches!(b, b'-' | b'_')).count() > MAX_HEADER_SEPARATORS {
        return Err("must have at most 5 '-' or '_' separators".to_owned());
    }
    if RESERVED_HEADERS.contains(&name.replace('_', "-").as_str()) {
        return Err("must not be a header the caller or the proxy relies on \
                    (authorization, cookie, host, ...); use an x-... name"
            .to_owned());
    }
    Ok(name)
}
