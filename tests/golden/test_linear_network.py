"""The multiplier baseline in networks: layer specs with linear two's-complement weights, their
mapping onto layer engines, the network file and the golden forward pass."""

from __future__ import annotations

import dataclasses
import random
import re

import pytest
import torch

from logdot.golden.engine import dot
from logdot.golden.linear_engine import LinearConfig, linear_dot
from logdot.golden.mapping import LayerSpec, map_layer
from logdot.golden.network import encode_input, max_abs_result, network_forward
from logdot.golden.network_file import load_network, save_network
from logdot.golden.network_torch import predict, predict_outputs
from tests.support.layers import assert_spec_round_trips, integer_layer, layer_by_layer
from tests.support.networks import linear_cnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _signed(codes, bits):
    return torch.where(codes >= 1 << (bits - 1), codes - (1 << bits), codes)


def _spec(**kw):
    base = {
        "kind": "linear",
        "weight_codes": torch.tensor([[1, 7, 8, 15]]),
        "weight_bits": 4,
        "weight_base": 2,
        "weight_fsr": -3,
        "act_format": "linear",
        "act_bits": 6,
        "act_signed": False,
        "act_scale": -6,
        "bias": torch.tensor([0.25]),
        "relu": False,
        "out_kind": "linear",
        "out_bits": 16,
        "out_signed": True,
        "out_scale": None,
        "weight_format": "linear",
    }
    return LayerSpec(**{**base, **kw})


@pytest.mark.parametrize(
    ("kw", "msg"),
    [
        ({"act_format": "log", "act_scale": 2, "act_bits": 4},
         "linear weights (the multiplier baseline) need linear activations, not act_format 'log'"),
        ({"weight_base": "sqrt2"},
         "linear weights need weight_base 2 and frac_bits None, not 'sqrt2' and None"),
        ({"weight_format": "float"}, "weight_format must be one of"),
        # two-term weights (tests/golden/test_twoterm_network.py) are validated the same way
        ({"weight_format": "twoterm", "act_format": "log", "act_scale": 2, "act_bits": 4},
         "two-term weights (two shifts) need linear activations, not act_format 'log'"),
        ({"weight_format": "twoterm", "weight_base": "sqrt2"},
         "two-term weights need weight_base 2 and frac_bits None, not 'sqrt2' and None"),
        ({"weight_format": "twoterm", "weight_bits": 2, "weight_codes": torch.tensor([[1, 2]])},
         "weight_bits must be an integer in [3, 8], not 2"),
    ],
)  # fmt: skip
def test_linear_spec_is_validated(kw, msg):
    with pytest.raises(ValueError, match=re.escape(msg)):
        _spec(**kw)


def test_spec_dict_names_the_format_only_for_linear_weights():
    lin = _spec()
    assert assert_spec_round_trips(lin)["weight_format"] == "linear"
    log = dataclasses.replace(lin, weight_format="log", act_format="log", act_scale=0)
    assert "weight_format" not in assert_spec_round_trips(log)  # a log spec dict as before


def test_linear_engine_and_scale():
    spec = _spec()
    ml = map_layer(spec, lanes=3, pes=1)
    assert isinstance(ml.config.engine, LinearConfig)
    # one LSB of the result: 2**(weight exp + act exp) = 2**-9, twice the exponent -18
    assert ml.scale_x2 == -18
    assert ml.bias_int.tolist() == [128]  # 0.25 / 2**-9
    # x = (63, 1, 2, 3): 63*1 + 1*7 + 2*(-8) + 3*(-1) = 51, plus the bias
    assert ml.forward(torch.tensor([[63, 1, 2, 3]])).tolist() == [[51 + 128]]


def test_dot_of_a_linear_config_is_the_linear_golden(seed):
    rng = random.Random(seed)
    cfg = LinearConfig(lanes=5, act_bits=7, weight_bits=5, act_signed=True, max_beats=3)
    beats = 40
    a = torch.randint(-64, 64, (beats, 5))
    w = torch.randint(0, 32, (beats, 5))
    last = torch.tensor([rng.random() < 0.3 for _ in range(beats - 1)] + [True])
    assert dot(cfg, a, w, last).tolist() == linear_dot(cfg, a, w, last)


def _loop_reference(cfg, a, w, last):
    """Beat by beat, wrapping (or saturating) after every beat: the hardware accumulator."""
    lo, hi = cfg.acc_range
    wv = _signed(torch.as_tensor(w), cfg.weight_bits).tolist()
    out, acc = [], 0
    for row_a, row_w, end in zip(torch.as_tensor(a).tolist(), wv, last, strict=True):
        acc += sum(x * y for x, y in zip(row_a, row_w, strict=True))
        acc = min(max(acc, lo), hi) if cfg.saturating else ((acc - lo) % (1 << cfg.acc_bits)) + lo
        if end:
            out.append(acc)
            acc = 0
    return out


@pytest.mark.parametrize("acc_bits", [None, 9])
def test_linear_dot_wraps_and_saturates_like_the_accumulator(acc_bits, seed):
    """Dot products longer than max_beats wrap (exact width) or saturate, beat by beat."""
    rng = random.Random(seed)
    cfg = LinearConfig(lanes=3, act_bits=8, weight_bits=8, max_beats=2, acc_bits=acc_bits)
    beats = 200
    a = torch.randint(-128, 128, (beats, 3))
    w = torch.randint(0, 256, (beats, 3))
    last = [rng.random() < 0.05 for _ in range(beats - 1)] + [True]
    want = _loop_reference(cfg, a, w, last)
    assert linear_dot(cfg, a, w, last) == want
    assert linear_dot(cfg, a[:0], w[:0], []) == []


def test_max_abs_result_bounds_every_linear_result(seed):
    spec = _spec(act_signed=True)
    big = max_abs_result(spec)
    w = _signed(spec.weight_codes[0], 4)
    assert big.tolist() == [int(w.abs().sum()) * 32]
    # the extreme inputs reach at most the bound
    a = torch.tensor([[-32 if v > 0 else 31 for v in w.tolist()]])
    one = map_layer(dataclasses.replace(spec, bias=None), lanes=4, pes=1)
    assert abs(one.forward(a).item()) <= big.item()


def _reference_layer(ml, x):
    """A mapped layer's outputs from the spec alone: the integer layer of the signed weights
    (:func:`tests.support.layers.integer_layer`)."""
    return integer_layer(ml, x, _signed(ml.spec.weight_codes, ml.spec.weight_bits))


@pytest.mark.parametrize("weight_bits", [8, 5])
def test_every_layer_of_a_linear_network_is_the_integer_reference(weight_bits, seed):
    net, _ = linear_cnn(seed % 3, weight_bits=weight_bits)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 64, (5, *net.input_shape), generator=g)

    def reference(layer, ml, y):
        assert isinstance(ml.config.engine, LinearConfig)
        return _reference_layer(ml, y)

    for fold in ({0: (3, 2), 2: (9, 2), 4: (5, 2)}, {0: (9, 3), 2: (27, 4), 4: (16, 3)}):
        layer_by_layer(net, x, fold, reference)


def test_linear_network_file_round_trip_and_damage(tmp_path):
    net, _ = linear_cnn(1, weight_bits=8, act_bits=8)
    path = tmp_path / "lin.net.pt"
    save_network(net, path)
    back = load_network(path)
    assert [x.spec.weight_format for x in back.engines] == ["linear"] * 3
    x = encode_input(net, torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(network_forward(back, x), network_forward(net, x))
    d = torch.load(path, weights_only=True)
    d["layers"][0]["spec"]["weight_format"] = "float"
    torch.save(d, tmp_path / "bad.net.pt")
    with pytest.raises(ValueError, match=r"layer 0 \(conv2d\): bad spec: weight_format must be"):
        load_network(tmp_path / "bad.net.pt")


def test_golden_predictions_follow_the_fake_quantized_model():
    """Integer golden and the fake-quantized PyTorch model (8-bit weights and activations)
    agree on the class of nearly every image (they differ only by rounding ties)."""
    net, q = linear_cnn(2, weight_bits=8, act_bits=8)
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    golden = predict_outputs(net, network_forward(net, encode_input(net, x)))
    assert int((golden == predict(q, x)).sum()) >= 60
