"""Bridge from trained :mod:`logdot.golden.nn` layers to layer specs, and ``layer.pt`` files.

:func:`spec_from_module` reads a calibrated :class:`logdot.golden.nn.LogConv2d` /
``LogLinear`` (its weight codes and scales, its input quantizer, and the next layer's input
quantizer as the output format) into a :class:`logdot.golden.mapping.LayerSpec`;
:func:`save_spec` and :func:`load_spec` store a spec as a ``layer.pt`` file (a plain dict
that loads with ``weights_only=True``), the input of ``logdot generate-layer --spec``.

Public API
----------
spec_from_module
    A spec from a calibrated :mod:`logdot.golden.nn` layer.
save_spec, load_spec
    Write and read a ``layer.pt`` file.
"""

from __future__ import annotations

import os
import tempfile

import torch

from . import nn as gnn
from .mapping import LayerSpec

__all__ = ["load_spec", "save_spec", "spec_from_module"]


#: Quantizer formats of the weights that are not log codes -> LayerSpec weight formats.
_WEIGHT_FORMATS = {"linear": "linear", "twoterm": "twoterm"}


def _quantizer_log_format(q, what):
    if q.format == "log2":
        return "log"
    if q.format == "linear":
        return "linear"
    raise ValueError(
        f"{what} must be quantized to 'log2' or 'linear' for the engine, not {q.format!r}"
    )


def spec_from_module(module, *, relu, next_quant=None, out_bits=None, frac_bits=None):
    """A :class:`~logdot.golden.mapping.LayerSpec` from a calibrated :mod:`logdot.golden.nn` layer.

    Parameters
    ----------
    module : logdot.golden.nn.LogConv2d or logdot.golden.nn.LogLinear
        Weights quantized to ``log2`` or ``logsqrt2`` (the logdot engine), ``twoterm``
        (two-term power-of-two weights: the engine with two shifters per lane) or ``linear``
        (two's complement: the multiplier baseline); ``twoterm`` and ``linear`` need
        ``linear`` inputs; input
        quantized to ``log2`` (base-2 log activations) or ``linear``; calibrated (eval mode).
    relu : bool
        Whether a ReLU follows the layer.
    next_quant : logdot.golden.nn.Quantizer or None
        The input quantizer of the next layer: the output is requantized to its format.
        ``None``: a linear output at the result's own scale (e.g. the logits).
    out_bits : int or None
        Width of that linear output (default: wide enough to never saturate).
    frac_bits : int or None
        Engine fraction bits (base-sqrt(2) weights).
    """
    if not isinstance(module, gnn.LogConv2d | gnn.LogLinear):
        raise TypeError(f"module must be a logdot.golden.nn.LogConv2d or LogLinear, not {module!r}")
    wq, aq = module.weight_quant, module.input_quant
    if not (wq.is_log or wq.format in _WEIGHT_FORMATS):
        raise ValueError(
            "weights must be quantized to 'log2', 'logsqrt2', 'twoterm' or 'linear', not "
            f"{wq.format!r}"
        )
    act_format = _quantizer_log_format(aq, "the input")
    if not bool(aq.has_scale):
        raise ValueError("the input quantizer is not calibrated (logdot.golden.nn.calibrate)")
    with torch.no_grad():
        w_fsr = wq.choose_scale(module.weight)
        w_codes = wq.codes(module.weight, w_fsr)
    if wq.format == "linear":
        # The multiplier baseline: two's-complement values stored as raw weight_bits fields.
        w_codes = w_codes & ((1 << wq.bits) - 1)
    if next_quant is None:
        out_kind, ob, osigned, oscale = "linear", 64, True, None
    else:
        out_kind = _quantizer_log_format(next_quant, "the next layer's input")
        if not bool(next_quant.has_scale):
            raise ValueError("the next layer's input quantizer is not calibrated")
        ob, osigned, oscale = next_quant.bits, next_quant.signed, int(next_quant.scale)
    conv = isinstance(module, gnn.LogConv2d)
    spec = LayerSpec(
        kind="conv2d" if conv else "linear",
        weight_codes=w_codes,
        weight_bits=wq.bits,
        weight_base=wq.base or 2,
        weight_fsr=int(w_fsr),
        act_format=act_format,
        act_bits=aq.bits,
        act_signed=aq.signed,
        act_scale=int(aq.scale),
        bias=None if module.bias is None else module.bias.detach().to(torch.float64),
        relu=relu,
        out_kind=out_kind,
        out_bits=ob if out_bits is None else out_bits,
        out_signed=osigned,
        out_scale=oscale,
        stride=tuple(module.stride) if conv else (1, 1),
        padding=tuple(module.padding) if conv else (0, 0),
        frac_bits=frac_bits if wq.base == "sqrt2" else None,
        weight_format=_WEIGHT_FORMATS.get(wq.format, "log"),
    )
    return spec


def save_spec(spec, path):
    """Write ``spec`` as a ``layer.pt`` file (a plain dict; loads with ``weights_only=True``).

    The file is written atomically (a temporary file in the same folder, then renamed).
    """
    path = os.fspath(path)
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".layer.", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        torch.save(spec.to_dict(), tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; every other output is 0644
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_spec(path):
    """Read a ``layer.pt`` file written by :func:`save_spec`."""
    d = torch.load(path, weights_only=True)
    return LayerSpec.from_dict(d)
