# amaranth: UnusedElaboratable=no
"""The output-stage requantizer: golden model vs logdot.golden.quant, and RTL vs golden,
exhaustively.

* The golden :class:`logdot.golden.requant.Requant` must equal ``logdot.golden.quant.log_quant`` /
  ``linear_quant`` applied to the exact real value ``z * 2**(scale_x2 / 2)`` of every integer
  ``z`` of small input widths, for many output formats and scales, and an independent
  big-integer reference written from the definition of log rounding.
* The Amaranth requantizers (:mod:`logdot.hdl.requant`) must equal the golden model for every
  integer of their whole input range (small widths), simulated with Amaranth's simulator:
  one circuit holds many requantizers sharing the input, so one sweep checks them all.
"""

import math
import random
import re

import pytest
import torch
from amaranth.hdl import Module, Signal, signed
from amaranth.sim import Simulator

from logdot.golden.quant import linear_quant, log_quant
from logdot.golden.requant import Requant, log_thresholds
from logdot.hdl.requant import LinearRequantizer, LogRequantizer, make_requantizer

#: Small tensors: torch's thread pool only adds overhead (a lot on a busy machine).
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def all_inputs(n):
    return torch.arange(-(1 << (n - 1)), 1 << (n - 1), dtype=torch.int64)


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


# -- the golden requantizer ---------------------------------------------------------------


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
    for scale_x2 in range(-6, 7, 2):
        s = scale_x2 // 2
        for bits in (2, 3, 5, 12):
            for signed_out in (False, True):
                for exp in range(-6, 8):
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
    msg = "requant must be a logdot.golden.requant.Requant, not None"
    with pytest.raises(TypeError, match=re.escape(msg)):
        LogRequantizer(requant=None)
    with pytest.raises(ValueError, match=re.escape("requant.kind must be 'linear', not 'log'")):
        LinearRequantizer(requant=rq)


# -- the RTL requantizers, exhaustively -------------------------------------------------------


def hw_configs(n):
    """Requantizers of input width ``n`` covering flush, pass-through and saturation."""
    out = []
    for half in (False, True):
        for signed_out in (False, True):
            for bits in (2, 3, 5):
                cb = bits - 1 if signed_out else bits
                for offset in sorted({-n - 2, -n // 2, -1, 0, 1, (1 << cb) - 2, (1 << cb) + 1}):
                    out.append(
                        Requant(
                            in_bits=n,
                            kind="log",
                            out_bits=bits,
                            out_signed=signed_out,
                            offset=offset,
                            half=half,
                        )
                    )
    for signed_out in (False, True):
        for bits in (2, 4, n, n + 3):
            for shift in (-3, -1, 0, 1, 2, n - 1, n, n + 2):
                out.append(
                    Requant(
                        in_bits=n, kind="linear", out_bits=bits, out_signed=signed_out, shift=shift
                    )
                )
    return out


def simulate_all(n, requants):
    """Outputs of every requantizer for every input of width ``n`` (Amaranth simulator)."""
    m = Module()
    z = Signal(signed(n), name="z")
    blocks = []
    for i, rq in enumerate(requants):
        b = make_requantizer(rq)
        m.submodules[f"rq{i}"] = b
        m.d.comb += b.z.eq(z)
        blocks.append(b)
    inputs = all_inputs(n).tolist()
    got = [[] for _ in requants]

    async def bench(ctx):
        for v in inputs:
            ctx.set(z, v)
            for i, b in enumerate(blocks):
                got[i].append(ctx.get(b.out))

    sim = Simulator(m)
    sim.add_testbench(bench)
    sim.run()
    return inputs, got


def as_field_values(rq, raw):
    """Raw output bits -> the golden model's integer (two's complement for signed linear)."""
    if rq.kind == "linear" and rq.out_signed:
        b = rq.out_bits
        return [v - (1 << b) if v >> (b - 1) else v for v in raw]
    return raw


@pytest.mark.parametrize("n", [2, 3, 5, 8, 10])
def test_rtl_requantizers_exhaustive(n):
    """Every integer of the input range, every configuration: RTL == golden."""
    requants = hw_configs(n)
    inputs, got = simulate_all(n, requants)
    z = torch.tensor(inputs, dtype=torch.int64)
    assert len(inputs) == 1 << n
    for rq, raw in zip(requants, got, strict=True):
        assert as_field_values(rq, raw) == rq(z).tolist(), rq


def test_rtl_requantizer_from_scales():
    """The requantizers of real layers (built from scales) agree too: 9-bit inputs."""
    requants = [
        Requant.log(in_bits=9, scale_x2=sx2, bits=4, fsr=fsr, signed=sg)
        for sx2 in (-5, -4, 1)
        for fsr in (-3, 0, 4)
        for sg in (False, True)
    ]
    requants += [Requant.linear(in_bits=9, scale_x2=-4, bits=6, exp=e) for e in (-4, -2, 1)]
    inputs, got = simulate_all(9, requants)
    z = torch.tensor(inputs, dtype=torch.int64)
    for rq, raw in zip(requants, got, strict=True):
        assert as_field_values(rq, raw) == rq(z).tolist(), rq


def test_rtl_check_can_fail():
    """A requantizer built with different constants disagrees with the golden model."""
    good = Requant(in_bits=5, kind="log", out_bits=3, offset=1)
    wrong = Requant(in_bits=5, kind="log", out_bits=3, offset=2)
    inputs, got = simulate_all(5, [wrong])
    assert got[0] != good(torch.tensor(inputs)).tolist()
