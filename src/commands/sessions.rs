//! `spawncodex sessions list|show|rm|import`.

use std::ffi::OsString;

use clap_complete::engine::CompletionCandidate;

use super::turn::store_err;
use super::{Ctx, print_stdout as out};
use crate::cli::SessionsCommand;
use crate::error::{CliError, CliResult};
use crate::exit;
use crate::render::human::fmt_usage;
use crate::store::import::parse_seed_file;
use crate::store::record::now_secs;
use crate::store::{FileStore, Removal, SessionRecord, SessionStore, validate_name};

pub fn sessions(ctx: &Ctx, cmd: SessionsCommand) -> CliResult<u8> {
    let store = ctx.store()?;
    match cmd {
        SessionsCommand::List { json } => list(store, json || ctx.global.jsonl),
        SessionsCommand::Show { name, json } => show(
            store,
            &name,
            match (json, ctx.global.jsonl) {
                (_, true) => Some(JsonShape::OneLine),
                (true, false) => Some(JsonShape::Pretty),
                (false, false) => None,
            },
        ),
        SessionsCommand::Rm { names, all, yes } => rm(store, &names, all, yes),
        SessionsCommand::Import { file, force } => import(store, &file, force),
    }
}

/// The sessions that can be read go to stdout; each malformed one gets a line on stderr and
/// makes the exit code 2, so neither hides the other.
fn list(store: &FileStore, json: bool) -> CliResult<u8> {
    let listing = store.list_summaries().map_err(store_err)?;
    let code = list_readable(store, &listing.sessions, json, listing.malformed.is_empty())?;
    for malformed in &listing.malformed {
        crate::stderr_line!("spawncodex: error: {malformed}");
    }
    match (code, listing.malformed.is_empty()) {
        (exit::OK, false) => Ok(exit::USAGE),
        (code, _) => Ok(code),
    }
}

fn list_readable(
    store: &FileStore,
    records: &[crate::store::SessionSummary],
    json: bool,
    nothing_else: bool,
) -> CliResult<u8> {
    if json {
        let mut text =
            serde_json::to_string(&records).map_err(|e| CliError::usage(e.to_string()))?;
        text.push('\n');
        return out(&text);
    }
    if records.is_empty() && !nothing_else {
        return Ok(exit::OK);
    }
    if records.is_empty() {
        crate::stderr_line!(
            "no sessions yet ({}); start one with `spawncodex run --session NAME \"...\"`",
            store.path().display()
        );
        return Ok(exit::OK);
    }
    let now = now_secs();
    let rows: Vec<[String; 6]> = records
        .iter()
        .map(|r| {
            [
                r.name.clone(),
                short_id(&r.thread_id),
                r.turns.to_string(),
                r.last_status
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "-".into()),
                relative_time(now, r.updated_at),
                r.cwd.clone().unwrap_or_else(|| "-".into()),
            ]
        })
        .collect();
    let header = ["NAME", "THREAD", "TURNS", "STATUS", "USED", "DIRECTORY"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    let fmt_row = |cells: &[&str]| {
        let mut line = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                line.push_str(cell);
            } else {
                line.push_str(&format!("{cell:<w$}  "));
            }
        }
        line.push('\n');
        line
    };
    text.push_str(&fmt_row(&header));
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        text.push_str(&fmt_row(&cells));
    }
    out(&crate::render::safe::terminal_safe(&text))
}

/// `sessions show --json` is indented for reading; under `--jsonl` it is one line.
enum JsonShape {
    Pretty,
    OneLine,
}

fn show(store: &FileStore, name: &str, json: Option<JsonShape>) -> CliResult<u8> {
    validate_name(name).map_err(CliError::usage)?;
    let record = store.get(name).map_err(store_err)?.ok_or_else(|| {
        CliError::usage(format!(
            "no session named {name:?}: see `spawncodex sessions list`"
        ))
    })?;
    if let Some(shape) = json {
        let mut text = match shape {
            JsonShape::Pretty => serde_json::to_string_pretty(&record),
            JsonShape::OneLine => serde_json::to_string(&record),
        }
        .map_err(|e| CliError::usage(e.to_string()))?;
        text.push('\n');
        return out(&text);
    }
    // A view for people: what codex wrote (prompts, answers, errors) is made safe to show.
    out(&crate::render::safe::terminal_safe(&describe(&record)))
}

fn describe(r: &SessionRecord) -> String {
    let now = now_secs();
    let mut t = String::new();
    t.push_str(&format!("name:       {}\n", r.name));
    t.push_str(&format!("thread:     {}\n", r.thread_id));
    t.push_str(&format!(
        "directory:  {}\n",
        r.cwd.as_deref().unwrap_or("-")
    ));
    t.push_str(&format!(
        "created:    {}\n",
        relative_time(now, r.created_at)
    ));
    t.push_str(&format!(
        "last used:  {}\n",
        relative_time(now, r.updated_at)
    ));
    let o = &r.options;
    t.push_str(&format!(
        "model:      {}\n",
        o.model.as_deref().unwrap_or("(codex default)")
    ));
    t.push_str(&format!(
        "sandbox:    {}\n",
        o.sandbox.map(|s| s.as_str()).unwrap_or("(codex default)")
    ));
    if let Some(p) = &o.profile {
        t.push_str(&format!("profile:    {p}\n"));
    }
    if let Some(e) = &o.reasoning_effort {
        t.push_str(&format!("reasoning:  {e}\n"));
    }
    for c in &o.config {
        t.push_str(&format!("config:     {c}\n"));
    }
    for d in &o.add_dirs {
        t.push_str(&format!("add-dir:    {d}\n"));
    }
    t.push_str(&format!(
        "turns:      {} ({} succeeded, {} failed), last {}\n",
        r.turns,
        r.succeeded,
        r.failed,
        r.last_status.map(|s| s.as_str()).unwrap_or("-")
    ));
    t.push_str(&format!("usage:      {}\n", fmt_usage(&r.total_usage)));
    if let Some(from) = &r.imported_from {
        t.push_str(&format!("imported:   {from}\n"));
    }
    if !r.history.is_empty() {
        t.push_str("history:\n");
        for turn in &r.history {
            t.push_str(&format!(
                "  {:>9}  {:<10} {:<11} exit {:<3} {:>7}  {}\n",
                relative_time(now, turn.at),
                turn.operation,
                turn.status.as_str(),
                turn.exit_code,
                crate::render::human::fmt_duration(std::time::Duration::from_millis(
                    turn.duration_ms
                )),
                one_line(&turn.prompt_preview, 60)
            ));
            if let Some(a) = &turn.answer_preview {
                t.push_str(&format!("             → {}\n", one_line(a, 70)));
            } else if let Some(e) = &turn.error {
                t.push_str(&format!("             ✗ {}\n", one_line(e, 70)));
            }
        }
    }
    t
}

fn rm(store: &FileStore, names: &[String], all: bool, yes: bool) -> CliResult<u8> {
    if all {
        if !yes {
            return Err(CliError::usage(
                "sessions rm --all removes every session: add --yes to confirm",
            ));
        }
        let names = stored_names(store)?;
        let held = lock_turns(store, &names, &names)?;
        let cleared = store.clear().map_err(store_err);
        for lock in held {
            lock.remove_file();
        }
        let n = cleared?;
        crate::stderr_line!("removed {n} session{}", if n == 1 { "" } else { "s" });
        return Ok(exit::OK);
    }
    for name in names {
        validate_name(name).map_err(CliError::usage)?;
    }
    // A session with a turn in progress is not removed from under it (and nothing else is).
    // Only names that are there are locked: a lock file for a name that is not is no use.
    let present = stored_names(store)?;
    let to_lock: Vec<String> = names
        .iter()
        .filter(|n| present.contains(n))
        .cloned()
        .collect();
    let held = lock_turns(store, &to_lock, &present)?;
    // All or nothing: a mistyped name removes none of the others.
    let removal = store.remove(names).map_err(store_err);
    for lock in held {
        lock.remove_file();
    }
    match removal? {
        Removal::Missing(missing) => Err(no_such_sessions(&missing, "nothing was removed")),
        Removal::Removed(removed) => {
            for name in &removed {
                crate::stderr_line!("removed {name}");
            }
            Ok(exit::OK)
        }
    }
}

/// Every session's name, malformed records included.
fn stored_names(store: &FileStore) -> CliResult<Vec<String>> {
    let listing = store.list_summaries().map_err(store_err)?;
    Ok(listing
        .sessions
        .iter()
        .map(|s| s.name.clone())
        .chain(
            listing
                .malformed
                .iter()
                .filter_map(|e| e.session_name().map(str::to_string)),
        )
        .collect())
}

/// The turn locks of these sessions, all of them or an error naming one that is busy. On an
/// error, the lock files made for names not `present` in the store are removed again.
fn lock_turns(
    store: &FileStore,
    names: &[String],
    present: &[String],
) -> CliResult<Vec<crate::store::turn_lock::TurnLock>> {
    let mut held = Vec::with_capacity(names.len());
    for name in names {
        match store.lock_turn(name) {
            Ok(lock) => held.push((name, lock)),
            Err(e) => {
                for (name, lock) in held {
                    if !present.contains(name) {
                        lock.remove_file();
                    }
                }
                return Err(store_err(e));
            }
        }
    }
    Ok(held.into_iter().map(|(_, lock)| lock).collect())
}

fn no_such_sessions(names: &[String], what_then: &str) -> CliError {
    let names: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    CliError::usage(format!(
        "no session named {} ({what_then})",
        names.join(", ")
    ))
}

fn import(store: &FileStore, file: &std::path::Path, force: bool) -> CliResult<u8> {
    let bytes = std::fs::read(file)
        .map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))?;
    let parsed = parse_seed_file(&bytes)
        .map_err(|why| CliError::usage(format!("cannot import {}: {why}", file.display())))?;
    // All or nothing, as for names that exist already: a script sees the failure, and the
    // store is as it was for a second try once the file is fixed.
    if !parsed.rejected.is_empty() {
        let entries: Vec<String> = parsed
            .rejected
            .iter()
            .map(|(name, why)| format!("{name:?} ({why})"))
            .collect();
        let one = entries.len() == 1;
        return Err(CliError::usage(format!(
            "nothing imported from {}: {} {}; rename or remove {} in the file, then import again",
            file.display(),
            if one {
                "this entry cannot be imported:"
            } else {
                "these entries cannot be imported:"
            },
            entries.join("; "),
            if one { "it" } else { "them" },
        )));
    }
    // A session with a turn in progress is not replaced from under it, as `rm` does not remove
    // one; names not in the store yet are locked too, against a run saving one meanwhile.
    let present = stored_names(store)?;
    let names: Vec<String> = parsed.records.iter().map(|r| r.name.clone()).collect();
    let held = lock_turns(store, &names, &present)?;
    let merged = store.merge(parsed.records, force).map_err(store_err);
    for (name, lock) in names.iter().zip(held) {
        // A lock file stays only beside a session that exists.
        let exists =
            present.contains(name) || merged.as_ref().is_ok_and(|(added, _)| added.contains(name));
        if !exists {
            lock.remove_file();
        }
    }
    let (added, skipped) = merged?;
    if !skipped.is_empty() {
        return Err(CliError::usage(format!(
            "nothing imported: these names exist already (use --force to overwrite them): {}",
            skipped.join(", ")
        )));
    }
    crate::stderr_line!(
        "imported {} session{} from {} ({})",
        added.len(),
        if added.len() == 1 { "" } else { "s" },
        file.display(),
        parsed.format
    );
    Ok(exit::OK)
}

fn short_id(id: &str) -> String {
    id.chars().take(13).collect()
}

fn one_line(text: &str, max: usize) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::store::record::preview(&flat, max)
}

/// "3m ago", "2h ago", "5d ago".
pub fn relative_time(now: u64, then: u64) -> String {
    let d = now.saturating_sub(then);
    match d {
        0..=59 => "just now".into(),
        60..=3599 => format!("{}m ago", d / 60),
        3600..=86_399 => format!("{}h ago", d / 3600),
        _ => format!("{}d ago", d / 86_400),
    }
}

/// Session names for shell completion (dynamic; read from the user's store).
pub fn name_candidates() -> Vec<CompletionCandidate> {
    let path = completion_store_path();
    let Some(path) = path else { return Vec::new() };
    FileStore::new(path)
        .list_summaries()
        .map(|listing| {
            listing
                .sessions
                .into_iter()
                .map(|r| {
                    let help = format!("{} turns, {}", r.turns, r.cwd.unwrap_or_default());
                    CompletionCandidate::new(OsString::from(r.name)).help(Some(help.into()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The store a completion request refers to: `--store FILE` on the line being completed,
/// else `SPAWNCODEX_STORE`, else the default.
fn completion_store_path() -> Option<std::path::PathBuf> {
    let args = crate::usage::raw_args();
    if let Some(i) = args.iter().position(|a| a == "--store")
        && let Some(p) = args.get(i + 1)
    {
        return Some(p.into());
    }
    if let Some(p) = args.iter().find_map(|a| a.strip_prefix("--store=")) {
        return Some(p.into());
    }
    if let Some(p) = std::env::var_os("SPAWNCODEX_STORE").filter(|v| !v.is_empty()) {
        return Some(p.into());
    }
    FileStore::default_path()
}
