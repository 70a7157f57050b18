"""The processing element: lanes, term registers, adder trees and the accumulator.

The one datapath of a dot product, shared by the dot-product engine
(:class:`logdot.hdl.engine.LogDotEngine`, one PE) and the layer engine
(:class:`logdot.hdl.layer.LogLayerEngine`, ``pes`` PEs sharing each activation beat).
"""

from __future__ import annotations

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring

from .accumulator import Accumulator, accumulator_latency
from .lane import Lane, parities
from .lane import make_lane as default_lane
from .params import check_config, read_only
from .pe_parts import connect_accumulator, delay_valid_last, pe_signature
from .tree import AdderTree, tree_latency

__all__ = ["ProcessingElement", "make_pe", "pe_latency"]


def make_pe(config, *, make_lane=None):
    """The processing element of ``config``: a :class:`ProcessingElement`, or with
    ``accumulate="log"`` a :class:`~logdot.hdl.logacc.LogSerialPE` (which has a ``ready``
    output and takes ``lanes`` cycles per beat; ``make_lane`` must then be ``None``)."""
    if config.accumulate == "log":
        # Imported here: its tables come from logdot.golden.logacc, which imports torch, and
        # generating an exact-accumulation engine (logdot generate) imports no torch.
        from .logacc import LogSerialPE

        if make_lane is not None:
            raise ValueError("make_lane must be None with accumulate='log'")
        return LogSerialPE(config=config)
    return ProcessingElement(config=config, make_lane=make_lane)


def pe_latency(config):
    """:attr:`ProcessingElement.latency` for ``config``::

    int(register_terms)                 # term registers after the lanes
    + ceil(log2(lanes)) // register_every   # adder-tree registers (0 when not pipelined)
    + accumulator_latency(config)       # see logdot.hdl.accumulator.accumulator_latency

    With ``accumulate="log"``: :func:`logdot.hdl.logacc.log_pe_latency`.
    """
    if config.accumulate == "log":
        from .logacc import log_pe_latency

        return log_pe_latency(config)  # the serial log-domain PE (logdot.hdl.logacc)
    return (
        int(config.register_terms)
        + tree_latency(config.lanes, config.register_every)
        + accumulator_latency(config)
    )


class ProcessingElement(wiring.Component):
    """One dot product: ``lanes`` lanes, term registers, an adder tree per parity, an
    accumulator.

    Per lane a :class:`~logdot.hdl.lane.Lane` (by default a
    :class:`~logdot.hdl.lane.LogLane`) forms the folded term of ``act[i] * weight[i]``; the
    terms are registered when ``config.register_terms``; a balanced
    :class:`~logdot.hdl.tree.AdderTree` per accumulator parity sums the lanes; the
    :class:`~logdot.hdl.accumulator.Accumulator` sums the beats of a dot product until
    ``last``. ``valid`` and ``last`` travel with the beat through the same registers. Every
    register advances on ``en`` only.

    Latency: :attr:`latency` cycles (:func:`pe_latency`) from a beat with ``last`` (``valid
    & en``) to ``o_valid`` of its dot product, counting only cycles with ``en`` high.
    Throughput: one beat per cycle (II = 1).

    Parameters
    ----------
    config : logdot.golden.formats.EngineConfig
        Engine configuration; every width comes from it.
    make_lane : callable, optional
        ``make_lane(index)`` returns the :class:`~logdot.hdl.lane.Lane` of lane ``index``
        (default: :func:`logdot.hdl.lane.make_lane` of ``config``, a
        :class:`~logdot.hdl.lane.LogLane` or :class:`~logdot.hdl.lane.TwoTermLane`). The
        lanes must agree on their number of parities with ``config``.

    Members
    -------
    en : In(1)
        Pipeline advance (clock enable of every register).
    valid, last : In(1)
        A beat is present on ``act``/``weight``; it is the last of its dot product.
    act : In(config.act_bits).array(config.lanes)
        Raw activation field of each lane.
    weight : In(config.weight_bits).array(config.lanes)
        Raw weight field of each lane.
    o_valid : Out(1)
        ``result`` holds a finished dot product (for the one cycle with ``en`` high).
    result : Out(signed(config.result_bits))
        The dot product (with ``F`` fraction bits in base sqrt(2)).
    """

    def __init__(self, *, config, make_lane=None):
        self._config = cfg = check_config(config)
        if make_lane is None:

            def make_lane(index):
                return default_lane(cfg)

        elif not callable(make_lane):
            raise TypeError(f"make_lane must be callable, not {make_lane!r}")
        self._lanes = []
        for i in range(cfg.lanes):
            lane = make_lane(i)
            if not isinstance(lane, Lane):
                raise TypeError(f"make_lane({i}) must return a Lane, not {lane!r}")
            if len(lane.terms) != len(parities(cfg)):
                raise ValueError(
                    f"make_lane({i}) must return a lane with {len(parities(cfg))} parities, "
                    f"not {len(lane.terms)}"
                )
            self._lanes.append(lane)
        self._lanes = tuple(self._lanes)
        self._trees = []
        for p in parities(cfg):
            ranges = [lane.term_range(p) for lane in self._lanes]
            self._trees.append(
                AdderTree(
                    n=cfg.lanes,
                    lo=min(lo for lo, _ in ranges),
                    hi=max(hi for _, hi in ranges),
                    register_every=cfg.register_every,
                    carries=not cfg.act_is_log,
                )
            )
        self._acc = Accumulator(config=cfg, sum_bits=[len(t.sum) for t in self._trees])
        super().__init__(pe_signature(cfg))

    config = read_only("config", "The engine configuration.")
    lane_stages = read_only(
        "lanes", "The :class:`~logdot.hdl.lane.Lane` components, in lane order (a tuple)."
    )

    @property
    def latency(self):
        """Cycles from a beat with ``last`` to ``o_valid``; see :func:`pe_latency`."""
        return pe_latency(self._config)

    def elaborate(self, platform):
        cfg = self._config
        m = Module()
        en = self.en
        trees, acc = self._trees, self._acc
        assert int(cfg.register_terms) + trees[0].latency + acc.latency == self.latency

        # The lanes (combinational), their terms optionally registered.
        valid, last = self.valid, self.last
        terms = []  # [lane][parity] -> (term, carry)
        for i, lane in enumerate(self._lanes):
            m.submodules[f"lane{i}"] = lane
            m.d.comb += [lane.act.eq(self.act[i]), lane.weight.eq(self.weight[i])]
            outs = []
            for p, (term, carry) in zip(parities(cfg), lane.terms, strict=True):
                if cfg.register_terms:
                    rt = Signal(term.shape(), name=f"term{i}_p{p}", reset_less=True)
                    rc = Signal(name=f"carry{i}_p{p}", reset_less=True)
                    with m.If(en):
                        m.d.sync += [rt.eq(term), rc.eq(carry)]
                    term, carry = rt, rc
                outs.append((term, carry))
            terms.append(outs)
        stages = ["term"] if cfg.register_terms else []

        # Adder trees, one per parity, into the accumulator's beat inputs.
        for p, tree, (beat, beat_carry) in zip(parities(cfg), trees, acc.beats, strict=True):
            m.submodules[f"tree{p}"] = tree
            m.d.comb += tree.en.eq(en)
            for i, lane_terms in enumerate(terms):
                term, carry = lane_terms[p]
                m.d.comb += [tree.term[i].eq(term), tree.carry_in[i].eq(carry)]
            m.d.comb += [beat.eq(tree.sum), beat_carry.eq(tree.carry)]
        stages += [f"tree{k}" for k in range(trees[0].latency)]

        # valid/last follow the beat through the term and tree registers.
        valid, last = delay_valid_last(m, en, valid, last, stages)
        m.submodules.acc = acc
        connect_accumulator(m, self, acc, valid, last)
        return m
