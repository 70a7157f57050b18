# amaranth: UnusedElaboratable=no
"""logdot.hdl.tree: the adder tree in Amaranth's simulator against the exact sum (random and
extreme terms, folded carries, pipeline registers and their clock enable), its exact widths
and latency, and its parameter checks."""

from __future__ import annotations

import random
import re

import pytest

from logdot.golden.formats import signed_width
from logdot.hdl.tree import AdderTree, tree_latency
from tests.support.stream import run_testbench

# Trees built only to read their widths and latency are never elaborated.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

#: (n, lo, hi, register_every, carries)
TREES = [
    (1, -8, 7, 0, True),
    (1, -8, 7, 1, True),
    (2, -128, 127, 0, True),
    (3, -5, 9, 1, True),
    (5, 0, 255, 2, False),
    (7, -1016, 1024, 1, True),
    (16, -128, 127, 3, True),
    (13, -3, 0, 2, False),
]


def _id(t):
    return "n{}_[{},{}]_re{}_{}".format(*t[:4], "c" if t[4] else "nc")


def run_tree(tree, beats, *, enables):
    """Outputs ``sum + carry`` of ``tree`` for each cycle's ``(terms, carries)`` beat."""
    got = []

    async def bench(ctx):
        for (terms, carries), en in zip(beats, enables, strict=True):
            ctx.set(tree.en, en)
            for i, (t, c) in enumerate(zip(terms, carries, strict=True)):
                ctx.set(tree.term[i], t)
                ctx.set(tree.carry_in[i], c)
            got.append((ctx.get(tree.sum), ctx.get(tree.carry)))
            if tree.latency:
                await ctx.tick()

    run_testbench(tree, bench, clock=bool(tree.latency))
    return got


@pytest.mark.parametrize("params", TREES, ids=_id)
def test_tree_sums_exactly(params, seed):
    """Random and extreme beats, a random clock enable: after ``latency`` enabled cycles the
    output is the exact sum of the terms (and of their carries, when the tree has them)."""
    n, lo, hi, register_every, carries = params
    tree = AdderTree(n=n, lo=lo, hi=hi, register_every=register_every, carries=carries)
    rng = random.Random(seed)
    beats = [([lo] * n, [1] * n), ([hi] * n, [1] * n), ([hi] * n, [0] * n), ([lo] * n, [0] * n)]
    beats += [
        ([rng.randint(lo, hi) for _ in range(n)], [rng.randint(0, 1) for _ in range(n)])
        for _ in range(60)
    ]
    enables = [1] * 4 + [int(rng.random() < 0.7) for _ in range(60)]
    got = run_tree(tree, beats, enables=enables)
    pipe = [None] * tree.latency  # the beat held by each register level, oldest last
    checked = 0
    for (terms, cs), en, (s, c) in zip(beats, enables, got, strict=True):
        exact = sum(terms) + (sum(cs) if carries else 0)
        want = pipe[-1] if pipe else exact
        if want is not None:
            assert s + c == want, (terms, cs, s, c)
            checked += 1
        assert carries or c == 0
        if pipe and en:
            pipe = [exact, *pipe[:-1]]
    assert checked >= 30
    # A wrong reference is caught: the outputs are not all the same value.
    assert len({s + c for s, c in got}) > 1


@pytest.mark.parametrize("params", TREES, ids=_id)
def test_widths_are_exact_and_latency_matches(params):
    n, lo, hi, register_every, carries = params
    tree = AdderTree(n=n, lo=lo, hi=hi, register_every=register_every, carries=carries)
    c = n - 1 if carries else 0
    assert tree.node_range(n) == (n * lo, n * hi + c)
    assert tree.sum.shape().width == tree.node_bits(n) == signed_width(n * lo, n * hi + c)
    assert tree.term[0].shape().width == signed_width(lo, hi)
    assert tree.depth == (n - 1).bit_length()
    want = 0 if register_every == 0 else tree.depth // register_every
    assert tree.latency == tree_latency(n, register_every) == want


def test_bad_parameters():
    with pytest.raises(ValueError, match=re.escape("n must be an integer >= 1, not 0")):
        AdderTree(n=0, lo=0, hi=1)
    with pytest.raises(ValueError, match=re.escape("lo must be <= hi, not lo=2, hi=1")):
        AdderTree(n=2, lo=2, hi=1)
    with pytest.raises(TypeError, match=re.escape("carries must be a bool, not 1")):
        AdderTree(n=2, lo=0, hi=1, carries=1)
    msg = "register_every must be an integer >= 0, not -1"
    with pytest.raises(ValueError, match=re.escape(msg)):
        AdderTree(n=2, lo=0, hi=1, register_every=-1)
