"""Integer model of a whole streaming CNN accelerator: the network file and its forward pass.

Over 600 lines on purpose: :class:`Network` validates the chain of layers (shapes, formats,
the requantizer of every engine against the next one's input) and runs it with the same
private shape and format helpers; the file format, the stream model and the torch bridge are
already their own modules.

A *network* is a chain of layers over integer codes, each of one of four types:

``conv2d``, ``linear``
    A layer engine (:mod:`logdot.golden.layer`): a :class:`~logdot.golden.layer.LayerSpec`
    (integer weight codes, formats, scales, real bias, ReLU, the requantizer to the next
    engine's input format). The golden model runs it as
    :meth:`~logdot.golden.layer.MappedLayer.forward` of :func:`~logdot.golden.layer.map_layer`
    for some folding (lanes x PEs): the im2col beat order, channel tiling and window replay of
    :meth:`~logdot.golden.layer.MappedLayer.stream`, the weight program of the generated engine,
    bias, ReLU and requantization. The outputs do not depend on the folding.
``maxpool``
    Max pooling with ``kernel == stride`` (any ``kh x kw``, no padding, PyTorch's floor mode:
    the last rows and columns no window reaches are dropped), on the
    codes of the tensor's format: unsigned log codes and linear integers compare as integers
    (the largest code is the largest value); signed log codes (sign above the magnitude code)
    compare by value (a negative zero becomes code 0).
``flatten``
    ``(C, H, W)`` to ``C * H * W`` in C, H, W order (``torch.flatten(x, 1)``).

The tensor between two engines is in the second engine's input format (the first engine's
requantizer produces it); pooling and flattening keep the format. The network's input is one
image of ``input_shape = (C, H, W)`` codes in the first engine's input format; its output is the
last layer's integer outputs, a linear two's-complement integer of ``output_bits`` bits per
value at the real scale ``2**(output_scale_x2 / 2)`` when the last engine has no requantizer
(the usual logits), else codes of its output format.

The network file (:mod:`logdot.golden.network_file`) is a ``torch.save`` of a plain
dict, schema ``logdot.network/1``, or ``logdot.network/2`` when a layer has two-term weights
(its spec's ``weight_format`` is ``"twoterm"``; version 2 adds nothing else, so a reader of
version 1 refuses such a file by its version, and version-1 files load unchanged) (loads with
``weights_only=True``): ``input_shape``,
``input_format``, ``output_shape``, ``output_format``, ``output_scale_x2`` and ``layers``, each
with ``type``, ``name``, ``source``, ``in_shape``, ``out_shape`` and, per type, ``spec`` (a
layer spec dict), ``scale_x2`` and ``bias_int`` (engines) or ``kernel`` (pools). Everything
derived is stored too and checked on load against a recomputation, so a damaged or hand-edited
file fails with a one-line ``ValueError`` instead of computing something else.

Public API
----------
Format, NetworkLayer, Network
    Number format of a tensor, one layer, the whole network (validated on construction).
network_forward
    The network's exact integer outputs for input codes (one image or a batch).
max_pool_codes
    Max pooling on codes of a :class:`Format`.
encode_input
    Input codes of float images (the first layer's input quantizer, exactly).
The network file's reader and writer (and :func:`~logdot.golden.network_file.network_from_dict`)
are in :mod:`logdot.golden.network_file`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .engine import dot as engine_dot
from .formats import signed_width

# The layer mapping (kept in one import block: it may move to its own module).
from .mapping import LayerSpec, map_layer
from .quant import linear_quant, log_quant
from .window import WindowGeometry

__all__ = [
    "LAYER_TYPES",
    "NETWORK_SCHEMA",
    "NETWORK_SCHEMA_TWOTERM",
    "NETWORK_VERSIONS",
    "Format",
    "Network",
    "NetworkLayer",
    "encode_input",
    "max_pool_codes",
    "network_forward",
    "network_schema",
]

NETWORK_SCHEMA = "logdot.network/1"
_SCHEMA_NAME, _VERSION = NETWORK_SCHEMA.rsplit("/", 1)
#: The schema of a network with a two-term weight layer (what version 2 adds to version 1).
NETWORK_SCHEMA_TWOTERM = f"{_SCHEMA_NAME}/2"
#: Versions of the network file this logdot reads, oldest first.
NETWORK_VERSIONS = (_VERSION, NETWORK_SCHEMA_TWOTERM.rsplit("/", 1)[1])


def network_schema(layers):
    """The schema a network file of ``layers`` is written with: :data:`NETWORK_SCHEMA_TWOTERM`
    when an engine layer has two-term weights, else :data:`NETWORK_SCHEMA` (so a network
    without them writes the same file as before two-term weights existed)."""
    twoterm = any(getattr(layer.spec, "weight_format", None) == "twoterm" for layer in layers)
    return NETWORK_SCHEMA_TWOTERM if twoterm else NETWORK_SCHEMA


#: Layer types of a network.
LAYER_TYPES = ("conv2d", "linear", "maxpool", "flatten")
ENGINE_TYPES = ("conv2d", "linear")


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


def _shape(value, what, ndims=(1, 3)):
    """A shape as a tuple of positive ints (from a list or tuple), else ValueError."""
    ok = isinstance(value, list | tuple) and len(value) in ndims
    ok = ok and all(_is_int(v) and v >= 1 for v in value)
    if not ok:
        dims = " or ".join(map(str, ndims))
        raise ValueError(f"{what} must be a list of {dims} positive integers, not {value!r}")
    return tuple(value)


# -- formats -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Format:
    """Number format of the codes of one tensor of the network.

    Parameters
    ----------
    kind : {"log", "linear"}
        Base-2 log codes or fixed-point integers.
    bits : int
        Width, the sign included when ``signed``.
    signed : bool
        Log: sign in bit ``bits - 1`` above the magnitude code. Linear: two's complement.
    scale : int or None
        FSR (log) or exponent (linear); ``None`` for a raw linear engine result (its scale
        is the network's ``output_scale_x2``).
    """

    kind: str
    bits: int
    signed: bool
    scale: int | None

    def __post_init__(self):
        if self.kind not in ("log", "linear"):
            raise ValueError(f"format kind must be 'log' or 'linear', not {self.kind!r}")
        if not _is_int(self.bits) or not 2 <= self.bits <= 64:
            raise ValueError(f"format bits must be an integer in [2, 64], not {self.bits!r}")
        if not isinstance(self.signed, bool):
            raise ValueError(f"format signed must be a bool, not {self.signed!r}")
        if self.scale is not None and not _is_int(self.scale):
            raise ValueError(f"format scale must be an integer or None, not {self.scale!r}")
        if self.scale is None and self.kind == "log":
            raise ValueError("a log format needs a scale (its FSR)")

    @property
    def range(self):
        """``(lo, hi)`` of the integers the golden model uses (codes, or signed values)."""
        if self.kind == "linear" and self.signed:
            return -(1 << (self.bits - 1)), (1 << (self.bits - 1)) - 1
        return 0, (1 << self.bits) - 1

    def to_word(self, v):
        """The ``bits``-bit field of integer ``v`` (two's complement for signed linear)."""
        return int(v) & ((1 << self.bits) - 1)

    def from_word(self, field):
        """The integer of a ``bits``-bit field (inverse of :meth:`to_word`)."""
        field = int(field) & ((1 << self.bits) - 1)
        if self.kind == "linear" and self.signed and field >> (self.bits - 1):
            return field - (1 << self.bits)
        return field

    def to_dict(self):
        return {"kind": self.kind, "bits": self.bits, "signed": self.signed, "scale": self.scale}

    @classmethod
    def from_dict(cls, d, what="format"):
        if not isinstance(d, dict) or set(d) != {"kind", "bits", "signed", "scale"}:
            raise ValueError(f"{what} must be a dict with kind, bits, signed, scale, not {d!r}")
        try:
            return cls(**d)
        except ValueError as e:
            raise ValueError(f"{what}: {e}") from None

    @classmethod
    def spec_input(cls, spec):
        return cls(spec.act_format, spec.act_bits, spec.act_signed, spec.act_scale)

    @classmethod
    def spec_output(cls, spec):
        return cls(spec.out_kind, spec.out_bits, spec.out_signed, spec.out_scale)


def check_codes(x, fmt, shape, what="pixels"):
    """``x`` as an int64 tensor of trailing shape ``shape`` within ``fmt``'s range."""
    t = torch.as_tensor(x)
    if t.dtype.is_floating_point or t.dtype == torch.bool or t.is_complex():
        raise TypeError(f"{what} must be integer codes, not {t.dtype}")
    t = t.to(torch.int64)
    if tuple(t.shape[1:]) != tuple(shape):
        raise ValueError(
            f"{what} must have shape (n, {', '.join(map(str, shape))}), not {tuple(t.shape)}"
        )
    lo, hi = fmt.range
    if t.numel() and (int(t.min()) < lo or int(t.max()) > hi):
        bad = t[(t < lo) | (t > hi)][0]
        raise ValueError(
            f"{what} must be in [{lo}, {hi}] ({fmt.kind} {fmt.bits}-bit), not {int(bad)}"
        )
    return t


# -- pooling -------------------------------------------------------------------------------


def _pool_key(x, fmt):
    """Integers ordered like the values of codes ``x``."""
    if fmt.kind == "log" and fmt.signed:
        cb = fmt.bits - 1
        mag = x & ((1 << cb) - 1)
        return torch.where((x >> cb) & 1 == 1, -mag, mag)
    return x


def _key_code(k, fmt):
    if fmt.kind == "log" and fmt.signed:
        return torch.where(k < 0, (-k) | (1 << (fmt.bits - 1)), k)
    return k


def max_pool_codes(x, kernel, fmt):
    """Max pooling of codes ``x`` ``(n, c, h, w)`` over ``kernel`` windows (stride = kernel).

    Floor mode (``torch.nn.MaxPool2d``'s default): the rows below ``h // kh * kh`` and the
    columns right of ``w // kw * kw`` are dropped. Returns the code of the largest value of
    each window, int64 ``(n, c, h // kh, w // kw)``.
    """
    x = torch.as_tensor(x, dtype=torch.int64)
    n, c, h, w = x.shape
    kh, kw = kernel
    if kh > h or kw > w:
        raise ValueError(f"the pool kernel {kh}x{kw} is larger than the image {h}x{w}")
    ho, wo = h // kh, w // kw
    x = x[:, :, : ho * kh, : wo * kw]
    k = _pool_key(x, fmt).reshape(n, c, ho, kh, wo, kw)
    return _key_code(k.amax(dim=(3, 5)), fmt)


def encode_input(net, images):
    """Input codes of float images in the network's input format (``(n, C, H, W)``, int64).

    Exactly the codes of the first engine layer's input quantizer
    (:func:`logdot.golden.quant.log_quant` / ``linear_quant``).
    """
    fmt = net.input_format
    x = torch.as_tensor(images)
    if fmt.kind == "log":
        return log_quant(x, fmt.bits, fmt.scale, signed=fmt.signed)
    return linear_quant(x, fmt.bits, fmt.scale, signed=fmt.signed)


# -- raw outputs ---------------------------------------------------------------------------


def max_abs_result(spec):
    """Largest ``|y|`` of each output channel of ``spec`` over every possible input (int64
    ``(out_channels,)``), from the weights themselves, so it does not depend on the folding:
    every weight's magnitude against the largest activation magnitude, through the engine
    (for linear weights ``sum |w| * max |a|``, an upper bound)."""
    k = spec.in_features
    if spec.weight_format == "linear":
        # Two's-complement weights times linear activations: sum |w| * max |a| (a bound
        # reached up to the choice of each activation's sign).
        wb = spec.weight_bits
        w = spec.weight_codes.reshape(spec.out_channels, k)
        w = torch.where(w >= 1 << (wb - 1), w - (1 << wb), w)
        amag = 1 << (spec.act_bits - 1) if spec.act_signed else (1 << spec.act_bits) - 1
        return w.abs().sum(1) * amag
    one = spec.engine_config(k, max_beats=1)
    w = spec.weight_codes.reshape(spec.out_channels, k) & ((1 << (spec.weight_bits - 1)) - 1)
    if spec.act_format == "log":
        amax = [(1 << (spec.act_bits - 1 if spec.act_signed else spec.act_bits)) - 1]
    elif spec.act_signed:
        amax = [(1 << (spec.act_bits - 1)) - 1, -(1 << (spec.act_bits - 1))]
    else:
        amax = [(1 << spec.act_bits) - 1]
    big = [engine_dot(one, torch.full(w.shape, a, dtype=torch.int64), w).abs() for a in amax]
    # Exact: the result is linear in the terms (base sqrt(2): even * 2**F + R * odd).
    return torch.stack(big).amax(0)


def raw_output_bits(spec, bias_int):
    """Width of a raw (linear, unrequantized) output of ``spec`` with integer bias ``bias_int``:
    the two's-complement width of every ``z = y + bias`` (after ReLU) any input can give."""
    big = max_abs_result(spec)
    lo = 0 if spec.relu else int((bias_int - big).min())
    hi = int((bias_int + big).max())
    return max(2, signed_width(min(lo, 0), max(hi, 0)))


# -- layers and networks ---------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class NetworkLayer:
    """One layer of a :class:`Network`.

    Parameters
    ----------
    type : {"conv2d", "linear", "maxpool", "flatten"}
    in_shape, out_shape : tuple of int
        ``(C, H, W)`` or ``(F,)`` per image.
    name : str
        The module's name in the source model (e.g. ``"conv1"`` or ``"0"``).
    source : str
        The source module's class name(s), e.g. ``"Conv2d+BatchNorm2d"``.
    spec : LayerSpec or None
        Engine layers only.
    kernel : (int, int) or None
        Pools only.
    """

    type: str
    in_shape: tuple
    out_shape: tuple
    name: str = ""
    source: str = ""
    spec: LayerSpec | None = None
    kernel: tuple | None = None

    @property
    def is_engine(self):
        return self.type in ENGINE_TYPES

    def window_geometry(self, *, lanes, tiles):
        """The :class:`~logdot.golden.window.WindowGeometry` of this convolution's window unit.

        Parameters
        ----------
        lanes : int
            Codes per window beat (the layer engine's lanes).
        tiles : int
            Output-channel tiles (each window is sent ``tiles`` times).
        """
        if self.type != "conv2d":
            raise ValueError(f"only a conv2d layer has a window unit, not {self.type!r}")
        cin, ih, iw = self.in_shape
        spec = self.spec
        return WindowGeometry(
            channels=cin,
            height=ih,
            width=iw,
            kernel=spec.kernel,
            stride=spec.stride,
            padding=spec.padding,
            lanes=lanes,
            tiles=tiles,
        )


def conv_out_shape(cin, cout, kernel, stride, padding, shape):
    """Output ``(C, H, W)`` of a convolution on a ``shape`` input (ValueError if impossible)."""
    if len(shape) != 3:
        raise ValueError(f"needs a (C, H, W) input, not {tuple(shape)}")
    c, h, w = shape
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    if c != cin:
        raise ValueError(f"in_channels {cin} != {c} input channels")
    if kh > h + 2 * ph or kw > w + 2 * pw:
        raise ValueError(
            f"kernel {kh}x{kw} is larger than the padded image {h + 2 * ph}x{w + 2 * pw}"
        )
    return (cout, (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1)


def linear_out_shape(fin, fout, shape):
    """Output ``(F,)`` of a fully connected layer on a ``shape`` input."""
    if len(shape) != 1:
        raise ValueError(f"needs a flat input (a Flatten before it), not {tuple(shape)}")
    if shape[0] != fin:
        raise ValueError(f"in_features {fin} != {shape[0]} (the flattened input)")
    return (fout,)


def pool_out_shape(kernel, shape):
    """Output ``(C, H, W)`` of a max pool with ``stride == kernel`` (floor mode: the rows and
    columns no window reaches are dropped)."""
    if len(shape) != 3:
        raise ValueError(f"needs a (C, H, W) input, not {tuple(shape)}")
    kh, kw = kernel
    if kh > shape[1] or kw > shape[2]:
        raise ValueError(f"kernel {kh}x{kw} is larger than the {shape[1]}x{shape[2]} image")
    return (shape[0], shape[1] // kh, shape[2] // kw)


def _layer_out(layer, shape):
    """Output shape of ``layer`` for input ``shape`` (ValueError when it cannot work)."""
    t, spec = layer.type, layer.spec
    if t == "flatten":
        return (math.prod(shape),)
    if t == "maxpool":
        return pool_out_shape(layer.kernel, shape)
    if t == "conv2d":
        cin = spec.weight_codes.shape[1]
        args = (cin, spec.out_channels, spec.kernel, spec.stride, spec.padding)
        return conv_out_shape(*args, shape)
    return linear_out_shape(spec.in_features, spec.out_channels, shape)


@dataclass(frozen=True, eq=False)
class Network:
    """A validated network: input shape and the chain of :class:`NetworkLayer`.

    Construction checks every shape (each layer's ``in_shape`` is the previous ``out_shape``
    and its ``out_shape`` follows from its parameters) and every format hand-over (each
    engine's input format is the previous engine's output format); errors name the layer's
    index and type.

    Attributes
    ----------
    input_shape : (C, H, W)
    layers : tuple of NetworkLayer
    """

    input_shape: tuple
    layers: tuple

    def __post_init__(self):
        shape = _shape(self.input_shape, "input_shape", (3,))
        object.__setattr__(self, "input_shape", shape)
        layers = tuple(self.layers)
        object.__setattr__(self, "layers", layers)
        if not any(isinstance(x, NetworkLayer) and x.is_engine for x in layers):
            raise ValueError("a network needs at least one conv2d or linear layer")
        fmt = None
        for i, layer in enumerate(layers):
            if not isinstance(layer, NetworkLayer):
                raise TypeError(f"layer {i} must be a NetworkLayer, not {layer!r}")
            where = f"layer {i} ({layer.type})"
            if layer.type not in LAYER_TYPES:
                raise ValueError(f"{where}: type must be one of {', '.join(LAYER_TYPES)}")
            if layer.is_engine != isinstance(layer.spec, LayerSpec):
                raise ValueError(f"{where}: an engine layer needs a spec, other layers none")
            if layer.is_engine and layer.spec.kind != layer.type:
                raise ValueError(f"{where}: its spec is of kind {layer.spec.kind!r}")
            if layer.type == "maxpool":
                _shape(layer.kernel, f"{where}: kernel", (2,))
            elif layer.kernel is not None:
                raise ValueError(f"{where}: only a maxpool layer has a kernel")
            if tuple(layer.in_shape) != shape:
                raise ValueError(f"{where}: in_shape {tuple(layer.in_shape)} != {shape}")
            try:
                shape = _layer_out(layer, shape)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            if tuple(layer.out_shape) != shape:
                raise ValueError(f"{where}: out_shape {tuple(layer.out_shape)} != {shape}")
            if layer.is_engine:
                fin = Format.spec_input(layer.spec)
                if fmt is not None and fin != fmt:
                    raise ValueError(
                        f"{where}: input format {fin} != the previous engine's output {fmt}"
                    )
                fmt = Format.spec_output(layer.spec)
        object.__setattr__(self, "_mapped", None)
        object.__setattr__(self, "_mapped", self.mapped())

    # -- derived -----------------------------------------------------------------------------

    @property
    def engines(self):
        """The engine (conv2d / linear) layers, in order."""
        return [x for x in self.layers if x.is_engine]

    @property
    def input_format(self):
        return Format.spec_input(self.engines[0].spec)

    @property
    def output_shape(self):
        return tuple(self.layers[-1].out_shape)

    @property
    def output_format(self):
        return Format.spec_output(self.engines[-1].spec)

    @property
    def output_scale_x2(self):
        """Twice the base-2 exponent of one output LSB (raw linear outputs), else ``None``."""
        spec = self.engines[-1].spec
        if spec.out_kind == "linear" and spec.out_scale is None:
            return self.mapped()[self.layers.index(self.engines[-1])].scale_x2
        return None

    def formats(self):
        """The :class:`Format` of every layer's input, in order."""
        out, fmt = [], self.input_format
        for layer in self.layers:
            out.append(fmt)
            if layer.is_engine:
                fmt = Format.spec_output(layer.spec)
        return out

    def mapped(self, fold=None, *, accumulate="exact", log_frac_bits=None):
        """Each layer mapped onto a layer engine (``None`` for pools and flattens).

        Parameters
        ----------
        fold : dict or None
            ``{key: (lanes, pes)}``, the key an index into :attr:`layers` (not the source
            model's module index: ReLU and batch norm have no layer of their own) or a layer's
            :attr:`NetworkLayer.name`; missing engine layers get one beat per dot product and
            one PE per output channel (capped at the engine limits). The outputs of
            :func:`network_forward` do not depend on the folding.
        accumulate : {"exact", "log"}
            ``"log"``: every engine accumulates in the log domain
            (:func:`~logdot.golden.mapping.map_layer`'s ``accumulate``, log activations only),
            with ``log_frac_bits`` fraction bits; a network of such layer engines (the
            network accelerator itself builds exact engines only). A raw linear output (the
            logits) is then as wide as the engine's sum, so it never saturates.
        log_frac_bits : int or None
            Fraction bits of the log-domain accumulators (default 8).
        """
        if not fold and accumulate == "exact" and self._mapped is not None:
            return list(self._mapped)
        log_kw = {} if accumulate == "exact" else dict(accumulate=accumulate)
        if log_kw and log_frac_bits is not None:
            log_kw["log_frac_bits"] = log_frac_bits
        fold = dict(fold or {})
        out = []
        for i, layer in enumerate(self.layers):
            if not layer.is_engine:
                out.append(None)
                continue
            spec = layer.spec
            lanes, pes = (
                fold.pop(i, None)
                or fold.pop(layer.name, None)
                or (
                    min(spec.in_features, 1024),
                    min(spec.out_channels, 256),
                )
            )
            where = f"layer {i} ({layer.type})"
            try:
                # A raw linear output of a log-domain engine (F more fraction bits than the
                # exact result the file sized it for) is as wide as its sum: never saturates.
                wide = bool(log_kw) and spec.out_kind == "linear" and spec.out_scale is None
                ob = 64 if wide else spec.out_bits
                ml = map_layer(spec, lanes=lanes, pes=pes, out_bits=ob, **log_kw)
            except ValueError as e:
                raise ValueError(f"{where}: {e}") from None
            if not wide and ml.config.requant.out_bits != spec.out_bits:
                raise ValueError(
                    f"{where}: out_bits {spec.out_bits} is wider than the engine's result "
                    f"({ml.config.requant.out_bits} bits)"
                )
            out.append(ml)
        if fold:
            raise ValueError(f"fold names no engine layer: {sorted(map(str, fold))}")
        return out

    # -- file ------------------------------------------------------------------------------

    def to_dict(self):
        from importlib.metadata import PackageNotFoundError, version

        try:
            ld = version("logdot")
        except PackageNotFoundError:  # pragma: no cover - source checkout without install
            ld = "unknown"
        mapped = self.mapped()
        layers = []
        for layer, ml in zip(self.layers, mapped, strict=True):
            d = {
                "type": layer.type,
                "name": layer.name,
                "source": layer.source,
                "in_shape": list(layer.in_shape),
                "out_shape": list(layer.out_shape),
            }
            if layer.is_engine:
                d["spec"] = layer.spec.to_dict()
                d["scale_x2"] = ml.scale_x2
                d["bias_int"] = ml.bias_int.clone()
            if layer.type == "maxpool":
                d["kernel"] = list(layer.kernel)
            layers.append(d)
        return {
            "schema": network_schema(self.layers),
            "input_shape": list(self.input_shape),
            "input_format": self.input_format.to_dict(),
            "output_shape": list(self.output_shape),
            "output_format": self.output_format.to_dict(),
            "output_scale_x2": self.output_scale_x2,
            "layers": layers,
            "producer": {"logdot": ld, "torch": str(torch.__version__)},
        }


# -- the forward pass -----------------------------------------------------------------------


def network_forward(
    net, pixels, *, fold=None, batch_size=256, accumulate="exact", log_frac_bits=None
):
    """The network's exact integer outputs for input codes ``pixels``.

    Parameters
    ----------
    net : Network
    pixels : integer tensor ``(C, H, W)`` or ``(n, C, H, W)``
        Codes in :attr:`Network.input_format` (log codes, or linear integers).
    fold : dict or None
        Folding of the engine layers (:meth:`Network.mapped`); the result does not depend
        on it.
    batch_size : int
        Images computed at a time (memory only).
    accumulate, log_frac_bits
        ``accumulate="log"``: log-domain accumulating layer engines (:meth:`Network.mapped`).

    Returns
    -------
    torch.Tensor
        int64 ``(*output_shape)`` or ``(n, *output_shape)``: the last layer's output codes
        (log) or integers (linear, signed values).
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, not {type(net).__name__}")
    x = torch.as_tensor(pixels)
    shape = net.input_shape
    single = tuple(x.shape) == shape
    if not single and tuple(x.shape[1:]) != shape:
        dims = ", ".join(map(str, shape))
        raise ValueError(f"pixels must have shape (n, {dims}) or ({dims}), not {tuple(x.shape)}")
    if single:
        x = x.unsqueeze(0)
    x = check_codes(x, net.input_format, net.input_shape)
    mapped = net.mapped(fold, accumulate=accumulate, log_frac_bits=log_frac_bits)
    formats = net.formats()
    outs = []
    for s in range(0, max(len(x), 1), batch_size):
        y = x[s : s + batch_size]
        for layer, ml, fmt in zip(net.layers, mapped, formats, strict=True):
            n = len(y)
            if layer.type == "maxpool":
                y = max_pool_codes(y, layer.kernel, fmt)
            elif layer.type == "flatten":
                y = y.reshape(n, -1)
            elif n:
                y = ml.forward(y)
            else:
                y = torch.zeros((0, *layer.out_shape), dtype=torch.int64)
        outs.append(y)
    y = torch.cat(outs)
    return y[0] if single else y
