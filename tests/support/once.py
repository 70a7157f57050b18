"""An expensive fixture value built once per test run, shared by the pytest-xdist workers.

``make test`` runs ``pytest -n 2``: xdist spreads the tests of one module over both workers,
so a module-scoped fixture (the paper study's quick run, a set of generated engines) is
built by each worker that runs one of its tests, twice the work for one result. With
:func:`build_once` the first worker builds it under a lock in the run's shared temporary
directory (the parent of each worker's ``basetemp``, as the pytest-xdist documentation
describes for session fixtures), the other loads the pickled value. Without xdist it is
built in the test's own temporary directory.
"""

from __future__ import annotations

import fcntl
import os
import pickle

__all__ = ["build_once"]


def build_once(tmp_path_factory, name, build):
    """``build(directory)``, computed once per run and shared by the xdist workers.

    Parameters
    ----------
    tmp_path_factory : pytest.TempPathFactory
        The session's factory (its base temp's parent is shared by the workers of one run).
    name : str
        Names the value and its directory (unique among the suite's shared values).
    build : callable
        ``build(directory) -> value``: writes what it needs below ``directory`` (an empty
        folder of its own); the value must pickle. When it raises, nothing is stored (the
        next worker tries again, and fails the same way).

    Returns
    -------
    object
        The value (a copy unpickled from the first worker's, on the others).
    """
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return build(tmp_path_factory.mktemp(name))
    root = tmp_path_factory.getbasetemp().parent
    stored = root / f"{name}.pickle"
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stored.is_file():
            return pickle.loads(stored.read_bytes())
        directory = root / name
        directory.mkdir(exist_ok=True)
        value = build(directory)
        tmp = root / f"{name}.pickle.tmp"
        tmp.write_bytes(pickle.dumps(value))
        os.replace(tmp, stored)
        return value
