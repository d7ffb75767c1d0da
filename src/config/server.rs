//! The checks of the server-only settings: throttling and trusted
//! proxies, the HTTP listener, key rotation and ext_authz headers, TLS and
//! the OTLP endpoint.

use std::net::SocketAddr;
use std::time::Duration;

use super::groups::duration_setting;
use super::{Config, ConfigArgs, ExtAuthzHeaders, Sources};
use crate::client_addr::TrustedProxies;
use crate::error::{Error, Result};
use crate::grpc::ext_authz::{MAX_HEADER_SEPARATORS, RESERVED_HEADERS};
use crate::throttle::ThrottlePolicy;

/// The login throttling settings and the trusted proxies (issue 5), taken
/// out of `file`.
pub(super) fn load_throttle_settings(
    args: &ConfigArgs,
    src: &Sources,
) -> Result<(ThrottlePolicy, TrustedProxies)> {
    let defaults = ThrottlePolicy::default();
    let account_free_failures = args
        .login_free_failures
        .unwrap_or(defaults.account_free_failures);
    if !(1..=1000).contains(&account_free_failures) {
        return Err(src.bad(
            "login-free-failures",
            "must be between 1 and 1000 (5 lets a user mistype a few times)",
        ));
    }
    let address_free_failures = args
        .login_free_failures_per_address
        .unwrap_or(defaults.address_free_failures);
    if !(1..=1_000_000).contains(&address_free_failures) {
        return Err(src.bad(
            "login-free-failures-per-address",
            "must be between 1 and 1000000 (raise it for clients behind a shared NAT)",
        ));
    }
    let secs = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    let window = duration_setting(
        src,
        args.login_failure_window.clone(),
        "login-failure-window",
        Duration::from_secs(defaults.window_secs.unsigned_abs()),
        Duration::from_secs(1)..=Duration::from_secs(30 * 24 * 3600),
    )?;
    let base = duration_setting(
        src,
        args.login_backoff_base.clone(),
        "login-backoff-base",
        Duration::from_secs(defaults.base_delay_secs.unsigned_abs()),
        Duration::from_secs(1)..=Duration::from_secs(3600),
    )?;
    let max = duration_setting(
        src,
        args.login_backoff_max.clone(),
        "login-backoff-max",
        Duration::from_secs(defaults.max_delay_secs.unsigned_abs()),
        Duration::from_secs(1)..=Duration::from_secs(30 * 24 * 3600),
    )?;
    let policy = ThrottlePolicy {
        account_free_failures,
        address_free_failures,
        window_secs: secs(window),
        base_delay_secs: secs(base),
        max_delay_secs: secs(max),
    };
    if policy.max_delay_secs < policy.base_delay_secs {
        return Err(src.bad("login-backoff-max", "must be at least --login-backoff-base"));
    }
    if policy.max_delay_secs > policy.window_secs {
        return Err(src.bad(
            "login-backoff-max",
            "must be at most --login-failure-window (failures are forgotten after the window, \
             so a longer block could not happen); lower it or lengthen the window",
        ));
    }
    let trusted_proxies = args
        .trusted_proxies
        .clone()
        .as_deref()
        .unwrap_or_default()
        .parse()?;
    Ok((policy, trusted_proxies))
}

/// The validated issue-4 settings (HTTP listener, keys, ext_authz).
pub(super) struct KeySettings {
    pub(super) http_listen: Option<SocketAddr>,
    pub(super) key_rotation_interval: Option<Duration>,
    pub(super) ext_authz_headers: ExtAuthzHeaders,
}

pub(super) fn load_key_settings(
    args: &ConfigArgs,
    src: &Sources,
    defaults: &Config,
    key_prepublish: Duration,
) -> Result<KeySettings> {
    let http_listen = match args.http_listen.clone() {
        None => defaults.http_listen,
        Some(s) if s.eq_ignore_ascii_case("off") => None,
        Some(s) => Some(s.parse().map_err(|_| {
            src.bad(
                "http-listen",
                &format!("`{s}` is not an address; use IP:PORT such as 127.0.0.1:8080, or off"),
            )
        })?),
    };
    let key_rotation_interval = match args.key_rotation_interval.clone() {
        None => None,
        Some(s) if s.eq_ignore_ascii_case("off") => None,
        Some(s) => Some(duration_setting(
            src,
            Some(s),
            "key-rotation-interval",
            Duration::ZERO,
            Duration::from_secs(3600)..=Duration::from_secs(366 * 24 * 3600),
        )?),
    };
    if let Some(interval) = key_rotation_interval
        && interval <= key_prepublish
    {
        return Err(src.bad(
            "key-rotation-interval",
            "must be longer than --key-prepublish",
        ));
    }
    let header = |arg: &Option<String>, default: &str, flag| {
        let name = arg
            .clone()
            .unwrap_or_else(|| default.to_owned())
            .to_ascii_lowercase();
        let valid = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !valid {
            return Err(src.bad(
                flag,
                "must be an HTTP header name (letters, digits, '-', '_')",
            ));
        }
        if name.bytes().filter(|b| matches!(b, b'-' | b'_')).count() > MAX_HEADER_SEPARATORS {
            return Err(src.bad(flag, "must have at most 5 '-' or '_' separators"));
        }
        if RESERVED_HEADERS.contains(&name.replace('_', "-").as_str()) {
            return Err(src.bad(
                flag,
                "must not be a header the caller or the proxy relies on \
                 (authorization, cookie, host, ...); use an x-... name",
            ));
        }
        Ok(name)
    };
    let d = &defaults.ext_authz_headers;
    let ext_authz_headers = ExtAuthzHeaders {
        user_id: header(
            &args.ext_authz_user_id_header,
            &d.user_id,
            "ext-authz-user-id-header",
        )?,
        username: header(
            &args.ext_authz_username_header,
            &d.username,
            "ext-authz-username-header",
        )?,
        roles: header(
            &args.ext_authz_roles_header,
            &d.roles,
            "ext-authz-roles-header",
        )?,
    };
    let spelled = |n: &str| n.replace('_', "-");
    let h = &ext_authz_headers;
    if spelled(&h.user_id) == spelled(&h.username)
        || spelled(&h.user_id) == spelled(&h.roles)
        || spelled(&h.username) == spelled(&h.roles)
    {
        return Err(Error::Config(
            "--ext-authz-user-id-header, --ext-authz-username-header and \
             --ext-authz-roles-header must name three different headers"
                .to_owned(),
        ));
    }
    Ok(KeySettings {
        http_listen,
        key_rotation_interval,
        ext_authz_headers,
    })
}

/// The validated transport-security settings.
pub(super) struct TransportSettings {
    pub(super) tls: Option<crate::tls::TlsSettings>,
    pub(super) admin_clients: crate::tls::AdminClients,
    pub(super) allow_plaintext: bool,
}

/// Reads `--tls-cert`, `--tls-key`, `--tls-client-ca`, `--admin-clients`
/// and `--allow-plaintext`: each needs the one before it.
pub(super) fn load_transport_settings(
    args: &ConfigArgs,
    src: &Sources,
) -> Result<TransportSettings> {
    let cert = args.tls_cert.clone();
    let key = args.tls_key.clone();
    let client_ca = args.tls_client_ca.clone();
    let tls = match (cert, key) {
        (None, None) => None,
        (Some(cert), Some(key)) => Some(crate::tls::TlsSettings::load(
            &cert,
            &key,
            client_ca.as_deref(),
        )?),
        (Some(_), None) => {
            return Err(src.bad(
                "tls-key",
                "--tls-cert is set but its private key is not; give both (PEM files)",
            ));
        }
        (None, Some(_)) => {
            return Err(src.bad(
                "tls-cert",
                "--tls-key is set but the certificate is not; give both (PEM files)",
            ));
        }
    };
    if client_ca.is_some() && tls.is_none() {
        return Err(src.bad(
            "tls-client-ca",
            "client certificates need TLS; also give --tls-cert and --tls-key",
        ));
    }
    let listed = args.admin_clients.clone();
    let allowed = listed
        .iter()
        .filter(|entry| !entry.trim().is_empty())
        .map(|entry| {
            entry
                .parse::<crate::tls::ClientIdentity>()
                .map_err(|message| src.bad("admin-clients", &message))
        })
        .collect::<Result<Vec<_>>>()?;
    if !allowed.is_empty()
        && !tls
            .as_ref()
            .is_some_and(crate::tls::TlsSettings::verifies_clients)
    {
        return Err(src.bad(
            "admin-clients",
            "the allow-list checks client certificates, so it needs mutual TLS: also give \
             --tls-cert, --tls-key and --tls-client-ca",
        ));
    }
    Ok(TransportSettings {
        tls,
        admin_clients: crate::tls::AdminClients::new(allowed),
        allow_plaintext: args.allow_plaintext,
    })
}

/// Checks `--otlp-endpoint`: an `http://HOST:PORT` URL, and only in a build
/// that can export. Refusing it elsewhere beats silently exporting nothing.
pub(super) fn otlp_endpoint_setting(
    src: &Sources,
    value: Option<String>,
) -> Result<Option<String>> {
    const FLAG: &str = "otlp_endpoint";
    let Some(text) = value else {
        return Ok(None);
    };
    if !cfg!(feature = "otlp") {
        return Err(src.bad(FLAG, crate::telemetry::OTLP_NOT_BUILT));
    }
    // This build has no TLS client, so the collector is reached in plain
    // HTTP/2: one on loopback (an agent next to authd) or a trusted network.
    let uri: tonic::codegen::http::Uri = text.parse().map_err(|_| {
        src.bad(
            FLAG,
            &format!("`{text}` is not a URL; use http://HOST:PORT such as http://127.0.0.1:4317"),
        )
    })?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(src.bad(
            FLAG,
            &format!(
                "`{text}` must be http://HOST:PORT (such as http://127.0.0.1:4317); \
                 TLS to the collector is not in this build"
            ),
        ));
    }
    Ok(Some(text))
}
