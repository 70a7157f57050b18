"""The handwritten-digits data set, the small CNN of the paper study, and its training loop.

Everything here is deterministic: the data ship inside scikit-learn (``load_digits``, 1,797
8x8 images, nothing is downloaded), the train/test split is a fixed stratified split, and
training is seeded and runs on one CPU thread, so the same seed gives the same weights, to
the last bit, on every run of the same software stack.

The trained float model is the starting point of the post-training quantization study
(:mod:`logdot.study.sweep`, run by ``examples/paper_study.py``) and of the RTL demo
(``examples/digits_on_rtl.py``):
:func:`train_digits_cnn` returns it, trained once and cached under ``results/.cache/``.

Architecture of :class:`DigitsCNN` (input ``(N, 1, 8, 8)``, pixels scaled to ``[0, 1]``)::

    conv1  Conv2d(1, 16, 3, stride=1, padding=1) + bias -> (N, 16, 8, 8), ReLU
    conv2  Conv2d(16, 32, 3, stride=2, padding=1) + bias -> (N, 32, 4, 4), ReLU
    fc     Linear(512, 10) + bias                        -> logits (flatten in C, H, W order)

No pooling and no batch norm: every layer is a dot product (plus bias), then ReLU, which is
what a log dot-product engine with a requantizing output stage computes.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from logdot.golden.nn import quantize_model

__all__ = [
    "DigitsCNN",
    "TrainConfig",
    "cached_arrays",
    "calibration_subset",
    "default_cache_dir",
    "evaluate",
    "init_digits_cnn",
    "load_digits_split",
    "quantize_for_engine",
    "random_shift",
    "single_thread",
    "train",
    "train_cached",
    "train_digits_cnn",
]

#: Seed of the fixed stratified train/test split (never changes between runs).
SPLIT_SEED = 20160303
#: Fraction of the 1,797 images held out as the test set (450 images).
TEST_FRACTION = 0.25


def default_cache_dir():
    """Directory of cached trained models: ``$LOGDOT_CACHE``, else ``results/.cache`` below the
    current directory (never a path inside the installed package)."""
    env = os.environ.get("LOGDOT_CACHE")
    return Path(env) if env else Path.cwd() / "results" / ".cache"


@contextlib.contextmanager
def single_thread():
    """Run the enclosed torch code on one intra-op thread (restored afterwards).

    One thread makes float reductions run in a fixed order, so training is reproducible to
    the bit regardless of the machine's core count, and it leaves the other core free.
    """
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def cached_arrays(path, compute, valid):
    """NumPy arrays kept in the ``.npz`` file ``path``: a speed-up only.

    When ``path`` holds arrays that pass ``valid``, they are returned; otherwise (no file, a
    damaged one, or arrays that fail ``valid``) ``compute()`` is called and its arrays are
    written to ``path`` atomically (a temporary file in the same folder, then renamed, so
    concurrent processes never read half a file).

    Parameters
    ----------
    path : pathlib.Path
        The cache file.
    compute : callable
        ``compute() -> {name: numpy.ndarray}``; an exception leaves nothing written.
    valid : callable
        ``valid(arrays) -> bool`` for a ``{name: numpy.ndarray}`` read from ``path``.

    Returns
    -------
    dict of numpy.ndarray
        The arrays by name.
    """
    path = Path(path)
    if path.exists():
        try:
            with np.load(path) as f:
                arrays = {k: f[k] for k in f.files}
            if valid(arrays):
                return arrays
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache is rebuilt below
    arrays = compute()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}.npz")
    try:
        np.savez_compressed(tmp, **arrays)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()
    return arrays


def _split_key(**params):
    """Short hash of a split's parameters and of the scikit-learn version that computes it
    (part of a cached split's file name: another version may shuffle differently)."""
    from importlib.metadata import version

    blob = json.dumps({**params, "scikit-learn": version("scikit-learn")}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:10]


def calibration_subset(x_train, y_train, n=256):
    """A fixed, stratified subset of ``n`` training images for calibrating quantizers.

    Calibration (choosing activation FSRs) uses training data only, never test data; a
    subset keeps it fast. Returns ``(x, y)``; the same subset on every call. The subset's
    indices are cached under :func:`default_cache_dir` (keyed by the labels, ``n`` and the
    scikit-learn version), so that a process that finds them there never imports
    scikit-learn (seconds of start-up).
    """
    check_n = isinstance(n, int) and not isinstance(n, bool) and 10 <= n <= len(x_train)
    if not check_n:
        raise ValueError(f"n must be an integer in [10, {len(x_train)}], not {n!r}")
    if n == len(x_train):
        return x_train, y_train
    labels = np.ascontiguousarray(y_train.numpy(), dtype=np.int64)
    digest = hashlib.sha256(labels.tobytes()).hexdigest()
    key = _split_key(labels=digest, n=n, seed=SPLIT_SEED)

    def compute():
        from sklearn.model_selection import train_test_split

        idx = np.arange(len(labels))
        sub, _ = train_test_split(idx, train_size=n, random_state=SPLIT_SEED, stratify=labels)
        return {"index": np.sort(sub).astype(np.int64)}

    def valid(a):
        i = a["index"]
        return (
            i.shape == (n,)
            and i.dtype == np.int64
            and bool(np.all(np.diff(i) > 0))
            and int(i[0]) >= 0
            and int(i[-1]) < len(labels)
        )

    index = cached_arrays(default_cache_dir() / f"calibration_{key}.npz", compute, valid)
    sub = torch.from_numpy(index["index"])
    return x_train[sub], y_train[sub]


def quantize_for_engine(model, calib_data, *, weight_format, weight_bits, act_bits):
    """:func:`logdot.golden.nn.quantize_model` with the activations the engines take.

    Activations are unsigned base-2 log codes (every layer input of a ReLU network is
    non-negative), the format of the examples that export a model to the hardware.

    Parameters
    ----------
    model : torch.nn.Module
        The trained float model (copied, not modified).
    calib_data : torch.Tensor
        Training images for the activation calibration.
    weight_format : str
        ``"log2"``, ``"logsqrt2"`` or ``"linear"`` (see :class:`logdot.golden.nn.Quantizer`).
    weight_bits, act_bits : int
        Bits per weight and per activation code.

    Returns
    -------
    torch.nn.Module
        The quantized model, in eval mode.
    """
    return quantize_model(
        model,
        weight_format=weight_format,
        weight_bits=weight_bits,
        act_format="log2",
        act_bits=act_bits,
        act_signed=False,
        calib_data=calib_data,
    )


#: Training and test images of the digits split.
_SPLIT_SIZES = (1347, 450)


def _valid_digits_split(a):
    shapes = [a["x_tr"].shape, a["y_tr"].shape, a["x_te"].shape, a["y_te"].shape]
    n_tr, n_te = _SPLIT_SIZES
    return (
        shapes == [(n_tr, 1, 8, 8), (n_tr,), (n_te, 1, 8, 8), (n_te,)]
        and a["x_tr"].dtype == a["x_te"].dtype == np.float32
        and a["y_tr"].dtype == a["y_te"].dtype == np.int64
        and all(np.array_equal(a[k] * 16, np.round(a[k] * 16)) for k in ("x_tr", "x_te"))
        and all(a[k].min() >= 0 and a[k].max() <= 1 for k in ("x_tr", "x_te"))
        and all(a[k].min() >= 0 and a[k].max() <= 9 for k in ("y_tr", "y_te"))
    )


def _digits_split_arrays():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = digits.images.astype(np.float32) / 16.0
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(
        x, y, test_size=TEST_FRACTION, random_state=SPLIT_SEED, stratify=y
    )
    a = {"x_tr": x_tr[:, None], "y_tr": y_tr, "x_te": x_te[:, None], "y_te": y_te}
    return {k: np.ascontiguousarray(v) for k, v in a.items()}


def load_digits_split():
    """Return ``(x_train, y_train, x_test, y_test)`` of the digits data set.

    Images are ``float32`` tensors of shape ``(N, 1, 8, 8)`` with pixels ``k / 16`` in
    ``[0, 1]`` (the raw data are integers 0..16); labels are ``int64``. The split is
    stratified by label with a fixed seed: 1,347 training and 450 test images, the same on
    every call. The split is cached as ``digits_split_<key>.npz`` under
    :func:`default_cache_dir` (:func:`cached_arrays`; the key hashes the split's seed and
    fraction and the scikit-learn version), so that a process that finds it there never
    imports scikit-learn (seconds of start-up).
    """
    key = _split_key(seed=SPLIT_SEED, test_fraction=TEST_FRACTION)
    path = default_cache_dir() / f"digits_split_{key}.npz"
    a = cached_arrays(path, _digits_split_arrays, _valid_digits_split)
    return tuple(torch.from_numpy(a[k]) for k in ("x_tr", "y_tr", "x_te", "y_te"))


class DigitsCNN(nn.Module):
    """The paper study's small CNN: two convolutions and one fully connected layer.

    See the module docstring for the shapes. ``conv1``, ``conv2`` and ``fc`` are plain
    :class:`torch.nn.Conv2d` / :class:`torch.nn.Linear`, so
    :func:`logdot.golden.nn.quantize_model` can replace them with their quantized drop-ins.
    """

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, stride=1, padding=1)
        self.conv2 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.fc = nn.Linear(32 * 4 * 4, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x))
        x = F.relu(self.conv2(x))
        return self.fc(torch.flatten(x, 1))


@dataclass(frozen=True)
class TrainConfig:
    """Hyper-parameters of :func:`train` (the same for float training and QAT).

    Adam with a cosine learning-rate decay to zero over ``epochs`` epochs of shuffled
    mini-batches; each training image is shifted by a random offset in
    ``[-shift, shift]`` pixels in both directions (zero fill), a standard augmentation that
    lifts the float model from about 97% to about 98% on this split. Chosen once for the
    float model and not tuned per format or bit width.
    """

    epochs: int = 40
    batch_size: int = 32
    lr: float = 3e-3
    weight_decay: float = 1e-4
    shift: int = 1

    def key(self):
        """Short hash of the configuration (part of the cache file name)."""
        blob = json.dumps(asdict(self), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:10]


@torch.no_grad()
def evaluate(model, x, y, *, batch_size=1024):
    """Top-1 accuracy of ``model`` on ``(x, y)`` in ``[0, 1]`` (eval mode, no gradient)."""
    was_training = model.training
    model.eval()
    correct = 0
    for i in range(0, len(x), batch_size):
        correct += (model(x[i : i + batch_size]).argmax(1) == y[i : i + batch_size]).sum().item()
    model.train(was_training)
    return correct / len(x)


def random_shift(x, shift, gen):
    """Shift each image of ``x`` by a random ``(dy, dx)`` in ``[-shift, shift]**2`` (zero fill)."""
    if shift == 0:
        return x
    n, _, h, w = x.shape
    k = 2 * shift + 1
    padded = F.pad(x, (shift, shift, shift, shift))
    views = torch.stack([padded[:, :, a : a + h, b : b + w] for a in range(k) for b in range(k)], 1)
    pick = torch.randint(0, k * k, (n,), generator=gen)
    return views[torch.arange(n), pick]


def train(model, x, y, *, seed, config=TrainConfig(), progress=None, before_epoch=None):
    """Train ``model`` in place on ``(x, y)`` with cross-entropy; return ``model``.

    Parameters
    ----------
    model : torch.nn.Module
        A freshly initialized model (float, or with fake-quantized layers for QAT: the
        straight-through estimator makes the same loop work).
    x, y : torch.Tensor
        Training images and labels (never the test set).
    seed : int
        Seeds the shuffling order and the augmentation (the initial weights are the
        caller's business).
    config : TrainConfig
        Hyper-parameters.
    progress : callable or None
        Called with no argument after every epoch (e.g. a tqdm bar's ``update``).
    before_epoch : callable or None
        Called as ``before_epoch(model, epoch)`` before every epoch (e.g. to re-choose
        quantization scales in QAT); the model is put back in training mode afterwards.
    """
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(x) // config.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, config.epochs * steps_per_epoch)
    with single_thread():
        for epoch in range(config.epochs):
            if before_epoch is not None:
                before_epoch(model, epoch)
            model.train()
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), config.batch_size):
                idx = order[i : i + config.batch_size]
                xb = random_shift(x[idx], config.shift, gen)
                loss = F.cross_entropy(model(xb), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if progress is not None:
                progress()
    model.eval()
    return model


def train_cached(model, path, training_set, *, seed, config, cache, progress=None):
    """Train ``model``, or load its weights from the cache file ``path``.

    With ``cache`` and an existing ``path``, the state dict stored there is loaded (no
    training). Otherwise ``model`` is trained with :func:`train` on ``training_set()`` and,
    with ``cache``, its state dict is written to ``path`` atomically (a temporary file in the
    same folder, then renamed).

    Parameters
    ----------
    model : torch.nn.Module
        The freshly initialized model.
    path : pathlib.Path
        The cache file.
    training_set : callable
        Returns ``(x_train, y_train)``; called only when training happens.
    seed, config, progress
        Passed to :func:`train`.
    cache : bool
        Read and write ``path`` (``False`` always trains and writes nothing).

    Returns
    -------
    torch.nn.Module
        ``model``, trained or loaded, in eval mode.
    """
    if cache and path.exists():
        model.load_state_dict(torch.load(path, weights_only=True))
        return model.eval()
    x_tr, y_tr = training_set()
    train(model, x_tr, y_tr, seed=seed, config=config, progress=progress)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save(model.state_dict(), tmp)
        os.replace(tmp, path)
    return model


def init_digits_cnn(seed):
    """A freshly initialized :class:`DigitsCNN` (PyTorch's default init, seeded)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return DigitsCNN()


def train_digits_cnn(seed=0, *, config=TrainConfig(), cache=True, cache_dir=None, progress=None):
    """The float :class:`DigitsCNN` trained with ``seed``: deterministic, cached.

    The first call trains (a few seconds on one core) and saves the state dict as
    ``<cache_dir>/digits_cnn_<config-hash>_seed<seed>.pt``; later calls load it. The cache
    is only a speed-up: deleting it reproduces the same weights.

    Parameters
    ----------
    seed : int
        Seed of the initial weights and of the shuffling order.
    config : TrainConfig
        Training hyper-parameters (their hash is part of the cache key).
    cache : bool
        Read and write the cache (``False`` always trains and writes nothing).
    cache_dir : path-like or None
        Cache directory, default :func:`default_cache_dir`.
    progress : callable or None
        Passed to :func:`train` (called once per epoch when training happens).

    Returns
    -------
    DigitsCNN
        The trained model in eval mode.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    path = Path(cache_dir or default_cache_dir()) / f"digits_cnn_{config.key()}_seed{seed}.pt"
    return train_cached(
        init_digits_cnn(seed),
        path,
        lambda: load_digits_split()[:2],
        seed=seed,
        config=config,
        cache=cache,
        progress=progress,
    )
