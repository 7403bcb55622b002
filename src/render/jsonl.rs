//! `--jsonl`: stdout carries codex's lines byte for byte, our `spawncodex.*` lines, and one
//! `spawncodex.result` line at the end. Written in batches (everything one read from codex's
//! pipe brought) and flushed after each batch, so a reader sees each line as soon as codex wrote
//! it without one write call per line.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;

use serde_json::Value;

use super::{Renderer, Report, result_json};
use crate::client::{ClientEvent, CodexLine, Observer, Outcome};

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
    out: BufWriter<W>,
}

impl JsonlRenderer<RawStdout> {
    pub fn stdout() -> Self {
        JsonlRenderer::new(RawStdout::new())
    }
}

impl<W: Write> JsonlRenderer<W> {
    pub fn new(out: W) -> Self {
        JsonlRenderer {
            out: BufWriter::with_capacity(256 * 1024, out),
        }
    }

    fn write_value<T: serde::Serialize>(&mut self, value: &T) -> io::Result<()> {
        serde_json::to_writer(&mut self.out, value).map_err(io::Error::from)?;
        self.out.write_all(b"\n")?;
        self.out.flush()
    }
}

impl<W: Write> Observer for JsonlRenderer<W> {
    fn codex_line(&mut self, line: &CodexLine<'_>) -> io::Result<()> {
        if line.kind().is_event() {
            self.out.write_all(line.raw())?;
            self.out.write_all(b"\n")?;
        }
        Ok(())
    }

    fn client_event(&mut self, event: &ClientEvent) -> io::Result<()> {
        self.write_value(event)
    }

    fn batch_end(&mut self) -> io::Result<()> {
        self.out.flush()
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

    fn extra_json(&mut self, value: &Value) -> io::Result<()> {
        self.write_value(value)
    }
}
