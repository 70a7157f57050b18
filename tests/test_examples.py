"""Every script in examples/ runs in the test suite, so examples cannot rot."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
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
