"""Constant-weight engine: the weights compiled to wiring, only an adder tree is left.

With the weights fixed (:class:`logdot.golden.const.ConstWeights`), each lane's product is a
fixed shift with a fixed sign, so the lanes are wires and a zero weight removes its lane.
What remains is a sum sized exactly for the constant values, followed by the run-time
engine's accumulator (:class:`~logdot.hdl.accumulator.Accumulator`) and output buffer
(:class:`~logdot.hdl.skid.SkidBuffer`), so the results, the handshake and the throughput are
those of :class:`~logdot.hdl.engine.LogDotEngine`.

Per accumulator parity the sum is planned twice and the cheaper by an estimated iCE40 cost
within the allowed depth is built (:func:`const_tree_plans`): an adder tree of exact-width
nodes (:func:`~logdot.hdl.const_tree.plan_tree`) or a bit heap of LUT full adders and one
carry chain (:func:`~logdot.hdl.bitheap.plan_heap`). Combinational and wrapping, the
accumulator's state is one more row of the heap (one carry chain per beat). Pipelined
every level (``register_every`` 1), base 2 and wrapping, a heap's carry-propagate adder is
cut into chunks of at most about :data:`_CHUNK_BITS` columns, one level apart, into a
:class:`~logdot.hdl.const_acc.ChunkedAccumulator` cut at the same columns (no carry chain
longer than a chunk and its carry out). Otherwise pipelined, the accumulator is split
so that its carry chain is at most ``_ACC_SPLIT_BITS + 1`` long.
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.const import ConstWeights
from ..golden.formats import check_int, signed_width
from .accumulator import Accumulator, accumulator_fusable, accumulator_latency
from .bitheap import HeapPlan, build_heap, plan_heap
from .const_acc import ChunkedAccumulator
from .const_out import OutputRegister
from .const_tree import TreeNode, TreePlan, combine_nodes, plan_tree
from .params import read_only
from .pe_parts import connect_accumulator, delay_valid_last, pe_signature
from .skid import SkidBuffer
from .top import LogDotTop

__all__ = [
    "ConstDotEngine",
    "ConstDotTop",
    "ConstProcessingElement",
    "TreeNode",
    "TreePlan",
    "const_engine_latency",
    "const_input_layout",
    "const_pe_latency",
    "const_tree_plans",
    "plan_tree",
]

#: Pipelined: the low part of the split accumulator is at most this many bits (its carry
#: chain, one longer, limited fmax on iCE40 with the 16-bit beat of a 16-lane vector).
_ACC_SPLIT_BITS = 14
#: Chunked (pipelined every level, base 2, wrapping): the accumulator's chunks are about this
#: many columns (wider, up to twice, where the levels are bounded: a layer's padded depth).
_CHUNK_BITS = 6


def _least_depth(const):
    """The fewest adder levels any tree of ``const`` needs: ``ceil(log2(terms))``."""
    return max((max(len(const.terms(p)), 1) - 1).bit_length() for p in const.parities)


def _max_depth(const, depth):
    return _least_depth(const) + 1 if depth is None else depth


def _chunk_cuts(cfg, width, bits):
    """The accumulator's cuts into chunks of about ``bits`` columns for a ``width``-bit beat
    sum when ``cfg`` is chunked (pipelined every level, base 2, wrapping), else ``()``.

    The top chunk starts at ``top = min(acc_bits - bits, width - 1)`` (it holds the beat's
    sign extension, so it is longer when ``acc_bits`` exceeds ``width`` by more); the
    columns below are cut into ``ceil(top / bits)`` near-equal chunks."""
    if cfg.register_every != 1 or cfg.weight_base != 2 or cfg.saturating:
        return ()
    top = min(cfg.acc_bits - bits, width - 1)
    if top < 1:
        return ()
    k = -(-top // bits)
    return (*(j * top // k for j in range(1, k)), top)


def _split_cost(cfg, beat_bits):
    """Estimated cells of resolving the split accumulator's pending carry (pipelined)."""
    lw = min(beat_bits, _ACC_SPLIT_BITS)
    if not cfg.register_every or cfg.saturating or cfg.acc_bits <= lw + 1:
        return 0
    return 2 * (cfg.acc_bits - lw) - 1


def _plan_parity(const, parity, max_depth, chunk_levels):
    """The cheaper of the adder tree (:func:`plan_tree`) and the bit heap
    (:func:`~logdot.hdl.bitheap.plan_heap`) within ``max_depth`` levels (a chunked heap
    within ``max_depth + chunk_levels * cuts``: its chunks are one level each)."""
    cfg = const.config
    terms = const.terms(parity)
    plans = []
    if max_depth >= (max(len(terms), 1) - 1).bit_length():
        plans.append(plan_tree(terms, cfg.act_range, max_depth=max_depth))
    # Combinational and wrapping: the accumulator's state is one more row of the heap (one
    # carry chain per beat instead of two); the tree's cost then counts the adder it saves.
    fuse = accumulator_fusable(cfg)
    acc_cost = 2 * cfg.acc_bits - 1 if fuse else 0
    if terms:
        heap = plan_heap(
            terms, act_bits=cfg.act_bits, act_signed=cfg.act_signed,
            width=cfg.acc_bits if fuse else None, rows=int(fuse),
        )  # fmt: skip
        if heap.depth <= max_depth:
            plans.append(heap)
        # The chunked heap: chunks of _CHUNK_BITS columns, or wider until it fits.
        for bits in range(_CHUNK_BITS, 2 * _CHUNK_BITS + 1):
            cuts = _chunk_cuts(cfg, heap.width, bits) if len(const.parities) == 1 else ()
            if not cuts:
                break
            chunked = plan_heap(terms, act_bits=cfg.act_bits, act_signed=cfg.act_signed,
                                cuts=cuts)  # fmt: skip
            if chunked.depth <= max_depth + chunk_levels * len(chunked.cuts):
                plans.append(chunked)
                break
    if not plans:
        raise ValueError(f"no tree of parity {parity} fits in {max_depth} levels")

    def cost(plan):
        if plan.strategy == "heap":
            extra = 0 if plan.cuts or fuse else _split_cost(cfg, plan.width)
        else:
            extra = acc_cost + _split_cost(cfg, plan.root.bits if plan.root else 1)
        return (plan.cost + extra, plan.depth)

    return min(plans, key=cost)


def const_tree_plans(const, depth=None):
    """``(plans, depth)``: the plan of every parity of ``const`` (a :class:`TreePlan` or a
    :class:`~logdot.hdl.bitheap.HeapPlan`, the cheaper by the iCE40 estimate) and the common
    depth they are padded to (``depth``, or the deepest plan's).

    Without ``depth`` the plans may be ``ceil(log2(terms)) + 1`` levels deep, a chunked heap
    one more per cut; with ``depth`` every plan fits in it."""
    max_depth = _max_depth(const, depth)
    plans = [_plan_parity(const, p, max_depth, int(depth is None)) for p in const.parities]
    common = max(p.depth for p in plans) if depth is None else depth
    return plans, common


def const_pe_latency(const, depth=None):
    """:attr:`ConstProcessingElement.latency` (``k = register_every``)::

    int(register_terms)          # activation registers (the used lanes only)
    + depth // k                 # tree registers (0 when k == 0)
    + accumulator_latency(config)

    where ``depth`` is the tree depth (given, or the planned one; a chunked heap counts
    one level per chunk) and the chunked accumulator takes one cycle too.
    """
    cfg = const.config
    _, d = const_tree_plans(const, depth)
    k = cfg.register_every
    return int(cfg.register_terms) + (d // k if k else 0) + accumulator_latency(cfg)


def const_engine_latency(const):
    """Latency of :class:`ConstDotEngine`: :func:`const_pe_latency` + 1 (output buffer)."""
    return const_pe_latency(const) + 1


def _check_const(const):
    if not isinstance(const, ConstWeights):
        raise TypeError(f"const must be a ConstWeights, not {const!r}")
    return const


class ConstProcessingElement(wiring.Component):
    """One constant-weight dot product: activations in, wired shifts, exact adder trees or
    bit heaps, the accumulator.

    Like :class:`~logdot.hdl.pe.ProcessingElement` without the weight inputs. The used lanes'
    activations are registered when ``config.register_terms``; one sum per parity (the plan
    of :func:`const_tree_plans`: an adder tree or a bit heap) is registered every
    ``register_every`` levels and padded with registers to ``depth`` levels; the beat sum
    (negated by ``~x`` and a carry-in when a whole tree is negative) goes into an
    :class:`~logdot.hdl.accumulator.Accumulator`, or, for a heap with the accumulator's row,
    is the accumulator's next state (``fused``).

    Latency: :attr:`latency` (:func:`const_pe_latency`), counting cycles with ``en`` high.
    Throughput: one beat per cycle.

    Parameters
    ----------
    const : logdot.golden.const.ConstWeights
        The configuration and its weights (keyword-only).
    depth : int or None
        Adder levels of the trees (at least the planned depth): a layer engine pads every PE
        to the same latency. Default: the planned depth.

    Members
    -------
    en : In(1)
        Pipeline advance.
    valid, last : In(1)
        A beat is present; it is the last of its dot product.
    act : In(config.act_bits).array(config.lanes)
        Raw activation fields (zero-weight lanes are ignored).
    o_valid : Out(1)
        ``result`` holds a finished dot product.
    result : Out(signed(config.result_bits))
        The dot product.
    """

    def __init__(self, *, const, depth=None):
        self._const = _check_const(const)
        if depth is not None:
            check_int(depth, "depth", _least_depth(const))
        self._plans, self._depth = const_tree_plans(const, depth)
        super().__init__(pe_signature(const.config, weights=False))

    const = read_only("const", "The :class:`~logdot.golden.const.ConstWeights`.")
    depth = read_only("depth", "Adder levels of the trees (padded).")
    plans = read_only("plans", "The :class:`TreePlan` of each parity (a list).")

    @property
    def latency(self):
        """Cycles from a beat with ``last`` to ``o_valid``; see :func:`const_pe_latency`."""
        return const_pe_latency(self._const, self._depth)

    def _beat(self, m, p, plan, acts, rows=()):
        """Build the tree of parity ``p``; return ``(sum, carry, (lo, hi))`` for the accumulator."""
        cfg = self._const.config
        k = cfg.register_every
        if isinstance(plan, HeapPlan):
            value = build_heap(
                m, plan, acts, name=f"p{p}", en=self.en, register_every=k,
                depth=self._depth, rows=rows,
            )  # fmt: skip
            return value, Const(0, 1), (plan.lo, plan.hi)
        if plan.root is None:
            return Const(0, signed(1)), Const(0, 1), (0, 0)
        cur = [acts[leaf.lanes[0]] for leaf in plan.leaves]
        for level in range(1, self._depth + 1):
            reg = bool(k) and level % k == 0
            if level <= plan.depth:
                ops, metas = plan.levels[level - 1], plan.nodes[level]
                prev = plan.nodes[level - 1]
            else:
                ops, metas, prev = ((0,),), plan.nodes[-1], plan.nodes[-1]
            nxt = []
            for j, (op, meta) in enumerate(zip(ops, metas, strict=True)):
                name = f"p{p}_l{level}_{j}"
                if len(op) == 1:
                    value = cur[op[0]]
                else:
                    value = self._adder(m, name, [cur[i] for i in op], [prev[i] for i in op])
                if reg:
                    r = Signal(signed(meta.bits), name=f"{name}_q", reset_less=True)
                    with m.If(self.en):
                        m.d.sync += r.eq(value)
                    value = r
                nxt.append(value)
            cur = nxt
        root, value = plan.root, cur[0]
        s = root.shift
        if root.negative:  # -(v << s) = ~(v << s) + 1: the accumulator's carry-in adds the 1
            rng = (-(root.hi << s) - 1, -(root.lo << s) - 1)
            beat = Signal(signed(signed_width(*rng)), name=f"beat{p}")
            m.d.comb += beat.eq(~(value << s))
            return beat, Const(1, 1), rng
        rng = (root.lo << s, root.hi << s)
        beat = Signal(signed(signed_width(*rng)), name=f"beat{p}")
        m.d.comb += beat.eq(value << s)
        return beat, Const(0, 1), rng

    def _adder(self, m, name, values, metas):
        """One tree adder (exact widths, the lower node's low bits as wires)."""
        node, (kind, li, ui, d, adder_bits, _) = combine_nodes(*metas)
        lower, upper = values[li], values[ui]
        out = Signal(signed(node.bits), name=name)
        if kind == "sub_lo":
            s = Signal(signed(adder_bits), name=f"{name}_sum", attrs={"keep": 1})
            m.d.comb += [s.eq((upper << d) - lower), out.eq(s)]
            return out
        # keep: no merging of tree levels into one $macc (see logdot.hdl.tree.AdderTree).
        s = Signal(signed(adder_bits), name=f"{name}_sum", attrs={"keep": 1})
        high = lower >> d if d else lower
        m.d.comb += s.eq(high + upper if kind == "add" else high - upper)
        # The d low bits pass through: lower's own bits, sign-extended when d is wider.
        low = lower[:d] if d <= len(lower) else Cat(lower, lower[-1].replicate(d - len(lower)))
        m.d.comb += out.eq(Cat(low, s) if d else s)
        return out

    def elaborate(self, platform):
        const = self._const
        cfg = const.config
        m = Module()
        en = self.en
        used = sorted({t.lane for t in const.terms()})
        acts = {}
        for i in used:
            a = self.act[i].as_signed() if cfg.act_signed else self.act[i].as_unsigned()
            if cfg.register_terms:
                r = Signal(a.shape(), name=f"act{i}", reset_less=True)
                with m.If(en):
                    m.d.sync += r.eq(a)
                a = r
            v = Signal(signed(signed_width(*cfg.act_range)), name=f"act{i}_value")
            m.d.comb += v.eq(a)
            acts[i] = v
        first = self._plans[0]
        if isinstance(first, HeapPlan) and first.cuts:
            self._chunked(m, self._beat(m, 0, first, acts)[0])
            return m
        fused = isinstance(first, HeapPlan) and first.rows == 1
        if fused:  # the state is a row of the heap, whose sum is the next state
            acc = Accumulator(config=cfg, sum_bits=[cfg.acc_bits], fused=True)
            beats = [self._beat(m, 0, self._plans[0], acts, rows=[acc.state0])]
        else:
            beats = [
                self._beat(m, p, plan, acts)
                for p, plan in zip(const.parities, self._plans, strict=True)
            ]
            acc = Accumulator(
                config=cfg, sum_bits=[len(b[0]) for b in beats], split_bits=_ACC_SPLIT_BITS
            )
        m.submodules.acc = acc
        for (value, carry, _), (beat, beat_carry) in zip(beats, acc.beats, strict=True):
            m.d.comb += [beat.eq(value), beat_carry.eq(carry)]

        k = cfg.register_every
        stages = int(cfg.register_terms) + (self._depth // k if k else 0)
        assert stages + acc.latency == self.latency
        names = [f"stage{j}" for j in range(stages)]
        valid, last = delay_valid_last(m, en, self.valid, self.last, names)
        connect_accumulator(m, self, acc, valid, last)
        return m

    def _chunked(self, m, chunks):
        """The chunked heap's ``chunks`` into a :class:`ChunkedAccumulator`, each with the
        ``valid``/``last`` of its level (chunk ``j`` of ``n`` is ``n - 1 - j`` levels ahead
        of the top one, which the accumulator finishes in the last cycle)."""
        cfg = self._const.config
        acc = ChunkedAccumulator(
            config=cfg, cuts=self._plans[0].cuts, sum_bits=[len(c) for c in chunks]
        )
        m.submodules.acc = acc
        stages = int(cfg.register_terms) + self._depth
        assert stages + acc.latency == self.latency
        names = [f"stage{j}" for j in range(stages)]
        valid, last, done = self.valid, self.last, 0
        n = len(chunks)
        for j, ((c_valid, c_last, c_sum), value) in enumerate(zip(acc.chunks, chunks,
                                                                   strict=True)):  # fmt: skip
            upto = stages - (n - 1 - j)
            valid, last = delay_valid_last(m, self.en, valid, last, names[done:upto])
            done = upto
            m.d.comb += [c_valid.eq(valid), c_last.eq(last), c_sum.eq(value)]
        m.d.comb += [acc.en.eq(self.en), self.o_valid.eq(acc.o_valid),
                     self.result.eq(acc.result)]  # fmt: skip


def const_input_layout(const):
    """Payload layout of the constant engine's input stream: ``data`` (``N * A`` bits), ``last``."""
    return data.StructLayout({"data": const.in_bits, "last": 1})


class ConstDotEngine(wiring.Component):
    """Constant-weight dot-product engine with stream interfaces.

    One input beat carries the ``lanes`` activations only (lane ``i`` at ``[i*A +: A]``);
    a :class:`ConstProcessingElement` computes the dot product and a
    :class:`~logdot.hdl.skid.SkidBuffer` (combinational, ``register_every`` 0) or an
    :class:`~logdot.hdl.const_out.OutputRegister` (pipelined) drives the output.
    Handshake, ``last`` grouping, results and throughput (II = 1) are those of
    :class:`~logdot.hdl.engine.LogDotEngine` with the same weights on every beat;
    ``i.ready`` is a flip-flop (or its inverse).

    Latency: :attr:`latency` (:func:`const_engine_latency`).

    Parameters
    ----------
    const : logdot.golden.const.ConstWeights
        The configuration and its weights (keyword-only).

    Members
    -------
    i : In(stream.Signature(const_input_layout(const)))
        Input beats.
    o : Out(stream.Signature(signed(config.result_bits)))
        Results, one per dot product.
    """

    def __init__(self, *, const):
        self._const = _check_const(const)
        super().__init__(
            {
                "i": In(stream.Signature(const_input_layout(const))),
                "o": Out(stream.Signature(signed(const.config.result_bits))),
            }
        )

    const = read_only("const", "The :class:`~logdot.golden.const.ConstWeights`.")

    @property
    def config(self):
        """The engine configuration (``const.config``)."""
        return self._const.config

    @property
    def latency(self):
        """Cycles from a dot product's last beat to its result; :func:`const_engine_latency`."""
        return const_engine_latency(self._const)

    def elaborate(self, platform):
        const = self._const
        cfg = const.config
        m = Module()
        pe = ConstProcessingElement(const=const)
        # Pipelined, the PE's result is a register: an output register with a skid register
        # (one LUT to every enable); combinational, the two-entry buffer whose inputs are
        # only clock-enabled (no multiplexer after the adders).
        buffer = OutputRegister if cfg.register_every else SkidBuffer
        skid = buffer(shape=signed(cfg.result_bits))
        m.submodules.pe = pe
        m.submodules.outbuf = skid
        assert pe.latency + skid.latency == self.latency
        en = Signal(name="en")
        m.d.comb += [en.eq(skid.i.ready), self.i.ready.eq(en)]
        beat = self.i.payload.data
        m.d.comb += [pe.en.eq(en), pe.valid.eq(self.i.valid), pe.last.eq(self.i.payload.last)]
        for i in range(cfg.lanes):
            m.d.comb += pe.act[i].eq(beat[const.act_lsb(i) : const.act_lsb(i) + cfg.act_bits])
        m.d.comb += [skid.i.valid.eq(pe.o_valid), skid.i.payload.eq(pe.result)]
        wiring.connect(m, skid.o, wiring.flipped(self.o))
        return m


class ConstDotTop(LogDotTop):
    """The constant-weight engine with the AXI4-Stream names of
    :class:`~logdot.hdl.top.LogDotTop` (same ports; ``s_axis_tdata`` carries only the
    activations, ``8 * const.in_bytes`` bits).

    Latency and throughput: those of :class:`ConstDotEngine`.

    Parameters
    ----------
    config : logdot.golden.const.ConstWeights
        The configuration and its weights (keyword-only; the name of the top's parameter).

    Members
    -------
    (as :class:`~logdot.hdl.top.LogDotTop`)
        ``s_axis_tdata`` is ``8 * config.in_bytes`` bits: activation lane ``i`` at
        ``[i*A +: A]``.
    """

    _config_type = ConstWeights

    @property
    def latency(self):
        """Cycles from the last input beat's transfer to ``m_axis_tvalid``."""
        return const_engine_latency(self._config)

    def _make_engine(self):
        return ConstDotEngine(const=self._config)
