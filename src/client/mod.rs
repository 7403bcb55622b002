//! The client: runs `codex exec --json` and reports what happened.
//!
//! ```no_run
//! use spawncodex::client::{CodexClient, ExecRequest, RunOptions, Sandbox, NullObserver};
//!
//! # async fn demo() -> Result<(), spawncodex::client::ClientError> {
//! let client = CodexClient::locate(None)?;
//! let mut request = ExecRequest::new("Summarise README.md in one line");
//! request.sandbox = Some(Sandbox::ReadOnly);
//! let outcome = client.run(&request, &RunOptions::default(), &mut NullObserver).await?;
//! if outcome.is_success() {
//!     println!("{}", outcome.final_message.unwrap_or_default());
//! }
//! # Ok(()) }
//! ```
//!
//! Telemetry: any [`Observer`] sees codex's lines and the client's own events as they happen;
//! [`HookObserver`] turns a closure into one (the "event hook"):
//!
//! ```no_run
//! use spawncodex::client::{ClientEvent, CodexClient, ExecRequest, HookObserver, RunOptions};
//!
//! # async fn demo() -> Result<(), spawncodex::client::ClientError> {
//! let client = CodexClient::locate(None)?;
//! let mut hook = HookObserver(|event: &ClientEvent| match event {
//!     ClientEvent::RetryScheduled { delay_ms, reason, .. } => eprintln!("retrying in {delay_ms} ms: {reason}"),
//!     other => eprintln!("{}", other.name()),
//! });
//! let outcome = client.run(&ExecRequest::new("hi"), &RunOptions::default(), &mut hook).await?;
//! # let _ = outcome; Ok(()) }
//! ```
//!
//! What it guarantees: codex runs in its own process group with `/dev/null` (or the prompt) on
//! stdin; its stdout is handed to an [`Observer`] line by line as it arrives, unmodified; the run
//! ends when codex exits even if a grandchild holds the pipe; nothing codex started is left
//! running afterwards; transient failures are retried according to [`RetryPolicy`], resuming the
//! thread when codex already reported one.

pub mod argv;
mod attempt;
pub mod events;
pub mod line;
pub mod outcome;
pub mod process;
pub mod request;
pub mod retry;
pub mod telemetry;

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

pub use argv::{PromptVia, build_argv};
pub use attempt::{CancelRequest, last_meaningful_line};
pub use events::{ItemDetails, ThreadEvent, ThreadItem, Usage};
pub use line::{CodexLine, LineKind};
pub use outcome::{Outcome, StopReason, TurnStatus};
pub use request::{ExecRequest, ResumeTarget, Sandbox, is_thread_id};
pub use retry::{FailureClass, RetryPolicy, classify_failure};
pub use telemetry::{ClientEvent, HookObserver, LineInterest, NullObserver, Observer};

/// The prompt a retry sends when it resumes a thread whose turn failed part-way.
pub const CONTINUATION_PROMPT: &str = "The previous attempt at this turn was cut off by a transient error. \
Continue the task from where it stopped; do not repeat work that is already done.";

/// Errors that stop a run before codex could be asked anything.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    CodexNotFound(String),
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
}

/// How to run: retries, clocks, cancellation.
#[derive(Clone, Debug)]
pub struct RunOptions {
    pub retry: RetryPolicy,
    /// Wall clock for the whole run, retries included.
    pub timeout: Option<Duration>,
    /// Longest silence from codex before the attempt is stopped (and retried, if allowed).
    pub idle_timeout: Option<Duration>,
    /// Between SIGTERM/SIGINT and SIGKILL.
    pub grace: Duration,
    /// Retries start a new thread instead of resuming the one codex reported.
    pub retry_fresh: bool,
    /// Copy codex's stderr to ours as it comes (verbose mode).
    pub echo_stderr: bool,
    /// Stop requests (signals) from the caller.
    pub cancel: Option<watch::Receiver<CancelRequest>>,
    /// A run that is stopped (a cancel request, a timeout, a closed output) also stops the
    /// commands codex started that left its process group (codex runs each command in a
    /// session of its own; `setsid`, daemons): they are found by a mark in their environment
    /// that only this run's processes carry (see [`process::RUN_MARK_VAR`]).
    pub stop_detached: bool,
    /// Attempts this turn made before this run (schema-run's repair rounds): the events number
    /// this run's attempts after them, so the numbers in one stream never repeat. The retry
    /// budget is this run's own.
    pub attempts_before: u32,
}

impl Default for RunOptions {
    fn default() -> Self {
        RunOptions {
            retry: RetryPolicy::default(),
            timeout: None,
            idle_timeout: None,
            grace: Duration::from_secs(3),
            retry_fresh: false,
            echo_stderr: false,
            cancel: None,
            stop_detached: true,
            attempts_before: 0,
        }
    }
}

/// Runs codex. Cheap to clone; holds only the program and its root-level arguments.
#[derive(Clone, Debug)]
pub struct CodexClient {
    program: PathBuf,
    root_args: Vec<String>,
}

impl CodexClient {
    /// Use this program as codex, with no root arguments.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        CodexClient {
            program: program.into(),
            root_args: Vec::new(),
        }
    }

    /// Find codex: `explicit`, else `$SPAWNCODEX_CODEX_BIN`, else `codex` on `PATH`.
    pub fn locate(explicit: Option<&Path>) -> Result<Self, ClientError> {
        let from_env = std::env::var_os("SPAWNCODEX_CODEX_BIN")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let wanted = explicit.map(Path::to_path_buf).or(from_env);
        process::locate_codex(wanted.as_deref())
            .map(CodexClient::new)
            .map_err(ClientError::CodexNotFound)
    }

    /// Arguments placed before `exec` (codex's root options such as `-c model_provider=...`).
    pub fn with_root_args(mut self, args: Vec<String>) -> Self {
        self.root_args = args;
        self
    }

    pub fn program(&self) -> &Path {
        &self.program
    }

    pub fn root_args(&self) -> &[String] {
        &self.root_args
    }

    /// The full command line (program first) this request would run.
    pub fn command_line(&self, req: &ExecRequest) -> Vec<std::ffi::OsString> {
        let mut line = vec![self.program.clone().into_os_string()];
        line.extend(build_argv(req, &self.root_args, prompt_via(req)));
        line
    }

    /// Run one turn to its end, with retries. The observer sees every codex line and client event.
    pub async fn run(
        &self,
        req: &ExecRequest,
        opts: &RunOptions,
        observer: &mut dyn Observer,
    ) -> Result<Outcome, ClientError> {
        let policy = opts.retry.clone().normalized();
        let started = Instant::now();
        let deadline = opts.timeout.and_then(|t| started.checked_add(t));
        let mut cancel = opts.cancel.clone();
        let mut current = req.clone();
        let mut attempt: u32 = 0;
        let mut thread_id: Option<String> = None;
        // One mark for the whole run: a stop also reaches what earlier attempts left running.
        let run_mark = opts.stop_detached.then(process::new_run_mark);
        loop {
            attempt += 1;
            // What the events call this attempt: counted over the whole turn.
            let number = opts.attempts_before + attempt;
            let resume_id = match &current.resume {
                Some(ResumeTarget::Thread(id)) => Some(id.clone()),
                _ => None,
            };
            let _ = observer.client_event(&ClientEvent::AttemptStarted {
                attempt: number,
                operation: if current.resume.is_some() {
                    "resume"
                } else {
                    "run"
                },
                thread_id: resume_id,
            });
            let via = prompt_via(&current);
            let argv = build_argv(&current, &self.root_args, via);
            let spec = attempt::AttemptSpec {
                program: &self.program,
                argv: &argv,
                cwd: current.cwd.as_deref(),
                stdin_prompt: (via == PromptVia::Stdin).then_some(current.prompt.as_str()),
                deadline,
                idle_timeout: opts.idle_timeout,
                grace: opts.grace,
                echo_stderr: opts.echo_stderr,
                run_mark: run_mark.as_deref(),
            };
            let argv_strings: Vec<String> =
                std::iter::once(self.program.to_string_lossy().into_owned())
                    .chain(argv.iter().map(|a| a.to_string_lossy().into_owned()))
                    .collect();
            let cwd_string = current
                .cwd
                .as_ref()
                .map(|c| c.to_string_lossy().into_owned());
            let mut spawn_failed_transiently = false;
            let mut on_spawn = |pid: u32, obs: &mut dyn Observer| {
                obs.client_event(&ClientEvent::ProcessSpawned {
                    attempt: number,
                    pid,
                    argv: argv_strings.clone(),
                    cwd: cwd_string.clone(),
                })
            };
            let result = attempt::run_attempt(&spec, observer, &mut cancel, &mut on_spawn).await;
            let mut outcome = match result {
                Ok(r) => r.outcome,
                Err(source) if source.kind() == io::ErrorKind::NotFound => {
                    return Err(ClientError::CodexNotFound(format!(
                        "{} does not exist",
                        self.program.display()
                    )));
                }
                Err(source) if is_transient_spawn_error(&source) => {
                    let mut o = Outcome::empty();
                    o.status = TurnStatus::Failed;
                    o.error = Some(format!("could not start codex: {source}"));
                    spawn_failed_transiently = true;
                    o
                }
                Err(source) => {
                    return Err(ClientError::Spawn {
                        program: self.program.display().to_string(),
                        source,
                    });
                }
            };
            if outcome.thread_id.is_some() {
                thread_id.clone_from(&outcome.thread_id);
            }
            let _ = observer.client_event(&ClientEvent::AttemptFinished {
                attempt: number,
                status: outcome.status,
                exit_code: outcome.exit_code,
                signal: outcome.signal,
                duration_ms: outcome.duration.as_millis() as u64,
                thread_id: outcome.thread_id.clone(),
                error: outcome.error.clone(),
                stopped: outcome.stopped,
            });
            outcome.attempts = attempt;
            outcome.thread_id = outcome.thread_id.or_else(|| thread_id.clone());
            outcome.duration = started.elapsed();
            if outcome.is_success() {
                return Ok(outcome);
            }
            let class = if spawn_failed_transiently {
                FailureClass::Transient {
                    reason: outcome.error.clone().unwrap_or_default(),
                    retry_after: None,
                }
            } else {
                classify_failure(&outcome)
            };
            let FailureClass::Transient {
                reason,
                retry_after,
            } = class
            else {
                return Ok(outcome);
            };
            let Some(mut delay) =
                policy.delay_after(attempt, started.elapsed(), retry::unit_random())
            else {
                if attempt < policy.max_attempts
                    && let Some(window) = policy.max_total
                {
                    let _ = observer.client_event(&ClientEvent::Warning {
                        message: format!(
                            "not retrying ({reason}): the --retry-window of {} is used up",
                            retry::seconds(window)
                        ),
                    });
                }
                return Ok(outcome);
            };
            if let Some(hint) = retry_after {
                delay = delay.max(hint);
                if let Some(window) = policy.max_total {
                    delay = delay.min(window.saturating_sub(started.elapsed()));
                }
            }
            if let Some(d) = deadline
                && Instant::now().checked_add(delay).is_none_or(|at| at >= d)
            {
                // The retry could not even start before the run's deadline: say so, or the
                // --retries asked for would seem ignored.
                let left = d.saturating_duration_since(Instant::now());
                let _ = observer.client_event(&ClientEvent::Warning {
                    message: format!(
                        "not retrying ({reason}): attempt {} would start in {}, after --timeout ({} left)",
                        number + 1,
                        retry::seconds(delay),
                        retry::seconds(left)
                    ),
                });
                return Ok(outcome);
            }
            // An --ephemeral thread has no rollout to resume: such retries start over.
            let resume_thread = if opts.retry_fresh || req.ephemeral {
                None
            } else {
                thread_id.clone()
            };
            let _ = observer.client_event(&ClientEvent::RetryScheduled {
                next_attempt: number + 1,
                delay_ms: delay.as_millis() as u64,
                reason,
                resume_thread_id: resume_thread.clone(),
            });
            if let Some(reason) = sleep_unless_cancelled(delay, &mut cancel).await {
                // Stopped between attempts: what the earlier ones left running goes too.
                if let Some(mark) = &run_mark {
                    let termed = process::signal_marked(mark, 0, libc::SIGTERM);
                    let grace = if reason == StopReason::Interrupt
                        && cancel
                            .as_ref()
                            .is_some_and(|rx| *rx.borrow() == CancelRequest::Kill)
                    {
                        Duration::ZERO
                    } else {
                        opts.grace
                    };
                    process::stop_marked(mark, 0, Instant::now() + grace, termed, &cancel).await;
                }
                outcome.status = TurnStatus::Interrupted;
                outcome.error = Some(reason.interrupted_by().into());
                outcome.stopped = Some(reason);
                outcome.duration = started.elapsed();
                return Ok(outcome);
            }
            if let Some(id) = resume_thread {
                current = req.clone();
                current.resume = Some(ResumeTarget::Thread(id));
                current.prompt = CONTINUATION_PROMPT.to_string();
                // codex already has the images in the thread's history.
                current.images.clear();
            }
        }
    }
}

fn prompt_via(req: &ExecRequest) -> PromptVia {
    if req.prompt.len() > argv::MAX_ARGV_PROMPT {
        PromptVia::Stdin
    } else {
        PromptVia::Argv
    }
}

fn is_transient_spawn_error(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EAGAIN | libc::ENOMEM | libc::ETXTBSY | libc::EMFILE | libc::ENFILE)
    )
}

/// Sleep, unless a stop request comes first; then return why.
async fn sleep_unless_cancelled(
    delay: Duration,
    cancel: &mut Option<watch::Receiver<CancelRequest>>,
) -> Option<StopReason> {
    let stop_reason = |req: CancelRequest| match req {
        CancelRequest::None => None,
        CancelRequest::Stop(reason) => Some(reason),
        CancelRequest::Kill => Some(StopReason::Interrupt),
    };
    let Some(rx) = cancel.as_mut() else {
        tokio::time::sleep(delay).await;
        return None;
    };
    if let Some(reason) = stop_reason(*rx.borrow()) {
        return Some(reason);
    }
    tokio::select! {
        _ = tokio::time::sleep(delay) => None,
        changed = rx.changed() => match changed {
            Ok(()) => stop_reason(*rx.borrow_and_update()),
            Err(_) => { tokio::time::sleep(delay).await; None }
        },
    }
}
