"""The linear (multiplier) baseline engine: the logdot engine with real multipliers.

:class:`LinearDotEngine` is :class:`logdot.hdl.engine.LogDotEngine` with only the lane stage
swapped: the same stream interfaces, skid buffer, adder tree, accumulator and pipeline
registers (``register_terms``, ``register_every``), so a log vs linear comparison measures
the lanes and the widths they imply, nothing else. Each :class:`LinearLane` computes
``a * w`` of an ``A``-bit linear activation and a ``W``-bit two's-complement weight with
Amaranth's ``*`` operator, which Yosys maps to ``$mul`` cells (LUTs or DSP blocks).

Its geometry is :class:`logdot.golden.linear_engine.LinearConfig`, and its integer model is
:func:`logdot.golden.linear_engine.linear_dot`. The Verilog top module follows the logdot contract,
with weight lane ``i`` at ``[N*A + i*W +: W]`` holding a two's-complement value.
"""

from __future__ import annotations

from amaranth.hdl import Module, Shape, Signal, signed

from ..golden.linear_engine import LinearConfig, linear_dot
from .engine import LogDotEngine
from .lane import Lane
from .params import check_config
from .top import LogDotTop

__all__ = [
    "LinearConfig",
    "LinearDotEngine",
    "LinearDotTop",
    "LinearLane",
    "linear_dot",
]


class LinearLane(Lane):
    """Term of one lane of the baseline: ``activation * weight`` with a real multiplier.

    Combinational (latency 0 cycles, one product per cycle). A base-2
    :class:`~logdot.hdl.lane.Lane` like :class:`logdot.hdl.lane.LogLane`, so the processing
    element's tree and accumulator take it unchanged; ``carry0`` is always 0.

    Parameters
    ----------
    config : logdot.golden.linear_engine.LinearConfig
        Baseline configuration; every width comes from it.

    Members
    -------
    act, weight : In(act_bits), In(weight_bits)
        Raw activation field (two's complement or unsigned), two's-complement weight.
    term0 : Out(signed(signed_width(*config.term_range())))
        The product.
    carry0 : Out(1)
        Always 0 (no folded negation).
    """

    def __init__(self, *, config):
        check_config(config, LinearConfig)
        super().__init__(config=config, term_ranges=[config.term_range()])

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        a = Signal(Shape(cfg.act_bits, cfg.act_signed), name="act_value")
        w = Signal(signed(cfg.weight_bits), name="weight_value")
        m.d.comb += [a.eq(self.act), w.eq(self.weight)]
        m.d.comb += [self.term0.eq(a * w), self.carry0.eq(0)]
        return m


class LinearDotEngine(LogDotEngine):
    """The multiplier baseline: :class:`~logdot.hdl.engine.LogDotEngine` with :class:`LinearLane` s.

    Everything but the lane stage (stream interfaces, pipeline registers, adder tree,
    accumulator, output buffer, ``latency``) is the log engine's own code.

    Parameters
    ----------
    lanes, act_bits, weight_bits, act_signed, acc_bits, max_beats, register_terms, \
register_every
        Keyword-only, those of :class:`logdot.golden.linear_engine.LinearConfig` (``weight_bits`` is
        the two's-complement weight width).

    Members
    -------
    i, o : streams
        As :class:`~logdot.hdl.engine.LogDotEngine`.
    """

    def __init__(self, *, lanes, act_bits, weight_bits, **options):
        # The optional parameters and their defaults are LinearConfig's (validated there).
        self._config = LinearConfig(
            lanes=lanes, act_bits=act_bits, weight_bits=weight_bits, **options
        )
        self._init_ports()

    @classmethod
    def from_config(cls, config):
        """Build a baseline engine from a :class:`~logdot.golden.linear_engine.LinearConfig`."""
        check_config(config, LinearConfig)
        params = config.parameters()
        params["acc_bits"] = config.acc_bits if config.saturating else None
        return cls(**params)

    def _make_lane(self, index):
        return LinearLane(config=self._config)


class LinearDotTop(LogDotTop):
    """:class:`~logdot.hdl.top.LogDotTop` (the AXI4-Stream contract) around a
    :class:`LinearDotEngine`.

    Parameters
    ----------
    config : logdot.golden.linear_engine.LinearConfig
        Baseline configuration.
    """

    _config_type = LinearConfig

    def _make_engine(self):
        return LinearDotEngine.from_config(self.config)
