"""Every script in examples/ runs in the test suite, so examples cannot rot.

A cross-cutting suite (the examples use the whole package), so it stays at the top of tests/;
examples/paper_study.py has a suite of its own (tests/test_paper_study.py).
"""

import re
import subprocess
import sys

from tests.support import ROOT

EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def run_example(name, *args, timeout=600):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", "--out", str(tmp_path))
    assert "log codes    [5, 11, 0, 7]" in out
    assert "engine result 8300 (integer) = 8.10546875 (real)" in out
    assert (tmp_path / "quickstart.v").read_text().count("module quickstart(") == 1
    assert (tmp_path / "quickstart.json").exists()


def test_every_example_is_run_by_a_test():
    """A new example without a test fails here: each script must be exercised by some test."""
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    sources += "\n".join(p.read_text() for p in (ROOT / "cocotb_tests").rglob("test_*.py"))
    missing = [name for name in EXAMPLES if not re.search(re.escape(name), sources)]
    assert EXAMPLES, "examples/ is empty"
    assert not missing, f"examples not run by any test: {missing}"


def run_demo(*args, timeout=900):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits_on_rtl.py"), "--no-progress", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_digits_on_rtl_reduced():
    """examples/digits_on_rtl.py on a few images (small engines): 0 mismatches, hardware
    accuracy = golden accuracy, the documented last line; with --inject-fault it must fail."""
    common = ["--images", "6", "--chunk", "3", "--layout", "9x2,8x2,8x1"]
    from logdot.tools.layer_sim import default_build_root

    build = default_build_root() / "tests" / "digits_reduced"
    common += ["--build-dir", str(build), "--backpressure", "0.2", "--idle", "0.1"]
    rc, out, err = run_demo(*common)
    assert rc == 0, out + err
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(
        r"mismatches: (\d+) hw_accuracy: ([0-9.]+) golden_accuracy: ([0-9.]+) images: (\d+)", last
    )
    assert m, last
    assert m.group(1) == "0" and m.group(2) == m.group(3) and m.group(4) == "6"
    for name in ("conv1", "conv2", "fc"):
        assert re.search(rf"^\s*{name}\s", out, re.MULTILINE), out
    rc, out, err = run_demo(*common, "--inject-fault")
    assert rc == 1, out + err
    assert out.strip().splitlines()[-1].startswith("mismatches: 1 "), out


def test_mnist_on_rtl_reduced(tmp_path):
    """examples/mnist_on_rtl.py (the ``make demo`` script) on the digits CNN with a small
    folding, 3 images in Icarus with idles and back-pressure: ``logdot compile`` runs, every
    output word matches the golden network, the documented last line."""
    args = ["--dataset", "digits", "--images", "3", "--sim", "icarus", "--chunk", "2"]
    args += ["--fold", "0=9x2,1=16x2,3=8x1", "--idle", "0.1", "--backpressure", "0.2"]
    out = run_example("mnist_on_rtl.py", *args, "--build-dir", str(tmp_path), timeout=900)
    assert "$ logdot compile --network " in out
    assert "fold 0=9x2, 1=16x2, 3=8x1" in out
    assert re.search(r"^RTL \(icarus\):\s+[0-9.]+$", out, re.MULTILINE), out
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(
        r"mismatches: (\d+) hw_accuracy: ([0-9.]+) golden_accuracy: ([0-9.]+) images: (\d+)", last
    )
    assert m, last
    assert m.group(1) == "0" and m.group(2) == m.group(3) and m.group(4) == "3"
    assert (tmp_path / "digits_net.v").exists() and (tmp_path / "digits_net.json").exists()


def test_mnist_on_rtl_argument_errors():
    """A bad option is one line on stderr naming the flag, exit 2, before any work."""
    for bad, flag in ((["--chunk", "0"], "--chunk"), (["--idle", "1.5"], "--idle")):
        proc = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "mnist_on_rtl.py"), *bad],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert proc.returncode == 2, proc.stdout + proc.stderr
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and flag in lines[0], proc.stderr
