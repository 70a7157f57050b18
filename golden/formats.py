"""The logdot number formats and engine geometry: the single source of truth.

Everything that decides a bit lives here, in pure Python (no torch), so that the golden
model (:mod:`logdot.golden.quant`, :mod:`logdot.golden.engine`) and the hardware
(:mod:`logdot.hdl`)
can never disagree on a code layout, a width or a constant. ``docs/formats.md`` is the
normative prose version of this module. The limits, the accepted modes and the small
argument checks and widths live in the sibling :mod:`logdot.golden.limits` and are
importable from here.

Summary
-------
* A *log magnitude code* of ``b`` bits is ``c`` in ``[0, 2**b)``. ``c == 0`` is the value 0;
  ``c >= 1`` is ``base**(fsr - 2**b + c)``. Code ``2**b - 1`` is ``base**(fsr - 1)``.
* A *signed* log value of ``bits`` bits has the sign in bit ``bits - 1`` (1 = negative) and a
  ``bits - 1`` bit magnitude code below it; ``bits`` always counts the sign bit.
* The engine computes with integers only. Relative to the smallest non-zero code, a log
  weight with code ``c`` is ``2**(c - 1)`` (base 2) or ``sqrt(2)**(c - 1)`` (base sqrt(2)); a
  log activation with code ``d`` is ``2**(d - 1)``. The real scale of a result is applied
  outside the engine (see :func:`result_scale_log2`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from . import limits
from .limits import (  # re-exported: limits.__all__
    _DEFAULT_FRAC_BITS,
    _MAX_LOG_FRAC_BITS,
)
from .limits import (
    ACCUMULATE_MODES as ACCUMULATE_MODES,
)
from .limits import (
    ACT_FORMATS as ACT_FORMATS,
)
from .limits import (
    LIMITS as LIMITS,
)
from .limits import (
    WEIGHT_BASES as WEIGHT_BASES,
)
from .limits import (
    WEIGHT_TERMS as WEIGHT_TERMS,
)
from .limits import (
    ceil_root_pow2 as ceil_root_pow2,
)
from .limits import (
    check_bool as check_bool,
)
from .limits import (
    check_choice as check_choice,
)
from .limits import (
    check_int as check_int,
)
from .limits import (
    log_state_max as log_state_max,
)
from .limits import (
    normalize_base as normalize_base,
)
from .limits import (
    read_only as read_only,
)
from .limits import (
    read_only_params as read_only_params,
)
from .limits import (
    signed_width as signed_width,
)
from .limits import (
    sqrt2_constant as sqrt2_constant,
)
from .limits import (
    unsigned_width as unsigned_width,
)

__all__ = ["EngineConfig", *limits.__all__]


#: Widths of a two-term power-of-two weight (``logdot.golden.twoterm``): sign, first-term code
#: and second-term offset need one bit each, up to the widest weight.
TWOTERM_BITS = (3, LIMITS["weight_bits"][1])


def _check_twoterm_bits(bits):
    return check_int(bits, "bits", *TWOTERM_BITS)


def twoterm_fields(bits):
    """``(B1, B2)``: widths of the first-term code ``c`` and the offset ``j`` of a ``bits``-bit
    two-term weight (``B1 + B2 = bits - 1``; ``B2 = (bits - 1) // 2``)."""
    _check_twoterm_bits(bits)
    b2 = (bits - 1) // 2
    return bits - 1 - b2, b2


def twoterm_max_shift(bits):
    """Largest left shift of a term in integer units: ``J + 2**B1 - 2`` (the first term of the
    largest code ``c = 2**B1 - 1``)."""
    b1, b2 = twoterm_fields(bits)
    return (1 << b2) - 1 + (1 << b1) - 2


def twoterm_unit_log2(bits, fsr):
    """Exponent of the integer unit: a magnitude of ``m`` units is ``m * 2**unit_log2``.

    ``unit_log2 = FSR - 2**B1 + 1 - J``, the exponent of the smallest second term.
    """
    check_int(fsr, "fsr")
    b1, b2 = twoterm_fields(bits)
    return fsr - (1 << b1) + 1 - ((1 << b2) - 1)


def twoterm_max_magnitude(bits):
    """Largest magnitude in units: ``3 * 2**(max_shift - 1)`` (``c = 2**B1 - 1``, ``j = 1``)."""
    return 3 << (twoterm_max_shift(bits) - 1)


@dataclass(frozen=True)
class EngineConfig:
    """Parameters and derived geometry of one log dot-product engine.

    The same parameters as the hardware generator (:class:`logdot.hdl.engine.LogDotEngine`); the
    golden model (:func:`logdot.golden.engine.dot`) and the generator both derive every width from
    this class, so they agree by construction.

    Parameters
    ----------
    lanes : int
        Number of products per beat, ``N >= 1`` (any integer).
    act_bits : int
        Activation width ``A`` in bits, sign bit included when signed.
    weight_bits : int
        Weight width ``W >= 2``: a sign bit above a ``W - 1`` bit log magnitude code.
    act_format : {"linear", "log"}
        ``"linear"``: ``A``-bit two's complement (or unsigned) integers. ``"log"``: base-2 log
        codes (sign in the top bit when signed, code below).
    act_signed : bool
        ``False`` makes activations unsigned (for ``"log"``, all ``A`` bits are the code).
    weight_base : {2, "sqrt2"}
        Log base of the weights.
    frac_bits : int or None
        Fraction bits ``F`` of the result in base-sqrt(2) mode (default 8). Must be 0 or
        ``None`` in base-2 mode.
    acc_bits : int or None
        Accumulator width. ``None`` (default) is the exact width for ``max_beats`` beats, so
        no overflow is possible within ``max_beats``; such an accumulator wraps modulo
        ``2**acc_bits`` beyond it. A narrower width makes the accumulator saturate, beat by
        beat, at its two's-complement limits.
    max_beats : int
        Longest dot product (in beats) the default accumulator is sized for.
    register_terms : bool
        Register the per-lane terms after the shift stage (hardware only).
    register_every : int
        Register the adder tree every ``k`` levels; ``0`` means no registers inside the
        tree (hardware only).
    accumulate : {"exact", "log"}
        ``"exact"`` (default): exact integer sums. ``"log"``: the paper's log-domain
        accumulation (``docs/formats.md``, "Log-domain accumulation"): log activations only,
        one term per cycle; ``frac_bits`` is then the ``F`` of the log2 state (default 8,
        ``0 .. 12``, at least 1 in base sqrt(2)), ``acc_bits`` is resolved to the state width
        (:attr:`log_state_bits`; give ``None``), ``register_every`` must be 0, and the result is
        ``y = D(Lpos) - D(Lneg)`` with ``F`` fraction bits.
    weight_terms : {1, 2}
        ``1``: single-term log weights (sign + log code). ``2``: two-term power-of-two
        weights (:mod:`logdot.golden.twoterm`: sign + first-term code + offset of the second
        term); needs ``weight_base=2``, linear activations and ``weight_bits >= 3``.
    """

    lanes: int
    act_bits: int
    weight_bits: int
    act_format: str = "linear"
    act_signed: bool = True
    weight_base: int | str = 2
    frac_bits: int | None = None
    acc_bits: int | None = None
    max_beats: int = 1024
    register_terms: bool = True
    register_every: int = 0
    accumulate: str = "exact"
    weight_terms: int = 1
    # Derived, filled in by __post_init__.
    _derived: dict = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        check_int(self.lanes, "lanes", *LIMITS["lanes"])
        if self.act_format not in ACT_FORMATS:
            raise ValueError(f"act_format must be 'linear' or 'log', not {self.act_format!r}")
        lim = LIMITS["act_bits_log" if self.act_format == "log" else "act_bits_linear"]
        check_int(self.act_bits, "act_bits", *lim)
        check_int(self.weight_bits, "weight_bits", *LIMITS["weight_bits"])
        check_bool(self.act_signed, "act_signed")
        object.__setattr__(
            self, "weight_base", normalize_base(self.weight_base, name="weight_base")
        )
        check_choice(self.accumulate, "accumulate", ACCUMULATE_MODES)
        if self.accumulate == "log":
            self._check_log_mode()
        elif self.weight_base == 2:
            if self.frac_bits not in (None, 0):
                raise ValueError(
                    f"frac_bits must be 0 or None with weight_base 2, not {self.frac_bits!r}"
                )
            object.__setattr__(self, "frac_bits", 0)
        else:
            if self.frac_bits is None:
                object.__setattr__(self, "frac_bits", _DEFAULT_FRAC_BITS)
            check_int(self.frac_bits, "frac_bits", *LIMITS["frac_bits"])
        check_int(self.max_beats, "max_beats", *LIMITS["max_beats"])
        check_bool(self.register_terms, "register_terms")
        check_int(self.register_every, "register_every", *LIMITS["register_every"])
        self._check_weight_terms()

        d = {}
        exact = self._exact_acc_bits(self.max_beats)
        d["exact_acc_bits"] = exact
        if self.accumulate == "log":
            object.__setattr__(self, "_derived", self._log_derived(d))
            return
        if exact > LIMITS["acc_bits"][1]:
            raise ValueError(
                f"this configuration needs a {exact}-bit accumulator for max_beats="
                f"{self.max_beats}, beyond logdot's limit of {LIMITS['acc_bits'][1]} bits "
                f"(the golden model computes in int64); reduce weight_bits, act_bits, "
                f"lanes or max_beats"
            )
        if self.acc_bits is None:
            object.__setattr__(self, "acc_bits", exact)
        else:
            check_int(self.acc_bits, "acc_bits", *LIMITS["acc_bits"])
            if self.acc_bits > exact:
                raise ValueError(
                    f"acc_bits must be at most the exact width {exact} for max_beats="
                    f"{self.max_beats}, not {self.acc_bits!r}; raise max_beats instead"
                )
        lo, hi = self.acc_range
        if self.weight_base == "sqrt2":
            r = sqrt2_constant(self.frac_bits)
            f = self.frac_bits
            rbits = signed_width((lo << f) + r * lo, (hi << f) + r * hi)
        else:
            rbits = self.acc_bits
        if rbits > LIMITS["result_bits"][1]:
            raise ValueError(
                f"this configuration produces {rbits}-bit results, beyond logdot's limit of "
                f"{LIMITS['result_bits'][1]} bits; reduce frac_bits or acc_bits"
            )
        d["result_bits"] = rbits
        object.__setattr__(self, "_derived", d)

    def _check_log_mode(self):
        """Validate the parameters that ``accumulate="log"`` restricts (see the class doc)."""
        if self.act_format != "log":
            raise ValueError(
                f"accumulate='log' needs act_format='log' (a linear activation times a log "
                f"weight is not a power of two), not {self.act_format!r}"
            )
        if self.frac_bits is None:
            object.__setattr__(self, "frac_bits", _DEFAULT_FRAC_BITS)
        lo = 1 if self.weight_base == "sqrt2" else 0
        check_int(self.frac_bits, "frac_bits", lo, _MAX_LOG_FRAC_BITS)
        if self.register_every != 0:
            raise ValueError(
                f"register_every must be 0 with accumulate='log' (no adder tree: one term "
                f"per cycle), not {self.register_every!r}"
            )

    def _log_derived(self, d):
        """Derived widths of a log-domain accumulator (``d`` holds ``exact_acc_bits``)."""
        lmax = log_state_max(self.log_term_max, self.frac_bits, self.lanes * self.max_beats)
        d["log_state_max"] = lmax
        width = unsigned_width(lmax)
        if self.acc_bits not in (None, width):
            raise ValueError(
                f"acc_bits must be None (or the resolved {width}) with accumulate='log': the "
                f"log-domain state width follows from max_beats, not {self.acc_bits!r}"
            )
        object.__setattr__(self, "acc_bits", width)
        # D(L) = E[L mod 2**F] << (L >> F) with E[r] < 2**(F + 1); y = D(Lpos) - D(Lneg).
        rbits = self.frac_bits + 2 + (lmax >> self.frac_bits)
        if rbits > LIMITS["result_bits"][1]:
            raise ValueError(
                f"this configuration produces {rbits}-bit results with accumulate='log', "
                f"beyond logdot's limit of {LIMITS['result_bits'][1]} bits; reduce act_bits, "
                f"weight_bits, lanes or max_beats"
            )
        d["result_bits"] = rbits
        return d

    @property
    def log_term_shift(self):
        """Fraction bits of one weight-base step in the log state: ``F`` (base 2) or
        ``F - 1`` (base sqrt(2): one step is half a unit of log2); ``None`` if exact."""
        if self.accumulate != "log":
            return None
        return self.frac_bits - (self.weight_base == "sqrt2")

    @property
    def log_term_max(self):
        """Largest log magnitude of one term, ``h_max << log_term_shift`` (log mode)."""
        if self.accumulate != "log":
            return None
        return self._half_exps() << self.log_term_shift

    @property
    def log_state_max(self):
        """Largest log-domain state (:func:`log_state_max`; log mode, else ``None``)."""
        return self._derived.get("log_state_max")

    @property
    def log_state_bits(self):
        """Width of each log-domain state register (log mode; ``None`` if exact)."""
        return self.acc_bits if self.accumulate == "log" else None

    @property
    def cycles_per_beat(self):
        """Clock cycles one input beat occupies the engine: 1, or ``lanes`` in log mode
        (one term per cycle)."""
        return self.lanes if self.accumulate == "log" else 1

    def _check_weight_terms(self):
        check_choice(self.weight_terms, "weight_terms", WEIGHT_TERMS)
        if self.weight_terms == 1:
            return
        if self.weight_base != 2:
            raise ValueError(f"weight_terms=2 needs weight_base 2, not {self.weight_base!r}")
        if self.act_is_log:
            raise ValueError("weight_terms=2 needs act_format 'linear', not 'log'")
        lo = TWOTERM_BITS[0]
        if self.weight_bits < lo:
            raise ValueError(
                f"weight_bits must be at least {lo} with weight_terms=2 (sign, first-term "
                f"code and second-term offset need one bit each), not {self.weight_bits!r}"
            )

    # -- parameters -----------------------------------------------------------------------

    @classmethod
    def parameter_names(cls):
        """Names of the constructor parameters, in declaration order (a tuple).

        Derived from the dataclass fields (``init=True`` only), so a new parameter appears
        here, in :meth:`parameters` and in the manifest without further edits.
        """
        return tuple(f.name for f in fields(cls) if f.init)

    def parameters(self):
        """The constructor parameters as a dict (``type(self)(**cfg.parameters()) == cfg``).

        The values are the normalized ones (``acc_bits`` and ``frac_bits`` resolved,
        ``weight_base`` as ``2`` or ``"sqrt2"``); ``to_dict()["parameters"]`` is this dict
        (plus ``"engine"`` for :class:`logdot.golden.linear_engine.LinearConfig`).
        """
        return {name: getattr(self, name) for name in self.parameter_names()}

    # -- code layouts ---------------------------------------------------------------------

    @property
    def weight_code_bits(self):
        """Width of the weight's magnitude code (``W - 1``)."""
        return self.weight_bits - 1

    @property
    def act_code_bits(self):
        """Width of the activation's log magnitude code (log format only)."""
        return self.act_bits - 1 if self.act_signed else self.act_bits

    @property
    def act_is_log(self):
        return self.act_format == "log"

    # -- per-term geometry ----------------------------------------------------------------

    @property
    def max_weight_exp(self):
        """Largest weight exponent ``c - 1`` (in units of the weight base); with two-term
        weights the largest shift of a term (:func:`logdot.golden.twoterm.twoterm_max_shift`)."""
        if self.weight_terms == 2:
            return twoterm_max_shift(self.weight_bits)
        return (1 << self.weight_code_bits) - 2

    @property
    def weight_unit_offset(self):
        """Exponent (in units of the weight base) of the engine's integer weight unit minus
        the weight FSR: ``1 - 2**(W - 1)`` (single term: code 1), or ``1 - 2**B1 - J`` (two
        terms: the smallest second term, :func:`logdot.golden.twoterm.twoterm_unit_log2`)."""
        if self.weight_terms == 2:
            return twoterm_unit_log2(self.weight_bits, 0)
        return 1 - (1 << self.weight_code_bits)

    @property
    def max_act_exp(self):
        """Largest log-activation exponent ``d - 1`` (log format only)."""
        return (1 << self.act_code_bits) - 2

    @property
    def act_range(self):
        """``(lo, hi)`` of a linear activation's integer value."""
        a = self.act_bits
        if self.act_signed:
            return -(1 << (a - 1)), (1 << (a - 1)) - 1
        return 0, (1 << a) - 1

    def _half_exps(self):
        """All product exponents in units of the weight base, and their magnitude bounds."""
        if self.act_is_log:
            da = 1 if self.weight_base == 2 else 2  # one act step in weight-base units
            return self.max_weight_exp + da * self.max_act_exp
        return self.max_weight_exp

    def term_shift_range(self, parity=None):
        """Largest left shift of a term (base 2), or of a term of one parity (sqrt2).

        In base sqrt(2) a term with half-step exponent ``h`` is ``x << (h >> 1)`` in the
        accumulator of parity ``h & 1``. Returns ``None`` when no term has that parity.
        """
        hmax = self._half_exps()
        if self.weight_base == 2:
            return hmax
        if parity not in (0, 1):
            raise ValueError(f"parity must be 0 or 1 in sqrt2 mode, not {parity!r}")
        # h ranges over 0..hmax; the largest h of the requested parity. Log activations add
        # even steps (2 (d - 1)), so h has the parity of the weight exponent c - 1: an odd h
        # needs max_weight_exp >= 1.
        h = hmax if (hmax & 1) == parity else hmax - 1
        return None if h < hmax - self.max_weight_exp else h >> 1

    def term_range(self, parity=None):
        """``(lo, hi)`` of one lane's signed term (of one parity in sqrt2 mode)."""
        s = self.term_shift_range(parity)
        if s is None:
            return 0, 0
        if self.act_is_log:
            # +-(1 << shift); the sign is the XOR of both signs (weights always signed).
            return -(1 << s), 1 << s
        lo, hi = self.act_range
        if self.weight_terms == 2:
            mag = max(-lo, hi) * twoterm_max_magnitude(self.weight_bits)
            return -mag, mag
        mag = max(-lo, hi) << s
        return -mag, mag

    def _parities(self):
        return (None,) if self.weight_base == 2 else (0, 1)

    def tree_range(self, parity=None):
        """``(lo, hi)`` of one beat's sum over all lanes (exact)."""
        lo, hi = self.term_range(parity)
        return self.lanes * lo, self.lanes * hi

    def _exact_acc_bits(self, beats):
        width = 1
        for p in self._parities():
            lo, hi = self.tree_range(p)
            width = max(width, signed_width(beats * lo, beats * hi))
        return width

    def exact_acc_bits(self, beats=None):
        """Width of an accumulator that cannot overflow within ``beats`` beats.

        This is THE width function shared by the golden model and the generator.
        """
        if beats is None:
            return self._derived["exact_acc_bits"]
        return self._exact_acc_bits(check_int(beats, "beats", 1))

    @property
    def saturating(self):
        """True when ``acc_bits`` is narrower than the exact width: the accumulator saturates."""
        return self.accumulate == "exact" and self.acc_bits < self._derived["exact_acc_bits"]

    @property
    def acc_range(self):
        """``(lo, hi)`` an ``acc_bits`` accumulator holds."""
        return -(1 << (self.acc_bits - 1)), (1 << (self.acc_bits - 1)) - 1

    @property
    def sqrt2_r(self):
        """The constant ``R = round(sqrt(2) * 2**F)`` (sqrt2 mode), else ``None``."""
        if self.weight_base != "sqrt2" or self.accumulate == "log":
            return None
        return sqrt2_constant(self.frac_bits)

    @property
    def result_bits(self):
        """Width of the two's-complement result (``F`` of them are fraction bits)."""
        return self._derived["result_bits"]

    # -- stream layout --------------------------------------------------------------------

    @property
    def in_bits(self):
        """Used bits of one input beat: ``N * A`` activation bits then ``N * W`` weight bits."""
        return self.lanes * (self.act_bits + self.weight_bits)

    @property
    def in_bytes(self):
        return -(-self.in_bits // 8)

    @property
    def out_bytes(self):
        return -(-self.result_bits // 8)

    def act_lsb(self, lane):
        """Bit offset of activation ``lane`` in ``s_axis_tdata``."""
        return lane * self.act_bits

    def weight_lsb(self, lane):
        """Bit offset of weight ``lane`` in ``s_axis_tdata``."""
        return self.lanes * self.act_bits + lane * self.weight_bits

    def pack_beat(self, acts, weights):
        """Pack one beat's integer codes into the ``s_axis_tdata`` integer.

        ``acts`` are raw ``A``-bit fields (two's complement already masked, or codes) or signed
        integers for linear activations; ``weights`` are ``W``-bit codes.
        """
        am, wm = (1 << self.act_bits) - 1, (1 << self.weight_bits) - 1
        word = 0
        for i, a in enumerate(acts):
            word |= (int(a) & am) << self.act_lsb(i)
        for i, w in enumerate(weights):
            word |= (int(w) & wm) << self.weight_lsb(i)
        return word

    def unpack_result(self, word):
        """Signed integer value of an ``m_axis_tdata`` word."""
        bits = 8 * self.out_bytes
        word &= (1 << bits) - 1
        return word - (1 << bits) if word >> (bits - 1) else word

    # -- scale ----------------------------------------------------------------------------

    def result_scale_log2(self, *, weight_fsr, act_exp=None, act_fsr=None):
        """Real value of one result LSB, as an exponent of 2 (may be a half-integer).

        ``result * 2**result_scale_log2(...)`` is the real dot product (up to the sqrt(2)
        rounding of ``F`` fraction bits). Pass ``act_exp`` for linear activations (their scale
        ``2**act_exp``) or ``act_fsr`` for log activations.
        """
        check_int(weight_fsr, "weight_fsr", *LIMITS["fsr"])
        wexp = weight_fsr + self.weight_unit_offset  # the integer unit, in base units
        e = wexp if self.weight_base == 2 else wexp / 2
        if self.act_is_log:
            if act_fsr is None:
                raise ValueError("act_fsr is required for log activations")
            check_int(act_fsr, "act_fsr", *LIMITS["fsr"])
            e += act_fsr - (1 << self.act_code_bits) + 1
        else:
            if act_exp is None:
                raise ValueError("act_exp is required for linear activations")
            check_int(act_exp, "act_exp", *LIMITS["fsr"])
            e += act_exp
        return e - self.frac_bits

    def to_dict(self):
        """Every parameter and derived width (for the manifest JSON)."""
        params = self.parameters()
        derived = {
            "exact_acc_bits": self.exact_acc_bits(),
            "saturating": self.saturating,
            "result_bits": self.result_bits,
            "sqrt2_r": self.sqrt2_r,
            "in_bits": self.in_bits,
            "in_bytes": self.in_bytes,
            "out_bytes": self.out_bytes,
            "term_bits": [signed_width(*self.term_range(p)) for p in self._parities()],
            "tree_bits": [signed_width(*self.tree_range(p)) for p in self._parities()],
            "log_state_bits": self.log_state_bits,
            "cycles_per_beat": self.cycles_per_beat,
        }
        return {"parameters": params, "derived": derived}
