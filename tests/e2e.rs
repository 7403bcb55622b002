//! End-to-end tests: the real `spawncodex` binary running the REAL codex CLI (the version in
//! tests/e2e/CODEX_VERSION) against a fake OpenAI Responses API on 127.0.0.1.
//!
//! codex is found through `SPAWNCODEX_E2E_CODEX`, else in the cache `.ci/run` installs into
//! (`${SPAWNCODEX_E2E_CACHE:-~/.cache/spawncodex-e2e}/codex-VERSION`). Without it each test
//! prints why it is skipped, except under `CI=true`, where that is a failure. To run them
//! locally:
//!
//! ```sh
//! npm install --prefix ~/.cache/spawncodex-e2e/codex-$(cat tests/e2e/CODEX_VERSION) @openai/codex@$(cat tests/e2e/CODEX_VERSION)
//! cargo test --test e2e
//! ```
//!
//! Each test gets a fresh directory under cargo's target tmp dir (codex home, spawncodex
//! home, HOME, TMPDIR, working dir), a clean environment, and its own fake server
//! (`e2e/server.rs`) whose script says what the model answers to each request.

#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "e2e/harness.rs"]
mod harness;
#[path = "e2e/server.rs"]
mod server;

#[path = "e2e/failures.rs"]
mod failures;
#[path = "e2e/run.rs"]
mod run;
#[path = "e2e/schema.rs"]
mod schema;
#[path = "e2e/sessions.rs"]
mod sessions;
#[path = "e2e/stopping.rs"]
mod stopping;
