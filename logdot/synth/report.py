"""The synthesis report: a Markdown table of results and the report files."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["format_table", "write_report"]


def _fmt(v, spec=""):
    if v is None:
        return "-"
    return format(v, spec)


def format_table(results):
    """A Markdown table of synthesis results (one row per engine and target)."""
    head = (
        "| engine | target | LUTs | LUT4-eq | carry | FFs | DSPs | BRAM | $mul | fmax MHz "
        "| Gprod/s |"
    )
    rows = [head, "|" + "---|" * 11]
    for r in results:
        tp = None if r["throughput"] is None else r["throughput"] / 1e9
        rows.append(
            f"| {r.get('label', r.get('engine', ''))} | {r['target']} | {r['luts']} "
            f"| {r['lut4_equiv'] if r['family'] != 'xilinx' else '-'} | {r['carry']} "
            f"| {r['ffs']} | {r['dsps']} | {r['bram']} | {r['mul_cells']} "
            f"| {_fmt(r['fmax_mhz'], '.1f')} | {_fmt(tp, '.2f')} |"
        )
    return "\n".join(rows)


def write_report(report, out_dir):
    """Write ``out_dir/synth_report.json`` and ``synth_report.md``; return the table.

    Parameters
    ----------
    report : dict
        The report of :func:`logdot.synth.run` (``"results"``: the rows of the table).
    out_dir : path-like
        Output folder (created if missing).
    """
    out_dir = Path(out_dir)
    table = format_table(report["results"])
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "synth_report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "synth_report.md").write_text(table + "\n")
    return table
