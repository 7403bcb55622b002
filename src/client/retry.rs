//! Which failures are worth another attempt, and how long to wait before it.
//!
//! The delay follows the Python seed SDK's `RetryPolicy` exactly (its docs promise it):
//! `d = min(initial * multiplier^(n-1), max_backoff)`, then `d ± d*jitter` (uniform, floored at 0),
//! then capped by what is left of the total retry window. A hand-written loop drives it rather
//! than `backon`, because each retry changes the request (it resumes the thread codex reported) and
//! may take its delay from the server's own `try again in Ns` hint; see `CodexClient::run`.

use std::time::Duration;

use super::outcome::{Outcome, StopReason, TurnStatus};

/// How often and how patiently to retry transient failures.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryPolicy {
    /// Total attempts including the first; 1 = no retry (the default).
    pub max_attempts: u32,
    pub initial_backoff: Duration,
    pub multiplier: f64,
    pub max_backoff: Duration,
    /// 0.2 = each delay is moved by up to ±20 %.
    pub jitter: f64,
    /// No retry starts once this much time has passed since the first attempt began.
    pub max_total: Option<Duration>,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 1,
            initial_backoff: Duration::from_millis(500),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(8),
            jitter: 0.2,
            max_total: None,
        }
    }
}

impl RetryPolicy {
    /// The seed's normalisation: at least one attempt, multiplier ≥ 1, max ≥ initial,
    /// jitter ≥ 0, a zero window means none.
    pub fn normalized(mut self) -> Self {
        self.max_attempts = self.max_attempts.max(1);
        if self.multiplier.is_nan() || self.multiplier < 1.0 {
            self.multiplier = 1.0;
        }
        if self.max_backoff < self.initial_backoff {
            self.max_backoff = self.initial_backoff;
        }
        if self.jitter.is_nan() || self.jitter < 0.0 {
            self.jitter = 0.0;
        }
        if self.max_total == Some(Duration::ZERO) {
            self.max_total = None;
        }
        self
    }

    /// The delay after failed attempt `attempt` (1-based), given the time spent since the first
    /// attempt began and a uniform random number in [0, 1). `None`: no retry (attempts or
    /// window used up).
    pub fn delay_after(
        &self,
        attempt: u32,
        elapsed: Duration,
        unit_random: f64,
    ) -> Option<Duration> {
        if attempt >= self.max_attempts {
            return None;
        }
        if let Some(window) = self.max_total
            && elapsed >= window
        {
            return None;
        }
        let exp = self.multiplier.powi(attempt.saturating_sub(1) as i32);
        let mut d = (self.initial_backoff.as_secs_f64() * exp).min(self.max_backoff.as_secs_f64());
        if d > 0.0 && self.jitter > 0.0 {
            let spread = d * self.jitter;
            d = (d + (unit_random * 2.0 - 1.0) * spread).max(0.0);
        }
        let mut delay = Duration::from_secs_f64(d);
        if let Some(window) = self.max_total {
            delay = delay.min(window.saturating_sub(elapsed));
        }
        Some(delay)
    }
}

/// Whether a failed attempt is worth retrying.
#[derive(Clone, Debug, PartialEq)]
pub enum FailureClass {
    Transient {
        reason: String,
        /// The server's own wait hint (`try again in 20s`), if it gave one.
        retry_after: Option<Duration>,
    },
    Permanent,
}

/// Classify a finished attempt from its status, error text and stderr tail.
pub fn classify_failure(outcome: &Outcome) -> FailureClass {
    match outcome.stopped {
        Some(StopReason::IdleTimeout) => {
            return FailureClass::Transient {
                reason: "idle timeout: no event from codex".into(),
                retry_after: None,
            };
        }
        Some(StopReason::Lingered) | None => {}
        Some(_) => return FailureClass::Permanent,
    }
    if !matches!(outcome.status, TurnStatus::Failed | TurnStatus::Incomplete) {
        return FailureClass::Permanent;
    }
    // Only codex's own error message counts: its stderr carries timestamps, ids and tool logs
    // that can contain "429" or "timed out" by chance. (When codex fails before reporting a
    // thread, the error already is the last meaningful stderr line.)
    let error = outcome.error.as_deref().unwrap_or("");
    let text = error.to_ascii_lowercase();
    let retry_after = parse_retry_after(&text);
    let reason = if error.is_empty() {
        "codex failed".to_string()
    } else {
        error.to_string()
    };
    if text.contains("quota exceeded")
        || text.contains("insufficient_quota")
        || text.contains("usage limit")
    {
        // Billing and plan limits only pass with time, and only the server knows how long.
        return match retry_after {
            Some(_) => FailureClass::Transient {
                reason,
                retry_after,
            },
            None => FailureClass::Permanent,
        };
    }
    const TRANSIENT: &[&str] = &[
        "429",
        "too many requests",
        "rate limit",
        "exceeded retry limit",
        "high demand",
        "internal server error",
        "bad gateway",
        "service unavailable",
        "gateway timeout",
        "status 500",
        "status 502",
        "status 503",
        "status 504",
        "503 service",
        "502 bad",
        "500 internal",
        "stream disconnected",
        "connection failed",
        "connection refused",
        "connection reset",
        "connection error",
        "error sending request",
        "network error",
        "idle timeout",
        "timed out",
        "overloaded",
    ];
    if TRANSIENT.iter().any(|needle| text.contains(needle)) {
        FailureClass::Transient {
            reason,
            retry_after,
        }
    } else {
        FailureClass::Permanent
    }
}

/// Find a wait hint such as `try again in 20s`, `try again in 1.5 seconds`, `retry after 250ms`,
/// `retry-after: 3` or `try again in 6m0s` in (lowercase) error text.
pub fn parse_retry_after(text: &str) -> Option<Duration> {
    const CUES: &[&str] = &[
        "try again in",
        "retry after",
        "retry-after:",
        "retry-after",
        "retry in",
    ];
    for cue in CUES {
        let mut from = 0;
        while let Some(pos) = text[from..].find(cue) {
            let rest = &text[from + pos + cue.len()..];
            if let Some(d) = parse_duration_words(rest) {
                return Some(d);
            }
            from += pos + cue.len();
        }
    }
    None
}

fn parse_duration_words(s: &str) -> Option<Duration> {
    let mut rest = s.trim_start();
    let mut total = 0.0f64;
    let mut any = false;
    loop {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            break;
        }
        let Ok(value) = rest[..num_len].parse::<f64>() else {
            break;
        };
        rest = &rest[num_len..];
        let after_space = rest.trim_start();
        let unit_len = after_space
            .find(|c: char| !c.is_ascii_alphabetic())
            .unwrap_or(after_space.len());
        let unit = &after_space[..unit_len];
        let scale = match unit {
            "ms" | "millisecond" | "milliseconds" => 0.001,
            "s" | "sec" | "secs" | "second" | "seconds" | "" => 1.0,
            "m" | "min" | "mins" | "minute" | "minutes" => 60.0,
            "h" | "hour" | "hours" => 3600.0,
            _ => break,
        };
        total += value * scale;
        any = true;
        rest = &after_space[unit_len..];
        if unit.is_empty() {
            break;
        }
    }
    any.then(|| Duration::from_secs_f64(total.min(24.0 * 3600.0)))
}

/// A small random source for jitter: no crate needed for one number per retry.
pub fn unit_random() -> f64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() >> 11) as f64 / (1u64 << 53) as f64
}

/// A span for a message: `0.25s`, `8s`, `1.5s`, `90s`. Short spans keep their hundredths, so
/// a window of 0.01 s does not read as `0.0s`.
pub(crate) fn seconds(d: Duration) -> String {
    let secs = d.as_secs_f64();
    let text = if secs < 1.0 {
        format!("{secs:.2}")
    } else {
        format!("{secs:.1}")
    };
    // `8.0` reads better as `8`; `0.50` as `0.5`.
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.')
    } else {
        &text
    };
    format!("{text}s")
}

#[cfg(test)]
mod tests {
    #[test]
    fn spans_read_as_seconds() {
        use std::time::Duration;
        let s = |ms| super::seconds(Duration::from_millis(ms));
        assert_eq!(s(10), "0.01s");
        assert_eq!(s(0), "0s");
        assert_eq!(s(200), "0.2s");
        assert_eq!(s(8000), "8s");
        assert_eq!(s(1500), "1.5s");
        assert_eq!(s(90_000), "90s");
    }

    use super::*;

    fn failed(msg: &str) -> Outcome {
        let mut o = Outcome::empty();
        o.status = TurnStatus::Failed;
        o.error = Some(msg.into());
        o
    }

    #[test]
    fn seed_formula() {
        let p = RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(500),
            jitter: 0.0,
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.delay_after(1, Duration::ZERO, 0.5),
            Some(Duration::from_millis(500))
        );
        assert_eq!(
            p.delay_after(2, Duration::ZERO, 0.5),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            p.delay_after(4, Duration::ZERO, 0.5),
            Some(Duration::from_secs(4))
        );
        assert_eq!(p.delay_after(5, Duration::ZERO, 0.5), None);
        let capped = RetryPolicy {
            max_attempts: 10,
            ..p.clone()
        };
        assert_eq!(
            capped.delay_after(8, Duration::ZERO, 0.5),
            Some(Duration::from_secs(8))
        );
        // The seed's pinned case: 0.5 s with jitter 0.2 and uniform = +0.05 s → 0.55 s.
        let j = RetryPolicy {
            jitter: 0.2,
            ..p.clone()
        };
        let d = j.delay_after(1, Duration::ZERO, 0.75).unwrap_or_default();
        assert!((d.as_secs_f64() - 0.55).abs() < 1e-9, "{d:?}");
        let w = RetryPolicy {
            max_total: Some(Duration::from_secs(2)),
            ..p
        };
        assert_eq!(
            w.delay_after(3, Duration::from_millis(1500), 0.5),
            Some(Duration::from_millis(500))
        );
        assert_eq!(w.delay_after(1, Duration::from_secs(2), 0.5), None);
    }

    #[test]
    fn classifies_failures() {
        assert!(matches!(
            classify_failure(&failed(
                "exceeded retry limit, last status: 429 Too Many Requests"
            )),
            FailureClass::Transient { .. }
        ));
        assert!(matches!(
            classify_failure(&failed(
                "We’re currently experiencing high demand, which may cause temporary errors."
            )),
            FailureClass::Transient { .. }
        ));
        assert!(matches!(
            classify_failure(&failed(
                "stream disconnected before completion: stream closed before response.completed"
            )),
            FailureClass::Transient { .. }
        ));
        assert_eq!(
            classify_failure(&failed(
                "Quota exceeded. Check your plan and billing details."
            )),
            FailureClass::Permanent
        );
        assert_eq!(
            classify_failure(&failed("The model does not exist")),
            FailureClass::Permanent
        );
        assert_eq!(
            classify_failure(&failed("You've hit your usage limit. Try again in 20s.")),
            FailureClass::Transient {
                reason: "You've hit your usage limit. Try again in 20s.".into(),
                retry_after: Some(Duration::from_secs(20))
            }
        );
        let mut ok = failed("429");
        ok.status = TurnStatus::Completed;
        assert_eq!(classify_failure(&ok), FailureClass::Permanent);
        let mut interrupted = failed("429");
        interrupted.stopped = Some(StopReason::Interrupt);
        assert_eq!(classify_failure(&interrupted), FailureClass::Permanent);
        let mut noisy = failed("The model does not exist");
        noisy.stderr_tail = "2026-11-23T21:11:16.429583Z WARN timed out".into();
        assert_eq!(classify_failure(&noisy), FailureClass::Permanent);
    }

    #[test]
    fn retry_after_hints() {
        assert_eq!(
            parse_retry_after("please try again in 1.5 seconds."),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(
            parse_retry_after("retry after 250ms"),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            parse_retry_after("try again in 6m0s"),
            Some(Duration::from_secs(360))
        );
        assert_eq!(
            parse_retry_after("retry-after: 3"),
            Some(Duration::from_secs(3))
        );
        assert_eq!(parse_retry_after("try again later"), None);
    }
}
