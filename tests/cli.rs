//! Integration tests: the real `spawncodex` binary against the project's fake codex
//! (tests/fake-codex/codex) replaying streams recorded from the real codex CLI.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "cli/common.rs"]
mod common;
#[path = "cli/generated.rs"]
mod generated;
#[path = "cli/live.rs"]
mod live;
#[path = "cli/readme.rs"]
mod readme;
#[path = "cli/reliability.rs"]
mod reliability;
#[path = "cli/run.rs"]
mod run;
#[path = "cli/schema.rs"]
mod schema;
#[path = "cli/sessions.rs"]
mod sessions;
