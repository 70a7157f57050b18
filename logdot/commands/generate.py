"""``logdot generate``: write an engine's Verilog and manifest."""

from __future__ import annotations

from logdot.options import (
    CliError,
    add_engine_arguments,
    add_output_arguments,
    check_name_arg,
    engine_config_from_args,
    run_generator,
)

__all__ = ["DESCRIPTION", "add_arguments", "const_weights_from_args", "run"]

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
With --const-weights FILE the weights are compiled to wiring: s_axis_tdata carries only the
N activations (lane i at [i*A +: A]) and the engine is an adder tree sized for the constants.
"""


def add_arguments(parser):
    """Add the options of ``logdot generate`` to ``parser``."""
    add_engine_arguments(parser)
    add_output_arguments(
        parser,
        default_name="logdot",
        name_help="top module name and file stem: a Verilog identifier (default: logdot)",
    )
    c = parser.add_argument_group("constant weights")
    c.add_argument(
        "--const-weights",
        metavar="FILE",
        help='JSON {"weights": [...]}: the N raw W-bit weight fields (sign in the top bit, '
        "code below), compiled to wiring; s_axis_tdata then carries only the activations "
        "(linear activations only)",
    )


def const_weights_from_args(args, config):
    """The :class:`~logdot.golden.const.ConstWeights` of ``--const-weights``, or ``None``.

    Raises
    ------
    CliError
        One line naming ``--const-weights`` and the file for an unreadable or malformed file,
        a wrong number of weights, a field out of range or log activations.
    """
    path = getattr(args, "const_weights", None)
    if path is None:
        return None
    from logdot.golden.const import ConstWeights, read_weights_file

    where = f"--const-weights {path}"
    try:
        weights = read_weights_file(path)
    except OSError as exc:
        raise CliError(f"{where}: cannot read the file: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise CliError(f"{where}: {exc}") from None
    if config.act_format != "linear":
        raise CliError(f"{where} needs --act-format linear, not --act-format {config.act_format}")
    if config.weight_terms != 1:
        raise CliError(f"{where} needs --weight-terms 1, not --weight-terms {config.weight_terms}")
    if len(weights) != config.lanes:
        raise CliError(
            f'{where}: "weights" must have {config.lanes} entries (--lanes {config.lanes}), '
            f"not {len(weights)}"
        )
    hi = (1 << config.weight_bits) - 1
    for i, w in enumerate(weights):
        if not 0 <= w <= hi:
            raise CliError(
                f'{where}: "weights"[{i}] must be a raw {config.weight_bits}-bit field in '
                f"[0, {hi}] (--weight-bits {config.weight_bits}; sign in the top bit), not {w}"
            )
    return ConstWeights(config, weights)


def run(args):
    """Write the engine of the parsed ``args``; return the exit code (raises :class:`CliError`)."""
    config = engine_config_from_args(args)
    const = const_weights_from_args(args, config)
    check_name_arg(args.name)
    from logdot.generators.common import project_summary

    if const is not None:
        return _run_const(args, const)
    from logdot.generators.engine import write
    from logdot.hdl.engine import engine_latency

    what = f"a {config.lanes}-lane engine"
    vpath, jpath = run_generator(write, config, args, lanes=config.lanes, what=what)
    print(
        f"wrote {vpath}, {jpath} and {vpath[:-2]}.vlt: {config.lanes} lanes, latency "
        f"{engine_latency(config)} cycles, s_axis_tdata {8 * config.in_bytes} bits, m_axis_tdata "
        f"{8 * config.out_bytes} bits ({config.result_bits}-bit result); {project_summary(vpath)}"
    )
    return 0


def _run_const(args, const):
    """``run`` for ``--const-weights``: write the constant-weight engine."""
    from logdot.generators.common import project_summary
    from logdot.generators.const import write
    from logdot.hdl.const import const_engine_latency

    cfg = const.config
    what = f"a {cfg.lanes}-lane engine"
    vpath, jpath = run_generator(write, const, args, lanes=cfg.lanes, what=what)
    zero = len(const.zero_lanes)
    print(
        f"wrote {vpath}, {jpath} and {vpath[:-2]}.vlt: {cfg.lanes} lanes with constant weights "
        f"({cfg.lanes - zero} used, {zero} zero), latency {const_engine_latency(const)} cycles, "
        f"s_axis_tdata {8 * const.in_bytes} bits (activations only), m_axis_tdata "
        f"{8 * const.out_bytes} bits ({cfg.result_bits}-bit result); {project_summary(vpath)}"
    )
    return 0
