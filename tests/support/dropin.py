"""A generated design dropped into a user's project: the user's own Verilog beside ``NAME.v``.

Two checks of the generators' promise that ``NAME.v`` needs no global tool flag:

- :func:`verilator_with_user_file`: ``verilator --lint-only -Wall NAME.vlt NAME.v user.v``
  with the shipped ``NAME.vlt``, where ``user.v`` wraps the design and has a width bug of its
  own; returns the warnings by file, so a test asserts that ``NAME.v`` has none and that the
  user's WIDTH warning is still reported;
- :func:`icarus_with_timescaled_testbench`: ``iverilog -g2012 -Wall tb.v NAME.v`` with a
  testbench that starts with ```timescale 1ns/1ps`` (compiled first, as users do); returns
  Icarus' output.

Both build the user's Verilog from the manifest's port list.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from logdot.tools import require_tool

__all__ = ["icarus_with_timescaled_testbench", "user_wrapper", "verilator_with_user_file"]

_WARNING = re.compile(r"^%(?:Warning|Error)(?:-(\w+))?: ([^:\s]+):(\d+):", re.MULTILINE)


def _ports(vpath):
    manifest = json.loads(Path(vpath).with_suffix(".json").read_text())
    return manifest["name"], manifest["ports"]


def _decl(kind, port):
    w = port["width"]
    return f"  {kind} {f'[{w - 1}:0] ' if w > 1 else ''}{port['name']};"


def user_wrapper(vpath, *, module="user_top", timescale=True):
    """Verilog of a user module instantiating the design of ``vpath``, with one width bug.

    Every design input is a port of the wrapper; the design's outputs are XOR-reduced into
    ``ok``; ``narrow = wide + 1`` assigns 8 bits to 4 (the width bug: Verilator reports
    ``WIDTHTRUNC`` on the returned line number).

    Returns
    -------
    (str, int)
        The text and the line of the width bug.
    """
    name, ports = _ports(vpath)
    ins = [p for p in ports if p["direction"] == "input"]
    outs = [p for p in ports if p["direction"] == "output"]
    lines = ["`timescale 1ns/1ps"] if timescale else []
    heads = [p["name"] for p in ins] + ["wide", "narrow", "ok"]
    lines.append(f"module {module}({', '.join(heads)});")
    lines += [_decl("input", p) for p in ins]
    lines += ["  input [7:0] wide;", "  output [3:0] narrow;", "  output ok;"]
    lines += [_decl("wire", p) for p in outs]
    conns = ", ".join(f".{p['name']}({p['name']})" for p in ports)
    lines.append(f"  {name} dut({conns});")
    reduced = " ^ ".join(f"(^{p['name']})" for p in outs)
    lines.append(f"  assign ok = {reduced};")
    lines.append("  assign narrow = wide + 8'd1;")
    bug_line = len(lines)
    lines.append("endmodule")
    return "\n".join(lines) + "\n", bug_line


def verilator_with_user_file(vpath, tmp_path):
    """Lint ``NAME.vlt NAME.v user.v`` with ``-Wall`` and no other flag, in ``NAME.v``'s folder.

    Returns
    -------
    (dict, int, str)
        ``{file name: [(rule, line), ...]}`` of every warning, the line of the user's width
        bug, and Verilator's whole output.
    """
    vpath = Path(vpath)
    text, bug_line = user_wrapper(vpath)
    user = Path(tmp_path) / "user.v"
    user.write_text(text)
    cmd = [require_tool("verilator"), "--lint-only", "-Wall", vpath.with_suffix(".vlt").name]
    cmd += [vpath.name, str(user)]
    p = subprocess.run(cmd, cwd=vpath.parent, capture_output=True, text=True, check=False)
    out = p.stdout + p.stderr
    found = {}
    for rule, path, line in _WARNING.findall(out):
        found.setdefault(Path(path).name, []).append((rule, int(line)))
    return found, bug_line, out


def icarus_with_timescaled_testbench(vpath, tmp_path):
    """Output of ``iverilog -g2012 -Wall tb.v NAME.v`` (the testbench has a ```timescale``)."""
    name, ports = _ports(vpath)
    lines = ["`timescale 1ns/1ps", "module tb;"]
    for p in ports:
        w = p["width"]
        kind = "reg" if p["direction"] == "input" else "wire"
        init = " = 0" if kind == "reg" else ""
        lines.append(f"  {kind} {f'[{w - 1}:0] ' if w > 1 else ''}{p['name']}{init};")
    conns = ", ".join(f".{p['name']}({p['name']})" for p in ports)
    lines.append(f"  {name} dut({conns});")
    lines += ["  always #5 clk = ~clk;", "  initial #100 $finish;", "endmodule"]
    tb = Path(tmp_path) / "tb.v"
    tb.write_text("\n".join(lines) + "\n")
    cmd = [require_tool("iverilog"), "-g2012", "-Wall", "-o", str(Path(tmp_path) / "tb.vvp")]
    p = subprocess.run([*cmd, str(tb), str(vpath)], capture_output=True, text=True, check=False)
    assert p.returncode == 0, p.stdout + p.stderr
    return (p.stdout + p.stderr).strip()
