"""logdot.hdl.pe_parts: the members and the datapath end every processing element shares."""

from amaranth.hdl import Module, Shape, Signal, signed, unsigned
from amaranth.lib.wiring import Signature
from amaranth.sim import Simulator

from logdot.golden.formats import EngineConfig
from logdot.hdl.pe_parts import delay_valid_last, pe_signature

CFG = EngineConfig(lanes=3, act_bits=4, weight_bits=3)


def test_pe_signature_members_in_order():
    rb = CFG.result_bits
    one = unsigned(1)
    assert [n for n in pe_signature(CFG)] == [
        "en", "valid", "last", "act", "weight", "o_valid", "result"
    ]  # fmt: skip
    assert [n for n in pe_signature(CFG, weights=False)] == [
        "en", "valid", "last", "act", "o_valid", "result"
    ]  # fmt: skip
    assert [n for n in pe_signature(CFG, ready=True)] == [
        "en", "valid", "last", "act", "weight", "ready", "o_valid", "result"
    ]  # fmt: skip
    sig = Signature(pe_signature(CFG, ready=True))
    got = {n: (m.flow.name, Shape.cast(m.shape), m.dimensions) for n, m in sig.members.items()}
    assert got == {
        "en": ("In", one, ()),
        "valid": ("In", one, ()),
        "last": ("In", one, ()),
        "act": ("In", unsigned(4), (3,)),
        "weight": ("In", unsigned(3), (3,)),
        "ready": ("Out", one, ()),
        "o_valid": ("Out", one, ()),
        "result": ("Out", signed(rb), ()),
    }


def test_delay_valid_last_registers_per_stage_while_enabled():
    m = Module()
    en, valid, last = Signal(), Signal(), Signal()
    dv, dl = delay_valid_last(m, en, valid, last, ["a", "b"])
    seen = []

    async def bench(ctx):
        stim = [(1, 1, 0), (1, 0, 1), (0, 1, 1), (1, 1, 1), (1, 0, 0), (1, 0, 0)]
        for e, v, lst in stim:
            ctx.set(en, e)
            ctx.set(valid, v)
            ctx.set(last, lst)
            await ctx.tick()
            seen.append((ctx.get(dv), ctx.get(dl)))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    # Two enabled edges from input to output; the edge with en low holds both stages.
    assert seen == [(0, 0), (1, 0), (1, 0), (0, 1), (1, 1), (0, 0)]
