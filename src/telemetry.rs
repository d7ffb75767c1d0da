//! Logging and tracing set-up: `tracing` to stderr, as text or JSON, and,
//! in a build with the `otlp` feature and an `--otlp-endpoint`, the same
//! spans exported to an OpenTelemetry collector over OTLP/gRPC.
//!
//! What is logged is decided where it happens; this module only installs
//! the subscriber. No secret (password, token, hash, database password) is
//! ever passed to a log macro or recorded in a span field anywhere in authd,
//! so the exporter sends nothing the log would not show. The RPC span (see
//! `grpc::auth`) carries the method, the status code and the user id.

use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use crate::error::{Error, Result};

/// Logging, for every command.
#[derive(Debug, Clone, clap::Args)]
pub struct LogSettings {
    /// Log format.
    #[arg(long, env, value_enum, ignore_case = true, default_value = "text")]
    pub log_format: LogFormat,

    /// Log filter, e.g. `authd=debug` [default: info for the server, warn for other commands].
    #[arg(long, env, value_parser = filter)]
    pub log: Option<String>,
}

/// OpenTelemetry export: the server only.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct OtlpSettings {
    /// OTLP/gRPC collector for RPC spans, e.g. `http://127.0.0.1:4317`; needs `--features otlp`.
    #[arg(long, env, value_name = "URL", value_parser = otlp_endpoint)]
    pub otlp_endpoint: Option<String>,
}

fn filter(text: &str) -> std::result::Result<String, String> {
    EnvFilter::try_new(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("{e}; use e.g. info or authd=debug"))
}

/// An `http://HOST:PORT` URL, and only in a build that can export:
/// refusing it elsewhere beats silently exporting nothing.
fn otlp_endpoint(text: &str) -> std::result::Result<String, String> {
    if !cfg!(feature = "otlp") {
        return Err(OTLP_NOT_BUILT.to_owned());
    }
    // This build has no TLS client, so the collector is reached in plain
    // HTTP/2: one on loopback (an agent next to authd) or a trusted network.
    let uri: tonic::codegen::http::Uri = text.parse().map_err(|_| {
        format!("`{text}` is not a URL; use http://HOST:PORT such as http://127.0.0.1:4317")
    })?;
    if uri.scheme_str() != Some("http") || uri.host().is_none() {
        return Err(format!(
            "`{text}` must be http://HOST:PORT (such as http://127.0.0.1:4317); \
             TLS to the collector is not in this build"
        ));
    }
    Ok(text.to_owned())
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Why `--otlp-endpoint` is refused by a build without the `otlp` feature.
pub(crate) const OTLP_NOT_BUILT: &str = "this authd was built without OpenTelemetry export; \
     rebuild it with `cargo build --release --features otlp`, or unset the endpoint";

/// Whether log lines get ANSI colour: only on a terminal, and never when
/// `NO_COLOR` is set to anything non-empty (<https://no-color.org>). A log
/// file or pipe gets plain text.
fn use_colour(stderr_is_terminal: bool, no_color: Option<&std::ffi::OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(std::ffi::OsStr::is_empty)
}

/// A layer over the bare registry; the filter sits on top of all of them.
type BoxedLayer = Box<dyn Layer<Registry> + Send + Sync>;

/// What [`init`] started that needs an orderly end: with the `otlp` feature
/// and an endpoint, the span exporter, whose last batch is still in memory.
#[derive(Debug, Default)]
#[must_use = "call `shutdown` so buffered spans are exported before exit"]
pub struct Telemetry {
    #[cfg(feature = "otlp")]
    provider: Option<opentelemetry_sdk::trace::SdkTracerProvider>,
}

impl Telemetry {
    /// Exports the spans still buffered and stops the exporter (waiting at
    /// most a few seconds for the collector). Does nothing without export.
    ///
    /// Blocking: call it from `spawn_blocking`, not on an async worker, and
    /// while the Tokio runtime is still running (the exporter's connection
    /// lives on it).
    pub fn shutdown(self) {
        #[cfg(feature = "otlp")]
        if let Some(provider) = self.provider
            && let Err(e) = provider.shutdown_with_timeout(std::time::Duration::from_secs(5))
        {
            // The subscriber may be gone by now; stderr is what is left.
            eprintln!("authd: exporting the last spans failed: {e}");
        }
    }
}

/// Installs the global subscriber. Safe to call once per process; a second
/// call keeps the first subscriber (tests do this).
///
/// `otlp_endpoint` turns on span export; it must be called inside the Tokio
/// runtime, which carries the exporter's connection.
///
/// # Errors
/// [`Error::Config`] for a filter that does not parse, an endpoint in a
/// build without the `otlp` feature, or an exporter that cannot be built.
pub fn init(format: LogFormat, filter: &str, otlp_endpoint: Option<&str>) -> Result<Telemetry> {
    let filter = EnvFilter::try_new(filter).map_err(|e| {
        Error::Config(format!(
            "invalid configuration --log (env AUTHD_LOG): {e}; use e.g. info or authd=debug"
        ))
    })?;
    let fmt = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(use_colour(
            std::io::IsTerminal::is_terminal(&std::io::stderr()),
            std::env::var_os("NO_COLOR").as_deref(),
        ));
    let mut layers: Vec<BoxedLayer> = vec![match format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Json => fmt.json().boxed(),
    }];
    let telemetry = match otlp_endpoint {
        None => Telemetry::default(),
        Some(endpoint) => otlp::layer(endpoint, &mut layers)?,
    };
    // A second call (tests) keeps the first subscriber; that is fine.
    drop(
        tracing_subscriber::registry()
            .with(layers)
            .with(filter)
            .try_init(),
    );
    Ok(telemetry)
}

#[cfg(feature = "otlp")]
mod otlp {
    //! The OTLP/gRPC span exporter and its `tracing` layer.

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_otlp::WithExportConfig as _;
    use opentelemetry_sdk::Resource;
    use opentelemetry_sdk::trace::SdkTracerProvider;

    use super::{BoxedLayer, Telemetry};
    use crate::error::{Error, Result};
    use tracing_subscriber::Layer as _;

    /// Adds a layer exporting spans to `endpoint` in batches (a background
    /// thread of the SDK's; a full queue drops spans rather than slow an RPC).
    pub(super) fn layer(endpoint: &str, layers: &mut Vec<BoxedLayer>) -> Result<Telemetry> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .with_timeout(std::time::Duration::from_secs(3))
            .build()
            .map_err(|e| {
                Error::Config(format!(
                    "invalid configuration --otlp-endpoint (env AUTHD_OTLP_ENDPOINT): {e}"
                ))
            })?;
        let provider = SdkTracerProvider::builder()
            .with_resource(Resource::builder().with_service_name("authd").build())
            .with_batch_exporter(exporter)
            .build();
        let tracer = provider.tracer("authd");
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(tracer)
                .with_tracked_inactivity(false)
                .boxed(),
        );
        Ok(Telemetry {
            provider: Some(provider),
        })
    }
}

#[cfg(not(feature = "otlp"))]
mod otlp {
    //! Stand-in for a build without the `otlp` feature: refuses the endpoint.

    use super::{BoxedLayer, Telemetry};
    use crate::error::{Error, Result};

    /// Always an error: this build cannot export.
    pub(super) fn layer(_endpoint: &str, _layers: &mut [BoxedLayer]) -> Result<Telemetry> {
        Err(Error::Config(format!(
            "invalid configuration --otlp-endpoint (env AUTHD_OTLP_ENDPOINT): {}",
            super::OTLP_NOT_BUILT
        )))
    }
}

#[cfg(test)]
mod colour_tests {
    use super::use_colour;

    #[test]
    fn colour_needs_a_terminal_and_no_no_color() {
        assert!(use_colour(true, None));
        assert!(!use_colour(false, None));
        assert!(!use_colour(true, Some("1".as_ref())));
        assert!(use_colour(true, Some("".as_ref())));
    }
}
