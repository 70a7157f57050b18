"""Layers for the layer-engine tests: random layer specifications and their inputs, the exact
float64 layer, a small integer layer, and every integer of a width."""

from __future__ import annotations

import dataclasses

import torch
from torch.nn import functional as F

from logdot.golden.formats import EngineConfig
from logdot.golden.layer import Layer, LayerConfig, z_bits
from logdot.golden.mapping import LayerSpec
from logdot.golden.nn import quantize_model
from logdot.golden.quant import linear_dequant, log_dequant
from logdot.golden.requant import Requant
from logdot.golden.twoterm_quant import twoterm_dequant

__all__ = [
    "all_inputs",
    "assert_spec_round_trips",
    "dequant_acts",
    "float_layer",
    "integer_layer",
    "layer_by_layer",
    "quantize_log2",
    "random_conv_spec",
    "random_input",
    "random_layer",
    "small_layer",
]


def all_inputs(n):
    """Every integer of the signed width ``n``, in increasing order (an int64 tensor)."""
    return torch.arange(-(1 << (n - 1)), 1 << (n - 1), dtype=torch.int64)


def quantize_log2(model, calib_data, *, act_signed=False):
    """``model`` quantized with 4-bit log2 weights and 4-bit log2 activations.

    Parameters
    ----------
    model : torch.nn.Module
        The float model (copied).
    calib_data : torch.Tensor or None
        Calibration inputs (``None``: uncalibrated activation quantizers).
    act_signed : bool
        Signed activations.

    Returns
    -------
    torch.nn.Module
    """
    return quantize_model(
        model,
        weight_format="log2",
        weight_bits=4,
        act_format="log2",
        act_bits=4,
        act_signed=act_signed,
        calib_data=calib_data,
    )


def random_conv_spec(g, *, cin=3, cout=5, k=3, stride=(1, 1), padding=(1, 1), act="log",
                     base=2, relu=True, out_kind="log", out_scale=2, bias=True, wbits=4,
                     abits=4, act_signed=False, kind="conv2d", weight_fsr=1,
                     weight_format="log", act_scale=None, out_bits=None):  # fmt: skip
    """A random :class:`~logdot.golden.layer.LayerSpec` (a conv2d or a linear layer;
    ``weight_format="twoterm"``: random two-term weight fields, which need ``act="linear"``).

    ``k`` is the kernel size or ``(height, width)``; ``act_scale`` defaults to 0 for log
    activations and -2 for linear ones, ``out_bits`` to 4 for a log output and 12 for a linear
    one. Draws the weight codes from ``g``, then (``bias=True``) the float bias.
    """
    kernel = (k, k) if isinstance(k, int) else tuple(k)
    shape = (cout, cin, *kernel) if kind == "conv2d" else (cout, cin)
    w = torch.randint(0, 1 << wbits, shape, generator=g)
    b = torch.randn(cout, generator=g, dtype=torch.float64) * 4 if bias else None
    return LayerSpec(
        kind=kind,
        weight_codes=w,
        weight_bits=wbits,
        weight_base=base,
        weight_fsr=weight_fsr,
        act_format=act,
        act_bits=abits,
        act_signed=act_signed,
        act_scale=(0 if act == "log" else -2) if act_scale is None else act_scale,
        bias=b,
        relu=relu,
        out_kind=out_kind,
        out_bits=(4 if out_kind == "log" else 12) if out_bits is None else out_bits,
        out_signed=not relu,
        out_scale=out_scale,
        stride=stride,
        padding=padding,
        frac_bits=6 if base == "sqrt2" else None,
        weight_format=weight_format,
    )


def assert_spec_round_trips(spec):
    """``LayerSpec.from_dict(spec.to_dict())`` equals ``spec`` field by field (tensors equal in
    value and dtype); returns the dict."""
    d = spec.to_dict()
    back = LayerSpec.from_dict(d)
    for f in dataclasses.fields(spec):
        a, b = getattr(spec, f.name), getattr(back, f.name)
        if isinstance(a, torch.Tensor):
            assert a.dtype == b.dtype and torch.equal(a, b), f.name
        else:
            assert a == b, (f.name, a, b)
    return d


def random_input(g, spec, n=2, h=6, w=5):
    """Random input codes of ``spec`` (a batch of ``n``; ``h`` x ``w`` maps for a conv)."""
    hi = 1 << spec.act_bits
    if spec.kind == "linear":
        return torch.randint(0, hi, (n, spec.in_features), generator=g)
    x = torch.randint(0, hi, (n, spec.weight_codes.shape[1], h, w), generator=g)
    if spec.act_format == "linear" and spec.act_signed:
        x = x - hi // 2
    return x


def dequant_acts(spec, x):
    """The real values of the activation codes ``x`` of ``spec``."""
    if spec.act_format == "log":
        return log_dequant(x, spec.act_bits, spec.act_scale, signed=spec.act_signed)
    return linear_dequant(x, spec.act_bits, spec.act_scale, signed=spec.act_signed)


def float_layer(spec, x, bias_real):
    """Exact float64 layer output (before ReLU) from the dequantized codes."""
    if spec.weight_format == "twoterm":
        w = twoterm_dequant(spec.weight_codes, spec.weight_bits, spec.weight_fsr)
    else:
        w = log_dequant(spec.weight_codes, spec.weight_bits, spec.weight_fsr, base=spec.weight_base)
    a = dequant_acts(spec, x)
    if spec.kind == "linear":
        return F.linear(a, w, bias_real)
    return F.conv2d(a, w, bias_real, stride=spec.stride, padding=spec.padding)


def integer_layer(ml, x, w):
    """A mapped layer's outputs from integer weight values ``w`` (shaped like the spec's
    codes): the integer convolution or matrix product (float64, exact for these sizes), the
    integer bias, ReLU and the engine's requantizer."""
    spec = ml.spec
    w = torch.as_tensor(w).to(torch.float64)
    xf = torch.as_tensor(x).to(torch.float64)
    if spec.kind == "conv2d":
        z = F.conv2d(xf, w, stride=spec.stride, padding=spec.padding)
        z = z + ml.bias_int.to(torch.float64).reshape(1, -1, 1, 1)
    else:
        z = xf @ w.T + ml.bias_int.to(torch.float64)
    z = z.round().to(torch.int64)
    if spec.relu:
        z = z.clamp(min=0)
    return ml.config.requant(z)


def layer_by_layer(net, x, fold, reference):
    """Run network ``net`` (folding ``fold``) on input codes ``x`` layer by layer: pools and
    flattens directly, every engine layer through its golden layer, asserted equal to
    ``reference(layer, mapped_layer, inputs)``; then assert the end equals
    :func:`logdot.golden.network.network_forward`."""
    from logdot.golden.network import network_forward

    y = x
    for layer, ml in zip(net.layers, net.mapped(fold), strict=True):
        if layer.type == "maxpool":
            y = F.max_pool2d(y.to(torch.float64), layer.kernel).to(torch.int64)
        elif layer.type == "flatten":
            y = y.reshape(len(y), -1)
        else:
            got = ml.forward(y)
            assert torch.equal(got, reference(layer, ml, y)), (layer.name, fold)
            y = got
    assert torch.equal(y, network_forward(net, x, fold=fold))


def small_layer(
    seed, *, depth=3, dots=2, act_format="log", accumulate="exact", fsr=9, weight_terms=1
):
    """A small random integer :class:`~logdot.golden.layer.Layer` (3 lanes x 2 PEs, ReLU,
    log output at ``fsr``; ``accumulate="log"``: log-domain accumulation with ``F = 4``;
    ``weight_terms=2``: two-term weights, which need ``act_format="linear"``)."""
    g = torch.Generator().manual_seed(seed)
    log = {"accumulate": "log", "frac_bits": 4} if accumulate == "log" else {}
    eng = EngineConfig(
        lanes=3,
        act_bits=4,
        weight_bits=4,
        act_format=act_format,
        max_beats=8,
        weight_terms=weight_terms,
        **log,
    )
    rq = Requant.log(in_bits=z_bits(eng, 6), scale_x2=0, bits=4, fsr=fsr)
    cfg = LayerConfig(engine=eng, pes=2, depth=depth, dots=dots, bias_bits=6, relu=True, requant=rq)
    return random_layer(cfg, g)


def random_layer(config, g):
    """The golden :class:`~logdot.golden.layer.Layer` of ``config`` with random codes drawn
    from the generator ``g``: first every weight code (``weight_bits`` wide, shape ``(depth,
    pes, lanes)``), then every bias (``bias_bits``-bit two's complement, shape ``(dots,
    pes)``)."""
    eng, half = config.engine, 1 << (config.bias_bits - 1)
    shape = (config.depth, config.pes, eng.lanes)
    return Layer(
        config=config,
        weights=torch.randint(0, 1 << eng.weight_bits, shape, generator=g),
        bias=torch.randint(-half, half, (config.dots, config.pes), generator=g),
    )
