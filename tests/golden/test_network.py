"""The golden network model: export from quantized PyTorch models and the integer forward pass.

* ``network_forward`` equals an independent computation: the network recomputed on real
  values in float64 (``F.conv2d``, ``F.max_pool2d``, ``log_quant`` / ``linear_quant`` of the
  exact real results; every value a multiple of the result LSB below ``2**53``, so float64 is
  exact), for random small networks (hypothesis, seeded from ``LOGDOT_SEED``) and for the
  digits CNN; the result does not depend on the folding (lanes x PEs).
* Max pooling on codes compares values; batch norm is folded into the convolution.
* Every export error message, and nothing is written on error. (The network file and the
  stream view have their own modules: ``test_network_file.py``, ``test_network_stream.py``.)
"""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st
from torch import nn
from torch.nn import functional as F

from logdot.golden.network import (
    Format,
    encode_input,
    max_pool_codes,
    network_forward,
)
from logdot.golden.network_torch import (
    accuracies,
    export_network,
    model_chain,
    predict_outputs,
)
from logdot.golden.nn import quantize_model
from logdot.golden.quant import linear_dequant, linear_quant, log_dequant, log_quant
from tests.support.layers import quantize_log2
from tests.support.seeds import SEED, quick_settings

QUICK = quick_settings(12, HealthCheck.function_scoped_fixture)


pytestmark = pytest.mark.usefixtures("one_torch_thread")


# -- an independent float64 model of the network ------------------------------------------------


def dequant(fmt, codes):
    if fmt.kind == "log":
        return log_dequant(codes, fmt.bits, fmt.scale, signed=fmt.signed)
    return linear_dequant(codes, fmt.bits, fmt.scale, signed=fmt.signed)


def quant(fmt, x):
    if fmt.kind == "log":
        return log_quant(x, fmt.bits, fmt.scale, signed=fmt.signed)
    return linear_quant(x, fmt.bits, fmt.scale, signed=fmt.signed)


def float64_network(net, pixels):
    """The network on real values in float64 (base-2 weights: every sum is exact).

    Engine layers: ``F.conv2d`` / ``F.linear`` of the dequantized inputs and weights, plus
    the bias rounded half to even to the result's LSB (the smallest weight value times the
    smallest input value), ReLU, then the next layer's codes by ``log_quant`` /
    ``linear_quant`` of the exact real value; the last engine's integer result is the real
    result divided by its LSB.
    """
    fmt = net.input_format
    x = dequant(fmt, pixels)
    for layer in net.layers:
        if layer.type == "maxpool":
            x = F.max_pool2d(x, layer.kernel)
        elif layer.type == "flatten":
            x = x.flatten(1)
        else:
            spec = layer.spec
            assert spec.weight_base == 2
            w = log_dequant(spec.weight_codes, spec.weight_bits, spec.weight_fsr, signed=True)
            lsb = float(log_dequant(torch.tensor(1), spec.weight_bits, spec.weight_fsr))
            lsb *= float(dequant(fmt, torch.tensor(1)))
            b = torch.zeros(spec.out_channels, dtype=torch.float64)
            if spec.bias is not None:
                b = torch.round(spec.bias / lsb) * lsb  # round half to even
            if spec.kind == "conv2d":
                x = F.conv2d(x, w, b, stride=spec.stride, padding=spec.padding)
            else:
                x = F.linear(x, w, b)
            if spec.relu:
                x = x.clamp(min=0)
            out = Format.spec_output(spec)
            if out.scale is None:
                z = x / lsb
                assert torch.equal(z, z.round()) and z.abs().max() < 2**53
                return z.to(torch.int64)
            codes = quant(out, x)
            fmt, x = out, dequant(out, codes)
    return quant(fmt, x)  # a network ending in requantized codes


# -- random small networks ---------------------------------------------------------------------


@st.composite
def small_networks(draw):
    """A random float model (conv/pool blocks, flatten, one or two fc), quantization options
    and an input shape."""
    c, h, w = draw(st.integers(1, 3)), draw(st.integers(3, 8)), draw(st.integers(3, 8))
    act_signed = draw(st.booleans())
    layers, shape = [], (c, h, w)
    if draw(st.booleans()):
        layers.append(nn.MaxPool2d(2))  # pooling of the input codes (floor mode)
        shape = (c, h // 2, w // 2)
    for _ in range(draw(st.integers(1, 2))):
        # square or not: kernel, stride and padding per dimension
        kh, kw = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        ph, pw = draw(st.integers(0, 1)), draw(st.integers(0, 1))
        sh, sw = draw(st.integers(1, 2)), draw(st.integers(1, 2))
        if kh > shape[1] + 2 * ph or kw > shape[2] + 2 * pw:
            break
        cout = draw(st.integers(1, 4))
        layers.append(nn.Conv2d(shape[0], cout, (kh, kw), stride=(sh, sw), padding=(ph, pw)))
        ho = (shape[1] + 2 * ph - kh) // sh + 1
        wo = (shape[2] + 2 * pw - kw) // sw + 1
        shape = (cout, ho, wo)
        block = [nn.ReLU()] if not act_signed or draw(st.booleans()) else []
        pk = draw(st.sampled_from([(1, 1), (2, 2), (1, 2), (2, 1), (3, 3), (2, 3)]))
        # floor mode: the kernel need not divide the image
        if draw(st.booleans()) and shape[1] >= pk[0] and shape[2] >= pk[1]:
            # ReLU before or after the pool (they commute).
            block.insert(draw(st.integers(0, len(block))), nn.MaxPool2d(pk))
            shape = (shape[0], shape[1] // pk[0], shape[2] // pk[1])
        layers += block
    layers.append(nn.Flatten())
    feat = shape[0] * shape[1] * shape[2]
    if draw(st.booleans()):
        hidden = draw(st.integers(2, 6))
        layers += [nn.Linear(feat, hidden), nn.ReLU()]
        feat = hidden
    layers.append(nn.Linear(feat, draw(st.integers(2, 5))))
    act_format = draw(st.sampled_from(["log2", "linear"]))
    opts = dict(
        weight_format="log2",
        weight_bits=draw(st.integers(3, 5)),
        act_format=act_format,
        act_bits=draw(st.integers(3, 5) if act_format == "log2" else st.integers(4, 8)),
        act_signed=act_signed,
    )
    return layers, opts, (c, h, w), draw(st.integers(0, 2**31 - 1))


def build(layers, opts, shape, seed, n=24):
    """A quantized model of fresh ``layers`` (seeded normal weights), and its calibration data."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(*layers)
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.normal_(m.weight, 0, 0.5, generator=g)
            nn.init.normal_(m.bias, 0, 0.3, generator=g)
    x = torch.rand((n, *shape), generator=g)
    if opts.get("act_signed"):
        x = x * 2 - 1
    q = quantize_model(model, calib_data=x, **opts)
    return model, q, x


def _check_random_network(case):
    layers, opts, shape, seed = case
    print(f"random network: {layers} {opts} input {shape} seed {seed} (LOGDOT_SEED={SEED})")
    _, q, x = build(layers, opts, shape, seed)
    net = export_network(q, shape)
    pixels = encode_input(net, x)
    first = next(m for m in q.modules() if hasattr(m, "input_quant"))
    assert torch.equal(pixels, first.input_quant.codes(x))
    got = network_forward(net, pixels)
    assert got.shape == (len(x), *net.output_shape)
    assert torch.equal(got, float64_network(net, pixels))
    # One image at a time, and any folding, give the same outputs.
    assert torch.equal(network_forward(net, pixels[3]), got[3])
    fold = {i: (1 + (i % 3), 1 + (i % 2)) for i, layer in enumerate(net.layers) if layer.is_engine}
    assert torch.equal(network_forward(net, pixels, fold=fold), got)
    assert predict_outputs(net, got).shape == (len(x),)


@hyp_seed(SEED)
@settings(**QUICK)
@given(case=small_networks())
def test_random_networks_equal_an_exact_float64_computation(case):
    _check_random_network(case)


@pytest.mark.full
@hyp_seed(SEED + 1)
@settings(**dict(QUICK, max_examples=150))
@given(case=small_networks())
def test_random_networks_equal_an_exact_float64_computation_full(case):
    _check_random_network(case)


def test_raw_output_width_is_the_tight_bound(seed):
    """The last layer's output width comes from its weights and bias: the largest output fits,
    one bit less would not (all weights and biases positive make the bound reachable)."""
    g = torch.Generator().manual_seed(seed)
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 3))
    with torch.no_grad():
        model[1].weight.copy_(torch.rand(3, 12, generator=g) + 0.1)
        model[1].bias.copy_(torch.rand(3, generator=g) * 3)
    x = torch.rand(16, 1, 3, 4, generator=g)
    q = quantize_model(
        model, weight_format="log2", weight_bits=4, act_format="log2", act_bits=5, calib_data=x
    )
    net = export_network(q, (1, 3, 4))
    ob = net.output_format.bits
    top = torch.full((1, 3, 4), (1 << 5) - 1)
    out = network_forward(net, top)
    assert torch.equal(out, float64_network(net, top.unsqueeze(0))[0])
    assert (1 << (ob - 2)) <= int(out.max()) <= (1 << (ob - 1)) - 1, (ob, out)


@pytest.mark.parametrize("base", ["log2", "logsqrt2"])
def test_sqrt2_weights_do_not_depend_on_the_folding(base, seed):
    layers = [
        nn.Conv2d(2, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(12, 4),
    ]
    opts = dict(weight_format=base, weight_bits=5, act_format="log2", act_bits=4)
    _, q, x = build(layers, opts, (2, 4, 4), seed)
    net = export_network(q, (2, 4, 4), frac_bits=10)
    px = encode_input(net, x)
    outs = [
        network_forward(net, px, fold={0: f, 3: g})
        for f, g in [((1, 1), (3, 2)), ((18, 3), (12, 4)), ((5, 2), (1, 1))]
    ]
    assert all(torch.equal(o, outs[0]) for o in outs)
    if base == "log2":
        assert torch.equal(outs[0], float64_network(net, px))


def test_batch_norm_is_folded_into_the_convolution(seed):
    conv, bn = nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.running_mean.copy_(torch.tensor([0.1, -0.2, 0.3]))
        bn.running_var.copy_(torch.tensor([0.5, 2.0, 1.5]))
        bn.weight.copy_(torch.tensor([1.5, -0.5, 0.8]))
        bn.bias.copy_(torch.tensor([0.2, 0.1, -0.3]))
    model = nn.Sequential(conv, bn, nn.ReLU(), nn.Flatten(), nn.Linear(48, 3)).eval()
    x = torch.rand(16, 1, 4, 4)
    q = quantize_model(
        model, weight_format="log2", weight_bits=5, act_format="log2", act_bits=4, calib_data=x
    )
    net = export_network(q, (1, 4, 4))
    assert [lay.source for lay in net.layers] == ["Conv2d+BatchNorm2d", "Flatten", "Linear"]
    folded = nn.Conv2d(1, 3, 3, padding=1)
    s = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    with torch.no_grad():
        folded.weight.copy_(conv.weight * s.reshape(-1, 1, 1, 1))
        folded.bias.copy_((conv.bias - bn.running_mean) * s + bn.bias)
        assert torch.allclose(folded(x), bn(conv(x)), atol=1e-5)
    wq = q[0].weight_quant
    spec = net.layers[0].spec
    assert torch.equal(spec.weight_codes, wq.codes(folded.weight, wq.choose_scale(folded.weight)))
    assert torch.allclose(spec.bias, folded.bias.double(), atol=1e-6)
    px = encode_input(net, x)
    assert torch.equal(network_forward(net, px), float64_network(net, px))


def test_digits_cnn_through_fx_equals_float64_and_the_fake_quantized_model():
    from logdot.study.data import load_digits_split, train_digits_cnn

    model = train_digits_cnn(0)
    x_tr, _, x_te, y_te = load_digits_split()
    q = quantize_model(
        model, weight_format="log2", weight_bits=5, act_format="log2", act_bits=4, calib_data=x_tr
    )
    assert [n for n, _ in model_chain(q)] == ["conv1", "relu", "conv2", "relu_1", "flatten", "fc"]
    net = export_network(q, (1, 8, 8))
    assert [lay.type for lay in net.layers] == ["conv2d", "conv2d", "flatten", "linear"]
    assert [lay.spec.relu for lay in net.engines] == [True, True, False]
    x, y = x_te[:150], y_te[:150]
    res = accuracies(model, q, net, x, y)
    assert torch.equal(res["outputs"], float64_network(net, encode_input(net, x)))
    agree = (res["predictions"]["golden"] == res["predictions"]["fake_quant"]).double().mean()
    assert agree >= 0.97, agree
    assert abs(res["golden"] - res["fake_quant"]) <= 0.03
    print({k: res[k] for k in ("float", "fake_quant", "golden")})


# -- pooling on codes ----------------------------------------------------------------------


def test_max_pool_on_codes_compares_values():
    x = torch.tensor([[[[3, 9], [12, 1]]]])
    assert max_pool_codes(x, (2, 2), Format("log", 4, False, 0)).item() == 12
    # Signed log, 4 bits: code 9 is -2**(..+1), code 12 is -2**(..+4), 1 is the smallest
    # positive value: the largest value is code 1... and 3 is larger still.
    assert max_pool_codes(x, (2, 2), Format("log", 4, True, 0)).item() == 3
    neg = torch.tensor([[[[9, 12], [13, 8]]]])  # all negative or negative zero (8)
    assert max_pool_codes(neg, (2, 2), Format("log", 4, True, 0)).item() == 0
    assert (
        max_pool_codes(
            torch.tensor([[[[9, 12], [13, 10]]]]), (2, 2), Format("log", 4, True, 0)
        ).item()
        == 9
    )
    lin = torch.tensor([[[[-5, -2], [-7, -3]]]])
    assert max_pool_codes(lin, (2, 2), Format("linear", 4, True, 0)).item() == -2
    f = Format("log", 5, True, 2)
    codes = torch.arange(32).reshape(1, 2, 4, 4)
    ref = quant(f, F.max_pool2d(dequant(f, codes), 2))
    assert torch.equal(max_pool_codes(codes, (2, 2), f), ref)
    # floor mode (PyTorch's default): the rows and columns no window reaches are dropped,
    # also with a non-square kernel
    for kernel in ((3, 3), (3, 2), (1, 3)):
        ref = quant(f, F.max_pool2d(dequant(f, codes), kernel))
        assert torch.equal(max_pool_codes(codes, kernel, f), ref), kernel
    with pytest.raises(ValueError, match="kernel 5x1 is larger than the image 4x4"):
        max_pool_codes(codes, (5, 1), f)


# -- export errors ----------------------------------------------------------------------------


def _q(*layers, act_signed=False, calib=True, shape=(1, 6, 6)):
    model = nn.Sequential(*layers)
    x = torch.rand(8, *shape)
    return quantize_log2(model, x if calib else None, act_signed=act_signed)


class _Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return self.conv(x) + x


class _Twice(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return torch.relu(self.conv(x)) * 2


class _Swapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)

    def forward(self, x):
        return torch.sub(1.0, self.conv(x))


class _Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 2, 3)

    def forward(self, x):
        if x.sum() > 0:
            return self.conv(x)
        return x


def _traced(module):
    """``module`` (not a Sequential) quantized to log2 weights and activations."""
    return quantize_model(
        module, weight_format="log2", act_format="log2", calib_data=torch.rand(2, 1, 6, 6)
    )


#: (the model, the start of the one-line export error[, the input shape: default
#: EXPORT_SHAPE]).
EXPORT_SHAPE = (1, 6, 6)
EXPORT_ERRORS = [
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.MaxPool2d(3, 2)),
     "layer 1 (MaxPool2d): kernel_size 3 != stride 2; only kernel_size == stride is supported"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.MaxPool2d(2, padding=1)),
     "layer 1 (MaxPool2d): only padding 0, dilation 1, no indices are supported"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.MaxPool2d(5), calib=False),
     "layer 1 (MaxPool2d): kernel 5x5 is larger than the 4x4 image"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.MaxPool2d(3, ceil_mode=True)),
     "layer 1 (MaxPool2d): ceil_mode is not supported (floor mode only)"),
    (lambda: _q(nn.Conv2d(1, 2, 5), calib=False),
     "layer 0 (Conv2d): kernel 5x5 is larger than the padded image 3x3", (1, 3, 3)),
    (lambda: _q(nn.Conv2d(2, 2, 3), shape=(2, 6, 6)),
     "layer 0 (Conv2d): in_channels 2 != 1 input channels"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(30, 2), calib=False),
     "layer 2 (Linear): in_features 30 != 32 (the flattened input)"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.Linear(4, 2), calib=False),
     "layer 1 (Linear): needs a flat input (a Flatten before it), not (2, 4, 4)"),
    (lambda: _q(nn.Flatten(), nn.Linear(36, 2), nn.Conv2d(1, 1, 1), calib=False),
     "layer 2 (Conv2d): needs a (C, H, W) input, not (2,)"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.Dropout()),
     "layer 1 (Dropout): unsupported module; supported: Conv2d, BatchNorm2d (after a "
     "Conv2d), ReLU, MaxPool2d, Flatten, Linear"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.Sigmoid()), "layer 1 (Sigmoid): unsupported module"),
    (lambda: _q(nn.ReLU(), nn.Conv2d(1, 2, 3)),
     "layer 0 (ReLU): a ReLU must follow a Conv2d or Linear"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2)),
     "layer 2 (BatchNorm2d): batch norm must directly follow a Conv2d"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(3), calib=False),
     "layer 1 (BatchNorm2d): num_features 3 != 2"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2, track_running_stats=False)),
     "layer 1 (BatchNorm2d): needs running statistics (track_running_stats=True)"),
    (lambda: _q(nn.Conv2d(1, 2, 3), nn.Flatten(2)),
     "layer 1 (Flatten): only start_dim=1, end_dim=-1 is supported, not 2, -1"),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 3)),
     "layer 0 (Conv2d): not quantized (use logdot.golden.nn.quantize_model)"),
    (lambda: _q(nn.Conv2d(1, 2, 3), calib=False),
     "layer 0 (Conv2d): the input quantizer is not calibrated (logdot.golden.nn.calibrate)"),
    (lambda: quantize_model(nn.Sequential(nn.Conv2d(1, 2, 3)), calib_data=torch.rand(2, 1, 6, 6)),
     "layer 0 (Conv2d): weights must be quantized to 'log2', 'logsqrt2', 'twoterm' or 'linear', "
     "not 'float'"),
    (lambda: _q(nn.MaxPool2d(2), nn.ReLU(), nn.Flatten()),
     "layer 1 (ReLU): a ReLU must follow a Conv2d or Linear"),
    (lambda: _q(nn.MaxPool2d(2), nn.Flatten()), "the model has no Conv2d or Linear layer"),
    (lambda: _q(_Residual()), "layer 0 (_Residual): unsupported module; supported:"),
    (lambda: _traced(_Residual()),
     "layer 0 (conv): the forward pass is not a chain of layers (its input is also used "
     "elsewhere)"),
    (lambda: _traced(_Twice()),
     "layer 2 (mul): unsupported operation; supported: Conv2d, BatchNorm2d"),
    (lambda: _traced(_Swapped()),
     "layer 1 (sub): the forward pass is not a chain of layers (it is not applied to the "
     "previous layer's output alone)"),
    (lambda: _Branchy(), "cannot trace _Branchy.forward as a chain of layers"),
    (lambda: _q(nn.Conv2d(1, 2, 3)), "input_shape must be a list of 3 positive integers", (1, 6)),
]  # fmt: skip


@pytest.mark.parametrize(
    "make, message, shape",
    [(*e, EXPORT_SHAPE)[:3] for e in EXPORT_ERRORS],
    ids=range(len(EXPORT_ERRORS)),
)
def test_export_error_messages(tmp_path, make, message, shape):
    path = tmp_path / "net.pt"
    with pytest.raises(ValueError) as info:
        export_network(make(), shape, path)
    text = str(info.value)
    assert text.startswith(message), text
    assert "\n" not in text
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_model_chain_is_the_forward_order():
    q = _q(nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU()), nn.Flatten(), nn.Linear(32, 2))
    assert [n for n, _ in model_chain(q)] == ["0.0", "0.1", "1", "2"]
