"""The log dot-product engine: stream of beats in, stream of dot products out."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import EngineConfig
from .lane import make_lane
from .params import check_config, read_only_params
from .pe import make_pe, pe_latency
from .skid import SkidBuffer

__all__ = ["LogDotEngine", "engine_latency", "input_layout"]


def engine_latency(config):
    """Latency of the engine built for ``config`` (see :attr:`LogDotEngine.latency`).

    With ``k = register_every`` and ``// k`` read as 0 when ``k == 0``::

        int(register_terms)        # term registers after the shift stage
        + ceil(log2(lanes)) // k   # adder-tree registers
        + (1 if k else 0)          # registered final sum when pipelined
        + (0 if base 2 else 1 + combine_depth // k)  # sqrt(2): final sums + combine registers
        + 1                        # output buffer

    where ``combine_depth = ceil(log2(1 + number of CSD digits of sqrt2_r))``. With
    ``accumulate="log"``: ``register_terms + 2 + 1`` (see
    :func:`logdot.hdl.logacc.log_pe_latency`).
    """
    return pe_latency(config) + 1  # the processing element, then SkidBuffer.latency


def input_layout(config):
    """Payload layout of the engine's input stream: ``data`` (one beat) and ``last``.

    ``data`` has ``config.in_bits`` bits: activation lane ``i`` at ``config.act_lsb(i)``,
    weight lane ``i`` at ``config.weight_lsb(i)`` (the layout of ``s_axis_tdata``).
    """
    return data.StructLayout({"data": config.in_bits, "last": 1})


@read_only_params(*EngineConfig.parameter_names(), of="_config")
class LogDotEngine(wiring.Component):
    """Multiplier-free log dot-product engine (shift-and-add), with stream interfaces.

    One input beat carries ``lanes`` activations and ``lanes`` weights; a dot product is one
    or more beats, the last one flagged by ``last``. A
    :class:`~logdot.hdl.pe.ProcessingElement` computes the dot product: per lane a
    :class:`~logdot.hdl.lane.LogLane` forms the term by zero gate, bounded shift and folded
    sign; a balanced :class:`~logdot.hdl.tree.AdderTree` per accumulator parity sums the
    lanes; an :class:`~logdot.hdl.accumulator.Accumulator` sums the beats (wrap or saturate,
    sqrt(2) combine). A :class:`~logdot.hdl.skid.SkidBuffer` drives the output. With
    ``accumulate="log"`` a :class:`~logdot.hdl.logacc.LogSerialPE` takes its place: one term
    per cycle into log-domain accumulators, so a beat takes ``lanes`` cycles
    (:attr:`cycles_per_beat`) and ``i.ready`` is the skid buffer's ready AND the PE's "last
    lane" flag (both flip-flops); the latency is :func:`logdot.hdl.logacc.log_pe_latency`
    ``+ 1``.

    Handshake (AXI4-Stream rules): a transfer happens when ``valid & ready``; ``o.valid``
    never waits for ``o.ready``; ``o.payload`` holds while ``o.valid & ~o.ready``. The whole
    pipeline advances on one enable, ``i.ready``, which is a flip-flop of the skid buffer
    (no combinational path from ``o.ready`` to ``i.ready``). Without back-pressure the engine
    accepts one beat per cycle (II = 1); back-pressure never drops, duplicates or reorders a
    result.

    Latency (see :attr:`latency` and :func:`engine_latency`): ``register_terms + tree
    registers (ceil(log2(lanes)) // register_every) + (1 if register_every else 0) +
    (sqrt(2) only: 1 + combine registers) + 1`` cycles from the transfer of a dot product's
    last beat to ``o.valid`` of its result, without back-pressure. A burst of ``K``
    single-beat dot products without idles or back-pressure completes in ``K + latency``
    cycles.

    Parameters
    ----------
    All keyword-only, exactly those of :class:`logdot.golden.formats.EngineConfig` (which validates
    them and derives every width): ``lanes``, ``act_bits``, ``weight_bits``, ``act_format``,
    ``act_signed``, ``weight_base``, ``frac_bits``, ``acc_bits``, ``max_beats``,
    ``register_terms``, ``register_every``, ``accumulate``, ``weight_terms``.

    Members
    -------
    i : In(stream.Signature(input_layout(config)))
        Input beats: ``i.payload.data`` (``config.in_bits`` bits) and ``i.payload.last``.
    o : Out(stream.Signature(signed(config.result_bits)))
        Results, one per dot product.
    """

    def __init__(self, *, lanes, act_bits, weight_bits, **options):
        # The optional parameters and their defaults are EngineConfig's (validated there).
        self._config = EngineConfig(
            lanes=lanes, act_bits=act_bits, weight_bits=weight_bits, **options
        )
        self._init_ports()

    def _init_ports(self):
        """Create the stream members from ``self._config`` (shared with variant engines)."""
        cfg = self._config
        wiring.Component.__init__(
            self,
            {
                "i": In(stream.Signature(input_layout(cfg))),
                "o": Out(stream.Signature(signed(cfg.result_bits))),
            },
        )

    @classmethod
    def from_config(cls, config):
        """Build an engine from an :class:`~logdot.golden.formats.EngineConfig`."""
        return cls(**check_config(config).to_dict()["parameters"])

    # -- read-only parameters ----------------------------------------------------------------

    @property
    def config(self):
        """The validated :class:`~logdot.golden.formats.EngineConfig`."""
        return self._config

    @property
    def latency(self):
        """Cycles from the transfer of a dot product's last beat to ``o.valid`` of its result
        (no back-pressure); see :func:`engine_latency`."""
        return engine_latency(self._config)

    @property
    def cycles_per_beat(self):
        """Cycles between input beats without back-pressure: 1 (II = 1), or ``lanes`` with
        ``accumulate="log"`` (one term per cycle)."""
        return self._config.cycles_per_beat

    # -- hardware ------------------------------------------------------------------------------

    def _make_lane(self, index):
        """The lane stage of lane ``index``: :func:`~logdot.hdl.lane.make_lane` of the config (a
        :class:`~logdot.hdl.lane.LogLane`, or a :class:`~logdot.hdl.lane.TwoTermLane` for
        two-term weights).

        The one hook a variant engine overrides to swap the lane stage and keep everything
        else (the multiplier baseline :class:`logdot.hdl.linear.LinearDotEngine` does).
        """
        return make_lane(self._config)

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        log = cfg.accumulate == "log"
        pe = make_pe(cfg, make_lane=None if log else self._make_lane)
        skid = SkidBuffer(shape=signed(cfg.result_bits))
        m.submodules.pe = pe
        m.submodules.outbuf = skid
        assert pe.latency + skid.latency == self.latency
        en = Signal(name="en")
        m.d.comb += [en.eq(skid.i.ready), self.i.ready.eq(en & pe.ready if log else en)]

        beat = self.i.payload.data
        m.d.comb += [
            pe.en.eq(en),
            pe.valid.eq(self.i.valid),
            pe.last.eq(self.i.payload.last),
        ]
        for i in range(cfg.lanes):
            m.d.comb += [
                pe.act[i].eq(beat[cfg.act_lsb(i) : cfg.act_lsb(i) + cfg.act_bits]),
                pe.weight[i].eq(beat[cfg.weight_lsb(i) : cfg.weight_lsb(i) + cfg.weight_bits]),
            ]
        m.d.comb += [skid.i.valid.eq(pe.o_valid), skid.i.payload.eq(pe.result)]
        wiring.connect(m, skid.o, wiring.flipped(self.o))
        return m
