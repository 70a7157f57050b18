"""Tests of logdot.golden.quant against a slow, independent exact reference (Fraction /
Python ints).

Over 600 lines on purpose: one test file per module, and the independent reference lives with
every quantizer it checks, so each test compares against the same exact definitions.

The reference below never uses frexp, float thresholds or logdot.golden.formats: it decides the
log-domain rounding with exact rational arithmetic, ``(|x| / 2**e)**n >= 2**p``.
"""

import math
import re
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from logdot.golden import quant
from logdot.golden.quant import (
    fake_linear_quant,
    fake_log_quant,
    fsr_calibrate,
    fsr_from_max,
    linear_dequant,
    linear_exp_calibrate,
    linear_exp_from_max,
    linear_quant,
    log_dequant,
    log_quant,
)

BASES = (2, "sqrt2")
SETTINGS = settings(deadline=None, max_examples=150)

# -- the independent reference ------------------------------------------------------------


def ref_floor_log2(v):
    """Exact floor(log2(v)) of a positive Fraction."""
    e = v.numerator.bit_length() - v.denominator.bit_length()
    if Fraction(2) ** e > v:
        e -= 1
    assert Fraction(2) ** e <= v < Fraction(2) ** (e + 1)
    return e


def ref_round_log(x, base):
    """round(log_base |x|) with the spec's rule, decided exactly (x non-zero, int or float)."""
    v = abs(Fraction(x))
    e = ref_floor_log2(v)
    m = v / Fraction(2) ** e  # in [1, 2)
    if base == 2:
        return e + (m * m >= 2)
    return 2 * e + (m**4 >= 2) + (m**4 >= 8)


def ref_code_of_k(k, code_bits, fsr):
    c = k - (fsr - (1 << code_bits))
    return min(max(c, 0), (1 << code_bits) - 1)


def ref_log_quant(x, bits, fsr, base, signed):
    b = bits - 1 if signed else bits
    if x == 0 or (x < 0 and not signed):
        return 0
    c = ref_code_of_k(ref_round_log(x, base), b, fsr)
    if signed and x < 0 and c:
        c |= 1 << b
    return c


def ref_log_value(code, bits, fsr, base, signed):
    b = bits - 1 if signed else bits
    c = code & ((1 << b) - 1)
    if c == 0:
        return 0.0
    k = fsr - (1 << b) + c
    mag = math.ldexp(1.0, k) if base == 2 else math.ldexp(math.sqrt(2.0) if k % 2 else 1.0, k // 2)
    return -mag if signed and code >> b else mag


def ref_linear_quant(x, bits, exp, signed):
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    r = round(Fraction(x) / Fraction(2) ** exp)  # Fraction rounds half to even
    return min(max(r, lo), hi)


def smallest_double_at_least(p, n):
    """Smallest positive double t with t**n >= 2**p (the double at the threshold 2**(p/n))."""
    target = Fraction(2) ** p
    t = math.ldexp(2.0 ** ((p % n) / n), p // n)
    while t > 0 and Fraction(math.nextafter(t, 0.0)) ** n >= target:
        t = math.nextafter(t, 0.0)
    while Fraction(t) ** n < target:
        t = math.nextafter(t, math.inf)
    return t


def threshold_between(k, base):
    """The double at the rounding threshold between rounded logs k and k + 1."""
    # base 2: 2**(k + 1/2) = (2**(2k+1))**(1/2); sqrt2: 2**((2k + 1)/4).
    return smallest_double_at_least(2 * k + 1, 2 if base == 2 else 4)


def assert_codes_equal(actual, expected, xs):
    """Whole-tensor equality with a readable list of mismatches."""
    expected = torch.as_tensor(expected, dtype=torch.int64)
    if not torch.equal(actual, expected):
        bad = (actual != expected).nonzero().flatten().tolist()[:10]
        lines = [f"x={xs[i]!r}: got {int(actual[i])}, expected {int(expected[i])}" for i in bad]
        raise AssertionError("codes differ:\n" + "\n".join(lines))


def check_log_quant(xs, bits, fsr, base, signed, dtype=torch.float64):
    x = torch.tensor(xs, dtype=dtype)
    expected = [ref_log_quant(v, bits, fsr, base, signed) for v in xs]
    assert_codes_equal(log_quant(x, bits, fsr, base=base, signed=signed), expected, xs)


# -- the reference itself, and the checker's power ----------------------------------------


def test_reference_on_known_values():
    assert ref_round_log(1.0, 2) == 0
    assert ref_round_log(1.4142135623730951, 2) == 1  # the double just above sqrt(2)
    assert ref_round_log(1.4142135623730950, 2) == 0
    assert ref_round_log(3, 2) == 2  # 3 >= 2 sqrt(2)
    assert ref_round_log(2.8284271247461903, 2) == 2
    assert ref_round_log(2.82842712474619, 2) == 1
    assert ref_round_log(-0.75, 2) == 0  # 0.75 >= 2**-1 * sqrt(2)
    assert ref_round_log(1.1892071150027212, "sqrt2") == 1  # the double just above 2**(1/4)
    assert ref_round_log(1.189207115002721, "sqrt2") == 0  # 2**0.25 in float64 is below it
    assert ref_round_log(1.6817928305074292, "sqrt2") == 2  # > 2**(3/4)
    assert ref_round_log(1.681792830507429, "sqrt2") == 1
    assert threshold_between(0, 2) == 1.4142135623730951
    assert threshold_between(0, "sqrt2") == 1.1892071150027212
    assert threshold_between(1, "sqrt2") == 1.6817928305074292


def test_wrong_expected_value_is_caught():
    xs = [0.5, 1.0, 3.0]
    got = log_quant(torch.tensor(xs, dtype=torch.float64), 4, 2)
    expected = [ref_log_quant(v, 4, 2, 2, True) for v in xs]
    assert_codes_equal(got, expected, xs)
    expected[1] += 1
    with pytest.raises(AssertionError, match=re.escape("x=1.0: got 6, expected 7")):
        assert_codes_equal(got, expected, xs)


def test_float_log2_quantizer_would_fail():
    """A naive round(log2|x|) quantizer misrounds just below the thresholds: the threshold
    tests below would catch it, while logdot.golden.quant agrees with the exact reference."""
    naive_wrong = 0
    for k in range(-40, 40):
        t = math.nextafter(threshold_between(k, 2), 0.0)
        assert ref_round_log(t, 2) == k
        naive_wrong += int(np.round(np.log2(t))) != k
    assert naive_wrong > 0


# -- log_quant: exhaustive thresholds -------------------------------------------------------


def threshold_values(bits, fsr, base, signed):
    """Every rounding threshold that matters for this format, at / one ulp around it."""
    b = bits - 1 if signed else bits
    xs = []
    for k in range(fsr - (1 << b) - 2, fsr + 2):
        t = threshold_between(k, base)
        for v in (math.nextafter(t, 0.0), t, math.nextafter(t, math.inf)):
            xs += [v, -v]
    return xs


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("signed", [True, False])
def test_every_threshold_exhaustive(base, signed):
    for bits in range(2, 9):
        for fsr in range(-8, 9):
            xs = threshold_values(bits, fsr, base, signed)
            x = torch.tensor(xs, dtype=torch.float64)
            got = log_quant(x, bits, fsr, base=base, signed=signed)
            # Independent expectation from the threshold structure alone: at/above the
            # threshold between k and k+1 rounds to k+1, one ulp below rounds to k.
            b = bits - 1 if signed else bits
            expected = []
            for k in range(fsr - (1 << b) - 2, fsr + 2):
                for kk in (k, k + 1, k + 1):
                    c = ref_code_of_k(kk, b, fsr)
                    neg = (c | (1 << b)) if (signed and c) else (c if signed else 0)
                    expected += [c, neg]
            assert_codes_equal(got, expected, xs)
            # And the full reference agrees.
            assert_codes_equal(got, [ref_log_quant(v, bits, fsr, base, signed) for v in xs], xs)


@pytest.mark.parametrize("base", BASES)
def test_thresholds_over_the_whole_double_range(base):
    """Thresholds from the subnormal range to 2**511 with 16-bit codes (fsr chosen so the
    rounded log is representable): the frexp path rounds exactly everywhere."""
    step = 1 if base == 2 else 2
    for fsr, ks in ((-512, range(-1076 * step, -1000 * step)), (512, range(-700, 511))):
        xs = []
        for k in ks:
            t = threshold_between(k, base)
            if t == 0.0:
                continue
            xs += [math.nextafter(t, 0.0), t, math.nextafter(t, math.inf)]
        check_log_quant(xs, 16, fsr, base, False)
        check_log_quant([-v for v in xs], 16, fsr, base, True)


# -- log_quant: property tests ------------------------------------------------------------

formats = st.tuples(st.integers(2, 8), st.integers(-8, 8), st.sampled_from(BASES), st.booleans())


@SETTINGS
@given(fmt=formats, xs=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=20))
@example(
    fmt=(4, 0, 2, True), xs=[0.0, -0.0, 5e-324, -5e-324, 1e300, -1e300, 1.7976931348623157e308]
)
@example(fmt=(8, -8, "sqrt2", False), xs=[2.2250738585072014e-308, -1.0, 0.25])
def test_log_quant_matches_reference(fmt, xs):
    check_log_quant(xs, *fmt)


@SETTINGS
@given(
    fmt=formats,
    ks=st.lists(st.integers(-300, 300), min_size=1, max_size=10),
    near=st.integers(-2, 2),
)
def test_log_quant_near_random_thresholds(fmt, ks, near):
    bits, fsr, base, signed = fmt
    xs = []
    for k in ks:
        t = threshold_between(k, base)
        for _ in range(abs(near)):
            t = math.nextafter(t, math.inf if near > 0 else 0.0)
        xs += [t, -t]
    check_log_quant(xs, bits, fsr, base, signed)


@SETTINGS
@given(fmt=formats, xs=st.lists(st.floats(width=32, allow_nan=False, allow_infinity=False)))
def test_float32_and_float16_inputs(fmt, xs):
    check_log_quant(xs, *fmt, dtype=torch.float32)
    x16 = torch.tensor(xs, dtype=torch.float32).to(torch.float16)
    x16 = x16[torch.isfinite(x16)]
    vals = x16.tolist()
    assert_codes_equal(
        log_quant(x16, fmt[0], fmt[1], base=fmt[2], signed=fmt[3]),
        [ref_log_quant(v, *fmt) for v in vals],
        vals,
    )


int64_edges = [0, 1, -1, 2, 3, -3, 5, 6, 7, 11, 12, 2**62, 2**63 - 1, -(2**63), -(2**63) + 1]


@SETTINGS
@given(
    bits=st.integers(2, 16),
    fsr=st.integers(-8, 80),
    base=st.sampled_from(BASES),
    signed=st.booleans(),
    xs=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
)
@example(bits=8, fsr=64, base=2, signed=True, xs=int64_edges)
@example(bits=9, fsr=128, base="sqrt2", signed=True, xs=int64_edges)
def test_int64_inputs(bits, fsr, base, signed, xs):
    check_log_quant(xs, bits, fsr, base, signed, dtype=torch.int64)


def int_thresholds(base):
    """ceil(2**((2k+1)/2)) (base 2) or ceil(2**((2k+1)/4)) (sqrt2), via math.isqrt only."""
    out = []
    for k in range(0, 130):
        n = 1 << (2 * k + 1)
        r = math.isqrt(n) if base == 2 else math.isqrt(math.isqrt(n))
        t = r + 1  # n is never a perfect square / fourth power
        if t > 2**63:
            break
        out.append(t)
    return out


@pytest.mark.parametrize("base", BASES)
def test_integer_thresholds_exhaustive(base):
    xs = []
    for t in int_thresholds(base):
        xs += [v for v in (t - 1, t, t + 1) if v < 2**63]
        xs += [-v for v in (t - 1, t, t + 1)]
    fsr = 64 if base == 2 else 128
    check_log_quant(xs, 16, fsr, base, True, dtype=torch.int64)
    check_log_quant(xs, 16, fsr, base, False, dtype=torch.int64)


# The module computes its rounding thresholds once, at import time; these call the two helpers
# directly (a mutation tool that switches mutants after import never runs them otherwise).


@pytest.mark.parametrize(
    ("n", "p", "const"),
    [(2, -1, "_M_SQRT2"), (4, -3, "_M_QUARTER"), (4, -1, "_M_THREE_QUARTERS")],
)
def test_import_time_double_thresholds(n, p, const):
    """``_smallest_double_at_least`` finds the exact double ``2**(p/n)`` from a guess on
    either side of it (or at it); the module's constant is that double."""
    want = smallest_double_at_least(p, n)
    assert getattr(quant, const) == want
    target = Fraction(2) ** p
    guesses = [want, math.nextafter(want, 0.0), math.nextafter(want, 1.0)]
    guesses += [want - 4 * math.ulp(want), want + 4 * math.ulp(want)]
    for guess in guesses:
        assert quant._smallest_double_at_least(lambda m: m**n >= target, guess) == want


@pytest.mark.parametrize(("root", "base"), [(2, 2), (4, "sqrt2")])
def test_import_time_integer_thresholds(root, base):
    """``_int_thresholds``: ``ceil(2**((2j - 1)/root)) - 1`` for j >= 1 up to the int64 range,
    against the isqrt reference (base 2: 63 values ``1, 2, 5, 11, ...``)."""
    want = [t - 1 for t in int_thresholds(base)]
    assert quant._int_thresholds(root) == want
    assert quant._INT_THRESHOLDS[base] == want
    assert len(want) == (63 if root == 2 else 126)
    if root == 2:
        assert want[:6] == [1, 2, 5, 11, 22, 45]


@pytest.mark.parametrize(
    "dtype", [torch.int8, torch.uint8, torch.int16, torch.int32, torch.uint16, torch.uint32]
)
@pytest.mark.parametrize("base", BASES)
def test_small_integer_dtypes(dtype, base, seed):
    info = torch.iinfo(dtype)
    xs = sorted({info.min, info.min + 1, 0, 1, 2, 3, info.max - 1, info.max})
    g = torch.Generator().manual_seed(seed)
    xs += torch.randint(info.min, info.max, (200,), generator=g, dtype=torch.int64).tolist()
    for signed in (True, False):
        check_log_quant(xs, 8, 20, base, signed, dtype=dtype)
        # Same codes as the float64 path on the same (exactly representable) values.
        assert torch.equal(
            log_quant(torch.tensor(xs, dtype=dtype), 8, 20, base=base, signed=signed),
            log_quant(torch.tensor(xs, dtype=torch.float64), 8, 20, base=base, signed=signed),
        )


def test_any_shape_and_device():
    x = torch.linspace(-3, 3, 24, dtype=torch.float64).reshape(2, 3, 4)
    q = log_quant(x, 5, 2)
    assert q.shape == (2, 3, 4) and q.dtype == torch.int64
    flat = log_quant(x.flatten(), 5, 2)
    assert torch.equal(q.flatten(), flat)
    assert log_quant(torch.tensor(0.75), 4, 0).shape == ()
    assert int(log_quant(torch.tensor(0.75), 4, 0)) == 7
    assert log_quant(torch.zeros(0, 3), 4, 0).shape == (0, 3)
    # requires_grad inputs are fine (detached).
    assert torch.equal(log_quant(x.clone().requires_grad_(), 5, 2), q)


# -- worked examples (the tables in docs/formats.md) ---------------------------------------


def test_worked_example_4bit_signed_base2_fsr0():
    codes = torch.arange(16)
    expected = [0.0, 2**-7, 2**-6, 2**-5, 2**-4, 2**-3, 2**-2, 2**-1]
    expected = expected + [0.0] + [-v for v in expected[1:]]
    assert log_dequant(codes, 4, 0).tolist() == expected
    x = torch.tensor([0.3, 0.35, 0.36, -0.36, 0.0055, 0.006, 100.0, -0.001])
    assert log_quant(x, 4, 0).tolist() == [6, 6, 7, 15, 0, 1, 7, 0]


def test_worked_example_sqrt2():
    vals = log_dequant(torch.arange(8), 4, 1, base="sqrt2")
    expected = [0.0, 2**-3, 2**-2.5, 2**-2, 2**-1.5, 2**-1, 2**-0.5, 1.0]
    assert vals.tolist() == pytest.approx(expected, rel=1e-15)
    assert vals[1] == 0.125 and vals[2] == math.sqrt(2.0) / 8
    x = torch.tensor([1.0, 0.84, 0.841, 0.1, 0.11, -0.5])
    assert log_quant(x, 4, 1, base="sqrt2").tolist() == [7, 6, 7, 0, 1, 13]


def test_worked_examples_of_the_docs():
    """The remaining tables of docs/formats.md, so the document cannot drift."""
    # Section 3: float log2 misrounds just below 2**3.5; the quantizer does not.
    x = 11.31370849898476
    assert math.log2(x) == 3.5 and ref_round_log(x, 2) == 3
    assert log_quant(torch.tensor([x], dtype=torch.float64), 8, 8).tolist() == [123]
    # Section 3: integers, 8-bit signed base 2 FSR 8.
    ints = torch.arange(13)
    assert log_quant(ints, 8, 8).tolist() == [0, 120, 121, 122, 122, 122] + [123] * 6 + [124]
    # Section 6: linear, 4 bits, exp -2.
    xl = torch.tensor([0.3, 0.375, 0.625, -0.625, 1.9, -2.1, -2.0], dtype=torch.float64)
    assert linear_quant(xl, 4, -2).tolist() == [1, 2, 2, -2, 7, -8, -8]
    assert linear_quant(xl, 4, -2, signed=False).tolist() == [1, 2, 2, 0, 8, 0, 0]
    # Section 7: calibration example.
    x = torch.tensor([0.5, 0.6, 0.7, 0.8, 0.9, 1.0, -0.55, -0.75, 3.0], dtype=torch.float64)
    assert fsr_from_max(x, 3) == 3 and fsr_calibrate(x, 3) == 2
    table = {
        1: ([2, 2, 2, 3, 3, 3, 6, 7, 3], 0.462778),
        2: ([1, 1, 1, 2, 2, 2, 5, 6, 3], 0.129444),
        3: ([0, 0, 0, 1, 1, 1, 0, 5, 3], 0.279444),
        4: ([0, 0, 0, 0, 0, 0, 0, 0, 2], 0.601667),
    }
    for f, (codes, mse) in table.items():
        q = log_quant(x, 3, f)
        assert q.tolist() == codes
        assert float(((log_dequant(q, 3, f) - x) ** 2).mean()) == pytest.approx(mse, abs=1e-6)
    # Section 2: base-2 thresholds of 4-bit signed FSR 0.
    xs = [0.005524271728019902, 0.005524271728019903, 0.011048543456039804]
    xs += [0.011048543456039806, 0.35355339059327373, 0.3535533905932738, 0.7071067811865476]
    x = torch.tensor(xs, dtype=torch.float64)
    assert log_quant(x, 4, 0).tolist() == [0, 1, 1, 2, 6, 7, 7]
    assert log_quant(-x, 4, 0).tolist() == [0, 9, 9, 10, 14, 15, 15]
    # Section 4: sqrt2 thresholds next to 2**(-15/4), 2**(-5/4), 2**(-3/4), 4-bit FSR 0.
    xs = [0.07432544468767006, 0.07432544468767008, 0.42044820762685725, 0.4204482076268573]
    xs += [0.5946035575013605, 0.5946035575013606]
    got = log_quant(torch.tensor(xs, dtype=torch.float64), 4, 0, base="sqrt2")
    assert got.tolist() == [0, 1, 5, 6, 6, 7]


# -- log_dequant ----------------------------------------------------------------------------


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("signed", [True, False])
def test_every_code_round_trips(base, signed):
    for bits in range(2, 9):
        for fsr in range(-8, 9):
            codes = torch.arange(1 << bits)
            vals = log_dequant(codes, bits, fsr, base=base, signed=signed)
            assert vals.dtype == torch.float64
            assert vals.tolist() == [
                ref_log_value(c, bits, fsr, base, signed) for c in range(1 << bits)
            ]
            canonical = codes.clone()
            if signed:
                canonical[1 << (bits - 1)] = 0  # negative zero -> zero
            assert torch.equal(log_quant(vals, bits, fsr, base=base, signed=signed), canonical)


def test_negative_zero_code_decodes_to_positive_zero():
    v = log_dequant(torch.tensor([8]), 4, 0)
    assert v.item() == 0.0 and math.copysign(1.0, v.item()) == 1.0


def test_dequant_values_below_float64_underflow_to_zero():
    v = log_dequant(torch.tensor([1, 2, 1 << 14]), 16, -512)
    # code 1 is 2**(-512 - 32768 + 1): far below 2**-1074.
    assert v.tolist() == [0.0, 0.0, 0.0]
    s = log_dequant(torch.tensor([(1 << 15) - 1]), 16, -512, base="sqrt2")
    assert s.item() == math.ldexp(math.sqrt(2.0), -257)  # sqrt2**-513


@SETTINGS
@given(fmt=formats, xs=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=20))
def test_dequant_quant_idempotent(fmt, xs):
    bits, fsr, base, signed = fmt
    kw = {"base": base, "signed": signed}
    q = log_quant(torch.tensor(xs, dtype=torch.float64), bits, fsr, **kw)
    v = log_dequant(q, bits, fsr, **kw)
    assert torch.equal(log_quant(v, bits, fsr, **kw), q)
    assert torch.equal(log_dequant(log_quant(v, bits, fsr, **kw), bits, fsr, **kw), v)


# -- linear ---------------------------------------------------------------------------------


def test_linear_half_to_even():
    x = [0.5, 1.5, 2.5, 3.5, -0.5, -1.5, -2.5, 0.49999999999999994, 2.5000000000000004]
    x = torch.tensor(x, dtype=torch.float64)
    assert linear_quant(x, 8, 0).tolist() == [0, 2, 2, 4, 0, -2, -2, 0, 3]
    # exp = 2: steps of 4.
    x = torch.tensor([2.0, 6.0, 10.0, -2.0, -6.0, 2.0000000000000004], dtype=torch.float64)
    assert linear_quant(x, 8, 2).tolist() == [0, 2, 2, 0, -2, 1]
    # Integer path, same ties.
    xi = torch.tensor([2, 6, 10, -2, -6, 3, -3, 5])
    assert linear_quant(xi, 8, 2).tolist() == [0, 2, 2, 0, -2, 1, -1, 1]


def test_linear_saturation_and_unsigned():
    x = torch.tensor([-1000.0, -8.5, -8.0, 7.0, 7.4, 7.5, 1000.0])
    assert linear_quant(x, 4, 0).tolist() == [-8, -8, -8, 7, 7, 7, 7]
    assert linear_quant(x, 4, 0, signed=False).tolist() == [0, 0, 0, 7, 7, 8, 15]
    assert linear_dequant(torch.tensor([-8, 7]), 4, -3).tolist() == [-1.0, 0.875]


@SETTINGS
@given(
    bits=st.integers(2, 32),
    exp=st.integers(-40, 40),
    signed=st.booleans(),
    xs=st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=20),
)
@example(bits=8, exp=-512, signed=True, xs=[5e-324, 1e300, -1e-300])
@example(bits=32, exp=512, signed=False, xs=[1.7976931348623157e308, 5e-324])
def test_linear_float_matches_reference(bits, exp, signed, xs):
    q = linear_quant(torch.tensor(xs, dtype=torch.float64), bits, exp, signed=signed)
    assert_codes_equal(q, [ref_linear_quant(v, bits, exp, signed) for v in xs], xs)
    v = linear_dequant(q, bits, exp, signed=signed)
    assert v.tolist() == [math.ldexp(float(c), exp) for c in q.tolist()]
    assert torch.equal(linear_quant(v, bits, exp, signed=signed), q)


@SETTINGS
@given(
    bits=st.integers(2, 32),
    exp=st.integers(-70, 70),
    signed=st.booleans(),
    xs=st.lists(st.integers(-(2**63), 2**63 - 1), max_size=20),
)
@example(bits=32, exp=63, signed=True, xs=[-(2**63), 2**62, -(2**62), 2**62 + 1, 2**63 - 1])
@example(bits=32, exp=64, signed=True, xs=[-(2**63), 2**63 - 1])
@example(bits=32, exp=-34, signed=True, xs=[1, -1, 0])
@example(bits=2, exp=-1, signed=False, xs=[-(2**63), 1, 2, 2**63 - 1])
def test_linear_int_matches_reference(bits, exp, signed, xs):
    q = linear_quant(torch.tensor(xs, dtype=torch.int64), bits, exp, signed=signed)
    assert_codes_equal(q, [ref_linear_quant(v, bits, exp, signed) for v in xs], xs)


# -- scale selection ------------------------------------------------------------------------


@SETTINGS
@given(
    fmt=formats,
    xs=st.lists(st.floats(-1e30, 1e30, allow_nan=False), min_size=1, max_size=20),
)
def test_fsr_from_max(fmt, xs):
    bits, _, base, signed = fmt
    kw = {"base": base, "signed": signed}
    x = torch.tensor(xs, dtype=torch.float64)
    top = max(abs(v) for v in xs) if signed else max(max(xs), 0.0)
    if top != 0 and not -512 <= ref_round_log(top, base) + 1 <= 512:
        with pytest.raises(ValueError, match="outside logdot's limits"):
            fsr_from_max(x, bits, **kw)
        return
    fsr = fsr_from_max(x, bits, **kw)
    if top == 0:
        assert fsr == 0
        return
    k = ref_round_log(top, base)
    assert fsr == k + 1
    if fsr - 1 < -512:
        return
    t = torch.tensor([top], dtype=torch.float64)
    top_code = (1 << (bits - 1 if signed else bits)) - 1
    assert int(log_quant(t, bits, fsr, **kw)) == top_code  # the largest code ...
    rounded = ref_log_value(top_code, bits, fsr, base, signed)
    assert float(log_dequant(log_quant(t, bits, fsr, **kw), bits, fsr, **kw)) == rounded
    # ... and one FSR less saturates (the value drops below the rounded max).
    lower = float(log_dequant(log_quant(t, bits, fsr - 1, **kw), bits, fsr - 1, **kw))
    assert lower < rounded


def test_fsr_from_max_examples():
    x = torch.tensor([0.3, -5.0])
    assert fsr_from_max(x, 4) == 3  # 5 -> 2**2, largest code 2**(fsr - 1)
    assert fsr_from_max(x, 4, signed=False) == -1  # 0.3 -> 2**-2
    assert fsr_from_max(x, 4, base="sqrt2") == 6  # 5 -> sqrt2**5
    assert fsr_from_max(torch.zeros(3), 4) == 0
    assert fsr_from_max(torch.tensor([-1.0]), 4, signed=False) == 0
    assert fsr_from_max(torch.tensor([-(2**63)]), 8) == 64
    assert fsr_from_max(torch.tensor([2**63 - 1]), 8, base="sqrt2") == 127


@SETTINGS
@given(
    bits=st.integers(2, 16),
    signed=st.booleans(),
    xs=st.lists(
        st.floats(-1e30, 1e30, allow_nan=False).filter(lambda v: v == 0 or abs(v) > 1e-100),
        min_size=1,
        max_size=20,
    ),
)
def test_linear_exp_from_max(bits, signed, xs):
    x = torch.tensor(xs, dtype=torch.float64)
    e = linear_exp_from_max(x, bits, signed=signed)
    if not any(v != 0 and (signed or v > 0) for v in xs):
        assert e == 0
        return

    def saturates(ex):
        lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
        return any(
            not lo <= round(Fraction(v) / Fraction(2) ** ex) <= hi for v in xs if signed or v > 0
        )

    assert not saturates(e)
    assert saturates(e - 1)


def test_linear_exp_from_max_examples():
    assert linear_exp_from_max(torch.tensor([0.3, -5.0]), 4) == 0  # -5 fits in [-8, 7]
    assert linear_exp_from_max(torch.tensor([-8.0]), 4) == 0  # -8 is representable
    assert linear_exp_from_max(torch.tensor([8.0]), 4) == 1
    assert linear_exp_from_max(torch.tensor([7.5]), 4) == 1  # 7.5 rounds to 8
    assert linear_exp_from_max(torch.tensor([7.49]), 4) == 0
    assert linear_exp_from_max(torch.tensor([15]), 4, signed=False) == 0
    assert linear_exp_from_max(torch.tensor([2**63 - 1]), 32) == 33  # 2**31 - 2**-32 -> 2**31
    assert linear_exp_from_max(torch.zeros(2), 8) == 0


def brute_force_mse_argmin(x, candidates, err_of):
    """Exact (Fraction) mean squared errors; ties go to the larger candidate."""
    best, best_err = None, None
    for c in sorted(candidates, reverse=True):
        err = err_of(c)
        if best_err is None or err < best_err:
            best, best_err = c, err
    return best


def exact_mse(xs, vals):
    return sum((Fraction(v) - Fraction(a)) ** 2 for a, v in zip(xs, vals, strict=True))


@pytest.mark.parametrize("base", BASES)
@pytest.mark.parametrize("signed", [True, False])
def test_fsr_calibrate_is_brute_force_argmin(base, signed, seed):
    g = torch.Generator().manual_seed(seed)
    for trial in range(6):
        bits = 3 + trial % 4
        x = torch.randn(60, generator=g, dtype=torch.float64) * 2.0 ** (trial - 2)
        if trial % 2:
            x = x**3  # heavy tails: calibration should clip the largest values
        xs = x.tolist()
        kw = {"base": base, "signed": signed}
        f0 = fsr_from_max(x, bits, **kw)
        got = fsr_calibrate(x, bits, search=12, **kw)

        def err(f, x=x, xs=xs, bits=bits, kw=kw):
            return exact_mse(xs, log_dequant(log_quant(x, bits, f, **kw), bits, f, **kw).tolist())

        assert got == brute_force_mse_argmin(x, range(f0 - 12, f0 + 1), err)
        # A larger FSR than fsr_from_max is never strictly better (it can only tie).
        assert all(err(f) >= err(got) for f in range(f0 + 1, f0 + 4))


@pytest.mark.parametrize("signed", [True, False])
def test_linear_exp_calibrate_is_brute_force_argmin(signed, seed):
    g = torch.Generator().manual_seed(seed)
    for trial in range(6):
        bits = 3 + trial
        x = torch.randn(60, generator=g, dtype=torch.float64) * 2.0 ** (trial - 2)
        if trial % 2:
            x = x**3
        xs = x.tolist()
        e0 = linear_exp_from_max(x, bits, signed=signed)
        got = linear_exp_calibrate(x, bits, signed=signed, search=10)

        def err(e, x=x, xs=xs, bits=bits):
            q = linear_quant(x, bits, e, signed=signed)
            return exact_mse(xs, linear_dequant(q, bits, e, signed=signed).tolist())

        assert got == brute_force_mse_argmin(x, range(e0 - 10, e0 + 1), err)
        assert all(err(e) >= err(got) for e in range(e0 + 1, e0 + 4))


def test_calibration_ties_and_defaults():
    # No value flushes at any candidate: all FSRs from fsr_from_max down tie only at
    # fsr_from_max itself (smaller ones saturate 4.0), so fsr_from_max wins.
    x = torch.tensor([1.0, 2.0, 4.0])
    assert fsr_calibrate(x, 8) == fsr_from_max(x, 8) == 3
    assert fsr_calibrate(x, 8, search=0) == 3
    assert fsr_calibrate(torch.zeros(4), 4) == 0
    assert linear_exp_calibrate(torch.zeros(4), 4) == 0
    # Exact ties go to the larger candidate. Log: 3 -> 4 (fsr 3) or saturated 2 (fsr 2),
    # both off by 1.
    assert fsr_from_max(torch.tensor([3.0]), 2) == 3
    assert fsr_calibrate(torch.tensor([3.0]), 2) == 3
    # Linear, 2 bits [-2, 1]: 3 -> 1 * 4 (exp 2) or saturated 1 * 2 (exp 1), both off by 1.
    assert linear_exp_from_max(torch.tensor([3.0]), 2) == 2
    assert linear_exp_calibrate(torch.tensor([3.0]), 2) == 2


# -- fake quant -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32, torch.float16])
@pytest.mark.parametrize("base", BASES)
def test_fake_log_quant_forward_and_ste(dtype, base, seed):
    x = (torch.randn(64, dtype=torch.float64) * 2).to(dtype).requires_grad_()
    y = fake_log_quant(x, 5, 3, base=base)
    assert y.dtype == dtype
    expected = log_dequant(log_quant(x, 5, 3, base=base), 5, 3, base=base).to(dtype)
    assert torch.equal(y.detach(), expected)
    upstream = torch.randn(64, dtype=dtype)
    y.backward(upstream)
    assert torch.equal(x.grad, upstream)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_fake_linear_quant_forward_and_ste(dtype, seed):
    x = torch.randn(3, 7, dtype=torch.float64) * 10
    x[1, 2] = 100.0  # saturates
    x = x.to(dtype).requires_grad_()
    y = fake_linear_quant(x, 6, -1)
    expected = linear_dequant(linear_quant(x, 6, -1), 6, -1).to(dtype)
    assert torch.equal(y.detach(), expected)
    upstream = torch.randn(3, 7, dtype=dtype)
    (y * upstream).sum().backward()
    assert torch.equal(x.grad, upstream)  # identity, also where it saturated


def test_fake_quant_in_a_training_step(seed):
    w = torch.randn(8, 4, dtype=torch.float32, requires_grad=True)
    inp = torch.randn(16, 8)
    loss = (inp @ fake_log_quant(w, 4, 1)).square().mean()
    loss.backward()
    assert w.grad is not None and bool(torch.isfinite(w.grad).all())
    assert bool((w.grad != 0).any())


# -- bad input ------------------------------------------------------------------------------

X = torch.tensor([0.5, -1.0])


def raises(exc, msg):
    return pytest.raises(exc, match=re.escape(msg) + "$")


@pytest.mark.parametrize(
    ("kwargs", "exc", "msg"),
    [
        ({"bits": 1}, ValueError, "bits must be an integer in [2, 16], not 1"),
        ({"bits": 17}, ValueError, "bits must be an integer in [2, 16], not 17"),
        ({"bits": 4.0}, TypeError, "bits must be an integer, not 4.0"),
        ({"bits": True}, TypeError, "bits must be an integer, not True"),
        ({"fsr": 1.5}, TypeError, "fsr must be an integer, not 1.5"),
        ({"fsr": "3"}, TypeError, "fsr must be an integer, not '3'"),
        ({"fsr": False}, TypeError, "fsr must be an integer, not False"),
        ({"fsr": 513}, ValueError, "fsr must be an integer in [-512, 512], not 513"),
        ({"fsr": -513}, ValueError, "fsr must be an integer in [-512, 512], not -513"),
        ({"base": 3}, ValueError, "base must be 2 or 'sqrt2', not 3"),
        ({"base": "e"}, ValueError, "base must be 2 or 'sqrt2', not 'e'"),
        ({"base": 2.0}, TypeError, "base must be 2 or 'sqrt2', not 2.0"),
        ({"signed": 1}, TypeError, "signed must be a bool, not 1"),
    ],
)
def test_log_params_rejected(kwargs, exc, msg):
    args = {"bits": 4, "fsr": 0, "base": 2, "signed": True} | kwargs
    bits, fsr = args.pop("bits"), args.pop("fsr")
    with raises(exc, msg):
        log_quant(X, bits, fsr, **args)
    with raises(exc, msg):
        log_dequant(torch.tensor([1, 2]), bits, fsr, **args)
    with raises(exc, msg):
        fake_log_quant(X, bits, fsr, **args)


def test_base_spellings():
    assert torch.equal(log_quant(X, 4, 0, base="2"), log_quant(X, 4, 0, base=2))


@pytest.mark.parametrize(
    ("x", "exc", "msg"),
    [
        ([0.5], TypeError, "x must be a torch.Tensor, not list"),
        (0.5, TypeError, "x must be a torch.Tensor, not float"),
        (
            torch.tensor([True]),
            TypeError,
            "x must be a real floating-point or integer tensor, not torch.bool",
        ),
        (
            torch.tensor([1j]),
            TypeError,
            "x must be a real floating-point or integer tensor, not torch.complex64",
        ),
        (torch.tensor([1.0, math.nan]), ValueError, "x must contain only finite values, not nan"),
        (torch.tensor([math.inf]), ValueError, "x must contain only finite values, not inf"),
        (
            torch.tensor([1.0, -math.inf], dtype=torch.float16),
            ValueError,
            "x must contain only finite values, not -inf",
        ),
    ],
)
def test_bad_x(x, exc, msg):
    with raises(exc, msg):
        log_quant(x, 4, 0)
    with raises(exc, msg):
        linear_quant(x, 4, 0)
    with raises(exc, msg):
        fsr_from_max(x, 4)
    with raises(exc, msg):
        linear_exp_from_max(x, 4)


@pytest.mark.parametrize(
    ("codes", "bits", "signed", "exc", "msg"),
    [
        (
            torch.tensor([0.0]),
            4,
            True,
            TypeError,
            "codes must be an integer tensor, not torch.float32",
        ),
        (
            torch.tensor([True]),
            4,
            True,
            TypeError,
            "codes must be an integer tensor, not torch.bool",
        ),
        ([1], 4, True, TypeError, "codes must be a torch.Tensor, not list"),
        (
            torch.tensor([3, 16, 17]),
            4,
            True,
            ValueError,
            "codes must be in [0, 15] for bits=4, not 16",
        ),
        (
            torch.tensor([[3], [-1]]),
            4,
            False,
            ValueError,
            "codes must be in [0, 15] for bits=4, not -1",
        ),
        (
            torch.tensor([256], dtype=torch.int16),
            8,
            True,
            ValueError,
            "codes must be in [0, 255] for bits=8, not 256",
        ),
    ],
)
def test_bad_codes(codes, bits, signed, exc, msg):
    with raises(exc, msg):
        log_dequant(codes, bits, 0, signed=signed)


@pytest.mark.parametrize(
    ("call", "exc", "msg"),
    [
        (lambda: linear_quant(X, 33, 0), ValueError, "bits must be an integer in [2, 32], not 33"),
        (lambda: linear_quant(X, 1, 0), ValueError, "bits must be an integer in [2, 32], not 1"),
        (lambda: linear_quant(X, 8, 0.5), TypeError, "exp must be an integer, not 0.5"),
        (
            lambda: linear_quant(X, 8, 600),
            ValueError,
            "exp must be an integer in [-512, 512], not 600",
        ),
        (lambda: linear_quant(X, 8, 0, signed=None), TypeError, "signed must be a bool, not None"),
        (
            lambda: linear_dequant(torch.tensor([8]), 4, 0),
            ValueError,
            "q must be in [-8, 7] for bits=4, signed=True, not 8",
        ),
        (
            lambda: linear_dequant(torch.tensor([-1]), 4, 0, signed=False),
            ValueError,
            "q must be in [0, 15] for bits=4, signed=False, not -1",
        ),
        (
            lambda: linear_dequant(torch.tensor([0.5]), 4, 0),
            TypeError,
            "q must be an integer tensor, not torch.float32",
        ),
        (lambda: fsr_from_max(torch.zeros(0), 4), ValueError, "x must not be empty"),
        (lambda: linear_exp_from_max(torch.zeros(0), 4), ValueError, "x must not be empty"),
        (
            lambda: fsr_from_max(torch.tensor([1e300], dtype=torch.float64), 4),
            ValueError,
            "x's largest magnitude needs fsr=998, outside logdot's limits [-512, 512]",
        ),
        (
            lambda: fsr_from_max(torch.tensor([1e-300], dtype=torch.float64), 4),
            ValueError,
            "x's largest magnitude needs fsr=-996, outside logdot's limits [-512, 512]",
        ),
        (
            lambda: linear_exp_from_max(torch.tensor([1e300], dtype=torch.float64), 8),
            ValueError,
            "x's largest magnitude needs exp=990, outside logdot's limits [-512, 512]",
        ),
        (
            lambda: fsr_calibrate(X, 4, search=-1),
            ValueError,
            "search must be an integer in [0, 64], not -1",
        ),
        (
            lambda: linear_exp_calibrate(X, 4, search=1.0),
            TypeError,
            "search must be an integer, not 1.0",
        ),
        (
            lambda: fake_log_quant(torch.tensor([1, 2]), 4, 0),
            TypeError,
            "x must be a floating-point tensor for fake quantization, not torch.int64",
        ),
        (lambda: fake_linear_quant([1.0], 4, 0), TypeError, "x must be a torch.Tensor, not list"),
        (
            lambda: log_quant(torch.tensor([1], dtype=torch.uint64), 4, 0),
            TypeError,
            "x must be a real floating-point or integer tensor, not torch.uint64",
        ),
    ],
)
def test_bad_input_messages(call, exc, msg):
    with raises(exc, msg):
        call()
