//! Our own events about a run (attempts, processes, retries, warnings, sessions), and the
//! [`Observer`] that receives them together with codex's lines.

use std::io;

use serde::Serialize;

use super::line::CodexLine;
use super::outcome::{StopReason, TurnStatus};

/// A client event. Serialised, its `type` is `spawncodex.<name>`, the form `--jsonl` prints.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ClientEvent {
    #[serde(rename = "spawncodex.attempt.started")]
    AttemptStarted {
        attempt: u32,
        /// `run`, or `resume` when the attempt continues a thread.
        operation: &'static str,
        thread_id: Option<String>,
    },
    #[serde(rename = "spawncodex.process.spawned")]
    ProcessSpawned {
        attempt: u32,
        pid: u32,
        argv: Vec<String>,
        cwd: Option<String>,
    },
    #[serde(rename = "spawncodex.attempt.finished")]
    AttemptFinished {
        attempt: u32,
        status: TurnStatus,
        exit_code: Option<i32>,
        signal: Option<i32>,
        duration_ms: u64,
        thread_id: Option<String>,
        error: Option<String>,
        stopped: Option<StopReason>,
    },
    #[serde(rename = "spawncodex.retry.scheduled")]
    RetryScheduled {
        /// The attempt that will run after the delay.
        next_attempt: u32,
        delay_ms: u64,
        reason: String,
        /// Set when the retry resumes the thread instead of starting over.
        resume_thread_id: Option<String>,
    },
    #[serde(rename = "spawncodex.warning")]
    Warning { message: String },
    #[serde(rename = "spawncodex.session.updated")]
    SessionUpdated {
        name: String,
        thread_id: String,
        turns: u64,
        last_status: String,
    },
}

impl ClientEvent {
    /// The short name (`attempt.started`, ...), without the `spawncodex.` prefix.
    pub fn name(&self) -> &'static str {
        match self {
            ClientEvent::AttemptStarted { .. } => "attempt.started",
            ClientEvent::ProcessSpawned { .. } => "process.spawned",
            ClientEvent::AttemptFinished { .. } => "attempt.finished",
            ClientEvent::RetryScheduled { .. } => "retry.scheduled",
            ClientEvent::Warning { .. } => "warning",
            ClientEvent::SessionUpdated { .. } => "session.updated",
        }
    }
}

/// Receives everything that happens during a run, in order, on the task that drives it.
///
/// `codex_line` is called for every line codex writes on stdout (blank and malformed ones too, so
/// a raw log can keep them); `batch_end` after each read from codex's pipe, with the bytes of the
/// complete lines that read brought (see [`CodexLine::batch_span`]), which is where a renderer
/// should write and flush. An `Err` from either stops the run (codex is terminated): that is how a
/// closed stdout ends a run quietly.
pub trait Observer {
    /// Which lines this observer needs one by one. Asked once per codex process.
    fn line_interest(&self) -> LineInterest {
        LineInterest::Every
    }
    fn codex_line(&mut self, line: &CodexLine<'_>) -> io::Result<()>;
    fn client_event(&mut self, event: &ClientEvent) -> io::Result<()>;
    fn batch_end(&mut self, _batch: &[u8]) -> io::Result<()> {
        Ok(())
    }
    /// Has the consumer of our output gone away (e.g. a closed pipe)? Polled while codex is
    /// silent, so `| head -1` stops codex without waiting for its next line.
    fn output_closed(&mut self) -> bool {
        false
    }
}

/// Which of codex's lines an observer is handed through [`Observer::codex_line`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineInterest {
    /// Every line, blank and malformed ones included.
    Every,
    /// Every line except ordinary item events (see [`is_ordinary_item`]): those are only in the
    /// bytes [`Observer::batch_end`] receives, between the lines handed over. This is what
    /// makes `--jsonl` pass-through cheap: most of codex's lines are never looked at twice.
    /// Every line that does not have an event's shape (blank, not `{"type":"…`, not ending in
    /// `}`) is still handed over. Like every line classified from its first bytes, an ordinary
    /// item line is not parsed, so damage inside it would not be seen; codex writes each line
    /// whole with serde, and the one real failure, a last line cut short, is always parsed.
    ///
    /// [`is_ordinary_item`]: super::line::is_ordinary_item
    Notable,
}

/// An observer that ignores everything.
pub struct NullObserver;

impl Observer for NullObserver {
    fn line_interest(&self) -> LineInterest {
        LineInterest::Notable
    }
    fn codex_line(&mut self, _line: &CodexLine<'_>) -> io::Result<()> {
        Ok(())
    }
    fn client_event(&mut self, _event: &ClientEvent) -> io::Result<()> {
        Ok(())
    }
}

/// Adapts a closure into an observer for client events only (the "event hook").
pub struct HookObserver<F: FnMut(&ClientEvent)>(pub F);

impl<F: FnMut(&ClientEvent)> Observer for HookObserver<F> {
    fn line_interest(&self) -> LineInterest {
        LineInterest::Notable
    }
    fn codex_line(&mut self, _line: &CodexLine<'_>) -> io::Result<()> {
        Ok(())
    }
    fn client_event(&mut self, event: &ClientEvent) -> io::Result<()> {
        (self.0)(event);
        Ok(())
    }
}
