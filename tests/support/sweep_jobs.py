"""Toy job functions for the sweep tests (importable by worker processes)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["square"]


def square(x, log=None, fail=False):
    """``{"y": x * x}``; appends ``x`` to the file ``log`` (counts calls); raises if ``fail``."""
    if log is not None:
        with open(log, "a") as f:
            f.write(f"{x}\n")
    if fail:
        raise RuntimeError(f"point {x} failed")
    return {"y": x * x}


def calls(log):
    """The ``x`` of every call logged in ``log``."""
    p = Path(log)
    return [int(v) for v in p.read_text().split()] if p.exists() else []
