//! A test environment: a temp dir, the fake codex, an isolated session store.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command as StdCommand;

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

pub const PLAIN_ANSWER: &str = "Hello! This is the mock model speaking.";

pub struct Env {
    pub dir: TempDir,
}

pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

pub fn fake_codex() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fake-codex/codex")
}

/// The shard files of a store, read the way its format describes them: `sessions.json` is a
/// manifest (format version 2), and the folder beside it named like it + `.d` holds `NN.json`
/// files. `None` while there is no manifest (yet).
pub fn shard_files(store: &Path) -> Option<Vec<PathBuf>> {
    let manifest: Value = serde_json::from_slice(&std::fs::read(store).ok()?).ok()?;
    assert_eq!(manifest["format"], "spawncodex-sessions");
    assert_eq!(manifest["version"], 2, "{manifest}");
    let mut dir = store.as_os_str().to_owned();
    dir.push(".d");
    let mut files: Vec<PathBuf> = std::fs::read_dir(PathBuf::from(dir))
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    Some(files)
}

/// Every session in a store, by name, read straight from its shard files (each must be valid
/// JSON in the one-file layout); `None` while there is no manifest.
pub fn stored_sessions(store: &Path) -> Option<serde_json::Map<String, Value>> {
    let mut all = serde_json::Map::new();
    for file in shard_files(store)? {
        let shard: Value = serde_json::from_slice(&std::fs::read(&file).ok()?).ok()?;
        assert_eq!(shard["format"], "spawncodex-sessions", "{}", file.display());
        for (name, record) in shard["sessions"].as_object().unwrap() {
            assert!(
                all.insert(name.clone(), record.clone()).is_none(),
                "{name} twice"
            );
        }
    }
    Some(all)
}

impl Env {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("spawncodex-test-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        Env { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn calls_dir(&self) -> PathBuf {
        self.path().join("calls")
    }

    pub fn home(&self) -> PathBuf {
        self.path().join("home")
    }

    pub fn store_file(&self) -> PathBuf {
        self.home().join("sessions.json")
    }

    pub fn work(&self) -> PathBuf {
        self.path().join("work")
    }

    /// Write a fake-codex script; returns its path.
    pub fn script(&self, name: &str, lines: &[&str]) -> PathBuf {
        let path = self.path().join(format!("{name}.script"));
        std::fs::write(&path, lines.join("\n") + "\n").unwrap();
        path
    }

    /// A script that replays a recorded fixture, then exits with `code`.
    pub fn replay(&self, fixture_name: &str, code: i32) -> PathBuf {
        let cat = format!("@@cat {}", fixture(fixture_name).display());
        let exit = format!("@@exit {code}");
        self.script(&format!("replay-{fixture_name}-{code}"), &[&cat, &exit])
    }

    /// The test environment (fake codex, private store and home) on any command.
    pub fn apply_env(&self, cmd: &mut StdCommand, scripts: &[&Path]) {
        for (k, _) in std::env::vars() {
            if k.starts_with("SPAWNCODEX_") || k == "NO_COLOR" || k == "CI" || k == "COLUMNS" {
                cmd.env_remove(k);
            }
        }
        let list: Vec<String> = scripts.iter().map(|p| p.display().to_string()).collect();
        cmd.env("SPAWNCODEX_CODEX_BIN", fake_codex())
            .env("FAKE_CODEX_DIR", self.calls_dir())
            .env("FAKE_CODEX_SCRIPTS", list.join(","))
            .env("SPAWNCODEX_HOME", self.home())
            .env("HOME", self.path())
            .env("XDG_DATA_HOME", self.path().join("xdg"))
            .current_dir(self.work());
    }

    /// `spawncodex` with the fake codex playing `scripts` (one per call).
    pub fn cmd(&self, scripts: &[&Path]) -> Command {
        let mut std_cmd = StdCommand::new(assert_cmd::cargo::cargo_bin!("spawncodex"));
        self.apply_env(&mut std_cmd, scripts);
        Command::from_std(std_cmd)
    }

    /// `spawncodex ARGS` started in the background, its output thrown away (for signal tests).
    pub fn spawn_quiet(&self, scripts: &[&Path], args: &[&str]) -> std::process::Child {
        self.std_cmd(scripts)
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    }

    /// The same as a std Command (for signals, pipes and timing).
    pub fn std_cmd(&self, scripts: &[&Path]) -> StdCommand {
        let mut cmd = StdCommand::new(assert_cmd::cargo::cargo_bin!("spawncodex"));
        self.apply_env(&mut cmd, scripts);
        cmd
    }

    /// Wait (up to 5 s) until codex has been started at least once.
    pub fn wait_for_first_call(&self) {
        let started = std::time::Instant::now();
        while self.calls() == 0 && started.elapsed() < std::time::Duration::from_secs(5) {
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    /// How many times codex was called.
    pub fn calls(&self) -> usize {
        (1..)
            .take_while(|n| self.calls_dir().join(format!("call-{n}.argv")).exists())
            .count()
    }

    /// The argv codex received on call `n` (1-based), without the program.
    pub fn argv(&self, n: usize) -> Vec<String> {
        let raw = std::fs::read(self.calls_dir().join(format!("call-{n}.argv"))).unwrap();
        raw.split(|b| *b == 0)
            .filter(|s| !s.is_empty())
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect()
    }

    pub fn cwd(&self, n: usize) -> String {
        std::fs::read_to_string(self.calls_dir().join(format!("call-{n}.cwd")))
            .unwrap()
            .trim()
            .to_string()
    }

    pub fn stdin(&self, n: usize) -> Vec<u8> {
        std::fs::read(self.calls_dir().join(format!("call-{n}.stdin"))).unwrap()
    }

    pub fn codex_pid(&self, n: usize) -> i32 {
        std::fs::read_to_string(self.calls_dir().join(format!("call-{n}.pid")))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }

    /// The pid of the fake codex's `@@detached` sleep, once it is written (up to 5 s).
    pub fn detached_pid(&self) -> i32 {
        self.pid_file("detached.pid")
    }

    /// A pid the fake codex wrote to `name` in its calls folder, once it is there (up to 5 s).
    pub fn pid_file(&self, name: &str) -> i32 {
        let path = self.calls_dir().join(name);
        let started = std::time::Instant::now();
        while started.elapsed() < std::time::Duration::from_secs(5) {
            if let Some(pid) = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().parse().ok())
            {
                return pid;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("no {}", path.display());
    }

    pub fn grandchild_pid(&self) -> i32 {
        std::fs::read_to_string(self.calls_dir().join("grandchild.pid"))
            .unwrap()
            .trim()
            .parse()
            .unwrap()
    }
}

/// Parse every stdout line as JSON (panics on a line that is not).
pub fn jsonl(stdout: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

pub fn types(lines: &[Value]) -> Vec<String> {
    lines
        .iter()
        .map(|v| v["type"].as_str().unwrap_or("").to_string())
        .collect()
}

/// Is a process with this pid still there (and not a zombie)?
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Wait until the pid is gone, up to `secs`.
pub fn gone_within(pid: i32, secs: f64) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs_f64(secs);
    while std::time::Instant::now() < end {
        if !alive(pid) {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    !alive(pid)
}

pub fn send_signal(pid: u32, sig: i32) {
    unsafe {
        libc::kill(pid as i32, sig);
    }
}
