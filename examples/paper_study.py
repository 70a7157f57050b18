"""Reproduce the paper's study (Miyashita, Lee, Murmann 2016) with logdot's own quantizers.

Trains the small digits CNN of :mod:`logdot.study.data` in float (5 seeds), then measures test
accuracy with weights and/or activations quantized to linear (fixed point), log base 2 and
log base sqrt(2) codes of 3..8 bits:

* Table 1, post-training quantization (PTQ): scope activations / weights / both, bits
  3, 4, 5, 6, 8, mean and spread over the 5 float models; per-layer scales chosen by the
  ``calibrated`` rule (minimum squared error on training data), repeated with the ``max``
  rule; plus rows with the paper's log-domain accumulation (:mod:`logdot.golden.logacc`).
* Table 2, quantization-aware training (QAT) from scratch at 3, 4 and 5 bits, weights and
  activations both quantized: log vs linear (the paper's 5-bit claim).
* Figures: accuracy vs bits per format, and a histogram of one layer's weights and input
  activations with the log and linear levels drawn over them.

Everything is written under ``--out``: ``ptq.csv``, ``ptq_max.csv``, ``ptq_runs.csv``,
``logacc.csv``, ``qat.csv``, ``qat_runs.csv``, ``tables.md``, ``summary.json``,
``accuracy_vs_bits.png``, ``histograms.png``. The files are written to a temporary directory
first and moved into place only when all of them are complete. Without ``--out`` the full study
writes the repository's committed ``results/``, and ``--quick`` writes ``build/paper_study_quick/``
below the current directory: a smoke test never overwrites the committed results unless asked
with an explicit ``--out``.

The sweep, tables and figures live in :mod:`logdot.study.sweep`, :mod:`logdot.study.tables`
and :mod:`logdot.study.figures`; this script is their command line.

Usage::

    python examples/paper_study.py              # the full study into results/ (make study)
    python examples/paper_study.py --quick      # smoke test into build/paper_study_quick/
    python examples/paper_study.py --out DIR

Runs on one CPU thread (reproducible to the bit; the other core stays free).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from logdot.study.sweep import FULL, QUICK, run_study, study_data
from logdot.study.tables import write_results
from logdot.tools.progress import bars_enabled

#: Where the full study writes by default: the repository's committed results.
RESULTS = Path(__file__).resolve().parent.parent / "results"
#: Where ``--quick`` writes by default, below the current directory (never ``results/``).
QUICK_OUT = Path("build") / "paper_study_quick"


def parse_args(argv):
    """The command line (exits with status 2 and a one-line message on a bad argument)."""
    p = argparse.ArgumentParser(
        description="Reproduce the paper's log vs linear quantization study on the digits CNN."
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 seed, 1 QAT epoch on 270 training images, the log-domain accumulation rows on "
        "90 test images (a smoke test)",
    )
    p.add_argument(
        "--out",
        default=None,
        help="output directory (default: the repository's results/ for the full study, "
        f"{QUICK_OUT}/ below the current directory with --quick)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="worker processes, one CPU thread each (default 2; 1 runs in-process)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.add_argument(
        "--quiet", action="store_true", help="nothing on stderr (no progress bars); for scripts"
    )
    args = p.parse_args(argv)
    if not 1 <= args.jobs <= 64:
        p.error(f"--jobs must be an integer in [1, 64], not {args.jobs!r}")
    out = output_dir(args)
    if out.exists() and not out.is_dir():
        p.error(f"--out must be a directory, not the file {str(out)!r}")
    return args


def output_dir(args):
    """The output directory: ``--out`` if given, else :data:`RESULTS` for the full study and
    :data:`QUICK_OUT` (below the current directory) for ``--quick``."""
    if args.out is not None:
        return Path(args.out)
    return QUICK_OUT.resolve() if args.quick else RESULTS


def main(argv=None):
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    out = output_dir(args)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = study_data()
    quiet = args.quiet or args.no_progress
    bar_kw = dict(disable=not bars_enabled(quiet), file=sys.stderr, dynamic_ncols=True)
    rows = run_study(cfg, jobs=args.jobs, bar_kw=bar_kw)
    md = write_results(
        out,
        rows,
        cfg,
        mode="quick" if args.quick else "full",
        n_train=len(data["x_tr"]),
        n_test=len(data["x_te"]),
        x_cal=data["x_cal"],
        jobs=args.jobs,
        seconds=lambda: time.perf_counter() - t0,
    )
    print(md)
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
