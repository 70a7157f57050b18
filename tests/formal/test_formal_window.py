"""SymbiYosys proofs of the sliding-window unit (``tests/formal/window_harness.py``): small
images, kernel 3, padding 1, stride 1 and 2, one and two channels, every input free (exact,
short and long frames, idles, back-pressure, resets), BMC from reset deep enough for a whole
frame. Every window beat equals the reference (zero padding at every edge), no loss,
duplication or reordering, bounded occupancy, bounded response, reset.

Vacuity guards: a unit whose line buffer is read one column late (an off-by-one address) and
one that takes the left padding column as an image column must FAIL on ``value``; the
``response`` bound one cycle less must FAIL on ``response`` (the bound is tight).
"""

from __future__ import annotations

from unittest import mock

import pytest
from amaranth.hdl import Const, Fragment

import logdot.hdl.window as hdl_window
from logdot.golden.window import WindowGeometry
from logdot.hdl.window import SlidingWindow, window_response
from tests.formal.sby_runner import run_sby
from tests.formal.window_harness import WINDOW_PROPERTIES, WindowHarness

# 1-2 minutes (the 2 x 2 image) to tens of minutes per proof on the loaded machine: make formal.
pytestmark = [pytest.mark.formal, pytest.mark.full]

#: id -> (geometry, BMC depth: a whole frame and its beats).
CONFIGS = {
    "2x2_c1_s1": (dict(channels=1, height=2, width=2, kernel=3, stride=1, padding=1, lanes=9,
                       bits=1), 20),
    "4x4_c1_s1": (dict(channels=1, height=4, width=4, kernel=3, stride=1, padding=1, lanes=9,
                       bits=1), 40),
    "4x4_c2_s2_t2": (dict(channels=2, height=4, width=4, kernel=3, stride=2, padding=1,
                          lanes=9, tiles=2, bits=1), 40),
}  # fmt: skip


def _prove(tmp_path, name, make_dut=None, depth=None, bound=None):
    geometry, bmc = CONFIGS[name]
    bmc = depth or bmc
    harness = WindowHarness(**geometry, make_dut=make_dut, bound=bound, max_depth=bmc)
    return harness, run_sby(harness, tmp_path / name, depth=bmc, timeout=3600)


@pytest.mark.parametrize("name", list(CONFIGS))
def test_window(tmp_path, name):
    harness, result = _prove(tmp_path, name)
    assert result.status == "PASS", result.summary()
    assert set(harness.lines.values()) == set(WINDOW_PROPERTIES)


class LateReadWindow(SlidingWindow):
    """The line buffer is read at the current column's address, not the next one's (its
    history comes one column late)."""

    def elaborate(self, platform):
        real = hdl_window.line_buffer

        def late(m, name, *, read_addr, write_addr, **kw):
            return real(m, name, read_addr=write_addr, write_addr=write_addr, **kw)

        with mock.patch.object(hdl_window, "line_buffer", late):
            return Fragment.get(super().elaborate(platform), platform)


class LeftPadWindow(SlidingWindow):
    """The left padding column is taken as an image column (``px >= padding`` is always
    true)."""

    def elaborate(self, platform):
        real = hdl_window._at_least

        def wrong(value, bound):
            if getattr(value, "name", None) == "px" and bound == self.geometry.padding[1]:
                return Const(1, 1)
            return real(value, bound)

        with mock.patch.object(hdl_window, "_at_least", wrong):
            return Fragment.get(super().elaborate(platform), platform)


@pytest.mark.parametrize(
    "make,name", [(LateReadWindow, "2x2_c1_s1"), (LeftPadWindow, "2x2_c1_s1")],
    ids=["line_buffer_late", "left_pad"],
)  # fmt: skip
def test_window_mutant_fails(tmp_path, make, name):
    _, result = _prove(tmp_path, name, make_dut=make, depth=14)
    assert result.status == "FAIL", result.summary()
    assert "value" in result.failed, result.failed


def test_window_response_tight(tmp_path):
    """The ``response`` bound is the tight worst case: one ready cycle less FAILs (measured:
    at step 16, frame 0 ending with ``last`` on pixel 0 in cycle 5, the tracked beat the
    last window's, valid in cycle 6 + 11)."""
    geometry, _ = CONFIGS["2x2_c1_s1"]
    bound = window_response(WindowGeometry(**{k: v for k, v in geometry.items() if k != "bits"}))
    assert bound == 11  # 15 - 5 + 1: the last window's position, the first pixel's, a beat
    _, result = _prove(tmp_path, "2x2_c1_s1", bound=bound - 1)
    assert result.status == "FAIL", result.summary()
    assert result.failed == ["response"], result.failed
