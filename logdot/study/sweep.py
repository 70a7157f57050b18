"""The paper study's sweep: what it measures, the independent tasks, and their aggregation.

The work is split into independent tasks (one float training run, one PTQ scope of one model,
one QAT run, ...) that a pool of single-threaded worker processes executes; each task is
deterministic on its own, so the results do not depend on the number of workers or on the
order in which tasks finish. :func:`run_study` runs the whole plan of a :class:`StudyConfig`;
:mod:`logdot.study.tables` and :mod:`logdot.study.figures` turn its rows into the files of
``results/``.
"""

from __future__ import annotations

import multiprocessing
import statistics
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

import torch
from tqdm import tqdm

from logdot.golden import logacc
from logdot.golden.nn import calibrate, quantize_model
from logdot.study.data import (
    TrainConfig,
    calibration_subset,
    evaluate,
    init_digits_cnn,
    load_digits_split,
    train,
    train_digits_cnn,
)

__all__ = [
    "CALIB_IMAGES",
    "FORMATS",
    "FULL",
    "LOGACC_FORMATS",
    "LOGACC_FRAC_BITS",
    "LOGACC_FRAC_SWEEP",
    "PHASES",
    "PTQ_BITS",
    "QAT_BITS",
    "QUANT_FORMATS",
    "QUICK",
    "RULES",
    "SCOPES",
    "WEIGHT_FORMATS",
    "WEIGHT_FORMAT_ACTS",
    "WEIGHT_SCOPES",
    "StudyConfig",
    "StudyRows",
    "aggregate",
    "logacc_cells",
    "mean_std",
    "measured_weight_formats",
    "ptq_table",
    "qat_table",
    "quant_kwargs",
    "run_study",
    "run_task",
    "run_tasks",
    "study_data",
    "study_plan",
]

SCOPES = ("activations", "weights", "both")
FORMATS = ("float", "linear", "log2", "logsqrt2")
QUANT_FORMATS = FORMATS[1:]
#: Weight-only formats (two-term power-of-two weights): measured in the scopes
#: :data:`WEIGHT_SCOPES`, with linear activations of the same bits in ``"both"`` (what the
#: engine computes with them) and in QAT.
WEIGHT_FORMATS = ("twoterm",)
WEIGHT_SCOPES = ("weights", "both")
#: Activation format paired with a weight-only format in ``"both"`` and in QAT.
WEIGHT_FORMAT_ACTS = "linear"
PTQ_BITS = (3, 4, 5, 6, 8)
QAT_BITS = (3, 4, 5)
RULES = ("calibrated", "max")
#: Log-domain accumulation rows: formats and the accumulator's fraction bits.
LOGACC_FORMATS = ("log2", "logsqrt2")
LOGACC_FRAC_BITS = logacc.DEFAULT_FRAC_BITS
#: Extra fraction-bit widths tried for log2 (an ablation of the accumulator's precision).
LOGACC_FRAC_SWEEP = (0, 2, 4)
#: Training images the quantizers are calibrated on.
CALIB_IMAGES = 256


@dataclass(frozen=True)
class StudyConfig:
    """What one run of the study measures (the full study or the quick smoke test).

    Attributes
    ----------
    seeds : tuple of int
        Seeds of the float models (PTQ and log-domain accumulation use each of them).
    qat_seeds : tuple of int
        Seeds of the quantization-aware training runs.
    qat_epochs : int
        Training epochs of each QAT run.
    logacc_frac_sweep : tuple of int
        Extra fraction-bit widths of the log-domain accumulator tried for log2.
    logacc_test_images : int or None
        Test images the log-domain accumulation rows are scored on: the first ones of the
        test split (``None``: all of it). The golden log-domain sums are the study's costliest
        step; the quick smoke test scores a subset.
    qat_train_images : int or None
        Training images of each QAT run: the first ones of the training split (``None``: all
        of it).
    """

    seeds: tuple = (0, 1, 2, 3, 4)
    qat_seeds: tuple = (0, 1, 2)
    qat_epochs: int = TrainConfig().epochs
    logacc_frac_sweep: tuple = LOGACC_FRAC_SWEEP
    logacc_test_images: int | None = None
    qat_train_images: int | None = None


FULL = StudyConfig()
#: The smoke test: every table and figure, from 1 seed, 1 QAT epoch on a fifth of the
#: training images and log-domain accumulation rows scored on a fifth of the test images.
QUICK = StudyConfig(
    seeds=(0,),
    qat_seeds=(0,),
    qat_epochs=1,
    logacc_frac_sweep=(),
    logacc_test_images=90,
    qat_train_images=270,
)


# -- measurements ---------------------------------------------------------------------------

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
    """Arguments of :func:`logdot.golden.nn.quantize_model` for one cell of Table 1.

    A weight-only format (:data:`WEIGHT_FORMATS`) quantizes the weights; in scope ``"both"``
    the activations are :data:`WEIGHT_FORMAT_ACTS` of the same bits.
    """
    kw = {"weight_rule": rule, "act_rule": rule}
    if fmt in WEIGHT_FORMATS:
        if scope not in WEIGHT_SCOPES:
            raise ValueError(f"{fmt!r} is a weight format: scope must be in {WEIGHT_SCOPES}")
        kw.update(weight_format=fmt, weight_bits=bits)
        if scope == "both":
            kw.update(act_format=WEIGHT_FORMAT_ACTS, act_bits=bits)
        return kw
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


def task_ptq_weights(seed, rule, fmt):
    """PTQ accuracy of a weight-only format (:data:`WEIGHT_FORMATS`) for one model and rule:
    every bit width, scopes :data:`WEIGHT_SCOPES`."""
    d = study_data()
    model = train_digits_cnn(seed)
    rows = []
    for scope in WEIGHT_SCOPES:
        for bits in PTQ_BITS:
            q = quantize_model(model, calib_data=d["x_cal"], **quant_kwargs(scope, fmt, bits, rule))
            acc = evaluate(q, d["x_te"], d["y_te"])
            rows.append(
                dict(rule=rule, scope=scope, format=fmt, bits=bits, seed=seed, accuracy=acc)
            )
    return rows


def task_logacc(seed, fmt, frac_bits, images=None):
    """Accuracy with both operands log-coded and the sum accumulated in the log domain, on
    the first ``images`` test images (``None``: all)."""
    d = study_data()
    x_te, y_te = d["x_te"][:images], d["y_te"][:images]
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
        acc = evaluate(q, x_te, y_te)
        rows.append(dict(format=fmt, frac_bits=frac_bits, bits=bits, seed=seed, accuracy=acc))
    return rows


def task_qat(seed, fmt, bits, epochs, images=None):
    """Train from scratch with fake-quantized weights and activations (STE), on the first
    ``images`` training images (``None``: all)."""
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
        d["x_tr"][:images],
        d["y_tr"][:images],
        seed=seed,
        config=TrainConfig(epochs=epochs),
        before_epoch=rescale,
    )
    calibrate(model, x_cal)  # the final scales, chosen as for PTQ
    return [dict(format=fmt, bits=bits, seed=seed, accuracy=evaluate(model, d["x_te"], d["y_te"]))]


_TASKS = {
    "train": task_train,
    "ptq": task_ptq,
    "ptq_weights": task_ptq_weights,
    "logacc": task_logacc,
    "qat": task_qat,
}


def run_task(task):
    """Execute one ``(kind, *args)`` task (in a worker process).

    Parameters
    ----------
    task : tuple
        ``(kind, *args)`` with ``kind`` one of ``"train"``, ``"ptq"``, ``"ptq_weights"``,
        ``"logacc"``, ``"qat"``; the arguments of the matching ``task_*`` function.

    Returns
    -------
    list of dict
        The task's result rows.
    """
    torch.set_num_threads(1)
    return _TASKS[task[0]](*task[1:])


def run_tasks(tasks, pool, desc, bar_kw):
    """Run ``tasks`` (in ``pool`` if given) with a progress bar.

    Parameters
    ----------
    tasks : list of tuple
        Tasks for :func:`run_task`.
    pool : concurrent.futures.Executor or None
        Worker pool; ``None`` runs the tasks in this process.
    desc : str
        Label of the progress bar.
    bar_kw : dict
        Further keyword arguments of :class:`tqdm.tqdm`.

    Returns
    -------
    list of dict
        Every task's rows, concatenated in task order.
    """
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
    for scope in WEIGHT_SCOPES:  # weight-only formats, after the others (when measured)
        for fmt in measured_weight_formats(agg, scope):
            for bits in PTQ_BITS:
                m, s, _ = agg[(scope, fmt, bits)]
                out.append(
                    dict(scope=scope, format=fmt, bits=bits, accuracy_mean=m, accuracy_std=s)
                )
    return out


def measured_weight_formats(agg, *key):
    """The weight-only formats with rows in ``agg`` (keys ``(*key, format, bits)``), in
    :data:`WEIGHT_FORMATS` order: results written before a format was added lack its rows."""
    return [f for f in WEIGHT_FORMATS if (*key, f, PTQ_BITS[0] if key else QAT_BITS[0]) in agg]


def qat_table(qat_agg):
    """Rows of ``qat.csv`` from the aggregated QAT runs (``{(format, bits): (mean, std, n)}``)."""
    return [
        dict(format=f, bits=b, accuracy=qat_agg[(f, b)][0])
        for f in [*QUANT_FORMATS, *measured_weight_formats(qat_agg)]
        for b in QAT_BITS
    ]


#: Phase names of :func:`study_plan`, in execution order.
PHASES = ("float training", "PTQ (Table 1)", "log-domain accumulation", "QAT (Table 2)")


def study_plan(cfg):
    """The tasks of a study, phase by phase.

    Parameters
    ----------
    cfg : StudyConfig
        What to measure.

    Returns
    -------
    list of (str, list of tuple)
        ``(phase name, tasks)`` for every entry of :data:`PHASES`, in order.
    """
    return [
        (PHASES[0], [("train", s) for s in cfg.seeds]),
        (
            PHASES[1],
            [("ptq", s, r, sc) for s in cfg.seeds for r in RULES for sc in SCOPES]
            + [("ptq_weights", s, r, f) for s in cfg.seeds for r in RULES for f in WEIGHT_FORMATS],
        ),
        (
            PHASES[2],
            [
                ("logacc", s, f, fb, cfg.logacc_test_images)
                for s in cfg.seeds
                for f, fb in logacc_cells(cfg)
            ],
        ),
        (
            PHASES[3],
            [
                ("qat", s, f, b, cfg.qat_epochs, cfg.qat_train_images)
                for s in cfg.qat_seeds
                for f in QUANT_FORMATS
                for b in QAT_BITS
            ]
            + [
                ("qat", s, f, b, cfg.qat_epochs, cfg.qat_train_images)
                for s in cfg.qat_seeds
                for f in WEIGHT_FORMATS
                for b in QAT_BITS
            ],
        ),
    ]


@dataclass(frozen=True)
class StudyRows:
    """The raw rows of one run of the study (one row per seed and cell).

    Attributes
    ----------
    float_accs : list of float
        Test accuracy of each float model, in ``cfg.seeds`` order.
    ptq : list of dict
        PTQ rows (``rule, scope, format, bits, seed, accuracy``).
    logacc : list of dict
        Log-domain accumulation rows (``format, frac_bits, bits, seed, accuracy``).
    qat : list of dict
        QAT rows (``format, bits, seed, accuracy``).
    phase_seconds : dict
        Wall time of each phase, in seconds (rounded to 0.1 s).
    """

    float_accs: list
    ptq: list
    logacc: list
    qat: list
    phase_seconds: dict


def run_study(cfg, *, jobs=2, bar_kw=None):
    """Run every task of ``cfg``.

    Parameters
    ----------
    cfg : StudyConfig
        What to measure (:data:`FULL` or :data:`QUICK`).
    jobs : int, optional
        Worker processes, one CPU thread each (``spawn`` context); 1 runs in this process.
        The results do not depend on it.
    bar_kw : dict, optional
        Keyword arguments of the progress bars (:class:`tqdm.tqdm`), e.g. ``disable=True``.

    Returns
    -------
    StudyRows
        The raw rows of every phase.
    """
    bar_kw = bar_kw or {}
    rows, phases = {}, {}
    pool = None
    if jobs > 1:
        ctx = multiprocessing.get_context("spawn")
        pool = ProcessPoolExecutor(max_workers=jobs, mp_context=ctx)
    try:
        for desc, tasks in study_plan(cfg):
            tw = time.perf_counter()
            rows[desc] = run_tasks(tasks, pool, desc, bar_kw)
            phases[desc] = round(time.perf_counter() - tw, 1)
    finally:
        if pool is not None:
            pool.shutdown()
    return StudyRows(
        float_accs=[r["accuracy"] for r in rows[PHASES[0]]],
        ptq=rows[PHASES[1]],
        logacc=rows[PHASES[2]],
        qat=rows[PHASES[3]],
        phase_seconds=phases,
    )
