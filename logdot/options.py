"""Option groups and errors shared by the ``logdot`` subcommands (one layer below the CLI).

A subcommand module (:mod:`logdot.commands`) adds its options with these groups and raises
:class:`CliError` for bad input; :mod:`logdot.cli` turns it into the one-line error and exit
code 2. Nothing here imports :mod:`logdot.cli`, Amaranth or torch.
"""

from __future__ import annotations

import argparse

from logdot.generators.common import check_name
from logdot.golden.formats import LIMITS, EngineConfig

__all__ = [
    "ENGINE_FLAGS",
    "CliError",
    "add_engine_arguments",
    "add_output_arguments",
    "add_pipeline_arguments",
    "check_name_arg",
    "engine_config_from_args",
    "name_flag",
    "write_error",
]


class CliError(Exception):
    """An error to report as ``logdot: error: <message>`` with exit code 2."""


def _flag(param):
    # act_signed is the one parameter whose flag inverts it (signed is the default).
    return "--act-unsigned" if param == "act_signed" else "--" + param.replace("_", "-")


#: EngineConfig parameter -> CLI flag (error messages name the flag the user typed).
ENGINE_FLAGS = {param: _flag(param) for param in EngineConfig.parameter_names()}


def _span(key):
    return "..".join(map(str, LIMITS[key]))


def add_engine_arguments(parser):
    """Add the engine parameters (one flag per :class:`~logdot.golden.formats.EngineConfig` field).

    Used by every subcommand that builds an engine (``generate``, ``synth``);
    :func:`engine_config_from_args` turns the parsed flags into the config.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
    g = parser.add_argument_group("engine parameters")
    g.add_argument(
        "--lanes",
        type=int,
        required=True,
        metavar="N",
        help=f"products per beat ({_span('lanes')})",
    )
    g.add_argument(
        "--act-bits",
        type=int,
        required=True,
        metavar="A",
        help="activation width in bits, sign included "
        f"(linear {_span('act_bits_linear')}, log {_span('act_bits_log')})",
    )
    g.add_argument(
        "--weight-bits",
        type=int,
        required=True,
        metavar="W",
        help=f"weight width: sign bit + W-1 bit log code ({_span('weight_bits')})",
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
    """Add the pipeline flags (``--register-terms``, ``--register-every``/``--pipeline``).

    Shared by every generator subcommand.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    """
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


def add_output_arguments(parser, *, default_name, name_help):
    """Add the output group of a generator subcommand: ``--name``, ``--out``, ``--force``,
    ``--axi-names``, ``--quiet``.

    Parameters
    ----------
    parser : argparse.ArgumentParser
        The subcommand's parser.
    default_name : str
        Default top module name.
    name_help : str
        Help text of ``--name``.
    """
    o = parser.add_argument_group("output")
    o.add_argument("--name", default=default_name, help=name_help)
    o.add_argument(
        "--out", required=True, metavar="DIR", help="output directory (created if missing)"
    )
    o.add_argument(
        "--force", action="store_true", help="overwrite existing NAME.v / NAME.json / NAME.vlt"
    )
    o.add_argument(
        "--axi-names",
        action="store_true",
        help="name the clock and reset ports aclk and aresetn (synchronous, active low; "
        "Vivado's IP integrator associates them with the streams) instead of clk and rst "
        "(synchronous, active high)",
    )
    o.add_argument(
        "--quiet",
        action="store_true",
        help="no note on stderr before a long conversion (256 lanes or more: about a minute "
        "per 1000 lanes)",
    )


def name_flag(message, flags=None):
    """Prefix a configuration error that starts with a parameter name with its flag.

    Parameters
    ----------
    message : str
        The error message, e.g. ``"lanes must be an integer in [1, 1024], not 0"``.
    flags : dict, optional
        Parameter -> flag; default :data:`ENGINE_FLAGS`.

    Returns
    -------
    str
        ``"--lanes: lanes must be ..."``, or ``message`` unchanged.
    """
    for param, flag in (ENGINE_FLAGS if flags is None else flags).items():
        if message.startswith(param + " "):
            return f"{flag}: {message}"
    return message


def engine_config_from_args(args):
    """Build the :class:`~logdot.golden.formats.EngineConfig` from parsed engine flags.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed flags of :func:`add_engine_arguments`.

    Returns
    -------
    EngineConfig

    Raises
    ------
    CliError
        With the configuration's message, naming the flag.
    """
    values = {
        param: (not args.act_unsigned) if param == "act_signed" else getattr(args, param)
        for param in EngineConfig.parameter_names()
    }
    try:
        return EngineConfig(**values)
    except (TypeError, ValueError) as exc:
        raise CliError(name_flag(str(exc))) from None


def check_name_arg(name):
    """Validate ``--name`` (:func:`logdot.generators.common.check_name`).

    Raises :class:`CliError` ``"--name: ..."``; returns ``name``.
    """
    try:
        return check_name(name)
    except (TypeError, ValueError) as exc:
        raise CliError(f"--name: {exc}") from None


def write_error(exc, out):
    """The :class:`CliError` for an :class:`OSError` raised while writing to ``out``.

    A generator's own "exists" refusal names ``--force``; an error of the operating system
    names the path it failed on.
    """
    if isinstance(exc, FileExistsError) and exc.filename is None:  # the generator's own check
        return CliError(str(exc).replace("use force=True (--force)", "use --force"))
    what = exc.filename or out
    return CliError(f"cannot write to {what}: {exc.strerror or exc}")


def plural(n, noun):
    """``"1 beat"``, ``"2 beats"``: ``n`` and ``noun``, with an ``s`` unless ``n`` is 1."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
