"""Generate a design once per test session for every simulator that runs it.

Every configuration of a runner is co-simulated on Icarus and on Verilator (and the engine
runner's default engine by the fault runner too): :func:`support.cosim` generated its Verilog
and manifest (Amaranth elaboration and Verilog output: 0.5 to 4 CPU seconds) once per run.
With a ``design`` description, :func:`generate` runs the writer once per test session and
description, files the generated files in a session folder below the build root, and gives
every later run of the session a copy of them, on any pytest-xdist worker (a lock per design:
a run that asks while another is generating waits for it instead of generating again).

The description must fix the writer's output within one session (the configuration, the
seed of random contents); the session (pytest-xdist's test run id, else the process) fixes
the code. A run without a description (a mutant, whose generator is patched) generates as
before. The files then go through the same content-hashed build directories as freshly
generated ones (:func:`support.content_key`), so nothing downstream changes. Folders of other
sessions older than :data:`KEEP_S` are deleted.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

__all__ = ["FILES", "KEEP_S", "SHARED", "generate", "session_id"]

#: Folder of the session folders, below the build root.
SHARED = ".generated"
#: The list of generated file names in a design's folder (written last: the folder is done).
FILES = "files.json"
#: Age after which another session's folder is deleted.
KEEP_S = 24 * 3600


def session_id():
    """pytest-xdist's test run id (the same on every worker of a run), else ``pid<n>``."""
    return os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"pid{os.getpid()}"


def generate(write, directory, *, root, design=None):
    """The generated files of one design, in ``directory``.

    Parameters
    ----------
    write : callable
        ``write(directory) -> paths`` generates the files.
    directory : path-like
        Where the returned files are.
    root : path-like
        The build root (the session folders are in its :data:`SHARED`).
    design : str, optional
        What fixes ``write``'s output within the session; None: ``write`` runs, nothing is
        shared.

    Returns
    -------
    list of pathlib.Path
        In ``write``'s order.
    """
    directory = Path(directory)
    if design is None:
        return [Path(p) for p in write(directory)]
    base = Path(root) / SHARED / session_id()
    base.mkdir(parents=True, exist_ok=True)
    entry = base / hashlib.sha256(design.encode()).hexdigest()[:24]
    with open(base / f".{entry.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (entry / FILES).is_file():
            files = [Path(p) for p in write(directory)]
            _publish(base, entry, files)
            _prune(base.parent, keep=base)
            return files
    names = json.loads((entry / FILES).read_text())
    for name in names:
        shutil.copyfile(entry / name, directory / name)
    return [directory / name for name in names]


def _publish(base, entry, files):
    """File ``files`` as the folder ``entry`` (complete, or not at all)."""
    names = [f.name for f in files]
    if len(set(names)) != len(names):
        raise ValueError(f"generated files of one name: {names}")
    tmp = Path(tempfile.mkdtemp(dir=base, prefix=".tmp-"))
    for f in files:
        shutil.copyfile(f, tmp / f.name)
    (tmp / FILES).write_text(json.dumps(names))
    shutil.rmtree(entry, ignore_errors=True)
    os.replace(tmp, entry)


def _prune(shared, *, keep):
    """Delete the session folders in ``shared`` older than :data:`KEEP_S` but ``keep``."""
    old = time.time() - KEEP_S
    for folder in shared.iterdir():
        if folder != keep and folder.is_dir() and folder.stat().st_mtime < old:
            shutil.rmtree(folder, ignore_errors=True)
