//! Finding the real codex, and running `spawncodex` against it and a [`FakeServer`] in an
//! isolated directory tree.

#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::server::{FakeServer, Step};

/// The codex version the suite is pinned to (tests/e2e/CODEX_VERSION).
pub fn pinned_version() -> String {
    include_str!("CODEX_VERSION").trim().to_string()
}

/// The directory `.ci/run` installs codex into.
pub fn cache_prefix() -> PathBuf {
    let cache = std::env::var_os("SPAWNCODEX_E2E_CACHE")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_default();
            Path::new(&home).join(".cache/spawncodex-e2e")
        });
    cache.join(format!("codex-{}", pinned_version()))
}

/// The native codex binary under an npm prefix, else the JS shim.
fn find_in_prefix(prefix: &Path) -> Option<PathBuf> {
    let scope = prefix.join("node_modules/@openai");
    let mut natives = Vec::new();
    for pkg in std::fs::read_dir(&scope).into_iter().flatten().flatten() {
        if !pkg.file_name().to_string_lossy().starts_with("codex-") {
            continue;
        }
        for triple in std::fs::read_dir(pkg.path().join("vendor"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let bin = triple.path().join("bin/codex");
            if bin.is_file() {
                natives.push(bin);
            }
        }
    }
    natives.sort();
    natives.into_iter().next().or_else(|| {
        let shim = prefix.join("node_modules/.bin/codex");
        shim.exists().then_some(shim)
    })
}

/// Where the real codex is: `SPAWNCODEX_E2E_CODEX`, else the cache; checked once that it runs
/// and is the pinned version.
fn locate() -> Result<PathBuf, String> {
    let hint = format!(
        "set SPAWNCODEX_E2E_CODEX to a codex {v} binary, or run .ci/run (it installs codex {v} into {})",
        cache_prefix().display(),
        v = pinned_version()
    );
    let path = match std::env::var_os("SPAWNCODEX_E2E_CODEX").filter(|v| !v.is_empty()) {
        Some(p) => {
            let p = PathBuf::from(p);
            if !p.is_file() {
                return Err(format!(
                    "SPAWNCODEX_E2E_CODEX={} is not a file; {hint}",
                    p.display()
                ));
            }
            p
        }
        None => find_in_prefix(&cache_prefix())
            .ok_or_else(|| format!("the real codex was not found; {hint}"))?,
    };
    let out = Command::new(&path)
        .arg("--version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}; {hint}", path.display()))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if version != format!("codex-cli {}", pinned_version()) {
        return Err(format!(
            "{} --version says {version:?}, expected codex-cli {}; {hint}",
            path.display(),
            pinned_version()
        ));
    }
    Ok(path)
}

fn codex() -> &'static Result<PathBuf, String> {
    static CODEX: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    CODEX.get_or_init(locate)
}

/// The real codex, or `None` after printing one line on why the test is skipped. With
/// `CI=true` a missing codex fails the test instead.
pub fn codex_or_skip(test: &str) -> Option<PathBuf> {
    match codex() {
        Ok(p) => Some(p.clone()),
        Err(why) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("e2e test {test} cannot run (CI=true, so this is a failure): {why}");
            }
            eprintln!("skipped e2e test {test}: {why}");
            None
        }
    }
}

/// Skip the test (return) when the real codex is missing; see [`codex_or_skip`].
macro_rules! e2e_env {
    ($name:expr, $steps:expr) => {
        match $crate::harness::codex_or_skip($name) {
            Some(codex) => $crate::harness::E2e::new(codex, $name, $steps),
            None => return,
        }
    };
}
pub(crate) use e2e_env;

/// One test's world: a fake server, a codex home, a spawncodex home and a working directory,
/// all under one directory below the cargo target dir (not under the system temp dir, so that
/// codex does not warn about PATH aliases; see codex-exec.md §2).
pub struct E2e {
    pub server: FakeServer,
    pub codex: PathBuf,
    pub root: TempDir,
    /// codex provider knobs, `request_max_retries` and `stream_max_retries` (default 0, 0).
    pub request_max_retries: u32,
    pub stream_max_retries: u32,
}

/// What one `spawncodex` run produced.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// stdout parsed as JSON Lines (panics on a line that is not JSON).
    pub fn jsonl(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| {
                serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}\n{self}"))
            })
            .collect()
    }

    /// The last `--jsonl` line, which must be the `spawncodex.result`.
    pub fn result(&self) -> Value {
        let lines = self.jsonl();
        let last = lines.last().cloned().unwrap_or(Value::Null);
        assert_eq!(last["type"], "spawncodex.result", "last line:\n{self}");
        last
    }

    /// The `--jsonl` lines of this `type`.
    pub fn events(&self, kind: &str) -> Vec<Value> {
        self.jsonl()
            .into_iter()
            .filter(|v| v["type"] == kind)
            .collect()
    }

    /// Panic with the whole run shown unless the exit code is `code`.
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(self.code, Some(code), "unexpected exit code:\n{self}");
        self
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {:?} after {:.2?}\n--- stdout\n{}--- stderr\n{}---",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }
}

/// No e2e run may take longer than this; a run still going is killed and the test fails.
const RUN_LIMIT: Duration = Duration::from_secs(60);

impl E2e {
    pub fn new(codex: PathBuf, name: &str, steps: Vec<Step>) -> E2e {
        let base = Path::new(env!("CARGO_TARGET_TMPDIR")).join("e2e");
        std::fs::create_dir_all(&base).unwrap();
        let root = tempfile::Builder::new()
            .prefix(&format!("{name}-"))
            .tempdir_in(&base)
            .unwrap();
        for dir in ["codex-home", "spawncodex-home", "home", "tmp", "work"] {
            std::fs::create_dir_all(root.path().join(dir)).unwrap();
        }
        E2e {
            server: FakeServer::start(steps),
            codex,
            root,
            request_max_retries: 0,
            stream_max_retries: 0,
        }
    }

    pub fn path(&self) -> &Path {
        self.root.path()
    }

    pub fn codex_home(&self) -> PathBuf {
        self.path().join("codex-home")
    }

    pub fn work(&self) -> PathBuf {
        self.path().join("work")
    }

    /// The root options for codex that point it at the fake server, as `--codex-arg=...`.
    pub fn codex_args(&self) -> Vec<String> {
        let provider = format!(
            r#"model_providers.mock={{name="mock", base_url="{}", wire_api="responses", request_max_retries={}, stream_max_retries={}}}"#,
            self.server.base_url(),
            self.request_max_retries,
            self.stream_max_retries
        );
        [
            "-c",
            "model_provider=mock",
            "-c",
            &provider,
            "-c",
            r#"model="gpt-5.5""#,
            "--disable",
            "plugins",
            "-c",
            "analytics.enabled=false",
        ]
        .iter()
        .map(|a| format!("--codex-arg={a}"))
        .collect()
    }

    /// `spawncodex` with a clean environment: the real codex, the fake provider, this test's
    /// homes. `args` follow the root options (start with the subcommand or `--jsonl`).
    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_spawncodex"));
        cmd.env_clear()
            .env(
                "PATH",
                std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into()),
            )
            .env("HOME", self.path().join("home"))
            .env("TMPDIR", self.path().join("tmp"))
            .env("CODEX_HOME", self.codex_home())
            .env("SPAWNCODEX_HOME", self.path().join("spawncodex-home"))
            .env("SPAWNCODEX_CODEX_BIN", &self.codex)
            .env("LANG", "C.UTF-8")
            .env("RUST_BACKTRACE", "0")
            .current_dir(self.work())
            .args(self.codex_args())
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        cmd
    }

    /// Run `spawncodex ARGS` to the end (killed, and the test failed, after a minute).
    pub fn run(&self, args: &[&str]) -> Run {
        self.spawn(args).finish()
    }

    /// Start `spawncodex ARGS`; [`Running::finish`] waits for it.
    pub fn spawn(&self, args: &[&str]) -> Running {
        Running::start(self.command(args))
    }
}

/// A `spawncodex` still running, its output being collected.
pub struct Running {
    pub child: Child,
    start: Instant,
    out_reader: JoinHandle<Vec<u8>>,
    err_reader: JoinHandle<Vec<u8>>,
}

impl Running {
    pub fn start(mut cmd: Command) -> Running {
        let start = Instant::now();
        let mut child = cmd.spawn().expect("spawn spawncodex");
        let mut stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let out_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stdout.read_to_end(&mut s);
            s
        });
        let err_reader = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            s
        });
        Running {
            child,
            start,
            out_reader,
            err_reader,
        }
    }

    /// Send a signal to spawncodex (not to codex: it runs in a process group of its own).
    pub fn signal(&self, sig: i32) {
        // SAFETY: kill(2) on our own child's pid.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    /// Wait for the end (killed, and the test failed, after a minute).
    pub fn finish(mut self) -> Run {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.start.elapsed() > RUN_LIMIT {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("spawncodex still running after {RUN_LIMIT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let elapsed = self.start.elapsed();
        let stdout = String::from_utf8_lossy(&self.out_reader.join().unwrap()).into_owned();
        let stderr = String::from_utf8_lossy(&self.err_reader.join().unwrap()).into_owned();
        Run {
            code: status.code(),
            stdout,
            stderr,
            elapsed,
        }
    }
}

impl E2e {
    /// Panic unless every codex process `run` spawned, and every process carrying this test's
    /// directory in its environment (codex's own children too), is gone (within a second).
    pub fn assert_no_process_left(&self, run: &Run) {
        let pids: Vec<u32> = run
            .events("spawncodex.process.spawned")
            .iter()
            .map(|e| u32::try_from(e["pid"].as_u64().unwrap()).unwrap())
            .collect();
        assert!(
            !pids.is_empty(),
            "no spawncodex.process.spawned event:\n{run}"
        );
        let root = self.path().to_string_lossy().into_owned();
        let end = Instant::now() + Duration::from_secs(1);
        loop {
            let mut left: Vec<u32> = pids.iter().copied().filter(|p| alive(*p)).collect();
            left.extend(processes_mentioning(&root));
            if left.is_empty() {
                return;
            }
            assert!(
                Instant::now() < end,
                "processes of this test are still running: {left:?}\n{run}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Is a process with this pid still there (and not a zombie)?
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit(')')
            .next()
            .is_some_and(|rest| rest.trim_start().starts_with('Z')),
        Err(_) => false,
    }
}

/// Live processes whose environment mentions `needle` (e.g. a test's own directory).
pub fn processes_mentioning(needle: &str) -> Vec<u32> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(environ) = std::fs::read(entry.path().join("environ")) else {
            continue;
        };
        if String::from_utf8_lossy(&environ).contains(needle) && alive(pid) {
            found.push(pid);
        }
    }
    found
}
