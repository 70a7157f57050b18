"""Tests of logdot.study.data: the fixed, stratified digits split, deterministic and seeded
training, and the trained CNN's accuracy and architecture."""

import math
import re

import pytest
import torch

from logdot.golden.nn import quantize_model
from logdot.study.data import (
    DigitsCNN,
    TrainConfig,
    calibration_subset,
    evaluate,
    init_digits_cnn,
    load_digits_split,
    quantize_for_engine,
    train_cached,
    train_digits_cnn,
)

# -- data and the trained model -----------------------------------------------------------------


def test_digits_split_fixed_and_stratified():
    x_tr, y_tr, x_te, y_te = load_digits_split()
    assert x_tr.shape == (1347, 1, 8, 8) and x_te.shape == (450, 1, 8, 8)
    assert x_tr.dtype == torch.float32 and y_tr.dtype == torch.int64
    assert float(x_tr.min()) == 0.0 and float(x_tr.max()) == 1.0
    counts = torch.bincount(y_te, minlength=10)
    assert counts.min() >= 43 and counts.max() <= 46
    again = load_digits_split()
    assert all(torch.equal(u, v) for u, v in zip((x_tr, y_tr, x_te, y_te), again, strict=True))
    x_cal, _ = calibration_subset(x_tr, y_tr)
    assert x_cal.shape == (256, 1, 8, 8)
    # A subset of the training images (never test images).
    train_set = {tuple(v.flatten().tolist()) for v in x_tr}
    assert all(tuple(v.flatten().tolist()) in train_set for v in x_cal)
    with pytest.raises(ValueError, match=re.escape("n must be an integer in [10, 1347], not 5")):
        calibration_subset(x_tr, y_tr, 5)


def test_training_is_deterministic(tmp_path):
    cfg = TrainConfig(epochs=2)
    a = train_digits_cnn(3, config=cfg, cache_dir=tmp_path)
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name == f"digits_cnn_{cfg.key()}_seed3.pt"
    b = train_digits_cnn(3, config=cfg, cache=False)
    c = train_digits_cnn(3, config=cfg, cache_dir=tmp_path)  # from the cache
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]) and torch.equal(v, c.state_dict()[k]), k
    with pytest.raises(ValueError, match=re.escape("seed must be a non-negative integer, not -1")):
        train_digits_cnn(-1)


def test_trained_float_model_reaches_97_percent():
    model = train_digits_cnn(0)
    assert isinstance(model, DigitsCNN) and not model.training
    _, _, x_te, y_te = load_digits_split()
    acc = evaluate(model, x_te, y_te)
    assert acc >= 0.97, acc
    # Architecture the RTL demo relies on.
    assert [type(m).__name__ for m in model.children()] == ["Conv2d", "Conv2d", "Linear"]
    assert model.conv2.stride == (2, 2) and model.fc.in_features == 512
    assert not math.isnan(acc)


def test_train_cached_trains_once_then_loads(tmp_path):
    cfg = TrainConfig(epochs=1)
    x_tr, y_tr, _, _ = load_digits_split()
    calls = []

    def training_set():
        calls.append(1)
        return x_tr[:64], y_tr[:64]

    path = tmp_path / "sub" / "model.pt"
    a = train_cached(init_digits_cnn(2), path, training_set, seed=2, config=cfg, cache=True)
    assert calls == [1] and [f.name for f in path.parent.iterdir()] == ["model.pt"]
    b = train_cached(init_digits_cnn(5), path, training_set, seed=2, config=cfg, cache=True)
    assert calls == [1] and not b.training  # loaded, not trained
    c = train_cached(
        init_digits_cnn(2), tmp_path / "x.pt", training_set, seed=2, config=cfg, cache=False
    )
    assert calls == [1, 1] and not (tmp_path / "x.pt").exists()
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]) and torch.equal(v, c.state_dict()[k]), k


def test_quantize_for_engine_is_unsigned_log2_activations():
    x_tr, _, x_te, _ = load_digits_split()
    model = init_digits_cnn(0)
    kw = dict(weight_format="logsqrt2", weight_bits=5)
    q = quantize_for_engine(model, x_tr[:32], act_bits=3, **kw)
    ref = quantize_model(
        model, act_format="log2", act_bits=3, act_signed=False, calib_data=x_tr[:32], **kw
    )
    assert not q.training and q is not model
    with torch.no_grad():
        assert torch.equal(q(x_te[:16]), ref(x_te[:16]))


def test_init_is_seeded():
    a, b = init_digits_cnn(1), init_digits_cnn(1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))


def _no_sklearn(monkeypatch):
    """Make any scikit-learn import in this test fail (the cached path must not need it)."""
    import builtins

    real = builtins.__import__

    def guarded(name, *args, **kwargs):
        if name.split(".")[0] == "sklearn":
            raise ImportError(f"{name} imported although the cache holds the split")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", guarded)


def test_split_and_calibration_subset_are_cached_and_rebuilt_when_damaged(tmp_path, monkeypatch):
    """The digits split and the calibration indices are written once under the cache
    directory, then read without scikit-learn; a damaged or wrong-shaped file is rebuilt,
    giving the same tensors."""
    import numpy as np

    monkeypatch.setenv("LOGDOT_CACHE", str(tmp_path))
    split = load_digits_split()
    cal = calibration_subset(split[0], split[1])
    names = sorted(p.name for p in tmp_path.iterdir())
    assert [n.split("_")[0] for n in names] == ["calibration", "digits"], names
    (cal_file,) = tmp_path.glob("calibration_*.npz")
    (split_file,) = tmp_path.glob("digits_split_*.npz")
    with monkeypatch.context() as m:
        _no_sklearn(m)
        again = load_digits_split()
        cal_again = calibration_subset(again[0], again[1])
    assert all(torch.equal(u, v) for u, v in zip(split, again, strict=True))
    assert all(torch.equal(u, v) for u, v in zip(cal, cal_again, strict=True))
    split_file.write_bytes(b"not a zip file")
    with np.load(cal_file) as f:
        np.savez(cal_file, index=f["index"][:-1])  # one index short: refused, rebuilt
    rebuilt = load_digits_split()
    cal_rebuilt = calibration_subset(rebuilt[0], rebuilt[1])
    assert all(torch.equal(u, v) for u, v in zip(split, rebuilt, strict=True))
    assert all(torch.equal(u, v) for u, v in zip(cal, cal_rebuilt, strict=True))
    assert sorted(p.name for p in tmp_path.iterdir()) == names  # no temporary file left
