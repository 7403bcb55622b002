//! Just enough JSON for the live renderer's hot path: the fields of one `item` object as raw
//! slices of the line, and string unescaping straight into an output buffer.
//!
//! `live` renders every command's output, which is most of codex's stream. A general parser
//! (serde, even borrowing) builds a value for every field and unescapes every string into a
//! fresh buffer; this scanner only finds where the fields are, skips the rest with memchr, and
//! unescapes what is printed once, into the buffer that goes to stderr. Anything it does not
//! expect makes it answer `None`, and the renderer falls back to serde.

/// A JSON string as it appears in the line: the bytes between its quotes, escapes intact.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawStr<'a>(pub &'a [u8]);

impl<'a> RawStr<'a> {
    /// The text as a `&str` when it needs no unescaping (ids, types, statuses, most commands).
    pub fn plain(self) -> Option<&'a str> {
        if memchr::memchr(b'\\', self.0).is_some() {
            return None;
        }
        std::str::from_utf8(self.0).ok()
    }

    /// Append the unescaped text to `out`. Invalid escapes are kept as they are and lone
    /// surrogates become U+FFFD: this is for display, not validation.
    pub fn unescape_into(self, out: &mut Vec<u8>) {
        self.unescape_into_with(out, |out| out.push(b'\n'));
    }

    /// [`RawStr::unescape_into`], with `newline` writing each `\n`: a renderer splits the text
    /// into lines on the way (indent, colour codes), without searching it again.
    pub fn unescape_into_with(self, out: &mut Vec<u8>, mut newline: impl FnMut(&mut Vec<u8>)) {
        let mut rest = self.0;
        while let Some(at) = memchr::memchr(b'\\', rest) {
            out.extend_from_slice(&rest[..at]);
            let escape = &rest[at..];
            let used = match escape.get(1) {
                Some(b'n') => {
                    newline(out);
                    2
                }
                Some(b't') => push(out, b'\t'),
                Some(b'r') => push(out, b'\r'),
                Some(b'"') => push(out, b'"'),
                Some(b'\\') => push(out, b'\\'),
                Some(b'/') => push(out, b'/'),
                Some(b'b') => push(out, 0x08),
                Some(b'f') => push(out, 0x0c),
                Some(b'u') => unicode_escape(escape, out),
                _ => {
                    out.push(b'\\');
                    1
                }
            };
            rest = &escape[used.min(escape.len())..];
        }
        out.extend_from_slice(rest);
    }

    /// The unescaped text as an owned string (for the rare fields that need one).
    pub fn to_text(self) -> String {
        match self.plain() {
            Some(s) => s.to_string(),
            None => {
                let mut buf = Vec::with_capacity(self.0.len());
                self.unescape_into(&mut buf);
                String::from_utf8_lossy(&buf).into_owned()
            }
        }
    }
}

fn push(out: &mut Vec<u8>, byte: u8) -> usize {
    out.push(byte);
    2
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`; returns the bytes used.
fn unicode_escape(escape: &[u8], out: &mut Vec<u8>) -> usize {
    let Some(first) = hex4(escape.get(2..6)) else {
        out.push(b'\\');
        return 1;
    };
    let (code, used) = if (0xD800..0xDC00).contains(&first) {
        match (escape.get(6..8), hex4(escape.get(8..12))) {
            (Some(b"\\u"), Some(second)) if (0xDC00..0xE000).contains(&second) => {
                (0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00), 12)
            }
            _ => (0xFFFD, 6),
        }
    } else {
        (first, 6)
    };
    let ch = char::from_u32(code).unwrap_or('\u{FFFD}');
    let mut utf8 = [0; 4];
    out.extend_from_slice(ch.encode_utf8(&mut utf8).as_bytes());
    used
}

fn hex4(digits: Option<&[u8]>) -> Option<u32> {
    let digits = std::str::from_utf8(digits?).ok()?;
    u32::from_str_radix(digits, 16).ok()
}

/// The fields of an item that the live renderer draws from raw bytes.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct HotItem<'a> {
    pub id: RawStr<'a>,
    pub kind: RawStr<'a>,
    pub text: RawStr<'a>,
    pub command: RawStr<'a>,
    pub aggregated_output: RawStr<'a>,
    pub exit_code: Option<i64>,
    pub status: RawStr<'a>,
    /// A `file_change`'s `changes` array, as it is in the line (see [`file_changes`]).
    pub changes: &'a [u8],
}

/// The keys the renderer reads, with their quotes and colon: matched in place, not scanned.
const KEYS: [(&[u8], Field); 8] = [
    (br#""id":"#, Field::Id),
    (br#""type":"#, Field::Kind),
    (br#""command":"#, Field::Command),
    (br#""aggregated_output":"#, Field::Output),
    (br#""exit_code":"#, Field::ExitCode),
    (br#""status":"#, Field::Status),
    (br#""text":"#, Field::Text),
    (br#""changes":"#, Field::Changes),
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    Kind,
    Command,
    Output,
    ExitCode,
    Status,
    Text,
    Changes,
    Other,
}

/// The `item` object of an `item.*` line whose `"item":{` starts at `at`. `None` when the
/// object is not shaped as expected (then use a real parser).
pub fn hot_item(line: &[u8], at: usize) -> Option<HotItem<'_>> {
    let mut pos = at + line.get(at..)?.strip_prefix(br#""item":{"#).map(|_| 8)?;
    let mut item = HotItem::default();
    let mut next_key = 0;
    loop {
        let rest = line.get(pos..)?;
        if rest.first() == Some(&b'}') {
            return Some(item);
        }
        // codex writes the keys in this order: try the one after the last match first.
        let known = (0..KEYS.len())
            .map(|i| (next_key + i) % KEYS.len())
            .find(|&i| rest.starts_with(KEYS[i].0));
        let (field, value_at) = match known {
            Some(i) => {
                next_key = i + 1;
                (KEYS[i].1, pos + KEYS[i].0.len())
            }
            None => {
                if rest.first() != Some(&b'"') {
                    return None;
                }
                let (_, after_key) = string_at(line, pos)?;
                if line.get(after_key) != Some(&b':') {
                    return None;
                }
                (Field::Other, after_key + 1)
            }
        };
        let value_end = match line.get(value_at)? {
            b'"' => {
                let (value, end) = string_at(line, value_at)?;
                match field {
                    Field::Id => item.id = value,
                    Field::Kind => item.kind = value,
                    Field::Text => item.text = value,
                    Field::Command => item.command = value,
                    Field::Output => item.aggregated_output = value,
                    Field::Status => item.status = value,
                    Field::ExitCode | Field::Changes | Field::Other => {}
                }
                end
            }
            b'{' | b'[' => {
                let end = skip_nested(line, value_at)?;
                if field == Field::Changes {
                    item.changes = &line[value_at..end];
                }
                end
            }
            _ => {
                let len = memchr::memchr2(b',', b'}', &line[value_at..])?;
                let scalar = &line[value_at..value_at + len];
                if field == Field::ExitCode && scalar != b"null" {
                    item.exit_code = Some(std::str::from_utf8(scalar).ok()?.parse().ok()?);
                }
                value_at + len
            }
        };
        pos = match line.get(value_end)? {
            b',' => value_end + 1,
            b'}' => value_end,
            _ => return None,
        };
    }
}

/// One entry of a `file_change`'s `changes`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileChange<'a> {
    pub path: RawStr<'a>,
    pub kind: RawStr<'a>,
}

/// The entries of a `changes` array (`[{"path":"a","kind":"add"},...]`); `None` if it is
/// shaped otherwise.
pub fn file_changes(array: &[u8]) -> Option<Vec<FileChange<'_>>> {
    let mut out = Vec::new();
    let mut pos = 1;
    if array.first() != Some(&b'[') {
        return None;
    }
    if array.get(pos) == Some(&b']') {
        return Some(out);
    }
    loop {
        if array.get(pos) != Some(&b'{') {
            return None;
        }
        pos += 1;
        let mut change = FileChange::default();
        while array.get(pos) != Some(&b'}') {
            let (key, after_key) = string_at(array, pos)?;
            if array.get(after_key) != Some(&b':') {
                return None;
            }
            let value_at = after_key + 1;
            let end = match array.get(value_at)? {
                b'"' => {
                    let (value, end) = string_at(array, value_at)?;
                    match key.0 {
                        b"path" => change.path = value,
                        b"kind" => change.kind = value,
                        _ => {}
                    }
                    end
                }
                b'{' | b'[' => skip_nested(array, value_at)?,
                _ => value_at + memchr::memchr2(b',', b'}', &array[value_at..])?,
            };
            pos = match array.get(end)? {
                b',' => end + 1,
                b'}' => end,
                _ => return None,
            };
        }
        out.push(change);
        pos += 1;
        match array.get(pos)? {
            b',' => pos += 1,
            b']' => return Some(out),
            _ => return None,
        }
    }
}

/// The string whose opening quote is at `at`, and the position after its closing quote.
fn string_at(line: &[u8], at: usize) -> Option<(RawStr<'_>, usize)> {
    let start = at + 1;
    let mut pos = start;
    loop {
        // Search for quotes only (outputs have an escape every line, but few quotes); a quote
        // preceded by an odd run of backslashes is escaped.
        pos += memchr::memchr(b'"', line.get(pos..)?)?;
        let backslashes = line[start..pos]
            .iter()
            .rev()
            .take_while(|&&b| b == b'\\')
            .count();
        if backslashes % 2 == 0 {
            return Some((RawStr(&line[start..pos]), pos + 1));
        }
        pos += 1;
    }
}

/// The position after the object or array that starts at `at`.
fn skip_nested(line: &[u8], at: usize) -> Option<usize> {
    let mut depth = 0usize;
    let mut pos = at;
    loop {
        match line.get(pos)? {
            b'"' => {
                pos = string_at(line, pos)?.1;
                continue;
            }
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(pos + 1);
                }
            }
            _ => {}
        }
        pos += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unescaped(raw: &str) -> String {
        let mut out = Vec::new();
        RawStr(raw.as_bytes()).unescape_into(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn unescapes_like_serde() {
        for text in [
            "plain",
            "a\nb\tc\r\n\"q\" \\ / \u{8}\u{c}",
            "é ü 中文 \u{1F600} \u{7f} \u{1}",
            "",
            "\\n literally",
        ] {
            let json = serde_json::to_string(text).unwrap();
            assert_eq!(unescaped(&json[1..json.len() - 1]), text);
        }
        assert_eq!(unescaped(r"\u00e9\ud83d\ude00\/"), "é😀/");
        // Broken escapes are shown, not trusted.
        assert_eq!(unescaped(r"\ud83d x"), "\u{FFFD} x");
        assert_eq!(unescaped(r"\q\u12"), r"\q\u12");
        assert_eq!(unescaped("end\\"), "end\\");
    }

    #[test]
    fn finds_the_fields_of_an_item() {
        let line = br#"{"type":"item.completed","item":{"id":"item_7","type":"command_execution","command":"/bin/bash -lc 'ls \"a b\"'","aggregated_output":"x\ny\n","exit_code":-2,"status":"failed","extra":{"n":[1,{"s":"}"}]}}}"#;
        let item = hot_item(line, 25).unwrap();
        assert_eq!(item.id.plain(), Some("item_7"));
        assert_eq!(item.kind.plain(), Some("command_execution"));
        assert_eq!(item.command.to_text(), r#"/bin/bash -lc 'ls "a b"'"#);
        assert_eq!(item.aggregated_output.to_text(), "x\ny\n");
        assert_eq!(item.exit_code, Some(-2));
        assert_eq!(item.status.plain(), Some("failed"));
        let null_code = br#"{"type":"item.started","item":{"id":"i","type":"command_execution","exit_code":null}}"#;
        assert_eq!(hot_item(null_code, 23).unwrap().exit_code, None);
    }

    #[test]
    fn reads_file_changes() {
        let line = br#"{"type":"item.completed","item":{"id":"i","type":"file_change","changes":[{"path":"a \"b\".rs","kind":"add"},{"kind":"delete","path":"c","x":[1]}],"status":"completed"}}"#;
        let item = hot_item(line, 25).unwrap();
        let changes = file_changes(item.changes).unwrap();
        assert_eq!(changes.len(), 2);
        assert_eq!(changes[0].path.to_text(), r#"a "b".rs"#);
        assert_eq!(changes[0].kind.plain(), Some("add"));
        assert_eq!(changes[1].path.plain(), Some("c"));
        assert_eq!(changes[1].kind.plain(), Some("delete"));
        assert_eq!(file_changes(b"[]"), Some(vec![]));
        assert_eq!(file_changes(br#"[{"path":"a"}"#), None);
        assert_eq!(file_changes(br#"[1]"#), None);
    }

    #[test]
    fn refuses_what_it_does_not_expect() {
        for line in [
            &br#"{"type":"item.completed","item":{"id":"i","exit_code":1.5}}"#[..],
            br#"{"type":"item.completed","item":{"id":"i""#,
            br#"{"type":"item.completed","item":{"id":"i" : 1}}"#,
            br#"{"type":"item.completed","item":{"id":"i\"}}"#,
            br#"{"type":"item.completed","item":{"x":{"y":[}"#,
            br#"{"type":"item.completed","item":[]}"#,
        ] {
            assert_eq!(
                hot_item(line, 25),
                None,
                "{}",
                String::from_utf8_lossy(line)
            );
        }
    }
}
