//! Human output: the answer on stdout and nothing else; progress, events and errors on stderr.
//!
//! `run` shows a spinner (on a terminal, not in CI) and errors; `live` also prints every event
//! as it arrives. All stderr lines go through the spinner's `suspend` so nothing tears.

use std::collections::HashMap;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;

use super::style::Styles;
use super::{Renderer, Report};
use crate::client::events::{ItemDetails, ThreadEvent, ThreadItem, is_reconnect_message};
use crate::client::{ClientEvent, CodexLine, LineKind, Observer, Outcome, TurnStatus, Usage};

/// Command output lines shown per command (all of them with `-v`).
const OUTPUT_TAIL_LINES: usize = 20;
/// The spinner appears only if a run takes longer than this.
const SPINNER_DELAY: Duration = Duration::from_millis(400);

#[derive(Clone, Copy, Debug, Default)]
pub struct HumanOptions {
    pub live: bool,
    pub color: bool,
    pub spinner: bool,
    pub verbose: u8,
    pub quiet: bool,
}

pub struct HumanRenderer {
    opts: HumanOptions,
    s: Styles,
    spinner: Option<ProgressBar>,
    command_started: HashMap<String, Instant>,
    width: Option<usize>,
    /// Lines waiting for the end of the current batch: one write per read from codex, not one
    /// per line (stderr is unbuffered).
    pending: String,
}

impl HumanRenderer {
    pub fn new(opts: HumanOptions) -> Self {
        let spinner = (opts.spinner && !opts.quiet).then(|| make_spinner(opts.color));
        HumanRenderer {
            opts,
            s: Styles::new(opts.color),
            spinner,
            command_started: HashMap::new(),
            width: terminal_width(),
            pending: String::new(),
        }
    }

    /// Queue one line for stderr; [`Self::flush_lines`] writes the batch.
    fn line(&mut self, text: &str) {
        self.pending.push_str(text);
        self.pending.push('\n');
    }

    /// Write the queued lines in one go, without tearing the spinner.
    fn flush_lines(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let text = &self.pending;
        let write = || {
            let mut err = io::stderr().lock();
            let _ = err.write_all(text.as_bytes());
            let _ = err.flush();
        };
        match &self.spinner {
            Some(pb) => pb.suspend(write),
            None => write(),
        }
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            self.pending.shrink_to(64 * 1024);
        }
    }

    fn activity(&self, what: &str) {
        if let Some(pb) = &self.spinner {
            pb.set_message(what.to_string());
        }
    }

    /// Wrap `text` to the terminal width with `indent` before every line.
    /// Queue `text` with `indent` before every line, wrapped to the terminal width (if known).
    /// Written straight into the pending buffer: this runs for every message and command output.
    fn block(&mut self, indent: &str, text: &str, style: owo_colors::Style) {
        use std::fmt::Write as _;
        let avail = self
            .width
            .map(|w| w.saturating_sub(indent.chars().count()).max(20));
        for raw_line in text.lines() {
            match avail {
                Some(avail) if raw_line.chars().count() > avail => {
                    for piece in wrap(raw_line, avail) {
                        let _ = writeln!(self.pending, "{indent}{}", piece.style(style));
                    }
                }
                _ => {
                    let _ = writeln!(self.pending, "{indent}{}", raw_line.style(style));
                }
            }
        }
    }

    fn render_event(&mut self, ev: &ThreadEvent) {
        let s = self.s;
        match ev {
            ThreadEvent::ThreadStarted { thread_id } => {
                self.line(&format!(
                    "{}",
                    format!("thread {thread_id}").style(s.dimmed)
                ));
            }
            ThreadEvent::TurnStarted {} => self.activity("thinking"),
            ThreadEvent::TurnCompleted { .. } | ThreadEvent::TurnFailed { .. } => {}
            ThreadEvent::ItemStarted { item } | ThreadEvent::ItemUpdated { item } => {
                self.render_item_started(item)
            }
            ThreadEvent::ItemCompleted { item } => self.render_item_completed(item),
            ThreadEvent::Error { message } => {
                if is_reconnect_message(message) {
                    self.line(&format!(
                        "{} {}",
                        "⟳".style(s.yellow),
                        message.style(s.yellow)
                    ));
                } else {
                    self.line(&format!(
                        "{} {}",
                        "error:".style(s.red),
                        message.style(s.red)
                    ));
                }
            }
            ThreadEvent::Unknown => {}
        }
    }

    fn agent_message(&mut self, text: &str) {
        let s = self.s;
        self.line(&format!("{}", "codex".style(s.magenta)));
        self.block("  ", text, owo_colors::Style::new());
    }

    fn command_started(&mut self, id: &str, command: &str) {
        let s = self.s;
        // item.updated repeats the item: show the command once.
        if self.command_started.contains_key(id) {
            return;
        }
        self.command_started.insert(id.to_string(), Instant::now());
        let shown = display_command(command);
        self.activity(&format!("running: {shown}"));
        self.line(&format!("{} {}", "$".style(s.cyan), shown.style(s.bold)));
    }

    fn command_completed(
        &mut self,
        id: &str,
        command: &str,
        output: &str,
        exit_code: Option<i64>,
        status: &str,
    ) {
        use std::fmt::Write as _;
        let s = self.s;
        let took = self.command_started.remove(id).map(|t| t.elapsed());
        if took.is_none() {
            // codex sometimes reports a command only when it completes.
            let shown = display_command(command);
            self.line(&format!("{} {}", "$".style(s.cyan), shown.style(s.bold)));
        }
        let (tail, skipped) = if self.opts.verbose > 0 {
            (output, 0)
        } else {
            last_lines(output, OUTPUT_TAIL_LINES)
        };
        if skipped > 0 {
            self.line(&format!(
                "  {}",
                format!("… {skipped} earlier lines (-v shows all)").style(s.dimmed)
            ));
        }
        self.block("  ", tail, s.dimmed);
        let mut verdict = String::with_capacity(32);
        let ok = exit_code == Some(0) && status != "failed";
        let _ = match exit_code {
            Some(code) => write!(verdict, "{} exit {code}", if ok { "✓" } else { "✗" }),
            None => write!(verdict, "✗ exit ?"),
        };
        if let Some(took) = took {
            let _ = write!(verdict, " in {}", fmt_duration(took));
        }
        let style = if ok { s.green } else { s.red };
        let _ = writeln!(self.pending, "  {}", verdict.style(style));
        self.activity("thinking");
    }

    /// The hot item types rendered from a borrowed parse of the line (no owned copies of
    /// commands, outputs and messages). `false`: not one of them; use the typed event.
    fn render_hot_item(&mut self, line: &CodexLine<'_>) -> bool {
        #[derive(serde::Deserialize)]
        struct Hot<'a> {
            #[serde(borrow)]
            item: HotItem<'a>,
        }
        #[derive(serde::Deserialize)]
        struct HotItem<'a> {
            #[serde(borrow, default)]
            id: std::borrow::Cow<'a, str>,
            #[serde(borrow, rename = "type")]
            kind: std::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            text: std::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            command: std::borrow::Cow<'a, str>,
            #[serde(borrow, default)]
            aggregated_output: std::borrow::Cow<'a, str>,
            #[serde(default)]
            exit_code: Option<i64>,
            #[serde(borrow, default)]
            status: std::borrow::Cow<'a, str>,
        }
        let started = match line.kind() {
            LineKind::ItemStarted | LineKind::ItemUpdated => true,
            LineKind::ItemCompleted => false,
            _ => return false,
        };
        let hot_type = match line.item_type() {
            Some(b"command_execution") => true,
            Some(b"agent_message" | b"reasoning") => !started,
            _ => false,
        };
        if !hot_type {
            return false;
        }
        // One UTF-8 check for the whole line, then a parser that trusts it (from_slice checks
        // every string field on its own).
        let Some(Hot { item }) = std::str::from_utf8(line.raw())
            .ok()
            .and_then(|text| serde_json::from_str::<Hot>(text).ok())
        else {
            return false;
        };
        match (item.kind.as_ref(), started) {
            ("command_execution", true) => self.command_started(&item.id, &item.command),
            ("command_execution", false) => self.command_completed(
                &item.id,
                &item.command,
                &item.aggregated_output,
                item.exit_code,
                &item.status,
            ),
            ("agent_message", false) => self.agent_message(&item.text),
            ("reasoning", false) => {
                let dimmed = self.s.dimmed;
                self.block("  ", &item.text, dimmed);
            }
            _ => return false,
        }
        true
    }

    fn render_item_started(&mut self, item: &ThreadItem) {
        match &item.details {
            ItemDetails::CommandExecution { command, .. } => {
                self.command_started(&item.id, command)
            }
            ItemDetails::McpToolCall { server, tool, .. } => {
                self.activity(&format!("calling {server}.{tool}"));
            }
            ItemDetails::WebSearch { query } => self.activity(&format!("searching: {query}")),
            ItemDetails::FileChange { .. } => self.activity("editing files"),
            _ => {}
        }
    }

    fn render_item_completed(&mut self, item: &ThreadItem) {
        let s = self.s;
        match &item.details {
            ItemDetails::AgentMessage { text } => self.agent_message(text),
            ItemDetails::Reasoning { text } => self.block("  ", text, s.dimmed),
            ItemDetails::CommandExecution {
                command,
                aggregated_output,
                exit_code,
                status,
            } => self.command_completed(&item.id, command, aggregated_output, *exit_code, status),
            ItemDetails::FileChange { changes, status } => {
                for change in changes {
                    let style = match change.kind.as_str() {
                        "add" => s.green,
                        "delete" => s.red,
                        _ => s.yellow,
                    };
                    let kind = if change.kind.is_empty() {
                        "update"
                    } else {
                        change.kind.as_str()
                    };
                    self.line(&format!(
                        "{} {}",
                        format!("{kind:<6}").style(style),
                        change.path
                    ));
                }
                if status == "failed" {
                    self.line(&format!("  {}", "✗ patch failed".style(s.red)));
                }
                self.activity("thinking");
            }
            ItemDetails::McpToolCall {
                server,
                tool,
                status,
                error,
                ..
            } => {
                let style = if status == "failed" { s.red } else { s.green };
                let mut text = format!(
                    "{} {server}.{tool} {}",
                    "⚙".style(s.cyan),
                    status.style(style)
                );
                if let Some(err) = error {
                    text.push_str(&format!(": {}", err.message.style(s.red)));
                }
                self.line(&text);
                self.activity("thinking");
            }
            ItemDetails::WebSearch { query } => {
                self.line(&format!("{} {query}", "web search:".style(s.cyan)));
                self.activity("thinking");
            }
            ItemDetails::TodoList { items } => {
                self.line(&format!("{}", "plan".style(s.bold)));
                for todo in items {
                    let mark = if todo.completed { "[x]" } else { "[ ]" };
                    let style = if todo.completed {
                        s.dimmed
                    } else {
                        owo_colors::Style::new()
                    };
                    self.line(&format!("  {mark} {}", todo.text.style(style)));
                }
            }
            ItemDetails::Error { message } => {
                self.line(&format!("{} {}", "warning:".style(s.yellow), message));
            }
            ItemDetails::Unknown => {
                self.line(&format!(
                    "{}",
                    "(an item of a type this version does not know)".style(s.dimmed)
                ));
            }
        }
    }

    fn summary(&self, outcome: &Outcome) -> String {
        let s = self.s;
        let (mark, style) = match outcome.status {
            TurnStatus::Completed => ("✓", s.green),
            _ => ("✗", s.red),
        };
        let mut text = format!(
            "{} {} in {}",
            mark.style(style),
            outcome.status.as_str().style(style),
            fmt_duration(outcome.duration)
        );
        if let Some(u) = &outcome.usage {
            text.push_str(&format!(" · {}", fmt_usage(u)).style(s.dimmed).to_string());
        }
        if outcome.attempts > 1 {
            text.push_str(
                &format!(" · {} attempts", outcome.attempts)
                    .style(s.dimmed)
                    .to_string(),
            );
        }
        text
    }
}

impl Observer for HumanRenderer {
    fn codex_line(&mut self, line: &CodexLine<'_>) -> io::Result<()> {
        if !self.opts.live {
            // `run`: codex retrying its connection is worth a line (it can go on for minutes,
            // and would otherwise look like a silent hang); the rest only feeds the spinner.
            if line.kind() == LineKind::Error
                && !self.opts.quiet
                && let Some(ThreadEvent::Error { message }) = line.event()
                && is_reconnect_message(message)
            {
                let yellow = self.s.yellow;
                self.line(&format!("{} {}", "⟳".style(yellow), message.style(yellow)));
                self.activity("reconnecting");
            }
            if self.spinner.is_some() {
                match line.kind() {
                    LineKind::TurnStarted => self.activity("thinking"),
                    LineKind::ItemStarted => {
                        if let Some(ThreadEvent::ItemStarted { item }) = line.event()
                            && let ItemDetails::CommandExecution { command, .. } = &item.details
                        {
                            self.activity(&format!("running: {}", display_command(command)));
                        }
                    }
                    LineKind::ItemCompleted => self.activity("thinking"),
                    _ => {}
                }
            }
            return Ok(());
        }
        match line.kind() {
            LineKind::Blank | LineKind::Malformed => {}
            LineKind::Other => {
                let ty = serde_json::from_slice::<serde_json::Value>(line.raw())
                    .ok()
                    .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
                    .unwrap_or_else(|| "?".into());
                self.line(&format!("{}", format!("event {ty}").style(self.s.dimmed)));
            }
            _ => {
                if !self.render_hot_item(line)
                    && let Some(ev) = line.event()
                {
                    self.render_event(ev);
                }
            }
        }
        Ok(())
    }

    fn client_event(&mut self, event: &ClientEvent) -> io::Result<()> {
        let s = self.s;
        match event {
            ClientEvent::Warning { message } if !self.opts.quiet => {
                self.line(&format!("{} {message}", "warning:".style(s.yellow)));
            }
            ClientEvent::RetryScheduled {
                next_attempt,
                delay_ms,
                reason,
                resume_thread_id,
            } if !self.opts.quiet => {
                let how = if resume_thread_id.is_some() {
                    "resuming the thread"
                } else {
                    "starting over"
                };
                self.line(&format!(
                    "{} attempt {next_attempt} in {} ({how}): {reason}",
                    "retry:".style(s.yellow),
                    fmt_duration(Duration::from_millis(*delay_ms))
                ));
            }
            _ if self.opts.verbose > 0 => {
                let json = serde_json::to_string(event).unwrap_or_default();
                self.line(&format!("{}", json.style(s.dimmed)));
            }
            _ => {}
        }
        self.flush_lines();
        Ok(())
    }

    fn batch_end(&mut self, _batch: &[u8]) -> io::Result<()> {
        self.flush_lines();
        Ok(())
    }
}

impl Renderer for HumanRenderer {
    fn finish(&mut self, outcome: &Outcome, report: &Report) -> io::Result<()> {
        self.flush_lines();
        if let Some(pb) = self.spinner.take() {
            pb.finish_and_clear();
        }
        if self.opts.live || self.opts.verbose > 0 {
            self.line(&self.summary(outcome));
        }
        let s = self.s;
        for detail in &report.details {
            self.line(&format!("  {detail}"));
        }
        let error = report.error_override.as_ref().or(outcome.error.as_ref());
        self.flush_lines();
        if report.exit_code == 0 {
            let answer = match &report.json_answer {
                Some(v) if report.compact => serde_json::to_string(v).ok(),
                Some(v) => serde_json::to_string_pretty(v).ok(),
                None => outcome.final_message.clone(),
            };
            match answer {
                Some(text) => {
                    let mut out = io::stdout().lock();
                    out.write_all(text.as_bytes())?;
                    out.write_all(b"\n")?;
                    out.flush()?;
                }
                None if !self.opts.quiet => {
                    self.line(&format!(
                        "{} the turn completed without a message",
                        "warning:".style(s.yellow)
                    ));
                }
                None => {}
            }
        } else if let Some(error) = error {
            let label = match outcome.status {
                TurnStatus::TimedOut => "timed out",
                TurnStatus::Interrupted => "interrupted",
                TurnStatus::Incomplete => "incomplete",
                _ => "error",
            };
            self.line(&format!(
                "{} {}",
                format!("spawncodex: {label}:").style(s.red),
                error
            ));
        }
        self.flush_lines();
        Ok(())
    }

    fn note(&mut self, text: &str) {
        if !self.opts.quiet {
            self.line(text);
            self.flush_lines();
        }
    }
}

fn make_spinner(color: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    let template = if color {
        "{spinner:.cyan} {elapsed:.dim} {wide_msg}"
    } else {
        "{spinner} {elapsed} {wide_msg}"
    };
    if let Ok(style) = ProgressStyle::with_template(template) {
        pb.set_style(style.tick_chars("⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏ "));
    }
    pb.set_message("starting codex");
    pb.enable_steady_tick(Duration::from_millis(100));
    // Show it only if the run is not over at once: no flicker for quick runs.
    let shown = pb.clone();
    std::thread::spawn(move || {
        std::thread::sleep(SPINNER_DELAY);
        if !shown.is_finished() {
            shown.set_draw_target(ProgressDrawTarget::stderr());
        }
    });
    pb
}

/// `/bin/bash -lc 'echo hi'` → `echo hi`: what the model asked for, not codex's wrapper.
pub fn display_command(command: &str) -> String {
    for prefix in [
        "/bin/bash -lc ",
        "bash -lc ",
        "/bin/sh -c ",
        "/bin/zsh -lc ",
    ] {
        if let Some(rest) = command.strip_prefix(prefix) {
            if let Some(inner) = rest.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
                return inner.replace(r"'\''", "'");
            }
            return rest.to_string();
        }
    }
    command.to_string()
}

pub fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms / 1000) % 60)
    }
}

pub fn fmt_usage(u: &Usage) -> String {
    format!(
        "tokens: {} in ({} cached) / {} out ({} reasoning)",
        u.input_tokens, u.cached_input_tokens, u.output_tokens, u.reasoning_output_tokens
    )
}

/// The last `n` lines of `text`, and how many lines come before them.
fn last_lines(text: &str, n: usize) -> (&str, usize) {
    let body = text.strip_suffix('\n').unwrap_or(text);
    let mut start = body.len();
    let mut found = 0;
    while found < n {
        match memchr::memrchr(b'\n', &body.as_bytes()[..start]) {
            Some(i) => {
                start = i;
                found += 1;
            }
            None => return (text, 0),
        }
    }
    let skipped = memchr::memchr_iter(b'\n', &body.as_bytes()[..start]).count() + 1;
    (&body[start + 1..], skipped)
}

/// Greedy word wrap by characters; words longer than the width are split.
fn wrap(line: &str, width: usize) -> Vec<String> {
    if line.chars().count() <= width {
        return vec![line.to_string()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut len = 0;
    for word in line.split(' ') {
        let wlen = word.chars().count();
        if len > 0 && len + 1 + wlen > width {
            out.push(std::mem::take(&mut current));
            len = 0;
        }
        if wlen > width {
            for ch in word.chars() {
                if len == width {
                    out.push(std::mem::take(&mut current));
                    len = 0;
                }
                current.push(ch);
                len += 1;
            }
            continue;
        }
        if len > 0 {
            current.push(' ');
            len += 1;
        }
        current.push_str(word);
        len += wlen;
    }
    out.push(current);
    out
}

fn terminal_width() -> Option<usize> {
    if let Some(cols) = std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
    {
        return (cols > 0).then_some(cols);
    }
    // SAFETY: TIOCGWINSZ fills a winsize struct; fd 2 may not be a terminal, which just fails.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(2, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_col > 0 {
            return Some(ws.ws_col as usize);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps_codex_shell_wrapper() {
        assert_eq!(display_command("/bin/bash -lc 'echo hi'"), "echo hi");
        assert_eq!(
            display_command(r"/bin/bash -lc 'echo '\''x'\'''"),
            "echo 'x'"
        );
        assert_eq!(display_command("ls"), "ls");
    }

    #[test]
    fn keeps_the_last_lines() {
        assert_eq!(last_lines("a\nb\nc\n", 2), ("b\nc", 1));
        assert_eq!(last_lines("a\nb\nc", 3), ("a\nb\nc", 0));
        assert_eq!(last_lines("a\nb\nc\nd", 2), ("c\nd", 2));
        assert_eq!(last_lines("", 2), ("", 0));
    }

    #[test]
    fn wraps_long_lines() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
    }
}
