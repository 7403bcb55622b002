#!/usr/bin/env bash
# The spawncodex benchmark (issue 9): builds in release mode, runs each case several times
# against a fake `codex` that replays a pre-generated stream, and prints a table of medians and
# min–max, each beside a baseline measured in the same run, as ratios. Peers (the Python SDK that
# spawncodex replaces and the official TypeScript SDK) run the same cases side by side when pip /
# npm are available. See BENCHMARKS.md for the cases, the targets and a recorded run.
#
# usage: scripts/bench.sh [--quick] [--runs N] [--cases LIST] [--no-peers] [--no-build]
#                         [--bin PATH] [--scratch DIR] [--out FILE] [--profile]
#   --quick        fewer rounds (3 for the big streams, 7 for the fast cases, 2 for latency and
#                  RSS, a 0.5 s pause in the latency case): a smoke run of a minute or two
#   --runs N       timed rounds for the big-stream cases (default 7; the fast cases get 3N);
#                  in a round the baselines and spawncodex run 3 times, each peer once
#   --cases LIST   comma-separated subset of: trivial,big,rss,latency,list,resume
#   --no-peers     skip the Python and TypeScript SDKs
#   --no-build     use the existing target/release/spawncodex
#   --bin PATH     benchmark this spawncodex binary (implies --no-build)
#   --scratch DIR  where streams, stores, venv and node_modules go (default: $BENCH_SCRATCH,
#                  else /work/cache/bench-scratch if /work/cache exists, else $TMPDIR)
#   --out FILE     also write the table (markdown) to FILE; raw numbers go to FILE.json
#   --profile      after the run, profile the streaming cases (perf stat, then callgrind on a
#                  20,000-event stream) and print the functions that dominate
# Exit status: 0 when every target is met, 1 when one is missed, 2 on a usage or setup error.
#
# Environment: BENCH_PY_SDK (pip spec, default codex-local-sdk-python==0.1.4), BENCH_TS_SDK (npm
# spec, default @openai/codex-sdk@0.163.0).
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"

quick=0 runs=7 cases="trivial,big,rss,latency,list,resume" peers=1 build=1 bin="" out="" profile=0
scratch="${BENCH_SCRATCH:-}"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --runs) runs="$2"; shift ;;
    --runs=*) runs="${1#*=}" ;;
    --cases) cases="$2"; shift ;;
    --cases=*) cases="${1#*=}" ;;
    --no-peers) peers=0 ;;
    --no-build) build=0 ;;
    --bin) bin="$2"; build=0; shift ;;
    --bin=*) bin="${1#*=}"; build=0 ;;
    --scratch) scratch="$2"; shift ;;
    --scratch=*) scratch="${1#*=}" ;;
    --out) out="$2"; shift ;;
    --out=*) out="${1#*=}" ;;
    --profile) profile=1 ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
case "$runs" in ''|*[!0-9]*|0) echo "bench.sh: --runs needs a positive number" >&2; exit 2 ;; esac
for c in ${cases//,/ }; do
  case "$c" in
    trivial|big|rss|latency|list|resume) ;;
    *) echo "bench.sh: unknown case '$c' (pick from trivial,big,rss,latency,list,resume)" >&2; exit 2 ;;
  esac
done
if [ -z "$scratch" ]; then
  if [ -d /work/cache ]; then scratch=/work/cache/bench-scratch; else scratch="${TMPDIR:-/tmp}/spawncodex-bench"; fi
fi
case "$scratch" in "$root"|"$root"/*) echo "bench.sh: keep --scratch outside the repository" >&2; exit 2 ;; esac
mkdir -p "$scratch"
scratch="$(cd "$scratch" && pwd)"

say() { printf 'bench: %s\n' "$*" >&2; }
apt_install() { # best effort, only as root with apt-get
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing $* (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"; } >/dev/null 2>&1 || true
  fi
}

command -v python3 >/dev/null || apt_install python3
command -v python3 >/dev/null || { echo "bench.sh: python3 is required" >&2; exit 2; }
[ -x /usr/bin/time ] || apt_install time
[ -x /usr/bin/time ] || say "no /usr/bin/time: peak RSS comes from wait4's ru_maxrss instead"

# --- the binary --------------------------------------------------------------------------------
if [ -z "$bin" ]; then
  bin="$root/target/release/spawncodex"
  if [ "$build" = 1 ]; then
    command -v cargo >/dev/null || { echo "bench.sh: cargo is required to build (or pass --bin)" >&2; exit 2; }
    say "cargo build --release"
    cargo build --release --quiet --bin spawncodex
  fi
fi
[ -x "$bin" ] || { echo "bench.sh: $bin is not an executable (build it, or pass --bin)" >&2; exit 2; }
describe="$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo '?')"
if [ -n "$(git -C "$root" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]; then
  describe="$describe + uncommitted changes in src/"
fi
describe="($describe; $("$bin" --version 2>/dev/null || echo '?'); $(rustc --version 2>/dev/null || echo 'rustc ?'))"

# --- peers, each in its own scratch folder ------------------------------------------------------
peer_args=()
if [ "$peers" = 1 ]; then
  py_spec="${BENCH_PY_SDK:-codex-local-sdk-python==0.1.4}"
  venv="$scratch/pyvenv"
  if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv" >/dev/null 2>&1 || { rm -rf "$venv"; apt_install python3-venv; python3 -m venv "$venv" >/dev/null 2>&1 || rm -rf "$venv"; }
  fi
  if [ -x "$venv/bin/python" ] && ! "$venv/bin/python" -c 'import codex_local_sdk' 2>/dev/null; then
    say "pip install $py_spec (into $venv)"
    "$venv/bin/python" -m pip install -q --disable-pip-version-check "$py_spec" >&2 || true
  fi
  if [ -x "$venv/bin/python" ] && "$venv/bin/python" -c 'import codex_local_sdk' 2>/dev/null; then
    peer_args+=(--py-python "$venv/bin/python")
  else
    peer_args+=(--skip "Python SDK ($py_spec): no python3 venv / pip, or the install failed")
  fi

  ts_spec="${BENCH_TS_SDK:-@openai/codex-sdk@0.163.0}"
  ts="$scratch/ts"
  if command -v node >/dev/null && command -v npm >/dev/null; then
    if [ ! -f "$ts/node_modules/@openai/codex-sdk/package.json" ]; then
      say "npm install $ts_spec (into $ts; --omit=optional skips the real codex binary)"
      npm install --silent --no-audit --no-fund --omit=optional --prefix "$ts" "$ts_spec" >&2 || true
    fi
    if [ -f "$ts/node_modules/@openai/codex-sdk/package.json" ]; then
      cp scripts/bench/peer_ts.mjs "$ts/peer_ts.mjs"
      peer_args+=(--ts-dir "$ts" --node "$(command -v node)")
    else
      peer_args+=(--skip "TypeScript SDK ($ts_spec): npm install failed")
    fi
  else
    peer_args+=(--skip "TypeScript SDK: no node / npm on this machine")
  fi
else
  peer_args+=(--skip "peers: --no-peers")
fi

# --- run ----------------------------------------------------------------------------------------
if [ "$quick" = 1 ]; then
  counts=(--runs 3 --runs-small 7 --runs-rss 2 --runs-latency 2 --pause 0.5)
else
  counts=(--runs "$runs" --runs-small "$((runs * 3))" --runs-rss 3 --runs-latency 5 --pause 2)
fi
[ -n "$out" ] || out="$scratch/results.md"
status=0
python3 scripts/bench/harness.py --bin "$bin" --scratch "$scratch" --cases "$cases" "${counts[@]}" \
  "${peer_args[@]}" --describe "$describe" --out "$out" --json "$out.json" || status=$?
[ "$status" -le 1 ] && say "table written to $out (raw numbers: $out.json)"

if [ "$profile" = 1 ]; then
  bash scripts/bench/profile.sh "$bin" "$scratch" || status=$?
fi
exit "$status"
