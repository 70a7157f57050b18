"""The MNIST CNN as one streaming accelerator: pixels into the RTL, logits out, bit-exact.

Trains (or loads from the cache) and log-quantizes the CNN of ``examples/mnist_network.py``,
exports its network file, compiles it with ``logdot compile`` (one Verilog top module:
window units, layer engines, pools, FIFOs, all running concurrently), builds it in Verilator
(or Icarus Verilog) and streams the test images through it, one pixel per beat, in chunks of
back-to-back images. Every output word is compared with the golden integer network
(:func:`logdot.golden.network.network_forward`, packed as
:func:`logdot.golden.network_stream.output_beat`); the report shows the float, fake-quantized,
golden and RTL accuracies side by side.

Run ``python examples/mnist_on_rtl.py`` (``make demo``: all 1,000 MNIST test images in
Verilator); ``--images N`` streams fewer, ``--dataset digits`` runs the scikit-learn digits
CNN through the same flow, ``--sim icarus`` uses Icarus Verilog (slow for MNIST). The last
line is exactly ``mismatches: <n> hw_accuracy: <x> golden_accuracy: <y> images: <k>``; the
exit code is 1 when any output word differs.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for p in (ROOT, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from mnist_network import build_parser as network_parser  # noqa: E402
from mnist_network import quantized, trained_model  # noqa: E402

from logdot.golden.network import encode_input  # noqa: E402
from logdot.golden.network_file import load_network  # noqa: E402
from logdot.golden.network_stream import output_beat, output_values  # noqa: E402
from logdot.golden.network_torch import accuracies, export_network, predict_outputs  # noqa: E402
from logdot.study.data import calibration_subset  # noqa: E402
from logdot.study.mnist import load_split  # noqa: E402
from logdot.tools import interrupt  # noqa: E402
from logdot.tools.network_sim import NetworkSim  # noqa: E402
from logdot.tools.progress import bar  # noqa: E402


def build_parser():
    p = network_parser()
    p.description = __doc__.splitlines()[0]
    p.add_argument("--sim", choices=("verilator", "icarus"), default="verilator")
    p.add_argument(
        "--build-dir",
        default=None,
        help="compiled design and simulator build (default build/<dataset>_on_rtl/<sim>)",
    )
    p.add_argument("--fold", default=None, help="lanes x PEs per layer, as logdot compile --fold")
    p.add_argument("--chunk", type=int, default=100, help="images per simulator run")
    p.add_argument("--idle", type=float, default=0.0, help="s_axis idle probability")
    p.add_argument("--backpressure", type=float, default=0.0, help="m_axis stall probability")
    p.add_argument("--jobs", type=int, default=2, help="C++ compile jobs (Verilator)")
    p.add_argument("--quiet", action="store_true", help="nothing on stderr (no progress bar)")
    return p


def _error(msg):
    print(f"error: {msg}", file=sys.stderr)
    return 2


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.chunk < 1:
        return _error(f"--chunk must be at least 1, not {args.chunk}")
    for flag, v in (("--idle", args.idle), ("--backpressure", args.backpressure)):
        if not 0.0 <= v < 1.0:
            return _error(f"{flag} must be in [0, 1), not {v}")
    torch.set_num_threads(1)
    t_start = time.monotonic()
    x_tr, y_tr, x_te, y_te = load_split(args.dataset)
    if args.train_images is not None:
        if args.dataset != "mnist" or not 10 <= args.train_images <= len(x_tr):
            return _error(f"--train-images needs mnist and 10..{len(x_tr)}")
        x_tr, y_tr = calibration_subset(x_tr, y_tr, n=args.train_images)
    n = len(x_te) if args.images is None else args.images
    if not 1 <= n <= len(x_te):
        return _error(f"--images must be in [1, {len(x_te)}], not {n}")
    x_te, y_te = x_te[:n], y_te[:n]
    build = Path(args.build_dir or ROOT / "build" / f"{args.dataset}_on_rtl" / args.sim)
    build.mkdir(parents=True, exist_ok=True)

    model, train_s, config = trained_model(args, x_tr, y_tr)
    print(
        f"{args.dataset} CNN: {len(x_tr)} training images, {config.epochs} epochs "
        f"(trained, or loaded from the cache, in {train_s:.1f} s)",
        flush=True,
    )
    q, _ = quantized(args, model, x_tr, y_tr)
    net_file = Path(args.out or build / f"{args.dataset}.net.pt")
    fb = args.frac_bits if args.weight_format == "logsqrt2" else None
    export_network(q, tuple(x_tr.shape[1:]), net_file, frac_bits=fb)
    net = load_network(net_file)
    name = f"{args.dataset}_net"
    cmd = ["compile", "--network", str(net_file), "--name", name, "--out", str(build)]
    if args.fold is not None:
        cmd += ["--fold", args.fold]
    if args.quiet:
        cmd.append("--quiet")
    print(f"$ logdot {' '.join(cmd)} --force", flush=True)
    t0 = time.monotonic()
    # The command a user types (the CLI is a program, not a library).
    rc = interrupt.run([sys.executable, "-m", "logdot", *cmd, "--force"]).returncode
    if rc != 0:
        return rc
    sim = NetworkSim(net, build, sim=args.sim, name=name, jobs=args.jobs, precompiled=True)
    sim.build()
    man = sim.manifest
    bott = ", ".join(f"{b['kind']} of layer {b['layer']}" for b in man["bottleneck"])
    print(
        f"compiled and built for {args.sim} in {time.monotonic() - t0:.1f} s: "
        f"{man['cycles_per_image']} cycles per image (bound by the {bott}), "
        f"latency {man['latency_cycles']} cycles",
        flush=True,
    )
    for st in man["stages"]:
        if st["kind"] in ("engine",):
            layer = man["layers"][st["layer"]]
            print(
                f"  layer {layer['index']} {layer['type']:<7} {layer['lanes']} lanes x "
                f"{layer['pes']} PEs, {layer['tiles']} tiles x {layer['beats']} beats, "
                f"{st['cycles_per_image']} cycles per image"
            )

    res = accuracies(model, q, net, x_te, y_te)
    outs = res["outputs"]
    want = [output_beat(net, o) for o in outs]
    codes = encode_input(net, x_te)
    got = []
    cycles = 0
    t0 = time.monotonic()
    images_bar = bar(total=n, desc=f"rtl ({args.sim})", unit="image", quiet=args.quiet)
    for start in range(0, n, args.chunk):
        stop = min(n, start + args.chunk)
        run = sim.run_images(
            codes[start:stop],
            seed=start + 1,
            idle=args.idle,
            backpressure=args.backpressure,
            tag=f"images{start}",
        )
        got += run.words
        cycles += run.cycles
        bad = sum(g != w for g, w in zip(got, want, strict=False))
        images_bar.update(stop - start)
        images_bar.set_postfix(mismatches=bad)
        print(
            f"rtl: {stop}/{n} images, {bad} mismatches, {time.monotonic() - t0:.1f} s",
            flush=True,
        )
    images_bar.close()
    mismatches = sum(g != w for g, w in zip(got, want, strict=False)) + abs(len(got) - n)
    hw = predict_outputs(net, torch.stack([output_values(net, w) for w in got]))
    hw_acc = float((hw == y_te[: len(hw)]).float().mean()) if len(hw) else 0.0
    print()
    print(f"{'float model:':<31}{res['float']:.4f}")
    print(f"{'fake-quantized PyTorch model:':<31}{res['fake_quant']:.4f}")
    print(f"{'golden integer network:':<31}{res['golden']:.4f}")
    print(f"{'RTL (' + args.sim + '):':<31}{hw_acc:.4f}")
    print(
        f"{cycles} simulated cycles for {n} images in runs of {args.chunk} "
        f"({cycles / n:.0f} per image, model {man['cycles_per_image']} in steady state); "
        f"wall time {time.monotonic() - t_start:.1f} s"
    )
    print(
        f"mismatches: {mismatches} hw_accuracy: {hw_acc:.4f} "
        f"golden_accuracy: {res['golden']:.4f} images: {len(got)}"
    )
    return 1 if mismatches else 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    sys.exit(main())
