//! The `authd` binary: parse the command line and hand over to the library.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let (cli, sources) = match authd::cli::parse_from(std::env::args_os()) {
        Ok(parsed) => parsed,
        Err(authd::cli::ParseFailure::Clap(e)) => e.exit(),
        Err(authd::cli::ParseFailure::Config(e)) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let database = cli.database_for_display(&sources);
    match Box::pin(authd::cli::run(cli, &sources)).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", authd::cli::describe(&error, &database));
            ExitCode::FAILURE
        }
    }
}
