//! Stopping codex: `--timeout`, `--idle-timeout` and Ctrl-C, each leaving no process behind.

use std::time::{Duration, Instant};

use crate::harness::{e2e_env, processes_mentioning};
use crate::server::Step;

#[test]
fn timeout_stops_codex_when_the_server_never_answers() {
    let env = e2e_env!(
        "timeout_stops_codex_when_the_server_never_answers",
        vec![Step::Hang]
    );
    let work = env.work();
    let run = env.run(&[
        "--jsonl",
        "run",
        "--timeout",
        "2",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    run.assert_code(124);
    assert!(
        run.elapsed >= Duration::from_secs(2) && run.elapsed < Duration::from_secs(7),
        "stopped soon after the timeout (grace is 3 s):\n{run}"
    );
    assert_eq!(
        env.server.requests().len(),
        1,
        "codex was waiting on the model"
    );
    let result = run.result();
    assert_eq!(result["status"], "timed_out", "{run}");
    assert_eq!(result["exit_code"], 124, "{run}");

    env.assert_no_process_left(&run);
}

#[test]
fn timeout_during_a_command_stops_the_command_too() {
    let env = e2e_env!(
        "timeout_during_a_command_stops_the_command_too",
        vec![
            Step::shell("sleep 30; echo done"),
            Step::message("finished")
        ]
    );
    let work = env.work();
    let running = env.spawn(&[
        "--jsonl",
        "run",
        "--timeout",
        "4",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    // The command really runs (in codex's sandbox, in a session of its own) before the timeout.
    let root = env.path().to_string_lossy().into_owned();
    let cmdline = |pid: u32| std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let end = Instant::now() + Duration::from_secs(4);
    let mut seen = false;
    while !seen && Instant::now() < end {
        seen = processes_mentioning(&root)
            .into_iter()
            .any(|pid| cmdline(pid) == b"sleep\x0030\x00");
        std::thread::sleep(Duration::from_millis(20));
    }
    let run = running.finish();
    assert!(seen, "`sleep 30` never ran:\n{run}");
    run.assert_code(124);
    assert_eq!(run.result()["status"], "timed_out", "{run}");
    assert_eq!(env.server.requests().len(), 1, "the command never finished");
    env.assert_no_process_left(&run);
}

#[test]
fn idle_timeout_stops_a_silent_codex() {
    let env = e2e_env!("idle_timeout_stops_a_silent_codex", vec![Step::Hang]);
    let work = env.work();
    let run = env.run(&[
        "--jsonl",
        "run",
        "--idle-timeout",
        "1",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    run.assert_code(124);
    assert!(run.elapsed < Duration::from_secs(6), "{run}");
    let result = run.result();
    assert_eq!(result["status"], "timed_out", "{run}");
    assert!(
        result["error"]
            .as_str()
            .unwrap()
            .contains("--idle-timeout expired"),
        "{run}"
    );
    env.assert_no_process_left(&run);
}

#[test]
fn ctrl_c_stops_codex_and_exits_130() {
    let env = e2e_env!("ctrl_c_stops_codex_and_exits_130", vec![Step::Hang]);
    let work = env.work();
    let running = env.spawn(&[
        "--jsonl",
        "run",
        "--skip-git-repo-check",
        "-C",
        work.to_str().unwrap(),
        "hi",
    ]);
    let requests = env.server.wait_for_requests(1, Duration::from_secs(20));
    assert_eq!(requests.len(), 1, "codex never called the model");
    running.signal(libc::SIGINT);
    let run = running.finish();
    run.assert_code(130);
    assert!(run.elapsed < Duration::from_secs(6), "{run}");
    assert_eq!(run.result()["status"], "interrupted", "{run}");
    env.assert_no_process_left(&run);
}
