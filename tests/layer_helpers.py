"""Shared helpers of the layer tests: random layer specs and inputs, and the exact float layer.

Imported by ``test_mapping.py``, ``test_spec_io.py`` and ``test_layer_golden.py``.
"""

import torch
from torch.nn import functional as F

from logdot.golden.mapping import LayerSpec
from logdot.golden.quant import linear_dequant, log_dequant


def random_conv_spec(g, *, cin=3, cout=5, k=3, stride=(1, 1), padding=(1, 1), act="log",
                     base=2, relu=True, out_kind="log", out_scale=2, bias=True, wbits=4,
                     abits=4, act_signed=False, kind="conv2d", weight_fsr=1):  # fmt: skip
    """A random :class:`LayerSpec` (conv2d or linear) drawn from generator ``g``."""
    shape = (cout, cin, k, k) if kind == "conv2d" else (cout, cin)
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
        act_scale=0 if act == "log" else -2,
        bias=b,
        relu=relu,
        out_kind=out_kind,
        out_bits=4 if out_kind == "log" else 12,
        out_signed=not relu,
        out_scale=out_scale,
        stride=stride,
        padding=padding,
        frac_bits=6 if base == "sqrt2" else None,
    )


def random_input(g, spec, n=2, h=6, w=5):
    """Random input codes for ``spec``: ``(n, in_features)`` or ``(n, in, h, w)``."""
    hi = 1 << spec.act_bits
    if spec.kind == "linear":
        return torch.randint(0, hi, (n, spec.in_features), generator=g)
    x = torch.randint(0, hi, (n, spec.weight_codes.shape[1], h, w), generator=g)
    if spec.act_format == "linear" and spec.act_signed:
        x = x - hi // 2
    return x


def dequant_acts(spec, x):
    """Real values of input codes ``x``."""
    if spec.act_format == "log":
        return log_dequant(x, spec.act_bits, spec.act_scale, signed=spec.act_signed)
    return linear_dequant(x, spec.act_bits, spec.act_scale, signed=spec.act_signed)


def float_layer(spec, x, bias_real):
    """Exact float64 layer output (before ReLU) from the dequantized codes."""
    w = log_dequant(spec.weight_codes, spec.weight_bits, spec.weight_fsr, base=spec.weight_base)
    a = dequant_acts(spec, x)
    if spec.kind == "linear":
        return F.linear(a, w, bias_real)
    return F.conv2d(a, w, bias_real, stride=spec.stride, padding=spec.padding)
