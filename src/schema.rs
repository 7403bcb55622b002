//! JSON Schema for `schema-run`: loaded and checked before codex starts (parse, compile, OpenAI's
//! strict rules), and the answer checked after.

use std::io::Read;
use std::path::PathBuf;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// Where a schema came from (for messages and for whether we need a temp file).
#[derive(Clone, Debug)]
pub enum SchemaSource {
    File(PathBuf),
    Stdin,
    Inline,
}

impl SchemaSource {
    fn describe(&self) -> String {
        match self {
            SchemaSource::File(p) => p.display().to_string(),
            SchemaSource::Stdin => "<stdin>".into(),
            SchemaSource::Inline => "--schema-json".into(),
        }
    }
}

/// A schema ready for a run: parsed, compiled, and a file codex can read.
pub struct PreparedSchema {
    pub value: Value,
    validator: jsonschema::Validator,
    /// The file passed to codex (`--output-schema`).
    pub path: PathBuf,
    /// Our temp file when the schema did not come from a file; removed on drop.
    _temp: Option<tempfile::NamedTempFile>,
}

impl std::fmt::Debug for PreparedSchema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PreparedSchema")
            .field("path", &self.path)
            .finish()
    }
}

/// Read the schema text from its source.
pub fn read_source(source: &SchemaSource, inline: Option<&str>) -> Result<String, String> {
    match source {
        SchemaSource::File(path) => std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read schema {}: {e}", path.display())),
        SchemaSource::Stdin => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| format!("cannot read the schema from stdin: {e}"))?;
            Ok(text)
        }
        SchemaSource::Inline => Ok(inline.unwrap_or_default().to_string()),
    }
}

/// Parse JSON, naming the source, line and column on error.
pub fn parse(source: &SchemaSource, text: &str) -> Result<Value, String> {
    serde_json::from_str(text).map_err(|e| {
        format!(
            "schema {} is not valid JSON: {} at line {} column {}",
            source.describe(),
            strip_position(&e.to_string()),
            e.line(),
            e.column()
        )
    })
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Compile with `jsonschema` (this also checks it against its meta-schema). `format` is
/// checked too (`date-time`, `email`, `uuid`, ...): drafts from 2019-09 on make it a mere
/// annotation by default, but OpenAI's structured outputs take it as a constraint, and an
/// answer that a schema's `format` refuses is not what the user asked for. Unknown formats
/// are ignored.
pub fn compile(source: &SchemaSource, value: &Value) -> Result<jsonschema::Validator, String> {
    jsonschema::options()
        .should_validate_formats(true)
        .build(value)
        .map_err(|e| {
            let at = e.instance_path().as_str();
            let at = if at.is_empty() { "/" } else { at };
            format!(
                "schema {} is not a valid JSON Schema at {at}: {e}",
                source.describe()
            )
        })
}

/// Prepare a schema: parse, compile, strict-check (unless skipped), and a file for codex.
pub fn prepare(
    source: SchemaSource,
    text: &str,
    strict: bool,
) -> Result<PreparedSchema, Vec<String>> {
    let value = parse(&source, text).map_err(|e| vec![e])?;
    let validator = compile(&source, &value).map_err(|e| vec![e])?;
    if strict {
        let violations = strict_violations(&value);
        if !violations.is_empty() {
            let mut lines = vec![format!(
                "schema {} does not follow OpenAI's strict structured-output rules ({} problem{}; --no-strict-check skips this, --fix-strict prints a fixed schema):",
                source.describe(),
                violations.len(),
                if violations.len() == 1 { "" } else { "s" }
            )];
            lines.extend(violations.into_iter().map(|v| format!("  {v}")));
            return Err(lines);
        }
    }
    let (path, temp) = match &source {
        SchemaSource::File(p) => (crate::paths::absolute(p), None),
        SchemaSource::Stdin | SchemaSource::Inline => {
            let mut tmp = tempfile::Builder::new()
                .prefix("spawncodex-schema-")
                .suffix(".json")
                .tempfile()
                .map_err(|e| vec![format!("cannot write a temp file for the schema: {e}")])?;
            use std::io::Write;
            tmp.write_all(text.as_bytes())
                .and_then(|()| tmp.flush())
                .map_err(|e| vec![format!("cannot write a temp file for the schema: {e}")])?;
            (tmp.path().to_path_buf(), Some(tmp))
        }
    };
    Ok(PreparedSchema {
        value,
        validator,
        path,
        _temp: temp,
    })
}

/// Keywords OpenAI's strict mode accepts.
const SUPPORTED: &[&str] = &[
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "$ref",
    "$defs",
    "definitions",
    "description",
    "title",
    "$schema",
    "$id",
    "$comment",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "minItems",
    "maxItems",
    "default",
    "examples",
];

/// Every place the schema breaks OpenAI's strict structured-output rules, as
/// `<json pointer>: <problem>`.
pub fn strict_violations(schema: &Value) -> Vec<String> {
    let mut out = Vec::new();
    match schema {
        Value::Object(map) => {
            if map.get("type").and_then(Value::as_str) != Some("object") {
                out.push("/: the root must be an object schema (\"type\": \"object\")".to_string());
            }
        }
        _ => out.push("/: the schema must be a JSON object".to_string()),
    }
    walk(schema, "", &mut out);
    out
}

fn walk(node: &Value, ptr: &str, out: &mut Vec<String>) {
    let Value::Object(map) = node else { return };
    let here = if ptr.is_empty() { "/" } else { ptr };
    for key in map.keys() {
        if !SUPPORTED.contains(&key.as_str()) {
            out.push(format!(
                "{here}: keyword \"{key}\" is not supported in strict mode"
            ));
        }
    }
    let is_object = map.get("type").is_some_and(|t| {
        t.as_str() == Some("object")
            || t.as_array()
                .is_some_and(|a| a.iter().any(|x| x.as_str() == Some("object")))
    }) || map.contains_key("properties");
    if is_object {
        if map.get("additionalProperties") != Some(&Value::Bool(false)) {
            out.push(format!(
                "{here}: objects need \"additionalProperties\": false"
            ));
        }
        let props: Vec<&String> = map
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().collect())
            .unwrap_or_default();
        let required: Vec<&str> = map
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let missing: Vec<&str> = props
            .iter()
            .filter(|p| !required.contains(&p.as_str()))
            .map(|p| p.as_str())
            .collect();
        if !missing.is_empty() {
            out.push(format!(
                "{here}: every property must be listed in \"required\"; missing: {}",
                missing.join(", ")
            ));
        }
    }
    for (key, child) in map {
        let child_ptr = format!("{ptr}/{}", escape_pointer(key));
        match key.as_str() {
            "properties" | "$defs" | "definitions" => {
                if let Value::Object(children) = child {
                    for (name, sub) in children {
                        walk(sub, &format!("{child_ptr}/{}", escape_pointer(name)), out);
                    }
                }
            }
            "items" | "additionalProperties" => walk(child, &child_ptr, out),
            "anyOf" | "allOf" | "oneOf" => {
                if let Value::Array(items) = child {
                    for (i, sub) in items.iter().enumerate() {
                        walk(sub, &format!("{child_ptr}/{i}"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

fn escape_pointer(s: &str) -> String {
    s.replace('~', "~0").replace('/', "~1")
}

/// The strict form: `additionalProperties: false` and every property required, recursively.
pub fn fix_strict(schema: &Value) -> Value {
    fix_strict_noting(schema, "", &mut Vec::new())
}

/// [`fix_strict`], with a note (`<json pointer>: <what changed>`) for each change of meaning
/// beyond making every property required: an object that allowed other keys (a map, say)
/// allows none once strict.
pub fn fix_strict_with_notes(schema: &Value) -> (Value, Vec<String>) {
    let mut notes = Vec::new();
    let fixed = fix_strict_noting(schema, "", &mut notes);
    (fixed, notes)
}

fn fix_strict_noting(schema: &Value, ptr: &str, notes: &mut Vec<String>) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    let here = if ptr.is_empty() { "/" } else { ptr };
    let mut out = Map::new();
    for (key, child) in map {
        let child_ptr = format!("{ptr}/{}", escape_pointer(key));
        let fixed = match key.as_str() {
            "properties" | "$defs" | "definitions" => match child {
                Value::Object(children) => Value::Object(
                    children
                        .iter()
                        .map(|(k, v)| {
                            let sub = format!("{child_ptr}/{}", escape_pointer(k));
                            (k.clone(), fix_strict_noting(v, &sub, notes))
                        })
                        .collect(),
                ),
                other => other.clone(),
            },
            "items" => fix_strict_noting(child, &child_ptr, notes),
            "anyOf" | "allOf" | "oneOf" => match child {
                Value::Array(items) => Value::Array(
                    items
                        .iter()
                        .enumerate()
                        .map(|(i, v)| fix_strict_noting(v, &format!("{child_ptr}/{i}"), notes))
                        .collect(),
                ),
                other => other.clone(),
            },
            _ => child.clone(),
        };
        out.insert(key.clone(), fixed);
    }
    let is_object =
        out.get("type").and_then(Value::as_str) == Some("object") || out.contains_key("properties");
    if is_object {
        if let Some(other) = out.get("additionalProperties")
            && other != &Value::Bool(false)
        {
            notes.push(format!(
                "{here}: \"additionalProperties\": {other} became false; strict mode allows no keys beyond \"properties\""
            ));
        }
        out.insert("additionalProperties".into(), Value::Bool(false));
        let names: Vec<Value> = out
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().map(Value::String).collect())
            .unwrap_or_default();
        out.insert("required".into(), Value::Array(names));
    }
    Value::Object(out)
}

/// An answer that does not match: the answer as written, if it is JSON, and the problems
/// (`<instance path>: <message>`).
pub type Mismatch = (Option<Box<RawValue>>, Vec<String>);

/// The answer checked: as written (its whitespace removed), or why it does not match.
pub fn check_answer(schema: &PreparedSchema, answer: &str) -> Result<Box<RawValue>, Mismatch> {
    let body = strip_code_fence(answer);
    let value: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(e) => {
            return Err((None, vec![format!("/: the answer is not JSON: {e}")]));
        }
    };
    if let Some(duplicate) = crate::jsontext::duplicate_key(body) {
        return Err((None, vec![duplicate]));
    }
    // What is shown is the answer as written (its numbers exact, its keys in order); the
    // parsed value is only for the check (exact too: jsonschema's arbitrary precision
    // compares 0.10000000000000000001 with a maximum of 0.1 as written, not as a float).
    let exact = RawValue::from_string(crate::jsontext::reformat(body, false))
        .or_else(|_| serde_json::value::to_raw_value(&value));
    let errors: Vec<String> = schema
        .validator
        .iter_errors(&value)
        .map(|e| {
            let at = e.instance_path().as_str().to_string();
            let at = if at.is_empty() { "/".to_string() } else { at };
            format!("{at}: {e}")
        })
        .collect();
    match exact {
        Ok(exact) if errors.is_empty() => Ok(exact),
        Ok(exact) => Err((Some(exact), errors)),
        Err(e) => Err((
            None,
            vec![format!("/: the answer cannot be shown as JSON: {e}")],
        )),
    }
}

/// Tolerate one Markdown code fence around the answer (```json ... ```).
pub fn strip_code_fence(text: &str) -> &str {
    let t = text.trim();
    let Some(rest) = t.strip_prefix("```") else {
        return t;
    };
    let Some(body) = rest.strip_suffix("```") else {
        return t;
    };
    // Drop the info string (e.g. `json`) on the opening line.
    match body.find('\n') {
        Some(nl) => body[nl + 1..].trim(),
        None => body.trim(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strict_rules() {
        let good = json!({"type":"object","properties":{"a":{"type":"string"}},"required":["a"],"additionalProperties":false});
        assert!(strict_violations(&good).is_empty());
        let bad = json!({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string","minLength":1}}}},"required":["a"],"additionalProperties":false});
        let v = strict_violations(&bad);
        assert!(
            v.iter()
                .any(|l| l.starts_with("/properties/a: objects need")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|l| l.starts_with("/properties/a: every property")),
            "{v:?}"
        );
        assert!(
            v.iter()
                .any(|l| l.contains("/properties/a/properties/b: keyword \"minLength\"")),
            "{v:?}"
        );
        assert!(
            strict_violations(&json!({"type":"array"}))
                .iter()
                .any(|l| l.starts_with("/: the root"))
        );
        assert!(strict_violations(&fix_strict(&json!({"type":"object","properties":{"a":{"type":"object","properties":{"b":{"type":"string"}}}}}))).is_empty());
    }

    #[test]
    fn fences() {
        assert_eq!(strip_code_fence("```json\n{\"a\":1}\n```"), "{\"a\":1}");
        assert_eq!(strip_code_fence(" {\"a\":1} "), "{\"a\":1}");
    }
}
