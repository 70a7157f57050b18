"""logdot.study.jobs: content-hashed jobs, the resumable store, local and Dask runners."""

from __future__ import annotations

import hashlib
import json
import sys

import pytest

from logdot.study.jobs import Job, ResultStore, execute, run_jobs
from tests.support.sweep_jobs import calls

SQUARE = "tests.support.sweep_jobs:square"


def _jobs(xs, log, **extra):
    log = None if log is None else str(log)
    return [Job(SQUARE, {"x": x, "log": log, **extra}) for x in xs]


def test_key_is_a_content_hash_of_function_parameters_and_version():
    a = Job(SQUARE, {"x": 1, "log": None})
    assert a.key == Job(SQUARE, {"log": None, "x": 1}).key  # order does not matter
    assert len(a.key) == 16 and int(a.key, 16) >= 0
    others = [
        Job(SQUARE, {"x": 2, "log": None}),
        Job(SQUARE, {"x": 1, "log": None}, version=2),
        Job("tests.support.sweep_jobs:other", {"x": 1, "log": None}),
        Job(SQUARE, {"x": 1.0, "log": None}),
    ]
    assert len({a.key, *(j.key for j in others)}) == 5
    # Stable across runs and machines: SHA-256 of the canonical JSON, written out by hand.
    text = '{"fn":"' + SQUARE + '","params":{"log":null,"x":1},"store":1,"version":1}'
    assert a.key == hashlib.sha256(text.encode()).hexdigest()[:16] == "a8aa4e8fbbd628de"


@pytest.mark.parametrize(
    ("fn", "params", "version", "error"),
    [
        ("nocolon", {}, 1, "fn must be 'module:function'"),
        ("a:b:c", {}, 1, "fn must be 'module:function'"),
        (SQUARE, [1], 1, "params must be a dict"),
        (SQUARE, {"x": object()}, 1, "not JSON serializable"),
        (SQUARE, {"x": float("nan")}, 1, "Out of range float"),
        (SQUARE, {}, True, "version must be an int"),
    ],
)
def test_bad_jobs_are_refused(fn, params, version, error):
    with pytest.raises((TypeError, ValueError), match=error):
        Job(fn, params, version)


def test_execute_returns_key_and_result(tmp_path):
    job = _jobs([7], tmp_path / "log")[0]
    assert execute(job) == (job.key, {"y": 49})


def test_store_round_trip_and_cut_short_row(tmp_path):
    path = tmp_path / "s" / "points.jsonl"
    jobs = _jobs([1, 2, 3], None)
    store = ResultStore(path)
    for j in jobs[:2]:
        store.add(j, {"y": j.params["x"] ** 2})
    again = ResultStore(path)
    assert len(again) == 2 and jobs[0] in again and jobs[2] not in again
    assert again.rows(jobs[:2]) == [(jobs[0].params, {"y": 1}), (jobs[1].params, {"y": 4})]
    with pytest.raises(KeyError, match=r"square\(log=None,x=3\) has no result"):
        again.rows(jobs)
    # An interruption in the middle of a write leaves a partial last line: dropped on open,
    # and the file is cut back so the next row starts on a line of its own.
    whole = path.read_bytes()
    path.write_bytes(whole + b'{"key": "abc", "res')
    cut = ResultStore(path)
    assert len(cut) == 2 and path.read_bytes() == whole
    cut.add(jobs[2], {"y": 9})
    assert [json.loads(line)["result"] for line in path.read_text().splitlines()] == [
        {"y": 1},
        {"y": 4},
        {"y": 9},
    ]


def test_damaged_store_is_an_error(tmp_path):
    path = tmp_path / "points.jsonl"
    path.write_text('{"key": "a", "result": {}}\nnot json\n')
    with pytest.raises(ValueError, match=r"points.jsonl:2: not a result row"):
        ResultStore(path)


@pytest.mark.parametrize("workers", [1, 2])
def test_an_interrupted_sweep_resumes_without_recomputing(tmp_path, workers):
    log = tmp_path / "calls"
    store = ResultStore(tmp_path / "points.jsonl")
    # The sweep stops at a failing point; every point finished before it is stored.
    failing = _jobs([1, 2], log) + _jobs([3], log, fail=True)
    with pytest.raises(RuntimeError, match="point 3 failed"):
        run_jobs(failing, store, workers=workers, quiet=True)
    finished = {j.params["x"] for j in failing if j in store}
    assert 3 not in finished and (finished == {1, 2} or workers > 1)
    n_before = len(calls(log))
    jobs = _jobs([1, 2, 3, 4], log)
    computed = run_jobs(jobs, store, workers=workers, quiet=True)
    assert computed == 4 - len(finished)
    assert sorted(calls(log)[n_before:]) == sorted({1, 2, 3, 4} - finished)
    results = [r for _, r in ResultStore(store.path).rows(jobs)]
    assert results == [{"y": x * x} for x in (1, 2, 3, 4)]
    # A finished sweep computes nothing.
    assert run_jobs(jobs + jobs, store, workers=workers, quiet=True) == 0
    assert len(calls(log)) == n_before + computed


def test_workers_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="workers must be a positive integer, not 0"):
        run_jobs([], ResultStore(tmp_path / "s.jsonl"), workers=0)


def test_progress_bar_counts_stored_points(tmp_path, capsys, monkeypatch):
    """On a terminal the bar counts the stored points as done; off the terminal (and with
    ``quiet``) there is none."""
    store = ResultStore(tmp_path / "points.jsonl")
    jobs = _jobs([1, 2, 3], None)
    store.add(jobs[0], {"y": 1})
    run_jobs(jobs, store, desc="toy")
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    run_jobs(_jobs([4], None), store, desc="toy", quiet=True)
    assert capsys.readouterr().err == ""
    run_jobs(jobs + _jobs([5], None), store, desc="toy")
    err = capsys.readouterr().err
    assert "toy:" in err and "3/4" in err and "4/4" in err  # 1, 2, 3 stored; 5 computed
