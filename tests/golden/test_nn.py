"""Tests of logdot.golden.nn (quantized layers); log-domain accumulation is in test_logacc.py,
the digits set and the trained CNN in tests/logdot/study/test_data.py."""

import re

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from logdot.golden import logacc, quant
from logdot.golden.nn import (
    FORMATS,
    LogConv2d,
    LogLinear,
    Quantizer,
    QuantSettings,
    calibrate,
    quantize_model,
    quantizers,
)

QUANT_FORMATS = FORMATS[1:]
BASE = {"log2": 2, "logsqrt2": "sqrt2"}


def ref_dequant(x, fmt, bits, scale, signed):
    """``dequant(quant(x))`` straight from logdot.golden.quant, in float64."""
    if fmt == "linear":
        return quant.linear_dequant(
            quant.linear_quant(x, bits, scale, signed=signed), bits, scale, signed=signed
        )
    b = BASE[fmt]
    return quant.log_dequant(
        quant.log_quant(x, bits, scale, base=b, signed=signed), bits, scale, base=b, signed=signed
    )


def ref_scale(x, fmt, bits, rule, signed):
    if fmt == "linear":
        f = quant.linear_exp_calibrate if rule == "calibrated" else quant.linear_exp_from_max
        return f(x, bits, signed=signed)
    f = quant.fsr_calibrate if rule == "calibrated" else quant.fsr_from_max
    return f(x, bits, base=BASE[fmt], signed=signed)


def small_model():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(2, 4, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(4, 3, 3, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(3 * 2 * 2, 5),
    )


# -- float format is the float layer -------------------------------------------------------


def test_float_layers_equal_torch_layers(seed):
    conv = nn.Conv2d(3, 5, 3, stride=2, padding=1)
    lin = nn.Linear(7, 4)
    x = torch.randn(6, 3, 9, 9)
    v = torch.randn(6, 7)
    qconv, qlin = LogConv2d.from_float(conv), LogLinear.from_float(lin)
    for m in (qconv, qlin):
        m.eval()
    assert torch.equal(qconv(x), conv(x))
    assert torch.equal(qlin(v), lin(v))
    # state_dict keeps the float keys, so float checkpoints load.
    assert set(conv.state_dict()) <= set(qconv.state_dict())
    fresh = LogConv2d(3, 5, 3, stride=2, padding=1)
    fresh.load_state_dict(conv.state_dict(), strict=False)
    fresh.eval()
    assert torch.equal(fresh(x), conv(x))


def test_quantize_model_float_is_identity(seed):
    model = small_model().eval()
    x = torch.randn(8, 2, 5, 5)
    q = quantize_model(model, calib_data=torch.randn(16, 2, 5, 5), act_signed=True)
    assert sum(isinstance(m, LogConv2d | LogLinear) for m in q.modules()) == 3
    assert torch.equal(q(x), model(x))
    assert not any(isinstance(m, LogConv2d) for m in model.modules())  # copy, not in place


# -- fake quantization equals logdot.golden.quant exactly -----------------------------------------


@pytest.mark.parametrize("fmt", QUANT_FORMATS)
@pytest.mark.parametrize("bits", [2, 3, 4, 5, 8])
@pytest.mark.parametrize("signed", [True, False])
def test_quantizer_forward_is_golden_quant(fmt, bits, signed, seed):
    x = torch.randn(1000) * 3
    for scale in (-3, 0, 2):
        q = Quantizer(fmt, bits, signed=signed).eval()
        q.set_scale(scale)
        got = q(x)
        want = ref_dequant(x, fmt, bits, scale, signed).to(torch.float32)
        assert got.dtype == torch.float32
        assert torch.equal(got, want)
        assert torch.equal(q.codes(x), ref_codes(x, fmt, bits, scale, signed))


def ref_codes(x, fmt, bits, scale, signed):
    if fmt == "linear":
        return quant.linear_quant(x, bits, scale, signed=signed)
    return quant.log_quant(x, bits, scale, base=BASE[fmt], signed=signed)


@pytest.mark.parametrize("fmt", QUANT_FORMATS)
@pytest.mark.parametrize("rule", ["max", "calibrated"])
def test_layers_compute_with_golden_values(fmt, rule, seed):
    """Each layer's output is the float op on exactly logdot.golden.quant's dequantized values."""
    model = small_model().eval()
    x_cal = torch.randn(32, 2, 5, 5)
    x = torch.randn(8, 2, 5, 5)
    w_bits, a_bits = 4, 5
    q = quantize_model(
        model,
        weight_format=fmt,
        weight_bits=w_bits,
        weight_rule=rule,
        act_format=fmt,
        act_bits=a_bits,
        act_rule=rule,
        act_signed=True,
        calib_data=x_cal,
    )
    conv1, conv2, fc = q[0], q[2], q[5]
    # Calibration is sequential: each quantizer sees the output of the quantized layers before.
    h = x_cal
    expected_scales = []
    for layer, post in ((conv1, F.relu), (conv2, F.relu), (fc, None)):
        sa = ref_scale(h.flatten(1) if layer is fc else h, fmt, a_bits, rule, True)
        sw = ref_scale(layer.weight.detach(), fmt, w_bits, rule, True)
        expected_scales.append((sa, sw))
        hq = ref_dequant(h.flatten(1) if layer is fc else h, fmt, a_bits, sa, True).float()
        wq = ref_dequant(layer.weight.detach(), fmt, w_bits, sw, True).float()
        if layer is fc:
            h = F.linear(hq, wq, layer.bias)
        else:
            h = post(F.conv2d(hq, wq, layer.bias, stride=layer.stride, padding=layer.padding))
    got_scales = [(int(m.input_quant.scale), int(m.weight_quant.scale)) for m in (conv1, conv2, fc)]
    assert got_scales == expected_scales
    # And the outputs on new data use exactly those scales.
    with torch.no_grad():
        h = x
        for layer, (sa, sw) in zip((conv1, conv2, fc), expected_scales, strict=True):
            inp = h.flatten(1) if layer is fc else h
            hq = ref_dequant(inp, fmt, a_bits, sa, True).float()
            wq = ref_dequant(layer.weight, fmt, w_bits, sw, True).float()
            if layer is fc:
                h = F.linear(hq, wq, layer.bias)
            else:
                h = F.relu(F.conv2d(hq, wq, layer.bias, stride=layer.stride, padding=layer.padding))
        assert torch.equal(q(x), h)


def test_uncalibrated_activation_quantizer_refuses_eval():
    q = quantize_model(small_model(), act_format="log2", act_bits=4, act_signed=True).eval()
    with pytest.raises(RuntimeError, match=re.escape("activation quantizer is not calibrated")):
        q(torch.randn(2, 2, 5, 5))


def test_unsigned_calibration_rejects_negative_data():
    q = quantize_model(small_model(), act_format="linear", act_bits=4)
    with pytest.raises(
        ValueError, match=re.escape("an unsigned activation quantizer got negative")
    ):
        calibrate(q, -torch.ones(2, 2, 5, 5))


def test_unsigned_activations_use_all_bits():
    q = Quantizer("linear", 3, signed=False).eval()
    q.set_scale(0)
    assert q(torch.arange(10.0)).tolist() == [0, 1, 2, 3, 4, 5, 6, 7, 7, 7]
    q = Quantizer("log2", 3, signed=False).eval()
    q.set_scale(1)  # 7 non-zero levels 2**-6 .. 2**0
    assert q(torch.tensor([1.0, 2.0**-6, 2.0**-7, -1.0])).tolist() == [1.0, 2.0**-6, 0.0, 0.0]


# -- straight-through gradients --------------------------------------------------------------


@pytest.mark.parametrize("fmt", QUANT_FORMATS)
def test_ste_gradients_flow(fmt, seed):
    model = quantize_model(
        small_model(), weight_format=fmt, weight_bits=3, act_format=fmt, act_bits=3, act_signed=True
    )
    model.train()
    x = torch.randn(16, 2, 5, 5, requires_grad=True)
    model(x).square().sum().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert x.grad is not None and x.grad.abs().sum() > 0
    # The quantizer's own gradient is the identity (straight through).
    q = Quantizer(fmt, 3).eval()
    q.set_scale(0)
    v = torch.randn(50, requires_grad=True)
    g = torch.randn(50)
    q(v).backward(g)
    assert torch.equal(v.grad, g)


def test_training_mode_scales_and_freeze(seed):
    model = quantize_model(
        small_model(),
        act_format="log2",
        act_bits=4,
        weight_format="log2",
        weight_bits=4,
        act_signed=True,
    )
    a, b = torch.randn(8, 2, 5, 5), 100 * torch.randn(8, 2, 5, 5)
    model.train()
    model(b)
    # Training mode chooses activation scales per batch without storing them...
    assert not bool(model[0].input_quant.has_scale)
    # ...and frozen scales are used in training mode too.
    calibrate(model, a, freeze=True)
    stored = {n: int(q.scale) for n, q in quantizers(model).items()}
    model.train()
    out_frozen = model(b)
    assert {n: int(q.scale) for n, q in quantizers(model).items()} == stored
    calibrate(model, a, freeze=False)
    model.train()
    assert not torch.equal(model(b), out_frozen)  # per-batch scales differ for 100x data


# -- bad input --------------------------------------------------------------------------------


def test_bad_arguments():
    with pytest.raises(
        ValueError,
        match=re.escape(
            "format must be one of 'float', 'linear', 'log2', 'logsqrt2', 'twoterm', not 'log3'"
        ),
    ):
        Quantizer("log3", 4)
    with pytest.raises(ValueError, match=re.escape("bits must be an integer in [2, 16], not 17")):
        Quantizer("log2", 17)
    with pytest.raises(ValueError, match=re.escape("bits must be an integer in [2, 32], not 1")):
        Quantizer("linear", 1)
    with pytest.raises(ValueError, match=re.escape("rule must be one of 'max', 'calibrated'")):
        Quantizer("log2", 4, rule="mse")
    with pytest.raises(TypeError, match=re.escape("signed must be a bool, not 1")):
        Quantizer("log2", 4, signed=1)
    with pytest.raises(
        ValueError,
        match=re.escape(
            "accumulation='log' needs log weights and log activations, not "
            "weight_format='linear' and act_format='log2'"
        ),
    ):
        LogLinear(3, 2, weight_format="linear", act_format="log2", accumulation="log")
    with pytest.raises(ValueError, match=re.escape("accumulation must be one of 'exact', 'log'")):
        LogLinear(3, 2, accumulation="tree")
    with pytest.raises(ValueError, match=re.escape("frac_bits must be >= 1 with base sqrt(2)")):
        LogLinear(
            3, 2, weight_format="logsqrt2", act_format="log2", accumulation="log", frac_bits=0
        )
    with pytest.raises(TypeError, match=re.escape("model must be a torch.nn.Module, not int")):
        quantize_model(3)
    with pytest.raises(ValueError, match=re.escape("model is already quantized (layer '0')")):
        quantize_model(quantize_model(small_model()))
    with pytest.raises(TypeError, match=re.escape("conv must be a torch.nn.Conv2d, not Linear")):
        LogConv2d.from_float(nn.Linear(2, 2))
    with pytest.raises(ValueError, match=re.escape("a 'float' quantizer has no codes")):
        Quantizer().codes(torch.ones(2))


def test_quant_settings_are_the_layers_keyword_arguments():
    """LogConv2d, LogLinear and quantize_model take the QuantSettings names and defaults; an
    unknown name is refused with the name."""
    defaults = QuantSettings()
    assert defaults.to_dict() == {
        "weight_format": "float", "weight_bits": 8, "weight_rule": "calibrated",
        "act_format": "float", "act_bits": 8, "act_rule": "calibrated", "act_signed": False,
        "accumulation": "exact", "frac_bits": logacc.DEFAULT_FRAC_BITS,
    }  # fmt: skip
    settings, rest = QuantSettings.split({"act_bits": 4, "stride": 2, "weight_format": "log2"})
    assert rest == {"stride": 2}
    assert settings == QuantSettings(act_bits=4, weight_format="log2")
    conv = LogConv2d(2, 3, 3, stride=2, weight_format="log2", weight_bits=5, act_signed=True)
    assert conv.stride == (2, 2)
    assert (conv.weight_quant.format, conv.weight_quant.bits) == ("log2", 5)
    assert conv.weight_quant.signed and conv.weight_quant.dynamic
    assert conv.input_quant.signed and conv.input_quant.format == "float"
    lin = LogLinear(4, 2, act_format="linear", act_bits=6, act_rule="max")
    assert (lin.input_quant.format, lin.input_quant.bits, lin.input_quant.rule) == (
        "linear", 6, "max",
    )  # fmt: skip
    assert not lin.input_quant.signed and lin.accumulation == "exact"
    with pytest.raises(
        TypeError, match=re.escape("quantize_model() got unexpected keyword arguments: 'act_bit'")
    ):
        quantize_model(small_model(), act_bit=4)
    with pytest.raises(TypeError, match="unexpected keyword argument 'act_bit'"):
        LogLinear(4, 2, act_bit=4)
