//! What to ask codex for: one turn, new or resumed.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The sandbox codex runs model commands in (`codex exec -s`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sandbox {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

impl Sandbox {
    /// The spelling codex uses on its command line and in `config.toml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Sandbox::ReadOnly => "read-only",
            Sandbox::WorkspaceWrite => "workspace-write",
            Sandbox::DangerFullAccess => "danger-full-access",
        }
    }
}

impl std::fmt::Display for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Is this a codex thread id: a UUID (`01a20a63-aa15-7440-9eb3-5fd6302dec3b`), as codex reports
/// in `thread.started`? codex reads any other word as a thread *name*, and when no thread has
/// that name it starts a new conversation without a word; a UUID it does not know is an error.
pub fn is_thread_id(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, len)| g.len() == len && g.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Which existing conversation a turn continues.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResumeTarget {
    /// A thread id as reported by codex in `thread.started`.
    Thread(String),
    /// codex's own "most recent session in this directory" (`exec resume --last`).
    Last,
}

/// One `codex exec` turn. Build it with [`ExecRequest::new`] and set the fields you need;
/// [`crate::client::argv::build_argv`] turns it into the exact command line.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ExecRequest {
    /// The instructions. Passed after `--` so a prompt starting with `-` stays a prompt.
    pub prompt: String,
    /// `-m MODEL`
    pub model: Option<String>,
    /// `-s MODE` (on resume: `-c sandbox_mode="MODE"`).
    pub sandbox: Option<Sandbox>,
    /// The working root (`-C DIR`; on resume the child's working directory).
    pub cwd: Option<PathBuf>,
    /// `--add-dir DIR` (on resume: `sandbox_workspace_write.writable_roots`).
    pub add_dirs: Vec<PathBuf>,
    /// `-i FILE`, images attached to the prompt.
    pub images: Vec<PathBuf>,
    /// `-p NAME` (on resume: `-c profile="NAME"`).
    pub profile: Option<String>,
    /// `-c key=value` overrides, in order.
    pub config: Vec<String>,
    /// `--skip-git-repo-check`
    pub skip_git_repo_check: bool,
    /// `--ephemeral`: codex writes no session files (such a thread cannot be resumed).
    pub ephemeral: bool,
    /// `-c model_reasoning_effort="..."`
    pub reasoning_effort: Option<String>,
    /// `--output-schema FILE`
    pub output_schema: Option<PathBuf>,
    /// `-o FILE`: codex writes the final message there.
    pub last_message_file: Option<PathBuf>,
    /// Extra arguments placed after the exec flags, before `--`.
    pub extra_args: Vec<String>,
    /// Continue an existing thread instead of starting one.
    pub resume: Option<ResumeTarget>,
}

impl ExecRequest {
    /// A new turn with just a prompt; every other field at its default.
    pub fn new(prompt: impl Into<String>) -> Self {
        ExecRequest {
            prompt: prompt.into(),
            ..ExecRequest::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thread_ids_are_uuids() {
        assert!(is_thread_id("01a20a63-aa15-7440-9eb3-5fd6302dec3b"));
        assert!(is_thread_id("01A20A63-AA15-7440-9EB3-5FD6302DEC3B"));
        for not in [
            "",
            "my-old-thread",
            "--help",
            "01a20a63-aa15-7440-9eb3-5fd6302dec3",
            "01a20a63-aa15-7440-9eb3-5fd6302dec3bb",
            "01a20a63aa15-7440-9eb3-5fd6302dec3b-",
            "g1a20a63-aa15-7440-9eb3-5fd6302dec3b",
        ] {
            assert!(!is_thread_id(not), "{not}");
        }
    }
}
