"""Use logdot as an Amaranth library: your own design with a log engine and a layer engine.

``UserDesign`` is what an Amaranth user writes: their own stream source (a ROM of beats they
play out), logdot's :class:`~logdot.hdl.engine.LogDotEngine` and
:class:`~logdot.hdl.layer.LogLayerEngine` as plain components, and FIFOs of
:mod:`amaranth.lib.fifo`, all connected with :func:`amaranth.lib.wiring.connect`. Two small
stream adapters fit the payload shapes together (``wiring.connect`` only joins identical
signatures): the engine's signed result and the layer engine's ``{data, last}`` struct become
the plain bit vectors of the FIFOs' ``w_stream``::

    BeatSource(engine beats) --> LogDotEngine --> AsBits --> SyncFIFO ------> dots
    BeatSource(activations)  --> LogLayerEngine --> AsBits --> SyncFIFOBuffered --> layer

It is simulated with :mod:`amaranth.sim` with random back-pressure on both outputs, and every
value is compared with logdot's golden model (:func:`logdot.golden.engine.dot`,
:meth:`logdot.golden.layer.Layer.run`): whole outputs, and their counts. Run
``python examples/amaranth_design.py [--seed N] [--stall P]``; the last line is
``dots: <n> layer outputs: <m> mismatches: <k>``, and the exit code is 1 on any mismatch.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import torch
from amaranth.hdl import Const, Module, Signal, Value
from amaranth.lib import fifo, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from logdot.golden.engine import dot  # noqa: E402
from logdot.golden.formats import EngineConfig  # noqa: E402
from logdot.golden.layer import Layer, LayerConfig, pack_outputs, z_bits  # noqa: E402
from logdot.golden.requant import Requant  # noqa: E402
from logdot.hdl.engine import LogDotEngine, input_layout  # noqa: E402
from logdot.hdl.layer import LogLayerEngine  # noqa: E402


class BeatSource(wiring.Component):
    """The user's stream source: plays a ROM of ``(data, last)`` beats out once, in order."""

    def __init__(self, beats, layout):
        self._beats = list(beats)
        self._layout = layout
        super().__init__({"o": Out(stream.Signature(layout))})

    def elaborate(self, platform):
        m = Module()
        width = self._layout.size
        init = [Const.cast(self._layout.const(b)).value for b in self._beats]
        m.submodules.rom = rom = Memory(shape=width, depth=len(init), init=init)
        rd = rom.read_port(domain="comb")
        index = Signal(range(len(init) + 1))
        m.d.comb += [
            rd.addr.eq(index),
            self.o.valid.eq(index < len(init)),
            self.o.payload.eq(rd.data),
        ]
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += index.eq(index + 1)
        return m


class AsBits(wiring.Component):
    """Stream adapter: any payload shape to the plain bit vector of the same width."""

    def __init__(self, shape, width):
        super().__init__({"i": In(stream.Signature(shape)), "o": Out(stream.Signature(width))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.i.ready.eq(self.o.ready),
            self.o.payload.eq(Value.cast(self.i.payload)),
        ]
        return m


class UserDesign(wiring.Component):
    """The user's design: two logdot pipelines ending in FIFOs (outputs ``dots``, ``layer``)."""

    def __init__(self, engine_config, engine_beats, layer, layer_beats):
        self._engine = LogDotEngine.from_config(engine_config)
        self._layer = LogLayerEngine(layer=layer)
        self._engine_beats = engine_beats
        self._layer_beats = layer_beats
        eng_w = engine_config.result_bits
        lay_w = layer.config.out_bits + 1  # {data, last}
        super().__init__(
            {"dots": Out(stream.Signature(eng_w)), "layer": Out(stream.Signature(lay_w))}
        )

    def elaborate(self, platform):
        m = Module()
        eng, lay = self._engine, self._layer
        m.submodules.engine = eng
        m.submodules.layer_engine = lay
        e_src = m.submodules.engine_source = BeatSource(
            self._engine_beats, input_layout(eng.config)
        )
        l_src = m.submodules.layer_source = BeatSource(self._layer_beats, lay.i.payload.shape())
        e_bits = m.submodules.engine_bits = AsBits(eng.o.payload.shape(), len(self.dots.payload))
        l_bits = m.submodules.layer_bits = AsBits(lay.o.payload.shape(), len(self.layer.payload))
        e_fifo = m.submodules.engine_fifo = fifo.SyncFIFO(width=len(self.dots.payload), depth=8)
        l_fifo = m.submodules.layer_fifo = fifo.SyncFIFOBuffered(
            width=len(self.layer.payload), depth=8
        )
        wiring.connect(m, e_src.o, eng.i)
        wiring.connect(m, eng.o, e_bits.i)
        wiring.connect(m, e_bits.o, e_fifo.w_stream)
        wiring.connect(m, e_fifo.r_stream, wiring.flipped(self.dots))
        wiring.connect(m, l_src.o, lay.i)
        wiring.connect(m, lay.o, l_bits.i)
        wiring.connect(m, l_bits.o, l_fifo.w_stream)
        wiring.connect(m, l_fifo.r_stream, wiring.flipped(self.layer))
        return m


def make_workload(seed):
    """A random engine workload (multi-beat dot products) and a random layer with its input
    beats, with their golden results."""
    g = torch.Generator().manual_seed(seed)
    cfg = EngineConfig(lanes=4, act_bits=6, weight_bits=4, max_beats=4)
    lo, hi = cfg.act_range
    beats = 12
    acts = torch.randint(lo, hi + 1, (beats, cfg.lanes), generator=g)
    weights = torch.randint(0, 1 << cfg.weight_bits, (beats, cfg.lanes), generator=g)
    last = torch.tensor([k % 3 == 2 for k in range(beats)])  # three beats per dot product
    engine_beats = [
        {"data": cfg.pack_beat(a, w), "last": int(t)}
        for a, w, t in zip(acts.tolist(), weights.tolist(), last.tolist(), strict=True)
    ]
    want_dots = [int(v) for v in dot(cfg, acts, weights, last)]

    eng = EngineConfig(lanes=3, act_bits=4, weight_bits=4, act_format="log", act_signed=False)
    rq = Requant.log(in_bits=z_bits(eng, 6), scale_x2=0, bits=4, fsr=20)
    lcfg = LayerConfig(engine=eng, pes=2, depth=2, dots=3, bias_bits=6, relu=True, requant=rq)
    layer = Layer(
        config=lcfg,
        weights=torch.randint(0, 16, (2, 2, 3), generator=g),
        bias=torch.randint(-32, 32, (3, 2), generator=g),
    )
    l_acts = torch.randint(0, 16, (12, 3), generator=g)
    l_last = torch.tensor([k % 2 == 1 for k in range(12)])  # two beats per dot product
    layer_beats = [
        {"data": w, "last": int(t)}
        for w, t in zip(lcfg.pack_acts(l_acts), l_last.tolist(), strict=True)
    ]
    outs = layer.run(l_acts, l_last)
    tlast = [(i % lcfg.dots) == lcfg.dots - 1 for i in range(len(outs))]
    ob = lcfg.out_bits
    want_layer = [w | (int(t) << ob) for w, t in zip(pack_outputs(lcfg, outs), tlast, strict=True)]
    return cfg, engine_beats, want_dots, layer, layer_beats, want_layer


def simulate(design, n_dots, n_layer, *, rng, stall):
    """Run the design until both outputs have given their expected counts (and 50 cycles
    more, so an extra output would be seen); return the two lists of output words."""
    dots, outs = [], []

    async def bench(ctx):
        extra = 0
        for _ in range(5000):
            rd, rl = rng.random() >= stall, rng.random() >= stall
            ctx.set(design.dots.ready, rd)
            ctx.set(design.layer.ready, rl)
            _, _, dv, dp, lv, lp = await ctx.tick().sample(
                design.dots.valid, design.dots.payload, design.layer.valid, design.layer.payload
            )
            if dv and rd:
                dots.append(dp)
            if lv and rl:
                outs.append(lp)
            if len(dots) >= n_dots and len(outs) >= n_layer:
                extra += 1
                if extra == 50:
                    return
        raise AssertionError(f"timeout: {len(dots)} of {n_dots} dots, {len(outs)} of {n_layer}")

    sim = Simulator(design)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return dots, outs


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=1, help="seed of the workload and the stalls")
    p.add_argument("--stall", type=float, default=0.3, help="output back-pressure probability")
    p.add_argument(
        "--inject-fault", action="store_true", help="corrupt one golden value (must fail)"
    )
    args = p.parse_args(argv)
    if not 0.0 <= args.stall < 1.0:
        p.error(f"--stall must be in [0, 1), not {args.stall}")
    cfg, e_beats, want_dots, layer, l_beats, want_layer = make_workload(args.seed)
    if args.inject_fault:
        want_dots[1] += 1
    design = UserDesign(cfg, e_beats, layer, l_beats)
    rng = random.Random(args.seed)
    raw_dots, got_layer = simulate(
        design, len(want_dots), len(want_layer), rng=rng, stall=args.stall
    )
    width = cfg.result_bits
    got_dots = [v - (1 << width) if v >> (width - 1) else v for v in raw_dots]  # signed
    bad = 0
    for name, got, want in (("dot", got_dots, want_dots), ("layer output", got_layer, want_layer)):
        if len(got) != len(want):
            print(f"{name}s: {len(got)} from the design, {len(want)} expected")
            bad += abs(len(got) - len(want))
        for k, (g, w) in enumerate(zip(got, want, strict=False)):
            if g != w:
                print(f"{name} {k}: design {g:#x}, golden {w:#x} (seed {args.seed})")
                bad += 1
    print(f"engine: {cfg.lanes} lanes, results {want_dots}")
    print(f"layer engine: {layer.config.pes} PEs x {layer.config.lanes} lanes, words {want_layer}")
    print(f"dots: {len(got_dots)} layer outputs: {len(got_layer)} mismatches: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
