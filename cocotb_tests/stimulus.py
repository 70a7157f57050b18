"""Stimulus for the engine co-simulation: random and directed dot products, beat decoding.

Pure Python (no cocotb, no torch), so that pytest can test it outside a simulator and the
cocotb test bench (:mod:`tb`, :mod:`test_engine`) can use it inside one.

A *beat* is a pair ``(acts, weights)`` of per-lane integers: linear activations as signed
(or unsigned) integer values, log activations and weights as raw codes (sign in the top bit
when signed). A *dot product* is a non-empty list of beats; its last beat carries
``s_axis_tlast``.
"""

from __future__ import annotations

from logdot.golden.twoterm import twoterm_magnitudes

__all__ = [
    "act_extremes",
    "beats_to_words",
    "corner_beats",
    "extreme_dots",
    "neg_weight",
    "random_act",
    "random_beat",
    "random_dot",
    "random_stream",
    "saturating_length",
    "unpack_beat",
    "weight_extremes",
]


def unpack_beat(config, word):
    """Decode an ``s_axis_tdata`` integer into ``(acts, weights)`` (the inverse of
    :meth:`logdot.golden.formats.EngineConfig.pack_beat`).

    Linear signed activations are sign-extended to their integer values; log activations and
    weights are returned as raw codes, exactly what :func:`logdot.golden.engine.dot` takes.
    """
    a, w = config.act_bits, config.weight_bits
    am, wm = (1 << a) - 1, (1 << w) - 1
    sign_extend = config.act_format == "linear" and config.act_signed
    acts = []
    for i in range(config.lanes):
        v = (word >> config.act_lsb(i)) & am
        if sign_extend and v >> (a - 1):
            v -= 1 << a
        acts.append(v)
    weights = [(word >> config.weight_lsb(i)) & wm for i in range(config.lanes)]
    return acts, weights


def beats_to_words(config, dots):
    """Flatten dot products into ``[(tdata, tlast), ...]`` for the AXI-Stream source."""
    words = []
    for dot in dots:
        if not dot:
            raise ValueError("a dot product needs at least one beat")
        for k, (acts, weights) in enumerate(dot):
            words.append((config.pack_beat(acts, weights), k == len(dot) - 1))
    return words


# -- value helpers --------------------------------------------------------------------------


def act_extremes(config):
    """``(most_negative, most_positive)`` activation in the form the stream carries.

    Linear: the integer limits of :attr:`EngineConfig.act_range`. Log: the largest magnitude
    code with the sign bit set (most negative; the largest positive code when unsigned) and
    the largest positive code.
    """
    if config.act_format == "linear":
        return config.act_range
    top = (1 << config.act_code_bits) - 1
    if config.act_signed:
        return (1 << config.act_code_bits) | top, top
    return top, top


def weight_extremes(config):
    """``(largest negative, largest positive)`` weight codes (two-term weights: the code of
    the largest magnitude, :func:`logdot.golden.twoterm.twoterm_magnitudes`)."""
    top = (1 << config.weight_code_bits) - 1
    if config.weight_terms == 2:
        top = twoterm_magnitudes(config.weight_bits)[-1][1]
    return (1 << config.weight_code_bits) | top, top


def neg_weight(config, code):
    """The weight code ``-base**(code - 1)`` (sign bit set above magnitude ``code``)."""
    return (1 << config.weight_code_bits) | code


_LINEAR_CORNER_P = 0.15
#: Directed dot products run up to max_beats only when it is at most this many beats
#: (else EXTREME_RUN beats).
MAX_BEATS_DIRECTED = 256
EXTREME_RUN = 64


def random_act(rng, config):
    """One random activation over the whole code space (linear: with extra corner values)."""
    if config.act_format == "log":
        return rng.randrange(1 << config.act_bits)
    lo, hi = config.act_range
    if rng.random() < _LINEAR_CORNER_P:
        corners = [lo, hi, 0, 1, lo + 1, hi - 1]
        if lo < 0:
            corners.append(-1)
        return rng.choice(corners)
    return rng.randint(lo, hi)


def random_beat(rng, config):
    """One beat of uniformly random codes (linear activations with corners)."""
    acts = [random_act(rng, config) for _ in range(config.lanes)]
    weights = [rng.randrange(1 << config.weight_bits) for _ in range(config.lanes)]
    return acts, weights


def random_dot(rng, config, beats):
    """A random dot product of ``beats`` beats."""
    return [random_beat(rng, config) for _ in range(beats)]


def random_length(rng, config, longest=64):
    """A dot-product length: half single beats, the rest spread up to ``longest`` beats
    (never more than ``config.max_beats``)."""
    top = max(1, min(longest, config.max_beats))
    r = rng.random()
    if r < 0.5 or top == 1:
        return 1
    if r < 0.85:
        return rng.randint(2, min(top, 8)) if top >= 2 else 1
    return rng.randint(1, top)


def random_stream(rng, config, total_beats, longest=64):
    """Random dot products totalling exactly ``total_beats`` beats."""
    dots, left = [], total_beats
    while left > 0:
        n = min(left, random_length(rng, config, longest))
        dots.append(random_dot(rng, config, n))
        left -= n
    return dots


# -- directed corners --------------------------------------------------------------------


def corner_beats(config, rng):
    """Single-beat directed corners (each entry is one beat)."""
    n = config.lanes
    lo_a, hi_a = act_extremes(config)
    neg_w, pos_w = weight_extremes(config)
    top = (1 << config.weight_code_bits) - 1
    second = [c for c in (top - 1,) if c >= 1]  # the other sqrt2 parity
    zero_act = 0
    neg_zero_act = (1 << config.act_code_bits) if config.act_is_log and config.act_signed else 0
    neg_zero_w = 1 << config.weight_code_bits
    beats = [
        ([zero_act] * n, [0] * n),  # all zero codes
        ([zero_act] * n, random_beat(rng, config)[1]),
        ([random_act(rng, config) for _ in range(n)], [0] * n),
        ([hi_a] * n, [neg_zero_w] * n),  # negative-zero weights
        ([neg_zero_act] * n, [pos_w] * n),  # negative-zero log activations
    ]
    weights = [neg_w, pos_w] + [c for s in second for c in (s, neg_weight(config, s))]
    for a in (lo_a, hi_a):
        for w in weights:
            beats.append(([a] * n, [w] * n))
    for _ in range(8):  # all-negative weights
        codes = [neg_weight(config, rng.randrange(1 << config.weight_code_bits)) for _ in range(n)]
        beats.append(([random_act(rng, config) for _ in range(n)], codes))
    for i in range(n):  # single lane hot, the others gated by a zero act or a zero weight
        a = [zero_act] * n
        a[i] = (lo_a, hi_a)[i % 2]
        w = [rng.randrange(1 << config.weight_bits) for _ in range(n)]
        w[i] = (pos_w, neg_w)[(i // 2) % 2]
        beats.append((a, w))
        a2 = [random_act(rng, config) for _ in range(n)]
        a2[i] = (hi_a, lo_a)[i % 2]
        w2 = [0] * n
        w2[i] = pos_w
        beats.append((a2, w2))
    # alternating signs: partial cancellation
    beats.append(([hi_a] * n, [(pos_w, neg_w)[i % 2] for i in range(n)]))
    beats.append(([(lo_a, hi_a)[i % 2] for i in range(n)], [pos_w] * n))
    return beats


def saturating_length(config):
    """Beats of one extreme product sum that overshoot the accumulator (or 64)."""
    hi = max(
        abs(v)
        for p in ((None,) if config.weight_base == 2 else (0, 1))
        for v in config.tree_range(p)
    )
    acc_hi = config.acc_range[1]
    return max(2, min(MAX_BEATS_DIRECTED, acc_hi // max(1, hi) + 3))


def extreme_dots(config, rng):
    """Multi-beat extreme dot products: same-sign runs that reach the accumulator limits
    (exactly at max_beats for an exact accumulator, beyond the limits for a saturating one)."""
    n = config.lanes
    lo_a, hi_a = act_extremes(config)
    neg_w, pos_w = weight_extremes(config)
    top = (1 << config.weight_code_bits) - 1

    def beat(act, weight):
        return [act] * n, [weight] * n

    if config.act_signed:  # the most negative activation gives both extreme products
        most_neg, most_pos = beat(lo_a, pos_w), beat(lo_a, neg_w)
        others = [beat(hi_a, pos_w), beat(hi_a, neg_w)]
    else:
        most_neg, most_pos = beat(hi_a, neg_w), beat(hi_a, pos_w)
        others = []
    # base sqrt(2): code top - 1 has the other exponent parity (the other accumulator)
    parity = []
    if config.weight_base == "sqrt2" and top >= 2:
        a = lo_a if config.act_signed else hi_a
        parity = [beat(a, top - 1), beat(a, neg_weight(config, top - 1))]
    dots = []
    if config.saturating:
        L = saturating_length(config)
        dots += [
            [most_pos] * L,
            [most_neg] * L,
            [most_pos] * L + [most_neg] * L,  # saturate high, then come down (order matters)
            [most_neg] * L + [most_pos] * L + [most_pos],
            *([p] * L + [most_neg] * (L // 2) for p in parity),
            [random_beat(rng, config) for _ in range(2 * L)],
        ]
    run = config.max_beats if config.max_beats <= MAX_BEATS_DIRECTED else EXTREME_RUN
    dots += [[b] * run for b in (most_neg, most_pos, *others, *parity)]
    if config.max_beats <= MAX_BEATS_DIRECTED:
        dots.append(random_dot(rng, config, config.max_beats))
    return dots
