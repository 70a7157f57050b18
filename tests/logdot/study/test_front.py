"""logdot.study.front: aggregation over seeds, design points, the Pareto front, the claims."""

from __future__ import annotations

import pytest

from logdot.study.front import (
    aggregate,
    claims_table,
    design_points,
    lut_front,
    pareto_front,
)


def _row(method, fmt, bits, seed, fq, golden, scope="both", acc="exact", ds="mnist"):
    return {
        "dataset": ds,
        "method": method,
        "scope": scope,
        "format": fmt,
        "bits": bits,
        "seed": seed,
        "images": 1000,
        "float_correct": "",
        "fake_quant_correct": fq,
        "golden_correct": golden,
        "accumulation": acc,
        "key": "k",
    }


def test_aggregate_takes_the_golden_count_only_when_every_seed_has_one():
    rows = [
        _row("ptq", "log2", 4, 0, 960, 958),
        _row("ptq", "log2", 4, 1, 970, 968),
        _row("ptq", "logsqrt2", 4, 0, 950, ""),
        _row("ptq", "logsqrt2", 4, 1, 940, 941),
    ]
    agg = aggregate(rows)
    a = agg[("mnist", "ptq", "both", "log2", 4, "exact")]
    assert (a["source"], a["correct"], a["n"]) == ("golden", [958, 968], 2)
    assert a["mean"] == pytest.approx(96.3)
    assert a["std"] == pytest.approx(0.7071067811865476)
    b = agg[("mnist", "ptq", "both", "logsqrt2", 4, "exact")]
    assert (b["source"], b["correct"]) == ("fake_quant", [950, 940])


def _p(lut4, acc, name):
    return {"lut4": lut4, "accuracy": acc, "name": name}


def test_pareto_front_keeps_the_non_dominated_points_sorted_by_cost():
    pts = [
        _p(6000, 97.0, "a"),
        _p(5000, 96.0, "b"),
        _p(7000, 96.5, "c"),  # dominated by a
        _p(5000, 95.0, "d"),  # dominated by b (same cost, lower accuracy)
        _p(9000, 98.0, "e"),
        _p(6000, 97.0, "f"),  # equal to a: neither dominates
    ]
    assert [p["name"] for p in pareto_front(pts)] == ["b", "a", "f", "e"]


def test_design_points_join_cost_and_accuracy():
    agg = aggregate([_row("ptq", "log2", 4, 0, 960, 958), _row("qat", "log2", 4, 0, 975, 974)])
    cost = [
        {"dataset": "mnist", "format": "log2", "bits": 4, "target": "ecp5", "fits": True,
         "lut4": 6200, "ffs": 11000, "bram": 5, "dsps": 0, "fmax_median_mhz": 66.0,
         "images_per_s": 292},
        {"dataset": "mnist", "format": "log2", "bits": 5, "target": "ecp5", "fits": False,
         "lut4": 99999, "ffs": 0, "bram": 0, "dsps": 0, "fmax_median_mhz": None,
         "images_per_s": None},
    ]  # fmt: skip
    pts = design_points(agg, cost)
    assert [(p["method"], p["accuracy"], p["lut4"]) for p in pts] == [
        ("ptq", 95.8, 6200),
        ("qat", 97.4, 6200),
    ]
    assert pts[0]["efficiency"] == pytest.approx(1000 * 292 / 6200)


def test_claims_table_verdicts_follow_the_numbers():
    rows = [{**_row("float", "float", "", s, "", "", scope=""), "float_correct": 980}
            for s in (0, 1)]  # fmt: skip
    rows += [_row("ptq", "log2", 3, 0, 975, "", scope="activations")]
    rows += [_row("ptq", "linear", 3, 0, 900, "", scope="activations")]
    table = claims_table(aggregate(rows))
    first = table.splitlines()[2]
    assert first.startswith("| At 3 bits, log activations lose almost nothing")
    assert (
        "**reproduced**" in first
        and "log2 97.5 % (1), linear 90.0 % (1); float 98.0 % (2)" in first
    )
    rows[-1] = _row("ptq", "linear", 3, 0, 970, "", scope="activations")
    assert "**not reproduced**" in claims_table(aggregate(rows)).splitlines()[2]
    assert "not measured yet" in table.splitlines()[3]


def test_the_front_leaves_the_dsp_designs_out():
    pts = [
        {**_p(6000, 97.0, "log"), "target": "ecp5", "format": "log2"},
        {**_p(3000, 97.5, "lin-dsp"), "target": "ecp5", "format": "linear"},
        {**_p(7000, 97.5, "lin-lut"), "target": "ecp5-nodsp", "format": "linear"},
    ]
    assert [p["name"] for p in pareto_front(pts)] == ["lin-dsp"]
    assert [p["name"] for p in lut_front(pts)] == ["log", "lin-lut"]
