//! Just enough JSON for the live renderer's hot path: the fields of one `item` object as raw
//! slices of the line, and string unescaping straight into an output buffer.
//!
//! `live` renders every command's output, which is most of codex's stream. A general parser
//! (serde, even borrowing) builds a value for every field and unescapes every string into a
//! fresh buffer; this scanner only finds where the fields are, checks each string in the same
//! pass that finds its end, and unescapes what is printed once, into the buffer that goes to
//! stderr. Anything it does not expect makes it answer `None`, and the renderer falls back to
//! serde.

use super::strscan::{self, hex4, plain_run};
use crate::simd::Level;

/// A JSON string as it appears in the line: the bytes between its quotes, escapes intact.
/// Those that [`hot_item`] and [`file_changes`] hand out are valid JSON strings: no raw
/// control bytes, valid UTF-8, valid escapes. So what they show cannot carry a raw escape
/// sequence to the terminal.
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
    /// Returns whether the text can be shown on a terminal as it was written: `false` if an
    /// escape is not valid JSON (it is kept as written; a bad surrogate becomes U+FFFD) or
    /// stands for a control character other than newline and tab (written as it is). The
    /// renderer's one-pass path then takes back what it wrote, and the general path shows the
    /// text made safe ([`super::safe::terminal_safe`]).
    pub fn unescape_into_with(self, out: &mut Vec<u8>, newline: impl FnMut(&mut Vec<u8>)) -> bool {
        unescape_at_level(crate::simd::level(), self.0, out, newline)
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

/// [`RawStr::unescape_into_with`] with the instructions of `level`, which must be one this CPU
/// has (tests try each).
fn unescape_at_level(
    level: Level,
    raw: &[u8],
    out: &mut Vec<u8>,
    newline: impl FnMut(&mut Vec<u8>),
) -> bool {
    #[cfg(target_arch = "x86_64")]
    match level {
        // SAFETY: the CPU has AVX-512BW (that is what the level says).
        Level::Avx512 => return unsafe { unescape_avx512(raw, out, newline) },
        // SAFETY: the CPU has AVX2.
        Level::Avx2 => return unsafe { unescape_avx2(raw, out, newline) },
        Level::Base => {}
    }
    unescape_with(raw, out, newline, copy_plain_run)
}

/// Append the run of plain bytes at the start of `rest` to `out` (up to a `\`, `"` or control
/// byte) and return its length.
#[inline(always)]
fn copy_plain_run(rest: &[u8], out: &mut Vec<u8>) -> usize {
    let (run, _) = plain_run(rest);
    out.extend_from_slice(&rest[..run]);
    run
}

/// [`copy_plain_run`] 64 bytes at a time, given a mask of the bytes that end a run (bit i: byte
/// i). Each block is stored whole into `out`'s spare room, and only the run is kept: runs in
/// command output end at every line's `\n`, a few dozen bytes apart, and a `memcpy` call per
/// run cost more than the copy.
#[inline(always)]
fn copy_plain_run_wide(
    rest: &[u8],
    out: &mut Vec<u8>,
    run_ends: impl Fn(&[u8; 64]) -> u64,
) -> usize {
    let mut at = 0;
    while let Some(block) = rest.get(at..).and_then(|r| r.first_chunk::<64>()) {
        let ends = run_ends(block);
        let run = (ends.trailing_zeros() as usize).min(64);
        out.reserve(64);
        // SAFETY: `reserve` left room for at least 64 more bytes past `out.len()`, `block` is
        // 64 readable bytes of `rest`, which is not `out`'s buffer; the first `run` of them
        // are now initialised, and only those are counted in the new length.
        unsafe {
            std::ptr::copy_nonoverlapping(block.as_ptr(), out.as_mut_ptr().add(out.len()), 64);
            out.set_len(out.len() + run);
        }
        at += run;
        if run < 64 {
            return at;
        }
    }
    at + copy_plain_run(&rest[at..], out)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512bw")]
unsafe fn unescape_avx512(
    raw: &[u8],
    out: &mut Vec<u8>,
    newline: impl FnMut(&mut Vec<u8>),
) -> bool {
    use std::arch::x86_64::{
        _mm512_cmpeq_epi8_mask, _mm512_cmple_epu8_mask, _mm512_maskz_loadu_epi8, _mm512_set1_epi8,
        _mm512_storeu_si512,
    };
    // As `copy_plain_run_wide`, but the last bytes of a string, fewer than 64, are read with a
    // masked load too: the bytes past the end read as zero, a control byte, which ends the run
    // there. Every string ends in such a piece, and a loop 16 bytes at a time cost as much as
    // the rest of the string.
    let copy_run = |rest: &[u8], out: &mut Vec<u8>| {
        let mut at = 0;
        loop {
            let left = rest.len() - at;
            let wanted = if left >= 64 {
                u64::MAX
            } else {
                (1u64 << left) - 1
            };
            // SAFETY: the load reads only the bytes of `rest` from `at` that `wanted` selects
            // (a masked load does not touch the others, even past the end of a page).
            let bytes = unsafe { _mm512_maskz_loadu_epi8(wanted, rest.as_ptr().add(at).cast()) };
            let eq = |byte: u8| _mm512_cmpeq_epi8_mask(bytes, _mm512_set1_epi8(byte as i8));
            let ends = eq(b'\\')
                | eq(b'"')
                | eq(0x7f)
                | _mm512_cmple_epu8_mask(bytes, _mm512_set1_epi8(0x1f));
            let run = (ends.trailing_zeros() as usize).min(left);
            out.reserve(64);
            // SAFETY: `reserve` left room for 64 more bytes past `out.len()`; the first `run`
            // of the bytes stored are bytes of `rest`, and only they are counted in the length.
            unsafe {
                _mm512_storeu_si512(out.as_mut_ptr().add(out.len()).cast(), bytes);
                out.set_len(out.len() + run);
            }
            at += run;
            if run < 64 {
                return at;
            }
        }
    };
    unescape_with(raw, out, newline, copy_run)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn unescape_avx2(raw: &[u8], out: &mut Vec<u8>, newline: impl FnMut(&mut Vec<u8>)) -> bool {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_max_epu8, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8,
    };
    let run_ends = |block: &[u8; 64]| {
        let half = |at: usize| {
            // SAFETY: the load reads 32 bytes inside `block` (unaligned loads are allowed).
            let bytes = unsafe { _mm256_loadu_si256(block.as_ptr().add(at).cast::<__m256i>()) };
            let eq = |byte: u8| _mm256_cmpeq_epi8(bytes, _mm256_set1_epi8(byte as i8));
            let low = _mm256_set1_epi8(0x1f);
            // max(b, 0x1f) == 0x1f exactly when b <= 0x1f (unsigned).
            let control = _mm256_cmpeq_epi8(_mm256_max_epu8(bytes, low), low);
            let ends = _mm256_or_si256(
                _mm256_or_si256(eq(b'\\'), eq(b'"')),
                _mm256_or_si256(eq(0x7f), control),
            );
            u64::from(_mm256_movemask_epi8(ends) as u32)
        };
        half(0) | half(32) << 32
    };
    unescape_with(raw, out, newline, |rest, out| {
        copy_plain_run_wide(rest, out, run_ends)
    })
}

/// The body of [`RawStr::unescape_into_with`], given how to copy a run of plain bytes. Inlined
/// into each caller, so the copy is compiled with that caller's instructions.
#[inline(always)]
fn unescape_with(
    raw: &[u8],
    out: &mut Vec<u8>,
    mut newline: impl FnMut(&mut Vec<u8>),
    mut copy_run: impl FnMut(&[u8], &mut Vec<u8>) -> usize,
) -> bool {
    let mut shown = true;
    let mut rest = raw;
    loop {
        // The run up to the next backslash (a quote or control byte, which a checked
        // string does not hold, is copied like any other byte).
        let run = copy_run(rest, out);
        let escape = &rest[run..];
        let used = match escape {
            [] => break,
            [b'\\', next, ..] => match next {
                b'n' => {
                    newline(out);
                    2
                }
                b't' => push(out, b'\t'),
                b'"' => push(out, b'"'),
                b'\\' => push(out, b'\\'),
                b'/' => push(out, b'/'),
                // Control characters a terminal would obey: see the doc above.
                b'r' => {
                    shown = false;
                    push(out, b'\r')
                }
                b'b' => {
                    shown = false;
                    push(out, 0x08)
                }
                b'f' => {
                    shown = false;
                    push(out, 0x0c)
                }
                b'u' => {
                    let (used, ok) = unicode_escape(escape, out);
                    let control = matches!(hex4(escape.get(2..6)), Some(0..=0x1f | 0x7f..=0x9f));
                    shown &= ok && !control;
                    used
                }
                _ => {
                    shown = false;
                    out.push(b'\\');
                    1
                }
            },
            [b'\\'] => {
                shown = false;
                out.push(b'\\');
                1
            }
            [other, ..] => {
                // A raw control byte or DEL (not in a string `hot_item` checked) is not shown
                // as it is either.
                shown &= !(*other < 0x20 || *other == 0x7f);
                out.push(*other);
                1
            }
        };
        rest = &escape[used.min(escape.len())..];
    }
    shown
}

fn push(out: &mut Vec<u8>, byte: u8) -> usize {
    out.push(byte);
    2
}

/// `\uXXXX`, or a surrogate pair `\uD83D\uDE00`: the bytes used, and whether it was valid.
fn unicode_escape(escape: &[u8], out: &mut Vec<u8>) -> (usize, bool) {
    let Some(first) = hex4(escape.get(2..6)) else {
        out.push(b'\\');
        return (1, false);
    };
    let (code, used) = match first {
        0xD800..=0xDBFF => match (escape.get(6..8), hex4(escape.get(8..12))) {
            (Some(b"\\u"), Some(second @ 0xDC00..=0xDFFF)) => {
                (0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00), 12)
            }
            _ => (0xFFFD, 6),
        },
        _ => (first, 6),
    };
    let ch = char::from_u32(code).filter(|_| code != 0xFFFD || first == 0xFFFD);
    let mut utf8 = [0; 4];
    out.extend_from_slice(ch.unwrap_or('\u{FFFD}').encode_utf8(&mut utf8).as_bytes());
    (used, ch.is_some())
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

/// The key the renderer reads at the start of `rest` (with its quotes and colon), and its
/// length. Matched in place by its first letters, each against a constant the compiler
/// compares inline: this runs for every field of every item.
fn known_key(rest: &[u8]) -> Option<(Field, usize)> {
    fn key(rest: &[u8], key: &'static [u8], field: Field) -> Option<(Field, usize)> {
        rest.starts_with(key).then_some((field, key.len()))
    }
    match rest.get(1..3)? {
        b"id" => key(rest, br#""id":"#, Field::Id),
        b"ty" => key(rest, br#""type":"#, Field::Kind),
        b"te" => key(rest, br#""text":"#, Field::Text),
        b"co" => key(rest, br#""command":"#, Field::Command),
        b"ch" => key(rest, br#""changes":"#, Field::Changes),
        b"ag" => key(rest, br#""aggregated_output":"#, Field::Output),
        b"ex" => key(rest, br#""exit_code":"#, Field::ExitCode),
        b"st" => key(rest, br#""status":"#, Field::Status),
        _ => None,
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
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

impl Field {
    fn bit(self) -> u16 {
        1 << (self as u8)
    }
}

/// The `item` object of an `item.*` line whose `"item":{` starts at `at`. `None` when the
/// line is not exactly what serde would accept in codex's layout (then the caller parses it
/// for real, so nothing is shown that serde would refuse): every string is checked as a JSON
/// string (no raw control bytes, valid UTF-8, valid escapes), scalars are checked, a known key
/// may appear once, and nothing may follow the item but the event's closing brace.
pub fn hot_item(line: &[u8], at: usize) -> Option<HotItem<'_>> {
    let mut pos = at + line.get(at..)?.strip_prefix(br#""item":{"#).map(|_| 8)?;
    let mut item = HotItem::default();
    let mut seen = 0u16;
    loop {
        let rest = line.get(pos..)?;
        if rest.first() == Some(&b'}') {
            // The item type is required; nothing may follow the item but the event's end.
            let kind_seen = seen & Field::Kind.bit() != 0;
            return (kind_seen && line.get(pos + 1..)? == b"}").then_some(item);
        }
        let (field, value_at) = match known_key(rest) {
            Some((field, key_len)) => {
                if seen & field.bit() != 0 {
                    return None; // serde refuses a duplicate field
                }
                seen |= field.bit();
                (field, pos + key_len)
            }
            None => {
                if rest.first() != Some(&b'"') {
                    return None;
                }
                let (key, after_key) = string_at(line, pos)?;
                // An escaped key may spell a known one (`"t\u0065xt"` is `text`): serde reads it.
                if memchr::memchr(b'\\', key.0).is_some() || line.get(after_key) != Some(&b':') {
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
                    Field::ExitCode | Field::Changes => return None,
                    Field::Other => {}
                }
                end
            }
            b'[' if field == Field::Changes => {
                let end = skip_nested(line, value_at)?;
                item.changes = &line[value_at..end];
                end
            }
            // Nested values elsewhere are not in codex's hot items: let serde judge them.
            b'{' | b'[' => return None,
            _ => {
                let end = scalar_end(line, value_at)?;
                let scalar = &line[value_at..end];
                match field {
                    // Optional strings: null is the default.
                    Field::Text | Field::Command | Field::Output | Field::Status
                        if scalar == b"null" => {}
                    Field::ExitCode if scalar == b"null" => {}
                    Field::ExitCode => item.exit_code = Some(json_i64(scalar)?),
                    Field::Other => {}
                    _ => return None,
                }
                end
            }
        };
        pos = match line.get(value_end)? {
            b',' => value_end + 1,
            b'}' => value_end,
            _ => return None,
        };
    }
}

/// The end of the JSON literal or number at `at`, if it is one.
fn scalar_end(line: &[u8], at: usize) -> Option<usize> {
    let rest = line.get(at..)?;
    for literal in [&b"null"[..], b"true", b"false"] {
        if rest.starts_with(literal) {
            return Some(at + literal.len());
        }
    }
    // -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
    let mut i = usize::from(rest.first() == Some(&b'-'));
    let digits = |from: usize| {
        rest[from.min(rest.len())..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let int = digits(i);
    if int == 0 || (int > 1 && rest[i] == b'0') {
        return None;
    }
    i += int;
    if rest.get(i) == Some(&b'.') {
        let frac = digits(i + 1);
        if frac == 0 {
            return None;
        }
        i += 1 + frac;
    }
    if matches!(rest.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(rest.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exp = digits(i);
        if exp == 0 {
            return None;
        }
        i += exp;
    }
    Some(at + i)
}

/// A JSON number that serde reads as an `i64`: an integer, no fraction or exponent.
fn json_i64(number: &[u8]) -> Option<i64> {
    let (negative, digits) = match number.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut value: i64 = 0;
    for &d in digits {
        let d = i64::from(d - b'0');
        value = value.checked_mul(10)?;
        value = if negative {
            value.checked_sub(d)?
        } else {
            value.checked_add(d)?
        };
    }
    Some(value)
}

/// One entry of a `file_change`'s `changes`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FileChange<'a> {
    pub path: RawStr<'a>,
    pub kind: RawStr<'a>,
}

/// The entries of a `changes` array (`[{"path":"a","kind":"add"},...]`); `None` unless serde
/// would accept it the same way (`path` is required, `kind` is a string if present).
pub fn file_changes(array: &[u8]) -> Option<Vec<FileChange<'_>>> {
    let mut out = Vec::new();
    let mut pos = 1;
    if array.first() != Some(&b'[') {
        return None;
    }
    if array.get(pos) == Some(&b']') {
        return (array.len() == 2).then_some(out);
    }
    loop {
        if array.get(pos) != Some(&b'{') {
            return None;
        }
        pos += 1;
        let (mut path, mut kind) = (None, None);
        while array.get(pos) != Some(&b'}') {
            if array.get(pos) != Some(&b'"') {
                return None;
            }
            let (key, after_key) = string_at(array, pos)?;
            // As in `hot_item`: an escaped key may be `path` or `kind` in disguise.
            if memchr::memchr(b'\\', key.0).is_some() || array.get(after_key) != Some(&b':') {
                return None;
            }
            let value_at = after_key + 1;
            let end = match array.get(value_at)? {
                b'"' => {
                    let (value, end) = string_at(array, value_at)?;
                    let slot = match key.0 {
                        b"path" => &mut path,
                        b"kind" => &mut kind,
                        _ => &mut None,
                    };
                    if slot.replace(value).is_some() {
                        return None; // a duplicate field
                    }
                    end
                }
                b'{' | b'[' => return None,
                _ if matches!(key.0, b"path" | b"kind") => return None,
                _ => scalar_end(array, value_at)?,
            };
            pos = match array.get(end)? {
                b',' => end + 1,
                b'}' => end,
                _ => return None,
            };
        }
        out.push(FileChange {
            path: path?,
            kind: kind.unwrap_or_default(),
        });
        pos += 1;
        match array.get(pos)? {
            b',' => pos += 1,
            b']' => return (pos + 1 == array.len()).then_some(out),
            _ => return None,
        }
    }
}

/// The string whose opening quote is at `at`, and the position after its closing quote;
/// `None` unless serde would accept it (see [`strscan::string_at`]).
fn string_at(line: &[u8], at: usize) -> Option<(RawStr<'_>, usize)> {
    strscan::string_at(line, at).map(|(raw, end)| (RawStr(raw), end))
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
        let line = br#"{"type":"item.completed","item":{"id":"item_7","type":"command_execution","command":"/bin/bash -lc 'ls \"a b\"'","aggregated_output":"x\ny\n","exit_code":-2,"status":"failed","extra":"}","n":-1.5e3,"t":true}}"#;
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
    fn refuses_raw_control_bytes_and_invalid_utf8() {
        let mut line =
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning","text":"x"#.to_vec();
        let end = br#""}}"#;
        for bad in [&b"\x1b[2J"[..], b"\xff", b"\n", b"\t"] {
            let mut l = line.clone();
            l.extend_from_slice(bad);
            l.extend_from_slice(end);
            assert_eq!(hot_item(&l, 25), None, "{bad:?}");
        }
        line.extend_from_slice(end);
        assert!(hot_item(&line, 25).is_some());
    }

    #[test]
    fn every_vector_width_unescapes_the_same() {
        // Raw quotes and control bytes too: the general path unescapes unchecked text.
        let pieces: [&[u8]; 13] = [
            b"plain text that runs on for a while ",
            br"\n",
            br#"\""#,
            br"\\",
            br"\u00e9\ud83d\ude00\u001b",
            br"\q\u12",
            "é中".as_bytes(),
            b"\x01",
            b"\x7f",
            b"\"",
            br"\r\t\/",
            b"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            b"\\",
        ];
        let mut seed: u32 = 0x5eed_1234;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            seed as usize
        };
        for _ in 0..20_000 {
            let mut raw = Vec::new();
            for _ in 0..next() % 40 {
                let n = next() % 30;
                raw.extend_from_slice(pieces[if n < 13 { n } else { 0 }]);
            }
            let run = |level: Level| {
                let mut out = b"kept".to_vec();
                let shown = unescape_at_level(level, &raw, &mut out, |out| out.extend(b"|\n  "));
                (out, shown)
            };
            let expected = run(Level::Base);
            for level in crate::simd::levels_here() {
                assert_eq!(run(level), expected, "{level:?} {raw:?}");
            }
        }
    }

    #[test]
    fn unescaping_tells_bad_escapes() {
        for bad in [r"x\ud800y", r"\udc00", r"\u+041", r"a\qb", r"end\"] {
            assert!(
                !RawStr(bad.as_bytes()).unescape_into_with(&mut Vec::new(), |_| {}),
                "{bad}"
            );
        }
        for good in [r"\ud83d\ude00", r"\ufffd", r"\n\t\/"] {
            assert!(
                RawStr(good.as_bytes()).unescape_into_with(&mut Vec::new(), |_| {}),
                "{good}"
            );
        }
    }

    #[test]
    fn reads_file_changes() {
        let line = br#"{"type":"item.completed","item":{"id":"i","type":"file_change","changes":[{"path":"a \"b\".rs","kind":"add"},{"kind":"delete","path":"c","x":1}],"status":"completed"}}"#;
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
        // serde needs a path, and a kind that is a string.
        assert_eq!(file_changes(br#"[{"kind":"add"}]"#), None);
        assert_eq!(file_changes(br#"[{"path":"a","kind":null}]"#), None);
        assert_eq!(file_changes(br#"[{"path":"a","path":"b"}]"#), None);
        assert_eq!(file_changes(br#"[{"path":"a"}] "#), None);
        assert_eq!(file_changes(br#"[{"path":"a","p\u0061th":"b"}]"#), None);
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
            // What serde refuses, or what codex never writes here, goes to serde.
            br#"{"type":"item.completed","item":{"id": "a","type":"reasoning"}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning","text": "x"}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning"},"x":nope}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning"}} "#,
            br#"{"type":"item.completed","item":{"id":"a","type":"command_execution","exit_code":+0}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"command_execution","exit_code":1.0}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"command_execution","exit_code":01}}"#,
            br#"{"type":"item.completed","item":{"id":null,"type":"reasoning"}}"#,
            br#"{"type":"item.completed","item":{"id":"a\q","type":"reasoning"}}"#,
            br#"{"type":"item.completed","item":{"id":"a","text":"x"}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning","text":"x","text":"y"}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning","x":{"n":1}}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning","text":1}}"#,
            // A key with an escape may be a known one in disguise.
            br#"{"type":"item.completed","item":{"id":"a","type":"reasoning","text":"A","t\u0065xt":"B"}}"#,
            br#"{"type":"item.completed","item":{"id":"a","type":"agent_message","text":"A","typ\u0065":"reasoning"}}"#,
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
