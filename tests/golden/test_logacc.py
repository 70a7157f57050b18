"""Tests of logdot.golden.logacc (log-domain accumulation): the log-add table against decimal
arithmetic, its error bound, log_matmul against a Python reference, and the accumulating layers."""

from decimal import Decimal, getcontext

import pytest
import torch
from torch import nn

from logdot.golden import logacc
from logdot.golden.nn import (
    FORMATS,
    LogConv2d,
    LogLinear,
    calibrate,
)
from logdot.golden.quant import (
    log_quant,
)

QUANT_FORMATS = FORMATS[1:]


# -- log-domain accumulation ------------------------------------------------------------------


@pytest.mark.parametrize("f", [0, 1, 2, 5, 8])
def test_log_add_table_exact(f):
    """Each entry against 60-digit decimal arithmetic (no tie is possible for r > 0)."""
    getcontext().prec = 60
    table = logacc.log_add_table(f)
    assert len(table) == 1 << f and table[0] == 1 << f
    for r, t in enumerate(table):
        v = Decimal(2) ** (Decimal(f) - Decimal(r) / Decimal(1 << f))
        assert abs(Decimal(t) - v) < Decimal("0.5"), (r, t, v)


def test_log_add_error_bound():
    """log2(a + b) within the paper's 0.086 (plus the integer rounding) of the exact value."""
    f = 8
    big = torch.zeros(4000, dtype=torch.int64)
    small = -torch.arange(4000, dtype=torch.int64)  # differences 0 .. ~15.6 in log2 units
    got = logacc.log_add(big, small, f).double() / (1 << f)
    exact = torch.log2(1 + torch.exp2(small.double() / (1 << f)))
    err = got - exact
    assert float(err.max()) <= 0.5 / (1 << f)
    assert float(err.min()) >= -0.0861 - 1.5 / (1 << f)
    assert float(err.min()) < -0.08  # the approximation's worst case is really reached
    assert logacc.log_add(torch.tensor([5 << f]), torch.tensor([5 << f]), f).item() == 6 << f


def ref_log_states(wc, wf, ac, af, f):
    """Plain-Python log-domain accumulation of one dot product: (pos, neg) or None."""
    table = logacc.log_add_table(f)
    acc = {False: None, True: None}
    for w, a in zip(wc.tolist(), ac.tolist(), strict=True):
        cw, ca = w & ((1 << wf.code_bits) - 1), a & ((1 << af.code_bits) - 1)
        if cw == 0 or ca == 0:
            continue
        neg = bool(wf.signed and (w >> wf.code_bits)) ^ bool(af.signed and (a >> af.code_bits))
        ew = wf.fsr - (1 << wf.code_bits) + cw
        ea = af.fsr - (1 << af.code_bits) + ca
        # log2 of the product with f fraction bits; sqrt2 exponents are half units.
        t = (ew << f if wf.base == 2 else ew << (f - 1)) + (
            ea << f if af.base == 2 else ea << (f - 1)
        )
        cur = acc[neg]
        if cur is None:
            acc[neg] = t
        else:
            hi, d = max(cur, t), abs(cur - t)
            acc[neg] = hi + (table[d % (1 << f)] >> min(d >> f, 62))
    return acc[False], acc[True]


def check_states(pos, neg, wc, wf, ac, af, f):
    """Compare whole outputs with the reference; return the number of mismatches."""
    bad = 0
    for o in range(wc.shape[0]):
        for b in range(ac.shape[0]):
            for p in range(ac.shape[2]):
                rp, rn = ref_log_states(wc[o], wf, ac[b, :, p], af, f)
                for r, g in ((rp, int(pos[b, o, p])), (rn, int(neg[b, o, p]))):
                    if not ((r is None and g < logacc.EMPTY_BELOW) or r == g):
                        bad += 1
    return bad


CASES = [
    # (weight fmt, act fmt, frac_bits)
    (logacc.LogOperand(4, 0), logacc.LogOperand(4, 1, signed=False), 8),
    (logacc.LogOperand(5, -2, base="sqrt2"), logacc.LogOperand(3, 2, signed=False), 3),
    (logacc.LogOperand(3, 1), logacc.LogOperand(4, -1, signed=True), 0),
    (logacc.LogOperand(6, 3, base="sqrt2"), logacc.LogOperand(5, 0, signed=True), 1),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_log_matmul_matches_python_reference(case, seed):
    wf, af, f = CASES[case]
    g = torch.Generator().manual_seed(seed)
    wc = torch.randint(0, 1 << wf.bits, (3, 25), generator=g)
    ac = torch.randint(0, 1 << af.bits, (2, 25, 4), generator=g)
    ac[0, :, 0] = 0  # an all-zero dot product
    wc[1, :12] = (1 << wf.bits) - 1  # runs of equal maximal terms
    pos, neg = logacc.log_matmul_states(wc, wf, ac, af, frac_bits=f)
    assert check_states(pos, neg, wc, wf, ac, af, f) == 0
    y = logacc.log_matmul(wc, wf, ac, af, frac_bits=f)
    assert y[0, :, 0].eq(0).all()


def test_wrong_golden_table_is_caught(monkeypatch, seed):
    """The reference comparison is sensitive: one table entry off by one is detected."""
    wf, af, f = CASES[0]
    g = torch.Generator().manual_seed(seed)
    wc = torch.randint(0, 1 << wf.bits, (4, 40), generator=g)
    ac = torch.randint(0, 1 << af.bits, (3, 40, 5), generator=g)
    good = logacc.log_add_table(f)
    wrong = (*good[:1], good[1] + 1, *good[2:])
    monkeypatch.setattr(logacc, "log_add_table", lambda frac_bits: wrong)
    pos, neg = logacc.log_matmul_states(wc, wf, ac, af, frac_bits=f)
    monkeypatch.setattr(logacc, "log_add_table", lambda frac_bits: good)
    assert check_states(pos, neg, wc, wf, ac, af, f) > 0


def test_log_accumulation_layers(seed):
    """LogConv2d / LogLinear with accumulation='log' against logacc on the golden codes,
    and exact when every dot product has a single non-zero term."""
    conv = nn.Conv2d(2, 3, 3, padding=1)
    x_cal = torch.rand(16, 2, 6, 6)
    kw = dict(weight_format="log2", weight_bits=5, act_format="log2", act_bits=4)
    qe = LogConv2d.from_float(conv, **kw)
    ql = LogConv2d.from_float(conv, accumulation="log", frac_bits=6, **kw)
    calibrate(qe, x_cal)
    calibrate(ql, x_cal)
    assert int(qe.input_quant.scale) == int(ql.input_quant.scale)
    x = torch.rand(4, 2, 6, 6)
    sa, sw = int(ql.input_quant.scale), int(ql.weight_quant.scale)
    a = log_quant(x, 4, sa, signed=False)
    w = log_quant(conv.weight.detach(), 5, sw)
    want = logacc.log_conv2d(
        a,
        logacc.LogOperand(4, sa, signed=False),
        w,
        logacc.LogOperand(5, sw),
        conv.bias,
        padding=1,
        frac_bits=6,
    )
    with torch.no_grad():
        assert torch.equal(ql(x), want.float())
        # Log accumulation underestimates sums of same-sign terms; close to exact here.
        assert (ql(x) - qe(x)).abs().max() < 0.3 * qe(x).abs().max()
    lin = LogLinear(
        6,
        2,
        bias=False,
        weight_format="log2",
        weight_bits=4,
        act_format="log2",
        act_bits=4,
        accumulation="log",
    )
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[0.5, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, -0.25]]))
    v = torch.tensor([[1.0, 2.0, 4.0, 0.5, 0.25, 2.0]])
    calibrate(lin, v)
    assert lin(v).tolist() == [[0.5, -0.5]]
