"""Content digests: a design object's value and the source code of the generators.

:class:`logdot.tools.layer_sim.LayerSim` regenerates an engine's Verilog only when the
generator's inputs changed: :func:`content_digest` of the design (a
:class:`~logdot.golden.layer.Layer` or :class:`~logdot.golden.mapping.MappedLayer`: nested
frozen dataclasses of numbers, strings, tuples, dicts and integer tensors) together with
:func:`generator_source_digest` (the bytes of every module the Verilog is a function of and
the Amaranth version) names what a generated file was made from.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from pathlib import Path

import torch

__all__ = ["content_digest", "generator_source_digest", "source_digest"]


def content_digest(obj):
    """SHA-256 (hex) of a value: equal values give equal digests, any change of a field, a
    type, a tensor's dtype, shape or element gives another.

    Parameters
    ----------
    obj : object
        ``None``, a bool, int, float, str or bytes, a tuple or list, a dict, a
        :class:`torch.Tensor` or a dataclass instance made of these (nested).

    Returns
    -------
    str
        64 hex digits.

    Raises
    ------
    TypeError
        For a value of any other type (its content has no defined digest).
    """
    h = hashlib.sha256()
    _feed(h, obj)
    return h.hexdigest()


def _feed(h, obj):
    if obj is None or isinstance(obj, (bool, int, float, str, bytes)):
        h.update(f"{type(obj).__name__}:{obj!r};".encode())
    elif isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        h.update(f"tensor:{t.dtype}:{tuple(t.shape)}:".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")
        h.update(b";")
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        h.update(f"{type(obj).__module__}.{type(obj).__qualname__}(".encode())
        for f in dataclasses.fields(obj):
            h.update(f"{f.name}=".encode())
            _feed(h, getattr(obj, f.name))
        h.update(b");")
    elif isinstance(obj, (tuple, list)):
        h.update(f"{type(obj).__name__}[{len(obj)}](".encode())
        for x in obj:
            _feed(h, x)
        h.update(b");")
    elif isinstance(obj, dict):
        h.update(f"dict[{len(obj)}](".encode())
        for k, v in sorted(obj.items(), key=lambda kv: repr(kv[0])):
            _feed(h, k)
            _feed(h, v)
        h.update(b");")
    else:
        raise TypeError(f"no content digest for a {type(obj).__name__}: {obj!r}")


@functools.cache
def generator_source_digest():
    """SHA-256 (hex) of the sources generated Verilog depends on: every ``.py`` file of
    ``logdot.hdl``, ``logdot.golden`` and ``logdot.generators`` and the Amaranth version
    (:func:`source_digest`). Computed once per process."""
    import amaranth

    import logdot.generators
    import logdot.golden
    import logdot.hdl

    pkgs = (logdot.hdl, logdot.golden, logdot.generators)
    roots = {p.__name__: Path(p.__file__).parent for p in pkgs}
    return source_digest(roots, f"amaranth {amaranth.__version__}")


def source_digest(roots, header=""):
    """SHA-256 (hex) of ``header`` and every ``.py`` file below the folders ``roots``
    (``{label: folder}``; each file's label-relative name and bytes, in sorted order)."""
    h = hashlib.sha256(f"{header}\n".encode())
    for label, root in sorted(roots.items()):
        root = Path(root)
        for path in sorted(root.rglob("*.py")):
            h.update(f"{label}/{path.relative_to(root).as_posix()}\0".encode())
            h.update(path.read_bytes() + b"\0")
    return h.hexdigest()
