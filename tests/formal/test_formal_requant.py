"""SymbiYosys proofs of the requantizers (:mod:`logdot.hdl.requant`): every output, for every
input, equals the reference of :mod:`tests.formal.requant_harness` (written from
``docs/layer.md``), at input widths up to 16 bits.

* ``test_requantizers_quick`` (also in ``make test``): four 16-bit requantizers (log signed
  and unsigned, with and without the half-integer scale; linear signed with rounding, unsigned
  with a left shift).
* ``test_requantizers`` (``make formal``): per input width 2..16, log outputs of 2..16 bits
  over offsets that flush, pass through and saturate, both signs, ``half``; linear outputs of
  narrow to wider-than-input fields over right shifts (rounding, shifts beyond the input
  width) and left shifts, signed and unsigned.
* Vacuity guards: a log requantizer with one rounding threshold off by one (wrong for the
  two inputs ``z = +-181`` only) and a linear requantizer rounding ties up instead of to even
  must FAIL.
"""

from __future__ import annotations

from unittest import mock

import pytest
from amaranth.hdl import Module, Mux

import logdot.hdl.requant as hdl_requant
from logdot.golden.requant import Requant
from logdot.hdl.requant import LinearRequantizer, LogRequantizer
from tests.formal.requant_harness import RequantHarness
from tests.formal.sby_runner import run_sby

pytestmark = pytest.mark.formal

QUICK = [
    Requant(in_bits=16, kind="log", out_bits=5, out_signed=True, offset=3),
    Requant(in_bits=16, kind="log", out_bits=4, out_signed=False, offset=-2, half=True),
    Requant(in_bits=16, kind="linear", out_bits=8, out_signed=True, shift=5),
    Requant(in_bits=16, kind="linear", out_bits=8, out_signed=False, shift=-2),
]


def matrix(n):
    """The requantizers of input width ``n`` proven by :func:`test_requantizers`."""
    out = []
    for half in (False, True):
        for signed_out in (False, True):
            for bits in sorted({2, 5, min(16, n + 2), 16}):
                cb = bits - 1 if signed_out else bits
                for offset in sorted({-n - 2, -1, 0, (1 << cb) - n // 2, (1 << cb) + 1}):
                    kw = dict(out_signed=signed_out, offset=offset, half=half)
                    out.append(Requant(in_bits=n, kind="log", out_bits=bits, **kw))
    for signed_out in (False, True):
        for bits in sorted({2, 4, n, n + 3}):
            for shift in sorted({-3, -1, 0, 1, 2, n - 1, n, n + 2}):
                kw = dict(out_signed=signed_out, shift=shift)
                out.append(Requant(in_bits=n, kind="linear", out_bits=bits, **kw))
    return out


WIDTHS = (2, 3, 4, 5, 6, 8, 10, 12, 14, 16)


def group_size(width):
    """Requantizers per SymbiYosys run: one big miter of wide requantizers is much slower
    than a few smaller ones (measured: 32 16-bit ones in one run 77 s, 4 in 10 s), while
    narrow ones are cheap and the run's fixed cost (about 7 s) dominates."""
    return 64 if width <= 6 else 24 if width <= 10 else 8


def _prove(tmp_path, requants, name, **kw):
    harness = RequantHarness(requants, **kw)
    result = run_sby(harness, tmp_path / name, depth=1, timeout=1800)
    return harness, result


def _check_pass(harness, result):
    assert result.status == "PASS", f"{harness.requants}\n{result.summary()}"
    assert harness.asserted == [f"requant{i}" for i in range(len(harness.requants))]


def test_requantizers_quick(tmp_path):
    _check_pass(*_prove(tmp_path, QUICK, "quick"))


@pytest.mark.full
@pytest.mark.parametrize("width", WIDTHS)
def test_requantizers(tmp_path, width):
    requants = matrix(width)
    size = group_size(width)
    for g in range(0, len(requants), size):
        _check_pass(*_prove(tmp_path, requants[g : g + size], f"w{width}_{g}"))


# -- mutants ------------------------------------------------------------------------------


class ThresholdOffByOne(LogRequantizer):
    """A log requantizer whose rounding threshold ``T_7 = 182`` is 181 (``|z| = 181``
    rounds up to 8 instead of 7; every other input is right)."""

    def elaborate(self, platform):
        real = hdl_requant.log_thresholds

        def wrong(width):
            t = real(width)
            if width > 7:
                t[7] -= 1
            return t

        with mock.patch.object(hdl_requant, "log_thresholds", wrong):
            return super().elaborate(platform)


class TiesRoundUp(LinearRequantizer):
    """A linear requantizer rounding ties up (round half up) instead of to even: the real
    one fed with ``z + 1`` when the remainder is exactly one half."""

    def elaborate(self, platform):
        rq = self.requant
        m = Module()
        m.submodules.inner = inner = LinearRequantizer(requant=rq)
        half = 1 << (rq.shift - 1)
        tie = self.z[: rq.shift] == half
        m.d.comb += [inner.z.eq(Mux(tie, self.z + 1, self.z)), self.out.eq(inner.out)]
        return m


def test_mutant_log_threshold_fails(tmp_path):
    rq = QUICK[0]
    _, result = _prove(tmp_path, [rq], "threshold", make_dut=lambda r: ThresholdOffByOne(requant=r))
    assert result.status == "FAIL", result.summary()
    assert result.failed == ["requant_equal"], result.failed


@pytest.mark.full
def test_mutant_linear_ties_fails(tmp_path):
    _, result = _prove(tmp_path, [QUICK[2]], "ties", make_dut=lambda r: TiesRoundUp(requant=r))
    assert result.status == "FAIL", result.summary()
    assert result.failed == ["requant_equal"], result.failed
