"""Option groups and errors shared by the ``logdot`` subcommands (one layer below the CLI).

A subcommand module (:mod:`logdot.commands`) adds its options with these groups and raises
:class:`CliError` for bad input; :mod:`logdot.cli` turns it into the one-line error and exit
code 2. Nothing here imports :mod:`logdot.cli`, Amaranth or torch.
"""

from __future__ import annotations

import argparse
import re
import sys

from logdot.generators.common import check_name
from logdot.golden.formats import (
    ACCUMULATE_MODES,
    LIMITS,
    WEIGHT_TERMS,
    EngineConfig,
    sqrt2_constant,
)

__all__ = [
    "ENGINE_FLAGS",
    "SQRT2_MIN_FRAC_BITS",
    "CliError",
    "add_engine_arguments",
    "add_output_arguments",
    "add_pipeline_arguments",
    "arg_values",
    "check_name_arg",
    "engine_config_from_args",
    "max_width",
    "name_flag",
    "run_generator",
    "typed_flags",
    "warn",
    "write_error",
]


class CliError(Exception):
    """An error to report as ``logdot: error: <message>`` with exit code 2."""


def _flag(param):
    # act_signed is the one parameter whose flag inverts it (signed is the default).
    return "--act-unsigned" if param == "act_signed" else "--" + param.replace("_", "-")


#: EngineConfig parameter -> CLI flag (error messages name the flag the user typed).
ENGINE_FLAGS = {param: _flag(param) for param in EngineConfig.parameter_names()}


def _meaningful_sqrt2_frac_bits(frac_bits):
    # R / 2**F must lie strictly between 1 and 2: with R == 2**F (F = 0: R = 1) the weight
    # sqrt(2)**(c - 1) of an odd code becomes a power of two and base sqrt2 collapses to 2.
    r = sqrt2_constant(frac_bits)
    return 1 << frac_bits < r < 2 << frac_bits


#: Smallest ``--frac-bits`` the CLI accepts with ``--weight-base sqrt2``: the first F whose
#: constant ``R = round(sqrt(2) * 2**F)`` (:func:`~logdot.golden.formats.sqrt2_constant`) is
#: neither ``2**F`` nor ``2**(F + 1)`` (F = 0 gives R = 1: sqrt(2) would become 1).
SQRT2_MIN_FRAC_BITS = next(
    f
    for f in range(LIMITS["frac_bits"][0], LIMITS["frac_bits"][1] + 1)
    if _meaningful_sqrt2_frac_bits(f)
)


def max_width(param, *, act_format="linear", act_signed=True, weight_base=2):
    """Widest ``act_bits`` or ``weight_bits`` that any engine with these formats accepts.

    :data:`~logdot.golden.formats.LIMITS` bounds each width alone; the accumulator (at most
    ``LIMITS["acc_bits"][1]`` bits) bounds them together. This tries the most permissive
    rest of the configuration (1 lane, 1 beat, the other width 2, the fewest fraction bits
    the CLI accepts): a wider value is refused by every configuration.

    Parameters
    ----------
    param : {"act_bits", "weight_bits"}
        The width.
    act_format : {"linear", "log"}
        Activation format.
    act_signed : bool
        Signed activations.
    weight_base : {2, "sqrt2"}
        Weight base.

    Returns
    -------
    int or None
        The widest accepted value, ``None`` if even the narrowest is refused.
    """
    other = {"act_bits": "weight_bits", "weight_bits": "act_bits"}[param]
    key = param if param == "weight_bits" else f"act_bits_{act_format}"
    lo, hi = LIMITS[key]
    fixed = dict(
        lanes=1,
        max_beats=1,
        act_format=act_format,
        act_signed=act_signed,
        weight_base=weight_base,
        frac_bits=None if str(weight_base) == "2" else SQRT2_MIN_FRAC_BITS,
    )
    for value in range(hi, lo - 1, -1):
        try:
            EngineConfig(**fixed, **{param: value, other: 2})
        except ValueError:
            continue
        return value
    return None


def _widest(param, act_format):
    """The widest ``param`` over every signedness and weight base (for the help text)."""
    return max(
        max_width(param, act_format=fmt, act_signed=signed, weight_base=base) or 0
        for fmt in ((act_format,) if act_format else ("linear", "log"))
        for signed in (True, False)
        for base in (2, "sqrt2")
    )


def arg_values(args, *names):
    """The parsed values of the options ``names`` (their ``dest``s) as keyword arguments.

    Parameters
    ----------
    args : argparse.Namespace
        The parsed command line.
    *names : str
        Option destinations that a job or model takes under the same names.

    Returns
    -------
    dict
        ``{name: getattr(args, name)}`` in the order of ``names``.
    """
    return {name: getattr(args, name) for name in names}


class _TypedFlag(argparse.Action):
    """Store a value and remember which of the option's spellings was typed.

    ``namespace._typed[dest]`` is the spelling (``--pipeline`` or ``--register-every``), so
    that an error about the value names the flag as the user typed it.
    """

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        typed = dict(getattr(namespace, "_typed", {}))
        typed[self.dest] = option_string
        namespace._typed = typed


def typed_flags(args, flags=None):
    """``flags`` (default :data:`ENGINE_FLAGS`) with the spellings the user typed.

    Parameters
    ----------
    args : argparse.Namespace
        Parsed flags.
    flags : dict, optional
        Parameter -> flag.

    Returns
    -------
    dict
        Parameter -> flag, an alias replaced by the spelling on the command line.
    """
    flags = dict(ENGINE_FLAGS if flags is None else flags)
    for dest, spelling in getattr(args, "_typed", {}).items():
        if dest in flags and spelling:
            flags[dest] = spelling
    return flags


def _span(key):
    return "..".join(map(str, LIMITS[key]))


#: The help texts' note on the widths that fit only small engines.
_FIT = (
    f"the widest fit the {LIMITS['acc_bits'][1]}-bit accumulator only with few --lanes and "
    "a small --max-beats"
)


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
        help="activation width in bits, sign included (linear "
        f"{LIMITS['act_bits_linear'][0]}..{_widest('act_bits', 'linear')}, log "
        f"{LIMITS['act_bits_log'][0]}..{_widest('act_bits', 'log')}; {_FIT})",
    )
    g.add_argument(
        "--weight-bits",
        type=int,
        required=True,
        metavar="W",
        help="weight width: sign bit + W-1 bit log code "
        f"({LIMITS['weight_bits'][0]}..{_widest('weight_bits', None)}; {_FIT})",
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
        help="fraction bits of the result with --weight-base sqrt2 (or of the log2 state with "
        "--accumulate log) "
        f"({SQRT2_MIN_FRAC_BITS}..{LIMITS['frac_bits'][1]}, default 8); none with base 2",
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
    g.add_argument(
        "--accumulate",
        choices=ACCUMULATE_MODES,
        default="exact",
        help="exact integer sums (default), or log: the paper's log-domain accumulation "
        "(needs --act-format log; --frac-bits F of the log2 state, 0..12, default 8; one "
        "term per cycle, so a beat takes --lanes cycles)",
    )
    g.add_argument(
        "--weight-terms",
        type=int,
        choices=WEIGHT_TERMS,
        default=1,
        metavar="T",
        help="powers of two per weight: 1 (sign + log code; the default) or 2 (two-term "
        "weights: sign + first-term code + second-term offset, two shifters per lane; needs "
        "--weight-base 2, linear activations and --weight-bits >= 3)",
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
        action=_TypedFlag,
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
        "--force",
        action="store_true",
        help="overwrite existing output files (NAME.v, .json, .vlt, .core, _tb.v, .xml)",
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
        help="nothing on stderr but errors: no note before a long conversion (256 lanes or "
        "more: about a minute per 1000 lanes), no progress bar",
    )


def name_flag(message, flags=None):
    """Rewrite a configuration error in the CLI's language: parameter names become flags.

    Every parameter name in ``message`` (a whole word) becomes its flag, and
    ``param=value`` becomes ``--flag value``. ``act_signed`` stays, as its flag
    (``--act-unsigned``) means the opposite.

    Parameters
    ----------
    message : str
        The error message, e.g. ``"lanes must be an integer in [1, 1024], not 0"``.
    flags : dict, optional
        Parameter -> flag; default :data:`ENGINE_FLAGS`.

    Returns
    -------
    str
        E.g. ``"--lanes must be an integer in [1, 1024], not 0"``.
    """
    flags = {
        p: f for p, f in (ENGINE_FLAGS if flags is None else flags).items() if p != "act_signed"
    }
    if not flags:
        return message
    names = "|".join(sorted(map(re.escape, flags), key=len, reverse=True))
    pattern = re.compile(rf"(?<![\w-])({names})(?:=([^\s,;)]+))?(?![\w])")

    def flag(m):
        return flags[m.group(1)] + ("" if m.group(2) is None else " " + m.group(2))

    return pattern.sub(flag, message)


def _base_flag(base):
    return f"--weight-base {base}"


def _check_cli_combinations(values, flags):
    """Combinations of engine flags that :class:`EngineConfig` accepts but the CLI refuses."""
    frac, base = values["frac_bits"], values["weight_base"]
    if frac is None or values.get("accumulate") == "log":
        return  # with --accumulate log, EngineConfig checks F itself (the log2 state's)
    if base == "2" and frac != 0:
        raise CliError(
            f"{flags['frac_bits']} must be 0 with {_base_flag(2)} (fraction bits exist only "
            f"in base sqrt2), not {frac}"
        )
    lo, hi = SQRT2_MIN_FRAC_BITS, LIMITS["frac_bits"][1]
    if base == "sqrt2" and not lo <= frac <= hi:
        why = (
            f": with {frac} the constant round(sqrt(2) * 2**{frac}) = {sqrt2_constant(frac)} "
            "makes sqrt(2) a power of two"
            if 0 <= frac < lo
            else ""
        )
        raise CliError(
            f"{flags['frac_bits']} must be an integer in [{lo}, {hi}] with "
            f"{_base_flag('sqrt2')}, not {frac}{why}"
        )


def _check_widths(values, flags):
    """Widths that no configuration of the given formats accepts (see :func:`max_width`)."""
    fmt, signed, base = values["act_format"], values["act_signed"], values["weight_base"]
    if fmt not in ("linear", "log") or base not in ("2", "sqrt2"):
        return  # argparse refuses these
    if values.get("weight_terms", 1) != 1:
        return  # two-term weights: EngineConfig states their (narrower) limits
    context = f"--act-format {fmt}{'' if signed else ' --act-unsigned'} {_base_flag(base)}"
    for param in ("act_bits", "weight_bits"):
        value = values[param]
        lo = LIMITS["weight_bits" if param == "weight_bits" else f"act_bits_{fmt}"][0]
        hi = _widest(param, fmt if param == "act_bits" else None)
        if not lo <= value <= hi:
            where = f" with --act-format {fmt}" if param == "act_bits" and fmt == "log" else ""
            raise CliError(f"{flags[param]} must be an integer in [{lo}, {hi}]{where}, not {value}")
        widest = max_width(param, act_format=fmt, act_signed=signed, weight_base=base)
        if value > widest:
            raise CliError(
                f"{flags[param]} must be at most {widest} with {context}, not {value}: a "
                f"wider one needs more than the {LIMITS['acc_bits'][1]}-bit accumulator even "
                "with --lanes 1 --max-beats 1"
            )


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
    flags = typed_flags(args)
    _check_cli_combinations(values, flags)
    _check_widths(values, flags)
    try:
        return EngineConfig(**values)
    except (TypeError, ValueError) as exc:
        raise CliError(name_flag(str(exc), flags)) from None


def check_name_arg(name):
    """Validate ``--name`` (:func:`logdot.generators.common.check_name`).

    Raises :class:`CliError` ``"--name must be ..."``; returns ``name``.
    """
    try:
        return check_name(name)
    except (TypeError, ValueError) as exc:
        raise CliError(name_flag(str(exc), {"name": "--name"})) from None


def write_error(exc, out):
    """The :class:`CliError` for an :class:`OSError` raised while writing to ``out``.

    A generator's own "exists" refusal names ``--force``; an error of the operating system
    names the path it failed on.
    """
    if isinstance(exc, FileExistsError) and exc.filename is None:  # the generator's own check
        return CliError(str(exc).replace("use force=True (--force)", "use --force"))
    what = exc.filename or out
    return CliError(f"cannot write to {what}: {exc.strerror or exc}")


def run_generator(write, design, args, *, lanes, what, **options):
    """Write a design for a generate command: ``write(design, args.out, name=args.name,
    force=args.force, axi_names=args.axi_names, before_convert=..., **options)``.

    Unless ``--quiet``, the :func:`logdot.generators.common.conversion_notice` of ``lanes``
    lanes (``what`` names the design) is printed on stderr right before the conversion. A
    failure of Amaranth's Verilog backend and an :class:`OSError` (:func:`write_error`)
    become one-line :class:`CliError` s. Returns ``write``'s ``(NAME.v, NAME.json)``.
    """
    from amaranth.back.verilog import YosysError

    from logdot.generators.common import conversion_notice

    notice = None if args.quiet else conversion_notice(lanes, what)
    try:
        return write(
            design,
            args.out,
            name=args.name,
            force=args.force,
            axi_names=args.axi_names,
            before_convert=notice and (lambda: print(notice, file=sys.stderr, flush=True)),
            **options,
        )
    except YosysError as exc:
        raise CliError(f"Amaranth's Verilog backend (Yosys) failed: {exc}") from None
    except OSError as exc:
        raise write_error(exc, args.out) from None


def warn(message):
    """Print the one-line warning ``logdot: warning: <message>`` on stderr."""
    print("logdot: warning: " + " ".join(str(message).split()), file=sys.stderr)


def plural(n, noun):
    """``"1 beat"``, ``"2 beats"``: ``n`` and ``noun``, with an ``s`` unless ``n`` is 1."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
