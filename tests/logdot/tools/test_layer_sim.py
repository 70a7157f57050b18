"""logdot.tools.layer_sim: a small conv layer streamed through the generated RTL on both
simulators, with idles and back-pressure, reassembled and compared with the golden model and
with PyTorch."""

import math

import pytest
import torch

from logdot.golden.mapping import map_layer
from logdot.tools.layer_sim import LayerSim, default_build_root
from tests.support.layers import float_layer, random_conv_spec, random_input

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize("sim", ["verilator", "icarus"])
def test_small_conv_layer_through_rtl(sim, seed):
    """A 3 -> 5 channel 3x3 conv (stride 2, padding 1, sqrt(2) weights, ReLU, log output):
    streamed through the generated engine (4 lanes x 2 PEs: 7 beats, 3 tiles) with idles and
    back-pressure, reassembled into the output feature map; equal to the golden model, and
    its real values to PyTorch's conv2d within the requantization."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2", stride=(2, 2))
    ml = map_layer(spec, lanes=4, pes=2)
    x = random_input(g, spec, n=3, h=7, w=6)
    acts, last, shape = ml.stream(x)
    # A persistent build directory: an unchanged engine is not rebuilt on the next run.
    sim_ = LayerSim(ml, default_build_root() / "tests" / f"small_conv_{sim}", sim=sim, name="conv")
    run = sim_.run(acts, last, seed=seed, idle=0.2, backpressure=0.3)
    assert run.beats == acts.shape[0] == 3 * 4 * 3 * 3 * 7
    hw = ml.assemble(run.outputs, shape)
    gold = ml.forward(x)
    assert hw.shape == (3, 5, 4, 3)
    assert torch.equal(hw, gold)
    # The golden model itself against PyTorch: the code of the exact real value.
    z, (n, pos, _) = ml.reference_z(x)
    s = ml.scale_x2 / 2
    bias_real = ml.bias_int.double() * 2.0**s
    ref = torch.relu(float_layer(spec, x, bias_real))
    ref = ref.reshape(n, 5, -1).transpose(1, 2).reshape(n * pos, -1)
    r = ml.config.engine.sqrt2_r / 2.0**ml.config.engine.frac_bits
    assert (z.double() * 2.0**s - ref).abs().max() <= ref.abs().max() * abs(r - math.sqrt(2)) + 1e-9
    # A corrupted golden model would be caught.
    wrong = gold.clone()
    wrong[1, 2, 0, 0] ^= 1
    assert not torch.equal(hw, wrong)
    # No back-pressure: one beat per cycle, beats + latency cycles in all.
    fast = sim_.run(acts, last, tag="fast")
    assert fast.cycles == run.beats + sim_.latency
    assert torch.equal(fast.outputs, run.outputs)


def _small_layer(seed):
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2", stride=(2, 2))
    ml = map_layer(spec, lanes=4, pes=2)
    x = random_input(g, spec, n=1, h=5, w=5)
    return ml, x


@pytest.mark.parametrize("how", ["argument", "WAVES=1"])
def test_waves_icarus(tmp_path, monkeypatch, seed, how):
    """``waves=True`` (or ``WAVES=1``, the cocotb runners' convention) dumps a VCD file per
    run; without it there is none."""
    ml, x = _small_layer(seed)
    acts, last, shape = ml.stream(x)
    if how == "argument":
        sim = LayerSim(ml, tmp_path / "b", sim="icarus", name="conv", waves=True)
    else:
        monkeypatch.setenv("WAVES", "1")
        sim = LayerSim(ml, tmp_path / "b", sim="icarus", name="conv")
    run = sim.run(acts, last, tag="w")
    assert run.waves == tmp_path / "b" / "w.vcd"
    text = run.waves.read_text()
    assert "$enddefinitions" in text and "s_axis_tdata" in text and "m_axis_tdata" in text
    assert torch.equal(ml.assemble(run.outputs, shape), ml.forward(x))
    monkeypatch.delenv("WAVES", raising=False)
    plain = LayerSim(ml, tmp_path / "b", sim="icarus", name="conv")
    assert plain.build().reused is False  # other options: not the same build
    assert plain.run(acts, last, tag="p").waves is None
    assert not (tmp_path / "b" / "p.vcd").exists()


_BUILD_SCRIPT = """
import sys
from logdot.golden.mapping import map_layer
from logdot.tools import interrupt
from logdot.tools.layer_sim import LayerSim
from tests.support.layers import random_conv_spec
import torch
spec = random_conv_spec(torch.Generator().manual_seed(int(sys.argv[2])), base="sqrt2")
with interrupt.handling_interrupts():
    try:
        LayerSim(map_layer(spec, lanes=1, pes=1), sys.argv[1], name="conv", jobs=1).build()
    except KeyboardInterrupt:
        interrupt.kill_children()
        print("layer_sim: interrupted", file=sys.stderr)
        sys.exit(130)
"""


def test_interrupted_verilator_build(tmp_path, seed):
    """Ctrl-C during a Verilator build (the C++ compile): exit 130 within seconds, one line,
    no compiler left running, no completion stamp; the next build rebuilds. One lane and one
    PE: the interruption and the rebuild do not depend on the engine's size, and a 1x1 engine
    compiles in about a third of the time of a 4x2 one."""
    from tests.support.interrupt import Run, assert_interrupted

    bdir = tmp_path / "b"
    run = Run(["-c", _BUILD_SCRIPT, str(bdir), str(seed)])
    run.wait_for(lambda r: {"cc1plus", "g++", "c++"} & set(r.children()), what="the compile")
    res = run.interrupt()
    print(f"LayerSim Verilator build, SIGINT during the compile: ended in {res.seconds:.2f} s")
    assert_interrupted(res, "layer_sim")
    assert not (bdir / ".verilator.sources").exists()
    g = torch.Generator().manual_seed(seed)
    ml = map_layer(random_conv_spec(g, base="sqrt2"), lanes=1, pes=1)
    sim = LayerSim(ml, bdir, name="conv", jobs=1).build()
    assert sim.reused is False
    assert (bdir / ".verilator.sources").exists()
    assert LayerSim(ml, bdir, name="conv").build().reused is True


def test_verilog_is_regenerated_only_when_its_inputs_change(tmp_path, monkeypatch, seed):
    """The same design into the same folder keeps the generated files (and the build), into
    another folder copies them from the shared store; a changed weight, top module name,
    generator source, generated file or store entry generates them again."""
    import dataclasses

    from logdot.tools import generated

    monkeypatch.setenv("LOGDOT_BUILD", str(tmp_path / "root"))  # a store of this test's own
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2")
    ml = map_layer(spec, lanes=1, pes=1)
    d = tmp_path / "b"

    def build(design, name="conv", folder=d):
        sim = LayerSim(design, folder, sim="icarus", name=name).build()
        return sim.generation, sim.reused

    assert build(ml) == ("generated", False)
    verilog = (d / "conv.v").read_text()
    assert build(ml) == ("kept", True)
    assert build(map_layer(spec, lanes=1, pes=1)) == ("kept", True)  # equal content
    assert build(ml, folder=tmp_path / "c") == ("copied", False)
    assert (tmp_path / "c" / "conv.v").read_text() == verilog
    codes = spec.weight_codes.clone()
    codes.view(-1)[0] ^= 1
    other = map_layer(dataclasses.replace(spec, weight_codes=codes), lanes=1, pes=1)
    assert build(other) == ("generated", False)
    assert (d / "conv.v").read_text() != verilog
    assert build(ml) == ("copied", False)
    assert (d / "conv.v").read_text() == verilog
    # A file changed since it was written: replaced (the build of its text is kept).
    (d / "conv.v").write_text(verilog.replace("module conv", "module conv_edited", 1))
    assert build(ml) == ("copied", True)
    assert (d / "conv.v").read_text() == verilog
    # A damaged store entry is not used.
    (entry,) = [e for e in (tmp_path / "root" / "layer" / ".generated").iterdir()
                if (e / "conv.v").read_text() == verilog]  # fmt: skip
    (entry / "conv.v").write_text("damaged")
    assert build(ml, folder=tmp_path / "e") == ("generated", False)
    assert (tmp_path / "e" / "conv.v").read_text() == verilog
    monkeypatch.setattr(generated, "generator_source_digest", lambda: "other sources")
    assert build(ml) == ("generated", True)  # the same text: the build is kept
    assert build(ml) == ("kept", True)
    assert build(ml, name="conv2")[0] == "generated"
