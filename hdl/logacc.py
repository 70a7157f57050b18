"""Log-domain accumulation in hardware (the paper's section 3.3): one term per cycle.

:class:`LogAccumulator` keeps a dot product's positive and negative terms in two fixed-point
log2 states and decodes them once at the end; :class:`LogSerialPE` is the processing element
of an ``accumulate="log"`` engine: it reads the lanes of a held input beat one per cycle
(lane 0 first), forms each term's log magnitude and feeds the accumulator. The integer model
is :func:`logdot.golden.logacc.engine_dot`; ``docs/formats.md`` ("Log-domain
accumulation") is the normative prose.
"""

from __future__ import annotations

from amaranth.hdl import Array, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import unsigned_width
from ..golden.logacc import exp2_table, log_add_table
from .lane import bounded_shift_left
from .params import check_config, read_only
from .pe_parts import connect_accumulator, pe_signature

__all__ = [
    "LogAccumulator",
    "LogSerialPE",
    "log_accumulator_latency",
    "log_pe_latency",
    "log_term_bits",
]


def _check_log(config):
    cfg = check_config(config)
    if cfg.accumulate != "log":
        raise ValueError(f"config must have accumulate='log', not {cfg.accumulate!r}")
    return cfg


def log_term_bits(config):
    """Width of one term's log magnitude ``L_t`` (unsigned, ``unsigned_width(log_term_max)``)."""
    return unsigned_width(_check_log(config).log_term_max)


def log_accumulator_latency(config):
    """:attr:`LogAccumulator.latency`: 2 (the final states, then the decoded magnitudes)."""
    _check_log(config)
    return 2


def log_pe_latency(config):
    """:attr:`LogSerialPE.latency`: ``int(register_terms) + 2`` cycles from the transfer of
    a dot product's last beat (the cycle its last lane is read) to ``o_valid``."""
    return int(_check_log(config).register_terms) + log_accumulator_latency(config)


def _rom(m, table, index, name):
    """``table[index]`` as a combinational signal (a constant for a one-entry table)."""
    out = Signal(unsigned_width(max(table)), name=name)
    if len(table) == 1:
        m.d.comb += out.eq(table[0])
    else:
        m.d.comb += out.eq(Array(Const(v, len(out)) for v in table)[index])
    return out


class LogAccumulator(wiring.Component):
    """Two log-domain accumulators (positive and negative terms) and the final decode.

    Per term with ``nonzero`` high, the state of its sign (``Lpos`` or ``Lneg``, ``F =
    config.frac_bits`` fraction bits) becomes the term itself when that state is empty, else
    ``max(L, t) + (T[r] >> q)`` with ``|L - t| = q * 2**F + r`` and ``T`` =
    :func:`logdot.golden.logacc.log_add_table` (a ROM; ``T[r] >> q`` is 0 for ``q > F``). One
    log adder serves both states (a term has one sign). After the term with ``last`` the
    final states are registered and the states cleared (empty); then each final state is
    decoded, ``D(L) = E[L mod 2**F] << (L >> F)`` with ``E`` =
    :func:`logdot.golden.logacc.exp2_table` (a ROM and a bounded shifter; an empty state is
    0), into registers; ``result = D(Lpos) - D(Lneg)``.

    Latency: :attr:`latency` = 2 cycles from the term with ``last`` (``valid & en``) to
    ``o_valid``. Throughput: one term per cycle. The state update (subtract, ROM, shift,
    add) is one cycle: the next term needs it.

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        With ``accumulate="log"`` (keyword-only).

    Members
    -------
    en : In(1)
        Advance; nothing changes while it is low.
    valid, last : In(1)
        A term is present; it is the last of its dot product.
    term : In(log_term_bits(config))
        The term's log magnitude ``L_t`` (``F`` fraction bits, relative to the product of
        two code-1 operands).
    negative, nonzero : In(1)
        The term's sign; ``nonzero`` low skips the term (a zero operand).
    o_valid : Out(1)
        ``result`` holds a finished dot product.
    result : Out(signed(config.result_bits))
        ``D(Lpos) - D(Lneg)``, ``F`` fraction bits.
    pos_state, neg_state : Out(config.log_state_bits)
        The running states (observability: the formal proof states its lemmas on them).
    pos_nonempty, neg_nonempty : Out(1)
        Whether the state holds a term of the current dot product.
    """

    def __init__(self, *, config):
        self._config = cfg = _check_log(config)
        super().__init__(
            {
                "en": In(1),
                "valid": In(1),
                "last": In(1),
                "term": In(log_term_bits(cfg)),
                "negative": In(1),
                "nonzero": In(1),
                "o_valid": Out(1),
                "result": Out(signed(cfg.result_bits)),
                "pos_state": Out(cfg.log_state_bits),
                "pos_nonempty": Out(1),
                "neg_state": Out(cfg.log_state_bits),
                "neg_nonempty": Out(1),
            }
        )

    config = read_only("config", "The engine configuration.")

    @property
    def latency(self):
        """Cycles from the term with ``last`` to ``o_valid``; see
        :func:`log_accumulator_latency`."""
        return log_accumulator_latency(self._config)

    def elaborate(self, platform):
        cfg = self._config
        f, lb = cfg.frac_bits, cfg.log_state_bits
        m = Module()
        step = self.en & self.valid
        t = self.term

        states = {}
        for sign in ("pos", "neg"):
            value = Signal(lb, name=f"{sign}_state", reset_less=True)
            nz = Signal(name=f"{sign}_nz")
            states[sign] = (value, nz)
        (pv, pz), (nv, nzz) = states["pos"], states["neg"]
        m.d.comb += [
            self.pos_state.eq(pv),
            self.pos_nonempty.eq(pz),
            self.neg_state.eq(nv),
            self.neg_nonempty.eq(nzz),
        ]
        neg = self.negative
        cur = Signal(lb, name="sel_state")
        cur_nz = Signal(name="sel_nz")
        m.d.comb += [cur.eq(Mux(neg, nv, pv)), cur_nz.eq(Mux(neg, nzz, pz))]

        # |cur - t| = q * 2**F + r, and max(cur, t).
        d1 = Signal(signed(lb + 1), name="diff_st")
        d2 = Signal(signed(lb + 1), name="diff_ts")
        m.d.comb += [d1.eq(cur - t), d2.eq(t - cur)]
        ge = ~d1[-1]
        dist = Signal(lb, name="dist")
        big = Signal(lb, name="big")
        m.d.comb += [dist.eq(Mux(ge, d1, d2)), big.eq(Mux(ge, cur, t))]
        corr = _rom(m, log_add_table(f), dist[:f], "corr")  # T[r], F + 1 bits
        q = dist[f:]
        shifted = Signal(len(corr), name="corr_shifted")
        m.d.comb += shifted.eq(Mux(q > f, 0, corr >> q[: unsigned_width(f + 1)]))
        new = Signal(lb, name="new_state")
        m.d.comb += new.eq(Mux(cur_nz, big + shifted, t))

        finals = []
        for sign, (value, nz) in states.items():
            hit = self.nonzero & (neg if sign == "neg" else ~neg)
            nxt = Signal(lb, name=f"{sign}_next")
            nxt_nz = Signal(name=f"{sign}_next_nz")
            m.d.comb += [nxt.eq(Mux(hit, new, value)), nxt_nz.eq(nz | hit)]
            with m.If(step):
                m.d.sync += [value.eq(nxt), nz.eq(nxt_nz & ~self.last)]
            fv = Signal(lb, name=f"{sign}_final", reset_less=True)
            fz = Signal(name=f"{sign}_final_nz", reset_less=True)
            with m.If(step & self.last):
                m.d.sync += [fv.eq(nxt), fz.eq(nxt_nz)]
            finals.append((sign, fv, fz))
        fin_valid = Signal(name="final_valid")
        with m.If(self.en):
            m.d.sync += fin_valid.eq(self.valid & self.last)

        # Decode: D(L) = E[L mod 2**F] << (L >> F), registered.
        mag_bits = cfg.result_bits - 1
        imax = cfg.log_state_max >> f
        decoded = {}
        for sign, fv, fz in finals:
            e = _rom(m, exp2_table(f), fv[:f], f"{sign}_exp2")
            shift = fv[f:]
            val = bounded_shift_left(m, e, shift, imax, name=f"{sign}_decode")
            d = Signal(unsigned(mag_bits), name=f"{sign}_mag", reset_less=True)
            with m.If(self.en):
                m.d.sync += d.eq(Mux(fz, val, 0))
            decoded[sign] = d
        dec_valid = Signal(name="decode_valid")
        with m.If(self.en):
            m.d.sync += dec_valid.eq(fin_valid)
        m.d.comb += [
            self.result.eq(decoded["pos"] - decoded["neg"]),
            self.o_valid.eq(dec_valid),
        ]
        return m


class LogSerialPE(wiring.Component):
    """The processing element of an ``accumulate="log"`` engine: one term per cycle.

    The beat on ``act``/``weight`` must hold while ``valid & ~ready`` (the AXI4-Stream rule
    for a held payload). A lane counter ``k`` (reset 0) selects lane ``k`` of the beat in
    every cycle with ``valid & en``; ``ready`` is ``k == lanes - 1``, so the beat is taken
    (``valid & ready & en``) in the cycle that reads its last lane. Per lane the term is
    formed from the codes (zero gate, sign XOR, ``L_t = ((c - 1) + s (d - 1)) << shift``
    with ``s`` = 1 in base 2 and 2 in base sqrt(2), ``shift`` =
    :attr:`~logdot.golden.formats.EngineConfig.log_term_shift`), registered when
    ``config.register_terms``, and accumulated by a :class:`LogAccumulator`.

    Latency: :attr:`latency` (:func:`log_pe_latency`) cycles from the transfer of a dot
    product's last beat to ``o_valid``. Throughput: one lane per cycle, i.e. one beat per
    :attr:`cycles_per_beat` = ``lanes`` cycles (``ready`` depends only on flip-flops).

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Keyword-only, as for :class:`LogAccumulator`.

    Members
    -------
    en : In(1)
        Advance (clock enable of every register).
    valid, last : In(1)
        A beat is present (held until taken); it is the last of its dot product.
    act : In(config.act_bits).array(config.lanes)
        Raw activation field of each lane (log codes).
    weight : In(config.weight_bits).array(config.lanes)
        Raw weight field of each lane.
    ready : Out(1)
        The current lane is the beat's last: the beat is taken when ``valid & en``.
    o_valid : Out(1)
        ``result`` holds a finished dot product (for the one cycle with ``en`` high).
    result : Out(signed(config.result_bits))
        ``D(Lpos) - D(Lneg)`` with ``F`` fraction bits (``docs/formats.md``).
    """

    def __init__(self, *, config):
        self._config = cfg = _check_log(config)
        self._acc = LogAccumulator(config=cfg)
        super().__init__(pe_signature(cfg, ready=True))

    config = read_only("config", "The engine configuration.")

    @property
    def latency(self):
        """Cycles from the transfer of a dot product's last beat to ``o_valid``; see
        :func:`log_pe_latency`."""
        return log_pe_latency(self._config)

    @property
    def cycles_per_beat(self):
        """Cycles per input beat without stalls: ``lanes`` (one term per cycle)."""
        return self._config.cycles_per_beat

    def elaborate(self, platform):
        cfg = self._config
        n = cfg.lanes
        m = Module()
        m.submodules.acc = acc = self._acc
        en = self.en

        # Lane counter and the lane multiplexer.
        k = Signal(unsigned_width(max(n - 1, 0)), name="lane")
        at_last = Signal(name="at_last_lane")
        m.d.comb += [at_last.eq(k == n - 1), self.ready.eq(at_last)]
        if n > 1:
            with m.If(en & self.valid):
                m.d.sync += k.eq(Mux(at_last, 0, k + 1))
        a = Signal(cfg.act_bits, name="lane_act")
        w = Signal(cfg.weight_bits, name="lane_weight")
        if n == 1:
            m.d.comb += [a.eq(self.act[0]), w.eq(self.weight[0])]
        else:
            # Padded to 2**len(k) entries (the last lane repeated, never selected): a complete
            # case, which Verilator's lint wants.
            pad = (1 << len(k)) - n
            m.d.comb += [
                a.eq(Array([*self.act, *[self.act[-1]] * pad])[k]),
                w.eq(Array([*self.weight, *[self.weight[-1]] * pad])[k]),
            ]

        # The term: zero gate, sign, L_t = ((c - 1) + s (d - 1)) << shift.
        wcb, acb = cfg.weight_code_bits, cfg.act_code_bits
        c, w_neg = w[:wcb], w[wcb]
        if cfg.act_signed:
            d, a_neg = a[:acb], a[acb]
        else:
            d, a_neg = a, Const(0)
        s = 2 if cfg.weight_base == "sqrt2" else 1
        hmax = cfg.log_term_max >> cfg.log_term_shift
        h = Signal(unsigned_width(hmax), name="term_exp")
        m.d.comb += h.eq((c - 1) + ((d - 1) << (s - 1)))  # s in {1, 2}: no multiplier
        term = Signal(len(acc.term), name="term")
        m.d.comb += term.eq(h << cfg.log_term_shift)
        neg = Signal(name="term_negative")
        nz = Signal(name="term_nonzero")
        m.d.comb += [neg.eq(w_neg ^ a_neg), nz.eq((c != 0) & (d != 0))]
        valid, last = self.valid, self.last & at_last
        if cfg.register_terms:
            regs = []
            for sig, name in ((term, "term"), (neg, "negative"), (nz, "nonzero"), (last, "last")):
                r = Signal(len(sig), name=f"term_{name}_reg", reset_less=True)
                with m.If(en):
                    m.d.sync += r.eq(sig)
                regs.append(r)
            term, neg, nz, last = regs
            rv = Signal(name="term_valid")
            with m.If(en):
                m.d.sync += rv.eq(valid)
            valid = rv
        m.d.comb += [acc.term.eq(term), acc.negative.eq(neg), acc.nonzero.eq(nz)]
        connect_accumulator(m, self, acc, valid, last)
        return m
