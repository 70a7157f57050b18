"""Resumable sweeps: content-hashed jobs, a result store, local or Dask workers.

A sweep is a list of :class:`Job` s. A job names the function that computes it
(``"module:function"``), its parameters (JSON values) and a version of its recipe; its
:attr:`Job.key` is a SHA-256 over all three, so two jobs with the same key compute the same
thing, and a change of parameters or recipe version gives a new key (the old row is then
simply not used). Results go to a :class:`ResultStore`, one JSON line per finished job,
written and flushed as each job finishes: an interrupted sweep keeps every finished row,
and :func:`run_jobs` skips every job whose key is already stored, so it resumes where it
stopped and never recomputes a finished point.

:func:`run_jobs` runs the pending jobs in this process (``workers=1``), in ``workers``
single-threaded local processes, or on a Dask ``distributed`` cluster (``scheduler=`` an
address such as ``"tcp://10.0.0.5:8786"`` or a ``distributed`` cluster object): the same
jobs and the same store, so a user with more machines runs the same sweep there without
code changes. Job functions are deterministic (seeded), so the stored results, and every
table written from them in plan order (:meth:`ResultStore.rows`), do not depend on where or
in which order the jobs ran.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import multiprocessing
import os
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm

__all__ = ["Job", "ResultStore", "execute", "run_jobs"]

#: Version of the store's row format (part of every key).
STORE_FORMAT = 1


def _canonical(value):
    """``value`` as canonical JSON text (sorted keys, no spaces); a TypeError for non-JSON."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


@dataclass(frozen=True)
class Job:
    """One point of a sweep.

    Parameters
    ----------
    fn : str
        ``"package.module:function"``; the function takes the parameters as keyword
        arguments and returns a JSON-serializable dict (its result row).
    params : dict
        The function's keyword arguments (JSON values: str, int, float, bool, None, lists,
        dicts). Everything the result depends on must be here or in ``version``.
    version : int
        Version of the recipe behind ``fn``: raise it when the function's results change
        for the same parameters, so old rows are not reused.
    """

    fn: str
    params: dict
    version: int = 1

    def __post_init__(self):
        if not isinstance(self.fn, str) or self.fn.count(":") != 1:
            raise ValueError(f"fn must be 'module:function', not {self.fn!r}")
        if not isinstance(self.params, dict):
            raise TypeError(f"params must be a dict, not {type(self.params).__name__}")
        if isinstance(self.version, bool) or not isinstance(self.version, int):
            raise TypeError(f"version must be an int, not {self.version!r}")
        _canonical(self.params)  # JSON values only

    def __hash__(self):
        return hash(self.key)

    def __eq__(self, other):
        return isinstance(other, Job) and self.key == other.key

    @property
    def key(self):
        """The job's content hash: 16 hex digits of SHA-256 over function, parameters,
        version and the store format."""
        text = _canonical(
            {"fn": self.fn, "params": self.params, "version": self.version, "store": STORE_FORMAT}
        )
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def name(self):
        """A short readable label: the function name and the parameters."""
        args = ",".join(f"{k}={v}" for k, v in sorted(self.params.items()))
        return f"{self.fn.split(':')[1]}({args})"


def execute(job):
    """Compute ``job`` (in any process); ``(key, result)``.

    Imports the job's module, calls its function with the parameters on one torch thread
    (workers share the machine's cores) and checks that the result is a JSON object.
    """
    module, name = job.fn.split(":")
    fn = getattr(importlib.import_module(module), name)
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a runtime dependency
        pass
    result = fn(**job.params)
    if not isinstance(result, dict):
        raise TypeError(f"{job.name} returned {type(result).__name__}, not a dict")
    json.loads(_canonical(result))  # JSON values only, no NaN
    return job.key, result


class ResultStore:
    """One JSON line per finished job: ``{"key", "fn", "params", "version", "result"}``.

    Rows are appended and flushed to disk as jobs finish. A line cut short by an
    interruption (no newline at the end) is dropped when the store is opened, so the store
    always holds whole rows only.

    Parameters
    ----------
    path : path-like
        The ``.jsonl`` file (created with its directory when missing).
    """

    def __init__(self, path):
        self._path = Path(path)
        self._rows = {}
        if self._path.exists():
            data = self._path.read_bytes()
            whole = data[: data.rfind(b"\n") + 1]
            if len(whole) != len(data):  # a row cut short by an interruption
                with open(self._path, "r+b") as f:
                    f.truncate(len(whole))
            for n, line in enumerate(whole.decode().splitlines(), 1):
                try:
                    row = json.loads(line)
                    self._rows[row["key"]] = row
                except (ValueError, KeyError, TypeError):
                    raise ValueError(f"{self._path}:{n}: not a result row: {line[:80]!r}") from None

    @property
    def path(self):
        """The store's file."""
        return self._path

    def __contains__(self, job):
        return job.key in self._rows

    def __len__(self):
        return len(self._rows)

    def result(self, job):
        """The stored result of ``job`` (a dict); KeyError when it has not finished."""
        return self._rows[job.key]["result"]

    def add(self, job, result):
        """Store the result of ``job`` (written and flushed before returning)."""
        row = {
            "key": job.key,
            "fn": job.fn,
            "params": job.params,
            "version": job.version,
            "result": result,
        }
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with open(self._path, "a") as f:
            f.write(_canonical(row) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._rows[job.key] = row

    def rows(self, jobs):
        """``(params, result)`` of each of ``jobs``, in the given (plan) order.

        Raises KeyError naming the first job that has not finished.
        """
        out = []
        for job in jobs:
            if job.key not in self._rows:
                raise KeyError(f"{job.name} has no result in {self._path}")
            out.append((job.params, self._rows[job.key]["result"]))
        return out


def _unique(jobs):
    seen, out = set(), []
    for job in jobs:
        if job.key not in seen:
            seen.add(job.key)
            out.append(job)
    return out


def run_jobs(jobs, store, *, workers=1, scheduler=None, desc="points", quiet=False):
    """Run every job of ``jobs`` that ``store`` has no result for; store each result.

    Parameters
    ----------
    jobs : iterable of Job
        The sweep (duplicates run once).
    store : ResultStore
        Where finished results are read from and written to.
    workers : int
        Local worker processes (``spawn``, one torch thread each); 1 runs in this process.
        Ignored with ``scheduler``.
    scheduler : str, distributed cluster or None
        A Dask ``distributed`` scheduler address (or cluster object): the jobs run on its
        workers instead (their Python environment must have logdot installed).
    desc : str
        Label of the progress bar (counts done / total points and an ETA, on stderr).
    quiet : bool
        No progress bar.

    Returns
    -------
    int
        How many jobs were computed now (the rest were already stored).

    A job that raises stops the sweep with its exception after the finished results are
    stored; Ctrl-C does the same (``KeyboardInterrupt``): running the same sweep again
    resumes.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive integer, not {workers!r}")
    jobs = _unique(jobs)
    pending = [j for j in jobs if j not in store]
    bar = tqdm(
        total=len(jobs),
        initial=len(jobs) - len(pending),
        desc=desc,
        unit="point",
        disable=quiet or None,
        dynamic_ncols=True,
    )
    by_key = {j.key: j for j in pending}

    def done(key, result):
        store.add(by_key[key], result)
        bar.update()

    with bar:
        if scheduler is not None:
            _run_dask(pending, scheduler, done)
        elif workers == 1:
            for job in pending:
                done(*execute(job))
        else:
            _run_local(pending, workers, done)
    return len(pending)


def _run_local(pending, workers, done):
    ctx = multiprocessing.get_context("spawn")
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        futures = {pool.submit(execute, job) for job in pending}
        while futures:
            finished, futures = wait(futures, return_when=FIRST_COMPLETED)
            for fut in finished:
                done(*fut.result())
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _run_dask(pending, scheduler, done):
    from distributed import Client, as_completed

    with Client(scheduler) as client:
        futures = client.map(execute, pending, key=[f"logdot-{j.key}" for j in pending])
        try:
            for fut in as_completed(futures):
                done(*fut.result())
        finally:
            client.cancel(futures)
