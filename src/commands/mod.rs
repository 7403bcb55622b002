//! One file per subcommand; this one dispatches and holds what they share.

pub mod generate;
pub mod resume;
pub mod run;
pub mod schema_run;
pub mod sessions;
pub mod turn;

use std::io::{IsTerminal, Read};
use std::path::PathBuf;

use crate::cli::{Cli, Command, GlobalArgs, TurnArgs};
use crate::client::{ClientError, CodexClient, ExecRequest};
use crate::error::{CliError, CliResult};
use crate::exit;
use crate::store::FileStore;

/// Run the parsed command line; returns the exit code.
pub async fn dispatch(cli: Cli) -> CliResult<u8> {
    let ctx = Ctx {
        global: cli.global,
        store: std::cell::OnceCell::new(),
    };
    let started = std::time::Instant::now();
    // A turn's session, for the result line of a run that fails before codex starts.
    let session = match &cli.command {
        Command::Run(args) | Command::Live(args) => args.session.clone(),
        Command::SchemaRun(args) => args.run.session.clone(),
        Command::Resume(args) => args.session.clone(),
        _ => None,
    };
    let turn = cli.command.is_turn();
    let result = match cli.command {
        Command::Run(args) => run::run(&ctx, args, false).await,
        Command::Live(args) => run::run(&ctx, args, true).await,
        Command::Resume(args) => resume::resume(&ctx, args).await,
        Command::SchemaRun(args) => schema_run::schema_run(&ctx, args).await,
        Command::Sessions(cmd) => sessions::sessions(&ctx, cmd),
        Command::Completions { shell } => generate::completions(shell),
        Command::Man { dir } => generate::man(&dir),
    };
    if let Err(e) = &result
        && turn
    {
        // Any error here came before the turn's own result line was written.
        let line = failed_result_json(e, session, started.elapsed());
        if ctx.global.jsonl {
            write_result_line(&line);
        }
        if let Some(path) = &ctx.global.events_file {
            // The events file gets it too, if it can be opened at all.
            if let Ok(mut file) = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
            {
                use std::io::Write;
                let _ = file.write_all(&line);
            }
        }
    }
    result
}

/// In `--jsonl` mode a turn's stdout ends with one `spawncodex.result` line, also when it
/// fails before codex starts (a bad option, an unknown session, codex not found): a CI step
/// that reads the result line gets the error and the exit code, not nothing. A turn that got
/// as far as codex writes its own.
pub fn failed_result_line(e: &CliError, session: Option<String>, took: std::time::Duration) {
    write_result_line(&failed_result_json(e, session, took));
}

/// The `spawncodex.result` line of a turn that failed with `e`, newline included.
fn failed_result_json(e: &CliError, session: Option<String>, took: std::time::Duration) -> Vec<u8> {
    let outcome = crate::client::Outcome {
        status: crate::client::TurnStatus::Failed,
        error: Some(e.message.clone()),
        duration: took,
        ..crate::client::Outcome::empty()
    };
    let report = crate::render::Report {
        exit_code: e.code,
        session,
        ..crate::render::Report::default()
    };
    let mut line =
        serde_json::to_vec(&crate::render::result_json(&outcome, &report)).unwrap_or_default();
    line.push(b'\n');
    line
}

fn write_result_line(line: &[u8]) {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    // A closed stdout has nobody to tell; the error still goes to stderr.
    let _ = stdout.write_all(line).and_then(|()| stdout.flush());
}

/// What every subcommand may need from the global options.
pub struct Ctx {
    pub global: GlobalArgs,
    /// One store per command, so what a lookup read is reused by the write that follows.
    store: std::cell::OnceCell<FileStore>,
}

impl Ctx {
    /// codex's root arguments: `SPAWNCODEX_CODEX_ARGS` (whitespace-separated), then `--codex-arg`s.
    pub fn codex_root_args(&self) -> Vec<String> {
        let mut args: Vec<String> = std::env::var("SPAWNCODEX_CODEX_ARGS")
            .map(|v| v.split_whitespace().map(str::to_string).collect())
            .unwrap_or_default();
        args.extend(self.global.codex_args.iter().cloned());
        args
    }

    pub fn client(&self) -> CliResult<CodexClient> {
        CodexClient::locate(self.global.codex_bin.as_deref())
            .map(|c| c.with_root_args(self.codex_root_args()))
            .map_err(|e| match e {
                ClientError::CodexNotFound(why) => not_found(&why),
                other => CliError::new(exit::FAILED, other.to_string()),
            })
    }

    /// A client for `--dry-run`, which must work without codex installed.
    pub fn client_for_display(&self) -> CodexClient {
        self.client().unwrap_or_else(|_| {
            CodexClient::new(
                self.global
                    .codex_bin
                    .clone()
                    .unwrap_or_else(|| PathBuf::from("codex")),
            )
            .with_root_args(self.codex_root_args())
        })
    }

    pub fn store_path(&self) -> CliResult<PathBuf> {
        if let Some(p) = &self.global.store {
            return Ok(p.clone());
        }
        // A relative home would put the sessions wherever the command runs, and they would seem
        // gone from the next folder (XDG_DATA_HOME is ignored when relative, as its spec says).
        if let Some(home) = std::env::var_os("SPAWNCODEX_HOME").filter(|v| !v.is_empty())
            && std::path::Path::new(&home).is_relative()
        {
            return Err(CliError::usage(format!(
                "SPAWNCODEX_HOME={:?} is a relative path; the sessions would depend on the current folder: set it to an absolute path",
                home.to_string_lossy()
            )));
        }
        FileStore::default_path().ok_or_else(|| {
            CliError::usage("cannot find a data directory for sessions: set SPAWNCODEX_HOME or pass --store FILE")
        })
    }

    pub fn store(&self) -> CliResult<&FileStore> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = FileStore::new(self.store_path()?);
        Ok(self.store.get_or_init(|| store))
    }
}

/// Write to stdout; a reader that went away (`| head`) ends us quietly with 141.
pub fn print_stdout(text: &str) -> CliResult<u8> {
    use std::io::Write;
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(exit::OUTPUT_CLOSED),
        Err(e) => Err(CliError::new(
            exit::FAILED,
            format!("cannot write to stdout: {e}"),
        )),
        Ok(()) => Ok(exit::OK),
    }
}

pub fn not_found(why: &str) -> CliError {
    CliError::new(
        exit::CODEX_NOT_FOUND,
        format!(
            "codex not found ({why}): install it with `npm install -g @openai/codex`, or point --codex-bin / SPAWNCODEX_CODEX_BIN at it"
        ),
    )
}

/// The prompt from argv, or from stdin when it is `-` or absent and stdin is not a terminal;
/// with `append_stdin`, the argument followed by stdin in a `<stdin>` block (`codex exec`'s
/// form). Otherwise stdin is left unread when a prompt is given, so that an open pipe cannot
/// hang the run; a note says so when stdin plainly holds something.
pub fn resolve_prompt(
    arg: Option<String>,
    stdin_taken: bool,
    append_stdin: bool,
    quiet: bool,
) -> CliResult<String> {
    let given = arg.filter(|p| p != "-");
    if given.is_some() && !append_stdin {
        if !quiet && !stdin_taken && stdin_has_input() {
            crate::stderr_line!(
                "spawncodex: note: stdin is not read when a prompt is given; add --append-stdin to send it"
            );
        }
    } else if stdin_taken {
        return Err(CliError::usage(
            "stdin already carries the schema: give the prompt as an argument, without --append-stdin",
        ));
    } else if std::io::stdin().is_terminal() {
        return Err(CliError::usage(if append_stdin {
            "--append-stdin: stdin is a terminal; pipe the text in"
        } else {
            "no prompt: give it as an argument, or pipe it on stdin"
        }));
    }
    let prompt = match given {
        Some(p) if !append_stdin => p,
        _ => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| CliError::usage(format!("cannot read stdin: {e}")))?;
            match given {
                // Nothing piped: nothing added.
                Some(p) if text.trim().is_empty() => p,
                Some(p) => format!("{p}\n\n<stdin>\n{}\n</stdin>", text.trim_end_matches('\n')),
                None => text,
            }
        }
    };
    if prompt.trim().is_empty() {
        return Err(CliError::usage("the prompt is empty"));
    }
    Ok(prompt)
}

/// Does stdin plainly hold something: a non-empty file, or a pipe with data waiting? (Not
/// /dev/null, a terminal, or a pipe nothing was written to yet.)
fn stdin_has_input() -> bool {
    // SAFETY: fstat fills a stat struct for fd 0; FIONREAD writes the bytes waiting in a pipe
    // into an int. Both just fail on a closed stdin.
    unsafe {
        let mut st: libc::stat = std::mem::zeroed();
        if libc::fstat(0, &mut st) != 0 {
            return false;
        }
        match st.st_mode & libc::S_IFMT {
            libc::S_IFREG => st.st_size > 0,
            libc::S_IFIFO => {
                let mut waiting: libc::c_int = 0;
                libc::ioctl(0, libc::FIONREAD, &mut waiting) == 0 && waiting > 0
            }
            _ => false,
        }
    }
}

/// Apply the turn flags to a request (flags given now win over what was there).
pub fn apply_turn_args(req: &mut ExecRequest, turn: &TurnArgs) -> CliResult<()> {
    if let Some(m) = &turn.model {
        req.model = Some(m.clone());
    }
    if let Some(s) = turn.sandbox {
        req.sandbox = Some(s.into());
    }
    if let Some(dir) = &turn.cd {
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "working directory {} does not exist or is not a directory",
                dir.display()
            )));
        }
        req.cwd = Some(crate::paths::absolute(dir));
    }
    for dir in &turn.add_dir {
        if !dir.is_dir() {
            return Err(CliError::usage(format!(
                "--add-dir {}: does not exist or is not a directory",
                dir.display()
            )));
        }
    }
    if !turn.add_dir.is_empty() {
        req.add_dirs = turn
            .add_dir
            .iter()
            .map(|d| crate::paths::absolute(d))
            .collect();
    }
    for image in &turn.image {
        if !image.is_file() {
            return Err(CliError::usage(format!(
                "image {} does not exist",
                image.display()
            )));
        }
    }
    req.images = turn
        .image
        .iter()
        .map(|i| crate::paths::absolute(i))
        .collect();
    if let Some(p) = &turn.profile {
        req.profile = Some(p.clone());
    }
    for kv in &turn.config {
        if !kv.contains('=') {
            return Err(CliError::usage(format!("-c {kv:?}: expected key=value")));
        }
    }
    req.config.extend(turn.config.iter().cloned());
    if let Some(e) = &turn.reasoning_effort {
        req.reasoning_effort = Some(e.clone());
    }
    req.skip_git_repo_check |= turn.skip_git_repo_check;
    req.ephemeral |= turn.ephemeral;
    if let Some(o) = &turn.output_last_message {
        if o.is_dir() {
            return Err(CliError::usage(format!(
                "-o {}: is a directory; name the file the answer goes to",
                o.display()
            )));
        }
        if let Some(parent) = crate::paths::absolute(o).parent()
            && !parent.is_dir()
        {
            return Err(CliError::usage(format!(
                "cannot write {}: directory {} does not exist",
                o.display(),
                parent.display()
            )));
        }
        req.last_message_file = Some(crate::paths::absolute(o));
    }
    req.extra_args.extend(turn.exec_args.iter().cloned());
    Ok(())
}
