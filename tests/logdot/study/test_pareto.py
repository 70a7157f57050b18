"""logdot.study.pareto: the study-2 sweep on a tiny configuration, locally and on a Dask
LocalCluster of 2 worker processes, giving the same bytes; the quick script resumes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from logdot.study.jobs import ResultStore, run_jobs
from logdot.study.pareto import QUICK, SweepConfig, accuracy_rows, plan
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
    """examples/accuracy_vs_cost.py --quick; then with the QAT rows removed from the store
    it recomputes only them, and accuracy.csv is byte for byte the same."""
    cmd = [sys.executable, str(ROOT / "examples" / "accuracy_vs_cost.py"), "--quick"]
    cmd += ["--out", str(tmp_path), "--quiet"]
    first = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("5 points: ")
    csv1 = (tmp_path / "accuracy.csv").read_bytes()
    store = tmp_path / "points.jsonl"
    lines = store.read_text().splitlines(keepends=True)
    kept = [line for line in lines if "qat_point" not in line]
    assert len(kept) == len(lines) - 2
    store.write_text("".join(kept))
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr
    assert (tmp_path / "accuracy.csv").read_bytes() == csv1
    assert len(store.read_text().splitlines()) == len(lines)


def test_script_argument_errors():
    bad = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "accuracy_vs_cost.py"), "--jobs", "0"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2
    assert bad.stderr.splitlines()[-1].endswith("--jobs must be a positive integer, not 0")
