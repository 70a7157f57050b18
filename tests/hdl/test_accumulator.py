"""logdot.hdl.accumulator: the canonical-signed-digit decomposition of the sqrt(2) constant."""

import itertools
import re

import pytest

from logdot.hdl.accumulator import csd_digits


def test_csd_digits():
    for v in range(0, 2000):
        digits = csd_digits(v)
        assert sum(d << s for s, d in digits) == v
        shifts = [s for s, _ in digits]
        assert all(b - a >= 2 for a, b in itertools.pairwise(shifts))
    with pytest.raises(ValueError, match=re.escape("value must be >= 0, not -1")):
        csd_digits(-1)
