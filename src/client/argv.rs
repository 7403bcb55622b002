//! Turning an [`ExecRequest`] into codex's argv.
//!
//! codex 0.169's `exec resume` rejects `-s`, `-C`, `--add-dir` and `-p`, so a resumed turn gets
//! them as config overrides (`-c sandbox_mode=...`), as codex's root-level `-p` (the config key
//! `profile` is refused as "legacy" by 0.169), or as the child's working directory instead.

use std::ffi::OsString;
use std::path::Path;

use super::request::{ExecRequest, ResumeTarget};

/// Prompts longer than this go to codex on stdin (`-`), not in argv: Linux caps a single
/// argument at 128 KiB (`MAX_ARG_STRLEN`).
pub const MAX_ARGV_PROMPT: usize = 100 * 1024;

/// Where the prompt travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PromptVia {
    Argv,
    Stdin,
}

/// The codex command line for one request, not counting the program itself.
///
/// `root_args` go before `exec` (e.g. `-c model_provider=...`, `--disable plugins`); they apply to
/// `exec` and `exec resume` alike.
pub fn build_argv(req: &ExecRequest, root_args: &[String], via: PromptVia) -> Vec<OsString> {
    let mut argv: Vec<OsString> = root_args.iter().map(OsString::from).collect();
    if let (Some(_), Some(profile)) = (&req.resume, &req.profile) {
        argv.push("-p".into());
        argv.push(profile.into());
    }
    argv.push("exec".into());
    argv.push("--json".into());
    match &req.resume {
        None => push_new_flags(&mut argv, req),
        Some(target) => {
            argv.push("resume".into());
            match target {
                ResumeTarget::Thread(id) => argv.push(id.into()),
                ResumeTarget::Last => argv.push("--last".into()),
            }
            push_resume_flags(&mut argv, req);
        }
    }
    push_common_flags(&mut argv, req);
    argv.push("--".into());
    match via {
        PromptVia::Argv => argv.push(req.prompt.as_str().into()),
        PromptVia::Stdin => argv.push("-".into()),
    }
    argv
}

fn push_new_flags(argv: &mut Vec<OsString>, req: &ExecRequest) {
    if let Some(sandbox) = req.sandbox {
        argv.push("-s".into());
        argv.push(sandbox.as_str().into());
    }
    if let Some(cwd) = &req.cwd {
        argv.push("-C".into());
        argv.push(cwd.into());
    }
    for dir in &req.add_dirs {
        argv.push("--add-dir".into());
        argv.push(dir.into());
    }
    if let Some(profile) = &req.profile {
        argv.push("-p".into());
        argv.push(profile.into());
    }
}

fn push_resume_flags(argv: &mut Vec<OsString>, req: &ExecRequest) {
    if let Some(sandbox) = req.sandbox {
        push_config(
            argv,
            format!("sandbox_mode={}", toml_string(sandbox.as_str())),
        );
    }
    if !req.add_dirs.is_empty() {
        let roots: Vec<String> = req.add_dirs.iter().map(|d| toml_path(d)).collect();
        push_config(
            argv,
            format!(
                "sandbox_workspace_write.writable_roots=[{}]",
                roots.join(",")
            ),
        );
    }
    // The profile goes before `exec` (see build_argv).
    // The working directory is the child's cwd (set by the process layer), not a flag.
}

fn push_common_flags(argv: &mut Vec<OsString>, req: &ExecRequest) {
    if let Some(model) = &req.model {
        argv.push("-m".into());
        argv.push(model.into());
    }
    for image in &req.images {
        argv.push("-i".into());
        argv.push(image.into());
    }
    for kv in &req.config {
        push_config(argv, kv.clone());
    }
    if let Some(effort) = &req.reasoning_effort {
        push_config(
            argv,
            format!("model_reasoning_effort={}", toml_string(effort)),
        );
    }
    if req.skip_git_repo_check {
        argv.push("--skip-git-repo-check".into());
    }
    if req.ephemeral {
        argv.push("--ephemeral".into());
    }
    if let Some(schema) = &req.output_schema {
        argv.push("--output-schema".into());
        argv.push(schema.into());
    }
    if let Some(file) = &req.last_message_file {
        argv.push("-o".into());
        argv.push(file.into());
    }
    argv.extend(req.extra_args.iter().map(OsString::from));
}

fn push_config(argv: &mut Vec<OsString>, kv: String) {
    argv.push("-c".into());
    argv.push(kv.into());
}

/// A TOML basic string: codex parses `-c` values as TOML.
pub fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\u{:04X}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_path(p: &Path) -> String {
    toml_string(&p.to_string_lossy())
}

/// One shell-quoted line, as `--dry-run` prints it: paste it into a shell and it runs the same.
pub fn shell_quote_line<I, S>(words: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut line = String::new();
    for (i, w) in words.into_iter().enumerate() {
        if i > 0 {
            line.push(' ');
        }
        line.push_str(&shell_quote(&w.as_ref().to_string_lossy()));
    }
    line
}

/// Quote one word for a POSIX shell; words made only of safe characters stay bare.
pub fn shell_quote(word: &str) -> String {
    let safe = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,+@%".contains(&b));
    if safe {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::request::Sandbox;
    use std::path::PathBuf;

    fn s(argv: &[OsString]) -> Vec<String> {
        argv.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn new_run_maps_every_flag() {
        let mut req = ExecRequest::new("-x --help");
        req.model = Some("gpt-5.5".into());
        req.sandbox = Some(Sandbox::WorkspaceWrite);
        req.cwd = Some(PathBuf::from("/w"));
        req.add_dirs = vec![PathBuf::from("/extra")];
        req.images = vec![PathBuf::from("/a.png")];
        req.profile = Some("fast".into());
        req.config = vec!["k=1".into()];
        req.reasoning_effort = Some("high".into());
        req.skip_git_repo_check = true;
        let argv = s(&build_argv(
            &req,
            &["--disable".into(), "plugins".into()],
            PromptVia::Argv,
        ));
        assert_eq!(
            argv,
            [
                "--disable",
                "plugins",
                "exec",
                "--json",
                "-s",
                "workspace-write",
                "-C",
                "/w",
                "--add-dir",
                "/extra",
                "-p",
                "fast",
                "-m",
                "gpt-5.5",
                "-i",
                "/a.png",
                "-c",
                "k=1",
                "-c",
                "model_reasoning_effort=\"high\"",
                "--skip-git-repo-check",
                "--",
                "-x --help"
            ]
        );
    }

    #[test]
    fn resume_uses_forms_exec_resume_accepts() {
        let mut req = ExecRequest::new("next");
        req.resume = Some(ResumeTarget::Thread("T1".into()));
        req.sandbox = Some(Sandbox::ReadOnly);
        req.cwd = Some(PathBuf::from("/w"));
        req.add_dirs = vec![PathBuf::from("/x")];
        req.profile = Some("p".into());
        let argv = s(&build_argv(&req, &[], PromptVia::Argv));
        assert_eq!(
            argv,
            [
                "-p",
                "p",
                "exec",
                "--json",
                "resume",
                "T1",
                "-c",
                "sandbox_mode=\"read-only\"",
                "-c",
                "sandbox_workspace_write.writable_roots=[\"/x\"]",
                "--",
                "next"
            ]
        );
        let after_exec = &argv[argv.iter().position(|a| a == "exec").unwrap_or(0)..];
        assert!(
            !after_exec
                .iter()
                .any(|a| a == "-C" || a == "-s" || a == "-p")
        );
    }

    #[test]
    fn resume_last_and_stdin_prompt() {
        let mut req = ExecRequest::new("big");
        req.resume = Some(ResumeTarget::Last);
        let argv = s(&build_argv(&req, &[], PromptVia::Stdin));
        assert_eq!(argv, ["exec", "--json", "resume", "--last", "--", "-"]);
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("abc"), "abc");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(toml_string("a\"b\\"), r#""a\"b\\""#);
    }
}
