"""Limits, accepted modes and the small checks and widths of the logdot number formats.

A sibling of :mod:`logdot.golden.formats` (which re-exports every public name here, the
import path the rest of the project uses): the documented limits of every engine
parameter (:data:`LIMITS`), the accepted activation formats, accumulation modes, weight
bases and weight terms, the argument checks every component and model function uses
(:func:`check_int`, :func:`check_bool`, :func:`check_choice`, :func:`normalize_base`,
:func:`read_only`), and the closed-form widths and constants (:func:`signed_width`,
:func:`unsigned_width`, :func:`sqrt2_constant`, :func:`ceil_root_pow2`,
:func:`log_state_max`). Pure Python, no torch.
"""

from __future__ import annotations

import math
import operator

__all__ = [
    "ACCUMULATE_MODES",
    "ACT_FORMATS",
    "LIMITS",
    "WEIGHT_BASES",
    "WEIGHT_TERMS",
    "ceil_root_pow2",
    "check_bool",
    "check_choice",
    "check_int",
    "log_state_max",
    "normalize_base",
    "read_only",
    "read_only_params",
    "signed_width",
    "sqrt2_constant",
    "unsigned_width",
]

#: Activation formats the engine accepts.
ACT_FORMATS = ("linear", "log")
#: Accumulation modes: ``"exact"`` integer sums, or ``"log"`` (the paper's section 3.3
#: log-domain accumulation, :mod:`logdot.golden.logacc`).
ACCUMULATE_MODES = ("exact", "log")
#: Weight bases the engine accepts (``2`` or the string ``"sqrt2"``, as on the CLI).
WEIGHT_BASES = (2, "sqrt2")
#: Terms per weight the engine accepts (``EngineConfig.weight_terms``).
WEIGHT_TERMS = (1, 2)

#: Documented limits of every engine parameter (inclusive). Beyond them the generator and
#: the golden model refuse the configuration at once with a clear error, so that a typo
#: cannot exhaust memory or produce a design no simulator can handle.
LIMITS = {
    "lanes": (1, 1024),
    "act_bits_linear": (2, 32),
    "act_bits_log": (2, 8),
    "weight_bits": (2, 8),
    "frac_bits": (0, 24),
    "max_beats": (1, 1 << 24),
    "acc_bits": (2, 64),
    "result_bits": (1, 64),
    "register_every": (0, 16),
    "fsr": (-512, 512),
    "quant_bits": (2, 16),
}

_DEFAULT_FRAC_BITS = 8
#: Largest fraction bits ``F`` of a log-domain accumulator (its table has ``2**F`` entries).
_MAX_LOG_FRAC_BITS = 12


def normalize_base(base, *, name="base"):
    """Return ``2`` or ``"sqrt2"`` for an accepted spelling of a log base.

    Accepted: ``2``, ``"2"``, ``"sqrt2"``. Anything else raises :class:`ValueError`
    (or :class:`TypeError` for a non-int, non-str value) naming ``name``.
    """
    if isinstance(base, bool) or not isinstance(base, int | str):
        raise TypeError(f"{name} must be 2 or 'sqrt2', not {base!r}")
    if base == 2 or base == "2":
        return 2
    if base == "sqrt2":
        return "sqrt2"
    raise ValueError(f"{name} must be 2 or 'sqrt2', not {base!r}")


def check_int(value, name, lo=None, hi=None):
    """Validate that ``value`` is an ``int`` (not ``bool``) in ``[lo, hi]``; return it.

    Raises :class:`TypeError` for a non-integer and :class:`ValueError` for a value out of
    range, both naming ``name`` and the bad value.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if lo is not None and value < lo:
        if hi is None:
            raise ValueError(f"{name} must be an integer >= {lo}, not {value!r}")
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")
    if hi is not None and value > hi:
        raise ValueError(f"{name} must be an integer in [{lo}, {hi}], not {value!r}")
    return value


def check_bool(value, name):
    """Validate that ``value`` is a ``bool``; return it.

    Raises :class:`TypeError` naming ``name`` and the bad value (``1`` and ``0`` are not
    bools).
    """
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return value


def read_only(name, doc=None):
    """A read-only :class:`property` whose value is the instance attribute ``_<name>``.

    Parameters
    ----------
    name : str
        The property's name; the value is stored as ``_<name>`` (set in ``__init__``).
    doc : str or None
        The property's docstring.

    Returns
    -------
    property
        Assigning to it raises :exc:`AttributeError`.
    """
    return property(operator.attrgetter(f"_{name}"), doc=doc)


def read_only_params(*names, of=None):
    """A class decorator adding one read-only property per constructor parameter.

    The parameters are documented once, in the class's ``Parameters`` section; each property's
    docstring points there.

    Parameters
    ----------
    *names : str
        The parameter names.
    of : str or None
        Where the values are: ``None``, each in the instance attribute ``_<name>`` (a
        :func:`read_only` property, set in ``__init__``); else the name of the instance
        attribute holding the configuration object whose attribute ``<name>`` it is (e.g.
        ``"_config"``).

    Returns
    -------
    callable
        Takes the class, sets the properties on it and returns it.
    """

    def decorate(cls):
        for name in names:
            doc = f"The ``{name}`` parameter (see :class:`{cls.__name__}`), read-only."
            value = f"_{name}" if of is None else f"{of}.{name}"
            setattr(cls, name, property(operator.attrgetter(value), doc=doc))
        return cls

    return decorate


def check_choice(value, name, choices):
    """Validate that ``value`` is one of ``choices``; return it.

    Raises :class:`ValueError` naming ``name``, every choice and the bad value.
    """
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, choices))}, not {value!r}")
    return value


def signed_width(lo, hi):
    """Smallest two's-complement width holding every integer in ``[lo, hi]`` (at least 1)."""
    if lo > hi:
        raise ValueError(f"empty range [{lo}, {hi}]")
    width = 1
    while not (-(1 << (width - 1)) <= lo and hi <= (1 << (width - 1)) - 1):
        width += 1
    return width


def unsigned_width(hi):
    """Smallest unsigned width holding ``hi >= 0`` (at least 1)."""
    return max(1, int(hi).bit_length())


def sqrt2_constant(frac_bits):
    """``R = round(sqrt(2) * 2**frac_bits)``, computed exactly with integers.

    ``sqrt(2) * 2**F`` is irrational, so there is never a tie.
    """
    check_int(frac_bits, "frac_bits", 0)
    square = 2 << (2 * frac_bits)  # (sqrt(2) * 2**F)**2
    r = math.isqrt(square)  # floor
    # Round up iff sqrt(square) >= r + 1/2  <=>  4 * square >= (2r + 1)**2.
    if 4 * square >= (2 * r + 1) ** 2:
        r += 1
    return r


def ceil_root_pow2(numerator_log2, root):
    """Smallest integer ``t >= 0`` with ``t**root >= 2**numerator_log2`` (exact).

    Used for exact rounding thresholds: the smallest integer mantissa ``x`` with leading
    one at bit ``e`` that rounds up in the log domain is ``ceil(2**(e + 1/2))`` =
    ``ceil_root_pow2(2 * e + 1, 2)``.
    """
    target = 1 << numerator_log2
    # Integer k-th root by Newton iteration from above, then fix up.
    t = 1 << (-(-numerator_log2 // root) + 1)
    while True:
        u = ((root - 1) * t + target // t ** (root - 1)) // root
        if u >= t:
            break
        t = u
    while t**root < target:
        t += 1
    while t > 0 and (t - 1) ** root >= target:
        t -= 1
    return t


def log_state_max(term_max, frac_bits, terms):
    """Largest state a log-domain accumulator of ``terms`` terms can reach (an exact bound).

    The state is the fixed-point log2 magnitude of :mod:`logdot.golden.logacc` (``F =
    frac_bits`` fraction bits); every term is an integer in ``[0, term_max]``. Two bounds,
    the smaller is returned (``docs/formats.md``, "Log-domain accumulation", proves both):

    * every addition adds ``T[r] >> q <= T[0] = 2**F``:
      ``term_max + (terms - 1) * 2**F``;
    * for ``F >= 3`` an addition exceeds the exact ``2**F * log2(2**(L/2**F) + 2**(M/2**F))``
      only when ``q == 0``, by less than 1/2, and at most ``n0 = (term_max + 2**F) //
      2**(F - 1) + 1`` additions of a sum can have ``q == 0``, so the state stays below
      ``term_max + ceil(log2(terms)) * 2**F + n0 // 2``.
    """
    f = check_int(frac_bits, "frac_bits", 0, _MAX_LOG_FRAC_BITS)
    check_int(term_max, "term_max", 0)
    check_int(terms, "terms", 1)
    crude = term_max + ((terms - 1) << f)
    if f < 3:
        return crude
    n0 = (term_max + (1 << f)) // (1 << (f - 1)) + 1
    refined = term_max + ((terms - 1).bit_length() << f) + n0 // 2
    return min(crude, refined)
