"""What every processing element shares: its members and the end of its datapath.

The exact-sum PE (:class:`logdot.hdl.pe.ProcessingElement`), the constant-weight PE
(:class:`logdot.hdl.const.ConstProcessingElement`) and the serial log-domain PE
(:class:`logdot.hdl.logacc.LogSerialPE`) take their signature from :func:`pe_signature`,
carry ``valid``/``last`` beside the beat with :func:`delay_valid_last` and hand it to their
accumulator with :func:`connect_accumulator`. A module of its own so that the PEs import
it without importing each other.
"""

from __future__ import annotations

from amaranth.hdl import Signal, signed
from amaranth.lib.wiring import In, Out

__all__ = ["connect_accumulator", "delay_valid_last", "pe_signature"]


def pe_signature(config, *, weights=True, ready=False):
    """The members of a processing element of ``config``, as a signature dict.

    ``en``, ``valid``, ``last``, ``act`` (``lanes`` raw fields), with ``weights`` ``weight``
    (``lanes`` raw fields), with ``ready`` a ``ready`` output, then ``o_valid`` and ``result``
    (:class:`ProcessingElement` documents them; the constant-weight PE has no weights, the
    serial log-domain PE a ``ready``).
    """
    members = {
        "en": In(1),
        "valid": In(1),
        "last": In(1),
        "act": In(config.act_bits).array(config.lanes),
    }
    if weights:
        members["weight"] = In(config.weight_bits).array(config.lanes)
    if ready:
        members["ready"] = Out(1)
    members["o_valid"] = Out(1)
    members["result"] = Out(signed(config.result_bits))
    return members


def delay_valid_last(m, en, valid, last, stages):
    """``valid`` and ``last`` through one register per name in ``stages`` (``NAME_valid``,
    ``NAME_last``; advancing while ``en``), beside a beat in a pipeline; returns the delayed
    ``(valid, last)``."""
    for stage in stages:
        rv = Signal(name=f"{stage}_valid")
        rl = Signal(name=f"{stage}_last", reset_less=True)
        with m.If(en):
            m.d.sync += [rv.eq(valid), rl.eq(last)]
        valid, last = rv, rl
    return valid, last


def connect_accumulator(m, pe, acc, valid, last):
    """Drive the accumulator ``acc`` of the processing element ``pe``: its ``en`` from the
    PE's, its ``valid`` and ``last`` from the given signals; the PE's ``o_valid`` and
    ``result`` from the accumulator's."""
    m.d.comb += [
        acc.en.eq(pe.en),
        acc.valid.eq(valid),
        acc.last.eq(last),
        pe.o_valid.eq(acc.o_valid),
        pe.result.eq(acc.result),
    ]
