"""Cost and speed of the streaming network accelerator against the multiplier baseline.

The MNIST CNN of :mod:`logdot.study.mnist` (the float model of ``examples/mnist_network.py``,
trained once and cached) three ways, with the same folding (the log network's automatic one,
``logdot compile``'s default):

* ``log``: the logdot accelerator, base-sqrt(2) 5-bit log weights and 4-bit log2 activations
  (the example's quantization);
* ``linear8`` / ``linear5``: the multiplier baseline, two's-complement 8-bit or 5-bit weights
  (``QuantSettings`` weight format ``"linear"``) multiplied in LUTs (``-nodsp`` targets) with
  8-bit unsigned linear activations (a linear datapath needs more activation bits than a log
  one for the same accuracy: 4-bit linear activations lose accuracy, see the golden column).

For each: golden accuracy on the 1,000 test images (golden == RTL is proven by the tests),
then ``logdot synth --network``'s flow (:func:`logdot.synth.network.run_network`): LUT4s,
FFs, block RAM, DSPs, fmax over the nextpnr seeds (median, min, max) and images/s =
fmax / cycles_per_image, on iCE40 HX8K and UP5K and ECP5 25F/45F/85F (a device it cannot fit
is reported as such). Then the digits CNN on iCE40 HX8K.

Writes ``results/network_cost.csv`` and ``results/network_cost.md`` (rewritten after every
network, so a partial run leaves what it measured). Slow (hours: one nextpnr seed of the MNIST
accelerator on an ECP5-25F takes more than an hour, and every network is placed and routed up to
15 times); run it in the background. Every finished nextpnr run is kept in ``--pnr-cache``
(:mod:`logdot.synth.cache`), so running the same command again after a stop resumes: only the
seeds not yet finished are placed and routed::

    nice -n 10 .venv/bin/python benchmarks/network_cost.py [--seeds 1,2,3] [--only log,digits]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from logdot.commands.compile import parse_fold  # noqa: E402
from logdot.generators.network import resolve_fold  # noqa: E402
from logdot.golden.network_torch import accuracies, export_network  # noqa: E402
from logdot.golden.nn import quantize_model  # noqa: E402
from logdot.options import CliError  # noqa: E402
from logdot.study.data import calibration_subset, quantize_for_engine  # noqa: E402
from logdot.study.mnist import load_split  # noqa: E402
from logdot.synth.network import NetworkSynthJob, run_network  # noqa: E402

#: Targets per family: log networks may use DSPs (and must not), the baseline's multipliers
#: are kept in LUTs (``-nodsp``; ``synth_ice40`` never infers DSPs).
TARGETS = {
    ("log", "ecp5"): ("ecp5", "ecp5-45k", "ecp5-85k"),
    ("linear", "ecp5"): ("ecp5-nodsp", "ecp5-45k-nodsp", "ecp5-85k-nodsp"),
    ("log", "ice40"): ("ice40", "ice40-up5k"),
    ("linear", "ice40"): ("ice40", "ice40-up5k"),
}
VARIANTS = ("log", "linear8", "linear5", "digits")
#: The order of the runs: the issue's key figures (MNIST on ECP5, digits on HX8K) first.
ORDER = (("log", "ecp5"), ("linear8", "ecp5"), ("linear5", "ecp5"), ("digits", "ice40"),
         ("log", "ice40"), ("linear8", "ice40"), ("linear5", "ice40"))  # fmt: skip
COLUMNS = (
    "network", "weights", "activations", "fold", "cycles_per_image", "golden_accuracy",
    "device", "fits", "lut4", "ffs", "bram", "dsps", "fmax_median_mhz", "fmax_min_mhz",
    "fmax_max_mhz", "seeds", "images_per_s", "images_per_s_min", "images_per_s_max", "command",
)  # fmt: skip


def _models(variant, cache):
    """``(float_model, qmodel, data, weights, activations)`` of one variant."""
    if variant == "digits":
        from logdot.study.data import train_digits_cnn

        data = load_split("digits")
        model = train_digits_cnn(0)
    else:
        from logdot.study.mnist import train_mnist_cnn

        data = load_split("mnist")
        model = train_mnist_cnn(0)
    x_tr, y_tr = data[:2]
    xc, _ = calibration_subset(x_tr, y_tr, n=min(1000, len(x_tr)))
    if variant in ("log", "digits"):
        q = quantize_for_engine(model, xc, weight_format="logsqrt2", weight_bits=5, act_bits=4)
        return model, q, data, "logsqrt2 5-bit", "log2 4-bit"
    bits = int(variant.removeprefix("linear"))
    q = quantize_model(
        model,
        weight_format="linear",
        weight_bits=bits,
        act_format="linear",
        act_bits=8,
        act_signed=False,
        calib_data=xc,
    )
    return model, q, data, f"linear {bits}-bit", "linear 8-bit"


def _write(rows, csv_path, md_path):
    with open(csv_path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=COLUMNS)
        w.writeheader()
        w.writerows(rows)
    lines = [
        "# Streaming network accelerator: cost and speed against the multiplier baseline",
        "",
        "Measured by `benchmarks/network_cost.py` (the command of each row is in "
        "network_cost.csv; Yosys / nextpnr from YoWASP; fmax is the median over the nextpnr "
        "seeds, images/s = fmax / cycles_per_image).",
        "",
        "| network | weights | activations | device | fits | LUT4 | FFs | BRAM | DSPs "
        "| fmax MHz median (min-max) | images/s | golden accuracy |",
        "|" + "---|" * 12,
    ]
    for r in rows:
        fm = "-"
        if r["fmax_median_mhz"] not in (None, ""):
            fm = f"{r['fmax_median_mhz']:.1f} ({r['fmax_min_mhz']:.1f}-{r['fmax_max_mhz']:.1f})"
        ips = "-" if r["images_per_s"] in (None, "") else f"{r['images_per_s']:,}"
        lines.append(
            f"| {r['network']} | {r['weights']} | {r['activations']} | {r['device']} "
            f"| {r['fits']} | {r['lut4']:,} | {r['ffs']:,} | {r['bram']} | {r['dsps']} | {fm} "
            f"| {ips} | {r['golden_accuracy']:.3f} |"
        )
    if rows:
        folds = sorted({(r["network"].split()[0], r["fold"], r["cycles_per_image"]) for r in rows})
        lines += ["", "Folding (layer index = lanes x PEs) and cycles per image:", ""]
        lines += [f"- {n}: {fold}, {c} cycles per image" for n, fold, c in folds]
    Path(md_path).write_text("\n".join(lines) + "\n")


def bench_rows(report, name, weights, acts, fold_text, accuracy, command):
    """The CSV rows of one :func:`logdot.synth.network.run_network` report."""
    rows = []
    for r in report["results"]:
        rows.append(
            {
                "network": name,
                "weights": weights,
                "activations": acts,
                "fold": fold_text,
                "cycles_per_image": report["cycles_per_image"],
                "golden_accuracy": round(accuracy, 4),
                "device": r["device"],
                "fits": "yes" if r["fits"] else f"no ({r['reason']})",
                "lut4": r["lut4_equiv"],
                "ffs": r["ffs"],
                "bram": r["bram"],
                "dsps": r["dsps"],
                "fmax_median_mhz": r["fmax_median_mhz"],
                "fmax_min_mhz": r["fmax_min_mhz"],
                "fmax_max_mhz": r["fmax_max_mhz"],
                "seeds": " ".join(map(str, r["seeds"])),
                "images_per_s": r["images_per_s"],
                "images_per_s_min": r["images_per_s_min"],
                "images_per_s_max": r["images_per_s_max"],
                "command": command,
            }
        )
    return rows


def _fold_arg(parser, flag, text, net):
    """``{layer index: (lanes, pes)}`` of a ``--*-fold`` value, parsed as ``logdot compile
    --fold`` parses it (keys are layer names, else indices); ``None`` when not given."""
    if text is None:
        return None
    try:
        return parse_fold(text, net)
    except CliError as err:
        parser.error(str(err).replace("--fold", flag, 1))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", default="1,2,3", help="nextpnr seeds (default 1,2,3)")
    p.add_argument("--only", default=",".join(VARIANTS), help=f"among {', '.join(VARIANTS)}")
    p.add_argument("--out", default=str(ROOT / "results" / "network_cost"), help="file stem")
    p.add_argument("--build", default=str(ROOT / "build" / "network_cost"), help="work folder")
    p.add_argument("--families", default="ecp5,ice40", help="families to run (comma-separated)")
    p.add_argument(
        "--targets", default=None, help="only these targets (comma-separated; default: all)"
    )
    p.add_argument(
        "--mnist-target-cycles",
        type=int,
        default=2500,
        help="cycles per image the MNIST folding aims at (logdot compile --target-cycles; "
        "default 2500: the default 900-cycle folding needs about twice an ECP5-25F)",
    )
    p.add_argument(
        "--digits-target-cycles",
        type=int,
        default=3000,
        help="cycles per image the digits folding aims at (default 3000: small enough "
        "engines for an iCE40 HX8K; the default 100-cycle folding has 2,500 lanes)",
    )
    p.add_argument(
        "--mnist-fold",
        default=None,
        help="explicit MNIST folding, as logdot compile --fold (KEY=LxP,..., KEY a layer "
        "name: e.g. 0=3x8,3=24x4,7=4x1); replaces --mnist-target-cycles",
    )
    p.add_argument(
        "--digits-fold",
        default=None,
        help="explicit digits folding, as --mnist-fold; replaces --digits-target-cycles",
    )
    p.add_argument(
        "--ecp5-nowidelut",
        action="store_true",
        help="synth_ecp5 -nowidelut (no PFU wide-LUT multiplexers: far fewer LUT4s for the "
        "log lanes' small functions)",
    )
    p.add_argument("--jobs", type=int, default=1, help="nextpnr seeds run at a time")
    p.add_argument(
        "--pnr-cache",
        default=None,
        help="folder of finished nextpnr runs, keyed on netlist, arguments and nextpnr version "
        "(default: BUILD/pnr_cache): a stopped run resumes without repeating its finished seeds",
    )
    p.add_argument("--no-pnr-cache", action="store_true", help="place and route every seed again")
    args = p.parse_args(argv)
    seeds = tuple(int(s) for s in args.seeds.split(","))
    variants = [v.strip() for v in args.only.split(",") if v.strip()]
    for v in variants:
        if v not in VARIANTS:
            p.error(f"--only: {v!r} is not among {', '.join(VARIANTS)}")
    command = "nice -n 10 .venv/bin/python benchmarks/network_cost.py" + (
        f" {' '.join(argv)}" if argv else ""
    )
    torch.set_num_threads(1)
    build = Path(args.build)
    build.mkdir(parents=True, exist_ok=True)
    csv_path, md_path = Path(args.out + ".csv"), Path(args.out + ".md")
    csv_path.parent.mkdir(parents=True, exist_ok=True)
    families = [f.strip() for f in args.families.split(",") if f.strip()]
    rows, prepared = [], {}
    mnist_fold = None
    for variant in variants:
        model, q, (x_tr, _, x_te, y_te), weights, acts = _models(variant, build)
        net = export_network(q, tuple(x_tr.shape[1:]), build / f"{variant}.net.pt")
        acc = accuracies(model, q, net, x_te, y_te)
        if variant == "digits":
            fold = resolve_fold(net, _fold_arg(p, "--digits-fold", args.digits_fold, net),
                                args.digits_target_cycles)  # fmt: skip
        else:
            # The same folding for the three MNIST networks: the log network's (explicit or
            # automatic) one.
            mnist_fold = mnist_fold or resolve_fold(
                net, _fold_arg(p, "--mnist-fold", args.mnist_fold, net), args.mnist_target_cycles
            )
            fold = resolve_fold(net, mnist_fold)
        print(
            f"[bench] {variant}: golden accuracy {acc['golden']:.4f} (float {acc['float']:.4f}, "
            f"fake-quant {acc['fake_quant']:.4f}) on {len(y_te)} test images; fold {fold}",
            flush=True,
        )
        prepared[variant] = (net, fold, acc, weights, acts)
    for variant, family in ORDER:
        if variant not in prepared or family not in families:
            continue
        t0 = time.monotonic()
        net, fold, acc, weights, acts = prepared[variant]
        kind = "linear" if variant.startswith("linear") else "log"
        targets = TARGETS[(kind, family)]
        if variant == "digits":
            targets = ("ice40",)
        if args.targets:
            targets = tuple(t for t in targets if t in args.targets.split(","))
        if not targets:
            continue
        job = NetworkSynthJob(
            net=net,
            fold=fold,
            out_dir=build / f"synth_{variant}_{family}",
            targets=targets,
            seeds=seeds,
            name=f"{'digits' if variant == 'digits' else 'mnist'}_{variant}",
            force=True,
            jobs=args.jobs,
            widelut=not args.ecp5_nowidelut,
            pnr_cache=None if args.no_pnr_cache else Path(args.pnr_cache or build / "pnr_cache"),
        )
        report = run_network(job)
        name = "digits CNN" if variant == "digits" else f"MNIST CNN ({variant})"
        fold_text = ", ".join(f"{i}={a}x{b}" for i, (a, b) in sorted(fold.items()))
        new = bench_rows(report, name, weights, acts, fold_text, acc["golden"], command)
        (build / f"rows_{variant}_{family}.json").write_text(json.dumps(new) + "\n")
        rows = []
        for v, f in ORDER:  # every run's rows, also other processes' (in the table's order)
            part = build / f"rows_{v}_{f}.json"
            if part.exists():
                rows += json.loads(part.read_text())
        _write(rows, csv_path, md_path)
        print(f"[bench] {variant} {family}: done in {time.monotonic() - t0:.0f} s", flush=True)
    print(md_path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
