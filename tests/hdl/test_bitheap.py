# amaranth: UnusedElaboratable=no
"""logdot.hdl.bitheap: the two's-complement literal identities (exhaustive), the heap sum in
Amaranth's simulator against the integer sum (exhaustive over small activations, signed and
unsigned, with an extra row and pipelined), a mutant heap caught, and the plan's counts."""

from __future__ import annotations

import itertools

import pytest
from amaranth.hdl import Module, Signal

from logdot.golden.const import ConstTerm, ConstWeights, weight_fields
from logdot.golden.formats import EngineConfig
from logdot.hdl import bitheap
from logdot.hdl.bitheap import STAGES_PER_LEVEL, build_heap, plan_heap
from logdot.hdl.const import plan_tree
from tests.support.configs import DA4ML_VECTOR
from tests.support.stream import run_testbench


@pytest.mark.parametrize(("bits", "signed"), [(1, False), (3, False), (2, True), (5, True)])
@pytest.mark.parametrize("negative", [False, True])
def test_literal_identities(bits, signed, negative):
    """Every activation value: the literal bits plus the constant are exactly +-a."""
    lits, const = bitheap._literals(ConstTerm(0, 0, 0, negative), bits, signed)
    lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    for a in range(lo, hi + 1):
        raw = a % (1 << bits)
        total = const + sum((((raw >> i) & 1) ^ inv) << i for i, inv in lits)
        assert total == (-a if negative else a), (a, lits, const)


def _heap_dut(terms, act_bits, act_signed, *, rows=0, width=None, k=0, plan=None):
    plan = plan or plan_heap(
        terms, act_bits=act_bits, act_signed=act_signed, width=width, rows=rows
    )
    lanes = sorted({t.lane for t in terms})
    m = Module()
    acts = {i: Signal(act_bits, name=f"a{i}") for i in lanes}
    extra = [Signal(plan.width, name=f"row{r}") for r in range(rows)]
    out = build_heap(m, plan, acts, name="h", en=1, register_every=k, depth=plan.depth, rows=extra)
    return m, plan, acts, extra, out


def _simulate(terms, act_bits, act_signed, *, rows=0, width=None, k=0, plan=None, limit=None):
    """``[(inputs, got, expected), ...]`` over every activation combination (and a few row
    values), comparing integers."""
    m, plan, acts, extra, out = _heap_dut(
        terms, act_bits, act_signed, rows=rows, width=width, k=k, plan=plan
    )
    lo, hi = (
        (-(1 << (act_bits - 1)), (1 << (act_bits - 1)) - 1)
        if act_signed
        else (0, (1 << act_bits) - 1)
    )
    lanes = sorted(acts)
    row_values = [0, 1, (1 << plan.width) - 1, 5 % (1 << plan.width)]
    combos = list(itertools.product(range(lo, hi + 1), repeat=len(lanes)))[:limit]
    cases = [(c, r) for c in combos for r in (row_values if rows else [None])]
    latency = (plan.depth // k) if k else 0
    log = []

    async def bench(ctx):
        for c, r in cases:
            for lane, v in zip(lanes, c, strict=True):
                ctx.set(acts[lane], v % (1 << act_bits))
            for sig in extra:
                ctx.set(sig, r)
            for _ in range(latency):
                await ctx.tick()
            got = ctx.get(out)
            exp = sum(
                (-1 if t.negative else 1) * (c[lanes.index(t.lane)] << t.shift) for t in terms
            )
            if rows:
                exp = (exp + rows * r) % (1 << plan.width)
                got %= 1 << plan.width
            log.append(((c, r), got, exp))

    run_testbench(m, bench, clock=bool(k))
    return log


TERM_SETS = {
    "mixed": [ConstTerm(0, 0, 2, True), ConstTerm(1, 0, 0, False), ConstTerm(2, 0, 1, True)],
    "same_shift": [ConstTerm(i, 0, 1, i == 2) for i in range(4)],
    "one": [ConstTerm(0, 0, 3, True)],
}


@pytest.mark.parametrize("name", sorted(TERM_SETS))
@pytest.mark.parametrize(("act_bits", "act_signed"), [(3, True), (2, False)])
def test_heap_sum_is_exact(name, act_bits, act_signed):
    terms = TERM_SETS[name]
    bad = [c for c in _simulate(terms, act_bits, act_signed) if c[1] != c[2]]
    assert not bad, bad[:5]


def test_heap_with_a_row_and_pipelined():
    """An extra row (an accumulator state) is added modulo 2**width; registered every level
    the sum arrives plan.depth cycles later, the same values."""
    terms = TERM_SETS["mixed"] + [ConstTerm(3, 0, 0, False)]
    bad = [c for c in _simulate(terms, 3, True, rows=1, width=9) if c[1] != c[2]]
    assert not bad, bad[:5]
    bad = [c for c in _simulate(terms, 3, True, k=1) if c[1] != c[2]]
    assert not bad, bad[:5]


def test_a_wrong_heap_is_caught():
    """A plan whose constant lost a bit (built from a mutated plan): the check fails."""
    terms = TERM_SETS["mixed"]
    plan = plan_heap(terms, act_bits=3, act_signed=True)
    orig = bitheap._heap_columns

    def mutated(*args, **kw):
        cols, k = orig(*args, **kw)
        low = next(c for c in range(len(cols)) if any(bitheap._is_const(b) for b in cols[c]))
        cols[low] = [b for b in cols[low] if not bitheap._is_const(b)]
        return cols, k

    bitheap._heap_columns = mutated
    try:
        log = _simulate(terms, 3, True, plan=plan)
    finally:
        bitheap._heap_columns = orig
    assert sum(got != exp for _, got, exp in log) == len(log)  # every result differs


def test_plan_of_the_da4ml_vector():
    """16 signed 8-bit terms: 128 literal bits plus K's bits, Dadda stages down to height 2,
    the estimate below the adder tree's, and the depth from the stage count."""
    cfg = EngineConfig(lanes=16, act_bits=8, weight_bits=4)
    const = ConstWeights(cfg, weight_fields(DA4ML_VECTOR, 4))
    plan = plan_heap(const.terms(0), act_bits=8, act_signed=True)
    assert (plan.lo, plan.hi) == const.beat_range() and plan.width == 16
    assert sum(plan.heights) == 128 + bin(plan.constant).count("1")
    assert max(plan.heights) == 16 and len(plan.stages) == 6  # 13, 9, 6, 4, 3, 2
    assert plan.depth == -(-6 // STAGES_PER_LEVEL) + 1
    adders = sum(fa + ha for fa, ha in plan.stages)
    assert plan.cost == 2 * adders + 2 * (16 - plan.cpa_lsb) - 1
    assert plan.cost < plan_tree(const.terms(0), cfg.act_range).cost
    with pytest.raises(ValueError, match="terms must not be empty"):
        plan_heap([], act_bits=8, act_signed=True)
    with pytest.raises(ValueError, match="width must be an integer >= 16"):
        plan_heap(const.terms(0), act_bits=8, act_signed=True, width=15)


def _chunked_log(terms, act_bits, cuts, *, skew=True):
    """Stream every activation combination (one per cycle) through a chunked heap and
    assemble each beat's sum from its chunks, chunk ``j`` read ``n - 1 - j`` cycles before
    the top one (all at the top chunk's cycle when not ``skew``); ``[(got, expected)]``."""
    plan = plan_heap(terms, act_bits=act_bits, act_signed=True, cuts=cuts)
    lanes = sorted({t.lane for t in terms})
    m = Module()
    acts = {i: Signal(act_bits, name=f"a{i}") for i in lanes}
    chunks = build_heap(m, plan, acts, name="h", en=1, register_every=1, depth=plan.depth + 1)
    n, depth = len(chunks), plan.depth + 1
    half = 1 << (act_bits - 1)
    combos = list(itertools.product(range(-half, half), repeat=len(lanes)))
    seen = {j: [] for j in range(n)}

    async def bench(ctx):
        for cycle in range(len(combos) + depth + 1):
            if cycle < len(combos):
                for lane, v in zip(lanes, combos[cycle], strict=True):
                    ctx.set(acts[lane], v % (1 << act_bits))
            for j in range(n):
                seen[j].append(ctx.get(chunks[j]))
            await ctx.tick()

    run_testbench(m, bench)
    log = []
    for b, c in enumerate(combos):
        got = 0
        for j, (lo, _) in enumerate(plan.chunks):
            at = b + depth - (n - 1 - j if skew else 0)
            got += seen[j][at] << lo
        exp = sum((-1 if t.negative else 1) * (c[lanes.index(t.lane)] << t.shift) for t in terms)
        log.append((got, exp))
    return plan, log


def test_chunked_heap_is_exact_and_skewed():
    """The adder cut into 3 chunks (columns 2 and 4, the top one signed), registered every
    level and padded by one: every beat's chunks, each read at its own level, add up to the
    exact sum (every 3-bit activation combination); read all at the top chunk's cycle they
    do not (the skew is real), and a cut at or above the width is dropped."""
    terms = TERM_SETS["mixed"]
    plan, log = _chunked_log(terms, 3, (2, 4))
    assert plan.cuts == (2, 4) and plan.chunks == ((0, 2), (2, 4), (4, plan.width))
    assert plan.depth == -(-len(plan.stages) // STAGES_PER_LEVEL) + 3
    assert all(got == exp for got, exp in log), [c for c in log if c[0] != c[1]][:5]
    _, unskewed = _chunked_log(terms, 3, (2, 4), skew=False)
    assert sum(got != exp for got, exp in unskewed) > len(unskewed) // 2
    assert plan_heap(terms, act_bits=3, act_signed=True, cuts=(2, 99)).cuts == (2,)
    with pytest.raises(ValueError, match="strictly ascending"):
        plan_heap(terms, act_bits=3, act_signed=True, cuts=(4, 2))
    m = Module()
    with pytest.raises(ValueError, match="needs register_every 1"):
        build_heap(m, plan, {}, name="h", en=1, register_every=2, depth=plan.depth)
