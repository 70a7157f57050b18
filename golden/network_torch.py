"""From a quantized PyTorch model to a network file, and the models' accuracies side by side.

:func:`export_network` takes a model quantized with :func:`logdot.golden.nn.quantize_model`
(and calibrated) whose forward pass is a chain of

* ``Conv2d`` (any kernel and stride, zero padding, groups 1, dilation 1), optionally followed
  by ``BatchNorm2d`` (folded into the convolution's weights and bias at export; the folded
  weights are quantized by the layer's own weight quantizer),
* ``ReLU`` (after a ``Conv2d`` or ``Linear``, possibly with pooling or flattening between:
  max pooling and flattening commute with it),
* ``MaxPool2d`` with ``kernel_size == stride`` (square or not), no padding, dilation 1, floor
  mode (``ceil_mode=False``; the rows and columns no window reaches are dropped),
* ``Flatten`` (``start_dim=1``), and
* ``Linear`` (after a ``Flatten``),

an ``nn.Sequential`` (nested ones are flattened) or any module whose ``forward`` traces
(``torch.fx``) to such a chain of submodules and ``F.relu`` / ``torch.flatten(x, 1)`` /
``F.max_pool2d`` calls. Every ``Conv2d`` / ``Linear`` becomes a layer engine
(:func:`logdot.golden.layer.spec_from_module`) whose requantizer produces the next engine's
input format; the last one outputs its exact integer result (linear, two's complement, as
wide as its weights and bias can make it). Anything else is a ``ValueError`` naming the
model's layer index and type, e.g. ``layer 3 (MaxPool2d): kernel_size 3 != stride 2; only
kernel_size == stride is supported``; nothing is written then.

:func:`accuracies` scores the float model, the fake-quantized model and the golden network
(:func:`logdot.golden.network.network_forward`) on the same images.
"""

from __future__ import annotations

import copy
import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F

from . import nn as gnn

# The layer mapping (kept in one import block: it may move to its own module).
from .mapping import map_layer
from .network import (
    Network,
    NetworkLayer,
    _layer_out,
    _pool_key,
    _shape,
    conv_out_shape,
    encode_input,
    linear_out_shape,
    network_forward,
    pool_out_shape,
    raw_output_bits,
)
from .network_file import save_network
from .spec_io import spec_from_module

__all__ = [
    "accuracies",
    "export_network",
    "model_chain",
    "network_from_model",
    "predict",
    "predict_outputs",
]

_SUPPORTED = "Conv2d, BatchNorm2d (after a Conv2d), ReLU, MaxPool2d, Flatten, Linear"


def _pair(v):
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


# -- the chain of modules ---------------------------------------------------------------------


class _Tracer(torch.fx.Tracer):
    def is_leaf_module(self, m, qualname):
        return isinstance(m, gnn.LogConv2d | gnn.LogLinear) or super().is_leaf_module(m, qualname)


def _flat_sequential(model, prefix=""):
    out = []
    for name, m in model.named_children():
        full = f"{prefix}{name}"
        if isinstance(m, nn.Sequential):
            out += _flat_sequential(m, full + ".")
        else:
            out.append((full, m))
    return out


def _node_module(node, root, i):
    """The module equivalent of one traced node."""
    if node.op == "call_module":
        if node.args[1:] or node.kwargs:
            raise ValueError(f"layer {i} ({node.target}): called with extra arguments")
        return node.target, root.get_submodule(node.target)
    args, kw = node.args[1:], dict(node.kwargs)
    name = node.name
    if node.op == "call_function" and node.target in (F.relu, torch.relu):
        return name, nn.ReLU()
    if node.op == "call_method" and node.target == "relu" and not args and not kw:
        return name, nn.ReLU()
    flat = (node.op == "call_function" and node.target is torch.flatten) or (
        node.op == "call_method" and node.target == "flatten"
    )
    if flat:
        start = kw.pop("start_dim", args[0] if args else 0)
        end = kw.pop("end_dim", args[1] if len(args) > 1 else -1)
        return name, nn.Flatten(start, end)
    if node.op == "call_function" and node.target is F.max_pool2d:
        return name, nn.MaxPool2d(*args, **kw)
    raise ValueError(f"layer {i} ({name}): unsupported operation; supported: {_SUPPORTED}")


def model_chain(model):
    """The model's forward pass as a list of ``(name, module)``, in order.

    ``nn.Sequential`` directly (nested ones flattened), anything else through ``torch.fx``
    (``F.relu``, ``torch.flatten`` and ``F.max_pool2d`` calls become their modules).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if isinstance(model, nn.Sequential):
        return _flat_sequential(model)
    try:
        graph = _Tracer().trace(model)
    except Exception as e:  # fx raises many types for untraceable code
        msg = " ".join(str(e).split())[:200]
        raise ValueError(
            f"cannot trace {type(model).__name__}.forward as a chain of layers ({msg}); "
            "use an nn.Sequential"
        ) from None
    nodes = [n for n in graph.nodes if n.op not in ("placeholder", "output")]
    inputs = [n for n in graph.nodes if n.op == "placeholder"]
    if len(inputs) != 1:
        raise ValueError(f"the model's forward must take one input, not {len(inputs)}")
    prev, chain = inputs[0], []
    for i, node in enumerate(nodes):
        where = f"layer {i} ({node.name})"
        if list(node.all_input_nodes) != [prev] or not node.args or node.args[0] is not prev:
            raise ValueError(
                f"{where}: the forward pass is not a chain of layers (it is not applied to "
                "the previous layer's output alone)"
            )
        if len(prev.users) != 1:
            raise ValueError(
                f"{where}: the forward pass is not a chain of layers (its input is also used "
                "elsewhere)"
            )
        chain.append(_node_module(node, model, i))
        prev = node
    return chain


# -- export -------------------------------------------------------------------------------------


def _fold_bn(conv, bn, where):
    """A copy of ``conv`` with the eval-mode batch norm ``bn`` folded into weight and bias."""
    if not bn.track_running_stats or bn.running_mean is None:
        raise ValueError(f"{where}: needs running statistics (track_running_stats=True)")
    if bn.num_features != conv.out_channels:
        raise ValueError(f"{where}: num_features {bn.num_features} != {conv.out_channels}")
    with torch.no_grad():
        var, mean = bn.running_var.double(), bn.running_mean.double()
        g = bn.weight.double() if bn.affine else torch.ones_like(var)
        beta = bn.bias.double() if bn.affine else torch.zeros_like(var)
        s = g / torch.sqrt(var + bn.eps)
        b = conv.bias.double() if conv.bias is not None else torch.zeros_like(var)
        new = copy.deepcopy(conv)
        new.weight.copy_((conv.weight.double() * s.reshape(-1, 1, 1, 1)).to(conv.weight.dtype))
        new.bias = nn.Parameter(((b - mean) * s + beta).to(conv.weight.dtype))
    return new


def _ops(chain):
    """Check every module; ``[(kind, index, name, module-or-kernel, source)]``."""
    ops = []
    for i, (name, m) in enumerate(chain):
        kind = type(m).__name__
        where = f"layer {i} ({kind})"
        if isinstance(m, gnn.LogConv2d | gnn.LogLinear):
            ops.append(["engine", i, name, m, kind.removeprefix("Log")])
        elif type(m) in (nn.Conv2d, nn.Linear):
            raise ValueError(f"{where}: not quantized (use logdot.golden.nn.quantize_model)")
        elif isinstance(m, nn.BatchNorm2d):
            prev = ops[-1] if ops else None
            if prev is None or prev[1] != i - 1 or not isinstance(prev[3], gnn.LogConv2d):
                raise ValueError(f"{where}: batch norm must directly follow a Conv2d")
            prev[3] = _fold_bn(prev[3], m, where)
            prev[4] += "+BatchNorm2d"
        elif type(m) is nn.ReLU:
            if not any(op[0] == "engine" for op in ops):
                raise ValueError(f"{where}: a ReLU must follow a Conv2d or Linear")
            ops.append(["relu", i, name, None, kind])
        elif type(m) is nn.MaxPool2d:
            k, s = _pair(m.kernel_size), _pair(m.stride if m.stride is not None else m.kernel_size)
            if k != s:
                ks = m.kernel_size if k[0] == k[1] else k
                ss = m.stride if s[0] == s[1] else s
                raise ValueError(
                    f"{where}: kernel_size {ks} != stride {ss}; only kernel_size == stride "
                    "is supported"
                )
            if _pair(m.padding) != (0, 0) or _pair(m.dilation) != (1, 1) or m.return_indices:
                raise ValueError(f"{where}: only padding 0, dilation 1, no indices are supported")
            if m.ceil_mode:
                raise ValueError(f"{where}: ceil_mode is not supported (floor mode only)")
            ops.append(["maxpool", i, name, k, kind])
        elif type(m) is nn.Flatten:
            if m.start_dim != 1 or m.end_dim != -1:
                raise ValueError(
                    f"{where}: only start_dim=1, end_dim=-1 is supported, not "
                    f"{m.start_dim}, {m.end_dim}"
                )
            ops.append(["flatten", i, name, None, kind])
        else:
            raise ValueError(f"{where}: unsupported module; supported: {_SUPPORTED}")
    if not any(op[0] == "engine" for op in ops):
        raise ValueError("the model has no Conv2d or Linear layer")
    return ops


def _engine_spec(module, relu, next_module, frac_bits, where):
    fb = frac_bits if module.weight_quant.base == "sqrt2" else None
    nq = None if next_module is None else next_module.input_quant
    try:
        spec = spec_from_module(module, relu=relu, next_quant=nq, frac_bits=fb)
        if nq is None:
            k, o = spec.in_features, spec.out_channels
            ml = map_layer(spec, lanes=min(k, 1024), pes=min(o, 256))
            bits = raw_output_bits(spec, ml.bias_int)
            spec = dataclasses.replace(spec, out_bits=bits)
    except (ValueError, TypeError) as e:
        raise ValueError(f"{where}: {' '.join(str(e).split())}") from None
    return spec


def network_from_model(qmodel, input_shape, *, frac_bits=None):
    """The :class:`~logdot.golden.network.Network` of a quantized model (module docstring).

    Parameters
    ----------
    qmodel : torch.nn.Module
        From :func:`logdot.golden.nn.quantize_model`, calibrated.
    input_shape : (C, H, W)
        One input image.
    frac_bits : int or None
        Engine fraction bits for base-sqrt(2) weights (default: the engine's default).
    """
    shape = _shape(input_shape, "input_shape", (3,))
    ops = _ops(model_chain(qmodel))
    # Shapes first (from the modules' geometry), then the specs (which need calibration).
    shapes = []
    for kind, i, _, obj, source in ops:
        shapes.append(shape)
        try:
            if kind == "engine" and isinstance(obj, gnn.LogConv2d):
                geometry = (obj.kernel_size, obj.stride, obj.padding)
                shape = conv_out_shape(obj.in_channels, obj.out_channels, *geometry, shape)
            elif kind == "engine":
                shape = linear_out_shape(obj.in_features, obj.out_features, shape)
            elif kind == "maxpool":
                shape = pool_out_shape(obj, shape)
            elif kind == "flatten":
                shape = (math.prod(shape),)
        except ValueError as e:
            raise ValueError(f"layer {i} ({source.split('+')[0]}): {e}") from None
    engines = [j for j, op in enumerate(ops) if op[0] == "engine"]
    layers = []
    for j, (kind, i, name, obj, source) in enumerate(ops):
        if kind == "relu":
            continue
        spec = None
        if kind == "engine":
            nxt = [e for e in engines if e > j]
            relu = any(op[0] == "relu" for op in ops[j + 1 : nxt[0] if nxt else len(ops)])
            nmod = ops[nxt[0]][3] if nxt else None
            spec = _engine_spec(obj, relu, nmod, frac_bits, f"layer {i} ({source.split('+')[0]})")
            kind = spec.kind
        kernel = obj if kind == "maxpool" else None
        layer = NetworkLayer(kind, shapes[j], (), name, source, spec=spec, kernel=kernel)
        layers.append(dataclasses.replace(layer, out_shape=_layer_out(layer, shapes[j])))
    return Network(input_shape=tuple(input_shape), layers=tuple(layers))


def export_network(qmodel, input_shape, path=None, *, frac_bits=None):
    """Export a quantized model as a network file (validated; atomic; mode 0644).

    Parameters
    ----------
    qmodel, input_shape, frac_bits
        As :func:`network_from_model`.
    path : path-like or None
        The network file to write (:func:`logdot.golden.network_file.save_network`); ``None``
        writes nothing. Nothing is written when the model cannot be exported.

    Returns
    -------
    logdot.golden.network.Network
    """
    net = network_from_model(qmodel, input_shape, frac_bits=frac_bits)
    if path is not None:
        save_network(net, path)
    return net


# -- predictions and accuracies -------------------------------------------------------------------


def predict_outputs(net, outputs):
    """Predicted classes of network outputs ``(n, *output_shape)``: the index of the largest
    value (flattened; the first one on ties)."""
    o = torch.as_tensor(outputs, dtype=torch.int64)
    o = o.reshape(len(o), -1)
    return _pool_key(o, net.output_format).argmax(1)


@torch.no_grad()
def predict(model, x, *, batch_size=500):
    """Predicted classes of a PyTorch model (eval mode; the first one on ties)."""
    was = model.training
    model.eval()
    try:
        preds = [model(x[i : i + batch_size]).argmax(1) for i in range(0, len(x), batch_size)]
    finally:
        model.train(was)
    return torch.cat(preds) if preds else torch.zeros(0, dtype=torch.int64)


def accuracies(float_model, qmodel, net, x, y, *, fold=None):
    """Float, fake-quantized and golden-network accuracy on images ``x`` with labels ``y``.

    The golden network gets :func:`~logdot.golden.network.encode_input` of ``x`` (the codes
    of the quantized model's first input quantizer) and runs :func:`network_forward`.

    Returns
    -------
    dict
        ``float``, ``fake_quant``, ``golden`` (accuracies in ``[0, 1]``), ``predictions``
        (a dict of the three prediction tensors) and ``outputs`` (the golden outputs).
    """
    y = torch.as_tensor(y)
    outs = network_forward(net, encode_input(net, x), fold=fold)
    preds = {
        "float": predict(float_model, x),
        "fake_quant": predict(qmodel, x),
        "golden": predict_outputs(net, outs),
    }
    res = {k: float((p == y).double().mean()) if len(y) else 0.0 for k, p in preds.items()}
    return {**res, "predictions": preds, "outputs": outs}
