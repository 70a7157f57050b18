"""The paper study's digits CNN, quantized to log weights and log activations, through the RTL.

Every layer of the trained :class:`logdot.study.data.DigitsCNN` (conv1, conv2, fc) becomes a
generated layer engine (``logdot.hdl.layer``: PEs x lanes, weights and biases baked in, bias + ReLU
+ requantization to the next layer's log format). The whole test set streams through the
generated Verilog, layer after layer, in Verilator (default) or Icarus Verilog; the output
feature map of each layer, reassembled from the engine's output beats, is the next layer's
input. Every layer output is compared with the golden model (``logdot.golden.layer``), integer for
integer; the hardware's predictions are scored against the labels.

Run ``python examples/digits_on_rtl.py`` (or ``make demo``); ``--images 20`` for a quick run,
``--sim icarus`` for Icarus (about a hundred times slower per cycle: use few images). The last
line is ``mismatches: <n> hw_accuracy: <x> golden_accuracy: <y> images: <k>``; the exit code
is 0 only when there are no mismatches and both accuracies are equal.

The engine builds print one line each when they start and finish. Ctrl-C ends the run within
a few seconds with the one line ``digits_on_rtl: interrupted`` on stderr and exit status 130:
the simulator builds and runs (own process groups) are killed, the build pool does not wait
for them, and an interrupted build is never reused (:class:`logdot.tools.layer_sim.LayerSim`).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from logdot.golden.formats import LIMITS  # noqa: E402
from logdot.golden.layer import MAX_PES  # noqa: E402
from logdot.golden.mapping import map_layer  # noqa: E402
from logdot.golden.nn import quantize_model  # noqa: E402
from logdot.golden.spec_io import spec_from_module  # noqa: E402
from logdot.options import SQRT2_MIN_FRAC_BITS, max_width  # noqa: E402
from logdot.study.data import evaluate, load_digits_split, train_digits_cnn  # noqa: E402
from logdot.tools import interrupt  # noqa: E402
from logdot.tools.layer_sim import SIMULATORS, LayerSim, default_build_root  # noqa: E402

#: Engine geometry (lanes x PEs) of conv1, conv2 and fc.
DEFAULT_LAYOUT = "9x4,16x4,16x2"
LAYER_NAMES = ("conv1", "conv2", "fc")
#: Images in the test split of :func:`logdot.study.data.load_digits_split` (checked on load).
TEST_IMAGES = 450


def parse_layout(text):
    """``"9x4,16x4,16x2"`` -> ``[(9, 4), (16, 4), (16, 2)]``."""
    try:
        parts = [tuple(int(v) for v in p.split("x")) for p in text.split(",")]
    except ValueError:
        parts = []
    if len(parts) != 3 or any(len(p) != 2 or min(p) < 1 for p in parts):
        raise argparse.ArgumentTypeError(
            f"--layout must be three LANESxPES pairs like {DEFAULT_LAYOUT!r}, not {text!r}"
        )
    return parts


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line, ``digits_on_rtl.py: error: ...``, exit 2."""

    def error(self, message):
        # argparse prefixes a type's own message ("--layout must be ...") with its flag
        message = re.sub(r"^argument (\S+): (\1 )", r"\2", message)
        self.exit(2, f"{self.prog}: error: {message}\n")


def check_args(parser, args):
    """Refuse bad flag values at once (one-line error, exit 2), before any heavy work."""
    checks = [
        (args.images is None or 1 <= args.images <= TEST_IMAGES, "--images", args.images,
         f"an integer in [1, {TEST_IMAGES}]"),
        (args.chunk >= 1, "--chunk", args.chunk, "an integer >= 1"),
        (0 <= args.idle < 1, "--idle", args.idle, "a probability in [0, 1)"),
        (0 <= args.backpressure < 1, "--backpressure", args.backpressure,
         "a probability in [0, 1)"),
    ]  # fmt: skip
    base = "sqrt2" if args.weight_format == "logsqrt2" else 2
    widths = dict(act_format="log", act_signed=False, weight_base=base)
    for flag, param, value in (
        ("--weight-bits", "weight_bits", args.weight_bits),
        ("--act-bits", "act_bits", args.act_bits),
    ):
        lo = LIMITS["weight_bits" if param == "weight_bits" else "act_bits_log"][0]
        hi = max_width(param, **widths)
        checks.append((lo <= value <= hi, flag, value, f"an integer in [{lo}, {hi}]"))
    if base == "sqrt2":
        lo, hi = SQRT2_MIN_FRAC_BITS, LIMITS["frac_bits"][1]
        frac = args.frac_bits
        checks.append((lo <= frac <= hi, "--frac-bits", frac, f"an integer in [{lo}, {hi}]"))
    lanes_hi = LIMITS["lanes"][1]
    for (lanes, pes), name in zip(args.layout, LAYER_NAMES, strict=True):
        checks += [
            (lanes <= lanes_hi, "--layout", f"{lanes} lanes for {name}", f"<= {lanes_hi} lanes"),
            (pes <= MAX_PES, "--layout", f"{pes} PEs for {name}", f"<= {MAX_PES} PEs"),
        ]
    for ok, flag, value, expected in checks:
        if not ok:
            parser.error(f"{flag} must be {expected}, not {value}")


def build_parser():
    p = _Parser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--images", type=int, default=None, help=f"test images (default: all {TEST_IMAGES})"
    )
    p.add_argument("--sim", choices=SIMULATORS, default="verilator", help="simulator")
    p.add_argument(
        "--weight-format",
        choices=("logsqrt2", "log2"),
        default="logsqrt2",
        help="weight log base (default: logsqrt2)",
    )
    p.add_argument("--weight-bits", type=int, default=5, help="weight bits, sign included")
    p.add_argument("--act-bits", type=int, default=4, help="unsigned log activation bits")
    p.add_argument(
        "--frac-bits", type=int, default=12, help="engine fraction bits for sqrt(2) weights"
    )
    p.add_argument(
        "--layout",
        type=parse_layout,
        default=parse_layout(DEFAULT_LAYOUT),
        help=f"LANESxPES of conv1,conv2,fc (default: {DEFAULT_LAYOUT})",
    )
    p.add_argument("--chunk", type=int, default=50, help="images per simulator run")
    p.add_argument("--idle", type=float, default=0.0, help="input idle-cycle probability")
    p.add_argument(
        "--backpressure", type=float, default=0.0, help="output back-pressure probability"
    )
    p.add_argument("--seed", type=int, default=0, help="training seed of the float model")
    p.add_argument("--build-dir", default=None, help="build directory")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument(
        "--inject-fault",
        action="store_true",
        help="corrupt one golden output (self-test: the run must then fail)",
    )
    return p


def quantized_model(args):
    model = train_digits_cnn(args.seed)
    x_tr, _, x_te, y_te = load_digits_split()
    q = quantize_model(
        model,
        weight_format=args.weight_format,
        weight_bits=args.weight_bits,
        act_format="log2",
        act_bits=args.act_bits,
        act_signed=False,
        calib_data=x_tr,
    )
    return model, q, x_te, y_te


def mapped_layers(q, args):
    fb = args.frac_bits if args.weight_format == "logsqrt2" else None
    specs = [
        spec_from_module(q.conv1, relu=True, next_quant=q.conv2.input_quant, frac_bits=fb),
        spec_from_module(q.conv2, relu=True, next_quant=q.fc.input_quant, frac_bits=fb),
        spec_from_module(q.fc, relu=False, frac_bits=fb),
    ]
    return [map_layer(s, lanes=n, pes=p) for s, (n, p) in zip(specs, args.layout, strict=True)]


def fmt_table(rows, header):
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:>{w}}}" for w in widths)
    out = [line.format(*header), line.format(*["-" * w for w in widths])]
    out += [line.format(*map(str, r)) for r in rows]
    return "\n".join(out)


def build_engines(sims, names):
    """Build the engines, two at a time, one line per engine started and finished.

    On an interrupt the pool does not wait for the running builds (the caller kills their
    processes) and the builds not started yet are cancelled.
    """
    lock = threading.Lock()
    total = len(sims)

    def say(text):
        with lock:
            print(text, flush=True)

    def build(k, sim):
        say(f"  [{k + 1}/{total}] {names[k]}: building ...")
        sim.build()
        how = "reused the complete build" if sim.reused else "built"
        say(f"  [{k + 1}/{total}] {names[k]}: {how} in {sim.build_seconds:.1f} s")

    pool = ThreadPoolExecutor(max_workers=2)
    try:
        futures = [pool.submit(build, k, sim) for k, sim in enumerate(sims)]
        for f in futures:
            f.result()
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def main(argv=None):
    """Run the demo; returns the exit code (130 after Ctrl-C, with one line on stderr)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    check_args(parser, args)  # before the model is trained and the data loaded
    return interrupt.run_command("digits_on_rtl", lambda: run(parser, args))


def run(parser, args):
    """The demo proper (:func:`main` handles interrupts; ``parser`` reports bad layouts)."""
    torch.set_num_threads(1)  # small tensors: the thread pool costs more than it helps
    t_start = time.monotonic()

    model, q, x_te, y_te = quantized_model(args)
    if len(x_te) != TEST_IMAGES:
        raise RuntimeError(f"the digits test split has {len(x_te)} images, not {TEST_IMAGES}")
    n = TEST_IMAGES if args.images is None else args.images
    x_te, y_te = x_te[:n], y_te[:n]
    try:
        layers = mapped_layers(q, args)
    except ValueError as exc:  # a layout or width the layer engines cannot take
        parser.error(" ".join(str(exc).split()))
    float_acc = evaluate(model, x_te, y_te)
    fake_acc = evaluate(q, x_te, y_te)
    print(
        f"digits CNN: {args.weight_format} {args.weight_bits}-bit weights, log2 "
        f"{args.act_bits}-bit unsigned activations; {n} test images; simulator {args.sim}"
    )
    for name, ml in zip(LAYER_NAMES, layers, strict=True):
        cfg = ml.config
        e = cfg.engine
        print(
            f"  {name}: {ml.spec.kind} {tuple(ml.spec.weight_codes.shape)} -> engine "
            f"{cfg.lanes} lanes x {cfg.pes} PEs, {ml.beats} beats/dot, {ml.tiles} tiles, "
            f"acc {e.acc_bits} bits, result 2^({ml.scale_x2}/2), bias {cfg.bias_bits} bits, "
            f"output {cfg.requant.kind} {cfg.requant.out_bits} bits"
        )

    # Build the three engines (two at a time, one compile job each).
    root = Path(args.build_dir) if args.build_dir else default_build_root() / f"digits_{args.sim}"
    sims = [
        LayerSim(ml, root / name, sim=args.sim, name=f"digits_{name}", jobs=1)
        for name, ml in zip(LAYER_NAMES, layers, strict=True)
    ]
    print(f"building {len(sims)} engines ({args.sim}) ...", flush=True)
    t0 = time.monotonic()
    build_engines(sims, LAYER_NAMES)
    interrupt.check()
    build_time = time.monotonic() - t0
    print(f"built {len(sims)} engines in {build_time:.1f} s ({root})")

    # Stream the test set through, chunk by chunk (each run starts from reset).
    x0 = q.conv1.input_quant.codes(x_te)
    stats = [
        {"beats": 0, "cycles": 0, "compared": 0, "mismatches": 0, "sim_s": 0.0, "gold_s": 0.0}
        for _ in layers
    ]
    hw_logits, gold_logits = [], []
    try:
        from tqdm import tqdm

        bar = tqdm(total=n, unit="image", disable=args.no_progress, file=sys.stderr)
    except ImportError:  # pragma: no cover
        bar = None
    faulted = False
    try:
        for start in range(0, n, args.chunk):
            xh = xg = x0[start : start + args.chunk]
            for k, (ml, sim) in enumerate(zip(layers, sims, strict=True)):
                if ml.spec.kind == "linear":
                    xh, xg = xh.reshape(len(xh), -1), xg.reshape(len(xg), -1)
                acts_h, last_h, shape_h = ml.stream(xh)
                acts_g, last_g, shape_g = ml.stream(xg)
                t1 = time.monotonic()
                gold = ml.layer.run(acts_g, last_g)
                stats[k]["gold_s"] += time.monotonic() - t1
                if args.inject_fault and not faulted:
                    gold = gold.clone()
                    gold[0, 0] += 1
                    faulted = True
                run = sim.run(
                    acts_h,
                    last_h,
                    seed=1 + start + 1000 * k,
                    idle=args.idle,
                    backpressure=args.backpressure,
                    tag=f"chunk{start}",
                )
                st = stats[k]
                st["beats"] += run.beats
                st["cycles"] += run.cycles
                st["sim_s"] += run.seconds
                if run.outputs.shape != gold.shape:
                    st["mismatches"] += max(run.outputs.numel(), gold.numel())
                    print(
                        f"{LAYER_NAMES[k]}: {run.outputs.shape[0]} output beats, expected "
                        f"{gold.shape[0]}",
                        file=sys.stderr,
                    )
                    return 1
                st["compared"] += gold.numel()
                st["mismatches"] += int((run.outputs != gold).sum())
                xh = ml.assemble(run.outputs, shape_h)
                xg = ml.assemble(gold, shape_g)
            hw_logits.append(xh)
            gold_logits.append(xg)
            if bar is not None:
                bar.update(len(xh))
    finally:
        if bar is not None:
            if interrupt.interrupted():
                bar.leave = False  # no half bar before the one line
            bar.close()
    interrupt.check()  # an interrupt swallowed in a finalizer: no success line

    hw_pred = torch.cat(hw_logits).argmax(1)
    gold_pred = torch.cat(gold_logits).argmax(1)
    hw_acc = float((hw_pred == y_te).float().mean())
    gold_acc = float((gold_pred == y_te).float().mean())
    mismatches = sum(s["mismatches"] for s in stats)

    rows = []
    for name, ml, sim, st in zip(LAYER_NAMES, layers, sims, stats, strict=True):
        cfg = ml.config
        rows.append(
            [
                name,
                f"{cfg.lanes}x{cfg.pes}",
                ml.beats,
                ml.tiles,
                sim.latency,
                st["beats"],
                st["cycles"],
                f"{st['cycles'] / n:.1f}",
                st["compared"],
                st["mismatches"],
                f"{sim.build_seconds:.1f}",
                f"{st['sim_s']:.1f}",
                f"{st['gold_s']:.1f}",
            ]
        )
    header = [
        "layer",
        "NxP",
        "beats/dot",
        "tiles",
        "latency",
        "beats",
        "cycles",
        "cyc/img",
        "outputs",
        "mismatch",
        "build s",
        "sim s",
        "golden s",
    ]
    print()
    print(fmt_table(rows, header))
    total_cycles = sum(s["cycles"] for s in stats)
    print()
    for label, acc in (
        ("float model accuracy:", float_acc),
        ("fake-quantized PyTorch model:", fake_acc),
        ("golden integer model (logdot.golden.layer):", gold_acc),
        (f"RTL ({args.sim}):", hw_acc),
    ):
        print(f"{label:<37}{acc:.4f}")
    print(f"hardware and golden predictions agree on {int((hw_pred == gold_pred).sum())} of {n}")
    print(
        f"cycles per image: {total_cycles / n:.1f} (layers one after another, "
        f"idle {args.idle}, back-pressure {args.backpressure})"
    )
    print(f"wall time: {time.monotonic() - t_start:.1f} s (builds {build_time:.1f} s)")
    print(
        f"mismatches: {mismatches} hw_accuracy: {hw_acc:.4f} golden_accuracy: {gold_acc:.4f} "
        f"images: {n}"
    )
    sys.stdout.flush()
    return 0 if mismatches == 0 and hw_acc == gold_acc else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    code = main()
    if code == interrupt.EXIT_INTERRUPTED:
        # Do not wait for build threads still busy in Python (Amaranth) at exit.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)
