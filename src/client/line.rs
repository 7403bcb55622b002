//! The hot path: one codex stdout line, classified from its first bytes.
//!
//! Every event passes through here, so a line is never re-serialised and is only parsed in full
//! when someone needs the typed view ([`CodexLine::event`]). codex writes `{"type":"...` first
//! (serde's output order), which lets [`classify`] read the type without a JSON parser; a line
//! that does not start that way falls back to a real parse.

use std::cell::OnceCell;

use memchr::memmem;

use super::events::ThreadEvent;

/// The event type of a line, read cheaply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    ThreadStarted,
    TurnStarted,
    TurnCompleted,
    TurnFailed,
    ItemStarted,
    ItemUpdated,
    ItemCompleted,
    Error,
    /// A JSON object whose type this version does not know.
    Other,
    /// Empty or whitespace only.
    Blank,
    /// Not a JSON object with a string `type`.
    Malformed,
}

impl LineKind {
    /// Lines that are JSON events and so belong on a `--jsonl` stdout.
    pub fn is_event(self) -> bool {
        !matches!(self, LineKind::Blank | LineKind::Malformed)
    }
}

const TYPE_PREFIX: &[u8] = br#"{"type":""#;

/// Classify a line (without its trailing newline).
pub fn classify(line: &[u8]) -> LineKind {
    if line.iter().all(u8::is_ascii_whitespace) {
        return LineKind::Blank;
    }
    if let Some(rest) = line.strip_prefix(TYPE_PREFIX) {
        if line.last() == Some(&b'}')
            && let Some(end) = memchr::memchr(b'"', rest)
        {
            return kind_of(&rest[..end]);
        }
        return LineKind::Malformed;
    }
    // Not codex's usual shape: ask a real parser for the type.
    #[derive(serde::Deserialize)]
    struct TypeOnly<'a> {
        #[serde(borrow, rename = "type")]
        kind: std::borrow::Cow<'a, str>,
    }
    match serde_json::from_slice::<TypeOnly>(line) {
        Ok(t) => kind_of(t.kind.as_bytes()),
        Err(_) => LineKind::Malformed,
    }
}

fn kind_of(ty: &[u8]) -> LineKind {
    match ty {
        b"thread.started" => LineKind::ThreadStarted,
        b"turn.started" => LineKind::TurnStarted,
        b"turn.completed" => LineKind::TurnCompleted,
        b"turn.failed" => LineKind::TurnFailed,
        b"item.started" => LineKind::ItemStarted,
        b"item.updated" => LineKind::ItemUpdated,
        b"item.completed" => LineKind::ItemCompleted,
        b"error" => LineKind::Error,
        _ => LineKind::Other,
    }
}

/// Does this `item.*` line carry an item of the given type (e.g. `agent_message`)?
///
/// codex writes `"item":{"id":"item_N","type":"..."`, so the item's type sits in the first
/// bytes after `"item":`; we read it there without allocating, and fall back to a parse when the
/// line is shaped differently.
pub fn item_type_is(line: &[u8], wanted: &str) -> bool {
    if let Some(found) = item_type(line) {
        return found == wanted.as_bytes();
    }
    match ThreadEvent::parse(line) {
        Some(
            ThreadEvent::ItemStarted { item }
            | ThreadEvent::ItemUpdated { item }
            | ThreadEvent::ItemCompleted { item },
        ) => serde_json::to_value(&item.details)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(|t| t == wanted))
            .unwrap_or(false),
        _ => false,
    }
}

/// The item type of an `item.*` line, read without a parser when the line has codex's usual
/// layout. `None`: no item, or laid out differently (then parse the line).
pub fn item_type(line: &[u8]) -> Option<&[u8]> {
    exact_layout_item_type(line).or_else(|| item_type_fast(line))
}

/// `{"type":"item.completed","item":{"id":"item_1","type":"agent_message",...`: every offset is
/// known, so no search is needed at all.
fn exact_layout_item_type(line: &[u8]) -> Option<&[u8]> {
    let rest = line.strip_prefix(TYPE_PREFIX)?;
    let rest = &rest[memchr::memchr(b'"', rest)? + 1..];
    let rest = rest.strip_prefix(br#","item":{"id":""#)?;
    let rest = &rest[memchr::memchr(b'"', rest)? + 1..];
    let rest = rest.strip_prefix(br#","type":""#)?;
    Some(&rest[..memchr::memchr(b'"', rest)?])
}

/// The item type from codex's usual layout, if the line has it.
fn item_type_fast(line: &[u8]) -> Option<&[u8]> {
    const ITEM: &[u8] = br#""item":{"#;
    const TYPE: &[u8] = br#""type":""#;
    let at = memmem::find(line, ITEM)? + ITEM.len();
    let head = &line[at..line.len().min(at + 200)];
    let t = memmem::find(head, TYPE)? + TYPE.len();
    let end = memchr::memchr(b'"', &head[t..])?;
    Some(&head[t..t + end])
}

/// One line as codex wrote it, with its cheap classification and a typed view parsed on demand
/// (at most once).
pub struct CodexLine<'a> {
    raw: &'a [u8],
    kind: LineKind,
    parsed: OnceCell<Option<ThreadEvent>>,
}

impl<'a> CodexLine<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        CodexLine {
            raw,
            kind: classify(raw),
            parsed: OnceCell::new(),
        }
    }

    /// Classify with a full parse: for lines whose content decides the outcome (thread, turn end,
    /// errors) and for a last line cut short. A line that looks like an event but does not parse
    /// (codex died mid-write) becomes `Malformed`, so it is neither trusted nor passed on.
    pub fn new_checked(raw: &'a [u8], always: bool) -> Self {
        let mut line = CodexLine::new(raw);
        let decisive = matches!(
            line.kind,
            LineKind::ThreadStarted
                | LineKind::TurnCompleted
                | LineKind::TurnFailed
                | LineKind::Error
        );
        if line.kind.is_event() && (decisive || always) {
            let valid = if decisive {
                !matches!(line.event(), None | Some(ThreadEvent::Unknown))
            } else {
                serde_json::from_slice::<serde::de::IgnoredAny>(raw).is_ok()
            };
            if !valid {
                line.kind = LineKind::Malformed;
                line.parsed = OnceCell::new();
            }
        }
        line
    }

    /// The exact bytes codex wrote, without the newline.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    pub fn kind(&self) -> LineKind {
        self.kind
    }

    /// The typed event, parsed the first time it is asked for.
    pub fn event(&self) -> Option<&ThreadEvent> {
        self.parsed
            .get_or_init(|| {
                if self.kind.is_event() {
                    ThreadEvent::parse(self.raw)
                } else {
                    None
                }
            })
            .as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_codex_lines() {
        assert_eq!(
            classify(br#"{"type":"thread.started","thread_id":"x"}"#),
            LineKind::ThreadStarted
        );
        assert_eq!(
            classify(br#"{"type":"turn.completed","usage":{}}"#),
            LineKind::TurnCompleted
        );
        assert_eq!(classify(br#"{"type":"brand.new"}"#), LineKind::Other);
        assert_eq!(
            classify(br#"{ "x": 1, "type": "error", "message": "m" }"#),
            LineKind::Error
        );
        assert_eq!(classify(b""), LineKind::Blank);
        assert_eq!(classify(b"  \r"), LineKind::Blank);
        assert_eq!(classify(b"hello"), LineKind::Malformed);
        assert_eq!(classify(br#"{"type":"turn.started""#), LineKind::Malformed);
        assert_eq!(classify(br#"{"no_type":1}"#), LineKind::Malformed);
    }

    #[test]
    fn broken_decisive_lines_are_malformed() {
        let cut = br#"{"type":"turn.completed","usage":{"input_tokens":5}"#;
        assert_eq!(CodexLine::new(cut).kind(), LineKind::TurnCompleted);
        assert_eq!(
            CodexLine::new_checked(cut, false).kind(),
            LineKind::Malformed
        );
        let ok = br#"{"type":"turn.completed","usage":{"input_tokens":5}}"#;
        assert_eq!(
            CodexLine::new_checked(ok, false).kind(),
            LineKind::TurnCompleted
        );
        let item = br#"{"type":"item.completed","item":{"id":"i","type":"reasoning","text":"x"}"#;
        assert_eq!(
            CodexLine::new_checked(item, false).kind(),
            LineKind::ItemCompleted
        );
        assert_eq!(
            CodexLine::new_checked(item, true).kind(),
            LineKind::Malformed
        );
    }

    #[test]
    fn finds_item_type() {
        let msg = br#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"hi"}}"#;
        assert!(item_type_is(msg, "agent_message"));
        assert!(!item_type_is(msg, "reasoning"));
        let reordered = br#"{"type":"item.completed","item":{"text":"a \"type\":\"agent_message\"","id":"i","type":"reasoning"}}"#;
        assert!(!item_type_is(reordered, "agent_message"));
        assert!(item_type_is(reordered, "reasoning"));
    }
}
