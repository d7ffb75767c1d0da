//! The `authd` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

use clap::Parser as _;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = authd::cli::Cli::parse();
    let database = authd::config::Config::load(&cli.config)
        .map(|c| c.database_url_for_display())
        .unwrap_or_default();
    match authd::cli::run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", authd::cli::describe(&error, &database));
            ExitCode::FAILURE
        }
    }
}
