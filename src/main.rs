//! The `spawncodex` binary: parse, dispatch, exit. Everything else lives in the library.

use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use spawncodex::cli::Cli;
use spawncodex::commands::{self, generate::COMPLETE_VAR};
use spawncodex::usage;

fn main() -> ExitCode {
    // Shell completion requests (`COMPLETE=bash spawncodex -- ...`) are answered and exit here.
    clap_complete::CompleteEnv::with_factory(Cli::command)
        .var(COMPLETE_VAR)
        .complete();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return ExitCode::from(usage::report(e)),
    };
    if let Some(option) = usage::prompt_looks_like_option(&cli) {
        let error = spawncodex::error::CliError::usage(usage::unknown_option_message(&option));
        spawncodex::stderr_line!("spawncodex: error: {}", error.message);
        if cli.global.jsonl {
            commands::failed_result_line(&error, None, std::time::Duration::ZERO);
        }
        return ExitCode::from(error.code);
    }
    // One thread: the parent-death signal codex gets is tied to the thread that spawned it.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            spawncodex::stderr_line!("spawncodex: error: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(commands::dispatch(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            spawncodex::stderr_line!("spawncodex: error: {e}");
            ExitCode::from(e.code)
        }
    }
}
