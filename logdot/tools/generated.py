"""Generated Verilog reused when its inputs are the same: per build folder and in a shared store.

:func:`generate_once` writes a design's generator outputs (``NAME.v``, ``NAME.json``, ...,
:func:`logdot.generators.common.output_paths`) into a folder unless they are there already
from the same inputs, and otherwise copies them from a content-addressed store before it
generates (Amaranth's elaboration and conversion take seconds per engine; the example
scripts and their tests generate the same engines into several folders).

The inputs are the design's :func:`~logdot.tools.digest.content_digest`, the top module name
and :func:`~logdot.tools.digest.generator_source_digest` (every module the text is a function
of, and the Amaranth version): any change of one of them is another key, so the files are
generated again. Trust is checked on both sides:

* the folder's stamp ``.generation`` (written after the files) records the inputs and the
  SHA-256 of every file as written; a missing or changed file, or another input, and the
  folder's files are replaced;
* a store entry (``<store>/<key>/``) is a complete folder renamed into place at once, with
  the SHA-256 of every file in ``digests``; an entry whose files do not match is not used.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from logdot.generators.common import output_paths
from logdot.tools.digest import content_digest, generator_source_digest

__all__ = ["generate_once"]


def _sha(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def generate_once(design, out_dir, name, write, *, store):
    """Make ``out_dir`` hold the generator outputs of ``design`` under top module ``name``.

    Parameters
    ----------
    design : object
        The design (any value :func:`~logdot.tools.digest.content_digest` accepts).
    out_dir : pathlib.Path
        The folder (created if missing).
    name : str
        The top module name (the files are ``NAME.v``, ``NAME.json``, ...).
    write : callable
        ``write()`` generates the files into ``out_dir`` (e.g. ``write_layer(..., force=True)``).
    store : pathlib.Path or None
        The shared store of generated files (``None``: none).

    Returns
    -------
    str
        ``"kept"`` (the folder's files were generated from the same inputs), ``"copied"``
        (from the store) or ``"generated"``.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in output_paths(out_dir, name)]
    inputs = [content_digest(design), name, generator_source_digest()]
    stamp = out_dir / ".generation"

    def recorded():
        return inputs + [_sha(p) for p in paths]

    complete = stamp.is_file() and all(p.is_file() for p in paths)
    if complete and stamp.read_text().splitlines() == recorded():
        return "kept"
    stamp.unlink(missing_ok=True)
    entry = None
    if store is not None:
        entry = Path(store) / hashlib.sha256("\n".join(inputs).encode()).hexdigest()[:24]
    how = "copied" if entry is not None and _restore(entry, paths) else "generated"
    if how == "generated":
        write()
        if entry is not None:
            _store(entry, paths)
    stamp.write_text("\n".join(recorded()) + "\n")
    return how


def _restore(entry, paths):
    """Copy the files of store entry ``entry`` to ``paths`` (each replaced atomically); False
    (nothing copied) when the entry is missing or a file does not match its digest."""
    try:
        digests = dict(line.split(" ", 1) for line in (entry / "digests").read_text().splitlines())
    except (OSError, ValueError):
        return False
    if sorted(digests) != sorted(p.name for p in paths):
        return False
    for p in paths:
        src = entry / p.name
        if not src.is_file() or _sha(src) != digests[p.name].strip():
            return False
    for p in paths:
        tmp = p.with_name(f".{p.name}.tmp{os.getpid()}")
        shutil.copyfile(entry / p.name, tmp)
        os.replace(tmp, p)
    return True


def _store(entry, paths):
    """Add ``paths`` to the store as ``entry`` (a folder renamed into place once complete;
    an entry another process stored first is kept)."""
    if entry.exists():
        return
    entry.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=entry.parent))
    try:
        for p in paths:
            shutil.copyfile(p, tmp / p.name)
        (tmp / "digests").write_text("".join(f"{p.name} {_sha(p)}\n" for p in paths))
        os.rename(tmp, entry)
    except OSError:
        pass  # stored by another process meanwhile (or not writable): the files are in place
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
