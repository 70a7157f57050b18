"""logdot.study.pareto: the study-2 sweep on a tiny configuration, locally and on a Dask
LocalCluster of 2 worker processes, giving the same bytes; the quick script resumes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from logdot.study import pareto
from logdot.study.jobs import ResultStore, run_jobs
from logdot.study.pareto import (
    FULL,
    QUICK,
    SweepConfig,
    _recipe,
    accuracy_rows,
    logacc_point,
    plan,
    ptq_point,
)
from logdot.study.report import FRONT_COLUMNS, write_report
from tests.support import ROOT

pytestmark = pytest.mark.usefixtures("one_torch_thread")

#: Two points of real work: a 1-epoch float digits CNN and its 3-bit log2 PTQ (both operands,
#: so the golden network model scores it too).
TINY = SweepConfig(
    datasets=("digits",),
    ptq_seeds=(0,),
    qat_seeds=(),
    formats={"log2": (3,)},
    scopes=("both",),
    logacc_formats={},
    recipe_epochs=1,
)


def _csv(rows):
    return "\n".join(",".join(str(v) for v in r.values()) for r in rows)


def _sweep(store, **kw):
    for phase, jobs in plan(TINY):
        run_jobs(jobs, store, desc=phase, quiet=True, **kw)
    return accuracy_rows(TINY, store)


def test_plan_lists_every_point_once_in_a_fixed_order():
    phases = plan(QUICK)
    assert [p for p, _ in phases] == ["float", "PTQ", "QAT"]
    names = [j.name for _, jobs in phases for j in jobs]
    assert len(names) == len(set(names)) == 1 + 2 + 2
    assert [j.key for _, jobs in plan(QUICK) for j in jobs] == [
        j.key for _, jobs in phases for j in jobs
    ]


def test_local_and_dask_runs_give_the_same_rows(tmp_path):
    import distributed

    local = _sweep(ResultStore(tmp_path / "local.jsonl"))
    assert [r["method"] for r in local] == ["float", "ptq"]
    ptq = local[1]
    assert ptq["images"] == 450 and 0 < ptq["fake_quant_correct"] <= 450
    # The golden network model scores the same predictions as the fake-quantized model up to
    # the few images where the float rounding of the torch model differs.
    assert isinstance(ptq["golden_correct"], int)
    assert abs(ptq["golden_correct"] - ptq["fake_quant_correct"]) <= 5
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = _sweep(ResultStore(tmp_path / "dask.jsonl"), scheduler=cluster.scheduler_address)
    assert _csv(remote) == _csv(local)
    # Each store holds the same rows (in completion order): the same set of lines.
    a = sorted((tmp_path / "local.jsonl").read_text().splitlines())
    b = sorted((tmp_path / "dask.jsonl").read_text().splitlines())
    assert a == b


def test_quick_script_resumes_and_writes_the_same_bytes(tmp_path):
    """examples/accuracy_vs_cost.py --quick; then with one QAT row removed from the store it
    recomputes only that row, the same line again, and accuracy.csv is byte for byte the
    same."""
    cmd = [sys.executable, str(ROOT / "examples" / "accuracy_vs_cost.py"), "--quick"]
    cmd += ["--out", str(tmp_path), "--quiet"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("5 points: ")
    csv1 = (tmp_path / "accuracy.csv").read_bytes()
    store = tmp_path / "points.jsonl"
    lines = store.read_text().splitlines(keepends=True)
    removed = [line for line in lines if "qat_point" in line and '"format":"log2"' in line]
    kept = [line for line in lines if line not in removed]
    assert len(removed) == 1
    store.write_text("".join(kept))
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "accuracy.csv").read_bytes() == csv1
    assert store.read_text().splitlines(keepends=True) == kept + removed
    # The report computes nothing: from the same store, the same bytes as the report written
    # in this process (the accuracy table is the sweep's own); no cost point has run, so the
    # front is empty.
    report = [*cmd, "--report", str(tmp_path / "report")]
    done = subprocess.run(report, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("5/5 accuracy points, 0/5 cost points (5 to run): ")
    here = tmp_path / "report_here"
    write_report(here, (QUICK,), store, tmp_path / "cost.jsonl")
    names = ("accuracy.csv", "cost.csv", "front.csv", "study2.md")
    texts = [[(d / n).read_bytes() for n in names] for d in (tmp_path / "report", here)]
    assert texts[0] == texts[1]
    assert texts[0][0] == csv1
    assert texts[0][2].decode().splitlines() == [",".join(FRONT_COLUMNS)]
    assert (tmp_path / "report" / "accuracy_vs_lut4.png").stat().st_size > 0


def test_script_argument_errors():
    bad = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "accuracy_vs_cost.py"), "--jobs", "0"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1].endswith("--jobs must be a positive integer, not 0")


def test_full_plan_has_every_format_and_scope(monkeypatch):
    monkeypatch.setattr(pareto, "hardware_formats", lambda: ())
    phases = dict(plan(FULL))
    assert list(phases) == ["float", "PTQ", "log-domain accumulation", "QAT"]
    ptq = {(j.params["scope"], j.params["format"]) for j in phases["PTQ"]}
    assert ("activations", "twoterm") not in ptq
    assert {("weights", "twoterm"), ("both", "twoterm"), ("activations", "log2")} <= ptq
    per_seed = 3 * (5 + 4 + 4) + 2 * 5
    assert len(phases["PTQ"]) == 2 * 5 * per_seed
    la = phases["log-domain accumulation"]
    assert {(j.params["format"], j.params["bits"], j.params["frac_bits"]) for j in la} == {
        (f, b, 8) for f in ("log2", "logsqrt2") for b in (3, 4, 5, 6)
    }
    assert len(la) == 2 * 5 * 8
    assert len(phases["QAT"]) == 2 * 3 * 4 * 3
    twoterm = [j for j in phases["PTQ"] + phases["QAT"] if j.params["format"] == "twoterm"]
    assert {
        j.params.get("golden", "absent") for j in twoterm if j.params.get("scope") != "weights"
    } == {False}


def test_only_two_term_points_change_key_when_the_export_learns_them(monkeypatch):
    """The golden column of two-term points fills in without recomputing anything else."""
    monkeypatch.setattr(pareto, "hardware_formats", lambda: ())
    before = [j.key for _, jobs in plan(FULL) for j in jobs]
    monkeypatch.setattr(pareto, "hardware_formats", lambda: ("twoterm",))
    after = [j for _, jobs in plan(FULL) for j in jobs]
    changed = [j for j, k in zip(after, before, strict=True) if j.key != k]
    assert changed and all(j.params["format"] == "twoterm" for j in changed)
    assert all(j.params.get("golden") is True for j in changed)
    # the other points' parameters (so their keys, and the stored rows) are those of before
    assert all("golden" not in j.params for j in after if j.params.get("format") != "twoterm")
    assert len(changed) == 2 * 5 * 5 + 2 * 3 * 3  # PTQ "both" and QAT


def test_two_term_point_without_export_records_why():
    recipe = _recipe("digits", 1)
    r = ptq_point("digits", 0, recipe, "both", "twoterm", 5, "calibrated", golden=False)
    assert r["golden_correct"] is None
    assert r["golden_unavailable"] == "export_network does not accept this format"
    assert r["total"] == 450 and 0 < r["fake_quant_correct"] <= 450


def test_point_the_engines_cannot_map_records_why(monkeypatch):
    """A model that exports but that the layer engines refuse (e.g. a log-domain sum wider
    than their 64-bit limit) keeps its fake-quant count and records the refusal."""
    import logdot.golden.network as gnet

    def refuse(net, x, **kw):
        raise ValueError("layer 5 (linear): in_bits must be an integer in [2, 64], not 65")

    monkeypatch.setattr(gnet, "network_forward", refuse)
    recipe = _recipe("digits", 1)
    r = logacc_point("digits", 0, recipe, "log2", 4, "calibrated", 8)
    assert r["golden_correct"] is None
    assert r["golden_unavailable"] == (
        "layer 5 (linear): in_bits must be an integer in [2, 64], not 65"
    )
    assert r["total"] == 450 and 0 < r["fake_quant_correct"] <= 450
