//! `spawncodex resume`: continue a named session, a thread id, or the last session.

use std::path::PathBuf;

use super::schema_run::prepare_schema;
use super::turn::{SessionPlan, TurnPlan, execute, store_err};
use super::{Ctx, apply_turn_args, resolve_prompt};
use crate::cli::ResumeArgs;
use crate::client::{ExecRequest, ResumeTarget, is_thread_id};
use crate::error::{CliError, CliResult};
use crate::store::{FileStore, SessionRecord, SessionStore, validate_name};

pub async fn resume(ctx: &Ctx, args: ResumeArgs) -> CliResult<u8> {
    let (schema, stdin_taken) = prepare_schema(&args.schema, ctx.global.jsonl)?;
    if args.schema.fix_strict {
        return Ok(crate::exit::OK);
    }
    let mut request = ExecRequest::default();
    let session = if let Some(name) = &args.session {
        validate_name(name).map_err(CliError::usage)?;
        let store = ctx.store()?;
        let record = store
            .get(name)
            .map_err(store_err)?
            .ok_or_else(|| unknown_session(store, name))?;
        apply_record(&mut request, &record)?;
        Some(SessionPlan::Existing { name: name.clone() })
    } else if args.last {
        let store = ctx.store()?;
        let mut listing = store.list_summaries().map_err(store_err)?;
        // A malformed record may be the newest one: which session is "last" is then unknown.
        if !listing.malformed.is_empty() {
            return Err(store_err(listing.malformed.swap_remove(0)));
        }
        let newest = listing.sessions.first().ok_or_else(|| {
            CliError::usage(format!(
                "no sessions in {}: start one with `spawncodex run --session NAME \"...\"`",
                store.path().display()
            ))
        })?;
        let record = store
            .get(&newest.name)
            .map_err(store_err)?
            .ok_or_else(|| unknown_session(store, &newest.name))?;
        apply_record(&mut request, &record)?;
        Some(SessionPlan::Existing { name: record.name })
    } else if let Some(thread) = &args.thread {
        if !is_thread_id(thread) {
            return Err(CliError::usage(format!(
                "--thread {thread:?}: expected a codex thread id (a UUID, as in `thread.started`); codex would read any other word as a thread name and, finding none, start a new conversation"
            )));
        }
        request.resume = Some(ResumeTarget::Thread(thread.clone()));
        None
    } else {
        return Err(CliError::usage(
            "say what to resume: --session NAME, --thread ID or --last",
        ));
    };
    apply_turn_args(&mut request, &args.turn)?;
    // A dry run reads a piped prompt as the run would, so the command it shows is the one the
    // run starts; at a terminal it shows `-` rather than wait for typing.
    request.prompt = if args.dry_run
        && args.prompt.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        "-".into()
    } else {
        resolve_prompt(
            args.prompt,
            stdin_taken,
            args.append_stdin,
            ctx.global.quiet,
        )?
    };
    if let Some(dir) = &request.cwd
        && !dir.is_dir()
    {
        return Err(CliError::usage(format!(
            "the session's directory {} no longer exists: pass -C DIR to resume elsewhere",
            dir.display()
        )));
    }
    let plan = TurnPlan {
        request,
        operation: if args.live { "live" } else { "resume" },
        live: args.live,
        session,
        reliability: args.reliability,
        repair: args.schema.repair,
        compact: args.schema.compact,
        schema,
        dry_run: args.dry_run,
    };
    execute(ctx, plan).await
}

/// Re-apply what the session was started with, in a form `exec resume` accepts.
/// The session's thread id goes to codex as a word of its command line, so it must be one codex
/// reads as a thread id: any other word (an id edited by hand, `--help` from an imported file)
/// would be taken as an option, or as a thread name that starts a new conversation silently.
fn apply_record(req: &mut ExecRequest, rec: &SessionRecord) -> CliResult<()> {
    if !is_thread_id(&rec.thread_id) {
        return Err(CliError::usage(format!(
            "session {:?} has thread id {:?}, which is not a codex thread id (a UUID); start it over with `spawncodex run --session {} --replace \"...\"`",
            rec.name, rec.thread_id, rec.name
        )));
    }
    req.resume = Some(ResumeTarget::Thread(rec.thread_id.clone()));
    req.cwd = rec.cwd.as_ref().map(PathBuf::from);
    let o = &rec.options;
    req.model = o.model.clone();
    req.sandbox = o.sandbox;
    req.profile = o.profile.clone();
    req.config = o.config.clone();
    req.add_dirs = o.add_dirs.iter().map(PathBuf::from).collect();
    req.reasoning_effort = o.reasoning_effort.clone();
    req.skip_git_repo_check = o.skip_git_repo_check;
    Ok(())
}

fn unknown_session(store: &FileStore, name: &str) -> CliError {
    // Close names are a courtesy: a store that cannot be listed just gets no hint about them.
    let Ok(names) = store.list_summaries().map(|listing| {
        listing
            .sessions
            .into_iter()
            .map(|r| r.name)
            .collect::<Vec<String>>()
    }) else {
        return CliError::usage(format!("no session named {name:?}"));
    };
    let mut close: Vec<(usize, &String)> = names
        .iter()
        .map(|n| (edit_distance(n, name), n))
        .filter(|(d, n)| is_close(name, n, *d))
        .collect();
    close.sort();
    let hint = if close.is_empty() {
        if names.is_empty() {
            "there are no sessions yet".to_string()
        } else {
            "see `spawncodex sessions list`".to_string()
        }
    } else {
        format!(
            "did you mean {}?",
            close
                .iter()
                .take(3)
                .map(|(_, n)| n.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    };
    CliError::usage(format!("no session named {name:?}: {hint}"))
}

/// Is `candidate` (at edit distance `d`) worth suggesting for `typed`? Few edits for the
/// length (so `eph` does not suggest `g`), or one name inside the other when both are long
/// enough to mean something (`fix` for `fix-ci`).
fn is_close(typed: &str, candidate: &str, d: usize) -> bool {
    let longer = typed.chars().count().max(candidate.chars().count());
    let limit = match longer {
        0..=3 => 1,
        4..=8 => 2,
        _ => 3,
    };
    let shorter = typed.chars().count().min(candidate.chars().count());
    d <= limit || (shorter >= 3 && (candidate.contains(typed) || typed.contains(candidate)))
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1; b.len() + 1];
        for (j, cb) in b.iter().enumerate() {
            cur[j + 1] = (prev[j] + usize::from(ca != *cb))
                .min(prev[j + 1] + 1)
                .min(cur[j] + 1);
        }
        prev = cur;
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_close_names_are_suggested() {
        let close = |typed: &str, candidate: &str| {
            is_close(typed, candidate, edit_distance(typed, candidate))
        };
        assert!(close("fixci", "fix-ci"));
        assert!(close("plna", "plan"));
        assert!(close("fix", "fix-ci"));
        assert!(close("eph", "epha"));
        assert!(!close("eph", "g"));
        assert!(!close("a", "abc"));
        assert!(!close("review", "plan"));
    }
}
