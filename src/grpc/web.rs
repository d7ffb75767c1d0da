//! gRPC-Web for browsers, on the gRPC port: its setting (the CORS
//! allow-list) and the two layers the gRPC server wraps every service in.
//!
//! A browser cannot speak gRPC itself (it has no access to HTTP/2 trailers),
//! so it speaks gRPC-Web: the same messages, over HTTP/1.1 or HTTP/2, with
//! the status in a trailer frame of the body. `tonic-web`'s
//! [`GrpcWebLayer`] translates such requests (`content-type:
//! application/grpc-web[-text][+proto]`) into gRPC for the services and the
//! answers back, so every service on the port (AuthService, AdminService,
//! health, ...) is reachable from a browser with the limits, interceptors
//! and status mapping of native gRPC; native gRPC passes through untouched.
//!
//! Cross-origin calls also need CORS: a page on `https://app.example.com`
//! may call authd on another origin only if authd says so. The allow-list
//! ([`GrpcWebSettings::grpc_web_allowed_origins`]) is empty by default:
//! then no CORS header is ever sent and browsers refuse cross-origin calls,
//! while same-origin pages (authd behind the same reverse proxy) and
//! non-browser gRPC-Web clients still work. `*` is refused: authd's calls
//! carry credentials (a password, or `authorization: Bearer ...`), and any
//! page a user visits could otherwise drive them from that user's browser.
//! No `Access-Control-Allow-Credentials` is sent: authd reads no cookies,
//! tokens travel in the `authorization` header.
//!
//! Adapter only: which requests are gRPC-Web, and which origins may read
//! the answers; no policy about who may log in.

use std::str::FromStr;
use std::time::Duration;

use http::{HeaderName, HeaderValue, Method, Response, header};
pub use tonic_web::GrpcWebLayer;
use tower::layer::util::Stack;
use tower::util::MapResponseLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};

/// The answers the gRPC server's services give (gRPC-Web's or native).
type Answer = Response<tonic::body::Body>;

/// The CORS layers: tower-http's, wrapped in [`refused_origin_gets_nothing`].
pub type CorsLayers = Stack<CorsLayer, MapResponseLayer<fn(Answer) -> Answer>>;

/// Request headers a gRPC-Web client may send cross-origin (answered in a
/// preflight's `Access-Control-Allow-Headers`): the bearer token, the
/// gRPC-Web content type and markers, and the caller's deadline.
pub const ALLOWED_HEADERS: [&str; 5] = [
    "authorization",
    "content-type",
    "x-grpc-web",
    "x-user-agent",
    "grpc-timeout",
];

/// Response headers a page may read (`Access-Control-Expose-Headers`): the
/// status, its message and its details (`google.rpc.BadRequest`, ...),
/// which arrive as headers on a trailers-only answer.
pub const EXPOSED_HEADERS: [&str; 3] = ["grpc-status", "grpc-message", "grpc-status-details-bin"];

/// How long a browser may cache a preflight answer.
const PREFLIGHT_MAX_AGE: Duration = Duration::from_secs(600);

/// Which web origins may call authd from a browser.
#[derive(Debug, Clone, clap::Args)]
pub struct GrpcWebSettings {
    /// Browser origins (`https://app.example.com`) allowed to call gRPC-Web (CORS) [default: none].
    #[arg(long, env, value_name = "ORIGINS", value_delimiter = ',')]
    pub grpc_web_allowed_origins: Vec<Origin>,
}

impl GrpcWebSettings {
    /// The CORS layers answering preflights and marking answers for the
    /// allowed origins; `None` when the list is empty, so that no CORS
    /// header at all is sent.
    #[must_use]
    pub fn cors_layer(&self) -> Option<CorsLayers> {
        if self.grpc_web_allowed_origins.is_empty() {
            return None;
        }
        let origins = self.grpc_web_allowed_origins.iter().map(|o| o.0.clone());
        let cors = CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            // gRPC-Web calls are POSTs; a preflight asks for nothing else.
            .allow_methods([Method::POST])
            .allow_headers(ALLOWED_HEADERS.map(HeaderName::from_static))
            .expose_headers(EXPOSED_HEADERS.map(HeaderName::from_static))
            .max_age(PREFLIGHT_MAX_AGE);
        let strip: fn(Answer) -> Answer = refused_origin_gets_nothing;
        Some(Stack::new(cors, MapResponseLayer::new(strip)))
    }
}

/// tower-http answers a preflight's methods and headers whatever the
/// origin, and says no only by leaving out `Access-Control-Allow-Origin`;
/// an answer without it here loses the other `Access-Control-*` headers
/// too, so a refused origin is told nothing about what authd accepts.
fn refused_origin_gets_nothing(mut answer: Answer) -> Answer {
    let headers = answer.headers_mut();
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        for name in [
            header::ACCESS_CONTROL_ALLOW_METHODS,
            header::ACCESS_CONTROL_ALLOW_HEADERS,
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            header::ACCESS_CONTROL_MAX_AGE,
        ] {
            headers.remove(name);
        }
    }
    answer
}

/// One allowed web origin, as browsers send it in `Origin`: lower-case
/// `http` or `https`, a host, an optional port, nothing after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin(HeaderValue);

impl Origin {
    /// The origin as text (`https://app.example.com`).
    #[must_use]
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }
}

impl FromStr for Origin {
    type Err = String;

    /// Parses one entry of the allow-list, refusing `*`, paths and other
    /// schemes with the fix.
    fn from_str(text: &str) -> Result<Self, String> {
        origin(text.trim())
    }
}

/// [`Origin::from_str`] of trimmed `text`.
fn origin(text: &str) -> Result<Origin, String> {
    let example = "use scheme://host[:port] such as https://app.example.com";
    if text == "*" {
        return Err(
            "`*` would let every web page call authd from its visitors' browsers, with their \
             passwords and tokens; list the origins of your own front ends, such as \
             https://app.example.com,http://localhost:5173"
                .to_owned(),
        );
    }
    let lower = text.to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else {
        return Err(format!(
            "`{}` is not an origin; {example}",
            text.escape_debug()
        ));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "`{}`: browsers call authd from http or https origins only; {example}",
            text.escape_debug()
        ));
    }
    // `[v6]:port` or `name:port`; a browser omits the default port.
    let (host, port) = match rest.strip_prefix('[').and_then(|v6| v6.split_once(']')) {
        Some((v6, "")) => (v6, None),
        Some((v6, after)) => (v6, Some(after.strip_prefix(':').unwrap_or("x"))),
        None => rest
            .split_once(':')
            .map_or((rest, None), |(h, p)| (h, Some(p))),
    };
    let host_ok = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b':'));
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p != 0));
    if !host_ok || !port_ok {
        let hint = if rest.contains('/') {
            "an origin has no path, not even a trailing `/`"
        } else {
            "the host or port is not valid"
        };
        return Err(format!("`{}`: {hint}; {example}", text.escape_debug()));
    }
    HeaderValue::from_str(&lower)
        .map(Origin)
        .map_err(|_| format!("`{}` is not an origin; {example}", text.escape_debug()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins_parse_as_browsers_send_them() {
        for (given, kept) in [
            ("https://app.example.com", "https://app.example.com"),
            (" HTTP://LocalHost:5173 ", "http://localhost:5173"),
            ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
            ("https://[::1]:8443", "https://[::1]:8443"),
            ("https://[::1]", "https://[::1]"),
        ] {
            assert_eq!(
                given.parse::<Origin>().map(|o| o.as_str().to_owned()),
                Ok(kept.to_owned())
            );
        }
    }

    #[test]
    fn a_wildcard_path_or_other_scheme_is_refused_with_a_fix() {
        let star = origin("*").unwrap_err();
        assert!(
            star.contains("every web page") && star.contains("https://"),
            "{star}"
        );
        let path = origin("https://app.example.com/").unwrap_err();
        assert!(path.contains("no path"), "{path}");
        for bad in [
            "app.example.com",
            "ftp://x",
            "https://",
            "https://a:0",
            "https://a:99999",
            "null",
        ] {
            let refused = origin(bad).unwrap_err();
            assert!(
                refused.contains("https://app.example.com"),
                "{bad}: {refused}"
            );
        }
    }

    #[test]
    fn no_origins_means_no_cors_layer() {
        let none = GrpcWebSettings {
            grpc_web_allowed_origins: Vec::new(),
        };
        assert!(none.cors_layer().is_none());
        let one = GrpcWebSettings {
            grpc_web_allowed_origins: vec![origin("https://app.example.com").unwrap()],
        };
        assert!(one.cors_layer().is_some());
    }
}
