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
import difflib
import importlib
import re
import sys
from dataclasses import dataclass

from logdot.options import CliError
from logdot.tools import interrupt

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

#: Exit code of every error path (as argparse uses for usage errors).
EXIT_ERROR = 2


def _parsers(parser):
    """``parser`` and the parsers of its subcommands."""
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def _close(word, candidates):
    """``" (did you mean X?)"`` for the closest of ``candidates`` to ``word``, or ``""``.

    Compared without the leading dashes, which every flag shares (difflib); a transposition
    of letters (``--pse`` for ``--pes``) always matches.
    """
    names = {c.lstrip("-"): c for c in candidates}
    bare = word.lstrip("-")
    match = [n for n in names if sorted(n) == sorted(bare)]
    match = match or difflib.get_close_matches(bare, names, n=1, cutoff=0.7)
    return f" (did you mean {names[match[0]]}?)" if match else ""


class _Parser(argparse.ArgumentParser):
    """ArgumentParser whose errors are one line in the CLI's language: ``logdot: error: ...``.

    Unknown arguments are reported first (with the closest known flag), before missing
    required flags: ``--lanse 16`` is a typo of ``--lanes``, not a missing ``--lanes``.
    """

    def parse_args(self, args=None, namespace=None):
        args = sys.argv[1:] if args is None else list(args)
        parsers = list(_parsers(self))
        required = [a for p in parsers for a in p._actions if a.required]
        for p in parsers:
            p._argv = args  # for _typed
        for action in required:
            action.required = False
        try:
            _, extras = self.parse_known_args(args, argparse.Namespace())
        except CliError:
            extras = []  # reported by the real parse below, with the required flags in force
        finally:
            for action in required:
                action.required = True
        if extras:
            self._subparser(args).unrecognized(extras)
        return super().parse_args(args, namespace)

    def _subparser(self, args):
        """The parser of the subcommand ``args`` runs (``self`` if none)."""
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                for word in args:
                    if word in action.choices:
                        return action.choices[word]
        return self

    def unrecognized(self, extras):
        """Raise the error for the unknown arguments ``extras``, with close matches."""
        words = [w for w in extras if w.startswith("-")] or list(extras)
        known = [o for o in self._option_string_actions if o.startswith("--")]
        named = [w + (_close(w.split("=")[0], known) if w.startswith("-") else "") for w in words]
        noun = "argument" if len(words) == 1 else "arguments"
        message = f"unrecognized {noun} {', '.join(named)}"
        raise CliError(message if "did you mean" in message else message + self._hint())

    def _hint(self):
        return f" (see '{self.prog} --help')"

    def error(self, message):
        m = re.fullmatch(r"argument (\S+): invalid choice: '(.*)' \(choose from (.*)\)", message)
        if m and m.group(1) == "COMMAND":
            choices = m.group(3).replace("'", "")
            commands = choices.split(", ")
            raise CliError(
                f"unknown command '{m.group(2)}'{_close(m.group(2), commands)} (commands: "
                f"{choices})"
            )
        if m:
            choices = m.group(3).replace("'", "")
            flag = self._typed(m.group(1))
            raise CliError(f"{flag} must be one of {choices}, not '{m.group(2)}'")
        m = re.fullmatch(r"argument (\S+): invalid int value: (.*)", message)
        if m:
            raise CliError(f"{self._typed(m.group(1))} must be an integer, not {m.group(2)}")
        m = re.fullmatch(r"argument (\S+): expected one argument", message)
        if m:
            raise CliError(f"{self._typed(m.group(1))} needs a value{self._hint()}")
        m = re.fullmatch(r"argument (\S+): (.*)", message)
        if m:
            message = f"{self._typed(m.group(1))}: {m.group(2)}"
        raise CliError(message + self._hint())

    def _typed(self, name):
        """The spelling of a flag ``--a/--b`` (argparse's name) that is on the command line."""
        spellings = name.split("/")
        argv = getattr(self, "_argv", [])
        typed = [s for s in spellings if any(w == s or w.startswith(s + "=") for w in argv)]
        return (typed or spellings)[0]


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
    Command(
        name="fusesoc-gen",
        module="logdot.commands.fusesoc_gen",
        help="write logdot's FuseSoC generator core (engines by parameters in your cores)",
    ),
    Command(
        name="board",
        module="logdot.commands.board",
        help="build a board bitstream (amaranth-boards, YoWASP): the network behind a UART",
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
