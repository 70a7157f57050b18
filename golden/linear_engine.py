"""Integer model of the *linear* baseline engine: real multipliers ``a * w``.

The baseline (:mod:`logdot.hdl.linear`) is the logdot engine with its lane stage swapped: the same
lanes, stream layout, adder tree, accumulator and pipeline, but each lane multiplies an
``A``-bit linear activation by a ``W``-bit two's-complement fixed-point weight. It exists to
measure what the log encoding saves in hardware, so it follows the log engine's rules exactly:
exact accumulator width for ``max_beats`` by default (wrapping modulo ``2**acc_bits`` beyond
it), or a narrower accumulator that saturates beat by beat.

:class:`LinearConfig` is an :class:`logdot.golden.formats.EngineConfig` whose per-lane term is a
product of two integers, so every derived width (tree, accumulator, result, stream layout)
comes from the same width function as the log engine's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .formats import LIMITS, EngineConfig, check_int

__all__ = ["LinearConfig", "linear_dot"]


@dataclass(frozen=True)
class LinearConfig(EngineConfig):
    """Geometry of the linear (multiplier) baseline engine.

    The parameters are those of :class:`~logdot.golden.formats.EngineConfig`, with two differences:
    ``weight_bits`` is the width of a two's-complement weight (value in
    ``[-2**(W-1), 2**(W-1) - 1]``, not a sign + log code), and only linear activations and
    ``weight_base=2`` (meaning: no base) are accepted.
    """

    def __post_init__(self):
        if self.act_format != "linear":
            raise ValueError(
                f"act_format must be 'linear' for the linear baseline, not {self.act_format!r}"
            )
        if self.weight_base not in (2, "2"):
            raise ValueError(
                f"weight_base must be 2 for the linear baseline, not {self.weight_base!r}"
            )
        super().__post_init__()

    @classmethod
    def from_log(cls, config, *, weight_bits=None):
        """The baseline with ``config``'s lanes, activations, accumulator and pipeline.

        ``weight_bits`` (default: ``config.weight_bits``) is the linear weight width. An
        explicit ``acc_bits`` of ``config`` is kept only when it saturates there; otherwise
        the baseline gets its own exact width.
        """
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {config!r}")
        wb = config.weight_bits if weight_bits is None else weight_bits
        check_int(wb, "weight_bits", 2, 8)
        # Every parameter of config (lanes, activations, pipeline, ...) but the weights'
        # format and the accumulator.
        params = {
            **config.parameters(),
            "weight_bits": wb,
            "act_format": "linear",
            "weight_base": 2,
            "frac_bits": None,
            "acc_bits": config.acc_bits if config.saturating else None,
        }
        return cls(**params)

    @property
    def weight_range(self):
        """``(lo, hi)`` of a two's-complement weight."""
        w = self.weight_bits
        return -(1 << (w - 1)), (1 << (w - 1)) - 1

    def result_scale_log2(self, *, weight_exp=None, act_exp=None, weight_fsr=None, act_fsr=None):
        """Real value of one result LSB, as an exponent of 2: ``weight_exp + act_exp``.

        A two's-complement weight ``q`` stands for ``q * 2**weight_exp`` (the exponent of
        :func:`logdot.golden.quant.linear_quant`), a linear activation ``a`` for
        ``a * 2**act_exp``. ``weight_fsr`` and ``act_fsr`` (log formats) do not apply: passing
        one is a ``ValueError``.
        """
        if weight_fsr is not None or act_fsr is not None:
            raise ValueError(
                "the linear baseline has two's-complement weights and linear activations: "
                "pass weight_exp and act_exp, not an FSR"
            )
        if weight_exp is None or act_exp is None:
            raise ValueError("weight_exp and act_exp are required for the linear baseline")
        check_int(weight_exp, "weight_exp", *LIMITS["fsr"])
        check_int(act_exp, "act_exp", *LIMITS["fsr"])
        return weight_exp + act_exp

    def term_shift_range(self, parity=None):
        """Not meaningful for the linear baseline (there is no shift): ``0``."""
        return 0

    def term_range(self, parity=None):
        """``(lo, hi)`` of one lane's product ``a * w``."""
        alo, ahi = self.act_range
        wlo, whi = self.weight_range
        corners = [alo * wlo, alo * whi, ahi * wlo, ahi * whi]
        return min(corners), max(corners)

    def to_dict(self):
        d = super().to_dict()
        d["parameters"]["engine"] = "linear"
        return d


def _as_array(x, name):
    arr = np.asarray(x.numpy() if hasattr(x, "numpy") else x)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, not {arr.dtype}")
    return arr.astype(np.int64)


def linear_dot(config, acts, weights, last=None):
    """Bit-exact results of the linear baseline engine for a stream of beats.

    Parameters
    ----------
    config : LinearConfig
        The baseline engine.
    acts, weights : array-like of int, shape (beats, lanes)
        Activation and weight *values* (weights are two's-complement values in
        ``config.weight_range``; raw ``W``-bit fields in ``[0, 2**W)`` are also accepted and
        sign-extended).
    last : array-like of bool, shape (beats,), optional
        True marks the last beat of a dot product; ``last[-1]`` must be True. Default: every
        beat is a whole dot product.

    Returns
    -------
    list of int
        The signed results, one per dot product.
    """
    if not isinstance(config, LinearConfig):
        raise TypeError(f"config must be a LinearConfig, not {config!r}")
    a = _as_array(acts, "acts")
    w = _as_array(weights, "weights")
    n = config.lanes
    if a.ndim != 2 or a.shape[1] != n:
        raise ValueError(f"acts must have shape (beats, {n}), not {tuple(a.shape)}")
    if w.shape != a.shape:
        raise ValueError(f"weights must have shape {tuple(a.shape)}, not {tuple(w.shape)}")
    alo, ahi = config.act_range
    if a.size and (a.min() < alo or a.max() > ahi):
        raise ValueError(f"acts must be in [{alo}, {ahi}], not {int(a.min())}..{int(a.max())}")
    wb = config.weight_bits
    if w.size and (w.min() < -(1 << (wb - 1)) or w.max() >= (1 << wb)):
        raise ValueError(
            f"weights must be {wb}-bit values or fields, not {int(w.min())}..{int(w.max())}"
        )
    w = np.where(w >= (1 << (wb - 1)), w - (1 << wb), w)  # sign-extend raw fields
    beats = a.shape[0]
    if last is None:
        last = np.ones(beats, dtype=bool)
    last = np.asarray(last, dtype=bool)
    if last.shape != (beats,):
        raise ValueError(f"last must have shape ({beats},), not {tuple(last.shape)}")
    if beats and not last[-1]:
        raise ValueError("last[-1] must be True: the stream ends inside a dot product")
    sums = (a * w).sum(axis=1)  # |sum| < 2**63 for every accepted configuration
    lo, hi = config.acc_range
    bits = config.acc_bits
    if not config.saturating:
        # Wrapping modulo 2**bits commutes with the sum: each dot product's total, wrapped.
        ends = np.flatnonzero(last)
        totals = np.add.reduceat(sums, np.concatenate(([0], ends[:-1] + 1))) if beats else sums
        return [((int(t) - lo) % (1 << bits)) + lo for t in totals[: len(ends)]]
    out = []
    acc = 0
    for s, end in zip(sums.tolist(), last.tolist(), strict=True):
        acc += s
        if config.saturating:
            acc = min(max(acc, lo), hi)
        else:
            acc = ((acc - lo) % (1 << bits)) + lo
        if end:
            out.append(acc)
            acc = 0
    return out
