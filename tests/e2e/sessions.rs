//! Named sessions over the real codex: `run --session`, then `resume --session`.

use serde_json::Value;

use crate::harness::{Running, e2e_env};
use crate::server::Step;

#[test]
fn resume_continues_the_same_thread() {
    let env = e2e_env!(
        "resume_continues_the_same_thread",
        vec![
            Step::message("The first answer."),
            Step::message("The second answer.")
        ]
    );
    // The session starts in work/project; resume runs from elsewhere.
    let project = env.work().join("project");
    std::fs::create_dir_all(&project).unwrap();
    let first = env.run(&[
        "--jsonl",
        "run",
        "--session",
        "a",
        "--skip-git-repo-check",
        "-C",
        project.to_str().unwrap(),
        "the first question",
    ]);
    first.assert_code(0);
    let mut resume = env.command(&["--jsonl", "resume", "--session", "a", "next"]);
    resume.current_dir(env.path());
    let second = Running::start(resume).finish();
    second.assert_code(0);

    let (r1, r2) = (first.result(), second.result());
    assert_eq!(r1["final_message"], "The first answer.", "{first}");
    assert_eq!(r2["final_message"], "The second answer.", "{second}");
    assert!(r1["thread_id"].is_string(), "{first}");
    assert_eq!(
        r1["thread_id"], r2["thread_id"],
        "same thread:\n{first}\n{second}"
    );

    // The second request replays the first turn to the model.
    let requests = env.server.requests();
    assert_eq!(requests.len(), 2);
    let req = &requests[1];
    assert_eq!(
        req.header("thread-id"),
        r1["thread_id"].as_str(),
        "the resumed request belongs to the same thread"
    );
    let users = req.texts("user");
    let assistant = req.texts("assistant");
    assert!(users.iter().any(|t| t == "the first question"), "{users:?}");
    assert_eq!(users.last().map(String::as_str), Some("next"), "{users:?}");
    assert!(
        assistant.iter().any(|t| t == "The first answer."),
        "{assistant:?}"
    );
    // ...in the session's directory: no second environment context with another cwd.
    let contexts: Vec<&String> = users
        .iter()
        .filter(|t| t.starts_with("<environment_context>"))
        .collect();
    let cwd = format!("<cwd>{}</cwd>", project.display());
    assert!(
        !contexts.is_empty() && contexts.iter().all(|t| t.contains(&cwd)),
        "{contexts:?}"
    );

    let show = env.run(&["sessions", "show", "a", "--json"]);
    show.assert_code(0);
    let record: Value =
        serde_json::from_str(&show.stdout).unwrap_or_else(|e| panic!("not JSON ({e}):\n{show}"));
    assert_eq!(record["thread_id"], r1["thread_id"], "{show}");
    assert_eq!(record["turns"], 2, "two turns counted:\n{show}");
    let history = record["history"]
        .as_array()
        .unwrap_or_else(|| panic!("no history:\n{show}"));
    let ops: Vec<&str> = history
        .iter()
        .map(|t| t["operation"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ops, ["run", "resume"], "{show}");
    assert!(history.iter().all(|t| t["status"] == "completed"), "{show}");
}

#[test]
fn resume_reapplies_profile_and_sandbox() {
    let env = e2e_env!(
        "resume_reapplies_profile_and_sandbox",
        vec![Step::message("One."), Step::message("Two.")]
    );
    // A codex profile file (0.169: $CODEX_HOME/NAME.config.toml) that changes the request.
    std::fs::write(
        env.codex_home().join("deep.config.toml"),
        "model_reasoning_effort = \"high\"\n",
    )
    .unwrap();
    let first = env.run(&[
        "--jsonl",
        "run",
        "--session",
        "p",
        "-p",
        "deep",
        "-s",
        "workspace-write",
        "--skip-git-repo-check",
        "-C",
        env.work().to_str().unwrap(),
        "first",
    ]);
    first.assert_code(0);
    let second = env.run(&["--jsonl", "resume", "--session", "p", "second"]);
    second.assert_code(0);
    let requests = env.server.requests();
    assert_eq!(requests.len(), 2);
    for (n, req) in requests.iter().enumerate() {
        assert_eq!(
            req.body["reasoning"]["effort"], "high",
            "request {n} did not use the profile: {}",
            req.body["reasoning"]
        );
        let meta: Value =
            serde_json::from_str(req.header("x-codex-turn-metadata").unwrap_or("{}")).unwrap();
        assert_eq!(
            meta["sandbox_mode"], "workspace-write",
            "request {n} sandbox: {meta}"
        );
    }
}

#[test]
fn resume_keeps_the_extra_writable_directory() {
    // On resume, --add-dir travels as -c sandbox_workspace_write.writable_roots (exec resume
    // rejects --add-dir): the resumed turn's command may still write there.
    let env = e2e_env!(
        "resume_keeps_the_extra_writable_directory",
        vec![
            Step::message("Ready."),
            Step::shell("touch ../extra/made-on-resume"),
            Step::message("Done."),
        ]
    );
    let project = env.work().join("project");
    let extra = env.work().join("extra");
    std::fs::create_dir_all(&project).unwrap();
    std::fs::create_dir_all(&extra).unwrap();
    let first = env.run(&[
        "--jsonl",
        "run",
        "--session",
        "w",
        "-s",
        "workspace-write",
        "--add-dir",
        extra.to_str().unwrap(),
        "--skip-git-repo-check",
        "-C",
        project.to_str().unwrap(),
        "get ready",
    ]);
    first.assert_code(0);
    let second = env.run(&["--jsonl", "resume", "--session", "w", "make the file"]);
    second.assert_code(0);
    let done: Vec<Value> = second
        .events("item.completed")
        .into_iter()
        .filter(|e| e["item"]["type"] == "command_execution")
        .collect();
    assert_eq!(done.len(), 1, "{second}");
    assert_eq!(done[0]["item"]["exit_code"], 0, "{second}");
    assert!(extra.join("made-on-resume").exists(), "{second}");
}
