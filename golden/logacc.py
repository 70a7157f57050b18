"""Accumulation in the log domain (the paper's section 3.3), exact in integers.

The paper proposes to keep even the running sum of a dot product in the log domain:

    log2(a + b) ~ log2(a) + 2**(log2(b) - log2(a))      for 0 < b <= a,

i.e. a running maximum plus a correction that shrinks by one bit per unit of difference
(``log2(1 + u) ~ u`` for ``u = b / a`` in ``(0, 1]``). The approximation never overestimates
by more than rounding and underestimates by at most ``0.086`` in log2 units (at
``u = 1/ln 2 - 1``), i.e. about 6% per addition.

logdot's version is an exact integer algorithm, so it can be built in hardware and checked
bit by bit:

* **State.** A log magnitude is a fixed-point integer ``L`` with ``F = frac_bits`` fraction
  bits: the value is ``2**(L / 2**F)``. A term ``w * x`` of log-coded operands is exact in this
  form (its exponent is an integer, or a half-integer with base-sqrt(2) operands, which needs
  ``F >= 1``).
* **Log addition.** With ``L >= M`` and ``d = L - M = q * 2**F + r`` (``0 <= r < 2**F``)::

      L' = L + (T[r] >> q),      T[r] = round(2**F * 2**(-r / 2**F))

  ``T`` is a ``2**F``-entry table of integers, each decided exactly by integer comparison
  (no float): ``T[r]`` is the integer ``t`` nearest to ``2**(F - r / 2**F)``, found from
  ``t**(2**F)`` vs ``2**(F * 2**F - r)``. ``T[0] = 2**F`` (adding two equal values adds 1.0,
  exactly doubling). The shift floors: the result has ``F`` fraction bits.
* **Order.** Terms are added one at a time, in the order of the reduction axis (for a
  convolution, PyTorch's ``unfold`` order: input channel, then kernel row, then kernel
  column). Zero terms (a zero code on either side) are skipped. The approximation is not
  associative, so the order is part of the definition.
* **Mixed signs** (the paper does not say how it handles them): two log-domain accumulators
  per dot product, one for positive and one for negative terms. Each adds only same-sign
  terms, where the approximation above is valid. Their difference is formed once, at the end,
  in the linear domain: ``y = 2**(Lpos / 2**F) - 2**(Lneg / 2**F)`` (one subtraction per dot
  product, after decoding; an empty accumulator is 0). Subtracting in the log domain would
  need ``log2(1 - u)``, which diverges as ``u -> 1``; the paper gives no rule for it.

The decode ``2**(L / 2**F)`` at the end is done in float64 (exact up to one rounding), since
the study only needs real outputs; everything before it is integer.
"""

from __future__ import annotations

import functools
import math

import torch

from .formats import _MAX_LOG_FRAC_BITS, LIMITS, check_bool, check_int, normalize_base

__all__ = [
    "LogOperand",
    "decode",
    "decode_fixed",
    "engine_dot",
    "exp2_table",
    "log_accumulate",
    "log_add",
    "log_add_table",
    "log_conv2d",
    "log_linear",
    "log_matmul",
    "log_matmul_states",
    "reference_engine_dot",
    "term_exponents",
]

#: Fraction bits of the study's log-domain accumulator (the row of Table 1).
DEFAULT_FRAC_BITS = 8
_MAX_FRAC_BITS = _MAX_LOG_FRAC_BITS


def _check_frac_bits(frac_bits):
    return check_int(frac_bits, "frac_bits", 0, _MAX_FRAC_BITS)


@functools.cache
def log_add_table(frac_bits):
    """The correction table ``T[r] = round(2**(F - r / 2**F))`` for ``r`` in ``[0, 2**F)``.

    Each entry is decided exactly with integers: with ``n = 2**F``, ``t`` is the largest
    integer with ``t**n <= 2**(F n - r)``, and it rounds up iff
    ``(2 t + 1)**n >= 2**(F n - r + n)`` (i.e. ``t + 1/2 <= 2**(F - r/n)``; no tie is possible
    except at ``r = 0``, where the value is the integer ``2**F``).

    Returns
    -------
    tuple of int
        ``2**F`` entries, non-increasing, from ``2**F`` down to just above ``2**(F - 1)``.
    """
    f = _check_frac_bits(frac_bits)
    n = 1 << f
    out = []
    t = 1 << f  # T is non-increasing: search downward from the previous entry
    for r in range(n):
        e = f * n - r  # target t**n ~ 2**e
        while t**n > (1 << e):
            t -= 1
        # t = floor(2**(e/n)); round up iff (t + 1/2)**n <= 2**e  <=>  (2t+1)**n <= 2**(e+n)
        out.append(t + 1 if (2 * t + 1) ** n <= (1 << (e + n)) else t)
    return tuple(out)


def log_add(big, small, frac_bits, table=None):
    """One log-domain addition of fixed-point log magnitudes (``big >= small``, int64).

    Returns ``big + (T[r] >> q)`` with ``big - small = q * 2**F + r``. Works elementwise on
    int64 tensors of the same shape (``big >= small`` everywhere).
    """
    f = _check_frac_bits(frac_bits)
    if table is None:
        table = torch.tensor(log_add_table(f), dtype=torch.int64) if table is None else table
    d = big - small
    q = (d >> f).clamp_(max=62)
    r = d & ((1 << f) - 1)
    return big + (table.take(r) >> q)


#: The log magnitude of an empty accumulator or a zero term: far below any real exponent
#: (real ones stay within about +-2**22 with F <= 12), so ``T[r] >> q`` with ``q >= 62`` makes
#: any log addition with it exact: ``empty (+) t = t``. Adding two empties gives at most
#: ``EMPTY + 2**F`` per step, still below :data:`EMPTY_BELOW` for any realistic length.
EMPTY = -(1 << 50)
#: States below this are empty (decode to 0).
EMPTY_BELOW = -(1 << 49)


def _accumulate_step(state, t, table, f):
    """``state = state (+) t`` elementwise, in place (log addition; ``EMPTY`` is zero)."""
    d = torch.sub(state, t).abs_()
    torch.maximum(state, t, out=state)
    q = torch.bitwise_right_shift(d, f).clamp_(max=62)
    corr = table.take(d.bitwise_and_((1 << f) - 1))
    state.add_(corr.bitwise_right_shift_(q))


def log_accumulate(exps, negative, valid, *, frac_bits=DEFAULT_FRAC_BITS):
    """Accumulate signed log-domain terms along the last axis, in order.

    Parameters
    ----------
    exps : torch.Tensor
        int64 ``(..., K)``: each term's log2 magnitude as a fixed-point integer with
        ``frac_bits`` fraction bits (``|exps| < 2**40``).
    negative, valid : torch.Tensor
        bool ``(..., K)``: the term's sign (``True`` = negative) and whether it is non-zero
        (invalid terms are skipped).
    frac_bits : int
        ``F`` in ``[0, 12]``.

    Returns
    -------
    (pos, neg) : tuple of torch.Tensor
        int64 tensors of shape ``(...)``: the accumulators of the positive and of the
        negative terms, :data:`EMPTY` (or just above it) where no term arrived; see
        :func:`decode`.
    """
    f = _check_frac_bits(frac_bits)
    if exps.dtype != torch.int64:
        raise TypeError(f"exps must be an int64 tensor, not {exps.dtype}")
    if negative.shape != exps.shape or valid.shape != exps.shape:
        raise ValueError(
            f"exps, negative and valid must have the same shape, not {tuple(exps.shape)}, "
            f"{tuple(negative.shape)} and {tuple(valid.shape)}"
        )
    table = torch.tensor(log_add_table(f), dtype=torch.int64)
    pos = torch.full(exps.shape[:-1], EMPTY, dtype=torch.int64)
    neg = pos.clone()
    empty = torch.full_like(pos, EMPTY)
    for k in range(exps.shape[-1]):
        t, v, s = exps[..., k], valid[..., k], negative[..., k]
        _accumulate_step(pos, torch.where(v & ~s, t, empty), table, f)
        _accumulate_step(neg, torch.where(v & s, t, empty), table, f)
    return pos, neg


def decode(state, frac_bits):
    """``2**(state / 2**F)`` as float64; ``0.0`` for an empty accumulator."""
    f = _check_frac_bits(frac_bits)
    val = torch.exp2(state.to(torch.float64) / (1 << f))
    return torch.where(state < EMPTY_BELOW, torch.zeros_like(val), val)


class LogOperand:
    """The format of one side of a log-domain product: bits, FSR, base and signedness.

    A code ``q`` of this format has magnitude code ``c = q & (2**b - 1)`` (``b`` magnitude
    bits) and, when signed, sign bit ``q >> b``; ``c >= 1`` is ``base**(fsr - 2**b + c)``.
    """

    def __init__(self, bits, fsr, *, base=2, signed=True):
        check_bool(signed, "signed")
        self.bits = check_int(bits, "bits", *LIMITS["quant_bits"])
        self.fsr = check_int(fsr, "fsr", *LIMITS["fsr"])
        self.base = normalize_base(base)
        self.signed = signed

    @property
    def code_bits(self):
        return self.bits - 1 if self.signed else self.bits

    def __repr__(self):
        return (
            f"LogOperand(bits={self.bits}, fsr={self.fsr}, base={self.base!r}, "
            f"signed={self.signed})"
        )


def term_exponents(codes, fmt, frac_bits):
    """Split log codes into (fixed-point log2 exponent, negative, valid), all exact.

    The exponent has ``frac_bits`` fraction bits (base sqrt(2) needs ``frac_bits >= 1``).
    """
    f = _check_frac_bits(frac_bits)
    if fmt.base == "sqrt2" and f < 1:
        raise ValueError(f"frac_bits must be >= 1 with base-sqrt(2) operands, not {frac_bits!r}")
    codes = codes.to(torch.int64)
    b = fmt.code_bits
    c = codes & ((1 << b) - 1)
    e = fmt.fsr - (1 << b) + c  # in units of the base
    exp = e << f if fmt.base == 2 else e << (f - 1)
    neg = ((codes >> b) & 1).bool() if fmt.signed else torch.zeros_like(c, dtype=torch.bool)
    return exp, neg & (c != 0), c != 0


def log_matmul(w_codes, w_fmt, a_codes, a_fmt, *, frac_bits=DEFAULT_FRAC_BITS):
    """Dot products of log weights and log activations with log-domain accumulation.

    ``decode(pos) - decode(neg)`` of :func:`log_matmul_states` (same arguments).

    Parameters
    ----------
    w_codes : torch.Tensor
        Integer codes ``(O, K)`` in format ``w_fmt``.
    a_codes : torch.Tensor
        Integer codes ``(B, K, P)`` in format ``a_fmt`` (``P`` positions per sample, e.g. the
        output pixels of a convolution).
    w_fmt, a_fmt : LogOperand
        Formats of the two operands.
    frac_bits : int
        Fraction bits ``F`` of the accumulator.

    Returns
    -------
    torch.Tensor
        float64 ``(B, O, P)``: ``2**(Lpos / 2**F) - 2**(Lneg / 2**F)`` per dot product.
    """
    pos, neg = log_matmul_states(w_codes, w_fmt, a_codes, a_fmt, frac_bits=frac_bits)
    return decode(pos, frac_bits) - decode(neg, frac_bits)


def log_matmul_states(w_codes, w_fmt, a_codes, a_fmt, *, frac_bits=DEFAULT_FRAC_BITS):
    """The integer accumulator states behind :func:`log_matmul`.

    Parameters are those of :func:`log_matmul`. Returns ``(pos, neg)``, int64 ``(B, O, P)``
    fixed-point log2 magnitudes (``F`` fraction bits) of the positive and the negative terms'
    log-domain sums; below :data:`EMPTY_BELOW` means no term (the value 0).
    """
    f = _check_frac_bits(frac_bits)
    we, wn, wv = term_exponents(w_codes, w_fmt, f)
    ae, an, av = term_exponents(a_codes, a_fmt, f)
    if we.dim() != 2 or ae.dim() != 3 or we.shape[1] != ae.shape[1]:
        raise ValueError(
            f"w_codes must be (O, K) and a_codes (B, K, P), not {tuple(we.shape)} and "
            f"{tuple(ae.shape)}"
        )
    table = torch.tensor(log_add_table(f), dtype=torch.int64)
    o, k = we.shape
    b, _, p = ae.shape
    # Zero operands get exponent EMPTY, so their products (<= EMPTY + 2**40) are skipped.
    empty = torch.tensor(EMPTY, dtype=torch.int64)
    we = torch.where(wv, we, empty)
    ae = torch.where(av, ae, empty)
    if not a_fmt.signed:
        return _unsigned_acts(we, wn, ae, table, f)
    # Per weight sign, the exponent routed to the positive / negative accumulator (EMPTY
    # elsewhere); activations are split the same way.
    w_pos, w_neg = torch.where(wn, empty, we), torch.where(wn, we, empty)
    a_pos, a_neg = torch.where(an, empty, ae), torch.where(an, ae, empty)
    pos = torch.full((b, o, p), EMPTY, dtype=torch.int64)
    neg = pos.clone()
    for i in range(k):
        wp, wq = w_pos[None, :, i, None], w_neg[None, :, i, None]
        ap, aq = a_pos[:, None, i, :], a_neg[:, None, i, :]
        # A term is positive when the signs agree; exactly one of the two sums in each
        # maximum is a real product (or neither, when an operand is zero).
        tp = torch.maximum(wp + ap, wq + aq)
        tn = torch.maximum(wp + aq, wq + ap)
        # A product with a zero operand is below EMPTY_BELOW; clamping keeps it >= EMPTY.
        _accumulate_step(pos, tp.clamp_(min=EMPTY), table, f)
        _accumulate_step(neg, tn.clamp_(min=EMPTY), table, f)
    return pos, neg


def _unsigned_acts(we, wn, ae, table, f):
    """:func:`log_matmul_states` for unsigned activations: a term's sign is its weight's.

    Each output channel's positive (negative) accumulator only ever receives the terms of
    its positive (negative) non-zero weights, in their original order; listing those per
    channel (padded with EMPTY) skips the other terms, which would leave the accumulator
    unchanged anyway. Same result as the general loop, in about half the steps.
    """
    o = we.shape[0]
    b, _, p = ae.shape
    empty = torch.tensor(EMPTY, dtype=torch.int64)
    ae_t = ae.transpose(0, 1)  # (K, B, P), for gathers along K
    out = []
    for sign in (False, True):
        take = (we > EMPTY_BELOW) & (wn == sign)  # real weights of this sign
        n = int(take.sum(1).max()) if take.numel() else 0
        # Stable order: the selected indices of each row first, in their original order.
        order = torch.argsort((~take).to(torch.int8), dim=1, stable=True)[:, :n]
        w_sel = torch.where(take.gather(1, order), we.gather(1, order), empty)  # (O, n)
        state = torch.full((b, o, p), EMPTY, dtype=torch.int64)
        for j in range(n):
            a = ae_t.index_select(0, order[:, j]).transpose(0, 1)  # (B, O, P)
            t = a.add_(w_sel[None, :, j, None]).clamp_(min=EMPTY)
            _accumulate_step(state, t, table, f)
        out.append(state)
    return out[0], out[1]


def log_linear(a_codes, a_fmt, w_codes, w_fmt, bias=None, *, frac_bits=DEFAULT_FRAC_BITS):
    """``torch.nn.functional.linear`` of log codes with log-domain accumulation (float64).

    ``a_codes`` is ``(B, K)``, ``w_codes`` ``(O, K)``; ``bias`` (float, optional) is added in
    the linear domain after decoding.
    """
    y = log_matmul(w_codes, w_fmt, a_codes.unsqueeze(-1), a_fmt, frac_bits=frac_bits)[..., 0]
    return y if bias is None else y + bias.to(torch.float64)


def log_conv2d(
    a_codes, a_fmt, w_codes, w_fmt, bias=None, *, stride=1, padding=0, frac_bits=DEFAULT_FRAC_BITS
):
    """``torch.nn.functional.conv2d`` of log codes with log-domain accumulation (float64).

    ``a_codes`` is ``(B, C, H, W)``, ``w_codes`` ``(O, C, kh, kw)`` (no groups, no dilation).
    Zero padding is code 0 (the value zero). The reduction order is ``unfold``'s: input
    channel, kernel row, kernel column.
    """
    o, _, kh, kw = w_codes.shape
    b, _, h, w = a_codes.shape
    # Codes are small integers: exact in float64 through unfold.
    cols = torch.nn.functional.unfold(
        a_codes.to(torch.float64), (kh, kw), padding=padding, stride=stride
    ).to(torch.int64)
    y = log_matmul(w_codes.reshape(o, -1), w_fmt, cols, a_fmt, frac_bits=frac_bits)
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    sh, sw = (stride, stride) if isinstance(stride, int) else stride
    oh = (h + 2 * ph - kh) // sh + 1
    ow = (w + 2 * pw - kw) // sw + 1
    y = y.reshape(b, o, oh, ow)
    return y if bias is None else y + bias.to(torch.float64).reshape(1, -1, 1, 1)


# -- the engine's log-domain accumulation (accumulate="log") -------------------------------


@functools.cache
def exp2_table(frac_bits):
    """The decode table ``E[r] = round(2**(F + r / 2**F))`` for ``r`` in ``[0, 2**F)``.

    Exact with integers like :func:`log_add_table`: with ``n = 2**F``, ``t`` is the largest
    integer with ``t**n <= 2**(F n + r)``, rounded up iff ``(2 t + 1)**n <= 2**(F n + r + n)``
    (no tie except at ``r = 0``, the integer ``2**F``).

    Returns
    -------
    tuple of int
        ``2**F`` entries, non-decreasing, from ``2**F`` up to at most ``2**(F + 1) - 1``.
    """
    f = _check_frac_bits(frac_bits)
    n = 1 << f
    out = []
    t = 1 << f  # E is non-decreasing: search upward from the previous entry
    for r in range(n):
        e = f * n + r
        while (t + 1) ** n <= (1 << e):
            t += 1
        out.append(t + 1 if (2 * t + 1) ** n <= (1 << (e + n)) else t)
    return tuple(out)


def decode_fixed(state, frac_bits):
    """The engine's integer decode ``D(L) = E[L mod 2**F] << (L >> F)`` (int64 tensors).

    ``D(L) / 2**F`` is ``2**(L / 2**F)`` rounded to the table :func:`exp2_table`; states
    below :data:`EMPTY_BELOW` (empty accumulators) decode to 0. ``L >= 0`` elsewhere.
    """
    f = _check_frac_bits(frac_bits)
    table = torch.tensor(exp2_table(f), dtype=torch.int64)
    empty = state < EMPTY_BELOW
    s = torch.where(empty, torch.zeros_like(state), state)
    val = table.take(s & ((1 << f) - 1)) << (s >> f)
    return torch.where(empty, torch.zeros_like(val), val)


def _engine_operands(config):
    """The engine's weight and activation codes as :class:`LogOperand` formats whose
    exponents are relative to code 1 (``fsr = 2**b - 1``: code ``c`` has exponent ``c - 1``)."""
    wb = config.weight_code_bits
    w_fmt = LogOperand(config.weight_bits, (1 << wb) - 1, base=config.weight_base)
    ab = config.act_code_bits
    a_fmt = LogOperand(config.act_bits, (1 << ab) - 1, signed=config.act_signed)
    return w_fmt, a_fmt


def engine_dot(config, acts, weights, last):
    """Results of an ``accumulate="log"`` engine (called by :func:`logdot.golden.engine.dot`).

    Every lane product is a term of :func:`log_accumulate` with its exponent relative to the
    product of two code-1 operands (:func:`term_exponents` with the formats of
    :func:`_engine_operands`), in stream order: beat by beat, lane 0 first. A dot product's
    terms are accumulated in that order and decoded with :func:`decode_fixed`:
    ``y = D(Lpos) - D(Lneg)``.

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        With ``accumulate == "log"``.
    acts, weights : torch.Tensor
        Validated integer codes, shape ``(beats, lanes)``.
    last : torch.Tensor or None
        Validated bool ``(beats,)``; ``None``: every beat is a dot product.

    Returns
    -------
    torch.Tensor
        int64 ``(n_dot_products,)``.
    """
    f = config.frac_bits
    w_fmt, a_fmt = _engine_operands(config)
    we, wn, wv = term_exponents(weights, w_fmt, f)
    ae, an, av = term_exponents(acts, a_fmt, f)
    exps, negative, valid = we + ae, wn ^ an, wv & av
    beats, lanes = exps.shape
    if last is None:
        last = torch.ones(beats, dtype=torch.bool)
    ends = torch.nonzero(last).flatten()
    starts = torch.cat((torch.zeros(1, dtype=torch.int64), ends[:-1] + 1))
    lengths = ends + 1 - starts
    # Pad every dot product to the longest one with invalid (skipped) terms.
    k = int(lengths.max()) * lanes
    beat_idx = starts[:, None] + torch.arange(k // lanes)[None, :]
    inside = beat_idx <= ends[:, None]
    beat_idx = beat_idx.clamp(max=beats - 1)
    pad = (~inside)[:, :, None].expand(-1, -1, lanes).reshape(-1, k)
    pos, neg = log_accumulate(
        exps[beat_idx].reshape(-1, k),
        negative[beat_idx].reshape(-1, k),
        valid[beat_idx].reshape(-1, k) & ~pad,
        frac_bits=f,
    )
    return decode_fixed(pos, f) - decode_fixed(neg, f)


def _round_root(numerator_log2, frac_bits):
    """``round(2**(numerator_log2 / 2**F))`` by ``F`` nested integer square roots.

    ``floor(2 y)`` for ``y = 2**(e / 2**F)`` is the ``2**F``-th root of ``2**(e + 2**F)``,
    i.e. ``F`` nested :func:`math.isqrt` (``isqrt(isqrt(x)) == floor(x**(1/4))``); ``round(y)
    = (floor(2 y) + 1) // 2`` (half up: no tie occurs for the arguments used here).
    """
    x = 1 << (numerator_log2 + (1 << frac_bits))
    for _ in range(frac_bits):
        x = math.isqrt(x)
    return (x + 1) // 2


def reference_engine_dot(config, acts, weights, last=None):
    """Slow, independent plain-Python reference of an ``accumulate="log"`` engine.

    Written from ``docs/formats.md`` ("Log-domain accumulation") without torch, without the
    tables of this module (its own by nested integer square roots, :func:`_round_root`) and
    without the :data:`EMPTY` sentinel (an explicit "no term yet" state). Returns a list of
    ``int``. For tests only.
    """
    f = config.frac_bits
    n = 1 << f
    corr = [_round_root(f * n - r, f) for r in range(n)]
    dec = [_round_root(f * n + r, f) for r in range(n)]
    step = 2 if config.weight_base == "sqrt2" else 1  # half-steps per log2 unit of an act
    shift = config.log_term_shift
    wcb, acb = config.weight_code_bits, config.act_code_bits
    acts = [[int(v) for v in row] for row in (acts.tolist() if hasattr(acts, "tolist") else acts)]
    weights = [
        [int(v) for v in row]
        for row in (weights.tolist() if hasattr(weights, "tolist") else weights)
    ]
    flags = [True] * len(acts) if last is None else [bool(x) for x in list(last)]
    results = []
    state = {False: None, True: None}
    for beat_a, beat_w, end in zip(acts, weights, flags, strict=True):
        for x, code in zip(beat_a, beat_w, strict=True):
            negative = bool(code >> wcb)
            c = code & ((1 << wcb) - 1)
            if config.act_signed:
                negative ^= bool(x >> acb)
                d = x & ((1 << acb) - 1)
            else:
                d = x
            if c == 0 or d == 0:
                continue
            t = ((c - 1) + step * (d - 1)) << shift
            s = state[negative]
            if s is None:
                state[negative] = t
                continue
            big, diff = max(s, t), abs(s - t)
            state[negative] = big + (corr[diff % n] >> (diff // n))
        if end:
            value = 0
            for negative, s in state.items():
                if s is not None:
                    mag = dec[s % n] << (s // n)
                    value += -mag if negative else mag
            results.append(value)
            state = {False: None, True: None}
    return results
