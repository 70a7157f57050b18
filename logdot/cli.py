"""The ``logdot`` command line: a registry of subcommands (``logdot generate ...`` and more).

Every error path prints one line, ``logdot: error: ...``, on stderr and exits with code 2,
without writing any file. Ctrl-C prints one line, ``logdot: interrupted``, and exits with
status 130, without writing any file; the tools a command runs are killed with it
(:mod:`logdot.tools.interrupt`).

Each subcommand is a module of :mod:`logdot.commands` with ``add_arguments(parser)``,
``run(args) -> int`` and ``DESCRIPTION``; :data:`COMMANDS` lists them by name. Only the
module of the subcommand being run is imported (``logdot --help`` imports none), so a
subcommand's dependencies never slow down another one. ``run`` may raise
:class:`~logdot.options.CliError` (or ``ValueError``/``TypeError``/``OSError``), which
:func:`main` turns into the one-line error and exit code 2.

Adding a subcommand: write ``logdot/commands/NAME.py`` and append a :class:`Command` to
:data:`COMMANDS`. Nothing imports this module but the entry points (the ``logdot`` console
script and ``python -m logdot``).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import dataclass

from logdot.options import CliError
from logdot.tools import interrupt

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

#: Exit code of every error path (as argparse uses for usage errors).
EXIT_ERROR = 2


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
    module : str
        Module with ``add_arguments(parser)``, ``run(args) -> int`` and ``DESCRIPTION``
        (imported only when the subcommand is used).
    help : str
        One-line description (shown by ``logdot --help``).
    """

    name: str
    module: str
    help: str

    def load(self):
        """Import and return the subcommand's module."""
        return importlib.import_module(self.module)


#: The subcommands, in the order ``logdot --help`` lists them. Append to extend.
COMMANDS = [
    Command(
        name="generate",
        module="logdot.commands.generate",
        help="write an engine's Verilog and manifest",
    ),
    Command(
        name="synth",
        module="logdot.commands.synth",
        help="synthesis + place-and-route report (Yosys, nextpnr): LUTs, DSPs, fmax",
    ),
    Command(
        name="generate-layer",
        module="logdot.commands.generate_layer",
        help="write a layer engine (weights baked in) from a trained layer.pt",
    ),
    Command(
        name="compile",
        module="logdot.commands.compile",
        help="write one streaming design (pixels in, outputs out) from a network file",
    ),
]


def _selected(argv):
    """Name of the subcommand ``argv`` runs (its first word that is not an option)."""
    for word in argv:
        if not word.startswith("-"):
            return word
    return None


def build_parser(argv=None):
    """The ``logdot`` argument parser.

    Parameters
    ----------
    argv : list of str, optional
        The arguments to be parsed: only their subcommand's module is imported and its
        options added. Default: every subcommand, fully.
    """
    parser = _Parser(
        prog="logdot",
        description="Generator of multiplier-free log dot-product engines (Verilog + manifest).",
    )
    parser.add_argument("--version", action=_VersionAction)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    wanted = None if argv is None else _selected(argv)
    for cmd in COMMANDS:
        module = cmd.load() if argv is None or cmd.name == wanted else None
        p = sub.add_parser(
            cmd.name,
            help=cmd.help,
            description=module.DESCRIPTION if module else cmd.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if module is not None:
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def _version():
    try:
        from importlib.metadata import version

        return version("logdot")
    except Exception:
        return "unknown"


class _VersionAction(argparse.Action):
    """``--version``: like argparse's, but the version is looked up only when asked for."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS):
        super().__init__(
            option_strings,
            dest=dest,
            default=default,
            nargs=0,
            help="show program's version number and exit",
        )

    def __call__(self, parser, namespace, values, option_string=None):
        print(f"logdot {_version()}")  # on stdout, as argparse's version action
        parser.exit()


def _error(message):
    message = " ".join(str(message).split())  # one line
    print(f"logdot: error: {message}", file=sys.stderr)
    return EXIT_ERROR


def main(argv=None):
    """Entry point of the ``logdot`` console script; returns the exit code (130 after Ctrl-C,
    with the one line ``logdot: interrupted`` on stderr)."""
    return interrupt.run_command(
        "logdot",
        lambda: _main(argv),
        silence=argv is None,  # the process is the command: nothing else will be printed
        reset_after=True,  # one thread, children gone: a later main() may run tools
    )


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser(argv)
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
