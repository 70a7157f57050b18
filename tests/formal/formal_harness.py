"""Shared pieces of the formal harnesses (Amaranth, for SymbiYosys).

Every harness in ``tests/formal`` has the same skeleton, written once here:

* :class:`Harness`: the ``sync`` domain (its clock is the RTLIL port), the design factory
  ``make_dut``, the ``lines`` register of asserted properties (``(file, line) -> name``, read
  back by :func:`tests.formal.sby_runner.run_sby` to name a failed assertion), the width of
  the cycle counters for a BMC depth, and ``elaborate`` (a module in that domain, filled in by
  the subclass's ``build``);
* free inputs: :func:`free_signal` (an ``AnySeq`` value in every cycle), :func:`free_reset`
  (the domain's reset, free in every cycle), :func:`free_axis` (the four AXI-Stream inputs
  of a top module) and :func:`free_pixels` (those of a pixel-stream unit);
* one tracked item: :func:`any_index` (an ``AnyConst`` number; a property stated for item
  number ``track`` holds for every item, since the solver picks ``track``) and
  :func:`counter` (a saturating count of transfers since the last reset);
* the frame rules of the pixel streams: :func:`frame_position`;
* history: :func:`past` (last cycle's value) and :func:`run_length` (cycles a condition has
  been high in a row);
* the output-stream properties the units share (:func:`assert_output_stable`,
  :func:`assert_reset_idle`, :func:`assert_response`; :func:`check_results` for the
  dot-product tops);
* reference tables written from the number formats (``docs/formats.md``), independent of
  ``hdl/`` and of the golden model: :func:`weight_tables`, :func:`act_table`,
  :func:`reference_r`, :func:`value_table`;
* lookups into the design under proof for lemmas: :func:`find_fragment`,
  :func:`fragment_signals`.

Free inputs come from ``amaranth.asserts.AnyConst``/``AnySeq``, their home in Amaranth
0.5.10. An undriven ``Signal`` would be a constant and make a proof vacuous: every proof has a
mutant that must make it FAIL.
"""

from __future__ import annotations

import decimal
import os
import sys
from types import SimpleNamespace

from amaranth.asserts import AnyConst, AnySeq
from amaranth.hdl import Array, Assert, C, ClockDomain, Elaboratable, Module, Mux, Signal, signed

__all__ = [
    "Harness",
    "act_table",
    "act_value",
    "any_index",
    "assert_output_stable",
    "assert_reset_idle",
    "assert_response",
    "check_results",
    "counter",
    "cycle_counter",
    "find_fragment",
    "fragment_signals",
    "frame_position",
    "free_axis",
    "free_pixels",
    "free_reset",
    "free_signal",
    "past",
    "reference_accumulator",
    "reference_r",
    "run_length",
    "value_table",
    "weight_tables",
    "wrap",
]


class Harness(Elaboratable):
    """Base of a BMC harness: the clock domain, the design factory, the property register, the
    counter width; a subclass states its design and properties in ``build(m, platform)``.

    Parameters
    ----------
    max_depth : int
        Largest BMC depth the harness is used with (sizes its cycle counters).
    min_bits : int
        Smallest width of the cycle counters.
    make_dut : callable, optional
        Returns the design under proof (``self._make_dut``; its arguments are the subclass's):
        a subclass passes ``make_dut or`` its default design, so that a mutant test can pass a
        broken one.

    Attributes
    ----------
    domain : ClockDomain
        The ``sync`` domain; pass ``[harness.domain.clk]`` as the RTLIL ports.
    lines : dict
        ``(file name, source line)`` of each asserted property -> its name (filled in by
        elaboration; :func:`tests.formal.sby_runner.run_sby` names failures with it).
    """

    def __init__(self, *, max_depth, min_bits=4, make_dut=None):
        self._bits = max(min_bits, (max_depth + 1).bit_length())
        self._make_dut = make_dut
        self.domain = ClockDomain("sync")
        self.lines = {}

    def elaborate(self, platform):
        m = Module()
        m.domains.sync = self.domain
        self.build(m, platform)
        return m

    def build(self, m, platform):
        """Add the design under proof, its free inputs and the properties to ``m`` (a module
        whose ``sync`` domain is :attr:`domain`)."""
        raise NotImplementedError(f"{type(self).__name__} must define build(m, platform)")

    def _wants(self, name):
        """Whether property ``name`` is asserted (default: every one)."""
        return True

    def _assert(self, m, name, cond, *, src_loc_at=0):
        """Assert ``cond`` as property ``name``, registered at the caller's source line (or
        ``src_loc_at`` frames further out)."""
        if self._wants(name):
            frame = sys._getframe(1 + src_loc_at)
            self.lines[(os.path.basename(frame.f_code.co_filename), frame.f_lineno)] = name
            m.d.comb += Assert(cond, name, src_loc_at=1 + src_loc_at)


def free_signal(m, name, width=1):
    """A signal ``name`` of ``width`` bits with a free (``AnySeq``) value in every cycle."""
    sig = Signal(width, name=name)
    m.d.comb += sig.eq(AnySeq(width))
    return sig


def free_reset(m, domain, *, free=True):
    """``f_rst``: the reset of ``domain``, free in every cycle (constant 0 if not ``free``)."""
    rst = Signal(name="f_rst")
    m.d.comb += [rst.eq(AnySeq(1) if free else 0), domain.rst.eq(rst)]
    return rst


def free_axis(m, dut, domain, *, free_rst=True):
    """Free reset and free AXI-Stream inputs (``s_axis_tvalid``, ``s_axis_tlast``, every bit of
    ``s_axis_tdata``, ``m_axis_tready``) of the top ``dut``.

    Returns
    -------
    types.SimpleNamespace
        ``rst``, ``s_valid``, ``s_last``, ``s_data``, ``m_ready`` (the signals driving them)
        and ``take`` / ``give`` (an input / output transfer outside reset).
    """
    rst = free_reset(m, domain, free=free_rst)
    s_valid = free_signal(m, "f_s_valid")
    s_last = free_signal(m, "f_s_last")
    s_data = free_signal(m, "f_s_data", len(dut.s_axis_tdata))
    m_ready = free_signal(m, "f_m_ready")
    m.d.comb += [
        dut.s_axis_tvalid.eq(s_valid),
        dut.s_axis_tlast.eq(s_last),
        dut.s_axis_tdata.eq(s_data),
        dut.m_axis_tready.eq(m_ready),
    ]
    take, give = Signal(name="f_take"), Signal(name="f_xfer_out")
    m.d.comb += [
        take.eq(s_valid & dut.s_axis_tready & ~rst),
        give.eq(dut.m_axis_tvalid & m_ready & ~rst),
    ]
    return SimpleNamespace(
        dut=dut, rst=rst, s_valid=s_valid, s_last=s_last, s_data=s_data, m_ready=m_ready,
        take=take, give=give,
    )  # fmt: skip


def free_pixels(m, dut, domain, *, pixels, bits):
    """Free reset and free inputs of a pixel-stream unit (``s`` with ``data`` and ``last``,
    ``o.ready``: :func:`logdot.hdl.window.pixel_layout` streams), like :func:`free_axis`, and
    the reference frame position (:func:`frame_position` of ``pixels`` pixels per image) and
    tracked index (:func:`any_index`).

    Returns
    -------
    types.SimpleNamespace
        ``rst``, ``s_valid``, ``s_last``, ``s_data``, ``m_ready``, ``take``, ``give``, ``pix``,
        ``frame``, ``track``.
    """
    rst = free_reset(m, domain)
    s_valid, s_last = free_signal(m, "f_s_valid"), free_signal(m, "f_s_last")
    s_data = free_signal(m, "f_s_data", len(dut.s.payload.data))
    m_ready = free_signal(m, "f_m_ready")
    m.d.comb += [
        dut.s.valid.eq(s_valid),
        dut.s.payload.last.eq(s_last),
        dut.s.payload.data.eq(s_data),
        dut.o.ready.eq(m_ready),
    ]
    take, give = Signal(name="f_take"), Signal(name="f_give")
    m.d.comb += [
        take.eq(s_valid & dut.s.ready & ~rst),
        give.eq(dut.o.valid & m_ready & ~rst),
    ]
    pix, frame = frame_position(m, take, s_last, pixels, bits)
    return SimpleNamespace(
        rst=rst, s_valid=s_valid, s_last=s_last, s_data=s_data, m_ready=m_ready, take=take,
        give=give, pix=pix, frame=frame, track=any_index(m, bits),
    )  # fmt: skip


def any_index(m, bits, name="f_track"):
    """A free constant (``AnyConst``) of ``bits`` bits: the number of the tracked item."""
    track = Signal(bits, name=name)
    m.d.comb += track.eq(AnyConst(bits))
    return track


def counter(m, name, bits, event):
    """A saturating count of ``event`` pulses (reset by the domain's reset)."""
    cnt = Signal(bits, name=name)
    with m.If(event & (cnt != (1 << bits) - 1)):
        m.d.sync += cnt.eq(cnt + 1)
    return cnt


def cycle_counter(m, bits, name="f_now"):
    """Cycles since the start (not reset), saturating at ``2**bits - 1``."""
    now = Signal(bits, name=name, reset_less=True)
    m.d.sync += now.eq(Mux(now == (1 << bits) - 1, now, now + 1))
    return now


def reference_accumulator(m, name, beat, step, last, *, acc_bits, saturating):
    """A reference accumulator of ``acc_bits`` bits (signed): on ``step`` it adds ``beat``,
    saturating at its limits or wrapping modulo ``2**acc_bits``, and clears after ``last``.

    Returns
    -------
    (Signal, Signal)
        The state ``name`` and its next value ``name_next`` (the closed dot product's
        result in a cycle with ``step & last``).
    """
    lo, hi = -(1 << (acc_bits - 1)), (1 << (acc_bits - 1)) - 1
    acc = Signal(signed(acc_bits), name=name)
    full = acc + beat
    nxt = Signal(signed(acc_bits), name=f"{name}_next")
    if saturating:
        m.d.comb += nxt.eq(Mux(full > hi, hi, Mux(full < lo, lo, full)))
    else:
        m.d.comb += nxt.eq(wrap(full, acc_bits))
    with m.If(step):
        m.d.sync += acc.eq(Mux(last, 0, nxt))
    return acc, nxt


def frame_position(m, take, last, pixels, bits):
    """The frame rules of the pixel-stream units, written independently of ``hdl/``: the
    pixel position in the frame and the frame number since the last reset.

    Returns
    -------
    (Signal, Signal)
        ``f_pix``: pixels of the current frame taken so far (``pixels`` once the image is
        complete: a longer frame's further pixels are dropped up to its ``last``) and
        ``f_frame``: frames ended (by a ``last``) since the reset.
    """
    pix = Signal(range(pixels + 1), name="f_pix")
    frame = Signal(bits, name="f_frame")
    with m.If(take):
        with m.If(last):
            m.d.sync += [pix.eq(0), frame.eq(frame + 1)]
        with m.Elif(pix < pixels):
            m.d.sync += pix.eq(pix + 1)
    return pix, frame


def past(m, value, name, *, init=0):
    """``value`` one cycle ago (a reset-less register named ``name``, ``init`` at start)."""
    reg = Signal(len(value), name=name, init=init, reset_less=True)
    m.d.sync += reg.eq(value)
    return reg


def run_length(m, cond, limit, name):
    """Cycles in a row up to the previous one in which ``cond`` was high (saturating at
    ``limit``)."""
    run = Signal(range(limit + 1), name=name)
    with m.If(~cond):
        m.d.sync += run.eq(0)
    with m.Elif(run != limit):
        m.d.sync += run.eq(run + 1)
    return run


def assert_output_stable(harness, m, rst, valid, ready, payload, name="output_stable"):
    """``valid`` stays high and ``payload`` (a value or a list of values) holds in the cycle
    after one with ``valid & ~ready`` outside reset."""
    payload = payload if isinstance(payload, (list, tuple)) else [payload]
    prev_rst = past(m, rst, "f_prev_rst", init=1)
    prev_hold = past(m, valid & ~ready, "f_prev_hold")
    same = valid
    for k, value in enumerate(payload):
        same = same & (value == past(m, value, "f_prev_data" if k == 0 else f"f_prev_data{k}"))
    harness._assert(m, name, ~(prev_hold & ~prev_rst) | same)
    return prev_rst


def assert_reset_idle(harness, m, prev_rst, idle, name="reset_idle"):
    """``idle`` holds in the cycle after a reset (``prev_rst`` from
    :func:`assert_output_stable`)."""
    harness._assert(m, name, ~prev_rst | idle)


def assert_response(harness, m, *, rst, complete, ready, t_out, valid_now, bound, limit=None):
    """Bounded response (property ``response``) of one tracked item: once ``complete``, it is
    valid (``valid_now``) after at most ``bound`` cycles with ``ready`` high, unless it was
    transferred (``t_out``) already. ``limit`` (default ``bound + 1``) saturates the count."""
    limit = bound + 1 if limit is None else limit
    t_run = Signal(range(limit + 1), name="f_t_run")  # ready cycles since complete
    with m.If(complete & ready & (t_run != limit)):
        m.d.sync += t_run.eq(t_run + 1)
    t_gone = Signal(name="f_t_gone")
    with m.If(t_out):
        m.d.sync += t_gone.eq(1)
    harness._assert(m, "response", ~(~rst & complete & ~t_gone & (t_run >= bound)) | valid_now)


def check_results(harness, m, io, *, latency, bits, push, now, fields, bp, stamp=None, stuck=0):
    """The result-stream properties of a dot-product top (engine, layer engine), stated for
    one closed dot product, number ``track`` (:func:`any_index`), so they hold for every one.

    Parameters
    ----------
    harness : Harness
    m : Module
    io : types.SimpleNamespace
        The ports from :func:`free_axis`.
    latency : int
        The top's latency ``L`` (cycles from a dot product's last beat to its result).
    bits : int
        Width of the cycle counters.
    push : Value
        A dot product closes in this cycle (its reference result is ready).
    now : Value
        The cycle counter (saturating).
    stamp : Value, optional
        The cycle of the closing dot product's last beat (default ``now``: it closes in the
        cycle of its last input transfer).
    fields : list of (str, Value, Value)
        ``(name, expected, output)``: each ``expected`` is recorded in a register ``f_t_<name>``
        when the tracked dot product closes; the tracked output transfer must carry ``output``
        equal to it.
    bp : Value
        Back-pressure seen since the tracked dot product's last beat, up to its closing.
    stuck : Value
        Further "a result is stuck" conditions (``no_loss``).

    Returns
    -------
    types.SimpleNamespace
        ``n_in``, ``n_out``, ``track``, ``t_out``, ``t_bp`` (for cover statements).
    """
    L, dut, rst, m_ready = latency, io.dut, io.rst, io.m_ready
    s_ready, m_valid, give = dut.s_axis_tready, dut.m_axis_tvalid, io.give
    n_in = counter(m, "f_n_in", bits, push)  # dot products closed
    n_out = counter(m, "f_n_out", bits, give)  # results transferred
    track = any_index(m, bits)
    regs = [Signal.like(exp, name=f"f_t_{name}", reset_less=True) for name, exp, _ in fields]
    t_stamp = Signal(bits, name="f_t_stamp", reset_less=True)
    t_bp = Signal(name="f_t_bp")
    t_pending = Signal(name="f_t_pending")
    t_out = Signal(name="f_t_out")
    m.d.comb += t_out.eq(give & (n_out == track))
    with m.If(push & (n_in == track)):
        m.d.sync += [r.eq(exp) for r, (_, exp, _) in zip(regs, fields, strict=True)]
        m.d.sync += [t_stamp.eq(now if stamp is None else stamp), t_bp.eq(bp), t_pending.eq(1)]
    with m.Else():
        m.d.sync += t_bp.eq(t_bp | ~m_ready)
        with m.If(t_out):
            m.d.sync += t_pending.eq(0)
    age = Signal(bits, name="f_age")
    m.d.comb += age.eq(now - t_stamp)
    ready_run = run_length(m, m_ready, L + 3, "f_ready_run")  # m_ready high up to now-1
    prev_ready = past(m, m_ready, "f_prev_ready")

    live = ~rst
    same = t_pending
    for r, (_, _, out) in zip(regs, fields, strict=True):
        same = same & (out == r)
    harness._assert(m, "result_value", ~t_out | same)
    harness._assert(m, "no_extra_output", ~give | (n_out < n_in))
    harness._assert(m, "bounded_in_flight", (n_in - n_out)[:bits] <= L + 1)
    harness._assert(
        m,
        "exact_latency",
        ~(live & t_pending & ~t_bp)
        | (((age != L) | (m_valid & (n_out == track))) & (~t_out | (age == L))),
    )
    stuck = stuck | (t_pending & (age >= L + 2))
    harness._assert(m, "no_loss", ~(live & stuck & (ready_run >= L + 2)))
    prev_rst = assert_output_stable(
        harness, m, rst, m_valid, m_ready, [dut.m_axis_tdata, dut.m_axis_tlast]
    )
    harness._assert(m, "ready_after_ready", ~(prev_ready & ~prev_rst) | s_ready)
    assert_reset_idle(harness, m, prev_rst, ~m_valid & s_ready)
    return SimpleNamespace(n_in=n_in, n_out=n_out, track=track, t_out=t_out, t_bp=t_bp)


def reference_r(frac_bits):
    """``round(sqrt(2) * 2**frac_bits)`` by decimal arithmetic (independent of golden)."""
    ctx = decimal.Context(prec=60)
    v = ctx.multiply(ctx.sqrt(decimal.Decimal(2)), decimal.Decimal(2) ** frac_bits)
    return int(v.to_integral_value(rounding=decimal.ROUND_HALF_UP))


def weight_tables(config):
    """Per raw weight field: ``(even_value, odd_value)`` as Python integers.

    Base 2: ``even = +-2**(c - 1)``, ``odd = 0``; two-term weights: ``even`` is the
    two-term value (written here from ``docs/formats.md``), ``odd = 0``. Base sqrt(2):
    ``sqrt(2)**(c - 1)`` is
    ``2**((c - 1) // 2)`` times ``sqrt(2)`` when ``c - 1`` is odd; the integer power goes to
    ``even`` (c - 1 even) or ``odd`` (c - 1 odd). Code 0 (either sign) is 0.
    """
    w = config.weight_bits
    even, odd = [], []
    for raw in range(1 << w):
        sign, code = raw >> (w - 1), raw & ((1 << (w - 1)) - 1)
        if config.weight_terms == 2:
            # Two-term weights (docs/formats.md): | sign | c ((w-1) - (w-1)//2 bits) | j |,
            # value +-(2**(c - 1 + J) + 2**(c - 1 + J - j) if j else 0) with J = 2**B2 - 1.
            b2 = (w - 1) // 2
            first, j = code >> b2, code % 2**b2
            top = first - 1 + 2**b2 - 1
            value = 0 if first == 0 else 2**top + (2 ** (top - j) if j else 0)
            even.append(-value if sign else value)
            odd.append(0)
            continue
        if code == 0:
            even.append(0)
            odd.append(0)
            continue
        s = -1 if sign else 1
        e = code - 1
        if config.weight_base == 2:
            even.append(s * 2**e)
            odd.append(0)
        elif e % 2 == 0:
            even.append(s * 2 ** (e // 2))
            odd.append(0)
        else:
            even.append(0)
            odd.append(s * 2 ** (e // 2))
    return even, odd


def act_table(config):
    """Per raw log-activation field: its integer value ``+-2**(d - 1)`` (0 for code 0)."""
    a = config.act_bits
    out = []
    for raw in range(1 << a):
        if config.act_signed:
            sign, code = raw >> (a - 1), raw & ((1 << (a - 1)) - 1)
        else:
            sign, code = 0, raw
        out.append(0 if code == 0 else (-1 if sign else 1) * 2 ** (code - 1))
    return out


def act_value(config, raw, table):
    """The integer value of the raw activation field ``raw``: its entry of ``table``
    (``value_table(act_table(config))``) for log activations, else the field read signed or
    unsigned."""
    if config.act_is_log:
        return table[raw]
    return raw.as_signed() if config.act_signed else raw


def value_table(values):
    """The integer ``values`` as an :class:`~amaranth.hdl.Array` of signed constants of one
    width (a lookup table indexed by a raw field)."""
    lo, hi = min(values), max(values)
    width = max(abs(lo), abs(hi)).bit_length() + 1
    return Array(C(v, signed(width)) for v in values)


def wrap(value, bits):
    """``value`` wrapped to ``bits`` bits, signed (two's complement)."""
    return value[:bits].as_signed()


def find_fragment(fragment, path):
    """The subfragment of ``fragment`` at ``path`` (a tuple of submodule names), or None."""
    for name in path:
        for sub, sub_name, _ in fragment.subfragments:
            if sub_name == name:
                fragment = sub
                break
        else:
            return None
    return fragment


def fragment_signals(fragment):
    """``{name: Signal}`` of every signal assigned in ``fragment`` (its own statements)."""
    out = {}
    for stmts in fragment.statements.values():
        for stmt in stmts:
            for sig in stmt._lhs_signals():
                out.setdefault(sig.name, sig)
    return out
