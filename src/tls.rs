//! Transport security: TLS on both listeners, optional client certificates
//! (mutual TLS), and the client-certificate allow-list of the admin RPCs.
//!
//! This module owns reading and checking the PEM files named by
//! `--tls-cert`, `--tls-key` and `--tls-client-ca` (at start-up, so a bad
//! file stops authd with a message naming its flag), the rustls server
//! configurations of both listeners (on the aws-lc-rs provider, never
//! `ring`; authd runs the handshakes itself, see [`crate::net`]), and the pure check of a
//! verified client certificate against `--admin-clients`
//! ([`AdminClients::authorize`]).
//!
//! It must not log or print key material: [`TlsSettings`] shows only paths
//! in `Debug`, and the private key's PEM is read into a [`secrecy`] box and
//! kept afterwards only inside the rustls configurations.
//!
//! Decisions:
//! - Client certificates are *optional* when `--tls-client-ca` is set:
//!   Login and Verify callers (browsers' back ends, sidecars) often have no
//!   certificate. A certificate that *is* presented must chain to the client
//!   CA, or the handshake fails. Only the admin paths look at who it names.
//! - The HTTP listener (JWKS, discovery, health, metrics) serves public
//!   information and never asks for a client certificate.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use clap::{ArgAction, builder::BoolishValueParser};
use secrecy::{ExposeSecret as _, SecretBox};
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{RootCertStore, ServerConfig};
use x509_cert::der::Decode as _;
use x509_cert::der::asn1::{Ia5StringRef, PrintableStringRef, Utf8StringRef};
use x509_cert::der::oid::ObjectIdentifier;
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::GeneralName;

use crate::error::{Error, Result};
use crate::settings::{Checked, invalid};

/// A TLS handshake that takes longer than this is dropped, so a client that
/// opens connections and never finishes handshaking cannot pile them up.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The X.500 `commonName` attribute (2.5.4.3).
const COMMON_NAME: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.4.3");

/// The server certificate and key (and optionally the client CA), read and
/// checked once at start-up and shared by both listeners.
#[derive(Clone)]
pub struct TlsSettings {
    cert_path: PathBuf,
    key_path: PathBuf,
    client_ca_path: Option<PathBuf>,
    /// The HTTP listener's configuration (ALPN h2 and http/1.1, no client auth).
    http: Arc<ServerConfig>,
    /// The gRPC listener's configuration (ALPN h2 only, as tonic's own
    /// acceptor offered; client certificates optional, verified against
    /// the client CA when one is given).
    grpc: Arc<ServerConfig>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("cert_path", &self.cert_path)
            .field("key_path", &self.key_path)
            .field("client_ca_path", &self.client_ca_path)
            .finish_non_exhaustive()
    }
}

/// The one crypto provider of the build.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(aws_lc_rs::default_provider())
}

fn unusable(flag: &str, env: &str, path: &Path, what: &str) -> Error {
    Error::Config(format!(
        "invalid configuration --{flag} (env {env}): {}: {what}",
        path.display()
    ))
}

fn read(flag: &str, env: &str, path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| {
        unusable(
            flag,
            env,
            path,
            &format!("cannot be read ({e}); point it at a readable PEM file"),
        )
    })
}

fn certificates(
    flag: &str,
    env: &str,
    path: &Path,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| unusable(flag, env, path, &format!("is not valid PEM ({e})")))?;
    if certs.is_empty() {
        return Err(unusable(
            flag,
            env,
            path,
            "holds no `-----BEGIN CERTIFICATE-----` block",
        ));
    }
    Ok(certs)
}

impl TlsSettings {
    /// The TLS files `args` name, read and checked; `None` for plaintext.
    ///
    /// # Errors
    /// As [`Self::load`].
    pub fn from_args(args: &TlsArgs) -> Result<Option<Self>> {
        match (&args.tls_cert, &args.tls_key) {
            (Some(cert), Some(key)) => {
                Self::load(cert, key, args.tls_client_ca.as_deref()).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// Reads and checks the server certificate chain and key, and the
    /// client CA bundle when given.
    ///
    /// # Errors
    /// [`Error::Config`] naming the flag of a file that is missing,
    /// unreadable, not PEM, or whose key does not match the certificate.
    pub fn load(cert: &Path, key: &Path, client_ca: Option<&Path>) -> Result<Self> {
        let cert_pem = read("tls-cert", "AUTHD_TLS_CERT", cert)?;
        let key_pem = SecretBox::new(Box::new(read("tls-key", "AUTHD_TLS_KEY", key)?));
        let chain = certificates("tls-cert", "AUTHD_TLS_CERT", cert, &cert_pem)?;
        let private_key = PrivateKeyDer::from_pem_slice(key_pem.expose_secret()).map_err(|_| {
            unusable(
                "tls-key",
                "AUTHD_TLS_KEY",
                key,
                "holds no PEM private key (PKCS#8 `BEGIN PRIVATE KEY`, `BEGIN RSA PRIVATE KEY` \
                 or `BEGIN EC PRIVATE KEY`)",
            )
        })?;
        let versions = || {
            ServerConfig::builder_with_provider(provider())
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::internal("choosing TLS versions", e))
        };
        let mismatched = |e: tokio_rustls::rustls::Error| {
            unusable(
                "tls-key",
                "AUTHD_TLS_KEY",
                key,
                &format!(
                    "cannot be used with the certificate in --tls-cert {} ({e}); \
                     give the key that belongs to that certificate",
                    cert.display()
                ),
            )
        };
        let mut http = versions()?
            .with_no_client_auth()
            .with_single_cert(chain.clone(), private_key.clone_key())
            .map_err(mismatched)?;
        http.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let grpc = match client_ca {
            None => versions()?.with_no_client_auth(),
            Some(path) => {
                let pem = read("tls-client-ca", "AUTHD_TLS_CLIENT_CA", path)?;
                let mut roots = RootCertStore::empty();
                for ca in certificates("tls-client-ca", "AUTHD_TLS_CLIENT_CA", path, &pem)? {
                    roots.add(ca).map_err(|e| {
                        unusable(
                            "tls-client-ca",
                            "AUTHD_TLS_CLIENT_CA",
                            path,
                            &format!("holds a certificate that cannot be a trust anchor ({e})"),
                        )
                    })?;
                }
                // Optional: a presented certificate must chain to the CA, an
                // absent one is the admin allow-list's to refuse.
                let verifier =
                    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                        .allow_unauthenticated()
                        .build()
                        .map_err(|e| {
                            unusable(
                                "tls-client-ca",
                                "AUTHD_TLS_CLIENT_CA",
                                path,
                                &format!("cannot verify client certificates ({e})"),
                            )
                        })?;
                versions()?.with_client_cert_verifier(verifier)
            }
        };
        let mut grpc = grpc
            .with_single_cert(chain, private_key)
            .map_err(mismatched)?;
        // Native gRPC is HTTP/2; gRPC-Web over HTTP/1.1 comes from clients
        // that offer no ALPN, which rustls accepts (tonic offered only h2 too).
        grpc.alpn_protocols = vec![b"h2".to_vec()];
        Ok(Self {
            cert_path: cert.to_owned(),
            key_path: key.to_owned(),
            client_ca_path: client_ca.map(Path::to_owned),
            http: Arc::new(http),
            grpc: Arc::new(grpc),
        })
    }

    /// Whether client certificates are asked for (and verified) on gRPC.
    #[must_use]
    pub fn verifies_clients(&self) -> bool {
        self.client_ca_path.is_some()
    }

    /// The acceptor of the HTTP listener.
    #[must_use]
    pub fn http_acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.http))
    }

    /// The acceptor of the gRPC listener: ALPN h2, and optional client
    /// certificates verified against the client CA. Its sessions hand the
    /// verified chain to handlers through tonic (`Request::peer_certs`).
    #[must_use]
    pub fn grpc_acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(Arc::clone(&self.grpc))
    }
}

/// One identity a client certificate can carry, as written in
/// `--admin-clients`: `dns:NAME` (a DNS subject alternative name),
/// `uri:URI` (a URI SAN, such as a SPIFFE ID) or `cn:NAME` (the subject's
/// common name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientIdentity {
    /// A DNS SAN; compared without regard to ASCII case, never as a wildcard.
    Dns(String),
    /// A URI SAN (for example `spiffe://example.org/ns/ops/sa/admin`), compared exactly.
    Uri(String),
    /// The subject common name, compared exactly.
    CommonName(String),
}

impl fmt::Display for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(name) => write!(f, "dns:{name}"),
            Self::Uri(uri) => write!(f, "uri:{uri}"),
            Self::CommonName(cn) => write!(f, "cn:{cn}"),
        }
    }
}

impl FromStr for ClientIdentity {
    type Err = String;

    fn from_str(text: &str) -> std::result::Result<Self, Self::Err> {
        let text = text.trim();
        let (kind, value) = text.split_once(':').unwrap_or(("", text));
        let value = value.trim();
        if value.is_empty() || value.chars().any(char::is_control) {
            return Err(format!(
                "`{text}` has no identity after its prefix; write dns:NAME, uri:URI or cn:NAME"
            ));
        }
        match kind.to_ascii_lowercase().as_str() {
            "dns" => Ok(Self::Dns(value.to_ascii_lowercase())),
            "uri" => Ok(Self::Uri(value.to_owned())),
            "cn" => Ok(Self::CommonName(value.to_owned())),
            _ => Err(format!(
                "`{text}` does not say what kind of identity it is; write dns:NAME, \
                 uri:URI (such as uri:spiffe://example.org/ns/ops/sa/admin) or cn:NAME"
            )),
        }
    }
}

impl ClientIdentity {
    fn matches(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Dns(a), Self::Dns(b)) => a.eq_ignore_ascii_case(b),
            (Self::Uri(a), Self::Uri(b)) | (Self::CommonName(a), Self::CommonName(b)) => a == b,
            _ => false,
        }
    }
}

/// The identities a DER certificate names: its DNS and URI subject
/// alternative names, then its subject common names.
///
/// # Errors
/// A message if the certificate cannot be parsed.
pub fn certificate_identities(der: &[u8]) -> std::result::Result<Vec<ClientIdentity>, String> {
    let cert = x509_cert::Certificate::from_der(der).map_err(|e| e.to_string())?;
    let tbs = &cert.tbs_certificate;
    let mut out = Vec::new();
    if let Some((_, SubjectAltName(names))) =
        tbs.get::<SubjectAltName>().map_err(|e| e.to_string())?
    {
        for name in names {
            match name {
                GeneralName::DnsName(dns) => {
                    out.push(ClientIdentity::Dns(dns.as_str().to_ascii_lowercase()));
                }
                GeneralName::UniformResourceIdentifier(uri) => {
                    out.push(ClientIdentity::Uri(uri.as_str().to_owned()));
                }
                _ => {}
            }
        }
    }
    for rdn in &tbs.subject.0 {
        for attribute in rdn.0.iter().filter(|a| a.oid == COMMON_NAME) {
            let value = Utf8StringRef::try_from(&attribute.value)
                .map(|s| s.as_str().to_owned())
                .or_else(|_| {
                    PrintableStringRef::try_from(&attribute.value).map(|s| s.as_str().to_owned())
                })
                .or_else(|_| {
                    Ia5StringRef::try_from(&attribute.value).map(|s| s.as_str().to_owned())
                });
            if let Ok(value) = value {
                out.push(ClientIdentity::CommonName(value));
            }
        }
    }
    Ok(out)
}

/// The client identities allowed on the admin paths (`GetUser`,
/// `RevokeSessions`); empty means the allow-list is off and those RPCs
/// behave as without mutual TLS (bearer token and roles only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AdminClients {
    allowed: Vec<ClientIdentity>,
}

impl AdminClients {
    /// An allow-list of `allowed` (empty: off).
    #[must_use]
    pub fn new(allowed: Vec<ClientIdentity>) -> Self {
        Self { allowed }
    }

    /// Whether an allow-list is configured.
    #[must_use]
    pub fn is_on(&self) -> bool {
        !self.allowed.is_empty()
    }

    /// The configured identities.
    #[must_use]
    pub fn allowed(&self) -> &[ClientIdentity] {
        &self.allowed
    }

    /// Decides whether a call to `rpc` may proceed, given the peer's
    /// certificate chain as the TLS layer verified it (leaf first; `None`
    /// on a connection without a client certificate). A pure function: the
    /// transport only hands over the certificates.
    ///
    /// # Errors
    /// [`Error::PermissionDenied`] saying what is needed, when the
    /// allow-list is on and the leaf certificate names none of its identities.
    pub fn authorize(&self, rpc: &str, peer_certs: Option<&[CertificateDer<'_>]>) -> Result<()> {
        if !self.is_on() {
            return Ok(());
        }
        let Some(leaf) = peer_certs.and_then(<[_]>::first) else {
            return Err(Error::PermissionDenied(format!(
                "{rpc} needs a TLS client certificate whose identity is on authd's \
                 --admin-clients allow-list; connect with mutual TLS using such a certificate"
            )));
        };
        let presented = certificate_identities(leaf.as_ref()).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "cannot read a verified client certificate");
            Vec::new()
        });
        if presented
            .iter()
            .any(|id| self.allowed.iter().any(|allowed| allowed.matches(id)))
        {
            return Ok(());
        }
        let shown = presented
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        Err(Error::PermissionDenied(format!(
            "{rpc} needs a client certificate whose identity is on authd's --admin-clients \
             allow-list; this certificate names [{shown}], none of which is on it"
        )))
    }
}

/// The transport-security settings: TLS files, the admin allow-list and
/// the plaintext escape hatch, each needing the one before it.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// PEM certificate chain (leaf first); with `--tls-key` turns TLS on [default: off].
    #[arg(long, env, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of `--tls-cert` (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, env, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,

    /// PEM CA bundle a presented gRPC client certificate must chain to (mTLS) [default: off].
    #[arg(long, env, value_name = "FILE")]
    pub tls_client_ca: Option<PathBuf>,

    /// Client certificates allowed admin RPCs: `dns:NAME`, `uri:URI`, `cn:NAME`, comma-separated.
    #[arg(long, env, value_name = "IDS", value_delimiter = ',')]
    pub admin_clients: Vec<ClientIdentity>,

    /// Serve without TLS on a non-loopback address (e.g. behind a sidecar terminating mTLS).
    #[arg(long, env, action = ArgAction::SetTrue, value_parser = BoolishValueParser::new())]
    pub allow_plaintext: bool,
}

impl TlsArgs {
    /// Checks that each setting has the ones it builds on.
    ///
    /// # Errors
    /// The setting that lacks what it needs.
    pub fn check(&self) -> Checked {
        let both = "give both --tls-cert and --tls-key (PEM files)";
        let ca = self.tls_client_ca.is_some();
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => invalid("tls_key", format!("is missing; {both}")),
            (None, Some(_)) => invalid("tls_cert", format!("is missing; {both}")),
            (None, None) if ca => invalid("tls_client_ca", format!("needs TLS; {both}")),
            _ if !ca && !self.admin_clients.is_empty() => {
                let fix = "the allow-list checks client certificates, so it needs mutual TLS: \
                    also give --tls-cert, --tls-key and --tls-client-ca";
                invalid("admin_clients", fix)
            }
            _ => Ok(()),
        }
    }

    /// Refuses plaintext on a non-loopback address among `listeners` (file
    /// key, address) unless TLS is configured or `allow_plaintext` says
    /// something else protects the traffic.
    ///
    /// # Errors
    /// The listener to blame and the two ways to fix it.
    pub fn check_plaintext(&self, listeners: &[(&'static str, Option<SocketAddr>)]) -> Checked {
        let exposed =
            |(_, addr): &&(_, Option<SocketAddr>)| addr.is_some_and(|a| !a.ip().is_loopback());
        match listeners.iter().find(exposed) {
            Some(&(key, Some(addr))) if self.tls_cert.is_none() && !self.allow_plaintext => {
                let what = format!("refusing to serve plaintext on {addr}, not a loopback address");
                let fix = "turn TLS on with --tls-cert and --tls-key (AUTHD_TLS_CERT, AUTHD_TLS_KEY), \
                    or, if something else encrypts the traffic (such as a mesh sidecar terminating \
                    mutual TLS), pass --allow-plaintext (AUTHD_ALLOW_PLAINTEXT=true)";
                invalid(key, format!("{what}: {fix}"))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_parse_with_their_prefix_and_refuse_without() {
        assert_eq!(
            "dns:Admin.Internal".parse::<ClientIdentity>(),
            Ok(ClientIdentity::Dns("admin.internal".into()))
        );
        assert_eq!(
            "uri:spiffe://example.org/ns/ops/sa/admin".parse::<ClientIdentity>(),
            Ok(ClientIdentity::Uri(
                "spiffe://example.org/ns/ops/sa/admin".into()
            ))
        );
        assert_eq!(
            " cn:ops admin ".parse::<ClientIdentity>(),
            Ok(ClientIdentity::CommonName("ops admin".into()))
        );
        for bad in [
            "admin.internal",
            "ip:10.0.0.1",
            "dns:",
            "cn:  ",
            "spiffe://x/y",
        ] {
            let message = bad.parse::<ClientIdentity>().unwrap_err();
            assert!(message.contains("dns:NAME"), "{bad}: {message}");
        }
    }

    #[test]
    fn dns_identities_match_without_case_and_never_as_wildcards() {
        let dns = |s: &str| ClientIdentity::Dns(s.into());
        assert!(dns("admin.internal").matches(&dns("ADMIN.internal")));
        assert!(!dns("admin.internal").matches(&dns("*.internal")));
        assert!(
            !dns("admin.internal").matches(&ClientIdentity::CommonName("admin.internal".into()))
        );
        let uri = |s: &str| ClientIdentity::Uri(s.into());
        assert!(!uri("spiffe://a/b").matches(&uri("spiffe://a/B")));
    }

    #[test]
    fn an_empty_allow_list_lets_every_caller_through() {
        let off = AdminClients::default();
        assert!(off.authorize("GetUser", None).is_ok());
        assert!(off.authorize("GetUser", Some(&[])).is_ok());
    }

    #[test]
    fn an_allow_list_refuses_a_call_without_a_certificate_saying_what_is_needed() {
        let on = AdminClients::new(vec![ClientIdentity::Dns("admin.internal".into())]);
        for certs in [None, Some(&[][..])] {
            let err = on.authorize("RevokeSessions", certs).unwrap_err();
            assert!(
                matches!(&err, Error::PermissionDenied(m)
                if m.contains("RevokeSessions") && m.contains("--admin-clients")
                    && m.contains("client certificate")),
                "{err}"
            );
        }
    }

    /// A leaf with CN `ops-admin` and SANs `DNS:Admin.authd.test`,
    /// `URI:spiffe://authd.test/ops/admin` and `IP:127.0.0.1` (made with the
    /// openssl CLI; only parsed here, so its expiry does not matter).
    const LEAF: &str = "-----BEGIN CERTIFICATE-----\n\
MIIB8TCCAZegAwIBAgIUBWrF/aScb7i2gwdMQW4eP7tmDsswCgYIKoZIzj0EAwIw\n\
GDEWMBQGA1UEAwwNYXV0aGQtdGVzdC1jYTAeFw0yNjExMjkwNTA4MDlaFw0yNjEy\n\
MDEwNTA4MDlaMBQxEjAQBgNVBAMMCW9wcy1hZG1pbjBZMBMGByqGSM49AgEGCCqG\n\
SM49AwEHA0IABNu69v8tqIOlOZn6NKo6WheCf8MKJjYjYPxYbEtqO+yyCctLfKfT\n\
YkqAqAvlcuYOtZpMIf5ZsYqLZFOSf0cXFgyjgcIwgb8wDAYDVR0TAQH/BAIwADAO\n\
BgNVHQ8BAf8EBAMCB4AwHQYDVR0lBBYwFAYIKwYBBQUHAwEGCCsGAQUFBwMCMEAG\n\
A1UdEQQ5MDeCEEFkbWluLmF1dGhkLnRlc3SGHXNwaWZmZTovL2F1dGhkLnRlc3Qv\n\
b3BzL2FkbWluhwR/AAABMB0GA1UdDgQWBBT8AWbjBzZyCDz8F+xGxlqos4F2YzAf\n\
BgNVHSMEGDAWgBT/OJPcb1afvpTm8rRWu7vlMpp69DAKBggqhkjOPQQDAgNIADBF\n\
AiEAw1ejcUdOKdqvkf30LWGbadlmbHmm23L6vWxjuH5iTQ0CIBGC3t9yj67N9Dth\n\
Pjiz1HECqEBJgRsU3TaVefRD6yW9\n\
-----END CERTIFICATE-----";

    fn leaf() -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(LEAF.as_bytes()).unwrap()
    }

    #[test]
    fn a_certificate_names_its_dns_and_uri_sans_and_its_common_name() {
        assert_eq!(
            certificate_identities(leaf().as_ref()).unwrap(),
            vec![
                ClientIdentity::Dns("admin.authd.test".into()),
                ClientIdentity::Uri("spiffe://authd.test/ops/admin".into()),
                ClientIdentity::CommonName("ops-admin".into()),
            ]
        );
    }

    #[test]
    fn an_allow_list_admits_a_certificate_naming_any_listed_identity() {
        for listed in [
            "dns:admin.AUTHD.test",
            "uri:spiffe://authd.test/ops/admin",
            "cn:ops-admin",
        ] {
            let on = AdminClients::new(vec![listed.parse().unwrap()]);
            assert!(on.authorize("GetUser", Some(&[leaf()])).is_ok(), "{listed}");
        }
        for unlisted in [
            "dns:authd.test",
            "uri:spiffe://authd.test/ops",
            "cn:ops",
            "dns:127.0.0.1",
        ] {
            let on = AdminClients::new(vec![unlisted.parse().unwrap()]);
            let err = on.authorize("GetUser", Some(&[leaf()])).unwrap_err();
            assert!(
                matches!(&err, Error::PermissionDenied(m) if m.contains("dns:admin.authd.test")),
                "{unlisted}: {err}"
            );
        }
    }

    #[test]
    fn an_unparsable_certificate_is_refused_not_trusted() {
        let on = AdminClients::new(vec![ClientIdentity::CommonName("x".into())]);
        let junk = CertificateDer::from(vec![0x30, 0x03, 0x02, 0x01, 0x01]);
        assert!(matches!(
            on.authorize("GetUser", Some(&[junk])),
            Err(Error::PermissionDenied(_))
        ));
    }
}
