"""The Verilated model of a cocotb build compiled with a precompiled ``verilated.h``.

With ``--output-split 0`` (:data:`logdot.tools.verilator.PCH_WORKAROUND`) Verilator's model is
one file, ``Vtop__ALL.cpp``; of the 2 CPU seconds its ``-O0`` compile takes for a small
design, about 1.6 are spent parsing the runtime headers, which are the same in every build.
Its first code is ``#include "verilated.h"`` (``Vtop.cpp`` includes ``Vtop__pch.h``, whose
first include it is; the one definition before it, ``VL_INCLUDE_OPT``, is read by no header),
so compiling it with ``-include verilated.h`` reads the same tokens, and GCC may take that
header from a precompiled ``.gch`` built with the same flags (it uses the file only when the
flags match, else reads the header: ``-Winvalid-pch`` says so in ``build.log``). The object
is byte for byte the same (``test_support.py`` compiles one both ways and compares).

:func:`prepare` (run by the step :func:`verilator_main.with_main_cache` inserts before make)
builds the header once per compile command of the model (the flags make would use, from
``make -n``) into a cache folder, under a lock, and writes :data:`MAKEFILE` into the build
directory: a target-specific ``OPT_FAST`` for ``Vtop__ALL.o`` only (empty when no header can
be made, so the build goes on as before).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
from pathlib import Path

import verilator_main

__all__ = ["HEADER", "MAKEFILE", "MODEL_OBJECT", "model_flags", "prepare"]

#: The makefile fragment make reads after ``Vtop.mk`` (in the build directory).
MAKEFILE = ".verilator-pch.mk"
#: The model's object (``--output-split 0``).
MODEL_OBJECT = "Vtop__ALL.o"
#: The precompiled header's source (in its cache folder; ``<HEADER>.gch`` beside it).
HEADER = "verilated_first.h"


def model_flags(bdir, make_command):
    """The compile command of :data:`MODEL_OBJECT` without ``-c``, its output, its source and
    its dependency file (the flags the header must be precompiled with)."""
    cmd = verilator_main.compile_command(bdir, make_command, MODEL_OBJECT)
    flags, skip = [], False
    for a in cmd[1:]:
        if skip:
            skip = False
        elif a == "-o":
            skip = True
        elif a not in ("-c", "-MMD", "-MD", "-MP") and not a.endswith(".cpp"):
            flags.append(a)
    return [cmd[0], *flags]


def prepare(cache, bdir, make_command):
    """Write :data:`MAKEFILE` into ``bdir``: compile :data:`MODEL_OBJECT` with ``-include`` of
    the precompiled ``verilated.h`` for its flags, built into ``cache`` if missing (empty
    fragment if that fails). Returns the header's path, or None."""
    bdir, fragment = Path(bdir), Path(bdir) / MAKEFILE
    fragment.write_text("")
    try:
        flags = model_flags(bdir, make_command)
    except (RuntimeError, subprocess.CalledProcessError):
        return None
    folder = Path(cache) / hashlib.sha256("\0".join(flags).encode()).hexdigest()[:16]
    header, gch = folder / HEADER, folder / f"{HEADER}.gch"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not header.is_file():  # (a model's .d file names it: it stays)
            header.write_text('#include "verilated.h"\n')
        if not gch.is_file():
            tmp = folder / f".{HEADER}.{os.getpid()}.gch"
            build = subprocess.run(
                [*flags, "-x", "c++-header", "-o", str(tmp), str(header)],
                cwd=bdir, capture_output=True, check=False,
            )  # fmt: skip
            if build.returncode != 0:
                tmp.unlink(missing_ok=True)
                return None
            os.replace(tmp, gch)
    fragment.write_text(f"{MODEL_OBJECT}: OPT_FAST += -Winvalid-pch -include {header}\n")
    return header
