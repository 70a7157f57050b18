"""Mapping of a trained, quantized Conv2d / Linear layer onto a layer engine.

A :class:`LayerSpec` fixes a layer's arithmetic exactly (integer weight codes, the input,
output and weight formats and scales, a real bias), independent of the engine geometry.
:func:`map_layer` then picks the engine (``lanes`` x ``pes``) that computes it and fills its
memories (:class:`logdot.golden.layer.Layer`):

* each input vector (im2col order for a convolution: input channel, kernel row, kernel
  column, the order of ``weight.reshape(out, -1)``) is split into ``beats`` beats of
  ``lanes`` values, zero-padded (*channel tiling*);
* the output channels are split into ``tiles`` tiles of ``pes`` channels (*output-channel
  tiling*), so the weight program has ``depth = tiles * beats`` words and ``dots = tiles``
  bias entries;
* the driver sends each input vector once per tile, ``beats`` beats with ``tlast`` on the
  last (:meth:`MappedLayer.stream`), and reassembles the output rows
  (:meth:`MappedLayer.assemble`);
* the bias is rounded half to even to the engine result's LSB (:func:`bias_to_int`), and the
  requantizer (:class:`logdot.golden.requant.Requant`) is chosen from the real scales.

Public API
----------
LayerSpec
    A trained, quantized layer (integer codes plus scales).
map_layer, MappedLayer
    The mapping onto a layer engine, and the mapped layer (stream, assemble, forward).
im2col, bias_to_int
    The convolution's input vectors, and the integer bias.
SPEC_SCHEMA
    The schema tag of :meth:`LayerSpec.to_dict` (the ``layer.pt`` file of
    :mod:`logdot.golden.spec_io`).
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
    TWOTERM_BITS,
    EngineConfig,
    check_bool,
    check_choice,
    check_int,
    normalize_base,
    signed_width,
)
from .layer import MAX_PES, Layer, LayerConfig, as_codes, z_bits
from .linear_engine import LinearConfig
from .requant import OUT_KINDS, Requant

__all__ = [
    "SPEC_SCHEMA",
    "WEIGHT_FORMATS",
    "LayerSpec",
    "MappedLayer",
    "bias_to_int",
    "im2col",
    "map_layer",
]

SPEC_SCHEMA = "logdot.layer_spec/1"
#: Weight formats of a :class:`LayerSpec`: log codes (the logdot engine), two's-complement
#: integers (the multiplier baseline), or two-term power-of-two codes (the logdot engine with
#: ``weight_terms=2``, :mod:`logdot.golden.twoterm`).
WEIGHT_FORMATS = ("log", "linear", "twoterm")


@dataclass(frozen=True, eq=False)
class LayerSpec:
    """A trained, quantized Conv2d or Linear layer, independent of the engine geometry.

    Everything is integer codes plus scales, so the spec fixes the layer's arithmetic
    exactly; :func:`map_layer` then picks the engine (lanes, PEs) that computes it.

    Parameters
    ----------
    kind : {"conv2d", "linear"}
    weight_codes : int64 tensor
        ``(out, in, kh, kw)`` (conv2d) or ``(out, in)`` (linear): raw ``weight_bits``-bit
        fields: signed log codes, or two's-complement integers (``weight_format="linear"``).
    weight_bits, weight_base, weight_fsr
        The weights' format: log base and FSR; for linear weights ``weight_base`` is 2 and
        ``weight_fsr`` is the exponent (a weight ``q`` stands for ``q * 2**weight_fsr``).
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
    weight_format : {"log", "linear", "twoterm"}
        ``"log"`` (the logdot engine, default), ``"linear"``: the multiplier baseline
        (:class:`logdot.golden.linear_engine.LinearConfig`), two's-complement weights
        multiplied in LUTs, or ``"twoterm"``: two-term power-of-two weights (raw fields of
        :mod:`logdot.golden.twoterm`, FSR ``weight_fsr``; the engine with ``weight_terms=2``,
        two shifters per lane). Both need linear activations, ``weight_base`` 2 and no
        ``frac_bits``; two-term weights need ``weight_bits >= 3``.
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
    weight_format: str = "log"

    def __post_init__(self):
        check_choice(self.kind, "kind", ("conv2d", "linear"))
        check_choice(self.weight_format, "weight_format", WEIGHT_FORMATS)
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
        w = as_codes(w, "weight_codes", tuple(w.shape), 0, (1 << self.weight_bits) - 1)
        object.__setattr__(self, "weight_codes", w)
        check_choice(self.act_format, "act_format", ("log", "linear"))
        if self.weight_format != "log":
            what = {"linear": "linear weights", "twoterm": "two-term weights"}[self.weight_format]
            if self.weight_base != 2 or self.frac_bits is not None:
                raise ValueError(
                    f"{what} need weight_base 2 and frac_bits None, not "
                    f"{self.weight_base!r} and {self.frac_bits!r}"
                )
            if self.act_format != "linear":
                how = "the multiplier baseline" if self.weight_format == "linear" else "two shifts"
                raise ValueError(
                    f"{what} ({how}) need linear activations, not act_format {self.act_format!r}"
                )
        if self.weight_format == "twoterm":
            check_int(self.weight_bits, "weight_bits", *TWOTERM_BITS)
        check_bool(self.act_signed, "act_signed")
        check_int(self.act_scale, "act_scale", *LIMITS["fsr"])
        if self.bias is not None:
            b = torch.as_tensor(self.bias, dtype=torch.float64)
            if tuple(b.shape) != (w.shape[0],):
                raise ValueError(f"bias must have shape ({w.shape[0]},), not {tuple(b.shape)}")
            if not bool(torch.isfinite(b).all()):
                raise ValueError("bias must contain only finite values")
            object.__setattr__(self, "bias", b)
        check_bool(self.relu, "relu")
        check_choice(self.out_kind, "out_kind", OUT_KINDS)
        check_bool(self.out_signed, "out_signed")
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

    def engine_config(
        self, lanes, *, max_beats, accumulate="exact", log_frac_bits=None, **pipeline
    ):
        """The EngineConfig of this layer's arithmetic with ``lanes`` lanes (a
        :class:`~logdot.golden.linear_engine.LinearConfig` for linear weights).

        With ``accumulate="log"`` the engine's ``frac_bits`` is ``log_frac_bits`` (the log2
        state's fraction bits; ``None``: the default 8) instead of the spec's.
        """
        cls = LinearConfig if self.weight_format == "linear" else EngineConfig
        terms = {"weight_terms": 2} if self.weight_format == "twoterm" else {}
        return cls(
            lanes=lanes,
            act_bits=self.act_bits,
            weight_bits=self.weight_bits,
            act_format=self.act_format,
            act_signed=self.act_signed,
            weight_base=self.weight_base,
            frac_bits=log_frac_bits if accumulate == "log" else self.frac_bits,
            max_beats=max_beats,
            accumulate=accumulate,
            **terms,
            **pipeline,
        )

    def result_scale_x2(self, engine):
        """Twice the base-2 exponent of one LSB of the engine result."""
        kw = {"act_fsr" if self.act_format == "log" else "act_exp": self.act_scale}
        wkey = "weight_exp" if self.weight_format == "linear" else "weight_fsr"
        s = engine.result_scale_log2(**{wkey: self.weight_fsr}, **kw)
        return round(2 * s)

    def to_dict(self):
        d = {
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
        if self.weight_format != "log":
            # Written only for linear and two-term weights: a log spec stays readable by older
            # readers (which refuse the others by name).
            d["weight_format"] = self.weight_format
        return d

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
        params = self.config.engine.parameters()
        one = type(self.config.engine)(**{**params, "lanes": k, "max_beats": 1, "acc_bits": None})
        w = self.spec.weight_codes.reshape(self.spec.out_channels, k)
        a = vec.reshape(n * pos, k)
        y = torch.stack([engine_dot(one, a, w[o].expand(n * pos, k)) for o in range(w.shape[0])], 1)
        z = y + self.bias_int
        if self.spec.relu:
            z = z.clamp(min=0)
        return z, (n, pos, shape)


def map_layer(
    spec,
    *,
    lanes,
    pes,
    register_terms=True,
    register_every=0,
    out_bits=None,
    accumulate="exact",
    log_frac_bits=None,
):
    """Map a :class:`LayerSpec` onto a layer engine of ``lanes`` x ``pes`` lanes.

    Channel tiling: the ``in_features``-long input vector becomes ``beats =
    ceil(in_features / lanes)`` beats (zero codes pad the last one). Output-channel tiling:
    ``tiles = ceil(out_channels / pes)`` tiles of ``pes`` channels (PEs beyond the last
    channel get zero weights and zero bias). The weight program has ``depth = tiles * beats``
    words: word ``t * beats + b`` of PE ``p`` holds weights ``b * lanes .. (b+1) * lanes - 1``
    of channel ``t * pes + p``. The accumulator is exact for ``beats`` beats.

    ``accumulate="log"`` (log activations only) makes every PE accumulate in the log domain
    (``docs/layer.md``), with ``log_frac_bits`` fraction bits (default 8).

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
        lanes,
        max_beats=beats,
        register_terms=register_terms,
        register_every=register_every,
        accumulate=accumulate,
        log_frac_bits=log_frac_bits,
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
