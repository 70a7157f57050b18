"""Formal harness: the layer engine top (:class:`logdot.hdl.layer.LogLayerTop`) against a
reference written here from ``docs/layer.md``.

Every input comes from ``AnySeq`` in every cycle: ``rst``, ``s_axis_*`` (padding bits
included), ``m_axis_tready`` and, with the run-time weight port, ``w_axis_*``. The reference
works on the input side, in the cycle of each transfer:

* **weight program**: input beat number ``j`` (counted from the last reset) uses word
  ``j mod depth`` of every PE. The reference memory is a set of plain registers (initial
  contents: the layer's weight codes, packed here as lane ``k`` at ``[k*W +: W]``), not
  cleared by a reset; with the weight port, beat ``k`` (since the last ``w_axis_tlast`` or
  reset) writes word ``k // pes`` of PE ``k % pes``, and a beat reads the word as it was
  before a write in the same cycle;
* **products**: ``act_value * weight_value`` with a multiplier (``*``) of values from the
  tables of :func:`tests.formal.formal_harness.weight_tables` / ``act_table`` (written
  from the number formats), summed over the lanes and accumulated per PE (saturating or
  wrapping at ``acc_bits`` as the engine contract says);
* **output stage**: dot product number ``i`` adds bias entry ``i mod dots`` of its PE, then
  ``max(z, 0)`` (ReLU), then the requantizer reference of
  :func:`tests.formal.requant_harness.requant_reference`; its ``m_axis_tlast`` is
  ``i mod dots == dots - 1``.

The properties (:data:`LAYER_PROPERTIES`) are stated for one dot product, number ``track``
(an ``AnyConst``), so they hold for every one; their meanings are the engine harness's
(:data:`tests.formal.engine_harness.PROPERTIES`), at the layer's latency
:func:`logdot.hdl.layer.layer_latency`.
"""

from __future__ import annotations

from amaranth.hdl import (
    Array,
    Cat,
    Fragment,
    Mux,
    Signal,
    signed,
)

from logdot.hdl.layer import LogLayerTop, layer_latency
from logdot.hdl.pe import pe_latency
from tests.formal.formal_harness import (
    Harness,
    act_table,
    act_value,
    check_results,
    cycle_counter,
    find_fragment,
    fragment_signals,
    free_axis,
    free_signal,
    reference_accumulator,
    value_table,
    weight_tables,
)
from tests.formal.requant_harness import requant_reference

__all__ = ["LAYER_LEMMAS", "LAYER_PROPERTIES", "LayerHarness"]

LAYER_PROPERTIES = (
    "result_value",
    "no_extra_output",
    "bounded_in_flight",
    "exact_latency",
    "no_loss",
    "output_stable",
    "ready_after_ready",
    "reset_idle",
)

#: Lemmas at internal ports (``hints=True``): proven, then used by smtbmc as facts.
LAYER_LEMMAS = ("lemma_pe_result", "lemma_zq")


class LayerHarness(Harness):
    """BMC harness of a layer engine top with free inputs against the reference.

    Parameters
    ----------
    layer : logdot.golden.layer.Layer
        Configuration and initial memory contents (base-2 weights).
    weight_port : bool
        Build the top with the run-time weight port (its inputs free too).
    make_dut : callable, optional
        ``make_dut(layer=, weight_port=)`` returns the top to check (default
        :class:`~logdot.hdl.layer.LogLayerTop`); the mutant tests pass a broken one.
    check : iterable of str, optional
        Subset of :data:`LAYER_PROPERTIES` (and ``"w_ready"``: ``w_axis_tready`` is always
        high) to assert (default: all, ``"w_ready"`` with the weight port).
    max_depth : int
        Largest BMC depth (sizes the cycle counters).
    hints : bool
        Also assert :data:`LAYER_LEMMAS`: a shadow pipeline of plain registers (advancing on
        ``s_axis_tready``, the engine's one pipeline enable) carries each closed dot
        product's reference result ``y`` and output-stage sum (after the ReLU) to the stage
        of each PE's ``o_valid`` / ``result`` port and of the ``pe<p>_zq`` register; both must
        equal it. They cut the multi-beat arithmetic from the requantizer comparison.

    Attributes
    ----------
    domain : ClockDomain
    latency : int
    lines : dict
        Source line of each assertion -> property name.
    """

    def __init__(
        self, layer, *, weight_port=False, make_dut=None, check=None, hints=True, max_depth=30
    ):
        if layer.config.engine.weight_base != 2:
            raise ValueError("the layer harness models base-2 weights only")
        self.layer = layer
        self.weight_port = weight_port
        if check is None:
            check = LAYER_PROPERTIES + (("w_ready",) if weight_port else ())
        self._check = set(check) | (set(LAYER_LEMMAS) if hints else set())
        self.hints_used = []
        self.latency = layer_latency(layer.config)
        super().__init__(make_dut=make_dut or LogLayerTop, max_depth=max_depth)

    def _wants(self, name):
        return name in self._check

    def _memory(self, m, rst, dut):
        """Reference weight registers ``[address][pe]`` and the weight-port writes."""
        cfg = self.layer.config
        wb = cfg.engine.weight_bits
        codes = self.layer.weights.tolist()
        regs = []
        for a in range(cfg.depth):
            row = []
            for p in range(cfg.pes):
                init = sum(c << (k * wb) for k, c in enumerate(codes[a][p]))
                row.append(Signal(cfg.word_bits, name=f"f_w{a}_{p}", init=init, reset_less=True))
            regs.append(row)
        if not self.weight_port:
            return regs
        w_valid, w_last = free_signal(m, "f_w_valid"), free_signal(m, "f_w_last")
        w_data = free_signal(m, "f_w_data", len(dut.w_axis_tdata))
        m.d.comb += [
            dut.w_axis_tvalid.eq(w_valid),
            dut.w_axis_tlast.eq(w_last),
            dut.w_axis_tdata.eq(w_data),
        ]
        k = Signal(range(cfg.depth * cfg.pes), name="f_w_index")  # beats since tlast/reset
        with m.If(w_valid):
            m.d.sync += k.eq(Mux(w_last | (k == cfg.depth * cfg.pes - 1), 0, k + 1))
            for a in range(cfg.depth):
                for p in range(cfg.pes):
                    with m.If(k == a * cfg.pes + p):
                        m.d.sync += regs[a][p].eq(w_data[: cfg.word_bits])
        self._assert(m, "w_ready", dut.w_axis_tready)
        return regs

    def build(self, m, platform):
        layer = self.layer
        cfg = layer.config
        eng = cfg.engine
        L = self.latency
        bits = self._bits
        dut = self._make_dut(layer=layer, weight_port=self.weight_port)
        frag = Fragment.get(dut, platform)
        m.submodules.dut = frag
        self.lines = {}
        self.hints_used = []

        io = free_axis(m, dut, self.domain)
        rst, s_data, s_last, m_ready, take = io.rst, io.s_data, io.s_last, io.m_ready, io.take
        s_ready = dut.s_axis_tready
        now = cycle_counter(m, bits)

        # -- weight program and products -------------------------------------------------------
        regs = self._memory(m, rst, dut)
        beat = Signal(range(cfg.depth), name="f_beat_index")  # j mod depth
        if cfg.depth > 1:
            with m.If(take):
                m.d.sync += beat.eq(Mux(beat == cfg.depth - 1, 0, beat + 1))
        wtab = value_table(weight_tables(eng)[0])
        atab = value_table(act_table(eng)) if eng.act_is_log else None
        fields, ys, zs = [], [], []
        dot = Signal(range(cfg.dots), name="f_dot_index")  # i mod dots
        for p in range(cfg.pes):
            word = Signal(cfg.word_bits, name=f"f_word{p}")
            m.d.comb += word.eq(Array(regs[a][p] for a in range(cfg.depth))[beat])
            total = 0
            for k in range(eng.lanes):
                araw = s_data[k * eng.act_bits : (k + 1) * eng.act_bits]
                aval = act_value(eng, araw, atab)
                wraw = word[k * eng.weight_bits : (k + 1) * eng.weight_bits]
                total = total + aval * wtab[wraw]
            _, nxt = reference_accumulator(
                m, f"f_acc{p}", total, take, s_last, acc_bits=eng.acc_bits,
                saturating=eng.saturating,
            )  # fmt: skip
            bias = Array(int(b[p]) for b in layer.bias.tolist())[dot]
            z = Signal(signed(cfg.z_bits + 2), name=f"f_z{p}")
            m.d.comb += z.eq(nxt + bias)
            zr = Signal(signed(cfg.z_bits), name=f"f_zr{p}")
            m.d.comb += zr.eq(Mux(z < 0, 0, z) if cfg.relu else z)
            fields.append(requant_reference(m, p, cfg.requant, zr))
            ys.append(nxt)
            zs.append(zr)
        expected = Signal(cfg.out_bits, name="f_expected")
        m.d.comb += expected.eq(Cat(*fields))
        expected_last = Signal(name="f_expected_last")
        m.d.comb += expected_last.eq(dot == cfg.dots - 1)
        push = Signal(name="f_push")
        m.d.comb += push.eq(take & s_last)
        if cfg.dots > 1:
            with m.If(push):
                m.d.sync += dot.eq(Mux(dot == cfg.dots - 1, 0, dot + 1))

        if "lemma_zq" in self._check:
            self._lemmas(m, frag, s_ready, push, ys, zs)

        # -- the tracked dot product and the stream properties ----------------------------------
        check_results(
            self, m, io, latency=L, bits=bits, push=push, now=now, bp=~m_ready,
            fields=[("val", expected, dut.m_axis_tdata), ("last", expected_last, dut.m_axis_tlast)],
        )  # fmt: skip

    def _lemmas(self, m, frag, en, push, ys, zs):
        cfg = self.layer.config
        eng_frag = find_fragment(frag, ("engine",))
        if eng_frag is None:
            raise LookupError("formal hints: no submodule engine in the layer top")
        sigs = fragment_signals(eng_frag)
        pe_stage = 1 + pe_latency(cfg.engine)
        v, vals = push, [*ys, *zs]
        stages = []
        for k in range(pe_stage + 1):
            nv = Signal(name=f"f_sh_valid{k}")
            nvals = [
                Signal.like(x, name=f"f_sh{k}_{j}", reset_less=True) for j, x in enumerate(vals)
            ]
            with m.If(en):
                m.d.sync += [nv.eq(v), *(a.eq(b) for a, b in zip(nvals, vals, strict=True))]
            v, vals = nv, nvals
            stages.append((v, vals))
        pv, pvals = stages[pe_stage - 1]
        ok = 1
        for p in range(cfg.pes):
            pe = find_fragment(eng_frag, (f"pe{p}",)).origins[0]
            ok = ok & (pe.o_valid == pv) & (~pv | (pe.result == pvals[p]))
        self._assert(m, "lemma_pe_result", ok)
        zv, zvals = stages[pe_stage]
        ok = sigs["out_valid"] == zv
        for p in range(cfg.pes):
            ok = ok & (~zv | (sigs[f"pe{p}_zq"] == zvals[cfg.pes + p]))
        self._assert(m, "lemma_zq", ok)
        self.hints_used += ["lemma_pe_result", "lemma_zq"]
