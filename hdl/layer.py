"""The layer engine: ``pes`` dot-product engines sharing each activation beat, weights in
on-chip memory, and a per-channel output stage (bias, ReLU, requantization).

Built from the dot-product engine's blocks (one
:class:`~logdot.hdl.pe.ProcessingElement` per output channel, the
:class:`~logdot.hdl.skid.SkidBuffer`) and the requantizers of :mod:`logdot.hdl.requant`. The integer
model is :class:`logdot.golden.layer.Layer`; ``docs/layer.md`` is the prose contract.

Datapath (one pipeline, one clock enable ``en`` = the skid buffer's registered ready)::

    s_axis (N activations) --+--> act register ----------------+
                             |                                 v
    beat counter j mod D ----+--> weight memory PE p (sync) -> N lanes -> tree(s) -> acc
                                  (one word of N weights)                           |
    dot counter i mod T -------> bias ROM [i][p] ------------> + bias, ReLU -> register
                                                                                   |
                                                       requantizer (log / linear) <+
                                                                  |
                  P fields, tlast (dot counter = dots - 1) ---> skid buffer ---> m_axis
"""

from __future__ import annotations

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden.const import ConstWeights
from ..golden.formats import unsigned_width
from ..golden.layer import Layer
from .const import ConstProcessingElement
from .linear import LinearConfig, LinearLane
from .params import check_bool
from .pe import make_pe, pe_latency
from .requant import make_requantizer
from .skid import SkidBuffer
from .top import PORTS, axis_drive, axis_members, axis_take

__all__ = [
    "LAYER_PORTS",
    "RAM_STYLES",
    "LogLayerEngine",
    "LogLayerTop",
    "check_const_weights_layer",
    "check_ram_style",
    "layer_latency",
]

#: Ports of the AXI4-Stream top module, in contract order (the ``w_axis_*`` ports exist only
#: with ``weight_port=True``).
LAYER_PORTS = (
    *PORTS,
    "w_axis_tvalid",
    "w_axis_tready",
    "w_axis_tlast",
    "w_axis_tdata",
)


def layer_latency(config):
    """Latency of a layer engine for :class:`logdot.golden.layer.LayerConfig` ``config``.

    Cycles from the transfer of a dot product's last beat to ``m_axis_tvalid`` of its
    output beat (no back-pressure)::

        1                                   # weight memory read (activation register)
        + (cycles_per_beat - 1)             # accumulate="log": the PEs read the beat's
                                            #   lanes one per cycle (cycles_per_beat =
                                            #   lanes; 1 with exact accumulation)
        + pe_latency(config.engine)         # the processing element (logdot.hdl.pe):
                                            #   term registers + adder-tree registers
                                            #   + accumulator latency
        + 1                                 # bias + ReLU register
        + 1                                 # output register (skid buffer)
    """
    return config.engine.cycles_per_beat + pe_latency(config.engine) + 1 + 1


def _check_layer(layer):
    if not isinstance(layer, Layer):
        raise TypeError(f"layer must be a logdot.golden.layer.Layer, not {layer!r}")
    return layer


#: Values of the ``ram_style`` attribute the weight memories may carry (Yosys honours it).
RAM_STYLES = ("block", "distributed", "logic")


def check_ram_style(value):
    """Validate a ``ram_style`` value (``None`` or one of :data:`RAM_STYLES`); return it."""
    if value is not None and value not in RAM_STYLES:
        raise ValueError(
            f"ram_style must be None or one of {', '.join(map(repr, RAM_STYLES))}, not {value!r}"
        )
    return value


def check_const_weights_layer(config, *, weight_port=False):
    """Refuse a layer whose weights cannot be compiled to wiring; return ``config``.

    Constant weights need one weight word per PE (``depth == 1``: every output channel's
    dot product fits one beat and no output-channel tiling), no weight port and linear
    activations (:class:`logdot.golden.const.ConstWeights`).
    """
    if config.depth != 1:
        raise ValueError(
            f"const_weights needs one weight word per PE (depth 1: the dot product in one beat, "
            f"all output channels in parallel), not depth {config.depth}"
        )
    if weight_port:
        raise ValueError("const_weights and weight_port exclude each other (no memory to load)")
    if config.engine.act_format != "linear":
        raise ValueError(
            f"const_weights needs linear activations, not act_format {config.engine.act_format!r}"
        )
    return config


def _output_layout(cfg):
    """Payload layout of the layer engine's output stream: ``data`` (P fields) and ``last``."""
    return data.StructLayout({"data": cfg.out_bits, "last": 1})


def _counter(m, name, modulus, advance):
    """A register counting ``advance`` pulses modulo ``modulus`` (reset to 0)."""
    width = unsigned_width(max(modulus - 1, 0))
    cnt = Signal(width, name=name)
    if modulus > 1:
        with m.If(advance):
            m.d.sync += cnt.eq(Mux(cnt == modulus - 1, 0, cnt + 1))
    return cnt


class _LayerComponent(wiring.Component):
    """Parameters and read-only properties shared by :class:`LogLayerEngine` and
    :class:`LogLayerTop`; a subclass gives its members by :meth:`_members`."""

    def __init__(self, *, layer, weight_port=False, ram_style=None, const_weights=False):
        self._layer = _check_layer(layer)
        self._weight_port = check_bool(weight_port, "weight_port")
        self._ram_style = check_ram_style(ram_style)
        self._const_weights = check_bool(const_weights, "const_weights")
        if const_weights:
            check_const_weights_layer(layer.config, weight_port=weight_port)
        super().__init__(self._members(layer.config))

    def _members(self, cfg):
        raise NotImplementedError

    @property
    def layer(self):
        """The :class:`logdot.golden.layer.Layer` (configuration and initial memory contents)."""
        return self._layer

    @property
    def config(self):
        """The :class:`logdot.golden.layer.LayerConfig`."""
        return self._layer.config

    @property
    def pes(self):
        """Processing elements (output channels per output beat), ``P``."""
        return self._layer.config.pes

    @property
    def lanes(self):
        """Activations per input beat, ``N``."""
        return self._layer.config.lanes

    @property
    def weight_port(self):
        """Whether the weight-load stream exists."""
        return self._weight_port

    @property
    def const_weights(self):
        """Whether the weights are compiled to wiring (:mod:`logdot.hdl.const`)."""
        return self._const_weights

    @property
    def ram_style(self):
        """``ram_style`` attribute of the weight memories (``None``: the tool chooses)."""
        return self._ram_style

    @property
    def latency(self):
        """Cycles from a dot product's last beat transfer to its output beat's valid (no
        back-pressure); see :func:`layer_latency`."""
        return layer_latency(self._layer.config)


class LogLayerEngine(_LayerComponent):
    """``pes`` parallel output channels of a layer, weights on chip, requantized outputs.

    Every input beat carries ``lanes`` activations; the ``P = pes`` processing elements
    (PEs) each multiply it with their own weight word (``lanes`` weight codes) read from
    their weight memory, add the beats of a dot product (``last`` ends it), then add their
    bias, apply the ReLU (optional) and requantize. One output beat per dot product carries
    the ``P`` outputs; its ``last`` is high on output ``i`` with ``i mod dots == dots - 1``
    (the beat that uses the last bias entry: one packet per output position when the
    output channels are tiled, see :func:`logdot.golden.layer.output_tlast`).

    Program counters (reset to 0 by ``rst``; the memories keep their contents): input beat
    ``j`` reads weight word ``j mod depth`` of every PE (in the cycle of its transfer);
    output ``i`` adds bias entry ``i mod dots`` of its PE. See :class:`logdot.golden.layer.Layer`.

    With a :class:`~logdot.golden.linear_engine.LinearConfig` engine (a layer spec with
    ``weight_format="linear"``) every lane is a :class:`~logdot.hdl.linear.LinearLane`: the
    multiplier baseline, two's-complement weights multiplied with the activations in logic;
    everything else (memories, trees, accumulators, output stage) is the same.

    Handshake as the dot-product engine: AXI4-Stream rules, ``i.ready`` is a flip-flop (the
    skid buffer's), II = 1 without back-pressure; back-pressure never drops, duplicates or
    reorders an output.

    Latency: :func:`layer_latency` (:attr:`latency`). Throughput: one input beat per cycle.

    Parameters
    ----------
    layer : logdot.golden.layer.Layer
        Configuration and memory contents (weights, bias); the requantizer constants come
        from ``layer.config.requant``.
    weight_port : bool
        Add the weight-load stream ``w``: one beat per weight word, in the order address 0
        PE 0, address 0 PE 1, ..., address ``depth - 1`` PE ``P - 1``; ``last`` (or ``rst``)
        rewinds the write pointer to address 0, PE 0. Always ready. A word written in the
        same cycle as a beat that reads its address is not seen by that beat.
    ram_style : {None, "block", "distributed", "logic"}
        ``ram_style`` attribute of the weight memories (``None``: the synthesis tool
        chooses; Yosys maps large memories to block RAM and small ones to logic).
    const_weights : bool
        Compile the weights to wiring: every PE is a
        :class:`~logdot.hdl.const.ConstProcessingElement` of its weight word (no memory; needs
        :func:`check_const_weights_layer`). Results and latency are unchanged.

    Members
    -------
    i : In(stream.Signature(StructLayout({"data": lanes * act_bits, "last": 1})))
        Activation beats (lane ``k`` at bits ``[k * act_bits +: act_bits]``).
    o : Out(stream.Signature(StructLayout({"data": pes * out_bits, "last": 1})))
        Output beats: ``data`` (PE ``p`` at bits ``[p * out_bits +: out_bits]``) and ``last``
        (see above).
    w : In(stream.Signature(StructLayout({"data": lanes * weight_bits, "last": 1})))
        Only with ``weight_port``: weight words (lane ``k`` at ``[k * W +: W]``).
    """

    def _members(self, cfg):
        members = {
            "i": In(stream.Signature(data.StructLayout({"data": cfg.in_bits, "last": 1}))),
            "o": Out(stream.Signature(_output_layout(cfg))),
        }
        if self._weight_port:
            members["w"] = In(
                stream.Signature(data.StructLayout({"data": cfg.word_bits, "last": 1}))
            )
        return members

    def elaborate(self, platform):
        cfg = self._layer.config
        eng = cfg.engine
        n, pes = eng.lanes, cfg.pes
        wb, ab = eng.weight_bits, eng.act_bits
        m = Module()

        skid = SkidBuffer(shape=unsigned(cfg.out_bits + 1))  # {last, data}
        m.submodules.outbuf = skid
        en = Signal(name="en")
        m.d.comb += en.eq(skid.i.ready)
        # Stage M advances on adv: always with en, except that it holds a beat a serial
        # (accumulate="log") PE has not taken yet (pes_ready: the PEs read its last lane).
        adv = Signal(name="adv")
        pes_ready = Signal(name="pes_ready")
        valid = Signal(name="mem_valid")
        m.d.comb += [adv.eq(en & (~valid | pes_ready)), self.i.ready.eq(adv)]
        take = Signal(name="take")
        m.d.comb += take.eq(self.i.valid & adv)

        # Stage M: activation register and synchronous weight-memory reads.
        acts = Signal(cfg.in_bits, name="acts", reset_less=True)
        last = Signal(name="mem_last", reset_less=True)
        with m.If(adv):
            m.d.sync += [
                acts.eq(self.i.payload.data),
                valid.eq(self.i.valid),
                last.eq(self.i.payload.last),
            ]
        waddr = _counter(m, "beat_count", cfg.depth, take)

        words = self._layer.weight_words()
        read_data = []
        if self._const_weights:
            pass  # the weights are wired into the PEs below
        elif cfg.depth == 1:
            # One word per PE: a constant (or a register the weight port writes), read
            # through a register like the memory's synchronous read port.
            write_ports = []
            for p in range(pes):
                rd = Signal(cfg.word_bits, name=f"weights{p}_data", reset_less=True)
                if self._weight_port:
                    word = Signal(
                        cfg.word_bits, name=f"weights{p}_word", init=words[0][p], reset_less=True
                    )
                    write_ports.append(word)
                    with m.If(adv):
                        m.d.sync += rd.eq(word)
                else:
                    m.d.comb += rd.eq(words[0][p])
                read_data.append(rd)
        else:
            mems = []
            for p in range(pes):
                attrs = {"ram_style": self._ram_style} if self._ram_style else None
                mem = Memory(
                    shape=unsigned(cfg.word_bits),
                    depth=cfg.depth,
                    init=[w[p] for w in words],
                    attrs=attrs,
                )
                m.submodules[f"weights{p}"] = mem
                mems.append(mem)
            write_ports = [mem.write_port() for mem in mems] if self._weight_port else []
            for mem in mems:
                rp = mem.read_port()
                m.d.comb += [rp.en.eq(adv), rp.addr.eq(waddr)]
                read_data.append(rp.data)
        if self._weight_port:
            self._weight_loader(m, cfg, write_ports)

        # The PEs: lanes -> (term registers) -> adder tree(s) -> accumulator.
        pe_list = []
        make_lane = None  # log lanes
        if isinstance(eng, LinearConfig):  # the multiplier baseline: products in LUTs

            def make_lane(index):
                return LinearLane(config=eng)

        for p in range(pes):
            if self._const_weights:
                # Weights as wiring; trees padded to the run-time tree's depth, so the latency
                # is layer_latency(cfg) either way.
                const = ConstWeights(eng, cfg.unpack_weight_word(words[0][p]))
                pe = ConstProcessingElement(const=const, depth=(n - 1).bit_length())
            else:
                pe = make_pe(eng, make_lane=make_lane)
            assert pe.latency == pe_latency(eng)
            m.submodules[f"pe{p}"] = pe
            pe_list.append(pe)
            m.d.comb += [pe.en.eq(en), pe.valid.eq(valid), pe.last.eq(last)]
            for i in range(n):
                m.d.comb += pe.act[i].eq(acts[cfg.act_lsb(i) : cfg.act_lsb(i) + ab])
                if not self._const_weights:
                    word = read_data[p]
                    m.d.comb += pe.weight[i].eq(word[cfg.weight_lsb(i) : cfg.weight_lsb(i) + wb])
        result_valid = pe_list[0].o_valid
        # The PEs share every beat and advance together: PE 0's ready is all PEs' ready.
        m.d.comb += pes_ready.eq(pe_list[0].ready if eng.accumulate == "log" else 1)

        # Output stage: bias (ROM indexed by the dot counter), ReLU, register, requantizer.
        dcount = _counter(m, "dot_count", cfg.dots, result_valid & en)
        bias_words = [self._bias_word(row) for row in self._layer.bias.tolist()]
        bias_data = Signal(pes * cfg.bias_bits, name="bias_data")
        if cfg.dots == 1:
            m.d.comb += bias_data.eq(bias_words[0])
        else:
            bias_mem = Memory(shape=unsigned(pes * cfg.bias_bits), depth=cfg.dots, init=bias_words)
            m.submodules.bias = bias_mem
            bias_rd = bias_mem.read_port(domain="comb")
            m.d.comb += [bias_rd.addr.eq(dcount), bias_data.eq(bias_rd.data)]
        zq_valid = Signal(name="out_valid")
        zq_last = Signal(name="out_last", reset_less=True)
        dot_is_last = Const(1) if cfg.dots == 1 else dcount == cfg.dots - 1
        with m.If(en):
            m.d.sync += [zq_valid.eq(result_valid), zq_last.eq(dot_is_last)]
        fields = []
        for p, pe in enumerate(pe_list):
            bias = Signal(signed(cfg.bias_bits), name=f"pe{p}_bias")
            m.d.comb += bias.eq(bias_data[p * cfg.bias_bits : (p + 1) * cfg.bias_bits])
            z = Signal(signed(cfg.z_bits), name=f"pe{p}_z")
            m.d.comb += z.eq(pe.result + bias)
            zq = Signal(signed(cfg.z_bits), name=f"pe{p}_zq", reset_less=True)
            with m.If(en):
                m.d.sync += zq.eq(Mux(z[-1], 0, z) if cfg.relu else z)
            rq = make_requantizer(cfg.requant)
            m.submodules[f"pe{p}_requant"] = rq
            m.d.comb += rq.z.eq(zq)
            fields.append(rq.out)
        packed = Signal(cfg.out_bits, name="packed")
        for p, f in enumerate(fields):
            m.d.comb += packed[cfg.out_lsb(p) : cfg.out_lsb(p) + cfg.out_field_bits].eq(f)
        m.d.comb += [
            skid.i.valid.eq(zq_valid),
            skid.i.payload.eq(Cat(packed, zq_last)),
            self.o.valid.eq(skid.o.valid),
            skid.o.ready.eq(self.o.ready),
            self.o.payload.data.eq(skid.o.payload[: cfg.out_bits]),
            self.o.payload.last.eq(skid.o.payload[cfg.out_bits]),
        ]
        return m

    def _bias_word(self, row):
        bb = self._layer.config.bias_bits
        word = 0
        for p, v in enumerate(row):
            word |= (v & ((1 << bb) - 1)) << (p * bb)
        return word

    def _weight_loader(self, m, cfg, write_ports):
        """The ``w`` stream writes word (address, PE) and advances PE first, then address."""
        pes = cfg.pes
        m.d.comb += self.w.ready.eq(1)
        wtake = Signal(name="wload_take")
        m.d.comb += wtake.eq(self.w.valid)
        pe = Signal(unsigned_width(max(pes - 1, 0)), name="wload_pe")
        addr = Signal(unsigned_width(max(cfg.depth - 1, 0)), name="wload_addr")
        for p, wp in enumerate(write_ports):
            if isinstance(wp, Signal):  # depth 1: a register
                with m.If(wtake & (pe == p)):
                    m.d.sync += wp.eq(self.w.payload.data)
                continue
            m.d.comb += [
                wp.addr.eq(addr),
                wp.data.eq(self.w.payload.data),
                wp.en.eq(wtake & (pe == p)),
            ]
        with m.If(wtake):
            with m.If(self.w.payload.last):
                m.d.sync += [pe.eq(0), addr.eq(0)]
            with m.Elif(pe == pes - 1):
                m.d.sync += pe.eq(0)
                if cfg.depth > 1:
                    m.d.sync += addr.eq(Mux(addr == cfg.depth - 1, 0, addr + 1))
            with m.Else():
                m.d.sync += pe.eq(pe + 1)


class LogLayerTop(_LayerComponent):
    """The layer engine with AXI4-Stream port names and whole-byte ``tdata``.

    Only wiring. ``s_axis_tdata`` (``8 * in_bytes`` bits; padding ignored): activation lane
    ``k`` at ``[k * A +: A]``. ``m_axis_tdata`` (``8 * out_bytes`` bits): the output field of
    PE ``p`` at ``[p * O +: O]`` (``O = requant.out_bits``: a log code, or a two's-complement
    / unsigned integer), zero padding above. With ``weight_port``: ``w_axis_tdata``
    (``8 * word_bytes`` bits): weight lane ``k`` at ``[k * W +: W]``; ``w_axis_tlast``.

    Parameters
    ----------
    layer : logdot.golden.layer.Layer
    weight_port : bool
    ram_style : {None, "block", "distributed", "logic"}
    const_weights : bool
        See :class:`LogLayerEngine` (all keyword-only).

    Members
    -------
    s_axis_tvalid, s_axis_tready, s_axis_tlast : In(1), Out(1), In(1)
        Activation stream handshake and end of a dot product.
    s_axis_tdata : In(8 * in_bytes)
        One activation beat.
    m_axis_tvalid, m_axis_tready : Out(1), In(1)
        Output stream handshake.
    m_axis_tlast : Out(1)
        High on output beat ``i`` (from reset) with ``i mod dots == dots - 1``.
    m_axis_tdata : Out(8 * out_bytes)
        One output beat (``P`` fields) per dot product.
    w_axis_tvalid, w_axis_tready, w_axis_tlast, w_axis_tdata : In(1), Out(1), In(1), \
In(8 * word_bytes)
        Only with ``weight_port``: the weight-load stream.
    """

    def _members(self, cfg):
        members = {
            **axis_members("s_axis", In, 8 * cfg.in_bytes),
            **axis_members("m_axis", Out, 8 * cfg.out_bytes),
        }
        if self._weight_port:
            members.update(axis_members("w_axis", In, 8 * cfg.word_bytes))
        return members

    @property
    def ports(self):
        """Port names in contract order."""
        return [p for p in LAYER_PORTS if self._weight_port or not p.startswith("w_axis")]

    def elaborate(self, platform):
        cfg = self._layer.config
        m = Module()
        m.submodules.engine = eng = LogLayerEngine(
            layer=self._layer,
            weight_port=self._weight_port,
            ram_style=self._ram_style,
            const_weights=self._const_weights,
        )
        m.d.comb += axis_take(self, "s_axis", eng.i, cfg.in_bits)
        # The output fields are unsigned: zero padding to whole bytes.
        m.d.comb += axis_drive(
            self, "m_axis", eng.o, data=eng.o.payload.data, last=eng.o.payload.last
        )
        if self._weight_port:
            m.d.comb += axis_take(self, "w_axis", eng.w, cfg.word_bits)
        return m
