"""The network top: a whole CNN as one streaming dataflow design, pixels in, outputs out.

Built from a golden :class:`logdot.golden.network.Network` and a folding (lanes x PEs) per
engine layer. The golden model of the top is :func:`logdot.golden.network_stream.stream_forward`
(bit for bit the stream contract of its ports).

Dataflow (every stage runs concurrently; ``[...]`` per layer, in network order)::

    s_axis (one pixel) --> [conv2d: SlidingWindow -> LogLayerEngine -> PixelGearbox -> FIFO]
                           [maxpool: MaxPool -> FIFO]
                           [linear: FlattenFeeder -> LogLayerEngine -> PixelGearbox -> FIFO]
                       --> OutputAssembler --> m_axis (one word per image)

* :class:`PixelGearbox`: a layer engine gives one beat per output-channel tile (``pes``
  channels); the next stage takes whole pixels (all channels in one beat): ``tiles`` beats
  become one pixel, and the gearbox adds ``last`` on the image's last pixel.
* :class:`FlattenFeeder`: the input of a linear layer is the whole feature map (``C, H, W``
  order, as ``torch.flatten``): it collects an image of pixels and sends the vector as
  ``beats`` beats of ``lanes`` codes, ``tiles`` times (the order of
  :meth:`logdot.golden.mapping.MappedLayer.stream`).
* :class:`OutputAssembler`: collects the last layer's outputs of one image (``C, H, W``
  order) into one output word, sign-extended to whole bytes.
* FIFOs (:class:`logdot.hdl.fifo.StreamFIFO`) after every gearbox and pool: the window and
  pool units' ``s.ready`` depend combinationally on their ``o.ready``; a FIFO's is a register.

Frames: the first stage (a window unit, a pool or a flatten feeder) completes short frames
with zeros and truncates long ones (:func:`logdot.hdl.window.frame_control`), so every frame
gives exactly one output word; its sticky ``frame_error`` is the top's. Reset (synchronous)
clears every stage and FIFO; the weight memories keep their contents.

Throughput: :func:`network_plan` gives each stage's cycles per image in steady state; the
top's is their maximum (the slowest stage bounds it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from amaranth.hdl import Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int
from ..golden.network import Network
from ..golden.window import WindowGeometry
from .fifo import StreamFIFO
from .layer import LogLayerEngine, layer_latency
from .pool import MaxPool, pool_cycles
from .window import SlidingWindow, frame_control, pixel_layout, window_cycles, window_period

__all__ = [
    "NETWORK_PORTS",
    "FlattenFeeder",
    "NetworkTop",
    "OutputAssembler",
    "PixelGearbox",
    "Stage",
    "network_plan",
]

#: Ports of the network top, in contract order.
NETWORK_PORTS = (
    "clk",
    "rst",
    "s_axis_tvalid",
    "s_axis_tready",
    "s_axis_tlast",
    "s_axis_tdata",
    "m_axis_tvalid",
    "m_axis_tready",
    "m_axis_tlast",
    "m_axis_tdata",
    "frame_error",
)


def _bytes(bits):
    return -(-bits // 8) * 8


def _pixel_counter(m, name, count, advance):
    """A counter of ``advance`` pulses modulo ``count``; returns ``(value, at_last)``."""
    cnt = Signal(range(max(count, 2)), name=name)
    at_last = Signal(name=f"{name}_at_last")
    m.d.comb += at_last.eq(cnt == count - 1)
    if count > 1:
        with m.If(advance):
            m.d.sync += cnt.eq(Mux(at_last, 0, cnt + 1))
    return cnt, at_last


def _collect(m, pixel, advance, channels, pixels, bits):
    """Shift registers collecting ``pixels`` pixels of ``channels`` codes in ``C, H, W`` order.

    Returns the vector including the pixel taken this cycle (valid in the cycle of the
    last pixel's ``advance``): code ``c * pixels + i`` (pixel ``i``, channel ``c``) at
    ``[(c * pixels + i) * bits +: bits]``.
    """
    nxt = []
    for c in range(channels):
        code = pixel[c * bits : (c + 1) * bits]
        if pixels == 1:
            nxt.append(code)
            continue
        reg = Signal((pixels - 1) * bits, name=f"collect{c}", reset_less=True)
        shifted = Cat(reg[bits:], code) if pixels > 2 else code
        with m.If(advance):
            m.d.sync += reg.eq(shifted)
        nxt.append(Cat(reg, code))
    return Cat(*nxt)


class PixelGearbox(wiring.Component):
    """Layer-engine output beats (one per output-channel tile) to whole pixels.

    Input ``i``: the engine's output beats, ``pes`` fields of ``bits`` bits (PE ``p`` at
    ``[p * bits +: bits]``), ``tiles`` beats per output position (tile ``t`` carries channels
    ``t * pes .. t * pes + pes - 1``). Output ``o``: one beat per position, channel ``c`` at
    ``[c * bits +: bits]`` (the channels beyond ``channels`` of the last tile dropped),
    ``last`` on the ``pixels``-th pixel of each image.

    Latency 1 cycle (output register); one input beat per cycle; ``i.ready`` depends
    combinationally on ``o.ready`` on the last beat of a pixel.
    """

    def __init__(self, *, channels, pes, tiles, bits, pixels):
        self.channels = check_int(channels, "channels", 1)
        self.pes = check_int(pes, "pes", 1)
        self.tiles = check_int(tiles, "tiles", 1)
        if self.pes * self.tiles < channels:
            raise ValueError(f"{tiles} tiles of {pes} PEs cannot carry {channels} channels")
        self.bits = check_int(bits, "bits", 1)
        self.pixels = check_int(pixels, "pixels", 1)
        super().__init__(
            {
                "i": In(stream.Signature(pes * bits)),
                "o": Out(stream.Signature(pixel_layout(channels * bits))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        beat_bits = self.pes * self.bits
        out_full = Signal(name="out_full")
        out_data = Signal(self.channels * self.bits, name="out_data", reset_less=True)
        out_last = Signal(name="out_last", reset_less=True)
        take = Signal(name="take")
        _, last_tile = _pixel_counter(m, "tile", self.tiles, take)
        done = Signal(name="pixel_done")
        m.d.comb += [
            self.i.ready.eq(~last_tile | ~out_full | self.o.ready),
            take.eq(self.i.valid & self.i.ready),
            done.eq(take & last_tile),
            self.o.valid.eq(out_full),
            self.o.payload.data.eq(out_data),
            self.o.payload.last.eq(out_last),
        ]
        _, last_pixel = _pixel_counter(m, "pixel", self.pixels, done)
        if self.tiles > 1:
            acc = Signal((self.tiles - 1) * beat_bits, name="tiles_acc", reset_less=True)
            with m.If(take & ~last_tile):
                shifted = Cat(acc[beat_bits:], self.i.payload) if self.tiles > 2 else self.i.payload
                m.d.sync += acc.eq(shifted)
            pixel = Cat(acc, self.i.payload)
        else:
            pixel = self.i.payload
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_full.eq(0)
        with m.If(done):
            m.d.sync += [
                out_full.eq(1),
                out_data.eq(pixel[: self.channels * self.bits]),
                out_last.eq(last_pixel),
            ]
        return m


class FlattenFeeder(wiring.Component):
    """An image of pixels to a linear layer engine's input beats (flatten + replay).

    Input ``s``: ``pixels`` pixels of ``channels`` codes (the pixel stream of
    :class:`logdot.hdl.window.SlidingWindow`). Output ``o``: the vector of the image in
    ``C, H, W`` order (code ``c * pixels + i``), zero-padded to ``beats * lanes`` codes, as
    ``beats`` beats of ``lanes`` codes with ``last`` on the last, sent ``tiles`` times: the
    input of :class:`logdot.hdl.layer.LogLayerEngine` for a linear layer.

    Frames as the window unit (an early ``last`` is completed with zeros, a long frame
    truncated, both set the sticky ``frame_error``), so it can be a network's first stage.

    Throughput: ``max(pixels, tiles * beats)`` cycles per image in steady state (one pixel
    in or one beat out per cycle; the image's last pixel waits for the previous vector's
    last beat). Latency: 1 cycle from the last pixel to the first beat. Resources: two
    vectors of flip-flops (the shift registers collecting one image, the hold register
    sending the previous one).
    """

    def __init__(self, *, channels, pixels, bits, lanes, beats, tiles):
        self.channels = check_int(channels, "channels", 1)
        self.pixels = check_int(pixels, "pixels", 1)
        self.bits = check_int(bits, "bits", 1)
        self.lanes = check_int(lanes, "lanes", 1)
        self.beats = check_int(beats, "beats", 1)
        self.tiles = check_int(tiles, "tiles", 1)
        if lanes * beats < channels * pixels:
            raise ValueError(f"{beats} beats of {lanes} lanes cannot carry {channels * pixels}")
        super().__init__(
            {
                "s": In(stream.Signature(pixel_layout(channels * bits))),
                "o": Out(stream.Signature(pixel_layout(lanes * bits))),
                "frame_error": Out(1),
            }
        )

    @property
    def cycles_per_image(self):
        return max(self.pixels, self.tiles * self.beats)

    def elaborate(self, platform):
        m = Module()
        bb = self.lanes * self.bits
        hold = Signal(self.beats * bb, name="hold", reset_less=True)
        hold_full = Signal(name="hold_full")
        step = Signal(name="step")
        out_take = Signal(name="out_take")
        m.d.comb += out_take.eq(self.o.valid & self.o.ready)
        _, last_beat = _pixel_counter(m, "beat", self.beats, out_take)
        _, last_tile = _pixel_counter(m, "tile", self.tiles, out_take & last_beat)
        done = Signal(name="vector_done")
        m.d.comb += done.eq(out_take & last_beat & last_tile)
        pix_at_last = Signal(name="pix_at_last")
        fill, drop = frame_control(m, self.s, pix_at_last, self.frame_error)
        _, at_last = _pixel_counter(m, "pixel", self.pixels, step)
        m.d.comb += pix_at_last.eq(at_last)
        can_step = Signal(name="can_step")
        m.d.comb += [
            can_step.eq(~at_last | ~hold_full | done),
            step.eq(can_step & (fill | (self.s.valid & ~drop))),
            self.s.ready.eq(drop | (can_step & ~fill)),
            self.o.valid.eq(hold_full),
            self.o.payload.data.eq(hold[:bb]),
            self.o.payload.last.eq(last_beat),
        ]
        pixel = Signal(self.channels * self.bits, name="pixel")
        m.d.comb += pixel.eq(Mux(fill, 0, self.s.payload.data))
        vec = _collect(m, pixel, step, self.channels, self.pixels, self.bits)
        with m.If(out_take):
            m.d.sync += hold.eq(hold.rotate_right(bb))
        with m.If(done):
            m.d.sync += hold_full.eq(0)
        with m.If(step & at_last):
            m.d.sync += [hold.eq(vec), hold_full.eq(1), fill.eq(0)]
        return m


class OutputAssembler(wiring.Component):
    """An image of the last layer's pixels to one output word.

    Input ``s``: ``pixels`` pixels of ``channels`` values of ``bits`` bits. Output ``o``: one
    word of ``width`` bits per image, value ``c * pixels + i`` (``C, H, W`` order) at
    ``[k * bits +: bits]``, the bits above the last value its sign extension when ``signed``
    (else zeros). ``pixels`` cycles per image; latency 1 cycle; ``s.ready`` depends
    combinationally on ``o.ready`` on an image's last pixel.
    """

    def __init__(self, *, channels, pixels, bits, signed, width):
        self.channels = check_int(channels, "channels", 1)
        self.pixels = check_int(pixels, "pixels", 1)
        self.bits = check_int(bits, "bits", 1)
        self.signed = bool(signed)
        self.width = check_int(width, "width", channels * pixels * bits)
        super().__init__(
            {
                "s": In(stream.Signature(pixel_layout(channels * bits))),
                "o": Out(stream.Signature(width)),
            }
        )

    def elaborate(self, platform):
        m = Module()
        used = self.channels * self.pixels * self.bits
        out_full = Signal(name="out_full")
        word = Signal(self.width, name="word", reset_less=True)
        take = Signal(name="take")
        at_last = Signal(name="at_last")
        m.d.comb += [
            self.s.ready.eq(~at_last | ~out_full | self.o.ready),
            take.eq(self.s.valid & self.s.ready),
            self.o.valid.eq(out_full),
            self.o.payload.eq(word),
        ]
        _, last = _pixel_counter(m, "pixel", self.pixels, take)
        m.d.comb += at_last.eq(last)
        vec = _collect(m, self.s.payload.data, take, self.channels, self.pixels, self.bits)
        pad = self.width - used
        if pad:
            ext = vec[used - 1].replicate(pad) if self.signed else Const(0, pad)
            vec = Cat(vec, ext)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_full.eq(0)
        with m.If(take & at_last):
            m.d.sync += [word.eq(vec), out_full.eq(1)]
        return m


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


def _fifo_depth(pixels_per_row):
    """Depth of the FIFO after a stage producing rows of ``pixels_per_row`` pixels: two rows
    (the consumer's stalls at a row end are absorbed), at least 4."""
    return max(4, 2 * pixels_per_row + 2)


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
        where = f"layer {i} ({layer.type})"
        if layer.type == "flatten":
            continue
        if layer.type == "maxpool":
            kh, kw = layer.kernel
            if kh != kw:
                raise ValueError(f"{where}: the pool unit needs a square kernel, not {kh}x{kw}")
            _, ph, pw = layer.in_shape
            stages.append(
                Stage(
                    "pool",
                    i,
                    ph * pw,
                    pool_cycles(ph, pw, kh),
                    {
                        "channels": layer.in_shape[0],
                        "height": ph,
                        "width": pw,
                        "kernel": kh,
                        "bits": fmt.bits,
                        "act_format": fmt.kind,
                        "signed": fmt.signed,
                    },
                )
            )
            oc, oh, ow = layer.out_shape
            stages.append(_fifo(i, oc * fmt.bits, oh * ow, ow))
            pixels_in_rows = (oh, ow)
            continue
        cfg = ml.config
        spec = layer.spec
        if layer.type == "conv2d":
            cin, ih, iw = layer.in_shape
            g = WindowGeometry(
                channels=cin,
                height=ih,
                width=iw,
                kernel=spec.kernel,
                stride=spec.stride,
                padding=spec.padding,
                lanes=cfg.lanes,
                tiles=ml.tiles,
            )
            stages.append(
                Stage(
                    "window",
                    i,
                    window_period(g),
                    window_cycles(g),
                    {
                        "channels": cin,
                        "height": ih,
                        "width": iw,
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
                    max(n, tb),
                    n + 1 + tb,
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
        stages.append(_fifo(i, cout * ob, positions, row))
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
    return stages, mapped


def _fifo(layer, bits, per_image, per_row):
    depth = _fifo_depth(per_row)
    return Stage("fifo", layer, per_image, per_image + 2, {"bits": bits, "depth": depth})


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
        c = net.input_shape[0]
        self._in_bits = c * net.input_format.bits
        out = self._stages[-1].params
        super().__init__(
            {
                "s_axis_tvalid": In(1),
                "s_axis_tready": Out(1),
                "s_axis_tlast": In(1),
                "s_axis_tdata": In(_bytes(self._in_bits)),
                "m_axis_tvalid": Out(1),
                "m_axis_tready": In(1),
                "m_axis_tlast": Out(1),
                "m_axis_tdata": Out(out["width"]),
                "frame_error": Out(1),
            }
        )

    @property
    def net(self):
        return self._net

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
    def latency_bound(self):
        """An upper bound of the cycles from an image's first pixel to its output word into
        an idle top: the sum of every stage's one-image cycles (stages overlap, so the real
        latency is lower)."""
        return sum(s.cycles_one for s in self._stages)

    def elaborate(self, platform):
        m = Module()
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
                unit = StreamFIFO(shape=shape, depth=p["depth"], buffered=p["depth"] > 8)
            else:
                unit = OutputAssembler(**p)
            m.submodules[f"s{n}_{st.kind}" + ("" if st.layer is None else f"{st.layer}")] = unit
            sink = unit.i if st.kind in ("engine", "gearbox", "fifo") else unit.s
            if src is None:
                first = unit
                m.d.comb += [
                    sink.valid.eq(self.s_axis_tvalid),
                    self.s_axis_tready.eq(sink.ready),
                    sink.payload.data.eq(self.s_axis_tdata[: self._in_bits]),
                    sink.payload.last.eq(self.s_axis_tlast),
                ]
            else:
                wiring.connect(m, src, sink)
            src = unit.o
        m.d.comb += [
            self.m_axis_tvalid.eq(src.valid),
            src.ready.eq(self.m_axis_tready),
            self.m_axis_tdata.eq(src.payload),
            self.m_axis_tlast.eq(1),
            self.frame_error.eq(first.frame_error),
        ]
        return m
