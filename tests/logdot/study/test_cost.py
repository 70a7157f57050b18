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
    lin = [3, 4, 5, 6, 8]
    log = [3, 4, 5, 6]
    assert mnist == (
        [("mnist", "log2", b, "ecp5") for b in log]
        + [("mnist", "linear", b, "ecp5-nodsp") for b in lin]
        + [("mnist", "linear", b, "ecp5") for b in lin]
    )
    assert digits == (
        [("digits", "log2", b, t) for t in ("ecp5", "ice40") for b in log]
        + [("digits", "linear", b, t) for t in ("ecp5-nodsp", "ecp5", "ice40") for b in lin]
    )
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
    jobs = cost_plan(FULL)[4:7]
    store = ResultStore(tmp_path / "cost.jsonl")
    result = dict(fits=True, reason=None, luts=5000, carry=100, ffs=900, bram=5, lutram=0)
    result.update(dsps=0, mul_cells=0, lut4=5200, cycles_per_image=225792)
    result.update(fmax_mhz=[60.5, 66.25, 70.0], fmax_median_mhz=66.25, images_per_s=293, tools={})
    store.add(jobs[2], result)
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
            "lut4": 5200,
            "ffs": 900,
            "bram": 5,
            "dsps": 0,
            "cycles_per_image": 225792,
            "fmax_mhz": "60.50 66.25 70.00",
            "fmax_median_mhz": 66.25,
            "images_per_s": 293,
            "key": jobs[2].key,
        }
    ]
