"""Stimulus, the one Amaranth-simulator AXI4-Stream driver of the engine tops, and the
simulator boilerplate (:func:`run_testbench`).

:func:`random_stream` draws beats for an :class:`~logdot.golden.formats.EngineConfig`;
:func:`drive_stream` feeds them through a top with the ports of
:data:`logdot.hdl.top.PORTS` (the log engine, a mutant, the linear baseline) in Amaranth's
simulator, with random idles and back-pressure, and checks the output handshake while it runs.
"""

from __future__ import annotations

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

__all__ = ["drive_stream", "random_stream", "run_testbench"]


def run_testbench(dut, bench, *, clock=True):
    """Run the testbench ``bench`` (``async def bench(ctx)``) on ``dut`` in Amaranth's simulator.

    Parameters
    ----------
    dut : amaranth.hdl.Elaboratable
        The design.
    bench : coroutine function
        The testbench, given the simulator context.
    clock : bool
        Add a clock to the ``sync`` domain (``False`` for a combinational design).
    """
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()


def random_stream(cfg, rng, beats, max_len, *, corners=False):
    """Random beats over the whole code space; dot products of 1..``max_len`` beats.

    Parameters
    ----------
    cfg : EngineConfig
        The engine the beats are for.
    rng : random.Random
        The source of randomness (the test's seed).
    beats : int
        Number of beats.
    max_len : int
        Longest dot product, in beats; the last beat always ends one.
    corners : bool
        Linear activations: draw the two extremes as often as a uniform value (the extremes
        are where a width bug shows). Log activations and weights are always uniform codes.

    Returns
    -------
    tuple of list
        ``(acts, weights, last)``: per beat the activation codes, the weight codes and the
        end-of-dot-product flag.
    """
    lo, hi = cfg.act_range
    acts, weights, last = [], [], []
    left = rng.randint(1, max_len)
    for _ in range(beats):
        if cfg.act_is_log:
            acts.append([rng.randrange(1 << cfg.act_bits) for _ in range(cfg.lanes)])
        elif corners:
            acts.append([rng.choice([lo, hi, rng.randint(lo, hi)]) for _ in range(cfg.lanes)])
        else:
            acts.append([rng.randint(lo, hi) for _ in range(cfg.lanes)])
        weights.append([rng.randrange(1 << cfg.weight_bits) for _ in range(cfg.lanes)])
        left -= 1
        last.append(left == 0)
        if left == 0:
            left = rng.randint(1, max_len)
    last[-1] = True
    return acts, weights, last


def drive_stream(
    dut,
    cfg,
    acts,
    weights,
    last,
    *,
    rng,
    idle=0.0,
    backpressure=0.0,
    reset_at=None,
    drain=8,
    max_cycles=None,
):
    """Drive an AXI4-Stream engine top in Amaranth's simulator; return results and a cycle log.

    The source holds valid and data until a transfer (AXI4-Stream); idles and back-pressure
    are random with the given probabilities. The sink checks that ``m_axis_tdata`` and
    ``m_axis_tlast`` hold while valid and not ready, and that valid never drops without a
    transfer; it records ``m_axis_tlast`` of every output transfer.

    Parameters
    ----------
    dut : amaranth.lib.wiring.Component
        The top (``s_axis_*``, ``m_axis_*`` ports; ``config`` packs beats and unpacks results).
    cfg : EngineConfig or LinearConfig
        Packs the beats (``pack_beat``) and unpacks the results (``unpack_result``).
    acts, weights, last : list
        The beats, as from :func:`random_stream`.
    rng : random.Random
        Draws the idles and the back-pressure.
    idle : float
        Probability that the source idles for a cycle before offering a beat.
    backpressure : float
        Probability that the sink holds ``m_axis_tready`` low in a cycle.
    reset_at : int, optional
        Cycle at which ``rst`` is pulsed for one cycle; the stream restarts from beat 0 after
        it (``m_axis_tvalid`` must be low after the reset).
    drain : int
        Cycles run after the last expected result with the sink ready: any further result is
        appended (an extra output then fails the caller's comparison).
    max_cycles : int, optional
        Cycle budget (default ``50 * len(acts) + 200``).

    Returns
    -------
    dict
        ``results`` (the transferred results, signed), ``tlast`` (``m_axis_tlast`` of each
        result transfer, bool), ``in_cycles`` and ``out_cycles`` (the
        cycles of each input and output transfer) and ``cycles`` (the cycles until the last
        expected result, the drain not counted).
    """
    m = Module()
    m.domains.sync = cd = ClockDomain("sync")
    m.submodules.dut = dut
    n_beats = len(acts)
    expected_outputs = sum(1 for x in last if x)
    budget = 50 * n_beats + 200 if max_cycles is None else max_cycles
    log = {"results": [], "tlast": [], "in_cycles": [], "out_cycles": [], "cycles": 0}

    async def bench(ctx):
        i, pending, held = 0, False, None
        cycle = 0
        for cycle in range(budget):
            if reset_at is not None and cycle == reset_at:
                ctx.set(cd.rst, 1)
                ctx.set(dut.s_axis_tvalid, 0)
                await ctx.tick()
                ctx.set(cd.rst, 0)
                assert ctx.get(dut.m_axis_tvalid) == 0, "m_axis_tvalid high after reset"
                i, pending, held = 0, False, None
                log["results"].clear()
                log["tlast"].clear()
                log["in_cycles"].clear()
                log["out_cycles"].clear()
                continue
            if not pending and i < n_beats and rng.random() >= idle:
                pending = True
                ctx.set(dut.s_axis_tvalid, 1)
                ctx.set(dut.s_axis_tdata, cfg.pack_beat(acts[i], weights[i]))
                ctx.set(dut.s_axis_tlast, int(last[i]))
            elif not pending:
                ctx.set(dut.s_axis_tvalid, 0)
            ready = rng.random() >= backpressure
            ctx.set(dut.m_axis_tready, int(ready))
            if pending and ctx.get(dut.s_axis_tready):
                log["in_cycles"].append(cycle)
                i += 1
                pending = False
            valid = ctx.get(dut.m_axis_tvalid)
            if held is not None:
                assert valid, f"m_axis_tvalid dropped without a transfer at cycle {cycle}"
                assert ctx.get(dut.m_axis_tdata) == held[0], f"m_axis_tdata changed at {cycle}"
                assert ctx.get(dut.m_axis_tlast) == held[1], f"m_axis_tlast changed at {cycle}"
            held = None
            if valid:
                word, tlast = ctx.get(dut.m_axis_tdata), ctx.get(dut.m_axis_tlast)
                if ready:
                    log["results"].append(cfg.unpack_result(word))
                    log["tlast"].append(bool(tlast))
                    log["out_cycles"].append(cycle)
                else:
                    held = (word, tlast)
            await ctx.tick()
            log["cycles"] = cycle + 1
            if i == n_beats and len(log["results"]) >= expected_outputs and not pending:
                break
        ctx.set(dut.s_axis_tvalid, 0)
        for k in range(drain):  # no extra output afterwards
            ctx.set(dut.m_axis_tready, 1)
            if ctx.get(dut.m_axis_tvalid):
                log["results"].append(cfg.unpack_result(ctx.get(dut.m_axis_tdata)))
                log["tlast"].append(bool(ctx.get(dut.m_axis_tlast)))
                log["out_cycles"].append(cycle + 1 + k)
            await ctx.tick()

    run_testbench(m, bench)
    return log
