#!/usr/bin/env python3
"""The I/O floor of rewriting a file of a session store, without spawncodex: read it, write it
to a temp file in the same folder, fsync it, rename it over a copy of the old file, fsync the
folder. Every `resume` does at least this to the file that holds its session (issue 3: every
write a synced temp file renamed over the old one). With one file for every session (store
format 1) that was the whole store: 8.3 ms for 10,000 sessions against 0.5 ms for one, the reason
the store is now split into 256 shards; run it on a shard file to see today's floor.

usage: store_floor.py STORE [ROUNDS]   (prints the median of each step, in ms)"""
import os
import shutil
import statistics
import sys
import time


def main():
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    store, rounds = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 9
    folder = os.path.dirname(os.path.abspath(store))
    victim = os.path.join(folder, ".floor-victim.json")
    tmp = os.path.join(folder, ".floor-tmp.json")
    steps = {k: [] for k in ("read", "write", "fsync", "rename over the old file", "fsync folder")}
    for _ in range(rounds):
        shutil.copyfile(store, victim)  # the file the rename replaces (its blocks are freed)
        os.sync()
        t = time.perf_counter()
        with open(store, "rb") as f:
            data = f.read()
        steps["read"].append(time.perf_counter() - t)
        t = time.perf_counter()
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.write(fd, data)
        steps["write"].append(time.perf_counter() - t)
        t = time.perf_counter()
        os.fsync(fd)
        steps["fsync"].append(time.perf_counter() - t)
        os.close(fd)
        t = time.perf_counter()
        os.rename(tmp, victim)
        steps["rename over the old file"].append(time.perf_counter() - t)
        dfd = os.open(folder, os.O_RDONLY)
        t = time.perf_counter()
        os.fsync(dfd)
        steps["fsync folder"].append(time.perf_counter() - t)
        os.close(dfd)
    os.unlink(victim)
    total = 0.0
    print(f"store: {store} ({len(data) / 1e6:.1f} MB), median of {rounds}")
    for name, samples in steps.items():
        ms = statistics.median(samples) * 1000
        total += ms
        print(f"  {name:<26} {ms:6.2f} ms")
    print(f"  {'total':<26} {total:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
