//! Retries, timeouts, signals, and no process left behind.

use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::common::*;

const THREAD_429: &str = "01a20a65-33f7-7b32-a2c1-2538078f4196";

#[test]
fn transient_failures_are_retried_by_resuming_the_thread() {
    let env = Env::new();
    let failing = env.replay("http429.jsonl", 1);
    let plain = env.replay("plain.jsonl", 0);
    let out = env
        .cmd(&[&failing, &failing, &plain])
        .args([
            "run",
            "--jsonl",
            "--retries",
            "3",
            "--backoff",
            "0.05",
            "hi",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(env.calls(), 3);
    assert_eq!(env.argv(1), ["exec", "--json", "--", "hi"]);
    for n in [2, 3] {
        let argv = env.argv(n);
        assert_eq!(
            &argv[..4],
            ["exec", "--json", "resume", THREAD_429],
            "call {n}"
        );
    }
    let lines = jsonl(&out.stdout);
    let retries: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "spawncodex.retry.scheduled")
        .collect();
    assert_eq!(retries.len(), 2);
    assert_eq!(retries[0]["resume_thread_id"], THREAD_429);
    assert!(retries[0]["reason"].as_str().unwrap().contains("429"));
    let started: Vec<_> = lines
        .iter()
        .filter(|l| l["type"] == "spawncodex.attempt.started")
        .collect();
    assert_eq!(started.len(), 3);
    let result = lines.last().unwrap();
    assert_eq!(result["attempts"], 3);
    assert_eq!(result["status"], "completed");
}

#[test]
fn retry_is_visible_in_human_mode_and_recorded_in_the_session() {
    let env = Env::new();
    let failing = env.replay("http429.jsonl", 1);
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&failing, &plain])
        .args([
            "run",
            "--session",
            "r",
            "--retries",
            "1",
            "--backoff",
            "0.01",
            "hi",
        ])
        .assert()
        .success()
        .stdout(format!("{PLAIN_ANSWER}\n"))
        .stderr(
            predicate::str::contains("retry: attempt 2")
                .and(predicate::str::contains("resuming the thread")),
        );
    let out = env
        .cmd(&[])
        .args(["sessions", "show", "r", "--json"])
        .output()
        .unwrap();
    let rec: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rec["history"][0]["attempts"], 2);
    assert_eq!(rec["history"][0]["status"], "completed");
}

#[test]
fn retry_fresh_starts_over() {
    let env = Env::new();
    let failing = env.replay("http429.jsonl", 1);
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&failing, &plain])
        .args([
            "run",
            "--retries",
            "1",
            "--backoff",
            "0",
            "--retry-fresh",
            "hi",
        ])
        .assert()
        .success();
    assert_eq!(env.argv(2), ["exec", "--json", "--", "hi"]);
}

#[test]
fn permanent_failures_are_not_retried() {
    let env = Env::new();
    let script = env.script(
        "quota",
        &[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"error","message":"Quota exceeded. Check your plan and billing details."}"#,
            r#"{"type":"turn.failed","error":{"message":"Quota exceeded. Check your plan and billing details."}}"#,
            "@@exit 1",
        ],
    );
    env.cmd(&[&script])
        .args(["run", "--retries", "3", "--backoff", "0", "hi"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("Quota exceeded"));
    assert_eq!(env.calls(), 1);
}

#[test]
fn retry_window_caps_the_time_spent_retrying() {
    let env = Env::new();
    let failing = env.replay("http500.jsonl", 1);
    let started = Instant::now();
    env.cmd(&[&failing])
        .args([
            "run",
            "--retries",
            "50",
            "--backoff",
            "0.3",
            "--max-backoff",
            "0.3",
            "--jitter",
            "0",
            "--retry-window",
            "1",
            "hi",
        ])
        .assert()
        .code(1);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(4), "took {took:?}");
    let calls = env.calls();
    assert!((2..=6).contains(&calls), "{calls} calls");
    // The last attempt says why there is no other.
    let out = env
        .cmd(&[&failing])
        .args([
            "run",
            "--retries",
            "50",
            "--backoff",
            "0.3",
            "--jitter",
            "0",
            "--retry-window",
            "0.2",
            "hi",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("--retry-window of 0.2s is used up"),
        "{stderr}"
    );
}

#[test]
fn a_retry_that_cannot_start_before_the_timeout_is_named_not_skipped_silently() {
    let env = Env::new();
    let failing = env.replay("http500.jsonl", 1);
    let args = [
        "--timeout",
        "2",
        "--retries",
        "3",
        "--backoff",
        "5",
        "--jitter",
        "0",
        "hi",
    ];
    let out = env.cmd(&[&failing]).arg("run").args(args).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("warning: not retrying") && stderr.contains("after --timeout"),
        "{stderr}"
    );
    let out = env
        .cmd(&[&failing])
        .args(["run", "--jsonl"])
        .args(args)
        .output()
        .unwrap();
    let lines = jsonl(&out.stdout);
    let warning = lines
        .iter()
        .find(|l| l["type"] == "spawncodex.warning")
        .expect("a warning line");
    assert!(warning["message"].as_str().unwrap().contains("attempt 2"));
    assert_eq!(lines.last().unwrap()["attempts"], 1);
    assert_eq!(env.calls(), 2);
}

#[test]
fn retry_after_hint_is_honoured() {
    let env = Env::new();
    let limited = env.script(
        "limited",
        &[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.failed","error":{"message":"You've hit your usage limit. Try again in 1s."}}"#,
            "@@exit 1",
        ],
    );
    let plain = env.replay("plain.jsonl", 0);
    let started = Instant::now();
    let out = env
        .cmd(&[&limited, &plain])
        .args(["run", "--jsonl", "--retries", "1", "--backoff", "0", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(started.elapsed() >= Duration::from_millis(950));
    let lines = jsonl(&out.stdout);
    let retry = lines
        .iter()
        .find(|l| l["type"] == "spawncodex.retry.scheduled")
        .unwrap();
    assert_eq!(retry["delay_ms"], 1000);
}

fn hanging_with_grandchild(env: &Env) -> std::path::PathBuf {
    env.script(
        "hang",
        &[
            "@@grandchild",
            r#"{"type":"thread.started","thread_id":"t-hang"}"#,
            r#"{"type":"turn.started"}"#,
            "@@hang",
        ],
    )
}

fn wait_for_calls(env: &Env) {
    let started = Instant::now();
    while (env.calls() == 0 || !env.calls_dir().join("grandchild.pid").exists())
        && started.elapsed() < Duration::from_secs(5)
    {
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn timeout_kills_the_whole_process_group() {
    for flag in ["--timeout", "--idle-timeout"] {
        let env = Env::new();
        let script = hanging_with_grandchild(&env);
        let started = Instant::now();
        let out = env
            .cmd(&[&script])
            .args(["run", "--jsonl", flag, "1", "--grace", "1", "hi"])
            .timeout(Duration::from_secs(20))
            .output()
            .unwrap();
        let took = started.elapsed();
        assert_eq!(out.status.code(), Some(124), "{flag}");
        assert!(took < Duration::from_secs(4), "{flag} took {took:?}");
        // The partial events stay printed; the result says timed out.
        let lines = jsonl(&out.stdout);
        assert!(types(&lines).contains(&"thread.started".to_string()));
        let last = lines.last().unwrap();
        assert_eq!(last["status"], "timed_out", "{flag}");
        assert!(gone_within(env.codex_pid(1), 2.0), "{flag}: codex left");
        assert!(
            gone_within(env.grandchild_pid(), 2.0),
            "{flag}: sleep 300 left"
        );
    }
}

/// codex runs each command in a session of its own, out of reach of a signal to codex's
/// group; what such a command leaves when its shell goes is stopped with the run.
#[test]
fn commands_that_left_codex_s_process_group_are_stopped_with_the_run() {
    let detaching = |env: &Env| {
        env.script(
            "detach",
            &[
                r#"{"type":"thread.started","thread_id":"t-detach"}"#,
                r#"{"type":"turn.started"}"#,
                "@@detached",
                "@@hang",
            ],
        )
    };
    // A timeout.
    let env = Env::new();
    let script = detaching(&env);
    env.cmd(&[&script])
        .args(["run", "--timeout", "1", "--grace", "0.5", "hi"])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(124);
    assert!(gone_within(env.detached_pid(), 3.0), "setsid sleep left");
    // Ctrl-C.
    let env = Env::new();
    let script = detaching(&env);
    let mut child = env
        .std_cmd(&[&script])
        .args(["run", "--grace", "0.5", "hi"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let detached = env.detached_pid();
    send_signal(child.id(), libc::SIGINT);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(gone_within(detached, 3.0), "setsid sleep left after Ctrl-C");
    // A turn that ends as it should leaves what it started running, as codex does.
    let env = Env::new();
    let script = env.script(
        "server",
        &[
            r#"{"type":"thread.started","thread_id":"t-server"}"#,
            "@@detached",
            r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"started"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
        ],
    );
    env.cmd(&[&script])
        .args(["run", "hi"])
        .assert()
        .success()
        .stdout("started\n");
    let server = env.detached_pid();
    assert!(alive(server), "a server the turn started was stopped");
    send_signal(server as u32, libc::SIGKILL);
}

#[test]
fn stopping_a_run_stops_only_its_own_processes_and_keeps_a_completed_turn_s() {
    // A turn that completed, then codex lingers until --timeout: what it started stays.
    let env = Env::new();
    let script = env.script(
        "linger",
        &[
            r#"{"type":"thread.started","thread_id":"t-linger"}"#,
            "@@detached",
            r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"server started"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
            "@@hang",
        ],
    );
    env.cmd(&[&script])
        .args(["run", "--timeout", "1", "--grace", "0.3", "hi"])
        .timeout(Duration::from_secs(20))
        .assert()
        .success()
        .stdout("server started\n");
    let server = env.detached_pid();
    assert!(alive(server), "the completed turn's server was stopped");
    send_signal(server as u32, libc::SIGKILL);

    // A process spawncodex inherited (a shell that exec'd it left a job behind) is not codex's.
    let env = Env::new();
    let script = env.script(
        "detach",
        &[
            r#"{"type":"thread.started","thread_id":"t-detach"}"#,
            "@@detached",
            "@@hang",
        ],
    );
    let mine = env.path().join("mine.pid");
    let mut shell = std::process::Command::new("bash");
    env.apply_env(&mut shell, &[&script]);
    let out = shell
        .arg("-c")
        .arg(r#"sleep 300 </dev/null >/dev/null 2>&1 & echo $! > "$MINE"; exec "$BIN" run "$@""#)
        .arg("bash")
        .args(["--timeout", "1", "--grace", "0.3", "hi"])
        .env("BIN", assert_cmd::cargo::cargo_bin!("spawncodex"))
        .env("MINE", &mine)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(124));
    assert!(
        gone_within(env.detached_pid(), 3.0),
        "codex's setsid sleep left"
    );
    let mine: i32 = std::fs::read_to_string(&mine)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(alive(mine), "a process that was not codex's was stopped");
    send_signal(mine as u32, libc::SIGKILL);
}

#[test]
fn a_second_ctrl_c_kills_detached_commands_at_once() {
    let env = Env::new();
    let script = env.script(
        "stubborn",
        &[
            r#"{"type":"thread.started","thread_id":"t-stubborn"}"#,
            "@@stubborn",
            "@@hang",
        ],
    );
    let mut child = env.spawn_quiet(&[&script], &["run", "--grace", "10", "hi"]);
    let stubborn = env.pid_file("stubborn.pid");
    let started = Instant::now();
    send_signal(child.id(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        alive(stubborn),
        "SIGTERM is ignored: only the grace ends it"
    );
    send_signal(child.id(), libc::SIGINT);
    assert_eq!(child.wait().unwrap().code(), Some(130));
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    assert!(gone_within(stubborn, 2.0), "stubborn sleep left");
}

#[test]
fn detached_commands_get_one_sigterm_and_the_whole_grace() {
    let env = Env::new();
    let script = env.script(
        "counting",
        &[
            r#"{"type":"thread.started","thread_id":"t-count"}"#,
            "@@counting",
            "@@hang",
        ],
    );
    let mut child = env.spawn_quiet(&[&script], &["run", "--grace", "1.5", "hi"]);
    let counting = env.pid_file("counting.pid");
    let started = Instant::now();
    // SIGTERM twice: a repeated SIGTERM is not a second Ctrl-C, the grace still holds.
    send_signal(child.id(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(300));
    send_signal(child.id(), libc::SIGTERM);
    std::thread::sleep(Duration::from_millis(500));
    assert!(alive(counting), "killed before its grace ended");
    assert_eq!(child.wait().unwrap().code(), Some(143));
    assert!(
        started.elapsed() >= Duration::from_millis(1400),
        "{:?}",
        started.elapsed()
    );
    assert!(gone_within(counting, 2.0), "left running after the grace");
    let terms = std::fs::read_to_string(env.calls_dir().join("terms")).unwrap_or_default();
    assert_eq!(terms.lines().count(), 1, "SIGTERMs: {terms:?}");
}

#[test]
fn a_stopped_run_stops_what_earlier_attempts_left_running() {
    let env = Env::new();
    let first = env.script(
        "first",
        &[
            "@@detached",
            &format!("@@cat {}", fixture("http500.jsonl").display()),
            "@@exit 1",
        ],
    );
    let second = env.script(
        "second",
        &[r#"{"type":"thread.started","thread_id":"t-2"}"#, "@@hang"],
    );
    env.cmd(&[&first, &second])
        .args([
            "run",
            "--retries",
            "1",
            "--backoff",
            "0.1",
            "--jitter",
            "0",
            "--timeout",
            "2",
            "--grace",
            "0.3",
            "hi",
        ])
        .timeout(Duration::from_secs(20))
        .assert()
        .code(124);
    assert_eq!(env.calls(), 2);
    assert!(
        gone_within(env.detached_pid(), 3.0),
        "attempt 1's setsid sleep left"
    );
}

#[test]
fn nohup_keeps_the_run_going_and_a_closed_stderr_is_no_crash() {
    // `nohup spawncodex ...`: SIGHUP is ignored when we start, and must stay so.
    let env = Env::new();
    let slow = env.script(
        "slow",
        &[
            r#"{"type":"thread.started","thread_id":"t-nohup"}"#,
            "@@sleep 1",
            &format!("@@cat {}", fixture("plain.jsonl").display()),
        ],
    );
    let mut shell = std::process::Command::new("bash");
    env.apply_env(&mut shell, &[&slow]);
    let child = shell
        .arg("-c")
        .arg(r#"trap "" HUP; exec "$BIN" run hi"#)
        .env("BIN", assert_cmd::cargo::cargo_bin!("spawncodex"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    env.wait_for_first_call();
    send_signal(child.id(), libc::SIGHUP);
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("{PLAIN_ANSWER}\n")
    );
    // A stderr that cannot be written (a full device here; EIO from a closed terminal): the
    // error is lost, the exit code is not, and nothing panics.
    let mut shell = std::process::Command::new("bash");
    env.apply_env(&mut shell, &[]);
    let out = shell
        .arg("-c")
        .arg(r#"exec "$BIN" run --timeout -1 hi 2>/dev/full"#)
        .env("BIN", assert_cmd::cargo::cargo_bin!("spawncodex"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn idle_timeouts_are_retried_when_asked() {
    let env = Env::new();
    let hang = env.script(
        "hang",
        &[
            r#"{"type":"thread.started","thread_id":"t-idle"}"#,
            "@@hang",
        ],
    );
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&hang, &plain])
        .args([
            "run",
            "--idle-timeout",
            "0.5",
            "--grace",
            "0.2",
            "--retries",
            "1",
            "--backoff",
            "0",
            "hi",
        ])
        .assert()
        .success()
        .stdout(format!("{PLAIN_ANSWER}\n"));
    assert_eq!(&env.argv(2)[..4], ["exec", "--json", "resume", "t-idle"]);
}

#[test]
fn signals_stop_codex_and_everything_it_started() {
    for (sig, code, why) in [
        (libc::SIGINT, 130, "interrupted: stopped by Ctrl-C (SIGINT)"),
        (libc::SIGTERM, 143, "interrupted: stopped by SIGTERM"),
        // A closed terminal: stopped as for SIGTERM, not killed with codex left running.
        (libc::SIGHUP, 129, "interrupted: stopped by SIGHUP"),
    ] {
        let env = Env::new();
        let script = hanging_with_grandchild(&env);
        let child = env
            .std_cmd(&[&script])
            .args(["run", "--session", "sig", "--grace", "1", "hi"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        wait_for_calls(&env);
        std::thread::sleep(Duration::from_millis(200));
        let sent = Instant::now();
        send_signal(child.id(), sig);
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.status.code(), Some(code), "signal {sig}");
        assert!(
            sent.elapsed() < Duration::from_secs(6),
            "took {:?}",
            sent.elapsed()
        );
        assert!(out.stdout.is_empty());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(why), "{stderr}");
        assert!(
            gone_within(env.codex_pid(1), 2.0),
            "codex left after signal {sig}"
        );
        assert!(
            gone_within(env.grandchild_pid(), 2.0),
            "grandchild left after signal {sig}"
        );
        let show = env
            .cmd(&[])
            .args(["sessions", "show", "sig", "--json"])
            .output()
            .unwrap();
        let rec: serde_json::Value = serde_json::from_slice(&show.stdout).unwrap();
        assert_eq!(rec["last_status"], "interrupted");
    }
}

#[test]
fn second_ctrl_c_kills_at_once() {
    let env = Env::new();
    // A codex that ignores SIGINT and SIGTERM.
    let script = env.script(
        "stubborn",
        &[r#"{"type":"thread.started","thread_id":"t"}"#, "@@hang"],
    );
    let wrapper = env.path().join("stubborn-codex");
    std::fs::write(
        &wrapper,
        format!(
            "#!/usr/bin/env bash\ntrap '' INT TERM\nexec {} \"$@\"\n",
            fake_codex().display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut child = env
        .std_cmd(&[&script])
        .env("SPAWNCODEX_CODEX_BIN", &wrapper)
        .args(["run", "--grace", "30", "hi"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for_first_call();
    std::thread::sleep(Duration::from_millis(200));
    send_signal(child.id(), libc::SIGINT);
    std::thread::sleep(Duration::from_millis(300));
    send_signal(child.id(), libc::SIGINT);
    let sent = Instant::now();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130));
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "second Ctrl-C did not kill at once"
    );
    assert!(gone_within(env.codex_pid(1), 2.0));
}

#[test]
fn codex_does_not_outlive_a_killed_spawncodex() {
    let env = Env::new();
    let script = env.script(
        "hang",
        &[r#"{"type":"thread.started","thread_id":"t"}"#, "@@hang"],
    );
    let mut child = env.spawn_quiet(&[&script], &["run", "hi"]);
    env.wait_for_first_call();
    std::thread::sleep(Duration::from_millis(300));
    child.kill().unwrap();
    child.wait().unwrap();
    // The parent-death signal reaches codex (bash), which stops.
    assert!(
        gone_within(env.codex_pid(1), 3.0),
        "codex outlived spawncodex"
    );
}

#[test]
fn stderr_noise_does_not_make_a_failure_transient() {
    let env = Env::new();
    let script = env.script(
        "noisy",
        &[
            "@@stderr 2026-11-23T21:11:16.429583Z WARN codex_core: request timed out",
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.failed","error":{"message":"The model does not exist"}}"#,
            "@@exit 1",
        ],
    );
    env.cmd(&[&script])
        .args(["run", "--retries", "2", "--backoff", "0", "hi"])
        .assert()
        .code(1);
    assert_eq!(env.calls(), 1);
}

#[test]
fn ephemeral_retries_start_over() {
    let env = Env::new();
    let failing = env.replay("http429.jsonl", 1);
    let plain = env.replay("plain.jsonl", 0);
    env.cmd(&[&failing, &plain])
        .args([
            "run",
            "--ephemeral",
            "--retries",
            "1",
            "--backoff",
            "0",
            "hi",
        ])
        .assert()
        .success();
    assert_eq!(env.argv(2), ["exec", "--json", "--ephemeral", "--", "hi"]);
    env.cmd(&[&plain])
        .args(["run", "--ephemeral", "--session", "e", "hi"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--ephemeral"));
}

#[test]
fn sigterm_during_a_retry_wait_exits_143() {
    let env = Env::new();
    // The failed attempt leaves a command running that left codex's group.
    let failing = env.script(
        "failing",
        &[
            "@@detached",
            &format!("@@cat {}", fixture("http429.jsonl").display()),
            "@@exit 1",
        ],
    );
    let mut child = env.spawn_quiet(
        &[&failing],
        &[
            "run",
            "--retries",
            "3",
            "--backoff",
            "5",
            "--grace",
            "0.5",
            "hi",
        ],
    );
    env.wait_for_first_call();
    let detached = env.detached_pid();
    std::thread::sleep(Duration::from_millis(800));
    assert!(alive(detached), "a failed attempt is not a stopped run");
    send_signal(child.id(), libc::SIGTERM);
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(143));
    assert_eq!(env.calls(), 1);
    assert!(
        gone_within(detached, 2.0),
        "the attempt's setsid sleep left"
    );
}

#[test]
fn timeout_holds_even_when_our_stdout_is_not_read() {
    // A consumer that stops reading blocks our writes; codex must still not run past --timeout.
    let env = Env::new();
    let stream = env.path().join("big.jsonl");
    let mut text = String::from("{\"type\":\"thread.started\",\"thread_id\":\"t\"}\n");
    for i in 0..20_000 {
        text.push_str(&format!(
            "{{\"type\":\"item.completed\",\"item\":{{\"id\":\"item_{i}\",\"type\":\"reasoning\",\"text\":\"thinking about step {i} of a long task\"}}}}\n"
        ));
    }
    std::fs::write(&stream, text).unwrap();
    let script = env.script("stall", &[&format!("@@cat {}", stream.display()), "@@hang"]);
    let started = Instant::now();
    let mut child = env
        .std_cmd(&[&script])
        .args(["run", "--jsonl", "--timeout", "1", "--grace", "0.5", "hi"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    env.wait_for_first_call();
    // Read nothing for a while: the pipe fills and our writes block.
    std::thread::sleep(Duration::from_millis(3500));
    let codex = env.codex_pid(1);
    assert!(
        gone_within(codex, 1.0),
        "codex still running {:?} after start",
        started.elapsed()
    );
    let mut out = Vec::new();
    std::io::Read::read_to_end(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(124));
    let last = jsonl(&out).pop().unwrap();
    assert_eq!(last["status"], "timed_out");
}
