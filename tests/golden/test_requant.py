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


def test_to_dict_names_every_constant_and_round_trips():
    """``to_dict`` (the network file's requantizer record) holds every field by its name."""
    log = Requant(in_bits=12, kind="log", out_bits=5, out_signed=True, offset=-3, half=True)
    assert log.to_dict() == {
        "in_bits": 12,
        "kind": "log",
        "out_bits": 5,
        "out_signed": True,
        "offset": -3,
        "half": True,
        "shift": 0,
    }
    lin = Requant(in_bits=9, kind="linear", out_bits=6, out_signed=False, shift=-2)
    assert lin.to_dict() == {
        "in_bits": 9,
        "kind": "linear",
        "out_bits": 6,
        "out_signed": False,
        "offset": 0,
        "half": False,
        "shift": -2,
    }
    assert Requant(**log.to_dict()) == log
    assert Requant(**lin.to_dict()) == lin


_LOG = {"in_bits": 8, "scale_x2": 0, "bits": 4, "fsr": 0}
_LIN = {"in_bits": 8, "scale_x2": 0, "bits": 4, "exp": 0}
_HALF = (
    "a linear output needs an integer result scale, not 2**(1/2); use a log output, or an "
    "even weight exponent with base-sqrt(2) weights"
)


def _range(name, lo, hi, value):
    return f"{name} must be an integer in [{lo}, {hi}], not {value}"


@pytest.mark.parametrize(
    ("make", "kwargs", "exc", "msg"),
    [
        (Requant.log, {"scale_x2": 4097}, ValueError, _range("scale_x2", -4096, 4096, 4097)),
        (Requant.log, {"scale_x2": -4097}, ValueError, _range("scale_x2", -4096, 4096, -4097)),
        (Requant.log, {"bits": 17}, ValueError, _range("bits", 2, 16, 17)),
        (Requant.log, {"bits": 1}, ValueError, _range("bits", 2, 16, 1)),
        (Requant.log, {"fsr": 513}, ValueError, _range("fsr", -512, 512, 513)),
        (Requant.log, {"fsr": -513}, ValueError, _range("fsr", -512, 512, -513)),
        (Requant.log, {"signed": 1}, TypeError, "signed must be a bool, not 1"),
        (Requant.linear, {"scale_x2": 4097}, ValueError, _range("scale_x2", -4096, 4096, 4097)),
        (Requant.linear, {"scale_x2": -4097}, ValueError, _range("scale_x2", -4096, 4096, -4097)),
        (Requant.linear, {"exp": 513}, ValueError, _range("exp", -512, 512, 513)),
        (Requant.linear, {"exp": -513}, ValueError, _range("exp", -512, 512, -513)),
        (Requant.linear, {"scale_x2": 1}, ValueError, _HALF),
    ],
)
def test_constructor_messages_are_exact(make, kwargs, exc, msg):
    """Each argument check names the argument and its limits exactly; the limits are inclusive
    (the extreme values are accepted)."""
    base = _LOG if make == Requant.log else _LIN
    with pytest.raises(exc) as info:
        make(**{**base, **kwargs})
    assert str(info.value) == msg
    for key, value in kwargs.items():
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 1:
            make(**{**base, key: value - 1 if value > 0 else value + 1})
