//! The whole command-line surface, in one place.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::client::Sandbox;

const ROOT_AFTER_HELP: &str = "\
Examples:
  spawncodex run \"explain src/main.rs in two lines\"
  spawncodex live -s workspace-write \"fix the failing test\"
  spawncodex run --session fix-ci \"why does CI fail?\" && spawncodex resume --session fix-ci \"fix it\"
  spawncodex schema-run --schema answer.json \"what is 6*7?\"
  spawncodex run --jsonl \"hi\" | jq -c 'select(.type==\"spawncodex.result\")'

Exit codes:
    0  the turn completed
    1  the turn failed: an error from codex, no result in its stream, or stdout not writable
    2  usage error: bad flag or value, empty prompt, unknown or busy session, bad schema, bad store
    3  schema-run: the answer is not JSON or does not match the schema
  124  --timeout or --idle-timeout expired
  127  codex was not found or is not executable
  129  stopped by SIGHUP (the terminal was closed)
  130  interrupted (SIGINT / Ctrl-C)
  141  stdout was closed by its reader
  143  terminated (SIGTERM)";

/// Run OpenAI's `codex exec` from a shell or CI: the answer on stdout, progress on stderr,
/// named sessions, retries, timeouts and schema-checked JSON.
#[derive(Debug, Parser)]
#[command(name = "spawncodex", version, after_help = ROOT_AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Global options")]
pub struct GlobalArgs {
    /// stdout is JSON Lines only: codex's events verbatim, `spawncodex.*` events, and a final
    /// `spawncodex.result` line
    #[arg(long, global = true)]
    pub jsonl: bool,

    /// When to colour stderr
    #[arg(long, global = true, value_enum, default_value_t = ColorChoice::Auto, value_name = "WHEN")]
    pub color: ColorChoice,

    /// More detail on stderr: client events, codex's own stderr, full command output, no spinner
    /// (-v)
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// No spinner, no warnings on stderr; errors only (`live` still shows codex's events)
    #[arg(short, long, global = true)]
    pub quiet: bool,

    /// The codex program [default: `codex` on PATH]
    #[arg(long, global = true, env = "SPAWNCODEX_CODEX_BIN", value_name = "PATH")]
    pub codex_bin: Option<PathBuf>,

    /// An argument for codex itself, placed before `exec` (repeatable), e.g.
    /// --codex-arg=-c --codex-arg='model_provider="mine"'. SPAWNCODEX_CODEX_ARGS adds
    /// whitespace-separated ones
    #[arg(
        long = "codex-arg",
        global = true,
        value_name = "ARG",
        allow_hyphen_values = true
    )]
    pub codex_args: Vec<String>,

    /// The session store file [default: $SPAWNCODEX_HOME/sessions.json, else the XDG data dir]
    #[arg(long, global = true, env = "SPAWNCODEX_STORE", value_name = "FILE")]
    pub store: Option<PathBuf>,

    /// Append every codex event and every spawncodex event to FILE as JSON Lines
    #[arg(long, global = true, value_name = "FILE")]
    pub events_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run one turn; the final answer goes to stdout
    #[command(
        after_help = "Example:\n  spawncodex run -m gpt-5.5 -s read-only \"list the TODOs in src/\""
    )]
    Run(RunArgs),

    /// Run one turn and show every event as it happens (commands, file changes, reasoning...)
    #[command(
        after_help = "Example:\n  spawncodex live -s workspace-write \"make the tests pass\""
    )]
    Live(RunArgs),

    /// Continue a conversation: a named session, a codex thread id, or the last session used
    #[command(
        after_help = "Examples:\n  spawncodex resume --session fix-ci \"now open a PR description\"\n  spawncodex resume --last --live \"go on\""
    )]
    Resume(ResumeArgs),

    /// Run one turn whose answer must be JSON matching a JSON Schema; prints the JSON
    #[command(
        name = "schema-run",
        after_help = "Example:\n  spawncodex schema-run --schema answer.json \"what is 6*7?\" | jq .answer"
    )]
    SchemaRun(SchemaRunArgs),

    /// List, show, remove and import named sessions
    #[command(subcommand)]
    Sessions(SessionsCommand),

    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Example:\n  spawncodex completions bash > ~/.local/share/bash-completion/completions/spawncodex"
    )]
    Completions {
        #[arg(value_enum)]
        shell: CompletionShell,
    },

    /// Write man pages (spawncodex.1 and one per subcommand)
    #[command(after_help = "Example:\n  spawncodex man --dir ~/.local/share/man/man1")]
    Man {
        /// Where to write the pages
        #[arg(long, default_value = ".", value_name = "DIR")]
        dir: PathBuf,
    },
}

impl Command {
    /// The commands that run a turn, by name (they end `--jsonl` output with a result line).
    pub const TURN_NAMES: [&'static str; 4] = ["run", "live", "resume", "schema-run"];

    pub fn is_turn(&self) -> bool {
        matches!(
            self,
            Command::Run(_) | Command::Live(_) | Command::Resume(_) | Command::SchemaRun(_)
        )
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum CompletionShell {
    Bash,
    Zsh,
    Fish,
    Elvish,
    Powershell,
}

/// Options that shape the turn codex runs.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Codex options")]
pub struct TurnArgs {
    /// The model (codex -m)
    #[arg(short, long, value_name = "MODEL")]
    pub model: Option<String>,

    /// The sandbox for commands the model runs
    #[arg(short, long, value_enum, value_name = "MODE")]
    pub sandbox: Option<SandboxArg>,

    /// The working directory codex works in
    #[arg(short = 'C', long = "cd", value_name = "DIR")]
    pub cd: Option<PathBuf>,

    /// Another writable directory (repeatable)
    #[arg(long = "add-dir", value_name = "DIR")]
    pub add_dir: Vec<PathBuf>,

    /// Attach an image to the prompt (repeatable)
    #[arg(short, long = "image", value_name = "FILE")]
    pub image: Vec<PathBuf>,

    /// A codex config profile
    #[arg(short, long, value_name = "NAME")]
    pub profile: Option<String>,

    /// A codex config override, key=value with a TOML value (repeatable)
    #[arg(short = 'c', long = "config", value_name = "KEY=VALUE")]
    pub config: Vec<String>,

    /// Reasoning effort (codex takes any value without a word, so a typo is refused here)
    #[arg(long, value_name = "LEVEL", value_parser = ["none", "minimal", "low", "medium", "high", "xhigh"])]
    pub reasoning_effort: Option<String>,

    /// Let codex run outside a git repository
    #[arg(long)]
    pub skip_git_repo_check: bool,

    /// codex keeps no session files (the thread cannot be resumed)
    #[arg(long)]
    pub ephemeral: bool,

    /// Also write the final answer to FILE
    #[arg(short = 'o', long = "output-last-message", value_name = "FILE")]
    pub output_last_message: Option<PathBuf>,

    /// An extra argument for `codex exec`, placed before the prompt (repeatable)
    #[arg(long = "exec-arg", value_name = "ARG", allow_hyphen_values = true)]
    pub exec_args: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SandboxArg {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

impl From<SandboxArg> for Sandbox {
    fn from(s: SandboxArg) -> Self {
        match s {
            SandboxArg::ReadOnly => Sandbox::ReadOnly,
            SandboxArg::WorkspaceWrite => Sandbox::WorkspaceWrite,
            SandboxArg::DangerFullAccess => Sandbox::DangerFullAccess,
        }
    }
}

/// Retries and clocks.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Retries and timeouts")]
pub struct ReliabilityArgs {
    /// Retry transient failures (rate limits, 5xx, dropped streams, idle timeouts) up to N times
    #[arg(long, env = "SPAWNCODEX_RETRIES", value_name = "N")]
    pub retries: Option<u32>,

    /// First retry delay in seconds [default: 0.5]
    #[arg(long, env = "SPAWNCODEX_BACKOFF", value_name = "SECS")]
    pub backoff: Option<f64>,

    /// Longest retry delay in seconds [default: 8]
    #[arg(long, env = "SPAWNCODEX_MAX_BACKOFF", value_name = "SECS")]
    pub max_backoff: Option<f64>,

    /// Multiply the delay by this after each retry [default: 2]
    #[arg(long, env = "SPAWNCODEX_BACKOFF_MULTIPLIER", value_name = "X")]
    pub backoff_multiplier: Option<f64>,

    /// Random spread of each delay, as a ratio [default: 0.2]
    #[arg(long, env = "SPAWNCODEX_JITTER", value_name = "RATIO")]
    pub jitter: Option<f64>,

    /// Start no retry after this many seconds since the first attempt. 0: no limit
    #[arg(long, env = "SPAWNCODEX_RETRY_WINDOW", value_name = "SECS")]
    pub retry_window: Option<f64>,

    /// Retries start a new thread instead of resuming the one codex began
    #[arg(long)]
    pub retry_fresh: bool,

    /// Stop after this many seconds in all (retries included); exit 124. 0: no limit
    #[arg(long, env = "SPAWNCODEX_TIMEOUT", value_name = "SECS")]
    pub timeout: Option<f64>,

    /// Stop an attempt when codex is silent this many seconds (retried with --retries); exit
    /// 124. 0: no limit
    #[arg(long, env = "SPAWNCODEX_IDLE_TIMEOUT", value_name = "SECS")]
    pub idle_timeout: Option<f64>,

    /// Seconds between SIGTERM and SIGKILL when stopping codex [default: 3]
    #[arg(long, env = "SPAWNCODEX_GRACE", value_name = "SECS")]
    pub grace: Option<f64>,
}

#[derive(Debug, Args, Clone, Default)]
pub struct RunArgs {
    /// Save the conversation under this name, to `resume --session NAME` later
    #[arg(long, value_name = "NAME")]
    pub session: Option<String>,

    /// With --session: start over under an existing name
    #[arg(long, requires = "session")]
    pub replace: bool,

    /// Print the codex command line (shell-quoted) and exit
    #[arg(long)]
    pub dry_run: bool,

    /// The prompt; `-` or none reads it from stdin. With a prompt given, stdin is not read
    /// (so an open pipe cannot hang the run) unless --append-stdin says so
    #[arg(value_name = "PROMPT", allow_hyphen_values = true)]
    pub prompt: Option<String>,

    /// Read stdin to its end and add it to the prompt in a <stdin> block, as `codex exec` does
    /// (e.g. `git diff | spawncodex run --append-stdin "review this"`)
    #[arg(long)]
    pub append_stdin: bool,

    #[command(flatten)]
    pub turn: TurnArgs,

    #[command(flatten)]
    pub reliability: ReliabilityArgs,
}

#[derive(Debug, Args, Clone, Default)]
#[command(group(clap::ArgGroup::new("target").required(true).args(["session", "thread", "last"])))]
pub struct ResumeArgs {
    /// The named session to continue
    #[arg(long, value_name = "NAME", add = clap_complete::engine::ArgValueCandidates::new(crate::commands::sessions::name_candidates))]
    pub session: Option<String>,

    /// A codex thread id to continue: the UUID of its `thread.started` event (a thread name is
    /// refused, since codex starts a new conversation when no thread has that name)
    #[arg(long, value_name = "ID")]
    pub thread: Option<String>,

    /// The most recently used session in the store
    #[arg(long)]
    pub last: bool,

    /// Show every event as it happens (as `live` does)
    #[arg(long)]
    pub live: bool,

    /// Print the codex command line (shell-quoted) and exit
    #[arg(long)]
    pub dry_run: bool,

    /// The prompt; `-` or none reads it from stdin. With a prompt given, stdin is not read
    /// (so an open pipe cannot hang the run) unless --append-stdin says so
    #[arg(value_name = "PROMPT", allow_hyphen_values = true)]
    pub prompt: Option<String>,

    /// Read stdin to its end and add it to the prompt in a <stdin> block, as `codex exec` does
    /// (e.g. `git diff | spawncodex run --append-stdin "review this"`)
    #[arg(long)]
    pub append_stdin: bool,

    #[command(flatten)]
    pub turn: TurnArgs,

    #[command(flatten)]
    pub reliability: ReliabilityArgs,

    #[command(flatten)]
    pub schema: SchemaOpts,
}

/// Where the schema comes from and how strictly it is checked.
#[derive(Debug, Args, Clone, Default)]
#[command(next_help_heading = "Schema")]
pub struct SchemaOpts {
    /// The JSON Schema file the answer must match; `-` reads it from stdin
    #[arg(long, value_name = "FILE", conflicts_with = "schema_json")]
    pub schema: Option<String>,

    /// The JSON Schema, inline
    #[arg(long, value_name = "JSON")]
    pub schema_json: Option<String>,

    /// Skip the check against OpenAI's strict structured-output rules
    #[arg(long)]
    pub no_strict_check: bool,

    /// Print the schema in strict form (additionalProperties: false, all properties required) and exit
    #[arg(long)]
    pub fix_strict: bool,

    /// Print the JSON answer on one line even on a terminal
    #[arg(long)]
    pub compact: bool,

    /// On a mismatch, resume the thread with the errors and ask again, up to N times
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub repair: u32,
}

#[derive(Debug, Args, Clone, Default)]
pub struct SchemaRunArgs {
    #[command(flatten)]
    pub schema: SchemaOpts,

    #[command(flatten)]
    pub run: RunArgs,
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// List sessions, most recently used first
    #[command(after_help = "Example:\n  spawncodex sessions list --json | jq -r '.[].name'")]
    List {
        /// A JSON array for scripts
        #[arg(long)]
        json: bool,
    },
    /// Show one session and its turn history
    #[command(after_help = "Example:\n  spawncodex sessions show fix-ci")]
    Show {
        #[arg(value_name = "NAME", add = clap_complete::engine::ArgValueCandidates::new(crate::commands::sessions::name_candidates))]
        name: String,
        /// The record as JSON
        #[arg(long)]
        json: bool,
    },
    /// Remove sessions from the store: all or none (codex's own files are left alone)
    #[command(
        after_help = "Examples:\n  spawncodex sessions rm fix-ci old-spike\n  spawncodex sessions rm --all --yes"
    )]
    Rm {
        #[arg(value_name = "NAME", required_unless_present = "all", add = clap_complete::engine::ArgValueCandidates::new(crate::commands::sessions::name_candidates))]
        names: Vec<String>,
        /// Remove every session (needs --yes)
        #[arg(long, conflicts_with = "names")]
        all: bool,
        /// Confirm --all
        #[arg(long)]
        yes: bool,
    },
    /// Import sessions from the Python SDK's store (legacy name→id map or schema_version 2)
    #[command(after_help = "Example:\n  spawncodex sessions import .codex_sessions.json")]
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Overwrite sessions that already exist under the same name (without it, a name that
        /// is taken imports nothing)
        #[arg(long)]
        force: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_help_lists_the_exit_codes_the_code_uses() {
        // clap needs a constant; the table lives in `exit`, where the codes are defined.
        assert!(
            ROOT_AFTER_HELP.ends_with(&format!("Exit codes:\n{}", crate::exit::table_text())),
            "{ROOT_AFTER_HELP}"
        );
    }

    #[test]
    fn turn_names_are_the_turn_subcommands() {
        for (name, rest) in [
            ("run", &["p"][..]),
            ("live", &["p"]),
            ("resume", &["--last", "p"]),
            ("schema-run", &["--schema", "s.json", "p"]),
        ] {
            assert!(Command::TURN_NAMES.contains(&name));
            let cli = Cli::try_parse_from(["spawncodex", name].iter().chain(rest)).unwrap();
            assert!(cli.command.is_turn(), "{name}");
        }
        assert_eq!(Command::TURN_NAMES.len(), 4);
        let sessions = Cli::try_parse_from(["spawncodex", "sessions", "list"]).unwrap();
        assert!(!sessions.command.is_turn());
    }

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn dash_prompt_stays_a_prompt_after_double_dash() {
        let cli = Cli::try_parse_from(["spawncodex", "run", "--", "-x --help"]);
        match cli.map(|c| c.command) {
            Ok(Command::Run(args)) => assert_eq!(args.prompt.as_deref(), Some("-x --help")),
            other => panic!("{other:?}"),
        }
    }
}
