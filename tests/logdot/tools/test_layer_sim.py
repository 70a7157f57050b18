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
