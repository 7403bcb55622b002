//! Every command in README.md runs, in order, against the fake codex, so the README cannot rot.
//! (`cargo` and `npm` are stubbed here; `.ci/run` runs the set-up command for real.)

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::common::*;

/// The commands of README.md: every line of its ```sh blocks and the `run:` lines of its
/// ```yaml blocks.
fn readme_commands() -> Vec<String> {
    let text =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
    let mut commands = Vec::new();
    let mut block: Option<&str> = None;
    for line in text.lines() {
        if let Some(lang) = line.strip_prefix("```") {
            block = if block.is_some() {
                None
            } else {
                Some(if lang.is_empty() { "text" } else { lang })
            };
            continue;
        }
        match block {
            Some("sh") if !line.trim().is_empty() => commands.push(line.to_string()),
            Some("yaml") => {
                if let Some(cmd) = line.trim_start().strip_prefix("run: ") {
                    commands.push(cmd.to_string());
                }
            }
            _ => {}
        }
    }
    commands
}

#[test]
fn every_readme_command_works() {
    let env = Env::new();
    let bin = env.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink(
        assert_cmd::cargo::cargo_bin!("spawncodex"),
        bin.join("spawncodex"),
    )
    .unwrap();
    for stub in ["cargo", "npm"] {
        let path = bin.join(stub);
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho \"{stub} $*\" >> \"$HOME/stubbed.log\"\n"),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    // codex answers prose, or the recorded JSON answer when asked for a schema.
    let plain = env.replay("plain.jsonl", 0);
    let json = env.replay("output_schema.jsonl", 0);
    let codex = bin.join("codex");
    std::fs::write(
        &codex,
        format!(
            "#!/usr/bin/env bash\ncase \" $* \" in *' --output-schema '*) export FAKE_CODEX_SCRIPTS={json};; *) export FAKE_CODEX_SCRIPTS={plain};; esac\nexec {fake} \"$@\"\n",
            json = json.display(),
            plain = plain.display(),
            fake = fake_codex().display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&codex, std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let commands = readme_commands();
    assert!(
        commands.len() >= 15,
        "README commands not found: {commands:?}"
    );
    for command in &commands {
        let out = env
            .std_cmd(&[])
            .env_remove("SPAWNCODEX_CODEX_BIN")
            .env("PATH", &path)
            .env("HOME", env.path())
            .env("SPAWNCODEX_HOME", env.home())
            .current_dir(env.work())
            .arg0_shell(command)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "README command failed ({:?}): {command}\nstdout: {}\nstderr: {}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let stubbed = std::fs::read_to_string(env.path().join("stubbed.log")).unwrap();
    assert!(stubbed.contains("cargo install --locked --path ."));
    assert!(
        env.path()
            .join(".local/share/bash-completion/completions/spawncodex")
            .exists()
    );
    assert!(
        env.path()
            .join(".local/share/man/man1/spawncodex.1")
            .exists()
    );
}

trait ShellCommand {
    fn arg0_shell(&mut self, command: &str) -> &mut Self;
}

impl ShellCommand for std::process::Command {
    /// Turn `spawncodex` (as set up by `std_cmd`) into `bash -o pipefail -c COMMAND`.
    fn arg0_shell(&mut self, command: &str) -> &mut Self {
        let mut bash = std::process::Command::new("bash");
        bash.args(["-o", "pipefail", "-c", command]);
        for (k, v) in self.get_envs() {
            match v {
                Some(v) => bash.env(k, v),
                None => bash.env_remove(k),
            };
        }
        if let Some(dir) = self.get_current_dir() {
            bash.current_dir(dir);
        }
        *self = bash;
        self
    }
}
