//! Text from codex shown on a terminal. Command output, messages, paths and error texts come
//! from programs and a model that spawncodex does not control; a terminal obeys the control
//! characters in them (clear the screen, move the cursor, set the window title). So the human
//! renderer shows them instead of sending them: `ESC` as `^[`, a backspace as `^H`, a C1 control
//! as U+FFFD. The answer on stdout is data and stays as it is.

use std::borrow::Cow;

/// `text` as it can be written to a terminal: newlines and tabs kept, a carriage return right
/// before a newline dropped (a CRLF line end), every other C0 control and DEL in caret notation
/// (`^[`, `^M`, `^?`), and C1 controls (U+0080 to U+009F, which some terminals obey too) as U+FFFD.
pub fn terminal_safe(text: &str) -> Cow<'_, str> {
    let c0 = |b: &u8| (*b < 0x20 && *b != b'\n' && *b != b'\t') || *b == 0x7f;
    if !text.as_bytes().iter().any(c0) && !has_c1_control(text.as_bytes()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => {}
            '\0'..='\u{1f}' => {
                out.push('^');
                out.push(char::from(c as u8 + 0x40));
            }
            '\u{7f}' => out.push_str("^?"),
            '\u{80}'..='\u{9f}' => out.push('\u{FFFD}'),
            _ => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Does `text` (UTF-8) hold a C1 control (U+0080 to U+009F), which [`terminal_safe`] replaces?
pub fn has_c1_control(text: &[u8]) -> bool {
    memchr::memchr_iter(0xC2, text).any(|i| matches!(text.get(i + 1), Some(0x80..=0x9F)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shows_control_characters_instead_of_sending_them() {
        assert_eq!(
            terminal_safe("a\x1b[2J\x1b]0;pwned\x07b"),
            "a^[[2J^[]0;pwned^Gb"
        );
        assert_eq!(terminal_safe("x\u{9b}31m"), "x\u{FFFD}31m");
        assert_eq!(terminal_safe("one\r\ntwo\rthree\x08"), "one\ntwo^Mthree^H");
        assert_eq!(terminal_safe("\0\x1f\x7f"), "^@^_^?");
    }

    #[test]
    fn leaves_ordinary_text_alone() {
        for text in ["plain", "tab\there\nnewline", "é ü 中文 😀 ¢ £", ""] {
            assert!(matches!(terminal_safe(text), Cow::Borrowed(t) if t == text));
            assert!(!has_c1_control(text.as_bytes()));
        }
        // U+00A2 starts with 0xC2 too, and is not a control.
        assert_eq!(terminal_safe("¢"), "¢");
    }

    #[test]
    fn finds_c1_controls() {
        assert!(has_c1_control("x\u{9b}".as_bytes()));
        assert!(has_c1_control("¢\u{80}".as_bytes()));
        assert!(!has_c1_control("¢ \u{a0} é".as_bytes()));
    }
}
