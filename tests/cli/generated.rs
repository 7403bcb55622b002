//! The committed completions and man pages are what the binary generates (no build.rs).

use std::path::Path;

use crate::common::*;

const REGENERATE: &str = "regenerate with: scripts/generate.sh";

fn check(committed: &Path, generated: &[u8]) {
    let on_disk = std::fs::read(committed)
        .unwrap_or_else(|_| panic!("{} is missing; {REGENERATE}", committed.display()));
    assert!(
        on_disk == generated,
        "{} differs from what spawncodex generates; {REGENERATE}",
        committed.display()
    );
}

#[test]
fn committed_completions_are_current() {
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (shell, file) in [
        ("bash", "spawncodex.bash"),
        ("zsh", "_spawncodex"),
        ("fish", "spawncodex.fish"),
        ("elvish", "spawncodex.elv"),
        ("powershell", "_spawncodex.ps1"),
    ] {
        let out = env.cmd(&[]).args(["completions", shell]).output().unwrap();
        assert_eq!(out.status.code(), Some(0));
        check(&root.join("completions").join(file), &out.stdout);
    }
}

#[test]
fn committed_man_pages_are_current() {
    let env = Env::new();
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = env.path().join("man");
    env.cmd(&[])
        .arg("man")
        .arg("--dir")
        .arg(&dir)
        .assert()
        .success();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in &names {
        check(
            &root.join("man").join(name),
            &std::fs::read(dir.join(name)).unwrap(),
        );
    }
    let mut committed: Vec<String> = std::fs::read_dir(root.join("man"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    committed.sort();
    assert_eq!(
        committed, names,
        "man/ has pages the binary no longer generates; {REGENERATE}"
    );
    let main = std::fs::read_to_string(dir.join("spawncodex.1")).unwrap();
    assert!(main.contains("EXIT STATUS") && main.contains("124"));
    assert!(main.contains("SPAWNCODEX_HOME"));
}

#[test]
fn dynamic_completion_offers_session_names() {
    let env = Env::new();
    let plain = env.replay("plain.jsonl", 0);
    for name in ["fix-ci", "feature-x"] {
        env.cmd(&[&plain])
            .args(["run", "--session", name, "hi"])
            .assert()
            .success();
    }
    // What the bash script asks at `spawncodex resume --session <TAB>`.
    let out = env
        .cmd(&[])
        .env("COMPLETE", "bash")
        .env("_CLAP_COMPLETE_INDEX", "3")
        .env("_CLAP_COMPLETE_COMP_TYPE", "9")
        .env("_CLAP_COMPLETE_SPACE", "true")
        .env("_CLAP_IFS", "\n")
        .args(["--", "spawncodex", "resume", "--session", ""])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut got: Vec<&str> = stdout.lines().collect();
    got.sort();
    assert_eq!(got, ["feature-x", "fix-ci"]);
}
