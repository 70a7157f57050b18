"""A LUT cost model of the streaming network accelerator, calibrated against Yosys, and the
folding it picks for a LUT budget (``logdot compile --lut-budget N``).

Model (per device family, LUT4s as Yosys maps them: iCE40 ``SB_LUT4``, ECP5 ``LUT4`` plus two
per ``CCU2C`` carry cell)::

    engine layer    P * N * (lane[kind] + lane_bit[kind] * lane_bits)
                    + P * N * (mem_lane[kind] + mem_lane_bit[kind] * lane_bits)
                                        (only with a weight memory, depth > 1)
                    + P * (pe + pe_bit * (acc_bits + z_bits + out_bits)) + engine
    other stage     stage + stage_bit[stage kind] * data_bits

``N`` lanes, ``P`` PEs; ``kind`` is ``"log"`` (``lane_bits`` = the term widths of every
parity: the shifter and the adder-tree share of a lane) or ``"linear"`` (the multiplier
baseline: ``lane_bits = act_bits * weight_bits``, the multiplier array). ``data_bits`` of a
stage is the width it moves or compares (a window unit's ``lanes * bits``, a pool's or a
FIFO's pixel, a gearbox's output pixel, the output word). Weights, biases, line buffers and
deep FIFOs sit in memories (block RAM or LUT RAM as Yosys chooses); their LUTs are part of
the stage constants.

The coefficients come from :data:`CALIBRATION_FILE` (``logdot/cost_calibration.json``,
schema ``logdot.cost_calibration/1``), written by ``benchmarks/calibrate_cost.py`` from Yosys
runs on small networks, each stage kept as its own hierarchy level so every stage is one
data point; the file also holds the measured points and the model's error on them.

:func:`budget_fold` searches the foldings for the fewest cycles per image whose predicted
total fits the budget: for each candidate cycle target (the cycles per image
:func:`~logdot.generators.network.auto_fold` foldings reach), the smallest engines that meet
it (:func:`~logdot.generators.network.resolve_fold`), keeping the fastest one that fits.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

from logdot.golden.formats import check_int, signed_width

__all__ = [
    "CALIBRATION_FILE",
    "COST_SCHEMA",
    "FAMILIES",
    "budget_fold",
    "calibration",
    "engine_features",
    "predict_network",
    "stage_features",
]

COST_SCHEMA = "logdot.cost_calibration/1"
#: The calibration table (committed; regenerate with ``benchmarks/calibrate_cost.py``).
CALIBRATION_FILE = Path(__file__).resolve().parent.parent / "cost_calibration.json"
FAMILIES = ("ecp5", "ice40")
#: Stage kinds of :func:`logdot.hdl.network.network_plan` besides the engines.
STAGE_KINDS = ("window", "pool", "feeder", "gearbox", "fifo", "output")


@functools.cache
def _load(path):
    d = json.loads(Path(path).read_text())
    if d.get("schema") != COST_SCHEMA:
        raise ValueError(f"{path}: not a logdot cost calibration ({COST_SCHEMA!r} expected)")
    return d


def calibration(path=None):
    """The calibration table (a dict; :data:`CALIBRATION_FILE` unless ``path``)."""
    return _load(str(path or CALIBRATION_FILE))


def engine_features(ml):
    """``{name: value}`` multiplying each engine coefficient for the mapped layer ``ml``."""
    cfg = ml.config
    eng = cfg.engine
    n, p = eng.lanes, cfg.pes
    if eng.act_is_log or type(eng).__name__ != "LinearConfig":
        kind = "log"
        parities = (None,) if eng.weight_base == 2 else (0, 1)
        lane_bits = sum(signed_width(*eng.term_range(q)) for q in parities)
    else:
        kind = "linear"
        lane_bits = eng.act_bits * eng.weight_bits
    feats = {
        f"lane_{kind}": p * n,
        f"lane_bit_{kind}": p * n * lane_bits,
        "pe": p,
        "pe_bit": p * (eng.acc_bits + cfg.z_bits + cfg.requant.out_bits),
        "engine": 1,
    }
    if cfg.depth > 1:
        # Run-time weights from a memory (a constant word when depth is 1, which Yosys
        # folds into the lanes): the lanes cannot be simplified, and the read logic.
        feats[f"mem_lane_{kind}"] = p * n
        feats[f"mem_lane_bit_{kind}"] = p * n * lane_bits
    return feats


def stage_features(stage):
    """``{name: value}`` of a non-engine :class:`~logdot.hdl.network.Stage`."""
    p = stage.params
    k = stage.kind
    if k == "window":
        bits = p["lanes"] * p["bits"]
    elif k == "pool":
        bits = p["channels"] * p["bits"]
    elif k == "feeder":
        bits = p["lanes"] * p["bits"]
    elif k == "gearbox":
        bits = p["channels"] * p["bits"]
    elif k == "fifo":
        bits = p["bits"]
    elif k == "output":
        bits = p["width"]
    else:
        raise ValueError(f"no cost features for a {k!r} stage")
    return {"stage": 1, f"stage_bit_{k}": bits}


def _dot(coef, feats):
    return sum(coef.get(name, 0.0) * v for name, v in feats.items())


def predict_network(net, fold=None, *, family="ecp5", path=None):
    """Predicted LUT4s of the network top of ``net`` folded ``fold`` on ``family``.

    Returns
    -------
    dict
        ``family``, ``predicted_lut4`` (the total, rounded), ``stages`` (per stage: kind,
        layer, predicted LUT4s), ``model`` (the calibration's description and its stated
        tolerance).
    """
    from logdot.hdl.network import network_plan

    if family not in FAMILIES:
        raise ValueError(f"family must be one of {', '.join(FAMILIES)}, not {family!r}")
    cal = calibration(path)
    if family not in cal["families"]:
        raise ValueError(
            f"the cost calibration has no {family} table; run benchmarks/calibrate_cost.py"
        )
    coef = cal["families"][family]["coefficients"]
    stages, mapped = network_plan(net, fold)
    rows, total = [], 0.0
    for st in stages:
        feats = engine_features(mapped[st.layer]) if st.kind == "engine" else stage_features(st)
        luts = max(0.0, _dot(coef, feats))
        total += luts
        rows.append({"kind": st.kind, "layer": st.layer, "predicted_lut4": round(luts)})
    return {
        "family": family,
        "predicted_lut4": round(total),
        "stages": rows,
        "model": cal["model"],
        "tolerance": cal["tolerance"],
    }


def _cycles(net, fold):
    from logdot.hdl.network import network_plan

    stages, _ = network_plan(net, fold)
    return max(s.cycles_per_image for s in stages)


def _candidate_targets(net):
    """Every cycles-per-image value a folding of one engine layer can give (at least the
    network's unavoidable bound), ascending."""
    from logdot.generators.network import _lower_bound, _stage_cycles, fold_options

    lower = _lower_bound(net)
    targets = {lower}
    for i, layer in enumerate(net.layers):
        if layer.is_engine:
            lanes_opts, pes_opts = fold_options(net, i)
            for lanes in lanes_opts:
                for pes in pes_opts:
                    targets.add(max(lower, _stage_cycles(layer, lanes, pes)))
    return sorted(targets)


def budget_fold(net, budget, *, fold=None, family="ecp5", path=None):
    """The fastest folding whose predicted LUT4s are at most ``budget``.

    The candidates are :func:`~logdot.generators.network.resolve_fold` foldings (the
    smallest engines for a cycles-per-image target) for every target a layer's folding can
    give; a binary search finds the smallest target whose folding is predicted within the
    budget (smaller targets need larger engines).

    Parameters
    ----------
    net : logdot.golden.network.Network
    budget : int
        LUT4s of ``family`` (:func:`predict_network`).
    fold : dict or None
        Explicit ``(lanes, pes)`` of some layers (kept); the others are chosen.
    family : {"ecp5", "ice40"}

    Returns
    -------
    dict
        ``{layer index: (lanes, pes)}`` of every engine layer.

    Raises
    ------
    ValueError
        When even the smallest folding is predicted above ``budget`` (the message gives
        its prediction).
    """
    from logdot.generators.network import resolve_fold

    check_int(budget, "budget", 1)
    targets = _candidate_targets(net)

    def luts(target):
        full = resolve_fold(net, fold, target)
        return full, predict_network(net, full, family=family, path=path)["predicted_lut4"]

    smallest, small_luts = luts(targets[-1])
    if small_luts > budget:
        raise ValueError(
            f"even the smallest folding ({_fold_text(smallest)}) is predicted at {small_luts} "
            f"{family} LUT4s, above the budget of {budget}"
        )
    lo, hi = 0, len(targets) - 1  # targets[hi] fits
    best = smallest
    while lo < hi:
        mid = (lo + hi) // 2
        full, n = luts(targets[mid])
        if n <= budget:
            hi, best = mid, full
        else:
            lo = mid + 1
    return best


def _fold_text(fold):
    return ", ".join(f"{i}={a}x{b}" for i, (a, b) in sorted(fold.items()))
