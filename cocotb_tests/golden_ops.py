"""The golden-model operations a cocotb test bench may ask for: the allow-list of
:mod:`golden_service`.

Each operation is a function ``op(session, *args)`` registered under a name in
:data:`OPERATIONS`; its arguments and its result are plain Python data (ints, bools, floats,
strs, ``None``, lists, tuples, dicts; :class:`~logdot.golden.formats.EngineConfig` as an
argument): the operation converts lists to tensors and back. Stateful golden objects (a layer engine
with its manifest contents, a scoreboard's copy of the layer's weight memory, a loaded
network) stay in the :class:`Session` behind integer handles. The operations only call the
golden model (:mod:`logdot.golden`), besides reading a generated manifest (its schema is the
generator's, and the generators import Amaranth): ``logdot.golden.engine.dot``/``output_tlast``,
:class:`logdot.golden.layer.Layer` and its packing helpers (the layer rebuilt from its
manifest by :func:`logdot.generators.layer.layer_from_manifest`),
:func:`logdot.golden.network_file.load_network` and
:func:`logdot.golden.network_stream.stream_forward`.

This module imports neither torch nor Amaranth at import time (the simulator imports it for
:func:`execute` in a standalone run, where the operations then import them themselves).
"""

from __future__ import annotations

import threading

from logdot.golden.formats import EngineConfig

__all__ = ["OPERATIONS", "Session", "check_plain", "execute"]

#: Operation name -> function ``(session, *args)``.
OPERATIONS = {}

#: Types of plain data (containers are checked element by element). Floats only for the
#: informational figures of a manifest: no float decides a bit.
_SCALARS = (bool, int, float, str, type(None))


def operation(name):
    """Register ``fn`` as operation ``name`` (decorator)."""

    def register(fn):
        OPERATIONS[name] = fn
        return fn

    return register


def check_plain(value, what, *, allow=()):
    """Raise ``TypeError`` unless ``value`` is plain data (instances of ``allow`` too)."""
    if isinstance(value, _SCALARS) or (allow and isinstance(value, allow)):
        return
    if isinstance(value, list | tuple):
        for item in value:
            check_plain(item, what, allow=allow)
        return
    if isinstance(value, dict):
        for key, item in value.items():
            check_plain(key, what, allow=allow)
            check_plain(item, what, allow=allow)
        return
    raise TypeError(f"{what} must be plain Python data, not {type(value).__module__}."
                    f"{type(value).__qualname__}")  # fmt: skip


class Session:
    """Golden objects of one server (or one standalone process) behind integer handles."""

    def __init__(self):
        self._objects = {}
        self._lock = threading.Lock()

    def put(self, kind, obj):
        """Keep ``obj`` (of ``kind``, a label) and return its handle."""
        with self._lock:
            handle = len(self._objects) + 1
            self._objects[handle] = (kind, obj)
        return handle

    def get(self, kind, handle):
        """The object of ``kind`` behind ``handle``."""
        entry = self._objects.get(handle) if isinstance(handle, int) else None
        if entry is None or entry[0] != kind:
            raise KeyError(f"no {kind} with handle {handle!r}")
        return entry[1]


def execute(session, op, args):
    """Run operation ``op`` with ``args`` in ``session``; its result, checked to be plain."""
    fn = OPERATIONS.get(op) if isinstance(op, str) else None
    if fn is None:
        raise ValueError(f"unknown golden operation {op!r} (allowed: {', '.join(OPERATIONS)})")
    check_plain(list(args), f"the arguments of {op}", allow=(EngineConfig,))
    result = fn(session, *args)
    check_plain(result, f"the result of {op}")
    return result


def _int64(values):
    import torch

    return torch.tensor(values, dtype=torch.int64)


# -- manifests -------------------------------------------------------------------------------


@operation("manifest.read")
def _manifest_read(session, kind, path):
    """The JSON manifest ``path`` of a generated ``kind`` (``"engine"``: schema
    :data:`logdot.generators.engine.MANIFEST_SCHEMA`, ``"const"``:
    :data:`logdot.generators.const.MANIFEST_SCHEMA`), its schema checked."""
    import json
    from pathlib import Path

    if kind == "engine":
        from logdot.generators.engine import MANIFEST_SCHEMA
    elif kind == "const":
        from logdot.generators.const import MANIFEST_SCHEMA
    else:
        raise ValueError(f"manifest kind must be 'engine' or 'const', not {kind!r}")
    manifest = json.loads(Path(path).read_text())
    if manifest.get("schema") != MANIFEST_SCHEMA:
        raise ValueError(
            f"manifest schema must be {MANIFEST_SCHEMA!r}, not {manifest.get('schema')!r}"
        )
    return manifest


# -- engines ---------------------------------------------------------------------------------


@operation("engine.dot")
def _engine_dot(session, config, acts, weights, last=None):
    """:func:`logdot.golden.engine.dot` of beats ``acts``/``weights`` (lists of lane lists),
    ``last`` a list of bools or None; the results, a list of ints."""
    import torch

    from logdot.golden.engine import dot

    tlast = None if last is None else torch.tensor(last, dtype=torch.bool)
    return dot(config, _int64(acts), _int64(weights), tlast).tolist()


@operation("engine.output_tlast")
def _engine_output_tlast(session, count):
    """:func:`logdot.golden.engine.output_tlast`."""
    from logdot.golden.engine import output_tlast

    return output_tlast(count)


# -- layer engines ---------------------------------------------------------------------------


class _LayerModel:
    """A scoreboard's model of one layer engine: the weight memory as the load port wrote it."""

    def __init__(self, layer):
        self.layer = layer
        self.weights = layer.weights.clone()


@operation("layer.open")
def _layer_open(session, manifest_path):
    """The layer engine of a manifest (:func:`logdot.generators.layer.layer_from_manifest`):
    ``(handle, info)``, ``info`` the plain facts a test bench needs."""
    from logdot.generators.layer import layer_from_manifest

    layer, latency, weight_port = layer_from_manifest(manifest_path)
    cfg = layer.config
    info = {
        "engine": cfg.engine.parameters(),
        "lanes": cfg.lanes,
        "pes": cfg.pes,
        "depth": cfg.depth,
        "dots": cfg.dots,
        "out_bits": cfg.out_bits,
        "act_lsb": [cfg.act_lsb(k) for k in range(cfg.lanes)],
        "latency": latency,
        "weight_port": weight_port,
        "description": repr(cfg),
    }
    return session.put("layer", layer), info


@operation("layer.model")
def _layer_model(session, layer):
    """A new scoreboard model of layer ``layer`` (its own copy of the weight memory)."""
    return session.put("layer model", _LayerModel(session.get("layer", layer)))


@operation("layer.run")
def _layer_run(session, model, acts, last, start_beat, start_dot):
    """:meth:`logdot.golden.layer.Layer.run` of the model's layer with the model's weights:
    the output rows (lists of ints) of the closed dot products ``acts``/``last``."""
    import torch

    m = session.get("layer model", model)
    layer = type(m.layer)(config=m.layer.config, weights=m.weights, bias=m.layer.bias)
    rows = layer.run(_int64(acts), torch.tensor(last), start_beat=start_beat, start_dot=start_dot)
    return rows.tolist()


@operation("layer.write_weight")
def _layer_write_weight(session, model, addr, pe, word):
    """Write one ``w_axis`` word (:meth:`LayerConfig.unpack_weight_word`) into the model's
    weight memory at ``(addr, pe)``."""
    m = session.get("layer model", model)
    m.weights[addr, pe] = _int64(m.layer.config.unpack_weight_word(word))


@operation("layer.weights")
def _layer_weights(session, model):
    """``(model's weights, the layer's generated weights)`` as nested lists."""
    m = session.get("layer model", model)
    return m.weights.tolist(), m.layer.weights.tolist()


@operation("layer.pack_dots")
def _layer_pack_dots(session, layer, dots):
    """The ``s_axis`` words of each dot product (lists of activation rows,
    :meth:`LayerConfig.pack_acts`)."""
    cfg = session.get("layer", layer).config
    return [cfg.pack_acts(dot) for dot in dots]


@operation("layer.pack_weight_words")
def _layer_pack_weight_words(session, layer, codes):
    """``w_axis`` words of lane-code lists (:meth:`LayerConfig.pack_weight_word`)."""
    cfg = session.get("layer", layer).config
    return [cfg.pack_weight_word(c) for c in codes]


@operation("layer.weight_words")
def _layer_weight_words(session, layer):
    """The generated weight memory as ``w_axis`` words (:meth:`Layer.weight_words`)."""
    return session.get("layer", layer).weight_words()


@operation("layer.unpack_outputs")
def _layer_unpack_outputs(session, layer, words):
    """Output rows of ``m_axis`` words (:func:`logdot.golden.layer.unpack_outputs`)."""
    from logdot.golden.layer import unpack_outputs

    return unpack_outputs(session.get("layer", layer).config, words).tolist()


@operation("layer.output_tlast")
def _layer_output_tlast(session, layer, count, start_dot):
    """:func:`logdot.golden.layer.output_tlast`."""
    from logdot.golden.layer import output_tlast

    return output_tlast(session.get("layer", layer).config, count, start_dot=start_dot)


# -- networks --------------------------------------------------------------------------------


@operation("network.open")
def _network_open(session, path):
    """The network file ``path`` (:func:`logdot.golden.network_file.load_network`):
    ``(handle, info)``."""
    from logdot.golden.network_file import load_network
    from logdot.golden.network_stream import output_bits

    net = load_network(path)
    info = {"input_shape": tuple(net.input_shape), "result_bits": output_bits(net)[1]}
    return session.put("network", net), info


@operation("network.image_stream")
def _network_image_stream(session, net, seed):
    """The input beats ``(data, last)`` (:func:`logdot.golden.network_stream.pixel_stream`)
    of a random image of codes over the whole input range, drawn with a torch generator
    seeded with ``seed``."""
    import torch

    from logdot.golden.network_stream import pixel_stream

    n = session.get("network", net)
    g = torch.Generator().manual_seed(seed)
    image = torch.randint(0, n.input_format.range[1] + 1, n.input_shape, generator=g)
    return [(b.data, b.last) for b in pixel_stream(n, image)]


@operation("network.forward")
def _network_forward(session, net, beats):
    """The output words of :func:`logdot.golden.network_stream.stream_forward` on the beats
    ``(data, last)``."""
    from logdot.golden.network_stream import Beat, stream_forward

    result = stream_forward(session.get("network", net), [Beat(d, bool(t)) for d, t in beats])
    return [int(w) for w in result.outputs]
