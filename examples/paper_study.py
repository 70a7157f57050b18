"""Reproduce the paper's study (Miyashita, Lee, Murmann 2016) with logdot's own quantizers.

Trains the small digits CNN of :mod:`logdot.study.data` in float (5 seeds), then measures test
accuracy with weights and/or activations quantized to linear (fixed point), log base 2 and
log base sqrt(2) codes of 3..8 bits:

* Table 1, post-training quantization (PTQ): scope activations / weights / both, bits
  3, 4, 5, 6, 8, mean and spread over the 5 float models; per-layer scales chosen by the
  ``calibrated`` rule (minimum squared error on training data), repeated with the ``max``
  rule; plus rows with the paper's log-domain accumulation (:mod:`logdot.golden.logacc`).
* Table 2, quantization-aware training (QAT) from scratch at 3, 4 and 5 bits, weights and
  activations both quantized: log vs linear (the paper's 5-bit claim).
* Figures: accuracy vs bits per format, and a histogram of one layer's weights and input
  activations with the log and linear levels drawn over them.

Everything is written under ``--out`` (default ``results/``): ``ptq.csv``, ``ptq_max.csv``,
``ptq_runs.csv``, ``logacc.csv``, ``qat.csv``, ``qat_runs.csv``, ``tables.md``,
``summary.json``, ``accuracy_vs_bits.png``, ``histograms.png``. The files are written to a
temporary directory first and moved into place only when all of them are complete.

Usage::

    python examples/paper_study.py              # the full study (make study)
    python examples/paper_study.py --quick      # 1 seed, 2 QAT epochs: a smoke test
    python examples/paper_study.py --out DIR

Runs on one CPU thread (reproducible to the bit; the other core stays free).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import multiprocessing
import os
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from logdot.golden import logacc
from logdot.golden.nn import calibrate, quantize_model
from logdot.golden.quant import (
    fsr_calibrate,
    linear_exp_calibrate,
    log_dequant,
)
from logdot.study.data import (
    SPLIT_SEED,
    TrainConfig,
    calibration_subset,
    evaluate,
    init_digits_cnn,
    load_digits_split,
    train,
    train_digits_cnn,
)

SCOPES = ("activations", "weights", "both")
FORMATS = ("float", "linear", "log2", "logsqrt2")
QUANT_FORMATS = FORMATS[1:]
PTQ_BITS = (3, 4, 5, 6, 8)
QAT_BITS = (3, 4, 5)
RULES = ("calibrated", "max")
#: Log-domain accumulation rows: formats and the accumulator's fraction bits.
LOGACC_FORMATS = ("log2", "logsqrt2")
LOGACC_FRAC_BITS = logacc.DEFAULT_FRAC_BITS
#: Extra fraction-bit widths tried for log2 (an ablation of the accumulator's precision).
LOGACC_FRAC_SWEEP = (0, 2, 4)
CALIB_IMAGES = 256
HIST_LAYER = "conv2"
HIST_BITS = 4

PTQ_COLUMNS = ("scope", "format", "bits", "accuracy_mean", "accuracy_std")
QAT_COLUMNS = ("format", "bits", "accuracy")


@dataclass(frozen=True)
class StudyConfig:
    """What one run of the study measures (the full study or the quick smoke test)."""

    seeds: tuple = (0, 1, 2, 3, 4)
    qat_seeds: tuple = (0, 1, 2)
    qat_epochs: int = TrainConfig().epochs
    logacc_frac_sweep: tuple = LOGACC_FRAC_SWEEP


FULL = StudyConfig()
QUICK = StudyConfig(seeds=(0,), qat_seeds=(0,), qat_epochs=2, logacc_frac_sweep=())


# -- measurements ---------------------------------------------------------------------------
#
# The work is split into independent tasks (one float training run, one PTQ scope of one
# model, one QAT run, ...) that a pool of single-threaded worker processes executes; each
# task is deterministic on its own, so the results do not depend on --jobs or on the order
# in which tasks finish.

_DATA = None


def study_data():
    """The split and the calibration subset (loaded once per process)."""
    global _DATA
    if _DATA is None:
        x_tr, y_tr, x_te, y_te = load_digits_split()
        x_cal, _ = calibration_subset(x_tr, y_tr, CALIB_IMAGES)
        _DATA = dict(x_tr=x_tr, y_tr=y_tr, x_te=x_te, y_te=y_te, x_cal=x_cal)
    return _DATA


def quant_kwargs(scope, fmt, bits, rule):
    """Arguments of :func:`logdot.golden.nn.quantize_model` for one cell of Table 1."""
    kw = {"weight_rule": rule, "act_rule": rule}
    if scope in ("activations", "both"):
        kw.update(act_format=fmt, act_bits=bits)
    if scope in ("weights", "both"):
        kw.update(weight_format=fmt, weight_bits=bits)
    return kw


def task_train(seed):
    """Train (or load from the cache) the float model of ``seed``; its test accuracy."""
    d = study_data()
    model = train_digits_cnn(seed)
    return [dict(seed=seed, accuracy=evaluate(model, d["x_te"], d["y_te"]))]


def task_ptq(seed, rule, scope):
    """PTQ accuracy of every format and bit width for one model, rule and scope."""
    d = study_data()
    model = train_digits_cnn(seed)
    acc_float = evaluate(model, d["x_te"], d["y_te"])
    rows = []
    for bits in PTQ_BITS:
        rows.append(
            dict(rule=rule, scope=scope, format="float", bits=bits, seed=seed, accuracy=acc_float)
        )
        for fmt in QUANT_FORMATS:
            q = quantize_model(model, calib_data=d["x_cal"], **quant_kwargs(scope, fmt, bits, rule))
            rows.append(
                dict(
                    rule=rule,
                    scope=scope,
                    format=fmt,
                    bits=bits,
                    seed=seed,
                    accuracy=evaluate(q, d["x_te"], d["y_te"]),
                )
            )
    return rows


def task_logacc(seed, fmt, frac_bits):
    """Accuracy with both operands log-coded and the sum accumulated in the log domain."""
    d = study_data()
    model = train_digits_cnn(seed)
    rows = []
    for bits in PTQ_BITS:
        q = quantize_model(
            model,
            calib_data=d["x_cal"],
            accumulation="log",
            frac_bits=frac_bits,
            **quant_kwargs("both", fmt, bits, "calibrated"),
        )
        acc = evaluate(q, d["x_te"], d["y_te"])
        rows.append(dict(format=fmt, frac_bits=frac_bits, bits=bits, seed=seed, accuracy=acc))
    return rows


def task_qat(seed, fmt, bits, epochs):
    """Train from scratch with fake-quantized weights and activations (STE)."""
    d = study_data()
    x_cal = d["x_cal"]

    def rescale(model, epoch):
        # Scales are re-chosen from training data before every epoch and frozen within it.
        calibrate(model, x_cal, freeze=True)

    model = quantize_model(
        init_digits_cnn(seed), inplace=True, **quant_kwargs("both", fmt, bits, "calibrated")
    )
    train(
        model,
        d["x_tr"],
        d["y_tr"],
        seed=seed,
        config=TrainConfig(epochs=epochs),
        before_epoch=rescale,
    )
    calibrate(model, x_cal)  # the final scales, chosen as for PTQ
    return [dict(format=fmt, bits=bits, seed=seed, accuracy=evaluate(model, d["x_te"], d["y_te"]))]


_TASKS = {"train": task_train, "ptq": task_ptq, "logacc": task_logacc, "qat": task_qat}


def run_task(task):
    """Execute one ``(kind, *args)`` task (in a worker process)."""
    torch.set_num_threads(1)
    return _TASKS[task[0]](*task[1:])


def run_tasks(tasks, pool, desc, bar_kw):
    """Run ``tasks`` (in ``pool`` if given) with a progress bar; all rows, in task order."""
    results = [None] * len(tasks)
    with tqdm(total=len(tasks), desc=desc, unit="task", **bar_kw) as bar:
        if pool is None:
            for i, t in enumerate(tasks):
                results[i] = run_task(t)
                bar.update()
        else:
            futures = {pool.submit(run_task, t): i for i, t in enumerate(tasks)}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                bar.update()
    return [row for rows in results for row in rows]


def logacc_cells(cfg):
    """``(format, frac_bits)`` of every log-domain accumulation row."""
    cells = [(fmt, LOGACC_FRAC_BITS) for fmt in LOGACC_FORMATS]
    return cells + [("log2", f) for f in cfg.logacc_frac_sweep]


# -- aggregation ----------------------------------------------------------------------------


def mean_std(values):
    """Mean and sample standard deviation (0 for a single value)."""
    values = list(values)
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def aggregate(rows, keys):
    """Group ``rows`` by ``keys``: ``{key tuple: (mean, std, n)}`` in first-seen order."""
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in keys), []).append(r["accuracy"])
    return {k: (*mean_std(v), len(v)) for k, v in groups.items()}


def ptq_table(rows, rule):
    """Rows of ``ptq.csv`` for one scale rule."""
    agg = aggregate([r for r in rows if r["rule"] == rule], ("scope", "format", "bits"))
    out = []
    for scope in SCOPES:
        for fmt in FORMATS:
            for bits in PTQ_BITS:
                m, s, _ = agg[(scope, fmt, bits)]
                out.append(
                    dict(scope=scope, format=fmt, bits=bits, accuracy_mean=m, accuracy_std=s)
                )
    return out


# -- figures --------------------------------------------------------------------------------


def _pct(x):
    return 100.0 * x


_STYLE = {
    "float": dict(color="black", ls="--"),
    "linear": dict(color="tab:blue", marker="o"),
    "log2": dict(color="tab:red", marker="s"),
    "logsqrt2": dict(color="tab:green", marker="^"),
}


def _errorbars(ax, bits, means, stds, fmt, label=None):
    ax.errorbar(
        bits,
        [_pct(m) for m in means],
        yerr=[_pct(v) for v in stds],
        capsize=3,
        label=label or fmt,
        **_STYLE[fmt],
    )


def _finish(ax, title, bits, lo):
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("bits (sign included)")
    ax.set_xticks(bits)
    ax.set_ylim(max(0.0, min(lo, 90.0) - 3.0), 100.5)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")


def plot_accuracy(path, ptq_by_rule, logacc_agg, qat_agg, float_ms, cfg):
    """Accuracy vs bits. Top row: PTQ with the calibrated rule (one panel per scope, with the
    log-domain accumulation rows) and QAT. Bottom row: PTQ with the max rule, and the
    log-domain accumulator's fraction bits."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(18, 8.4))
    bits = list(PTQ_BITS)
    n, nq = len(cfg.seeds), len(cfg.qat_seeds)
    fl = float_ms[0]
    for row, rule in enumerate(RULES):
        ptq = ptq_by_rule[rule]
        lo = _pct(min(r["accuracy_mean"] for r in ptq))
        if row == 0:
            shown = [v[0] for (_, f, _), v in logacc_agg.items() if f == LOGACC_FRAC_BITS]
            lo = min([lo] + [_pct(v) for v in shown] + [_pct(v[0]) for v in qat_agg.values()])
            lo_top = lo
        for ax, scope in zip(axes[row, :3], SCOPES, strict=True):
            for fmt in QUANT_FORMATS:
                cells = [r for r in ptq if r["scope"] == scope and r["format"] == fmt]
                _errorbars(
                    ax,
                    bits,
                    [r["accuracy_mean"] for r in cells],
                    [r["accuracy_std"] for r in cells],
                    fmt,
                )
            if scope == "both" and row == 0:
                for fmt in LOGACC_FORMATS:
                    m = [_pct(logacc_agg[(fmt, LOGACC_FRAC_BITS, b)][0]) for b in bits]
                    ax.plot(
                        bits,
                        m,
                        ls=":",
                        marker="x",
                        color=_STYLE[fmt]["color"],
                        label=f"{fmt}, log-domain acc. (F={LOGACC_FRAC_BITS})",
                    )
            ax.axhline(_pct(fl), **_STYLE["float"], label="float")
            _finish(ax, f"PTQ, {scope} quantized, {rule} scales ({n} seeds)", bits, lo)
        axes[row, 0].set_ylabel("test accuracy (%)")
    # QAT.
    ax = axes[0, 3]
    qbits = list(QAT_BITS)
    for fmt in QUANT_FORMATS:
        _errorbars(
            ax,
            qbits,
            [qat_agg[(fmt, b)][0] for b in qbits],
            [qat_agg[(fmt, b)][1] for b in qbits],
            fmt,
        )
    ax.axhline(_pct(fl), **_STYLE["float"], label="float")
    _finish(ax, f"QAT from scratch, both quantized ({nq} seeds)", qbits, lo_top)
    # Fraction bits of the log-domain accumulator.
    ax = axes[1, 3]
    fracs = sorted({*cfg.logacc_frac_sweep, LOGACC_FRAC_BITS})
    if len(fracs) > 1:
        exact = {
            r["bits"]: r["accuracy_mean"]
            for r in ptq_by_rule["calibrated"]
            if r["scope"] == "both" and r["format"] == "log2"
        }
        ax.plot(
            bits,
            [_pct(exact[b]) for b in bits],
            color="tab:red",
            marker="s",
            label="log2, exact sum",
        )
        for i, f in enumerate(reversed(fracs)):
            ax.plot(
                bits,
                [_pct(logacc_agg[("log2", f, b)][0]) for b in bits],
                ls=":",
                marker="x",
                color=plt.cm.Reds(0.9 - 0.18 * i),
                label=f"log2, F={f}",
            )
        ax.axhline(_pct(fl), **_STYLE["float"], label="float")
        lo_f = min(_pct(logacc_agg[("log2", f, b)][0]) for f in fracs for b in bits)
        _finish(ax, "PTQ both, log-domain accumulation: fraction bits F", bits, lo_f)
    else:
        ax.set_axis_off()
    fig.suptitle("Digits CNN: test accuracy vs bits (mean, error bars = sample std over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def layer_tensors(model, x_cal, layer):
    """``(weights, input activations)`` of ``layer`` of the float model, on training data."""
    captured = {}
    mod = getattr(model, layer)
    handle = mod.register_forward_pre_hook(lambda m, args: captured.update(x=args[0].detach()))
    with torch.no_grad():
        model(x_cal)
    handle.remove()
    return mod.weight.detach().flatten(), captured["x"].flatten()


def quant_levels(x, fmt, bits, signed):
    """The representable non-negative values of a calibrated format for tensor ``x``."""
    if fmt == "linear":
        e = linear_exp_calibrate(x, bits, signed=signed)
        top = (1 << (bits - 1)) - 1 if signed else (1 << bits) - 1
        return [q * 2.0**e for q in range(top + 1)], f"exp={e}"
    base = 2 if fmt == "log2" else "sqrt2"
    f = fsr_calibrate(x, bits, base=base, signed=signed)
    cb = bits - 1 if signed else bits
    codes = torch.arange(1 << cb)
    return log_dequant(codes, bits, f, base=base, signed=signed).tolist(), f"FSR={f}"


def plot_histograms(path, model, x_cal):
    """Weights and input activations of one layer, with log2 and linear levels overlaid."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    w, a = layer_tensors(model, x_cal, HIST_LAYER)
    fig, axes = plt.subplots(2, 2, figsize=(13, 7.5))
    for row, (name, x, signed) in enumerate(
        (("weights", w, True), ("input activations (after ReLU)", a, False))
    ):
        nz = x[x != 0].double()
        zero_frac = 1.0 - nz.numel() / x.numel()
        lin, lin_lbl = quant_levels(x, "linear", HIST_BITS, signed)
        lg, lg_lbl = quant_levels(x, "log2", HIST_BITS, signed)
        lin_all = sorted({v for q in lin for v in ((q, -q) if signed else (q,))})
        lg_all = sorted({v for q in lg for v in ((q, -q) if signed else (q,))})
        # Left: value axis.
        ax = axes[row, 0]
        ax.hist(nz.numpy(), bins=120, color="0.6")
        for v in lin_all:
            ax.axvline(v, color="tab:blue", lw=0.8, alpha=0.8)
        for v in lg_all:
            ax.axvline(v, color="tab:red", lw=0.8, ls="--", alpha=0.8)
        ax.set_title(f"{HIST_LAYER} {name}: values (non-zero; {100 * zero_frac:.0f}% are 0)")
        ax.set_xlabel("value")
        ax.set_ylabel("count")
        # Right: log2 |x| axis, where log levels are evenly spaced. Magnitudes far below the
        # smallest log level (e.g. weights that weight decay drove to ~1e-36) are not shown.
        ax = axes[row, 1]
        lg_pos = [v for v in lg_all if v > 0]
        floor = math.log2(min(lg_pos)) - 3
        logs = torch.log2(nz.abs())
        hidden = float((logs < floor).double().mean())
        ax.hist(logs[logs >= floor].numpy(), bins=120, color="0.6")
        for v in lin_all:
            if v > 0:
                ax.axvline(math.log2(v), color="tab:blue", lw=0.8, alpha=0.8)
        for v in lg_pos:
            ax.axvline(math.log2(v), color="tab:red", lw=0.8, ls="--", alpha=0.8)
        if hidden > 0:
            ax.text(
                0.99,
                0.97,
                f"{100 * hidden:.1f}% below 2^{floor:.0f} not shown",
                transform=ax.transAxes,
                ha="right",
                va="top",
                fontsize=8,
            )
        ax.set_title(f"{HIST_LAYER} {name}: log2 |value|")
        ax.set_xlabel("log2 |value|")
        ax.plot([], [], color="tab:blue", label=f"linear {HIST_BITS}-bit levels ({lin_lbl})")
        ax.plot([], [], color="tab:red", ls="--", label=f"log2 {HIST_BITS}-bit levels ({lg_lbl})")
        ax.legend(fontsize=8, loc="center left")
    fig.suptitle(
        f"Float digits CNN (seed 0), layer {HIST_LAYER}, {len(x_cal)} training images; "
        f"{HIST_BITS}-bit levels, calibrated scales (weights signed, activations unsigned)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- Markdown -------------------------------------------------------------------------------


def _cell(m, s, n):
    return f"{100 * m:.1f}" if n == 1 else f"{100 * m:.1f} ± {100 * s:.1f}"


def markdown(ptq_rows, logacc_rows, qat_rows, float_ms, cfg, n_train, n_test):
    """All tables of the study as Markdown text."""
    n = len(cfg.seeds)
    fm, fs = float_ms
    out = []
    out.append("# Paper study results (generated by `examples/paper_study.py`)\n")
    out.append(
        f"Digits CNN (conv 1→16, conv 16→32 stride 2, fc 512→10; ReLU), {n_train} training / "
        f"{n_test} test images (stratified split, seed {SPLIT_SEED}). Test accuracy in %, "
        f"mean ± sample std over {n} float model{'s' * (n > 1)} (seeds "
        f"{', '.join(map(str, cfg.seeds))}). Float: **{_cell(fm, fs, n)}**. "
        f"Bits count the sign bit; weights are signed, activations (every layer's input: the "
        f"image and the ReLU outputs) unsigned. Scales per layer from {CALIB_IMAGES} training "
        f"images. Biases and logits stay float.\n"
    )
    agg = {
        r: aggregate([x for x in ptq_rows if x["rule"] == r], ("scope", "format", "bits"))
        for r in RULES
    }
    la = aggregate(logacc_rows, ("format", "frac_bits", "bits"))
    head = "| scope | format | " + " | ".join(f"{b} bits" for b in PTQ_BITS) + " |"
    sep = "|---|---|" + "---|" * len(PTQ_BITS)
    for rule, title in (
        (
            "calibrated",
            "Table 1: post-training quantization, `calibrated` scale rule "
            "(per-layer FSR / exponent of minimum squared error); `results/ptq.csv`",
        ),
        (
            "max",
            "Table 1b: the same with the `max` scale rule (smallest FSR / exponent that "
            "covers the largest magnitude); `results/ptq_max.csv`",
        ),
    ):
        out.append(f"\n## {title}\n")
        out.append(head)
        out.append(sep)
        out.append("| – | float | " + " | ".join(_cell(fm, fs, n) for _ in PTQ_BITS) + " |")
        for scope in SCOPES:
            for fmt in QUANT_FORMATS:
                cells = " | ".join(_cell(*agg[rule][(scope, fmt, b)]) for b in PTQ_BITS)
                out.append(f"| {scope} | {fmt} | {cells} |")
            if scope == "both" and rule == "calibrated":
                for fmt in LOGACC_FORMATS:
                    cells = " | ".join(_cell(*la[(fmt, LOGACC_FRAC_BITS, b)]) for b in PTQ_BITS)
                    out.append(
                        f"| both | {fmt}, log-domain accumulation (F={LOGACC_FRAC_BITS}) "
                        f"| {cells} |"
                    )
    out.append(
        "\nLog-domain accumulation (paper section 3.3, `logdot.golden.logacc`): every product of a "
        "log weight and a log activation is a power of two; the sum is kept as a fixed-point "
        "log2 magnitude with F fraction bits, updated per term by L' = max + (T[r] >> q) "
        "(exact integer table T). Mixed signs: separate log-domain accumulators for positive "
        "and negative terms, subtracted once at the end in the linear domain (the paper does "
        "not say how it handles them). Order: input channel, kernel row, kernel column.\n"
    )
    if cfg.logacc_frac_sweep:
        out.append("\n## Log-domain accumulation: fraction bits of the accumulator (log2, both)\n")
        out.append("| F | " + " | ".join(f"{b} bits" for b in PTQ_BITS) + " |")
        out.append("|---|" + "---|" * len(PTQ_BITS))
        exact = " | ".join(_cell(*agg["calibrated"][("both", "log2", b)]) for b in PTQ_BITS)
        out.append(f"| exact sum | {exact} |")
        for f in sorted({*cfg.logacc_frac_sweep, LOGACC_FRAC_BITS}, reverse=True):
            out.append(
                f"| {f} | " + " | ".join(_cell(*la[("log2", f, b)]) for b in PTQ_BITS) + " |"
            )
    qa = aggregate(qat_rows, ("format", "bits"))
    nq = len(cfg.qat_seeds)
    out.append(
        f"\n## Table 2: quantization-aware training from scratch (weights and activations), "
        f"mean ± std over {nq} seed{'s' * (nq > 1)}; `results/qat.csv`\n"
    )
    out.append(
        f"Same network, data and recipe as the float model ({cfg.qat_epochs} epochs), "
        "fake quantization with a straight-through estimator; scales (calibrated rule) "
        "re-chosen on training data before every epoch and after the last. The PTQ column "
        "is Table 1's `both` row for comparison.\n"
    )
    out.append("| format | " + " | ".join(f"{b} bits QAT | {b} bits PTQ" for b in QAT_BITS) + " |")
    out.append("|---|" + "---|---|" * len(QAT_BITS))
    for fmt in QUANT_FORMATS:
        cells = " | ".join(
            f"{_cell(*qa[(fmt, b)])} | {_cell(*agg['calibrated'][('both', fmt, b)])}"
            for b in QAT_BITS
        )
        out.append(f"| {fmt} | {cells} |")
    out.append("| float | " + " | ".join(f"{_cell(fm, fs, n)} | –" for _ in QAT_BITS) + " |")
    return "\n".join(out) + "\n"


# -- output ---------------------------------------------------------------------------------


def write_csv(path, columns, rows, fmt_float="{:.6f}"):
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(columns)
        for r in rows:
            w.writerow(
                [fmt_float.format(r[c]) if isinstance(r[c], float) else r[c] for c in columns]
            )


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Reproduce the paper's log vs linear quantization study on the digits CNN."
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="1 seed and 2 QAT epochs (a smoke test, < 60 s on an idle machine)",
    )
    p.add_argument(
        "--out",
        default=str(Path(__file__).resolve().parent.parent / "results"),
        help="output directory (default: the repository's results/)",
    )
    p.add_argument(
        "--jobs",
        type=int,
        default=2,
        help="worker processes, one CPU thread each (default 2; 1 runs in-process)",
    )
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    args = p.parse_args(argv)
    if not 1 <= args.jobs <= 64:
        p.error(f"--jobs must be an integer in [1, 64], not {args.jobs!r}")
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        p.error(f"--out must be a directory, not the file {str(out)!r}")
    return args


def main(argv=None):
    args = parse_args(argv)
    cfg = QUICK if args.quick else FULL
    out = Path(args.out)
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    data = study_data()
    x_tr, x_te, x_cal = data["x_tr"], data["x_te"], data["x_cal"]
    bar_kw = dict(disable=args.no_progress, file=sys.stderr, dynamic_ncols=True)
    phases = {}

    pool = None
    if args.jobs > 1:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=args.jobs, mp_context=ctx)
    try:
        plan = [
            ("float training", [("train", s) for s in cfg.seeds]),
            (
                "PTQ (Table 1)",
                [("ptq", s, r, sc) for s in cfg.seeds for r in RULES for sc in SCOPES],
            ),
            (
                "log-domain accumulation",
                [("logacc", s, f, fb) for s in cfg.seeds for f, fb in logacc_cells(cfg)],
            ),
            (
                "QAT (Table 2)",
                [
                    ("qat", s, f, b, cfg.qat_epochs)
                    for s in cfg.qat_seeds
                    for f in QUANT_FORMATS
                    for b in QAT_BITS
                ],
            ),
        ]
        rows = {}
        for desc, tasks in plan:
            tw = time.perf_counter()
            rows[desc] = run_tasks(tasks, pool, desc, bar_kw)
            phases[desc] = round(time.perf_counter() - tw, 1)
    finally:
        if pool is not None:
            pool.shutdown()
    float_accs = [r["accuracy"] for r in rows["float training"]]
    ptq_rows = rows["PTQ (Table 1)"]
    logacc_rows = rows["log-domain accumulation"]
    qat_rows = rows["QAT (Table 2)"]

    float_ms = mean_std(float_accs)
    ptq = ptq_table(ptq_rows, "calibrated")
    ptq_max = ptq_table(ptq_rows, "max")
    la_agg = aggregate(logacc_rows, ("format", "frac_bits", "bits"))
    qat_agg = aggregate(qat_rows, ("format", "bits"))
    qat = [
        dict(format=f, bits=b, accuracy=qat_agg[(f, b)][0]) for f in QUANT_FORMATS for b in QAT_BITS
    ]

    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".paper_study-", dir=out))
    try:
        write_csv(tmp / "ptq.csv", PTQ_COLUMNS, ptq)
        write_csv(tmp / "ptq_max.csv", PTQ_COLUMNS, ptq_max)
        write_csv(
            tmp / "ptq_runs.csv", ("rule", "scope", "format", "bits", "seed", "accuracy"), ptq_rows
        )
        la_rows = [
            dict(format=f, frac_bits=fb, bits=b, accuracy_mean=m, accuracy_std=s)
            for (f, fb, b), (m, s, _) in la_agg.items()
        ]
        write_csv(
            tmp / "logacc.csv",
            ("format", "frac_bits", "bits", "accuracy_mean", "accuracy_std"),
            la_rows,
        )
        write_csv(tmp / "qat.csv", QAT_COLUMNS, qat)
        write_csv(tmp / "qat_runs.csv", ("format", "bits", "seed", "accuracy"), qat_rows)
        md = markdown(ptq_rows, logacc_rows, qat_rows, float_ms, cfg, len(x_tr), len(x_te))
        (tmp / "tables.md").write_text(md)
        plot_accuracy(
            tmp / "accuracy_vs_bits.png",
            {"calibrated": ptq, "max": ptq_max},
            la_agg,
            qat_agg,
            float_ms,
            cfg,
        )
        plot_histograms(tmp / "histograms.png", train_digits_cnn(cfg.seeds[0]), x_cal)
        summary = dict(
            mode="quick" if args.quick else "full",
            seeds=list(cfg.seeds),
            qat_seeds=list(cfg.qat_seeds),
            qat_epochs=cfg.qat_epochs,
            float_accuracy=dict(zip(map(str, cfg.seeds), float_accs, strict=True)),
            float_accuracy_mean=float_ms[0],
            float_accuracy_std=float_ms[1],
            train_images=len(x_tr),
            test_images=len(x_te),
            calibration_images=CALIB_IMAGES,
            logacc_frac_bits=LOGACC_FRAC_BITS,
            torch=torch.__version__,
            jobs=args.jobs,
            seconds=round(time.perf_counter() - t0, 1),
            phase_seconds=phases,
        )
        (tmp / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(md)
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
