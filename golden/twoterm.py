"""Two-term power-of-two weights: code layout, values and representable set (pure Python).

A two-term weight of ``W`` bits (``W`` counts every field, the sign included) is zero or a
signed sum of two powers of two. ``docs/formats.md``, section "Two-term power-of-two weights",
is the normative description; this module is its one implementation, shared by the
quantizer (:mod:`logdot.golden.twoterm_quant`), the engine geometry
(:class:`logdot.golden.formats.EngineConfig` with ``weight_terms=2``), the integer model
(:func:`logdot.golden.engine.dot`) and the hardware lane
(:class:`logdot.hdl.lane.TwoTermLane`).

Layout, from the top bit down: ``| sign (1) | c (B1 bits) | j (B2 bits) |`` with
``B2 = (W - 1) // 2`` and ``B1 = W - 1 - B2``, ``J = 2**B2 - 1``.

* ``c = 0``: the value 0 (whatever ``j`` and the sign).
* ``c >= 1``, ``j = 0``: ``+-2**(FSR - 2**B1 + c)`` (a single term, exactly the single-term
  log code of ``B1`` bits).
* ``c >= 1``, ``j >= 1``: ``+-(2**(FSR - 2**B1 + c) + 2**(FSR - 2**B1 + c - j))``: the second
  term lies ``j`` octaves (``1 <= j <= J``) below the first.

In integer units (the engine's: the smallest second term, ``2**(FSR - 2**B1 + 1 - J)``, is 1)
magnitude code ``(c, j)`` is ``2**(c - 1 + J) + (2**(c - 1 + J - j) if j else 0)``.
"""

from __future__ import annotations

import functools

# The layout's widths live in logdot.golden.formats (EngineConfig derives its widths from them).
from .formats import (
    TWOTERM_BITS,
    check_int,
    twoterm_fields,
    twoterm_max_magnitude,
    twoterm_max_shift,
    twoterm_unit_log2,
)
from .formats import (
    _check_twoterm_bits as _check_bits,
)

__all__ = [
    "TWOTERM_BITS",
    "twoterm_fields",
    "twoterm_magnitude",
    "twoterm_magnitudes",
    "twoterm_max_magnitude",
    "twoterm_max_shift",
    "twoterm_unit_log2",
    "twoterm_value",
]

# Accepted widths ``W`` of a two-term weight: ``logdot.golden.formats.TWOTERM_BITS`` (at least
# one bit per field, at most the engine's widest weight, where every value and every midpoint
# of two neighbours is still an exact double).


def twoterm_magnitude(bits, code):
    """Integer magnitude (in units of :func:`twoterm_unit_log2`) of a ``bits - 1``-bit magnitude
    code ``(c << B2) | j``; 0 for ``c = 0``."""
    _, b2 = twoterm_fields(bits)
    check_int(code, "code", 0, (1 << (bits - 1)) - 1)
    c, j = code >> b2, code & ((1 << b2) - 1)
    if c == 0:
        return 0
    first = (c - 1) + (1 << b2) - 1  # shift of the first term
    return (1 << first) + ((1 << (first - j)) if j else 0)


def twoterm_value(bits, raw):
    """Signed integer value (in units) of a raw ``bits``-bit field: sign in bit ``bits - 1``."""
    _check_bits(bits)
    check_int(raw, "raw", 0, (1 << bits) - 1)
    mag = twoterm_magnitude(bits, raw & ((1 << (bits - 1)) - 1))
    return -mag if raw >> (bits - 1) else mag


@functools.lru_cache(maxsize=32)
def twoterm_magnitudes(bits):
    """The representable magnitudes, ascending, as ``((magnitude, code), ...)``.

    Starts with ``(0, 0)``; every non-zero magnitude appears once (the non-zero codes are
    distinct values), and of the ``2**B2`` codes ``c = 0`` only code 0 is listed. There are
    ``1 + (2**B1 - 1) * 2**B2`` entries.
    """
    _, b2 = twoterm_fields(bits)
    pairs = {0: 0}
    for code in range(1 << b2, 1 << (bits - 1)):
        mag = twoterm_magnitude(bits, code)
        assert mag not in pairs, (bits, code)  # the set has no duplicates (docs/formats.md)
        pairs[mag] = code
    return tuple(sorted(pairs.items()))
