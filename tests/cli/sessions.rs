//! Named sessions: the store, `--session`, `resume`, `sessions list|show|rm|import`.

use std::os::unix::fs::PermissionsExt;

use predicates::prelude::*;
use serde_json::Value;

use crate::common::*;

const PLAIN_THREAD: &str = "01a20a63-aa15-7440-9eb3-5fd6302dec3b";

fn list_json(env: &Env) -> Vec<Value> {
    let out = env
        .cmd(&[])
        .args(["sessions", "list", "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).unwrap()
}

fn show_json(env: &Env, name: &str) -> Value {
    let out = env
        .cmd(&[])
        .args(["sessions", "show", name, "--json"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn run_then_resume_reapplies_the_stored_options_in_the_stored_directory() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&plain])
        .args([
            "run",
            "--session",
            "a",
            "-s",
            "workspace-write",
            "-m",
            "gpt-5.5",
            "-c",
            "x=1",
        ])
        .arg("-C")
        .arg(env.work())
        .arg("first")
        .assert()
        .success();
    // From another directory: the session's directory is used.
    let elsewhere = env.path().join("elsewhere");
    std::fs::create_dir_all(&elsewhere).unwrap();
    env.cmd(&[&plain])
        .current_dir(&elsewhere)
        .args(["resume", "--session", "a", "next"])
        .assert()
        .success()
        .stdout(format!("{PLAIN_ANSWER}\n"));
    let argv = env.argv(2);
    assert_eq!(
        argv,
        [
            "exec",
            "--json",
            "resume",
            PLAIN_THREAD,
            "-c",
            "sandbox_mode=\"workspace-write\"",
            "-m",
            "gpt-5.5",
            "-c",
            "x=1",
            "--",
            "next"
        ]
    );
    assert_eq!(
        env.cwd(2),
        env.work().canonicalize().unwrap().display().to_string()
    );
    // A flag given now overrides the stored one.
    env.cmd(&[&plain])
        .args(["resume", "--session", "a", "-m", "other", "again"])
        .assert()
        .success();
    let argv = env.argv(3);
    let m = argv.iter().position(|a| a == "-m").unwrap();
    assert_eq!(argv[m + 1], "other");
    let rec = show_json(&env, "a");
    assert_eq!(rec["thread_id"], PLAIN_THREAD);
    assert_eq!(rec["turns"], 3);
    assert_eq!(rec["history"][0]["operation"], "run");
    assert_eq!(rec["history"][1]["operation"], "resume");
    assert_eq!(rec["options"]["sandbox"], "workspace-write");
}

#[test]
fn session_is_saved_as_soon_as_codex_reports_the_thread() {
    let env = Env::new();
    // codex reports the thread, then hangs: the session exists while it runs.
    let script = env.script(
        "hang",
        &[
            r#"{"type":"thread.started","thread_id":"t-early"}"#,
            "@@hang",
        ],
    );
    let mut child = env
        .std_cmd(&[&script])
        .args(["run", "--session", "early", "--grace", "0.2", "hi"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut found = false;
    for _ in 0..100 {
        if stored_sessions(&env.store_file()).is_some_and(|all| {
            all.get("early")
                .is_some_and(|r| r["thread_id"] == "t-early")
        }) {
            found = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    send_signal(child.id(), libc::SIGINT);
    let status = child.wait().unwrap();
    assert!(found, "session not saved while codex was running");
    assert_eq!(status.code(), Some(130));
    let rec = show_json(&env, "early");
    assert_eq!(rec["last_status"], "interrupted");
    assert_eq!(rec["history"][0]["exit_code"], 130);
}

#[test]
fn existing_and_unknown_names() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&plain])
        .args(["run", "--session", "fix-ci", "hi"])
        .assert()
        .success();
    env.cmd(&[&plain])
        .args(["run", "--session", "fix-ci", "hi"])
        .assert()
        .code(2)
        .stderr(
            predicate::str::contains("resume --session fix-ci")
                .and(predicate::str::contains("--replace")),
        );
    assert_eq!(env.calls(), 1);
    env.cmd(&[&plain])
        .args(["run", "--session", "fix-ci", "--replace", "hi"])
        .assert()
        .success();
    let out = env
        .cmd(&[&plain])
        .args(["resume", "--session", "fix-cj", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1);
    assert!(stderr.contains("did you mean fix-ci"), "{stderr}");
}

#[test]
fn bad_names_exit_2() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    let long = "a".repeat(65);
    for name in ["../x", "", "-rf", long.as_str(), ".hidden", "a b"] {
        let out = env
            .cmd(&[&plain])
            .arg("run")
            .arg(format!("--session={name}"))
            .arg("hi")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "name {name:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr).lines().count(),
            1,
            "name {name:?}"
        );
    }
    assert_eq!(env.calls(), 0);
    assert!(!env.store_file().exists());
}

#[test]
fn store_file_and_directory_modes() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&plain])
        .args(["run", "--session", "m", "hi"])
        .assert()
        .success();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let shards = shard_files(&env.store_file()).unwrap();
    assert_eq!(shards.len(), 1);
    assert_eq!(mode(&env.store_file()), 0o600);
    assert_eq!(mode(&shards[0]), 0o600);
    assert_eq!(mode(shards[0].parent().unwrap()), 0o700);
    assert_eq!(mode(&env.home()), 0o700);
    // The XDG default is used without SPAWNCODEX_HOME.
    env.cmd(&[&plain])
        .env_remove("SPAWNCODEX_HOME")
        .args(["run", "--session", "x", "hi"])
        .assert()
        .success();
    assert!(env.path().join("xdg/spawncodex/sessions.json").exists());
    // --store wins.
    let custom = env.path().join("custom.json");
    env.cmd(&[&plain])
        .arg("--store")
        .arg(&custom)
        .args(["run", "--session", "y", "hi"])
        .assert()
        .success();
    assert!(stored_sessions(&custom).unwrap().contains_key("y"));
}

#[test]
fn unreadable_or_newer_store_is_left_untouched() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    std::fs::create_dir_all(env.home()).unwrap();
    for content in [
        &b"{\"format\":\"spawncodex-sessions\",\"version\":1,\"sessions\":{\"a\":"[..],
        br#"{"format":"spawncodex-sessions","version":7,"sessions":{}}"#,
        b"{\"format\":\"spawncodex-sessions\",\"version\":1,\"sessions\":{\n\"a\":{this is not json}\n}}\n",
    ] {
        std::fs::write(env.store_file(), content).unwrap();
        for args in [
            vec!["run", "--session", "b", "hi"],
            vec!["sessions", "list"],
            vec!["sessions", "rm", "a"],
            vec!["resume", "--session", "a", "hi"],
        ] {
            let out = env.cmd(&[&plain]).args(&args).output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{args:?}");
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(
                stderr.contains(&env.store_file().display().to_string()),
                "{stderr}"
            );
            assert_eq!(std::fs::read(env.store_file()).unwrap(), content);
        }
    }
    assert_eq!(env.calls(), 0);
}

#[test]
fn concurrent_runs_lose_no_session() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    let children: Vec<_> = (0..64)
        .map(|i| {
            env.std_cmd(&[&plain])
                .args(["run", "--session", &format!("s{i}"), "hi"])
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let all = list_json(&env);
    assert_eq!(all.len(), 64);
    // Every file is valid JSON and every session is in exactly one of them.
    assert_eq!(stored_sessions(&env.store_file()).unwrap().len(), 64);
    assert!(
        all.iter()
            .all(|s| s["turns"] == 1 && s["last_status"] == "completed")
    );
}

#[test]
fn history_is_bounded_and_usage_is_per_turn() {
    let env = Env::new();
    // codex's usage grows across turns of a thread: 120, 240, 360...
    let turn = |n: u64| {
        let path = env.path().join(format!("turn{n}.jsonl"));
        std::fs::write(
            &path,
            format!(
                "{{\"type\":\"thread.started\",\"thread_id\":\"01a20a63-0000-7000-8000-000000000007\"}}\n{{\"type\":\"turn.started\"}}\n{{\"type\":\"item.completed\",\"item\":{{\"id\":\"item_0\",\"type\":\"agent_message\",\"text\":\"answer {n}\"}}}}\n{{\"type\":\"turn.completed\",\"usage\":{{\"input_tokens\":{},\"cached_input_tokens\":{},\"cache_write_input_tokens\":0,\"output_tokens\":{},\"reasoning_output_tokens\":{}}}}}\n",
                120 * n, 20 * n, 30 * n, 5 * n
            ),
        )
        .unwrap();
        env.script(&format!("turn{n}"), &[&format!("@@cat {}", path.display())])
    };
    let scripts: Vec<_> = (1..=6).map(turn).collect();
    let refs: Vec<&std::path::Path> = scripts.iter().map(|p| p.as_path()).collect();
    env.cmd(&refs)
        .env("SPAWNCODEX_HISTORY", "3")
        .args(["run", "--session", "h", "p1"])
        .assert()
        .success();
    for i in 2..=5 {
        let out = env
            .cmd(&refs)
            .env("SPAWNCODEX_HISTORY", "3")
            .args(["resume", "--live", "--session", "h", &format!("p{i}")])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("answer {i}\n")
        );
        // The summary shows this turn's usage, not the thread's running total.
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("· tokens: 120 in (20 cached) / 30 out (5 reasoning)\n"),
            "{stderr}"
        );
    }
    // A bare thread id: only the total is known, and the summary says so.
    let out = env
        .cmd(&refs)
        .args([
            "resume",
            "--live",
            "--thread",
            "01a20a63-0000-7000-8000-000000000007",
            "p6",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("· tokens: 720 in (120 cached) / 180 out (30 reasoning) (thread total)"),
        "{stderr}"
    );
    let rec = show_json(&env, "h");
    assert_eq!(rec["turns"], 5);
    assert_eq!(rec["succeeded"], 5);
    let history = rec["history"].as_array().unwrap();
    assert_eq!(history.len(), 3);
    assert_eq!(history[0]["prompt_preview"], "p3");
    for t in history {
        assert_eq!(t["usage"]["input_tokens"], 120);
        assert_eq!(t["usage"]["output_tokens"], 30);
    }
    assert_eq!(rec["total_usage"]["input_tokens"], 600);
}

#[test]
fn failed_turns_are_recorded_too() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    let failing = env.replay("http429.jsonl", 1);
    env.cmd(&[&plain, &failing])
        .args(["run", "--session", "f", "hi"])
        .assert()
        .success();
    env.cmd(&[&plain, &failing])
        .args(["resume", "--session", "f", "again"])
        .assert()
        .code(1);
    let rec = show_json(&env, "f");
    assert_eq!(rec["turns"], 2);
    assert_eq!(rec["failed"], 1);
    assert_eq!(rec["last_status"], "failed");
    assert_eq!(rec["history"][1]["exit_code"], 1);
    assert!(rec["history"][1]["error"].as_str().unwrap().contains("429"));
}

#[test]
fn list_show_rm() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[])
        .args(["sessions", "list"])
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("no sessions yet"));
    for name in ["one", "two"] {
        env.cmd(&[&plain])
            .args(["run", "--session", name, "hi"])
            .assert()
            .success();
    }
    env.cmd(&[])
        .args(["sessions", "list"])
        .assert()
        .success()
        .stdout(
            predicate::str::contains("NAME")
                .and(predicate::str::contains("two"))
                .and(predicate::str::contains("01a20a63-aa15")),
        );
    env.cmd(&[])
        .args(["sessions", "show", "one"])
        .assert()
        .success()
        .stdout(predicate::str::contains(PLAIN_THREAD).and(predicate::str::contains("Hello!")));
    // A name that is not there: exit 2, and nothing removed (all or nothing).
    let out = env
        .cmd(&[])
        .args(["sessions", "rm", "one", "ghost"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "spawncodex: error: no session named \"ghost\" (nothing was removed)\n"
    );
    assert_eq!(list_json(&env).len(), 2);
    env.cmd(&[])
        .args(["sessions", "rm", "one"])
        .assert()
        .success()
        .stderr("removed one\n");
    let names: Vec<String> = list_json(&env)
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["two"]);
    env.cmd(&[])
        .args(["sessions", "rm", "--all"])
        .assert()
        .code(2);
    env.cmd(&[])
        .args(["sessions", "rm", "--all", "--yes"])
        .assert()
        .success();
    assert!(list_json(&env).is_empty());
    // resume --last uses the most recently used session, even one used in the same second
    // (times were whole seconds, and a tie went to the first name).
    env.cmd(&[&plain])
        .args(["run", "--session", "a-older", "hi"])
        .assert()
        .success();
    env.cmd(&[&plain])
        .args(["run", "--session", "b-newer", "hi"])
        .assert()
        .success();
    env.cmd(&[&plain])
        .args(["resume", "--last", "go on"])
        .assert()
        .success();
    assert_eq!(show_json(&env, "b-newer")["turns"], 2);
    assert_eq!(show_json(&env, "a-older")["turns"], 1);
    let names: Vec<String> = list_json(&env)
        .iter()
        .map(|s| s["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["b-newer", "a-older"]);
}

#[test]
fn a_turn_whose_answer_is_lost_or_does_not_match_is_not_recorded_as_a_success() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let events = env.path().join("events.jsonl");
    let out = env
        .std_cmd(&[&plain])
        .arg("--events-file")
        .arg(&events)
        .args(["run", "--session", "full", "hi"])
        .stdout(std::process::Stdio::from(full))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    // The events file ends with how the run really ended, as the session and exit code do.
    let log = std::fs::read(&events).unwrap();
    let last = jsonl(&log).pop().unwrap();
    assert_eq!(last["type"], "spawncodex.result");
    assert_eq!(last["status"], "failed");
    assert_eq!(last["exit_code"], 1);
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .starts_with("cannot write to stdout"),
        "{last}"
    );
    let rec = show_json(&env, "full");
    assert_eq!(rec["last_status"], "failed");
    assert_eq!(rec["succeeded"], 0);
    assert_eq!(rec["failed"], 1);
    assert_eq!(rec["history"][0]["exit_code"], 1);
    assert!(
        rec["history"][0]["error"]
            .as_str()
            .unwrap()
            .contains("cannot write to stdout")
    );
    // The answer is still there to read.
    assert_eq!(rec["history"][0]["answer_preview"], PLAIN_ANSWER);
    // schema-run: an answer that does not match is a failed turn, as on the result line.
    let script = env.script(
        "wrong",
        &[
            r#"{"type":"thread.started","thread_id":"01a20a63-aa15-7440-9eb3-5fd6302dec3b"}"#,
            r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"{\"answer\": 42}"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
        ],
    );
    env.cmd(&[&script])
        .args([
            "schema-run",
            "--session",
            "strict",
            "--schema-json",
            r#"{"type":"object","properties":{"answer":{"type":"string"}},"required":["answer"],"additionalProperties":false}"#,
            "q",
        ])
        .assert()
        .code(3);
    let rec = show_json(&env, "strict");
    assert_eq!(rec["last_status"], "failed");
    assert_eq!(rec["history"][0]["status"], "failed");
    assert_eq!(rec["failed"], 1);
}

#[test]
fn a_session_runs_one_turn_at_a_time() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&plain])
        .args(["run", "--session", "s", "hi"])
        .assert()
        .success();
    let hang = env.script(
        "hang",
        &[
            r#"{"type":"thread.started","thread_id":"01a20a63-aa15-7440-9eb3-5fd6302dec3b"}"#,
            "@@hang",
        ],
    );
    let mut first = env
        .std_cmd(&[&plain, &hang])
        .args(["resume", "--session", "s", "--grace", "0.5", "long turn"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while env.calls() < 2 && started.elapsed() < std::time::Duration::from_secs(5) {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(env.calls(), 2);
    let import = env.path().join("import.json");
    std::fs::write(
        &import,
        r#"{"s": "01a20a63-0000-7000-8000-0000000000a1", "new-one": "01a20a63-0000-7000-8000-0000000000b1"}"#,
    )
    .unwrap();
    let import = import.to_str().unwrap().to_string();
    // A second turn in the same session, by any command: refused before codex starts.
    for args in [
        vec!["resume", "--session", "s", "again"],
        vec!["resume", "--last", "again"],
        vec!["run", "--session", "s", "--replace", "over"],
        // Nor is it removed from under the turn.
        vec!["sessions", "rm", "s"],
        vec!["sessions", "rm", "--all", "--yes"],
        // Nor replaced by an import.
        vec!["sessions", "import", "--force", &import],
    ] {
        let out = env.cmd(&[&plain]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("session \"s\" is in use"), "{stderr}");
    }
    assert_eq!(env.calls(), 2);
    // The refused import added nothing, and left no lock file for the name it did not add.
    assert_eq!(
        show_json(&env, "s")["thread_id"],
        "01a20a63-aa15-7440-9eb3-5fd6302dec3b"
    );
    assert!(
        !env.home()
            .join("sessions.json.turns")
            .join("new-one.lock")
            .exists()
    );
    // Other sessions go on meanwhile.
    env.cmd(&[&plain])
        .args(["run", "--session", "other", "hi"])
        .assert()
        .success();
    send_signal(first.id(), libc::SIGINT);
    assert_eq!(first.wait().unwrap().code(), Some(130));
    // Free again once that turn has ended.
    env.cmd(&[&plain])
        .args(["resume", "--session", "s", "next"])
        .assert()
        .success();
    // Removing the session takes its lock file with it.
    let lock = env.home().join("sessions.json.turns").join("s.lock");
    assert!(lock.exists());
    env.cmd(&[])
        .args(["sessions", "rm", "s"])
        .assert()
        .success();
    assert!(!lock.exists());
    assert!(
        env.home()
            .join("sessions.json.turns")
            .join("other.lock")
            .exists()
    );
    // A name that is not there leaves no lock file behind.
    env.cmd(&[])
        .args(["sessions", "rm", "nope"])
        .assert()
        .code(2);
    // Nor does a run that never saved the session it was to create: codex not found, or
    // gone before it started a thread.
    env.cmd(&[])
        .args([
            "--codex-bin",
            "/nonexistent/codex",
            "run",
            "--session",
            "nf",
            "x",
        ])
        .assert()
        .code(127);
    let early = env.script("early", &["@@exit 1"]);
    env.cmd(&[&early])
        .args(["run", "--session", "early", "x"])
        .assert()
        .code(1);
    for name in ["nf", "early"] {
        let lock = env
            .home()
            .join("sessions.json.turns")
            .join(format!("{name}.lock"));
        assert!(!lock.exists(), "{name}");
    }
    assert!(
        !env.home()
            .join("sessions.json.turns")
            .join("nope.lock")
            .exists()
    );
}

#[test]
fn only_codex_thread_ids_are_resumed() {
    let env = Env::new();
    // A word codex would read as a thread name (and, finding none, start a new conversation
    // without a word) or as an option: refused before codex starts.
    for thread in ["my-old-thread", "--help", "01a20a63-aa15-7440-9eb3"] {
        let out = env
            .cmd(&[])
            .args(["resume", &format!("--thread={thread}"), "hi"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{thread}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("UUID"), "{stderr}");
    }
    // A session whose stored id is not one (written by hand, or by an older tool).
    let odd = env.script(
        "odd",
        &[
            r#"{"type":"thread.started","thread_id":"not-a-uuid"}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
        ],
    );
    env.cmd(&[&odd])
        .args(["run", "--session", "odd", "hi"])
        .assert()
        .success();
    let before = std::fs::read(shard_files(&env.store_file()).unwrap().pop().unwrap()).unwrap();
    let out = env
        .cmd(&[])
        .args(["resume", "--session", "odd", "next"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("\"not-a-uuid\""), "{stderr}");
    assert!(stderr.contains("--replace"), "{stderr}");
    assert_eq!(
        std::fs::read(shard_files(&env.store_file()).unwrap().pop().unwrap()).unwrap(),
        before
    );
    assert_eq!(env.calls(), 1);
}

#[test]
fn imports_the_python_sdk_files() {
    let env = Env::new();
    let legacy = env.path().join("legacy.json");
    std::fs::write(&legacy, r#"{"plan": "01a20a63-0000-7000-8000-0000000000a1", "review": "01a20a63-0000-7000-8000-0000000000d4"}"#).unwrap();
    let v2 = env.path().join("v2.json");
    std::fs::write(
        &v2,
        r#"{"records":{"plan":{"created_at":1795468191.62,"updated_at":1795468311.65,"failure_count":0,"success_count":5,"turn_count":5,"last_turn_status":"completed","session_id":"01a20a63-0000-7000-8000-0000000000b2","session_name":"plan","turns":[{"timestamp":1795468251.63,"operation":"resume","prompt_preview":"turn 1","return_code":0,"turn_status":"completed","duration_seconds":30.0,"message_preview":"hi there"}]},"docs":{"session_id":"01a20a63-0000-7000-8000-0000000000c3","turn_count":1}},"schema_version":2}"#,
    )
    .unwrap();
    env.cmd(&[])
        .args(["sessions", "import"])
        .arg(&legacy)
        .assert()
        .success();
    assert_eq!(
        show_json(&env, "plan")["thread_id"],
        "01a20a63-0000-7000-8000-0000000000a1"
    );
    assert_eq!(
        show_json(&env, "review")["thread_id"],
        "01a20a63-0000-7000-8000-0000000000d4"
    );
    // "plan" exists: without --force nothing is imported (exit 2, one line).
    let out = env
        .cmd(&[])
        .args(["sessions", "import"])
        .arg(&v2)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("--force") && stderr.contains("plan"),
        "{stderr}"
    );
    assert_eq!(
        show_json(&env, "plan")["thread_id"],
        "01a20a63-0000-7000-8000-0000000000a1"
    );
    env.cmd(&[])
        .args(["sessions", "show", "docs"])
        .assert()
        .code(2);
    env.cmd(&[])
        .args(["sessions", "import", "--force"])
        .arg(&v2)
        .assert()
        .success();
    let plan = show_json(&env, "plan");
    assert_eq!(plan["thread_id"], "01a20a63-0000-7000-8000-0000000000b2");
    assert_eq!(plan["turns"], 5);
    assert_eq!(plan["history"][0]["answer_preview"], "hi there");
    // An entry spawncodex cannot take (a name it refuses, no thread id): nothing is imported,
    // exit 2, one line naming each.
    let before = std::fs::read(env.store_file()).unwrap();
    let bad = env.path().join("bad.json");
    std::fs::write(
        &bad,
        r#"{"fine": "01a20a63-0000-7000-8000-00000000000f", "../up": "01a20a63-0000-7000-8000-000000000001", "blank": " ", "opt": "--help", "named": "my-old-thread"}"#,
    )
    .unwrap();
    let out = env
        .cmd(&[])
        .args(["sessions", "import"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("nothing imported"), "{stderr}");
    for refused in ["../up", "blank", "opt", "named"] {
        assert!(stderr.contains(&format!("\"{refused}\"")), "{stderr}");
    }
    assert!(!stderr.contains("\"fine\""), "{stderr}");
    assert_eq!(std::fs::read(env.store_file()).unwrap(), before);
    env.cmd(&[])
        .args(["sessions", "show", "fine"])
        .assert()
        .code(2);
    // A file that is neither: exit 2, store unchanged.
    let before = std::fs::read(env.store_file()).unwrap();
    let junk = env.path().join("junk.json");
    std::fs::write(&junk, "[1,2]").unwrap();
    env.cmd(&[])
        .args(["sessions", "import"])
        .arg(&junk)
        .assert()
        .code(2);
    assert_eq!(std::fs::read(env.store_file()).unwrap(), before);
    // An imported session resumes by name.
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&plain])
        .args(["resume", "--session", "review", "hi"])
        .assert()
        .success();
    assert_eq!(
        &env.argv(1)[..4],
        [
            "exec",
            "--json",
            "resume",
            "01a20a63-0000-7000-8000-0000000000d4"
        ]
    );
}

#[test]
fn a_name_taken_by_a_concurrent_run_is_not_overwritten() {
    let env = Env::new();
    // Run A is slow to report its thread; run B asks for the same new name meanwhile.
    let slow = env.script(
        "slow",
        &[
            "@@sleep 1.5",
            r#"{"type":"thread.started","thread_id":"thread-A"}"#,
            r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"from A"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
        ],
    );
    let fast = env.replay("plain.jsonl", 0);
    let a = env
        .std_cmd(&[&slow])
        .args(["run", "--session", "x", "-m", "model-A", "first"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    env.wait_for_first_call();
    // B is refused before its codex starts: the session is A's until A's turn is recorded.
    let out = env
        .cmd(&[&slow, &fast])
        .args(["run", "--session", "x", "-m", "model-B", "second"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("session \"x\" is in use"), "{stderr}");
    assert_eq!(env.calls(), 1);
    let out = a.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let rec = show_json(&env, "x");
    assert_eq!(rec["thread_id"], "thread-A");
    assert_eq!(rec["options"]["model"], "model-A");
    assert_eq!(rec["turns"], 1);
}

/// A store written before shards: one file holding every session (format version 1).
fn write_v1_store(env: &Env, sessions: &serde_json::Map<String, Value>) -> String {
    let text = serde_json::to_string_pretty(&serde_json::json!({
        "format": "spawncodex-sessions", "version": 1, "sessions": sessions
    }))
    .unwrap();
    std::fs::write(env.store_file(), &text).unwrap();
    text
}

#[test]
fn a_store_from_before_shards_is_read_as_it_is_and_split_by_the_next_turn() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    for name in ["a", "b", "c"] {
        env.cmd(&[&plain])
            .args(["run", "--session", name, "hi"])
            .assert()
            .success();
    }
    let mut before = stored_sessions(&env.store_file()).unwrap();
    before["b"]["thread_id"] = Value::from("01a20a63-0000-7000-8000-0000000000b1");
    // Replace the whole store with the same sessions in the old one-file format.
    std::fs::remove_dir_all(env.home().join("sessions.json.d")).unwrap();
    let v1 = write_v1_store(&env, &before);

    // Reading changes nothing.
    let names: Vec<Value> = list_json(&env)
        .into_iter()
        .map(|s| s["name"].clone())
        .collect();
    assert_eq!(names.len(), 3);
    assert_eq!(
        show_json(&env, "b")["thread_id"],
        "01a20a63-0000-7000-8000-0000000000b1"
    );
    assert_eq!(std::fs::read_to_string(env.store_file()).unwrap(), v1);
    assert!(!env.home().join("sessions.json.d").exists());

    // A turn resumes the thread the old file names, and leaves the store in shards.
    env.cmd(&[&plain])
        .args(["resume", "--session", "b", "next"])
        .assert()
        .success()
        .stdout(format!("{PLAIN_ANSWER}\n"));
    assert_eq!(env.argv(4)[3], "01a20a63-0000-7000-8000-0000000000b1");
    let after = stored_sessions(&env.store_file()).expect("a manifest and shards");
    assert_eq!(after.len(), 3);
    assert_eq!(after["a"], before["a"]);
    assert_eq!(after["c"], before["c"]);
    assert_eq!(after["b"]["turns"], 2);
    assert!(shard_files(&env.store_file()).unwrap().len() > 1);
}

#[test]
fn a_damaged_shard_is_refused_and_left_as_it_is_while_other_sessions_go_on() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    for name in ["a", "fix-ci"] {
        env.cmd(&[&plain])
            .args(["run", "--session", name, "hi"])
            .assert()
            .success();
    }
    let before_damage = stored_sessions(&env.store_file()).unwrap();
    let shards = shard_files(&env.store_file()).unwrap();
    assert_eq!(shards.len(), 2, "the two names hash to different shards");
    let a_shard = shards
        .iter()
        .find(|p| std::fs::read_to_string(p).unwrap().contains("\"a\":"))
        .unwrap()
        .clone();
    let damaged =
        b"{\"format\":\"spawncodex-sessions\",\"version\":1,\"sessions\":{\n\"a\":{oops}\n}}\n";
    std::fs::write(&a_shard, damaged).unwrap();
    for args in [
        vec!["resume", "--session", "a", "hi"],
        vec!["sessions", "list"],
        vec!["sessions", "rm", "a"],
    ] {
        let out = env.cmd(&[&plain]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&a_shard.display().to_string()), "{stderr}");
        assert_eq!(std::fs::read(&a_shard).unwrap(), damaged);
    }
    env.cmd(&[&plain])
        .args(["resume", "--session", "fix-ci", "next"])
        .assert()
        .success();
    assert_eq!(env.calls(), 3);
    // A name that is not there: no false "there are no sessions yet" when the list fails.
    let out = env
        .cmd(&[&plain])
        .args(["resume", "--session", "fix-c", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "spawncodex: error: no session named \"fix-c\"\n"
    );
    // A one-file store with shards beside it (a split cut short), one of them damaged: a turn
    // of a session the split would move into it is refused before codex starts, not run and
    // then left unrecorded.
    write_v1_store(&env, &before_damage);
    let out = env
        .cmd(&[&plain])
        .args(["resume", "--session", "fix-ci", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains(&a_shard.display().to_string())
    );
    assert_eq!(env.calls(), 3);
}

#[test]
fn a_lost_manifest_hides_no_session_and_a_copy_without_its_folder_is_refused() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    for name in ["a", "b"] {
        env.cmd(&[&plain])
            .args(["run", "--session", name, "hi"])
            .assert()
            .success();
    }
    let manifest = std::fs::read(env.store_file()).unwrap();
    // Emptied (or deleted): the folder beside it is still the store, and the next turn keeps it.
    std::fs::write(env.store_file(), "").unwrap();
    assert_eq!(list_json(&env).len(), 2);
    env.cmd(&[&plain])
        .args(["run", "--session", "c", "hi"])
        .assert()
        .success();
    let names: Vec<String> = stored_sessions(&env.store_file())
        .unwrap()
        .keys()
        .cloned()
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
    // The file alone, copied as if it were the whole store: refused, never read as empty.
    let copy = env.path().join("backup/sessions.json");
    std::fs::create_dir_all(copy.parent().unwrap()).unwrap();
    std::fs::write(&copy, &manifest).unwrap();
    for args in [
        vec!["sessions", "list"],
        vec!["run", "--session", "d", "hi"],
    ] {
        let out = env
            .cmd(&[&plain])
            .arg("--store")
            .arg(&copy)
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(&copy.display().to_string()), "{stderr}");
        assert!(stderr.contains("sessions.json.d is missing"), "{stderr}");
        assert_eq!(std::fs::read(&copy).unwrap(), manifest);
    }
    assert_eq!(env.calls(), 3);
}

/// The shard a name lands in, as the store's format describes it (FNV-1a, folded to a byte).
fn shard_of(name: &str) -> u32 {
    let mut hash: u32 = 0x811c_9dc5;
    for &b in name.as_bytes() {
        hash ^= u32::from(b);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    (hash ^ (hash >> 8) ^ (hash >> 16) ^ (hash >> 24)) & 0xff
}

#[test]
fn a_malformed_session_is_named_kept_and_removable_and_its_neighbours_go_on() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    let neighbour = (0..)
        .map(|i| format!("n{i}"))
        .find(|n| shard_of(n) == shard_of("a2"))
        .unwrap();
    env.cmd(&[&plain])
        .args(["run", "--session", "a2", "hi"])
        .assert()
        .success();
    let shard = shard_files(&env.store_file()).unwrap().pop().unwrap();
    let text = std::fs::read_to_string(&shard).unwrap();
    let damaged = text.replacen("\"turns\":1", "\"turns\":\"one\"", 1);
    assert_ne!(text, damaged);
    std::fs::write(&shard, &damaged).unwrap();
    for args in [
        vec!["sessions", "show", "a2"],
        vec!["resume", "--session", "a2", "next"],
        vec!["resume", "--last", "next"],
    ] {
        let out = env.cmd(&[&plain]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        // It names the session, its file and the way out, and does not call the file
        // unreadable (other sessions in it are still used).
        assert!(stderr.contains("session \"a2\""), "{stderr}");
        assert!(stderr.contains(&shard.display().to_string()), "{stderr}");
        assert!(stderr.contains("spawncodex sessions rm a2"), "{stderr}");
        assert!(!stderr.contains("cannot be read"), "{stderr}");
        assert_eq!(std::fs::read_to_string(&shard).unwrap(), damaged);
    }
    assert_eq!(env.calls(), 1);
    // A session in the same file goes on, and the malformed record is kept as it was.
    env.cmd(&[&plain])
        .args(["run", "--session", &neighbour, "hi"])
        .assert()
        .success();
    let sessions = stored_sessions(&env.store_file()).unwrap();
    assert_eq!(sessions["a2"]["turns"], "one");
    assert!(sessions.contains_key(&neighbour));
    // `sessions list` shows the sessions it can read and names the malformed one on stderr,
    // with exit 2: one bad record hides neither the others nor itself.
    for json in [false, true] {
        let mut cmd = env.cmd(&[]);
        cmd.args(["sessions", "list"]);
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().unwrap();
        assert_eq!(out.status.code(), Some(2), "json {json}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains("session \"a2\""), "{stderr}");
        assert!(stderr.contains("spawncodex sessions rm a2"), "{stderr}");
        if json {
            let listed: Vec<serde_json::Value> = serde_json::from_str(&stdout).unwrap();
            let names: Vec<&str> = listed.iter().filter_map(|s| s["name"].as_str()).collect();
            assert_eq!(names, [neighbour.as_str()]);
        } else {
            assert!(stdout.starts_with("NAME"), "{stdout}");
            assert!(stdout.contains(&neighbour), "{stdout}");
            assert!(!stdout.contains("a2 "), "{stdout}");
        }
    }
    assert!(
        std::fs::read_to_string(&shard)
            .unwrap()
            .contains("\"turns\":\"one\"")
    );
    // And it can be removed.
    env.cmd(&[])
        .args(["sessions", "rm", "a2"])
        .assert()
        .success();
    assert!(
        !stored_sessions(&env.store_file())
            .unwrap()
            .contains_key("a2")
    );
}

#[test]
fn sessions_show_and_list_show_control_characters_from_codex_not_send_them() {
    let env = Env::new();
    let script = env.script(
        "evil",
        &[
            r#"{"type":"thread.started","thread_id":"t-evil"}"#,
            r#"{"type":"turn.failed","error":{"message":"fatal \u001b[2J\u001b]0;pwned\u0007\u009b31m\u007f"}}"#,
            "@@exit 1",
        ],
    );
    env.cmd(&[&script])
        .args(["run", "--session", "evil", "hi \u{1b}[2J"])
        .assert()
        .code(1);
    for args in [["sessions", "show", "evil"], ["sessions", "list", "-"]] {
        let args: Vec<&str> = args.into_iter().filter(|a| *a != "-").collect();
        let out = env.cmd(&[]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(
            !stdout.contains(|c: char| c.is_control() && c != '\n'),
            "{args:?}: {stdout:?}"
        );
        if args[1] == "show" {
            assert!(
                stdout.contains("fatal ^[[2J^[]0;pwned^G\u{FFFD}31m^?"),
                "{stdout}"
            );
            assert!(stdout.contains("hi ^[[2J"), "{stdout}");
        }
    }
    // The JSON view is data: the text as codex gave it.
    let json = show_json(&env, "evil");
    assert_eq!(
        json["history"][0]["error"],
        "fatal \u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\u{7f}"
    );
}

#[test]
fn a_relative_spawncodex_home_is_refused() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    for args in [
        vec!["sessions", "list"],
        vec!["run", "--session", "r1", "hi"],
    ] {
        let out = env
            .cmd(&[&plain])
            .env("SPAWNCODEX_HOME", "relhome")
            .current_dir(env.path())
            .args(&args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains("SPAWNCODEX_HOME=\"relhome\" is a relative path"),
            "{stderr}"
        );
    }
    assert!(!env.path().join("relhome").exists());
    assert_eq!(env.calls(), 0);
}
