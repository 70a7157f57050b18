"""Integer model of the layer engine's requantizer: a signed sum ``z`` in, a code or integer out.

The output stage of each processing element of the layer engine (:mod:`logdot.golden.layer`,
``docs/layer.md``) adds the bias to the engine result, applies the optional ReLU and then
requantizes the sum ``z`` with a :class:`Requant`, either

* to a **log code** of ``out_bits`` bits (base 2, ``out_signed`` or not): the exact rounded
  log of ``|z|`` (leading-one position ``e``, plus one when ``|z| >= ceil(2**(e + 1/2))``,
  i.e. when the mantissa is at least ``sqrt(2)``), plus a constant ``offset``, flushed to
  code 0 at or below 0 and saturated at the largest code. When the real scale of ``z`` is
  a half-integer power of two (base-sqrt(2) weights with an odd weight exponent), the
  rounded log of ``|z| * sqrt(2)`` is exactly ``e + 1`` (no comparison is needed);
* or to a **linear** fixed-point integer of ``out_bits`` bits: ``round_half_even(z /
  2**shift)`` (or ``z << -shift``), saturated.

With the real scale of one LSB of ``z`` known (:meth:`EngineConfig.result_scale_log2`),
:meth:`Requant.log` and :meth:`Requant.linear` choose the constants so that the code is
exactly ``logdot.golden.quant.log_quant`` / ``linear_quant`` of the real value
``z * 2**scale``. The hardware requantizers (:mod:`logdot.hdl.requant`) take every constant
from this class.

Public API
----------
Requant
    The requantizer (integer constants and the bit-exact integer function).
log_thresholds
    The exact rounding thresholds ``ceil(2**(e + 1/2))`` of the log requantizer.
OUT_KINDS, MAX_Z_BITS
    The output kinds and the widest input ``z``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .formats import LIMITS, ceil_root_pow2, check_bool, check_choice, check_int

__all__ = ["MAX_Z_BITS", "OUT_KINDS", "Requant", "log_thresholds"]

#: Kinds of layer output.
OUT_KINDS = ("log", "linear")
#: Largest input width of a requantizer (the model computes in int64).
MAX_Z_BITS = 64


def log_thresholds(width):
    """``T_e = ceil(2**(e + 1/2))`` for ``e = 0 .. width - 1`` (exact integers).

    A magnitude ``m`` with leading one at bit ``e`` rounds up in the log domain (its mantissa
    ``m / 2**e`` is at least ``sqrt(2)``) iff ``m >= T_e``.
    """
    return [ceil_root_pow2(2 * e + 1, 2) for e in range(width)]


def _leading_one(m):
    """Leading-one position of non-negative int64 ``m`` (0 for ``m`` in {0, 1}), exactly, by
    a binary search of shifts (vectorized)."""
    e = torch.zeros_like(m)
    m = m.clone()
    for s in (32, 16, 8, 4, 2, 1):
        big = (m >> s) != 0
        e += big.to(torch.int64) * s
        m = torch.where(big, m >> s, m)
    return e


# -- the requantizer ----------------------------------------------------------------------


@dataclass(frozen=True)
class Requant:
    """Requantizer of the output stage: a signed integer ``z`` in, a code or integer out.

    Build it with :meth:`log` or :meth:`linear` from real scales, or directly from its
    integer constants.

    Parameters
    ----------
    in_bits : int
        Width of the signed input ``z`` (two's complement), ``2 .. 64``.
    kind : {"log", "linear"}
        Output kind.
    out_bits : int
        Output width, the sign included when ``out_signed`` (log: ``2 .. 16``; linear
        ``2 .. 64``).
    out_signed : bool
        Log: sign in bit ``out_bits - 1`` above an ``out_bits - 1`` bit code; unsigned codes
        use all bits and map negative inputs to code 0. Linear: two's complement or unsigned
        (negative inputs saturate at 0).
    offset : int
        Log only: code = rounded log of ``|z|`` + ``offset`` (before flush and saturation).
    half : bool
        Log only: the real scale of ``z`` is a half-integer power of two; the rounded log of
        ``|z| * sqrt(2)`` is the leading-one position plus one.
    shift : int
        Linear only: output = ``round_half_even(z / 2**shift)`` (a left shift when
        ``shift <= 0``), saturated.
    """

    in_bits: int
    kind: str
    out_bits: int
    out_signed: bool = False
    offset: int = 0
    half: bool = False
    shift: int = 0

    def __post_init__(self):
        check_int(self.in_bits, "in_bits", 2, MAX_Z_BITS)
        check_choice(self.kind, "kind", OUT_KINDS)
        if self.kind == "log":
            check_int(self.out_bits, "out_bits", *LIMITS["quant_bits"])
        else:
            check_int(self.out_bits, "out_bits", 2, 64 if self.out_signed is True else 63)
        check_bool(self.out_signed, "out_signed")
        check_bool(self.half, "half")
        check_int(self.offset, "offset", -(1 << 17), 1 << 17)
        check_int(self.shift, "shift", -4096, 4096)
        if self.kind == "linear" and (self.offset != 0 or self.half):
            raise ValueError("offset and half apply to kind='log' only")
        if self.kind == "log" and self.shift != 0:
            raise ValueError("shift applies to kind='linear' only")

    # -- construction from real scales ------------------------------------------------------

    @classmethod
    def log(cls, *, in_bits, scale_x2, bits, fsr, signed=False):
        """Requantizer to ``log_quant(z * 2**(scale_x2 / 2), bits, fsr)`` (base 2).

        Parameters
        ----------
        in_bits : int
            Width of ``z``.
        scale_x2 : int
            Twice the base-2 exponent of one LSB of ``z`` (odd: a half-integer exponent).
        bits, fsr, signed
            The output log format, as in :func:`logdot.golden.quant.log_quant`.
        """
        check_int(scale_x2, "scale_x2", -4096, 4096)
        check_int(bits, "bits", *LIMITS["quant_bits"])
        check_int(fsr, "fsr", *LIMITS["fsr"])
        check_bool(signed, "signed")
        code_bits = bits - 1 if signed else bits
        # k (rounded log of the real value) = k_z + floor(scale); code = k - (fsr - 2**b).
        offset = (scale_x2 >> 1) - fsr + (1 << code_bits)
        return cls(
            in_bits=in_bits,
            kind="log",
            out_bits=bits,
            out_signed=signed,
            offset=offset,
            half=bool(scale_x2 & 1),
        )

    @classmethod
    def linear(cls, *, in_bits, scale_x2, bits, exp, signed=True):
        """Requantizer to ``logdot.golden.quant.linear_quant(z * 2**(scale_x2 / 2), bits, exp)``.

        ``scale_x2`` must be even: a linear output of a half-integer scale would need a
        multiplication by ``sqrt(2)``.
        """
        check_int(scale_x2, "scale_x2", -4096, 4096)
        check_int(exp, "exp", *LIMITS["fsr"])
        if scale_x2 & 1:
            raise ValueError(
                f"a linear output needs an integer result scale, not 2**({scale_x2}/2); "
                "use a log output, or an even weight exponent with base-sqrt(2) weights"
            )
        return cls(
            in_bits=in_bits,
            kind="linear",
            out_bits=bits,
            out_signed=signed,
            shift=exp - (scale_x2 >> 1),
        )

    # -- derived ---------------------------------------------------------------------------

    @property
    def code_bits(self):
        """Magnitude code bits of a log output."""
        return self.out_bits - 1 if self.out_signed else self.out_bits

    @property
    def in_range(self):
        """``(lo, hi)`` of the input ``z``."""
        return -(1 << (self.in_bits - 1)), (1 << (self.in_bits - 1)) - 1

    @property
    def out_range(self):
        """``(lo, hi)`` of the output field's integer value (codes for log)."""
        if self.kind == "log":
            return 0, (1 << self.out_bits) - 1
        if self.out_signed:
            return -(1 << (self.out_bits - 1)), (1 << (self.out_bits - 1)) - 1
        return 0, (1 << self.out_bits) - 1

    def to_dict(self):
        return {
            "in_bits": self.in_bits,
            "kind": self.kind,
            "out_bits": self.out_bits,
            "out_signed": self.out_signed,
            "offset": self.offset,
            "half": self.half,
            "shift": self.shift,
        }

    # -- the function ----------------------------------------------------------------------

    def __call__(self, z):
        """Outputs for an integer tensor ``z`` (values within ``in_range``), int64.

        Log: raw codes in ``[0, 2**out_bits)``. Linear: signed (or unsigned) integer values.
        """
        if not isinstance(z, torch.Tensor) or z.dtype not in (
            torch.int8,
            torch.int16,
            torch.int32,
            torch.int64,
            torch.uint8,
        ):
            raise TypeError(f"z must be an integer torch tensor, not {type(z).__name__}")
        z = z.to(torch.int64)
        lo, hi = self.in_range
        if z.numel() and (int(z.min()) < lo or int(z.max()) > hi):
            bad = z[(z < lo) | (z > hi)][0]
            raise ValueError(f"z must be in [{lo}, {hi}] (in_bits={self.in_bits}), not {int(bad)}")
        if self.kind == "log":
            return self._log(z)
        return self._linear(z)

    def _log(self, z):
        cb = self.code_bits
        # |z| - 1 without overflow at the most negative int64.
        u = torch.where(z < 0, -(z + 1), z - 1)
        mag = torch.where(z < 0, -z, z)  # |z|; wraps to -2**63 only for z = -2**63
        e = torch.where(mag < 0, 63, _leading_one(mag.clamp(min=0)))
        if self.half:
            k = e + 1
        else:
            thr = torch.tensor([t - 1 for t in log_thresholds(63)], dtype=torch.int64)
            # up iff |z| >= T_e  <=>  u >= T_e - 1.
            # (|z| = 2**63, only at in_bits = 64, has mantissa 1: never rounds up.)
            up = (u >= thr[e.clamp(max=62)]) & (e < 63)
            k = e + up.to(torch.int64)
        c = (k + self.offset).clamp_(0, (1 << cb) - 1)
        c = torch.where(z == 0, torch.zeros_like(c), c)
        if self.out_signed:
            c = c + ((z < 0) & (c != 0)).to(torch.int64) * (1 << cb)
        else:
            c = torch.where(z < 0, torch.zeros_like(c), c)
        return c

    def _linear(self, z):
        lo, hi = self.out_range
        s = self.shift
        if s > 0:
            if s >= 64:
                q = torch.zeros_like(z)
            else:
                q = z >> s
                rem = z & ((1 << s) - 1)
                half = 1 << (s - 1)
                up = (rem > half) | ((rem == half) & ((q & 1) == 1))
                q = q + up.to(torch.int64)
            return q.clamp(lo, hi)
        s = -s
        # z << s saturates above hi iff z > hi >> s, below lo iff z < ceil(lo / 2**s).
        top, bottom = hi >> s, -((-lo) >> s)
        shifted = z.clamp(bottom, top) << min(s, 63)
        return torch.where(z > top, hi, torch.where(z < bottom, lo, shifted))
