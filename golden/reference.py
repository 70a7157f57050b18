"""The plain-Python big-integer reference of the engine arithmetic (no torch, no numpy).

:func:`reference_dot` is written from the specification (``docs/formats.md``, "Engine
arithmetic") without any table, vectorization or fixed-width integer: the independent check of
the fast model :func:`logdot.golden.engine.dot`, and the model ``logdot generate`` computes
its test-bench vectors with (that command imports no torch).
"""

from __future__ import annotations

from .formats import EngineConfig

__all__ = ["reference_dot"]


def _as_pylist(x):
    return x.tolist() if hasattr(x, "tolist") else list(x)


def reference_dot(config, acts, weights, last=None):
    """Slow, independent plain-Python big-integer reference of :func:`dot`.

    Written from the specification without any table, vectorization or fixed-width integer:
    every term, beat sum and accumulator is a Python ``int``, and wrapping / saturation are
    applied to the unbounded value beat by beat. Only for tests (about a microsecond per lane
    product; what logdot's generated test benches expect). Returns a list of ``int``.

    ``acts``, ``weights`` and ``last`` are sequences (or anything with ``tolist()``: tensors,
    arrays) of the same shapes as :func:`logdot.golden.engine.dot` takes.
    """
    if not isinstance(config, EngineConfig):
        raise TypeError(f"config must be an EngineConfig, not {type(config).__name__}")
    if config.accumulate == "log":
        from .logacc import reference_engine_dot  # imports torch: only for log accumulation

        return reference_engine_dot(config, acts, weights, last)
    A, W = config.act_bits, config.weight_bits
    acts, weights = _as_pylist(acts), _as_pylist(weights)
    if len(acts) != len(weights):
        raise ValueError("acts and weights must have the same number of beats")
    flags = [True] * len(acts) if last is None else [bool(x) for x in _as_pylist(last)]
    if len(flags) != len(acts) or (flags and not flags[-1]):
        raise ValueError("last must have one flag per beat and end with True")
    sqrt2 = config.weight_base == "sqrt2"
    lo, hi = config.acc_range
    modulus = 2**config.acc_bits
    results = []
    acc = [0, 0]
    for beat_a, beat_w, end in zip(acts, weights, flags, strict=True):
        if len(beat_a) != config.lanes or len(beat_w) != config.lanes:
            raise ValueError("every beat must have config.lanes activations and weights")
        beat = [0, 0]
        for x, code in zip(beat_a, beat_w, strict=True):
            x, code = int(x), int(code)
            assert 0 <= code < 2**W, code
            negative = code >= 2 ** (W - 1)
            c = code - 2 ** (W - 1) if negative else code
            if config.act_is_log:
                assert 0 <= x < 2**A, x
                if config.act_signed and x >= 2 ** (A - 1):
                    negative = not negative
                    d = x - 2 ** (A - 1)
                else:
                    d = x
                if c == 0 or d == 0:
                    continue
                exponent = (c - 1) + (2 if sqrt2 else 1) * (d - 1)
                mantissa = 1
            elif config.weight_terms == 2:
                # Written from docs/formats.md: | sign | c (W-1-(W-1)//2 bits) | j ((W-1)//2) |.
                lo_a, hi_a = config.act_range
                assert lo_a <= x <= hi_a, x
                j_bits = (W - 1) // 2
                first, j = divmod(c, 2**j_bits)
                if first == 0:
                    continue
                top = first - 1 + (2**j_bits - 1)
                term = x * 2**top + (x * 2 ** (top - j) if j else 0)
                beat[0] += -term if negative else term
                continue
            else:
                lo_a, hi_a = config.act_range
                assert lo_a <= x <= hi_a, x
                if c == 0:
                    continue
                exponent = c - 1
                mantissa = x
            parity = exponent % 2 if sqrt2 else 0
            shift = exponent // 2 if sqrt2 else exponent
            term = mantissa * 2**shift
            beat[parity] += -term if negative else term
        for p in (0, 1):
            total = acc[p] + beat[p]
            if config.saturating:
                total = min(max(total, lo), hi)
            else:
                total = (total - lo) % modulus + lo
            acc[p] = total
        if end:
            if sqrt2:
                results.append(acc[0] * 2**config.frac_bits + config.sqrt2_r * acc[1])
            else:
                results.append(acc[0])
            acc = [0, 0]
    return results
