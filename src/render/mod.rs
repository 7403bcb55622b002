//! Renderers: how a run looks on stdout/stderr. One trait, two implementations, chosen once.

pub mod human;
pub mod jsonl;
mod rawjson;
pub mod safe;
mod strscan;
pub mod style;
pub mod tee;

use std::io;

use serde_json::value::RawValue;

use crate::client::{Observer, Outcome};

/// What a command adds to the final report besides the outcome.
#[derive(Debug, Default)]
pub struct Report {
    /// spawncodex's own exit code for this run.
    pub exit_code: u8,
    /// The named session, if any.
    pub session: Option<String>,
    /// schema-run: the checked JSON answer as the model wrote it, without whitespace (printed
    /// instead of the raw message).
    pub json_answer: Option<Box<RawValue>>,
    /// schema-run: a one-line reason to print instead of the turn's own error.
    pub error_override: Option<String>,
    /// Extra lines to print on stderr before the error (e.g. each schema error).
    pub details: Vec<String>,
    /// Print JSON answers compactly.
    pub compact: bool,
    /// This turn's own token usage, where it is known: codex reports the thread's running
    /// total, which is the turn's own only on a new thread; a session knows its total before
    /// the turn. `None` after resuming a bare thread id: the summary says "thread total".
    pub turn_usage: Option<crate::client::Usage>,
}

/// A renderer sees every codex line and client event as it happens, then the end.
pub trait Renderer: Observer {
    /// Print the result (the answer on stdout, or the error on stderr; the result line in JSONL).
    fn finish(&mut self, outcome: &Outcome, report: &Report) -> io::Result<()>;

    /// A `spawncodex.<name>` line that is not a client event (e.g. `spawncodex.schema`),
    /// serialised; human renderers ignore it.
    fn extra_json(&mut self, _line: &RawValue) -> io::Result<()> {
        Ok(())
    }

    /// The spinner, if one is drawn: a signal handler says on it that the run is stopping.
    fn spinner(&self) -> Option<indicatif::ProgressBar> {
        None
    }

    /// A line for the user on stderr (human mode only).
    fn note(&mut self, _text: &str) {}
}

/// The `spawncodex.result` line: the last stdout line in `--jsonl` mode.
#[derive(Debug, serde::Serialize)]
pub struct ResultLine<'a> {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub status: crate::client::TurnStatus,
    pub thread_id: Option<&'a str>,
    pub final_message: Option<&'a str>,
    /// schema-run: the checked JSON answer.
    pub json: Option<&'a RawValue>,
    pub error: Option<&'a str>,
    pub usage: Option<crate::client::Usage>,
    /// spawncodex's exit code.
    pub exit_code: u8,
    pub codex_exit_code: Option<i32>,
    pub codex_signal: Option<i32>,
    pub duration_ms: u64,
    pub attempts: u32,
    pub session: Option<&'a str>,
}

pub fn result_json<'a>(outcome: &'a Outcome, report: &'a Report) -> ResultLine<'a> {
    ResultLine {
        kind: "spawncodex.result",
        // `completed` is what CI checks for: a turn whose answer then failed our own check
        // (schema-run's schema) did not complete what was asked.
        status: outcome.status.reported(report.exit_code),
        thread_id: outcome.thread_id.as_deref(),
        final_message: outcome.final_message.as_deref(),
        json: report.json_answer.as_deref(),
        error: report
            .error_override
            .as_deref()
            .or(outcome.error.as_deref()),
        usage: outcome.usage,
        exit_code: report.exit_code,
        codex_exit_code: outcome.exit_code,
        codex_signal: outcome.signal,
        duration_ms: outcome.duration.as_millis() as u64,
        attempts: outcome.attempts,
        session: report.session.as_deref(),
    }
}

/// How a run ends when its stdout fails at the end (the answer or the result line is lost):
/// never a success. The same judgement serves the exit code, the session record and the
/// `--events-file` log.
#[derive(Debug)]
pub struct OutputFailure {
    pub code: u8,
    pub status: crate::client::TurnStatus,
    pub why: String,
}

impl OutputFailure {
    /// `None` for a run a signal stopped: it keeps its code, since a closed terminal (SIGHUP)
    /// takes stdout with it, and that failed write is its consequence, not the news.
    pub fn of(e: &io::Error, outcome: &Outcome) -> Option<OutputFailure> {
        use crate::client::{StopReason, TurnStatus};
        if matches!(
            outcome.stopped,
            Some(StopReason::Interrupt | StopReason::Terminate | StopReason::Hangup)
        ) {
            return None;
        }
        Some(if e.kind() == io::ErrorKind::BrokenPipe {
            OutputFailure {
                code: crate::exit::OUTPUT_CLOSED,
                status: TurnStatus::Interrupted,
                why: "output closed".into(),
            }
        } else {
            OutputFailure {
                code: crate::exit::FAILED,
                status: TurnStatus::Failed,
                why: format!("cannot write to stdout: {e}"),
            }
        })
    }
}
