"""``logdot fusesoc-gen``: write logdot's FuseSoC generator library (a ``generators:`` core)."""

from __future__ import annotations

from logdot.options import write_error

__all__ = ["DESCRIPTION", "add_arguments", "run"]

DESCRIPTION = """\
Write DIR/logdot_gen.core (a FuseSoC CAPI2 core whose generators: section defines
logdot_engine, run with this Python interpreter) and DIR/logdot_gen.py (its script). With DIR
in a FuseSoC library (fusesoc library add, or --cores-root DIR), a core asks for an engine by
its parameters: generate: {dot: {generator: logdot_engine, parameters: {lanes: 16,
act_bits: 8, weight_bits: 4, name: my_dot}}} and generate: [dot] in its targets; the
generated core gives NAME.v and NAME.vlt (and NAME_tb.v with testbench: true). Existing
files are kept unless --force.
"""


def add_arguments(parser):
    """Add the options of ``logdot fusesoc-gen`` to ``parser``."""
    o = parser.add_argument_group("output")
    o.add_argument(
        "--out", required=True, metavar="DIR", help="output directory (created if missing)"
    )
    o.add_argument("--force", action="store_true", help="overwrite logdot_gen.core / logdot_gen.py")


def run(args):
    """Write the generator library; return the exit code (raises :class:`CliError`)."""
    from logdot.generators.fusesoc_gen import GENERATOR, write_library

    try:
        core, script = write_library(args.out, force=args.force)
    except OSError as exc:
        raise write_error(exc, args.out) from None
    print(f"wrote {core} and {script}: FuseSoC generator {GENERATOR}")
    return 0
