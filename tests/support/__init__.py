"""Helpers shared by the test suites (and cocotb_tests/): stream drivers, stimulus,
configurations, mutants, seeds. Not tests: nothing here is collected."""

import importlib.util
from pathlib import Path

__all__ = ["ROOT", "load_script"]

#: The repository root (examples/, the scripts the tests run, live there).
ROOT = Path(__file__).resolve().parents[2]


def load_script(path, name=None):
    """Import a script of the repository that is not a package module (``examples/...``,
    ``benchmarks/...``) from ``ROOT / path``, as module ``name`` (default: its stem)."""
    path = ROOT / path
    spec = importlib.util.spec_from_file_location(name or path.stem, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
