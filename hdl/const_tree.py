"""Adder-tree plans of a constant-weight sum: nodes of exact widths, shifts factored out.

The tree (one per accumulator parity) of :mod:`logdot.hdl.const` when it is cheaper than the
bit heap (:mod:`logdot.hdl.bitheap`):

* A node stands for ``(-1 if negative else 1) * (v << shift)`` with ``v`` in an exact
  ``[lo, hi]``: the sum of the lanes below it, each activation ranging independently over
  its whole range, so the bounds are attained and ``v`` is exactly ``signed_width(lo, hi)``
  bits wide.
* Adding two nodes factors out the smaller shift: the lower node's ``d`` low bits pass
  through as wires and only ``(low >> d) +- high`` needs an adder. Terms of the same sign
  are added (a negative sum stays a positive magnitude with ``negative`` set), so a
  subtraction happens only where a positive and a negative node meet.
* Several pairings are planned (levels of adjacent nodes sorted by sign and shift; the
  cheapest pair first; positive and negative terms in separate trees joined by one
  subtraction) and the cheapest by an estimated iCE40 cost (LUT4 + carry per adder bit, a
  LUT per inverted subtrahend bit) within the allowed depth is chosen.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..golden.formats import check_int, signed_width

__all__ = ["TreeNode", "TreePlan", "combine_nodes", "plan_tree"]

#: Above this many terms the cheapest-pair planner (quadratic per pick) is skipped.
_GREEDY_MAX_TERMS = 96


@dataclass(frozen=True)
class TreeNode:
    """A node of a constant adder tree: ``(-1 if negative else 1) * (v << shift)``.

    Attributes
    ----------
    shift : int
        Weight of ``v``'s least significant bit.
    negative : bool
        Whether the node's value is subtracted where it is used.
    lo, hi : int
        Exact range of ``v`` (attained).
    lanes : tuple of int
        The lanes below the node.
    """

    shift: int
    negative: bool
    lo: int
    hi: int
    lanes: tuple

    @property
    def bits(self):
        """Width of ``v``: ``signed_width(lo, hi)``."""
        return signed_width(self.lo, self.hi)


def combine_nodes(x, y):
    """``(node, op)`` for the sum of nodes ``x`` and ``y``.

    ``op`` is ``(kind, lower, upper, d, adder_bits, inverted_bits)``: ``lower``/``upper`` are
    0/1 (which of ``x``, ``y``) with ``lower`` the smaller shift and ``d`` the shift
    difference; ``kind`` is ``"add"`` (same signs: ``lower + (upper << d)``), ``"sub_hi"``
    (``lower - (upper << d)``, the upper node negative) or ``"sub_lo"`` (``(upper << d) -
    lower``, the lower node negative: no bits pass through).
    """
    pair = (x, y)
    if (x.shift, x.negative) <= (y.shift, y.negative):
        li, ui = 0, 1
    else:
        li, ui = 1, 0
    lo_n, up_n = pair[li], pair[ui]
    d = up_n.shift - lo_n.shift
    lanes = tuple(sorted(x.lanes + y.lanes))
    if lo_n.negative == up_n.negative:
        kind = "add"
        lo, hi = lo_n.lo + (up_n.lo << d), lo_n.hi + (up_n.hi << d)
        adder = signed_width((lo_n.lo >> d) + up_n.lo, (lo_n.hi >> d) + up_n.hi)
        inverted, neg = 0, lo_n.negative
    elif not lo_n.negative:
        kind = "sub_hi"
        lo, hi = lo_n.lo - (up_n.hi << d), lo_n.hi - (up_n.lo << d)
        adder = signed_width((lo_n.lo >> d) - up_n.hi, (lo_n.hi >> d) - up_n.lo)
        inverted, neg = up_n.bits, False
    else:
        kind = "sub_lo"
        lo, hi = (up_n.lo << d) - lo_n.hi, (up_n.hi << d) - lo_n.lo
        adder = signed_width(lo, hi)
        inverted, neg = lo_n.bits, False
    node = TreeNode(shift=lo_n.shift, negative=neg, lo=lo, hi=hi, lanes=lanes)
    return node, (kind, li, ui, d, adder, inverted)


def _op_cost(op):
    _, _, _, _, adder, inverted = op
    return 2 * adder - 1 + inverted  # LUT4 + carry per bit (no carry out of the top bit)


def _sort_key(node):
    return (node.negative, node.shift, node.lo, node.hi, node.lanes)


@dataclass(frozen=True)
class TreePlan:
    """A planned constant adder tree.

    Attributes
    ----------
    leaves : tuple of TreeNode
        One per term, in the order of the ``terms`` given to :func:`plan_tree`.
    levels : tuple of tuple
        Per level, the operations producing the next level's nodes in order: ``(i,)``
        passes node ``i`` on, ``(i, j)`` adds nodes ``i`` and ``j`` of the level before.
    nodes : tuple of tuple of TreeNode
        ``nodes[0]`` are the leaves, ``nodes[L]`` the nodes after level ``L``.
    strategy : str
        The pairing rule that produced the plan.
    cost : int
        Its estimated iCE40 cost (LUT4 + carry cells).
    """

    leaves: tuple
    levels: tuple
    nodes: tuple
    strategy: str
    cost: int

    @property
    def depth(self):
        """Adder levels (0 for one or no term)."""
        return len(self.levels)

    @property
    def root(self):
        """The root node, or ``None`` for an empty tree."""
        return self.nodes[-1][0] if self.nodes[-1] else None


def _replay(leaves, levels):
    """``(history, cost)`` of the operations ``levels`` applied to ``leaves``."""
    history, cost, nodes = [tuple(leaves)], 0, list(leaves)
    for ops in levels:
        nxt = []
        for op in ops:
            if len(op) == 1:
                nxt.append(nodes[op[0]])
            else:
                node, info = combine_nodes(nodes[op[0]], nodes[op[1]])
                cost += _op_cost(info)
                nxt.append(node)
        history.append(tuple(nxt))
        nodes = nxt
    return history, cost


def _run_levels(nodes, choose):
    """Levels of ``choose(nodes) -> ops`` applied until one node is left."""
    levels = []
    while len(nodes) > 1:
        ops = choose(nodes)
        levels.append(tuple(ops))
        nodes = list(_replay(nodes, [ops])[0][-1])
    return levels


def _sorted_pairs(nodes):
    order = sorted(range(len(nodes)), key=lambda i: _sort_key(nodes[i]))
    ops = [(order[k], order[k + 1]) for k in range(0, len(order) - 1, 2)]
    if len(order) % 2:
        ops.append((order[-1],))
    return ops


def _greedy_pairs(nodes):
    free = sorted(range(len(nodes)), key=lambda i: _sort_key(nodes[i]))
    ops = []
    while len(free) > 1:
        best = None
        for a in range(len(free)):
            for b in range(a + 1, len(free)):
                c = _op_cost(combine_nodes(nodes[free[a]], nodes[free[b]])[1])
                if best is None or c < best[0]:
                    best = (c, a, b)
        _, a, b = best
        ops.append((free[a], free[b]))
        free = [f for k, f in enumerate(free) if k not in (a, b)]
    if free:
        ops.append((free[0],))
    return ops


def _split(nodes, choose):
    """Positive and negative nodes in separate trees side by side, then one subtraction."""
    sides = [[i for i, n in enumerate(nodes) if n.negative == neg] for neg in (False, True)]
    subs = [_run_levels([nodes[i] for i in side], choose) for side in sides]
    levels, index = [], sides  # index[side][k]: position of the side's node k
    for step in range(max(len(sub) for sub in subs)):
        ops, new_index = [], []
        for sub, idx in zip(subs, index, strict=True):
            mine = sub[step] if step < len(sub) else tuple((k,) for k in range(len(idx)))
            new_index.append(list(range(len(ops), len(ops) + len(mine))))
            ops += [tuple(idx[k] for k in op) for op in mine]
        levels.append(tuple(ops))
        index = new_index
    levels.append(((0, 1),))
    return levels


def plan_tree(terms, act_range, *, max_depth=None):
    """Plan the constant adder tree of ``terms``; return the cheapest :class:`TreePlan`.

    Parameters
    ----------
    terms : sequence of logdot.golden.const.ConstTerm
        The non-zero lanes of one parity.
    act_range : (int, int)
        Range of one activation.
    max_depth : int or None
        Largest number of adder levels allowed (default: ``ceil(log2(len(terms)))``, the
        fewest possible, plus one).

    Returns
    -------
    TreePlan
        Deterministic for the same arguments.
    """
    a_lo, a_hi = act_range
    leaves = tuple(
        TreeNode(shift=t.shift, negative=t.negative, lo=a_lo, hi=a_hi, lanes=(t.lane,))
        for t in terms
    )
    n = len(leaves)
    least = (n - 1).bit_length() if n else 0
    if max_depth is None:
        max_depth = least + 1
    check_int(max_depth, "max_depth", least)
    candidates = [("sorted", _run_levels(list(leaves), _sorted_pairs))]
    if n <= _GREEDY_MAX_TERMS:
        candidates.append(("greedy", _run_levels(list(leaves), _greedy_pairs)))
    if any(t.negative for t in leaves) and not all(t.negative for t in leaves):
        candidates.append(("split", _split(list(leaves), _sorted_pairs)))
        if n <= _GREEDY_MAX_TERMS:
            candidates.append(("split-greedy", _split(list(leaves), _greedy_pairs)))
    best = None
    for name, levels in candidates:
        if len(levels) > max_depth:
            continue
        history, cost = _replay(leaves, levels)
        if best is None or (cost, len(levels)) < (best.cost, best.depth):
            best = TreePlan(
                leaves=leaves, levels=tuple(levels), nodes=tuple(history), strategy=name, cost=cost
            )
    return best
