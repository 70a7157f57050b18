"""Running the ``logdot`` command line in-process, and its error contract: exit status 2, one
line ``logdot: error: ...`` naming the flag as typed, nothing on stdout, no file written."""

from __future__ import annotations

import contextlib
import io

import pytest

from logdot.cli import main

__all__ = [
    "FOLD_ERRORS",
    "IDENT",
    "NETWORK_FLAG_ERRORS",
    "assert_cli_error",
    "assert_one_line_error",
    "error_cases",
    "files_in",
    "run_cli",
]

#: What a ``--name`` error says a Verilog identifier is.
IDENT = "(letters, digits and '_', not starting with a digit, at most 64 characters, not a keyword)"

#: ``--fold VALUE`` -> what :func:`logdot.commands.compile.parse_fold` says of it (the line is
#: ``--fold: `` and that), for a network whose layer 0 is a conv2d and layer 1 a max pool
#: (``small_cnn``, ``board_net``).
FOLD_ERRORS = [
    ("0=3", "'0=3' is not KEY=LANESxPES (e.g. conv1=9x4)"),
    ("conv9=3x2", "no layer named 'conv9'"),
    ("1=3x2", "layer 1 (maxpool) '1' is not a conv2d/linear"),
    ("0=3x2,0=3x1", "layer '0' is given twice"),
    ("0=0x2", "layer 0 (conv2d): lanes must be an integer in [1, 1024], not 0"),
    ("0=3x999", "layer 0 (conv2d): pes must be an integer in [1, 256], not 999"),
]

#: The errors of the flags ``logdot compile`` and ``logdot board`` share (``--fold`` and
#: ``--name``): ``(flags, exact error line)``.
NETWORK_FLAG_ERRORS = [(["--fold", value], f"--fold: {e}") for value, e in FOLD_ERRORS] + [
    (["--name", "module"], f"--name must be a Verilog identifier {IDENT}, not 'module'"),
]


def run_cli(argv):
    """``logdot.cli.main(argv)`` with stdout and stderr captured: ``(code, stdout, stderr)``."""
    err, out = io.StringIO(), io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def files_in(path):
    """Sorted names of every file and folder below ``path`` (``[]`` when it does not exist)."""
    return sorted(p.name for p in path.rglob("*")) if path.exists() else []


def assert_one_line_error(code, err, *fragments):
    """Exit status 2 and one line ``logdot: error: ...`` on stderr holding every fragment."""
    assert code == 2, err
    assert err.startswith("logdot: error: ") and err.count("\n") == 1, repr(err)
    assert err.endswith("\n"), repr(err)
    for f in fragments:
        assert f in err, (f, err)


def assert_cli_error(argv, out, line, *, match="exact"):
    """Run ``logdot argv``: it must refuse with the one error line and write nothing.

    Parameters
    ----------
    argv : list of str
        The command line (without ``logdot``).
    out : pathlib.Path
        The output folder the command names: it must not exist afterwards.
    line : str
        The error message after ``logdot: error: ``.
    match : {"exact", "prefix", "contains"}
        The message is the whole line, its start, or a part of it.

    Returns
    -------
    str
        What the command wrote on stderr.
    """
    code, stdout, err = run_cli(argv)
    assert (code, stdout) == (2, ""), (code, stdout, err)
    if match == "exact":
        assert err == f"logdot: error: {line}\n", err
    elif match == "prefix":
        assert_one_line_error(code, err)
        assert err.startswith(f"logdot: error: {line}"), err
    elif match == "contains":
        assert_one_line_error(code, err, line)
    else:
        raise ValueError(f"match must be one of exact, prefix, contains, not {match!r}")
    assert not out.exists(), files_in(out)
    return err


def error_cases(table):
    """pytest parameters ``(extra, line)`` of an error table of ``(flags, message)`` rows, each
    named by its flags."""
    return [pytest.param(extra, line, id=" ".join(extra)) for extra, line in table]
