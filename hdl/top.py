"""AXI4-Stream top level: renames and packs the engine's streams into the Verilog contract
(:class:`LogDotTop`), and the ``aclk``/``aresetn`` naming of any top (:class:`AxiNamesTop`)."""

from __future__ import annotations

from amaranth.hdl import ClockDomain, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Flow, In, Out

from ..golden.formats import EngineConfig
from .engine import LogDotEngine, engine_latency
from .params import check_config

__all__ = ["PORTS", "AxiNamesTop", "LogDotTop"]

#: The top module's ports in contract order (``clk`` and ``rst`` come from the ``sync``
#: clock domain; ``rst`` is synchronous and active high). The output side follows the input
#: side's order: ``tvalid, tready, tlast, tdata``.
PORTS = (
    "clk",
    "rst",
    "s_axis_tvalid",
    "s_axis_tready",
    "s_axis_tlast",
    "s_axis_tdata",
    "m_axis_tvalid",
    "m_axis_tready",
    "m_axis_tlast",
    "m_axis_tdata",
)


class LogDotTop(wiring.Component):
    """The engine with AXI4-Stream port names and whole-byte ``tdata`` (the Verilog contract).

    Only wiring: ``s_axis_tdata`` (``8 * in_bytes`` bits; padding ignored) carries activation
    lane ``i`` at ``config.act_lsb(i)`` and weight lane ``i`` at ``config.weight_lsb(i)``;
    ``m_axis_tdata`` (``8 * out_bytes`` bits) is the result sign-extended to whole bytes.
    Latency and throughput: those of :class:`~logdot.hdl.engine.LogDotEngine`
    (:attr:`latency`; one beat per cycle).

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Engine configuration (keyword-only).

    Members
    -------
    s_axis_tvalid, s_axis_tready, s_axis_tlast : In(1), Out(1), In(1)
        Input stream handshake and end of a dot product.
    s_axis_tdata : In(8 * config.in_bytes)
        One input beat (see above).
    m_axis_tvalid, m_axis_tready : Out(1), In(1)
        Output stream handshake.
    m_axis_tlast : Out(1)
        Always 1: every result closes its dot product (one result is one packet; see
        :func:`logdot.golden.engine.output_tlast`).
    m_axis_tdata : Out(8 * config.out_bytes)
        One result per dot product, sign-extended.
    """

    #: The configuration class the top accepts (a variant top narrows it).
    _config_type = EngineConfig

    def __init__(self, *, config):
        self._config = check_config(config, self._config_type)
        super().__init__(
            {
                "s_axis_tvalid": In(1),
                "s_axis_tready": Out(1),
                "s_axis_tlast": In(1),
                "s_axis_tdata": In(8 * config.in_bytes),
                "m_axis_tvalid": Out(1),
                "m_axis_tready": In(1),
                "m_axis_tlast": Out(1),
                "m_axis_tdata": Out(8 * config.out_bytes),
            }
        )

    @property
    def config(self):
        """The engine configuration."""
        return self._config

    @property
    def latency(self):
        """Cycles from the last input beat's transfer to ``m_axis_tvalid`` (no back-pressure)."""
        return engine_latency(self._config)

    def _make_engine(self):
        """The engine this top wraps; the one hook a variant top overrides (the multiplier
        baseline :class:`logdot.hdl.linear.LinearDotTop` does)."""
        return LogDotEngine.from_config(self._config)

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        m.submodules.engine = engine = self._make_engine()
        m.d.comb += [
            engine.i.valid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(engine.i.ready),
            engine.i.payload.data.eq(self.s_axis_tdata[: cfg.in_bits]),
            engine.i.payload.last.eq(self.s_axis_tlast),
            self.m_axis_tvalid.eq(engine.o.valid),
            engine.o.ready.eq(self.m_axis_tready),
            self.m_axis_tlast.eq(1),  # one result per dot product: every beat ends a packet
            self.m_axis_tdata.eq(engine.o.payload),  # signed: sign-extends to whole bytes
        ]
        return m


class AxiNamesTop(wiring.Component):
    """A top module with ports ``aclk`` and ``aresetn`` instead of ``clk`` and ``rst``.

    Wraps ``inner`` (a :class:`LogDotTop` or a :class:`logdot.hdl.layer.LogLayerTop`) and
    drives its ``sync`` domain from ``aclk`` with reset ``~aresetn``: the reset stays
    synchronous (sampled on the rising edge of ``aclk``), it is active while ``aresetn`` is
    low. Every other port is ``inner``'s, unchanged (AMD Vivado's IP integrator associates
    ``aclk``/``aresetn`` with the ``s_axis``/``m_axis`` interfaces by these names).

    Parameters
    ----------
    inner : amaranth.lib.wiring.Component
        The top to wrap; its members must be plain signal ports (keyword-only).

    Members
    -------
    aclk, aresetn : In(1), In(1)
        Clock and synchronous active-low reset.
    (every member of ``inner``)
        Forwarded unchanged.
    """

    def __init__(self, *, inner):
        self._inner = inner
        members = {"aclk": In(1), "aresetn": In(1)}
        for name, member in inner.signature.members.items():
            if not member.is_port:
                raise TypeError(f"inner member {name!r} is not a signal port")
            members[name] = member
        super().__init__(members)

    @property
    def inner(self):
        """The wrapped top module."""
        return self._inner

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = cd = ClockDomain("sync")
        m.d.comb += [cd.clk.eq(self.aclk), cd.rst.eq(~self.aresetn)]
        m.submodules.top = inner = self._inner
        for name, member in inner.signature.members.items():
            ours, theirs = getattr(self, name), getattr(inner, name)
            if member.flow == Flow.In:
                m.d.comb += theirs.eq(ours)
            else:
                m.d.comb += ours.eq(theirs)
        return m
