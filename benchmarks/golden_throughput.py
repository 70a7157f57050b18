"""Throughput of the golden engine model, :func:`logdot.golden.engine.dot`, on one CPU thread.

The reference case: 1,000,000 dot products of 16 lanes, 4-bit base-2 log weights times 8-bit
signed linear activations (the default engine), one beat each, inputs as int64 torch tensors.
Target: >= 50 million lane products per second (under 0.32 s). After a warm-up run, the best
of several timed runs is reported; the result of one run is spot-checked against the slow
big-integer reference. The last line is ``lane_products_per_s: <number>``.

Run: ``python benchmarks/golden_throughput.py`` (options: ``--runs``, ``--dots``, ``--seed``).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from logdot.golden.engine import EngineConfig, check_equal, dot, reference_dot

TARGET = 50e6


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dots", type=int, default=1_000_000, help="dot products per run")
    parser.add_argument("--runs", type=int, default=5, help="timed runs (best is reported)")
    parser.add_argument("--seed", type=int, default=20161603, help="seed of the random inputs")
    args = parser.parse_args(argv)
    if args.dots < 1 or args.runs < 1:
        parser.error("--dots and --runs must be positive")

    torch.set_num_threads(1)
    config = EngineConfig(lanes=16, act_bits=8, weight_bits=4)
    gen = torch.Generator().manual_seed(args.seed)
    lo, hi = config.act_range
    acts = torch.randint(lo, hi + 1, (args.dots, config.lanes), generator=gen)
    weights = torch.randint(0, 1 << config.weight_bits, (args.dots, config.lanes), generator=gen)
    lane_products = args.dots * config.lanes

    print(f"torch {torch.__version__}, python {platform.python_version()}, threads 1")
    print(
        f"config: lanes={config.lanes} act_bits={config.act_bits} (linear, signed) "
        f"weight_bits={config.weight_bits} (base 2), acc_bits={config.acc_bits}"
    )
    print(
        f"inputs: {args.dots} dot products x {config.lanes} lanes, int64 tensors, seed {args.seed}"
    )

    result = dot(config, acts, weights)  # warm-up (also builds the lookup tables)
    sample = slice(0, 2000)
    check_equal(
        reference_dot(config, acts[sample], weights[sample]),
        result[sample],
        context="benchmark spot check",
    )
    times, cpu_times = [], []
    for _ in range(args.runs):
        start, cpu_start = time.perf_counter(), time.process_time()
        dot(config, acts, weights)
        times.append(time.perf_counter() - start)
        cpu_times.append(time.process_time() - cpu_start)
    best = min(times)
    rate = lane_products / best
    print("runs, wall clock (s): " + ", ".join(f"{t:.4f}" for t in times))
    print("runs, CPU time (s):   " + ", ".join(f"{t:.4f}" for t in cpu_times))
    if best > 1.5 * min(cpu_times):
        print("note: wall clock well above CPU time: the machine is busy, the rate is pessimistic")
    print(f"best: {best:.4f} s for {lane_products} lane products")
    status = "met" if rate >= TARGET else "NOT met"
    print(f"target {TARGET:.0f} lane products/s (0.32 s): {status}")
    print(f"lane_products_per_s: {rate:.0f}")


if __name__ == "__main__":
    main()
