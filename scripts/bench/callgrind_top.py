#!/usr/bin/env python3
"""Summarise a callgrind profile: total instructions, the functions with the most instructions of
their own (self), and the spawncodex functions with the most instructions including callees.

usage: callgrind_top.py CALLGRIND_OUT [N]"""
import re
import subprocess
import sys

LINE = re.compile(r"^\s*([\d,]+) \(\s*([\d.]+)%\)\s+(.*?)(?: \[[^\]]*\])?$")


def rows(path, inclusive):
    out = subprocess.run(["callgrind_annotate", f"--inclusive={'yes' if inclusive else 'no'}",
                          "--threshold=100", "--auto=no", path], capture_output=True, text=True, check=True).stdout
    seen = {}
    for line in out.splitlines():
        m = LINE.match(line)
        if not m or "=>" in line:
            continue
        ir, pct, where = int(m.group(1).replace(",", "")), float(m.group(2)), m.group(3)
        fn = where.split(":", 1)[1] if ":" in where and not where.startswith("???") else where
        if fn in ("PROGRAM TOTALS",):
            seen.setdefault(fn, (ir, pct))
            continue
        # callgrind_annotate splits a function by source file (inlining): add up its own
        # instructions; for inclusive counts the parts overlap, so keep the largest
        a, b = seen.get(fn, (0, 0.0))
        seen[fn] = (max(a, ir), max(b, pct)) if inclusive else (a + ir, b + pct)
    return seen


def main():
    path = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 12
    selfc = rows(path, False)
    total = selfc.pop("PROGRAM TOTALS", (0, 100.0))[0]
    print(f"  total: {total:,} instructions")
    print("  self (own instructions):")
    for fn, (ir, pct) in sorted(selfc.items(), key=lambda kv: -kv[1][0])[:n]:
        print(f"    {pct:5.1f}%  {ir:>13,}  {fn[:150]}")
    inc = rows(path, True)
    print("  inclusive, spawncodex functions (with callees):")
    shown = 0
    for fn, (ir, pct) in sorted(inc.items(), key=lambda kv: -kv[1][0]):
        ours = fn.startswith(("spawncodex::", "<spawncodex::"))
        if not ours or "{{closure}}" in fn and pct > 95 or fn == "spawncodex::main":
            continue
        print(f"    {pct:5.1f}%  {ir:>13,}  {fn[:150]}")
        shown += 1
        if shown >= n:
            break


if __name__ == "__main__":
    main()
