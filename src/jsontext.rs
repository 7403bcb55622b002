//! JSON text laid out again without being parsed into values: schema-run prints the model's
//! answer as the model wrote it. A round trip through `serde_json::Value` reads every number
//! that is not a 64-bit integer as a float (`12345678901234567890123` came back as
//! `1.2345678901234568e22`, `1e2` as `100.0`) and sorts the keys; here only the whitespace
//! between tokens changes.

/// `text`, which must be valid JSON (the caller parsed it), with no whitespace between tokens
/// (`pretty == false`), or laid out as `serde_json::to_string_pretty` lays out a value: two
/// spaces per level, `": "` after a key, empty objects and arrays kept as `{}` and `[]`.
/// Strings and numbers are copied byte for byte.
pub fn reformat(text: &str, pretty: bool) -> String {
    let bytes = text.as_bytes();
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut depth = 0usize;
    // An object or array was just opened: its first token goes on a new line, unless it is
    // the closing bracket (an empty one).
    let mut just_opened = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str("  ");
        }
    };
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let closing = matches!(b, b'}' | b']');
        if pretty && just_opened && !closing {
            newline(&mut out, depth);
        }
        match b {
            b'"' => {
                let end = string_end(bytes, i);
                out.push_str(&text[i..end]);
                i = end;
                just_opened = false;
                continue;
            }
            b'{' | b'[' => {
                out.push(char::from(b));
                depth += 1;
                just_opened = true;
                i += 1;
                continue;
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if pretty && !just_opened {
                    newline(&mut out, depth);
                }
                out.push(char::from(b));
            }
            b',' => {
                out.push(',');
                if pretty {
                    newline(&mut out, depth);
                }
            }
            b':' => out.push_str(if pretty { ": " } else { ":" }),
            _ => {
                // A number or a literal: up to the next structural byte or whitespace.
                let end = bytes[i..]
                    .iter()
                    .position(|c| c.is_ascii_whitespace() || matches!(c, b',' | b':' | b'}' | b']'))
                    .map_or(bytes.len(), |n| i + n);
                out.push_str(&text[i..end]);
                i = end;
                just_opened = false;
                continue;
            }
        }
        just_opened = false;
        i += 1;
    }
    out
}

/// The first object in `text` (valid JSON) that holds a key twice, as `<pointer>: key "k"
/// appears twice`. A parser keeps one of the two values (serde the last, others the first or
/// neither), so such an answer means different things to different readers, and what
/// schema-run checked would not be what it prints.
pub fn duplicate_key(text: &str) -> Option<String> {
    let mut path = Vec::new();
    let mut at = 0;
    walk(text, &mut at, &mut path).err()
}

/// Walk the value at `at` (past leading whitespace) to its end; `Err` at a duplicate key.
/// Recursion is bounded by the parser's own depth limit (128), which the text passed.
fn walk(text: &str, at: &mut usize, path: &mut Vec<String>) -> Result<(), String> {
    let bytes = text.as_bytes();
    let skip_ws = |at: &mut usize| {
        while bytes.get(*at).is_some_and(u8::is_ascii_whitespace) {
            *at += 1;
        }
    };
    skip_ws(at);
    match bytes.get(*at) {
        Some(b'{') => {
            *at += 1;
            let mut seen = std::collections::HashSet::new();
            loop {
                skip_ws(at);
                match bytes.get(*at) {
                    Some(b'"') => {}
                    Some(b'}') | None => {
                        *at += 1;
                        return Ok(());
                    }
                    Some(_) => *at += 1, // the comma between members
                }
                skip_ws(at);
                if bytes.get(*at) != Some(&b'"') {
                    continue;
                }
                let end = string_end(bytes, *at);
                // Keys are compared unescaped: `"a"` and `"\u0061"` are the same key.
                let key: String =
                    serde_json::from_str(text.get(*at..end).unwrap_or("\"\"")).unwrap_or_default();
                *at = end;
                skip_ws(at);
                *at += 1; // the colon
                if !seen.insert(key.clone()) {
                    return Err(format!("{}: key {key:?} appears twice", pointer(path)));
                }
                path.push(key);
                walk(text, at, path)?;
                path.pop();
            }
        }
        Some(b'[') => {
            *at += 1;
            let mut index = 0usize;
            loop {
                skip_ws(at);
                match bytes.get(*at) {
                    Some(b']') | None => {
                        *at += 1;
                        return Ok(());
                    }
                    Some(b',') => *at += 1,
                    Some(_) => {}
                }
                path.push(index.to_string());
                walk(text, at, path)?;
                path.pop();
                index += 1;
            }
        }
        Some(b'"') => {
            *at = string_end(bytes, *at);
            Ok(())
        }
        Some(_) => {
            while bytes
                .get(*at)
                .is_some_and(|c| !c.is_ascii_whitespace() && !matches!(c, b',' | b'}' | b']'))
            {
                *at += 1;
            }
            Ok(())
        }
        None => Ok(()),
    }
}

/// A JSON pointer (`/a/0/b`, `/` for the root).
fn pointer(path: &[String]) -> String {
    if path.is_empty() {
        return "/".into();
    }
    path.iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

/// Where the string that opens at `at` ends (just past its closing quote).
fn string_end(bytes: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

#[cfg(test)]
mod tests {
    use super::reformat;
    use serde_json::{Value, json};

    #[test]
    fn numbers_and_key_order_stay_as_written() {
        let text = "{ \"z\": 12345678901234567890123, \"a\" : [1e2, 1.0, -0.5E-3] }";
        assert_eq!(
            reformat(text, false),
            r#"{"z":12345678901234567890123,"a":[1e2,1.0,-0.5E-3]}"#
        );
        assert_eq!(
            reformat(text, true),
            "{\n  \"z\": 12345678901234567890123,\n  \"a\": [\n    1e2,\n    1.0,\n    -0.5E-3\n  ]\n}"
        );
    }

    #[test]
    fn strings_are_copied_as_written() {
        let text = r#"{"a b": "x, y: {z} [\"q\"] \\", "e": "\u00e9\/"}"#;
        assert_eq!(
            reformat(text, false),
            r#"{"a b":"x, y: {z} [\"q\"] \\","e":"\u00e9\/"}"#
        );
    }

    #[test]
    fn finds_keys_that_appear_twice() {
        use super::duplicate_key;
        assert_eq!(
            duplicate_key(r#"{"a": 1, "b": {"c": [1, {"d": 2}]}}"#),
            None
        );
        assert_eq!(
            duplicate_key(r#"{"a": "x", "a": 1}"#).as_deref(),
            Some(r#"/: key "a" appears twice"#)
        );
        assert_eq!(
            duplicate_key(r#"{"a": [0, {"k/x": {"b": 1, "\u0062": 2}}]}"#).as_deref(),
            Some(r#"/a/1/k~1x: key "b" appears twice"#)
        );
        // The same key in different objects is fine.
        assert_eq!(duplicate_key(r#"[{"a": 1}, {"a": 2}] "#), None);
        assert_eq!(duplicate_key(r#" "text" "#), None);
        assert_eq!(duplicate_key("{}"), None);
    }

    /// Where serde's own output leaves nothing to normalise, the layouts are serde's.
    #[test]
    fn lays_out_as_serde_does() {
        let values = [
            json!({"a": 1, "b": [true, false, null], "c": {}, "d": [], "e": {"f": [[]], "g": "h"}}),
            json!([]),
            json!({}),
            json!("text"),
            json!(42),
            json!([{"a": [{"b": {}}]}, 1, "x"]),
        ];
        for value in values {
            let compact = serde_json::to_string(&value).unwrap();
            let pretty = serde_json::to_string_pretty(&value).unwrap();
            assert_eq!(reformat(&compact, true), pretty, "{value}");
            assert_eq!(reformat(&pretty, false), compact, "{value}");
            assert_eq!(
                serde_json::from_str::<Value>(&reformat(&pretty, true)).unwrap(),
                value
            );
        }
    }
}
