"""logdot.golden.limits: the limits and checks, re-exported unchanged by logdot.golden.formats."""

import pytest

from logdot.golden import formats, limits


def test_formats_reexports_every_public_name():
    for name in limits.__all__:
        assert name in formats.__all__
        assert getattr(formats, name) is getattr(limits, name)


def test_limits_values():
    assert limits.LIMITS["lanes"] == (1, 1024)
    assert limits.LIMITS["weight_bits"] == (2, 8)
    assert limits.ACCUMULATE_MODES == ("exact", "log")
    assert limits.WEIGHT_TERMS == (1, 2)
    assert (limits.signed_width(-8, 7), limits.unsigned_width(255)) == (4, 8)
    with pytest.raises(ValueError, match="lanes must be"):
        limits.check_int(0, "lanes", *limits.LIMITS["lanes"])
