#!/usr/bin/env bash
# Profiles for the benchmark's cases (run by `scripts/bench.sh --profile`, after a run, or alone):
#   1. perf stat (software counters: task-clock, context switches, page faults; this VM exposes
#      no hardware counters) for the 200,000-event pipelines and the 10,000-session store cases;
#   2. valgrind --tool=callgrind instruction counts, with the functions that dominate, for
#      `run --jsonl` and `live` on a 20,000-event stream (callgrind is ~50x slower), and for
#      `sessions list --json` and `resume --session` with 10,000 sessions.
# usage: scripts/bench/profile.sh [BIN] [SCRATCH]   (the scratch folder of a bench run: its
#        streams and stores are reused; the callgrind files land in SCRATCH/profile/)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
bin="${1:-$root/target/release/spawncodex}"
scratch="${2:-${BENCH_SCRATCH:-/work/cache/bench-scratch}}"
fake="$here/fake-codex"
out="$scratch/profile"
mkdir -p "$out" "$scratch/streams" "$scratch/work"
say() { printf '\n== %s\n' "$*"; }

stream() { # N -> path (same files as the harness makes)
  local p="$scratch/streams/events-$1.jsonl"
  [ -s "$p" ] || python3 "$here/gen_stream.py" "$1" "$p"
  printf '%s' "$p"
}
big="$(stream 200000)"
small="$(stream 20000)"
# A spawncodex store is a folder: sessions.json and its shards in sessions.json.d/.
store="$scratch/work/sc-store-10000/sessions.json"
if [ ! -s "$store" ]; then
  home="$(mktemp -d)"
  BENCH_CODEX_STREAM="$here/trivial-5-events.jsonl" SPAWNCODEX_HOME="$home" \
    "$bin" --codex-bin "$fake" run --session tmpl hi </dev/null >/dev/null
  mkdir -p "$(dirname "$store")"
  python3 "$here/gen_store.py" spawncodex "$home/sessions.json" 10000 "$store" "$scratch/work"
  rm -rf "$home"
  # gen_store.py writes the one-file layout; a first turn has spawncodex split it into shards.
  BENCH_CODEX_STREAM="$here/trivial-5-events.jsonl" \
    "$bin" --codex-bin "$fake" --store "$store" resume --session s5000 hi </dev/null >/dev/null
fi
resume_store="$out/resume-store/sessions.json"
fresh_resume_store() { # a copy of the store, without lock files (no stamps of earlier writes)
  rm -rf "$out/resume-store"
  mkdir -p "$out/resume-store"
  cp -r "$store" "$store.d" "$out/resume-store/"
  find "$out/resume-store" -name '*.lock' -delete
}

# --- perf stat ---------------------------------------------------------------------------------
if command -v perf >/dev/null && perf stat -e task-clock true >/dev/null 2>&1; then
  ev=task-clock,context-switches,cpu-migrations,page-faults
  pstat() { # title, command (sh -c)
    say "perf stat -r 5: $1"
    perf stat -r 5 -e "$ev" -- sh -c "$2" 2>&1 >/dev/null | grep -E 'task-clock|context-switches|page-faults|elapsed|user|sys' || true
  }
  export BENCH_CODEX_STREAM="$big"
  pstat "baseline: fake codex | cat > /dev/null (200,000 events)" "'$fake' </dev/null | cat >/dev/null"
  pstat "fake codex | cat | cat > /dev/null (a pass-through filter)" "'$fake' </dev/null | cat | cat >/dev/null"
  pstat "spawncodex run --jsonl > /dev/null (in cat's place)" "'$bin' --codex-bin '$fake' run --jsonl hi >/dev/null"
  pstat "spawncodex run --jsonl | cat > /dev/null" "'$bin' --codex-bin '$fake' run --jsonl hi | cat >/dev/null"
  pstat "spawncodex run (answer only) > /dev/null" "'$bin' --codex-bin '$fake' run hi >/dev/null"
  pstat "spawncodex live 2>/dev/null > /dev/null" "'$bin' --codex-bin '$fake' live hi 2>/dev/null >/dev/null"
  pstat "spawncodex sessions list --json (10,000 sessions)" "'$bin' --store '$store' sessions list --json >/dev/null"
  export BENCH_CODEX_STREAM="$here/trivial-5-events.jsonl"
  # As in the bench: a store that spawncodex itself wrote last (one warm-up resume first).
  fresh_resume_store
  "$bin" --codex-bin "$fake" --store "$resume_store" resume --session s5000 hi </dev/null >/dev/null
  pstat "spawncodex resume --session s5000 (10,000 sessions, a store spawncodex wrote last)" \
    "'$bin' --codex-bin '$fake' --store '$resume_store' resume --session s5000 hi >/dev/null"
  if command -v strace >/dev/null; then
    say "fsync calls of one resume with 10,000 sessions (strace -T)"
    strace -T -e trace=fsync,fdatasync,rename -o "$out/resume.strace" \
      "$bin" --codex-bin "$fake" --store "$resume_store" resume --session s5000 hi >/dev/null || true
    grep -E 'fsync|rename' "$out/resume.strace" || true
  fi
  say "the I/O floor of rewriting the shard that holds s5000 (of 10,000 sessions), and a 1-session one (no spawncodex)"
  python3 "$here/store_floor.py" "$(grep -l '^"s5000":' "$resume_store.d"/*.json)"
  small_store="$out/floor-1.json"
  printf '%s\n' '{"format":"spawncodex-sessions","version":1,"sessions":{}}' >"$small_store"
  python3 "$here/store_floor.py" "$small_store"
  rm -f "$small_store"
else
  say "perf stat: not available here (no perf, or perf_event_paranoid forbids it): skipped"
fi

# --- callgrind ---------------------------------------------------------------------------------
if ! command -v valgrind >/dev/null && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; } >/dev/null 2>&1 || true
fi
if command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null; then
  cg() { # name, title, command...
    local name="$1" title="$2"
    shift 2
    say "callgrind: $title"
    valgrind --tool=callgrind --log-file="$out/$name.valgrind.log" --callgrind-out-file="$out/$name.callgrind" \
      "$@" </dev/null >/dev/null 2>/dev/null || true
    python3 "$here/callgrind_top.py" "$out/$name.callgrind" 12
  }
  export BENCH_CODEX_STREAM="$small"
  cg jsonl "spawncodex run --jsonl, 20,000 events" "$bin" --codex-bin "$fake" run --jsonl hi
  cg live "spawncodex live, 20,000 events (stderr to /dev/null)" "$bin" --codex-bin "$fake" live hi
  cg list "spawncodex sessions list --json, 10,000 sessions" "$bin" --store "$store" sessions list --json
  export BENCH_CODEX_STREAM="$here/trivial-5-events.jsonl"
  fresh_resume_store
  cg resume_foreign "spawncodex resume --session s5000, 10,000 sessions, a store spawncodex did not write last" \
    "$bin" --codex-bin "$fake" --store "$resume_store" resume --session s5000 hi
  cg resume "spawncodex resume --session s5000, 10,000 sessions, the store as spawncodex left it" \
    "$bin" --codex-bin "$fake" --store "$resume_store" resume --session s5000 hi
  echo
  echo "callgrind files: $out/*.callgrind (callgrind_annotate FILE, or kcachegrind)"
else
  say "callgrind: valgrind is not installed: skipped"
fi
