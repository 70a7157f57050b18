"""logdot.study.cost: the cost plan (which formats, targets and folding) and its rows.

The synthesis itself is ``logdot synth --network``'s flow, tested in
``tests/logdot/synth/``; a cost point's run is measured by ``make study-cost``.
"""

from __future__ import annotations

from logdot.study import pareto
from logdot.study.cost import COST_FOLD, COST_SEEDS, cost_plan, cost_rows
from logdot.study.jobs import ResultStore
from logdot.study.pareto import FULL


def _cells(jobs):
    return [
        (j.params["dataset"], j.params["format"], j.params["bits"], j.params["target"])
        for j in jobs
    ]


def test_plan_covers_every_hardware_format_mnist_first(monkeypatch):
    monkeypatch.setattr(pareto, "hardware_formats", lambda: ())
    jobs = cost_plan(FULL)
    cells = _cells(jobs)
    mnist = [c for c in cells if c[0] == "mnist"]
    digits = [c for c in cells if c[0] == "digits"]
    assert cells == mnist + digits
    order = [4, 5, 6, 8, 3]
    assert mnist == [
        (("mnist", f, b, t))
        for b in order
        for f, t in [("log2", "ecp5"), ("linear", "ecp5-nodsp"), ("linear", "ecp5")]
        if not (f == "log2" and b == 8)
    ]
    assert digits == [
        ("digits", f, b, t)
        for family in ("ecp5", "ice40")
        for b in order
        for f, t in [
            ("log2", "ecp5"),
            ("linear", "ecp5-nodsp"),
            ("linear", "ecp5"),
            ("log2", "ice40"),
            ("linear", "ice40"),
        ]
        if t.startswith(family) and not (f == "log2" and b == 8)
    ]
    for j in jobs:
        assert j.params["fold"] == list(COST_FOLD) == [1, 1]
        assert j.params["seeds"] == list(COST_SEEDS) == [1, 2, 3]
        assert j.params["seed"] == 0


def test_two_term_weights_join_when_the_export_accepts_them(monkeypatch):
    monkeypatch.setattr(pareto, "hardware_formats", lambda: ())
    before = {j.key for j in cost_plan(FULL)}
    monkeypatch.setattr(pareto, "hardware_formats", lambda: ("twoterm",))
    after = cost_plan(FULL)
    new = [j for j in after if j.key not in before]
    assert {j.params["format"] for j in new} == {"twoterm"}
    assert sorted({(j.params["dataset"], j.params["target"]) for j in new}) == [
        ("digits", "ecp5"),
        ("digits", "ecp5-nodsp"),
        ("digits", "ice40"),
        ("mnist", "ecp5"),
        ("mnist", "ecp5-nodsp"),
    ]
    assert len(new) == 5 * 5


def test_rows_of_finished_points_in_plan_order(tmp_path, monkeypatch):
    monkeypatch.setattr(pareto, "hardware_formats", lambda: ())
    jobs = cost_plan(FULL)[3:6]  # mnist 5 bits: log2, linear in LUTs, linear with DSPs
    store = ResultStore(tmp_path / "cost.jsonl")
    result = dict(fits=True, reason=None, luts=5000, carry=100, ffs=900, bram=5, lutram=0)
    result.update(dsps=0, mul_cells=0, lut4=5200, cycles_per_image=225792)
    result.update(fmax_mhz=[60.5, 66.25, 70.0], fmax_median_mhz=66.25, images_per_s=293, tools={})
    store.add(jobs[1], result)
    rows, missing = cost_rows(jobs, store)
    assert missing == 2
    assert rows == [
        {
            "dataset": "mnist",
            "format": "linear",
            "bits": 5,
            "target": "ecp5-nodsp",
            "fold": "1x1",
            "fits": True,
            "reason": "",
            "lut4": 5200,
            "ffs": 900,
            "bram": 5,
            "dsps": 0,
            "cycles_per_image": 225792,
            "fmax_mhz": "60.50 66.25 70.00",
            "fmax_median_mhz": 66.25,
            "images_per_s": 293,
            "key": jobs[1].key,
        }
    ]
