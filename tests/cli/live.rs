//! `spawncodex live`: rendering of recorded streams, streaming latency, events file, closed pipes.

use std::io::{BufRead, BufReader, Read};
use std::process::Stdio;
use std::time::{Duration, Instant};

use predicates::prelude::*;

use crate::common::*;

/// Run `live` on a recorded stream and return its stderr with timings made stable.
fn render(fixture_name: &str, code: i32, color: &str) -> String {
    let env = Env::new();
    let script = env.replay(fixture_name, code);
    let out = env
        .cmd(&[&script])
        .env("COLUMNS", "80")
        .args(["live", "--color", color, "hi"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    format!(
        "exit: {:?}\n--- stdout\n{}--- stderr\n{stderr}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    )
}

fn settings() -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(r"\b\d+(\.\d+)?(ms|s)\b", "[time]");
    s.add_filter(r"\b\d+m\d\ds\b", "[time]");
    s.set_prepend_module_to_snapshot(false);
    s.set_snapshot_path("../snapshots");
    s
}

macro_rules! snapshot_case {
    ($name:ident, $fixture:expr, $code:expr) => {
        #[test]
        fn $name() {
            settings().bind(|| {
                insta::assert_snapshot!(
                    concat!(stringify!($name), "_never"),
                    render($fixture, $code, "never")
                );
                insta::assert_snapshot!(
                    concat!(stringify!($name), "_always"),
                    render($fixture, $code, "always")
                );
            });
        }
    };
}

snapshot_case!(live_plain, "plain.jsonl", 0);
snapshot_case!(live_tool_call, "tool_call.jsonl", 0);
snapshot_case!(live_multi_command, "multi_command.jsonl", 0);
snapshot_case!(live_apply_patch, "apply_patch.jsonl", 0);
snapshot_case!(live_mcp_tool_call, "mcp_tool_call_bypass.jsonl", 0);
snapshot_case!(live_web_search, "web_search.jsonl", 0);
snapshot_case!(live_error_item, "unknown_model_error_item.jsonl", 0);
snapshot_case!(live_http429, "http429.jsonl", 1);
snapshot_case!(live_drop_then_ok, "drop_then_ok.jsonl", 0);

#[test]
fn the_final_error_line_repeats_nothing_just_shown() {
    let env = Env::new();
    let fail = |script: &std::path::Path| {
        let out = env
            .cmd(&[script])
            .args(["live", "--color", "never", "hi"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        String::from_utf8(out.stderr).unwrap()
    };
    // codex's error event, then the turn fails: the message once, then the summary.
    let right_after = env.script(
        "right_after",
        &[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"error","message":"quota gone"}"#,
            r#"{"type":"turn.failed","error":{"message":"quota gone"}}"#,
            "@@exit 1",
        ],
    );
    let stderr = fail(&right_after);
    assert_eq!(stderr.matches("quota gone").count(), 1, "{stderr}");
    assert!(
        stderr.lines().last().unwrap().starts_with("✗ failed"),
        "{stderr}"
    );
    // Work shown after the error: the error is said again at the end, where it is seen.
    let later = env.script(
        "later",
        &[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"error","message":"quota gone"}"#,
            r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"still here"}}"#,
            r#"{"type":"turn.failed","error":{"message":"quota gone"}}"#,
            "@@exit 1",
        ],
    );
    let stderr = fail(&later);
    assert_eq!(stderr.matches("quota gone").count(), 2, "{stderr}");
    assert_eq!(
        stderr.lines().last(),
        Some("spawncodex: error: quota gone"),
        "{stderr}"
    );
}

#[test]
fn live_renders_todo_lists_and_unknown_events() {
    let env = Env::new();
    let script = env.script(
        "todo",
        &[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.started"}"#,
            r#"{"type":"item.completed","item":{"id":"item_0","type":"todo_list","items":[{"text":"read the code","completed":true},{"text":"fix the bug","completed":false}]}}"#,
            r#"{"type":"turn.paused","why":"future"}"#,
            r#"{"type":"item.completed","item":{"id":"item_1","type":"agent_message","text":"done"}}"#,
            r#"{"type":"turn.completed","usage":{}}"#,
        ],
    );
    env.cmd(&[&script])
        .args(["live", "--color", "never", "hi"])
        .assert()
        .success()
        .stdout("done\n")
        .stderr(predicate::str::contains("[x] read the code"))
        .stderr(predicate::str::contains("[ ] fix the bug"))
        .stderr(predicate::str::contains("event turn.paused"));
}

/// codex running `seq N`: its start, then its output of N lines `line 1`.. `line N`.
fn seq_script(env: &Env, n: usize) -> std::path::PathBuf {
    let output: String = (1..=n).map(|i| format!("line {i}\\n")).collect();
    let item = |kind: &str, output: &str, code: &str, status: &str| {
        format!(
            r#"{{"type":"item.{kind}","item":{{"id":"item_0","type":"command_execution","command":"/bin/bash -lc 'seq {n}'","aggregated_output":"{output}","exit_code":{code},"status":"{status}"}}}}"#
        )
    };
    env.script(
        &format!("seq{n}"),
        &[
            r#"{"type":"thread.started","thread_id":"t"}"#,
            &item("started", "", "null", "in_progress"),
            &item("completed", &output, "0", "completed"),
            r#"{"type":"turn.completed","usage":{}}"#,
        ],
    )
}

#[test]
fn long_command_output_is_cut_unless_verbose() {
    let env = Env::new();
    let script = seq_script(&env, 50);
    let out = env
        .cmd(&[&script])
        .args(["live", "--color", "never", "hi"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("$ seq 50"));
    assert!(stderr.contains("  … 30 earlier lines (-v shows them)\n"));
    assert!(!stderr.contains("line 30\n"));
    assert!(stderr.contains("line 31\n") && stderr.contains("line 50\n"));
    let out = env
        .cmd(&[&script])
        .args(["live", "-v", "--color", "never", "hi"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("line 1\n") && stderr.contains("line 50\n"));
    // -v also shows our own events, dimmed.
    assert!(stderr.contains("spawncodex.process.spawned"));
}

#[test]
fn color_follows_flag_and_no_color() {
    let env = Env::new();
    let script = env.replay("tool_call.jsonl", 0);
    let out = env
        .cmd(&[&script])
        .args(["live", "--color", "always", "hi"])
        .output()
        .unwrap();
    assert!(out.stderr.contains(&0x1b));
    assert!(!out.stdout.contains(&0x1b));
    // auto with stderr not a terminal, or NO_COLOR: no colour.
    let out = env.cmd(&[&script]).args(["live", "hi"]).output().unwrap();
    assert!(!out.stderr.contains(&0x1b));
    let out = env
        .cmd(&[&script])
        .env("NO_COLOR", "1")
        .args(["live", "--color", "auto", "hi"])
        .output()
        .unwrap();
    assert!(!out.stderr.contains(&0x1b));
}

#[test]
fn jsonl_lines_reach_a_pipe_as_they_are_written() {
    let env = Env::new();
    let script = env.script(
        "slow",
        &[
            r#"{"type":"thread.started","thread_id":"t-slow"}"#,
            "@@sleep 2",
            r#"{"type":"turn.started"}"#,
        ],
    );
    let started = Instant::now();
    let mut child = env
        .std_cmd(&[&script])
        .args(["live", "--jsonl", "hi"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        reader.read_line(&mut line).unwrap();
        if line.contains("thread.started") {
            break;
        }
        assert!(!line.is_empty(), "stdout ended early");
    }
    let first = started.elapsed();
    let mut rest = String::new();
    reader.read_to_string(&mut rest).unwrap();
    child.wait().unwrap();
    assert!(
        first < Duration::from_millis(1500),
        "first event after {first:?}"
    );
    assert!(started.elapsed() >= Duration::from_secs(2));
}

#[test]
fn events_file_logs_the_whole_run() {
    let env = Env::new();
    let script = env.replay("plain.jsonl", 0);
    let log = env.path().join("events.jsonl");
    env.cmd(&[&script])
        .arg("--events-file")
        .arg(&log)
        .args(["run", "hi"])
        .assert()
        .success()
        .stdout(format!("{PLAIN_ANSWER}\n"));
    let lines = jsonl(&std::fs::read(&log).unwrap());
    let t = types(&lines);
    assert_eq!(
        t.first().map(String::as_str),
        Some("spawncodex.attempt.started")
    );
    let spawned = lines
        .iter()
        .find(|l| l["type"] == "spawncodex.process.spawned")
        .unwrap();
    assert_eq!(spawned["pid"], env.codex_pid(1));
    assert_eq!(spawned["argv"][0], fake_codex().display().to_string());
    assert_eq!(spawned["argv"][1], "exec");
    let finished = lines
        .iter()
        .find(|l| l["type"] == "spawncodex.attempt.finished")
        .unwrap();
    assert_eq!(finished["exit_code"], 0);
    assert_eq!(finished["status"], "completed");
    assert!(finished["duration_ms"].is_u64());
    assert!(t.contains(&"thread.started".to_string()) && t.contains(&"turn.completed".to_string()));
    assert_eq!(t.last().map(String::as_str), Some("spawncodex.result"));
    // Appends: a second run adds to it.
    env.cmd(&[&script])
        .arg("--events-file")
        .arg(&log)
        .args(["live", "--jsonl", "hi"])
        .assert()
        .success();
    let again = jsonl(&std::fs::read(&log).unwrap());
    assert_eq!(again.len(), 2 * lines.len());
}

#[test]
fn closed_stdout_ends_quietly_and_stops_codex() {
    let env = Env::new();
    let script = env.script(
        "endless",
        &[
            "@@grandchild",
            r#"{"type":"thread.started","thread_id":"t"}"#,
            r#"{"type":"turn.started"}"#,
            "@@hang",
        ],
    );
    let mut child = env
        .std_cmd(&[&script])
        .args(["live", "--jsonl", "--grace", "0.5", "hi"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Wait for codex to be up, then close our end (what `| head -1` does).
    env.wait_for_first_call();
    std::thread::sleep(Duration::from_millis(200));
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(141));
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(gone_within(env.codex_pid(1), 3.0), "codex left running");
    assert!(
        gone_within(env.grandchild_pid(), 3.0),
        "grandchild left running"
    );
}

#[test]
fn a_stdout_that_cannot_be_written_is_a_failure_not_a_success() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    for args in [
        vec!["run", "hi"],
        vec!["run", "--jsonl", "hi"],
        vec!["live", "--jsonl", "hi"],
    ] {
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .unwrap();
        let out = env
            .std_cmd(&[&plain])
            .args(&args)
            .stdout(Stdio::from(full))
            .output()
            .unwrap();
        // Not 0 (the answer is lost) and not 141 (nobody closed the pipe).
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(
            stderr.contains("cannot write to stdout: No space left on device"),
            "{args:?}: {stderr}"
        );
    }
}

/// The live renderer reads hot items from raw bytes; what serde would refuse (a raw control
/// byte in a string) must not reach the terminal, and a layout it does not expect (a space
/// after a colon) must still be shown in full, through serde. stderr is not a terminal here,
/// so the fast path runs.
#[test]
fn live_shows_nothing_serde_refuses_and_everything_it_accepts() {
    let env = Env::new();
    let script = env.script(
        "odd.script",
        &[
            r#"{"type":"thread.started","thread_id":"t-odd"}"#,
            "{\"type\":\"item.completed\",\"item\":{\"id\":\"r\",\"type\":\"reasoning\",\"text\":\"clear \x1b[2J screen\"}}",
            r#"{"type":"item.started","item":{"id": "a","type":"command_execution","command":"ls","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
            r#"{"type":"item.started","item":{"id": "b","type":"command_execution","command":"pwd","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
            r#"{"type":"item.completed","item":{"id":"m","type":"agent_message","text": "the answer"}}"#,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
        ],
    );
    let out = env
        .cmd(&[&script])
        .env_remove("COLUMNS")
        .args(["live", "--color", "never", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(!stderr.contains('\x1b'), "{stderr:?}");
    assert!(!stderr.contains("screen"), "{stderr}");
    assert!(
        stderr.contains("$ ls\n") && stderr.contains("$ pwd\n"),
        "{stderr}"
    );
    assert!(stderr.contains("codex\n  the answer\n"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "the answer\n");
}

/// `  ✓ exit 0 in 1.2s` → the duration in ms.
fn shown_durations_ms(stderr: &str) -> Vec<f64> {
    stderr
        .lines()
        .filter_map(|l| l.split_once("exit 0 in ").map(|(_, d)| d.trim()))
        .map(|d| {
            if let Some(ms) = d.strip_suffix("ms") {
                ms.parse::<f64>().unwrap()
            } else if let Some(s) = d.strip_suffix('s') {
                s.parse::<f64>().unwrap() * 1000.0
            } else {
                panic!("unexpected duration {d:?}")
            }
        })
        .collect()
}

#[test]
fn a_command_shows_how_long_it_ran() {
    let env = Env::new();
    let start = |id: &str| {
        format!(
            r#"{{"type":"item.started","item":{{"id":"{id}","type":"command_execution","command":"sleep 1","aggregated_output":"","exit_code":null,"status":"in_progress"}}}}"#
        )
    };
    let done = |id: &str| {
        format!(
            r#"{{"type":"item.completed","item":{{"id":"{id}","type":"command_execution","command":"sleep 1","aggregated_output":"","exit_code":0,"status":"completed"}}}}"#
        )
    };
    let (s0, d0, s1, d1) = (
        start("item_0"),
        done("item_0"),
        start("item_1"),
        done("item_1"),
    );
    // The first command runs 0.6 s; the second starts after another 0.6 s and completes at
    // once: durations come from when each line arrived, not from one clock reading.
    let script = env.script(
        "timed",
        &[
            r#"{"type":"thread.started","thread_id":"t-timed"}"#,
            &s0,
            "@@sleep 0.6",
            &d0,
            "@@sleep 0.6",
            &s1,
            &d1,
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
        ],
    );
    let out = env
        .cmd(&[&script])
        .args(["live", "--color", "never", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stderr = String::from_utf8(out.stderr).unwrap();
    let took = shown_durations_ms(&stderr);
    assert_eq!(took.len(), 2, "{stderr}");
    assert!((550.0..5000.0).contains(&took[0]), "{stderr}");
    assert!(took[1] < 300.0, "{stderr}");
}

#[test]
fn control_characters_from_codex_are_shown_not_obeyed() {
    let env = Env::new();
    // What a command printed, a message and an error, each with sequences that would clear the
    // screen, set the window title, ring the bell or move the cursor (CSI as a C1 control).
    let hostile = r#"before\u001b[2J\u001b]0;pwned\u0007\u009b31m\rafter"#;
    let script = env.script(
        "hostile",
        &[
            r#"{"type":"thread.started","thread_id":"t-hostile"}"#,
            r#"{"type":"item.started","item":{"id":"item_0","type":"command_execution","command":"printf '\u001b[2J'","aggregated_output":"","exit_code":null,"status":"in_progress"}}"#,
            &format!(
                r#"{{"type":"item.completed","item":{{"id":"item_0","type":"command_execution","command":"printf '\u001b[2J'","aggregated_output":"{hostile}\n","exit_code":0,"status":"completed"}}}}"#
            ),
            &format!(
                r#"{{"type":"item.completed","item":{{"id":"item_1","type":"reasoning","text":"raw C1: \u0085 {}"}}}}"#,
                "\u{9b}"
            ),
            &format!(r#"{{"type":"error","message":"{hostile}"}}"#),
            &format!(
                r#"{{"type":"item.completed","item":{{"id":"item_2","type":"agent_message","text":"{hostile}"}}}}"#
            ),
            r#"{"type":"turn.completed","usage":{"input_tokens":1,"cached_input_tokens":0,"output_tokens":1}}"#,
        ],
    );
    for color in ["never", "always"] {
        let out = env
            .cmd(&[&script])
            .args(["live", "--color", color, "hi"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0));
        let stderr = String::from_utf8(out.stderr).unwrap();
        // Shown: the command, its output, the reasoning, the error and the message.
        assert!(stderr.contains("printf '^[[2J'"), "{stderr}");
        assert!(
            stderr.contains("before^[[2J^[]0;pwned^G\u{FFFD}31m^Mafter"),
            "{stderr}"
        );
        assert!(stderr.contains("raw C1: \u{FFFD} \u{FFFD}"), "{stderr}");
        // Not obeyed: no control character but newline, and the colour codes spawncodex
        // writes itself (ESC [ ... m).
        let mut rest = stderr.as_str();
        while let Some(at) = rest.find(|c: char| c.is_control() && c != '\n') {
            let tail = &rest[at..];
            let sgr = tail.strip_prefix("\u{1b}[").and_then(|t| {
                let end = t.find(|c: char| !c.is_ascii_digit() && c != ';')?;
                (t.as_bytes()[end] == b'm').then_some(end + 3)
            });
            let Some(len) = sgr.filter(|_| color == "always") else {
                panic!("a raw control character in {tail:?}");
            };
            rest = &tail[len..];
        }
        // stdout is the answer, as codex gave it.
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            "before\u{1b}[2J\u{1b}]0;pwned\u{7}\u{9b}31m\rafter\n"
        );
    }
}

#[test]
fn verbose_output_and_unknown_events_are_made_safe_too() {
    let env = Env::new();
    let script = env.script(
        "hostile-verbose",
        &[
            "@@stderr evil \u{1b}]0;pwned\u{7} \u{1b}[2J",
            r#"{"type":"thread.started","thread_id":"t-\u009b2J"}"#,
            r#"{"type":"\u001b]0;pwned\u0007brand.new"}"#,
            r#"{"type":"turn.failed","error":{"message":"bad \u009b2J"}}"#,
            "@@exit 1",
        ],
    );
    let out = env
        .cmd(&[&script])
        .args(["live", "-v", "--color", "never", "hi"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("evil ^[]0;pwned^G ^[[2J"), "{stderr}");
    assert!(stderr.contains("event ^[]0;pwned^Gbrand.new"), "{stderr}");
    assert!(
        !stderr.contains(|c: char| c.is_control() && c != '\n'),
        "{stderr:?}"
    );
}

#[test]
fn one_hidden_line_is_one_line() {
    let env = Env::new();
    let script = seq_script(&env, 21);
    let out = env
        .cmd(&[&script])
        .args(["live", "--color", "never", "hi"])
        .output()
        .unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains("  … 1 earlier line (-v shows them)\n  line 2\n"),
        "{stderr}"
    );
}
