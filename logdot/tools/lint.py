"""Lint helpers for generated Verilog: Verilator ``--lint-only -Wall`` and Icarus ``-Wall``.

:data:`LINT_WAIVERS` is the one place that lists the Verilator warnings logdot waives, each
with the reason. Everything else ``-Wall`` reports fails the check.
"""

from __future__ import annotations

import os
import subprocess

from logdot.tools import ToolNotFoundError, require_tool

__all__ = [
    "LINT_WAIVERS",
    "LintError",
    "ToolNotFoundError",
    "iverilog_check",
    "verilator_lint",
    "waiver_flags",
]

#: Verilator warnings waived for Amaranth-generated Verilog (and only these), with reasons.
LINT_WAIVERS = {
    "WIDTH": (
        "Amaranth's Verilog backend writes additions and assignments of exact-width operands "
        "without explicit extension (e.g. a 15-bit term added into a 17-bit sum); every width "
        "is exact by construction (golden.formats), the implicit extension is the intended one"
    ),
    "UNUSEDSIGNAL": (
        "the backend keeps named intermediate wires and whole ports of which only some bits "
        "are read (e.g. the zero padding of s_axis_tdata to whole bytes, the unread bits of a "
        "lane's struct payload)"
    ),
    "DECLFILENAME": (
        "submodules are emitted into NAME.v as modules named 'NAME.engine', 'NAME.engine.pe' "
        "... (one file, hierarchical names keep per-block synthesis reports)"
    ),
    "PROCASSINIT": (
        "the backend gives registers an initial value in their declaration (the reset value, "
        "for simulation and FPGA power-up) and also assigns them in an always block"
    ),
}


def waiver_flags(waivers=None):
    """Verilator command-line flags for the waivers: ``["-Wno-WIDTH", ...]``.

    Every Verilator build of generated Verilog uses these (and only these), through
    :func:`logdot.tools.verilator.build_args`, so lint and simulation builds agree on what
    is waived.
    """
    return [f"-Wno-{w}" for w in (LINT_WAIVERS if waivers is None else waivers)]


class LintError(AssertionError):
    """The linter reported a warning or error; the message holds its output."""


def _run(cmd, path):
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise ToolNotFoundError(f"{cmd[0]} not found") from None
    out = (proc.stdout + proc.stderr).strip()
    return proc.returncode, out


def verilator_lint(path, *, waivers=None):
    """Run ``verilator --lint-only -Wall`` with only :data:`LINT_WAIVERS` waived.

    Parameters
    ----------
    path : str or os.PathLike
        Verilog file.
    waivers : iterable of str, optional
        Warning names to waive; default: the keys of :data:`LINT_WAIVERS`.

    Returns
    -------
    str
        Verilator's (empty) output when clean.

    Raises
    ------
    LintError
        On any remaining warning or error (the message contains Verilator's output).
    ToolNotFoundError
        When Verilator is not installed (:func:`logdot.tools.require_tool`).
    """
    path = os.fspath(path)
    cmd = [require_tool("verilator"), "--lint-only", "-Wall", *waiver_flags(waivers)]
    cmd.append(path)
    rc, out = _run(cmd, path)
    if rc != 0 or "%Warning" in out or "%Error" in out:
        raise LintError(f"verilator --lint-only -Wall {path} (exit {rc}):\n{out}")
    return out


def iverilog_check(path):
    """Compile with ``iverilog -g2012 -Wall``; any output or a non-zero exit is a failure.

    Returns
    -------
    str
        Icarus' (empty) output when clean.

    Raises
    ------
    LintError
        On any warning or error.
    ToolNotFoundError
        When ``iverilog`` is not installed.
    """
    path = os.fspath(path)
    rc, out = _run([require_tool("iverilog"), "-g2012", "-Wall", "-o", os.devnull, path], path)
    if rc != 0 or out:
        raise LintError(f"iverilog -g2012 -Wall {path} (exit {rc}):\n{out}")
    return out
