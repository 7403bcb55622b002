//! Reading the Python seed SDK's session files (`JsonFileSessionStore`): its legacy
//! `{"name": "thread-id"}` map and its `schema_version: 2` records file.

use serde_json::Value;

use super::record::{SessionOptions, SessionRecord, TurnRecord, now_secs, validate_name};
use crate::client::{TurnStatus, is_thread_id};

/// What an import found: records to merge and names that could not be taken, with why.
#[derive(Debug, Default)]
pub struct Parsed {
    pub records: Vec<SessionRecord>,
    pub rejected: Vec<(String, String)>,
    pub format: &'static str,
}

/// Parse a seed session file. `Err` is one line saying why the file is not one.
pub fn parse_seed_file(bytes: &[u8]) -> Result<Parsed, String> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not valid JSON: {e}"))?;
    let Value::Object(top) = value else {
        return Err("expected a JSON object".into());
    };
    if let Some(version) = top.get("schema_version") {
        if version.as_u64() != Some(2) {
            return Err(format!(
                "unsupported schema_version {version} (only 2 is known)"
            ));
        }
        let Some(Value::Object(records)) = top.get("records") else {
            return Err("schema_version 2 file without a \"records\" object".into());
        };
        let mut out = Parsed {
            format: "python-sdk-v2",
            ..Parsed::default()
        };
        for (name, rec) in records {
            match v2_record(name, rec) {
                Ok(r) => out.records.push(r),
                Err(why) => out.rejected.push((name.clone(), why)),
            }
        }
        return Ok(out);
    }
    if top.values().all(Value::is_string) {
        let mut out = Parsed {
            format: "python-sdk-legacy",
            ..Parsed::default()
        };
        let now = now_secs();
        for (name, id) in &top {
            let id = id.as_str().unwrap_or_default();
            if let Err(why) = validate_name(name) {
                out.rejected.push((name.clone(), why));
                continue;
            }
            if !is_thread_id(id) {
                out.rejected.push((name.clone(), not_a_thread_id(id)));
                continue;
            }
            let mut r = SessionRecord::new(name, id, None, SessionOptions::default());
            // The map keeps no times. codex's thread ids are UUIDv7, which begin with the
            // thread's creation time: a better guess at when it was used than the import
            // (after which `resume --last` would pick whichever came last in the map).
            let ms = uuid7_millis(id).filter(|&ms| ms / 1000 <= now);
            r.updated_ms = ms;
            r.updated_at = ms.map_or(now, |ms| ms / 1000);
            r.created_at = r.updated_at;
            r.imported_from = Some(out.format.into());
            out.records.push(r);
        }
        return Ok(out);
    }
    Err("neither the Python SDK's legacy {\"name\": \"thread-id\"} map nor its schema_version 2 file".into())
}

/// A thread id goes to codex as a word of its command line: any other word would be read as an
/// option, or as a thread name that starts a new conversation (see [`is_thread_id`]).
fn not_a_thread_id(id: &str) -> String {
    format!("thread id {id:?} is not a codex thread id (a UUID)")
}

/// The creation time in a UUIDv7 (its first 48 bits, Unix milliseconds).
fn uuid7_millis(id: &str) -> Option<u64> {
    let b = id.as_bytes();
    if b.len() != 36 || b.get(14) != Some(&b'7') || b.get(8) != Some(&b'-') {
        return None;
    }
    let hex = format!("{}{}", id.get(..8)?, id.get(9..13)?);
    u64::from_str_radix(&hex, 16).ok()
}

fn secs(v: Option<&Value>) -> u64 {
    v.and_then(Value::as_f64)
        .map(|f| f.max(0.0) as u64)
        .unwrap_or_else(now_secs)
}

fn status(v: Option<&Value>) -> Option<TurnStatus> {
    match v.and_then(Value::as_str)? {
        "completed" => Some(TurnStatus::Completed),
        "failed" => Some(TurnStatus::Failed),
        "interrupted" => Some(TurnStatus::Interrupted),
        _ => Some(TurnStatus::Incomplete),
    }
}

fn v2_record(name: &str, rec: &Value) -> Result<SessionRecord, String> {
    validate_name(name)?;
    let id = rec
        .get("session_id")
        .and_then(Value::as_str)
        .ok_or("no session_id")?;
    if !is_thread_id(id) {
        return Err(not_a_thread_id(id));
    }
    let mut r = SessionRecord::new(name, id, None, SessionOptions::default());
    // A missing time is taken from the other one, and a session is never created after it
    // was last used.
    // (The Python SDK writes a missing time as null.)
    let time = |key: &str| rec.get(key).filter(|v| v.as_f64().is_some());
    let created = time("created_at").or(time("updated_at"));
    let updated = time("updated_at").or(time("created_at"));
    r.updated_at = secs(updated);
    r.updated_ms = updated
        .and_then(Value::as_f64)
        .map(|f| (f.max(0.0) * 1000.0) as u64)
        .filter(|ms| ms / 1000 == r.updated_at);
    r.created_at = secs(created).min(r.updated_at);
    r.last_status = status(rec.get("last_turn_status"));
    r.turns = rec.get("turn_count").and_then(Value::as_u64).unwrap_or(0);
    r.succeeded = rec
        .get("success_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    r.failed = rec
        .get("failure_count")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    r.imported_from = Some("python-sdk-v2".into());
    if let Some(Value::Array(turns)) = rec.get("turns") {
        for t in turns {
            let rc = t.get("return_code").and_then(Value::as_i64).unwrap_or(0);
            r.history.push(TurnRecord {
                at: secs(t.get("timestamp")),
                operation: t
                    .get("operation")
                    .and_then(Value::as_str)
                    .unwrap_or("run")
                    .to_string(),
                prompt_preview: t
                    .get("prompt_preview")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                status: status(t.get("turn_status")).unwrap_or(TurnStatus::Incomplete),
                exit_code: rc.clamp(0, 255) as u8,
                duration_ms: t
                    .get("duration_seconds")
                    .and_then(Value::as_f64)
                    .map(|s| (s * 1000.0) as u64)
                    .unwrap_or(0),
                usage: None,
                answer_preview: t
                    .get("message_preview")
                    .and_then(Value::as_str)
                    .map(str::to_string),
                attempts: 1,
                error: None,
            });
        }
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_map() {
        let p =
            parse_seed_file(br#"{"plan": "01a20a63-0000-7000-8000-0000000000a1", "../bad": "x"}"#)
                .unwrap();
        assert_eq!(p.records.len(), 1);
        assert_eq!(
            p.records[0].thread_id,
            "01a20a63-0000-7000-8000-0000000000a1"
        );
        assert_eq!(p.rejected.len(), 1);
        // No times in the map: the thread's own, from its UUIDv7.
        assert_eq!(p.records[0].updated_ms, Some(0x01a2_0a63_0000));
        assert_eq!(p.records[0].updated_at, 0x01a2_0a63_0000 / 1000);
        assert_eq!(p.records[0].created_at, p.records[0].updated_at);
        // Not a UUIDv7 (version 4 here): the time of the import.
        let p = parse_seed_file(br#"{"plan": "01a20a63-0000-4000-8000-0000000000a1"}"#).unwrap();
        assert!(p.records[0].updated_at >= now_secs() - 5);
    }

    #[test]
    fn a_missing_time_comes_from_the_other_one() {
        let p = parse_seed_file(
            br#"{"records":{"a":{"session_id":"01a20a63-0000-7000-8000-0000000000a1","updated_at":1700000000.5},"b":{"session_id":"01a20a63-0000-7000-8000-0000000000b1","created_at":1700000100,"updated_at":1700000000},"c":{"session_id":"01a20a63-0000-7000-8000-0000000000c1","created_at":1700000000,"updated_at":null}},"schema_version":2}"#,
        )
        .unwrap();
        let times: Vec<(u64, u64)> = p
            .records
            .iter()
            .map(|r| (r.created_at, r.updated_at))
            .collect();
        assert_eq!(times, [(1_700_000_000, 1_700_000_000); 3]);
    }

    #[test]
    fn v2_file() {
        let p = parse_seed_file(
            br#"{"records":{"plan":{"created_at":1795468191.62,"updated_at":1795468311.65,"failure_count":0,"success_count":5,"turn_count":5,"last_turn_status":"completed","session_id":"01a20a63-0000-7000-8000-0000000000a1","session_name":"plan","turns":[{"timestamp":1795468251.63,"operation":"resume","prompt_preview":"turn 1","return_code":0,"turn_status":"completed","duration_seconds":30.0,"message_preview":"hi there"}]}},"schema_version":2}"#,
        )
        .unwrap();
        let r = &p.records[0];
        assert_eq!(
            (r.name.as_str(), r.thread_id.as_str(), r.turns),
            ("plan", "01a20a63-0000-7000-8000-0000000000a1", 5)
        );
        assert_eq!(r.history[0].duration_ms, 30_000);
        assert!(parse_seed_file(b"[1]").is_err());
    }
}
