//! Usage errors as one line: clap's message and tips folded together, and an option-like word
//! that clap took for the prompt (prompts may start with `-`) named as the unknown option it is.

use clap::CommandFactory;

use crate::cli::Cli;
use crate::exit;

/// `--help` and `--version` print as clap renders them; a usage error becomes one line on stderr
/// (clap's message and its tips), exit 2.
pub fn report(e: clap::Error) -> u8 {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.use_stderr() {
            exit::USAGE
        } else {
            exit::OK
        };
    }
    let message = one_line(&e);
    crate::stderr_line!("spawncodex: error: {message}");
    if jsonl_turn_requested() {
        let error = crate::error::CliError::usage(message);
        crate::commands::failed_result_line(&error, None, std::time::Duration::ZERO);
    }
    exit::USAGE
}

/// Did a command line clap could not parse ask for a turn in `--jsonl` mode? Then its stdout
/// still ends with the result line. Read from the raw arguments, before any `--`: `--jsonl`,
/// and a turn command as the first word that is neither an option nor an option's value.
fn jsonl_turn_requested() -> bool {
    let args: Vec<String> = args_before_dashes();
    if !args.iter().any(|a| a == "--jsonl") {
        return false;
    }
    let cmd = Cli::command();
    let takes_value = |flag: &str| {
        cmd.get_arguments().any(|arg| {
            arg.get_action().takes_values()
                && (arg.get_long().is_some_and(|l| flag == format!("--{l}"))
                    || arg.get_short().is_some_and(|c| flag == format!("-{c}")))
        })
    };
    let mut words = args.iter();
    while let Some(word) = words.next() {
        if !word.starts_with('-') {
            return crate::cli::Command::TURN_NAMES.contains(&word.as_str());
        }
        if !word.contains('=') && takes_value(word) {
            words.next();
        }
    }
    false
}

/// The command line, program name included, as text. `std::env::args` panics on an argument
/// that is not UTF-8 (a Latin-1 prompt, say); here such bytes become U+FFFD, which is enough
/// to look for options.
pub fn raw_args() -> Vec<String> {
    std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

/// The arguments before `--`, without the program name.
fn args_before_dashes() -> Vec<String> {
    raw_args()
        .into_iter()
        .skip(1)
        .take_while(|a| a != "--")
        .collect()
}

/// How to name an option's value in an error, as the user gave it: on the command line
/// (`--timeout -5`) or in the environment (`SPAWNCODEX_TIMEOUT=-5`).
pub fn as_given(flag: &str, value: &dyn std::fmt::Display) -> String {
    match env_source(flag) {
        Some(var) => {
            let raw = std::env::var_os(&var).unwrap_or_default();
            format!("{var}={}", raw.to_string_lossy())
        }
        None => format!("{flag} {value}"),
    }
}

/// The environment variable an option's value came from: the option reads one, it is set, and
/// the option is not on the command line (which wins over the environment).
pub fn env_source(flag: &str) -> Option<String> {
    let long = flag.strip_prefix("--")?;
    let with_value = format!("{flag}=");
    let on_command_line = args_before_dashes()
        .iter()
        .any(|a| a == flag || a.starts_with(&with_value));
    if on_command_line {
        return None;
    }
    let var = env_of(&Cli::command(), long)?;
    std::env::var_os(&var).is_some().then_some(var)
}

/// The environment variable of the option `--long`, in this command or any subcommand.
fn env_of(cmd: &clap::Command, long: &str) -> Option<String> {
    cmd.get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|var| var.to_string_lossy().into_owned())
        .or_else(|| cmd.get_subcommands().find_map(|sub| env_of(sub, long)))
}

/// clap names the option (`'--retries <N>'`) even when the bad value came from its
/// environment variable; name the variable then, as that is what the user has to fix.
fn name_env_source(e: &clap::Error, text: String) -> String {
    use clap::error::{ContextKind, ContextValue};
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return text;
    };
    let flag = arg.split_whitespace().next().unwrap_or(arg);
    match env_source(flag) {
        Some(var) => text.replacen(&format!("'{arg}'"), &format!("{var} ({flag})"), 1),
        None => text,
    }
}

pub fn unknown_option_message(option: &str) -> String {
    format!("unknown option '{option}' (to send it as the prompt, put -- before it; see --help)")
}

fn one_line(e: &clap::Error) -> String {
    // A mistyped option is taken by clap as the prompt (prompts may start with `-`), and the
    // error then names the word after it; name the option instead.
    if let Some(unknown) = unknown_option() {
        return unknown_option_message(&unknown);
    }
    let rendered = e.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    for line in rendered.lines().map(str::trim) {
        if line.is_empty() {
            continue;
        }
        if line.starts_with("Usage:") || line.starts_with("For more information") {
            break;
        }
        let line = line
            .trim_start_matches("error: ")
            .trim_start_matches("tip: ");
        parts.push(line.to_string());
    }
    let mut text = name_env_source(e, parts.join(" "));
    if text.is_empty() {
        text = "invalid arguments".into();
    }
    format!("{text} (see --help)")
}

/// The first word before `--` that looks like an option but is none of ours.
fn unknown_option() -> Option<String> {
    let cmd = Cli::command();
    let mut longs = Vec::new();
    let mut shorts = Vec::new();
    collect_flags(&cmd, &mut longs, &mut shorts);
    let args: Vec<String> = args_before_dashes();
    args.iter()
        .enumerate()
        // The values of --codex-arg and --exec-arg may look like options.
        .filter(|(i, _)| {
            *i == 0 || !matches!(args[i - 1].as_str(), "--codex-arg" | "--exec-arg")
        })
        .map(|(_, a)| a)
        .find(|arg| {
            if let Some(long) = arg.strip_prefix("--") {
                let name = long.split('=').next().unwrap_or(long);
                !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                    && !longs.iter().any(|l| l == name)
            } else if let Some(short) = arg.strip_prefix('-') {
                let mut chars = short.chars();
                matches!((chars.next(), chars.next()), (Some(c), None) if c.is_ascii_alphabetic() && !shorts.contains(&c))
            } else {
                false
            }
        })
        .cloned()
}

/// A prompt that is a lone option-like word (`--sesion`), given without `--`: almost surely a
/// mistyped option, not a prompt.
pub fn prompt_looks_like_option(cli: &Cli) -> Option<String> {
    use crate::cli::Command;
    let prompt = match &cli.command {
        Command::Run(a) | Command::Live(a) => a.prompt.as_deref(),
        Command::SchemaRun(a) => a.run.prompt.as_deref(),
        Command::Resume(a) => a.prompt.as_deref(),
        _ => None,
    }?;
    // Only a word that starts with `-` can be a mistyped option; the check builds clap's
    // whole command, so it is not done for ordinary prompts.
    if prompt.len() < 2 || !prompt.starts_with('-') || prompt.chars().any(char::is_whitespace) {
        return None;
    }
    let unknown = unknown_option()?;
    (unknown == prompt).then_some(unknown)
}

fn collect_flags(cmd: &clap::Command, longs: &mut Vec<String>, shorts: &mut Vec<char>) {
    for arg in cmd.get_arguments() {
        if let Some(l) = arg.get_long() {
            longs.push(l.to_string());
        }
        if let Some(s) = arg.get_short() {
            shorts.push(s);
        }
    }
    longs.extend(["help".to_string(), "version".to_string()]);
    shorts.extend(['h', 'V']);
    for sub in cmd.get_subcommands() {
        collect_flags(sub, longs, shorts);
    }
}
