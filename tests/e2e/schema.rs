//! `spawncodex schema-run`: codex is given the schema, and the answer is checked against it.

use serde_json::{Value, json};

use crate::harness::{E2e, Run, e2e_env};
use crate::server::Step;

fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "answer": {"type": "string"},
            "confidence": {"type": "number"}
        },
        "required": ["answer", "confidence"],
        "additionalProperties": false
    })
}

fn schema_run(env: &E2e) -> Run {
    let file = env.path().join("answer.schema.json");
    std::fs::write(&file, serde_json::to_string_pretty(&schema()).unwrap()).unwrap();
    let work = env.work();
    env.run(&[
        "schema-run",
        "--schema",
        file.to_str().unwrap(),
        "--compact",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "What is the capital of France?",
    ])
}

#[test]
fn schema_run_prints_a_matching_answer() {
    let answer = json!({"answer": "Paris", "confidence": 0.9});
    let env = e2e_env!(
        "schema_run_prints_a_matching_answer",
        vec![Step::Json(answer.clone())]
    );
    let run = schema_run(&env);
    run.assert_code(0);
    let printed: Value = serde_json::from_str(&run.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{run}"));
    assert_eq!(printed, answer, "{run}");
    assert_eq!(run.stdout.lines().count(), 1, "{run}");

    let requests = env.server.requests();
    assert_eq!(requests.len(), 1);
    let format = &requests[0].body["text"]["format"];
    assert_eq!(format["type"], "json_schema", "{format}");
    assert_eq!(format["strict"], true, "{format}");
    assert_eq!(
        format["schema"],
        schema(),
        "codex sent the schema to the model"
    );
}

#[test]
fn schema_run_rejects_a_mismatching_answer() {
    let env = e2e_env!(
        "schema_run_rejects_a_mismatching_answer",
        vec![Step::Json(json!({"answer": 42, "confidence": 0.9}))]
    );
    let run = schema_run(&env);
    run.assert_code(3);
    assert!(
        run.stderr.contains("/answer"),
        "stderr names the failing path:\n{run}"
    );
    assert!(
        run.stderr.contains("string"),
        "and what was expected:\n{run}"
    );
}
