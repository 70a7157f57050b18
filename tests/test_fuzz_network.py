"""Random-network fuzzing (hypothesis): random valid networks through the network top against
the golden network model, random invalid networks and files refused cleanly.

A cross-cutting suite (torch export, network file, folding, ``logdot compile``, the network
top in simulation), so it stays at the top of tests/ beside ``tests/test_fuzz.py``.

* **Valid networks**: a random chain (convolutions of random kernel, stride, padding and
  channels, each with or without ReLU and a 2x2 max pool; then a feature map out, or a
  flatten and one or two linear layers), random image size and channels, random weight and
  activation formats (log2 / log-sqrt2 / two-term weights, log2 / linear activations, linear
  with two-term weights, 3-5 bits), random
  folding (``lanes`` x ``pes`` of any engine layer, or the automatic one), quantized by
  :func:`logdot.golden.nn.quantize_model` and exported by
  :func:`logdot.golden.network_torch.export_network`, built as
  :class:`logdot.hdl.network.NetworkTop` and simulated in Amaranth's simulator on a few random
  images back to back with random idles and back-pressure: every output word equals
  :func:`logdot.golden.network.network_forward`, ``frame_error`` stays 0. Each example draws
  a ``seed`` (images, stimulus); a failure prints the whole network and that seed, and
  ``LOGDOT_SEED`` replays the run (hypothesis is seeded, no example database).
* **Invalid network files**: a valid network file with one random corruption (a wrong
  schema, key, type, shape, format or range) makes ``logdot compile`` exit 2 with one line
  ``logdot: error: ...`` and write nothing.

``make test`` runs 2 valid and 8 invalid examples; ``make test-full`` (``-m full``) 40 and 150.
"""

from __future__ import annotations

import contextlib
import copy
import io
import random

import pytest
import torch
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import seed as hyp_seed
from hypothesis import strategies as st
from torch import nn

from logdot.cli import main as cli_main
from logdot.generators.network import resolve_fold
from logdot.golden.network import network_forward
from logdot.golden.network_file import load_network, save_network
from logdot.golden.network_stream import output_beat, pixel_stream
from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model
from logdot.hdl.network import NetworkTop
from tests.support.seeds import SEED, quick_settings
from tests.support.stream import drive_network

pytestmark = [
    pytest.mark.usefixtures("one_torch_thread"),
    pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable"),
]

QUICK = quick_settings(2, HealthCheck.filter_too_much)
FULL = dict(QUICK, max_examples=40)

# -- random networks --------------------------------------------------------------------------


@st.composite
def network_recipes(draw, *, max_side=7, max_channels=3):
    """A random network recipe: ``dict(input_shape, modules, quant, fold_choices, seed)``;
    ``modules`` are ``(kind, params)`` tuples turned into torch modules by :func:`build`."""
    c = draw(st.integers(1, max_channels))
    h = draw(st.integers(3, max_side))
    w = draw(st.integers(3, max_side))
    shape = [c, h, w]
    modules = []
    for _ in range(draw(st.integers(0, 2))):
        k = draw(st.integers(1, 3))
        p = draw(st.integers(0, min(1, k - 1)))
        s = draw(st.integers(1, 2))
        if shape[1] + 2 * p < k or shape[2] + 2 * p < k:
            break
        cout = draw(st.integers(1, max_channels))
        modules.append(("conv", dict(cin=shape[0], cout=cout, k=k, s=s, p=p)))
        shape = [cout, (shape[1] + 2 * p - k) // s + 1, (shape[2] + 2 * p - k) // s + 1]
        if draw(st.booleans()):
            modules.append(("relu", {}))
        if shape[1] % 2 == 0 and shape[2] % 2 == 0 and draw(st.booleans()):
            modules.append(("pool", {}))
            shape = [shape[0], shape[1] // 2, shape[2] // 2]
    if not modules or draw(st.booleans()):
        modules.append(("flatten", {}))
        features = shape[0] * shape[1] * shape[2]
        n_linear = draw(st.integers(1, 2))
        for j in range(n_linear):
            out = draw(st.integers(1, 4))
            modules.append(("linear", dict(fin=features, fout=out)))
            features = out
            if j < n_linear - 1 and draw(st.booleans()):
                modules.append(("relu", {}))
    weight_format = draw(st.sampled_from(["log2", "logsqrt2", "twoterm"]))
    quant = dict(
        weight_format=weight_format,
        weight_bits=draw(st.integers(3, 5)),
        # two-term weights need linear activations (two shifts of a linear value)
        act_format="linear"
        if weight_format == "twoterm"
        else draw(st.sampled_from(["log2", "linear"])),
        act_bits=draw(st.integers(3, 4)),
    )
    engines = sum(kind in ("conv", "linear") for kind, _ in modules)
    fold_choices = [draw(st.none() | st.tuples(st.integers(1, 64), st.integers(1, 8)))
                    for _ in range(engines)]  # fmt: skip
    return dict(
        input_shape=(c, h, w),
        modules=modules,
        quant=quant,
        fold_choices=fold_choices,
        seed=draw(st.integers(0, 2**31 - 1)),
    )


def build(recipe):
    """The exported :class:`~logdot.golden.network.Network` of a recipe (seeded weights)."""
    torch.manual_seed(recipe["seed"])
    mods = []
    for kind, p in recipe["modules"]:
        if kind == "conv":
            mods.append(nn.Conv2d(p["cin"], p["cout"], p["k"], stride=p["s"], padding=p["p"]))
        elif kind == "linear":
            mods.append(nn.Linear(p["fin"], p["fout"]))
        elif kind == "relu":
            mods.append(nn.ReLU())
        elif kind == "pool":
            mods.append(nn.MaxPool2d(2))
        else:
            mods.append(nn.Flatten())
    q = quantize_model(
        nn.Sequential(*mods), calib_data=torch.rand(8, *recipe["input_shape"]), **recipe["quant"]
    )
    return export_network(q, recipe["input_shape"])


def fold_of(net, recipe):
    """The folding of a recipe: its drawn ``(lanes, pes)`` clipped to each layer's size, the
    automatic folding for ``None``."""
    fold = {}
    engines = [i for i, layer in enumerate(net.layers) if layer.is_engine]
    for i, choice in zip(engines, recipe["fold_choices"], strict=True):
        if choice is not None:
            spec = net.layers[i].spec
            fold[i] = (min(choice[0], spec.in_features), min(choice[1], spec.out_channels))
    return resolve_fold(net, fold)


def describe(net, fold, recipe):
    layers = ", ".join(
        f"{layer.type}{list(layer.in_shape)}->{list(layer.out_shape)}" for layer in net.layers
    )
    return f"network [{layers}], quant {recipe['quant']}, fold {fold}, seed {recipe['seed']}"


def check_network(recipe, *, images=2):
    """Simulate the network top of ``recipe`` on random images; assert it equals golden."""
    try:
        net = build(recipe)
    except ValueError as exc:  # a refused combination (the message is checked to be one line)
        assert "\n" not in str(exc), str(exc)
        assume(False)
    fold = fold_of(net, recipe)
    what = describe(net, fold, recipe)
    top = NetworkTop(net, fold=fold)
    g = torch.Generator().manual_seed(recipe["seed"])
    lo, hi = net.input_format.range
    x = torch.randint(lo, hi + 1, (images, *net.input_shape), generator=g)
    beats = [b for im in x for b in pixel_stream(net, im)]
    rng = random.Random(recipe["seed"])
    idle, stall = rng.choice([0.0, 0.3]), rng.choice([0.0, 0.4])
    limit = 6 * (images * top.cycles_per_image + top.latency_bound) + 2000
    run = drive_network(top, beats, images, rng=rng, idle=idle, stall=stall, limit=limit)
    got, errors = run["words"], run["errors"]
    # output_beat looked up here: test_a_wrong_golden_fails_the_fuzz_property patches it
    want = [output_beat(net, o) for o in network_forward(net, x)]
    for k, (a, b) in enumerate(zip(got, want, strict=True)):
        assert a == b, f"image {k}: hardware {a:#x} != golden {b:#x}; {what}"
    assert errors == [0] * images, f"frame_error {errors}; {what}"
    return net


@hyp_seed(SEED)
@settings(**QUICK)
@given(recipe=network_recipes(max_side=5, max_channels=2))
def test_random_networks_match_golden(recipe):
    check_network(recipe)


@pytest.mark.full
@hyp_seed(SEED + 1)
@settings(**FULL)
@given(recipe=network_recipes())
def test_random_networks_match_golden_full(recipe):
    check_network(recipe, images=3)


def test_a_wrong_golden_fails_the_fuzz_property(monkeypatch):
    """The property can fail: with one bit of every golden output word flipped it is
    falsified."""
    import tests.test_fuzz_network as this

    real = this.output_beat
    monkeypatch.setattr(this, "output_beat", lambda net, o: real(net, o) ^ 1)

    @hyp_seed(SEED)
    @settings(**dict(QUICK, phases=[Phase.generate], max_examples=2))
    @given(recipe=network_recipes(max_side=4, max_channels=1))
    def prop(recipe):
        check_network(recipe, images=1)

    with pytest.raises(AssertionError, match="!= golden"):
        prop()


# -- invalid network files ------------------------------------------------------------------


def _corruptions(d):
    """``(description, corrupt(d))`` pairs: each breaks one thing of a network dict."""
    eng = next(i for i, layer in enumerate(d["layers"]) if "spec" in layer)

    def at(path, value):
        def corrupt(x):
            y = x
            for key in path[:-1]:
                y = y[key]
            if value is _DELETE:
                del y[path[-1]]
            else:
                y[path[-1]] = value
            return x

        return corrupt

    spec = d["layers"][eng]["spec"]
    out = [
        ("schema", at(("schema",), "logdot.network/99")),
        ("schema name", at(("schema",), "something/1")),
        ("missing key", at(("layers",), _DELETE)),
        ("unknown key", lambda x: {**x, "extra": 1}),
        ("input shape", at(("input_shape",), [1, 0, 4])),
        ("input shape type", at(("input_shape",), "1x4x4")),
        ("layer type", at(("layers", 0, "type"), "conv3d")),
        ("layer in_shape", at(("layers", 0, "in_shape"), [9, 9, 9])),
        ("layer out_shape", at(("layers", eng, "out_shape"), [1, 1, 1])),
        ("no layers", at(("layers",), [])),
        ("layers not a list", at(("layers",), {"0": 1})),
        ("not a dict", lambda x: [x]),
    ]
    for key, bad in (("weight_bits", 99), ("act_bits", 1), ("out_bits", -3), ("act_format", "fp")):
        if key in spec:
            out.append((f"spec {key}", at(("layers", eng, "spec", key), bad)))
    return out


_DELETE = object()


@st.composite
def bad_files(draw):
    recipe = draw(network_recipes(max_side=4, max_channels=2))
    return recipe, draw(st.integers(0, 1 << 16))


def _compile(argv):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = cli_main(argv)
    return code, err.getvalue()


def check_bad_file(recipe, pick, tmp):
    try:
        net = build(recipe)
    except ValueError:
        assume(False)
    good = tmp / "good.pt"
    save_network(net, good)
    d = torch.load(good, weights_only=False)
    choices = _corruptions(d)
    name, corrupt = choices[pick % len(choices)]
    bad = tmp / "bad.pt"
    torch.save(corrupt(copy.deepcopy(d)), bad)
    with pytest.raises(ValueError) as info:
        load_network(bad)
    assert "\n" not in str(info.value), (name, str(info.value))
    out = tmp / "out"
    code, err = _compile(["compile", "--network", str(bad), "--out", str(out)])
    assert code == 2, (name, err)
    assert err.count("\n") == 1 and err.startswith("logdot: error: "), (name, err)
    assert "Traceback" not in err, (name, err)
    assert not out.exists() or not any(out.iterdir()), (name, list(out.iterdir()))


@hyp_seed(SEED)
@settings(**dict(QUICK, max_examples=8))
@given(case=bad_files())
def test_invalid_network_files_are_refused(case, tmp_path_factory):
    check_bad_file(*case, tmp_path_factory.mktemp("badnet"))


@pytest.mark.full
@hyp_seed(SEED + 1)
@settings(**dict(QUICK, max_examples=150))
@given(case=bad_files())
def test_invalid_network_files_are_refused_full(case, tmp_path_factory):
    check_bad_file(*case, tmp_path_factory.mktemp("badnet"))


def test_an_intact_file_fails_the_invalid_file_check(monkeypatch, tmp_path):
    """The invalid-file check can fail: with a "corruption" that changes nothing, the
    network loads and the check reports it."""
    import tests.test_fuzz_network as this

    monkeypatch.setattr(this, "_corruptions", lambda d: [("nothing", lambda x: x)])
    recipe = dict(
        input_shape=(1, 2, 2),
        modules=[("flatten", {}), ("linear", dict(fin=4, fout=2))],
        quant=dict(weight_format="log2", weight_bits=3, act_format="log2", act_bits=3),
        fold_choices=[None],
        seed=1,
    )
    with pytest.raises(pytest.fail.Exception, match="DID NOT RAISE"):
        check_bad_file(recipe, 0, tmp_path)
