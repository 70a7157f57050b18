"""Formal harnesses (Amaranth) for SymbiYosys: the engine against an independent reference.

The harness instantiates the generated top module (:class:`logdot.hdl.top.LogDotTop`, the Verilog
contract) and drives EVERY input from ``AnySeq`` (a fresh free value in every cycle,
including ``rst``, the padding bits of ``s_axis_tdata`` and ``m_axis_tready``); the solver
therefore explores every input sequence up to the BMC depth. Beside it runs a reference
written independently of ``hdl/``:

* each lane's product is ``act_value * weight_value`` with a real multiplier (``*``), where
  the values come from lookup tables of Python integers built from the number-format
  definition (``+-2**(c - 1)``, ``+-sqrt(2)**(c - 1)`` split into an integer power of two
  and a parity, ``+-2**(d - 1)`` for log activations); the engine's shifts, one-hot terms,
  folded negation carries and adder trees are not used;
* the beat sums are accumulated per accumulator (one in base 2, even and odd in base
  sqrt(2)), saturating at the ``acc_bits`` limits after every beat (narrow accumulators) or
  wrapping modulo ``2**acc_bits`` (exact accumulators used beyond ``max_beats``);
* base sqrt(2): ``y = (A_even << F) + R * A_odd`` with a real multiplier and
  ``R = round(sqrt(2) * 2**F)`` computed here with :mod:`decimal` (not
  :func:`logdot.golden.formats.sqrt2_constant`);
* every closed dot product (a transfer with ``tlast``) pushes its expected result, the cycle
  of its last beat and a back-pressure flag into a reference FIFO; every output transfer
  pops it.

Properties (each an ``Assert``; names in :data:`PROPERTIES`) are listed and explained in
``docs/verification.md``. A synchronous reset may be asserted in any cycle; it clears the
reference, so "the next stream is exact after a reset" is part of every property.

Free inputs come from ``amaranth.asserts.AnyConst``/``AnySeq``, their home in Amaranth
0.5.10 (importing them from there warns nothing; ``Assert`` comes from ``amaranth.hdl``).
An undriven ``Signal`` would be a constant and make a proof vacuous: the mutants of
:mod:`tests.support.mutants` must make these same proofs FAIL (tests/formal/test_formal_engine.py).
"""

from __future__ import annotations

from amaranth.hdl import Cover, Fragment, Mux, Signal, signed

from logdot.golden.formats import EngineConfig
from logdot.hdl.accumulator import accumulator_latency
from logdot.hdl.engine import engine_latency
from logdot.hdl.top import LogDotTop
from tests.formal import formal_harness as fh

__all__ = [
    "PROPERTIES",
    "EngineHarness",
]

#: Every property the engine harness asserts, with what it means (used in failure reports
#: and in docs/verification.md).
PROPERTIES = {
    "result_value": "each output transfer equals the reference dot product of the next "
    "closed tlast group (value, order and tlast grouping; sqrt2 combine; saturation/wrap)",
    "no_extra_output": "no output transfer without a closed dot product outstanding "
    "(no duplicated or invented result)",
    "bounded_in_flight": "at most latency + 1 results are outstanding (the input stalls)",
    "exact_latency": "without back-pressure since its last beat, a result is valid exactly "
    "`latency` cycles after its last beat's transfer, and is never transferred earlier",
    "no_loss": "a result older than latency + 2 cycles cannot be outstanding while "
    "m_axis_tready has been high for latency + 2 cycles (no result lost or stuck)",
    "output_tlast": "m_axis_tlast is 1 on every output beat (m_axis_tvalid high): every "
    "result closes its dot product, one result per packet",
    "output_stable": "m_axis_tvalid stays high and m_axis_tdata and m_axis_tlast hold while "
    "valid & ~ready",
    "ready_after_ready": "s_axis_tready is high in any cycle after one with m_axis_tready "
    "high (II = 1 without back-pressure; no combinational ready path)",
    "reset_idle": "the cycle after a reset: m_axis_tvalid low and s_axis_tready high",
}


#: Lemmas the harness can assert at internal ports (see EngineHarness ``hints``).
LEMMAS = (
    "lemma_lanes",
    "lemma_acc_valid",
    "lemma_acc_beat",
    "lemma_acc_state",
    "lemma_acc_result",
)


#: Cover statements (``covers=True``): traces the solver must be able to reach.
COVERS = {
    "multi_beat_result": "the tracked result of a dot product of >= 3 beats is transferred",
    "result_after_backpressure": "the tracked result is transferred after back-pressure",
    "result_after_reset": "the tracked result is transferred after a reset in mid-stream",
    "saturated_result": "(narrow accumulators) a saturated result is transferred",
}


class EngineHarness(fh.Harness):
    """BMC harness: :class:`~logdot.hdl.top.LogDotTop` with free inputs against the reference.

    The reference is evaluated at the accumulator stage of the pipeline: its per-beat sums
    (computed from the free ``s_axis_tdata`` of the transfer) travel through a shadow
    pipeline of plain registers that advance on ``s_axis_tready`` (the engine's one pipeline
    enable) for ``pre_stages = latency - accumulator latency - 1`` cycles, then are
    accumulated and pushed into the result FIFO. The end-to-end properties compare only
    the top module's ports with that FIFO.

    With ``hints`` the harness also asserts, as proven lemmas (not assumptions), that the
    accumulator's input ports carry the shadow pipeline's beat (``valid``, ``last`` and
    ``sum + carry`` per parity) and, when its state register is found by name, that it
    equals the reference accumulator. smtbmc adds every assertion proven at a step as a fact
    for the later steps, so these lemmas cut the multi-beat arithmetic into one-beat
    equivalences; without them (``hints=False``) the same end-to-end properties hold but
    the solver needs far longer.

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Engine under proof.
    make_dut : callable, optional
        ``make_dut(config)`` returns the top module to check (default
        :class:`~logdot.hdl.top.LogDotTop`); the mutant tests pass a broken one.
    free_reset : bool
        Let the solver assert ``rst`` in any cycle (default True).
    check : iterable of str, optional
        Subset of :data:`PROPERTIES` to assert (default: all).
    hints : bool
        Assert the accumulator-stage lemmas (default True).
    covers : bool
        Add the :data:`COVERS` statements (for ``mode cover``: proof that the BMC reaches
        interesting traces, i.e. that the properties are not vacuous).
    max_depth : int
        Largest BMC depth the harness is used with (sizes its cycle counters).
    product : {"const", "mul"}
        Reference products as ``a * C`` for the constant value ``C`` of the lane's weight
        code (default), or as a general multiplier ``a * w`` of table values.

    Attributes
    ----------
    domain : ClockDomain
        The ``sync`` domain; pass ``[harness.domain.clk]`` as the RTLIL ports.
    lines : dict
        Source line of each asserted property -> its name (filled in by elaboration).
    hints_used : list of str
        The lemmas elaboration could attach (filled in by elaboration).
    """

    def __init__(
        self,
        config,
        *,
        make_dut=None,
        free_reset=True,
        check=None,
        hints=True,
        lane_hints=True,
        lemmas=None,
        covers=False,
        product="const",
        max_depth=30,
    ):
        if not isinstance(config, EngineConfig):
            raise TypeError(f"config must be an EngineConfig, not {config!r}")
        check = set(PROPERTIES if check is None else check)
        unknown = check - set(PROPERTIES)
        if unknown:
            raise ValueError(f"check has unknown properties {sorted(unknown)!r}")
        if product not in ("const", "mul"):
            raise ValueError(f"product must be 'const' or 'mul', not {product!r}")
        self.config = config
        self.latency = engine_latency(config)
        self.pre_stages = self.latency - accumulator_latency(config) - 1
        self._free_reset = free_reset
        self._check = check
        self._hints = hints
        self._lane_hints = lane_hints
        self._lemmas = set(LEMMAS if lemmas is None else lemmas)
        self._covers = covers
        self._product = product
        # Cycle counters and dot-product indices need only cover the BMC depth.
        super().__init__(
            make_dut=make_dut or (lambda cfg: LogDotTop(config=cfg)), max_depth=max_depth
        )
        self.hints_used = []

    def _wants(self, name):
        return name in self._check or (name.startswith("lemma") and name in self._lemmas)

    def _beat_sums(self, m, s_data):
        """Reference per-beat sums (one per accumulator) of the beat on ``s_data``."""
        cfg = self.config
        even_t, odd_t = fh.weight_tables(cfg)
        parts = [even_t] if cfg.weight_base == 2 else [even_t, odd_t]
        atab = fh.value_table(fh.act_table(cfg)) if cfg.act_is_log else None
        beat = [0] * len(parts)
        self._lane_products = []
        for i in range(cfg.lanes):
            araw = s_data[cfg.act_lsb(i) : cfg.act_lsb(i) + cfg.act_bits]
            wraw = s_data[cfg.weight_lsb(i) : cfg.weight_lsb(i) + cfg.weight_bits]
            aval = fh.act_value(cfg, araw, atab)
            lane_prods = []
            self._lane_products.append(lane_prods)
            for p, values in enumerate(parts):
                tab = fh.value_table(values)
                prod = Signal(
                    signed(len(aval) + len(tab[0]) + 1), name=f"f_prod{i}_{p}"
                )  # exact: |a| * |w| fits the sum of the widths
                if self._product == "mul":
                    m.d.comb += prod.eq(aval * tab[wraw])
                else:  # a multiplication by the constant weight value, selected by the code
                    with m.Switch(wraw):
                        for code, v in enumerate(values):
                            with m.Case(code):
                                m.d.comb += prod.eq(aval * v)
                beat[p] = beat[p] + prod
                lane_prods.append(prod)
        out = []
        for p, b in enumerate(beat):
            sig = Signal(signed(len(b)), name=f"f_beat{p}")
            m.d.comb += sig.eq(b)
            out.append(sig)
        return out

    def build(self, m, platform):
        cfg = self.config
        dut = self._make_dut(cfg)
        frag = Fragment.get(dut, platform)
        m.submodules.dut = frag
        self.hints_used = []
        self.lines = {}

        io = fh.free_axis(m, dut, self.domain, free_rst=self._free_reset)
        rst, s_last, m_ready = io.rst, io.s_last, io.m_ready
        en = dut.s_axis_tready  # the engine's single pipeline enable (a transfer needs it)

        bits = self._bits
        now = fh.cycle_counter(m, bits)

        # -- reference beat sums, then the shadow pipeline up to the accumulator ------------
        beat = self._beat_sums(m, io.s_data)
        v, last, stamp = io.s_valid, s_last, now
        shadow_lasts = []  # (valid & last, stamp) of each shadow stage, for no_loss
        for k in range(self.pre_stages):
            nv = Signal(name=f"f_pipe_valid{k}")
            nl = Signal(name=f"f_pipe_last{k}", reset_less=True)
            ns = Signal(bits, name=f"f_pipe_stamp{k}", reset_less=True)
            nb = [
                Signal.like(b, name=f"f_pipe_beat{k}_{p}", reset_less=True)
                for p, b in enumerate(beat)
            ]
            with m.If(en):
                m.d.sync += [nv.eq(v), nl.eq(last), ns.eq(stamp)]
                m.d.sync += [x.eq(b) for x, b in zip(nb, beat, strict=True)]
            v, last, stamp, beat = nv, nl, ns, nb
            shadow_lasts.append((nv & nl, ns))
        step = Signal(name="f_acc_step")
        m.d.comb += step.eq(en & v & ~rst)

        # -- reference accumulators -----------------------------------------------------------
        accs, nexts = [], []
        for p in range(len(beat)):
            acc, nxt = fh.reference_accumulator(
                m, f"f_acc{p}", beat[p], step, last, acc_bits=cfg.acc_bits,
                saturating=cfg.saturating,
            )  # fmt: skip
            accs.append(acc)
            nexts.append(nxt)
        if cfg.weight_base == 2:
            expr = nexts[0]
        else:
            expr = (nexts[0] << cfg.frac_bits) + nexts[1] * fh.reference_r(cfg.frac_bits)
        width = max(len(expr), 8 * cfg.out_bytes) + 1
        expected = Signal(signed(width), name="f_expected")
        m.d.comb += expected.eq(expr)

        # -- lemmas at the accumulator's ports (proven, then used as facts by smtbmc) --------
        if self._hints:
            self._add_hints(m, frag, v, last, beat, accs)
            self._add_result_hint(m, frag, en, v & last, expected)

        # -- one tracked result, the stream properties ---------------------------------------
        push = Signal(name="f_push")
        m.d.comb += push.eq(step & last)
        stuck = 0
        for closed, st in shadow_lasts:
            stuck = stuck | (closed & ((now - st)[:bits] >= self.latency + 2))
        t = fh.check_results(
            self, m, io, latency=self.latency, bits=bits, push=push, now=now, stamp=stamp,
            fields=[("val", expected, dut.m_axis_tdata.as_signed())],
            bp=self._shadow_bp(m, en, m_ready), stuck=stuck,
        )  # fmt: skip
        self._assert(m, "output_tlast", ~(~rst & dut.m_axis_tvalid) | dut.m_axis_tlast)
        if self._covers:
            self._add_covers(m, step, last, push, t, rst, beat, accs)

    def _add_covers(self, m, step, last, push, t, rst, beat, accs):
        cfg = self.config
        n_in, track, t_out, t_bp = t.n_in, t.track, t.t_out, t.t_bp
        lo, hi = cfg.acc_range
        cur = Signal(range(8), name="f_cur_beats")  # beats of the open dot product (<= 7)
        with m.If(step):
            m.d.sync += cur.eq(Mux(last, 0, Mux(cur == 7, 7, cur + 1)))
        clamp = 0
        for acc, b in zip(accs, beat, strict=True):
            full = acc + b
            clamp = clamp | (full > hi) | (full < lo)
        sat_open = Signal(name="f_sat_open")  # the open dot product saturated
        with m.If(step):
            m.d.sync += sat_open.eq(Mux(last, 0, sat_open | clamp))
        t_beats = Signal(range(8), name="f_t_beats", reset_less=True)
        t_sat = Signal(name="f_t_sat", reset_less=True)
        had_reset = Signal(name="f_had_reset", reset_less=True)
        with m.If(rst):
            m.d.sync += had_reset.eq(1)
        with m.If(push & (n_in == track)):
            m.d.sync += [t_beats.eq(cur + 1), t_sat.eq(sat_open | clamp)]
        m.d.comb += [
            Cover(t_out & (t_beats >= 3), "multi_beat_result"),
            Cover(t_out & t_bp, "result_after_backpressure"),
            Cover(t_out & had_reset, "result_after_reset"),
        ]
        if cfg.saturating:
            m.d.comb += Cover(t_out & t_sat, "saturated_result")

    def _shadow_bp(self, m, en, m_ready):
        """Back-pressure (``~m_ready``) seen in any cycle since the transfer, at the
        accumulator stage: a flag travelling with the shadow pipeline."""
        bp = ~m_ready
        for k in range(self.pre_stages):
            r = Signal(name=f"f_pipe_bp{k}", reset_less=True)
            with m.If(en):
                m.d.sync += r.eq(bp)
            with m.Else():
                m.d.sync += r.eq(r | ~m_ready)
            bp = r | ~m_ready
        return bp

    def _add_result_hint(self, m, frag, en, push, expected):
        """Lemma at the accumulator's output port: ``o_valid`` and ``result`` equal the
        pushed reference result, delayed by the accumulator's latency (its registers advance
        on the pipeline enable)."""
        acc_obj = fh.find_fragment(frag, ("engine", "pe", "acc")).origins[0]
        v, val = push, expected
        for k in range(accumulator_latency(self.config)):
            nv = Signal(name=f"f_res_valid{k}")
            nval = Signal.like(expected, name=f"f_res_val{k}", reset_less=True)
            with m.If(en):
                m.d.sync += [nv.eq(v), nval.eq(val)]
            v, val = nv, nval
        self._assert(m, "lemma_acc_result", (acc_obj.o_valid == v) & (~v | (acc_obj.result == val)))
        self.hints_used.append("lemma_acc_result")

    def _add_hints(self, m, frag, v, last, beat, accs):
        cfg = self.config
        acc_frag = fh.find_fragment(frag, ("engine", "pe", "acc"))
        if acc_frag is None:
            raise LookupError("formal hints: no submodule engine.pe.acc in the engine")
        acc_obj = acc_frag.origins[0]
        # Lane lemmas: each lane's folded term (term + carry) is its reference product (the
        # lanes are combinational and see the beat on s_axis_tdata).
        if self._lane_hints:
            ok = 1
            for i, prods in enumerate(self._lane_products):
                lane_frag = fh.find_fragment(frag, ("engine", "pe", f"lane{i}"))
                if lane_frag is None:
                    raise LookupError(f"formal hints: no submodule engine.pe.lane{i} in the engine")
                lane = lane_frag.origins[0]
                for (t, c), prod in zip(lane.terms, prods, strict=True):
                    ok = ok & ((t + c) == prod)
            self._assert(m, "lemma_lanes", ok)
            self.hints_used.append("lemma_lanes")
        # Port-level lemmas: the accumulator sees the shadow pipeline's beat.
        self._assert(m, "lemma_acc_valid", acc_obj.valid == v)
        ok = acc_obj.last == last
        for (s, c), b in zip(acc_obj.beats, beat, strict=True):
            ok = ok & ((s + c) == b)
        self._assert(m, "lemma_acc_beat", ~v | ok)
        self.hints_used += ["lemma_acc_valid", "lemma_acc_beat"]
        # State lemma: the accumulator register (plain or split carry-save form) equals the
        # reference accumulator.
        sigs = fh.fragment_signals(acc_frag)
        state_ok = 1
        found = True
        for p, ref in enumerate(accs):
            if f"acc{p}" in sigs:
                value = sigs[f"acc{p}"]
            elif f"acc{p}_lo" in sigs:
                lo_, hi_, cp = sigs[f"acc{p}_lo"], sigs[f"acc{p}_hi"], sigs[f"acc{p}_cp"]
                value = fh.wrap(lo_ + ((hi_ + cp) << len(lo_)), cfg.acc_bits)
            else:
                found = False
                break
            state_ok = state_ok & (value.as_signed() == ref)
        if found:
            self._assert(m, "lemma_acc_state", state_ok)
            self.hints_used.append("lemma_acc_state")
