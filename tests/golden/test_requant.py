"""logdot.golden.requant: the linear requantizer against an exact rational reference, for every
input of small widths (the log requantizer is pinned in tests/golden/test_layer.py)."""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch

from logdot.golden.requant import Requant


def _reference(z, scale_x2, bits, exp, signed):
    """round_half_even(z * 2**(scale_x2/2) / 2**exp), saturated: exact rationals."""
    v = round(Fraction(z) * Fraction(2) ** (scale_x2 // 2) / Fraction(2) ** exp)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    return min(max(v, lo), hi)


@pytest.mark.parametrize("signed", [True, False])
@pytest.mark.parametrize("bits", [2, 4, 8])
def test_linear_requant_equals_exact_rounding_for_every_input(bits, signed):
    z = torch.arange(-128, 128, dtype=torch.int64)
    for scale_x2 in range(-8, 9, 2):
        for exp in range(-5, 6):
            rq = Requant.linear(in_bits=8, scale_x2=scale_x2, bits=bits, exp=exp, signed=signed)
            assert (rq.kind, rq.out_bits, rq.out_signed) == ("linear", bits, signed)
            assert rq.shift == exp - scale_x2 // 2
            want = [_reference(v, scale_x2, bits, exp, signed) for v in z.tolist()]
            assert rq(z).tolist() == want, (scale_x2, exp)


def test_linear_requant_defaults_to_signed_and_refuses_half_scales():
    assert Requant.linear(in_bits=8, scale_x2=0, bits=4, exp=0).out_signed is True
    with pytest.raises(ValueError, match="integer result scale"):
        Requant.linear(in_bits=8, scale_x2=1, bits=4, exp=0)


@pytest.mark.parametrize("shift", [63, 64, 65])
def test_linear_requant_of_shifts_beyond_the_input_width(shift):
    """``z / 2**shift`` of a 64-bit ``z`` rounds to 0 from 64 on (63: only the extremes
    round away, to -1 and 1 with half-even: ``-2**63 / 2**63 = -1``)."""
    rq = Requant(in_bits=64, kind="linear", out_bits=8, out_signed=True, shift=shift)
    z = torch.tensor([-(1 << 63), -(1 << 62), -1, 0, 1, (1 << 62), (1 << 63) - 1])
    want = [_reference(v, 0, 8, shift, True) for v in z.tolist()]
    assert rq(z).tolist() == want


def test_linear_requant_names_the_bad_argument():
    with pytest.raises(ValueError, match="scale_x2"):
        Requant.linear(in_bits=8, scale_x2=4098, bits=4, exp=0)
    Requant.linear(in_bits=8, scale_x2=4096, bits=4, exp=0)
    Requant.linear(in_bits=8, scale_x2=-4096, bits=4, exp=0)
    with pytest.raises(ValueError, match="scale_x2"):
        Requant.linear(in_bits=8, scale_x2=-4098, bits=4, exp=0)
    with pytest.raises(ValueError, match="exp"):
        Requant.linear(in_bits=8, scale_x2=0, bits=4, exp=10**6)
