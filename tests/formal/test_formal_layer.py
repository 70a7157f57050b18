"""SymbiYosys proofs of the layer engine top (``tests/formal/layer_harness.py``): every output
equals the reference (weight program, bias program, bias, ReLU, requantizer, run-time
weight port) and the stream properties hold, by bounded model checking from reset with every
input free in every cycle (resets anywhere, every back-pressure pattern). All are under
``make formal`` (each takes one to several minutes on the shared machine).

Vacuity guards: mutated tops must FAIL (a weight-program counter that wraps one beat early,
a bias counter that wraps one dot product early, a weight loader that writes the PEs in
reverse order).
"""

from __future__ import annotations

from unittest import mock

import pytest
import torch
from amaranth.hdl import Fragment

import logdot.hdl.layer as hdl_layer
from logdot.golden.formats import EngineConfig
from logdot.golden.layer import LayerConfig, z_bits
from logdot.golden.requant import Requant
from logdot.hdl.layer import LogLayerTop, layer_latency
from tests.formal.layer_harness import LAYER_LEMMAS, LAYER_PROPERTIES, LayerHarness
from tests.formal.sby_runner import run_sby, trace_table
from tests.support.layers import random_layer

pytestmark = [pytest.mark.formal, pytest.mark.full]


#: The engine of :func:`small_layer` where no keyword names the field.
SMALL_ENGINE = dict(lanes=1, act_bits=2, weight_bits=2, act_format="log", act_signed=False,
                    max_beats=16)  # fmt: skip


def small_layer(seed, *, pes=2, depth=2, dots=2, bias_bits=3, relu=True, kind="log", out_bits=3,
                **engine):  # fmt: skip
    """A small random :class:`~logdot.golden.layer.Layer` (seeded weights and bias); the
    keywords beyond the layer's own are :class:`EngineConfig` fields (over
    :data:`SMALL_ENGINE`)."""
    eng = EngineConfig(**{**SMALL_ENGINE, **engine})
    zb = z_bits(eng, bias_bits)
    if kind == "log":
        rq = Requant.log(in_bits=zb, scale_x2=0, bits=out_bits, fsr=4, signed=not relu)
    else:
        rq = Requant.linear(in_bits=zb, scale_x2=0, bits=out_bits, exp=1, signed=not relu)
    cfg = LayerConfig(
        engine=eng, pes=pes, depth=depth, dots=dots, bias_bits=bias_bits, relu=relu, requant=rq
    )
    return random_layer(cfg, torch.Generator().manual_seed(seed))


#: id -> (layer keyword arguments, weight_port, extra BMC cycles beyond the latency)
CONFIGS = {
    "l1_p2_d2_t2_log": (dict(), False, 3),
    "l1_p2_d3_t2_linear_norelu": (
        dict(depth=3, act_format="linear", act_signed=True, relu=False, kind="linear",
             out_bits=4),
        False,
        3,
    ),
    # 2 lanes of 3-bit codes did not finish in 15 minutes at depth latency + 4 (loaded machine)
    "l2_p2_d2_t3_log": (dict(lanes=2, dots=3), False, 3),
    "l1_p2_d2_t1_wport": (dict(dots=1), True, 3),
}  # fmt: skip

TRACE = ["f_rst", "f_s_valid", "s_axis_tready", "f_s_last", "f_s_data", "f_m_ready",
         "m_axis_tvalid", "m_axis_tdata", "m_axis_tlast", "f_expected", "f_track", "f_n_in",
         "f_n_out"]  # fmt: skip


def _prove(tmp_path, name, seed=1, make_dut=None, hints=True):
    kw, wport, extra = CONFIGS[name]
    layer = small_layer(seed, **kw)
    depth = layer_latency(layer.config) + extra
    harness = LayerHarness(
        layer, weight_port=wport, make_dut=make_dut, hints=hints, max_depth=depth
    )
    result = run_sby(harness, tmp_path / name, depth=depth, timeout=3600)
    return harness, result


@pytest.mark.parametrize("name", list(CONFIGS))
def test_layer_bmc(tmp_path, name):
    harness, result = _prove(tmp_path, name)
    detail = "\n" + trace_table(result, TRACE) if result.status == "FAIL" else ""
    assert result.status == "PASS", result.summary() + detail
    expected = set(LAYER_PROPERTIES) | set(LAYER_LEMMAS)
    if harness.weight_port:
        expected.add("w_ready")
    assert set(harness.lines.values()) == expected
    assert harness.hints_used == list(LAYER_LEMMAS)


class MutantLayerTop(LogLayerTop):
    """The real top elaborated with one deliberate bug (``kind``):

    * ``"beat_count"`` / ``"dot_count"``: the weight-program (bias-program) counter wraps
      one step early (its modulus minus one);
    * ``"pe_order"``: the weight loader writes PE ``p``'s words into PE ``pes - 1 - p``.
    """

    kind = None

    def elaborate(self, platform):
        real_counter, real_loader = hdl_layer._counter, hdl_layer.LogLayerEngine._weight_loader

        def counter(m, name, modulus, advance):
            return real_counter(m, name, modulus - (name == self.kind), advance)

        def loader(engine, m, cfg, ports):
            return real_loader(engine, m, cfg, ports[::-1] if self.kind == "pe_order" else ports)

        with (
            mock.patch.object(hdl_layer, "_counter", counter),
            mock.patch.object(hdl_layer.LogLayerEngine, "_weight_loader", loader),
        ):
            return Fragment.get(super().elaborate(platform), platform)


def _mutant(kind):
    return type(f"Mutant_{kind}", (MutantLayerTop,), {"kind": kind})


@pytest.mark.parametrize(
    "kind,name",
    [("beat_count", "l1_p2_d2_t2_log"), ("dot_count", "l1_p2_d2_t2_log"),
     ("pe_order", "l1_p2_d2_t1_wport")],
)  # fmt: skip
def test_layer_mutant_fails(tmp_path, kind, name):
    """Each mutant FAILs, on the end-to-end ``result_value`` alone (no lemmas)."""
    _, result = _prove(tmp_path, name, make_dut=_mutant(kind), hints=False)
    assert result.status == "FAIL", result.summary()
    assert "result_value" in result.failed, result.failed
