"""Study 2's cost points: every hardware format's network accelerator, synthesized, as jobs.

A cost point compiles the streaming network accelerator of one quantized model
(:func:`logdot.golden.network_torch.export_network` of the PTQ "both" model of float seed
:data:`COST_SEED`, the same model as that seed's accuracy point) with a fixed folding
and runs it through ``logdot synth --network``'s flow
(:func:`logdot.synth.network.run_network`: Yosys inside the register shell, nextpnr with
:data:`COST_SEEDS`, fmax the median over the seeds, images/s = fmax / cycles per image).
Each point is a :class:`logdot.study.jobs.Job` in the same store machinery as the accuracy
points (content-hashed, resumable, local or Dask workers); its result holds the counts of
the synthesis report (LUT4, FFs, block RAM, DSPs), the per-seed fmax and images/s.

The folding (:data:`COST_FOLD`) is fixed and documented: **one lane x one PE for every
engine layer**, for both networks. For MNIST that is the folding of ``logdot board --board
ulx3s-25f`` (the smallest one, which keeps up with the UART: 225,792 cycles per image) and
fits an ECP5-25F at about 6,200 LUT4; for the digits CNN it is the smallest accelerator, for
the iCE40 HX8K. Targets (:data:`COST_TARGETS`): the ECP5-25F for both networks, and the
iCE40 HX8K for the digits CNN (measured: even at 1 x 1 it needs 11,945 logic cells of the
HX8K's 7,680, most of them flip-flops, so it is reported as not fitting). Log formats are
synthesized with DSPs allowed (they must use none); the linear formats (the multiplier layer
engine) twice on ECP5: multipliers in LUTs (``ecp5-nodsp``) and with DSP blocks (``ecp5``).
iCE40 HX8K has no DSP blocks.

Only points whose model the streaming accelerator implements get a cost point: both operands
quantized, base-2 log or linear activations (``logsqrt2`` activations and log-domain
accumulation have no network accelerator), and weight formats the export accepts.
"""

from __future__ import annotations

from pathlib import Path

from .jobs import Job

__all__ = [
    "BITS_ORDER",
    "COST_COLUMNS",
    "COST_FOLD",
    "COST_SEED",
    "COST_SEEDS",
    "COST_TARGETS",
    "COST_VERSION",
    "cost_plan",
    "cost_point",
    "cost_rows",
]

#: Version of :func:`cost_point`'s recipe (part of every cost job's key).
COST_VERSION = 1
#: The float seed whose PTQ model every cost point synthesizes.
COST_SEED = 0
#: nextpnr placer seeds of every cost point (fmax: their median).
COST_SEEDS = (1, 2, 3)
#: Lanes x PEs of every engine layer.
COST_FOLD = (1, 1)
#: Synthesis targets per dataset and kind of weights (``logdot.synth.targets`` names).
COST_TARGETS = {
    ("mnist", "log"): ("ecp5",),
    ("mnist", "linear"): ("ecp5-nodsp", "ecp5"),
    ("digits", "log"): ("ecp5", "ice40"),
    ("digits", "linear"): ("ecp5-nodsp", "ecp5", "ice40"),
}
#: The formats of cost points, in plan order at each bit width (the log formats first).
_ORDER = ("log2", "twoterm", "linear")
#: The order of the bit widths in the plan (the usual 4 bits first).
BITS_ORDER = (4, 5, 6, 8, 3)
#: Formats with a network accelerator when both operands are quantized.
HARDWARE_FORMATS = ("linear", "log2")

_MODULE = __name__


def _out_dir(dataset, format, bits, target):
    return Path("build") / "study2" / "cost" / f"{dataset}_{format}{bits}_{target}"


def cost_point(dataset, seed, recipe, format, bits, rule, fold, target, seeds):
    """Synthesize the accelerator of the PTQ "both" model; the report's counts.

    Returns a dict with ``fits``, ``reason``, ``lut4`` (LUT4-equivalents: ECP5 counts two
    per carry cell), ``luts``, ``carry``, ``ffs``, ``bram``, ``lutram``, ``dsps``,
    ``cycles_per_image``, ``fmax_mhz`` (per seed), ``fmax_median_mhz``, ``images_per_s``
    and the tool versions; only ``fits`` (false) and ``reason`` when the model has no
    accelerator (:func:`~logdot.golden.network_torch.export_network` refuses it).
    """
    from logdot.golden.network_torch import export_network
    from logdot.golden.nn import quantize_model
    from logdot.synth.network import NetworkSynthJob, run_network

    from .pareto import _data, _float_model
    from .sweep import quant_kwargs

    _, _, x_te, _, x_cal = _data(dataset)
    model = _float_model(dataset, seed, recipe)
    q = quantize_model(model, calib_data=x_cal, **quant_kwargs("both", format, bits, rule))
    try:
        net = export_network(q, tuple(x_te.shape[1:]))
    except ValueError as exc:  # e.g. 6-bit log codes need accumulators beyond 64 bits
        return {"fits": False, "reason": f"no accelerator: {exc}"}
    folding = {i: tuple(fold) for i, layer in enumerate(net.layers) if layer.is_engine}
    job = NetworkSynthJob(
        net,
        folding,
        out_dir=_out_dir(dataset, format, bits, target),
        targets=(target,),
        seeds=tuple(seeds),
        name=f"study_{dataset}_{format}{bits}",
        force=True,
    )
    with open(Path(job.out_dir).parent / f"{job.out_dir.name}.log", "w") as log:
        report = run_network(job, progress=lambda line: print(line, file=log, flush=True), out=log)
    (row,) = report["results"]
    keys = ("fits", "reason", "luts", "carry", "ffs", "bram", "lutram", "dsps", "mul_cells")
    out = {k: row[k] for k in keys}
    out.update(
        lut4=row["lut4_equiv"],
        cycles_per_image=report["cycles_per_image"],
        fmax_mhz=row["fmax_mhz"],
        fmax_median_mhz=row["fmax_median_mhz"],
        images_per_s=row["images_per_s"],
        tools=report["tools"],
    )
    return out


def cost_plan(cfg):
    """The cost jobs of an accuracy :class:`~logdot.study.pareto.SweepConfig`: one per
    dataset, hardware format, bit width and target. Ordered so that a partial run is
    already useful: MNIST first (the issue's key figure), ECP5 before iCE40, the bit widths
    in the order :data:`BITS_ORDER`, and at each width every format side by side."""
    from .pareto import _golden_param, _recipe

    jobs = []
    for ds in sorted(cfg.datasets, key=lambda d: d != "mnist"):
        recipe = _recipe(ds, cfg.recipe_epochs)
        fmts = [f for f in _ORDER if f in cfg.formats]
        fmts = [f for f in fmts if f in HARDWARE_FORMATS or _golden_param(f).get("golden")]
        widths = sorted({b for f in fmts for b in cfg.formats[f]}, key=_bits_rank)
        for family in ("ecp5", "ice40"):
            for bits in widths:
                for fmt in fmts:
                    if bits not in cfg.formats[fmt]:
                        continue
                    kind = "log" if fmt == "log2" else "linear"
                    for target in COST_TARGETS[(ds, kind)]:
                        if not target.startswith(family):
                            continue
                        p = {"dataset": ds, "seed": COST_SEED, "recipe": recipe, "format": fmt}
                        p.update(bits=bits, rule=cfg.rule, fold=list(COST_FOLD), target=target)
                        p["seeds"] = list(COST_SEEDS)
                        jobs.append(Job(f"{_MODULE}:cost_point", p, COST_VERSION))
    return jobs


def _bits_rank(bits):
    return (BITS_ORDER.index(bits) if bits in BITS_ORDER else len(BITS_ORDER), bits)


#: Columns of ``cost.csv``: one row per finished cost point, in plan order.
COST_COLUMNS = (
    "dataset",
    "format",
    "bits",
    "target",
    "fold",
    "fits",
    "reason",
    "lut4",
    "ffs",
    "bram",
    "dsps",
    "cycles_per_image",
    "fmax_mhz",
    "fmax_median_mhz",
    "images_per_s",
    "key",
)


def _blank(value):
    return "" if value is None else value


def cost_rows(jobs, store):
    """One dict per finished job of ``jobs`` (:data:`COST_COLUMNS`), in plan order, and the
    number of jobs not finished yet."""
    rows, missing = [], 0
    for job in jobs:
        if job not in store:
            missing += 1
            continue
        p, r = job.params, store.result(job)
        rows.append(
            {
                "dataset": p["dataset"],
                "format": p["format"],
                "bits": p["bits"],
                "target": p["target"],
                "fold": "x".join(map(str, p["fold"])),
                "fits": r["fits"],
                "reason": _blank(r.get("reason")),
                **{k: _blank(r.get(k)) for k in ("lut4", "ffs", "bram", "dsps")},
                "cycles_per_image": _blank(r.get("cycles_per_image")),
                "fmax_mhz": " ".join(f"{f:.2f}" for f in r.get("fmax_mhz", [])),
                "fmax_median_mhz": _blank(r.get("fmax_median_mhz")),
                "images_per_s": _blank(r.get("images_per_s")),
                "key": job.key,
            }
        )
    return rows, missing
