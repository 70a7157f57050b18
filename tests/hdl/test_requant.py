# amaranth: UnusedElaboratable=no
"""logdot.hdl.requant: the output-stage requantizers, RTL vs golden, exhaustively.

The golden :class:`logdot.golden.requant.Requant` is checked against logdot.golden.quant in
tests/golden/test_layer.py.

* The Amaranth requantizers (:mod:`logdot.hdl.requant`) must equal the golden model for every
  integer of their whole input range (small widths), simulated with Amaranth's simulator:
  one circuit holds many requantizers sharing the input, so one sweep checks them all.
"""

import re

import pytest
import torch
from amaranth.hdl import Module, Signal, signed

from logdot.golden.requant import Requant
from logdot.hdl.requant import LinearRequantizer, LogRequantizer, make_requantizer
from tests.support.layers import all_inputs
from tests.support.stream import run_testbench

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_rtl_requantizer_validation_messages():
    rq = Requant.log(in_bits=4, scale_x2=0, bits=3, fsr=0)
    msg = "requant must be a logdot.golden.requant.Requant, not None"
    with pytest.raises(TypeError, match=re.escape(msg)):
        LogRequantizer(requant=None)
    with pytest.raises(ValueError, match=re.escape("requant.kind must be 'linear', not 'log'")):
        LinearRequantizer(requant=rq)


def test_rtl_requantizer_messages_and_members_are_exact():
    """Whole messages; ``make_requantizer`` picks the class of the kind; members read back."""
    log = Requant.log(in_bits=4, scale_x2=0, bits=3, fsr=0)
    lin = Requant.linear(in_bits=4, scale_x2=0, bits=3, exp=0)
    not_rq = "requant must be a logdot.golden.requant.Requant, not "
    cases = [
        (lambda: make_requantizer(7), TypeError, not_rq + "7"),
        (lambda: LogRequantizer(requant="x"), TypeError, not_rq + "'x'"),
        (lambda: LogRequantizer(requant=lin), ValueError, "requant.kind must be 'log', not "
         "'linear'"),
        (lambda: LinearRequantizer(requant=log), ValueError, "requant.kind must be 'linear', "
         "not 'log'"),
    ]  # fmt: skip
    for call, exc, msg in cases:
        with pytest.raises(exc) as info:
            call()
        assert str(info.value) == msg
    for rq, cls in ((log, LogRequantizer), (lin, LinearRequantizer)):
        block = make_requantizer(rq)
        assert type(block) is cls
        assert block.requant is rq
        assert block.latency == 0
        assert (len(block.z), block.z.shape().signed, len(block.out)) == (4, True, 3)


# -- the RTL requantizers, exhaustively -------------------------------------------------------


def hw_configs(n):
    """Requantizers of input width ``n`` covering flush, pass-through and saturation."""
    out = []
    for half in (False, True):
        for signed_out in (False, True):
            for bits in (2, 3, 5):
                cb = bits - 1 if signed_out else bits
                for offset in sorted({-n - 2, -n // 2, -1, 0, 1, (1 << cb) - 2, (1 << cb) + 1}):
                    out.append(
                        Requant(
                            in_bits=n,
                            kind="log",
                            out_bits=bits,
                            out_signed=signed_out,
                            offset=offset,
                            half=half,
                        )
                    )
    for signed_out in (False, True):
        for bits in (2, 4, n, n + 3):
            for shift in (-3, -1, 0, 1, 2, n - 1, n, n + 2):
                out.append(
                    Requant(
                        in_bits=n, kind="linear", out_bits=bits, out_signed=signed_out, shift=shift
                    )
                )
    return out


def simulate_all(n, requants):
    """Outputs of every requantizer for every input of width ``n`` (Amaranth simulator)."""
    m = Module()
    z = Signal(signed(n), name="z")
    blocks = []
    for i, rq in enumerate(requants):
        b = make_requantizer(rq)
        m.submodules[f"rq{i}"] = b
        m.d.comb += b.z.eq(z)
        blocks.append(b)
    inputs = all_inputs(n).tolist()
    got = [[] for _ in requants]

    async def bench(ctx):
        for v in inputs:
            ctx.set(z, v)
            for i, b in enumerate(blocks):
                got[i].append(ctx.get(b.out))

    run_testbench(m, bench, clock=False)
    return inputs, got


def as_field_values(rq, raw):
    """Raw output bits -> the golden model's integer (two's complement for signed linear)."""
    if rq.kind == "linear" and rq.out_signed:
        b = rq.out_bits
        return [v - (1 << b) if v >> (b - 1) else v for v in raw]
    return raw


@pytest.mark.parametrize("n", [2, 3, 5, 8, 10])
def test_rtl_requantizers_exhaustive(n):
    """Every integer of the input range, every configuration: RTL == golden."""
    requants = hw_configs(n)
    inputs, got = simulate_all(n, requants)
    z = torch.tensor(inputs, dtype=torch.int64)
    assert len(inputs) == 1 << n
    for rq, raw in zip(requants, got, strict=True):
        assert as_field_values(rq, raw) == rq(z).tolist(), rq


def test_rtl_requantizer_from_scales():
    """The requantizers of real layers (built from scales) agree too: 9-bit inputs."""
    requants = [
        Requant.log(in_bits=9, scale_x2=sx2, bits=4, fsr=fsr, signed=sg)
        for sx2 in (-5, -4, 1)
        for fsr in (-3, 0, 4)
        for sg in (False, True)
    ]
    requants += [Requant.linear(in_bits=9, scale_x2=-4, bits=6, exp=e) for e in (-4, -2, 1)]
    inputs, got = simulate_all(9, requants)
    z = torch.tensor(inputs, dtype=torch.int64)
    for rq, raw in zip(requants, got, strict=True):
        assert as_field_values(rq, raw) == rq(z).tolist(), rq


def test_rtl_check_can_fail():
    """A requantizer built with different constants disagrees with the golden model."""
    good = Requant(in_bits=5, kind="log", out_bits=3, offset=1)
    wrong = Requant(in_bits=5, kind="log", out_bits=3, offset=2)
    inputs, got = simulate_all(5, [wrong])
    assert got[0] != good(torch.tensor(inputs)).tolist()
