//! Human output: the answer on stdout and nothing else; progress, events and errors on stderr.
//!
//! `run` shows a spinner (on a terminal, not in CI) and errors; `live` also prints every event
//! as it arrives. All stderr lines go through the spinner's `suspend` so nothing tears.

use std::borrow::Cow;
use std::io::{self, Write};
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;

use super::rawjson::{self, RawStr};
use super::safe::terminal_safe as safe;
use super::style::Styles;
use super::{Renderer, Report};
use crate::client::events::{ItemDetails, ThreadEvent, ThreadItem, is_reconnect_message};
use crate::client::{ClientEvent, CodexLine, LineKind, Observer, Outcome, TurnStatus, Usage};

/// Command output lines shown per command (all of them with `-v`).
const OUTPUT_TAIL_LINES: usize = 20;
/// On a terminal, rows one line of a command's output tail may take before it is cut.
const OUTPUT_LINE_ROWS: usize = 4;
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
    running: RunningCommands,
    width: Option<usize>,
    /// Lines waiting for the end of the current batch: one write per read from codex, not one
    /// per line (stderr is unbuffered). Bytes, so that command output goes in unescaped
    /// straight from codex's line.
    pending: Vec<u8>,
    /// The escape codes of the styles the hot path writes by hand.
    codes: HotCodes,
    /// Bytes written to stderr so far (pending ones not counted).
    flushed: u64,
    /// The last error event shown, and where the output stood just after it: the final error
    /// line is left out when it would only repeat it.
    error_shown: Option<(String, u64)>,
    /// Reused for unescaping one string at a time.
    scratch: Vec<u8>,
    /// Where the last lines of a block being written end (see [`Self::raw_block`]).
    line_ends: std::collections::VecDeque<usize>,
    /// What ends one line of a block and opens the next (see [`Self::raw_block`]).
    line_break: Vec<u8>,
}

/// A command's output: still escaped, or text already.
enum Output<'a> {
    Raw(RawStr<'a>),
    Text(&'a str),
}

/// The escape codes around a styled text (both empty without colour), so the hot path writes
/// them with two copies instead of going through `fmt`.
#[derive(Clone, Debug, Default)]
struct Codes {
    prefix: String,
    suffix: String,
}

impl Codes {
    fn of(style: owo_colors::Style) -> Self {
        // What owo-colors writes around a text, taken from its own output.
        let styled = format!("{}", "\u{1}".style(style));
        match styled.split_once('\u{1}') {
            Some((prefix, suffix)) => Codes {
                prefix: prefix.to_string(),
                suffix: suffix.to_string(),
            },
            None => Codes::default(),
        }
    }

    fn wrap(&self, out: &mut Vec<u8>, text: &[u8]) {
        out.extend_from_slice(self.prefix.as_bytes());
        out.extend_from_slice(text);
        out.extend_from_slice(self.suffix.as_bytes());
    }
}

/// Commands started and not yet completed, for the duration shown when they complete. A few
/// at a time, so a short list beats a map (no hashing, and the id strings are reused).
#[derive(Default)]
struct RunningCommands {
    slots: Vec<(Vec<u8>, Option<Instant>)>,
    /// When the lines being handled arrived: read once per batch, as every line of one read
    /// arrived together (a clock read per command start and end was 4 % of a long `live`).
    arrived: Option<Instant>,
}

impl RunningCommands {
    /// Bounded: a codex that never completes its commands does not grow us.
    const MAX: usize = 256;

    /// `false` if it is already running (an `item.updated` repeats the item).
    fn start(&mut self, id: &[u8]) -> bool {
        if self.slots.iter().any(|(s, t)| t.is_some() && s == id) {
            return false;
        }
        let now = Some(self.now());
        let free = self.slots.iter().position(|(_, t)| t.is_none());
        match free {
            Some(at) => {
                let (slot, t) = &mut self.slots[at];
                slot.clear();
                slot.extend_from_slice(id);
                *t = now;
            }
            None if self.slots.len() < Self::MAX => self.slots.push((id.to_vec(), now)),
            None => self.slots[0] = (id.to_vec(), now),
        }
        true
    }

    /// How long it has been running, if we saw it start.
    fn elapsed(&mut self, id: &[u8]) -> Option<Duration> {
        let (_, started) = self.slots.iter().find(|(s, t)| t.is_some() && s == id)?;
        let started = (*started)?;
        Some(self.now().saturating_duration_since(started))
    }

    fn now(&mut self) -> Instant {
        *self.arrived.get_or_insert_with(Instant::now)
    }

    /// The lines of one read are handled: the next ones arrive later.
    fn batch_done(&mut self) {
        self.arrived = None;
    }

    /// It completed: its slot is free again.
    fn finish(&mut self, id: &[u8]) {
        if let Some((_, started)) = self.slots.iter_mut().find(|(s, t)| t.is_some() && s == id) {
            *started = None;
        }
    }
}

/// How a block of text is shown.
#[derive(Clone, Copy)]
enum Tone {
    Plain,
    Dimmed,
}

#[derive(Clone, Debug, Default)]
struct HotCodes {
    plain: Codes,
    dimmed: Codes,
    bold: Codes,
    cyan: Codes,
    green: Codes,
    red: Codes,
    magenta: Codes,
}

impl HumanRenderer {
    pub fn new(opts: HumanOptions) -> Self {
        let spinner = (opts.spinner && !opts.quiet).then(|| make_spinner(opts.color));
        HumanRenderer {
            opts,
            s: Styles::new(opts.color),
            spinner,
            running: RunningCommands::default(),
            width: terminal_width(),
            pending: Vec::new(),
            flushed: 0,
            error_shown: None,
            codes: {
                let s = Styles::new(opts.color);
                HotCodes {
                    plain: Codes::of(owo_colors::Style::new()),
                    dimmed: Codes::of(s.dimmed),
                    bold: Codes::of(s.bold),
                    cyan: Codes::of(s.cyan),
                    green: Codes::of(s.green),
                    red: Codes::of(s.red),
                    magenta: Codes::of(s.magenta),
                }
            },
            scratch: Vec::new(),
            line_ends: std::collections::VecDeque::new(),
            line_break: Vec::new(),
        }
    }

    /// How much has been shown so far, flushed or not.
    fn shown_so_far(&self) -> u64 {
        self.flushed + self.pending.len() as u64
    }

    /// Queue one line for stderr; [`Self::flush_lines`] writes the batch.
    fn line(&mut self, text: &str) {
        self.pending.extend_from_slice(text.as_bytes());
        self.pending.push(b'\n');
    }

    /// Write the queued lines in one go, without tearing the spinner.
    fn flush_lines(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let text = &self.pending;
        let write = || {
            let mut err = io::stderr().lock();
            let _ = err.write_all(text);
            let _ = err.flush();
        };
        match &self.spinner {
            Some(pb) => pb.suspend(write),
            None => write(),
        }
        self.flushed += self.pending.len() as u64;
        self.pending.clear();
        if self.pending.capacity() > 1 << 20 {
            self.pending.shrink_to(64 * 1024);
        }
    }

    fn activity(&self, what: &str) {
        if let Some(pb) = &self.spinner {
            pb.set_message(self.fit_spinner(what));
        }
    }

    /// The spinner's text, cut to fit on one line: its line is measured two columns narrower
    /// than the terminal (see [`SpinnerTerm`]), so a text that wrapped would be counted at one
    /// width and wrapped at another, and clearing it could leave a piece behind.
    fn fit_spinner(&self, what: &str) -> String {
        // The spinner, the elapsed time (`1h 59m`) and their spaces, and room for the echo.
        const AROUND: usize = 14;
        let room = self.width.unwrap_or(80).saturating_sub(AROUND).max(10);
        // Measured in display columns: a CJK character or an emoji takes two.
        console::truncate_str(what, room, "…").into_owned()
    }

    /// [`Self::activity`] for a message that costs something to build: built only when a
    /// spinner shows it.
    fn activity_with(&self, what: impl FnOnce() -> String) {
        if let Some(pb) = &self.spinner {
            pb.set_message(self.fit_spinner(&what()));
        }
    }

    /// Wrap `text` to the terminal width with `indent` before every line.
    /// Queue `text` with `indent` before every line, wrapped to the terminal width (if known).
    /// Written straight into the pending buffer: this runs for every message and command output.
    fn block(&mut self, indent: &str, text: &str, style: owo_colors::Style) {
        self.block_rows(indent, text, style, None);
    }

    /// [`Self::block`], each line wrapped to at most `max_rows` rows, the last one ending in
    /// `…`: a command output's tail is a few lines, and one 5,000-character line in it would
    /// otherwise fill the screen.
    fn block_rows(
        &mut self,
        indent: &str,
        text: &str,
        style: owo_colors::Style,
        max_rows: Option<usize>,
    ) {
        let text = safe(text);
        // Display columns; however narrow the terminal, a line keeps at least one of them.
        let avail = self
            .width
            .map(|w| w.saturating_sub(indent.chars().count()).max(1));
        for raw_line in text.lines() {
            match avail {
                Some(avail) if unicode_width::UnicodeWidthStr::width(raw_line) > avail => {
                    let pieces = wrap(raw_line, avail);
                    let cut = max_rows.filter(|&rows| pieces.len() > rows);
                    for (row, piece) in pieces.iter().enumerate() {
                        if cut == Some(row + 1) {
                            let shown = console::truncate_str(piece, avail.saturating_sub(1), "");
                            let _ = writeln!(
                                self.pending,
                                "{indent}{}",
                                format!("{shown}…").style(style)
                            );
                            break;
                        }
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
                    format!("thread {}", safe(thread_id)).style(s.dimmed)
                ));
            }
            ThreadEvent::TurnStarted {} => self.activity("thinking"),
            ThreadEvent::TurnCompleted { .. } | ThreadEvent::TurnFailed { .. } => {}
            ThreadEvent::ItemStarted { item } | ThreadEvent::ItemUpdated { item } => {
                self.render_item_started(item)
            }
            ThreadEvent::ItemCompleted { item } => self.render_item_completed(item),
            ThreadEvent::Error { message } => {
                let message = safe(message);
                if is_reconnect_message(&message) {
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
                    self.error_shown = Some((message.into_owned(), self.shown_so_far()));
                }
            }
            ThreadEvent::Unknown => {}
        }
    }

    /// A JSON string shown as a block: unescaped straight into the pending output, each line
    /// framed with `indent` and the tone's codes as its newline is met, so the text is copied
    /// once and never searched again. With `tail`, only the last lines stay, after a note of
    /// how many came before; lines beyond the tail are dropped as the block grows, so a huge
    /// output never sits in memory whole. Wrapping to a terminal's width takes the general path.
    /// `false` if an escape is not valid JSON: the caller takes back what was written.
    fn raw_block(
        &mut self,
        indent: &str,
        raw: RawStr<'_>,
        tone: Tone,
        tail: Option<usize>,
    ) -> bool {
        if self.width.is_some() {
            return self.with_unescaped(raw, |r, text| {
                r.text_block(indent, &String::from_utf8_lossy(text), tone, tail)
            });
        }
        let HumanRenderer {
            pending,
            codes,
            line_ends,
            line_break,
            ..
        } = self;
        let codes = match tone {
            Tone::Plain => &codes.plain,
            Tone::Dimmed => &codes.dimmed,
        };
        // Between two lines: the first one's colour end and newline, the second one's indent
        // and colour start, written with one copy (most lines of an output are short).
        line_break.clear();
        line_break.extend_from_slice(codes.suffix.as_bytes());
        line_break.push(b'\n');
        line_break.extend_from_slice(indent.as_bytes());
        line_break.extend_from_slice(codes.prefix.as_bytes());
        let opening = indent.len() + codes.prefix.len();
        let start = pending.len();
        // With a tail of n: where the last n + 1 lines in `pending` end, how many lines were
        // written, and how many of them are still in `pending`.
        line_ends.clear();
        let (mut lines, mut kept) = (0usize, 0usize);
        // A line ended at `end` (just after its newline).
        let mut line_ended = |pending: &mut Vec<u8>, end: usize, text_start: &mut usize| {
            lines += 1;
            kept += 1;
            let Some(n) = tail else { return };
            line_ends.push_back(end);
            if line_ends.len() > n + 1 {
                line_ends.pop_front();
            }
            if kept > n && pending.len() - start > TRIM_BLOCK_ABOVE {
                let cut = line_ends[0];
                pending.drain(start..cut);
                for end in line_ends.iter_mut() {
                    *end -= cut - start;
                }
                *text_start -= cut - start;
                kept = n;
            }
        };
        pending.extend_from_slice(indent.as_bytes());
        pending.extend_from_slice(codes.prefix.as_bytes());
        // Where the open line's text begins. (A `\r` is not shown as it is, so there is no CRLF
        // line end to take care of here: the text goes to the general path.)
        let mut text_start = pending.len();
        let valid = raw.unescape_into_with(pending, |pending| {
            pending.extend_from_slice(line_break);
            text_start = pending.len();
            line_ended(pending, text_start - opening, &mut text_start);
        });
        // No line after a final newline (or in an empty text): drop the one just opened.
        if pending.len() == text_start {
            pending.truncate(text_start - opening);
        } else {
            pending.extend_from_slice(codes.suffix.as_bytes());
            pending.push(b'\n');
            let end = pending.len();
            line_ended(pending, end, &mut text_start);
        }
        let Some(n) = tail.filter(|&n| lines > n) else {
            return valid;
        };
        // Only the last n lines stay; the note takes the place of the others.
        let cut = if kept > n {
            line_ends[line_ends.len() - 1 - n]
        } else {
            start
        };
        let note = self.skipped_note_bytes(lines - n);
        self.pending.splice(start..cut, note);
        valid
    }

    /// The general path: `text` (already unescaped) through [`Self::block`], which wraps to the
    /// terminal's width; with `tail`, only its last lines, after the note.
    fn text_block(&mut self, indent: &str, text: &str, tone: Tone, tail: Option<usize>) {
        let (from, skipped) = tail.map_or((0, 0), |n| tail_start(text.as_bytes(), n));
        self.skipped_note(skipped);
        let style = match tone {
            Tone::Plain => owo_colors::Style::new(),
            Tone::Dimmed => self.s.dimmed,
        };
        // Only a tail is cut to rows: -v asks for the whole output.
        let max_rows = tail.map(|_| OUTPUT_LINE_ROWS);
        self.block_rows(indent, &text[from..], style, max_rows);
    }

    /// `  … 12 earlier lines (-v shows them)`, before the tail of a command's output. Not "all":
    /// codex itself may have cut a long output short, and -v shows only what it kept.
    fn skipped_note(&mut self, skipped: usize) {
        if skipped > 0 {
            let note = self.skipped_note_bytes(skipped);
            self.pending.extend_from_slice(&note);
        }
    }

    fn skipped_note_bytes(&self, skipped: usize) -> Vec<u8> {
        let lines = if skipped == 1 { "line" } else { "lines" };
        let note = format!("… {skipped} earlier {lines} (-v shows them)");
        format!("  {}\n", note.style(self.s.dimmed)).into_bytes()
    }

    /// Unescape `raw` into the scratch buffer and hand it to `f` with the renderer; `false`
    /// (and `f` not called) if one of its escapes is not valid JSON.
    fn with_unescaped(&mut self, raw: RawStr<'_>, f: impl FnOnce(&mut Self, &[u8])) -> bool {
        let mut text = std::mem::take(&mut self.scratch);
        text.clear();
        let valid = raw.unescape_into_with(&mut text, |text| text.push(b'\n'));
        if valid {
            f(self, &text);
        }
        if text.capacity() > 1 << 20 {
            text = Vec::new();
        }
        self.scratch = text;
        valid
    }

    fn agent_message(&mut self, text: &str) {
        self.message_header();
        self.block("  ", text, owo_colors::Style::new());
    }

    fn agent_message_raw(&mut self, text: RawStr<'_>) -> bool {
        self.message_header();
        self.raw_block("  ", text, Tone::Plain, None)
    }

    /// `codex`, above each message.
    fn message_header(&mut self) {
        self.codes.magenta.wrap(&mut self.pending, b"codex");
        self.pending.push(b'\n');
    }

    fn command_started(&mut self, id: &[u8], command: &[u8]) {
        // item.updated repeats the item: show the command once.
        if !self.running.start(id) {
            return;
        }
        let shown = display_command_bytes(command);
        self.activity_with(|| format!("running: {}", String::from_utf8_lossy(&shown)));
        self.dollar_line(&shown);
    }

    /// `$ command`
    fn dollar_line(&mut self, shown: &[u8]) {
        let HotCodes { cyan, bold, .. } = &self.codes;
        cyan.wrap(&mut self.pending, b"$");
        self.pending.push(b' ');
        bold.wrap(&mut self.pending, shown);
        self.pending.push(b'\n');
    }

    fn command_completed(
        &mut self,
        id: &str,
        command: &str,
        output: &str,
        exit_code: Option<i64>,
        status: &str,
    ) {
        let failed = status == "failed";
        let output = Output::Text(output);
        self.command_completed_bytes(
            id.as_bytes(),
            || {
                Some(match safe(command) {
                    Cow::Borrowed(command) => Cow::Borrowed(command.as_bytes()),
                    Cow::Owned(command) => Cow::Owned(command.into_bytes()),
                })
            },
            output,
            exit_code,
            failed,
        );
    }

    /// `command` is only asked for if the start was not shown (`None`: not valid JSON).
    /// `false` if something to print was not valid JSON: nothing is changed but what was
    /// written, which the caller takes back.
    fn command_completed_bytes<'c>(
        &mut self,
        id: &[u8],
        command: impl FnOnce() -> Option<Cow<'c, [u8]>>,
        output: Output<'_>,
        exit_code: Option<i64>,
        failed: bool,
    ) -> bool {
        let took = self.running.elapsed(id);
        if took.is_none() {
            // codex sometimes reports a command only when it completes.
            let Some(command) = command() else {
                return false;
            };
            self.dollar_line(&display_command_bytes(&command));
        }
        let tail = (self.opts.verbose == 0).then_some(OUTPUT_TAIL_LINES);
        let shown = match output {
            Output::Raw(raw) => self.raw_block("  ", raw, Tone::Dimmed, tail),
            Output::Text(text) => {
                self.text_block("  ", text, Tone::Dimmed, tail);
                true
            }
        };
        if !shown {
            return false;
        }
        self.running.finish(id);
        // `  ✓ exit 0 in 12ms`, without fmt: this runs for every command.
        let ok = exit_code == Some(0) && !failed;
        let mut verdict = [0u8; 64];
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            let end = (at + bytes.len()).min(verdict.len());
            verdict[at..end].copy_from_slice(&bytes[..end - at]);
            at = end;
        };
        put(if ok {
            "✓ exit ".as_bytes()
        } else {
            "✗ exit ".as_bytes()
        });
        match exit_code {
            Some(code) => put(itoa(code, &mut [0; 20])),
            None => put(b"?"),
        }
        if let Some(took) = took {
            put(b" in ");
            match took.as_millis() {
                ms @ 0..1000 => {
                    put(itoa(ms as i64, &mut [0; 20]));
                    put(b"ms");
                }
                _ => put(fmt_duration(took).as_bytes()),
            }
        }
        self.pending.extend_from_slice(b"  ");
        let codes = if ok {
            &self.codes.green
        } else {
            &self.codes.red
        };
        codes.wrap(&mut self.pending, &verdict[..at]);
        self.pending.push(b'\n');
        self.activity("thinking");
        true
    }

    /// The hot item types (commands, messages, reasoning: most of a stream) rendered straight
    /// from the line's bytes: fields found in place, strings unescaped once into the output.
    /// `false`: not one of them, or shaped unexpectedly; use the typed event.
    fn render_hot_item(&mut self, line: &CodexLine<'_>) -> bool {
        // Where `"item":{` starts in codex's layout: after `{"type":"<event type>",`.
        let (started, item_at) = match line.kind() {
            LineKind::ItemStarted | LineKind::ItemUpdated => {
                (true, r#"{"type":"item.started","#.len())
            }
            LineKind::ItemCompleted => (false, r#"{"type":"item.completed","#.len()),
            _ => return false,
        };
        let Some(item) = rawjson::hot_item(line.raw(), item_at) else {
            return false;
        };
        if memchr::memchr(b'\\', item.id.0).is_some() {
            // Ids are plain in practice; an escaped one is compared unescaped, by the slow path.
            return false;
        }
        let id = item.id.0;
        // A printed string whose escapes turn out not to be valid JSON takes back what was
        // written for this item, and the line goes to serde (which refuses it).
        let mark = self.pending.len();
        let shown = match (item.kind.0, started) {
            (b"command_execution", true) => {
                self.with_unescaped(item.command, |r, command| r.command_started(id, command))
            }
            (b"command_execution", false) => {
                let failed = item.status.0 == b"failed";
                let command = || {
                    let mut text = Vec::with_capacity(item.command.0.len());
                    item.command
                        .unescape_into_with(&mut text, |t| t.push(b'\n'))
                        .then_some(Cow::Owned(text))
                };
                let output = Output::Raw(item.aggregated_output);
                self.command_completed_bytes(id, command, output, item.exit_code, failed)
            }
            (b"agent_message", false) => self.agent_message_raw(item.text),
            (b"reasoning", false) => self.raw_block("  ", item.text, Tone::Dimmed, None),
            (b"file_change", false) => {
                let Some(changes) = rawjson::file_changes(item.changes) else {
                    return false;
                };
                let texts: Vec<(String, String)> = changes
                    .iter()
                    .map(|c| (c.kind.to_text(), c.path.to_text()))
                    .collect();
                let failed = item.status.0 == b"failed";
                self.file_changes(texts.iter().map(|(k, p)| (k.as_str(), p.as_str())), failed);
                true
            }
            _ => return false,
        };
        if !shown {
            self.pending.truncate(mark);
        }
        shown
    }

    /// `add    src/new.rs`, one line per file, and a mark if the patch failed.
    fn file_changes<'c>(
        &mut self,
        changes: impl Iterator<Item = (&'c str, &'c str)>,
        failed: bool,
    ) {
        let s = self.s;
        for (kind, path) in changes {
            let style = match kind {
                "add" => s.green,
                "delete" => s.red,
                _ => s.yellow,
            };
            let kind = if kind.is_empty() { "update" } else { kind };
            let line = format!(
                "{} {}",
                format!("{:<6}", safe(kind)).style(style),
                safe(path)
            );
            self.line(&line);
        }
        if failed {
            self.line(&format!("  {}", "✗ patch failed".style(s.red)));
        }
        self.activity("thinking");
    }

    fn render_item_started(&mut self, item: &ThreadItem) {
        match &item.details {
            ItemDetails::CommandExecution { command, .. } => {
                self.command_started(item.id.as_bytes(), safe(command).as_bytes())
            }
            ItemDetails::McpToolCall { server, tool, .. } => {
                self.activity(&format!("calling {}.{}", safe(server), safe(tool)));
            }
            ItemDetails::WebSearch { query } => {
                self.activity(&format!("searching: {}", safe(query)))
            }
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
            ItemDetails::FileChange { changes, status } => self.file_changes(
                changes.iter().map(|c| (c.kind.as_str(), c.path.as_str())),
                status == "failed",
            ),
            ItemDetails::McpToolCall {
                server,
                tool,
                status,
                error,
                ..
            } => {
                let style = if status == "failed" { s.red } else { s.green };
                let mut text = format!(
                    "{} {}.{} {}",
                    "⚙".style(s.cyan),
                    safe(server),
                    safe(tool),
                    safe(status).style(style)
                );
                if let Some(err) = error {
                    text.push_str(&format!(": {}", safe(&err.message).style(s.red)));
                }
                self.line(&text);
                self.activity("thinking");
            }
            ItemDetails::WebSearch { query } => {
                self.line(&format!("{} {}", "web search:".style(s.cyan), safe(query)));
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
                    self.line(&format!("  {mark} {}", safe(&todo.text).style(style)));
                }
            }
            ItemDetails::Error { message } => {
                self.line(&format!("{} {}", "warning:".style(s.yellow), safe(message)));
            }
            ItemDetails::Unknown => {
                self.line(&format!(
                    "{}",
                    "(an item of a type this version does not know)".style(s.dimmed)
                ));
            }
        }
    }

    fn summary(&self, outcome: &Outcome, report: &Report) -> String {
        let s = self.s;
        let (mark, style) = match outcome.status {
            TurnStatus::Completed => ("✓", s.green),
            _ => ("✗", s.red),
        };
        let mut text = format!(
            "{} {} in {}",
            mark.style(style),
            // `timed_out` is a JSON value; people read "timed out".
            outcome.status.as_str().replace('_', " ").style(style),
            fmt_duration(outcome.duration)
        );
        match (&report.turn_usage, &outcome.usage) {
            (Some(turn), _) => {
                text.push_str(
                    &format!(" · {}", fmt_usage(turn))
                        .style(s.dimmed)
                        .to_string(),
                );
            }
            (None, Some(total)) => text.push_str(
                &format!(" · {} (thread total)", fmt_usage(total))
                    .style(s.dimmed)
                    .to_string(),
            ),
            (None, None) => {}
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
                let message = safe(message);
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
                            self.activity_with(|| {
                                format!("running: {}", safe(&display_command(command)))
                            });
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
                let ty = safe(&ty);
                self.line(&format!("{}", format!("event {ty}").style(self.s.dimmed)));
            }
            _ => {
                if self.render_hot_item(line) {
                    return Ok(());
                }
                // Other items starting only change the spinner's message: with no spinner
                // there is nothing to parse them for.
                let starting = matches!(line.kind(), LineKind::ItemStarted | LineKind::ItemUpdated);
                if starting
                    && self.spinner.is_none()
                    && line.item_type().is_some_and(|t| t != b"command_execution")
                {
                    return Ok(());
                }
                if let Some(ev) = line.event() {
                    self.render_event(ev);
                }
            }
        }
        Ok(())
    }

    fn client_event(&mut self, event: &ClientEvent) -> io::Result<()> {
        let s = self.s;
        if let ClientEvent::RetryScheduled {
            next_attempt,
            delay_ms,
            ..
        } = event
        {
            // The spinner would go on saying "thinking" while the run only waits.
            self.activity_with(|| {
                format!(
                    "waiting to retry: attempt {next_attempt} in {}",
                    fmt_duration(Duration::from_millis(*delay_ms))
                )
            });
        }
        if let ClientEvent::AttemptStarted { attempt, .. } = event
            && *attempt > 1
        {
            self.activity_with(|| format!("attempt {attempt}: starting codex"));
        }
        match event {
            ClientEvent::Warning { message } if !self.opts.quiet => {
                self.line(&format!("{} {}", "warning:".style(s.yellow), safe(message)));
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
                    "{} attempt {next_attempt} in {} ({how}): {}",
                    "retry:".style(s.yellow),
                    fmt_duration(Duration::from_millis(*delay_ms)),
                    safe(reason)
                ));
            }
            _ if self.opts.verbose > 0 => {
                // serde_json escapes C0 controls but writes C1 ones (U+0080..U+009F) as they are.
                let json = serde_json::to_string(event).unwrap_or_default();
                self.line(&format!("{}", safe(&json).style(s.dimmed)));
            }
            _ => {}
        }
        self.flush_lines();
        Ok(())
    }

    fn batch_end(&mut self, _batch: &[u8]) -> io::Result<()> {
        self.running.batch_done();
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
        let error = report.error_override.as_ref().or(outcome.error.as_ref());
        // `live` showed codex's error event as the last thing before the end: the summary
        // line under it says the turn failed, and the same text again would only be noise.
        let just_shown = match (&self.error_shown, error) {
            (Some((shown, at)), Some(error)) => *at == self.shown_so_far() && *shown == safe(error),
            _ => false,
        };
        if self.opts.live || self.opts.verbose > 0 {
            self.line(&self.summary(outcome, report));
        }
        let s = self.s;
        for detail in &report.details {
            self.line(&format!("  {}", safe(detail)));
        }
        self.flush_lines();
        if report.exit_code == 0 {
            let answer = match &report.json_answer {
                Some(json) if report.compact => Some(json.get().to_string()),
                Some(json) => Some(crate::jsontext::reformat(json.get(), true)),
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
        } else if let Some(error) = error.filter(|_| !just_shown) {
            let label = match outcome.status {
                TurnStatus::TimedOut => "timed out",
                TurnStatus::Interrupted => "interrupted",
                TurnStatus::Incomplete => "incomplete",
                _ => "error",
            };
            self.line(&format!(
                "{} {}",
                format!("spawncodex: {label}:").style(s.red),
                safe(error)
            ));
        }
        self.flush_lines();
        Ok(())
    }

    fn spinner(&self) -> Option<indicatif::ProgressBar> {
        self.spinner.clone()
    }

    fn note(&mut self, text: &str) {
        if !self.opts.quiet {
            self.line(text);
            self.flush_lines();
        }
    }
}

/// stderr for the spinner, drawn two columns narrower than the terminal. indicatif pads its
/// line to the full width and leaves the cursor in the last column; the `^C` a terminal echoes
/// for Ctrl-C then wrapped onto a new line, and clearing the spinner cleared only that line, so
/// the spinner's text stayed on the screen above the error.
#[derive(Debug)]
struct SpinnerTerm(console::Term);

impl indicatif::TermLike for SpinnerTerm {
    fn width(&self) -> u16 {
        self.0.size().1.saturating_sub(2).max(1)
    }

    fn height(&self) -> u16 {
        self.0.size().0
    }

    fn move_cursor_up(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_up(n)
    }

    fn move_cursor_down(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_down(n)
    }

    fn move_cursor_right(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_right(n)
    }

    fn move_cursor_left(&self, n: usize) -> io::Result<()> {
        self.0.move_cursor_left(n)
    }

    fn write_line(&self, s: &str) -> io::Result<()> {
        self.0.write_line(s)
    }

    fn write_str(&self, s: &str) -> io::Result<()> {
        self.0.write_str(s)
    }

    fn clear_line(&self) -> io::Result<()> {
        self.0.clear_line()
    }

    fn flush(&self) -> io::Result<()> {
        self.0.flush()
    }
}

fn make_spinner(color: bool) -> ProgressBar {
    let pb = ProgressBar::with_draw_target(None, ProgressDrawTarget::hidden());
    let template = if color {
        "{spinner:.cyan} {elapsed:.dim} {msg}"
    } else {
        "{spinner} {elapsed} {msg}"
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
            let stderr = SpinnerTerm(console::Term::stderr());
            shown.set_draw_target(ProgressDrawTarget::term_like_with_hz(Box::new(stderr), 20));
        }
    });
    pb
}

/// `/bin/bash -lc 'echo hi'` → `echo hi`: what the model asked for, not codex's wrapper.
pub fn display_command(command: &str) -> String {
    String::from_utf8_lossy(&display_command_bytes(command.as_bytes())).into_owned()
}

/// [`display_command`] on bytes, for the hot path. Only ASCII is cut or replaced, so valid
/// UTF-8 stays valid. The script is unquoted only when it is one shell word, as codex writes
/// it; anything else (`'a' && 'b'`) is shown as it is.
fn display_command_bytes(command: &[u8]) -> Cow<'_, [u8]> {
    for prefix in [
        &b"/bin/bash -lc "[..],
        b"bash -lc ",
        b"/bin/sh -c ",
        b"/bin/zsh -lc ",
    ] {
        if let Some(rest) = command.strip_prefix(prefix) {
            // The common cases need no copy: `'script'` with no `'` inside, and `"script"`
            // with nothing double quotes give a meaning to (codex writes the latter when the
            // script has a `'`).
            if let Some(inner) = quoted_by(rest, b'\'')
                && memchr::memchr(b'\'', inner).is_none()
            {
                return Cow::Borrowed(inner);
            }
            if let Some(inner) = quoted_by(rest, b'"')
                && !inner
                    .iter()
                    .any(|b| matches!(b, b'"' | b'\\' | b'$' | b'`'))
            {
                return Cow::Borrowed(inner);
            }
            return match one_shell_word(rest) {
                Some(word) => Cow::Owned(word),
                None => Cow::Borrowed(rest),
            };
        }
    }
    Cow::Borrowed(command)
}

/// What is between a leading and a trailing `quote`.
fn quoted_by(word: &[u8], quote: u8) -> Option<&[u8]> {
    (word.len() >= 2 && word[0] == quote && word[word.len() - 1] == quote)
        .then(|| &word[1..word.len() - 1])
}

/// The value of `text` read as exactly one shell word made of quoted parts (`'...'`, `"..."`,
/// `\x`) and plain characters, as quoting tools write a script: `'a'\''b'`, `'a'"'"'b'`,
/// `"echo 'x'"`. `None` if it is not one word: an unquoted blank or operator, an expansion, or
/// an unclosed quote.
fn one_shell_word(text: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\'' => {
                let close = i + 1 + memchr::memchr(b'\'', &text[i + 1..])?;
                out.extend_from_slice(&text[i + 1..close]);
                i = close + 1;
            }
            b'"' => {
                i += 1;
                loop {
                    match *text.get(i)? {
                        b'"' => break,
                        b'\\' => match text.get(i + 1) {
                            Some(&next @ (b'$' | b'`' | b'"' | b'\\')) => {
                                out.push(next);
                                i += 1;
                            }
                            Some(b'\n') => i += 1,
                            _ => out.push(b'\\'),
                        },
                        // An expansion inside double quotes is not a literal.
                        b'$' | b'`' => return None,
                        b => out.push(b),
                    }
                    i += 1;
                }
                i += 1;
            }
            b'\\' => {
                out.push(*text.get(i + 1)?);
                i += 2;
            }
            b' ' | b'\t' | b'\n' | b';' | b'&' | b'|' | b'<' | b'>' | b'(' | b')' | b'$' | b'`' => {
                return None;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    Some(out)
}

/// A decimal integer written into `buf`, without `fmt`.
fn itoa(n: i64, buf: &mut [u8; 20]) -> &[u8] {
    let mut at = buf.len();
    let mut rest = n.unsigned_abs();
    loop {
        at -= 1;
        buf[at] = b'0' + (rest % 10) as u8;
        rest /= 10;
        if rest == 0 {
            break;
        }
    }
    if n < 0 {
        at -= 1;
        buf[at] = b'-';
    }
    &buf[at..]
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

/// Where the last `n` lines of `text` begin (as `str::lines` splits it) and how many lines
/// come before them.
fn tail_start(text: &[u8], n: usize) -> (usize, usize) {
    if text.is_empty() {
        return (0, 0);
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut newline = body.len();
    for _ in 0..n {
        match memchr::memrchr(b'\n', &body[..newline]) {
            Some(at) => newline = at,
            None => return (0, 0),
        }
    }
    let before = memchr::memchr_iter(b'\n', &body[..newline]).count() + 1;
    ((newline + 1).min(text.len()), before)
}

/// A block with a tail drops the lines beyond it once it holds this much.
const TRIM_BLOCK_ABOVE: usize = 256 * 1024;

/// Cut `line` into pieces of at most `width` display columns (a CJK character or an emoji takes
/// two), at spaces where it can; a word longer than a line is cut where it must be.
fn wrap(line: &str, width: usize) -> Vec<String> {
    use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};
    let width = width.max(1);
    if line.width() <= width {
        return vec![line.to_string()];
    }
    let mut out = Vec::new();
    let mut current = String::new();
    let mut used = 0;
    for word in line.split(' ') {
        let word_width = word.width();
        if used > 0 && used + 1 + word_width > width {
            out.push(std::mem::take(&mut current));
            used = 0;
        }
        if word_width > width {
            for ch in word.chars() {
                let ch_width = ch.width().unwrap_or(0);
                // Every piece takes at least one character, so a character wider than the
                // line still moves on.
                if used > 0 && used + ch_width > width {
                    out.push(std::mem::take(&mut current));
                    used = 0;
                }
                current.push(ch);
                used += ch_width;
            }
            continue;
        }
        if used > 0 {
            current.push(' ');
            used += 1;
        }
        current.push_str(word);
        used += word_width;
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
        // Double quotes, as codex writes a script that has single quotes in it.
        assert_eq!(
            display_command(r#"/bin/bash -lc "echo 'single'""#),
            "echo 'single'"
        );
        assert_eq!(
            display_command(r#"/bin/bash -lc "printf \"\\033]0;t\\007\" \$HOME \`x\` \q""#),
            r#"printf "\033]0;t\007" $HOME `x` \q"#
        );
        // The other way to write a quote inside single quotes, and parts run together.
        assert_eq!(
            display_command(r#"/bin/bash -lc 'printf '"'"'%s'"'"' x'"#),
            "printf '%s' x"
        );
        assert_eq!(
            display_command(r#"/bin/bash -lc 'for f in *; do printf '"'\\033[1m%s'"' "$f"; done'"#),
            r#"for f in *; do printf '\033[1m%s' "$f"; done"#
        );
        assert_eq!(display_command(r"/bin/bash -lc 'it'\''s'"), "it's");
        // An expansion outside quotes, or an unclosed quote: shown as it is.
        assert_eq!(display_command("/bin/bash -lc 'a'$HOME"), "'a'$HOME");
        assert_eq!(display_command("/bin/bash -lc 'a"), "'a");
        // Not one quoted word: shown as it is.
        assert_eq!(display_command("/bin/bash -lc 'a' && 'b'"), "'a' && 'b'");
        assert_eq!(display_command(r#"/bin/bash -lc "a" "b""#), r#""a" "b""#);
        assert_eq!(display_command("/bin/bash -lc '"), "'");
    }

    #[test]
    fn tails_split_like_str_lines() {
        for text in [
            "",
            "a",
            "a\n",
            "a\nb",
            "a\r\nb\r\n",
            "\n",
            "\n\n",
            "a\n\nb\n",
            "x\n\n",
        ] {
            let all: Vec<&str> = text.lines().collect();
            for n in 0..=all.len() + 1 {
                let (from, skipped) = tail_start(text.as_bytes(), n);
                if all.len() > n {
                    assert_eq!(skipped, all.len() - n, "{text:?} {n}");
                    assert_eq!(
                        text[from..].lines().collect::<Vec<_>>(),
                        all[all.len() - n..]
                    );
                } else {
                    assert_eq!((from, skipped), (0, 0), "{text:?} {n}");
                }
            }
        }
    }

    #[test]
    fn one_pass_blocks_match_the_general_path() {
        let many: String = (1..=30).map(|i| format!("line {i}\r\n")).collect();
        // Long enough to be trimmed on the way (over TRIM_BLOCK_ABOVE).
        let huge: String = (1..=60_000).map(|i| format!("line {i}\n")).collect();
        for color in [false, true] {
            for text in [
                "",
                "one",
                "a\nb\n",
                "a\r\n\r\nb\r",
                "\n",
                "x\n\n",
                "é 😀\t\"q\"",
                // Control characters: the one-pass path declines them, and the general path
                // shows them made safe.
                "a\x1b[2Jb\x1b]0;title\x07\n",
                "x\u{85}y\u{8}\n",
                "del \u{7f} here\n",
                &many,
                &huge,
            ] {
                let json = serde_json::to_string(text).unwrap();
                let raw = RawStr(&json.as_bytes()[1..json.len() - 1]);
                for tail in [None, Some(20), Some(1)] {
                    let render = |one_pass| {
                        let mut r = HumanRenderer::new(HumanOptions {
                            color,
                            ..HumanOptions::default()
                        });
                        r.width = None;
                        r.pending.extend_from_slice(b"before\n");
                        // As render_hot_item does: what the one-pass path declines is taken
                        // back, and the general path shows the text serde read.
                        if !(one_pass && r.raw_block("  ", raw, Tone::Dimmed, tail)) {
                            r.pending.truncate(b"before\n".len());
                            r.text_block("  ", text, Tone::Dimmed, tail);
                        }
                        String::from_utf8(r.pending).unwrap()
                    };
                    let shown = render(true);
                    assert_eq!(shown, render(false), "{text:?} {tail:?} {color}");
                    let obeyed = ["\x1b[2J", "\x1b]", "\u{85}", "\r", "\x08", "\x07", "\x7f"];
                    assert!(!obeyed.iter().any(|c| shown.contains(c)), "{shown:?}");
                }
            }
        }
    }

    #[test]
    fn a_long_output_never_sits_in_memory_whole() {
        // 2 million short lines, shown as the last 20: the block is trimmed as it grows.
        let raw = "x\\n".repeat(2_000_000);
        let mut r = HumanRenderer::new(HumanOptions::default());
        r.width = None;
        r.raw_block("  ", RawStr(raw.as_bytes()), Tone::Dimmed, Some(20));
        let shown = String::from_utf8(r.pending.clone()).unwrap();
        assert!(
            shown.starts_with("  … 1999980 earlier lines"),
            "{}",
            &shown[..60]
        );
        assert_eq!(shown.lines().count(), 21);
        assert!(r.pending.capacity() < 1 << 20, "{}", r.pending.capacity());
    }

    #[test]
    fn lines_serde_refuses_show_nothing() {
        let lines: [&[u8]; 5] = [
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning","text":"x\ud800y"}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"agent_message","text":"a\qb"}}"#,
            b"{\"type\":\"item.completed\",\"item\":{\"id\":\"a\",\"type\":\"reasoning\",\"text\":\"\x1b[2J\"}}",
            br#"{"type":"item.completed","item":{"id":"c","type":"command_execution","command":"ls","aggregated_output":"x\q","exit_code":0,"status":"completed"}}"#,
            br#"{"type":"item.started","item":{"id":"c","type":"command_execution","command":"l\s","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
        ];
        for width in [None, Some(80)] {
            for raw in lines {
                let mut r = HumanRenderer::new(HumanOptions {
                    live: true,
                    ..HumanOptions::default()
                });
                r.width = width;
                r.codex_line(&CodexLine::new(raw)).unwrap();
                assert!(
                    r.pending.is_empty(),
                    "{}: {:?}",
                    String::from_utf8_lossy(raw),
                    String::from_utf8_lossy(&r.pending)
                );
            }
        }
    }

    #[test]
    fn the_spinner_text_fits_in_display_columns() {
        let mut r = HumanRenderer::new(HumanOptions::default());
        r.width = Some(40);
        // 40 columns less the spinner's 14: 26 for the text.
        assert_eq!(r.fit_spinner("cargo test"), "cargo test");
        for text in ["a".repeat(60), "漢字".repeat(20), "😀x".repeat(20)] {
            let cut = r.fit_spinner(&text);
            assert!(cut.ends_with('…'), "{cut}");
            assert!(console::measure_text_width(&cut) <= 26, "{cut}");
            assert!(console::measure_text_width(&cut) >= 24, "{cut}");
        }
    }

    #[test]
    fn wraps_long_lines() {
        assert_eq!(wrap("aaa bbb ccc", 7), vec!["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        // In display columns: each of these characters takes two.
        assert_eq!(
            wrap("日本語のテキスト", 6),
            vec!["日本語", "のテキ", "スト"]
        );
        assert_eq!(wrap("漢字 漢字 漢字", 9), vec!["漢字 漢字", "漢字"]);
        // A character wider than the line still gets a line of its own.
        assert_eq!(wrap("日本", 1), vec!["日", "本"]);
    }

    #[test]
    fn one_long_line_of_output_does_not_fill_the_screen() {
        let mut r = HumanRenderer::new(HumanOptions::default());
        r.width = Some(30);
        let output = format!("short\n{}\nlast\n", "x".repeat(5000));
        r.text_block("  ", &output, Tone::Plain, Some(OUTPUT_TAIL_LINES));
        let shown = String::from_utf8(r.pending).unwrap();
        let lines: Vec<&str> = shown.lines().collect();
        assert_eq!(lines.len(), 1 + OUTPUT_LINE_ROWS + 1, "{shown}");
        assert!(
            lines.iter().all(|l| console::measure_text_width(l) <= 30),
            "{shown}"
        );
        assert!(lines[OUTPUT_LINE_ROWS].ends_with("x…"), "{shown}");
        assert_eq!(lines.last(), Some(&"  last"));
        // -v (no tail) shows the line whole.
        let mut r = HumanRenderer::new(HumanOptions::default());
        r.width = Some(30);
        r.text_block("  ", &output, Tone::Plain, None);
        let rows = String::from_utf8(r.pending).unwrap().lines().count();
        assert!(rows > 150, "{rows}");
    }

    #[test]
    fn a_narrow_terminal_gets_lines_that_fit_it() {
        let mut r = HumanRenderer::new(HumanOptions::default());
        r.width = Some(20);
        r.block("  ", &"a".repeat(40), owo_colors::Style::new());
        let shown = String::from_utf8(r.pending).unwrap();
        assert!(shown.lines().all(|l| l.len() <= 20), "{shown}");
        assert_eq!(shown.lines().count(), 3, "{shown}");
    }
}
