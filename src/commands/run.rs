//! `spawncodex run` and `spawncodex live`.

use super::turn::{SessionPlan, TurnPlan, execute};
use super::{Ctx, apply_turn_args, resolve_prompt};
use crate::cli::RunArgs;
use crate::client::ExecRequest;
use crate::error::{CliError, CliResult};
use crate::schema::PreparedSchema;
use crate::store::validate_name;

pub async fn run(ctx: &Ctx, args: RunArgs, live: bool) -> CliResult<u8> {
    let operation = if live { "live" } else { "run" };
    let plan = plan_new_turn(args, operation, live, None, false, ctx.global.quiet)?;
    execute(ctx, plan).await
}

/// A new (not resumed) turn from run options; shared with `schema-run`.
pub fn plan_new_turn(
    args: RunArgs,
    operation: &'static str,
    live: bool,
    schema: Option<(PreparedSchema, u32, bool)>,
    stdin_taken: bool,
    quiet: bool,
) -> CliResult<TurnPlan> {
    let session = match &args.session {
        Some(name) => {
            validate_name(name).map_err(CliError::usage)?;
            if args.turn.ephemeral {
                return Err(CliError::usage(
                    "--ephemeral threads cannot be resumed, so they cannot be saved with --session",
                ));
            }
            Some(SessionPlan::New {
                name: name.clone(),
                replace: args.replace,
            })
        }
        None => None,
    };
    let mut request = ExecRequest::default();
    apply_turn_args(&mut request, &args.turn)?;
    // A dry run reads a piped prompt as the run would, so the command it shows is the one the
    // run starts; at a terminal it shows `-` rather than wait for typing.
    request.prompt = if args.dry_run
        && args.prompt.is_none()
        && std::io::IsTerminal::is_terminal(&std::io::stdin())
    {
        "-".into()
    } else {
        resolve_prompt(args.prompt, stdin_taken, args.append_stdin, quiet)?
    };
    let (schema, repair, compact) = match schema {
        Some((s, r, c)) => (Some(s), r, c),
        None => (None, 0, false),
    };
    Ok(TurnPlan {
        request,
        operation,
        live,
        session,
        reliability: args.reliability,
        schema,
        repair,
        compact,
        dry_run: args.dry_run,
    })
}
