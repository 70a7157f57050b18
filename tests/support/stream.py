"""Stimulus, the one Amaranth-simulator AXI4-Stream driver of the engine tops, and the
simulator boilerplate (:func:`run_testbench`).

:func:`random_stream` draws beats for an :class:`~logdot.golden.formats.EngineConfig`;
:func:`drive_stream` feeds them through a top with the ports of
:data:`logdot.hdl.top.PORTS` (the log engine, a mutant, the linear baseline) in Amaranth's
simulator, with random idles and back-pressure, and checks the output handshake while it runs.
:func:`run_stream` does the same for a component with stream members (``s`` or ``i`` in,
``o`` out: the window unit, the pool, the FIFO) and :func:`compare` compares beat lists;
:func:`drive_network` feeds pixel beats through a network top
(:class:`logdot.hdl.network.NetworkTop`) and records the cycle of every transfer; the
drivers share :func:`pulse_reset` and :func:`check_hold`.
"""

from __future__ import annotations

import random

from amaranth.hdl import ClockDomain, Module
from amaranth.sim import Simulator

__all__ = [
    "check_hold",
    "compare",
    "drive_network",
    "drive_stream",
    "drive_words",
    "pulse_reset",
    "random_stream",
    "run_stream",
    "run_testbench",
]


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


async def pulse_reset(ctx, domain, source_valid, sink_valid, name):
    """Pulse ``domain``'s reset for one cycle with the source idle.

    Afterwards the sink's ``valid`` (``sink_valid``, called ``name`` in the message) must be
    low.
    """
    ctx.set(domain.rst, 1)
    ctx.set(source_valid, 0)
    await ctx.tick()
    ctx.set(domain.rst, 0)
    assert not ctx.get(sink_valid), f"{name} high after reset"


def check_hold(held, valid, payload, cycle, valid_name, payload_name):
    """The AXI4-Stream rule at a sink, checked in ``cycle``.

    ``held`` is the payload of the previous cycle when it had valid without ready, else
    ``None``; then ``valid`` must still be high and ``payload`` unchanged.
    """
    if held is not None:
        assert valid, f"{valid_name} dropped without a transfer at cycle {cycle}"
        assert payload == held, f"{payload_name} changed without a transfer at cycle {cycle}"


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


def drive_stream(dut, cfg, acts, weights, last, *, rng, **options):
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
    **options
        ``idle``, ``backpressure``, ``reset_at``, ``drain``, ``max_cycles`` of
        :func:`drive_words`.

    Returns
    -------
    dict
        ``results`` (the transferred results, signed), ``tlast`` (``m_axis_tlast`` of each
        result transfer, bool), ``in_cycles`` and ``out_cycles`` (the
        cycles of each input and output transfer) and ``cycles`` (the cycles until the last
        expected result, the drain not counted).
    """
    words = [cfg.pack_beat(a, w) for a, w in zip(acts, weights, strict=True)]
    return drive_words(dut, words, last, rng=rng, decode=cfg.unpack_result, **options)


def drive_words(
    dut,
    words,
    last,
    *,
    rng,
    idle=0.0,
    backpressure=0.0,
    reset_at=None,
    drain=8,
    max_cycles=None,
    decode=int,
):
    """:func:`drive_stream` with packed input beats: ``words`` (``s_axis_tdata``) and
    ``last`` (``s_axis_tlast``); every output word is recorded as ``decode(word)``.

    Parameters
    ----------
    dut : amaranth.lib.wiring.Component
        The top (``s_axis_*``, ``m_axis_*`` ports).
    words, last : list
        ``s_axis_tdata`` and ``s_axis_tlast`` of each input beat.
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
        Cycle budget (default ``50 * len(words) + 200``).
    decode : callable
        Turns an output word into the recorded result.

    Returns
    -------
    dict
        As :func:`drive_stream`'s (``results`` are the decoded words).
    """
    m = Module()
    m.domains.sync = cd = ClockDomain("sync")
    m.submodules.dut = dut
    n_beats = len(words)
    expected_outputs = sum(1 for x in last if x)
    budget = 50 * n_beats + 200 if max_cycles is None else max_cycles
    log = {"results": [], "tlast": [], "in_cycles": [], "out_cycles": [], "cycles": 0}

    async def bench(ctx):
        i, pending, held = 0, False, None
        cycle = 0
        for cycle in range(budget):
            if reset_at is not None and cycle == reset_at:
                await pulse_reset(ctx, cd, dut.s_axis_tvalid, dut.m_axis_tvalid, "m_axis_tvalid")
                i, pending, held = 0, False, None
                log["results"].clear()
                log["tlast"].clear()
                log["in_cycles"].clear()
                log["out_cycles"].clear()
                continue
            if not pending and i < n_beats and rng.random() >= idle:
                pending = True
                ctx.set(dut.s_axis_tvalid, 1)
                ctx.set(dut.s_axis_tdata, words[i])
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
                    log["results"].append(decode(word))
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
                log["results"].append(decode(ctx.get(dut.m_axis_tdata)))
                log["tlast"].append(bool(ctx.get(dut.m_axis_tlast)))
                log["out_cycles"].append(cycle + 1 + k)
            await ctx.tick()

    run_testbench(m, bench)
    return log


def run_stream(
    dut,
    beats,
    *,
    expected,
    rng=None,
    idle=0.0,
    backpressure=0.0,
    reset_at=None,
    after_reset=(),
    max_cycles=None,
    drain=8,
):
    """Drive ``dut.s`` (or ``dut.i``) with ``beats`` (``(data, last)`` pairs) and collect ``dut.o``.

    Payloads are ``data`` + ``last`` structures or plain values (then ``last`` is ignored
    on the input and ``False`` on the output); ``dut.frame_error`` is read when it exists.

    The source holds valid and payload until the transfer and idles with probability
    ``idle``; the sink is not ready with probability ``backpressure``. The sink checks the
    AXI4-Stream rules (valid never drops and the payload never changes without a transfer).
    ``reset_at``: cycle at which the ``sync`` reset is pulsed for one cycle; the source then
    restarts with ``after_reset`` and the outputs collected so far are discarded. The run
    ends when every beat went in and ``expected`` beats came out, then ``drain`` more cycles
    check that nothing else comes out; more than ``max_cycles`` cycles is a hang.

    Returns
    -------
    dict
        ``out`` (list of ``(data, last)``), ``in_cycles``, ``out_cycles``, ``cycles`` (the
        cycle of the last output transfer + 1, counted from the first cycle after reset),
        ``frame_error``.
    """
    rng = rng or random.Random(0)
    top = Module()
    top.domains.sync = cd = ClockDomain("sync")
    top.submodules.dut = dut
    src = list(beats)
    limit = max_cycles or 40 * (len(src) + len(after_reset) + expected) + 400
    log = {"out": [], "in_cycles": [], "out_cycles": [], "cycles": 0, "frame_error": 0}
    port = dut.s if hasattr(dut, "s") else dut.i
    plain = not hasattr(port.payload, "last")

    async def bench(ctx):
        nonlocal src
        i, pending, held, base, extra = 0, False, None, 0, None
        for cycle in range(limit):
            if reset_at is not None and cycle == reset_at:
                await pulse_reset(ctx, cd, port.valid, dut.o.valid, "o.valid")
                src, i, pending, held, base = list(after_reset), 0, False, None, cycle + 1
                for k in ("out", "in_cycles", "out_cycles"):
                    log[k].clear()
                continue
            if not pending and i < len(src) and rng.random() >= idle:
                pending = True
                ctx.set(port.valid, 1)
                if plain:
                    ctx.set(port.payload, src[i][0])
                else:
                    ctx.set(port.payload, {"data": src[i][0], "last": int(src[i][1])})
            elif not pending:
                ctx.set(port.valid, 0)
            ready = rng.random() >= backpressure
            ctx.set(dut.o.ready, int(ready))
            if pending and ctx.get(port.ready):
                log["in_cycles"].append(cycle - base)
                i += 1
                pending = False
            valid = ctx.get(dut.o.valid)
            payload = ctx.get(dut.o.payload)
            if hasattr(payload, "last"):
                beat = (int(payload.data), bool(payload.last))
            else:
                beat = (int(payload), False)
            check_hold(held, valid, beat, cycle, "o.valid", "o.payload")
            held = None
            if valid and ready:
                log["out"].append(beat)
                log["out_cycles"].append(cycle - base)
                log["cycles"] = cycle - base + 1
            elif valid:
                held = beat
            if hasattr(dut, "frame_error"):
                log["frame_error"] = int(ctx.get(dut.frame_error))
            await ctx.tick()
            done = i == len(src) and not pending and len(log["out"]) >= expected
            if done and extra is None:
                extra = drain
            if extra is not None:
                if extra == 0:
                    return
                extra -= 1
        raise AssertionError(
            f"hang: {i}/{len(src)} beats in, {len(log['out'])}/{expected} out after {limit} cycles"
        )

    run_testbench(top, bench)
    return log


def compare(got, expected):
    """``None`` when the beat lists are equal, else a message naming the first mismatch."""
    for k, (g, e) in enumerate(zip(got, expected, strict=False)):
        if g != e:
            return f"beat {k}: got {g}, expected {e}"
    if len(got) != len(expected):
        return f"{len(got)} beats out, {len(expected)} expected"
    return None


def drive_network(top, beats, outputs, *, rng=None, idle=0.0, stall=0.0, limit=200000):
    """Drive pixel ``beats`` into a network top until ``outputs`` words came out.

    The source holds ``s_axis_tvalid`` and the beat until the transfer and idles with
    probability ``idle`` before offering a beat; ``m_axis_tready`` is low with probability
    ``stall``. The sink checks the AXI4-Stream rules (:func:`check_hold`) and that every
    output word carries ``m_axis_tlast`` (one word per image).

    Parameters
    ----------
    top : logdot.hdl.network.NetworkTop
    beats : list of logdot.golden.network_stream.Beat
    outputs : int
        Output words to wait for.
    rng : random.Random, optional
        Draws the idles and the back-pressure (default seeded 0).
    idle, stall : float
        Probabilities of a source idle and of a cycle without ``m_axis_tready``.
    limit : int
        Cycle budget; more is a hang (AssertionError).

    Returns
    -------
    dict
        ``first`` (the cycle of the first input transfer), ``cycles`` (the cycle of each
        output transfer), both counted from 0, the first cycle out of reset; ``words`` (the
        output words), ``errors`` (``frame_error`` after each output transfer) and ``peaks``
        (each FIFO's ``max_level`` at the end).
    """
    rng = rng or random.Random(0)
    res = {"first": None, "cycles": [], "words": [], "errors": [], "peaks": None}

    async def bench(ctx):
        i, pending, held = 0, False, None
        for cycle in range(limit):
            if not pending and i < len(beats) and rng.random() >= idle:
                pending = True
                ctx.set(top.s_axis_tvalid, 1)
                ctx.set(top.s_axis_tdata, beats[i].data)
                ctx.set(top.s_axis_tlast, beats[i].last)
            elif not pending:
                ctx.set(top.s_axis_tvalid, 0)
            ready = rng.random() >= stall
            ctx.set(top.m_axis_tready, ready)
            _, _, s_ready, valid, data, last = await ctx.tick().sample(
                top.s_axis_tready, top.m_axis_tvalid, top.m_axis_tdata, top.m_axis_tlast
            )
            if pending and s_ready:
                if res["first"] is None:
                    res["first"] = cycle
                i, pending = i + 1, False
            check_hold(held, valid, (data, last), cycle, "m_axis_tvalid", "m_axis_tdata/tlast")
            held = (data, last) if valid and not ready else None
            if valid and ready:
                assert last == 1, f"output word {len(res['words'])} without m_axis_tlast"
                res["cycles"].append(cycle)
                res["words"].append(data)
                res["errors"].append(ctx.get(top.frame_error))
                if len(res["words"]) == outputs:
                    res["peaks"] = [ctx.get(f.max_level) for f in top.fifos]
                    return
        raise AssertionError(f"no output after {limit} cycles ({len(res['words'])} of {outputs})")

    run_testbench(top, bench)
    return res
