//! The hot path: one codex stdout line, classified from its first bytes.
//!
//! Every event passes through here, so a line is never re-serialised and is only parsed in full
//! when someone needs the typed view ([`CodexLine::event`]). codex writes `{"type":"...` first
//! (serde's output order), which lets [`classify`] read the type without a JSON parser; a line
//! that does not start that way falls back to a real parse.

use std::cell::OnceCell;
use std::ops::Range;

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
#[inline]
pub fn classify(line: &[u8]) -> LineKind {
    if let Some(rest) = line.strip_prefix(TYPE_PREFIX) {
        // Trailing blanks are valid JSON (and stay in the line as codex wrote it).
        if line.trim_ascii_end().last() != Some(&b'}') {
            return LineKind::Malformed;
        }
        return kind_after_prefix(rest);
    }
    if line.iter().all(u8::is_ascii_whitespace) {
        return LineKind::Blank;
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

/// The known types with their closing quote, most frequent first: on the hot path a line is
/// classified by one or two prefix compares, without searching for the quote.
const KNOWN_TYPES: [(&[u8], LineKind); 8] = [
    (b"item.completed\"", LineKind::ItemCompleted),
    (b"item.started\"", LineKind::ItemStarted),
    (b"item.updated\"", LineKind::ItemUpdated),
    (b"turn.started\"", LineKind::TurnStarted),
    (b"turn.completed\"", LineKind::TurnCompleted),
    (b"thread.started\"", LineKind::ThreadStarted),
    (b"turn.failed\"", LineKind::TurnFailed),
    (b"error\"", LineKind::Error),
];

/// `rest` follows `{"type":"`.
fn kind_after_prefix(rest: &[u8]) -> LineKind {
    for (name, kind) in KNOWN_TYPES {
        if rest.starts_with(name) {
            return kind;
        }
    }
    match memchr::memchr(b'"', rest) {
        Some(end) => kind_of(&rest[..end]),
        None => LineKind::Malformed,
    }
}

fn kind_of(ty: &[u8]) -> LineKind {
    KNOWN_TYPES
        .iter()
        .find(|(name, _)| name.strip_suffix(b"\"") == Some(ty))
        .map_or(LineKind::Other, |(_, kind)| *kind)
}

/// Is this an `item.*` event in codex's usual layout that only a pass-through needs: an item
/// starting or updating, or completing unless it is an `agent_message` (which carries the
/// answer)? Such a line is an event for sure ([`classify`] agrees), decides nothing, and is
/// skipped for observers with [`LineInterest::Notable`]. Runs for every line, so it only
/// compares fixed prefixes; anything unusual answers `false` and takes the full path.
///
/// [`LineInterest::Notable`]: super::LineInterest::Notable
#[inline]
pub fn is_ordinary_item(line: &[u8]) -> bool {
    // Fixed positions compared eight bytes at a time: `{"type":` `"item.st` `started"`, ...
    let word = |at: usize| -> u64 {
        line.get(at..at + 8)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map_or(0, u64::from_le_bytes)
    };
    const fn w(s: &[u8; 8]) -> u64 {
        u64::from_le_bytes(*s)
    }
    if word(0) != w(br#"{"type":"#) || line.last() != Some(&b'}') {
        return false;
    }
    match word(8) {
        x if x == w(br#""item.st"#) => word(14) == w(br#"started""#),
        x if x == w(br#""item.up"#) => word(14) == w(br#"updated""#),
        x if x == w(br#""item.co"#) && word(16) == w(br#"mpleted""#) => {
            // A completed agent_message carries the answer: not ordinary.
            match line.get(24..).and_then(item_type_start) {
                Some(item_type) => !item_type.starts_with(b"agent_message\""),
                None => false,
            }
        }
        _ => false,
    }
}

fn parsed_item_type_is(line: &[u8], wanted: &str) -> bool {
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

/// `rest` follows the event type's closing quote; returns what follows the item type's opening
/// quote.
fn item_type_start(rest: &[u8]) -> Option<&[u8]> {
    let rest = rest.strip_prefix(br#","item":{"id":""#)?;
    let rest = &rest[short_find_quote(rest)? + 1..];
    rest.strip_prefix(br#","type":""#)
}

/// The next `"` in a field that is a few bytes long (an event or item type, an item id): eight
/// bytes at a time in a plain word, as memchr's set-up costs more than it saves on a dozen bytes,
/// and a byte loop's exit is a branch mispredicted on every line.
fn short_find_quote(s: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::from_le_bytes([0x01; 8]);
    const HIGHS: u64 = u64::from_le_bytes([0x80; 8]);
    const QUOTES: u64 = u64::from_le_bytes([b'"'; 8]);
    let mut at = 0;
    while let Some(chunk) = s.get(at..at + 8).and_then(|c| <[u8; 8]>::try_from(c).ok()) {
        // The bytes equal to `"` become zero; the lowest flagged byte is the first zero byte
        // (flags above it may be false, and are never looked at).
        let x = u64::from_le_bytes(chunk) ^ QUOTES;
        let found = x.wrapping_sub(ONES) & !x & HIGHS;
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    s[at..].iter().position(|&b| b == b'"').map(|i| at + i)
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
    /// Boxed: a line is moved around on the hot path, and an inline event would make every move
    /// a copy of a few hundred bytes.
    parsed: OnceCell<Option<Box<ThreadEvent>>>,
    batch_span: Option<Range<usize>>,
}

impl<'a> CodexLine<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        CodexLine {
            raw,
            kind: classify(raw),
            parsed: OnceCell::new(),
            batch_span: None,
        }
    }

    /// Where this line sits, line ending included, in the batch that [`Observer::batch_end`]
    /// receives (`None` outside a batch, e.g. a last line cut short). When the span is one byte
    /// longer than [`CodexLine::raw`], those bytes are the line and `\n`, and a pass-through
    /// renderer can write them straight from the read buffer instead of copying the line.
    ///
    /// [`Observer::batch_end`]: super::Observer::batch_end
    pub fn batch_span(&self) -> Option<Range<usize>> {
        self.batch_span.clone()
    }

    /// Classify with a full parse: for lines whose content decides the outcome (thread, turn end,
    /// errors) and for a last line cut short. A line that looks like an event but does not parse
    /// (codex died mid-write) becomes `Malformed`, so it is neither trusted nor passed on.
    pub fn new_checked(raw: &'a [u8], always: bool) -> Self {
        CodexLine::checked_in_batch(raw, None, always)
    }

    /// [`CodexLine::new_checked`] for a line of a batch, with its [`CodexLine::batch_span`].
    pub(crate) fn checked_in_batch(
        raw: &'a [u8],
        batch_span: Option<Range<usize>>,
        always: bool,
    ) -> Self {
        let mut line = CodexLine {
            raw,
            kind: classify(raw),
            parsed: OnceCell::new(),
            batch_span,
        };
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

    /// The item type of an `item.*` line (`agent_message`, `command_execution`, ...), read
    /// without a parser when the line has codex's usual layout; `None` when it has not (then
    /// [`CodexLine::event`] tells).
    pub fn item_type(&self) -> Option<&'a [u8]> {
        match self.exact_item_type_start() {
            Some(rest) => Some(&rest[..short_find_quote(rest)?]),
            None => item_type_fast(self.raw),
        }
    }

    /// Does this `item.*` line carry an item of the given type (e.g. `agent_message`)? codex
    /// writes `"item":{"id":"item_N","type":"..."`, so the type is read in place; a line shaped
    /// differently is parsed.
    pub fn item_type_is(&self, wanted: &str) -> bool {
        // The common case compares in place, without looking for the type's end first.
        if let Some(rest) = self.exact_item_type_start() {
            return rest.strip_prefix(wanted.as_bytes()).map(|r| r.first()) == Some(Some(&b'"'));
        }
        match item_type_fast(self.raw) {
            Some(found) => found == wanted.as_bytes(),
            None => parsed_item_type_is(self.raw, wanted),
        }
    }

    /// In codex's usual layout, the bytes after the item type's opening quote.
    fn exact_item_type_start(&self) -> Option<&'a [u8]> {
        // The classification already matched the event type, so its length is known.
        let name_len = match self.kind {
            LineKind::ItemCompleted => "item.completed".len(),
            LineKind::ItemStarted | LineKind::ItemUpdated => "item.started".len(),
            _ => return None,
        };
        item_type_start(self.raw.get(TYPE_PREFIX.len() + name_len + 1..)?)
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
                    ThreadEvent::parse(self.raw).map(Box::new)
                } else {
                    None
                }
            })
            .as_deref()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn short_find_quote_finds_the_first_quote() {
        let mut seed = 0x9e37_79b9_u32;
        for len in 0..40 {
            for _ in 0..50 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 17;
                        seed ^= seed << 5;
                        // Quotes, bytes next to a quote in value, and high bytes.
                        [b'"', b'!', b'#', 0x00, 0xa2, b'a', b'_', b'1'][(seed % 8) as usize]
                    })
                    .collect();
                assert_eq!(
                    super::short_find_quote(&s),
                    s.iter().position(|&b| b == b'"'),
                    "{s:?}"
                );
            }
        }
    }

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
            classify(br#"{"type":"turn.started"}  "#),
            LineKind::TurnStarted
        );
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
        let item_type_is = |line: &[u8], wanted| CodexLine::new(line).item_type_is(wanted);
        assert!(item_type_is(msg, "agent_message"));
        assert!(!item_type_is(msg, "reasoning"));
        let reordered = br#"{"type":"item.completed","item":{"text":"a \"type\":\"agent_message\"","id":"i","type":"reasoning"}}"#;
        assert!(!item_type_is(reordered, "agent_message"));
        assert!(item_type_is(reordered, "reasoning"));
    }

    #[test]
    fn ordinary_items_are_only_the_lines_nobody_but_a_pass_through_needs() {
        let started = br#"{"type":"item.started","item":{"id":"item_3","type":"command_execution","command":"ls"}}"#;
        let updated =
            br#"{"type":"item.updated","item":{"id":"item_3","type":"todo_list","items":[]}}"#;
        let done =
            br#"{"type":"item.completed","item":{"id":"item_3","type":"reasoning","text":"x"}}"#;
        let answer = br#"{"type":"item.completed","item":{"id":"item_4","type":"agent_message","text":"x"}}"#;
        assert!(is_ordinary_item(started));
        assert!(is_ordinary_item(updated));
        assert!(is_ordinary_item(done));
        // The answer, cut lines, other layouts and other events take the full path.
        assert!(!is_ordinary_item(answer));
        assert!(!is_ordinary_item(&started[..40]));
        assert!(!is_ordinary_item(
            br#"{"type":"item.completed","item":{"type":"reasoning","id":"i","text":"x"}}"#
        ));
        assert!(!is_ordinary_item(br#"{"type":"item.startedX","item":{}}"#));
        assert!(!is_ordinary_item(
            br#"{"type":"turn.completed","usage":{}}"#
        ));
        assert!(!is_ordinary_item(b"{}"));
    }

    #[test]
    fn ordinary_items_agree_with_the_full_classification() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        let mut ordinary = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            for line in std::fs::read_to_string(entry.unwrap().path())
                .unwrap()
                .lines()
            {
                let line = CodexLine::new_checked(line.as_bytes(), false);
                let expected = matches!(
                    line.kind(),
                    LineKind::ItemStarted | LineKind::ItemUpdated | LineKind::ItemCompleted
                ) && !(line.kind() == LineKind::ItemCompleted
                    && line.item_type_is("agent_message"));
                assert_eq!(is_ordinary_item(line.raw()), expected, "{:?}", line.raw());
                ordinary += usize::from(expected);
            }
        }
        assert!(ordinary >= 10, "the fixtures have item lines: {ordinary}");
    }
}
