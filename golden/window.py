"""Golden model of the streaming sliding-window unit and of max pooling, on raw codes.

Pure functions, no simulator and no torch: the reference the hardware of
``logdot.hdl.window`` and ``logdot.hdl.pool`` is compared with, beat for beat.

Pixel stream (the input of both units): one beat per pixel, all ``channels`` codes of the
pixel (channel ``c`` at bits ``[c * A +: A]`` of the data, ``A = bits``), raster order, ``last``
on the last pixel of an image. Codes are raw ``A``-bit fields (unsigned integers; a signed
linear activation is its two's-complement bit pattern).

Window beats (the output of the window unit, the input of a layer engine): for every output
position in raster order, the input vector in im2col order (input channel, then kernel row,
then kernel column, as :func:`logdot.golden.layer.im2col`), zero-padded to ``beats * lanes``
codes and cut into ``beats`` beats of ``lanes`` codes, the whole vector sent ``tiles`` times
(once per output-channel tile), ``last`` on the last beat of each vector. This is exactly
:meth:`logdot.golden.layer.MappedLayer.stream` of one image (raw codes).

Max pooling (kernel = stride, no padding, floor mode: rows and columns no window reaches are
dropped) picks per channel the code of the largest *value*; on ties the first element in
raster order of the window. Values: an unsigned log code is its own order (0 is zero); a
signed log code is a sign bit above a magnitude code (magnitude 0 is zero, whatever the
sign); a linear code is an unsigned or two's-complement integer.

Public API
----------
WindowGeometry
    The validated geometry of one window unit (shapes, beats, padded sizes).
window_beats, window_stream
    The beats of one image; of a sequence of images.
pool_key, pool_kernel, maxpool_codes
    The order of codes of a format; a pool kernel as ``(kh, kw)``; max pooling of one image.
frame_images
    The images a window unit or pool makes of a malformed pixel stream (early or late
    ``last``): zero-completed or truncated frames.
pack_pixel, unpack_codes
    Codes <-> one bus word.
"""

from __future__ import annotations

from dataclasses import dataclass

from .formats import LIMITS, check_int

__all__ = [
    "ACT_FORMATS",
    "WindowGeometry",
    "frame_images",
    "maxpool_codes",
    "pack_pixel",
    "pool_kernel",
    "pool_key",
    "unpack_codes",
    "window_beats",
    "window_stream",
]

#: Code formats of :func:`pool_key`.
ACT_FORMATS = ("log", "linear")
#: Largest image side, kernel, stride and padding the units accept.
MAX_SIDE = 4096
MAX_KERNEL = 15
MAX_STRIDE = 8
MAX_PADDING = 7
#: Largest number of channels of a pixel.
MAX_CHANNELS = 1024


def _pair(value, name, lo, hi):
    """``(v, v)`` for an int, or a validated pair of ints."""
    if isinstance(value, tuple | list):
        if len(value) != 2:
            raise ValueError(f"{name} must be an integer or a pair of integers, not {value!r}")
        return (check_int(value[0], name, lo, hi), check_int(value[1], name, lo, hi))
    v = check_int(value, name, lo, hi)
    return (v, v)


@dataclass(frozen=True)
class WindowGeometry:
    """Geometry of a sliding-window unit (one convolution's input side).

    Parameters
    ----------
    channels : int
        Codes per pixel (input channels), ``1 .. 1024``.
    height, width : int
        Image size (unpadded), ``1 .. 4096``.
    kernel : int or (int, int)
        Kernel ``(kh, kw)``, ``1 .. 15``.
    stride : int or (int, int)
        Stride ``(sh, sw)``, ``1 .. 8``.
    padding : int or (int, int)
        Zero padding ``(ph, pw)`` on each side, ``0 .. 7``.
    lanes : int
        Codes per output beat (the layer engine's lanes).
    tiles : int
        How many times each window is sent (the layer's output-channel tiles), ``>= 1``.

    The kernel must fit the padded image: ``kh <= height + 2 * ph`` and ``kw <= width + 2 *
    pw``.
    """

    channels: int
    height: int
    width: int
    kernel: tuple
    stride: tuple = (1, 1)
    padding: tuple = (0, 0)
    lanes: int = 1
    tiles: int = 1

    def __post_init__(self):
        check_int(self.channels, "channels", 1, MAX_CHANNELS)
        check_int(self.height, "height", 1, MAX_SIDE)
        check_int(self.width, "width", 1, MAX_SIDE)
        object.__setattr__(self, "kernel", _pair(self.kernel, "kernel", 1, MAX_KERNEL))
        object.__setattr__(self, "stride", _pair(self.stride, "stride", 1, MAX_STRIDE))
        object.__setattr__(self, "padding", _pair(self.padding, "padding", 0, MAX_PADDING))
        check_int(self.lanes, "lanes", *LIMITS["lanes"])
        check_int(self.tiles, "tiles", 1, 1 << 16)
        kh, kw = self.kernel
        if kh > self.padded_height or kw > self.padded_width:
            raise ValueError(
                f"the kernel {kh}x{kw} is larger than the padded image "
                f"{self.padded_height}x{self.padded_width}"
            )

    @property
    def padded_height(self):
        return self.height + 2 * self.padding[0]

    @property
    def padded_width(self):
        return self.width + 2 * self.padding[1]

    @property
    def out_height(self):
        return (self.padded_height - self.kernel[0]) // self.stride[0] + 1

    @property
    def out_width(self):
        return (self.padded_width - self.kernel[1]) // self.stride[1] + 1

    @property
    def vector(self):
        """Codes of one input vector: ``channels * kh * kw``."""
        return self.channels * self.kernel[0] * self.kernel[1]

    @property
    def beats(self):
        """Beats per input vector: ``ceil(vector / lanes)``."""
        return -(-self.vector // self.lanes)

    @property
    def beats_per_image(self):
        """Output beats per image: ``out_height * out_width * tiles * beats``."""
        return self.out_height * self.out_width * self.tiles * self.beats

    @property
    def pixels(self):
        """Input pixels per image: ``height * width``."""
        return self.height * self.width

    @property
    def steps(self):
        """Positions of the padded image: ``padded_height * padded_width``."""
        return self.padded_height * self.padded_width


def _image(image_codes, channels, height, width, bits):
    """Validated nested lists ``[c][y][x]`` of raw codes."""
    img = [[[int(v) for v in row] for row in ch] for ch in image_codes]
    if len(img) != channels or any(len(ch) != height for ch in img):
        raise ValueError(f"the image must have shape ({channels}, {height}, {width})")
    hi = (1 << bits) - 1 if bits is not None else None
    for ch in img:
        for row in ch:
            if len(row) != width:
                raise ValueError(f"the image must have shape ({channels}, {height}, {width})")
            if hi is not None and any(v < 0 or v > hi for v in row):
                raise ValueError(f"codes must be in [0, {hi}] (bits={bits})")
    return img


def window_beats(
    image_codes,
    *,
    channels,
    height,
    width,
    kernel,
    stride=1,
    padding=0,
    lanes,
    tiles=1,
    bits=None,
):
    """The beats a window unit emits for one image.

    Parameters
    ----------
    image_codes : nested sequence ``(channels, height, width)`` of int
        Raw codes of the image (``[c][y][x]``).
    channels, height, width, kernel, stride, padding, lanes, tiles
        As :class:`WindowGeometry`.
    bits : int or None
        Code width; when given, codes are checked to be in ``[0, 2**bits)``.

    Returns
    -------
    list of (list of int, bool)
        ``beats_per_image`` beats: the ``lanes`` codes and ``last``.
    """
    g = WindowGeometry(
        channels=channels,
        height=height,
        width=width,
        kernel=kernel,
        stride=stride,
        padding=padding,
        lanes=lanes,
        tiles=tiles,
    )
    img = _image(image_codes, channels, height, width, bits)
    kh, kw = g.kernel
    sh, sw = g.stride
    ph, pw = g.padding

    def code(c, y, x):
        y, x = y - ph, x - pw
        if 0 <= y < height and 0 <= x < width:
            return img[c][y][x]
        return 0

    out = []
    pad = [0] * (g.beats * lanes - g.vector)
    for oy in range(g.out_height):
        for ox in range(g.out_width):
            vec = [
                code(c, oy * sh + ky, ox * sw + kx)
                for c in range(channels)
                for ky in range(kh)
                for kx in range(kw)
            ] + pad
            for _ in range(tiles):
                for b in range(g.beats):
                    out.append((vec[b * lanes : (b + 1) * lanes], b == g.beats - 1))
    return out


def window_stream(images, **geometry):
    """:func:`window_beats` of several images, concatenated (images back to back)."""
    out = []
    for img in images:
        out.extend(window_beats(img, **geometry))
    return out


def pool_key(code, *, bits, act_format="log", signed=False):
    """An integer whose order is the order of the values of raw ``bits``-bit codes.

    Unsigned log: the code. Signed log: ``-magnitude`` when the sign bit is set, else the
    magnitude (``+0`` and ``-0`` are both 0). Linear: the unsigned or two's-complement value.
    """
    if act_format not in ACT_FORMATS:
        raise ValueError(f"act_format must be 'log' or 'linear', not {act_format!r}")
    code = int(code)
    if not signed:
        return code
    sign = (code >> (bits - 1)) & 1
    if act_format == "log":
        mag = code & ((1 << (bits - 1)) - 1)
        return -mag if sign else mag
    return code - (1 << bits) if sign else code


def pool_kernel(kernel, height, width):
    """``(kh, kw)`` of a pool kernel given as ``k`` or ``(kh, kw)``, each within the image
    (``1 .. height``, ``1 .. width``), else ``ValueError``."""
    if not isinstance(kernel, list | tuple):
        k = check_int(kernel, "kernel", 1, min(height, width))
        return k, k
    if len(kernel) != 2:
        raise ValueError(f"kernel must be an integer or a pair, not {kernel!r}")
    kh, kw = kernel
    return check_int(kh, "kernel height", 1, height), check_int(kw, "kernel width", 1, width)


def maxpool_codes(image_codes, *, channels, height, width, kernel, bits, act_format, signed):
    """Max pooling (kernel = stride, no padding, floor mode) of one image of raw codes.

    Parameters
    ----------
    image_codes : nested sequence ``(channels, height, width)`` of int
        Raw ``bits``-bit codes.
    kernel : int or (int, int)
        Pool size and stride: ``k`` (square) or ``(kh, kw)``, ``1 .. height`` and
        ``1 .. width``.
    bits, act_format, signed
        The code format (see :func:`pool_key`).

    Returns
    -------
    list
        ``[c][oy][ox]`` raw codes, ``height // kh`` x ``width // kw``; per channel the code of
        the largest value of each window (the first in raster order on ties).
    """
    kh, kw = pool_kernel(kernel, height, width)
    img = _image(image_codes, channels, height, width, bits)
    ho, wo = height // kh, width // kw
    out = []
    for c in range(channels):
        rows = []
        for oy in range(ho):
            row = []
            for ox in range(wo):
                best = None
                for ky in range(kh):
                    for kx in range(kw):
                        v = img[c][oy * kh + ky][ox * kw + kx]
                        k = pool_key(v, bits=bits, act_format=act_format, signed=signed)
                        if best is None or k > best[0]:
                            best = (k, v)
                row.append(best[1])
            rows.append(row)
        out.append(rows)
    return out


def frame_images(pixels, lasts, *, height, width):
    """The images a unit takes from a pixel stream whose frames may be malformed.

    A frame is the pixels up to and including one with ``last`` set. A frame of exactly
    ``height * width`` pixels is one image; a shorter one is completed with zero pixels; a
    longer one is truncated at ``height * width`` (the rest dropped). Pixels after the last
    ``last`` start an image that is not complete (returned separately).

    Parameters
    ----------
    pixels : sequence
        Pixel beats (any objects, e.g. bus words); the zero pixel is ``0``.
    lasts : sequence of bool
        ``last`` of each beat.

    Returns
    -------
    (list of list, list of bool, list)
        The complete images (``height * width`` pixels each, raster order), whether each
        frame was malformed, and the pixels of the unfinished trailing frame.
    """
    n = height * width
    images, errors, cur = [], [], []
    for p, last in zip(pixels, lasts, strict=True):
        cur.append(p)
        if last:
            errors.append(len(cur) != n)
            images.append((cur + [0] * n)[:n])
            cur = []
    return images, errors, cur


def pack_pixel(codes, bits):
    """One bus word of codes (code ``i`` at ``[i * bits +: bits]``)."""
    word = 0
    mask = (1 << bits) - 1
    for i, c in enumerate(codes):
        word |= (int(c) & mask) << (i * bits)
    return word


def unpack_codes(word, count, bits):
    """The ``count`` raw codes of a bus word (inverse of :func:`pack_pixel`)."""
    mask = (1 << bits) - 1
    return [(int(word) >> (i * bits)) & mask for i in range(count)]
