"""Synthesis targets and cell counting: what a device family calls a LUT, a carry, a DSP."""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "BASELINE_TARGETS",
    "DEFAULT_TARGETS",
    "DEVICE_CAPACITY",
    "FAMILIES",
    "MUL_CELLS",
    "TARGETS",
    "Target",
    "assert_multiplier_free",
    "count_cells",
    "resolve_targets",
    "select_targets",
]


@dataclass(frozen=True)
class Target:
    """One synthesis target.

    Attributes
    ----------
    name : str
        Name of the target (a key of :data:`TARGETS`).
    family : {"ice40", "ecp5", "xilinx"}
        Device family (the Yosys ``synth_*`` command and the cell names).
    dsp : bool
        Whether synthesis may use DSP blocks.
    device : str or None
        The device place and route uses (``None``: synthesis only).
    default_freq_mhz : float or None
        Default clock constraint of place and route.
    pnr_args : tuple of str
        nextpnr's device options.
    """

    name: str
    family: str
    dsp: bool
    device: str | None
    default_freq_mhz: float | None
    pnr_args: tuple = ()


_HX8K = ("--hx8k", "--package", "ct256")
_ECP5_25K = ("--25k", "--package", "CABGA256")
_ECP5_85K = ("--85k", "--package", "CABGA381")
_ECP5_45K = ("--45k", "--package", "CABGA256")
_UP5K = ("--up5k", "--package", "sg48")

#: Every target the flow knows, by name.
TARGETS = {
    t.name: t
    for t in (
        Target("ice40", "ice40", False, "iCE40 HX8K ct256", 150.0, _HX8K),
        Target("ecp5", "ecp5", True, "ECP5 LFE5U-25F CABGA256", 200.0, _ECP5_25K),
        Target("ecp5-nodsp", "ecp5", False, "ECP5 LFE5U-25F CABGA256", 200.0, _ECP5_25K),
        Target("xilinx", "xilinx", True, None, None),
        Target("xilinx-nodsp", "xilinx", False, None, None),
        # The largest ECP5, for scaling sweeps whose big engines do not fit the 25k part.
        Target("ecp5-85k", "ecp5", True, "ECP5 LFE5U-85F CABGA381", 200.0, _ECP5_85K),
        Target("ecp5-85k-nodsp", "ecp5", False, "ECP5 LFE5U-85F CABGA381", 200.0, _ECP5_85K),
        # More devices for the streaming network accelerators (logdot.synth.network).
        Target("ecp5-45k", "ecp5", True, "ECP5 LFE5U-45F CABGA256", 200.0, _ECP5_45K),
        Target("ecp5-45k-nodsp", "ecp5", False, "ECP5 LFE5U-45F CABGA256", 200.0, _ECP5_45K),
        Target("ice40-up5k", "ice40", False, "iCE40 UP5K sg48", 150.0, _UP5K),
    )
}
#: Resources of each place-and-route device (data sheets): LUT4s, block RAMs (iCE40
#: SB_RAM40_4K, ECP5 DP16KD) and DSP blocks (iCE40 SB_MAC16, ECP5 MULT18X18D).
DEVICE_CAPACITY = {
    "iCE40 HX8K ct256": {"luts": 7680, "bram": 32, "dsps": 0},
    "iCE40 UP5K sg48": {"luts": 5280, "bram": 30, "dsps": 8},
    "ECP5 LFE5U-25F CABGA256": {"luts": 24288, "bram": 56, "dsps": 28},
    "ECP5 LFE5U-45F CABGA256": {"luts": 43848, "bram": 108, "dsps": 72},
    "ECP5 LFE5U-85F CABGA381": {"luts": 83640, "bram": 208, "dsps": 156},
}
#: Targets a log engine is synthesized for by default (its netlist never uses DSPs, so the
#: ``-nodsp`` variants would repeat the same result).
DEFAULT_TARGETS = ("ice40", "ecp5", "xilinx")
#: Targets the linear baseline is synthesized for by default: with and without DSPs.
BASELINE_TARGETS = ("ice40", "ecp5", "ecp5-nodsp", "xilinx", "xilinx-nodsp")
FAMILIES = ("ice40", "ecp5", "xilinx")

# Cell-name patterns per family: what counts as a LUT, a carry cell, a flip-flop, ...
_CELL_CLASSES = {
    "ice40": {
        "luts": r"SB_LUT4",
        "carry": r"SB_CARRY",
        "ffs": r"SB_DFF\w*",
        "dsps": r"SB_MAC16",
        "bram": r"SB_RAM40_4K\w*",
    },
    "ecp5": {
        "luts": r"LUT4",
        "carry": r"CCU2C",
        "ffs": r"TRELLIS_FF",
        "dsps": r"MULT18X18D|MULT9X9D|ALU54B|ALU24B",
        "bram": r"DP16KD|PDPW16KD",
        "lutram": r"TRELLIS_DPR16X4",
    },
    "xilinx": {
        "luts": r"LUT[1-6]",
        "carry": r"CARRY4|CARRY8",
        "ffs": r"FD[RSCP]E\w*",
        "dsps": r"DSP48E1|DSP48E2",
        "bram": r"RAMB18E1|RAMB36E1",
        "lutram": r"SRL16E|SRLC32E|RAM\d+[XM]\w*",
    },
}
#: Multiplier cells of Yosys' generic (pre-mapping) netlist.
MUL_CELLS = ("$mul", "$macc", "$macc_v2")


def resolve_targets(names):
    """Validate target names (a list or a comma-separated string); return a tuple."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = tuple(names)
    if not names:
        raise ValueError("targets must name at least one target, not an empty list")
    for n in names:
        if n not in TARGETS:
            raise ValueError(f"targets must be among {', '.join(TARGETS)}, not {n!r}")
    return names


def select_targets(targets, families, engine, *, family_flag="--family"):
    """The targets of one engine kind, optionally narrowed to some families.

    Parameters
    ----------
    targets : str, sequence of str or None
        Target names (``None``: :data:`DEFAULT_TARGETS` for ``"log"``,
        :data:`BASELINE_TARGETS` for ``"linear"``).
    families : str or None
        Comma-separated families; keep only their targets.
    engine : {"log", "linear"}
    family_flag : str
        How error messages name ``families``.

    Returns
    -------
    tuple of str
    """
    if targets is not None:
        names = resolve_targets(targets)
    else:
        names = DEFAULT_TARGETS if engine == "log" else BASELINE_TARGETS
    if families is not None:
        fams = [f.strip() for f in families.split(",") if f.strip()]
        for f in fams:
            if f not in FAMILIES:
                raise ValueError(f"{family_flag} must be one of {', '.join(FAMILIES)}, not {f!r}")
        names = tuple(n for n in names if TARGETS[n].family in fams)
        if not names:
            raise ValueError(f"{family_flag} {families!r} matches none of the selected targets")
    return names


def count_cells(cells_by_type, family):
    """Classify a ``stat -json`` ``num_cells_by_type`` dict of one family into resources."""
    classes = _CELL_CLASSES[family]
    out = {k: 0 for k in ("luts", "carry", "ffs", "dsps", "bram", "lutram")}
    other = {}
    for cell, n in cells_by_type.items():
        for key, pat in classes.items():
            if re.fullmatch(pat, cell):
                out[key] += n
                break
        else:
            other[cell] = n
    # LUT4-equivalents of the logic fabric: an ECP5 CCU2C carry cell occupies two LUT4s of
    # a slice; an iCE40 SB_CARRY is hard logic beside a LUT4 that is already counted.
    out["lut4_equiv"] = out["luts"] + (2 * out["carry"] if family == "ecp5" else 0)
    out["other_cells"] = dict(sorted(other.items()))
    return out


def assert_multiplier_free(result):
    """Raise ``AssertionError`` unless a synthesis result has no multiplier and no DSP cell.

    ``result`` is a dict of :func:`logdot.synth.synthesize`: ``mul_cells`` counts
    ``$mul``/``$macc`` cells of the generic netlist (before technology mapping), ``dsps`` the
    DSP blocks of the mapped one.
    """
    if result["mul_cells"] or result["dsps"]:
        raise AssertionError(
            f"{result.get('label', 'engine')} on {result['target']} is not multiplier-free: "
            f"{result['mul_cells']} $mul/$macc cells, {result['dsps']} DSP blocks"
        )
