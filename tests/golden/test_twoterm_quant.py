"""logdot.golden.twoterm_quant against an independent exact reference: the nearest value of the
representable set by Fraction arithmetic, ties to the larger magnitude; FSR selection against
brute force; the straight-through estimator."""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from fractions import Fraction

import pytest
import torch

from logdot.golden.twoterm_quant import (
    fake_twoterm_quant,
    twoterm_dequant,
    twoterm_fsr_calibrate,
    twoterm_fsr_from_max,
    twoterm_quant,
)
from tests.golden.test_twoterm import spec_value


@functools.cache
def ref_values(bits, fsr):
    """``{exact value: raw code}`` of every representable value (zero as code 0)."""
    out = {}
    for raw in range(1 << bits):
        v = spec_value(bits, raw, fsr)
        out.setdefault(v, raw)
    out[Fraction(0)] = 0
    return out


@functools.cache
def _sorted_values(bits, fsr):
    return sorted(ref_values(bits, fsr))


def ref_quant(x, bits, fsr):
    """Nearest representable value of the exact ``x``; ties to the larger magnitude.

    The two representable neighbours of ``x`` (bisection on the sorted set) are compared by
    their exact distances.
    """
    values, ordered = ref_values(bits, fsr), _sorted_values(bits, fsr)
    v = Fraction(x)
    i = bisect.bisect_left(ordered, v)
    cands = ordered[max(i - 1, 0) : i + 1]
    best = min(cands, key=lambda r: (abs(r - v), -abs(r)))
    return values[best]


def _samples(bits, fsr, rng):
    """Random values plus every midpoint of neighbours and its two neighbouring doubles."""
    mags = sorted({abs(v) for v in ref_values(bits, fsr)})
    xs = [0.0, -0.0]
    for a, b in itertools.pairwise(mags):
        mid = float((a + b) / 2)
        assert Fraction(mid) == (a + b) / 2
        for t in (mid, math.nextafter(mid, 0.0), math.nextafter(mid, math.inf)):
            xs += [t, -t]
    top = float(mags[-1])
    xs += [top * 1.2, -top * 7, 1e300, -1e300, 5e-324, top * 1.1666]
    xs += [rng.uniform(-1.3, 1.3) * top for _ in range(100)]
    return xs


@pytest.mark.parametrize("bits", [3, 4, 5, 6, 8])
@pytest.mark.parametrize("fsr", [-4, 0, 1, 7])
def test_quant_is_nearest_with_ties_up(bits, fsr, seed):
    rng = random.Random(seed)
    xs = _samples(bits, fsr, rng)
    got = twoterm_quant(torch.tensor(xs, dtype=torch.float64), bits, fsr).tolist()
    want = [ref_quant(x, bits, fsr) for x in xs]
    assert got == want, f"seed={seed}"
    # Dequantization is exact, and quantizing a representable value returns it.
    deq = twoterm_dequant(torch.tensor(got), bits, fsr).tolist()
    assert [Fraction(d) for d in deq] == [spec_value(bits, q, fsr) for q in got]
    assert twoterm_quant(torch.tensor(deq, dtype=torch.float64), bits, fsr).tolist() == got


def test_ties_go_to_the_larger_magnitude():
    # 5 bits, FSR 0: neighbours 0.375 and 0.5 (midpoint 0.4375), 0 and 0.125 (0.0625).
    x = torch.tensor(
        [0.4375, -0.4375, 0.0625, -0.0625, math.nextafter(0.0625, 0)], dtype=torch.float64
    )
    q = twoterm_quant(x, 5, 0)
    assert twoterm_dequant(q, 5, 0).tolist() == [0.5, -0.5, 0.125, -0.125, 0.0]


def test_narrow_float_dtypes_are_exact(seed):
    rng = random.Random(seed)
    xs = [rng.uniform(-1, 1) for _ in range(200)]
    for dtype in (torch.float16, torch.bfloat16, torch.float32):
        t = torch.tensor(xs, dtype=dtype)
        want = [ref_quant(float(v), 5, 0) for v in t.tolist()]
        assert twoterm_quant(t, 5, 0).tolist() == want


def ref_fsr_from_max(x, bits):
    """Smallest FSR at which max|x| quantizes to what the unbounded set rounds it to."""
    top = max(abs(Fraction(v)) for v in x)
    if top == 0:
        return 0
    for f in range(-600, 600):
        # With the unbounded set, the value above 1.5 * 2**(f-1) is 2**f.
        if top < Fraction(7, 4) * Fraction(2) ** (f - 1):
            return f
    raise AssertionError


def test_fsr_from_max_and_calibrate_match_brute_force(seed):
    rng = random.Random(seed)
    for _ in range(12):
        bits = rng.choice([3, 4, 5, 8])
        scale = 2.0 ** rng.randint(-8, 8)
        x = torch.tensor([rng.gauss(0, 1) * scale for _ in range(64)], dtype=torch.float64)
        f0 = twoterm_fsr_from_max(x, bits)
        assert f0 == ref_fsr_from_max(x.tolist(), bits), f"seed={seed}"
        # max|x| does not saturate at f0 but does at f0 - 1.
        top = float(x.abs().max())
        m = Fraction(3, 2) * Fraction(2) ** (f0 - 1)
        assert abs(Fraction(top)) < Fraction(7, 6) * m
        # Calibrated: the least squared error (exact Fractions) over the window, ties larger.
        errs = {}
        for f in range(f0 - 8, f0 + 1):
            q = [ref_quant(v, bits, f) for v in x.tolist()]
            pairs = zip(q, x.tolist(), strict=True)
            errs[f] = sum((spec_value(bits, c, f) - Fraction(v)) ** 2 for c, v in pairs)
        best = min(errs, key=lambda f: (errs[f], -f))
        assert twoterm_fsr_calibrate(x, bits) == best, f"seed={seed}"


def test_fsr_edge_cases():
    assert twoterm_fsr_from_max(torch.zeros(3), 5) == 0
    assert twoterm_fsr_calibrate(torch.zeros(3), 5) == 0
    # 1.75 * 2**-1 = 0.875 is the midpoint above 0.75 (FSR 0): it saturates at FSR 0.
    assert twoterm_fsr_from_max(torch.tensor([0.875], dtype=torch.float64), 5) == 1
    below = torch.tensor([math.nextafter(0.875, 0)], dtype=torch.float64)
    assert twoterm_fsr_from_max(below, 5) == 0
    with pytest.raises(ValueError, match="must not be empty"):
        twoterm_fsr_from_max(torch.zeros(0), 5)
    with pytest.raises(ValueError, match="outside logdot's limits"):
        twoterm_fsr_from_max(torch.tensor([1e300], dtype=torch.float64), 5)


def test_fake_quant_is_straight_through():
    x = torch.tensor([0.3, -0.05, 1.7, 0.4375], requires_grad=True)
    y = fake_twoterm_quant(x, 5, 0)
    assert y.dtype == torch.float32
    assert y.tolist() == twoterm_dequant(twoterm_quant(x.detach(), 5, 0), 5, 0).tolist()
    (y * torch.tensor([1.0, 2.0, 3.0, 4.0])).sum().backward()
    assert x.grad.tolist() == [1.0, 2.0, 3.0, 4.0]


def test_bad_arguments():
    with pytest.raises(TypeError, match="floating-point tensor for two-term weights"):
        twoterm_quant(torch.tensor([1, 2]), 5, 0)
    with pytest.raises(ValueError, match="finite"):
        twoterm_quant(torch.tensor([math.nan]), 5, 0)
    with pytest.raises(ValueError, match=r"bits must be an integer in \[3, 8\], not 9"):
        twoterm_quant(torch.tensor([1.0]), 9, 0)
    with pytest.raises(ValueError, match=r"fsr must be an integer in \[-512, 512\]"):
        twoterm_quant(torch.tensor([1.0]), 5, 513)
    with pytest.raises(ValueError, match=r"codes must be in \[0, 31\]"):
        twoterm_dequant(torch.tensor([32]), 5, 0)


def test_a_wrong_reference_is_caught():
    """The checker fails on a deliberately wrong quantizer (ties to the smaller magnitude)."""
    x = 0.4375  # a tie at 5 bits, FSR 0
    values = ref_values(5, 0)
    v = Fraction(x)
    wrong = values[min(values, key=lambda r: (abs(r - v), abs(r)))]
    assert twoterm_quant(torch.tensor([x], dtype=torch.float64), 5, 0).tolist() != [wrong]


def test_errors_name_the_argument():
    """Every argument error of the FSR search and the fake quantizer names the argument."""
    ints = torch.tensor([1, 2])
    with pytest.raises(TypeError, match=r"^x must be a floating-point tensor for two-term"):
        twoterm_fsr_from_max(ints, 5)
    with pytest.raises(ValueError, match=r"^bits must be an integer in \[3, 8\], not 9$"):
        twoterm_fsr_from_max(torch.zeros(3), 9)
    with pytest.raises(ValueError, match=r"^x must not be empty$"):
        twoterm_fsr_from_max(torch.zeros(0), 5)
    with pytest.raises(TypeError, match=r"^x must be a floating-point tensor for fake quant"):
        fake_twoterm_quant(ints, 5, 0)


@pytest.mark.parametrize(
    ("call", "exc", "msg"),
    [
        (lambda: twoterm_quant(torch.tensor([1, 2]), 5, 0), TypeError,
         "x must be a floating-point tensor for two-term weights, not torch.int64"),
        (lambda: twoterm_quant(torch.tensor([1.0, math.inf]), 5, 0), ValueError,
         "x must contain only finite values, not inf"),
        (lambda: twoterm_quant(torch.tensor([1.0]), 9, 0), ValueError,
         "bits must be an integer in [3, 8], not 9"),
        (lambda: twoterm_quant(torch.tensor([1.0]), 2, 0), ValueError,
         "bits must be an integer in [3, 8], not 2"),
        (lambda: twoterm_quant(torch.tensor([1.0]), 5, -513), ValueError,
         "fsr must be an integer in [-512, 512], not -513"),
        (lambda: twoterm_dequant([3], 5, 0), TypeError,
         "codes must be a torch.Tensor, not list"),
        (lambda: twoterm_dequant(torch.tensor([3.0]), 5, 0), TypeError,
         "codes must be an integer tensor, not torch.float32"),
        (lambda: twoterm_dequant(torch.tensor([3, 32]), 5, 0), ValueError,
         "codes must be in [0, 31] for bits=5, not 32"),
        (lambda: twoterm_dequant(torch.tensor([0]), 5, 513), ValueError,
         "fsr must be an integer in [-512, 512], not 513"),
        (lambda: twoterm_fsr_from_max(torch.tensor([2.0**512], dtype=torch.float64), 5),
         ValueError,
         "x's largest magnitude needs fsr=513, outside logdot's limits [-512, 512]"),
        (lambda: twoterm_fsr_from_max(torch.tensor([2.0**-514], dtype=torch.float64), 5),
         ValueError, "x's largest magnitude needs fsr=-513, outside logdot's limits [-512, 512]"),
        (lambda: twoterm_fsr_calibrate(torch.tensor([1.0]), 5, search=65), ValueError,
         "search must be an integer in [0, 64], not 65"),
    ],
)  # fmt: skip
def test_error_messages_are_exact(call, exc, msg):
    """The whole message of every argument error (the argument's name, its limits, the bad
    value)."""
    with pytest.raises(exc) as info:
        call()
    assert str(info.value) == msg


def test_fsr_from_max_at_the_limits():
    """The extreme FSRs are accepted: ``2**511`` needs FSR 512 (it is below the saturation
    midpoint ``1.75 * 2**511``), ``2**-513`` needs -512 (at least ``1.75 * 2**-514``)."""
    assert twoterm_fsr_from_max(torch.tensor([2.0**511], dtype=torch.float64), 5) == 512
    assert twoterm_fsr_from_max(torch.tensor([-(2.0**-513)], dtype=torch.float64), 5) == -512
    tiny = torch.tensor([2.0**-513, 0.0], dtype=torch.float64)
    assert twoterm_fsr_calibrate(tiny, 5) == -512


def test_calibrate_of_a_unit_maximum():
    """``max|x| = 1`` is an ordinary maximum (only an all-zero tensor short-cuts to FSR 0):
    1.0 and 0.5 are exact at FSR 1 (largest single term ``2**0``)."""
    x = torch.tensor([1.0, -0.5], dtype=torch.float64)
    assert twoterm_fsr_from_max(x, 5) == 1
    assert twoterm_fsr_calibrate(x, 5) == 1
    assert twoterm_dequant(twoterm_quant(x, 5, 1), 5, 1).tolist() == [1.0, -0.5]
