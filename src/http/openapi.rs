//! `GET /openapi.json`: the OpenAPI 3.1 document of the HTTP listener,
//! generated from the code with utoipa.
//!
//! Each handler carries its own `#[utoipa::path]` (method, path, every
//! status it answers and each body's schema); the response types derive
//! `ToSchema` where they are Rust types ([`Jwk`], the discovery document, the
//! OAuth2 answers), and a schema is written here only where the body is not
//! one ([`JwkSet`], built by the key set as text). [`ApiDoc`] gathers them
//! with the security schemes: HTTP Basic for a service account's client
//! credentials and bearer for a token presented for checking.
//!
//! The document is built once, on first request, and served as is: it
//! depends on nothing but the code. The unit test below reads the routes
//! of [`super::router`] and fails when one of them, or one of its methods,
//! is not in the document, so a new route cannot ship undocumented.
//!
//! Adapter only, like the rest of [`super`]: no state, no policy.

use std::sync::LazyLock;

use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::token::keys::Jwk;

/// The security scheme names the handlers' `security(...)` refer to.
pub const CLIENT_BASIC: &str = "client_basic";
/// See [`CLIENT_BASIC`].
pub const BEARER: &str = "bearer";

/// The OpenAPI document: every path of [`super::router`].
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "authd HTTP API",
        description = "The HTTP listener of authd: JWKS and OpenID discovery for token \
            verifiers, health and metrics for operators, and the OAuth2 endpoints for \
            service accounts. The gRPC API (auth.v1) is described by its .proto files \
            and server reflection.",
    ),
    paths(
        super::jwks,
        super::openid_configuration,
        super::healthz,
        super::readyz,
        super::metrics_text,
        super::oauth2::token::handle,
        super::oauth2::introspect::handle,
        super::oauth2::revoke::handle,
        super::forward_auth::verify,
        openapi_json,
    ),
    components(schemas(JwkSet, Jwk)),
    modifiers(&SecuritySchemes),
    tags(
        (name = "keys", description = "What a token verifier needs: the public keys and discovery"),
        (name = "health", description = "Liveness, readiness and metrics"),
        (name = "oauth2", description = "OAuth 2.0 endpoints for service accounts"),
        (name = "forward-auth", description = "The bearer-token check reverse proxies ask"),
        (name = "meta", description = "This document"),
    )
)]
pub struct ApiDoc;

/// Adds the security schemes the handlers name.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut basic = Http::new(HttpAuthScheme::Basic);
        basic.description = Some(
            "A service account's client id and secret (RFC 6749 §2.3.1: each \
             form-urlencoded, then `id:secret` in base64)"
                .to_owned(),
        );
        components.add_security_scheme(CLIENT_BASIC, SecurityScheme::Http(basic));
        let mut bearer = Http::new(HttpAuthScheme::Bearer);
        bearer.bearer_format = Some("JWT".to_owned());
        bearer.description = Some("An access token authd issued".to_owned());
        components.add_security_scheme(BEARER, SecurityScheme::Http(bearer));
    }
}

/// The JWK Set document (RFC 7517 §5).
// The key set renders it as text, so this type exists for its schema only.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)] // Never built: the JWKS body is the key set's own rendering.
pub struct JwkSet {
    /// The published keys: current, next, previous.
    keys: Vec<Jwk>,
}

/// A token request (RFC 6749 §4.4.2). A parameter sent empty counts as
/// omitted; unknown ones are ignored.
// The endpoints parse their forms generically: these exist for their schemas only.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenRequest {
    /// Must be `client_credentials`.
    #[schema(schema_with = grant_type_schema)]
    grant_type: String,
    /// Refused (`invalid_scope`): a token carries the account's roles, not scopes.
    #[schema(nullable = false)]
    scope: Option<String>,
    /// The audience the token is for (as in RFC 8693); only the configured one.
    #[schema(nullable = false)]
    audience: Option<String>,
    /// The client id (`client_secret_post`; or next to Basic, naming the same client).
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    #[schema(nullable = false, format = Password)]
    client_secret: Option<String>,
}

/// `grant_type`'s schema: the one value the token endpoint grants.
fn grant_type_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::Type::String)
        .enum_values(Some(["client_credentials"]))
        .description(Some("Must be `client_credentials`"))
        .build()
}

/// An introspection (RFC 7662 §2.1) or revocation (RFC 7009 §2.1) request.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct TokenParams {
    /// The token: an access token, or a refresh token.
    #[schema(format = Password)]
    token: String,
    /// `access_token` or `refresh_token`; ignored by introspection, anything
    /// else refused by revocation (`unsupported_token_type`).
    #[schema(nullable = false)]
    token_type_hint: Option<String>,
    /// The client id (`client_secret_post`).
    #[schema(nullable = false)]
    client_id: Option<String>,
    /// The client secret (`client_secret_post`).
    #[schema(nullable = false, format = Password)]
    client_secret: Option<String>,
}

/// An introspection answer (RFC 7662 §2.2): exactly `{"active": false}`
/// unless the token is active.
#[derive(Debug, utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Introspection {
    /// Whether the token is active.
    active: bool,
    /// The user's or service account's id.
    #[schema(nullable = false)]
    sub: Option<String>,
    /// The user's name, or the service account's.
    #[schema(nullable = false)]
    username: Option<String>,
    /// Expiry, Unix seconds.
    #[schema(nullable = false)]
    exp: Option<i64>,
    /// Issued at, Unix seconds.
    #[schema(nullable = false)]
    iat: Option<i64>,
    /// Not before, Unix seconds.
    #[schema(nullable = false)]
    nbf: Option<i64>,
    /// The issuer.
    #[schema(nullable = false)]
    iss: Option<String>,
    /// The audience.
    #[schema(nullable = false)]
    aud: Option<crate::token::Audience>,
    /// The token's id.
    #[schema(nullable = false)]
    jti: Option<String>,
    /// Always `Bearer`.
    #[schema(nullable = false)]
    token_type: Option<String>,
    /// The roles.
    #[schema(nullable = false)]
    roles: Option<Vec<String>>,
    /// The service account's client id (service accounts' tokens only).
    #[schema(nullable = false)]
    client_id: Option<String>,
}

/// The document as JSON, built once.
static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
    ApiDoc::openapi().to_json().unwrap_or_else(|e| {
        tracing::error!(error = %e, "the OpenAPI document does not serialize");
        String::from("{}")
    })
});

/// This document
///
/// The OpenAPI 3.1 description of every HTTP path authd serves.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "meta",
    responses((status = 200, description = "The OpenAPI document", body = Object,
        content_type = "application/json")),
)]
pub(super) async fn openapi_json() -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, super::JWKS_CACHE_CONTROL),
        ],
        DOCUMENT.as_str(),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// The methods OpenAPI can describe (it has no `CONNECT`).
    const METHODS: [&str; 8] = [
        "GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE",
    ];

    /// `(path, method)` of every operation in the document.
    fn documented() -> BTreeSet<(String, String)> {
        let doc = ApiDoc::openapi();
        let mut operations = BTreeSet::new();
        for (path, item) in &doc.paths.paths {
            let methods = [
                ("GET", &item.get),
                ("PUT", &item.put),
                ("POST", &item.post),
                ("DELETE", &item.delete),
                ("OPTIONS", &item.options),
                ("HEAD", &item.head),
                ("PATCH", &item.patch),
                ("TRACE", &item.trace),
            ];
            for (method, operation) in methods {
                if operation.is_some() {
                    operations.insert((path.clone(), method.to_owned()));
                }
            }
        }
        operations
    }

    /// `(path, method)` of every route of the router, read from axum's
    /// `Debug` of it (the router has no other way to list its routes): the
    /// node's `RouteId(n): "/path"` map, and each route's method router
    /// with its `allow_header` (the methods it routes; `Skip` for `any`,
    /// which routes them all). `HEAD` is left out where `GET` is routed:
    /// axum answers it from the `GET` handler.
    fn served() -> BTreeSet<(String, String)> {
        let dump = format!("{:?}", super::super::routes());
        let paths_at = dump.find("paths: {").expect("axum's Debug lists the paths");
        let paths = &dump[paths_at..];
        let paths = &paths[..paths.find('}').expect("the end of the path map")];
        let mut routes = BTreeSet::new();
        for entry in paths.split("RouteId(").skip(1) {
            let (id, rest) = entry.split_once(')').expect("a route id");
            let path = rest.split('"').nth(1).expect("a quoted path");
            let route = dump
                .find(&format!("RouteId({id}): MethodRouter("))
                .map(|at| &dump[at..])
                .expect("each path's method router");
            let allow = route
                .split_once("allow_header: ")
                .expect("the method router's allow header")
                .1;
            let methods: Vec<String> = if allow.starts_with("Skip") {
                METHODS.iter().map(|m| (*m).to_owned()).collect()
            } else {
                let list = allow
                    .strip_prefix("Bytes(b\"")
                    .and_then(|l| l.split('"').next())
                    .expect("the routed methods");
                let list: Vec<&str> = list.split(',').collect();
                list.iter()
                    .filter(|m| !(**m == "HEAD" && list.contains(&"GET")))
                    .map(|m| (*m).to_owned())
                    .collect()
            };
            for method in methods {
                routes.insert((path.to_owned(), method));
            }
        }
        assert!(!routes.is_empty(), "no routes read from {dump}");
        routes
    }

    #[test]
    fn the_document_lists_every_route_and_method_the_router_serves() {
        let documented = documented();
        let served = served();
        let undocumented: Vec<_> = served.difference(&documented).collect();
        assert!(
            undocumented.is_empty(),
            "routes without a #[utoipa::path] in ApiDoc's paths(...): {undocumented:?}"
        );
        let unrouted: Vec<_> = documented.difference(&served).collect();
        assert!(
            unrouted.is_empty(),
            "documented but not routed: {unrouted:?}"
        );
    }

    #[test]
    fn the_document_is_openapi_3_1_with_both_security_schemes() {
        let doc: serde_json::Value = serde_json::from_str(&DOCUMENT).unwrap();
        assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
        let schemes = &doc["components"]["securitySchemes"];
        assert_eq!(schemes[CLIENT_BASIC]["scheme"], "basic");
        assert_eq!(schemes[BEARER]["scheme"], "bearer");
        let token = &doc["paths"]["/oauth2/token"]["post"];
        assert!(token["requestBody"]["content"]["application/x-www-form-urlencoded"].is_object());
        for status in ["200", "400", "401", "413", "429", "503"] {
            assert!(token["responses"][status].is_object(), "{status}");
        }
    }
}
