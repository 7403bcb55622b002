//! `spawncodex schema-run`: checked before codex starts, and after it answers.

use predicates::prelude::*;

use crate::common::*;

const STRICT: &str = r#"{"type":"object","properties":{"answer":{"type":"string"},"confidence":{"type":"number"}},"required":["answer","confidence"],"additionalProperties":false}"#;

fn answer_script(env: &Env, name: &str, answer_json_string: &str) -> std::path::PathBuf {
    env.script(
        name,
        &[
            r#"{"type":"thread.started","thread_id":"t-schema"}"#,
            r#"{"type":"turn.started"}"#,
            &format!(r#"{{"type":"item.completed","item":{{"id":"item_0","type":"agent_message","text":{answer_json_string}}}}}"#),
            r#"{"type":"turn.completed","usage":{}}"#,
        ],
    )
}

#[test]
fn valid_answer_prints_the_json() {
    let env = Env::new();
    let schema = env.path().join("s.json");
    std::fs::write(&schema, STRICT).unwrap();
    let script = env.replay("output_schema.jsonl", 0);
    env.cmd(&[&script])
        .arg("schema-run")
        .arg("--schema")
        .arg(&schema)
        .arg("what?")
        .assert()
        .success()
        .stdout("{\"answer\":\"42\",\"confidence\":0.9}\n");
    let argv = env.argv(1);
    let i = argv.iter().position(|a| a == "--output-schema").unwrap();
    assert_eq!(argv[i + 1], schema.display().to_string());
}

#[test]
fn inline_schema_goes_through_a_temp_file_that_is_removed() {
    let env = Env::new();
    let script = env.replay("output_schema.jsonl", 0);
    let out = env
        .cmd(&[&script])
        .args(["schema-run", "--jsonl", "--schema-json", STRICT, "what?"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let argv = env.argv(1);
    let i = argv.iter().position(|a| a == "--output-schema").unwrap();
    let temp = std::path::PathBuf::from(&argv[i + 1]);
    assert!(!temp.exists(), "temp schema {} left behind", temp.display());
    let lines = jsonl(&out.stdout);
    let schema_line = lines
        .iter()
        .find(|l| l["type"] == "spawncodex.schema")
        .unwrap();
    assert_eq!(schema_line["valid"], true);
    assert_eq!(schema_line["value"]["answer"], "42");
    assert_eq!(lines.last().unwrap()["json"]["confidence"], 0.9);
}

#[test]
fn mismatch_exits_3_and_names_the_path() {
    let env = Env::new();
    let script = answer_script(&env, "wrong", r#""{\"answer\": 42, \"confidence\": 0.5}""#);
    let out = env
        .cmd(&[&script])
        .args(["schema-run", "--schema-json", STRICT, "what?"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("/answer"), "{stderr}");
    assert!(stderr.contains("does not match the schema"), "{stderr}");
    // The raw answer is kept: with -v on stderr, and in the result line.
    env.cmd(&[&script])
        .args(["schema-run", "-v", "--schema-json", STRICT, "what?"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains(r#"raw answer: {"answer": 42"#));
    let out = env
        .cmd(&[&script])
        .args(["schema-run", "--jsonl", "--schema-json", STRICT, "what?"])
        .output()
        .unwrap();
    let lines = jsonl(&out.stdout);
    let last = lines.last().unwrap();
    assert_eq!(last["exit_code"], 3);
    // CI checks `.status == "completed"`: an answer that does not match is not that.
    assert_eq!(last["status"], "failed");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("does not match the schema")
    );
    assert_eq!(
        last["final_message"],
        r#"{"answer": 42, "confidence": 0.5}"#
    );
    let schema_line = lines
        .iter()
        .find(|l| l["type"] == "spawncodex.schema")
        .unwrap();
    assert_eq!(schema_line["valid"], false);
    assert!(
        schema_line["errors"][0]
            .as_str()
            .unwrap()
            .starts_with("/answer")
    );
    // Not JSON at all.
    let prose = answer_script(&env, "prose", r#""the answer is 42""#);
    env.cmd(&[&prose])
        .args(["schema-run", "--schema-json", STRICT, "what?"])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("not JSON"));
}

#[test]
fn a_code_fence_is_tolerated() {
    let env = Env::new();
    let script = answer_script(
        &env,
        "fenced",
        r#""```json\n{\"answer\": \"x\", \"confidence\": 1}\n```""#,
    );
    env.cmd(&[&script])
        .args(["schema-run", "--compact", "--schema-json", STRICT, "what?"])
        .assert()
        .success()
        .stdout("{\"answer\":\"x\",\"confidence\":1}\n");
}

#[test]
fn the_answer_is_printed_as_the_model_wrote_it() {
    // A float round trip would print 1.2345678901234568e22 and 100.0, and sort the keys.
    let env = Env::new();
    let schema = r#"{"type":"object","properties":{"z":{"type":"integer"},"n":{"type":"number"}},"required":["z","n"],"additionalProperties":false}"#;
    let answer = r#""{\"z\": 12345678901234567890123,\n \"n\": 1e2}""#;
    let exact = r#"{"z":12345678901234567890123,"n":1e2}"#;
    let script = answer_script(&env, "big", answer);
    env.cmd(&[&script])
        .args(["schema-run", "--compact", "--schema-json", schema, "q"])
        .assert()
        .success()
        .stdout(format!("{exact}\n"));
    let script = answer_script(&env, "big", answer);
    let out = env
        .cmd(&[&script])
        .args(["schema-run", "--jsonl", "--schema-json", schema, "q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    let schema_line = lines
        .iter()
        .find(|l| l.contains(r#""type":"spawncodex.schema""#))
        .unwrap();
    assert!(
        schema_line.ends_with(&format!(r#","value":{exact}}}"#)),
        "{schema_line}"
    );
    let result = lines.last().unwrap();
    assert!(result.contains(&format!(r#""json":{exact},"#)), "{result}");
}

#[test]
fn what_is_printed_is_what_was_checked() {
    let env = Env::new();
    let schema = r#"{"type":"object","properties":{"a":{"type":"integer"},"p":{"type":"number","maximum":0.1}},"required":["a","p"],"additionalProperties":false}"#;
    // A key twice: serde keeps the last value, the printed text holds both.
    let twice = answer_script(&env, "twice", r#""{\"a\": \"x\", \"a\": 1, \"p\": 0}""#);
    // Above the maximum only in the digits a float drops.
    let above = answer_script(
        &env,
        "above",
        r#""{\"a\": 1, \"p\": 0.10000000000000000001}""#,
    );
    for (script, problem) in [
        (&twice, r#"/: key "a" appears twice"#),
        (
            &above,
            "/p: 0.10000000000000000001 is greater than the maximum of 0.1",
        ),
    ] {
        let out = env
            .cmd(&[script])
            .args(["schema-run", "--schema-json", schema, "q"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(3));
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(stderr.contains(problem), "{stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn formats_are_checked() {
    let env = Env::new();
    let schema = r#"{"type":"object","properties":{"when":{"type":"string","format":"date-time"}},"required":["when"],"additionalProperties":false}"#;
    let script = answer_script(&env, "bad-date", r#""{\"when\": \"not a date\"}""#);
    let out = env
        .cmd(&[&script])
        .args(["schema-run", "--schema-json", schema, "q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("/when") && stderr.contains("date-time"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    let script = answer_script(
        &env,
        "good-date",
        r#""{\"when\": \"2026-11-24T10:00:00Z\"}""#,
    );
    env.cmd(&[&script])
        .args(["schema-run", "--schema-json", schema, "q"])
        .assert()
        .success()
        .stdout("{\"when\":\"2026-11-24T10:00:00Z\"}\n");
}

#[test]
fn repair_asks_again_in_the_same_thread() {
    let env = Env::new();
    let wrong = answer_script(&env, "wrong", r#""{\"answer\": 42, \"confidence\": 0.5}""#);
    let right = env.replay("output_schema.jsonl", 0);
    env.cmd(&[&wrong, &right])
        .args([
            "schema-run",
            "--repair",
            "1",
            "--schema-json",
            STRICT,
            "what?",
        ])
        .assert()
        .success()
        .stdout("{\"answer\":\"42\",\"confidence\":0.9}\n");
    let argv = env.argv(2);
    assert_eq!(&argv[..4], ["exec", "--json", "resume", "t-schema"]);
    assert!(argv.last().unwrap().contains("/answer"));
    assert!(argv.contains(&"--output-schema".to_string()));
}

#[test]
fn a_repair_round_that_fails_reports_its_own_error_and_the_whole_duration() {
    let env = Env::new();
    let wrong = env.script(
        "slow-wrong",
        &[
            "@@sleep 0.6",
            r#"{"type":"thread.started","thread_id":"t-schema"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"{\"answer\": 42, \"confidence\": 0.5}"}}"#,
            r#"{"type":"turn.completed","usage":{}}"#,
        ],
    );
    let boom = env.script(
        "boom",
        &[
            r#"{"type":"thread.started","thread_id":"t-schema"}"#,
            r#"{"type":"error","message":"boom"}"#,
            r#"{"type":"turn.failed","error":{"message":"boom"}}"#,
            "@@exit 1",
        ],
    );
    let out = env
        .cmd(&[&wrong, &boom])
        .args([
            "schema-run",
            "--jsonl",
            "--repair",
            "1",
            "--schema-json",
            STRICT,
            "what?",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains("does not match"), "{stderr}");
    // The repair round's attempt is the turn's second: numbers never repeat in one stream.
    let lines = jsonl(&out.stdout);
    for kind in [
        "spawncodex.attempt.started",
        "spawncodex.process.spawned",
        "spawncodex.attempt.finished",
    ] {
        let numbers: Vec<_> = lines
            .iter()
            .filter(|l| l["type"] == kind)
            .map(|l| l["attempt"].clone())
            .collect();
        assert_eq!(numbers, [1, 2], "{kind}");
    }
    let last = jsonl(&out.stdout).pop().unwrap();
    assert_eq!(last["error"], "boom");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["attempts"], 2);
    assert!(last["duration_ms"].as_u64().unwrap() >= 600, "{last}");
    // In human mode too (a new fake codex, so the first round is the wrong answer again).
    let env = Env::new();
    let wrong = env.script(
        "wrong",
        &[
            r#"{"type":"thread.started","thread_id":"t-schema"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"{\"answer\": 42, \"confidence\": 0.5}"}}"#,
            r#"{"type":"turn.completed","usage":{}}"#,
        ],
    );
    let boom = env.script(
        "boom",
        &[
            r#"{"type":"thread.started","thread_id":"t-schema"}"#,
            r#"{"type":"turn.failed","error":{"message":"boom"}}"#,
            "@@exit 1",
        ],
    );
    let out = env
        .cmd(&[&wrong, &boom])
        .args([
            "schema-run",
            "--repair",
            "1",
            "--schema-json",
            STRICT,
            "what?",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("spawncodex: error: boom"), "{stderr}");
    assert!(
        !stderr.contains("error: the answer does not match"),
        "{stderr}"
    );
    assert_eq!(env.calls(), 2);
}

#[test]
fn bad_schemas_exit_2_before_codex_starts() {
    let env = Env::new();
    let script = env.replay("output_schema.jsonl", 0);
    let broken = env.path().join("broken.json");
    std::fs::write(&broken, "{\n  \"type\": \"object\",\n  oops\n}").unwrap();
    let out = env
        .cmd(&[&script])
        .arg("schema-run")
        .arg("--schema")
        .arg(&broken)
        .arg("q")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("broken.json") && stderr.contains("line 3 column 3"),
        "{stderr}"
    );
    // Does not compile.
    env.cmd(&[&script])
        .args([
            "schema-run",
            "--schema-json",
            r#"{"type":"object","properties":{"a":{"type":12}}}"#,
            "q",
        ])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a valid JSON Schema"));
    // Not strict: each violation with its pointer.
    let loose = r#"{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"object","properties":{"c":{"type":"string"}}}},"required":["a"]}"#;
    let out = env
        .cmd(&[&script])
        .args(["schema-run", "--schema-json", loose, "q"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("/: objects need \"additionalProperties\": false"),
        "{stderr}"
    );
    assert!(
        stderr.contains("/: every property must be listed in \"required\"; missing: b"),
        "{stderr}"
    );
    assert!(stderr.contains("/properties/b: objects need"), "{stderr}");
    assert_eq!(env.calls(), 0);
    // --no-strict-check lets it through to codex (whose answer then lacks "a").
    env.cmd(&[&script])
        .args([
            "schema-run",
            "--no-strict-check",
            "--schema-json",
            loose,
            "q",
        ])
        .assert()
        .code(3)
        .stderr(predicate::str::contains("/: \"a\" is a required property"));
    assert_eq!(env.calls(), 1);
    // --fix-strict prints the strict form.
    let out = env
        .cmd(&[])
        .args(["schema-run", "--fix-strict", "--schema-json", loose])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let fixed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fixed["additionalProperties"], false);
    assert_eq!(fixed["required"], serde_json::json!(["a", "b"]));
    assert_eq!(
        fixed["properties"]["b"]["required"],
        serde_json::json!(["c"])
    );
    assert!(out.stderr.is_empty());
    // What it cannot fix is said, with exit 2, and a map's change of meaning is noted.
    let out = env
        .cmd(&[])
        .args([
            "schema-run",
            "--fix-strict",
            "--schema-json",
            r#"{"type":"object","properties":{"x":{"type":"string","minLength":2},"m":{"type":"object","additionalProperties":{"type":"string"}}}}"#,
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("note: /properties/m: \"additionalProperties\""),
        "{stderr}"
    );
    assert!(stderr.contains("cannot fix"), "{stderr}");
    assert!(
        stderr.contains("/properties/x: keyword \"minLength\""),
        "{stderr}"
    );
    // The fixed schema is still printed, for the user to finish by hand.
    let fixed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(fixed["properties"]["m"]["additionalProperties"], false);
    for root in ["{}", r#"{"type":"array","items":{"type":"string"}}"#] {
        let out = env
            .cmd(&[])
            .args(["schema-run", "--fix-strict", "--schema-json", root])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{root}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("the root must be an object"));
    }
}

#[test]
fn schema_from_stdin_with_the_prompt_in_argv() {
    let env = Env::new();
    let script = env.replay("output_schema.jsonl", 0);
    env.cmd(&[&script])
        .args(["schema-run", "--schema", "-", "the prompt"])
        .write_stdin(STRICT)
        .assert()
        .success()
        .stdout("{\"answer\":\"42\",\"confidence\":0.9}\n");
    assert_eq!(env.argv(1).last().unwrap(), "the prompt");
    // Both from stdin cannot work.
    env.cmd(&[&script])
        .args(["schema-run", "--schema", "-"])
        .write_stdin(STRICT)
        .assert()
        .code(2);
}

#[test]
fn resume_with_a_schema() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    let json = env.replay("output_schema.jsonl", 0);
    env.cmd(&[&plain, &json])
        .args(["run", "--session", "s", "hi"])
        .assert()
        .success();
    env.cmd(&[&plain, &json])
        .args([
            "resume",
            "--session",
            "s",
            "--schema-json",
            STRICT,
            "now as JSON",
        ])
        .assert()
        .success()
        .stdout("{\"answer\":\"42\",\"confidence\":0.9}\n");
    assert!(env.argv(2).contains(&"--output-schema".to_string()));
}
