"""Smoke test of examples/paper_study.py --quick: runs end to end, writes well-formed tables.

A cross-cutting suite (the study uses the whole package), so it stays at the top of tests/.

The quick mode (1 float seed, 1 QAT epoch on a fifth of the training images, log-domain
accumulation scored on a fifth of the test images: the assertions on those rows do not
depend on the number of images) runs in its default pool of 2 spawned worker processes (the
only test of that path); the time is printed, not asserted (timings are for benchmarks, not
tests). The smoke test runs without ``--out``, as a user would, and must leave the committed
``results/`` untouched: its default output is ``build/paper_study_quick/`` below the current
directory.
"""

import csv
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import ROOT, load_script
from tests.support.once import build_once

SCRIPT = ROOT / "examples" / "paper_study.py"
RESULTS = ROOT / "results"
SCOPES = ("activations", "weights", "both")
FORMATS = ("float", "linear", "log2", "logsqrt2")
PTQ_BITS = (3, 4, 5, 6, 8)


def run(*args, timeout=900, cwd=ROOT, env=None):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env=env,
    )


def read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


def results_state():
    """``(git status of results/, {file: sha256})`` of the committed results (not the cache)."""
    proc = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--", "results/"],
        capture_output=True,
        text=True,
    )
    status = proc.stdout if proc.returncode == 0 else None
    digests = {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(RESULTS.iterdir())
        if p.is_file()
    }
    return status, digests


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    """The smoke test exactly as documented (no ``--out``), run from a scratch directory, once
    per test run (:func:`tests.support.once.build_once`)."""
    return build_once(tmp_path_factory, "paper_study_quick", _run_quick)


def _run_quick(cwd):
    env = dict(os.environ)
    # The trained float model is cached below the current directory; share the repository's.
    env.setdefault("LOGDOT_CACHE", str(RESULTS / ".cache"))
    env["LOGDOT_PROGRESS"] = "1"  # bars on even without a terminal: --quiet must still win
    before = results_state()
    t0 = time.perf_counter()
    proc = run("--quick", "--quiet", cwd=cwd, env=env)
    print(f"paper_study.py --quick took {time.perf_counter() - t0:.1f} s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return cwd / "build" / "paper_study_quick", proc, before, results_state()


def test_quick_quiet_prints_nothing_on_stderr(quick):
    _, proc, _, _ = quick
    assert proc.stderr == ""


def test_quick_leaves_the_committed_results_untouched(quick):
    out, proc, before, after = quick
    status_before, digests_before = before
    status_after, digests_after = after
    assert digests_after == digests_before
    if status_before is not None:  # a git checkout: `git status --porcelain results/` unchanged
        assert status_after == status_before
    assert proc.stdout.splitlines()[-1].startswith(f"wrote {out} in ")
    assert json.loads((out / "summary.json").read_text())["mode"] == "quick"


def _script():
    return load_script(SCRIPT, "paper_study_script")


def test_output_directory_defaults_and_explicit_out(tmp_path, monkeypatch):
    script = _script()
    monkeypatch.chdir(tmp_path)

    def out(*argv):
        return script.output_dir(script.parse_args(list(argv)))

    assert out() == RESULTS  # the full study regenerates the committed results
    assert out("--quick") == (tmp_path / "build" / "paper_study_quick").resolve()
    assert out("--quick", "--out", str(tmp_path / "x")) == tmp_path / "x"
    assert out("--quick", "--out", "results") == Path("results")  # asked for explicitly
    assert out("--out", "elsewhere") == Path("elsewhere")


def test_quick_writes_every_output(quick):
    out, proc, _, _ = quick
    names = {p.name for p in out.iterdir()}
    assert names == {
        "ptq.csv",
        "ptq_max.csv",
        "ptq_runs.csv",
        "logacc.csv",
        "qat.csv",
        "qat_runs.csv",
        "tables.md",
        "summary.json",
        "accuracy_vs_bits.png",
        "histograms.png",
    }
    for png in ("accuracy_vs_bits.png", "histograms.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    md = (out / "tables.md").read_text()
    for title in ("## Table 1:", "## Table 1b:", "## Table 2:", "log-domain accumulation (F=8)"):
        assert title in md
    assert "wrote" in proc.stdout.splitlines()[-1]


@pytest.mark.parametrize("name", ["ptq.csv", "ptq_max.csv"])
def test_ptq_table_structure(quick, name):
    out, *_ = quick
    header, rows = read_csv(out / name)
    assert header == ["scope", "format", "bits", "accuracy_mean", "accuracy_std"]
    keys = [(r[0], r[1], int(r[2])) for r in rows]
    assert keys == [(s, f, b) for s in SCOPES for f in FORMATS for b in PTQ_BITS] + [
        (s, "twoterm", b) for s in ("weights", "both") for b in PTQ_BITS
    ]
    for r in rows:
        m, s = float(r[3]), float(r[4])
        assert 0.0 <= m <= 1.0 and s == 0.0  # one seed: no spread
    acc = {k: float(r[3]) for k, r in zip(keys, rows, strict=True)}
    for scope in SCOPES:
        fl = acc[(scope, "float", 8)]
        assert fl >= 0.97
        assert all(acc[(scope, "float", b)] == fl for b in PTQ_BITS)
        # 8-bit linear is within 1 percentage point of float.
        assert abs(acc[(scope, "linear", 8)] - fl) <= 0.01, (scope, acc[(scope, "linear", 8)])


def test_quick_scores_the_documented_subsets(quick):
    """The log-domain rows are counts over the quick preset's test subset, QAT trained on its
    training subset; both are recorded in summary.json and stated in tables.md."""
    from logdot.study.sweep import QUICK

    out, *_ = quick
    n_la, n_qat = QUICK.logacc_test_images, QUICK.qat_train_images
    summary = json.loads((out / "summary.json").read_text())
    assert (summary["logacc_test_images"], summary["qat_train_images"]) == (n_la, n_qat)
    assert summary["test_images"] == 450 and n_la < 450 and n_qat < summary["train_images"]
    md = (out / "tables.md").read_text()
    assert f"scored on the first {n_la} test images" in md
    assert f"(1 epoch on the first {n_qat} training images)" in md
    _, rows = read_csv(out / "logacc.csv")
    counts = [float(r[3]) * n_la for r in rows]
    assert all(abs(c - round(c)) < 1e-3 for c in counts), counts


def test_qat_table_structure(quick):
    out, *_ = quick
    header, rows = read_csv(out / "qat.csv")
    assert header == ["format", "bits", "accuracy"]
    keys = [(r[0], int(r[1])) for r in rows]
    assert keys == [(f, b) for f in ("linear", "log2", "logsqrt2", "twoterm") for b in (3, 4, 5)]
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows)
    header, rows = read_csv(out / "logacc.csv")
    assert header == ["format", "frac_bits", "bits", "accuracy_mean", "accuracy_std"]
    assert [(r[0], int(r[1]), int(r[2])) for r in rows] == [
        (f, 8, b) for f in ("log2", "logsqrt2") for b in PTQ_BITS
    ]


def test_bad_arguments_exit_2_and_write_nothing(tmp_path, capsys):
    """The script's ``main`` in this process (``python paper_study.py`` runs
    ``sys.exit(main())``): exit status 2, the message on stderr, nothing written."""
    script = _script()

    def status(*argv):
        with pytest.raises(SystemExit) as exc:
            script.main(list(argv))
        return exc.value.code

    target = tmp_path / "file.txt"
    target.write_text("keep")
    assert status("--quick", "--out", str(target)) == 2
    assert "--out must be a directory" in capsys.readouterr().err
    assert target.read_text() == "keep"
    assert status("--quick", "--jobs", "0", "--out", str(tmp_path / "x")) == 2
    assert "--jobs must be an integer in [1, 64], not 0" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_committed_results_regenerate_from_their_runs(tmp_path):
    """results/ptq*.csv, qat.csv and tables.md follow from the committed per-seed runs with the
    current table code (the log-domain rows need per-seed runs that are not stored)."""
    from logdot.study.sweep import (
        FULL,
        LOGACC_FRAC_BITS,
        aggregate,
        mean_std,
        ptq_table,
        qat_table,
    )
    from logdot.study.tables import PTQ_COLUMNS, QAT_COLUMNS, markdown, write_csv

    summary = json.loads((RESULTS / "summary.json").read_text())
    n_test = summary["test_images"]
    assert summary["mode"] == "full" and summary["seeds"] == list(FULL.seeds)

    def runs(name):
        with open(RESULTS / name, newline="") as fh:
            rows = list(csv.DictReader(fh))
        for r in rows:
            r["bits"], r["seed"] = int(r["bits"]), int(r["seed"])
            r["accuracy"] = round(float(r["accuracy"]) * n_test) / n_test  # correct / n_test
        return rows

    ptq, qat = runs("ptq_runs.csv"), runs("qat_runs.csv")
    tables = {
        "ptq.csv": (PTQ_COLUMNS, ptq_table(ptq, "calibrated")),
        "ptq_max.csv": (PTQ_COLUMNS, ptq_table(ptq, "max")),
        "qat.csv": (QAT_COLUMNS, qat_table(aggregate(qat, ("format", "bits")))),
        "ptq_runs.csv": (("rule", "scope", "format", "bits", "seed", "accuracy"), ptq),
        "qat_runs.csv": (("format", "bits", "seed", "accuracy"), qat),
    }
    for name, (columns, rows) in tables.items():
        write_csv(tmp_path / name, columns, rows)
        assert (tmp_path / name).read_bytes() == (RESULTS / name).read_bytes(), name

    with open(RESULTS / "logacc.csv", newline="") as fh:
        logacc = [
            dict(
                format=r["format"],
                frac_bits=int(r["frac_bits"]),
                bits=int(r["bits"]),
                seed=0,
                accuracy=float(r["accuracy_mean"]),
            )
            for r in csv.DictReader(fh)
        ]
    floats = [summary["float_accuracy"][str(s)] for s in FULL.seeds]
    md = markdown(ptq, logacc, qat, mean_std(floats), FULL, summary["train_images"], n_test)
    committed = (RESULTS / "tables.md").read_text().splitlines()
    regenerated = md.splitlines()
    assert len(regenerated) == len(committed)
    frac_rows = {f"| {f} |" for f in {*FULL.logacc_frac_sweep, LOGACC_FRAC_BITS}}
    for mine, theirs in zip(regenerated, committed, strict=True):
        if "log-domain accumulation (F=" in theirs or theirs.startswith(tuple(frac_rows)):
            continue  # mean ± std of per-seed log-domain runs (only their means are stored)
        assert mine == theirs
