//! Watches one token's fate through a local verifier:
//!
//! ```text
//! cargo run -p authd-client --example verify -- --endpoint http://127.0.0.1:50051 \
//!     --client-id ID --client-secret-file FILE --token TOKEN --for 30
//! ```
//!
//! prints one line each time the answer for the token changes, `valid
//! <principal id>`, `invalid <REASON>` (the Verify reason without its
//! prefix, e.g. `SESSION_ENDED`) or `unavailable`, and exits after `--for`
//! seconds. Until the first connect succeeds the answer is `unavailable`,
//! and connecting is retried.

use std::io::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use authd_client::{Credentials, Verdict, Verifier};
use clap::Parser;
use tonic::transport::Endpoint;

/// Watches one token's fate through a local verifier.
#[derive(Debug, Parser)]
struct Args {
    /// authd's gRPC address, e.g. http://127.0.0.1:50051.
    #[arg(long)]
    endpoint: String,
    /// The service account's client id.
    #[arg(long)]
    client_id: String,
    /// A file holding the service account's client secret (surrounding
    /// whitespace ignored), so it stays out of the process list.
    #[arg(long)]
    client_secret_file: PathBuf,
    /// The access token to watch.
    #[arg(long)]
    token: String,
    /// Seconds to watch before exiting.
    #[arg(long = "for", default_value_t = 30)]
    seconds: u64,
}

fn answer(verifier: Option<&Verifier>, token: &str) -> String {
    match verifier.map(|v| v.verify(token)) {
        Some(Ok(Verdict::Valid(principal))) => format!("valid {}", principal.id()),
        Some(Ok(Verdict::Invalid(reason))) => format!("invalid {}", reason.name()),
        Some(Err(_)) | None => "unavailable".to_owned(),
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let secret = std::fs::read_to_string(&args.client_secret_file)
        .map_err(|e| format!("cannot read {}: {e}", args.client_secret_file.display()))?;
    let endpoint = Endpoint::from_shared(args.endpoint.clone())?;
    let credentials = Credentials::service_account(args.client_id, secret.trim());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(args.seconds);
    let mut stdout = std::io::stdout();
    let mut last = String::new();
    let mut show = |line: String| -> std::io::Result<()> {
        if line != last {
            writeln!(stdout, "{line}")?;
            stdout.flush()?;
            last = line;
        }
        Ok(())
    };

    // Connect, retrying until the deadline; the answer is `unavailable`
    // meanwhile.
    let verifier = loop {
        match Verifier::builder(endpoint.clone(), credentials.clone())
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
        {
            Ok(verifier) => break Some(verifier),
            Err(e) => {
                eprintln!("connect: {e}");
                show(answer(None, &args.token))?;
                if tokio::time::Instant::now() + Duration::from_millis(500) >= deadline {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    };
    let Some(verifier) = verifier else {
        return Ok(());
    };
    // Re-check on every change of the verifier's state, and every 50 ms for
    // staleness, which arrives with no event.
    let mut changes = verifier.changes();
    loop {
        show(answer(Some(&verifier), &args.token))?;
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Ok(()),
            result = changes.changed() => {
                if result.is_err() {
                    return Ok(());
                }
            }
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
}
