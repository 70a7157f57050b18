"""Constant weights compiled to wiring: the weights of a dot product fixed at generation.

A *constant-weight engine* computes exactly what the run-time engine of the same
:class:`~logdot.golden.formats.EngineConfig` computes when every input beat carries the same
``N`` raw weight fields, but its input beat carries only the ``N`` activations. Each lane's
product is then a fixed shift with a fixed sign (a zero weight removes the lane), and the
hardware (:mod:`logdot.hdl.const`) is an adder tree sized for the constant values.
``docs/formats.md`` (section "Constant weights") is the normative prose.

This module is pure Python (the golden function :func:`const_dot` calls the run-time model
:func:`logdot.golden.engine.dot`, the one home of the arithmetic).

Summary
-------
* The weights are the ``N`` raw ``W``-bit fields exactly as a run-time engine receives them:
  sign in bit ``W - 1`` (1 = negative), magnitude code ``c`` below; ``c == 0`` is zero.
* Lane ``i`` with code ``c >= 1`` contributes ``+-(a_i << (c - 1))`` (base 2), or
  ``+-(a_i << ((c - 1) >> 1))`` to the accumulator of parity ``(c - 1) & 1`` (base
  sqrt(2)); see :meth:`ConstWeights.terms`.
* Only linear activations (``act_format="linear"``); the accumulator, its width, wrapping or
  saturation, the sqrt(2) combine and the result width are the configuration's, so results
  are identical to the run-time engine's for every input stream.
* ``s_axis_tdata`` carries activation lane ``i`` at ``[i*A +: A]`` (``N * A`` used bits).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from .formats import EngineConfig, check_int

__all__ = [
    "ConstTerm",
    "ConstWeights",
    "const_dot",
    "read_weights_file",
    "weight_fields",
]


@dataclass(frozen=True)
class ConstTerm:
    """One non-zero lane of a constant-weight dot product.

    The lane adds ``(-1 if negative else 1) * (a << shift)`` to the accumulator of
    ``parity`` (always 0 in base 2), where ``a`` is the lane's activation.

    Attributes
    ----------
    lane : int
        Lane index.
    parity : int
        Accumulator parity (0 in base 2; 0 even / 1 odd in base sqrt(2)).
    shift : int
        Left shift of the activation, ``>= 0``.
    negative : bool
        Whether the term is subtracted.
    """

    lane: int
    parity: int
    shift: int
    negative: bool


@dataclass(frozen=True)
class ConstWeights:
    """An engine configuration with its ``N`` weights fixed.

    Parameters
    ----------
    config : EngineConfig
        The run-time engine the constant engine computes like; ``act_format`` must be
        ``"linear"``.
    weights : sequence of int
        ``config.lanes`` raw ``W``-bit weight fields in ``[0, 2**W)`` (stored as a tuple).

    Raises
    ------
    TypeError, ValueError
        For a non-EngineConfig ``config``, log activations, a wrong number of weights or a
        field out of range; the message names the argument and the bad value.
    """

    config: EngineConfig
    weights: tuple
    _terms: tuple = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        cfg = self.config
        if not isinstance(cfg, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {cfg!r}")
        if cfg.act_format != "linear":
            raise ValueError(
                f"constant weights need linear activations (act_format 'linear'), not "
                f"{cfg.act_format!r}"
            )
        from .linear_engine import LinearConfig

        if isinstance(cfg, LinearConfig):
            raise ValueError(
                "constant weights need log weights (an EngineConfig), not a LinearConfig "
                "(multiplier baseline)"
            )
        if cfg.weight_terms != 1:
            raise ValueError(
                f"constant weights need single-term weights (weight_terms 1), not "
                f"{cfg.weight_terms!r}"
            )
        if isinstance(self.weights, str | bytes) or not hasattr(self.weights, "__iter__"):
            raise TypeError(f"weights must be a sequence of integers, not {self.weights!r}")
        weights = tuple(self.weights)
        if len(weights) != cfg.lanes:
            raise ValueError(
                f"weights must have {cfg.lanes} entries (one per lane), not {len(weights)}"
            )
        hi = (1 << cfg.weight_bits) - 1
        for i, w in enumerate(weights):
            check_int(w, f"weights[{i}] (a raw {cfg.weight_bits}-bit field)", 0, hi)
        object.__setattr__(self, "weights", weights)
        terms = []
        half = 1 << cfg.weight_code_bits
        for i, w in enumerate(weights):
            code = w & (half - 1)
            if code == 0:
                continue
            exp = code - 1
            if cfg.weight_base == 2:
                parity, shift = 0, exp
            else:
                parity, shift = exp & 1, exp >> 1
            terms.append(ConstTerm(lane=i, parity=parity, shift=shift, negative=bool(w & half)))
        object.__setattr__(self, "_terms", tuple(terms))

    # -- terms and ranges -------------------------------------------------------------------

    @property
    def parities(self):
        """Accumulator parities: ``(0,)`` in base 2, ``(0, 1)`` in base sqrt(2)."""
        return (0,) if self.config.weight_base == 2 else (0, 1)

    def terms(self, parity=None):
        """The non-zero lanes (:class:`ConstTerm`, in lane order), of one parity if given."""
        if parity is None:
            return self._terms
        check_int(parity, "parity", 0, len(self.parities) - 1)
        return tuple(t for t in self._terms if t.parity == parity)

    @property
    def zero_lanes(self):
        """Lanes whose weight is zero (removed from the hardware), a tuple."""
        used = {t.lane for t in self._terms}
        return tuple(i for i in range(self.config.lanes) if i not in used)

    def beat_range(self, parity=0):
        """``(lo, hi)`` of one beat's exact lane sum of ``parity`` for these weights.

        Each lane's activation takes every value of ``config.act_range`` independently, so
        the bounds are attained: ``sum(min, max of +-(a << shift))`` over the terms.
        """
        a_lo, a_hi = self.config.act_range
        lo = hi = 0
        for t in self.terms(parity):
            t_lo, t_hi = a_lo << t.shift, a_hi << t.shift
            if t.negative:
                t_lo, t_hi = -t_hi, -t_lo
            lo, hi = lo + t_lo, hi + t_hi
        return lo, hi

    # -- stream layout ----------------------------------------------------------------------

    @property
    def in_bits(self):
        """Used bits of one input beat: the ``N * A`` activation bits."""
        return self.config.lanes * self.config.act_bits

    @property
    def in_bytes(self):
        """Bytes of ``s_axis_tdata``."""
        return -(-self.in_bits // 8)

    @property
    def out_bytes(self):
        """Bytes of ``m_axis_tdata`` (those of the run-time engine)."""
        return self.config.out_bytes

    def act_lsb(self, lane):
        """Bit offset of activation ``lane`` in ``s_axis_tdata`` (``lane * A``)."""
        return self.config.act_lsb(lane)

    def pack_beat(self, acts, weights=None):
        """Pack one beat's ``N`` activations (signed values or raw fields) into an integer.

        ``weights`` (optional, for drivers shared with the run-time engine) must be the
        constant weights themselves: there is no weight field in the beat.
        """
        if weights is not None and tuple(int(w) for w in weights) != self.weights:
            raise ValueError(f"weights must be the constant weights {list(self.weights)}")
        mask = (1 << self.config.act_bits) - 1
        word = 0
        for i, a in enumerate(acts):
            word |= (int(a) & mask) << self.act_lsb(i)
        return word

    def unpack_result(self, word):
        """Signed integer value of an ``m_axis_tdata`` word (as the run-time engine's)."""
        return self.config.unpack_result(word)

    def to_dict(self):
        """Manifest fields: the weights, their decoded terms and the zero lanes."""
        return {
            "weights": list(self.weights),
            "terms": [
                {"lane": t.lane, "parity": t.parity, "shift": t.shift, "negative": t.negative}
                for t in self._terms
            ],
            "zero_lanes": list(self.zero_lanes),
            "beat_range": [list(self.beat_range(p)) for p in self.parities],
        }


def const_dot(const, acts, last=None):
    """Bit-exact results of the constant-weight engine ``const`` for a stream of beats.

    Exactly :func:`logdot.golden.engine.dot` of ``const.config`` with ``const.weights`` on
    every beat (the constant engine computes what the run-time engine computes).

    Parameters
    ----------
    const : ConstWeights
    acts : integer tensor or array, shape (beats, lanes)
        Activation values (in ``config.act_range``).
    last : bool tensor or array of shape (beats,), optional
        Last beat of each dot product (default: every beat).

    Returns
    -------
    torch.Tensor
        int64 results, one per dot product.
    """
    import torch

    from .engine import dot

    if not isinstance(const, ConstWeights):
        raise TypeError(f"const must be a ConstWeights, not {const!r}")
    beats = len(acts)  # dot() checks the shape and the values
    w = torch.tensor(const.weights, dtype=torch.int64).expand(beats, const.config.lanes)
    return dot(const.config, acts, w, last)


def weight_fields(values, weight_bits):
    """Raw base-2 weight fields of integer weights ``0`` or ``+-2**e``.

    ``weight_fields([-16, 2, 0], 4) == [13, 2, 0]``: value ``+-2**e`` is code ``e + 1`` with the
    sign bit ``W - 1``; decided by exact integer tests (a power of two has one set bit).

    Raises
    ------
    ValueError
        For a value that is not 0 or a signed power of two, or whose exponent needs a wider
        code than ``weight_bits - 1`` bits.
    """
    check_int(weight_bits, "weight_bits", 2)
    half = 1 << (weight_bits - 1)
    out = []
    for i, v in enumerate(values):
        v = check_int(v, f"values[{i}]")
        if v == 0:
            out.append(0)
            continue
        mag = abs(v)
        if mag & (mag - 1):
            raise ValueError(f"values[{i}] must be 0 or a signed power of two, not {v}")
        code = mag.bit_length()  # 2**e -> e + 1
        if code >= half:
            raise ValueError(
                f"values[{i}] = {v} needs a {code.bit_length()}-bit code, more than the "
                f"{weight_bits - 1} bits of {weight_bits}-bit weights"
            )
        out.append(code | (half if v < 0 else 0))
    return out


def read_weights_file(path):
    """The ``"weights"`` list of a JSON file ``{"weights": [...]}`` (integers).

    Raises
    ------
    OSError
        When the file cannot be read.
    ValueError
        When it is not such a JSON object of integers (the message says what is wrong).
    """
    text = Path(path).read_text()
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict) or "weights" not in data:
        raise ValueError('must be a JSON object {"weights": [...]}')
    weights = data["weights"]
    if not isinstance(weights, list):
        raise ValueError(f'"weights" must be a list of integers, not {type(weights).__name__}')
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, int):
            raise ValueError(f'"weights"[{i}] must be an integer, not {w!r}')
    return weights
