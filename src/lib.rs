//! spawncodex: run OpenAI's `codex exec` from a shell or CI.
//!
//! The stdout contract: in human mode the only thing written to stdout is the final answer; in
//! `--jsonl` mode stdout is JSON Lines only (codex's own lines verbatim, plus `spawncodex.*`
//! lines). Everything else goes to stderr.

#![deny(clippy::print_stdout)]
// A closed terminal makes stderr fail: lines go through `stderr_line!`, which cannot panic.
#![deny(clippy::print_stderr)]

/// `eprintln!` for a stderr that may be gone: a closed terminal fails writes with EIO, and
/// `eprintln!` would panic (exit 101) where the line can only be dropped.
#[macro_export]
macro_rules! stderr_line {
    ($($arg:tt)*) => {{
        use ::std::io::Write as _;
        let _ = ::std::writeln!(::std::io::stderr(), $($arg)*);
    }};
}

pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod exit;
pub mod jsontext;
pub mod paths;
pub mod render;
pub mod schema;
mod simd;
pub mod store;
pub mod usage;
