"""Two-term power-of-two weights in the layer engine and the streaming network: layer specs
with ``weight_format="twoterm"``, their mapping, the golden layer against the big-integer
reference, the weight-word layout, the export of a model quantized with weight format
``"twoterm"`` and the network file (schema ``logdot.network/2``)."""

from __future__ import annotations

import dataclasses
import random
import re
from fractions import Fraction

import pytest
import torch

from logdot.golden.mapping import map_layer
from logdot.golden.network import (
    NETWORK_SCHEMA,
    NETWORK_SCHEMA_TWOTERM,
    encode_input,
    max_abs_result,
    network_forward,
)
from logdot.golden.network_file import load_network, save_network
from logdot.golden.network_torch import predict, predict_outputs
from logdot.golden.reference import reference_dot
from logdot.golden.twoterm import twoterm_unit_log2
from tests.golden.test_linear_network import _spec as linear_spec
from tests.golden.test_twoterm import spec_value
from tests.support.layers import (
    assert_spec_round_trips,
    float_layer,
    integer_layer,
    layer_by_layer,
    random_conv_spec,
    random_input,
    small_layer,
)
from tests.support.networks import small_cnn, twoterm_cnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _spec(**kw):
    """The linear tests' fully connected spec with five 5-bit two-term weights (FSR 0):
    fields ``| sign | c (2 bits) | j (2 bits) |``, values below."""
    codes = torch.tensor([[0b01010, 0b01111, 0b10110, 0b00011, 0b11100]])
    base = dict(weight_codes=codes, weight_bits=5, weight_fsr=0, bias=torch.tensor([0.25]),
                out_bits=24, weight_format="twoterm")  # fmt: skip
    return linear_spec(**{**base, **kw})


# -- the layer spec and its engine ----------------------------------------------------------


def test_spec_dict_names_the_twoterm_format_and_round_trips():
    assert assert_spec_round_trips(_spec())["weight_format"] == "twoterm"


def test_twoterm_engine_scale_and_worked_example():
    """The engine of a two-term spec has weight_terms 2; one result LSB is the weight unit
    times the activation LSB; a worked example by hand."""
    spec = _spec()
    ml = map_layer(spec, lanes=2, pes=1)
    eng = ml.config.engine
    assert (type(eng).__name__, eng.weight_terms, eng.weight_bits) == ("EngineConfig", 2, 5)
    # unit 2**(fsr - 2**B1 + 1 - J) = 2**(0 - 4 + 1 - 3) = 2**-6; activations 2**-6
    assert twoterm_unit_log2(5, 0) == -6 and ml.scale_x2 == 2 * (-6 - 6)
    assert ml.bias_int.tolist() == [1024]  # 0.25 / 2**-12
    # weights in units of 2**-6 (c, j): (2, 2) -> 16 + 4; (3, 3) -> 32 + 4; -(1, 2) -> -(8 + 2);
    # (0, 3) -> 0; -(3, 0) -> -32
    values = [20, 36, -10, 0, -32]
    x = [[63, 1, 2, 3, 4]]
    want = sum(v * a for v, a in zip(values, x[0], strict=True)) + 1024
    assert ml.forward(torch.tensor(x)).tolist() == [[want]]
    assert ml.config.weight_code_layout == {
        "sign": (4, 1),
        "first_code": (2, 2),
        "second_offset": (0, 2),
    }


@pytest.mark.parametrize(
    "opts",
    [
        dict(act="linear", abits=5, out_kind="linear", out_scale=-3, act_signed=True),
        dict(act="linear", abits=4, stride=(2, 2), relu=False, out_kind="linear", out_scale=-2),
        dict(act="linear", abits=4, kind="linear", cin=11, cout=4, out_scale=3),
    ],
    ids=["conv_signed", "stride2", "fc_log_out"],
)
@pytest.mark.parametrize("wbits", [3, 5, 8])
def test_mapped_twoterm_layer_equals_exact_float_layer(opts, wbits, seed):
    """Every integer z of a mapped two-term layer equals the exact float64 layer of the
    dequantized weights (values and sums are small dyadic rationals, exact in float64), for
    every tiling; the outputs do not depend on the tiling."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, weight_format="twoterm", wbits=wbits, **opts)
    x = random_input(g, spec)
    ml = map_layer(spec, lanes=4, pes=3)
    z, (n, pos, _) = ml.reference_z(x)
    s = ml.scale_x2 // 2
    assert ml.scale_x2 % 2 == 0
    ref = float_layer(spec, x, ml.bias_int.to(torch.float64) * 2.0**s)
    ref = ref.reshape(n, spec.out_channels, -1).transpose(1, 2).reshape(n * pos, -1)
    if spec.relu:
        ref = ref.clamp(min=0)
    assert torch.equal(torch.ldexp(z.to(torch.float64), torch.tensor(s)), ref)
    outs = [map_layer(spec, lanes=a, pes=b).forward(x) for a, b in [(4, 3), (1, 1), (7, 2)]]
    for o in outs[1:]:
        assert torch.equal(o, outs[0])


def _fraction_z(spec, ml, vec, decode):
    """``z`` of one input vector from the spec alone, in exact Fractions: the weights by
    ``decode(bits, raw, fsr)``, the activations at ``2**act_scale``, plus the integer bias,
    in units of the result LSB."""
    lsb = Fraction(2) ** (ml.scale_x2 // 2)
    w = spec.weight_codes.reshape(spec.out_channels, -1).tolist()
    a = [Fraction(v) * Fraction(2) ** spec.act_scale for v in vec]
    out = []
    for o, row in enumerate(w):
        real = sum(
            decode(spec.weight_bits, c, spec.weight_fsr) * x for c, x in zip(row, a, strict=True)
        )
        out.append(real / lsb + int(ml.bias_int[o]))
    return out


def test_layer_equals_the_fraction_reference_and_a_wrong_decode_is_caught(seed):
    """Big-integer check of a fully connected two-term layer against docs/formats.md's value
    of each code (exact Fractions); a reference that misreads the offset (``j ^ 1``) is
    caught."""
    g = torch.Generator().manual_seed(seed)
    spec = random_conv_spec(g, kind="linear", cin=13, cout=5, act="linear", abits=6,
                            weight_format="twoterm", wbits=6, out_kind="linear",
                            out_scale=None, relu=False)  # fmt: skip
    spec = dataclasses.replace(spec, out_bits=32)  # the raw z, never saturated
    ml = map_layer(spec, lanes=4, pes=2)
    x = random_input(g, spec, n=6)
    got = ml.forward(x).tolist()

    def wrong(bits, raw, fsr):
        return spec_value(bits, raw ^ 1, fsr)

    mismatches = 0
    for row, vec in zip(got, x.tolist(), strict=True):
        assert row == _fraction_z(spec, ml, vec, spec_value)
        mismatches += row != _fraction_z(spec, ml, vec, wrong)
    assert mismatches > 0


def test_layer_results_equal_the_big_integer_engine_reference(seed):
    """The golden layer's engine results: per PE, the plain-Python big-integer
    :func:`reference_dot` over the cyclic weight program, the weights read back from the
    packed memory words (the one word layout), with and without a program offset."""
    rng = random.Random(seed)
    layer = small_layer(seed, depth=3, dots=2, act_format="linear", weight_terms=2)
    cfg = layer.config
    lo, hi = cfg.engine.act_range
    n = 31
    acts = [[rng.randint(lo, hi) for _ in range(cfg.lanes)] for _ in range(n)]
    last = [rng.random() < 0.4 for _ in range(n - 1)] + [True]
    words = layer.weight_words()
    for start in (0, 2):
        got = layer.results(torch.tensor(acts), torch.tensor(last), start_beat=start)
        for p in range(cfg.pes):
            w = [cfg.unpack_weight_word(words[(start + j) % cfg.depth][p]) for j in range(n)]
            assert got[:, p].tolist() == reference_dot(cfg.engine, acts, w, last)


def test_max_abs_result_bounds_every_twoterm_result():
    spec = _spec(act_signed=True, bias=None)
    big = max_abs_result(spec)
    assert big.tolist() == [(20 + 36 + 10 + 0 + 32) * 32]
    ml = map_layer(spec, lanes=5, pes=1)
    a = torch.tensor([[-32, -32, 31, 0, 31]])  # every term negative, nearly at its largest
    assert ml.forward(a).tolist() == [[-(20 + 36) * 32 - (10 + 32) * 31]]
    assert abs(ml.forward(a).item()) <= big.item()


# -- the network --------------------------------------------------------------------------


def test_export_gives_twoterm_engines_and_a_version_2_file(tmp_path):
    path = tmp_path / "tt.net.pt"
    net, _ = twoterm_cnn(1, path=path)
    assert [x.spec.weight_format for x in net.engines] == ["twoterm"] * 3
    assert {ml.config.engine.weight_terms for ml in net.mapped() if ml is not None} == {2}
    d = torch.load(path, weights_only=True)
    assert d["schema"] == NETWORK_SCHEMA_TWOTERM == "logdot.network/2"
    back = load_network(path)
    x = encode_input(net, torch.rand(6, 1, 8, 8, generator=torch.Generator().manual_seed(3)))
    assert torch.equal(network_forward(back, x), network_forward(net, x))


def test_network_without_twoterm_weights_keeps_version_1(tmp_path):
    net = small_cnn(0)
    save_network(net, tmp_path / "log.net.pt")
    assert torch.load(tmp_path / "log.net.pt", weights_only=True)["schema"] == NETWORK_SCHEMA
    assert NETWORK_SCHEMA == "logdot.network/1"


@pytest.mark.parametrize(
    ("edit", "msg"),
    [
        (lambda d: d.update(schema="logdot.network/1"),
         "schema 'logdot.network/1' != 'logdot.network/2': version 2 is the network file with "
         "two-term weight layers"),
        (lambda d: d.update(schema="logdot.network/3"),
         "unsupported network file version '3' (this logdot reads versions 1, 2)"),
        (lambda d: d["layers"][0]["spec"].update(weight_format="threeterm"),
         "layer 0 (conv2d): bad spec: weight_format must be one of"),
    ],
    ids=["v1-claims", "v3", "format"],
)  # fmt: skip
def test_damaged_twoterm_files_are_refused(tmp_path, edit, msg):
    net, _ = twoterm_cnn(0)
    save_network(net, tmp_path / "tt.net.pt")
    d = torch.load(tmp_path / "tt.net.pt", weights_only=True)
    edit(d)
    torch.save(d, tmp_path / "bad.net.pt")
    with pytest.raises(ValueError, match=re.escape(msg)):
        load_network(tmp_path / "bad.net.pt")


def test_a_log_file_claiming_version_2_is_refused(tmp_path):
    save_network(small_cnn(0), tmp_path / "log.net.pt")
    d = torch.load(tmp_path / "log.net.pt", weights_only=True)
    d["schema"] = "logdot.network/2"
    torch.save(d, tmp_path / "bad.net.pt")
    with pytest.raises(ValueError, match=re.escape("schema 'logdot.network/2' != 'logdot.netw")):
        load_network(tmp_path / "bad.net.pt")


def _int_layer(spec, ml, x):
    """A mapped two-term layer's outputs from the spec alone: the integer layer
    (:func:`tests.support.layers.integer_layer`) of each weight's integer value in units
    (docs/formats.md's value, exact, divided by the unit)."""
    unit = Fraction(2) ** twoterm_unit_log2(spec.weight_bits, spec.weight_fsr)
    vals = [int(spec_value(spec.weight_bits, c, spec.weight_fsr) / unit)
            for c in spec.weight_codes.flatten().tolist()]  # fmt: skip
    return integer_layer(ml, x, torch.tensor(vals).reshape(spec.weight_codes.shape))


def test_every_layer_of_a_twoterm_network_is_the_integer_reference(seed):
    net, _ = twoterm_cnn(seed % 3)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(0, 16, (5, *net.input_shape), generator=g)
    for fold in ({0: (3, 2), 2: (9, 2), 4: (5, 2)}, {0: (9, 3), 2: (27, 4), 4: (16, 3)}):
        layer_by_layer(net, x, fold, lambda layer, ml, y: _int_layer(layer.spec, ml, y))


def test_golden_predictions_follow_the_fake_quantized_model():
    """Integer golden and the fake-quantized PyTorch model (8-bit two-term weights, 8-bit
    activations) agree on the class of nearly every image (they differ by rounding ties)."""
    net, q = twoterm_cnn(2, weight_bits=8, act_bits=8)
    x = torch.rand(64, 1, 8, 8, generator=torch.Generator().manual_seed(5))
    golden = predict_outputs(net, network_forward(net, encode_input(net, x)))
    assert int((golden == predict(q, x)).sum()) >= 60


def test_replace_keeps_the_format():
    spec = dataclasses.replace(_spec(), out_bits=20)
    assert spec.weight_format == "twoterm"
