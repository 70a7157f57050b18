"""Running the ``logdot`` command line in-process, and its error contract: exit status 2, one
line ``logdot: error: ...`` naming the flag as typed, nothing on stdout, no file written."""

from __future__ import annotations

import contextlib
import io

import pytest

from logdot.cli import main

__all__ = ["assert_cli_error", "assert_one_line_error", "error_cases", "files_in", "run_cli"]


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
