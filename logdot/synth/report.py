"""The synthesis report: a Markdown table of results, the tools and commands, the report files.

``synth_report.json`` holds everything (per result: the cell counts, fmax as the median of
the nextpnr seeds with ``fmax_min_mhz``, ``fmax_max_mhz`` and ``fmax_by_seed``, the exact
``commands`` and ``yosys_script``; ``tools``: the Yosys and nextpnr versions);
``synth_report.md`` the table, the tool versions and the commands.
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

__all__ = ["format_provenance", "format_table", "write_report"]


def _fmt(v, spec=""):
    if v is None:
        return "-"
    return format(v, spec)


def _fmax_range(r):
    if r.get("fmax_by_seed") is None:
        return "-"
    n = len(r["fmax_by_seed"])
    return f"{r['fmax_min_mhz']:.1f} .. {r['fmax_max_mhz']:.1f} ({n} seeds)"


def format_table(results):
    """A Markdown table of synthesis results (one row per engine and target).

    ``fmax MHz`` is the median over the nextpnr seeds, ``fmax range`` their min and max.
    """
    head = (
        "| engine | target | LUTs | LUT4-eq | carry | FFs | DSPs | BRAM | $mul | fmax MHz "
        "| Gprod/s | fmax range |"
    )
    rows = [head, "|" + "---|" * 12]
    for r in results:
        tp = None if r["throughput"] is None else r["throughput"] / 1e9
        rows.append(
            f"| {r.get('label', r.get('engine', ''))} | {r['target']} | {r['luts']} "
            f"| {r['lut4_equiv'] if r['family'] != 'xilinx' else '-'} | {r['carry']} "
            f"| {r['ffs']} | {r['dsps']} | {r['bram']} | {r['mul_cells']} "
            f"| {_fmt(r['fmax_mhz'], '.1f')} | {_fmt(tp, '.2f')} | {_fmax_range(r)} |"
        )
    return "\n".join(rows)


def format_provenance(report):
    """Markdown: the tool versions (``report["tools"]``) and every command each result ran
    (``result["commands"]``: argv and working folder, in order)."""
    lines = ["## Tools", ""]
    for tool, version in (report.get("tools") or {}).items():
        lines.append(f"- {tool}: {version if version is not None else 'not found'}")
    lines += ["", "## Commands", ""]
    for r in report["results"]:
        lines.append(f"{r.get('label', r.get('engine', ''))} {r['target']}, in {_cwd(r)}:")
        lines.append("")
        lines.append("```sh")
        lines += [shlex.join(c["argv"]) for c in r.get("commands", [])]
        lines.append("```")
        lines.append("")
    return "\n".join(lines)


def _cwd(r):
    cmds = r.get("commands") or [{"cwd": "-"}]
    return cmds[0]["cwd"]


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
    (out_dir / "synth_report.md").write_text(table + "\n\n" + format_provenance(report))
    return table
