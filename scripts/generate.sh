#!/usr/bin/env bash
# Regenerate the committed shell completions and man pages from the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet
bin=target/debug/spawncodex
mkdir -p completions man
"$bin" completions bash >completions/spawncodex.bash
"$bin" completions zsh >completions/_spawncodex
"$bin" completions fish >completions/spawncodex.fish
"$bin" completions elvish >completions/spawncodex.elv
"$bin" completions powershell >completions/_spawncodex.ps1
rm -f man/*.1
"$bin" man --dir man 2>/dev/null
echo "completions/ and man/ regenerated"
