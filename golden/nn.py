"""Quantized drop-in layers for post-training quantization and quantization-aware training.

Built on :mod:`logdot.golden.quant`, so a quantized layer computes with exactly the values the
hardware's codes stand for:

* :class:`Quantizer` fake-quantizes a tensor in one format: ``"float"`` (identity),
  ``"linear"`` (fixed point, scale ``2**exp``), ``"log2"`` or ``"logsqrt2"`` (log codes,
  full-scale range ``fsr``), ``"twoterm"`` (two-term power-of-two weights, signed,
  :mod:`logdot.golden.twoterm_quant`). ``bits`` counts the sign bit when ``signed``. Its forward is
  ``dequant(quant(x))`` exactly, and its gradient is the straight-through estimator of
  :func:`logdot.golden.quant.fake_log_quant` / :func:`logdot.golden.quant.fake_linear_quant`.
* :class:`LogConv2d` and :class:`LogLinear` are :class:`torch.nn.Conv2d` / :class:`torch.nn.Linear`
  with a weight quantizer and an input (activation) quantizer; with both formats ``"float"``
  they are the float layers. Their ``state_dict`` keeps the float layer's keys (plus the
  quantizers' buffers), so a float checkpoint loads into them.
* :func:`quantize_model` swaps every ``Conv2d`` / ``Linear`` of a model for its drop-in,
  and :func:`calibrate` sets the activation scales from sample (training) data.

Scale rules (per tensor, i.e. per layer): ``"max"`` takes the smallest FSR / exponent that
represents the largest magnitude unsaturated (:func:`logdot.golden.quant.fsr_from_max`,
:func:`logdot.golden.quant.linear_exp_from_max`); ``"calibrated"`` takes the one minimizing the
mean squared quantization error (:func:`logdot.golden.quant.fsr_calibrate`,
:func:`logdot.golden.quant.linear_exp_calibrate`).

When scales are chosen:

* weights: from the weight tensor itself, on every forward (deterministic; the last one is
  kept in the ``scale`` buffer for export);
* activations, training mode (QAT): from the current batch, on every forward;
* activations, eval mode: fixed by :func:`calibrate`, which runs the calibration data through
  the model once, in one batch, so each quantizer is calibrated on what it will really see
  (the outputs of the already quantized layers before it). An uncalibrated activation
  quantizer refuses to run in eval mode rather than silently calibrate on evaluation data.

Biases stay in float: in the engine they are added to the accumulator at full precision.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass, fields

import torch
from torch import nn
from torch.nn import functional as F

from . import logacc
from .formats import LIMITS, check_bool, check_choice, check_int, read_only, read_only_params
from .quant import (
    fake_linear_quant,
    fake_log_quant,
    fsr_calibrate,
    fsr_from_max,
    linear_exp_calibrate,
    linear_exp_from_max,
    linear_quant,
    log_quant,
)
from .twoterm import TWOTERM_BITS
from .twoterm_quant import (
    fake_twoterm_quant,
    twoterm_fsr_calibrate,
    twoterm_fsr_from_max,
    twoterm_quant,
)

__all__ = [
    "FORMATS",
    "RULES",
    "WEIGHT_FORMATS",
    "LogConv2d",
    "LogLinear",
    "QuantSettings",
    "Quantizer",
    "calibrate",
    "quantize_model",
    "quantizers",
]

#: Number formats of :class:`Quantizer` for any tensor (weights or activations).
FORMATS = ("float", "linear", "log2", "logsqrt2")
#: Formats of :class:`Quantizer` for weights only (signed): two-term power-of-two weights.
WEIGHT_FORMATS = ("twoterm",)
#: Scale (FSR / exponent) rules of :class:`Quantizer`.
RULES = ("max", "calibrated")
#: Accumulation modes of :class:`LogConv2d` / :class:`LogLinear`.
ACCUMULATIONS = ("exact", "log")

_BASES = {"log2": 2, "logsqrt2": "sqrt2"}


def _check_bits(fmt, bits, name="bits"):
    if fmt == "float":
        return check_int(bits, name, 1)
    if fmt == "twoterm":
        return check_int(bits, name, *TWOTERM_BITS)
    lim = LIMITS["act_bits_linear"] if fmt == "linear" else LIMITS["quant_bits"]
    return check_int(bits, name, *lim)


@read_only_params("format", "bits", "signed", "rule", "dynamic")
class Quantizer(nn.Module):
    """Fake quantization of one tensor (a layer's weights or its input activations).

    Parameters
    ----------
    format : {"float", "linear", "log2", "logsqrt2", "twoterm"}
        Number format. ``"float"`` is the identity. ``"twoterm"``: two-term power-of-two
        weights (:mod:`logdot.golden.twoterm_quant`, signed only, ``bits`` in ``[3, 8]``).
    bits : int
        Width, the sign bit included when ``signed`` (``[2, 32]`` linear, ``[2, 16]`` log).
    signed : bool
        Signed (weights) or unsigned (non-negative activations: every bit is magnitude;
        negative inputs would quantize to 0, so :func:`calibrate` refuses them).
    rule : {"max", "calibrated"}
        How the scale is chosen (see the module docstring).
    dynamic : bool
        ``True``: choose the scale from the input on every forward, in any mode (weights).
        ``False``: from the input in training mode only; in eval mode use the calibrated
        scale (activations).
    search : int
        Candidates below the max-based scale tried by the ``"calibrated"`` rule.

    Attributes
    ----------
    scale : torch.Tensor
        int64 scalar buffer: the FSR (log formats) or ``exp`` (linear) last chosen.
    has_scale : torch.Tensor
        bool scalar buffer: whether ``scale`` has been set.
    """

    def __init__(
        self, format="float", bits=8, *, signed=True, rule="calibrated", dynamic=False, search=8
    ):
        super().__init__()
        self._format = check_choice(format, "format", FORMATS + WEIGHT_FORMATS)
        self._bits = _check_bits(format, bits)
        self._signed = check_bool(signed, "signed")
        if format == "twoterm" and not signed:
            raise ValueError("format 'twoterm' is signed only (a weight format), not signed=False")
        self._rule = check_choice(rule, "rule", RULES)
        self._dynamic = check_bool(dynamic, "dynamic")
        self._search = check_int(search, "search", 0, 64)
        #: Set by :func:`calibrate`: choose and store the scale from the next input.
        self.calibrating = False
        #: Set by :func:`calibrate` with ``freeze=True``: use the stored scale in every mode.
        self.frozen = False
        self.register_buffer("scale", torch.zeros((), dtype=torch.int64))
        self.register_buffer("has_scale", torch.zeros((), dtype=torch.bool))

    @property
    def is_float(self):
        return self._format == "float"

    @property
    def is_log(self):
        return self._format in _BASES

    @property
    def base(self):
        """``2`` or ``"sqrt2"`` for log formats, else ``None``."""
        return _BASES.get(self._format)

    def extra_repr(self):
        if self.is_float:
            return "format='float'"
        s = f"format={self._format!r}, bits={self._bits}, signed={self._signed}, "
        s += f"rule={self._rule!r}, dynamic={self._dynamic}"
        if bool(self.has_scale):
            s += f", {'exp' if self._format == 'linear' else 'fsr'}={int(self.scale)}"
        return s

    # -- scales --------------------------------------------------------------------------

    def choose_scale(self, x):
        """The FSR (log) or exponent (linear) that ``rule`` picks for tensor ``x``."""
        x = x.detach()
        if self._format == "twoterm":
            if self._rule == "max":
                return twoterm_fsr_from_max(x, self._bits)
            return twoterm_fsr_calibrate(x, self._bits, search=self._search)
        if self._format == "linear":
            if self._rule == "max":
                return linear_exp_from_max(x, self._bits, signed=self._signed)
            return linear_exp_calibrate(x, self._bits, signed=self._signed, search=self._search)
        if self._rule == "max":
            return fsr_from_max(x, self._bits, base=self.base, signed=self._signed)
        return fsr_calibrate(
            x, self._bits, base=self.base, signed=self._signed, search=self._search
        )

    def set_scale(self, value):
        """Fix the scale (FSR or exponent) used in eval mode."""
        check_int(value, "scale", *LIMITS["fsr"])
        self.scale.fill_(value)
        self.has_scale.fill_(True)

    def resolve_scale(self, x):
        """The scale to quantize ``x`` with now (choosing and storing it if due).

        Frozen: the stored scale. Otherwise dynamic (weights), training mode (QAT) or
        calibrating: chosen from ``x`` by ``rule`` (and stored, except for a non-dynamic
        quantizer in training mode). Otherwise (activations in eval mode): the calibrated
        scale, or :class:`RuntimeError` if there is none.
        """
        if not self.frozen and (self._dynamic or self.training or self.calibrating):
            if self.calibrating and not self._signed and x.numel():
                lo = float(x.detach().min())
                if lo < 0:
                    raise ValueError(
                        f"an unsigned activation quantizer got negative calibration data "
                        f"(min {lo!r}); use signed activations for this layer"
                    )
            s = self.choose_scale(x)
            if self.calibrating or self._dynamic or not self.training:
                self.set_scale(s)
            return s
        if not bool(self.has_scale):
            raise RuntimeError(
                "activation quantizer is not calibrated: call logdot.golden.nn.calibrate(model, "
                "training_data) before evaluating"
            )
        return int(self.scale)

    # -- quantization --------------------------------------------------------------------

    def quantize(self, x, scale):
        """Fake-quantize ``x`` with an explicit scale (forward exact, straight-through)."""
        if self.is_float:
            return x
        if self._format == "twoterm":
            return fake_twoterm_quant(x, self._bits, scale)
        if self._format == "linear":
            return fake_linear_quant(x, self._bits, scale, signed=self._signed)
        return fake_log_quant(x, self._bits, scale, base=self.base, signed=self._signed)

    def codes(self, x, scale=None):
        """The integer codes of ``x`` (log codes or fixed-point integers), int64."""
        if self.is_float:
            raise ValueError("a 'float' quantizer has no codes")
        if scale is None:
            scale = self.resolve_scale(x)
        if self._format == "twoterm":
            return twoterm_quant(x, self._bits, scale)
        if self._format == "linear":
            return linear_quant(x, self._bits, scale, signed=self._signed)
        return log_quant(x, self._bits, scale, base=self.base, signed=self._signed)

    def log_operand(self, scale):
        """The :class:`logdot.golden.logacc.LogOperand` of this (log) format at ``scale``."""
        if not self.is_log:
            raise ValueError(f"format must be 'log2' or 'logsqrt2', not {self._format!r}")
        return logacc.LogOperand(self._bits, scale, base=self.base, signed=self._signed)

    def forward(self, x):
        if self.is_float:
            return x
        return self.quantize(x, self.resolve_scale(x))


@dataclass(frozen=True)
class QuantSettings:
    """The quantization arguments of :class:`LogConv2d`, :class:`LogLinear` and
    :func:`quantize_model`: their one list of names and defaults.

    The values are validated when a layer is built (by its :class:`Quantizer` modules).

    Parameters
    ----------
    weight_format, weight_bits, weight_rule
        Weight :class:`Quantizer` (signed, dynamic).
    act_format, act_bits, act_rule, act_signed
        Input :class:`Quantizer` (calibrated; unsigned by default, for inputs that follow a
        ReLU or are non-negative images).
    accumulation : {"exact", "log"}
        ``"exact"``: the ordinary (exact) sum of products, what the engine computes.
        ``"log"``: the paper's log-domain accumulation (:mod:`logdot.golden.logacc`), inference
        only, with ``frac_bits`` fraction bits; needs log weights and log activations.
    frac_bits : int
        Fraction bits of the log-domain accumulator.
    """

    weight_format: str = "float"
    weight_bits: int = 8
    weight_rule: str = "calibrated"
    act_format: str = "float"
    act_bits: int = 8
    act_rule: str = "calibrated"
    act_signed: bool = False
    accumulation: str = "exact"
    frac_bits: int = logacc.DEFAULT_FRAC_BITS

    @classmethod
    def split(cls, kwargs):
        """``(settings, rest)``: the settings named in the keyword dict ``kwargs`` (defaults
        for the others), and the remaining keyword arguments (a new dict)."""
        names = {f.name for f in fields(cls)}
        rest = {k: v for k, v in kwargs.items() if k not in names}
        return cls(**{k: v for k, v in kwargs.items() if k in names}), rest

    def to_dict(self):
        """The settings as keyword arguments."""
        return asdict(self)


class _QuantLayerMixin:
    """Shared behaviour of :class:`LogConv2d` and :class:`LogLinear`."""

    def _init_quantizers(self, q):
        """Create the weight and input quantizers from the :class:`QuantSettings` ``q``."""
        self.weight_quant = Quantizer(
            q.weight_format, q.weight_bits, signed=True, rule=q.weight_rule, dynamic=True
        )
        if q.act_format in WEIGHT_FORMATS:
            raise ValueError(f"act_format {q.act_format!r} is a weight format")
        self.input_quant = Quantizer(q.act_format, q.act_bits, signed=q.act_signed, rule=q.act_rule)
        self._accumulation = check_choice(q.accumulation, "accumulation", ACCUMULATIONS)
        self._frac_bits = check_int(q.frac_bits, "frac_bits", 0, logacc._MAX_FRAC_BITS)
        if q.accumulation == "log":
            if not (self.weight_quant.is_log and self.input_quant.is_log):
                raise ValueError(
                    f"accumulation='log' needs log weights and log activations, not "
                    f"weight_format={q.weight_format!r} and act_format={q.act_format!r}"
                )
            if "logsqrt2" in (q.weight_format, q.act_format) and q.frac_bits < 1:
                raise ValueError(f"frac_bits must be >= 1 with base sqrt(2), not {q.frac_bits!r}")

    accumulation = read_only(
        "accumulation",
        '``"exact"`` (the ordinary sum, as the engine computes it) or ``"log"`` (paper 3.3).',
    )
    frac_bits = read_only(
        "frac_bits", 'Fraction bits of the log-domain accumulator (``accumulation="log"``).'
    )

    def quantized_weight(self):
        """The weights the layer computes with (``dequant(quant(w))``, float)."""
        return self.weight_quant(self.weight)

    def _log_operands(self, x):
        """Codes and formats of input and weights for log-domain accumulation."""
        sa = self.input_quant.resolve_scale(x)
        sw = self.weight_quant.resolve_scale(self.weight)
        a_codes = self.input_quant.codes(x.detach(), sa)
        w_codes = self.weight_quant.codes(self.weight.detach(), sw)
        return (
            a_codes,
            self.input_quant.log_operand(sa),
            w_codes,
            self.weight_quant.log_operand(sw),
        )

    @classmethod
    def _copy_float(cls, layer, new):
        with torch.no_grad():
            new.weight.copy_(layer.weight)
            if layer.bias is not None:
                new.bias.copy_(layer.bias)
        new.train(layer.training)
        return new.to(layer.weight.device)


class LogConv2d(_QuantLayerMixin, nn.Conv2d):
    """:class:`torch.nn.Conv2d` with quantized weights and quantized input activations.

    Takes the ``Conv2d`` arguments (``groups=1``, ``dilation=1`` and zero padding only), plus
    the keyword-only quantization arguments of :class:`QuantSettings` (same names, same
    defaults): ``weight_format``, ``weight_bits``, ``weight_rule`` (the weight
    :class:`Quantizer`, signed and dynamic), ``act_format``, ``act_bits``, ``act_rule``,
    ``act_signed`` (the input :class:`Quantizer`, calibrated), ``accumulation`` (``"exact"``,
    what the engine computes, or ``"log"``, the paper's log-domain accumulation) and
    ``frac_bits``.
    """

    def __init__(self, *args, **kwargs):
        quant, kwargs = QuantSettings.split(kwargs)
        super().__init__(*args, **kwargs)
        if self.groups != 1 or self.dilation != (1, 1) or self.padding_mode != "zeros":
            raise ValueError("LogConv2d supports groups=1, dilation=1 and zero padding only")
        self._init_quantizers(quant)

    @classmethod
    def from_float(cls, conv, **quant):
        """A :class:`LogConv2d` with ``conv``'s geometry and parameters (copied)."""
        if not isinstance(conv, nn.Conv2d):
            raise TypeError(f"conv must be a torch.nn.Conv2d, not {type(conv).__name__}")
        new = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            **quant,
        )
        return cls._copy_float(conv, new)

    def forward(self, x):
        if self._accumulation == "log":
            a, af, w, wf = self._log_operands(x)
            y = logacc.log_conv2d(
                a,
                af,
                w,
                wf,
                self.bias,
                stride=self.stride,
                padding=self.padding,
                frac_bits=self._frac_bits,
            )
            return y.to(x.dtype)
        return self._conv_forward(self.input_quant(x), self.quantized_weight(), self.bias)


class LogLinear(_QuantLayerMixin, nn.Linear):
    """:class:`torch.nn.Linear` with quantized weights and quantized input activations.

    Takes the ``Linear`` arguments plus the keyword-only quantization arguments of
    :class:`QuantSettings` (as :class:`LogConv2d` does).
    """

    def __init__(self, *args, **kwargs):
        quant, kwargs = QuantSettings.split(kwargs)
        super().__init__(*args, **kwargs)
        self._init_quantizers(quant)

    @classmethod
    def from_float(cls, linear, **quant):
        """A :class:`LogLinear` with ``linear``'s shape and parameters (copied)."""
        if not isinstance(linear, nn.Linear):
            raise TypeError(f"linear must be a torch.nn.Linear, not {type(linear).__name__}")
        new = cls(linear.in_features, linear.out_features, bias=linear.bias is not None, **quant)
        return cls._copy_float(linear, new)

    def forward(self, x):
        if self._accumulation == "log":
            a, af, w, wf = self._log_operands(x)
            y = logacc.log_linear(a, af, w, wf, self.bias, frac_bits=self._frac_bits)
            return y.to(x.dtype)
        return F.linear(self.input_quant(x), self.quantized_weight(), self.bias)


def quantizers(model):
    """All :class:`Quantizer` modules of ``model`` as ``{qualified name: quantizer}``."""
    return {name: m for name, m in model.named_modules() if isinstance(m, Quantizer)}


@torch.no_grad()
def calibrate(model, x, *, freeze=False):
    """Fix every quantizer's scale from sample data ``x`` (training data only).

    Runs ``model(x)`` once, in eval mode and in one batch, with every quantizer in
    calibration mode: each one picks its scale with its rule from the exact tensor it
    receives, i.e. after the quantized layers before it (weight quantizers from their
    weights).

    Parameters
    ----------
    model : torch.nn.Module
        A model with :class:`Quantizer` modules (e.g. from :func:`quantize_model`).
    x : torch.Tensor
        Calibration inputs, one batch (never test data).
    freeze : bool
        Also freeze every scale, weights included, so that training mode uses the stored
        scales too (QAT with scales re-chosen periodically by calling this again).
        ``False`` unfreezes them (weights then follow their weights again, and training
        mode chooses activation scales per batch).

    Returns
    -------
    torch.nn.Module
        ``model``, in eval mode.
    """
    check_bool(freeze, "freeze")
    model.eval()
    qs = [q for q in quantizers(model).values() if not q.is_float]
    for q in qs:
        q.frozen = False
        q.calibrating = True
    try:
        model(x)
    finally:
        for q in qs:
            q.calibrating = False
    for q in qs:
        q.frozen = freeze
    return model


def quantize_model(model, *, calib_data=None, inplace=False, **quant):
    """Replace every ``Conv2d`` / ``Linear`` of ``model`` by its quantized drop-in.

    Each layer gets a weight quantizer (``weight_*``, signed) and an input activation
    quantizer (``act_*``): the activations quantized are the inputs of every conv and fc
    layer, the network's input image included; the logits are not quantized.

    Parameters
    ----------
    model : torch.nn.Module
        A (trained) float model. Copied unless ``inplace``.
    calib_data : torch.Tensor or None
        Training inputs for :func:`calibrate` (never test data). ``None`` leaves the
        activation quantizers uncalibrated (fine for QAT, which then trains the model).
    inplace : bool
        Modify ``model`` itself instead of a deep copy.
    **quant
        The keyword arguments of :class:`QuantSettings`: ``weight_format``,
        ``weight_bits``, ``weight_rule``, ``act_format``, ``act_bits``, ``act_rule``,
        ``act_signed`` (see :class:`Quantizer`; ``bits`` counts the sign bit; unsigned
        activations by default, because every layer input of a ReLU network is
        non-negative), ``accumulation`` and ``frac_bits`` (see :class:`LogConv2d`).

    Returns
    -------
    torch.nn.Module
        The quantized model (in eval mode if calibrated).
    """
    settings, unknown = QuantSettings.split(quant)
    if unknown:
        raise TypeError(
            f"quantize_model() got unexpected keyword arguments: {', '.join(map(repr, unknown))}"
        )
    quant = settings.to_dict()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, not {type(model).__name__}")
    if not inplace:
        model = copy.deepcopy(model)
    _swap(model, quant)
    if calib_data is not None:
        calibrate(model, calib_data)
    return model


def _swap(module, quant):
    for name, child in module.named_children():
        if isinstance(child, LogConv2d | LogLinear):
            raise ValueError(f"model is already quantized (layer {name!r})")
        if type(child) is nn.Conv2d:
            setattr(module, name, LogConv2d.from_float(child, **quant))
        elif type(child) is nn.Linear:
            setattr(module, name, LogLinear.from_float(child, **quant))
        else:
            _swap(child, quant)
