//! What a user sees when the model server fails: rate limits, 5xx and dropped streams, with
//! and without `--retries`.

use crate::harness::e2e_env;
use crate::server::Step;

#[test]
fn rate_limit_fails_with_the_message() {
    let env = e2e_env!(
        "rate_limit_fails_with_the_message",
        vec![Step::rate_limited()]
    );
    let work = env.work();
    let run = env.run(&[
        "run",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    run.assert_code(1);
    assert_eq!(run.stdout, "", "no answer on stdout:\n{run}");
    assert!(
        run.stderr
            .contains("exceeded retry limit, last status: 429 Too Many Requests"),
        "codex's error reaches stderr:\n{run}"
    );
    // A 429 without retry-after is not retried by codex (one request).
    assert_eq!(env.server.requests().len(), 1);
}

#[test]
fn server_errors_are_retried_until_the_server_recovers() {
    let env = e2e_env!(
        "server_errors_are_retried_until_the_server_recovers",
        vec![
            Step::server_error(),
            Step::server_error(),
            Step::message("Back again.")
        ]
    );
    let work = env.work();
    let run = env.run(&[
        "--jsonl",
        "run",
        "--retries",
        "2",
        "--backoff",
        "0.05",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    run.assert_code(0);
    let result = run.result();
    assert_eq!(result["status"], "completed", "{run}");
    assert_eq!(result["final_message"], "Back again.", "{run}");
    assert!(result["attempts"].as_u64().unwrap() >= 2, "{run}");
    assert_eq!(result["attempts"], 3, "two failures, then success:\n{run}");
    assert_eq!(run.events("spawncodex.retry.scheduled").len(), 2, "{run}");

    // Every retry continued the thread the first attempt started.
    let thread = result["thread_id"].as_str().unwrap();
    let requests = env.server.requests();
    assert_eq!(requests.len(), 3, "{run}");
    for req in &requests {
        assert_eq!(req.header("thread-id"), Some(thread), "{run}");
    }
    assert_eq!(
        requests[2]
            .texts("user")
            .iter()
            .filter(|t| *t == "hi")
            .count(),
        1,
        "the resumed request still carries the original prompt once"
    );
}

#[test]
fn a_dropped_stream_is_recovered_by_codex() {
    let mut env = e2e_env!(
        "a_dropped_stream_is_recovered_by_codex",
        vec![
            Step::Drop(3),
            Step::message("Recovered after a dropped stream.")
        ]
    );
    env.stream_max_retries = 1;
    let work = env.work();
    let run = env.run(&[
        "--jsonl",
        "run",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    run.assert_code(0);
    let reconnecting = run.events("error");
    assert_eq!(reconnecting.len(), 1, "codex reported the drop:\n{run}");
    assert!(
        reconnecting[0]["message"]
            .as_str()
            .unwrap()
            .starts_with("Reconnecting... 1/1"),
        "{run}"
    );
    let result = run.result();
    assert_eq!(result["status"], "completed", "{run}");
    assert_eq!(
        result["final_message"], "Recovered after a dropped stream.",
        "{run}"
    );
    assert_eq!(result["attempts"], 1, "codex recovered by itself:\n{run}");
    assert_eq!(env.server.requests().len(), 2);
}

#[test]
fn rate_limit_is_retried_with_retries() {
    let env = e2e_env!(
        "rate_limit_is_retried_with_retries",
        vec![Step::rate_limited(), Step::message("Now within the limit.")]
    );
    let work = env.work();
    let run = env.run(&[
        "--jsonl",
        "run",
        "--retries",
        "1",
        "--backoff",
        "0.05",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    run.assert_code(0);
    let result = run.result();
    assert_eq!(result["final_message"], "Now within the limit.", "{run}");
    assert_eq!(result["attempts"], 2, "{run}");
    let retry = run.events("spawncodex.retry.scheduled");
    assert_eq!(retry.len(), 1, "{run}");
    assert_eq!(retry[0]["resume_thread_id"], result["thread_id"], "{run}");
    assert_eq!(env.server.requests().len(), 2);
}

#[test]
fn a_dropped_stream_codex_gives_up_on_is_retried() {
    let env = e2e_env!(
        "a_dropped_stream_codex_gives_up_on_is_retried",
        vec![Step::Drop(3), Step::message("Second time lucky.")]
    );
    let work = env.work();
    let run = env.run(&[
        "--jsonl",
        "run",
        "--retries",
        "1",
        "--backoff",
        "0.05",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    run.assert_code(0);
    let result = run.result();
    assert_eq!(result["final_message"], "Second time lucky.", "{run}");
    assert_eq!(result["attempts"], 2, "{run}");
    let failed = run.events("turn.failed");
    assert_eq!(failed.len(), 1, "{run}");
    assert!(
        failed[0]["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("stream disconnected before completion"),
        "{run}"
    );
}
