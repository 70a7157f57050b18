"""Stream adapters between the stages of a network top (:mod:`logdot.hdl.network`).

* :class:`PixelGearbox`: a layer engine's output beats (one per output-channel tile) to whole
  pixels (all channels in one beat), with ``last`` on an image's last pixel;
* :class:`FlattenFeeder`: an image of pixels to a linear layer engine's input beats (the
  feature map in ``C, H, W`` order, ``beats`` beats of ``lanes`` codes, ``tiles`` times);
* :class:`OutputAssembler`: an image of the last layer's pixels to one output word.
"""

from __future__ import annotations

from amaranth.hdl import Array, Cat, Const, Module, Mux, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from ..golden.formats import check_int
from .window import frame_control, pixel_layout

__all__ = [
    "FlattenFeeder",
    "OutputAssembler",
    "PixelGearbox",
    "adapter_latency",
    "assembler_latency",
]


def adapter_latency():
    """Cycles from the input transfer that completes a pixel (:class:`PixelGearbox`), a
    vector (:class:`FlattenFeeder`) or an output word (:class:`OutputAssembler`) to
    ``o.valid`` of its first beat: 1 (the output register)."""
    return 1


def assembler_latency(pixels):
    """Cycles from the transfer of an image's last pixel to ``o.valid`` of its word in an
    :class:`OutputAssembler` of ``pixels`` pixels per image: :func:`adapter_latency` (the
    output register), 0 with one pixel (the word is passed through in the cycle it is
    valid)."""
    return 0 if pixels == 1 else adapter_latency()


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

    Input ``i``: the engine's output stream (:class:`logdot.hdl.layer.LogLayerEngine` ``o``):
    ``data`` of ``pes`` fields of ``bits`` bits (PE ``p`` at ``[p * bits +: bits]``),
    ``tiles`` beats per output position (tile ``t`` carries channels
    ``t * pes .. t * pes + pes - 1``), ``last`` on the position's last tile (the engine's
    ``last``: :func:`logdot.golden.layer.output_tlast`). A pixel ends on the beat with
    ``last``; the beats before it (``tiles - 1`` of them in a well-formed stream) are its
    first tiles. Output ``o``: one beat per position, channel ``c`` at ``[c * bits +: bits]``
    (the channels beyond ``channels`` of the last tile dropped), ``last`` on the
    ``pixels``-th pixel of each image.

    Latency 1 cycle (output register); one input beat per cycle; ``i.ready`` depends
    combinationally on ``o.ready`` while a pixel is held. Resources: one shift register of
    ``tiles * pes * bits`` bits, which collects a pixel's tiles and is the output register
    (the pixel is sent while the next one's first tile shifts in, so a downstream FIFO that
    is not full never stalls it; a held pixel that is not taken stalls the input).
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
                "i": In(stream.Signature(pixel_layout(pes * bits))),
                "o": Out(stream.Signature(pixel_layout(channels * bits))),
            }
        )

    def elaborate(self, platform):
        m = Module()
        beat_bits = self.pes * self.bits
        out_full = Signal(name="out_full")
        # The tiles of the pixel being collected, oldest lowest; the held pixel's while
        # out_full (no second copy: a tile only shifts in when the held pixel leaves).
        tiles = Signal(self.tiles * beat_bits, name="tiles_reg", reset_less=True)
        out_last = Signal(name="out_last", reset_less=True)
        take = Signal(name="take")
        last_tile = self.i.payload.last
        done = Signal(name="pixel_done")
        m.d.comb += [
            self.i.ready.eq(~out_full | self.o.ready),
            take.eq(self.i.valid & self.i.ready),
            done.eq(take & last_tile),
            self.o.valid.eq(out_full),
            self.o.payload.data.eq(tiles[: self.channels * self.bits]),
            self.o.payload.last.eq(out_last),
        ]
        _, last_pixel = _pixel_counter(m, "pixel", self.pixels, done)
        beat = self.i.payload.data
        with m.If(take):
            m.d.sync += tiles.eq(Cat(tiles[beat_bits:], beat) if self.tiles > 1 else beat)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_full.eq(0)
        with m.If(done):
            m.d.sync += [out_full.eq(1), out_last.eq(last_pixel)]
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

    Throughput: ``max(channels * pixels, tiles * beats)`` cycles per image in steady state
    (:attr:`cycles_per_image`): one code in (a pixel is taken in the cycle of its last
    channel's code, ``channels`` cycles per pixel) and one beat out per cycle; the image's
    last code waits for the previous vector's last beat. Latency: 1 cycle from the image's
    last code to the first beat (:func:`adapter_latency`). Resources: one memory of two
    banks of ``beats`` words of ``lanes * bits`` bits (block RAM; written one code at a
    time, granularity ``bits``): one bank collects an image while the other is sent, so
    the vector is never held in flip-flops.
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
        """Steady-state cycles per image: ``max(channels * pixels, tiles * beats)``."""
        return max(self.channels * self.pixels, self.tiles * self.beats)

    def elaborate(self, platform):
        m = Module()
        a, lanes, beats = self.bits, self.lanes, self.beats
        bb = lanes * a
        wbits = max(beats - 1, 0).bit_length()  # word address bits within a bank
        # Two banks (ping-pong): one collects an image while the other is sent.
        mem = Memory(shape=bb, depth=2 << wbits, init=[])
        m.submodules.vector = mem
        wp = mem.write_port(granularity=a)
        rp = mem.read_port(transparent_for=(wp,))
        wbank = Signal(name="write_bank")
        rbank = Signal(name="read_bank")
        hold_full = Signal(name="hold_full")
        out_take = Signal(name="out_take")
        m.d.comb += out_take.eq(self.o.valid & self.o.ready)
        beat, last_beat = _pixel_counter(m, "beat", beats, out_take)
        _, last_tile = _pixel_counter(m, "tile", self.tiles, out_take & last_beat)
        done = Signal(name="vector_done")
        m.d.comb += done.eq(out_take & last_beat & last_tile)

        # -- write side: one code per cycle, code c of pixel i at C, H, W index c * P + i ----
        pix_at_last = Signal(name="pix_at_last")
        fill, drop = frame_control(m, self.s, pix_at_last, self.frame_error)
        code = Signal(range(max(self.channels, 2)), name="code")
        last_code = Signal(name="last_code")
        m.d.comb += last_code.eq(code == self.channels - 1)
        write = Signal(name="write")
        step = Signal(name="step")  # a pixel's last code is written (the pixel is taken)
        load = Signal(name="load")  # an image's last code is written (its vector is held)
        can_write = Signal(name="can_write")
        m.d.comb += [
            can_write.eq(~(pix_at_last & last_code) | ~hold_full | done),
            write.eq(can_write & (fill | (self.s.valid & ~drop))),
            step.eq(write & last_code),
            load.eq(step & pix_at_last),
            self.s.ready.eq(drop | (can_write & last_code & ~fill)),
        ]
        if self.channels > 1:
            with m.If(write):
                m.d.sync += code.eq(Mux(last_code, 0, code + 1))
        _, at_last = _pixel_counter(m, "pixel", self.pixels, step)
        m.d.comb += pix_at_last.eq(at_last)
        # The index's (word, lane): the pixel's base i and the current code's c * P + i.
        jump_word, jump_lane = divmod(self.pixels, lanes)
        base_word = Signal(range(max(beats, 2)), name="base_word")
        base_lane = Signal(range(max(lanes, 2)), name="base_lane")
        word = Signal(range(max(beats, 2)), name="code_word")
        lane = Signal(range(max(lanes, 2)), name="code_lane")
        with m.If(write):
            with m.If(load):
                m.d.sync += [base_word.eq(0), base_lane.eq(0), word.eq(0), lane.eq(0)]
            with m.Elif(step):
                wrap = base_lane == lanes - 1
                nxt_word = Mux(wrap, base_word + 1, base_word)
                nxt_lane = Mux(wrap, 0, base_lane + 1)
                m.d.sync += [
                    base_word.eq(nxt_word),
                    base_lane.eq(nxt_lane),
                    word.eq(nxt_word),
                    lane.eq(nxt_lane),
                ]
            with m.Else():
                over = lane + jump_lane >= lanes
                m.d.sync += [
                    word.eq(word + jump_word + over),
                    lane.eq(Mux(over, lane + jump_lane - lanes, lane + jump_lane)),
                ]
        pixel = Signal(self.channels * a, name="pixel")
        m.d.comb += pixel.eq(Mux(fill, 0, self.s.payload.data))
        value = Signal(a, name="code_value")
        # A case on the channel (``word_select`` by a signal would write ``code * a``: a
        # ``$mul`` cell in the netlist of a multiplier-free design).
        codes = Array(pixel.word_select(c, a) for c in range(self.channels))
        m.d.comb += value.eq(codes[code] if self.channels > 1 else pixel)
        m.d.comb += [
            wp.addr.eq(Cat(word[:wbits], wbank) if wbits else wbank),
            wp.data.eq(value.replicate(lanes)),
        ]
        for k in range(lanes):
            m.d.comb += wp.en[k].eq(write & (lane == k))

        # -- read side: the held bank's beats, tiles times; the read register is o.payload --
        nxt_beat = Signal.like(beat, name="next_beat")
        m.d.comb += nxt_beat.eq(Mux(last_beat, 0, beat + 1))
        with m.If(load):
            m.d.comb += rp.addr.eq(Cat(Const(0, wbits), wbank) if wbits else wbank)
        with m.Else():
            m.d.comb += rp.addr.eq(Cat(nxt_beat[:wbits], rbank) if wbits else rbank)
        m.d.comb += [
            rp.en.eq(load | out_take),
            self.o.valid.eq(hold_full),
            self.o.payload.data.eq(rp.data),
            self.o.payload.last.eq(last_beat),
        ]
        with m.If(done):
            m.d.sync += hold_full.eq(0)
        with m.If(load):
            m.d.sync += [hold_full.eq(1), rbank.eq(wbank), wbank.eq(~wbank), fill.eq(0)]
        return m


class OutputAssembler(wiring.Component):
    """An image of the last layer's pixels to one output word.

    Input ``s``: ``pixels`` pixels of ``channels`` values of ``bits`` bits. Output ``o``: one
    word of ``width`` bits per image, value ``c * pixels + i`` (``C, H, W`` order) at
    ``[k * bits +: bits]``, the bits above the last value its sign extension when ``signed``
    (else zeros). ``pixels`` cycles per image; latency :attr:`latency`; ``s.ready`` depends
    combinationally on ``o.ready`` on an image's last pixel. With ``pixels == 1`` the word is
    the input pixel itself, passed through (no register: the stage before it, a FIFO in a
    network top, already holds it).
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

    @property
    def latency(self):
        """Cycles from the transfer of an image's last pixel to ``o.valid`` of its word:
        :func:`assembler_latency`."""
        return assembler_latency(self.pixels)

    def elaborate(self, platform):
        m = Module()
        used = self.channels * self.pixels * self.bits
        pad = self.width - used
        if self.pixels == 1:
            vec = self.s.payload.data
            if pad:
                ext = vec[used - 1].replicate(pad) if self.signed else Const(0, pad)
                vec = Cat(vec, ext)
            m.d.comb += [
                self.s.ready.eq(self.o.ready),
                self.o.valid.eq(self.s.valid),
                self.o.payload.eq(vec),
            ]
            return m
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
        if pad:
            ext = vec[used - 1].replicate(pad) if self.signed else Const(0, pad)
            vec = Cat(vec, ext)
        with m.If(self.o.valid & self.o.ready):
            m.d.sync += out_full.eq(0)
        with m.If(take & at_last):
            m.d.sync += [word.eq(vec), out_full.eq(1)]
        return m
