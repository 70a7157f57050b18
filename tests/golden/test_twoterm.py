"""logdot.golden.twoterm: the two-term weight layout against docs/formats.md and an independent
enumeration of sums of two powers of two."""

from __future__ import annotations

from fractions import Fraction

import pytest

from logdot.golden.twoterm import (
    TWOTERM_BITS,
    twoterm_fields,
    twoterm_magnitude,
    twoterm_magnitudes,
    twoterm_max_magnitude,
    twoterm_max_shift,
    twoterm_unit_log2,
    twoterm_value,
)

BITS = range(TWOTERM_BITS[0], TWOTERM_BITS[1] + 1)


def spec_value(bits, raw, fsr):
    """Real value of a raw code, straight from docs/formats.md (exact Fraction)."""
    b2 = (bits - 1) // 2
    b1 = bits - 1 - b2
    sign = -1 if raw >> (bits - 1) else 1
    c = (raw >> b2) & ((1 << b1) - 1)
    j = raw & ((1 << b2) - 1)
    if c == 0:
        return Fraction(0)
    e = fsr - 2**b1 + c
    v = Fraction(2) ** e + (Fraction(2) ** (e - j) if j else 0)
    return sign * v


def test_fields_count_every_bit():
    assert [twoterm_fields(b) for b in BITS] == [(1, 1), (2, 1), (2, 2), (3, 2), (3, 3), (4, 3)]
    for b in BITS:
        assert sum(twoterm_fields(b)) + 1 == b


@pytest.mark.parametrize("bits", BITS)
@pytest.mark.parametrize("fsr", [-5, 0, 3])
def test_every_code_value_matches_the_spec(bits, fsr):
    unit = Fraction(2) ** twoterm_unit_log2(bits, fsr)
    for raw in range(1 << bits):
        assert twoterm_value(bits, raw) * unit == spec_value(bits, raw, fsr), (bits, raw)


@pytest.mark.parametrize("bits", BITS)
def test_representable_set_is_sums_of_at_most_two_powers(bits):
    """The magnitudes are exactly {2**e (1 + 2**-j)}: first term e over 2**B1 - 1 octaves,
    j in 1..J or no second term; no duplicates; the largest is 1.5 * 2**(FSR - 1)."""
    b1, b2 = twoterm_fields(bits)
    big_j = 2**b2 - 1
    fsr = 0
    expected = {Fraction(0)}
    for e in range(fsr - 2**b1 + 1, fsr):
        expected.add(Fraction(2) ** e)
        for j in range(1, big_j + 1):
            expected.add(Fraction(2) ** e + Fraction(2) ** (e - j))
    unit = Fraction(2) ** twoterm_unit_log2(bits, fsr)
    got = [m * unit for m, _ in twoterm_magnitudes(bits)]
    assert got == sorted(expected)
    assert len(got) == 1 + (2**b1 - 1) * 2**b2
    assert max(got) == Fraction(3, 2) * Fraction(2) ** (fsr - 1)
    assert twoterm_max_magnitude(bits) * unit == max(got)
    # Each listed code decodes to its magnitude; every magnitude has at most two one bits.
    for m, code in twoterm_magnitudes(bits):
        assert twoterm_magnitude(bits, code) == m
        assert bin(m).count("1") <= 2
    assert max(twoterm_magnitude(bits, c) for c in range(1 << (bits - 1))).bit_length() - 1 == (
        twoterm_max_shift(bits)
    )


def test_worked_example_of_the_spec():
    """docs/formats.md, 5-bit two-term weights at FSR 0 (B1 = B2 = 2, unit 2**-6)."""
    assert twoterm_unit_log2(5, 0) == -6
    table = {
        0b0_00_00: 0,
        0b0_00_11: 0,
        0b1_00_10: 0,
        0b0_01_00: 8,
        0b0_01_01: 12,
        0b0_01_10: 10,
        0b0_01_11: 9,
        0b0_11_00: 32,
        0b0_11_01: 48,
        0b1_11_01: -48,
        0b1_10_11: -18,
    }
    for raw, units in table.items():
        assert twoterm_value(5, raw) == units, bin(raw)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"bits must be an integer in \[3, 8\], not 2"):
        twoterm_fields(2)
    with pytest.raises(ValueError, match=r"raw must be an integer in \[0, 31\], not 32"):
        twoterm_value(5, 32)
    with pytest.raises(TypeError, match="code must be an integer"):
        twoterm_magnitude(5, 1.0)


@pytest.mark.parametrize("bits", [3, 5, 8])
def test_magnitude_code_range(bits):
    """The magnitude code is checked against its whole range ``[0, 2**(bits-1) - 1]``, both
    ends named in the message, for every width."""
    top = (1 << (bits - 1)) - 1
    assert twoterm_magnitude(bits, 0) == 0
    twoterm_magnitude(bits, top)
    for bad in (-1, top + 1):
        with pytest.raises(
            ValueError, match=rf"code must be an integer in \[0, {top}\], not {bad}"
        ):
            twoterm_magnitude(bits, bad)
