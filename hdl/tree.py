"""Balanced adder tree with exact widths, folded carries and optional pipeline registers."""

from __future__ import annotations

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int, read_only_params, signed_width

__all__ = ["AdderTree", "tree_latency"]


def tree_latency(n, register_every):
    """Pipeline registers of an :class:`AdderTree` of ``n`` terms: ``depth // register_every``
    (0 when ``register_every == 0``), with ``depth = ceil(log2(n))``."""
    return 0 if register_every == 0 else (n - 1).bit_length() // register_every


@read_only_params("n", "lo", "hi", "carries", "register_every")
class AdderTree(wiring.Component):
    """Sum of ``n`` signed terms, each given as ``term + carry`` (a folded negation).

    Adjacent nodes are paired level by level (an odd node passes through to the next level),
    so the depth is ``ceil(log2(n))`` for any ``n``. Every adder ``a + b + carry_a`` absorbs
    one pending carry as its carry-in (free on FPGA carry chains); the one carry left over
    comes out as ``carry``, so ``sum + carry`` is the exact sum. A node over ``k`` terms holds
    a value in ``[k * lo, k * hi + (k - 1)]`` (``[k * lo, k * hi]`` without carries) and is
    exactly ``signed_width`` of that range wide, never wider.

    Latency: :attr:`latency` cycles (:func:`tree_latency`), the number of levels ``L``
    (1-based) with ``L % register_every == 0`` (0 when ``register_every == 0`` or ``n == 1``).
    Registers advance when ``en`` is high. Throughput: one set of terms per cycle.

    Parameters
    ----------
    n : int
        Number of terms (>= 1).
    lo, hi : int
        Range of one ``term[i]`` input (the folded value, without its carry).
    register_every : int
        Register the node values every this many levels; 0 for a combinational tree.
    carries : bool
        Whether the terms come with carry bits (``False``: ``carry_in`` is ignored and
        the ``carry`` output is 0).

    Members
    -------
    en : In(1)
        Pipeline advance (clock enable of every register).
    term : In(signed(node_bits(1))).array(n)
        The terms; ``term[i]`` is folded: the true value is ``term[i] + carry_in[i]``.
    carry_in : In(1).array(n)
        Carry of each term.
    sum : Out(signed(node_bits(n)))
        The sum minus ``carry``.
    carry : Out(1)
        The one carry not absorbed by the tree.
    """

    def __init__(self, *, n, lo, hi, register_every=0, carries=True):
        check_int(n, "n", 1)
        check_int(lo, "lo")
        check_int(hi, "hi")
        if lo > hi:
            raise ValueError(f"lo must be <= hi, not lo={lo!r}, hi={hi!r}")
        check_int(register_every, "register_every", 0)
        if not isinstance(carries, bool):
            raise TypeError(f"carries must be a bool, not {carries!r}")
        self._n = n
        self._lo = lo
        self._hi = hi
        self._register_every = register_every
        self._carries = carries
        super().__init__(
            {
                "en": In(1),
                "term": In(signed(self.node_bits(1))).array(n),
                "carry_in": In(1).array(n),
                "sum": Out(signed(self.node_bits(n))),
                "carry": Out(1),
            }
        )

    @property
    def depth(self):
        """Number of adder levels, ``ceil(log2(n))``."""
        return (self._n - 1).bit_length()

    @property
    def latency(self):
        """Pipeline registers between the terms and ``sum``."""
        return tree_latency(self._n, self._register_every)

    def node_range(self, k):
        """``(lo, hi)`` of a node over ``k`` terms: ``k`` terms and ``k - 1`` absorbed carries."""
        c = k - 1 if self._carries else 0
        return k * self._lo, k * self._hi + c

    def node_bits(self, k):
        """Width of a node over ``k`` terms: ``signed_width(*node_range(k))``."""
        return signed_width(*self.node_range(k))

    def elaborate(self, platform):
        m = Module()
        # A node: (value, pending carry, number of leaves).
        nodes = []
        for i in range(self._n):
            carry = self.carry_in[i] if self._carries else 0
            nodes.append((self.term[i], carry, 1))
        level = 0
        while len(nodes) > 1:
            level += 1
            reg = self._register_every and level % self._register_every == 0
            domain = m.d.sync if reg else m.d.comb
            nxt = []
            for i in range(0, len(nodes), 2):
                j = i // 2
                if i + 1 < len(nodes):
                    (va, ca, ka), (vb, cb, kb) = nodes[i], nodes[i + 1]
                    k = ka + kb
                    # keep: stops Yosys from merging the whole tree into one $macc, which it
                    # maps to a LUT compressor (about twice the LUTs of carry-chain adders).
                    s = Signal(
                        signed(self.node_bits(k)),
                        name=f"sum_l{level}_{j}",
                        reset_less=reg,
                        attrs={"keep": 1},
                    )
                    expr = va + vb + ca if self._carries else va + vb
                    cout = cb
                else:
                    va, ca, k = nodes[i]
                    s = Signal(signed(self.node_bits(k)), name=f"pass_l{level}_{j}", reset_less=reg)
                    expr, cout = va, ca
                if reg:
                    with m.If(self.en):
                        domain += s.eq(expr)
                    if self._carries:
                        c = Signal(name=f"carry_l{level}_{j}", reset_less=True)
                        with m.If(self.en):
                            domain += c.eq(cout)
                        cout = c
                else:
                    domain += s.eq(expr)
                nxt.append((s, cout, k))
            nodes = nxt
        value, carry, _ = nodes[0]
        m.d.comb += [self.sum.eq(value), self.carry.eq(carry)]
        return m
