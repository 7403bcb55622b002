//! `spawncodex run`: stdout contract, exit codes, argv, stdin, malformed input.

use std::io::Read;
use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::common::*;

#[test]
fn plain_run_prints_exactly_the_answer() {
    let env = Env::new();
    let script = env.replay("plain.jsonl", 0);
    env.cmd(&[&script])
        .args(["run", "hi"])
        .assert()
        .success()
        .stdout(format!("{PLAIN_ANSWER}\n"));
    assert_eq!(env.argv(1), ["exec", "--json", "--", "hi"]);
    // codex got /dev/null, not our stdin.
    assert!(env.stdin(1).is_empty());
}

#[test]
fn jsonl_passes_codex_lines_through_byte_for_byte() {
    let env = Env::new();
    let script = env.replay("tool_call.jsonl", 0);
    let out = env
        .cmd(&[&script])
        .args(["run", "--jsonl", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let recorded = std::fs::read_to_string(fixture("tool_call.jsonl")).unwrap();
    // Every line is JSON; codex's lines appear unchanged and in order.
    let lines = jsonl(&out.stdout);
    let ours: Vec<&str> = stdout
        .lines()
        .filter(|l| !l.starts_with(r#"{"type":"spawncodex."#))
        .collect();
    let theirs: Vec<&str> = recorded.lines().collect();
    assert_eq!(ours, theirs);
    let last = lines.last().unwrap();
    assert_eq!(last["type"], "spawncodex.result");
    assert_eq!(last["status"], "completed");
    assert_eq!(last["thread_id"], "01a20a63-aedc-7403-88f6-8c0f50fdecca");
    assert_eq!(last["exit_code"], 0);
    assert_eq!(last["usage"]["input_tokens"], 240);
    // Every field codex reports is there.
    let codex_usage = recorded
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["type"] == "turn.completed")
        .unwrap()["usage"]
        .clone();
    for (field, value) in codex_usage.as_object().unwrap() {
        assert_eq!(&last["usage"][field], value, "{field}");
    }
    assert!(
        last["final_message"]
            .as_str()
            .unwrap()
            .starts_with("The tool returned")
    );
    assert!(last["duration_ms"].is_u64());
    assert!(last["error"].is_null());
    // Nothing on stdout but JSON lines; no colour even when asked.
    let coloured = env
        .cmd(&[&script])
        .args(["run", "--jsonl", "--color", "always", "hi"])
        .output()
        .unwrap();
    assert!(!coloured.stdout.contains(&0x1b));
}

#[test]
fn failed_turn_exits_1_with_the_error_and_no_answer() {
    let env = Env::new();
    let script = env.replay("http429.jsonl", 1);
    env.cmd(&[&script])
        .args(["run", "hi"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains(
            "exceeded retry limit, last status: 429 Too Many Requests",
        ));
    // Even if codex exits 0 after turn.failed, the turn failed.
    let lying = env.replay("http429.jsonl", 0);
    let out = env
        .cmd(&[&lying])
        .args(["run", "--jsonl", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let last = jsonl(&out.stdout).pop().unwrap();
    assert_eq!(last["status"], "failed");
    assert!(last["final_message"].is_null());
    assert_eq!(
        last["error"],
        "exceeded retry limit, last status: 429 Too Many Requests"
    );
}

#[test]
fn reconnect_errors_are_progress_not_failure() {
    let env = Env::new();
    let script = env.replay("drop_then_ok.jsonl", 0);
    env.cmd(&[&script])
        .args(["run", "hi"])
        .assert()
        .success()
        .stdout("Recovered after a dropped stream.\n")
        // Shown even in `run`: a long reconnect would otherwise look like a silent hang.
        .stderr(predicate::str::contains("Reconnecting... 1/5"));
}

#[test]
fn stream_without_terminal_event_is_incomplete() {
    let env = Env::new();
    let script = env.replay("sigint_midturn.jsonl", 0);
    let out = env
        .cmd(&[&script])
        .args(["run", "--jsonl", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let last = jsonl(&out.stdout).pop().unwrap();
    assert_eq!(last["status"], "incomplete");
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("before the turn ended")
    );
    env.cmd(&[&script])
        .args(["run", "hi"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(predicate::str::contains("incomplete"));
}

#[test]
fn dash_prompt_reaches_codex_as_the_prompt() {
    let env = Env::new();
    let script = env.replay("plain.jsonl", 0);
    env.cmd(&[&script])
        .args(["run", "-x --help"])
        .assert()
        .success();
    let argv = env.argv(1);
    assert_eq!(&argv[argv.len() - 2..], ["--", "-x --help"]);
}

#[test]
fn open_stdin_is_not_handed_to_codex() {
    // `sleep 30 | spawncodex run "hi"`: our stdin is a pipe that stays open.
    let env = Env::new();
    let script = env.replay("plain.jsonl", 0);
    let started = Instant::now();
    let mut child = env
        .std_cmd(&[&script])
        .args(["run", "hi"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _keep_open = child.stdin.take();
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(0));
    assert_eq!(stdout, format!("{PLAIN_ANSWER}\n"));
}

#[test]
fn prompt_from_stdin() {
    let env = Env::new();
    let script = env.replay("plain.jsonl", 0);
    env.cmd(&[&script])
        .args(["run"])
        .write_stdin("from a pipe\n")
        .assert()
        .success();
    assert_eq!(env.argv(1).last().unwrap(), "from a pipe\n");
    env.cmd(&[&script])
        .args(["run", "-"])
        .write_stdin("dash")
        .assert()
        .success();
    assert_eq!(env.argv(2).last().unwrap(), "dash");
    // An empty prompt is a usage error, and codex is not started.
    env.cmd(&[&script])
        .args(["run"])
        .write_stdin("  \n")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("the prompt is empty"));
    assert_eq!(env.calls(), 2);
}

#[test]
fn huge_prompt_goes_through_stdin() {
    let env = Env::new();
    let script = env.replay("plain.jsonl", 0);
    // Too big for one argv entry (Linux caps those at 128 KiB), so it comes on our stdin too.
    let prompt = "p".repeat(300 * 1024);
    env.cmd(&[&script])
        .args(["run", "-"])
        .write_stdin(prompt.clone())
        .assert()
        .success();
    assert_eq!(env.argv(1).last().unwrap(), "-");
    assert_eq!(env.stdin(1), prompt.as_bytes());
}

#[test]
fn missing_codex_exits_127_with_one_line() {
    let env = Env::new();
    let out = env
        .cmd(&[])
        .env("SPAWNCODEX_CODEX_BIN", env.path().join("no-such-codex"))
        .args(["run", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(127));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("npm install -g @openai/codex"), "{stderr}");
    // Not executable is the same.
    let plain_file = env.script("not-executable", &["x"]);
    env.cmd(&[])
        .args(["--codex-bin", plain_file.to_str().unwrap(), "run", "hi"])
        .assert()
        .code(127)
        .stderr(predicate::str::contains("not an executable file"));
    // And nothing on PATH.
    env.cmd(&[])
        .env_remove("SPAWNCODEX_CODEX_BIN")
        .env("PATH", env.path())
        .args(["run", "hi"])
        .assert()
        .code(127)
        .stderr(predicate::str::contains("`codex` was not found on PATH"));
}

#[test]
fn dry_run_shows_the_mapped_argv() {
    let env = Env::new();
    let img = env.script("img.png", &["not really a png"]);
    let out = env
        .cmd(&[])
        .args([
            "--codex-arg=--disable",
            "--codex-arg",
            "plugins",
            "run",
            "--dry-run",
            "-m",
            "gpt-5.5",
            "-s",
            "workspace-write",
        ])
        .arg("-C")
        .arg(env.work())
        .args(["-c", "k=\"v w\"", "-i"])
        .arg(&img)
        .args(["--reasoning-effort", "high", "--", "-dash prompt"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8(out.stdout).unwrap();
    let expected = format!(
        "{} --disable plugins exec --json -s workspace-write -C {} -m gpt-5.5 -i {} -c 'k=\"v w\"' -c 'model_reasoning_effort=\"high\"' -- '-dash prompt'\n",
        fake_codex().display(),
        env.work().display(),
        img.display()
    );
    assert_eq!(line, expected);
    assert_eq!(env.calls(), 0);

    // A resume maps what `exec resume` rejects.
    let out = env
        .cmd(&[])
        .args([
            "resume",
            "--thread",
            "01A20A63-0000-7000-8000-0000000000AB",
            "--dry-run",
            "-m",
            "m",
            "-s",
            "read-only",
            "-p",
            "prof",
        ])
        .arg("-C")
        .arg(env.work())
        .arg("--add-dir")
        .arg(env.path())
        .args(["-i"])
        .arg(&img)
        .args(["-c", "a=1", "next"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line = String::from_utf8(out.stdout).unwrap();
    let expected = format!(
        "cd {} && {} -p prof exec --json resume 01A20A63-0000-7000-8000-0000000000AB -c 'sandbox_mode=\"read-only\"' -c 'sandbox_workspace_write.writable_roots=[\"{}\"]' -m m -i {} -c a=1 -- next\n",
        env.work().display(),
        fake_codex().display(),
        env.path().display(),
        img.display()
    );
    assert_eq!(line, expected);
}

#[test]
fn malformed_and_blank_lines_warn_but_do_not_break_the_run() {
    let env = Env::new();
    let script = env.script(
        "malformed",
        &[
            r#"{"type":"thread.started","thread_id":"t-1"}"#,
            "@@blank",
            "this is not json",
            r#"{"type":"turn.started"}"#,
            r#"{"type":"turn.started""#,
            r#"{"type":"some.future.event","x":{"y":1}}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"ok"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1,"reasoning_output_tokens":0}}"#,
        ],
    );
    let out = env
        .cmd(&[&script])
        .args(["run", "--jsonl", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let lines = jsonl(&out.stdout);
    let t = types(&lines);
    // Each codex event exactly once, unknown ones passed on, bad lines turned into warnings.
    assert_eq!(t.iter().filter(|x| *x == "thread.started").count(), 1);
    assert_eq!(t.iter().filter(|x| *x == "turn.started").count(), 1);
    assert_eq!(t.iter().filter(|x| *x == "some.future.event").count(), 1);
    assert_eq!(t.iter().filter(|x| *x == "item.completed").count(), 1);
    assert_eq!(t.iter().filter(|x| *x == "spawncodex.warning").count(), 3);
    assert_eq!(lines.last().unwrap()["final_message"], "ok");
    // Human mode: warnings on stderr, the answer on stdout.
    env.cmd(&[&script])
        .args(["run", "hi"])
        .assert()
        .success()
        .stdout("ok\n")
        .stderr(predicate::str::contains(
            "warning: codex wrote a line that is not a JSON event",
        ))
        .stderr(predicate::str::contains("blank line"));
}

#[test]
fn ten_megabyte_answer_passes_intact() {
    let env = Env::new();
    let text: String = (0..13 * 1024 * 1024 / 64)
        .map(|i| format!("{i:08} lorem ipsum dolor sit amet, \\\"quoted\\\" \\u00e9 line\\n"))
        .collect();
    let stream = env.path().join("big.jsonl");
    std::fs::write(
        &stream,
        format!(
            "{{\"type\":\"thread.started\",\"thread_id\":\"t\"}}\n{{\"type\":\"turn.started\"}}\n{{\"type\":\"item.completed\",\"item\":{{\"id\":\"item_0\",\"type\":\"agent_message\",\"text\":\"{text}\"}}}}\n{{\"type\":\"turn.completed\",\"usage\":{{}}}}\n"
        ),
    )
    .unwrap();
    let script = env.script("big", &[&format!("@@cat {}", stream.display())]);
    let expected: String = serde_json::from_str(&format!("\"{text}\"")).unwrap();
    assert!(expected.len() > 10 * 1024 * 1024);
    let out = env.cmd(&[&script]).args(["run", "hi"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(out.stdout.len(), expected.len() + 1);
    assert!(out.stdout == format!("{expected}\n").into_bytes());
    let out = env
        .cmd(&[&script])
        .args(["run", "--jsonl", "hi"])
        .output()
        .unwrap();
    let lines = jsonl(&out.stdout);
    assert_eq!(
        lines.last().unwrap()["final_message"].as_str().unwrap(),
        expected
    );
}

#[test]
fn run_ends_when_codex_exits_even_if_a_grandchild_holds_stdout() {
    let env = Env::new();
    let script = env.script(
        "grandchild",
        &[
            "@@grandchild",
            &format!("@@cat {}", fixture("plain.jsonl").display()),
        ],
    );
    let started = Instant::now();
    env.cmd(&[&script])
        .args(["run", "hi"])
        .timeout(Duration::from_secs(20))
        .assert()
        .success()
        .stdout(format!("{PLAIN_ANSWER}\n"));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    // And the grandchild is not left behind.
    assert!(
        gone_within(env.grandchild_pid(), 3.0),
        "grandchild left running"
    );
}

#[test]
fn codex_startup_errors_are_reported() {
    let env = Env::new();
    let script = env.script(
        "unknown-thread",
        &[
            "@@stderr Reading additional input from stdin...",
            "@@stderr Error: thread/resume: thread/resume failed: no rollout found for thread id 01a20a63-0000-7000-8000-0000000000ab (code -32600)",
            "@@exit 1",
        ],
    );
    env.cmd(&[&script])
        .args(["resume", "--thread", "01a20a63-0000-7000-8000-0000000000ab", "hi"])
        .assert()
        .code(1)
        .stdout("")
        .stderr(
            "spawncodex: error: thread/resume: thread/resume failed: no rollout found for thread id 01a20a63-0000-7000-8000-0000000000ab (code -32600)\n",
        );
}

#[test]
fn bad_usage_exits_2() {
    let env = Env::new();
    env.cmd(&[]).args(["run", "--bogus", "hi"]).assert().code(2);
    env.cmd(&[])
        .args(["run", "-s", "nope", "hi"])
        .assert()
        .code(2);
    env.cmd(&[])
        .args(["run", "-C", "/no/such/dir", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("/no/such/dir"));
    env.cmd(&[])
        .args(["run", "--timeout", "-1", "hi"])
        .assert()
        .code(2);
    // -o naming a folder: refused here, not by codex after the turn.
    env.cmd(&[])
        .args(["run", "-o", "."])
        .arg("hi")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("is a directory"));
    // A store that is a symlink to nothing: refused, and nothing made beside it.
    let links = env.path().join("links");
    std::fs::create_dir_all(&links).unwrap();
    std::os::unix::fs::symlink("../nowhere/s.json", links.join("dang.json")).unwrap();
    env.cmd(&[])
        .arg("--store")
        .arg(links.join("dang.json"))
        .args(["run", "--session", "d", "hi"])
        .assert()
        .code(2);
    assert_eq!(std::fs::read_dir(&links).unwrap().count(), 1);
    assert_eq!(env.calls(), 0);
}

#[test]
fn a_bad_value_from_the_environment_names_the_variable() {
    let env = Env::new();
    for (var, value, named) in [
        (
            "SPAWNCODEX_RETRIES",
            "abc",
            "SPAWNCODEX_RETRIES (--retries)",
        ),
        ("SPAWNCODEX_TIMEOUT", "-5", "SPAWNCODEX_TIMEOUT=-5:"),
        ("SPAWNCODEX_JITTER", "2", "SPAWNCODEX_JITTER=2:"),
    ] {
        let out = env
            .cmd(&[])
            .env(var, value)
            .args(["run", "hi"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{var}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.contains(named), "{stderr}");
    }
    // The command line wins over the environment, and its error names the option.
    let out = env
        .cmd(&[])
        .env("SPAWNCODEX_TIMEOUT", "-5")
        .args(["run", "--timeout=-3", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("--timeout -3:"), "{stderr}");
    assert!(!stderr.contains("SPAWNCODEX_TIMEOUT"), "{stderr}");
    assert_eq!(env.calls(), 0);
}

#[test]
fn codex_that_does_not_exit_after_the_turn_is_stopped() {
    // codex has been seen to hang on exit (an MCP server that does not go away).
    let env = Env::new();
    let script = env.script(
        "linger",
        &[
            "@@grandchild",
            &format!("@@cat {}", fixture("plain.jsonl").display()),
            "@@hang",
        ],
    );
    let started = Instant::now();
    env.cmd(&[&script])
        .args(["run", "--grace", "0.5", "hi"])
        .timeout(Duration::from_secs(40))
        .assert()
        .success()
        .stdout(format!("{PLAIN_ANSWER}\n"));
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(9) && took < Duration::from_secs(20),
        "took {took:?}"
    );
    assert!(gone_within(env.codex_pid(1), 2.0));
    assert!(gone_within(env.grandchild_pid(), 2.0));
}

#[test]
fn a_turn_completed_line_cut_short_is_not_success() {
    let env = Env::new();
    let script = env.script(
        "crash",
        &[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"agent_message","text":"partial"}}"#,
            r#"@@noeol {"type":"turn.completed","usage":{"input_tokens":5}"#,
            "@@exit 139",
        ],
    );
    let out = env
        .cmd(&[&script])
        .args(["run", "--jsonl", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let lines = jsonl(&out.stdout); // every stdout line still parses
    assert!(!types(&lines).contains(&"turn.completed".to_string()));
    let last = lines.last().unwrap();
    assert_eq!(last["status"], "incomplete");
    assert_eq!(last["codex_exit_code"], 139);
    assert!(types(&lines).contains(&"spawncodex.warning".to_string()));
}

#[test]
fn closed_stdout_never_panics() {
    use std::process::Stdio;
    let env = Env::new();
    for args in [
        vec!["run", "--dry-run", "hi"],
        vec![
            "schema-run",
            "--fix-strict",
            "--schema-json",
            r#"{"type":"object"}"#,
        ],
        vec!["completions", "bash"],
    ] {
        let mut child = env
            .std_cmd(&[])
            .args(&args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_ne!(out.status.code(), Some(101), "{args:?}");
    }
}

#[test]
fn jsonl_keeps_stdout_json_lines_for_dry_runs_strict_schemas_and_sessions() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&plain])
        .args(["run", "--session", "s1", "hi"])
        .assert()
        .success();
    let one_line = |args: &[&str]| -> serde_json::Value {
        let out = env.cmd(&[]).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{args:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{args:?}: {stdout}");
        serde_json::from_str(&stdout).unwrap()
    };
    let dry = one_line(&["--jsonl", "run", "--dry-run", "-C", "/tmp", "hi there"]);
    assert_eq!(dry["type"], "spawncodex.dry_run");
    let argv: Vec<&str> = dry["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(argv.windows(2).any(|w| w == ["exec", "--json"]), "{argv:?}");
    assert_eq!(argv.last(), Some(&"hi there"));
    assert_eq!(dry["cwd"], "/tmp");
    assert!(dry["command"].as_str().unwrap().ends_with("'hi there'"));
    // A piped prompt is read, as the run reads it: the argv shown is the run's.
    let out = env
        .cmd(&[])
        .args(["--jsonl", "run", "--dry-run"])
        .write_stdin("from stdin\n")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let piped = &jsonl(&out.stdout)[0];
    assert_eq!(
        piped["argv"].as_array().unwrap().last().unwrap(),
        "from stdin\n"
    );
    let resumed = one_line(&["--jsonl", "resume", "--session", "s1", "--dry-run", "next"]);
    assert_eq!(resumed["type"], "spawncodex.dry_run");
    let strict = one_line(&[
        "--jsonl",
        "schema-run",
        "--fix-strict",
        "--schema-json",
        r#"{"type":"object","properties":{"a":{"type":"string"}}}"#,
    ]);
    assert_eq!(strict["type"], "spawncodex.strict_schema");
    assert_eq!(strict["schema"]["required"], serde_json::json!(["a"]));
    let shown = one_line(&["--jsonl", "sessions", "show", "s1"]);
    assert_eq!(shown["name"], "s1");
    assert_eq!(env.calls(), 1);
}

#[test]
fn arguments_that_are_not_utf8_are_refused_not_a_crash() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let env = Env::new();
    let latin1 = OsStr::from_bytes(b"caf\xe9");
    for args in [
        vec![OsStr::new("run"), latin1],
        vec![OsStr::new("sessions"), OsStr::new("show"), latin1],
        vec![latin1],
        vec![OsStr::new("--jsonl"), OsStr::new("run"), latin1],
    ] {
        let out = env.cmd(&[]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("spawncodex: error: "), "{stderr}");
        if args[0] == "--jsonl" {
            let lines = jsonl(&out.stdout);
            assert_eq!(lines.len(), 1);
            assert_eq!(lines[0]["type"], "spawncodex.result");
        } else {
            assert!(out.stdout.is_empty());
        }
    }
    assert_eq!(env.calls(), 0);
}

#[test]
fn paths_reach_codex_without_dot_dot() {
    let env = Env::new();
    let sub = env.work().join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let real_work = std::fs::canonicalize(env.work()).unwrap();
    let out = env
        .cmd(&[])
        .current_dir(&sub)
        .args([
            "run",
            "--jsonl",
            "--dry-run",
            "-o",
            "../out.txt",
            "-C",
            "..",
            "--add-dir",
            "./",
            "hi",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let line = &jsonl(&out.stdout)[0];
    let argv: Vec<&str> = line["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let after = |flag: &str| argv[argv.iter().position(|a| *a == flag).unwrap() + 1];
    assert_eq!(after("-o"), real_work.join("out.txt").to_str().unwrap());
    assert_eq!(after("-C"), real_work.to_str().unwrap());
    assert_eq!(after("--add-dir"), real_work.join("sub").to_str().unwrap());
    assert!(!argv.iter().any(|a| a.contains("..")), "{argv:?}");
}

#[test]
fn usage_errors_are_one_line() {
    let env = Env::new();
    for args in [
        vec!["run", "--sesion", "x", "hi"],
        vec!["run", "--bogus"],
        vec!["run", "-s", "nope", "hi"],
        vec!["resume", "hi"],
        vec!["nosuch"],
    ] {
        let out = env.cmd(&[]).args(&args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(stderr.starts_with("spawncodex: error: "), "{stderr}");
    }
    let out = env
        .cmd(&[])
        .args(["run", "--sesion", "x", "hi"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown option '--sesion'"));
    assert_eq!(env.calls(), 0);
}

#[test]
fn jsonl_ends_with_a_result_line_even_when_codex_never_starts() {
    let env = Env::new();
    let cases: [(&[&str], i32, Option<&str>, &str); 8] = [
        (&["--jsonl", "run", "hi"], 127, None, "codex not found"),
        (
            &["--jsonl", "resume", "--session", "nosuch", "hi"],
            2,
            Some("nosuch"),
            "nosuch",
        ),
        (&["--jsonl", "run", ""], 2, None, "empty"),
        (
            &["--jsonl", "schema-run", "--schema", "/no/such.json", "hi"],
            2,
            None,
            "/no/such.json",
        ),
        (&["--jsonl", "run", "--sesion"], 2, None, "--sesion"),
        // Values clap refuses, and an unknown flag.
        (
            &["--jsonl", "run", "--reasoning-effort", "hgih", "hi"],
            2,
            None,
            "hgih",
        ),
        (
            &["run", "--timeout", "abc", "--jsonl", "hi"],
            2,
            None,
            "abc",
        ),
        (&["--jsonl", "live", "--bogus", "hi"], 2, None, "--bogus"),
    ];
    for (args, code, session, error) in cases {
        let out = env
            .cmd(&[])
            .env("SPAWNCODEX_CODEX_BIN", env.path().join("no-such-codex"))
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{args:?}");
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert_eq!(stdout.lines().count(), 1, "{args:?}: {stdout}");
        let line: serde_json::Value = serde_json::from_str(&stdout).unwrap();
        assert_eq!(line["type"], "spawncodex.result", "{args:?}");
        assert_eq!(line["status"], "failed", "{args:?}");
        assert_eq!(line["exit_code"], code, "{args:?}");
        assert_eq!(line["attempts"], 0, "{args:?}");
        assert_eq!(line["session"].as_str(), session, "{args:?}");
        let message = line["error"].as_str().unwrap();
        assert!(message.contains(error), "{args:?}: {message}");
        // The error is on stderr too, once.
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
    // Without --jsonl, stdout stays empty; an --events-file gets the result line all the same.
    let events = env.path().join("events.jsonl");
    env.cmd(&[])
        .env("SPAWNCODEX_CODEX_BIN", env.path().join("no-such-codex"))
        .args(["--events-file", events.to_str().unwrap(), "run", "hi"])
        .assert()
        .code(127)
        .stdout("");
    let logged = std::fs::read_to_string(&events).unwrap();
    assert_eq!(logged.lines().count(), 1, "{logged}");
    let line: serde_json::Value = serde_json::from_str(&logged).unwrap();
    assert_eq!(line["type"], "spawncodex.result");
    assert_eq!(line["exit_code"], 127);
}

#[test]
fn values_codex_would_take_silently_are_checked_here_also_by_dry_run() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    std::fs::create_dir_all(env.store_file().parent().unwrap()).unwrap();
    std::fs::write(env.store_file(), "{damaged").unwrap();
    // Arguments, environment, and what the one error line names.
    type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 7] = [
        (
            &["run", "--events-file", "/no/such/dir/e.jsonl", "hi"],
            &[],
            "--events-file",
        ),
        (&["run", "--reasoning-effort", "hihg", "hi"], &[], "hihg"),
        (
            &["run", "--add-dir", "/no/such/dir", "hi"],
            &[],
            "/no/such/dir",
        ),
        (&["run", "--timeout", "-1", "hi"], &[], "--timeout"),
        (
            &["run", "hi"],
            &[("SPAWNCODEX_HISTORY", "abc")],
            "SPAWNCODEX_HISTORY",
        ),
        (
            &["run", "hi"],
            &[("SPAWNCODEX_HISTORY", "0")],
            "SPAWNCODEX_HISTORY",
        ),
        (
            &["run", "--session", "x", "--replace", "hi"],
            &[],
            "cannot be read",
        ),
    ];
    for (args, vars, error) in cases {
        for dry_run in [false, true] {
            let mut cmd = env.cmd(&[&plain]);
            cmd.envs(vars.iter().copied());
            if dry_run {
                cmd.arg(args[0]).arg("--dry-run").args(&args[1..]);
            } else {
                cmd.args(args);
            }
            let out = cmd.output().unwrap();
            assert_eq!(out.status.code(), Some(2), "{args:?} {vars:?} {dry_run}");
            let stderr = String::from_utf8(out.stderr).unwrap();
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.contains(error), "{args:?}: {stderr}");
            assert!(out.stdout.is_empty());
        }
    }
    assert_eq!(env.calls(), 0);
    assert_eq!(std::fs::read(env.store_file()).unwrap(), b"{damaged");
    // Every level codex knows is taken, `none` included.
    env.cmd(&[&plain])
        .args(["run", "--dry-run", "--reasoning-effort", "none", "hi"])
        .assert()
        .success()
        .stdout(predicate::str::contains("model_reasoning_effort=\"none\""));
}

#[test]
fn piped_text_goes_to_codex_only_with_append_stdin_and_is_never_dropped_unsaid() {
    let env = Env::new();
    let script = env.replay("plain.jsonl", 0);
    // `git diff | spawncodex run --append-stdin "review this"`: codex exec's <stdin> block.
    env.cmd(&[&script])
        .args(["run", "--append-stdin", "review this"])
        .write_stdin("diff --git a/x b/x\n+1\n")
        .assert()
        .success()
        .stderr("");
    assert_eq!(
        env.argv(1).last().unwrap(),
        "review this\n\n<stdin>\ndiff --git a/x b/x\n+1\n</stdin>"
    );
    // Without it, stdin is not read, and a note says so when it plainly holds something.
    let input = env.path().join("input.txt");
    std::fs::write(&input, "ignored\n").unwrap();
    let out = env
        .std_cmd(&[&script])
        .args(["run", "review this"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(env.argv(2).last().unwrap(), "review this");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "spawncodex: note: stdin is not read when a prompt is given; add --append-stdin to send it\n"
    );
    // Nothing to say for /dev/null, and nothing to append from a terminal-less empty input.
    let out = env
        .std_cmd(&[&script])
        .args(["run", "review this"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    env.cmd(&[&script])
        .args(["run", "--append-stdin"])
        .write_stdin("x")
        .assert()
        .success();
    assert_eq!(env.argv(4).last().unwrap(), "x");
    // -q: errors only, so no note; and an empty stdin adds no empty block.
    let out = env
        .std_cmd(&[&script])
        .args(["-q", "run", "review this"])
        .stdin(std::fs::File::open(&input).unwrap())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(out.stderr.is_empty());
    let out = env
        .std_cmd(&[&script])
        .args(["run", "--append-stdin", "review this"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(env.argv(6).last().unwrap(), "review this");
}
