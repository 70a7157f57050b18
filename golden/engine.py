"""Integer model of the logdot hardware dot-product engine (bit-exact, vectorized, fast).

:func:`dot` returns exactly the integers the RTL engine (:mod:`hdl`) puts on
``m_axis_tdata`` for the same input beats, in every mode the engine offers: log weights of
base 2 or sqrt(2) times linear or log activations (signed or unsigned), dot products of any
number of beats, the exact default accumulator (wrapping modulo ``2**acc_bits`` only beyond
``max_beats``) and narrower saturating accumulators. Every width comes from
:class:`logdot.golden.formats.EngineConfig`, the same class the generator uses.

Arithmetic (normative prose in ``docs/formats.md``, section "Engine arithmetic"):

* a lane with weight code ``c`` (sign ``s``) and linear activation ``a`` contributes
  ``+-(a << (c - 1))``; with a log activation code ``d`` (sign ``t``) it contributes
  ``+-(1 << (c - 1 + d - 1))`` with sign ``s XOR t``; a zero code (``c == 0`` or ``d == 0``)
  contributes 0;
* base sqrt(2): the half-step exponent is ``h = c - 1`` (linear activations) or
  ``h = (c - 1) + 2 (d - 1)`` (log activations); the term ``+-(a << (h >> 1))`` (or
  ``+-(1 << (h >> 1))``) goes to the accumulator of parity ``h & 1``, and the result is
  ``y = (A_even << F) + R * A_odd`` with ``R = round(sqrt(2) * 2**F)``;
* two-term weights (``config.weight_terms == 2``, base 2, linear activations): a weight with
  first-term code ``c >= 1`` and offset ``j`` contributes ``+-((a << (c - 1 + J)) +
  (a << (c - 1 + J - j) if j else 0))`` (:mod:`logdot.golden.twoterm`);
* per beat each accumulator adds the exact lane sum; the accumulator saturates beat by beat
  when ``config.saturating``, else wraps modulo ``2**acc_bits``;
* ``accumulate="log"``: the terms go one at a time, in stream order, into the log-domain
  accumulators of :mod:`logdot.golden.logacc` (:func:`logdot.golden.logacc.engine_dot`).

Speed comes from a lookup table per weight code (or per weight and log-activation code pair)
gathered with :func:`torch.take`, multiplied by the activations and summed over lanes, in
int32 when the configuration's widths prove that no lane sum can exceed 31 bits, else int64.
Beats are processed in chunks of about a million lane products, so the working memory stays
bounded for any batch size.

:func:`reference_dot` (from :mod:`logdot.golden.reference`, which imports neither torch nor
numpy) is an independent, slow, plain-Python big-integer reference of the same arithmetic,
and :func:`check_equal` is the comparison helper every testbench uses.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch

from . import logacc
from .formats import EngineConfig, check_int
from .linear_engine import LinearConfig, linear_dot
from .reference import reference_dot
from .twoterm import twoterm_value

__all__ = ["EngineConfig", "check_equal", "dot", "output_tlast", "reference_dot", "to_real"]

#: Lane products per chunk: bounds the working memory (a few tens of MB) for any batch.
_CHUNK_ELEMS = 1 << 20
#: In saturating mode, when at most this many dot products of a chunk are still running,
#: finish them with a scalar Python loop: about 0.1 us per beat and dot product, against about
#: 10 us for one vectorized step over all running dot products.
_SCALAR_TAIL = 32
#: Largest lane sum magnitude for which the int32 path is provably exact.
_INT32_BOUND = (1 << 31) - 1
#: torch integer dtypes the fast path reads directly (others go through numpy).
_DIRECT_DTYPES = (torch.int8, torch.uint8, torch.int16, torch.int32, torch.int64)


# -- validation helpers -------------------------------------------------------------------


def _check_config(config):
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {type(config).__name__}")


def _numpy_to_tensor(arr, name):
    """Integer numpy array -> torch tensor (int64 for unsigned types wider than 8 bits)."""
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, not {arr.dtype}")
    if arr.dtype.kind == "u" and arr.dtype.itemsize > 1:
        if arr.size and arr.max() > np.iinfo(np.int64).max:
            return arr  # not representable in int64: the range check reports it exactly
        arr = arr.astype(np.int64)
    if not (arr.flags.writeable and arr.flags.c_contiguous):
        arr = np.array(arr, order="C")  # torch.from_numpy wants writable, positive strides
    return torch.from_numpy(arr)


def _as_int_tensor(x, name):
    """Accept a torch tensor, numpy array or nested list of integers; reject the rest.

    Returns a torch tensor of a dtype in ``_DIRECT_DTYPES``, or (only for numpy uint64 values
    beyond int64) the numpy array itself, which the range check then rejects.
    """
    if isinstance(x, torch.Tensor):
        if x.dtype in _DIRECT_DTYPES:
            return x.detach().cpu()
        if x.dtype in (torch.uint16, torch.uint32, torch.uint64):
            return _numpy_to_tensor(x.detach().cpu().numpy(), name)
        raise TypeError(f"{name} must have an integer dtype, not {x.dtype}")
    if isinstance(x, np.ndarray):
        return _numpy_to_tensor(x, name)
    if isinstance(x, list | tuple):
        try:
            arr = np.asarray(x)
        except (ValueError, OverflowError) as exc:
            raise ValueError(f"{name} must be a rectangular array of integers: {exc}") from None
        return _numpy_to_tensor(arr, name)
    raise TypeError(
        f"{name} must be an integer torch tensor or numpy array, not {type(x).__name__}"
    )


def _check_shape(t, name, lanes):
    if t.ndim != 2 or t.shape[1] != lanes:
        raise ValueError(f"{name} must have shape (beats, {lanes}), not {tuple(t.shape)}")


def _check_range(t, name, lo, hi, desc):
    """Raise ValueError naming ``name`` and the first value outside ``[lo, hi]``."""
    if isinstance(t, np.ndarray):  # uint64 values beyond int64: certainly out of range
        bad = np.argwhere(t > hi)[0]
        value = int(t[tuple(bad)])
    else:
        if t.numel() == 0:
            return
        vmin, vmax = (int(v) for v in torch.aminmax(t))
        if lo <= vmin and vmax <= hi:
            return
        t = t.to(torch.int64)  # compare in int64: a bound may not fit the input's dtype
        bad = torch.nonzero((t < lo) | (t > hi))[0].tolist()
        value = int(t[tuple(bad)])
    where = ", ".join(f"{axis} {int(i)}" for axis, i in zip(("beat", "lane"), bad, strict=False))
    raise ValueError(f"{name} must be {desc} in [{lo}, {hi}], not {value} (at {where})")


def _as_last(last, beats):
    """Validate ``last`` and return it as a bool tensor of shape ``(beats,)``."""
    if isinstance(last, torch.Tensor):
        arr = last.detach().cpu().numpy()
    elif isinstance(last, np.ndarray | list | tuple):
        arr = np.asarray(last)
    else:
        raise TypeError(
            f"last must be a bool torch tensor or numpy array, not {type(last).__name__}"
        )
    if arr.dtype.kind not in "biu":
        raise TypeError(f"last must have a bool or integer dtype, not {arr.dtype}")
    if arr.shape != (beats,):
        raise ValueError(f"last must have shape ({beats},) (one flag per beat), not {arr.shape}")
    if arr.dtype.kind != "b":
        bad = np.flatnonzero((arr != 0) & (arr != 1))
        if bad.size:
            i = int(bad[0])
            raise ValueError(
                f"last must hold only 0/1 or True/False, not {int(arr[i])} (at beat {i})"
            )
    if beats and not arr[-1]:
        raise ValueError(
            f"last[-1] must be True: the stream ends inside a dot product "
            f"(beat {beats - 1}, the final one, is not marked last)"
        )
    return torch.from_numpy(arr != 0)


# -- the per-configuration plan -----------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """Lookup tables and ranges derived once per configuration."""

    log_acts: bool
    act_bits: int
    act_lo: int
    act_hi: int
    act_desc: str
    weight_hi: int
    weight_desc: str
    luts: tuple  # one table per accumulator (1 in base 2, 2 in sqrt2: even, odd)
    dtype: torch.dtype  # compute dtype of the lane sum: int32 when provably exact


def _weight_fields(config, w):
    """(sign, code) of a raw weight field."""
    cb = config.weight_code_bits
    return (w >> cb) & 1, w & ((1 << cb) - 1)


def _act_fields(config, d):
    """(sign, code) of a raw log-activation field."""
    if not config.act_signed:
        return 0, d
    cb = config.act_code_bits
    return (d >> cb) & 1, d & ((1 << cb) - 1)


@functools.lru_cache(maxsize=64)
def _plan(config):
    parts = 1 if config.weight_base == 2 else 2
    nw = 1 << config.weight_bits
    if config.act_is_log:
        na = 1 << config.act_bits
        tables = [[0] * (nw * na) for _ in range(parts)]
        for w in range(nw):
            s, c = _weight_fields(config, w)
            for d_raw in range(na):
                t, d = _act_fields(config, d_raw)
                if c == 0 or d == 0:
                    continue
                mag, part = _shift_and_part(config, (c - 1), (d - 1))
                tables[part][w * na + d_raw] = -mag if s ^ t else mag
        act_lo, act_hi = 0, na - 1
        kind = "signed" if config.act_signed else "unsigned"
        act_desc = f"{config.act_bits}-bit {kind} log activation codes"
        act_mag = 1
    else:
        tables = [[0] * nw for _ in range(parts)]
        for w in range(nw):
            s, c = _weight_fields(config, w)
            if config.weight_terms == 2:
                tables[0][w] = twoterm_value(config.weight_bits, w)
                continue
            if c == 0:
                continue
            mag, part = _shift_and_part(config, c - 1, None)
            tables[part][w] = -mag if s else mag
        act_lo, act_hi = config.act_range
        kind = "signed" if config.act_signed else "unsigned"
        act_desc = f"{config.act_bits}-bit {kind} linear activations"
        act_mag = max(-act_lo, act_hi)
    lut_mag = max(abs(v) for table in tables for v in table)
    # Every partial sum of a beat is bounded by lanes * max |term|: int32 is exact below 2**31.
    bound = config.lanes * lut_mag * act_mag
    dtype = torch.int32 if bound <= _INT32_BOUND else torch.int64
    return _Plan(
        log_acts=config.act_is_log,
        act_bits=config.act_bits,
        act_lo=act_lo,
        act_hi=act_hi,
        act_desc=act_desc,
        weight_hi=nw - 1,
        weight_desc=f"{config.weight_bits}-bit weight codes",
        luts=tuple(torch.tensor(table, dtype=dtype) for table in tables),
        dtype=dtype,
    )


def _shift_and_part(config, wexp, aexp):
    """Magnitude ``1 << shift`` and accumulator index of a term (before the activation)."""
    if config.weight_base == 2:
        return 1 << (wexp + (aexp or 0)), 0
    h = wexp + 2 * (aexp or 0)
    return 1 << (h >> 1), h & 1


# -- the fast path ------------------------------------------------------------------------


def _beat_sums(plan, a, w):
    """Exact per-beat lane sums, shape ``(beats, parts)``, int64."""
    if plan.log_acts:
        index = torch.add(a.to(torch.int64), w.to(torch.int64), alpha=1 << plan.act_bits)
        av = None
    else:
        index = w.to(torch.int64)
        av = a.to(plan.dtype)
    out = torch.empty((a.shape[0], len(plan.luts)), dtype=torch.int64)
    for p, lut in enumerate(plan.luts):
        terms = torch.take(lut, index)
        if av is not None:
            terms.mul_(av)
        out[:, p] = terms.sum(1, dtype=plan.dtype)
    return out


def _sat_add(acc, b, lo, hi):
    """``clamp(acc + b, lo, hi)`` without int64 overflow (``acc`` in ``[lo, hi]``)."""
    return acc + torch.clamp(b, min=lo - acc, max=hi - acc)


def _saturate_chunk(state, bs, starts, lengths, gids, lo, hi):
    """Saturating accumulation of one chunk's beats into ``state[gids]``.

    One vectorized step per beat position (across all dot products still running); the last
    few long dot products finish in a scalar Python loop.
    """
    order = torch.argsort(lengths, descending=True, stable=True)
    st, ln, gi = starts[order], lengths[order], gids[order]
    cur = state[gi]
    ln_list = ln.tolist()
    k = len(ln_list)
    for p in range(ln_list[0]):
        while ln_list[k - 1] <= p:
            k -= 1
        if k <= _SCALAR_TAIL:
            for j in range(k):
                rows = slice(int(st[j]) + p, int(st[j]) + ln_list[j])
                for q in range(cur.shape[1]):
                    v = int(cur[j, q])
                    for x in bs[rows, q].tolist():
                        v += x
                        if v > hi:
                            v = hi
                        elif v < lo:
                            v = lo
                    cur[j, q] = v
            break
        cur[:k] = _sat_add(cur[:k], bs[st[:k] + p], lo, hi)
    state[gi] = cur


def _wrap_u64(u, bits):
    """Two's-complement value of the low ``bits`` bits of uint64 array ``u``, as int64."""
    if bits == 64:
        return torch.from_numpy(u.view(np.int64).copy())
    r = (u & np.uint64((1 << bits) - 1)).astype(np.int64)
    half = 1 << (bits - 1)
    r = np.where(r >= half, (r - half) - half, r)
    return torch.from_numpy(r)


def _combine(config, acc):
    """Final result from the accumulators (``acc`` of shape ``(n, parts)``, int64)."""
    if config.weight_base == 2:
        return acc[:, 0].contiguous()
    # Both products and their sum lie within result_bits <= 64 (EngineConfig checks it).
    return acc[:, 0] * (1 << config.frac_bits) + config.sqrt2_r * acc[:, 1]


def dot(config, acts, weights, last=None):
    """Bit-exact results of the hardware engine for a stream of beats.

    Parameters
    ----------
    config : EngineConfig
        The engine (same parameters as the hardware generator).
    acts : torch.Tensor or numpy.ndarray, shape (beats, lanes), integer dtype
        Linear activations: their integer values (in ``config.act_range``). Log activations:
        raw ``A``-bit codes in ``[0, 2**A)`` (signed: sign in bit ``A - 1``, 1 = negative).
    weights : torch.Tensor or numpy.ndarray, shape (beats, lanes), integer dtype
        Raw ``W``-bit weight codes in ``[0, 2**W)``: sign in bit ``W - 1``, code below; code 0
        is the value 0 whatever its sign.
    last : bool tensor or array of shape (beats,), optional
        True marks the last beat of a dot product (``s_axis_tlast``); ``last[-1]`` must be
        True. Default: every beat is a whole dot product.

    Returns
    -------
    torch.Tensor
        int64, shape ``(n_dot_products,)``: the signed results as on ``m_axis_tdata`` (with
        ``config.frac_bits`` fraction bits in base-sqrt(2) mode). For a
        :class:`~logdot.golden.linear_engine.LinearConfig` (the multiplier baseline, weights
        two's-complement ``W``-bit fields) the results of
        :func:`~logdot.golden.linear_engine.linear_dot`.

    Raises
    ------
    TypeError
        For a non-integer (float, bool) input or a wrong ``config`` type.
    ValueError
        For a wrong shape, an out-of-range code or value, or a stream ending inside a dot
        product; the message names the argument and an offending value.
    """
    _check_config(config)
    if isinstance(config, LinearConfig):
        # The multiplier baseline: real products of two's-complement weights.
        return torch.tensor(linear_dot(config, acts, weights, last), dtype=torch.int64)
    plan = _plan(config)
    a = _as_int_tensor(acts, "acts")
    w = _as_int_tensor(weights, "weights")
    _check_shape(a, "acts", config.lanes)
    _check_shape(w, "weights", config.lanes)
    if a.shape[0] != w.shape[0]:
        raise ValueError(
            f"acts and weights must have the same number of beats, not {a.shape[0]} "
            f"and {w.shape[0]}"
        )
    _check_range(a, "acts", plan.act_lo, plan.act_hi, plan.act_desc)
    _check_range(w, "weights", 0, plan.weight_hi, plan.weight_desc)
    beats = a.shape[0]
    lt = None if last is None else _as_last(last, beats)
    if beats == 0:
        return torch.zeros(0, dtype=torch.int64)
    if config.accumulate == "log":
        return logacc.engine_dot(config, a.to(torch.int64), w.to(torch.int64), lt)

    lo, hi = config.acc_range
    parts = len(plan.luts)
    chunk = max(1, _CHUNK_ELEMS // config.lanes)

    if lt is None:
        # One beat per dot product. A non-saturating accumulator is exact for max_beats >= 1
        # beats, so a single beat's sum always fits it: no wrap can happen here.
        acc = torch.empty((beats, parts), dtype=torch.int64)
        for s in range(0, beats, chunk):
            acc[s : s + chunk] = _beat_sums(plan, a[s : s + chunk], w[s : s + chunk])
        if config.saturating:
            acc.clamp_(lo, hi)
        return _combine(config, acc)

    n_dots = int(lt.sum())
    if config.saturating:
        state = torch.zeros((n_dots, parts), dtype=torch.int64)
    else:
        # Wrapping accumulation in uint64: unsigned overflow is defined modulo 2**64, and
        # 2**acc_bits divides 2**64, so the low acc_bits bits are exact for any length.
        ustate = np.zeros((n_dots, parts), dtype=np.uint64)
    done = 0  # dot products completed before the current chunk
    for s in range(0, beats, chunk):
        bs = _beat_sums(plan, a[s : s + chunk], w[s : s + chunk])
        lc = lt[s : s + chunk]
        m = lc.shape[0]
        ends = torch.nonzero(lc).flatten()
        starts = torch.cat((torch.zeros(1, dtype=torch.int64), ends + 1))
        if int(starts[-1]) == m:
            starts = starts[:-1]
        lengths = torch.diff(starts, append=torch.tensor([m]))
        gids = done + torch.arange(starts.shape[0])
        if config.saturating:
            _saturate_chunk(state, bs, starts, lengths, gids, lo, hi)
        else:
            sums = np.add.reduceat(bs.numpy().view(np.uint64), starts.numpy(), axis=0)
            ustate[gids.numpy()] += sums
        done += ends.shape[0]
    acc = state if config.saturating else _wrap_u64(ustate, config.acc_bits)
    return _combine(config, acc)


def output_tlast(count):
    """``m_axis_tlast`` of ``count`` output beats of a dot-product engine, a list of bool.

    Every result closes its dot product, so every output beat has ``tlast`` high (one
    result is one AXI4-Stream packet).
    """
    check_int(count, "count", 0)
    return [True] * count


# -- helpers ------------------------------------------------------------------------------


def to_real(config, results, *, weight_fsr, act_exp=None, act_fsr=None):
    """Real values (float64) of engine results, ``results * 2**config.result_scale_log2(...)``.

    Parameters
    ----------
    config : EngineConfig
    results : integer tensor or array
        Results of :func:`dot` (or of the hardware).
    weight_fsr : int
        FSR of the weights (in units of the weight base).
    act_exp : int, optional
        Scale exponent ``2**act_exp`` of linear activations (required for them).
    act_fsr : int, optional
        FSR of log activations (required for them).

    Notes
    -----
    When the scale is a half-integer power of 2 (base sqrt(2) with an odd weight exponent),
    the results are multiplied by the float64 ``sqrt(2)``, then scaled exactly by a power of
    two; otherwise the only rounding is the conversion of each result to float64.
    """
    _check_config(config)
    e = config.result_scale_log2(weight_fsr=weight_fsr, act_exp=act_exp, act_fsr=act_fsr)
    r = _as_int_tensor(results, "results")
    if isinstance(r, np.ndarray):
        r = torch.from_numpy(r.astype(np.float64))
    r = r.to(torch.float64)
    twice = round(2 * e)  # e is a multiple of 1/2, exactly representable
    if twice % 2:
        r = r * math.sqrt(2.0)
    return torch.ldexp(r, torch.tensor(twice // 2, dtype=torch.int64))


def _as_pylist(x):
    if isinstance(x, torch.Tensor | np.ndarray):
        return x.tolist()
    return list(x)


def check_equal(expected, actual, *, context=""):
    """Assert that two sequences of integer results are equal, element by element.

    Raises :class:`AssertionError` listing the number of results of each (when they differ)
    and the first mismatching indices with the expected and actual values; ``context``
    (e.g. the configuration and seed) prefixes the message. Accepts lists, tensors, arrays.
    """
    exp = [int(v) for v in _as_pylist(expected)]
    act = [int(v) for v in _as_pylist(actual)]
    problems = []
    if len(exp) != len(act):
        problems.append(f"count mismatch: expected {len(exp)} results, got {len(act)}")
    n = min(len(exp), len(act))
    bad = [i for i in range(n) if exp[i] != act[i]]
    if bad:
        shown = "; ".join(f"[{i}] expected {exp[i]}, actual {act[i]}" for i in bad[:10])
        more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
        problems.append(f"{len(bad)} of {n} results differ: {shown}{more}")
    if problems:
        prefix = f"{context}: " if context else ""
        raise AssertionError(prefix + "; ".join(problems))
