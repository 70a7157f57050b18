"""The network top: a whole CNN as one streaming dataflow design, pixels in, outputs out.

Built from a golden :class:`logdot.golden.network.Network` and a folding (lanes x PEs) per
engine layer. The golden model of the top is :func:`logdot.golden.network_stream.stream_forward`
(bit for bit the stream contract of its ports).

Dataflow (every stage runs concurrently; ``[...]`` per layer, in network order)::

    s_axis (one pixel) --> [conv2d: SlidingWindow -> LogLayerEngine -> PixelGearbox -> FIFO]
                           [maxpool: MaxPool -> FIFO]
                           [linear: FlattenFeeder -> LogLayerEngine -> PixelGearbox -> FIFO]
                       --> OutputAssembler --> m_axis (one word per image)

* the stream adapters of :mod:`logdot.hdl.gearbox`: a layer engine gives one beat per
  output-channel tile, the next stage takes whole pixels (``PixelGearbox``: ``tiles`` beats
  to one pixel, ``last`` on an image's last pixel); a linear layer's input is the whole
  feature map in ``C, H, W`` order (``FlattenFeeder``: an image of pixels to ``beats`` beats
  of ``lanes`` codes, ``tiles`` times, the order of
  :meth:`logdot.golden.mapping.MappedLayer.stream`); ``OutputAssembler``: the last layer's
  outputs of one image (``C, H, W`` order) to one word, sign-extended to whole bytes.
* FIFOs (:class:`logdot.hdl.fifo.StreamFIFO`) after every gearbox and pool: the window and
  pool units' ``s.ready`` depend combinationally on their ``o.ready``; a FIFO's is a register.

Frames: the first stage (a window unit, a pool or a flatten feeder) completes short frames
with zeros and truncates long ones (:func:`logdot.hdl.window.frame_control`), so every frame
gives exactly one output word; its sticky ``frame_error`` is the top's. Reset (synchronous)
clears every stage and FIFO; the weight memories keep their contents.

Throughput: :func:`network_plan` gives each stage's cycles per image in steady state; the
top's is their maximum (the slowest stage bounds it): usually a window unit, limited by its
padded image (one position per cycle) or by its output beats (``tiles * beats`` per window),
see :func:`logdot.hdl.window.window_period`. FIFO depths (:func:`derive_fifo_depths`): each
FIFO's peak occupancy when images enter at that rate, from the cycle-exact timing model of
:mod:`logdot.hdl.network_timing` (at least :data:`MIN_FIFO_DEPTH`), so no stage is slowed
below the slowest one; measured in simulation, the tops run at exactly the model's cycles
per image and the FIFOs' peaks equal the model's.

Latency: :attr:`NetworkTop.latency` is exact (first pixel in to output word out of an
idle top, :func:`logdot.hdl.network_timing.network_timing`, derived stage by stage from
each unit's latency); :attr:`NetworkTop.latency_bound` the older upper bound (the sum of
every stage's one-image cycles).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int, read_only
from ..golden.network import Network
from .fifo import MAX_DEPTH as MAX_FIFO_DEPTH
from .fifo import StreamFIFO, fifo_buffered
from .gearbox import FlattenFeeder, OutputAssembler, PixelGearbox
from .layer import LogLayerEngine, layer_latency
from .pool import MaxPool, pool_cycles
from .top import PORTS, axis_drive, axis_members, axis_take
from .window import SlidingWindow, pixel_layout, window_cycles, window_period

__all__ = [
    "FIFO_MODEL",
    "MIN_FIFO_DEPTH",
    "NETWORK_PORTS",
    "NetworkTop",
    "Stage",
    "derive_fifo_depths",
    "fifo_buffered",
    "network_plan",
]

#: Ports of the network top, in contract order.
NETWORK_PORTS = (*PORTS, "frame_error")


def _bytes(bits):
    return -(-bits // 8) * 8


# -- the plan ---------------------------------------------------------------------------------


@dataclass
class Stage:
    """One hardware stage of a network top (:func:`network_plan`).

    Attributes
    ----------
    kind : {"window", "engine", "gearbox", "pool", "feeder", "fifo", "output"}
    layer : int or None
        Index of the network layer it belongs to (``None`` for the output assembler).
    cycles_per_image : int
        Steady-state cycles per image of the stage alone (input always valid, output
        always ready).
    cycles_one : int
        Cycles of one image through the stage alone (first input to last output).
    params : dict
        The parameters it is built with (JSON-serializable).
    """

    kind: str
    layer: int | None
    cycles_per_image: int
    cycles_one: int
    params: dict = field(default_factory=dict)


#: The smallest FIFO depth the plan gives where items may come back to back: the unbuffered
#: FIFO's smallest full-rate depth (:class:`~logdot.hdl.fifo.StreamFIFO`); a deeper one only
#: where the timing model's peak occupancy needs it, depth 1 where a FIFO's items never
#: meet (:func:`derive_fifo_depths`).
MIN_FIFO_DEPTH = 2
#: Images the depth derivation follows beyond the pipeline's depth in images.
_SETTLE_IMAGES = 2
#: How :func:`derive_fifo_depths` sizes the FIFOs, in one sentence (the manifest's
#: ``fifo_model``).
FIFO_MODEL = (
    "each FIFO's peak occupancy when images enter once per cycles_per_image, at least "
    f"{MIN_FIFO_DEPTH}; 1 for a FIFO after the slowest stage that never receives an item "
    "while it holds one: no stage is slowed below the slowest"
)


def derive_fifo_depths(stages, mapped):
    """The depth of every FIFO of ``stages`` (stream order): its peak occupancy when images
    enter one per ``cycles_per_image`` (the slowest stage's rate) and no FIFO blocks, at
    least :data:`MIN_FIFO_DEPTH`.

    From :func:`logdot.hdl.network_timing.network_timing` (every FIFO with the block-RAM
    FIFO's latency, the longer one, so the occupancy is not underestimated), over as many
    images as the pipeline can hold plus :data:`_SETTLE_IMAGES`. With these depths no FIFO
    blocks at that rate, so no stage is slowed below it and the top keeps the slowest
    stage's cycles per image; with the input always valid a FIFO before a slower stage
    fills up and back-pressures its producer, which then runs at the slower stage's rate.
    A chain of ready/valid stages cannot deadlock whatever the depths (every stage's output
    is eventually taken).

    Depth 1 (one register instead of two and a read multiplexer: the last FIFO of a network
    holds an output word of hundreds of bits) for a FIFO after the slowest stage (its items
    come at that stage's pace whether the input is throttled or not) that never receives an
    item while it holds one (:attr:`~logdot.hdl.network_timing.NetworkTiming.fifo_busy` at
    most 1), so it never refuses one either.
    """
    from .network_timing import network_timing

    probe = [
        Stage(s.kind, s.layer, s.cycles_per_image, s.cycles_one, dict(s.params)) for s in stages
    ]
    for s in probe:
        if s.kind == "fifo":
            s.params["depth"] = MAX_FIFO_DEPTH
    cpi = max(s.cycles_per_image for s in stages)
    images = -(-sum(s.cycles_one for s in stages) // cpi) + _SETTLE_IMAGES
    t = network_timing(probe, mapped, images, period=cpi)
    slowest = max(i for i, s in enumerate(stages) if s.cycles_per_image == cpi)
    after = [i > slowest for i, s in enumerate(stages) if s.kind == "fifo"]
    return [
        1 if late and busy <= 1 else max(MIN_FIFO_DEPTH, p)
        for late, p, busy in zip(after, t.fifo_peaks, t.fifo_busy, strict=True)
    ]


def network_plan(net, fold=None):
    """The stages of the network top for ``net`` with folding ``fold``, and their cycle model.

    Parameters
    ----------
    net : Network
    fold : dict or None
        As :meth:`logdot.golden.network.Network.mapped`.

    Returns
    -------
    (list of Stage, list of MappedLayer or None)
    """
    if not isinstance(net, Network):
        raise TypeError(f"net must be a Network, not {type(net).__name__}")
    mapped = net.mapped(fold)
    formats = net.formats()
    stages = []
    _, h, w = net.input_shape
    pixels_in_rows = (h, w)  # (rows, pixels per row) of the current pixel stream
    for i, (layer, ml, fmt) in enumerate(zip(net.layers, mapped, formats, strict=True)):
        if layer.type == "flatten":
            continue
        if layer.type == "maxpool":
            kh, kw = layer.kernel
            kernel = kh if kh == kw else [kh, kw]
            _, ph, pw = layer.in_shape
            stages.append(
                Stage(
                    "pool",
                    i,
                    ph * pw,
                    pool_cycles(ph, pw, kernel),
                    {
                        "channels": layer.in_shape[0],
                        "height": ph,
                        "width": pw,
                        "kernel": kernel,
                        "bits": fmt.bits,
                        "act_format": fmt.kind,
                        "signed": fmt.signed,
                    },
                )
            )
            oc, oh, ow = layer.out_shape
            stages.append(_fifo(i, oc * fmt.bits, oh * ow))
            pixels_in_rows = (oh, ow)
            continue
        cfg = ml.config
        spec = layer.spec
        if layer.type == "conv2d":
            g = layer.window_geometry(lanes=cfg.lanes, tiles=ml.tiles)
            stages.append(
                Stage(
                    "window",
                    i,
                    window_period(g),
                    window_cycles(g),
                    {
                        "channels": g.channels,
                        "height": g.height,
                        "width": g.width,
                        "kernel": list(g.kernel),
                        "stride": list(g.stride),
                        "padding": list(g.padding),
                        "lanes": cfg.lanes,
                        "tiles": ml.tiles,
                        "bits": fmt.bits,
                    },
                )
            )
            positions = g.out_height * g.out_width
            row = g.out_width
        else:
            rows, per_row = pixels_in_rows
            n = rows * per_row
            cin = spec.in_features // n
            tb = ml.tiles * ml.beats
            stages.append(
                Stage(
                    "feeder",
                    i,
                    max(cin * n, tb),
                    cin * n + 1 + tb,
                    {
                        "channels": cin,
                        "pixels": n,
                        "bits": fmt.bits,
                        "lanes": cfg.lanes,
                        "beats": ml.beats,
                        "tiles": ml.tiles,
                    },
                )
            )
            positions = 1
            row = 1
        beats = positions * ml.tiles * ml.beats
        stages.append(Stage("engine", i, beats, beats + layer_latency(cfg), {}))
        cout = spec.out_channels
        ob = cfg.requant.out_bits
        stages.append(
            Stage(
                "gearbox",
                i,
                positions * ml.tiles,
                positions * ml.tiles + 1,
                {
                    "channels": cout,
                    "pes": cfg.pes,
                    "tiles": ml.tiles,
                    "bits": ob,
                    "pixels": positions,
                },
            )
        )
        stages.append(_fifo(i, cout * ob, positions))
        pixels_in_rows = (positions // row, row)
    rows, per_row = pixels_in_rows
    n = rows * per_row
    ofmt = net.output_format
    outs = 1
    for d in net.output_shape:
        outs *= d
    stages.append(
        Stage(
            "output",
            None,
            n,
            n + 1,
            {
                "channels": outs // n,
                "pixels": n,
                "bits": ofmt.bits,
                "signed": ofmt.kind == "linear" and ofmt.signed,
                "width": _bytes(outs * ofmt.bits),
            },
        )
    )
    fifos = [s for s in stages if s.kind == "fifo"]
    for s, depth in zip(fifos, derive_fifo_depths(stages, mapped), strict=True):
        s.params["depth"] = depth
    return stages, mapped


def _fifo(layer, bits, per_image):
    # The depth is derived once the plan is complete (derive_fifo_depths).
    return Stage("fifo", layer, per_image, per_image + 2, {"bits": bits, "depth": None})


# -- the top ----------------------------------------------------------------------------------


class NetworkTop(wiring.Component):
    """A whole network as one streaming design with AXI4-Stream ports.

    Ports (:data:`NETWORK_PORTS`; ``clk``/``rst`` from the ``sync`` domain, reset
    synchronous, active high): ``s_axis_*`` one beat per pixel (the first layer's input
    codes, channel ``c`` at ``[c*A +: A]``, bits above ignored), raster order, ``tlast`` on
    the last pixel; ``m_axis_*`` one word per image (value ``k`` at ``[k*O +: O]``,
    sign-extended to whole bytes), ``tlast = 1``; ``frame_error`` sticky. Exactly
    :func:`logdot.golden.network_stream.stream_forward`.

    Parameters
    ----------
    net : Network
    fold : dict or None
        ``{layer index or name: (lanes, pes)}`` (:meth:`Network.mapped`).
    fifo_depths : sequence of int or None
        Override the FIFO depths of :func:`network_plan` (in order).
    """

    def __init__(self, net, *, fold=None, fifo_depths=None):
        self._MustUse__silence = True  # no "never used" warning when the arguments fail
        self._net = net
        self._stages, self._mapped = network_plan(net, fold)
        fifos = [s for s in self._stages if s.kind == "fifo"]
        if fifo_depths is not None:
            fifo_depths = list(fifo_depths)
            if len(fifo_depths) != len(fifos):
                raise ValueError(f"fifo_depths needs {len(fifos)} depths, not {len(fifo_depths)}")
            for s, d in zip(fifos, fifo_depths, strict=True):
                s.params["depth"] = check_int(d, "fifo depth", 3)
        del self._MustUse__silence
        self._fifos = []
        c = net.input_shape[0]
        self._in_bits = c * net.input_format.bits
        out = self._stages[-1].params
        super().__init__(
            {
                **axis_members("s_axis", In, _bytes(self._in_bits)),
                **axis_members("m_axis", Out, out["width"]),
                "frame_error": Out(1),
            }
        )

    net = read_only("net", "The :class:`~logdot.golden.network.Network` this top computes.")

    @property
    def stages(self):
        """The :class:`Stage` list of :func:`network_plan`."""
        return list(self._stages)

    @property
    def mapped(self):
        """The :class:`~logdot.golden.mapping.MappedLayer` of every layer (``None`` for the
        others)."""
        return list(self._mapped)

    @property
    def cycles_per_image(self):
        """Steady-state cycles per image: the slowest stage's."""
        return max(s.cycles_per_image for s in self._stages)

    @property
    def latency(self):
        """Cycles from the first pixel's transfer on ``s_axis`` to the output word's
        transfer on ``m_axis``, for one image into an idle top (input always valid, output
        always ready): exact, :func:`logdot.hdl.network_timing.network_timing`."""
        return self.timing().latency

    def timing(self, images=1, *, period=None):
        """:func:`logdot.hdl.network_timing.network_timing` of this top's stages."""
        from .network_timing import network_timing

        return network_timing(self._stages, self._mapped, images, period=period)

    @property
    def latency_bound(self):
        """An upper bound of the cycles from an image's first pixel to its output word into
        an idle top: the sum of every stage's one-image cycles (stages overlap, so the real
        latency is lower)."""
        return sum(s.cycles_one for s in self._stages)

    @property
    def fifos(self):
        """The :class:`~logdot.hdl.fifo.StreamFIFO` units of the latest elaboration, in
        stream order (their ``level`` / ``max_level`` are probes for simulation); empty
        before the top is elaborated."""
        return list(self._fifos)

    def elaborate(self, platform):
        m = Module()
        self._fifos = []
        src = None  # the current stream source (an Out stream interface)
        first = None
        for n, st in enumerate(self._stages):
            p = st.params
            ml = self._mapped[st.layer] if st.layer is not None else None
            if st.kind == "window":
                unit = SlidingWindow(**p)
            elif st.kind == "pool":
                unit = MaxPool(**p)
            elif st.kind == "feeder":
                unit = FlattenFeeder(**p)
            elif st.kind == "engine":
                unit = LogLayerEngine(layer=ml.layer)
            elif st.kind == "gearbox":
                unit = PixelGearbox(**p)
            elif st.kind == "fifo":
                shape = pixel_layout(p["bits"])
                unit = StreamFIFO(shape=shape, depth=p["depth"], buffered=fifo_buffered(p["depth"]))
                self._fifos.append(unit)
            else:
                unit = OutputAssembler(**p)
            m.submodules[f"s{n}_{st.kind}" + ("" if st.layer is None else f"{st.layer}")] = unit
            sink = unit.i if st.kind in ("engine", "gearbox", "fifo") else unit.s
            if src is None:
                first = unit
                m.d.comb += axis_take(self, "s_axis", sink, self._in_bits)
            else:
                wiring.connect(m, src, sink)
            src = unit.o
        m.d.comb += axis_drive(self, "m_axis", src, data=src.payload, last=1)
        m.d.comb += self.frame_error.eq(first.frame_error)
        return m
