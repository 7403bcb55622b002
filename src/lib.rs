//! spawncodex: run OpenAI's `codex exec` from a shell or CI.
//!
//! The stdout contract: in human mode the only thing written to stdout is the final answer; in
//! `--jsonl` mode stdout is JSON Lines only (codex's own lines verbatim, plus `spawncodex.*`
//! lines). Everything else goes to stderr.

#![deny(clippy::print_stdout)]

pub mod cli;
pub mod client;
pub mod commands;
pub mod error;
pub mod exit;
pub mod render;
pub mod schema;
pub mod store;
pub mod usage;
