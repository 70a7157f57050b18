"""The paper study's figures: accuracy vs bits, and one layer's histograms with the levels.

Both functions write a PNG with matplotlib's ``Agg`` backend (imported on first use, so the
rest of :mod:`logdot.study` does not need matplotlib).
"""

from __future__ import annotations

import math

import torch

from logdot.golden.quant import fsr_calibrate, linear_exp_calibrate, log_dequant
from logdot.study import sweep

__all__ = [
    "HIST_BITS",
    "HIST_LAYER",
    "layer_tensors",
    "plot_accuracy",
    "plot_histograms",
    "quant_levels",
]

#: The layer, and the bit width of the levels, that :func:`plot_histograms` shows.
HIST_LAYER = "conv2"
HIST_BITS = 4


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
    """Plot accuracy vs bits into ``path`` (PNG).

    Top row: PTQ with the calibrated rule (one panel per scope, with the log-domain
    accumulation rows) and QAT. Bottom row: PTQ with the max rule, and the log-domain
    accumulator's fraction bits.

    Parameters
    ----------
    path : path-like
        The PNG to write.
    ptq_by_rule : dict
        ``{rule: rows of ptq.csv}`` (:func:`logdot.study.sweep.ptq_table`) for both rules.
    logacc_agg : dict
        ``{(format, frac_bits, bits): (mean, std, n)}`` of the log-domain accumulation runs.
    qat_agg : dict
        ``{(format, bits): (mean, std, n)}`` of the QAT runs.
    float_ms : tuple of float
        Mean and sample std of the float models' accuracy.
    cfg : logdot.study.sweep.StudyConfig
        What the run measured (seed counts for the titles, the fraction-bit sweep).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 4, figsize=(18, 8.4))
    bits = list(sweep.PTQ_BITS)
    n, nq = len(cfg.seeds), len(cfg.qat_seeds)
    fl = float_ms[0]
    for row, rule in enumerate(sweep.RULES):
        ptq = ptq_by_rule[rule]
        lo = _pct(min(r["accuracy_mean"] for r in ptq))
        if row == 0:
            shown = [v[0] for (_, f, _), v in logacc_agg.items() if f == sweep.LOGACC_FRAC_BITS]
            lo = min([lo] + [_pct(v) for v in shown] + [_pct(v[0]) for v in qat_agg.values()])
            lo_top = lo
        for ax, scope in zip(axes[row, :3], sweep.SCOPES, strict=True):
            for fmt in sweep.QUANT_FORMATS:
                cells = [r for r in ptq if r["scope"] == scope and r["format"] == fmt]
                _errorbars(
                    ax,
                    bits,
                    [r["accuracy_mean"] for r in cells],
                    [r["accuracy_std"] for r in cells],
                    fmt,
                )
            if scope == "both" and row == 0:
                for fmt in sweep.LOGACC_FORMATS:
                    m = [_pct(logacc_agg[(fmt, sweep.LOGACC_FRAC_BITS, b)][0]) for b in bits]
                    ax.plot(
                        bits,
                        m,
                        ls=":",
                        marker="x",
                        color=_STYLE[fmt]["color"],
                        label=f"{fmt}, log-domain acc. (F={sweep.LOGACC_FRAC_BITS})",
                    )
            ax.axhline(_pct(fl), **_STYLE["float"], label="float")
            _finish(ax, f"PTQ, {scope} quantized, {rule} scales ({n} seeds)", bits, lo)
        axes[row, 0].set_ylabel("test accuracy (%)")
    # QAT.
    ax = axes[0, 3]
    qbits = list(sweep.QAT_BITS)
    for fmt in sweep.QUANT_FORMATS:
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
    fracs = sorted({*cfg.logacc_frac_sweep, sweep.LOGACC_FRAC_BITS})
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
    """The weights and input activations of one layer of a float model, flattened.

    Parameters
    ----------
    model : torch.nn.Module
        The float model.
    x_cal : torch.Tensor
        Input images (training data) whose activations are captured.
    layer : str
        Attribute name of the layer (e.g. ``"conv2"``).

    Returns
    -------
    tuple of torch.Tensor
        ``(weights, input activations)``, both 1-D.
    """
    captured = {}
    mod = getattr(model, layer)
    handle = mod.register_forward_pre_hook(lambda m, args: captured.update(x=args[0].detach()))
    with torch.no_grad():
        model(x_cal)
    handle.remove()
    return mod.weight.detach().flatten(), captured["x"].flatten()


def quant_levels(x, fmt, bits, signed):
    """The representable non-negative values of a format calibrated on tensor ``x``.

    Parameters
    ----------
    x : torch.Tensor
        The values the scale is calibrated on (``calibrated`` rule).
    fmt : {"linear", "log2", "logsqrt2"}
        The format.
    bits : int
        Bit width, sign included when ``signed``.
    signed : bool
        Whether the format has a sign bit.

    Returns
    -------
    tuple
        ``(levels, label)``: the non-negative levels (list of float) and the chosen scale as
        text (``"exp=E"`` or ``"FSR=F"``).
    """
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
    """Plot the weights and input activations of :data:`HIST_LAYER` into ``path`` (PNG).

    The 4-bit log2 and linear levels are drawn over the histograms, on a value axis and on a
    log2 axis.

    Parameters
    ----------
    path : path-like
        The PNG to write.
    model : torch.nn.Module
        The float digits CNN.
    x_cal : torch.Tensor
        The calibration images (training data).
    """
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
