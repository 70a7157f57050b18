"""Quantizers of the golden model: log and linear (fixed-point) codes on torch tensors.

Over 600 lines on purpose: the log and linear quantizers, the FSR / exponent searches and the
fake quantizers share the private exact-rounding helpers and the argument checks
(``_round_log``, ``_log_codes``, ``_linear_int``, ``_exact_max``, ``_check_*``); split, those
would become a second public surface that nothing else needs.

Every bit these functions produce is decided exactly, never by a float ``log2``:

* float inputs are converted to float64 (exactly) and split with :func:`torch.frexp`; the
  mantissa is compared with the exact float64 rounding thresholds (the smallest doubles at
  or above ``sqrt(2)/2``, ``2**(1/4)/2`` and ``2**(3/4)/2``, found once with
  :class:`fractions.Fraction` arithmetic);
* integer inputs take a pure integer path: their rounded exponent is the number of exact
  integer thresholds ``ceil(2**((2j - 1)/2))`` (base 2) or ``ceil(2**((2j - 1)/4))`` (base
  sqrt(2)) at or below ``|x|``, computed with :func:`logdot.golden.formats.ceil_root_pow2`.

``docs/formats.md`` is the normative description of the formats, with worked examples.

Public API
----------
log_quant, log_dequant
    Log codes (sign bit above a magnitude code) and their exact float64 values.
linear_quant, linear_dequant
    Two's-complement (or unsigned) fixed-point integers with a scale ``2**exp``.
fsr_from_max, linear_exp_from_max
    The smallest FSR / exponent that represents a tensor's largest magnitude unsaturated.
fsr_calibrate, linear_exp_calibrate
    The FSR / exponent minimizing the mean squared quantization error on sample data.
fake_log_quant, fake_linear_quant
    Differentiable fake quantization with a straight-through estimator.
"""

from __future__ import annotations

import functools
import math
from fractions import Fraction

import torch

from .formats import LIMITS, ceil_root_pow2, check_bool, check_int, normalize_base

__all__ = [
    "fake_linear_quant",
    "fake_log_quant",
    "fsr_calibrate",
    "fsr_from_max",
    "linear_dequant",
    "linear_exp_calibrate",
    "linear_exp_from_max",
    "linear_quant",
    "log_dequant",
    "log_quant",
]

#: Default half-width of the calibration windows (see :func:`fsr_calibrate`).
_DEFAULT_SEARCH = 8
_SEARCH_LIMITS = (0, 64)

_FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
_INT_DTYPES = (
    torch.uint8,
    torch.int8,
    torch.int16,
    torch.int32,
    torch.int64,
    torch.uint16,
    torch.uint32,
)
_INT64_MAX = (1 << 63) - 1


# -- exact thresholds ---------------------------------------------------------------------


def _smallest_double_at_least(pred, guess):
    """Smallest positive double ``t`` with ``pred(Fraction(t))`` true (``pred`` monotone)."""
    t = guess
    while pred(Fraction(math.nextafter(t, 0.0))):
        t = math.nextafter(t, 0.0)
    while not pred(Fraction(t)):
        t = math.nextafter(t, math.inf)
    return t


# frexp mantissas m lie in [0.5, 1); |x| = (2m) * 2**(e - 1) with 2m in [1, 2).
# Base 2 rounds up iff 2m >= sqrt(2)  <=>  m >= sqrt(2)/2  <=>  m*m >= 1/2.
_M_SQRT2 = _smallest_double_at_least(lambda m: m * m >= Fraction(1, 2), math.sqrt(0.5))
# Base sqrt(2): round(2 log2(2m)) is 0, 1 or 2 with thresholds 2m >= 2**(1/4), 2m >= 2**(3/4),
# i.e. (2m)**4 >= 2  <=>  m**4 >= 1/8,  and  (2m)**4 >= 8  <=>  m**4 >= 1/2.
_M_QUARTER = _smallest_double_at_least(lambda m: m**4 >= Fraction(1, 8), 2**0.25 / 2)
_M_THREE_QUARTERS = _smallest_double_at_least(lambda m: m**4 >= Fraction(1, 2), 2**0.75 / 2)


def _int_thresholds(root):
    """Sorted integer thresholds minus one, ``ceil(2**((2j - 1)/root)) - 1`` for j >= 1.

    The rounded log of a positive integer ``n`` (base 2 for ``root=2``, base sqrt(2) for
    ``root=4``) is the number of these values that are ``<= n - 1``.
    Only thresholds that an int64 magnitude (at most ``2**63``) can reach are kept.
    """
    out = []
    j = 1
    while True:
        t = ceil_root_pow2(2 * j - 1, root) - 1
        if t > _INT64_MAX:
            return out
        out.append(t)
        j += 1


_INT_THRESHOLDS = {2: _int_thresholds(2), "sqrt2": _int_thresholds(4)}


# -- validation -----------------------------------------------------------------------------


def _check_tensor(x, name):
    """Validate a real (float or integer) tensor; return it detached."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, not {type(x).__name__}")
    if x.dtype not in _FLOAT_DTYPES and x.dtype not in _INT_DTYPES:
        raise TypeError(f"{name} must be a real floating-point or integer tensor, not {x.dtype}")
    return x.detach()


def _check_finite(x, name):
    """Raise ValueError naming ``name`` and the first non-finite value of float ``x``."""
    if x.is_floating_point():
        bad = ~torch.isfinite(x)
        if bool(bad.any()):
            v = float(x[bad].flatten()[0])
            raise ValueError(f"{name} must contain only finite values, not {v!r}")


def _check_codes(codes, name):
    if not isinstance(codes, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, not {type(codes).__name__}")
    if codes.dtype not in _INT_DTYPES:
        raise TypeError(f"{name} must be an integer tensor, not {codes.dtype}")
    return codes.detach().to(torch.int64)


def _check_range(q, name, lo, hi, what):
    if q.numel() == 0 or (lo <= int(q.min()) and int(q.max()) <= hi):
        return
    bad = (q < lo) | (q > hi)
    if bool(bad.any()):
        v = int(q[bad].flatten()[0])
        raise ValueError(f"{name} must be in [{lo}, {hi}] {what}, not {v}")


def _check_log_params(bits, fsr, base, signed):
    check_bool(signed, "signed")
    check_int(bits, "bits", *LIMITS["quant_bits"])
    check_int(fsr, "fsr", *LIMITS["fsr"])
    base = normalize_base(base)
    return bits - 1 if signed else bits, base


def _check_linear_params(bits, exp, signed):
    check_bool(signed, "signed")
    check_int(bits, "bits", *LIMITS["act_bits_linear"])
    check_int(exp, "exp", *LIMITS["fsr"])
    if signed:
        return -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return 0, (1 << bits) - 1


# -- exact log rounding ---------------------------------------------------------------------


def _round_log(x, base, offset=0):
    """Exact rounded log of ``|x|`` in units of ``base``, plus ``offset``, for non-zero ``x``.

    Returns a new integer tensor (int32 for float input, int64 for integer input) that the
    caller may modify in place. Elements equal to zero get an arbitrary value; callers mask
    them.
    """
    if x.is_floating_point():
        a = x.abs() if x.dtype == torch.float64 else x.to(torch.float64).abs_()
        m, k = torch.frexp(a)  # |x| = (2m) * 2**(e - 1), 2m in [1, 2); k is int32
        if base == 2:
            k.add_(offset - 1).add_(m >= _M_SQRT2)
        else:
            k.mul_(2).add_(offset - 2).add_(m >= _M_QUARTER).add_(m >= _M_THREE_QUARTERS)
        return k
    x = x.to(torch.int64)
    # u = |x| - 1 without overflow at -2**63.
    u = torch.where(x < 0, -(x + 1), x - 1)
    thresholds = torch.tensor(_INT_THRESHOLDS[base], dtype=torch.int64, device=x.device)
    return torch.searchsorted(thresholds, u, right=True).add_(offset)


def _log_codes(x, code_bits, fsr, base, signed):
    """Codes of :func:`log_quant` (validated arguments)."""
    # c = k - (fsr - 2**b), flushed at 0 and saturated at 2**b - 1.
    c = _round_log(x, base, (1 << code_bits) - fsr).clamp_(0, (1 << code_bits) - 1)
    c.masked_fill_(x == 0, 0)
    neg = x < 0
    if not signed:
        c.masked_fill_(neg, 0)
    else:
        c.add_(neg.logical_and_(c != 0), alpha=1 << code_bits)
    return c.to(torch.int64)


# -- exact float64 powers -------------------------------------------------------------------


def _pow2(j):
    """Exact ``2.0**j`` (float64) for an int64 tensor ``j <= 1023``; 0.0 below ``2**-1074``."""
    normal = (torch.clamp(j, -1022, 1023) + 1023) << 52
    sub = torch.ones_like(j) << torch.clamp(j + 1074, 0, 51)
    bits = torch.where(j >= -1022, normal, torch.where(j >= -1074, sub, torch.zeros_like(j)))
    return bits.view(torch.float64)


def _ldexp(m, j):
    """``m * 2**j`` correctly rounded, for float64 ``m`` in ``[1, 2)`` and int64 ``j <= 1023``."""
    j1 = torch.clamp(j, min=-1022)
    return (m * _pow2(j1)) * _pow2(j - j1)


# -- log codes ------------------------------------------------------------------------------


def log_quant(x, bits, fsr, *, base=2, signed=True):
    """Quantize ``x`` to log codes (int64), exactly as the hardware reads them.

    Parameters
    ----------
    x : torch.Tensor
        Any shape; float16, bfloat16, float32, float64 or an integer dtype. Must be finite.
    bits : int
        Code width in ``[2, 16]``, the sign bit included when ``signed``.
    fsr : int
        Full-scale range in ``[-512, 512]``: the largest code is ``base**(fsr - 1)``.
    base : {2, "sqrt2"}
        Log base.
    signed : bool
        ``True``: sign in bit ``bits - 1`` (1 = negative) above a ``bits - 1`` bit magnitude
        code. ``False``: all ``bits`` are the magnitude code and negative inputs quantize to
        code 0 (the value 0, the nearest representable value).

    Returns
    -------
    torch.Tensor
        int64 codes in ``[0, 2**bits)``, same shape and device as ``x``. Magnitude code
        ``c >= 1`` means ``base**(fsr - 2**b + c)`` (``b`` magnitude bits), ``c = 0`` means 0;
        the rounded log ``k`` of ``|x|`` (see ``docs/formats.md``) gives ``c = 0`` when
        ``k <= fsr - 2**b`` (flush) and ``c = 2**b - 1`` when ``k >= fsr - 1`` (saturate).
        Zero, and anything that flushes to zero, has sign bit 0.
    """
    x = _check_tensor(x, "x")
    code_bits, base = _check_log_params(bits, fsr, base, signed)
    _check_finite(x, "x")
    if not x.is_floating_point():
        x = x.to(torch.int64)
    return _log_codes(x, code_bits, fsr, base, signed)


def log_dequant(codes, bits, fsr, *, base=2, signed=True):
    """Exact float64 values of log codes (the inverse of :func:`log_quant` on its image).

    Parameters
    ----------
    codes : torch.Tensor
        Integer tensor, every element in ``[0, 2**bits)``.
    bits, fsr, base, signed
        As in :func:`log_quant`.

    Returns
    -------
    torch.Tensor
        float64: ``0.0`` for magnitude code 0 (also with the sign bit set), else
        ``+-base**(fsr - 2**b + c)``. Base-2 values are exact powers of two; base-sqrt(2)
        values are ``2**(k // 2) * sqrt(2)**(k % 2)`` with ``sqrt(2)`` the correctly rounded
        double, i.e. correctly rounded. Values below float64's smallest subnormal (only
        possible with very wide codes and very negative ``fsr``) decode to ``0.0``.
    """
    q = _check_codes(codes, "codes")
    _, base = _check_log_params(bits, fsr, base, signed)
    _check_range(q, "codes", 0, (1 << bits) - 1, f"for bits={bits}")
    return _log_table(bits, fsr, base, signed).to(q.device).take(q)


@functools.lru_cache(maxsize=256)
def _log_table(bits, fsr, base, signed):
    """float64 value of every code ``0 .. 2**bits - 1`` (validated arguments)."""
    code_bits = bits - 1 if signed else bits
    q = torch.arange(1 << bits, dtype=torch.int64)
    c = q & ((1 << code_bits) - 1)
    k = fsr - (1 << code_bits) + c
    if base == 2:
        mag = _pow2(k)
    else:
        one = torch.ones(k.shape, dtype=torch.float64)
        mag = _ldexp(torch.where((k & 1).bool(), one * math.sqrt(2.0), one), k >> 1)
    mag = torch.where(c == 0, torch.zeros_like(mag), mag)
    if signed:
        neg = ((q >> code_bits) & 1).bool() & (c != 0)
        mag = torch.where(neg, -mag, mag)
    return mag


# -- linear codes ---------------------------------------------------------------------------


def _round_half_even_int(x, exp):
    """``round_half_even(x / 2**exp)`` for int64 ``x`` and ``exp > 0``, exactly."""
    if exp >= 64:
        return torch.zeros_like(x)  # |x / 2**exp| <= 1/2, and a tie rounds to even 0
    q = x >> exp  # floor
    rem = x & ((1 << exp) - 1)  # x - q * 2**exp, in [0, 2**exp)
    half = 1 << (exp - 1)
    up = (rem > half) | ((rem == half) & ((q & 1) == 1))
    return q + up.to(torch.int64)


def _linear_int(x, exp, lo, hi):
    """Exact saturated ``round_half_even(x / 2**exp)`` for an integer tensor."""
    x = x.to(torch.int64)
    if exp > 0:
        return _round_half_even_int(x, exp).clamp(lo, hi)
    s = min(-exp, 34)  # with |bounds| <= 2**32, any non-zero x << 34 saturates
    # Clamp x first so that the shift cannot overflow; the saturated result is unchanged.
    x = x.clamp(-((-lo) >> s) - 1, (hi >> s) + 1)
    return (x << s).clamp(lo, hi)


def linear_quant(x, bits, exp, *, signed=True):
    """Quantize ``x`` to fixed-point integers: ``round_half_even(x / 2**exp)``, saturated.

    Parameters
    ----------
    x : torch.Tensor
        Any shape; float or integer dtype (integers take an exact integer path). Finite.
    bits : int
        Width in ``[2, 32]`` (the engine's linear activation widths), sign included.
    exp : int
        Scale exponent in ``[-512, 512]``: integer ``q`` means ``q * 2**exp``.
    signed : bool
        Two's complement ``[-2**(bits-1), 2**(bits-1) - 1]`` or unsigned ``[0, 2**bits - 1]``.

    Returns
    -------
    torch.Tensor
        int64 integers in the range above, same shape and device as ``x``.
    """
    x = _check_tensor(x, "x")
    lo, hi = _check_linear_params(bits, exp, signed)
    _check_finite(x, "x")
    if not x.is_floating_point():
        return _linear_int(x, exp, lo, hi)
    # Scaling by the power of two 2**-exp (|exp| <= 512, representable) is exact unless the
    # result overflows (then it saturates anyway) or is subnormal (then it rounds to 0 anyway).
    scaled = x.to(torch.float64) * math.ldexp(1.0, -exp)
    return scaled.round_().clamp_(lo, hi).to(torch.int64)  # torch.round: half to even


def linear_dequant(q, bits, exp, *, signed=True):
    """Exact float64 values ``q * 2**exp`` of fixed-point integers.

    ``q`` must be an integer tensor within the range of ``bits`` / ``signed`` (see
    :func:`linear_quant`).
    """
    q = _check_codes(q, "q")
    lo, hi = _check_linear_params(bits, exp, signed)
    what = f"for bits={bits}, signed={signed}"
    _check_range(q, "q", lo, hi, what)
    return q.to(torch.float64).mul_(math.ldexp(1.0, exp))


# -- scale selection ------------------------------------------------------------------------


def _check_nonempty(x, name):
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty")


def _exact_max(x, signed):
    """Largest magnitude of ``x`` as an exact Python number (int or float); 0 if none.

    For unsigned formats only positive values count (negative ones always quantize to 0).
    """
    if x.is_floating_point():
        x = x.to(torch.float64)
        v = x.clamp(min=0) if not signed else x.abs()
        return float(v.max())
    x = x.to(torch.int64)
    hi = int(x.max())
    if not signed:
        return max(hi, 0)
    return max(hi, -int(x.min()))


def _fsr_of(value, base):
    """Rounded log of a positive exact number, plus one (the FSR that covers it)."""
    if isinstance(value, float):
        t = torch.tensor([value], dtype=torch.float64)
    else:
        # Magnitudes up to 2**63: use |x| - 1 trick through a negative int64.
        t = torch.tensor([-value], dtype=torch.int64)
    return int(_round_log(t, base, 1)[0])


def _fsr_limit_error(name, fsr):
    lo, hi = LIMITS["fsr"]
    return ValueError(
        f"x's largest magnitude needs {name}={fsr}, outside logdot's limits [{lo}, {hi}]"
    )


def fsr_from_max(x, bits, *, base=2, signed=True):
    """The smallest FSR whose largest code represents ``max|x|`` without saturation.

    With ``k`` the exact rounded log of ``max|x|`` (in units of ``base``), this is ``k + 1``:
    the largest code, ``base**(fsr - 1)``, is then exactly the value ``max|x|`` rounds to.
    It does not depend on ``bits`` (validated only). For ``signed=False`` only positive
    values count (negative values always quantize to 0). A tensor without a non-zero
    (positive, when unsigned) value gives ``0``. An empty tensor, or an FSR outside
    ``[-512, 512]``, raises :class:`ValueError`.
    """
    x = _check_tensor(x, "x")
    _, base = _check_log_params(bits, 0, base, signed)
    _check_finite(x, "x")
    _check_nonempty(x, "x")
    top = _exact_max(x, signed)
    if top == 0:
        return 0
    fsr = _fsr_of(top, base)
    lo, hi = LIMITS["fsr"]
    if not lo <= fsr <= hi:
        raise _fsr_limit_error("fsr", fsr)
    return fsr


def _linear_saturates(value, exp, lo, hi):
    """Whether ``round_half_even(value / 2**exp)`` falls outside ``[lo, hi]`` (exact)."""
    r = round(Fraction(value) / Fraction(2) ** exp)  # Fraction rounds half to even
    return not lo <= r <= hi


def linear_exp_from_max(x, bits, *, signed=True):
    """The smallest ``exp`` for which no element of ``x`` saturates in :func:`linear_quant`.

    Both extremes count for signed formats (``-2**(bits-1)`` is representable, so the most
    negative value may allow a smaller exponent than its magnitude suggests); for unsigned
    formats only the largest positive value counts. A tensor without a non-zero (positive,
    when unsigned) value gives ``0``. An empty tensor, or an exponent outside
    ``[-512, 512]``, raises :class:`ValueError`.
    """
    x = _check_tensor(x, "x")
    lo, hi = _check_linear_params(bits, 0, signed)
    _check_finite(x, "x")
    _check_nonempty(x, "x")
    if x.is_floating_point():
        x = x.to(torch.float64)
        pmax, nmin = float(x.max()), float(x.min())
    else:
        x = x.to(torch.int64)
        pmax, nmin = int(x.max()), int(x.min())
    extremes = [v for v in (pmax, nmin if signed else 0) if v != 0 and (signed or v > 0)]
    if not extremes:
        return 0
    best = None
    nb = bits - 1 if signed else bits
    for v in extremes:
        # |v| < 2**E, so every exp <= E - nb - 2 saturates: start just above.
        e_top = abs(v).bit_length() if isinstance(v, int) else math.frexp(abs(v))[1]
        cand = e_top - nb - 1
        while _linear_saturates(v, cand, lo, hi):
            cand += 1
        best = cand if best is None else max(best, cand)
    lo_e, hi_e = LIMITS["fsr"]
    if not lo_e <= best <= hi_e:
        raise _fsr_limit_error("exp", best)
    return best


def _check_search(search):
    return check_int(search, "search", *_SEARCH_LIMITS)


def _mse(x64, values, shift):
    """Mean squared error, computed after scaling by the exact power of two ``2**-shift``."""
    d = (values - x64) * math.ldexp(1.0, -shift)
    return float((d * d).mean())


def _argmin_larger_wins(errors):
    """Candidate with the smallest error; ties go to the larger candidate."""
    best_c, best_err = None, None
    for c, err in sorted(errors.items(), reverse=True):
        if best_err is None or err < best_err:
            best_c, best_err = c, err
    return best_c


def fsr_calibrate(x, bits, *, base=2, signed=True, search=_DEFAULT_SEARCH):
    """The FSR minimizing the mean squared error of ``log_dequant(log_quant(x))`` vs ``x``.

    Candidates are ``fsr_from_max(x) - search, ..., fsr_from_max(x)`` (clipped to
    ``[-512, 512]``): a larger FSR never lowers the error, because the largest values are
    already unsaturated and small values can only be flushed to zero, which is never closer
    than their rounded value. Smaller FSRs trade saturation of the largest values for
    resolution of small ones. Ties go to the larger FSR (less saturation on unseen data).
    A tensor without a non-zero (positive, when unsigned) value gives ``0``.

    Parameters
    ----------
    search : int
        Number of FSRs below :func:`fsr_from_max` to try, in ``[0, 64]`` (default 8).
    """
    f0 = fsr_from_max(x, bits, base=base, signed=signed)
    _check_search(search)
    x = x.detach()
    if _exact_max(x, signed) == 0:
        return 0
    x64 = x.to(torch.float64)
    shift = (f0 - 1) if normalize_base(base) == 2 else (f0 - 1) // 2
    errors = {}
    for f in range(max(f0 - search, LIMITS["fsr"][0]), f0 + 1):
        v = log_dequant(
            log_quant(x, bits, f, base=base, signed=signed), bits, f, base=base, signed=signed
        )
        errors[f] = _mse(x64, v, shift)
    return _argmin_larger_wins(errors)


def linear_exp_calibrate(x, bits, *, signed=True, search=_DEFAULT_SEARCH):
    """The ``exp`` minimizing the mean squared error of ``linear_dequant(linear_quant(x))``.

    Candidates are ``linear_exp_from_max(x) - search, ..., linear_exp_from_max(x)`` (clipped
    to ``[-512, 512]``): a larger exponent never lowers the error (its grid is a subset of
    the unsaturated finer grid). Smaller exponents trade saturation of the largest values
    for resolution. Ties go to the larger exponent. A tensor without a non-zero (positive,
    when unsigned) value gives ``0``.

    Parameters
    ----------
    search : int
        Number of exponents below :func:`linear_exp_from_max` to try, in ``[0, 64]``
        (default 8).
    """
    e0 = linear_exp_from_max(x, bits, signed=signed)
    _check_search(search)
    x = x.detach()
    if _exact_max(x, signed) == 0:
        return 0
    x64 = x.to(torch.float64)
    shift = e0 + bits
    errors = {}
    for e in range(max(e0 - search, LIMITS["fsr"][0]), e0 + 1):
        v = linear_dequant(linear_quant(x, bits, e, signed=signed), bits, e, signed=signed)
        errors[e] = _mse(x64, v, shift)
    return _argmin_larger_wins(errors)


# -- fake quantization ----------------------------------------------------------------------


class _StraightThrough(torch.autograd.Function):
    """Forward: a precomputed quantized tensor; backward: the gradient unchanged."""

    @staticmethod
    def forward(ctx, x, y):
        return y

    @staticmethod
    def backward(ctx, grad):
        return grad, None


def _check_float(x, name):
    x_ = _check_tensor(x, name)
    if not x_.is_floating_point():
        raise TypeError(
            f"{name} must be a floating-point tensor for fake quantization, not {x_.dtype}"
        )
    return x


def fake_log_quant(x, bits, fsr, *, base=2, signed=True):
    """Differentiable log fake quantization with a straight-through estimator.

    Forward: ``log_dequant(log_quant(x, ...), ...)`` cast to ``x.dtype`` (exact in float64;
    one rounding for narrower dtypes). Backward: the upstream gradient passes through
    unchanged (identity, also where the value flushes or saturates).
    """
    x = _check_float(x, "x")
    q = log_quant(x, bits, fsr, base=base, signed=signed)
    y = log_dequant(q, bits, fsr, base=base, signed=signed).to(x.dtype)
    return _StraightThrough.apply(x, y)


def fake_linear_quant(x, bits, exp, *, signed=True):
    """Differentiable fixed-point fake quantization with a straight-through estimator.

    Forward: ``linear_dequant(linear_quant(x, ...), ...)`` cast to ``x.dtype``. Backward:
    the upstream gradient passes through unchanged (identity, also where it saturates).
    """
    x = _check_float(x, "x")
    q = linear_quant(x, bits, exp, signed=signed)
    y = linear_dequant(q, bits, exp, signed=signed).to(x.dtype)
    return _StraightThrough.apply(x, y)
