//! `--jsonl`: stdout carries codex's lines byte for byte, our `spawncodex.*` lines, and one
//! `spawncodex.result` line at the end. Written in batches (everything one read from codex's
//! pipe brought) at the end of each batch, so a reader sees each line as soon as codex wrote it
//! without one write call per line. codex's lines are written straight from the read buffer: a
//! batch of well-formed lines is one `write`, and the stream is never copied.

use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::ops::Range;
use std::os::fd::FromRawFd;

use serde_json::value::RawValue;

use super::{Renderer, Report, result_json};
use crate::client::{ClientEvent, CodexLine, LineInterest, Observer, Outcome};

/// Our stdout as a plain file: `std::io::Stdout` is line-buffered and would make one `write`
/// per event.
pub struct RawStdout(ManuallyDrop<File>);

impl RawStdout {
    pub fn new() -> Self {
        // SAFETY: fd 1 is open for the life of the process; ManuallyDrop keeps us from closing it.
        RawStdout(ManuallyDrop::new(unsafe { File::from_raw_fd(1) }))
    }
}

impl Default for RawStdout {
    fn default() -> Self {
        RawStdout::new()
    }
}

impl Write for RawStdout {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

pub struct JsonlRenderer<W: Write> {
    out: W,
    /// What the current batch will write, in order.
    pending: Vec<Piece>,
    /// How far into the current batch `pending` reaches; the lines after it that we were not
    /// handed are ordinary events, passed through as they are.
    cursor: usize,
    /// Our own lines, and codex lines that had to be copied, for the pieces that point here.
    own: Vec<u8>,
}

/// A run of output bytes: codex's lines straight from the batch, or bytes from `own`.
enum Piece {
    Batch(Range<usize>),
    Own(Range<usize>),
}

impl JsonlRenderer<RawStdout> {
    pub fn stdout() -> Self {
        JsonlRenderer::new(RawStdout::new())
    }
}

impl<W: Write> JsonlRenderer<W> {
    pub fn new(out: W) -> Self {
        JsonlRenderer {
            out,
            pending: Vec::new(),
            cursor: 0,
            own: Vec::with_capacity(4096),
        }
    }

    /// Pass through the batch's bytes from the cursor up to `end`.
    fn pass_through(&mut self, end: usize) {
        if end <= self.cursor {
            return;
        }
        match self.pending.last_mut() {
            Some(Piece::Batch(run)) if run.end == self.cursor => run.end = end,
            _ => self.pending.push(Piece::Batch(self.cursor..end)),
        }
        self.cursor = end;
    }

    /// A codex line that cannot be written from the batch: copied, with a newline.
    fn copy_line(&mut self, raw: &[u8]) {
        let start = self.own.len();
        self.own.extend_from_slice(raw);
        self.own.push(b'\n');
        self.extend_own(start);
    }

    /// `own[start..]` was just appended.
    fn extend_own(&mut self, start: usize) {
        let end = self.own.len();
        match self.pending.last_mut() {
            Some(Piece::Own(run)) if run.end == start => run.end = end,
            _ => self.pending.push(Piece::Own(start..end)),
        }
    }

    fn write_value<T: serde::Serialize + ?Sized>(&mut self, value: &T) -> io::Result<()> {
        let start = self.own.len();
        serde_json::to_writer(&mut self.own, value).map_err(io::Error::from)?;
        self.own.push(b'\n');
        self.extend_own(start);
        // Inside a batch our line waits for the codex lines before it; outside, it goes now.
        if self.cursor > 0 || self.pending.iter().any(|p| matches!(p, Piece::Batch(_))) {
            Ok(())
        } else {
            self.write_pending(&[])
        }
    }

    /// Write every pending piece, in order, and start afresh.
    fn write_pending(&mut self, batch: &[u8]) -> io::Result<()> {
        let mut result = Ok(());
        for piece in &self.pending {
            let bytes = match piece {
                Piece::Batch(run) => batch.get(run.clone()),
                Piece::Own(run) => self.own.get(run.clone()),
            };
            result = match bytes {
                Some(bytes) => self.out.write_all(bytes),
                None => Err(io::Error::other("internal error: a line outside its batch")),
            };
            if result.is_err() {
                break;
            }
        }
        self.pending.clear();
        self.cursor = 0;
        self.own.clear();
        if self.own.capacity() > OWN_KEEP {
            self.own.shrink_to(OWN_KEEP);
        }
        result.and_then(|()| self.out.flush())
    }
}

/// `own` is shrunk back to this after a batch that needed more (a huge line copied).
const OWN_KEEP: usize = 64 * 1024;

impl<W: Write> Observer for JsonlRenderer<W> {
    fn line_interest(&self) -> LineInterest {
        LineInterest::Notable
    }

    fn codex_line(&mut self, line: &CodexLine<'_>) -> io::Result<()> {
        let Some(span) = line.batch_span() else {
            // Not in the batch (a last line cut short): copied, if it is an event at all.
            if line.kind().is_event() {
                self.copy_line(line.raw());
            }
            return Ok(());
        };
        // The lines before this one were ordinary events.
        self.pass_through(span.start);
        if line.kind().is_event() {
            if span.len() == line.raw().len() + 1 {
                self.pass_through(span.end);
            } else {
                // `\r\n`: written with a plain newline, as codex's other lines are.
                self.copy_line(line.raw());
            }
        }
        self.cursor = span.end;
        Ok(())
    }

    fn client_event(&mut self, event: &ClientEvent) -> io::Result<()> {
        self.write_value(event)
    }

    fn batch_end(&mut self, batch: &[u8]) -> io::Result<()> {
        self.pass_through(batch.len());
        self.write_pending(batch)
    }

    fn output_closed(&mut self) -> bool {
        stdout_reader_gone()
    }
}

/// Is fd 1 a pipe whose reader has gone? (`poll` reports POLLERR on such a write end.)
fn stdout_reader_gone() -> bool {
    let mut fds = libc::pollfd {
        fd: 1,
        events: 0,
        revents: 0,
    };
    // SAFETY: one valid pollfd, zero timeout.
    let n = unsafe { libc::poll(&mut fds, 1, 0) };
    n > 0 && fds.revents & (libc::POLLERR | libc::POLLHUP) != 0
}

impl<W: Write> Renderer for JsonlRenderer<W> {
    fn finish(&mut self, outcome: &Outcome, report: &Report) -> io::Result<()> {
        self.write_value(&result_json(outcome, report))
    }

    fn extra_json(&mut self, line: &RawValue) -> io::Result<()> {
        self.write_value(line)
    }
}
