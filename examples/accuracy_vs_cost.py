"""Study 2: accuracy of every logdot number format on the digits and MNIST CNNs, resumable.

Every point (a float model, a PTQ cell, a QAT run) is a content-hashed job
(:mod:`logdot.study.jobs`); finished points are appended to a store (``--store``, one JSON
line each), so an interrupted sweep resumes where it stopped and a finished point is never
recomputed. ``--jobs N`` runs N local worker processes; ``--scheduler ADDRESS`` sends the
same jobs to a Dask ``distributed`` cluster instead. The table ``accuracy.csv`` is written
from the store in plan order, so it is the same bytes however the points ran.

Usage::

    python examples/accuracy_vs_cost.py --quick            # a tiny sweep (seconds)
    python examples/accuracy_vs_cost.py --jobs 2           # the full accuracy sweep
    python examples/accuracy_vs_cost.py --scheduler tcp://HOST:8786

The points are defined in :mod:`logdot.study.pareto`.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from pathlib import Path

from logdot.study.jobs import ResultStore, run_jobs
from logdot.study.pareto import ACCURACY_COLUMNS, FULL, QUICK, accuracy_rows, plan


def parse_args(argv):
    """The command line (exit status 2 and a one-line message on a bad argument)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny sweep (digits, 1 seed)")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="local worker processes")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler address")
    p.add_argument("--store", default=None, metavar="FILE", help="result store (.jsonl)")
    p.add_argument("--out", default=None, metavar="DIR", help="where accuracy.csv goes")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be a positive integer, not {args.jobs}")
    mode = "quick" if args.quick else "full"
    args.out = Path(args.out or Path("build") / "study2" / mode)
    args.store = Path(args.store or args.out / "points.jsonl")
    return args


def write_csv(path, rows):
    """Write ``rows`` (dicts with :data:`ACCURACY_COLUMNS`) atomically."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=ACCURACY_COLUMNS, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    store = ResultStore(args.store)
    try:
        for phase, jobs in plan(cfg):
            kw = {"workers": args.jobs, "scheduler": args.scheduler, "quiet": args.quiet}
            run_jobs(jobs, store, desc=phase, **kw)
    except KeyboardInterrupt:
        print(
            f"accuracy_vs_cost: interrupted ({len(store)} points stored in {args.store}; "
            "run the same command again to resume)",
            file=sys.stderr,
        )
        return 130
    rows = accuracy_rows(cfg, store)
    write_csv(args.out / "accuracy.csv", rows)
    print(f"{len(rows)} points: {args.out / 'accuracy.csv'} (store {args.store})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
