//! `spawncodex run` and `live`: a plain answer, and a command codex really runs.

use crate::harness::e2e_env;
use crate::server::Step;

#[test]
fn run_prints_only_the_answer() {
    let env = e2e_env!(
        "run_prints_only_the_answer",
        vec![Step::message("Hello from the fake server.")]
    );
    let work = env.work();
    let run = env.run(&[
        "run",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "say hello",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout, "Hello from the fake server.\n", "{run}");

    let requests = env.server.requests();
    assert_eq!(requests.len(), 1, "one model request");
    let req = &requests[0];
    assert_eq!(req.path, "/v1/responses");
    assert_eq!(req.body["model"], "gpt-5.5");
    assert_eq!(req.header("originator"), Some("codex_exec"));
    assert_eq!(
        req.texts("user").last().map(String::as_str),
        Some("say hello"),
        "the prompt is the last user message"
    );
}

#[test]
fn run_passes_a_dash_prompt_verbatim_and_writes_the_answer_file() {
    let env = e2e_env!(
        "run_passes_a_dash_prompt_verbatim_and_writes_the_answer_file",
        vec![Step::message("Not a flag.")]
    );
    let work = env.work();
    let file = env.path().join("answer.txt");
    let run = env.run(&[
        "run",
        "-o",
        file.to_str().unwrap(),
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "--",
        "--version is a prompt here",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout, "Not a flag.\n", "{run}");
    assert_eq!(
        std::fs::read_to_string(&file).unwrap().trim_end(),
        "Not a flag."
    );
    let requests = env.server.requests();
    assert_eq!(
        requests[0].texts("user").last().map(String::as_str),
        Some("--version is a prompt here")
    );
}

#[test]
fn run_jsonl_reports_a_command_and_the_thread() {
    let env = e2e_env!(
        "run_jsonl_reports_a_command_and_the_thread",
        vec![Step::shell("echo hi"), Step::EchoToolOutput]
    );
    let work = env.work();
    let run = env.run(&[
        "--jsonl",
        "run",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "run echo hi",
    ]);
    run.assert_code(0);

    let started = run.events("item.started");
    let completed = run.events("item.completed");
    let command = |v: &serde_json::Value| {
        v["item"]["type"] == "command_execution"
            && v["item"]["command"]
                .as_str()
                .is_some_and(|c| c.contains("echo hi"))
    };
    let started: Vec<_> = started.iter().filter(|v| command(v)).collect();
    let completed: Vec<_> = completed.iter().filter(|v| command(v)).collect();
    assert_eq!(started.len(), 1, "one command started:\n{run}");
    assert_eq!(completed.len(), 1, "one command completed:\n{run}");
    assert_eq!(started[0]["item"]["status"], "in_progress");
    let done = &completed[0]["item"];
    assert_eq!(done["status"], "completed", "{run}");
    assert_eq!(done["exit_code"], 0, "{run}");
    assert!(
        done["aggregated_output"].as_str().unwrap().contains("hi"),
        "{run}"
    );

    let thread_id = run.events("thread.started")[0]["thread_id"]
        .as_str()
        .unwrap()
        .to_string();
    let result = run.result();
    assert_eq!(result["status"], "completed", "{run}");
    assert_eq!(result["thread_id"], thread_id.as_str(), "{run}");
    assert_eq!(result["exit_code"], 0, "{run}");
    let answer = result["final_message"].as_str().unwrap();
    assert!(
        answer.starts_with("The tool returned:") && answer.contains("hi"),
        "the answer quotes the real command output: {answer:?}"
    );

    // Two model requests: the call, then one carrying the command's output back.
    let requests = env.server.requests();
    assert_eq!(requests.len(), 2, "{run}");
    assert!(requests[0].tool_names().iter().any(|t| t == "exec_command"));
    let output = requests[1]
        .input()
        .iter()
        .find(|i| i["type"] == "function_call_output")
        .cloned()
        .expect("the second request carries the tool output");
    assert_eq!(output["call_id"], "call_fake_1");
    assert!(output["output"].as_str().unwrap().contains("hi"));
    assert_eq!(requests[1].header("thread-id"), Some(thread_id.as_str()));
}

#[test]
fn live_shows_the_command_and_its_exit_code() {
    let env = e2e_env!(
        "live_shows_the_command_and_its_exit_code",
        vec![Step::shell("echo hi"), Step::message("It printed hi.")]
    );
    let work = env.work();
    let run = env.run(&[
        "live",
        "--color",
        "never",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "run echo hi",
    ]);
    run.assert_code(0);
    assert_eq!(run.stdout, "It printed hi.\n", "{run}");
    let lines: Vec<&str> = run.stderr.lines().collect();
    let at = lines
        .iter()
        .position(|l| *l == "$ echo hi")
        .unwrap_or_else(|| panic!("no `$ echo hi` line on stderr:\n{run}"));
    assert!(
        lines[at..].iter().any(|l| l.trim() == "hi"),
        "the output is shown:\n{run}"
    );
    assert!(
        lines[at..]
            .iter()
            .any(|l| l.trim_start().starts_with("✓ exit 0")),
        "the exit code is shown:\n{run}"
    );
    assert!(run.stderr.contains("It printed hi."), "{run}");
}
