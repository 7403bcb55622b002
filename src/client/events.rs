//! A typed model of what `codex exec --json` prints, one event per line.
//!
//! Forward compatible by construction: every line is kept as the raw bytes codex wrote
//! ([`crate::client::line::CodexLine`]), and the typed view below ignores unknown fields and maps
//! unknown event or item types to `Unknown` instead of failing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One top-level event of the JSONL stream.
///
/// Deserialised through a flat wire struct (`WireEvent`) rather than serde's internally tagged
/// enum support, which buffers every event into an intermediate tree first: that buffering was
/// most of the cost of `live` on a busy stream.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type")]
pub enum ThreadEvent {
    #[serde(rename = "thread.started")]
    ThreadStarted { thread_id: String },
    #[serde(rename = "turn.started")]
    TurnStarted {},
    #[serde(rename = "turn.completed")]
    TurnCompleted {
        #[serde(default)]
        usage: Usage,
    },
    #[serde(rename = "turn.failed")]
    TurnFailed { error: ErrorInfo },
    #[serde(rename = "item.started")]
    ItemStarted { item: ThreadItem },
    #[serde(rename = "item.updated")]
    ItemUpdated { item: ThreadItem },
    #[serde(rename = "item.completed")]
    ItemCompleted { item: ThreadItem },
    /// A stream-level error. `Reconnecting... n/N` ones are progress, not failure.
    #[serde(rename = "error")]
    Error { message: String },
    /// An event type this version does not know; the raw line still carries it.
    #[serde(other)]
    Unknown,
}

/// Token usage as codex reports it in `turn.completed`. It is the thread's **cumulative**
/// total, not the turn's own.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Usage {
    pub input_tokens: u64,
    pub cached_input_tokens: u64,
    /// Input tokens written to the provider's prompt cache (codex 0.169 reports it).
    pub cache_write_input_tokens: u64,
    pub output_tokens: u64,
    pub reasoning_output_tokens: u64,
}

impl Usage {
    /// `self - earlier`, field by field, never below zero: the usage of one turn from two
    /// cumulative readings.
    pub fn saturating_sub(&self, earlier: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens.saturating_sub(earlier.input_tokens),
            cached_input_tokens: self
                .cached_input_tokens
                .saturating_sub(earlier.cached_input_tokens),
            cache_write_input_tokens: self
                .cache_write_input_tokens
                .saturating_sub(earlier.cache_write_input_tokens),
            output_tokens: self.output_tokens.saturating_sub(earlier.output_tokens),
            reasoning_output_tokens: self
                .reasoning_output_tokens
                .saturating_sub(earlier.reasoning_output_tokens),
        }
    }

    /// Field-by-field sum.
    pub fn add(&self, other: &Usage) -> Usage {
        Usage {
            input_tokens: self.input_tokens + other.input_tokens,
            cached_input_tokens: self.cached_input_tokens + other.cached_input_tokens,
            cache_write_input_tokens: self.cache_write_input_tokens
                + other.cache_write_input_tokens,
            output_tokens: self.output_tokens + other.output_tokens,
            reasoning_output_tokens: self.reasoning_output_tokens + other.reasoning_output_tokens,
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    #[serde(default)]
    pub message: String,
}

/// One item of a turn: a message, a command, a patch...
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ThreadItem {
    #[serde(default)]
    pub id: String,
    #[serde(flatten)]
    pub details: ItemDetails,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ItemDetails {
    AgentMessage {
        #[serde(default)]
        text: String,
    },
    Reasoning {
        #[serde(default)]
        text: String,
    },
    CommandExecution {
        #[serde(default)]
        command: String,
        #[serde(default)]
        aggregated_output: String,
        #[serde(default)]
        exit_code: Option<i64>,
        #[serde(default)]
        status: String,
    },
    FileChange {
        #[serde(default)]
        changes: Vec<FileUpdate>,
        #[serde(default)]
        status: String,
    },
    McpToolCall {
        #[serde(default)]
        server: String,
        #[serde(default)]
        tool: String,
        #[serde(default)]
        arguments: Value,
        #[serde(default)]
        result: Option<Value>,
        #[serde(default)]
        error: Option<ErrorInfo>,
        #[serde(default)]
        status: String,
    },
    WebSearch {
        #[serde(default)]
        query: String,
    },
    TodoList {
        #[serde(default)]
        items: Vec<TodoItem>,
    },
    Error {
        #[serde(default)]
        message: String,
    },
    #[serde(other)]
    Unknown,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileUpdate {
    pub path: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct TodoItem {
    #[serde(default)]
    pub text: String,
    #[serde(default)]
    pub completed: bool,
}

/// Every field any event may carry; unknown ones are ignored.
#[derive(Deserialize)]
struct WireEvent {
    #[serde(rename = "type")]
    kind: String,
    thread_id: Option<String>,
    usage: Option<Usage>,
    error: Option<ErrorInfo>,
    item: Option<WireItem>,
    message: Option<String>,
}

#[derive(Deserialize)]
struct WireItem {
    #[serde(default)]
    id: String,
    #[serde(rename = "type")]
    kind: String,
    text: Option<String>,
    command: Option<String>,
    aggregated_output: Option<String>,
    exit_code: Option<i64>,
    status: Option<String>,
    changes: Option<Vec<FileUpdate>>,
    server: Option<String>,
    tool: Option<String>,
    arguments: Option<Value>,
    result: Option<Value>,
    error: Option<ErrorInfo>,
    query: Option<String>,
    items: Option<Vec<TodoItem>>,
    message: Option<String>,
}

impl From<WireItem> for ThreadItem {
    fn from(w: WireItem) -> Self {
        let status = w.status.unwrap_or_default();
        let details = match w.kind.as_str() {
            "agent_message" => ItemDetails::AgentMessage {
                text: w.text.unwrap_or_default(),
            },
            "reasoning" => ItemDetails::Reasoning {
                text: w.text.unwrap_or_default(),
            },
            "command_execution" => ItemDetails::CommandExecution {
                command: w.command.unwrap_or_default(),
                aggregated_output: w.aggregated_output.unwrap_or_default(),
                exit_code: w.exit_code,
                status,
            },
            "file_change" => ItemDetails::FileChange {
                changes: w.changes.unwrap_or_default(),
                status,
            },
            "mcp_tool_call" => ItemDetails::McpToolCall {
                server: w.server.unwrap_or_default(),
                tool: w.tool.unwrap_or_default(),
                arguments: w.arguments.unwrap_or(Value::Null),
                result: w.result.filter(|v| !v.is_null()),
                error: w.error,
                status,
            },
            "web_search" => ItemDetails::WebSearch {
                query: w.query.unwrap_or_default(),
            },
            "todo_list" => ItemDetails::TodoList {
                items: w.items.unwrap_or_default(),
            },
            "error" => ItemDetails::Error {
                message: w.message.unwrap_or_default(),
            },
            _ => ItemDetails::Unknown,
        };
        ThreadItem { id: w.id, details }
    }
}

impl From<WireEvent> for ThreadEvent {
    fn from(mut w: WireEvent) -> Self {
        let kind = std::mem::take(&mut w.kind);
        match (kind.as_str(), w) {
            (
                "thread.started",
                WireEvent {
                    thread_id: Some(thread_id),
                    ..
                },
            ) => ThreadEvent::ThreadStarted { thread_id },
            ("turn.started", _) => ThreadEvent::TurnStarted {},
            ("turn.completed", w) => ThreadEvent::TurnCompleted {
                usage: w.usage.unwrap_or_default(),
            },
            ("turn.failed", w) => ThreadEvent::TurnFailed {
                error: w.error.unwrap_or_default(),
            },
            (
                "item.started",
                WireEvent {
                    item: Some(item), ..
                },
            ) => ThreadEvent::ItemStarted { item: item.into() },
            (
                "item.updated",
                WireEvent {
                    item: Some(item), ..
                },
            ) => ThreadEvent::ItemUpdated { item: item.into() },
            (
                "item.completed",
                WireEvent {
                    item: Some(item), ..
                },
            ) => ThreadEvent::ItemCompleted { item: item.into() },
            (
                "error",
                WireEvent {
                    message: Some(message),
                    ..
                },
            ) => ThreadEvent::Error { message },
            _ => ThreadEvent::Unknown,
        }
    }
}

impl<'de> Deserialize<'de> for ThreadEvent {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        WireEvent::deserialize(d).map(ThreadEvent::from)
    }
}

impl ThreadEvent {
    /// Parse one JSONL line. Returns `None` for a line that is not a JSON object with a
    /// string `type`.
    ///
    /// codex 0.169 writes the key `id` twice in `web_search` items, which serde's derive rejects
    /// as a duplicate field; such lines go through `serde_json::Value` (last key wins) instead.
    pub fn parse(line: &[u8]) -> Option<ThreadEvent> {
        match serde_json::from_slice::<ThreadEvent>(line) {
            Ok(ev) => Some(ev),
            Err(_) => {
                let value: Value = serde_json::from_slice(line).ok()?;
                value.get("type")?.as_str()?;
                serde_json::from_value(value)
                    .ok()
                    .or(Some(ThreadEvent::Unknown))
            }
        }
    }
}

/// Is this `error` message codex's own retry progress (`Reconnecting... 2/5 (...)`)?
pub fn is_reconnect_message(message: &str) -> bool {
    message.starts_with("Reconnecting...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_web_search_with_duplicate_id() {
        let line = br#"{"type":"item.started","item":{"id":"item_0","type":"web_search","id":"ws_mock_1","query":"rust tokio process","action":{"type":"search","query":"rust tokio process"}}}"#;
        let ev = ThreadEvent::parse(line);
        match ev {
            Some(ThreadEvent::ItemStarted { item }) => {
                assert_eq!(item.id, "ws_mock_1");
                assert_eq!(
                    item.details,
                    ItemDetails::WebSearch {
                        query: "rust tokio process".into()
                    }
                );
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn unknown_types_and_fields_are_not_errors() {
        assert_eq!(
            ThreadEvent::parse(br#"{"type":"turn.paused","x":1}"#),
            Some(ThreadEvent::Unknown)
        );
        let ev = ThreadEvent::parse(
            br#"{"type":"item.completed","item":{"id":"i","type":"collab_tool_call","new":true}}"#,
        );
        assert!(matches!(
            ev,
            Some(ThreadEvent::ItemCompleted {
                item: ThreadItem {
                    details: ItemDetails::Unknown,
                    ..
                }
            })
        ));
        let ev = ThreadEvent::parse(
            br#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"cache_write_input_tokens":0,"output_tokens":2,"reasoning_output_tokens":0,"future":9}}"#,
        );
        assert!(
            matches!(ev, Some(ThreadEvent::TurnCompleted { usage }) if usage.output_tokens == 2 && usage.cache_write_input_tokens == 0)
        );
        assert_eq!(ThreadEvent::parse(b"not json"), None);
        assert_eq!(ThreadEvent::parse(b"[1,2]"), None);
    }

    #[test]
    fn usage_delta() {
        let a = Usage {
            input_tokens: 120,
            cached_input_tokens: 20,
            cache_write_input_tokens: 7,
            output_tokens: 30,
            reasoning_output_tokens: 5,
        };
        let b = Usage {
            input_tokens: 240,
            cached_input_tokens: 40,
            cache_write_input_tokens: 14,
            output_tokens: 60,
            reasoning_output_tokens: 10,
        };
        assert_eq!(b.saturating_sub(&a), a);
        assert_eq!(a.saturating_sub(&b), Usage::default());
    }
}
