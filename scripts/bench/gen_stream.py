#!/usr/bin/env python3
"""Write a realistic `codex exec --json` event stream of exactly N lines.

The shapes are those of the recorded transcripts (thread.started, turn.started, reasoning,
item.started / item.completed command_execution with aggregated_output, file_change,
agent_message, turn.completed). The mix is deterministic (seeded), so every run of the
benchmark replays the same bytes: 200,000 lines come to about 60 MB.

usage: gen_stream.py N OUT [--seed S]
"""
import json
import random
import sys

WORDS = (
    "the crate test build fails because error handler config session store stream event "
    "parse line buffer flush spawn child process signal timeout retry backoff schema value "
    "render human output json lines tokio async await result option string vector map"
).split()
COMMANDS = [
    "/bin/bash -lc 'rg -n \"fn main\" src'",
    "/bin/bash -lc 'cargo test -q 2>&1 | tail -40'",
    "/bin/bash -lc \"sed -n '1,120p' src/lib.rs\"",
    "/bin/bash -lc 'ls -la'",
    "/bin/bash -lc 'git status --short'",
    "/bin/bash -lc 'git diff --stat'",
    "/bin/bash -lc 'cat Cargo.toml'",
    "/bin/bash -lc 'grep -rn TODO src | head -50'",
    "/bin/bash -lc 'cargo clippy --all-targets 2>&1 | tail -30'",
    "/bin/bash -lc 'python3 -m pytest -q tests/test_client.py'",
]
SRC_LINES = [
    "use std::io::{self, BufRead, Write};",
    "pub fn parse_line(line: &[u8]) -> Option<Event> {",
    "    let value: serde_json::Value = serde_json::from_slice(line).ok()?;",
    "    match value.get(\"type\").and_then(|t| t.as_str()) {",
    "        Some(\"turn.completed\") => Some(Event::TurnCompleted),",
    "test client::retry::tests::backoff_is_bounded ... ok",
    "test store::file::tests::corrupt_file_is_kept ... ok",
    "warning: unused variable: `attempt`",
    "  --> src/client/attempt.rs:212:13",
    "error[E0308]: mismatched types — expected `u64`, found `usize`",
    "M  src/render/human.rs",
    "?? tests/fixtures/big.jsonl",
    "drwxr-xr-x  6 root root  4096 Nov 23 22:39 src",
    "-rw-r--r--  1 root root  1260 Nov 23 22:41 Cargo.toml",
    "src/commands/turn.rs:88:    // TODO: honour --idle-timeout while retrying",
    "✓ 56 passed in 1.42s",
    "}",
    "",
]


def dumps(obj):
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def sentence(rng, lo, hi):
    words = [rng.choice(WORDS) for _ in range(rng.randint(lo, hi))]
    return " ".join(words).capitalize() + "."


def output(rng):
    # Most command outputs are short; a few are long (a test run, a file dump).
    r = rng.random()
    n = rng.randint(0, 3) if r < 0.45 else rng.randint(4, 11) if r < 0.9 else rng.randint(12, 34)
    return "".join(rng.choice(SRC_LINES) + "\n" for _ in range(n))


def generate(n, seed=7):
    rng = random.Random(seed)
    lines = [
        dumps({"type": "thread.started", "thread_id": "01a20a63-b537-7731-8384-852b69f9af71"}),
        dumps({"type": "turn.started"}),
    ]
    tail = 2  # the final agent_message and turn.completed
    item = 0

    def room():
        return n - tail - len(lines)

    while room() > 0:
        r = rng.random()
        if r < 0.78 and room() >= 2:
            cmd = rng.choice(COMMANDS)
            iid = f"item_{item}"
            item += 1
            lines.append(dumps({"type": "item.started", "item": {
                "id": iid, "type": "command_execution", "command": cmd,
                "aggregated_output": "", "exit_code": None, "status": "in_progress"}}))
            code = 0 if rng.random() < 0.85 else rng.choice([1, 2, 101])
            lines.append(dumps({"type": "item.completed", "item": {
                "id": iid, "type": "command_execution", "command": cmd,
                "aggregated_output": output(rng), "exit_code": code,
                "status": "completed" if code == 0 else "failed"}}))
        elif r < 0.84 and room() >= 2:
            iid = f"item_{item}"
            item += 1
            changes = [{"path": f"src/{rng.choice(WORDS)}.rs", "kind": rng.choice(["add", "update"])}]
            for status, kind in (("in_progress", "item.started"), ("completed", "item.completed")):
                lines.append(dumps({"type": kind, "item": {
                    "id": iid, "type": "file_change", "changes": changes, "status": status}}))
        elif r < 0.94:
            lines.append(dumps({"type": "item.completed", "item": {
                "id": f"item_{item}", "type": "reasoning",
                "text": "**" + sentence(rng, 1, 3)[:-1] + "** " + sentence(rng, 5, 30)}}))
            item += 1
        else:
            lines.append(dumps({"type": "item.completed", "item": {
                "id": f"item_{item}", "type": "agent_message", "text": sentence(rng, 6, 40)}}))
            item += 1
    lines.append(dumps({"type": "item.completed", "item": {
        "id": f"item_{item}", "type": "agent_message",
        "text": "All done: the tests pass and the fix is in src/client/attempt.rs."}}))
    lines.append(dumps({"type": "turn.completed", "usage": {
        "input_tokens": 48000, "cached_input_tokens": 8000, "cache_write_input_tokens": 0,
        "output_tokens": 12000, "reasoning_output_tokens": 2000}}))
    return lines[:n] if n < 4 else lines


def main():
    args = sys.argv[1:]
    seed = 7
    if "--seed" in args:
        i = args.index("--seed")
        seed = int(args[i + 1])
        del args[i:i + 2]
    if len(args) != 2:
        sys.exit(__doc__)
    n, out = int(args[0]), args[1]
    lines = generate(n, seed)
    with open(out, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
