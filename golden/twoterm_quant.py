"""Exact quantizer of two-term power-of-two weights (:mod:`logdot.golden.twoterm`) on tensors.

Nearest representable value, ties to the larger magnitude, decided by exact comparisons:

* the input is converted to float64 (exactly) and its magnitude scaled by the power of two
  ``2**-unit_log2`` (exact unless it overflows to ``inf``, which saturates anyway, or becomes
  subnormal, which is far below the smallest threshold 1 anyway);
* the scaled magnitude ``s`` is compared with the midpoints ``(m_k + m_{k+1}) / 2`` of
  consecutive representable magnitudes ``m_k`` (integers below ``2**22`` for ``bits <= 8``, so every
  midpoint is an exact double): the magnitude index is the number of midpoints ``<= s``
  (:func:`torch.searchsorted`). No ``log2``, no float rounding at a threshold.

Above the largest value everything saturates to it; below half the smallest non-zero value
everything flushes to zero (half of it exactly rounds up: ties go to the larger magnitude).

Public API
----------
twoterm_quant, twoterm_dequant
    Raw ``bits``-bit codes (sign, first-term code, second-term offset) and their exact
    float64 values.
twoterm_fsr_from_max, twoterm_fsr_calibrate
    FSR selection: the smallest FSR that does not saturate ``max|x|``, and the FSR of least
    mean squared error (as :func:`logdot.golden.quant.fsr_calibrate`).
fake_twoterm_quant
    The straight-through fake quantization for QAT.
"""

from __future__ import annotations

import functools
import itertools
from fractions import Fraction

import torch

from .formats import LIMITS, check_int
from .quant import (
    _DEFAULT_SEARCH,
    _argmin_larger_wins,
    _check_codes,
    _check_finite,
    _check_float,
    _check_nonempty,
    _check_range,
    _check_search,
    _check_tensor,
    _fsr_limit_error,
    _mse,
    _pow2,
    _StraightThrough,
)
from .twoterm import TWOTERM_BITS, twoterm_magnitudes, twoterm_unit_log2, twoterm_value

__all__ = [
    "fake_twoterm_quant",
    "twoterm_dequant",
    "twoterm_fsr_calibrate",
    "twoterm_fsr_from_max",
    "twoterm_quant",
]


def _check_params(bits, fsr):
    check_int(bits, "bits", *TWOTERM_BITS)
    check_int(fsr, "fsr", *LIMITS["fsr"])


def _check_float_input(x, name):
    x = _check_tensor(x, name)
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor for two-term weights, not {x.dtype}"
        )
    _check_finite(x, name)
    return x


@functools.lru_cache(maxsize=32)
def _tables(bits):
    """``(midpoints, magnitude codes, magnitudes)`` as tensors (float64, int64, int64)."""
    pairs = twoterm_magnitudes(bits)
    mags = [m for m, _ in pairs]
    pairs_of = list(itertools.pairwise(mags))
    mids = [(a + b) / 2 for a, b in pairs_of]  # exact: < 2**22
    assert all(Fraction(t) == Fraction(a + b, 2) for t, (a, b) in zip(mids, pairs_of, strict=True))
    return (
        torch.tensor(mids, dtype=torch.float64),
        torch.tensor([c for _, c in pairs], dtype=torch.int64),
        torch.tensor(mags, dtype=torch.int64),
    )


def twoterm_quant(x, bits, fsr):
    """Quantize ``x`` to raw two-term weight codes (int64), the nearest representable value.

    Parameters
    ----------
    x : torch.Tensor
        Any shape; float16, bfloat16, float32 or float64 (finite).
    bits : int
        Width ``W`` in ``[3, 8]``: sign bit + ``B1``-bit first-term code + ``B2``-bit offset
        (:func:`logdot.golden.twoterm.twoterm_fields`).
    fsr : int
        In ``[-512, 512]``: the largest single term is ``2**(fsr - 1)``, so the largest value
        is ``1.5 * 2**(fsr - 1)`` (:func:`twoterm_dequant`).

    Returns
    -------
    torch.Tensor
        int64 raw codes in ``[0, 2**bits)``, same shape and device as ``x``. Ties between two
        representable magnitudes go to the larger; zero and everything that rounds to zero
        has code 0 (sign 0).
    """
    x = _check_float_input(x, "x")
    _check_params(bits, fsr)
    mids, codes, _ = _tables(bits)
    a = x.to(torch.float64)
    scaled = a.abs() * _pow2(torch.tensor(-twoterm_unit_log2(bits, fsr), dtype=torch.int64))
    k = torch.searchsorted(mids.to(a.device), scaled.contiguous(), right=True)
    q = codes.to(a.device).take(k)
    neg = (a < 0) & (k != 0)
    return q | (neg.to(torch.int64) << (bits - 1))


def twoterm_dequant(codes, bits, fsr):
    """Exact float64 values of raw two-term codes (the inverse of :func:`twoterm_quant` on its
    image): ``+-magnitude * 2**unit_log2``; a zero first-term code is ``0.0`` whatever its sign
    and offset bits."""
    q = _check_codes(codes, "codes")
    _check_params(bits, fsr)
    _check_range(q, "codes", 0, (1 << bits) - 1, f"for bits={bits}")
    return _value_table(bits, fsr).to(q.device).take(q)


@functools.lru_cache(maxsize=256)
def _value_table(bits, fsr):
    """float64 value of every raw code (exact: magnitudes have at most 2 one bits)."""
    vals = torch.tensor([twoterm_value(bits, r) for r in range(1 << bits)], dtype=torch.float64)
    return vals * _pow2(torch.tensor(twoterm_unit_log2(bits, fsr), dtype=torch.int64))


def twoterm_fsr_from_max(x, bits):
    """The smallest FSR for which ``max|x|`` does not saturate.

    ``max|x|`` saturates at FSR ``f`` when it is at or above the midpoint ``1.75 * 2**(f - 1)``
    between the largest value ``1.5 * 2**(f - 1)`` and ``2**f`` (the next value of the same
    set without an upper bound); decided with exact :class:`fractions.Fraction` arithmetic.
    A tensor without a non-zero value gives ``0``; an empty tensor, or an FSR outside
    ``[-512, 512]``, raises :class:`ValueError`.
    """
    x = _check_float_input(x, "x")
    check_int(bits, "bits", *TWOTERM_BITS)
    _check_nonempty(x, "x")
    top = float(x.to(torch.float64).abs().max())
    if top == 0:
        return 0
    v = Fraction(top)
    fsr = v.numerator.bit_length() - v.denominator.bit_length()  # within 1 of log2(v)
    while v >= Fraction(7, 4) * Fraction(2) ** (fsr - 1):
        fsr += 1
    while v < Fraction(7, 4) * Fraction(2) ** (fsr - 2):
        fsr -= 1
    lo, hi = LIMITS["fsr"]
    if not lo <= fsr <= hi:
        raise _fsr_limit_error("fsr", fsr)
    return fsr


def twoterm_fsr_calibrate(x, bits, *, search=_DEFAULT_SEARCH):
    """The FSR minimizing the mean squared error of ``twoterm_dequant(twoterm_quant(x))``.

    Candidates ``twoterm_fsr_from_max(x) - search, ..., twoterm_fsr_from_max(x)`` (clipped
    to ``[-512, 512]``); ties go to the larger FSR, as in
    :func:`logdot.golden.quant.fsr_calibrate`. A tensor without a non-zero value gives ``0``.
    """
    f0 = twoterm_fsr_from_max(x, bits)
    _check_search(search)
    x64 = x.detach().to(torch.float64)
    if float(x64.abs().max()) == 0:
        return 0
    # Errors compared after scaling by 2**-(f0 - 1) (exact), as fsr_calibrate does.
    shift = f0 - 1
    errors = {}
    for f in range(max(f0 - search, LIMITS["fsr"][0]), f0 + 1):
        v = twoterm_dequant(twoterm_quant(x, bits, f), bits, f)
        errors[f] = _mse(x64, v, shift)
    return _argmin_larger_wins(errors)


def fake_twoterm_quant(x, bits, fsr):
    """Differentiable two-term fake quantization with a straight-through estimator.

    Forward: ``twoterm_dequant(twoterm_quant(x, bits, fsr), bits, fsr)`` cast to ``x.dtype``.
    Backward: the upstream gradient unchanged (also where the value flushes or saturates).
    """
    x = _check_float(x, "x")
    y = twoterm_dequant(twoterm_quant(x, bits, fsr), bits, fsr).to(x.dtype)
    return _StraightThrough.apply(x, y)
