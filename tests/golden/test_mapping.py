"""The mapping of trained layers onto a layer engine (``logdot.golden.mapping``).

The integer layer (im2col order, channel and output-channel tiling, bias rounding, the chosen
requantizer) equals an exact float64 convolution of the dequantized codes, whatever the
lanes x PEs tiling; outputs are ``log_quant`` / ``linear_quant`` of the exact real values.
"""

import math
import re

import pytest
import torch
from torch.nn import functional as F

from logdot.golden.mapping import LayerSpec, bias_to_int, im2col, map_layer
from logdot.golden.quant import linear_quant, log_quant
from tests.support.layers import float_layer, random_conv_spec, random_input

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- conv mapping vs an exact float convolution ----------------------------------------------


@pytest.mark.parametrize(
    "opts",
    [
        dict(),
        dict(stride=(2, 2), padding=(1, 1), relu=False),
        dict(act="linear", act_signed=True, abits=6, out_kind="linear", out_scale=-3),
        dict(k=1, padding=(0, 0), cin=7, cout=2),
        dict(kind="linear", cin=11, cout=4),
    ],
    ids=["conv", "stride2_norelu", "linear_acts_linear_out", "1x1", "fc"],
)
def test_mapped_layer_equals_exact_float_layer(opts, seed):
    """Base-2 weights: every integer z equals the exact float64 layer (with the integer bias),
    and every output equals log_quant / linear_quant of that exact value."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, **opts)
    x = random_input(g, spec)
    ml = map_layer(spec, lanes=4, pes=3)
    z, (n, pos, _) = ml.reference_z(x)
    s = ml.scale_x2 // 2
    assert ml.scale_x2 % 2 == 0
    bias_real = ml.bias_int.to(torch.float64) * 2.0**s
    ref = float_layer(spec, x, bias_real)
    ref = ref.reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    if spec.relu:
        ref = ref.clamp(min=0)
    assert torch.equal(torch.ldexp(z.to(torch.float64), torch.tensor(s)), ref)
    out = ml.forward(x)
    flat = out.reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    rq = ml.config.requant
    if rq.kind == "log":
        assert torch.equal(flat, log_quant(ref, rq.out_bits, spec.out_scale, signed=rq.out_signed))
    else:
        assert torch.equal(
            flat, linear_quant(ref, rq.out_bits, spec.out_scale, signed=rq.out_signed)
        )


@pytest.mark.parametrize("base", [2, "sqrt2"])
def test_tiling_does_not_change_the_result(base, seed):
    """Any lanes x PEs geometry computes the same layer (channel tiling, output-channel
    tiling, zero padding of the last beat and of the last tile)."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base=base, cin=3, cout=7)
    x = random_input(g, spec)
    outs = [
        map_layer(spec, lanes=n, pes=p).forward(x)
        for n, p in [(27, 7), (1, 1), (4, 3), (5, 2), (30, 9), (9, 7)]
    ]
    for o in outs[1:]:
        assert torch.equal(o, outs[0])
    ml = map_layer(spec, lanes=4, pes=3)
    assert (ml.beats, ml.tiles, ml.config.depth, ml.config.dots) == (7, 3, 21, 3)
    z, (n, pos, sp) = ml.reference_z(x)
    direct = ml.config.requant(z).reshape(n, pos, 7).transpose(1, 2).reshape(n, 7, *sp)
    assert torch.equal(direct, outs[0])


def test_sqrt2_half_scale_output_is_log_quant_of_exact_value(seed):
    """Base sqrt(2) with an odd weight exponent: a half-integer result scale; the requantized
    code equals log_quant of the exact real value z * 2**(scale_x2 / 2)."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2", wbits=4, weight_fsr=2)
    ml = map_layer(spec, lanes=8, pes=2)
    assert ml.scale_x2 % 2 == 1
    x = random_input(g, spec)
    z, (n, pos, _) = ml.reference_z(x)
    v = z.to(torch.float64) * math.sqrt(2.0) * 2.0 ** (ml.scale_x2 >> 1)
    out = ml.forward(x).reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    assert torch.equal(out, log_quant(v, 4, spec.out_scale, signed=spec.out_signed))


def test_im2col_order_matches_torch_weights(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 9, (2, 3, 5, 4), generator=g)
    w = torch.randint(-3, 4, (4, 3, 3, 3), generator=g)
    vec, (ho, wo) = im2col(x, (3, 3), (2, 1), (1, 0))
    y = (vec @ w.reshape(4, -1).T).transpose(1, 2).reshape(2, 4, ho, wo)
    ref = F.conv2d(x.double(), w.double(), stride=(2, 1), padding=(1, 0))
    assert torch.equal(y.double(), ref)


def test_map_layer_validation_messages():
    with pytest.raises(TypeError, match=re.escape("spec must be a LayerSpec, not None")):
        map_layer(None, lanes=1, pes=1)


def test_weight_program_layout():
    """map_layer's weight program: word ``t * beats + b`` of PE ``p`` holds weights
    ``b * lanes ..`` of channel ``t * pes + p``, zero codes past the vector and past the last
    channel; bias entry ``t`` of PE ``p`` is channel ``t * pes + p``'s (zero past the end)."""
    spec = LayerSpec(
        kind="linear", weight_codes=torch.arange(1, 16).reshape(3, 5), weight_bits=5,
        weight_base=2, weight_fsr=1, act_format="log", act_bits=4, act_signed=False,
        act_scale=0, bias=torch.tensor([1.0, -2.0, 3.0], dtype=torch.float64), relu=True,
        out_kind="log", out_bits=4, out_signed=False, out_scale=2,
    )  # fmt: skip
    ml = map_layer(spec, lanes=2, pes=2)
    assert (ml.beats, ml.tiles, ml.config.depth, ml.config.dots) == (3, 2, 6, 2)
    assert ml.layer.weights.tolist() == [
        [[1, 2], [6, 7]],
        [[3, 4], [8, 9]],
        [[5, 0], [10, 0]],
        [[11, 12], [0, 0]],
        [[13, 14], [0, 0]],
        [[15, 0], [0, 0]],
    ]
    # The memory words: lane 0 in the low bits (weight_bits = 5).
    assert ml.layer.weight_words()[:3] == [[65, 230], [131, 296], [5, 10]]
    b = bias_to_int(spec.bias, ml.scale_x2).tolist()
    assert ml.bias_int.tolist() == b
    assert ml.layer.bias.tolist() == [[b[0], b[1]], [b[2], 0]]


def test_bias_to_int_rounds_half_to_even():
    """The bias in units of the result LSB ``2**(scale_x2 / 2)``, rounded half to even."""
    bias = torch.tensor([2.5, 3.5, -0.5, 1.25, 10.0], dtype=torch.float64)
    assert bias_to_int(bias, 0).tolist() == [2, 4, 0, 1, 10]
    assert bias_to_int(bias, -2).tolist() == [5, 7, -1, 2, 20]  # LSB 1/2
    assert bias_to_int(bias, 2).tolist() == [1, 2, 0, 1, 5]  # LSB 2: 1.25, 1.75, -0.25, ...
    # LSB sqrt(2): 10 / sqrt(2) = 7.07...
    assert bias_to_int(torch.tensor([10.0], dtype=torch.float64), 1).tolist() == [7]
