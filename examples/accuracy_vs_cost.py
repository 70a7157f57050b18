"""Study 2: accuracy against hardware cost for every logdot number format, resumable.

Every point (a float model, a PTQ cell, a log-domain accumulation cell, a QAT run, a
synthesized accelerator) is a content-hashed job (:mod:`logdot.study.jobs`); finished points
are appended to a store (``--store``, one JSON line each), so an interrupted sweep resumes
where it stopped and a finished point is never recomputed. ``--jobs N`` runs N local worker
processes; ``--scheduler ADDRESS`` sends the same jobs to a Dask ``distributed`` cluster
instead. Tables are written from the store in plan order, so they are the same bytes however
the points ran.

Usage::

    python examples/accuracy_vs_cost.py --quick            # a tiny sweep (seconds)
    python examples/accuracy_vs_cost.py --jobs 2           # the accuracy sweep (make study2)
    python examples/accuracy_vs_cost.py --cost             # the cost points (make study-cost)
    python examples/accuracy_vs_cost.py --report results/study2   # tables and figures only
    python examples/accuracy_vs_cost.py --scheduler tcp://HOST:8786

``--report DIR`` computes nothing: it writes ``accuracy.csv``, ``cost.csv``, ``front.csv``,
``study2.md`` and the two figures from the finished points of the stores (the points not
finished yet are counted in ``study2.md``). The accuracy points are defined in
:mod:`logdot.study.pareto`, the cost points in :mod:`logdot.study.cost`, the report in
:mod:`logdot.study.front`.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from dataclasses import replace
from pathlib import Path


def parse_args(argv):
    """The command line (exit status 2 and a one-line message on a bad argument)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a tiny sweep (digits, 1 seed)")
    p.add_argument("--jobs", type=int, default=1, metavar="N", help="local worker processes")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS", help="Dask scheduler address")
    p.add_argument("--store", default=None, metavar="FILE", help="result store (.jsonl)")
    p.add_argument("--out", default=None, metavar="DIR", help="where accuracy.csv goes")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument("--cost", action="store_true", help="run the cost points (synthesis)")
    p.add_argument("--report", default=None, metavar="DIR", help="only write the report to DIR")
    p.add_argument(
        "--datasets",
        default=None,
        metavar="LIST",
        help="run only these datasets' points (comma-separated; the same keys as the full run)",
    )
    args = p.parse_args(argv)
    if args.jobs < 1:
        p.error(f"--jobs must be a positive integer, not {args.jobs}")
    if args.datasets is not None:
        args.datasets = tuple(args.datasets.split(","))
        known = {d for cfg in configs(args.quick) for d in cfg.datasets}
        bad = sorted(set(args.datasets) - known)
        if bad:
            p.error(f"--datasets: unknown dataset {bad[0]!r} (known: {', '.join(sorted(known))})")
        if args.report is not None:
            p.error("--datasets does not go with --report (the report covers every point)")
    mode = "quick" if args.quick else "full"
    args.out = Path(args.out or Path("build") / "study2" / mode)
    args.store = Path(args.store or args.out / "points.jsonl")
    args.cost_store = args.store.with_name("cost.jsonl")
    return args


def write_csv(path, rows, columns=None):
    """Write ``rows`` (dicts with ``columns``, default the accuracy table's) atomically."""
    if columns is None:
        from logdot.study.pareto import ACCURACY_COLUMNS as columns
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(buf.getvalue())
    os.replace(tmp, path)


def configs(quick, datasets=None):
    """The accuracy sweep's configurations: the study and the DeepShift comparison (only the
    ``datasets`` given, when given: their points have the same keys)."""
    from logdot.study.pareto import DEEPSHIFT, FULL, QUICK

    cfgs = (QUICK,) if quick else (FULL, DEEPSHIFT)
    if datasets is None:
        return cfgs
    picked = [replace(c, datasets=tuple(d for d in c.datasets if d in datasets)) for c in cfgs]
    return tuple(c for c in picked if c.datasets)


def main(argv=None):
    args = parse_args(argv)  # before the imports of the study (torch): a bad flag fails at once
    from logdot.study.jobs import ResultStore, run_jobs
    from logdot.study.pareto import accuracy_rows, plan

    if args.report is not None:
        from logdot.study.report import write_report

        print(write_report(Path(args.report), configs(args.quick), args.store, args.cost_store))
        return 0
    kw = {"workers": args.jobs, "scheduler": args.scheduler, "quiet": args.quiet}
    try:
        if args.cost:
            from logdot.study.cost import cost_plan

            store = ResultStore(args.cost_store)
            jobs = [j for c in configs(args.quick, args.datasets) for j in cost_plan(c)]
            run_jobs(jobs, store, desc="cost", **kw)
        else:
            store = ResultStore(args.store)
            for cfg in configs(args.quick, args.datasets):
                for phase, jobs in plan(cfg):
                    run_jobs(jobs, store, desc=phase, **kw)
    except KeyboardInterrupt:
        print(
            f"accuracy_vs_cost: interrupted ({len(store)} points stored in {store.path}; "
            "run the same command again to resume)",
            file=sys.stderr,
        )
        return 130
    if args.cost:
        print(f"{len(store)} cost points in {store.path}")
        return 0
    rows = [r for cfg in configs(args.quick, args.datasets) for r in accuracy_rows(cfg, store)]
    write_csv(args.out / "accuracy.csv", rows)
    print(f"{len(rows)} points: {args.out / 'accuracy.csv'} (store {args.store})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
