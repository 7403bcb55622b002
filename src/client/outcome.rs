//! How a run ended, in terms a script can trust.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::events::Usage;

/// The status of a turn (or of a whole run, after retries).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TurnStatus {
    /// `turn.completed` was seen.
    Completed,
    /// `turn.failed` was seen, or codex failed before starting a turn.
    Failed,
    /// Stopped by Ctrl-C / SIGTERM (or a closed stdout).
    Interrupted,
    /// `--timeout` or `--idle-timeout` expired.
    TimedOut,
    /// codex exited without `turn.completed` or `turn.failed`.
    Incomplete,
}

impl TurnStatus {
    /// The status to report for a turn that ended with spawncodex's `exit_code`: `completed`
    /// only with exit 0. A turn codex completed whose result then failed (an answer that does
    /// not match the schema, one that could not be written) is `failed`.
    pub fn reported(self, exit_code: u8) -> TurnStatus {
        match self {
            TurnStatus::Completed if exit_code != 0 => TurnStatus::Failed,
            status => status,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TurnStatus::Completed => "completed",
            TurnStatus::Failed => "failed",
            TurnStatus::Interrupted => "interrupted",
            TurnStatus::TimedOut => "timed_out",
            TurnStatus::Incomplete => "incomplete",
        }
    }
}

impl std::fmt::Display for TurnStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a run was stopped from outside codex.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The whole-run `--timeout`.
    Timeout,
    /// No line from codex for `--idle-timeout`.
    IdleTimeout,
    /// SIGINT (Ctrl-C).
    Interrupt,
    /// SIGTERM.
    Terminate,
    /// SIGHUP: the terminal was closed.
    Hangup,
    /// The consumer of our output went away (closed pipe).
    OutputClosed,
    /// Writing our output failed otherwise (a full disk, an I/O error): what codex does next
    /// could not be shown or kept.
    OutputFailed,
    /// The turn had ended but codex did not exit.
    Lingered,
}

impl StopReason {
    /// Why an interrupted run stopped, for its error text.
    pub(crate) fn interrupted_by(self) -> &'static str {
        match self {
            StopReason::Terminate => "stopped by SIGTERM",
            StopReason::Hangup => "stopped by SIGHUP (the terminal was closed)",
            StopReason::OutputClosed => "output closed",
            StopReason::OutputFailed => "cannot write to stdout",
            StopReason::Interrupt => "stopped by Ctrl-C (SIGINT)",
            StopReason::Timeout => "--timeout expired",
            StopReason::IdleTimeout => "--idle-timeout expired",
            StopReason::Lingered => "codex did not exit after the turn",
        }
    }
}

/// The result of one attempt (one codex process) or of a whole run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Outcome {
    /// From `thread.started`, when codex got that far.
    pub thread_id: Option<String>,
    pub status: TurnStatus,
    /// The last `agent_message` of a completed turn. Never an error text.
    pub final_message: Option<String>,
    /// What went wrong, for any status other than completed.
    pub error: Option<String>,
    /// Cumulative thread usage as codex reported it in `turn.completed`.
    pub usage: Option<Usage>,
    /// codex's exit code (None when it was killed by a signal or never started).
    pub exit_code: Option<i32>,
    /// The signal that ended codex, if any.
    pub signal: Option<i32>,
    /// Wall time of the whole run (all attempts and backoff).
    #[serde(with = "duration_ms")]
    pub duration: Duration,
    /// How many codex processes were started.
    pub attempts: u32,
    /// Set when we stopped codex ourselves.
    pub stopped: Option<StopReason>,
    /// The last lines codex wrote on stderr (bounded).
    pub stderr_tail: String,
}

impl Outcome {
    pub(crate) fn empty() -> Self {
        Outcome {
            thread_id: None,
            status: TurnStatus::Incomplete,
            final_message: None,
            error: None,
            usage: None,
            exit_code: None,
            signal: None,
            duration: Duration::ZERO,
            attempts: 0,
            stopped: None,
            stderr_tail: String::new(),
        }
    }

    pub fn is_success(&self) -> bool {
        self.status == TurnStatus::Completed
    }
}

mod duration_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(d.as_millis() as u64)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        Ok(Duration::from_millis(u64::deserialize(d)?))
    }
}
