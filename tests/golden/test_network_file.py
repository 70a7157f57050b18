"""The network file: round trip, mode 0644 and atomic write; damaged and hand-edited files fail
on load with one-line messages naming the file and the layer; the network's own validation.
"""

from __future__ import annotations

import dataclasses
import os
import re
import stat

import pytest
import torch
from torch import nn

from logdot.golden.network import Network, encode_input, network_forward
from logdot.golden.network_file import load_network, save_network
from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _q(*layers, shape=(1, 6, 6)):
    x = torch.rand(8, *shape)
    return quantize_model(
        nn.Sequential(*layers),
        weight_format="log2",
        weight_bits=4,
        act_format="log2",
        act_bits=4,
        calib_data=x,
    )


# -- the network file ---------------------------------------------------------------------------


def _small_net():
    q = _q(
        nn.Conv2d(1, 3, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(3, 4, 3, stride=2),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4, 3),
    )
    return q, export_network(q, (1, 6, 6))


def test_network_file_round_trip(tmp_path):
    q, net = _small_net()
    path = tmp_path / "net.pt"
    save_network(net, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pt"]
    back = load_network(path)
    d, e = net.to_dict(), back.to_dict()
    assert d.keys() == e.keys() and d["schema"] == "logdot.network/1"
    for k in ("input_shape", "input_format", "output_shape", "output_format", "output_scale_x2"):
        assert d[k] == e[k]
    for a, b in zip(net.layers, back.layers, strict=True):
        assert (a.type, a.in_shape, a.out_shape, a.kernel, a.name) == (
            b.type,
            b.in_shape,
            b.out_shape,
            b.kernel,
            b.name,
        )
        if a.is_engine:
            assert a.spec.to_dict().keys() == b.spec.to_dict().keys()
            assert torch.equal(a.spec.weight_codes, b.spec.weight_codes)
            assert torch.equal(a.spec.bias, b.spec.bias)
    x = torch.rand(5, 1, 6, 6)
    px = encode_input(net, x)
    assert torch.equal(network_forward(back, px), network_forward(net, px))
    # Export writes the same file content.
    export_network(q, (1, 6, 6), tmp_path / "again.pt")
    assert load_network(tmp_path / "again.pt").to_dict()["layers"][0]["spec"]["weight_bits"] == 4


def _tamper(tmp_path, edit):
    _, net = _small_net()
    d = net.to_dict()
    edit(d)
    path = tmp_path / "bad.pt"
    torch.save(d, path)
    return path


def _set(path, value):
    def edit(d):
        *head, last = path
        for k in head:
            d = d[k]
        d[last] = value(d[last]) if callable(value) else value

    return edit


TAMPER = [
    (
        _set(["schema"], "logdot.layer_spec/1"),
        "not a logdot network file (schema 'logdot.layer_spec/1'",
    ),
    (
        _set(["schema"], "logdot.network/3"),
        "unsupported network file version '3' (this logdot reads versions 1, 2)",
    ),
    (
        # version 2 is the file with two-term weight layers; this network has none
        _set(["schema"], "logdot.network/2"),
        "schema 'logdot.network/2' != 'logdot.network/1': version 2 is the network file",
    ),
    (lambda d: d.pop("layers"), "network file keys: missing ['layers'], unknown []"),
    (
        _set(["input_shape"], [1, 6]),
        "input_shape must be a list of 3 positive integers, not [1, 6]",
    ),
    (_set(["input_shape"], [1, 8, 6]), "layer 0 (conv2d): in_shape (1, 6, 6) != (1, 8, 6)"),
    (
        _set(["layers", 0, "out_shape"], [3, 5, 6]),
        "layer 0 (conv2d): out_shape (3, 5, 6) != (3, 6, 6)",
    ),
    (
        _set(["layers", 1, "kernel"], [2, 0]),
        "layer 1 (maxpool): kernel must be a list of 2 positive",
    ),
    (
        _set(["layers", 1, "type"], "avgpool"),
        "layer 1: type must be one of conv2d, linear, maxpool",
    ),
    (_set(["layers", 2, "name"], 3), "layer 2 (conv2d): name must be a string, not 3"),
    (lambda d: d["layers"][3].pop("in_shape"), "layer 3 (flatten): keys missing ['in_shape']"),
    (_set(["layers", 0, "scale_x2"], 99), "layer 0 (conv2d): scale_x2 99 !="),
    (
        _set(["layers", 0, "bias_int"], lambda b: b + 1),
        "layer 0 (conv2d): bias_int does not match the spec's bias (recomputed)",
    ),
    (
        _set(["layers", 0, "spec", "weight_codes"], lambda w: w + 16),
        "layer 0 (conv2d): bad spec: weight_codes must be in [0, 15]",
    ),
    (
        _set(["layers", 0, "spec", "weight_codes"], lambda w: w.double()),
        "layer 0 (conv2d): bad spec: weight_codes must be a 4-d integer tensor",
    ),
    (
        _set(["layers", 0, "spec", "schema"], "x"),
        "layer 0 (conv2d): bad spec: not a logdot layer spec",
    ),
    (
        _set(["layers", 2, "spec", "act_bits"], 5),
        "layer 2 (conv2d): input format Format(kind='log', bits=5",
    ),
    (_set(["output_scale_x2"], 3), "output_scale_x2 3 != "),
    (
        _set(["output_format", "bits"], 1),
        "output_format: format bits must be an integer in [2, 64]",
    ),
    (_set(["layers", 4, "spec", "out_bits"], 2), "output_format Format(kind='linear', bits="),
    (_set(["layers"], []), "layers must be a non-empty list"),
    (lambda d: d["layers"].pop(3), "layer 3 (linear): in_shape (4,) != (4, 1, 1)"),
    (_set(["producer"], None), "producer must be a dict"),
]


@pytest.mark.parametrize("edit, message", TAMPER, ids=range(len(TAMPER)))
def test_hand_edited_network_files_fail_on_load(tmp_path, edit, message):
    path = _tamper(tmp_path, edit)
    with pytest.raises(ValueError) as info:
        load_network(path)
    text = str(info.value)
    assert text.startswith(f"{path}: {message}"), text
    assert "\n" not in text


def test_damaged_network_files_fail_on_load(tmp_path, seed):
    _, net = _small_net()
    good = tmp_path / "good.pt"
    save_network(net, good)
    blob = good.read_bytes()
    g = torch.Generator().manual_seed(seed)
    cases = {
        "truncated": blob[: len(blob) // 2],
        "empty": b"",
        "garbage": bytes(torch.randint(0, 256, (500,), generator=g).tolist()),
        "text": b"schema: logdot.network/1\n",
    }
    for name, data in cases.items():
        p = tmp_path / f"{name}.pt"
        p.write_bytes(data)
        with pytest.raises(ValueError) as info:
            load_network(p)
        text = str(info.value)
        assert re.match(rf"{re.escape(str(p))}: not a readable network file \(", text), text
        assert "\n" not in text
    p = tmp_path / "list.pt"
    torch.save([1, 2], p)
    with pytest.raises(
        ValueError, match=r"not a logdot network file \(a dict expected, not list\)"
    ):
        load_network(p)
    with pytest.raises(FileNotFoundError):
        load_network(tmp_path / "missing.pt")


def test_save_is_atomic_and_leaves_nothing_on_error(tmp_path, monkeypatch):
    _, net = _small_net()
    path = tmp_path / "net.pt"
    path.write_bytes(b"old")

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(OSError, match="disk full"):
        save_network(net, path)
    assert path.read_bytes() == b"old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.pt"]


def test_network_validation_names_the_layer():
    _, net = _small_net()
    layers = list(net.layers)
    with pytest.raises(ValueError, match=r"^a network needs at least one conv2d or linear layer"):
        Network((1, 6, 6), layers[1:2])
    with pytest.raises(
        ValueError, match=r"^layer 0 \(conv2d\): in_shape \(1, 6, 6\) != \(2, 6, 6\)"
    ):
        Network((2, 6, 6), layers)
    wide = dataclasses.replace(layers[-1].spec, out_bits=64)
    with pytest.raises(
        ValueError, match=r"^layer 4 \(linear\): out_bits 64 is wider than the engine"
    ):
        Network((1, 6, 6), [*layers[:-1], dataclasses.replace(layers[-1], spec=wide)])
    with pytest.raises(ValueError, match=r"fold names no engine layer: \['9'\]"):
        net.mapped({9: (1, 1)})
    with pytest.raises(TypeError, match="pixels must be integer codes"):
        network_forward(net, torch.rand(1, 6, 6))
    with pytest.raises(ValueError, match=r"pixels must be in \[0, 15\] \(log 4-bit\), not 16"):
        network_forward(net, torch.full((1, 6, 6), 16))
    with pytest.raises(
        ValueError, match=r"pixels must have shape \(n, 1, 6, 6\) or \(1, 6, 6\), not \(2, 6, 6\)"
    ):
        network_forward(net, torch.zeros(2, 6, 6, dtype=torch.int64))
