//! What we remember about a named session.

use serde::{Deserialize, Serialize};

use crate::client::{ExecRequest, Sandbox, TurnStatus, Usage};

/// Turns kept per session unless configured otherwise.
pub const DEFAULT_HISTORY: usize = 20;
const PROMPT_PREVIEW: usize = 180;
const ANSWER_PREVIEW: usize = 220;

/// The turn options a session was started with, re-applied on resume.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SessionOptions {
    pub model: Option<String>,
    pub sandbox: Option<Sandbox>,
    pub profile: Option<String>,
    pub config: Vec<String>,
    pub add_dirs: Vec<String>,
    pub reasoning_effort: Option<String>,
    pub skip_git_repo_check: bool,
}

impl SessionOptions {
    pub fn from_request(req: &ExecRequest) -> Self {
        SessionOptions {
            model: req.model.clone(),
            sandbox: req.sandbox,
            profile: req.profile.clone(),
            config: req.config.clone(),
            add_dirs: req
                .add_dirs
                .iter()
                .map(|d| d.to_string_lossy().into_owned())
                .collect(),
            reasoning_effort: req.reasoning_effort.clone(),
            skip_git_repo_check: req.skip_git_repo_check,
        }
    }
}

/// One turn in a session's history.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TurnRecord {
    /// Unix seconds when the turn ended.
    pub at: u64,
    /// run, resume, live or schema-run.
    pub operation: String,
    pub prompt_preview: String,
    pub status: TurnStatus,
    pub exit_code: u8,
    pub duration_ms: u64,
    /// The usage of this turn alone (codex reports cumulative figures; this is the difference).
    pub usage: Option<Usage>,
    pub answer_preview: Option<String>,
    #[serde(default = "one")]
    pub attempts: u32,
    #[serde(default)]
    pub error: Option<String>,
}

fn one() -> u32 {
    1
}

/// Everything we know about one named session.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionRecord {
    pub name: String,
    pub thread_id: String,
    /// Unix seconds.
    pub created_at: u64,
    pub updated_at: u64,
    /// `updated_at` in Unix milliseconds: which of two sessions changed in the same second came
    /// last (`resume --last`, `sessions list`). Absent from records written before it existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_ms: Option<u64>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub options: SessionOptions,
    pub last_status: Option<TurnStatus>,
    #[serde(default)]
    pub turns: u64,
    #[serde(default)]
    pub succeeded: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub total_usage: Usage,
    /// The thread's cumulative usage at the last turn, to turn the next reading into a delta.
    #[serde(default)]
    pub last_cumulative_usage: Option<Usage>,
    #[serde(default)]
    pub history: Vec<TurnRecord>,
    /// Where the record came from when it was imported (e.g. `python-sdk-v2`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imported_from: Option<String>,
}

impl SessionRecord {
    pub fn new(name: &str, thread_id: &str, cwd: Option<String>, options: SessionOptions) -> Self {
        let now_ms = now_millis();
        let now = now_ms / 1000;
        SessionRecord {
            name: name.to_string(),
            thread_id: thread_id.to_string(),
            created_at: now,
            updated_at: now,
            updated_ms: Some(now_ms),
            cwd,
            options,
            last_status: None,
            turns: 0,
            succeeded: 0,
            failed: 0,
            total_usage: Usage::default(),
            last_cumulative_usage: None,
            history: Vec::new(),
            imported_from: None,
        }
    }

    /// The last turn recorded ended otherwise after all (its answer could not be written to
    /// stdout): its status, exit code and error are corrected, and the counters with them.
    pub fn amend_last_turn(&mut self, status: TurnStatus, exit_code: u8, error: &str) {
        let Some(last) = self.history.last_mut() else {
            return;
        };
        let was_success = last.status == TurnStatus::Completed && last.exit_code == 0;
        let is_success = status == TurnStatus::Completed && exit_code == 0;
        if was_success && !is_success {
            self.succeeded = self.succeeded.saturating_sub(1);
            self.failed += 1;
        }
        last.status = status;
        last.exit_code = exit_code;
        last.error = Some(preview(error, ANSWER_PREVIEW));
        self.last_status = Some(status);
    }

    /// Record a finished turn: counters, per-turn usage delta, bounded history.
    pub fn record_turn(&mut self, turn: TurnInput<'_>, max_history: usize) {
        if turn.thread_id.is_some_and(|id| id != self.thread_id) {
            // A new thread (e.g. a retry that started over) counts its usage from zero.
            self.last_cumulative_usage = None;
        }
        let delta = turn
            .cumulative_usage
            .map(|now| match &self.last_cumulative_usage {
                Some(before) => now.saturating_sub(before),
                None => now,
            });
        if let Some(now) = turn.cumulative_usage {
            self.last_cumulative_usage = Some(now);
        }
        if let Some(d) = &delta {
            self.total_usage = self.total_usage.add(d);
        }
        self.turns += 1;
        if turn.status == TurnStatus::Completed && turn.exit_code == 0 {
            self.succeeded += 1;
        } else {
            self.failed += 1;
        }
        self.last_status = Some(turn.status);
        let now_ms = now_millis();
        self.updated_at = now_ms / 1000;
        self.updated_ms = Some(now_ms);
        if let Some(id) = turn.thread_id {
            self.thread_id = id.to_string();
        }
        self.history.push(TurnRecord {
            at: self.updated_at,
            operation: turn.operation.to_string(),
            prompt_preview: preview(turn.prompt, PROMPT_PREVIEW),
            status: turn.status,
            exit_code: turn.exit_code,
            duration_ms: turn.duration_ms,
            usage: delta,
            answer_preview: turn.answer.map(|a| preview(a, ANSWER_PREVIEW)),
            attempts: turn.attempts,
            error: turn.error.map(|e| preview(e, ANSWER_PREVIEW)),
        });
        let max = max_history.max(1);
        if self.history.len() > max {
            let cut = self.history.len() - max;
            self.history.drain(..cut);
        }
    }
}

/// A session without its turn history: what `sessions list` shows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SessionSummary {
    pub name: String,
    pub thread_id: String,
    pub created_at: u64,
    pub updated_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_ms: Option<u64>,
    pub cwd: Option<String>,
    #[serde(default)]
    pub options: SessionOptions,
    pub last_status: Option<TurnStatus>,
    #[serde(default)]
    pub turns: u64,
    #[serde(default)]
    pub succeeded: u64,
    #[serde(default)]
    pub failed: u64,
    #[serde(default)]
    pub total_usage: Usage,
}

/// The facts of one finished turn, as [`SessionRecord::record_turn`] needs them.
pub struct TurnInput<'a> {
    pub operation: &'a str,
    pub prompt: &'a str,
    pub status: TurnStatus,
    pub exit_code: u8,
    pub duration_ms: u64,
    pub cumulative_usage: Option<Usage>,
    pub answer: Option<&'a str>,
    pub error: Option<&'a str>,
    pub attempts: u32,
    pub thread_id: Option<&'a str>,
}

/// `text` cut to `max` characters, with `...` when cut.
pub fn preview(text: &str, max: usize) -> String {
    let text = text.trim();
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(3)).collect();
    out.push_str("...");
    out
}

/// When a session was last changed, in milliseconds, for ordering: `updated_ms` when it agrees
/// with `updated_at` (a program that knows only `updated_at` may have changed that alone).
pub fn last_change_ms(updated_at: u64, updated_ms: Option<u64>) -> u64 {
    updated_ms
        .filter(|ms| ms / 1000 == updated_at)
        .unwrap_or(updated_at.saturating_mul(1000))
}

pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Session names: 1–64 of `[A-Za-z0-9._-]`, not starting with `.` or `-`.
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-');
    if name.is_empty() {
        return Err("a session name cannot be empty".into());
    }
    if name.len() > 64 {
        return Err(format!(
            "session name is {} characters long; the limit is 64",
            name.chars().count()
        ));
    }
    if !ok_chars || name.starts_with('.') || name.starts_with('-') {
        return Err(format!(
            "invalid session name {name:?}: use 1-64 of A-Z a-z 0-9 . _ -, not starting with . or -"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_change_is_ordered_to_the_millisecond() {
        assert_eq!(
            last_change_ms(1_700_000_000, Some(1_700_000_000_250)),
            1_700_000_000_250
        );
        // Records from before the field, and an updated_at changed without it.
        assert_eq!(last_change_ms(1_700_000_000, None), 1_700_000_000_000);
        assert_eq!(
            last_change_ms(1_700_000_001, Some(1_700_000_000_250)),
            1_700_000_001_000
        );
        let mut first = SessionRecord::new("a", "t", None, SessionOptions::default());
        std::thread::sleep(std::time::Duration::from_millis(5));
        let second = SessionRecord::new("b", "t", None, SessionOptions::default());
        first.updated_at = second.updated_at;
        first.updated_ms = second.updated_ms.map(|ms| ms - 3);
        let mut records = vec![first, second];
        crate::store::sort_newest_first(&mut records);
        assert_eq!(records[0].name, "b");
    }

    fn turn(usage: Usage) -> TurnInput<'static> {
        TurnInput {
            operation: "resume",
            prompt: "p",
            status: TurnStatus::Completed,
            exit_code: 0,
            duration_ms: 5,
            cumulative_usage: Some(usage),
            answer: Some("a"),
            error: None,
            attempts: 1,
            thread_id: None,
        }
    }

    #[test]
    fn history_is_bounded_and_usage_is_a_delta() {
        let mut rec = SessionRecord::new("a", "t", None, SessionOptions::default());
        let u = |n: u64| Usage {
            input_tokens: 120 * n,
            cached_input_tokens: 20 * n,
            cache_write_input_tokens: 3 * n,
            output_tokens: 30 * n,
            reasoning_output_tokens: 5 * n,
        };
        for n in 1..=5 {
            rec.record_turn(turn(u(n)), 3);
        }
        assert_eq!(rec.history.len(), 3);
        assert_eq!(rec.turns, 5);
        assert!(rec.history.iter().all(|t| t.usage == Some(u(1))));
        assert_eq!(rec.total_usage, u(5));
    }

    #[test]
    fn names() {
        assert!(validate_name("fix-ci.2_x").is_ok());
        for bad in ["", "../x", "-rf", ".hidden", "a b", "a/b"] {
            assert!(validate_name(bad).is_err(), "{bad}");
        }
        assert!(validate_name(&"a".repeat(64)).is_ok());
        assert!(validate_name(&"a".repeat(65)).is_err());
    }

    #[test]
    fn previews() {
        assert_eq!(preview("short", 10), "short");
        assert_eq!(preview("0123456789abc", 10), "0123456...");
    }
}
