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
