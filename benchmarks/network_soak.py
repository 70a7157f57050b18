"""Network soak: >= 100,000 MNIST images through the streaming accelerator in Verilator.

``make soak`` runs this after :mod:`benchmarks.soak` (engine and layer soak). The quantized
MNIST network of ``examples/mnist_network.py`` (built and cached in
``build/networks/mnist.net.pt``; the script runs the example when the file is missing) is
compiled into the soak bench of :mod:`logdot.tools.network_soak` with a pool of the 1,000 test
images (``logdot.study.mnist.load_split``). The bench picks the images, the malformed frames
(short: ``tlast`` early; long: extra pixels), the resets and the idle / back-pressure cycles
from a seeded generator; every output word is checked afterwards against the golden network
model (:func:`logdot.golden.network.network_forward`, short frames through
:func:`logdot.golden.network_stream.stream_forward`), including what must happen around a
reset (the module docstring of :mod:`logdot.tools.network_soak`).

The images go in chunks of ``--chunk`` frames, chunk ``i`` with seed ``SEED + i`` (printed;
``--seed SEED+i --images CHUNK`` replays one). Before the soak, a canary: one deliberately
wrong golden word must be reported. Prints images per second of simulation; exit code 0 when
every chunk has 0 mismatches, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from logdot.golden.network import encode_input  # noqa: E402
from logdot.golden.network_file import load_network  # noqa: E402
from logdot.study.mnist import load_split  # noqa: E402
from logdot.tools.network_soak import NetworkSoak  # noqa: E402


def mnist_network(path):
    """The cached MNIST network file (built by ``examples/mnist_network.py`` when missing)."""
    if not path.is_file():
        cmd = [sys.executable, str(ROOT / "examples" / "mnist_network.py"), "--images", "100"]
        cmd += ["--out", str(path)]
        subprocess.run(cmd, check=True)
    return load_network(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--images", type=int, default=100_000, help="frames to send")
    p.add_argument("--chunk", type=int, default=10_000, help="frames per simulator run")
    p.add_argument("--seed", type=int, default=int(os.environ.get("LOGDOT_SEED", 20161603)))
    p.add_argument("--pool", type=int, default=1000, help="test images in the pool")
    p.add_argument("--idle", type=float, default=0.1)
    p.add_argument("--backpressure", type=float, default=0.2)
    p.add_argument("--short", type=float, default=0.02)
    p.add_argument("--long", type=float, default=0.02)
    p.add_argument("--reset", type=float, default=0.01)
    p.add_argument("--network", default=str(ROOT / "build" / "networks" / "mnist.net.pt"))
    p.add_argument("--out", default=str(ROOT / "build" / "network_soak"))
    args = p.parse_args(argv)
    if args.images < 1 or args.chunk < 1 or not 1 <= args.pool <= 1000:
        print("error: --images and --chunk must be >= 1, --pool in [1, 1000]", file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    net = mnist_network(Path(args.network))
    x_test = load_split("mnist")[2][: args.pool]
    t0 = time.monotonic()
    soak = NetworkSoak(net, encode_input(net, x_test), args.out)
    golden_s = time.monotonic() - t0
    t0 = time.monotonic()
    soak.build()
    print(
        f"MNIST network, pool of {args.pool} test images: golden words in {golden_s:.1f} s, "
        f"bench built in {time.monotonic() - t0:.1f} s",
        flush=True,
    )
    mix = dict(idle=args.idle, backpressure=args.backpressure, short=args.short)
    mix.update(long=args.long, reset=args.reset)
    print("mix: " + ", ".join(f"{k} {v}" for k, v in mix.items()))

    canary = soak.run(20, seed=args.seed, tag="canary", **mix)
    wrong = list(soak.pool_golden)
    first = next(ev[1] for ev in canary.events if ev[0] == "S" and ev[2] in (0, 2))
    wrong[first] ^= 1
    caught = soak.check(canary, pool_golden=wrong).mismatches
    if not caught or soak.check(canary).mismatches:
        print("FAIL: the canary (one wrong golden word) was not reported exactly")
        return 1
    print(f"canary: a wrong golden word was reported ({caught[0]})")

    totals = dict(images=0, outputs=0, dropped=0, cycles=0, seconds=0.0, mismatches=0)
    kinds = {}
    done, i = 0, 0
    while done < args.images:
        n = min(args.chunk, args.images - done)
        seed = args.seed + i
        run = soak.run(n, seed=seed, tag="chunk", **mix)
        rep = soak.check(run)
        for k, v in rep.frames.items():
            kinds[k] = kinds.get(k, 0) + v
        totals["images"] += rep.images
        totals["outputs"] += rep.outputs
        totals["dropped"] += rep.dropped
        totals["cycles"] += run.cycles
        totals["seconds"] += run.seconds
        totals["mismatches"] += len(rep.mismatches)
        print(
            f"chunk {i} seed {seed}: {n} frames, {rep.outputs} outputs, {rep.dropped} dropped "
            f"by resets, {len(rep.mismatches)} mismatches, {run.cycles} cycles, "
            f"{run.seconds:.1f} s ({n / run.seconds:.0f} frames/s)",
            flush=True,
        )
        for m in rep.mismatches[:10]:
            print(f"  {m}")
        done, i = done + n, i + 1
    t = totals
    print(f"frames by kind: {kinds}")
    print(
        f"network soak: {done} frames ({t['images']} images into the accelerator, "
        f"{t['outputs']} output words checked, {t['dropped']} dropped by resets), "
        f"{t['mismatches']} mismatches, {t['cycles']} cycles in {t['seconds']:.1f} s: "
        f"{t['images'] / t['seconds']:.0f} images/s, {t['cycles'] / t['seconds'] / 1e6:.2f} "
        f"Mcycles/s (seed {args.seed})"
    )
    return 0 if t["mismatches"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
