"""AXI4-Stream top level: renames and packs the engine's streams into the Verilog contract
(:class:`LogDotTop`), and the ``aclk``/``aresetn`` naming of any top (:class:`AxiNamesTop`)."""

from __future__ import annotations

from amaranth.hdl import ClockDomain, Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Flow, In, Out

from ..golden.formats import EngineConfig
from .engine import LogDotEngine, engine_latency
from .params import check_config, read_only

__all__ = ["PORTS", "AxiNamesTop", "LogDotTop", "axis_drive", "axis_members", "axis_take"]

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


def axis_members(prefix, flow, width):
    """The four AXI4-Stream signature members ``<prefix>_tvalid, _tready, _tlast, _tdata``.

    Parameters
    ----------
    prefix : str
        The port prefix (``"s_axis"``, ``"m_axis"``, ``"w_axis"``).
    flow : amaranth.lib.wiring.Flow
        ``In`` for a stream into the component (``tready`` is then ``Out``), ``Out`` for one
        out of it.
    width : int
        Bits of ``tdata``.

    Returns
    -------
    dict
        Member name to member, in contract order (``tvalid, tready, tlast, tdata``).
    """
    back = flow.flip()
    return {
        f"{prefix}_tvalid": flow(1),
        f"{prefix}_tready": back(1),
        f"{prefix}_tlast": flow(1),
        f"{prefix}_tdata": flow(width),
    }


def axis_take(top, prefix, sink, bits):
    """Statements that feed the stream ``sink`` from the input AXI4-Stream ``prefix`` of
    ``top``: ``data`` is the low ``bits`` of ``tdata`` (the byte padding is ignored).

    Returns
    -------
    list of amaranth.hdl.Assign
        For ``m.d.comb``.
    """
    port = {name: getattr(top, f"{prefix}_t{name}") for name in ("valid", "ready", "last", "data")}
    return [
        sink.valid.eq(port["valid"]),
        port["ready"].eq(sink.ready),
        sink.payload.data.eq(port["data"][:bits]),
        sink.payload.last.eq(port["last"]),
    ]


def axis_drive(top, prefix, source, *, data, last):
    """Statements that drive the output AXI4-Stream ``prefix`` of ``top`` from the stream
    ``source``, with ``tdata = data`` and ``tlast = last`` (values of ``source``'s payload).

    Returns
    -------
    list of amaranth.hdl.Assign
        For ``m.d.comb``.
    """
    return [
        getattr(top, f"{prefix}_tvalid").eq(source.valid),
        source.ready.eq(getattr(top, f"{prefix}_tready")),
        getattr(top, f"{prefix}_tlast").eq(last),
        getattr(top, f"{prefix}_tdata").eq(data),
    ]


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
                **axis_members("s_axis", In, 8 * config.in_bytes),
                **axis_members("m_axis", Out, 8 * config.out_bytes),
            }
        )

    config = read_only("config", "The engine configuration.")

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
        m.d.comb += axis_take(self, "s_axis", engine.i, cfg.in_bits)
        # One result per dot product: every beat ends a packet; the signed result sign-extends
        # to whole bytes.
        m.d.comb += axis_drive(self, "m_axis", engine.o, data=engine.o.payload, last=1)
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
