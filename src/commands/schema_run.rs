//! `spawncodex schema-run`: JSON checked against a schema before and after the turn.

use std::path::PathBuf;

use super::Ctx;
use super::run::plan_new_turn;
use super::turn::execute;
use crate::cli::{SchemaOpts, SchemaRunArgs};
use crate::error::{CliError, CliResult};
use crate::exit;
use crate::schema::{self, PreparedSchema, SchemaSource};

pub async fn schema_run(ctx: &Ctx, args: SchemaRunArgs) -> CliResult<u8> {
    if args.schema.schema.is_none() && args.schema.schema_json.is_none() {
        return Err(CliError::usage(
            "schema-run needs --schema FILE (or - for stdin) or --schema-json JSON",
        ));
    }
    let (schema, stdin_taken) = prepare_schema(&args.schema, ctx.global.jsonl)?;
    let Some(schema) = schema else {
        // --fix-strict printed the schema.
        return Ok(exit::OK);
    };
    let plan = plan_new_turn(
        args.run,
        "schema-run",
        false,
        Some((schema, args.schema.repair, args.schema.compact)),
        stdin_taken,
        ctx.global.quiet,
    )?;
    execute(ctx, plan).await
}

/// Load and check the schema the options name. Returns the schema (None when none was given
/// or `--fix-strict` printed it) and whether stdin was used for it.
pub fn prepare_schema(opts: &SchemaOpts, jsonl: bool) -> CliResult<(Option<PreparedSchema>, bool)> {
    let (source, inline) = match (&opts.schema, &opts.schema_json) {
        (Some(f), _) if f == "-" => (SchemaSource::Stdin, None),
        (Some(f), _) => (SchemaSource::File(PathBuf::from(f)), None),
        (None, Some(json)) => (SchemaSource::Inline, Some(json.as_str())),
        (None, None) => {
            if opts.fix_strict {
                return Err(CliError::usage(
                    "--fix-strict needs --schema or --schema-json",
                ));
            }
            return Ok((None, false));
        }
    };
    let stdin_taken = matches!(source, SchemaSource::Stdin);
    let text = schema::read_source(&source, inline).map_err(CliError::usage)?;
    if opts.fix_strict {
        let value = schema::parse(&source, &text).map_err(CliError::usage)?;
        let (fixed, notes) = schema::fix_strict_with_notes(&value);
        // Under --jsonl, one line that says what it is (a schema's own "type" would read as
        // an event's); otherwise the schema itself, ready to save as a file.
        let text = if jsonl {
            #[derive(serde::Serialize)]
            struct StrictSchema<'a> {
                r#type: &'static str,
                schema: &'a serde_json::Value,
            }
            let line = StrictSchema {
                r#type: "spawncodex.strict_schema",
                schema: &fixed,
            };
            serde_json::to_string(&line).map_err(|e| CliError::usage(e.to_string()))?
        } else {
            serde_json::to_string_pretty(&fixed).map_err(|e| CliError::usage(e.to_string()))?
        };
        super::print_stdout(&format!("{text}\n"))?;
        for note in &notes {
            crate::stderr_line!("note: {note}");
        }
        // What the fix cannot make strict (a keyword strict mode refuses, a root that is not an
        // object) must not pass for fixed: the check would refuse the printed schema.
        let left = schema::strict_violations(&fixed);
        if !left.is_empty() {
            return Err(CliError::usage(format!(
                "the schema printed still breaks OpenAI's strict rules, which --fix-strict cannot fix ({} problem{}):\n  {}",
                left.len(),
                if left.len() == 1 { "" } else { "s" },
                left.join("\n  ")
            )));
        }
        return Ok((None, stdin_taken));
    }
    match schema::prepare(source, &text, !opts.no_strict_check) {
        Ok(prepared) => Ok((Some(prepared), stdin_taken)),
        Err(lines) => Err(CliError::usage(lines.join("\n"))),
    }
}
