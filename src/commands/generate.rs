//! `spawncodex completions SHELL` and `spawncodex man`: generated from the clap definition, so
//! they cannot drift from the real flags (a test compares them with the committed copies).

use std::io::Write;
use std::path::Path;

use clap::CommandFactory;
use clap_complete::env::{EnvCompleter, Shells};

use crate::cli::{Cli, CompletionShell};
use crate::error::{CliError, CliResult};
use crate::exit;

/// The environment variable that switches the binary into completion mode.
pub const COMPLETE_VAR: &str = "COMPLETE";

/// The completion script for a shell. It asks `spawncodex` itself for candidates at each TAB
/// (clap_complete's dynamic engine), so session names come from the user's store.
pub fn completion_script(shell: CompletionShell) -> CliResult<Vec<u8>> {
    let name = match shell {
        CompletionShell::Bash => "bash",
        CompletionShell::Zsh => "zsh",
        CompletionShell::Fish => "fish",
        CompletionShell::Elvish => "elvish",
        CompletionShell::Powershell => "powershell",
    };
    let shells = Shells::builtins();
    let completer: &dyn EnvCompleter = shells
        .completer(name)
        .ok_or_else(|| CliError::usage(format!("no completion support for {name}")))?;
    let mut buf = Vec::new();
    completer
        .write_registration(
            COMPLETE_VAR,
            "spawncodex",
            "spawncodex",
            "spawncodex",
            &mut buf,
        )
        .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
    Ok(buf)
}

pub fn completions(shell: CompletionShell) -> CliResult<u8> {
    let script = completion_script(shell)?;
    let mut out = std::io::stdout().lock();
    out.write_all(&script)
        .and_then(|()| out.flush())
        .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
    Ok(exit::OK)
}

/// Every man page: (file name, roff text).
pub fn man_pages() -> CliResult<Vec<(String, Vec<u8>)>> {
    let cmd = Cli::command();
    let mut pages = Vec::new();
    let mut main = Vec::new();
    clap_mangen::Man::new(cmd.clone())
        .render(&mut main)
        .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
    main.extend_from_slice(extra_sections().as_bytes());
    pages.push(("spawncodex.1".to_string(), main));
    for sub in cmd.get_subcommands() {
        let full = format!("spawncodex-{}", sub.get_name());
        let mut page = Vec::new();
        let sub_cmd = sub
            .clone()
            .name(full.clone())
            .bin_name(format!("spawncodex {}", sub.get_name()));
        clap_mangen::Man::new(sub_cmd)
            .render(&mut page)
            .map_err(|e| CliError::new(exit::FAILED, e.to_string()))?;
        page.extend_from_slice(exit_section().as_bytes());
        pages.push((format!("{full}.1"), page));
    }
    Ok(pages)
}

pub fn man(dir: &Path) -> CliResult<u8> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::usage(format!("cannot create {}: {e}", dir.display())))?;
    for (name, text) in man_pages()? {
        let path = dir.join(&name);
        std::fs::write(&path, text)
            .map_err(|e| CliError::usage(format!("cannot write {}: {e}", path.display())))?;
        crate::stderr_line!("wrote {}", path.display());
    }
    Ok(exit::OK)
}

fn roff_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('-', "\\-")
}

fn exit_section() -> String {
    let mut s = String::from(".SH \"EXIT STATUS\"\n");
    for (code, what) in exit::TABLE {
        s.push_str(&format!(".TP\n\\fB{code}\\fR\n{}\n", roff_escape(what)));
    }
    s
}

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "SPAWNCODEX_CODEX_BIN",
        "the codex program (like --codex-bin)",
    ),
    (
        "SPAWNCODEX_CODEX_ARGS",
        "whitespace-separated arguments for codex itself, before `exec` (like --codex-arg)",
    ),
    (
        "SPAWNCODEX_HOME",
        "an absolute path: a directory for the session store (sessions.json and sessions.json.d/) instead of the XDG data directory",
    ),
    ("SPAWNCODEX_STORE", "the session store file (like --store)"),
    ("SPAWNCODEX_HISTORY", "turns kept per session (default 20)"),
    (
        "SPAWNCODEX_RETRIES, SPAWNCODEX_BACKOFF, SPAWNCODEX_MAX_BACKOFF, SPAWNCODEX_BACKOFF_MULTIPLIER, SPAWNCODEX_JITTER, SPAWNCODEX_RETRY_WINDOW",
        "defaults for the retry flags",
    ),
    (
        "SPAWNCODEX_TIMEOUT, SPAWNCODEX_IDLE_TIMEOUT, SPAWNCODEX_GRACE",
        "defaults for --timeout, --idle-timeout and --grace",
    ),
    (
        "NO_COLOR",
        "when set and not empty, no colour (unless --color always)",
    ),
    (
        "XDG_DATA_HOME",
        "where the data directory is (default ~/.local/share)",
    ),
    (
        "COMPLETE",
        "set by the completion scripts to ask spawncodex for candidates",
    ),
];

fn extra_sections() -> String {
    let mut s = exit_section();
    s.push_str(".SH ENVIRONMENT\n");
    for (name, what) in ENVIRONMENT {
        s.push_str(&format!(
            ".TP\n\\fB{}\\fR\n{}\n",
            roff_escape(name),
            roff_escape(what)
        ));
    }
    s.push_str(".SH FILES\n.TP\n\\fB$XDG_DATA_HOME/spawncodex/sessions.json\\fR (default \\fB~/.local/share/spawncodex/sessions.json\\fR)\nThe session store: the directory beside it, \\fBsessions.json.d/\\fR (the file's name + .d), holds the named sessions in up to 256 files \\fBNN.json\\fR (mode 0600, directories 0700), each with its \\fBNN.json.lock\\fR. Copy, move or rename the file and the directory together. Overridden by \\fBSPAWNCODEX_HOME\\fR and \\fB\\-\\-store\\fR.\n");
    s.push_str(".SH EXAMPLES\n");
    for (what, cmd) in [
        (
            "One turn, the answer on stdout:",
            "spawncodex run \"explain src/main.rs in two lines\"",
        ),
        (
            "Watch an agent work:",
            "spawncodex live \\-s workspace\\-write \"fix the failing test\"",
        ),
        (
            "A named conversation, continued later:",
            "spawncodex run \\-\\-session fix\\-ci \"why does CI fail?\"\n.br\nspawncodex resume \\-\\-session fix\\-ci \"fix it\"",
        ),
        (
            "JSON checked against a schema:",
            "spawncodex schema\\-run \\-\\-schema answer.json \"what is 6*7?\"",
        ),
        (
            "CI: JSON Lines into jq:",
            "spawncodex run \\-\\-jsonl \"hi\" | jq \\-c 'select(.type==\"spawncodex.result\")'",
        ),
    ] {
        s.push_str(&format!(".TP\n{what}\n{cmd}\n"));
    }
    s
}
