//! One codex process: spawn, stream its stdout line by line, watch the clocks and signals, stop it
//! completely.

use std::ffi::OsString;
use std::io;
use std::ops::ControlFlow;
use std::path::Path;
use std::process::ExitStatus;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::sync::watch;
use tokio::time::Instant;

use super::events::{ThreadEvent, Usage, is_reconnect_message};
use super::line::{CodexLine, LineKind, is_ordinary_item};
use super::outcome::{Outcome, StopReason, TurnStatus};
use super::process::{self, Spawned};
use super::telemetry::{ClientEvent, LineInterest, Observer};

/// Ask a running client to stop codex.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CancelRequest {
    /// Nothing asked yet.
    None,
    /// Stop gracefully (signal, grace period, then SIGKILL).
    Stop(StopReason),
    /// Kill at once (a second Ctrl-C).
    Kill,
}

/// After codex exits, how long we keep reading a stdout that a grandchild still holds open.
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(300);
const READ_CHUNK: usize = 256 * 1024;
/// A buffer that grew for one huge line is shrunk back above this size.
const SHRINK_ABOVE: usize = 4 * 1024 * 1024;
/// After the turn's last event, how long codex gets to exit on its own before we stop it (codex
/// can hang on exit, e.g. waiting for an MCP server: openai/codex#7622).
const EXIT_AFTER_TURN: Duration = Duration::from_secs(10);
/// How often a silent run checks whether its output was closed.
const PROBE_EVERY: Duration = Duration::from_millis(250);

pub(crate) struct AttemptSpec<'a> {
    pub program: &'a Path,
    pub argv: &'a [OsString],
    pub cwd: Option<&'a Path>,
    pub stdin_prompt: Option<&'a str>,
    pub deadline: Option<Instant>,
    pub idle_timeout: Option<Duration>,
    pub grace: Duration,
    pub echo_stderr: bool,
    /// The run's mark for codex's environment ([`process::RUN_MARK_VAR`]), so a stopped run
    /// can stop the commands that left codex's group.
    pub run_mark: Option<&'a str>,
}

/// What the stream told us, kept up to date line by line.
#[derive(Default)]
struct TurnTracker {
    thread_id: Option<String>,
    terminal: Option<TurnStatus>,
    usage: Option<Usage>,
    /// The raw line of the latest `agent_message` of the current turn; parsed once at the end.
    last_agent_line: Vec<u8>,
    failure: Option<String>,
    last_error: Option<String>,
    last_reconnect: Option<String>,
}

impl TurnTracker {
    fn observe(&mut self, line: &CodexLine<'_>) {
        match line.kind() {
            LineKind::ThreadStarted => {
                if let Some(ThreadEvent::ThreadStarted { thread_id }) = line.event() {
                    self.thread_id.get_or_insert_with(|| thread_id.clone());
                }
            }
            LineKind::TurnStarted => self.last_agent_line.clear(),
            LineKind::ItemCompleted if line.item_type_is("agent_message") => {
                self.last_agent_line.clear();
                self.last_agent_line.extend_from_slice(line.raw());
            }
            LineKind::TurnCompleted => {
                if let Some(ThreadEvent::TurnCompleted { usage }) = line.event() {
                    self.usage = Some(*usage);
                }
                self.terminal = Some(TurnStatus::Completed);
            }
            LineKind::TurnFailed => {
                if let Some(ThreadEvent::TurnFailed { error }) = line.event() {
                    self.failure = Some(error.message.clone());
                }
                self.terminal = Some(TurnStatus::Failed);
            }
            LineKind::Error => {
                if let Some(ThreadEvent::Error { message }) = line.event() {
                    if is_reconnect_message(message) {
                        self.last_reconnect = Some(message.clone());
                    } else {
                        self.last_error = Some(message.clone());
                    }
                }
            }
            _ => {}
        }
    }

    fn final_message(&self) -> Option<String> {
        if self.last_agent_line.is_empty() {
            return None;
        }
        match ThreadEvent::parse(&self.last_agent_line) {
            Some(ThreadEvent::ItemCompleted { item }) => match item.details {
                super::events::ItemDetails::AgentMessage { text } => Some(text),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Lines split out of codex's stdout, with one reusable buffer.
struct LineBuffer {
    buf: Vec<u8>,
    start: usize,
}

impl LineBuffer {
    fn new() -> Self {
        LineBuffer {
            buf: Vec::with_capacity(READ_CHUNK),
            start: 0,
        }
    }

    fn make_room(&mut self) {
        if self.start > 0 && (self.start == self.buf.len() || self.start > self.buf.len() / 2) {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        let pending = self.buf.len() - self.start;
        if self.buf.capacity() > SHRINK_ABOVE && pending < READ_CHUNK {
            self.buf.shrink_to(READ_CHUNK.max(pending * 2));
        }
        if self.buf.capacity() - self.buf.len() < READ_CHUNK / 4 {
            self.buf.reserve(READ_CHUNK);
        }
    }

    /// Take every complete line that has arrived: the bytes up to and including the last
    /// newline (empty when no line is complete yet).
    fn take_complete(&mut self) -> &[u8] {
        let pending = &self.buf[self.start..];
        let Some(last_nl) = memchr::memrchr(b'\n', pending) else {
            return &[];
        };
        let batch = &self.buf[self.start..self.start + last_nl + 1];
        self.start += last_nl + 1;
        batch
    }

    /// The unterminated tail at EOF, if any.
    fn take_rest(&mut self) -> Option<Vec<u8>> {
        let rest = self.buf[self.start..].to_vec();
        self.start = self.buf.len();
        (!rest.is_empty()).then_some(rest)
    }
}

/// The lines of one batch (complete lines, each ending in `\n`) that the observer wants, then
/// `batch_end`, which is where renderers write: a run of lines goes out in one write straight
/// from the read buffer. With [`LineInterest::Notable`], ordinary item lines cost one prefix
/// check each and are never classified or handed over.
fn handle_batch(
    batch: &[u8],
    interest: LineInterest,
    tracker: &mut TurnTracker,
    observer: &mut dyn Observer,
) -> io::Result<()> {
    let every = interest == LineInterest::Every;
    let mut start = 0;
    let mut result = Ok(());
    for_each_newline(batch, |nl| {
        let line = &batch[start..nl];
        let span = start..nl + 1;
        start = nl + 1;
        if !every && is_ordinary_item(line) {
            return ControlFlow::Continue(());
        }
        let raw = line.strip_suffix(b"\r").unwrap_or(line);
        result = handle_line(raw, Some(span), tracker, observer, false);
        // After an error nothing more is looked at, so none of it may be passed on.
        if result.is_err() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    });
    let flushed = observer.batch_end(&batch[..start]);
    result.and(flushed)
}

/// Call `f` with the position of every `\n`, until it breaks.
fn for_each_newline(haystack: &[u8], mut f: impl FnMut(usize) -> ControlFlow<()>) {
    #[cfg(target_arch = "x86_64")]
    match crate::simd::level() {
        // SAFETY: the CPU has AVX-512BW (that is what the level says).
        crate::simd::Level::Avx512 => return unsafe { newlines_avx512(haystack, &mut f) },
        // SAFETY: the CPU has AVX2.
        crate::simd::Level::Avx2 => return unsafe { newlines_avx2(haystack, &mut f) },
        crate::simd::Level::Base => {}
    }
    for nl in memchr::memchr_iter(b'\n', haystack) {
        if f(nl).is_break() {
            return;
        }
    }
}

/// What the SIMD searches share: one call per set bit of each 64-byte block's newline mask (as
/// `block_mask` computes it), then a plain loop over the tail shorter than a block. Inlined into
/// each search, so `block_mask` is compiled with that search's instructions.
#[inline(always)]
fn newlines_by_block(
    haystack: &[u8],
    f: &mut impl FnMut(usize) -> ControlFlow<()>,
    mut block_mask: impl FnMut(&[u8; 64]) -> u64,
) {
    let mut at = 0;
    while let Some(block) = haystack.get(at..).and_then(|rest| rest.first_chunk::<64>()) {
        let mut mask = block_mask(block);
        while mask != 0 {
            if f(at + mask.trailing_zeros() as usize).is_break() {
                return;
            }
            mask &= mask - 1;
        }
        at += 64;
    }
    for (i, &b) in haystack[at..].iter().enumerate() {
        if b == b'\n' && f(at + i).is_break() {
            return;
        }
    }
}

/// [`newlines_avx2`] with one 64-byte compare per block, straight into the bit mask.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
unsafe fn newlines_avx512(haystack: &[u8], f: &mut impl FnMut(usize) -> ControlFlow<()>) {
    use std::arch::x86_64::{
        __m512i, _mm512_cmpeq_epi8_mask, _mm512_loadu_si512, _mm512_set1_epi8,
    };
    let newline = _mm512_set1_epi8(b'\n' as i8);
    newlines_by_block(haystack, f, |block| {
        // SAFETY: the load reads the 64 bytes of `block` (unaligned loads are allowed).
        let bytes = unsafe { _mm512_loadu_si512(block.as_ptr().cast::<__m512i>()) };
        _mm512_cmpeq_epi8_mask(bytes, newline)
    });
}

/// One pass over the batch, 64 bytes at a time: a bit mask of the newlines in each block, then
/// one call per set bit. A search per line (memchr) pays its set-up once per line; lines are a
/// few hundred bytes, so that set-up was most of the cost.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn newlines_avx2(haystack: &[u8], f: &mut impl FnMut(usize) -> ControlFlow<()>) {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_movemask_epi8, _mm256_set1_epi8,
    };
    let newline = _mm256_set1_epi8(b'\n' as i8);
    newlines_by_block(haystack, f, |block| {
        // SAFETY: both loads read 32 bytes inside `block` (unaligned loads are allowed).
        let (lo, hi) = unsafe {
            (
                _mm256_loadu_si256(block.as_ptr().cast::<__m256i>()),
                _mm256_loadu_si256(block.as_ptr().add(32).cast::<__m256i>()),
            )
        };
        let lo = _mm256_movemask_epi8(_mm256_cmpeq_epi8(lo, newline)) as u32;
        let hi = _mm256_movemask_epi8(_mm256_cmpeq_epi8(hi, newline)) as u32;
        u64::from(lo) | (u64::from(hi) << 32)
    });
}

fn handle_line(
    raw: &[u8],
    span: Option<std::ops::Range<usize>>,
    tracker: &mut TurnTracker,
    observer: &mut dyn Observer,
    unterminated: bool,
) -> io::Result<()> {
    let line = CodexLine::checked_in_batch(raw, span, unterminated);
    tracker.observe(&line);
    // The line first, then what we say about it: a pass-through renderer places our warning
    // where the line was.
    observer.codex_line(&line)?;
    match line.kind() {
        LineKind::Blank => observer.client_event(&ClientEvent::Warning {
            message: "codex wrote a blank line on stdout; ignored".into(),
        }),
        LineKind::Malformed => {
            let preview = String::from_utf8_lossy(&raw[..raw.len().min(120)]).into_owned();
            observer.client_event(&ClientEvent::Warning {
                message: format!("codex wrote a line that is not a JSON event; ignored: {preview}"),
            })
        }
        _ => Ok(()),
    }
}

pub(crate) struct AttemptResult {
    pub outcome: Outcome,
}

/// Run one codex process to its end. Spawn errors are returned as `Err`; everything after the
/// spawn ends in an [`Outcome`].
pub(crate) async fn run_attempt(
    spec: &AttemptSpec<'_>,
    observer: &mut dyn Observer,
    cancel: &mut Option<watch::Receiver<CancelRequest>>,
    on_spawn: &mut dyn FnMut(u32, &mut dyn Observer) -> io::Result<()>,
) -> io::Result<AttemptResult> {
    let started = Instant::now();
    let Spawned { mut child, pid } = process::spawn(
        spec.program,
        spec.argv,
        spec.cwd,
        spec.stdin_prompt,
        spec.run_mark,
    )?;
    let stderr_task = child
        .stderr
        .take()
        .map(|e| process::collect_stderr(e, spec.echo_stderr));
    let mut stdout = child.stdout.take();
    let watchdog = spec
        .deadline
        .map(|deadline| Watchdog::start(pid, deadline.into_std() + spec.grace + WATCHDOG_MARGIN));

    let mut tracker = TurnTracker::default();
    let mut lines = LineBuffer::new();
    let interest = observer.line_interest();
    let mut exit: Option<ExitStatus> = None;
    let mut stop: Option<StopReason> = None;
    let mut kill_now = false;
    let mut eof = stdout.is_none();
    let mut idle_deadline = spec
        .idle_timeout
        .and_then(|d| Instant::now().checked_add(d));
    let mut drain_deadline: Option<Instant> = None;
    let mut next_probe = Instant::now() + PROBE_EVERY;
    let mut linger_deadline: Option<Instant> = None;

    // Why our own output stopped the run, in words, when a write failed otherwise than by a
    // closed pipe.
    let mut output_error: Option<String> = None;
    let mut output_stop = |e: io::Error| {
        if e.kind() == io::ErrorKind::BrokenPipe {
            StopReason::OutputClosed
        } else {
            output_error.get_or_insert_with(|| e.to_string());
            StopReason::OutputFailed
        }
    };

    if let Err(e) = on_spawn(pid, observer) {
        stop = Some(output_stop(e));
    }

    while stop.is_none() && !(eof && exit.is_some()) {
        // The nearest clock that can end the wait.
        let mut wake: Option<(Instant, Wake)> = None;
        let mut consider = |at: Option<Instant>, what: Wake| {
            if let Some(at) = at
                && wake.is_none_or(|(w, _)| at < w)
            {
                wake = Some((at, what));
            }
        };
        consider(spec.deadline, Wake::Deadline);
        if exit.is_none() && tracker.terminal.is_none() {
            consider(idle_deadline, Wake::Idle);
        }
        if exit.is_none() && tracker.terminal.is_some() {
            let at = *linger_deadline.get_or_insert_with(|| Instant::now() + EXIT_AFTER_TURN);
            consider(Some(at), Wake::Linger);
        }
        consider(drain_deadline, Wake::Drain);
        consider(Some(next_probe), Wake::Probe);
        let cancel_open = cancel.is_some();

        tokio::select! {
            biased;
            changed = async { match cancel.as_mut() { Some(rx) => rx.changed().await, None => std::future::pending().await } }, if cancel_open => {
                match changed {
                    Ok(()) => {
                        let req = cancel.as_mut().map(|rx| *rx.borrow_and_update()).unwrap_or(CancelRequest::None);
                        match req {
                            CancelRequest::None => {}
                            CancelRequest::Stop(reason) => stop = Some(reason),
                            CancelRequest::Kill => { stop = Some(StopReason::Interrupt); kill_now = true; }
                        }
                    }
                    Err(_) => *cancel = None,
                }
            }
            _ = tokio::time::sleep_until(wake.map(|(at, _)| at).unwrap_or_else(Instant::now)), if wake.is_some() => {
                match wake.map(|(_, what)| what) {
                    Some(Wake::Deadline) => stop = Some(StopReason::Timeout),
                    Some(Wake::Idle) => stop = Some(StopReason::IdleTimeout),
                    Some(Wake::Linger) => stop = Some(StopReason::Lingered),
                    Some(Wake::Probe) => {
                        if observer.output_closed() {
                            stop = Some(StopReason::OutputClosed);
                        }
                        next_probe = Instant::now() + PROBE_EVERY;
                    }
                    // codex is gone; whoever still holds its stdout does not get to keep us.
                    Some(Wake::Drain) | None => eof = true,
                }
            }
            read = async {
                lines.make_room();
                match stdout.as_mut() {
                    Some(out) => out.read_buf(&mut lines.buf).await,
                    None => Ok(0),
                }
            }, if !eof => {
                match read {
                    Ok(0) | Err(_) => eof = true,
                    Ok(_) => {
                        idle_deadline = spec.idle_timeout.and_then(|d| Instant::now().checked_add(d));
                        let batch = lines.take_complete();
                        if let Err(e) = handle_batch(batch, interest, &mut tracker, observer) {
                            stop = Some(output_stop(e));
                        }
                    }
                }
            }
            status = child.wait(), if exit.is_none() => {
                match status {
                    Ok(st) => exit = Some(st),
                    Err(_) => eof = true,
                }
                if !eof {
                    drain_deadline = Some(Instant::now() + DRAIN_AFTER_EXIT);
                }
            }
        }
    }

    // The loop could not see the clock while a write to our stdout blocked; if the watchdog
    // had to stop codex meanwhile, the run timed out.
    if stop.is_none() && watchdog.as_ref().is_some_and(Watchdog::fired) {
        stop = Some(StopReason::Timeout);
    }
    if stop.is_none()
        && let Some(rest) = lines.take_rest()
        && let Err(e) = handle_line(&rest, None, &mut tracker, observer, true)
            .and_then(|()| observer.batch_end(&[]))
    {
        stop = Some(output_stop(e));
    }
    drop(stdout);

    // The commands codex started that left its group (it runs each in a session of its own) are
    // stopped with a run that is stopped, on the same clock as codex. A turn that completed
    // keeps them, as codex does (a server it was asked to start), however codex then ended.
    let stop_detached = spec.run_mark.filter(|_| {
        !matches!(stop, None | Some(StopReason::Lingered))
            && tracker.terminal != Some(TurnStatus::Completed)
    });
    let kill_at = Instant::now() + if kill_now { Duration::ZERO } else { spec.grace };
    let termed = match stop_detached {
        Some(mark) => process::signal_marked(mark, pid, libc::SIGTERM),
        None => Vec::new(),
    };
    if let Some(reason) = stop
        && exit.is_none()
    {
        exit = terminate(&mut child, pid, reason, kill_now, spec.grace, cancel).await;
    }
    if exit.is_none() {
        exit = child.wait().await.ok();
    }
    // Whatever codex left behind in its group goes too.
    if process::group_alive(pid) {
        let _ = process::wait_group_gone(pid, Duration::from_millis(100)).await;
        process::reap_group(pid).await;
    }
    if let Some(mark) = stop_detached {
        process::stop_marked(mark, pid, kill_at, termed, cancel).await;
    }
    let stderr_tail = match stderr_task {
        Some(task) => match tokio::time::timeout(Duration::from_millis(500), task).await {
            Ok(Ok(tail)) => tail,
            _ => String::new(),
        },
        None => String::new(),
    };

    if let Some(w) = watchdog {
        w.disarm();
    }
    let mut outcome = build_outcome(tracker, exit, stop, stderr_tail, started.elapsed());
    if let Some(why) = output_error {
        outcome.error = Some(format!("cannot write to stdout: {why}"));
    }
    Ok(AttemptResult { outcome })
}

/// How long past the deadline (and the grace period) the watchdog waits for the run's own loop.
const WATCHDOG_MARGIN: Duration = Duration::from_secs(1);

/// Enforces `--timeout` from a thread of its own: the run's loop shares one thread with the
/// renderers, and a write to a stdout whose reader stopped reading blocks it, clocks included.
/// If the loop has not finished by then, the watchdog kills codex's whole group, so codex never
/// runs on past its deadline.
struct Watchdog {
    state: std::sync::Arc<(std::sync::Mutex<WatchdogState>, std::sync::Condvar)>,
}

#[derive(Default)]
struct WatchdogState {
    disarmed: bool,
    fired: bool,
}

impl Watchdog {
    fn start(pgid: u32, at: std::time::Instant) -> Self {
        let state = std::sync::Arc::new((
            std::sync::Mutex::new(WatchdogState::default()),
            std::sync::Condvar::new(),
        ));
        let shared = state.clone();
        std::thread::spawn(move || {
            let (lock, wake) = &*shared;
            let mut st = lock
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            loop {
                if st.disarmed {
                    return;
                }
                let now = std::time::Instant::now();
                if now >= at {
                    break;
                }
                st = wake
                    .wait_timeout(st, at - now)
                    .map(|(guard, _)| guard)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            st.fired = true;
            process::signal_group(pgid, libc::SIGKILL);
        });
        Watchdog { state }
    }

    fn fired(&self) -> bool {
        self.state.0.lock().map(|st| st.fired).unwrap_or(false)
    }

    fn disarm(self) {
        let (lock, wake) = &*self.state;
        if let Ok(mut st) = lock.lock() {
            st.disarmed = true;
        }
        wake.notify_all();
    }
}

#[derive(Clone, Copy)]
enum Wake {
    Deadline,
    Idle,
    Drain,
    Probe,
    Linger,
}

/// Signal codex's group, give it `grace`, then SIGKILL. A `Kill` request cuts the grace short.
async fn terminate(
    child: &mut tokio::process::Child,
    pgid: u32,
    reason: StopReason,
    kill_now: bool,
    grace: Duration,
    cancel: &mut Option<watch::Receiver<CancelRequest>>,
) -> Option<ExitStatus> {
    if kill_now {
        process::signal_group(pgid, libc::SIGKILL);
        return child.wait().await.ok();
    }
    let first = match reason {
        StopReason::Interrupt => libc::SIGINT,
        _ => libc::SIGTERM,
    };
    process::signal_group(pgid, first);
    let grace_end = Instant::now() + grace.min(Duration::from_secs(24 * 3600));
    let exited = loop {
        tokio::select! {
            status = child.wait() => break status.ok(),
            _ = tokio::time::sleep_until(grace_end) => break None,
            changed = async { match cancel.as_mut() { Some(rx) => rx.changed().await, None => std::future::pending().await } } => {
                let kill = changed.is_ok()
                    && cancel.as_mut().map(|rx| *rx.borrow_and_update()) == Some(CancelRequest::Kill);
                if changed.is_err() { *cancel = None; }
                if kill { break None; }
            }
        }
    };
    if let Some(status) = exited {
        // codex is gone; give the rest of its group what is left of the grace period.
        let left = grace_end.saturating_duration_since(Instant::now());
        if !process::wait_group_gone(pgid, left).await {
            process::signal_group(pgid, libc::SIGKILL);
        }
        return Some(status);
    }
    process::signal_group(pgid, libc::SIGKILL);
    child.wait().await.ok()
}

fn build_outcome(
    tracker: TurnTracker,
    exit: Option<ExitStatus>,
    stop: Option<StopReason>,
    stderr_tail: String,
    duration: Duration,
) -> Outcome {
    use std::os::unix::process::ExitStatusExt;
    let exit_code = exit.and_then(|s| s.code());
    let signal = exit.and_then(|s| s.signal());
    let final_message = tracker.final_message();
    let (status, error) = match (stop, tracker.terminal) {
        // What codex did could not all be shown or kept, however the turn ended.
        (Some(StopReason::OutputFailed), _) => {
            (TurnStatus::Failed, Some("cannot write to stdout".into()))
        }
        // A turn that completed before we stopped codex still completed.
        (_, Some(TurnStatus::Completed)) => (TurnStatus::Completed, None),
        (Some(StopReason::Lingered), _) => (
            TurnStatus::Failed,
            Some(
                tracker
                    .failure
                    .or(tracker.last_error)
                    .unwrap_or_else(|| "turn failed".into()),
            ),
        ),
        (Some(StopReason::Timeout), _) => (
            TurnStatus::TimedOut,
            Some(with_last_error("--timeout expired", &tracker)),
        ),
        (Some(StopReason::IdleTimeout), _) => (
            TurnStatus::TimedOut,
            Some(with_last_error(
                "--idle-timeout expired: no event from codex",
                &tracker,
            )),
        ),
        (
            Some(
                reason @ (StopReason::Interrupt
                | StopReason::Terminate
                | StopReason::Hangup
                | StopReason::OutputClosed),
            ),
            _,
        ) => (
            TurnStatus::Interrupted,
            Some(reason.interrupted_by().to_string()),
        ),
        (None, Some(TurnStatus::Failed)) => (
            TurnStatus::Failed,
            Some(
                tracker
                    .failure
                    .or(tracker.last_error)
                    .unwrap_or_else(|| "turn failed".into()),
            ),
        ),
        (None, _) => {
            let why = tracker
                .last_error
                .or_else(|| last_meaningful_line(&stderr_tail))
                .or(tracker.last_reconnect);
            if tracker.thread_id.is_none() && exit_code.is_some_and(|c| c != 0) {
                // codex refused to start (bad flag, missing directory, unknown thread...).
                (
                    TurnStatus::Failed,
                    Some(why.unwrap_or_else(|| {
                        format!("codex exited with code {}", exit_code.unwrap_or(-1))
                    })),
                )
            } else {
                let detail = match (exit_code, signal) {
                    (Some(c), _) => format!("codex exited with code {c} before the turn ended"),
                    (None, Some(s)) => {
                        format!("codex was killed by signal {s} before the turn ended")
                    }
                    _ => "codex ended before the turn ended".to_string(),
                };
                let error = match why {
                    Some(w) => format!("{detail}: {w}"),
                    None => detail,
                };
                (TurnStatus::Incomplete, Some(error))
            }
        }
    };
    let final_message = if status == TurnStatus::Completed {
        final_message
    } else {
        None
    };
    Outcome {
        thread_id: tracker.thread_id,
        status,
        final_message,
        error,
        usage: tracker.usage,
        exit_code,
        signal,
        duration,
        attempts: 1,
        stopped: stop,
        stderr_tail,
    }
}

/// `what`, plus the last thing codex complained about, if anything (e.g. it was stuck
/// reconnecting): the reason a run stalled is usually there.
fn with_last_error(what: &str, tracker: &TurnTracker) -> String {
    match tracker
        .last_error
        .as_ref()
        .or(tracker.last_reconnect.as_ref())
    {
        Some(last) => format!("{what}; codex's last error: {last}"),
        None => what.to_string(),
    }
}

/// codex's error from its stderr, as one line: from its first `Error…`/`error:` line on (a
/// config error goes on over several lines, the last of them a caret under the bad spot),
/// without the source excerpt's decoration or clap's "For more information" tip; else the last
/// line worth showing. codex's noise about stdin and PATH aliases, and backtraces, are skipped.
pub fn last_meaningful_line(stderr: &str) -> Option<String> {
    let all: Vec<&str> = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    // With RUST_BACKTRACE=1 codex appends a backtrace after the real message.
    let cut = all
        .iter()
        .position(|l| l.starts_with("Stack backtrace:"))
        .unwrap_or(all.len());
    let lines: Vec<&str> = all[..cut]
        .iter()
        .copied()
        .filter(|l| {
            !l.starts_with("Reading additional input from stdin")
                && !l.starts_with("Reading prompt from stdin")
                && !l.starts_with(
                    "WARNING: proceeding, even though we could not create PATH aliases",
                )
        })
        .collect();
    let is_error = |l: &&str| l.starts_with("Error") || l.starts_with("error:");
    // A source excerpt (`  |`, `1 | model = "x`, `|     ^`) and clap's tips say nothing new.
    let is_decoration = |l: &&str| {
        l.trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start()
            .starts_with('|')
            || l.starts_with("For more information")
            || l.starts_with("Usage:")
            || l.starts_with("tip:")
    };
    let text = match lines.iter().position(is_error) {
        Some(first) => {
            let parts: Vec<&str> = lines[first..]
                .iter()
                .filter(|l| !is_decoration(l))
                .copied()
                .collect();
            let mut text = parts.join(" ");
            if text.len() > 500 {
                let mut end = 500;
                while !text.is_char_boundary(end) {
                    end -= 1;
                }
                text.truncate(end);
                text.push('…');
            }
            text
        }
        None => lines.last()?.to_string(),
    };
    // codex prints its errors as `Error: …`; ours already say they are one.
    Some(
        text.strip_prefix("Error: ")
            .or_else(|| text.strip_prefix("error: "))
            .unwrap_or(&text)
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::jsonl::JsonlRenderer;

    #[test]
    fn codex_s_whole_error_is_kept_not_its_last_line() {
        let config = "Reading additional input from stdin...\nError loading config.toml: /h/config.toml:1:11: invalid basic string\n  |\n1 | model = \"x\n  |           ^\n";
        assert_eq!(
            last_meaningful_line(config).unwrap(),
            "Error loading config.toml: /h/config.toml:1:11: invalid basic string"
        );
        let clap = "error: unexpected argument '--bogus' found\n\n  tip: to pass '--bogus' as a value, use '-- --bogus'\n\nUsage: codex exec [OPTIONS] [PROMPT]\n\nFor more information, try '--help'.\n";
        assert_eq!(
            last_meaningful_line(clap).unwrap(),
            "unexpected argument '--bogus' found"
        );
        let variant = "Error: in `sandbox_mode`\nunknown variant `nope`, expected one of `read-only`, `workspace-write`\n";
        assert_eq!(
            last_meaningful_line(variant).unwrap(),
            "in `sandbox_mode` unknown variant `nope`, expected one of `read-only`, `workspace-write`"
        );
        assert_eq!(
            last_meaningful_line("just a line\n").unwrap(),
            "just a line"
        );
        assert_eq!(last_meaningful_line("Reading prompt from stdin...\n"), None);
    }

    /// One way of finding newlines, as the tests call it.
    type NewlineSearch = fn(&[u8], &mut dyn FnMut(usize) -> ControlFlow<()>);

    /// Every way of finding newlines this machine can run: the one `for_each_newline` picks,
    /// and each SIMD one on its own.
    fn newline_searches() -> Vec<(&'static str, NewlineSearch)> {
        let mut all: Vec<(&'static str, NewlineSearch)> =
            vec![("for_each_newline", |h, f| for_each_newline(h, f))];
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: AVX2 is available.
                all.push(("avx2", |h, mut f| unsafe { newlines_avx2(h, &mut f) }));
            }
            if std::arch::is_x86_feature_detected!("avx512bw") {
                // SAFETY: AVX-512BW is available.
                all.push(("avx512", |h, mut f| unsafe { newlines_avx512(h, &mut f) }));
            }
        }
        all
    }

    #[test]
    fn every_newline_is_found_in_order_and_a_break_stops_the_search() {
        // Lengths around the 64-byte blocks, newlines on block edges, in the tail, and runs.
        let mut seed = 0x2545_f491_u32;
        for len in (0..200).chain([255, 256, 257, 1000, 4096 + 7]) {
            for density in [0, 1, 5, 50] {
                let haystack: Vec<u8> = (0..len)
                    .map(|i| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        let edge = i % 64 == 63 || i % 64 == 0 || i + 1 == len;
                        if (edge && density > 0) || (seed % 100) < density {
                            b'\n'
                        } else {
                            b'a' + (seed % 26) as u8
                        }
                    })
                    .collect();
                let expected: Vec<usize> = memchr::memchr_iter(b'\n', &haystack).collect();
                for (name, search) in newline_searches() {
                    let mut found = Vec::new();
                    search(&haystack, &mut |nl| {
                        found.push(nl);
                        ControlFlow::Continue(())
                    });
                    assert_eq!(found, expected, "{name}: len {len}, density {density}");
                    if expected.len() > 2 {
                        let mut seen = 0;
                        search(&haystack, &mut |_| {
                            seen += 1;
                            if seen == 2 {
                                ControlFlow::Break(())
                            } else {
                                ControlFlow::Continue(())
                            }
                        });
                        assert_eq!(seen, 2, "{name}");
                    }
                }
            }
        }
    }

    /// A JSONL renderer that asks for every line, to compare with the skipping fast path.
    struct EveryLine<'a>(JsonlRenderer<&'a mut Vec<u8>>);

    impl Observer for EveryLine<'_> {
        fn codex_line(&mut self, line: &CodexLine<'_>) -> io::Result<()> {
            self.0.codex_line(line)
        }
        fn client_event(&mut self, event: &ClientEvent) -> io::Result<()> {
            self.0.client_event(event)
        }
        fn batch_end(&mut self, batch: &[u8]) -> io::Result<()> {
            self.0.batch_end(batch)
        }
    }

    const THREAD: &str = r#"{"type":"thread.started","thread_id":"t-1"}"#;
    const CMD_STARTED: &str = r#"{"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"ls","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#;
    const CMD_DONE: &str = r#"{"type":"item.completed","item":{"id":"item_0","type":"command_execution","command":"ls","aggregated_output":"a\n","exit_code":0,"status":"completed"}}"#;
    const ANSWER: &str = r#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"the answer"}}"#;
    const DONE: &str = r#"{"type":"turn.completed","usage":{"input_tokens":3,"cached_input_tokens":0,"output_tokens":2}}"#;

    fn run_batches(batches: &[&str], every: bool) -> (String, TurnTracker) {
        let mut out = Vec::new();
        let mut tracker = TurnTracker::default();
        {
            let renderer = JsonlRenderer::new(&mut out);
            let (mut notable, mut all);
            let observer: &mut dyn Observer = if every {
                all = EveryLine(renderer);
                &mut all
            } else {
                notable = renderer;
                &mut notable
            };
            let interest = observer.line_interest();
            for batch in batches {
                handle_batch(batch.as_bytes(), interest, &mut tracker, observer).unwrap();
            }
        }
        (String::from_utf8(out).unwrap(), tracker)
    }

    #[test]
    fn pass_through_writes_events_verbatim_and_drops_the_rest_in_place() {
        let batch = format!(
            "{THREAD}\n{CMD_STARTED}\n{{\"type\":\"item.started\"\n\n{CMD_DONE}\r\n{ANSWER}\n{DONE}\n"
        );
        for every in [false, true] {
            let (out, tracker) = run_batches(&[&batch], every);
            let lines: Vec<&str> = out.lines().collect();
            assert_eq!(lines.len(), 7, "every={every}: {out}");
            assert_eq!(lines[0], THREAD);
            assert_eq!(lines[1], CMD_STARTED);
            // The cut line and the blank line are dropped; a warning stands where each was.
            assert!(
                lines[2].starts_with(r#"{"type":"spawncodex.warning""#),
                "{}",
                lines[2]
            );
            assert!(lines[2].contains("not a JSON event"));
            assert!(lines[3].contains("blank line"));
            // `\r\n` becomes `\n`.
            assert_eq!(lines[4], CMD_DONE);
            assert_eq!(lines[5], ANSWER);
            assert_eq!(lines[6], DONE);
            assert!(!out.contains('\r'));
            assert_eq!(tracker.thread_id.as_deref(), Some("t-1"));
            assert_eq!(tracker.final_message().as_deref(), Some("the answer"));
            assert_eq!(tracker.terminal, Some(TurnStatus::Completed));
            assert_eq!(tracker.usage.map(|u| u.output_tokens), Some(2));
        }
    }

    #[test]
    fn the_fast_path_writes_what_the_full_path_writes() {
        // Recorded streams, cut into batches at every possible size class.
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            let lines: Vec<String> = text.lines().map(|l| format!("{l}\n")).collect();
            for per_batch in [1, 2, 5, usize::MAX] {
                let batches: Vec<String> = lines
                    .chunks(per_batch.min(lines.len().max(1)))
                    .map(|c| c.concat())
                    .collect();
                let batches: Vec<&str> = batches.iter().map(String::as_str).collect();
                let (fast, fast_tracker) = run_batches(&batches, false);
                let (full, full_tracker) = run_batches(&batches, true);
                assert_eq!(fast, full);
                assert_eq!(fast_tracker.final_message(), full_tracker.final_message());
                assert_eq!(fast_tracker.terminal, full_tracker.terminal);
            }
        }
    }
}
