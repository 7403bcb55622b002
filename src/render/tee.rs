//! `--events-file FILE`: a complete raw log of the run (every codex event verbatim, every
//! client event, the result), appended as JSON Lines whatever the display mode.

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::Path;

use serde_json::value::RawValue;

use super::{OutputFailure, Renderer, Report, result_json};
use crate::client::{ClientEvent, CodexLine, Observer, Outcome};

pub struct Tee {
    inner: Box<dyn Renderer>,
    log: BufWriter<File>,
}

impl Tee {
    pub fn open(inner: Box<dyn Renderer>, path: &Path) -> io::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(Tee {
            inner,
            log: BufWriter::with_capacity(64 * 1024, file),
        })
    }

    fn log_value<T: serde::Serialize + ?Sized>(&mut self, value: &T) {
        // The log must never break the run: its errors are dropped.
        let _ = serde_json::to_writer(&mut self.log, value);
        let _ = self.log.write_all(b"\n");
        let _ = self.log.flush();
    }
}

impl Observer for Tee {
    fn codex_line(&mut self, line: &CodexLine<'_>) -> io::Result<()> {
        if line.kind().is_event() {
            let _ = self.log.write_all(line.raw());
            let _ = self.log.write_all(b"\n");
        }
        self.inner.codex_line(line)
    }

    fn client_event(&mut self, event: &ClientEvent) -> io::Result<()> {
        self.log_value(event);
        self.inner.client_event(event)
    }

    fn batch_end(&mut self, batch: &[u8]) -> io::Result<()> {
        let _ = self.log.flush();
        self.inner.batch_end(batch)
    }

    fn output_closed(&mut self) -> bool {
        self.inner.output_closed()
    }
}

impl Renderer for Tee {
    fn finish(&mut self, outcome: &Outcome, report: &Report) -> io::Result<()> {
        // The log's result line comes after stdout's answer, so that it says how the run
        // really ended: a lost answer is not a completed turn there either.
        let finished = self.inner.finish(outcome, report);
        let failure = finished
            .as_ref()
            .err()
            .and_then(|e| OutputFailure::of(e, outcome));
        let mut line = result_json(outcome, report);
        if let Some(failure) = &failure {
            line.exit_code = failure.code;
            line.status = failure.status;
            line.error = Some(&failure.why);
        }
        self.log_value(&line);
        finished
    }

    fn extra_json(&mut self, line: &RawValue) -> io::Result<()> {
        self.log_value(line);
        self.inner.extra_json(line)
    }

    fn note(&mut self, text: &str) {
        self.inner.note(text)
    }

    fn spinner(&self) -> Option<indicatif::ProgressBar> {
        self.inner.spinner()
    }
}
