//! Running one turn for any subcommand: renderer, signals, sessions, schema check, exit code.

use std::io;
use std::time::Duration;

use serde_json::value::RawValue;
use tokio::sync::watch;

use super::Ctx;
use crate::cli::ReliabilityArgs;
use crate::client::argv::{shell_quote, shell_quote_line};
use crate::client::{
    CancelRequest, ClientEvent, CodexLine, ExecRequest, LineInterest, LineKind, Observer, Outcome,
    ResumeTarget, RetryPolicy, RunOptions, StopReason, ThreadEvent, TurnStatus,
};
use crate::error::{CliError, CliResult};
use crate::exit;
use crate::render::human::{HumanOptions, HumanRenderer};
use crate::render::jsonl::JsonlRenderer;
use crate::render::style;
use crate::render::tee::Tee;
use crate::render::{OutputFailure, Renderer, Report};
use crate::schema::{self, PreparedSchema};
use crate::store::{FileStore, SessionOptions, SessionRecord, SessionStore, TurnInput};

/// A named session for this turn.
#[derive(Debug)]
pub enum SessionPlan {
    /// Start a new thread and save it under this name.
    New { name: String, replace: bool },
    /// Continue the named session (the request already resumes its thread).
    Existing { name: String },
}

/// A session's turn lock for the length of this run. A run that never saved the session it
/// was to create (codex not found, no thread started) takes the lock file with it: lock files
/// go with their sessions, and `sessions rm` cannot remove a session that does not exist.
struct HeldTurn<'a> {
    lock: Option<crate::store::turn_lock::TurnLock>,
    store: &'a FileStore,
    name: &'a str,
}

impl Drop for HeldTurn<'_> {
    fn drop(&mut self) {
        if let Some(lock) = self.lock.take()
            && matches!(self.store.get(self.name), Ok(None))
        {
            lock.remove_file();
        }
    }
}

impl SessionPlan {
    fn name(&self) -> &str {
        match self {
            SessionPlan::New { name, .. } | SessionPlan::Existing { name } => name,
        }
    }
}

/// Everything a subcommand decided; [`execute`] does the rest.
pub struct TurnPlan {
    pub request: ExecRequest,
    /// run, live, resume or schema-run: recorded in session history.
    pub operation: &'static str,
    pub live: bool,
    pub session: Option<SessionPlan>,
    pub reliability: ReliabilityArgs,
    pub schema: Option<PreparedSchema>,
    pub repair: u32,
    pub compact: bool,
    pub dry_run: bool,
}

/// The `--dry-run` line: the exact codex command (with a `cd` when codex runs elsewhere).
pub fn dry_run_line(ctx: &Ctx, req: &ExecRequest) -> String {
    let client = ctx.client_for_display();
    let line = shell_quote_line(client.command_line(req));
    match (&req.resume, &req.cwd) {
        (Some(_), Some(dir)) => format!("cd {} && {line}", shell_quote(&dir.to_string_lossy())),
        _ => line,
    }
}

/// `--dry-run` under `--jsonl`: the same command as one JSON line, so stdout stays JSON Lines.
fn dry_run_json(ctx: &Ctx, req: &ExecRequest, shell_line: &str) -> CliResult<String> {
    let argv: Vec<String> = ctx
        .client_for_display()
        .command_line(req)
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    #[derive(serde::Serialize)]
    struct DryRun<'a> {
        r#type: &'static str,
        argv: Vec<String>,
        cwd: Option<std::borrow::Cow<'a, str>>,
        command: &'a str,
    }
    let line = DryRun {
        r#type: "spawncodex.dry_run",
        argv,
        cwd: req.cwd.as_ref().map(|d| d.to_string_lossy()),
        command: shell_line,
    };
    let mut text = serde_json::to_string(&line).map_err(|e| CliError::usage(e.to_string()))?;
    text.push('\n');
    Ok(text)
}

pub fn run_options(r: &ReliabilityArgs, verbose: bool) -> CliResult<RunOptions> {
    let secs = |v: Option<f64>, flag: &str| -> CliResult<Option<Duration>> {
        match v {
            None => Ok(None),
            // Up to ten years: anything longer is a typo, and would overflow the clock.
            Some(s) if (0.0..=315_360_000.0).contains(&s) => Ok(Some(Duration::from_secs_f64(s))),
            Some(s) => Err(CliError::usage(format!(
                "{}: expected a number of seconds between 0 and 315360000",
                crate::usage::as_given(flag, &s)
            ))),
        }
    };
    let defaults = RetryPolicy::default();
    let retry = RetryPolicy {
        max_attempts: r.retries.unwrap_or(0).saturating_add(1),
        initial_backoff: secs(r.backoff, "--backoff")?.unwrap_or(defaults.initial_backoff),
        multiplier: r.backoff_multiplier.unwrap_or(defaults.multiplier),
        max_backoff: secs(r.max_backoff, "--max-backoff")?.unwrap_or(defaults.max_backoff),
        jitter: match r.jitter {
            Some(j) if !(0.0..=1.0).contains(&j) => {
                return Err(CliError::usage(format!(
                    "{}: expected a ratio between 0 and 1",
                    crate::usage::as_given("--jitter", &j)
                )));
            }
            Some(j) => j,
            None => defaults.jitter,
        },
        max_total: secs(r.retry_window, "--retry-window")?,
    };
    let timeout = secs(r.timeout, "--timeout")?.filter(|d| !d.is_zero());
    let idle_timeout = secs(r.idle_timeout, "--idle-timeout")?.filter(|d| !d.is_zero());
    Ok(RunOptions {
        retry,
        timeout,
        idle_timeout,
        grace: secs(r.grace, "--grace")?.unwrap_or(Duration::from_secs(3)),
        retry_fresh: r.retry_fresh,
        echo_stderr: verbose,
        cancel: None,
        stop_detached: true,
        attempts_before: 0,
    })
}

/// The `spawncodex.schema` line: whether the answer matched, and the answer as written.
fn schema_line(renderer: &mut dyn Renderer, errors: &[String], value: Option<&RawValue>) {
    #[derive(serde::Serialize)]
    struct SchemaLine<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        valid: bool,
        errors: &'a [String],
        value: Option<&'a RawValue>,
    }
    let line = SchemaLine {
        kind: "spawncodex.schema",
        valid: errors.is_empty(),
        errors,
        value,
    };
    if let Ok(line) = serde_json::value::to_raw_value(&line) {
        let _ = renderer.extra_json(&line);
    }
}

/// Ctrl-C → stop gracefully (a second one kills); SIGTERM → stop gracefully.
fn watch_signals(
    spinner: Option<indicatif::ProgressBar>,
) -> io::Result<watch::Receiver<CancelRequest>> {
    // While codex is given its grace, the spinner says so (and how to cut it short).
    let stopping = move |what: &str| {
        if let Some(pb) = &spinner {
            pb.set_message(what.to_string());
        }
    };
    use tokio::signal::unix::{SignalKind, signal};
    let (tx, rx) = watch::channel(CancelRequest::None);
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    // A closed terminal (or `tmux kill-session`) hangs up: stop as for SIGTERM, rather than die
    // of it and leave codex's commands running. Unless SIGHUP is ignored (`nohup`): that asks
    // for the run to go on, and a handler would undo it.
    let mut hup = if sighup_ignored() {
        None
    } else {
        Some(signal(SignalKind::hangup())?)
    };
    tokio::spawn(async move {
        let mut interrupts = 0;
        loop {
            tokio::select! {
                Some(()) = int.recv() => {
                    interrupts += 1;
                    stopping(if interrupts == 1 { "stopping (Ctrl-C again to kill at once)" } else { "killing" });
                    let _ = tx.send(if interrupts == 1 { CancelRequest::Stop(StopReason::Interrupt) } else { CancelRequest::Kill });
                }
                Some(()) = term.recv() => {
                    stopping("stopping (SIGTERM)");
                    let _ = tx.send(CancelRequest::Stop(StopReason::Terminate));
                }
                Some(()) = async { match hup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    let _ = tx.send(CancelRequest::Stop(StopReason::Hangup));
                }
                else => break,
            }
        }
    });
    Ok(rx)
}

/// Was SIGHUP ignored when we started (`nohup spawncodex ...`)?
fn sighup_ignored() -> bool {
    // SAFETY: sigaction with a null new action only reads the current one into `old`.
    unsafe {
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(libc::SIGHUP, std::ptr::null(), &mut old) == 0
            && old.sa_sigaction == libc::SIG_IGN
    }
}

fn make_renderer(ctx: &Ctx, live: bool) -> CliResult<Box<dyn Renderer>> {
    let g = &ctx.global;
    let base: Box<dyn Renderer> = if g.jsonl {
        Box::new(JsonlRenderer::stdout())
    } else {
        Box::new(HumanRenderer::new(HumanOptions {
            live,
            color: style::stderr_color(g.color),
            // -v copies codex's stderr as it comes, which a spinner's line would garble.
            spinner: style::stderr_interactive() && g.verbose == 0,
            verbose: g.verbose,
            quiet: g.quiet,
        }))
    };
    match &g.events_file {
        Some(path) => Tee::open(base, path)
            .map(|t| Box::new(t) as Box<dyn Renderer>)
            .map_err(|e| {
                CliError::usage(format!("cannot open --events-file {}: {e}", path.display()))
            }),
        None => Ok(base),
    }
}

/// Wraps the renderer: saves a new session the moment codex reports its thread id, so a crash
/// later still leaves the session behind.
struct SessionSaver<'a> {
    inner: &'a mut dyn Renderer,
    store: Option<&'a FileStore>,
    pending: Option<SessionRecord>,
    replace: bool,
    /// The thread saved under the new name, once it is.
    saved_thread: Option<String>,
}

impl Observer for SessionSaver<'_> {
    fn line_interest(&self) -> LineInterest {
        // thread.started, the one line this needs, is never an ordinary item.
        self.inner.line_interest()
    }

    fn codex_line(&mut self, line: &CodexLine<'_>) -> io::Result<()> {
        let mut saved = None;
        if line.kind() == LineKind::ThreadStarted
            && self.saved_thread.is_none()
            && let (Some(store), Some(ThreadEvent::ThreadStarted { thread_id })) =
                (self.store, line.event())
            && let Some(mut record) = self.pending.take()
        {
            record.thread_id = thread_id.clone();
            let name = record.name.clone();
            saved = Some(match store.insert(record, self.replace) {
                Ok(()) => {
                    self.saved_thread = Some(thread_id.clone());
                    ClientEvent::SessionUpdated {
                        name,
                        thread_id: thread_id.clone(),
                        turns: 0,
                        last_status: "started".into(),
                    }
                }
                Err(e) => ClientEvent::Warning {
                    message: format!(
                        "session {name:?} not saved ({e}); this conversation is thread {thread_id}: continue it with `spawncodex resume --thread {thread_id}`"
                    ),
                },
            });
        }
        // The line goes out before what we say about it (a pass-through renderer places our
        // event where it is told); the session is saved before either, whatever the output does.
        self.inner.codex_line(line)?;
        match saved {
            Some(event) => self.inner.client_event(&event),
            None => Ok(()),
        }
    }

    fn client_event(&mut self, event: &ClientEvent) -> io::Result<()> {
        self.inner.client_event(event)
    }

    fn batch_end(&mut self, batch: &[u8]) -> io::Result<()> {
        self.inner.batch_end(batch)
    }

    fn output_closed(&mut self) -> bool {
        self.inner.output_closed()
    }
}

/// The exit code for an outcome.
pub fn exit_code_for(outcome: &Outcome) -> u8 {
    match outcome.status {
        TurnStatus::Completed => exit::OK,
        TurnStatus::Failed | TurnStatus::Incomplete => exit::FAILED,
        TurnStatus::TimedOut => exit::TIMED_OUT,
        TurnStatus::Interrupted => match outcome.stopped {
            Some(StopReason::Terminate) => exit::TERMINATED,
            Some(StopReason::OutputClosed) => exit::OUTPUT_CLOSED,
            Some(StopReason::Hangup) => exit::HANGUP,
            _ => exit::INTERRUPTED,
        },
    }
}

fn repair_prompt(errors: &[String]) -> String {
    format!(
        "Your last answer did not match the required JSON schema. Problems:\n{}\nAnswer again with only the corrected JSON.",
        errors
            .iter()
            .map(|e| format!("- {e}"))
            .collect::<Vec<_>>()
            .join("\n")
    )
}

/// Run the plan to its end and report; returns the exit code.
pub async fn execute(ctx: &Ctx, mut plan: TurnPlan) -> CliResult<u8> {
    if let Some(schema) = &plan.schema {
        plan.request.output_schema = Some(schema.path.clone());
    }
    let store = match &plan.session {
        Some(_) => Some(ctx.store()?),
        None => None,
    };
    // A store the turn could not be saved to is refused first, before anything is created
    // beside it (a lock file next to a dangling symlink, say).
    if let (Some(session), Some(store)) = (&plan.session, &store) {
        store.check_writable(session.name()).map_err(store_err)?;
    }
    // One turn at a time in a session, held until this turn is recorded (see turn_lock). A dry
    // run writes nothing, lock files included.
    let _turn_lock = match (&plan.session, &store) {
        (Some(session), Some(store)) if !plan.dry_run => Some(HeldTurn {
            lock: Some(store.lock_turn(session.name()).map_err(store_err)?),
            store,
            name: session.name(),
        }),
        _ => None,
    };
    // A store the turn could not be saved to, or a name that is taken (unless --replace), is
    // refused before codex starts (and by --dry-run, which checks what the run would).
    // The session's thread and its usage so far: what this turn adds is the difference.
    let mut usage_before = None;
    if let (Some(SessionPlan::Existing { name }), Some(store)) = (&plan.session, &store) {
        store.check_writable(name).map_err(store_err)?;
        if let Ok(Some(record)) = store.get(name) {
            usage_before = Some((record.thread_id, record.last_cumulative_usage));
        }
    }
    if let (Some(SessionPlan::New { name, replace }), Some(store)) = (&plan.session, &store) {
        store.check_writable(name).map_err(store_err)?;
        if !replace && store.get(name).map_err(store_err)?.is_some() {
            return Err(CliError::usage(
                crate::store::StoreError::Exists(name.clone()).to_string(),
            ));
        }
    }
    let mut opts = run_options(
        &plan.reliability,
        ctx.global.verbose > 0 && !ctx.global.jsonl,
    )?;
    let history = history_limit()?;
    if plan.dry_run {
        // What opening --events-file would refuse, without creating it.
        if let Some(path) = &ctx.global.events_file {
            let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
            if dir.is_some_and(|d| !d.is_dir()) || path.is_dir() {
                return Err(CliError::usage(format!(
                    "cannot open --events-file {}: no such directory, or it is a directory",
                    path.display()
                )));
            }
        }
        let line = dry_run_line(ctx, &plan.request);
        if plan.request.prompt.len() > crate::client::argv::MAX_ARGV_PROMPT && !ctx.global.quiet {
            crate::stderr_line!(
                "spawncodex: note: the prompt ({} bytes) is too long for the command line: the run writes it to codex's stdin, where this command reads `-`",
                plan.request.prompt.len()
            );
        }
        if ctx.global.jsonl {
            return super::print_stdout(&dry_run_json(ctx, &plan.request, &line)?);
        }
        return super::print_stdout(&format!("{line}\n"));
    }
    let client = ctx.client()?;
    let mut renderer = make_renderer(ctx, plan.live)?;
    let plan_timeout = opts.timeout;
    opts.cancel = Some(
        watch_signals(renderer.spinner())
            .map_err(|e| CliError::new(exit::FAILED, format!("cannot watch signals: {e}")))?,
    );

    let pending = match &plan.session {
        Some(SessionPlan::New { name, .. }) => Some(SessionRecord::new(
            name,
            "",
            plan.request
                .cwd
                .as_ref()
                .map(|c| c.to_string_lossy().into_owned())
                .or_else(|| {
                    std::env::current_dir()
                        .ok()
                        .map(|c| c.to_string_lossy().into_owned())
                }),
            SessionOptions::from_request(&plan.request),
        )),
        _ => None,
    };
    let replace = matches!(plan.session, Some(SessionPlan::New { replace: true, .. }));
    let mut saver = SessionSaver {
        inner: renderer.as_mut(),
        store,
        pending,
        replace,
        saved_thread: None,
    };

    let turn_started = std::time::Instant::now();
    let mut outcome = client
        .run(&plan.request, &opts, &mut saver)
        .await
        .map_err(|e| match e {
            crate::client::ClientError::CodexNotFound(why) => super::not_found(&why),
            other => CliError::new(exit::FAILED, other.to_string()),
        })?;
    let mut report = Report {
        compact: plan.compact || !std::io::IsTerminal::is_terminal(&std::io::stdout()),
        session: plan.session.as_ref().map(|s| s.name().to_string()),
        ..Report::default()
    };
    let mut code = exit_code_for(&outcome);

    // schema-run: check the answer; optionally ask again.
    if let Some(schema) = &plan.schema {
        let mut repairs_left = plan.repair;
        loop {
            if outcome.status != TurnStatus::Completed {
                break;
            }
            let answer = outcome.final_message.clone().unwrap_or_default();
            match schema::check_answer(schema, &answer) {
                Ok(value) => {
                    schema_line(saver.inner, &[], Some(&value));
                    report.json_answer = Some(value);
                    report.details.clear();
                    report.error_override = None;
                    code = exit::OK;
                    break;
                }
                Err((value, errors)) => {
                    schema_line(saver.inner, &errors, value.as_deref());
                    code = exit::SCHEMA_MISMATCH;
                    report.error_override = Some(format!(
                        "the answer does not match the schema ({} error{})",
                        errors.len(),
                        if errors.len() == 1 { "" } else { "s" }
                    ));
                    report.details = errors.clone();
                    if ctx.global.verbose > 0 {
                        report.details.push(format!("raw answer: {answer}"));
                    }
                    let Some(thread) = outcome.thread_id.clone().filter(|_| repairs_left > 0)
                    else {
                        break;
                    };
                    // --timeout covers the repair rounds too.
                    if let Some(total) = plan_timeout {
                        let left = total.saturating_sub(turn_started.elapsed());
                        if left.is_zero() {
                            break;
                        }
                        opts.timeout = Some(left);
                    }
                    repairs_left -= 1;
                    saver.inner.note(&format!(
                        "answer does not match the schema; asking again ({} left)",
                        repairs_left
                    ));
                    let mut again = plan.request.clone();
                    again.resume = Some(ResumeTarget::Thread(thread));
                    again.prompt = repair_prompt(&errors);
                    again.images.clear();
                    let attempts = outcome.attempts;
                    opts.attempts_before = attempts;
                    outcome = client
                        .run(&again, &opts, &mut saver)
                        .await
                        .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
                    outcome.attempts += attempts;
                    // The turn is every round, not the last one.
                    outcome.duration = turn_started.elapsed();
                    code = exit_code_for(&outcome);
                    if outcome.status != TurnStatus::Completed {
                        // The round itself failed (codex's error, a timeout): that is what to
                        // report, not the mismatch of the round before.
                        report.error_override = None;
                        report.details.clear();
                    }
                }
            }
        }
    }
    report.exit_code = code;
    report.turn_usage = outcome.usage.and_then(|total| {
        let resumed = match &plan.request.resume {
            Some(ResumeTarget::Thread(id)) => Some(id.as_str()),
            Some(_) => return None,
            None => None,
        };
        match (resumed, &usage_before) {
            // A new thread (a new session, or a retry that started over): all of it is ours.
            (None, _) => Some(total),
            (Some(id), _) if outcome.thread_id.as_deref() != Some(id) => Some(total),
            (Some(id), Some((session_thread, Some(before)))) if session_thread == id => {
                Some(total.saturating_sub(before))
            }
            // A bare thread id, or a session that never saw a reading (imported): what the
            // thread held before is not known.
            _ => None,
        }
    });

    // Record the turn in the session (and where, should its answer turn out lost).
    let mut recorded_in: Option<(String, String)> = None;
    if let (Some(session), Some(store)) = (&plan.session, &store) {
        let name = session.name();
        let turn = TurnInput {
            operation: plan.operation,
            prompt: &plan.request.prompt,
            status: outcome.status.reported(code),
            exit_code: code,
            duration_ms: outcome.duration.as_millis() as u64,
            cumulative_usage: outcome.usage,
            answer: outcome.final_message.as_deref(),
            error: report
                .error_override
                .as_deref()
                .or(outcome.error.as_deref()),
            attempts: outcome.attempts,
            thread_id: outcome.thread_id.as_deref(),
        };
        let max_history = history;
        let mut turn_slot = Some(turn);
        // Only the record this run created or resumed gets the turn: if another run replaced
        // the session meanwhile, its record is left alone.
        let expected = match session {
            SessionPlan::New { .. } => saver.saved_thread.clone(),
            SessionPlan::Existing { .. } => match &plan.request.resume {
                Some(ResumeTarget::Thread(id)) => Some(id.clone()),
                _ => None,
            },
        };
        let mut foreign = false;
        let updated = match &expected {
            Some(expected) => store.update(name, &mut |rec| {
                if rec.thread_id != *expected {
                    foreign = true;
                } else if let Some(t) = turn_slot.take() {
                    rec.record_turn(t, max_history);
                }
            }),
            None => Ok(None),
        };
        match updated {
            Ok(Some(_)) if foreign => {
                let _ = saver.inner.client_event(&ClientEvent::Warning {
                    message: format!(
                        "session {name:?} was replaced by another run meanwhile; this turn was not recorded in it"
                    ),
                });
            }
            Ok(Some(rec)) => {
                let _ = saver.inner.client_event(&ClientEvent::SessionUpdated {
                    name: rec.name.clone(),
                    thread_id: rec.thread_id.clone(),
                    turns: rec.turns,
                    last_status: outcome.status.reported(code).as_str().into(),
                });
                recorded_in = Some((rec.name, rec.thread_id));
            }
            Ok(None) => {
                if matches!(session, SessionPlan::New { .. }) && outcome.thread_id.is_none() {
                    saver.inner.note(&format!(
                        "session {name:?} was not saved: codex never started a thread"
                    ));
                }
            }
            Err(e) => {
                let _ = saver.inner.client_event(&ClientEvent::Warning {
                    message: format!("session {name:?} not updated: {e}"),
                });
            }
        }
    }

    let finished = renderer.finish(&outcome, &report);
    let Err(e) = finished else {
        return Ok(report.exit_code);
    };
    // The answer (or the result line) is lost: never a success, in the session either.
    let Some(OutputFailure { code, status, why }) = OutputFailure::of(&e, &outcome) else {
        return Ok(report.exit_code);
    };
    if report.exit_code == exit::OK
        && let (Some((name, thread)), Some(store)) = (recorded_in, &store)
    {
        let _ = store.update(&name, &mut |rec| {
            if rec.thread_id == thread {
                rec.amend_last_turn(status, code, &why);
            }
        });
    }
    match code {
        exit::OUTPUT_CLOSED => Ok(code),
        _ => Err(CliError::new(code, why)),
    }
}

/// `SPAWNCODEX_HISTORY` turns per session (default 20); a value that is not a whole number of
/// 1 or more is refused, as every other `SPAWNCODEX_*` value is.
fn history_limit() -> CliResult<usize> {
    match std::env::var("SPAWNCODEX_HISTORY") {
        Err(_) => Ok(crate::store::record::DEFAULT_HISTORY),
        Ok(v) => v
            .trim()
            .parse()
            .ok()
            .filter(|n: &usize| *n > 0)
            .ok_or_else(|| {
                CliError::usage(format!(
                    "SPAWNCODEX_HISTORY={v:?}: expected how many turns a session keeps, 1 or more"
                ))
            }),
    }
}

pub fn store_err(e: crate::store::StoreError) -> CliError {
    CliError::usage(e.to_string())
}
