"""Wall time of ``make test`` (a script, not a test): runs it and prints how long it took.

Usage::

    .venv/bin/python benchmarks/test_walltime.py [--target test] [--jobs 2]

Prints the wall time, the exit status, the pytest summary line and the machine, and writes
them to ``build/test_walltime.json``. The budget for ``make test`` is about 15 minutes on
2 cores; the script exits 1 when the run fails, 0 otherwise (it does not judge the time).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="test", help="make target to time (default: test)")
    ap.add_argument("--jobs", type=int, default=2, help="JOBS= for make (pytest workers)")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        print(f"test_walltime: error: --jobs must be >= 1, not {args.jobs}", file=sys.stderr)
        return 2
    cmd = ["make", "-C", str(ROOT), args.target, f"JOBS={args.jobs}"]
    print("running:", " ".join(cmd), flush=True)
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.monotonic() - t0
    out = proc.stdout + proc.stderr
    summary = ""
    for line in out.splitlines():
        if re.search(r"\d+ (passed|failed)", line):
            summary = line.strip("= ").strip()
    result = {
        "target": args.target,
        "jobs": args.jobs,
        "wall_s": round(wall, 1),
        "exit_code": proc.returncode,
        "summary": summary,
        "machine": machine(),
    }
    (ROOT / "build").mkdir(exist_ok=True)
    (ROOT / "build" / "test_walltime.json").write_text(json.dumps(result, indent=2) + "\n")
    print(f"make {args.target}: {wall / 60:.1f} min ({wall:.0f} s), exit code {proc.returncode}")
    print(f"pytest: {summary or '(no summary line)'}")
    print(f"machine: {result['machine']}")
    if proc.returncode:
        print(out[-3000:], file=sys.stderr)
    return 1 if proc.returncode else 0


if __name__ == "__main__":
    sys.exit(main())
