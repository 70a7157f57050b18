"""``logdot generate``: write an engine's Verilog and manifest."""

from __future__ import annotations

import sys

from logdot.options import (
    CliError,
    add_engine_arguments,
    add_output_arguments,
    check_name_arg,
    engine_config_from_args,
    write_error,
)

__all__ = ["DESCRIPTION", "add_arguments", "run"]

DESCRIPTION = """\
Write DIR/NAME.v (the engine's Verilog, an AXI4-Stream top module), DIR/NAME.json (its
manifest: parameters, widths, bit layout, latency, tool versions) and DIR/NAME.vlt (Verilator
lint waivers for NAME.v only: verilator --lint-only -Wall NAME.vlt NAME.v is clean), DIR/NAME.core
(FuseSoC: targets lint, sim, synth, synth_ecp5), DIR/NAME_tb.v (its self-checking test bench,
golden vectors) and DIR/NAME.xml (IP-XACT for Vivado's IP integrator).
Activation lane i is at s_axis_tdata[i*A +: A], weight lane i at [N*A + i*W +: W] (sign in its
top bit); s_axis_tlast marks the last beat of a dot product; m_axis_tdata is the result,
sign-extended to whole bytes; m_axis_tlast is 1 on every result (one result per packet).
Nothing is written on error; existing files are kept unless --force.
"""


def add_arguments(parser):
    """Add the options of ``logdot generate`` to ``parser``."""
    add_engine_arguments(parser)
    add_output_arguments(
        parser,
        default_name="logdot",
        name_help="top module name and file stem: a Verilog identifier (default: logdot)",
    )


def run(args):
    """Write the engine of the parsed ``args``; return the exit code (raises :class:`CliError`)."""
    config = engine_config_from_args(args)
    check_name_arg(args.name)
    from amaranth.back.verilog import YosysError

    from logdot.generators.common import conversion_notice, project_summary
    from logdot.generators.engine import write
    from logdot.hdl.engine import engine_latency

    notice = (
        None if args.quiet else conversion_notice(config.lanes, f"a {config.lanes}-lane engine")
    )
    try:
        vpath, jpath = write(
            config,
            args.out,
            name=args.name,
            force=args.force,
            axi_names=args.axi_names,
            before_convert=notice and (lambda: print(notice, file=sys.stderr, flush=True)),
        )
    except YosysError as exc:
        raise CliError(f"Amaranth's Verilog backend (Yosys) failed: {exc}") from None
    except OSError as exc:
        raise write_error(exc, args.out) from None
    print(
        f"wrote {vpath}, {jpath} and {vpath[:-2]}.vlt: {config.lanes} lanes, latency "
        f"{engine_latency(config)} cycles, s_axis_tdata {8 * config.in_bytes} bits, m_axis_tdata "
        f"{8 * config.out_bytes} bits ({config.result_bits}-bit result); {project_summary(vpath)}"
    )
    return 0
