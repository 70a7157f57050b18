"""The LUT cost model (:mod:`logdot.generators.cost`) and ``logdot compile --lut-budget``: the
committed calibration reproduces its Yosys measurements within the stated tolerance, the
budget folding is the fastest within the budget, the manifest states the prediction; with
``-m full`` a fresh Yosys run of a network the calibration never saw."""

from __future__ import annotations

import contextlib
import io
import json

import pytest

from logdot.cli import main
from logdot.generators.cost import budget_fold, calibration, predict_network
from logdot.golden.network_file import save_network
from logdot.hdl.network import network_plan
from tests.support import load_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _calibration_script():
    return load_script("benchmarks/calibrate_cost.py")


@pytest.fixture(scope="module")
def cal():
    return _calibration_script()


def _cycles(net, fold):
    stages, _ = network_plan(net, fold)
    return max(s.cycles_per_image for s in stages)


def test_model_reproduces_the_committed_yosys_measurements(cal):
    """For every calibration network: the model's prediction (recomputed from the network,
    not read from the file) is the file's, and within the stated tolerance of Yosys."""
    table = calibration()
    tol = table["tolerance"]
    fam = table["families"]["ecp5"]
    by_name = {r["network"]: r for r in fam["networks"]}
    checked = 0
    for label, qs in cal.FORMATS:
        net = cal.cnn(qs)
        for k, fold in enumerate(cal.CNN_FOLDS):
            row = by_name.get(f"cal_{label.replace('-', '_')}_{k}")
            if row is None:
                continue
            pred = predict_network(net, fold, family="ecp5")["predicted_lut4"]
            assert pred == row["predicted_lut4"], (label, k)
            assert abs(pred - row["lut4"]) <= tol * row["lut4"], (label, k, pred, row["lut4"])
            checked += 1
    assert checked >= 6


def test_budget_fold_is_the_fastest_within_the_budget(cal):
    net = cal.cnn(cal.FORMATS[0][1])
    fast = budget_fold(net, 10**9)
    assert _cycles(net, fast) == 100  # the unavoidable bound: the 10x10 padded image
    big = predict_network(net, fast)["predicted_lut4"]
    folds = {}
    for budget in (big, big * 3 // 4, big // 2):
        try:
            folds[budget] = budget_fold(net, budget)
        except ValueError:
            continue
        assert predict_network(net, folds[budget])["predicted_lut4"] <= budget
    cycles = [_cycles(net, f) for f in folds.values()]
    assert cycles == sorted(cycles) and len(folds) >= 2
    with pytest.raises(ValueError, match=r"even the smallest folding \(.*\) is predicted at"):
        budget_fold(net, 1)


def _run(argv):
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_compile_lut_budget_states_the_prediction(cal, tmp_path):
    net = cal.cnn(cal.FORMATS[0][1])
    path = tmp_path / "n.net.pt"
    save_network(net, path)
    budget = predict_network(net, budget_fold(net, 10**9))["predicted_lut4"] // 2
    out = tmp_path / "o"
    code, _, err = _run(["compile", "--network", str(path), "--out", str(out), "--name", "n",
                         "--lut-budget", str(budget)])  # fmt: skip
    assert code == 0, err
    man = json.loads((out / "n.json").read_text())
    cost = man["cost"]
    assert cost["lut_budget"] == budget and cost["family"] == "ecp5"
    assert cost["predicted_lut4"] <= budget
    # the total is the sum of the stages (each stage's figure rounded on its own)
    assert abs(cost["predicted_lut4"] - sum(s["predicted_lut4"] for s in cost["stages"])) <= len(
        cost["stages"]
    )
    assert cost["throughput_bound_by_layers"] == sorted(
        {b["layer"] for b in man["bottleneck"] if b["layer"] is not None}
    )
    fold = {x["index"]: (x["lanes"], x["pes"]) for x in man["layers"] if "lanes" in x}
    assert fold == budget_fold(net, budget)


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (["--lut-budget", "500", "--target-cycles", "200"],
         "--lut-budget and --target-cycles are mutually exclusive; give one"),
        (["--lut-budget", "0"], "--lut-budget: must be a positive integer, not 0"),
        (["--lut-budget", "1"], "--lut-budget: even the smallest folding"),
        (["--lut-family", "ice40"], "--lut-family needs --lut-budget"),
    ],
)  # fmt: skip
def test_lut_budget_errors_are_one_line_and_write_nothing(cal, tmp_path, extra, line):
    path = tmp_path / "n.net.pt"
    save_network(cal.cnn(cal.FORMATS[0][1]), path)
    out = tmp_path / "o"
    code, stdout, err = _run(["compile", "--network", str(path), "--out", str(out), *extra])
    assert code == 2 and stdout == "", err
    assert err.startswith(f"logdot: error: {line}") and err.count("\n") == 1, err
    assert not out.exists()


@pytest.mark.full
@pytest.mark.synth
def test_prediction_is_within_tolerance_of_a_fresh_yosys_run(cal, tmp_path):
    """A folding the calibration never used, synthesized flat like ``logdot synth`` does."""
    from logdot.generators.network import compile_network
    from logdot.synth.runner import synthesize

    net = cal.cnn(cal.FORMATS[1][1])
    fold = {0: (9, 1), 2: (9, 4), 4: (8, 1)}
    verilog, man = compile_network(net, fold=fold, name="fresh")
    ports = {p["name"]: p["width"] for p in man["ports"]}
    r = synthesize(verilog, top="fresh", target="ecp5", workdir=tmp_path, lanes=1,
                   in_width=ports["s_axis_tdata"], out_width=ports["m_axis_tdata"],
                   pnr=False)  # fmt: skip
    pred = predict_network(net, fold)["predicted_lut4"]
    tol = calibration()["tolerance"]
    assert abs(pred - r["lut4_equiv"]) <= tol * r["lut4_equiv"], (pred, r["lut4_equiv"])
