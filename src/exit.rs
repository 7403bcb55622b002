//! The exit codes spawncodex documents (README, man page). One place, so they cannot drift.

/// The turn completed.
pub const OK: u8 = 0;
/// The turn failed, codex reported an error, the stream ended without a terminal event, or
/// stdout could not be written (a full disk).
pub const FAILED: u8 = 1;
/// Bad usage: a bad flag or value, an empty prompt, an unknown or clashing session, a bad or
/// non-strict schema, an unreadable session store.
pub const USAGE: u8 = 2;
/// `schema-run`: the answer is not JSON or does not match the schema.
pub const SCHEMA_MISMATCH: u8 = 3;
/// `--timeout` or `--idle-timeout` expired.
pub const TIMED_OUT: u8 = 124;
/// codex was not found or is not executable.
pub const CODEX_NOT_FOUND: u8 = 127;
/// Stopped by SIGHUP (the terminal was closed): 128 + SIGHUP.
pub const HANGUP: u8 = 129;
/// Interrupted by Ctrl-C (SIGINT).
pub const INTERRUPTED: u8 = 130;
/// Our stdout was closed by its reader (`| head -1`): 128 + SIGPIPE.
pub const OUTPUT_CLOSED: u8 = 141;
/// Stopped by SIGTERM.
pub const TERMINATED: u8 = 143;

/// (code, meaning) for help texts and the man page.
pub const TABLE: &[(u8, &str)] = &[
    (OK, "the turn completed"),
    (
        FAILED,
        "the turn failed: an error from codex, no result in its stream, or stdout not writable",
    ),
    (
        USAGE,
        "usage error: bad flag or value, empty prompt, unknown or busy session, bad schema, bad store",
    ),
    (
        SCHEMA_MISMATCH,
        "schema-run: the answer is not JSON or does not match the schema",
    ),
    (TIMED_OUT, "--timeout or --idle-timeout expired"),
    (CODEX_NOT_FOUND, "codex was not found or is not executable"),
    (HANGUP, "stopped by SIGHUP (the terminal was closed)"),
    (INTERRUPTED, "interrupted (SIGINT / Ctrl-C)"),
    (OUTPUT_CLOSED, "stdout was closed by its reader"),
    (TERMINATED, "terminated (SIGTERM)"),
];

/// The table as plain text, one code per line.
pub fn table_text() -> String {
    TABLE
        .iter()
        .map(|(code, what)| format!("  {code:>3}  {what}"))
        .collect::<Vec<_>>()
        .join("\n")
}
