#!/usr/bin/env python3
"""Write session stores with N sessions for the benchmark.

  gen_store.py spawncodex TEMPLATE_STORE N OUT [CWD]
      TEMPLATE_STORE is a sessions.json written by a real `spawncodex run --session NAME`; its
      one record is replicated as s0 .. s{N-1}, each with its own thread id and times, in the
      one-file layout of store format 1 (one record per line), which spawncodex reads as it is
      and splits into its shard files (format 2) on the first change.
  gen_store.py seed N OUT
      The same N sessions in the layout of codex-local-sdk-python's JsonFileSessionStore
      (schema_version 2), for the Python peer.
"""
import glob
import json
import os
import sys


def thread_id(i):
    return f"01a20a63-{i >> 16 & 0xffff:04x}-7{i & 0xfff:03x}-8{i * 7 & 0xfff:03x}-{i * 2654435761 & 0xffffffffffff:012x}"


def spawncodex_store(template_path, n, out, cwd=None):
    with open(template_path, encoding="utf-8") as f:
        store = json.load(f)
    if store.get("version") == 2:  # format 2: the shards are in the folder named like the file + .d
        sessions = {}
        folder = template_path + ".d"
        for shard in glob.glob(os.path.join(folder, "*.json")):
            with open(shard, encoding="utf-8") as f:
                sessions.update(json.load(f)["sessions"])
    else:
        sessions = store["sessions"]
    (template,) = sessions.values()
    base = 1795400000
    lines = []
    for i in range(n):
        rec = json.loads(json.dumps(template))
        rec["name"] = f"s{i}"
        rec["thread_id"] = thread_id(i)
        # Spread the times (and shuffle them a little) so `sessions list` really sorts.
        t = base + (i * 7919) % n * 60
        rec["created_at"] = t
        rec["updated_at"] = t + 30
        for h in rec.get("history", []):
            h["at"] = t + 30
        if cwd:
            rec["cwd"] = cwd
        lines.append(json.dumps(rec["name"]) + ":" + json.dumps(rec, separators=(",", ":")))
    head = {"format": "spawncodex-sessions", "version": 1}
    text = json.dumps(head, separators=(",", ":"))[:-1] + ',"sessions":{\n' + ",\n".join(lines) + "\n}}\n"
    json.loads(text)  # still valid JSON
    with open(out, "w", encoding="utf-8") as f:
        f.write(text)


def seed_store(n, out):
    base = 1795400000.0
    records = {}
    for i in range(n):
        t = base + (i * 7919) % n * 60
        records[f"s{i}"] = {
            "session_id": thread_id(i), "session_name": f"s{i}",
            "created_at": t, "updated_at": t + 30.5,
            "last_turn_status": "completed", "turn_count": 1, "success_count": 1, "failure_count": 0,
            "turns": [{"timestamp": t + 30.5, "operation": "start_thread", "prompt_preview": "hi",
                       "return_code": 0, "turn_status": "completed", "duration_seconds": 0.3,
                       "message_preview": "Hello! This is the mock model speaking."}],
        }
    with open(out, "w", encoding="utf-8") as f:
        json.dump({"records": records, "schema_version": 2}, f, indent=2, sort_keys=True)
        f.write("\n")


def main():
    a = sys.argv[1:]
    if len(a) >= 4 and a[0] == "spawncodex":
        spawncodex_store(a[1], int(a[2]), a[3], a[4] if len(a) > 4 else None)
    elif len(a) == 3 and a[0] == "seed":
        seed_store(int(a[1]), a[2])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
