"""Build and run the self-checking Verilog stream benches of :mod:`logdot.tools.layer_sim`,
:mod:`logdot.tools.network_sim` and :mod:`logdot.tools.network_soak` in Verilator or Icarus.

The one home of what those benches share: the simulators (:data:`SIMULATORS`), the bench's
Verilog pieces (the AXI4-Stream signals and the design instance, :func:`stream_dut`; the
xorshift32 generator, :data:`XORSHIFT`; the plusargs the ``initial`` block starts with,
:func:`initial_plusargs`; the output-side checks, :func:`output_checks`), the
clock around a bench (a Verilog clock module for Icarus, a C++ main for Verilator), the build
with its completion stamp (:func:`build_testbench`), the run with its ``LOGDOT_DONE`` /
``LOGDOT_ERROR`` protocol (:func:`run_testbench`) and the default build folder
(:func:`default_build_root`).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from logdot.tools import interrupt, require_tool
from logdot.tools import verilator as vl

__all__ = [
    "SIMULATORS",
    "STREAM_PLUSARGS",
    "XORSHIFT",
    "SimulationError",
    "build_testbench",
    "check_probabilities",
    "check_simulator",
    "default_build_root",
    "initial_plusargs",
    "output_checks",
    "plusargs",
    "run_testbench",
    "stream_dut",
]

SIMULATORS = ("verilator", "icarus")


def check_simulator(sim):
    """``sim`` if it is one of :data:`SIMULATORS`; else raises ``ValueError``."""
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be 'verilator' or 'icarus', not {sim!r}")
    return sim


def check_probabilities(**probabilities):
    """Raise ``ValueError`` naming the first keyword whose value is not in ``[0, 1)``."""
    for nm, v in probabilities.items():
        if not 0.0 <= v < 1.0:
            raise ValueError(f"{nm} must be in [0, 1), not {v!r}")


def plusargs(*specs):
    """Bench text, in the ``initial`` block: read plusargs, with defaults.

    Each spec is ``(plusarg, variable, default)``, e.g. ``("in=%s", "in_path", '"in.txt"')``:
    ``variable`` is set from ``+in=...`` on the simulator's command line, else to ``default``
    (Verilog text).
    """
    return "".join(
        f'    if (!$value$plusargs("{arg}", {var})) {var} = {default};\n'
        for arg, var, default in specs
    )


#: The plusargs every bench reads: the seed of the idle / back-pressure generators, idle
#: cycles and ``tready`` low per 1000, and the cycles without a transfer that end the run.
STREAM_PLUSARGS = plusargs(
    ("seed=%d", "seed", "1"),
    ("idle=%d", "idle_pm", "0"),
    ("bp=%d", "bp_pm", "0"),
    ("timeout=%d", "timeout", "1000"),
)


def initial_plusargs(*specs):
    """Bench text: the start of the ``initial`` block, reading the bench's own plusargs
    ``specs`` (as :func:`plusargs`), then :data:`STREAM_PLUSARGS` (read by every bench)."""
    return "  initial begin\n" + plusargs(*specs) + STREAM_PLUSARGS


def stream_dut(extra_outputs=()):
    """Bench template text: the ``s_axis`` / ``m_axis`` signals and the design instance ``dut``.

    The text has the format fields ``{name}`` (the design's module), ``{in_w}`` and
    ``{out_w}`` (the ``tdata`` widths); ``extra_outputs`` are the names of one-bit outputs of
    the design beyond the two streams (declared as wires of the same name and connected).
    """
    wires = "".join(f"  wire {n};\n" for n in extra_outputs)
    conns = "".join(f",\n    .{n}({n})" for n in extra_outputs)
    return (
        "  reg s_axis_tvalid = 1'b0;\n"
        "  wire s_axis_tready;\n"
        "  reg s_axis_tlast = 1'b0;\n"
        "  reg [{in_w}-1:0] s_axis_tdata = {in_w}'d0;\n"
        "  wire m_axis_tvalid;\n"
        "  reg m_axis_tready = 1'b0;\n"
        "  wire m_axis_tlast;\n"
        "  wire [{out_w}-1:0] m_axis_tdata;\n"
        f"{wires}\n"
        "  {name} dut (\n"
        "    .clk(clk), .rst(rst),\n"
        "    .s_axis_tvalid(s_axis_tvalid), .s_axis_tready(s_axis_tready),\n"
        "    .s_axis_tlast(s_axis_tlast), .s_axis_tdata(s_axis_tdata),\n"
        "    .m_axis_tvalid(m_axis_tvalid), .m_axis_tready(m_axis_tready),\n"
        f"    .m_axis_tlast(m_axis_tlast), .m_axis_tdata(m_axis_tdata){conns});\n"
    )


#: The benches' pseudo-random generator (the same sequence on both simulators).
XORSHIFT = """\
  function [31:0] step(input [31:0] x);  // xorshift32
    reg [31:0] y;
    begin
      y = x ^ (x << 13);
      y = y ^ (y >> 17);
      step = y ^ (y << 5);
    end
  endfunction
"""


def output_checks(on_transfer, on_error):
    """Bench text, inside the clocked block: the ``m_axis`` side checks of every cycle.

    At a transfer the Verilog statements ``on_transfer`` run; ``tdata`` changing or
    ``tvalid`` dropping under back-pressure and an ``X`` on ``tdata`` while valid each print
    a ``LOGDOT_ERROR`` line and run ``on_error``. Uses the bench's ``stalled`` and
    ``stalled_data`` registers and its ``cycle`` counter.
    """
    return (
        "      if (m_axis_tvalid && m_axis_tready) begin\n"
        f"{on_transfer}"
        "        stalled = 1'b0;\n"
        "      end else if (m_axis_tvalid) begin\n"
        "        if (stalled && m_axis_tdata !== stalled_data) begin\n"
        '          $display("LOGDOT_ERROR m_axis_tdata changed under back-pressure at cycle %0d",'
        " cycle);\n"
        f"          {on_error}\n"
        "        end\n"
        "        stalled = 1'b1;\n"
        "        stalled_data = m_axis_tdata;\n"
        "      end else begin\n"
        "        if (stalled) begin\n"
        '          $display("LOGDOT_ERROR m_axis_tvalid dropped under back-pressure at cycle %0d",'
        " cycle);\n"
        f"          {on_error}\n"
        "        end\n"
        "        stalled = 1'b0;\n"
        "      end\n"
        "      if (m_axis_tvalid && ^m_axis_tdata === 1'bx) begin\n"
        '        $display("LOGDOT_ERROR m_axis_tdata is %b while valid at cycle %0d",'
        " m_axis_tdata, cycle);\n"
        f"        {on_error}\n"
        "      end\n"
    )


# Icarus: a clock generator around the test bench (Verilator: the C++ main below).
_ICARUS_CLOCK = """\
`timescale 1ns/1ps
module tb_{name}_clock;
  reg clk = 1'b0;
  always #5 clk = ~clk;
  tb_{name} bench (.clk(clk));
endmodule
"""

_VERILATOR_MAIN = """\
// Clock for the Verilator build of tb_{name} (generated by logdot.tools.bench).
#include "Vtb_{name}.h"
#include "verilated.h"

int main(int argc, char** argv) {{
    VerilatedContext* context = new VerilatedContext;
    context->commandArgs(argc, argv);
#if VM_TRACE
    context->traceEverOn(true);  // for the test bench's $dumpvars (waves=True)
#endif
    Vtb_{name}* top = new Vtb_{name}{{context}};
    top->clk = 0;
    top->eval();
    while (!context->gotFinish()) {{
        context->timeInc(5);
        top->clk = !top->clk;
        top->eval();
    }}
    top->final();
    delete top;
    delete context;
    return 0;
}}
"""


#: Verilator runtime objects, identical for every build with the same flags: compiled once
#: and reused (they take about 7 CPU seconds per build otherwise).
_RUNTIME_OBJECTS = ("verilated.o", "verilated.d", "verilated_threads.o", "verilated_threads.d")


def _runtime_cache_dir(verilator, mdir, prefix):
    """Cache folder of the runtime objects for this Verilator and these build flags."""
    try:
        flags = [
            ln
            for ln in (mdir / f"{prefix}_classes.mk").read_text().splitlines()
            if ln.startswith("VM_") and "+=" not in ln
        ]
    except OSError:
        return None
    return vl.runtime_cache_dir(default_build_root() / ".verilator_runtime", verilator, flags)


class SimulationError(RuntimeError):
    """The simulator failed to build or run, or the test bench reported an error."""


def build_testbench(build_dir, name, sources, *, sim, jobs=2, waves=False):
    """Compile a design and its test bench ``tb_NAME`` for ``sim``.

    The build is skipped when the completion stamp of an earlier build (written last) matches
    the sources and options; otherwise the old simulator products are deleted first, so an
    interrupted build is never trusted. Every tool runs through :func:`logdot.tools.interrupt.run`.

    Parameters
    ----------
    build_dir : path-like
        Folder holding ``sources``; the simulator products go there.
    name : str
        The design's module name (the bench is ``tb_NAME``).
    sources : list of pathlib.Path
        The design's Verilog and its bench (the clock or C++ main is added here).
    sim : {"verilator", "icarus"}
        Simulator.
    jobs : int
        Parallel C++ compile jobs (Verilator).
    waves : bool
        Build with VCD tracing (Verilator ``--trace``).

    Returns
    -------
    (pathlib.Path, bool)
        The executable (``obj_dir/Vtb_NAME`` or ``NAME.vvp``) and whether an earlier build was
        reused.
    """
    d = Path(build_dir)
    sources = list(sources)
    if sim == "verilator":
        extra = d / f"tb_{name}_main.cpp"
        extra.write_text(_VERILATOR_MAIN.format(name=name))
        exe = d / "obj_dir" / f"Vtb_{name}"
    else:
        extra = d / f"tb_{name}_clock.v"
        extra.write_text(_ICARUS_CLOCK.format(name=name))
        exe = d / f"{name}.vvp"
    sources.append(extra)
    stamp = d / f".{sim}.sources"
    signature = "\n".join([f"waves={waves}", *(p.read_text() for p in sources)])
    reused = exe.exists() and stamp.exists() and stamp.read_text() == signature
    if not reused:
        # Not a complete build of these sources: never build on top of its leftovers.
        stamp.unlink(missing_ok=True)
        if sim == "verilator":
            shutil.rmtree(d / "obj_dir", ignore_errors=True)
            _build_verilator(d, name, [str(p) for p in sources], jobs=jobs, waves=waves)
        else:
            exe.unlink(missing_ok=True)
            _build_icarus(name, [str(p) for p in sources], exe)
        interrupt.check()  # an interrupt swallowed during the build: no stamp
        stamp.write_text(signature)
    return exe, reused


def run_testbench(sim, exe, args, log):
    """Run a bench built by :func:`build_testbench` with its plusargs ``args``; the output goes
    to ``log``. Returns ``(stats, seconds)``: the ``LOGDOT_DONE`` line's ``key=value`` fields
    as strings, and the wall time. Raises :class:`SimulationError` when the bench fails or
    reports a ``LOGDOT_ERROR``."""
    cmd = [str(exe), *args] if sim == "verilator" else [require_tool("vvp"), "-n", str(exe), *args]
    t0 = time.monotonic()
    proc = interrupt.run(cmd, capture_output=True, text=True)
    seconds = time.monotonic() - t0
    text = proc.stdout + proc.stderr
    Path(log).write_text(text)
    done = [ln for ln in text.splitlines() if ln.startswith("LOGDOT_DONE")]
    errors = [ln for ln in text.splitlines() if "LOGDOT_ERROR" in ln]
    if proc.returncode != 0 or not done or errors:
        tail = "\n".join(text.strip().splitlines()[-20:])
        raise SimulationError(f"{sim} run failed (exit {proc.returncode}):\n{tail}")
    return dict(kv.split("=") for kv in done[-1].split()[1:]), seconds


def _build_verilator(build_dir, name, sources, *, jobs, waves):
    exe = vl.verilator()
    mdir = Path(build_dir) / "obj_dir"
    prefix = f"Vtb_{name}"
    cmd = [
        exe,
        "--cc",
        "--exe",
        "-Wno-fatal",
        *vl.build_args(),
        "--top-module",
        f"tb_{name}",
        "--prefix",
        prefix,
        "-O3",
        "--x-assign",
        "fast",
        *(["--trace"] if waves else []),
        "--Mdir",
        str(mdir),
        *sources,
    ]
    _check(interrupt.run(cmd, capture_output=True, text=True), cmd)
    cache = _runtime_cache_dir(exe, mdir, prefix)
    if cache is not None:
        vl.restore_runtime(cache, mdir, _RUNTIME_OBJECTS)
    make = [
        require_tool("make"),
        "-s",
        "-C",
        str(mdir),
        "-f",
        f"{prefix}.mk",
        f"-j{jobs}",
        "OPT_FAST=-O1",
        "OPT_SLOW=-O0",
        "OPT_GLOBAL=-O1",
    ]
    _check(interrupt.run(make, capture_output=True, text=True), make)
    if cache is not None:
        vl.store_runtime(cache, mdir, _RUNTIME_OBJECTS)


def _build_icarus(name, sources, exe):
    top = f"tb_{name}_clock"
    cmd = [require_tool("iverilog"), "-g2012", "-o", str(exe), "-s", top, *sources]
    _check(interrupt.run(cmd, capture_output=True, text=True), cmd)


def _check(proc, cmd):
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip().splitlines()
        raise SimulationError(
            f"{' '.join(cmd[:2])} ... failed (exit {proc.returncode}):\n" + "\n".join(out[-30:])
        )


def default_build_root():
    """``$LOGDOT_BUILD/layer``, else ``sim_build/layer`` below the current directory (never a
    path inside the installed package)."""
    env = os.environ.get("LOGDOT_BUILD")
    return (Path(env) if env else Path.cwd() / "sim_build") / "layer"
