"""Trained layers to specs and ``layer.pt`` files (``logdot.golden.spec_io``).

A spec from a calibrated :mod:`logdot.golden.nn` layer computes the quantized PyTorch layer;
``save_spec`` / ``load_spec`` round-trip a spec exactly; float formats and foreign files are
refused with clear messages.
"""

import re

import pytest
import torch
from torch import nn

from logdot.golden.mapping import map_layer
from logdot.golden.spec_io import load_spec, save_spec, spec_from_module
from tests.support.layers import quantize_log2, random_conv_spec, random_input

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_spec_save_load_round_trip(tmp_path, seed):
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, base="sqrt2", stride=(2, 1))
    path = tmp_path / "layer.pt"
    save_spec(spec, path)
    back = load_spec(path)
    x = random_input(g, spec)
    assert torch.equal(
        map_layer(back, lanes=5, pes=2).forward(x), map_layer(spec, lanes=5, pes=2).forward(x)
    )
    assert back.stride == (2, 1) and back.weight_base == "sqrt2"
    torch.save({"schema": "nope"}, tmp_path / "bad.pt")
    with pytest.raises(ValueError, match=re.escape("not a logdot layer spec")):
        load_spec(tmp_path / "bad.pt")


def tiny_quantized_cnn(seed):
    """A small random ReLU CNN quantized with log2 weights and log2 activations."""
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Conv2d(4, 3, 3, stride=2))
    calib = torch.rand(16, 1, 7, 7)
    return quantize_log2(model, calib), calib


def test_spec_from_golden_nn_module_matches_the_quantized_layer(seed):
    """The integer layer computes the quantized PyTorch layer: |z * 2**s - conv| is at most
    the bias rounding (half an LSB), and the next layer's input codes agree except where that
    rounding crosses a code boundary."""
    q, x = tiny_quantized_cnn(seed)
    conv1, conv2 = q[0], q[2]
    spec = spec_from_module(conv1, relu=True, next_quant=conv2.input_quant)
    ml = map_layer(spec, lanes=4, pes=3)
    codes_in = conv1.input_quant.codes(x)
    z, (n, pos, _) = ml.reference_z(codes_in)
    with torch.no_grad():
        ref = torch.relu(conv1(x)).double()
    ref = ref.reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    s = ml.scale_x2 / 2
    err = (z.double() * 2.0**s - ref).abs().max().item()
    assert err <= 2.0 ** (s - 1) + 1e-6 * ref.abs().max().item(), err
    with torch.no_grad():
        want = conv2.input_quant.codes(torch.relu(conv1(x)))
    got = ml.forward(codes_in)
    assert (got != want).float().mean().item() < 0.01


def test_spec_from_module_rejects_float_formats(seed):
    from logdot.golden.nn import quantize_model

    q = quantize_model(torch.nn.Sequential(torch.nn.Linear(3, 2)))
    with pytest.raises(ValueError, match=re.escape("weights must be quantized to 'log2'")):
        spec_from_module(q[0], relu=False)


def test_save_spec_keeps_every_field_and_no_temporary_file(tmp_path, seed):
    """Every field survives the file (a linear layer, no bias, a raw linear output), and the
    atomic write leaves nothing but ``layer.pt`` behind."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(
        g, kind="linear", cin=6, cout=3, bias=False, out_kind="linear", out_scale=None, relu=False
    )
    save_spec(spec, tmp_path / "layer.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["layer.pt"]
    back = load_spec(tmp_path / "layer.pt").to_dict()
    want = spec.to_dict()
    assert back.keys() == want.keys()
    assert torch.equal(back.pop("weight_codes"), want.pop("weight_codes"))
    assert back == want
    assert want["bias"] is None and want["out_scale"] is None and want["kind"] == "linear"
