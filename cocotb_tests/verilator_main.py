"""A cache of cocotb's Verilator main object ``verilator.o``, keyed by what its compiler reads.

cocotb's Verilator main (``share/lib/verilator/verilator.cpp``) is compiled in every build
directory, because it includes the design's model header ``Vtop.h``: about 1.8 CPU seconds of
a small design's 4-second build. The main never names a port: it constructs the model, calls
its methods and frees it, so it depends on the class layout, and every port member is a
reference (``VL_IN8(&name, msb, lsb)`` declares ``CData& name``, ``VL_INW(&name, msb, lsb,
words)`` a ``VlWide<words>&``), of one size whatever its type. Two designs whose ``Vtop.h``
differ only in the types, bit ranges, names and order of their ports (Verilator orders them
by width class) therefore compile to the same object (``test_support.py`` compiles two and
compares the bytes). The object is cached under a key
of everything else the compiler reads, the way ``ccache`` does: SHA-256 of the exact compile
command (as ``make -n`` prints it for the build's make arguments) and of the preprocessed
source (``-E`` with the same flags, line markers included) read through ``Vtop.h`` with every
port declaration reduced to a placeholder (:func:`port_free_header`).

Used by :func:`support.cosim` through :func:`with_main_cache`, which inserts
``python verilator_main.py restore <cache> <build dir> -- <make command>`` between cocotb's
two build commands (Verilator writes ``Vtop.h``, then make compiles): on a hit it copies the
object (and its ``.d`` dependency file) into the build directory, newer than ``Vtop.h``, so
make keeps it; on a miss make compiles it and :func:`store` files it after the build. The key
of the build is left in :data:`KEY_FILE` (deleted with every stale build directory).
"""

from __future__ import annotations

import hashlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import verilator_pch

from logdot.tools.verilator import store_runtime

__all__ = [
    "KEY_FILE",
    "OBJECTS",
    "compile_command",
    "main_key",
    "port_free_header",
    "restore",
    "store",
    "with_main_cache",
]

#: The compiled main and its make dependency file.
OBJECTS = ("verilator.o", "verilator.d")
#: Where the restore step leaves the build's key for :func:`store`.
KEY_FILE = ".verilator-main.key"
#: Folder (in the build directory) of the port-free ``Vtop.h`` the key is computed through.
_KEY_INCLUDE = ".verilator-main"
#: A port declaration of a Verilated model header (``verilated_types.h``): direction, width
#: class, name, bit range (and word count of a wide port).
_PORT = re.compile(r"\bVL_(?:IN|OUT|INOUT)(?:8|16|64|W)?\(\s*&?\s*\w+\s*(?:,\s*\d+\s*){2,3}\)")


def port_free_header(text):
    """``Vtop.h`` text with every port declaration ``VL_<dir><width>(&name, msb, lsb[, words])``
    replaced by ``LOGDOT_PORT`` (what the main's object depends on: the number of port members;
    Verilator orders them by width class)."""
    return _PORT.sub("LOGDOT_PORT", text)


def compile_command(bdir, make_command, target="verilator.o"):
    """The command make runs to compile ``target`` in ``bdir`` (a list; ``make -n -B`` with
    the build's own make arguments, so its flags are exactly the build's)."""
    args = list(make_command[1:])
    for flag in ("-j", "-C"):  # serial, and in bdir (-C would print directory lines)
        if flag in args:
            i = args.index(flag)
            del args[i : i + 2]
    out = subprocess.run(
        [make_command[0], "-n", "-B", *args, target],
        cwd=bdir, capture_output=True, text=True, check=True,
    )  # fmt: skip
    lines = [ln for ln in out.stdout.splitlines() if f"-o {target}" in ln]
    if len(lines) != 1:
        raise RuntimeError(f"no single compile command of {target} in make -n: {out.stdout!r}")
    return shlex.split(lines[0])


def main_key(bdir, make_command):
    """SHA-256 (hex) of the compile command of ``verilator.o`` in ``bdir`` and of its
    preprocessed source, read through the :func:`port_free_header` of ``bdir``'s ``Vtop.h``."""
    bdir = Path(bdir)
    cmd = compile_command(bdir, make_command)
    include = bdir / _KEY_INCLUDE
    include.mkdir(exist_ok=True)
    (include / "Vtop.h").write_text(port_free_header((bdir / "Vtop.h").read_text()))
    keep, skip = [cmd[0], f"-I{_KEY_INCLUDE}"], False
    for a in cmd[1:]:  # the same command with -E to stdout, no dependency file
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a not in ("-c", "-MMD", "-MD", "-MP"):
            keep.append(a)
    pre = subprocess.run([*keep, "-E"], cwd=bdir, capture_output=True, check=True).stdout
    h = hashlib.sha256("\0".join(cmd).encode() + b"\0\0")
    h.update(pre)
    return h.hexdigest()


def restore(cache, bdir, make_command):
    """Write the key of ``bdir``'s main to :data:`KEY_FILE`; on a cache hit copy the cached
    objects into ``bdir`` (newer than ``Vtop.h``, so make keeps them). Returns True on a hit."""
    cache, bdir = Path(cache), Path(bdir)
    key = main_key(bdir, make_command)
    (bdir / KEY_FILE).write_text(key + "\n")
    entry = cache / key
    if not all((entry / f).is_file() for f in OBJECTS):
        return False
    for f in OBJECTS:
        tmp = bdir / f".{f}.tmp"
        shutil.copyfile(entry / f, tmp)
        os.replace(tmp, bdir / f)
    return True


def store(cache, bdir):
    """File the main of a finished build under the key :func:`restore` left (atomic per file,
    once per key); nothing without a key."""
    key_file = Path(bdir) / KEY_FILE
    if key_file.is_file():
        store_runtime(Path(cache) / key_file.read_text().strip(), bdir, OBJECTS)


def with_main_cache(runner, cache, bdir):
    """Make the cocotb Verilator ``runner``'s next build restore the main from ``cache`` and
    compile the model with the precompiled runtime header (:func:`verilator_pch.prepare`, in
    ``pch/`` beside ``cache``): a step between its Verilator and make commands, and make reads
    :data:`verilator_pch.MAKEFILE` too (RuntimeError if cocotb's build is not those two
    commands)."""
    build_command = runner._build_command

    def command():
        cmds = build_command()
        if len(cmds) != 2 or Path(cmds[1][0]).name != "make":
            raise RuntimeError(f"cocotb's Verilator build is not verilator + make: {cmds!r}")
        make = [*cmds[1], "-f", verilator_pch.MAKEFILE]
        step = [sys.executable, __file__, "restore", str(cache), str(bdir), "--", *cmds[1]]
        return [cmds[0], step, make]

    runner._build_command = command
    return runner


if __name__ == "__main__":
    if len(sys.argv) < 6 or sys.argv[1] != "restore" or sys.argv[4] != "--":
        sys.exit("usage: verilator_main.py restore CACHE BUILD_DIR -- MAKE_COMMAND...")
    verilator_pch.prepare(Path(sys.argv[2]).parent / "pch", sys.argv[3], sys.argv[5:])
    restore(sys.argv[2], sys.argv[3], sys.argv[5:])
