//! Starting codex safely and stopping it completely.
//!
//! codex runs in its own process group, so stopping it reaches everything it started (MCP
//! servers, shell commands); it gets the parent-death signal on Linux, so it does not outlive us;
//! its stdin is `/dev/null` unless it carries the prompt, so it never waits on our terminal or an
//! open pipe.

use std::ffi::OsString;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStderr, Command};
use tokio::sync::watch;

use super::CancelRequest;

/// How much of codex's stderr we keep for error messages.
pub const STDERR_TAIL_BYTES: usize = 16 * 1024;

pub struct Spawned {
    pub child: Child,
    pub pid: u32,
}

/// Start codex. `stdin_prompt` is written to its stdin (then closed) when the prompt travels
/// that way; otherwise stdin is `/dev/null`.
pub fn spawn(
    program: &Path,
    argv: &[OsString],
    cwd: Option<&Path>,
    stdin_prompt: Option<&str>,
    run_mark: Option<&str>,
) -> io::Result<Spawned> {
    let mut cmd = Command::new(program);
    cmd.args(argv)
        .stdin(if stdin_prompt.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = cwd {
        cmd.current_dir(dir);
    }
    let parent = std::process::id();
    // SAFETY: the closure runs in the forked child before exec and only makes
    // async-signal-safe calls (prctl, getppid, _exit).
    unsafe {
        cmd.pre_exec(move || {
            #[cfg(target_os = "linux")]
            {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM, 0, 0, 0) != 0 {
                    return Err(io::Error::last_os_error());
                }
                // We may have died between fork and prctl: then nobody would signal us.
                if libc::getppid() as u32 != parent {
                    libc::_exit(1);
                }
            }
            let _ = parent;
            Ok(())
        });
    }
    if let Some(mark) = run_mark {
        cmd.env(RUN_MARK_VAR, mark);
    }
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    if let Some(out) = child.stdout.as_ref() {
        widen_pipe(out);
    }
    if let (Some(prompt), Some(mut stdin)) = (stdin_prompt, child.stdin.take()) {
        let prompt = prompt.as_bytes().to_vec();
        tokio::spawn(async move {
            // A codex that exits early closes the pipe; that is its business, not an error here.
            let _ = stdin.write_all(&prompt).await;
            let _ = stdin.shutdown().await;
        });
    }
    Ok(Spawned { child, pid })
}

/// How much codex may write ahead of us. The default pipe holds 64 KiB, so a busy codex blocks
/// and wakes us every 64 KiB; a wider pipe lets both sides work in larger batches (a quarter of
/// the context switches). Measured with `scripts/bench.sh`: 128–256 KiB is best; 1 MiB is
/// slower again, as the pipe's pages no longer stay in cache.
const PIPE_SIZE: libc::c_int = 256 * 1024;

/// Best effort: a pipe we cannot widen (a lower `pipe-max-size`) works as before.
fn widen_pipe(pipe: &impl std::os::fd::AsRawFd) {
    #[cfg(target_os = "linux")]
    // SAFETY: fcntl on a descriptor we own; failure is harmless.
    unsafe {
        libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pipe;
}

/// Send `signal` to every process in the group. A group that is already gone is fine.
pub fn signal_group(pgid: u32, signal: i32) {
    if pgid == 0 {
        return;
    }
    // SAFETY: plain syscall; a negative pid addresses the process group.
    unsafe {
        libc::kill(-(pgid as libc::pid_t), signal);
    }
}

/// Does any process of the group still run? Zombies do not count: orphans that exited wait in
/// the group until init reaps them, and they hold nothing open.
pub fn group_alive(pgid: u32) -> bool {
    if pgid == 0 {
        return false;
    }
    // SAFETY: signal 0 only checks for existence and permission.
    if unsafe { libc::kill(-(pgid as libc::pid_t), 0) } != 0 {
        return false;
    }
    match live_members(pgid) {
        Some(n) => n > 0,
        // No /proc: trust kill(2).
        None => true,
    }
}

/// How many processes of the group are not zombies, from /proc.
fn live_members(pgid: u32) -> Option<usize> {
    let mut n = 0;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((state, pgrp)) = state_and_group(pid)
            && pgrp == pgid
            && state != 'Z'
            && state != 'X'
        {
            n += 1;
        }
    }
    Some(n)
}

/// A process's state letter and process group, from /proc.
fn state_and_group(pid: u32) -> Option<(char, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid pgrp ...; comm may hold spaces and parentheses.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let pgrp = fields.nth(1)?.parse().ok()?;
    Some((state, pgrp))
}

/// Wait up to `limit` for the group to empty, polling.
pub async fn wait_group_gone(pgid: u32, limit: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if !group_alive(pgid) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Kill whatever is left of the group (grandchildren that outlived codex).
pub async fn reap_group(pgid: u32) {
    if group_alive(pgid) {
        signal_group(pgid, libc::SIGKILL);
        wait_group_gone(pgid, Duration::from_secs(2)).await;
    }
}

/// The variable that marks every process of one codex run: set in codex's environment, it is
/// inherited by the commands codex runs, including those that leave codex's process group (codex
/// runs each command in a session of its own) or detach further (`setsid`, a daemon). A stopped
/// run finds them by it. A process that clears its environment, or a codex configured not to
/// pass it on (`shell_environment_policy`), escapes the mark.
pub const RUN_MARK_VAR: &str = "SPAWNCODEX_RUN";

/// A value for [`RUN_MARK_VAR`] no other run has: our pid, a counter and the clock.
pub fn new_run_mark() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!(
        "{}-{}-{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// One marked process: its pid, and its process group.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Marked {
    pid: u32,
    group: u32,
}

/// The running processes (not zombies: their environment reads empty) whose environment carries
/// `mark`, outside the process group `except_group` (codex's, which is stopped on its own
/// terms), from /proc (none without it). Only processes we may signal can be read.
fn marked_processes(mark: &str, except_group: u32) -> Vec<Marked> {
    let wanted = format!("{RUN_MARK_VAR}={mark}");
    let me = std::process::id();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ"))
                .is_ok_and(|env| env.split(|&b| b == 0).any(|var| var == wanted.as_bytes()))
        })
        .filter_map(|pid| {
            let (_, group) = state_and_group(pid)?;
            (group != except_group).then_some(Marked { pid, group })
        })
        .collect()
}

/// Signal one marked process once: through its group when it leads one (a `setsid` command's
/// own children go with it), else alone.
fn signal_marked_process(marked: Marked, signal: i32) {
    let target = if marked.group == marked.pid {
        -(marked.pid as libc::pid_t)
    } else {
        marked.pid as libc::pid_t
    };
    // SAFETY: plain syscall. The pid was alive and marked a moment ago, and a pid in use is
    // never reused as another group's id.
    unsafe {
        libc::kill(target, signal);
    }
}

/// Send `signal` to every process of the run marked `mark` outside codex's group
/// (`except_group`); returns the pids, for [`stop_marked`] to know they had it.
pub fn signal_marked(mark: &str, except_group: u32, signal: i32) -> Vec<u32> {
    marked_processes(mark, except_group)
        .into_iter()
        .map(|marked| {
            signal_marked_process(marked, signal);
            marked.pid
        })
        .collect()
}

/// Stop what is left of the run marked `mark` once codex itself is gone: SIGTERM to those not in
/// `termed` yet (once each), SIGKILL from `kill_at` on, or at once when a kill is asked for (a
/// second Ctrl-C; a repeated SIGTERM is not one). Processes that appear meanwhile (children of
/// the dying) get the same. Looks at least once, and gives up 2 s after `kill_at`, or after
/// its first look if that is later.
pub async fn stop_marked(
    mark: &str,
    except_group: u32,
    kill_at: tokio::time::Instant,
    mut termed: Vec<u32>,
    cancel: &Option<watch::Receiver<CancelRequest>>,
) {
    let give_up = kill_at.max(tokio::time::Instant::now()) + Duration::from_secs(2);
    loop {
        let kill_asked = cancel
            .as_ref()
            .is_some_and(|rx| *rx.borrow() == CancelRequest::Kill);
        let marked = marked_processes(mark, except_group);
        if marked.is_empty() {
            return;
        }
        let now = tokio::time::Instant::now();
        for process in marked {
            if kill_asked || now >= kill_at {
                signal_marked_process(process, libc::SIGKILL);
            } else if !termed.contains(&process.pid) {
                signal_marked_process(process, libc::SIGTERM);
                termed.push(process.pid);
            }
        }
        if now >= give_up {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Copy lines of codex's stderr to ours, control characters shown rather than sent.
fn echo_safely(lines: &[u8]) {
    use std::io::Write;
    let text = String::from_utf8_lossy(lines);
    let _ = std::io::stderr().write_all(crate::render::safe::terminal_safe(&text).as_bytes());
}

/// Collect the tail of codex's stderr; with `echo`, also copy it to our stderr as it comes.
pub fn collect_stderr(mut stderr: ChildStderr, echo: bool) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut tail: Vec<u8> = Vec::new();
        let mut buf = vec![0u8; 8192];
        // With echo, whole lines are copied, made safe for a terminal (codex's stderr carries
        // what its tools printed); a line cut by a read waits here for its end.
        let mut echo_pending: Vec<u8> = Vec::new();
        loop {
            match stderr.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if echo {
                        echo_pending.extend_from_slice(&buf[..n]);
                        if let Some(end) = memchr::memrchr(b'\n', &echo_pending) {
                            echo_safely(&echo_pending[..=end]);
                            echo_pending.drain(..=end);
                        }
                    }
                    tail.extend_from_slice(&buf[..n]);
                    if tail.len() > 2 * STDERR_TAIL_BYTES {
                        let cut = tail.len() - STDERR_TAIL_BYTES;
                        tail.drain(..cut);
                    }
                }
            }
        }
        if !echo_pending.is_empty() {
            echo_safely(&echo_pending);
        }
        if tail.len() > STDERR_TAIL_BYTES {
            let cut = tail.len() - STDERR_TAIL_BYTES;
            tail.drain(..cut);
        }
        String::from_utf8_lossy(&tail).into_owned()
    })
}

/// Find the codex program: an explicit path, else `SPAWNCODEX_CODEX_BIN` (resolved by the
/// caller), else `codex` on `PATH`. Returns the path only if it is an executable file.
pub fn locate_codex(explicit: Option<&Path>) -> Result<PathBuf, String> {
    match explicit {
        Some(path) if path.components().count() > 1 || path.is_absolute() => {
            if is_executable(path) {
                Ok(path.to_path_buf())
            } else if path.exists() {
                Err(format!("{} is not an executable file", path.display()))
            } else {
                Err(format!("{} does not exist", path.display()))
            }
        }
        Some(name) => search_path(name.as_os_str())
            .ok_or_else(|| format!("`{}` was not found on PATH", name.display())),
        None => search_path("codex".as_ref()).ok_or_else(|| "`codex` was not found on PATH".into()),
    }
}

fn search_path(name: &std::ffi::OsStr) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}
