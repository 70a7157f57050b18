"""Integer model of the logdot layer engine: ``pes`` output channels, on-chip weights, and an
output stage (bias, ReLU, requantization) per channel. Bit-exact with ``logdot.hdl.layer``.

The layer engine (``docs/layer.md``) is ``P = pes`` dot-product engines of
:class:`logdot.golden.formats.EngineConfig` that share every activation beat. The weights do not
travel with the activations: they sit in an on-chip memory of ``depth`` words per processing
element (PE), each word holding ``lanes`` weight codes (weight lane ``i`` at bit
:meth:`LayerConfig.weight_lsb`). The memory is read as a cyclic *program*:

* input beat number ``j`` (counted from reset, over the whole stream) is multiplied by weight
  word ``j mod depth`` of every PE;
* the result of dot product number ``i`` (counted from reset) gets bias entry ``i mod dots`` of
  its PE, where ``dots`` is the number of bias entries per PE.

A trained convolution or fully connected layer maps onto this program with
:func:`logdot.golden.mapping.map_layer`.

The output stage of each PE turns the engine result ``y`` (``EngineConfig.result_bits`` bits,
with ``frac_bits`` fraction bits in base sqrt(2)) into the layer output:

1. ``z = y + bias`` (exact; ``bias`` is an integer in the units of ``y``);
2. ``z = max(z, 0)`` when ``relu``;
3. requantization of ``z`` to a log code or a linear integer
   (:class:`logdot.golden.requant.Requant`).

Public API
----------
LayerConfig, Layer
    Geometry of a layer engine (with the stream and weight-memory layouts), and a layer
    engine with its memory contents (``run``).
z_bits
    Width of the output stage's sum ``z``.
pack_outputs, unpack_outputs
    ``m_axis_tdata`` words of output rows, and back.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .engine import dot as engine_dot
from .formats import EngineConfig, check_bool, check_int, twoterm_fields
from .linear_engine import LinearConfig
from .requant import MAX_Z_BITS, Requant

__all__ = [
    "MAX_DEPTH",
    "MAX_PES",
    "Layer",
    "LayerConfig",
    "as_codes",
    "output_tlast",
    "pack_outputs",
    "unpack_outputs",
    "z_bits",
]

#: Largest number of PEs of a layer engine.
MAX_PES = 256
#: Largest weight memory depth (words per PE) and bias entries per PE.
MAX_DEPTH = 1 << 16


def _bytes_of(bits_name, doc):
    """A read-only property: the property ``bits_name`` in whole bytes (rounded up)."""
    return property(lambda self: -(-getattr(self, bits_name) // 8), doc=doc)


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
        check_bool(self.relu, "relu")
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

    in_bytes = _bytes_of("in_bits", "Bytes of ``s_axis_tdata``.")

    @property
    def out_field_bits(self):
        """Bits per output channel on ``m_axis_tdata``."""
        return self.requant.out_bits

    @property
    def out_bits(self):
        """Used bits of one output beat: ``pes`` fields of ``out_field_bits``."""
        return self.pes * self.requant.out_bits

    out_bytes = _bytes_of("out_bits", "Bytes of ``m_axis_tdata``.")

    def act_lsb(self, lane):
        """Bit offset of activation ``lane`` in ``s_axis_tdata``."""
        return lane * self.engine.act_bits

    def out_lsb(self, pe):
        """Bit offset of PE ``pe``'s output field in ``m_axis_tdata``."""
        return pe * self.requant.out_bits

    # -- weight-memory layout (the one home of the word layout) ------------------------------

    @property
    def word_bits(self):
        """Bits of one weight word (one PE, one address): ``lanes * weight_bits``."""
        return self.engine.lanes * self.engine.weight_bits

    word_bytes = _bytes_of("word_bits", "Bytes of ``w_axis_tdata`` (one word per beat).")

    def weight_lsb(self, lane):
        """Bit offset of weight ``lane`` in a weight-memory word (and a ``w_axis_tdata`` beat).

        Lane ``i`` occupies bits ``[weight_lsb(i) +: weight_bits]`` of the word, its sign in
        the top bit of that field.
        """
        return lane * self.engine.weight_bits

    @property
    def weight_code_layout(self):
        """Sub-fields of one weight lane's ``weight_bits``-bit field, ``{name: (lsb, width)}``
        with ``lsb`` counted from the field's lowest bit (add :meth:`weight_lsb`).

        Every weight has ``"sign"`` (the top bit). Single-term log weights: ``"code"`` (the
        log magnitude code, 0 = zero). Two-term weights (``engine.weight_terms == 2``,
        :mod:`logdot.golden.twoterm`): ``"first_code"`` (``c``, ``B1`` bits, 0 = zero) above
        ``"second_offset"`` (``j``, ``B2`` bits, 0 = no second term). Linear (multiplier
        baseline) weights: ``"value"``, the whole field in two's complement, sign included.
        """
        eng = self.engine
        wb = eng.weight_bits
        if isinstance(eng, LinearConfig):  # the multiplier baseline
            return {"value": (0, wb)}
        if eng.weight_terms == 2:
            b1, b2 = twoterm_fields(wb)
            return {"sign": (wb - 1, 1), "first_code": (b2, b1), "second_offset": (0, b2)}
        return {"sign": (wb - 1, 1), "code": (0, wb - 1)}

    def pack_weight_word(self, codes):
        """One weight-memory word (an integer) of the ``lanes`` raw weight codes ``codes``.

        Raises :class:`ValueError` for a wrong number of codes or a code outside
        ``[0, 2**weight_bits)``.
        """
        codes = [int(c) for c in codes]
        if len(codes) != self.lanes:
            raise ValueError(f"a weight word holds {self.lanes} codes, not {len(codes)}")
        hi = (1 << self.engine.weight_bits) - 1
        word = 0
        for i, c in enumerate(codes):
            if not 0 <= c <= hi:
                raise ValueError(f"weight code of lane {i} must be in [0, {hi}], not {c}")
            word |= c << self.weight_lsb(i)
        return word

    def unpack_weight_word(self, word):
        """The ``lanes`` raw weight codes (a list) of a weight-memory word (bits above
        :attr:`word_bits` are ignored); the inverse of :meth:`pack_weight_word`."""
        mask = (1 << self.engine.weight_bits) - 1
        return [(int(word) >> self.weight_lsb(i)) & mask for i in range(self.lanes)]

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


def as_codes(x, name, shape, lo, hi):
    """Validate an integer tensor of shape ``shape`` with values in ``[lo, hi]``; return it
    as a contiguous int64 tensor.

    Raises :class:`TypeError` for a float or bool tensor and :class:`ValueError` for a wrong
    shape or the first value out of range, naming ``name``.
    """
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
        w = as_codes(
            self.weights,
            "weights",
            (cfg.depth, cfg.pes, cfg.lanes),
            0,
            (1 << cfg.engine.weight_bits) - 1,
        )
        b = as_codes(self.bias, "bias", (cfg.dots, cfg.pes), *cfg.bias_range)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)

    def weight_words(self):
        """Memory words, ``[address][pe]`` -> integer, packed by
        :meth:`LayerConfig.pack_weight_word` (lane ``i`` at :meth:`LayerConfig.weight_lsb`)."""
        pack = self.config.pack_weight_word
        return [[pack(lanes) for lanes in addr] for addr in self.weights.tolist()]

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


def output_tlast(config, count, *, start_dot=0):
    """``m_axis_tlast`` of ``count`` output beats of a layer engine, a list of bool.

    Output beat ``i`` (counted from reset, from ``start_dot`` on) has ``tlast`` high when
    ``i mod dots == dots - 1``: the beat that uses the last bias entry, so one packet is the
    ``dots`` output beats of one output position (with output-channel tiling,
    :func:`logdot.golden.mapping.map_layer`, ``dots = tiles``: all output channels of one
    input vector). With ``dots == 1`` every beat has ``tlast`` high.

    Parameters
    ----------
    config : LayerConfig
        The layer engine.
    count : int
        Number of output beats.
    start_dot : int
        Index (from reset) of the first output beat.
    """
    check_int(count, "count", 0)
    check_int(start_dot, "start_dot", 0)
    return [(start_dot + i) % config.dots == config.dots - 1 for i in range(count)]


def pack_outputs(config, outputs):
    """``m_axis_tdata`` integers of output rows (shape ``(n, pes)``), a list."""
    mask = (1 << config.out_field_bits) - 1
    words = []
    for row in torch.as_tensor(outputs, dtype=torch.int64).tolist():
        word = 0
        for p, v in enumerate(row):
            word |= (v & mask) << config.out_lsb(p)
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
            v = (int(word) >> config.out_lsb(p)) & mask
            if sign and v >> (ob - 1):
                v -= 1 << ob
            row.append(v)
        rows.append(row)
    return torch.tensor(rows, dtype=torch.int64).reshape(len(rows), config.pes)
