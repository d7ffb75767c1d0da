//! `authd healthcheck`: asks a running authd, over its gRPC health service
//! (`grpc.health.v1.Health/Check`), whether it is SERVING, for container
//! health checks (`HEALTHCHECK CMD ["authd", "healthcheck"]` in the
//! Dockerfile, `docker-compose.yml`) in images that have no curl or
//! grpc_health_probe.
//!
//! It needs no config file and no database: only where the server listens.
//! Without `--target` that is the loopback form of the server's own
//! `--listen` address as `AUTHD_LISTEN` sets it (`0.0.0.0:50051` inside the
//! image becomes `127.0.0.1:50051`), read through the server's one
//! declaration of the setting. The whole check (connect, TLS handshake,
//! answer) is bounded by `--timeout`. Success is SERVING only; anything else
//! (no listener, a refused handshake, NOT_SERVING while PostgreSQL is down or
//! during a drain, an unknown service name, no answer in time) is an error,
//! so the process exits 1 with one line on stderr saying why.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use tonic::transport::{Certificate, ClientTlsConfig, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

use crate::error::{Error, Result};
use crate::settings::duration;

/// `authd healthcheck`: where the server is, what to ask, how long to wait.
#[derive(Debug, Clone, clap::Args)]
pub struct HealthcheckArgs {
    /// gRPC address to check, `http://HOST:PORT` or `https://HOST:PORT`.
    /// Default: the loopback form of the server's `--listen` (`AUTHD_LISTEN`,
    /// else 127.0.0.1:50051), over https when `--tls-ca` is given.
    #[arg(
        long = "target",
        id = "healthcheck_target",
        env = "AUTHD_HEALTHCHECK_TARGET",
        value_name = "URL"
    )]
    pub target: Option<String>,

    /// Service to ask about: "" (the whole server, the default) or
    /// `auth.v1.AuthService`.
    #[arg(
        long = "service",
        id = "healthcheck_service",
        env = "AUTHD_HEALTHCHECK_SERVICE",
        value_name = "NAME",
        default_value = ""
    )]
    pub service: String,

    /// PEM file of the CA that issued the server's certificate; turns on TLS.
    #[arg(
        long = "tls-ca",
        id = "healthcheck_tls_ca",
        env = "AUTHD_HEALTHCHECK_TLS_CA",
        value_name = "FILE"
    )]
    pub tls_ca: Option<PathBuf>,

    /// Name the server's certificate must carry (default: the target's host).
    #[arg(
        long = "tls-domain",
        id = "healthcheck_tls_domain",
        env = "AUTHD_HEALTHCHECK_TLS_DOMAIN",
        value_name = "NAME"
    )]
    pub tls_domain: Option<String>,

    /// Longest the whole check may take (connect, handshake, answer).
    #[arg(long = "timeout", id = "healthcheck_timeout", env = "AUTHD_HEALTHCHECK_TIMEOUT",
          value_name = "DURATION", default_value = "3s", value_parser = duration("100ms", "60s"))]
    pub timeout: Duration,
}

/// Asks the server; `Ok` exactly when it answers SERVING.
///
/// # Errors
/// [`Error::Config`] for a target or CA file that cannot be used;
/// [`Error::FailedPrecondition`] naming the target and the reason when the
/// server is unreachable, too slow, or not SERVING.
pub async fn run(args: HealthcheckArgs) -> Result<()> {
    let target = match &args.target {
        Some(target) => target.clone(),
        None => default_target(args.tls_ca.is_some())?,
    };
    let endpoint = endpoint(&target, &args)?;
    let https = target.starts_with("https://");
    let service = if args.service.is_empty() {
        "the server".to_owned()
    } else {
        args.service.clone()
    };
    let unhealthy = |why: String| Error::FailedPrecondition(format!("authd at {target}: {why}"));
    let check = async {
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| unhealthy(format!("cannot connect: {}", source_chain(&e))))?;
        HealthClient::new(channel)
            .check(HealthCheckRequest {
                service: args.service.clone(),
            })
            .await
            .map(|response| response.into_inner().status())
            .map_err(|status| {
                // A plaintext call to a TLS listener fails inside HTTP/2.
                let hint = if https || !status.message().contains("h2 protocol error") {
                    ""
                } else {
                    "; if authd serves TLS, use an https:// target and --tls-ca"
                };
                unhealthy(format!(
                    "health check of {service} failed: {:?}: {}{hint}",
                    status.code(),
                    status.message()
                ))
            })
    };
    let status = tokio::time::timeout(args.timeout, check)
        .await
        .map_err(|_| unhealthy(format!("no answer within {:?}", args.timeout)))??;
    match status {
        ServingStatus::Serving => Ok(()),
        other => Err(unhealthy(format!(
            "{service} is {} (not ready: database unreachable, starting or stopping)",
            other.as_str_name()
        ))),
    }
}

/// `http(s)://` + the loopback form of the server's `--listen` address, as
/// `AUTHD_LISTEN` (or the default) sets it: the server's own declaration
/// parses it, with every other variable of its group ignored.
fn default_target(tls: bool) -> Result<String> {
    use crate::app::settings::ServerSettings;
    use clap::{Args as _, FromArgMatches as _};
    let command = ServerSettings::augment_args(clap::Command::new("authd healthcheck"));
    let command = crate::config::authd_env(command).mut_args(|arg| {
        if arg.get_id() == "listen" {
            arg
        } else {
            arg.env(None::<&'static str>)
        }
    });
    let listen = command
        .try_get_matches_from(["authd healthcheck"])
        .and_then(|matches| ServerSettings::from_arg_matches(&matches))
        .map_err(|e| {
            let message = e.to_string();
            let first = message.lines().next().unwrap_or_default();
            Error::Config(format!(
                "healthcheck: AUTHD_LISTEN: {}",
                first.trim_start_matches("error: ")
            ))
        })?
        .listen;
    let scheme = if tls { "https" } else { "http" };
    Ok(format!("{scheme}://{}", loopback(listen)))
}

/// The address a process in the same host or container reaches `listen` at:
/// an unspecified address (`0.0.0.0`, `::`) becomes the loopback of its family.
fn loopback(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// The channel's endpoint for `target`, with TLS when the target is https
/// or a CA is given.
fn endpoint(target: &str, args: &HealthcheckArgs) -> Result<Endpoint> {
    let bad_target = |why: &str| {
        Error::Config(format!(
            "healthcheck --target {target:?}: {why}; use http://HOST:PORT or https://HOST:PORT"
        ))
    };
    let https = target.starts_with("https://");
    if !https && !target.starts_with("http://") {
        return Err(bad_target("no http:// or https:// scheme"));
    }
    let endpoint = Endpoint::from_shared(target.to_owned())
        .map_err(|_| bad_target("not a URL"))?
        .connect_timeout(args.timeout)
        .timeout(args.timeout);
    match (&args.tls_ca, https) {
        (None, false) => Ok(endpoint),
        (None, true) => Err(Error::Config(
            "healthcheck: an https target needs --tls-ca FILE (the CA of the server's certificate)"
                .to_owned(),
        )),
        (Some(_), false) => Err(bad_target(
            "--tls-ca is given, so the target must be https://",
        )),
        (Some(ca), true) => {
            let pem = std::fs::read(ca).map_err(|e| {
                Error::Config(format!("healthcheck --tls-ca {}: {e}", ca.display()))
            })?;
            let mut tls = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(pem));
            if let Some(domain) = &args.tls_domain {
                tls = tls.domain_name(domain.clone());
            }
            endpoint.tls_config(tls).map_err(|e| {
                Error::Config(format!(
                    "healthcheck --tls-ca {}: {}",
                    ca.display(),
                    source_chain(&e)
                ))
            })
        }
    }
}

/// An error and its causes on one line (tonic's transport error alone says
/// only "transport error").
fn source_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    // Bounded: error chains are short, and a cycle would be a bug elsewhere.
    for _ in 0..8 {
        let Some(cause) = source else { break };
        let text = cause.to_string();
        if !line.contains(&text) {
            line.push_str(": ");
            line.push_str(&text);
        }
        source = cause.source();
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unspecified_listen_address_is_checked_on_loopback() {
        let v4: SocketAddr = "0.0.0.0:50051".parse().unwrap();
        assert_eq!(loopback(v4).to_string(), "127.0.0.1:50051");
        let v6: SocketAddr = "[::]:7000".parse().unwrap();
        assert_eq!(loopback(v6).to_string(), "[::1]:7000");
        let given: SocketAddr = "10.0.0.5:50051".parse().unwrap();
        assert_eq!(loopback(given), given);
    }
}
