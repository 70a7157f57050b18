"""The committed study-2 report (``results/study2/``) regenerates byte for byte from the
committed stores (``points.jsonl``, ``cost.jsonl``): ``make study2-report`` computes nothing.

The plan's two-term points carry whether ``export_network`` accepts two-term weights
(:func:`logdot.study.pareto.hardware_formats`): the day it does, their keys change, this test
fails, and ``make study2`` (which computes only those points) brings the results up to date."""

from __future__ import annotations

import shutil

from logdot.study.pareto import DEEPSHIFT, FULL
from logdot.study.report import write_report
from tests.support import ROOT

RESULTS = ROOT / "results" / "study2"
FILES = ("accuracy.csv", "cost.csv", "front.csv", "study2.md")


def test_committed_report_regenerates_from_the_stores(tmp_path):
    for f in ("points.jsonl", "cost.jsonl"):
        shutil.copy(RESULTS / f, tmp_path / f)
    write_report(tmp_path / "out", (FULL, DEEPSHIFT), tmp_path / "points.jsonl",
                 tmp_path / "cost.jsonl")  # fmt: skip
    for name in FILES:
        assert (tmp_path / "out" / name).read_bytes() == (RESULTS / name).read_bytes(), name
