"""Helpers shared by the test suites (and cocotb_tests/): stream drivers, stimulus,
configurations, mutants, seeds. Not tests: nothing here is collected."""

from pathlib import Path

__all__ = ["ROOT"]

#: The repository root (examples/, the scripts the tests run, live there).
ROOT = Path(__file__).resolve().parents[2]
