"""Integer model of the logdot layer engine: ``pes`` output channels, on-chip weights, and an
output stage (bias, ReLU, requantization) per channel. Bit-exact with ``logdot.hdl.layer``.

The layer engine (``docs/layer.md``) is ``P = pes`` dot-product engines of
:class:`logdot.golden.formats.EngineConfig` that share every activation beat. The weights do not
travel with the activations: they sit in an on-chip memory of ``depth`` words per processing
element (PE), each word holding ``lanes`` weight codes. The memory is read as a cyclic
*program*:

* input beat number ``j`` (counted from reset, over the whole stream) is multiplied by weight
  word ``j mod depth`` of every PE;
* the result of dot product number ``i`` (counted from reset) gets bias entry ``i mod dots`` of
  its PE, where ``dots`` is the number of bias entries per PE.

A convolution or fully connected layer maps onto this program (:func:`map_layer`): each
output-channel tile of ``P`` channels has ``beats`` weight words (the input vector split into
``lanes``-wide beats, zero-padded), so ``depth = tiles * beats`` and ``dots = tiles``; the
driver sends each input vector once per tile, ``beats`` beats with ``tlast`` on the last.

The output stage of each PE turns the engine result ``y`` (``EngineConfig.result_bits`` bits,
with ``frac_bits`` fraction bits in base sqrt(2)) into the layer output:

1. ``z = y + bias`` (exact; ``bias`` is an integer in the units of ``y``);
2. ``z = max(z, 0)`` when ``relu``;
3. requantization (:class:`Requant`), either

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
   exactly ``logdot.golden.quant.log_quant`` / ``linear_quant`` of the real value ``z * 2**scale``.

Public API
----------
Requant
    The requantizer (integer constants and the bit-exact integer function).
LayerConfig, Layer
    Geometry of a layer engine, and a layer engine with its memory contents (``run``).
LayerSpec, map_layer
    A trained, quantized Conv2d / Linear layer independent of the engine geometry, and its
    mapping onto a layer engine (im2col order, channel and output-channel tiling).
spec_from_module, save_spec, load_spec
    Build a spec from a :mod:`logdot.golden.nn` layer; store it as ``layer.pt``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

from .engine import dot as engine_dot
from .formats import (
    LIMITS,
    EngineConfig,
    ceil_root_pow2,
    check_int,
    normalize_base,
    signed_width,
)

__all__ = [
    "OUT_KINDS",
    "Layer",
    "LayerConfig",
    "LayerSpec",
    "Requant",
    "bias_to_int",
    "im2col",
    "load_spec",
    "map_layer",
    "pack_outputs",
    "save_spec",
    "spec_from_module",
    "unpack_outputs",
]

#: Kinds of layer output.
OUT_KINDS = ("log", "linear")
#: Largest input width of a requantizer (the model computes in int64).
MAX_Z_BITS = 64
#: Largest number of PEs of a layer engine.
MAX_PES = 256
#: Largest weight memory depth (words per PE) and bias entries per PE.
MAX_DEPTH = 1 << 16

SPEC_SCHEMA = "logdot.layer_spec/1"


def _check_bool(value, name):
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value


def _check_choice(value, name, choices):
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


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
        _check_choice(self.kind, "kind", OUT_KINDS)
        if self.kind == "log":
            check_int(self.out_bits, "out_bits", *LIMITS["quant_bits"])
        else:
            check_int(self.out_bits, "out_bits", 2, 64 if self.out_signed is True else 63)
        _check_bool(self.out_signed, "out_signed")
        _check_bool(self.half, "half")
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
        _check_bool(signed, "signed")
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


# -- layer engine geometry and contents -----------------------------------------------------


def z_bits(engine, bias_bits):
    """Width of ``z = y + bias`` (exact): one more bit than the wider of the two."""
    return max(engine.result_bits, bias_bits) + 1


@dataclass(frozen=True)
class LayerConfig:
    """Geometry and output stage of one layer engine (everything but the memory contents).

    Parameters
    ----------
    engine : logdot.golden.formats.EngineConfig
        The dot-product engine of each PE (lanes, formats, accumulator, pipeline).
    pes : int
        Number of PEs (output channels computed in parallel), ``1 .. 256``.
    depth : int
        Weight words per PE (the length of the cyclic weight program, in beats).
    dots : int
        Bias entries per PE (the length of the cyclic bias program, in dot products).
    bias_bits : int
        Width of each signed bias constant (``1 .. 64``).
    relu : bool
        Apply ``max(z, 0)`` before requantization.
    requant : Requant
        The requantizer; its ``in_bits`` must be ``z_bits(engine, bias_bits)``.
    """

    engine: EngineConfig
    pes: int
    depth: int
    dots: int
    bias_bits: int
    relu: bool
    requant: Requant

    def __post_init__(self):
        if not isinstance(self.engine, EngineConfig):
            raise TypeError(f"engine must be an EngineConfig, not {self.engine!r}")
        check_int(self.pes, "pes", 1, MAX_PES)
        check_int(self.depth, "depth", 1, MAX_DEPTH)
        check_int(self.dots, "dots", 1, MAX_DEPTH)
        check_int(self.bias_bits, "bias_bits", 1, 64)
        _check_bool(self.relu, "relu")
        if not isinstance(self.requant, Requant):
            raise TypeError(f"requant must be a Requant, not {self.requant!r}")
        zb = z_bits(self.engine, self.bias_bits)
        if zb > MAX_Z_BITS:
            raise ValueError(
                f"the output stage needs {zb}-bit sums, beyond logdot's limit of {MAX_Z_BITS}"
            )
        if self.requant.in_bits != zb:
            raise ValueError(
                f"requant.in_bits must be {zb} (result_bits {self.engine.result_bits}, "
                f"bias_bits {self.bias_bits}), not {self.requant.in_bits}"
            )

    # -- stream layout ----------------------------------------------------------------------

    @property
    def lanes(self):
        return self.engine.lanes

    @property
    def z_bits(self):
        return z_bits(self.engine, self.bias_bits)

    @property
    def in_bits(self):
        """Used bits of one input beat: ``lanes`` activations of ``act_bits``."""
        return self.engine.lanes * self.engine.act_bits

    @property
    def in_bytes(self):
        return -(-self.in_bits // 8)

    @property
    def out_field_bits(self):
        """Bits per output channel on ``m_axis_tdata``."""
        return self.requant.out_bits

    @property
    def out_bits(self):
        """Used bits of one output beat: ``pes`` fields of ``out_field_bits``."""
        return self.pes * self.requant.out_bits

    @property
    def out_bytes(self):
        return -(-self.out_bits // 8)

    @property
    def word_bits(self):
        """Bits of one weight word (one PE, one address): ``lanes * weight_bits``."""
        return self.engine.lanes * self.engine.weight_bits

    @property
    def word_bytes(self):
        """Bytes of one beat of the weight-load stream (one word)."""
        return -(-self.word_bits // 8)

    def act_lsb(self, lane):
        return lane * self.engine.act_bits

    def out_lsb(self, pe):
        return pe * self.requant.out_bits

    @property
    def bias_range(self):
        return -(1 << (self.bias_bits - 1)), (1 << (self.bias_bits - 1)) - 1

    def to_dict(self):
        return {
            "engine": self.engine.to_dict(),
            "pes": self.pes,
            "depth": self.depth,
            "dots": self.dots,
            "bias_bits": self.bias_bits,
            "relu": self.relu,
            "requant": self.requant.to_dict(),
            "z_bits": self.z_bits,
        }

    # -- packing ----------------------------------------------------------------------------

    def pack_acts(self, acts):
        """``s_axis_tdata`` integers of beats ``acts`` (shape ``(beats, lanes)``), a list."""
        a = torch.as_tensor(acts, dtype=torch.int64)
        mask = (1 << self.engine.act_bits) - 1
        out = []
        for row in (a & mask).tolist():
            word = 0
            for i, v in enumerate(row):
                word |= v << self.act_lsb(i)
            out.append(word)
        return out


def _as_codes(x, name, shape, lo, hi):
    t = torch.as_tensor(x)
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor, not {t.dtype}")
    t = t.to(torch.int64)
    if tuple(t.shape) != tuple(shape):
        raise ValueError(f"{name} must have shape {tuple(shape)}, not {tuple(t.shape)}")
    if t.numel() and (int(t.min()) < lo or int(t.max()) > hi):
        bad = t[(t < lo) | (t > hi)][0]
        raise ValueError(f"{name} must be in [{lo}, {hi}], not {int(bad)}")
    return t.contiguous()


@dataclass(frozen=True, eq=False)
class Layer:
    """A layer engine with its memory contents: the bit-exact model of one generated engine.

    Parameters
    ----------
    config : LayerConfig
    weights : integer tensor, shape ``(depth, pes, lanes)``
        Raw weight codes (``weight_bits`` bits: sign above the code).
    bias : integer tensor, shape ``(dots, pes)``
        Signed bias constants within ``bias_bits``.
    """

    config: LayerConfig
    weights: torch.Tensor
    bias: torch.Tensor

    def __post_init__(self):
        cfg = self.config
        if not isinstance(cfg, LayerConfig):
            raise TypeError(f"config must be a LayerConfig, not {cfg!r}")
        w = _as_codes(
            self.weights,
            "weights",
            (cfg.depth, cfg.pes, cfg.lanes),
            0,
            (1 << cfg.engine.weight_bits) - 1,
        )
        b = _as_codes(self.bias, "bias", (cfg.dots, cfg.pes), *cfg.bias_range)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)

    def weight_words(self):
        """Memory words, ``[address][pe]`` -> integer (lane ``i`` at bits ``[i*W +: W]``)."""
        wb = self.config.engine.weight_bits
        rows = []
        for addr in self.weights.tolist():
            row = []
            for lanes in addr:
                word = 0
                for i, c in enumerate(lanes):
                    word |= c << (i * wb)
                row.append(word)
            rows.append(row)
        return rows

    def results(self, acts, last=None, *, start_beat=0):
        """Engine results ``y`` (before the output stage), int64 shape ``(dots, pes)``."""
        cfg = self.config
        a = torch.as_tensor(acts)
        if a.ndim != 2 or a.shape[1] != cfg.lanes:
            raise ValueError(f"acts must have shape (beats, {cfg.lanes}), not {tuple(a.shape)}")
        beats = a.shape[0]
        addr = (torch.arange(beats, dtype=torch.int64) + start_beat) % cfg.depth
        w = self.weights[addr]  # (beats, pes, lanes)
        cols = [engine_dot(cfg.engine, a, w[:, p, :], last) for p in range(cfg.pes)]
        if not cols:
            return torch.zeros((0, cfg.pes), dtype=torch.int64)
        return torch.stack(cols, 1)

    def output_stage(self, y, *, start_dot=0):
        """Bias, ReLU and requantization of results ``y`` (shape ``(dots, pes)``)."""
        cfg = self.config
        n = y.shape[0]
        idx = (torch.arange(n, dtype=torch.int64) + start_dot) % cfg.dots
        z = y + self.bias[idx]
        if cfg.relu:
            z = z.clamp(min=0)
        return cfg.requant(z)

    def run(self, acts, last=None, *, start_beat=0, start_dot=0):
        """Outputs of the layer engine for a stream of activation beats.

        Parameters
        ----------
        acts : integer tensor, shape ``(beats, lanes)``
            Activation fields as :func:`logdot.golden.engine.dot` takes them.
        last : bool tensor of shape ``(beats,)``, optional
            ``s_axis_tlast``; default every beat is a dot product.
        start_beat, start_dot : int
            Beats and dot products already streamed since reset (program counters).

        Returns
        -------
        torch.Tensor
            int64 ``(dots, pes)``: output field values (log codes, or linear integers).
        """
        y = self.results(acts, last, start_beat=start_beat)
        return self.output_stage(y, start_dot=start_dot)


def pack_outputs(config, outputs):
    """``m_axis_tdata`` integers of output rows (shape ``(n, pes)``), a list."""
    ob = config.requant.out_bits
    mask = (1 << ob) - 1
    words = []
    for row in torch.as_tensor(outputs, dtype=torch.int64).tolist():
        word = 0
        for p, v in enumerate(row):
            word |= (v & mask) << (p * ob)
        words.append(word)
    return words


def unpack_outputs(config, words):
    """Output rows (int64 ``(n, pes)``) of ``m_axis_tdata`` integers (inverse of packing)."""
    rq = config.requant
    ob = rq.out_bits
    mask = (1 << ob) - 1
    sign = rq.kind == "linear" and rq.out_signed
    rows = []
    for word in words:
        row = []
        for p in range(config.pes):
            v = (int(word) >> (p * ob)) & mask
            if sign and v >> (ob - 1):
                v -= 1 << ob
            row.append(v)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int64).reshape(len(rows), config.pes)


# -- trained layers -> layer engines ---------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """A trained, quantized Conv2d or Linear layer, independent of the engine geometry.

    Everything is integer codes plus scales, so the spec fixes the layer's arithmetic
    exactly; :func:`map_layer` then picks the engine (lanes, PEs) that computes it.

    Parameters
    ----------
    kind : {"conv2d", "linear"}
    weight_codes : int64 tensor
        ``(out, in, kh, kw)`` (conv2d) or ``(out, in)`` (linear): raw signed log codes.
    weight_bits, weight_base, weight_fsr
        The weights' log format.
    act_format : {"log", "linear"}
        The input activations' format: base-2 log codes or fixed-point integers.
    act_bits, act_signed
        Input width (sign included when signed).
    act_scale : int
        Input FSR (log) or exponent (linear).
    bias : float64 tensor of shape ``(out,)`` or None
        Real bias; rounded (half to even) to the engine result's LSB by :func:`map_layer`.
    relu : bool
        ReLU after the bias.
    out_kind : {"log", "linear"}
        Output format; ``out_bits``, ``out_signed`` and ``out_scale`` (FSR or exponent; for a
        linear output ``None`` means the engine result's own scale, no rounding).
    stride, padding : (int, int)
        Convolution geometry (conv2d only).
    frac_bits : int or None
        Engine fraction bits in base sqrt(2).
    """

    kind: str
    weight_codes: torch.Tensor
    weight_bits: int
    weight_base: object
    weight_fsr: int
    act_format: str
    act_bits: int
    act_signed: bool
    act_scale: int
    bias: torch.Tensor | None
    relu: bool
    out_kind: str
    out_bits: int
    out_signed: bool
    out_scale: int | None
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    frac_bits: int | None = None

    def __post_init__(self):
        _check_choice(self.kind, "kind", ("conv2d", "linear"))
        w = torch.as_tensor(self.weight_codes)
        want = 4 if self.kind == "conv2d" else 2
        if w.ndim != want or w.dtype.is_floating_point:
            raise ValueError(
                f"weight_codes must be a {want}-d integer tensor for kind {self.kind!r}, "
                f"not {w.dtype} of shape {tuple(w.shape)}"
            )
        check_int(self.weight_bits, "weight_bits", *LIMITS["weight_bits"])
        object.__setattr__(
            self, "weight_base", normalize_base(self.weight_base, name="weight_base")
        )
        check_int(self.weight_fsr, "weight_fsr", *LIMITS["fsr"])
        w = _as_codes(w, "weight_codes", tuple(w.shape), 0, (1 << self.weight_bits) - 1)
        object.__setattr__(self, "weight_codes", w)
        _check_choice(self.act_format, "act_format", ("log", "linear"))
        _check_bool(self.act_signed, "act_signed")
        check_int(self.act_scale, "act_scale", *LIMITS["fsr"])
        if self.bias is not None:
            b = torch.as_tensor(self.bias, dtype=torch.float64)
            if tuple(b.shape) != (w.shape[0],):
                raise ValueError(f"bias must have shape ({w.shape[0]},), not {tuple(b.shape)}")
            if not bool(torch.isfinite(b).all()):
                raise ValueError("bias must contain only finite values")
            object.__setattr__(self, "bias", b)
        _check_bool(self.relu, "relu")
        _check_choice(self.out_kind, "out_kind", OUT_KINDS)
        _check_bool(self.out_signed, "out_signed")
        if self.out_scale is not None:
            check_int(self.out_scale, "out_scale", *LIMITS["fsr"])
        elif self.out_kind == "log":
            raise ValueError("out_scale (the output FSR) is required for a log output")
        for name in ("stride", "padding"):
            v = tuple(getattr(self, name))
            if len(v) != 2 or any(isinstance(x, bool) or not isinstance(x, int) for x in v):
                raise ValueError(f"{name} must be a pair of integers, not {v!r}")
            object.__setattr__(self, name, v)
        if min(self.stride) < 1 or min(self.padding) < 0:
            raise ValueError(
                f"stride must be >= 1 and padding >= 0, not {self.stride}, {self.padding}"
            )

    @property
    def out_channels(self):
        return self.weight_codes.shape[0]

    @property
    def in_features(self):
        """Length of one input vector (``in * kh * kw`` for conv2d)."""
        return int(np.prod(self.weight_codes.shape[1:]))

    @property
    def kernel(self):
        return tuple(self.weight_codes.shape[2:]) if self.kind == "conv2d" else (1, 1)

    def engine_config(self, lanes, *, max_beats, **pipeline):
        """The EngineConfig of this layer's arithmetic with ``lanes`` lanes."""
        return EngineConfig(
            lanes=lanes,
            act_bits=self.act_bits,
            weight_bits=self.weight_bits,
            act_format=self.act_format,
            act_signed=self.act_signed,
            weight_base=self.weight_base,
            frac_bits=self.frac_bits,
            max_beats=max_beats,
            **pipeline,
        )

    def result_scale_x2(self, engine):
        """Twice the base-2 exponent of one LSB of the engine result."""
        kw = {"act_fsr" if self.act_format == "log" else "act_exp": self.act_scale}
        s = engine.result_scale_log2(weight_fsr=self.weight_fsr, **kw)
        return round(2 * s)

    def to_dict(self):
        return {
            "schema": SPEC_SCHEMA,
            "kind": self.kind,
            "weight_codes": self.weight_codes.clone(),
            "weight_bits": self.weight_bits,
            "weight_base": str(self.weight_base),
            "weight_fsr": self.weight_fsr,
            "act_format": self.act_format,
            "act_bits": self.act_bits,
            "act_signed": self.act_signed,
            "act_scale": self.act_scale,
            "bias": None if self.bias is None else self.bias.clone(),
            "relu": self.relu,
            "out_kind": self.out_kind,
            "out_bits": self.out_bits,
            "out_signed": self.out_signed,
            "out_scale": self.out_scale,
            "stride": list(self.stride),
            "padding": list(self.padding),
            "frac_bits": self.frac_bits,
        }

    @classmethod
    def from_dict(cls, d):
        if not isinstance(d, dict) or d.get("schema") != SPEC_SCHEMA:
            raise ValueError(f"not a logdot layer spec (schema {SPEC_SCHEMA!r} expected)")
        kw = {k: v for k, v in d.items() if k != "schema"}
        kw["stride"] = tuple(kw["stride"])
        kw["padding"] = tuple(kw["padding"])
        return cls(**kw)

    # -- the layer on codes (reference, no engine geometry) ---------------------------------

    def vectors(self, x):
        """Input vectors ``(n, positions, in_features)`` of input codes ``x`` and the output
        spatial shape (im2col for conv2d)."""
        if self.kind == "linear":
            x = torch.as_tensor(x, dtype=torch.int64)
            if x.ndim != 2 or x.shape[1] != self.in_features:
                raise ValueError(f"x must have shape (n, {self.in_features}), not {tuple(x.shape)}")
            return x.unsqueeze(1), ()
        return im2col(x, self.kernel, self.stride, self.padding)


def im2col(x, kernel, stride, padding):
    """Input vectors of a convolution over integer codes, in PyTorch's ``unfold`` order.

    ``x`` has shape ``(n, c, h, w)``; zero padding inserts code 0 (the value 0 in every
    format). Returns ``(vectors, (h_out, w_out))`` with ``vectors`` of shape
    ``(n, h_out * w_out, c * kh * kw)`` (input channel, then kernel row, then kernel column:
    the order of ``weight.reshape(out, -1)``), int64.
    """
    x = torch.as_tensor(x)
    if x.ndim != 4 or x.dtype.is_floating_point:
        raise ValueError(
            f"x must be a 4-d integer tensor (n, c, h, w), not {x.dtype} {tuple(x.shape)}"
        )
    h, w = x.shape[2:]
    kh, kw = kernel
    ho = (h + 2 * padding[0] - kh) // stride[0] + 1
    wo = (w + 2 * padding[1] - kw) // stride[1] + 1
    if ho < 1 or wo < 1:
        raise ValueError(f"the input {h}x{w} is smaller than the kernel {kh}x{kw}")
    # Codes are < 2**53: exact in float64.
    cols = F.unfold(x.to(torch.float64), (kh, kw), padding=padding, stride=stride)
    return cols.transpose(1, 2).to(torch.int64).contiguous(), (ho, wo)


def bias_to_int(bias, scale_x2):
    """Bias in units of the engine result's LSB ``2**(scale_x2 / 2)``: rounded half to even."""
    b = torch.as_tensor(bias, dtype=torch.float64)
    scaled = b * math.ldexp(1.0, -(scale_x2 >> 1))
    if scale_x2 & 1:
        scaled = scaled / math.sqrt(2.0)
    return scaled.round().to(torch.int64)


@dataclass(frozen=True, eq=False)
class MappedLayer:
    """A :class:`LayerSpec` mapped onto a layer engine (:func:`map_layer`).

    Attributes
    ----------
    spec : LayerSpec
    layer : Layer
        The engine and its memory contents.
    beats : int
        Beats per dot product (the input vector split into ``lanes``-wide beats).
    tiles : int
        Output-channel tiles (``ceil(out_channels / pes)``).
    scale_x2 : int
        Twice the base-2 exponent of the engine result's LSB.
    bias_int : int64 tensor ``(out_channels,)``
        The integer bias actually added.
    """

    spec: LayerSpec
    layer: Layer
    beats: int
    tiles: int
    scale_x2: int
    bias_int: torch.Tensor

    @property
    def config(self):
        return self.layer.config

    def stream(self, x):
        """The activation beat stream for input codes ``x``.

        Returns ``(acts, last, shape)``: ``acts`` int64 ``(beats_total, lanes)`` in stream
        order (input vector, then output-channel tile, then beat), ``last`` bool, and the
        output spatial shape for :meth:`assemble`.
        """
        vec, shape = self.spec.vectors(x)
        n, pos, k = vec.shape
        lanes = self.config.lanes
        kp = self.beats * lanes
        v = torch.zeros((n * pos, kp), dtype=torch.int64)
        v[:, :k] = vec.reshape(n * pos, k)
        v = v.reshape(n * pos, 1, self.beats, lanes).expand(n * pos, self.tiles, self.beats, lanes)
        acts = v.reshape(-1, lanes).contiguous()
        last = torch.zeros((n * pos, self.tiles, self.beats), dtype=torch.bool)
        last[..., -1] = True
        return acts, last.reshape(-1), (n, pos, shape)

    def assemble(self, outputs, shape):
        """Output feature map from the engine's output rows (``(n*pos*tiles, pes)``)."""
        n, pos, sp = shape
        o = torch.as_tensor(outputs, dtype=torch.int64).reshape(
            n, pos, self.tiles * self.config.pes
        )
        o = o[:, :, : self.spec.out_channels]
        if self.spec.kind == "linear":
            return o.reshape(n, -1)
        return o.transpose(1, 2).reshape(n, self.spec.out_channels, *sp).contiguous()

    def forward(self, x):
        """Layer output codes for input codes ``x`` through the golden layer engine."""
        acts, last, shape = self.stream(x)
        return self.assemble(self.layer.run(acts, last), shape)

    def reference_z(self, x):
        """``z = y + bias`` (after ReLU) computed directly from the spec without the tiling or
        the engine's lane order: ``logdot.golden.engine.dot`` over each whole input vector (one beat
        of ``in_features`` lanes). For tests."""
        vec, shape = self.spec.vectors(x)
        n, pos, k = vec.shape
        params = self.config.engine.to_dict()["parameters"]
        one = EngineConfig(**{**params, "lanes": k, "max_beats": 1, "acc_bits": None})
        w = self.spec.weight_codes.reshape(self.spec.out_channels, k)
        a = vec.reshape(n * pos, k)
        y = torch.stack([engine_dot(one, a, w[o].expand(n * pos, k)) for o in range(w.shape[0])], 1)
        z = y + self.bias_int
        if self.spec.relu:
            z = z.clamp(min=0)
        return z, (n, pos, shape)


def map_layer(spec, *, lanes, pes, register_terms=True, register_every=0, out_bits=None):
    """Map a :class:`LayerSpec` onto a layer engine of ``lanes`` x ``pes`` lanes.

    Channel tiling: the ``in_features``-long input vector becomes ``beats =
    ceil(in_features / lanes)`` beats (zero codes pad the last one). Output-channel tiling:
    ``tiles = ceil(out_channels / pes)`` tiles of ``pes`` channels (PEs beyond the last
    channel get zero weights and zero bias). The weight program has ``depth = tiles * beats``
    words: word ``t * beats + b`` of PE ``p`` holds weights ``b * lanes .. (b+1) * lanes - 1``
    of channel ``t * pes + p``. The accumulator is exact for ``beats`` beats.

    A linear output with ``out_scale=None`` is ``z`` itself (shift 0) at the engine result's
    scale ``2**(scale_x2 / 2)``, also when that is a half-integer power of two (no rounding
    happens); its width is at most the width of ``z``, so it only saturates when
    ``out_bits`` (or ``spec.out_bits``) is narrower.

    Returns
    -------
    MappedLayer
    """
    if not isinstance(spec, LayerSpec):
        raise TypeError(f"spec must be a LayerSpec, not {spec!r}")
    check_int(lanes, "lanes", *LIMITS["lanes"])
    check_int(pes, "pes", 1, MAX_PES)
    k = spec.in_features
    beats = -(-k // lanes)
    tiles = -(-spec.out_channels // pes)
    engine = spec.engine_config(
        lanes, max_beats=beats, register_terms=register_terms, register_every=register_every
    )
    scale_x2 = spec.result_scale_x2(engine)
    nout = spec.out_channels
    bias_int = (
        torch.zeros(nout, dtype=torch.int64)
        if spec.bias is None
        else bias_to_int(spec.bias, scale_x2)
    )
    bias_bits = signed_width(min(0, int(bias_int.min())), max(0, int(bias_int.max())))
    zb = z_bits(engine, bias_bits)
    if spec.out_kind == "log":
        requant = Requant.log(
            in_bits=zb,
            scale_x2=scale_x2,
            bits=spec.out_bits,
            fsr=spec.out_scale,
            signed=spec.out_signed,
        )
    else:
        bits = out_bits if out_bits is not None else spec.out_bits
        if spec.out_scale is None:
            # Raw output: z itself at the result's scale 2**(scale_x2 / 2) (also a
            # half-integer one: no rounding happens), never wider than z.
            bits = min(bits, zb if spec.out_signed else zb - 1)
            requant = Requant(
                in_bits=zb, kind="linear", out_bits=max(bits, 2), out_signed=spec.out_signed
            )
        else:
            requant = Requant.linear(
                in_bits=zb, scale_x2=scale_x2, bits=bits, exp=spec.out_scale, signed=spec.out_signed
            )
    config = LayerConfig(
        engine=engine,
        pes=pes,
        depth=tiles * beats,
        dots=tiles,
        bias_bits=bias_bits,
        relu=spec.relu,
        requant=requant,
    )
    w = torch.zeros((tiles * pes, beats * lanes), dtype=torch.int64)
    w[:nout, :k] = spec.weight_codes.reshape(nout, k)
    # (tiles, pes, beats, lanes) -> (tiles, beats, pes, lanes) -> (depth, pes, lanes)
    words = (
        w.reshape(tiles, pes, beats, lanes).permute(0, 2, 1, 3).reshape(tiles * beats, pes, lanes)
    )
    b = torch.zeros(tiles * pes, dtype=torch.int64)
    b[:nout] = bias_int
    layer = Layer(config=config, weights=words, bias=b.reshape(tiles, pes))
    return MappedLayer(
        spec=spec, layer=layer, beats=beats, tiles=tiles, scale_x2=scale_x2, bias_int=bias_int
    )


# -- logdot.golden.nn layers -> specs, and layer.pt files -----------------------------------------


def _quantizer_log_format(q, what):
    if q.format == "log2":
        return "log"
    if q.format == "linear":
        return "linear"
    raise ValueError(
        f"{what} must be quantized to 'log2' or 'linear' for the engine, not {q.format!r}"
    )


def spec_from_module(module, *, relu, next_quant=None, out_bits=None, frac_bits=None):
    """A :class:`LayerSpec` from a calibrated :class:`logdot.golden.nn.LogConv2d` / ``LogLinear``.

    Parameters
    ----------
    module : logdot.golden.nn.LogConv2d or logdot.golden.nn.LogLinear
        Weights quantized to ``log2`` or ``logsqrt2``; input quantized to ``log2`` (base-2
        log activations) or ``linear``; calibrated (eval mode).
    relu : bool
        Whether a ReLU follows the layer.
    next_quant : logdot.golden.nn.Quantizer or None
        The input quantizer of the next layer: the output is requantized to its format.
        ``None``: a linear output at the result's own scale (e.g. the logits).
    out_bits : int or None
        Width of that linear output (default: wide enough to never saturate).
    frac_bits : int or None
        Engine fraction bits (base-sqrt(2) weights).
    """
    from . import nn as gnn

    if not isinstance(module, gnn.LogConv2d | gnn.LogLinear):
        raise TypeError(f"module must be a logdot.golden.nn.LogConv2d or LogLinear, not {module!r}")
    wq, aq = module.weight_quant, module.input_quant
    if not wq.is_log:
        raise ValueError(f"weights must be quantized to 'log2' or 'logsqrt2', not {wq.format!r}")
    act_format = _quantizer_log_format(aq, "the input")
    if not bool(aq.has_scale):
        raise ValueError("the input quantizer is not calibrated (logdot.golden.nn.calibrate)")
    with torch.no_grad():
        w_fsr = wq.choose_scale(module.weight)
        w_codes = wq.codes(module.weight, w_fsr)
    if next_quant is None:
        out_kind, ob, osigned, oscale = "linear", 64, True, None
    else:
        out_kind = _quantizer_log_format(next_quant, "the next layer's input")
        if not bool(next_quant.has_scale):
            raise ValueError("the next layer's input quantizer is not calibrated")
        ob, osigned, oscale = next_quant.bits, next_quant.signed, int(next_quant.scale)
    conv = isinstance(module, gnn.LogConv2d)
    spec = LayerSpec(
        kind="conv2d" if conv else "linear",
        weight_codes=w_codes,
        weight_bits=wq.bits,
        weight_base=wq.base,
        weight_fsr=int(w_fsr),
        act_format=act_format,
        act_bits=aq.bits,
        act_signed=aq.signed,
        act_scale=int(aq.scale),
        bias=None if module.bias is None else module.bias.detach().to(torch.float64),
        relu=relu,
        out_kind=out_kind,
        out_bits=ob if out_bits is None else out_bits,
        out_signed=osigned,
        out_scale=oscale,
        stride=tuple(module.stride) if conv else (1, 1),
        padding=tuple(module.padding) if conv else (0, 0),
        frac_bits=frac_bits if wq.base == "sqrt2" else None,
    )
    return spec


def save_spec(spec, path):
    """Write ``spec`` as a ``layer.pt`` file (a plain dict; loads with ``weights_only=True``)."""
    import os
    import tempfile

    path = os.fspath(path)
    d = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".layer.", suffix=".tmp", dir=d)
    os.close(fd)
    try:
        torch.save(spec.to_dict(), tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; every other output is 0644
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_spec(path):
    """Read a ``layer.pt`` file written by :func:`save_spec`."""
    d = torch.load(path, weights_only=True)
    return LayerSpec.from_dict(d)
