"""Smoke test of examples/paper_study.py --quick: runs end to end, writes well-formed tables.

A cross-cutting suite (the study uses the whole package), so it stays at the top of tests/.

The quick mode (1 float seed, 2 QAT epochs) takes about 30 s on an idle 2-core machine; the
time is printed, not asserted (timings are for benchmarks, not tests).
"""

import csv
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "examples" / "paper_study.py"
SCOPES = ("activations", "weights", "both")
FORMATS = ("float", "linear", "log2", "logsqrt2")
PTQ_BITS = (3, 4, 5, 6, 8)


def run(*args, timeout=900):
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def read_csv(path):
    with open(path, newline="") as fh:
        rows = list(csv.reader(fh))
    return rows[0], rows[1:]


@pytest.fixture(scope="module")
def quick(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    t0 = time.perf_counter()
    proc = run("--quick", "--no-progress", "--out", str(out))
    print(f"paper_study.py --quick took {time.perf_counter() - t0:.1f} s")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, proc


def test_quick_writes_every_output(quick):
    out, proc = quick
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
    out, _ = quick
    header, rows = read_csv(out / name)
    assert header == ["scope", "format", "bits", "accuracy_mean", "accuracy_std"]
    keys = [(r[0], r[1], int(r[2])) for r in rows]
    assert keys == [(s, f, b) for s in SCOPES for f in FORMATS for b in PTQ_BITS]
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


def test_qat_table_structure(quick):
    out, _ = quick
    header, rows = read_csv(out / "qat.csv")
    assert header == ["format", "bits", "accuracy"]
    keys = [(r[0], int(r[1])) for r in rows]
    assert keys == [(f, b) for f in ("linear", "log2", "logsqrt2") for b in (3, 4, 5)]
    assert all(0.0 <= float(r[2]) <= 1.0 for r in rows)
    header, rows = read_csv(out / "logacc.csv")
    assert header == ["format", "frac_bits", "bits", "accuracy_mean", "accuracy_std"]
    assert [(r[0], int(r[1]), int(r[2])) for r in rows] == [
        (f, 8, b) for f in ("log2", "logsqrt2") for b in PTQ_BITS
    ]


def test_bad_arguments_exit_2_and_write_nothing(tmp_path):
    target = tmp_path / "file.txt"
    target.write_text("keep")
    proc = run("--quick", "--out", str(target), timeout=120)
    assert proc.returncode == 2
    assert "--out must be a directory" in proc.stderr
    assert target.read_text() == "keep"
    proc = run("--quick", "--jobs", "0", "--out", str(tmp_path / "x"), timeout=120)
    assert proc.returncode == 2
    assert "--jobs must be an integer in [1, 64], not 0" in proc.stderr
    assert not (tmp_path / "x").exists()
