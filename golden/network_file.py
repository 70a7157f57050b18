"""The network file: ``torch.save`` of :meth:`logdot.golden.network.Network.to_dict`, schema
``logdot.network/1`` (``logdot.network/2`` with a two-term weight layer,
:func:`logdot.golden.network.network_schema`), written atomically and validated on load.

:func:`load_network` checks the schema and version, every key and type, every shape and range
(through :class:`~logdot.golden.network.Network` and
:class:`~logdot.golden.layer.LayerSpec`), and recomputes everything derived (each engine's
``scale_x2`` and ``bias_int``, the input and output formats, the output shape and scale);
every failure is one ``ValueError`` line naming the file and, where it applies, the layer.

Public API
----------
save_network, load_network
    Write and read a network file.
network_from_dict
    Validate a network dict (what :func:`load_network` does after reading the file).
"""

from __future__ import annotations

import os
import tempfile

import torch

# The layer mapping (kept in one import block: it may move to its own module).
from .mapping import LayerSpec
from .network import (
    _SCHEMA_NAME,
    ENGINE_TYPES,
    LAYER_TYPES,
    NETWORK_SCHEMA,
    NETWORK_VERSIONS,
    Format,
    Network,
    NetworkLayer,
    _shape,
    network_schema,
)

__all__ = ["load_network", "network_from_dict", "save_network"]

_LAYER_KEYS = {"type", "name", "source", "in_shape", "out_shape"}
_ENGINE_KEYS = {"spec", "scale_x2", "bias_int"}
_EXTRA_KEYS = {
    "conv2d": _ENGINE_KEYS,
    "linear": _ENGINE_KEYS,
    "maxpool": {"kernel"},
    "flatten": set(),
}
_TOP_KEYS = {"schema", "input_shape", "input_format", "output_shape", "output_format",
             "output_scale_x2", "layers", "producer"}  # fmt: skip


def _check_schema(d):
    if not isinstance(d, dict):
        raise ValueError(f"not a logdot network file (a dict expected, not {type(d).__name__})")
    schema = d.get("schema")
    if not isinstance(schema, str) or not schema.startswith(_SCHEMA_NAME + "/"):
        raise ValueError(
            f"not a logdot network file (schema {schema!r}, expected {NETWORK_SCHEMA!r})"
        )
    ver = schema.rsplit("/", 1)[1]
    if ver not in NETWORK_VERSIONS:
        raise ValueError(
            f"unsupported network file version {ver!r} (this logdot reads versions "
            f"{', '.join(NETWORK_VERSIONS)})"
        )
    missing, extra = _TOP_KEYS - set(d), set(d) - _TOP_KEYS
    if missing or extra:
        raise ValueError(f"network file keys: missing {sorted(missing)}, unknown {sorted(extra)}")


def network_from_dict(cls, d):
    """Validate dict ``d`` and build a ``cls`` (a :class:`Network`) from it."""
    _check_schema(d)
    input_shape = _shape(d["input_shape"], "input_shape", (3,))
    if not isinstance(d["layers"], list) or not d["layers"]:
        raise ValueError(f"layers must be a non-empty list, not {type(d['layers']).__name__}")
    layers = []
    for i, ld in enumerate(d["layers"]):
        t = ld.get("type") if isinstance(ld, dict) else None
        where = f"layer {i} ({t})"
        if t not in LAYER_TYPES:
            raise ValueError(f"layer {i}: type must be one of {', '.join(LAYER_TYPES)}, not {t!r}")
        want = _LAYER_KEYS | _EXTRA_KEYS[t]
        if set(ld) != want:
            raise ValueError(
                f"{where}: keys missing {sorted(want - set(ld))}, unknown {sorted(set(ld) - want)}"
            )
        for key in ("name", "source"):
            if not isinstance(ld[key], str):
                raise ValueError(f"{where}: {key} must be a string, not {ld[key]!r}")
        spec = kernel = None
        if t in ENGINE_TYPES:
            try:
                spec = LayerSpec.from_dict(ld["spec"])
            except (ValueError, TypeError, KeyError) as e:
                raise ValueError(f"{where}: bad spec: {str(e) or type(e).__name__}") from None
        if t == "maxpool":
            kernel = _shape(ld["kernel"], f"{where}: kernel", (2,))
        layers.append(
            NetworkLayer(
                type=t,
                in_shape=_shape(ld["in_shape"], f"{where}: in_shape"),
                out_shape=_shape(ld["out_shape"], f"{where}: out_shape"),
                name=ld["name"],
                source=ld["source"],
                spec=spec,
                kernel=kernel,
            )
        )
    want_schema = network_schema(layers)
    if d["schema"] != want_schema:
        raise ValueError(
            f"schema {d['schema']!r} != {want_schema!r}: version 2 is the network file with "
            "two-term weight layers, version 1 the one without"
        )
    try:
        net = cls(input_shape=input_shape, layers=tuple(layers))
    except TypeError as e:
        raise ValueError(str(e)) from None
    # Everything derived must match a recomputation.
    for i, (ld, ml) in enumerate(zip(d["layers"], net.mapped(), strict=True)):
        if ml is None:
            continue
        where = f"layer {i} ({ld['type']})"
        if ld["scale_x2"] != ml.scale_x2:
            raise ValueError(f"{where}: scale_x2 {ld['scale_x2']!r} != {ml.scale_x2} (recomputed)")
        b = ld["bias_int"]
        if not isinstance(b, torch.Tensor) or not torch.equal(b, ml.bias_int):
            raise ValueError(f"{where}: bias_int does not match the spec's bias (recomputed)")
    checks = (
        ("input_format", Format.from_dict(d["input_format"], "input_format"), net.input_format),
        ("output_format", Format.from_dict(d["output_format"], "output_format"), net.output_format),
        ("output_shape", _shape(d["output_shape"], "output_shape"), net.output_shape),
        ("output_scale_x2", d["output_scale_x2"], net.output_scale_x2),
    )
    for key, got, want in checks:
        if got != want:
            raise ValueError(f"{key} {got} != {want} (recomputed from the layers)")
    if not isinstance(d["producer"], dict):
        raise ValueError(f"producer must be a dict, not {d['producer']!r}")
    return net


# -- the file --------------------------------------------------------------------------------


def save_network(net, path):
    """Write ``net`` as a network file: atomically (temp file + rename), mode 0644."""
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, not {type(net).__name__}")
    d = net.to_dict()
    path = os.fspath(path)
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".network.", suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        torch.save(d, tmp)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_network(path):
    """Read and validate a network file (:func:`save_network`); ``ValueError`` naming the file."""
    path = os.fspath(path)
    try:
        d = torch.load(path, weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as e:  # torch raises many types for a damaged file
        msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ValueError(f"{path}: not a readable network file ({msg})") from None
    try:
        return network_from_dict(Network, d)
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        msg = " ".join(str(e).split()) or type(e).__name__
        raise ValueError(f"{path}: {msg}") from None
