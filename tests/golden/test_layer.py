"""logdot.golden.layer: the layer engine's golden model and its requantizer.

* The integer layer (tiles, program counters, bias, ReLU, requantizer) equals an exact
  float64 convolution of the dequantized codes, whatever the lanes x PEs tiling; outputs are
  ``log_quant`` of the exact real values; validation messages.
* The requantizer :class:`~logdot.golden.layer.Requant` equals ``logdot.golden.quant.log_quant``
  / ``linear_quant`` applied to the exact real value ``z * 2**(scale_x2 / 2)`` of every integer
  ``z`` of small input widths, for many output formats and scales, and an independent
  big-integer reference written from the definition of log rounding (the RTL requantizers
  against it: tests/hdl/test_requant.py).
"""

import itertools
import math
import random
import re

import pytest
import torch

from logdot.golden.formats import EngineConfig
from logdot.golden.layer import (
    Layer,
    LayerConfig,
    output_tlast,
    pack_outputs,
    unpack_outputs,
    z_bits,
)
from logdot.golden.quant import linear_quant, log_quant
from logdot.golden.requant import Requant, log_thresholds
from tests.support.layers import all_inputs, random_layer

pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- golden model: conv mapping vs an exact float convolution -------------------------------


def test_program_counters_carry_over(seed):
    """A stream run in two pieces (start_beat / start_dot) equals the whole stream."""
    g = torch.Generator().manual_seed(seed)
    eng = EngineConfig(lanes=3, act_bits=5, weight_bits=4, act_format="log", max_beats=8)
    rq = Requant.log(in_bits=z_bits(eng, 8), scale_x2=0, bits=5, fsr=9, signed=True)
    cfg = LayerConfig(engine=eng, pes=2, depth=5, dots=3, bias_bits=8, relu=False, requant=rq)
    layer = random_layer(cfg, g)
    acts = torch.randint(0, 32, (40, 3), generator=g)
    last = torch.rand(40, generator=g) < 0.4
    last[[11, 39]] = True
    whole = layer.run(acts, last)
    k = int(last[:12].sum())
    a = layer.run(acts[:12], last[:12])
    b = layer.run(acts[12:], last[12:], start_beat=12, start_dot=k)
    assert torch.equal(torch.cat([a, b]), whole)
    assert not torch.equal(layer.run(acts[12:], last[12:]), b)  # the counters matter


def test_pack_unpack_outputs_round_trip(seed):
    g = torch.Generator().manual_seed(seed)
    eng = EngineConfig(lanes=2, act_bits=8, weight_bits=3)
    rq = Requant(in_bits=z_bits(eng, 4), kind="linear", out_bits=7, out_signed=True, shift=2)
    cfg = LayerConfig(engine=eng, pes=5, depth=1, dots=1, bias_bits=4, relu=False, requant=rq)
    rows = torch.randint(-64, 64, (30, 5), generator=g)
    assert torch.equal(unpack_outputs(cfg, pack_outputs(cfg, rows)), rows)


def test_layer_validation_messages():
    eng = EngineConfig(lanes=2, act_bits=4, weight_bits=3)
    rq = Requant(in_bits=z_bits(eng, 4), kind="log", out_bits=4)
    ok = dict(engine=eng, pes=2, depth=3, dots=1, bias_bits=4, relu=True, requant=rq)
    with pytest.raises(ValueError, match=re.escape("pes must be an integer in [1, 256], not 0")):
        LayerConfig(**{**ok, "pes": 0})
    with pytest.raises(TypeError, match=re.escape("relu must be a bool, not 1")):
        LayerConfig(**{**ok, "relu": 1})
    bad_rq = Requant(in_bits=5, kind="log", out_bits=4)
    msg = f"requant.in_bits must be {z_bits(eng, 4)} (result_bits {eng.result_bits}, "
    with pytest.raises(ValueError, match=re.escape(msg)):
        LayerConfig(**{**ok, "requant": bad_rq})
    cfg = LayerConfig(**ok)
    with pytest.raises(
        ValueError, match=re.escape("weights must have shape (3, 2, 2), not (3, 2)")
    ):
        Layer(
            config=cfg,
            weights=torch.zeros(3, 2, dtype=torch.int64),
            bias=torch.zeros(1, 2, dtype=torch.int64),
        )
    with pytest.raises(ValueError, match=re.escape("weights must be in [0, 7], not 8")):
        Layer(
            config=cfg, weights=torch.full((3, 2, 2), 8), bias=torch.zeros(1, 2, dtype=torch.int64)
        )
    with pytest.raises(ValueError, match=re.escape("bias must be in [-8, 7], not 9")):
        Layer(
            config=cfg, weights=torch.zeros(3, 2, 2, dtype=torch.int64), bias=torch.full((1, 2), 9)
        )
    with pytest.raises(TypeError, match=re.escape("weights must be an integer tensor, not")):
        Layer(
            config=cfg,
            weights=torch.zeros(3, 2, 2, dtype=torch.float32),
            bias=torch.zeros(1, 2, dtype=torch.int64),
        )


def weight_layout_layer():
    """3 lanes of 5-bit weight codes, 2 PEs, 2 words per PE: hand-picked codes."""
    eng = EngineConfig(lanes=3, act_bits=4, weight_bits=5)
    rq = Requant(in_bits=z_bits(eng, 4), kind="log", out_bits=4)
    cfg = LayerConfig(engine=eng, pes=2, depth=2, dots=1, bias_bits=4, relu=False, requant=rq)
    weights = torch.tensor([[[1, 2, 3], [31, 0, 17]], [[0, 0, 1], [16, 8, 4]]])
    return Layer(config=cfg, weights=weights, bias=torch.zeros(1, 2, dtype=torch.int64))


def test_weight_word_layout():
    """Weight lane ``i`` of a memory word sits at bits ``[weight_lsb(i) +: weight_bits]``, lane
    0 in the low bits: the words Layer.weight_words packs (and the manifest and the RTL take)."""
    layer = weight_layout_layer()
    cfg = layer.config
    assert [cfg.weight_lsb(i) for i in range(3)] == [0, 5, 10]
    assert (cfg.word_bits, cfg.word_bytes) == (15, 2)
    # 1 + 2 * 32 + 3 * 1024 = 3137; 31 + 17 * 1024 = 17439; 1024; 16 + 8 * 32 + 4 * 1024 = 4368
    assert layer.weight_words() == [[3137, 17439], [1024, 4368]]
    assert cfg.pack_weight_word([1, 2, 3]) == 3137
    assert cfg.pack_weight_word(torch.tensor([16, 8, 4])) == 4368
    unpacked = [[cfg.unpack_weight_word(w) for w in row] for row in layer.weight_words()]
    assert unpacked == layer.weights.tolist()
    # Bits above word_bits (w_axis_tdata padding) are ignored.
    assert cfg.unpack_weight_word(3137 | 1 << 15) == [1, 2, 3]


def test_weight_word_validation_messages():
    cfg = weight_layout_layer().config
    with pytest.raises(ValueError, match=re.escape("a weight word holds 3 codes, not 2")):
        cfg.pack_weight_word([1, 2])
    msg = "weight code of lane {} must be in [0, 31], not {}"
    with pytest.raises(ValueError, match=re.escape(msg.format(2, 32))):
        cfg.pack_weight_word([1, 2, 32])
    with pytest.raises(ValueError, match=re.escape(msg.format(0, -1))):
        cfg.pack_weight_word([-1, 2, 3])


def test_stream_layouts():
    """Activation lane ``i`` at ``act_lsb(i)`` of s_axis_tdata, PE ``p``'s output at
    ``out_lsb(p)`` of m_axis_tdata."""
    cfg = weight_layout_layer().config
    assert [cfg.act_lsb(i) for i in range(3)] == [0, 4, 8]
    assert [cfg.out_lsb(p) for p in range(2)] == [0, 4]
    assert (cfg.in_bits, cfg.in_bytes, cfg.out_bits, cfg.out_bytes) == (12, 2, 8, 1)
    # Raw 4-bit fields: -1 is 0xf.
    assert cfg.pack_acts([[1, 2, 3], [-1, 0, 5]]) == [0x321, 0x50F]
    assert pack_outputs(cfg, [[3, 12], [0, 15]]) == [0xC3, 0xF0]


def ref_log_codes(zs, scale_x2, bits, fsr, signed_out):
    """:func:`ref_log_code` for a list of integers, vectorized over the big-integer part."""
    cb = bits - 1 if signed_out else bits
    z = torch.tensor(zs, dtype=torch.int64)
    sq_len = torch.tensor([(v * v).bit_length() for v in zs], dtype=torch.int64)
    k = torch.div(sq_len + scale_x2, 2, rounding_mode="floor")
    c = (k - fsr + (1 << cb)).clamp(0, (1 << cb) - 1)
    c = torch.where((z == 0) | ((z < 0) & (not signed_out)), 0, c)
    return (c + ((z < 0) & (c != 0)).to(torch.int64) * (1 << cb)).tolist()


def ref_log_code(z, scale_x2, bits, fsr, signed_out):
    """Independent reference: k = round(log2 |v|) for v = z * 2**(scale_x2/2), from
    v**2 >= 2**(2k - 1)  <=>  k = (bit_length(z*z) + scale_x2) // 2 (exact integers)."""
    cb = bits - 1 if signed_out else bits
    if z == 0 or (z < 0 and not signed_out):
        return 0
    k = ((z * z).bit_length() + scale_x2) // 2
    c = min(max(k - fsr + (1 << cb), 0), (1 << cb) - 1)
    return c | ((1 << cb) if (z < 0 and c) else 0)


# -- the requantizer (Requant) ---------------------------------------------------------------


@pytest.mark.parametrize("in_bits", [2, 3, 5, 9])
def test_golden_log_equals_log_quant_of_exact_value(in_bits):
    zs = all_inputs(in_bits)
    checked = 0
    for scale_x2 in range(-9, 10):
        for bits in (2, 3, 4, 6):
            for signed_out in (False, True):
                for fsr in range(-8, 12):
                    rq = Requant.log(
                        in_bits=in_bits, scale_x2=scale_x2, bits=bits, fsr=fsr, signed=signed_out
                    )
                    got = rq(zs)
                    ref = ref_log_codes(zs.tolist(), scale_x2, bits, fsr, signed_out)
                    assert got.tolist() == ref, (rq, scale_x2, fsr)
                    if scale_x2 % 2 == 0:
                        s = scale_x2 // 2
                        # log_quant's exact integer path (z has scale 2**s: shift the FSR) ...
                        lq = log_quant(zs, bits, fsr - s, signed=signed_out)
                        assert torch.equal(got, lq)
                        # ... and its float path on the exact float64 value z * 2**s.
                        v = torch.ldexp(zs.to(torch.float64), torch.tensor(s))
                        assert torch.equal(got, log_quant(v, bits, fsr, signed=signed_out))
                    else:
                        # Half-integer scale: the float64 of z * sqrt(2) * 2**floor(s) is not
                        # exact, but no such value lies near a rounding threshold except the
                        # powers of two times sqrt(2), whose float64 is above the threshold.
                        v = zs.to(torch.float64) * math.sqrt(2.0) * 2.0 ** (scale_x2 >> 1)
                        assert torch.equal(got, log_quant(v, bits, fsr, signed=signed_out))
                    checked += 1
    assert checked == 19 * 4 * 2 * 20
    # The vectorized reference is the scalar one.
    assert ref_log_codes(zs.tolist(), -3, 4, 2, True) == [
        ref_log_code(int(z), -3, 4, 2, True) for z in zs
    ]


@pytest.mark.parametrize("in_bits", [2, 4, 9])
def test_golden_linear_equals_linear_quant_of_exact_value(in_bits):
    zs = all_inputs(in_bits)
    grid = itertools.product(range(-6, 7, 2), (2, 3, 5, 12), (False, True), range(-6, 8))
    for scale_x2, bits, signed_out, exp in grid:
        s = scale_x2 // 2
        rq = Requant.linear(
            in_bits=in_bits, scale_x2=scale_x2, bits=bits, exp=exp, signed=signed_out
        )
        got = rq(zs)
        assert torch.equal(got, linear_quant(zs, bits, exp - s, signed=signed_out))
        v = torch.ldexp(zs.to(torch.float64), torch.tensor(s))
        assert torch.equal(got, linear_quant(v, bits, exp, signed=signed_out))


def test_golden_wide_inputs_random_and_extremes(seed):
    """64-bit inputs (extremes included) agree with log_quant / linear_quant's integer path."""
    rng = random.Random(seed)
    n = 64
    zs = [-(1 << 63), (1 << 63) - 1, 0, 1, -1, 2, 3, -3]
    zs += [rng.randrange(-(1 << 63), 1 << 63) >> rng.randrange(64) for _ in range(2000)]
    # Every power of two and its neighbours, and every rounding threshold and its neighbours.
    for e, t in enumerate(log_thresholds(63)):
        for v in (1 << e, t, t - 1):
            zs += [v, -v]
    z = torch.tensor(zs, dtype=torch.int64)
    for signed_out in (False, True):
        for fsr in (-40, 0, 30, 63, 70):
            rq = Requant.log(in_bits=n, scale_x2=0, bits=16, fsr=fsr, signed=signed_out)
            assert torch.equal(rq(z), log_quant(z, 16, fsr, signed=signed_out))
            ref = [ref_log_code(v, 0, 16, fsr, signed_out) for v in zs]
            assert rq(z).tolist() == ref
        for exp in (-3, 0, 5, 40, 70):
            rq = Requant.linear(in_bits=n, scale_x2=0, bits=32, exp=exp, signed=signed_out)
            assert torch.equal(rq(z), linear_quant(z, 32, exp, signed=signed_out))


def test_log_rounding_thresholds_are_exact():
    """T_e = ceil(2**(e + 1/2)): T_e**2 >= 2**(2e+1) > (T_e - 1)**2."""
    for e, t in enumerate(log_thresholds(62)):
        assert t * t >= 1 << (2 * e + 1) > (t - 1) ** 2
    assert log_thresholds(6) == [2, 3, 6, 12, 23, 46]


def test_a_wrong_golden_is_caught():
    """The comparison can fail: an offset one too large disagrees with log_quant."""
    zs = all_inputs(6)
    good = Requant.log(in_bits=6, scale_x2=0, bits=4, fsr=3)
    bad = Requant(in_bits=6, kind="log", out_bits=4, offset=good.offset + 1)
    assert torch.equal(good(zs), log_quant(zs, 4, 3, signed=False))
    assert not torch.equal(bad(zs), log_quant(zs, 4, 3, signed=False))


def test_requant_validation_messages():
    with pytest.raises(ValueError, match=re.escape("kind must be one of 'log', 'linear', not 'x'")):
        Requant(in_bits=8, kind="x", out_bits=4)
    msg = "in_bits must be an integer in [2, 64], not 65"
    with pytest.raises(ValueError, match=re.escape(msg)):
        Requant(in_bits=65, kind="log", out_bits=4)
    with pytest.raises(TypeError, match=re.escape("out_signed must be a bool, not 1")):
        Requant(in_bits=8, kind="log", out_bits=4, out_signed=1)
    with pytest.raises(ValueError, match=re.escape("shift applies to kind='linear' only")):
        Requant(in_bits=8, kind="log", out_bits=4, shift=2)
    with pytest.raises(ValueError, match=re.escape("a linear output needs an integer result")):
        Requant.linear(in_bits=8, scale_x2=3, bits=8, exp=0)
    rq = Requant.log(in_bits=4, scale_x2=0, bits=3, fsr=0)
    with pytest.raises(ValueError, match=re.escape("z must be in [-8, 7] (in_bits=4), not 8")):
        rq(torch.tensor([1, 8]))
    with pytest.raises(TypeError, match=re.escape("z must be an integer torch tensor, not list")):
        rq([1, 2])


def test_output_tlast_closes_every_dots_beats():
    """m_axis_tlast of the layer engine: 1 on output i with i mod dots == dots - 1."""
    from tests.support.layers import small_layer

    cfg = small_layer(1, depth=3, dots=3).config
    assert output_tlast(cfg, 7) == [False, False, True, False, False, True, False]
    assert output_tlast(cfg, 3, start_dot=2) == [True, False, False]
    assert output_tlast(small_layer(1, depth=1, dots=1).config, 3) == [True] * 3
    assert output_tlast(cfg, 0) == []
    with pytest.raises(ValueError, match="count"):
        output_tlast(cfg, -1)
