"""SymbiYosys proof of the network top's frame protocol (``tests/formal/network_harness.py``)
for a tiny network (flatten + linear on a 1 x 1 x 2 image: the flatten feeder, one layer
engine, the gearbox, a FIFO and the output assembler), by bounded model checking from reset
with every input free (exact, short and long frames, idles, back-pressure, resets), at depth
``latency_bound + 4``. Under ``make formal`` (several minutes on the shared machine).

Vacuity guards: a top whose output valid stays low after its first word (a hang) and one
whose ``frame_error`` is stuck at 0 must FAIL, on ``response`` and ``error_set``.
"""

from __future__ import annotations

import pytest
import torch
from amaranth.hdl import Module, Signal
from torch import nn

from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model
from logdot.hdl.network import NetworkTop
from tests.formal.network_harness import NETWORK_PROPERTIES, NetworkHarness
from tests.formal.sby_runner import run_sby

pytestmark = [pytest.mark.formal, pytest.mark.full, pytest.mark.usefixtures("one_torch_thread")]


def tiny_network():
    torch.manual_seed(0)
    q = quantize_model(
        nn.Sequential(nn.Flatten(), nn.Linear(2, 1)),
        weight_format="log2",
        weight_bits=3,
        act_format="log2",
        act_bits=2,
        calib_data=torch.rand(8, 1, 1, 2),
    )
    return export_network(q, (1, 1, 2))


class _WrappedTop(NetworkTop):
    """The real top behind a wrapper that may corrupt ``m_axis_tvalid`` / ``frame_error``."""

    def _corrupt(self, m, real):
        raise NotImplementedError

    def elaborate(self, platform):
        m = Module()
        m.submodules.real = real = NetworkTop(self.net)
        m.d.comb += [
            real.s_axis_tvalid.eq(self.s_axis_tvalid),
            self.s_axis_tready.eq(real.s_axis_tready),
            real.s_axis_tlast.eq(self.s_axis_tlast),
            real.s_axis_tdata.eq(self.s_axis_tdata),
            self.m_axis_tlast.eq(real.m_axis_tlast),
            self.m_axis_tdata.eq(real.m_axis_tdata),
            self.m_axis_tvalid.eq(real.m_axis_tvalid),
            real.m_axis_tready.eq(self.m_axis_tready),
            self.frame_error.eq(real.frame_error),
        ]
        self._corrupt(m, real)
        return m


class HangingTop(_WrappedTop):
    """Its output valid stays low after the first word (the rest of the stream hangs)."""

    def _corrupt(self, m, real):
        done = Signal(name="first_done")
        with m.If(real.m_axis_tvalid & self.m_axis_tready):
            m.d.sync += done.eq(1)
        m.d.comb += [
            self.m_axis_tvalid.eq(real.m_axis_tvalid & ~done),
            real.m_axis_tready.eq(self.m_axis_tready & ~done),
        ]


class ErrorStuckTop(_WrappedTop):
    """Its ``frame_error`` is stuck at 0 (every output right)."""

    def _corrupt(self, m, real):
        m.d.comb += self.frame_error.eq(0)


def _prove(tmp_path, name, make_dut=None):
    net = tiny_network()
    top = NetworkTop(net)
    top._MustUse__silence = True  # built for its latency bound only
    bound = top.latency_bound
    depth = bound + 4
    harness = NetworkHarness(net, bound=bound, make_dut=make_dut, max_depth=depth)
    return harness, run_sby(harness, tmp_path / name, depth=depth, timeout=3600)


def test_network_frame_protocol(tmp_path):
    harness, result = _prove(tmp_path, "top")
    assert result.status == "PASS", result.summary()
    assert set(harness.lines.values()) == set(NETWORK_PROPERTIES)


@pytest.mark.parametrize(
    "make,prop", [(HangingTop, "response"), (ErrorStuckTop, "error_set")], ids=["hang", "error"]
)
def test_network_mutant_fails(tmp_path, make, prop):
    _, result = _prove(tmp_path, prop, make_dut=make)
    assert result.status == "FAIL", result.summary()
    assert prop in result.failed, result.failed
