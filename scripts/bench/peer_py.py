#!/usr/bin/env python3
"""Drive the Python SDK that spawncodex replaces (codex-local-sdk-python, `codex_local_sdk`)
through one benchmark case, the way a script using it would.

  peer_py.py REPORT CASE FAKE_CODEX [ARGS]
    run                 CodexLocalClient(codex_bin=FAKE).run(CodexExecRequest(prompt, json_output=True))
    live                run_live(...): iterate every event, then wait() for the result
    latency             run_live(...): stamp CLOCK_MONOTONIC when the first event is yielded
    list STORE          JsonFileSessionStore(STORE).list_records(), printed as a JSON array
    resume STORE NAME   CodexLocalClient(session_store=JsonFileSessionStore(STORE)).resume(prompt, session_name=NAME)

REPORT gets one JSON object: {"call_ms": time spent in the SDK call, in-process, "first_ns": ...}.
"""
import dataclasses
import json
import sys
import time

from codex_local_sdk import CodexExecRequest, CodexLocalClient, JsonFileSessionStore


def main():
    report, case, fake, *rest = sys.argv[1:]
    out = {}
    t0 = time.perf_counter()
    if case == "run":
        res = CodexLocalClient(codex_bin=fake).run(CodexExecRequest(prompt="hi", json_output=True))
        assert res.ok and res.is_turn_completed, res.return_code
        out["events"] = len(res.events)
        print(res.final_message)
    elif case == "live":
        live = CodexLocalClient(codex_bin=fake).run_live(CodexExecRequest(prompt="hi", json_output=True))
        n = sum(1 for _ in live.iter_events())
        res = live.wait()
        assert res.ok and res.is_turn_completed, res.return_code
        out["events"] = n
        print(res.final_message)
    elif case == "latency":
        live = CodexLocalClient(codex_bin=fake).run_live(CodexExecRequest(prompt="hi", json_output=True))
        for _ in live.iter_events():
            out["first_ns"] = time.monotonic_ns()
            break
        res = live.wait()
        print(res.final_message)
    elif case == "list":
        records = JsonFileSessionStore(rest[0]).list_records()
        json.dump([dataclasses.asdict(r) for r in records.values()], sys.stdout)
        print()
        out["sessions"] = len(records)
    elif case == "resume":
        client = CodexLocalClient(codex_bin=fake, session_store=JsonFileSessionStore(rest[0]))
        res = client.resume("hi", session_name=rest[1], json_output=True)
        assert res.ok, res.return_code
        print(res.final_message)
    else:
        sys.exit(f"unknown case {case}")
    out["call_ms"] = (time.perf_counter() - t0) * 1000
    with open(report, "w") as f:
        json.dump(out, f)


if __name__ == "__main__":
    main()
