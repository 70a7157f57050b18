"""README.md tells the truth: its snippets run, and its claims match the data they cite.

* The number-format snippet runs and prints what its comments say; the arithmetic in its
  comment is valid Python (and C) that gives the printed result.
* The "your own model" steps run in order on the digits CNN (the simulation step on Icarus,
  the simulator the README names as the alternative), including the flatten between the last
  conv layer and the fc layer.
* The weight-bits sentence agrees with the sweep table of ``docs/hardware.md``.
* Co-simulation speeds are called measurements, not bounds; ``WAVES=1`` is documented.
* No "issue N" references anywhere in the tree: a reader cannot see the issues.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import shlex
from pathlib import Path

import pytest
import torch

from tests.support import ROOT, load_script

README = (ROOT / "README.md").read_text()
HARDWARE = (ROOT / "docs" / "hardware.md").read_text()


def code_blocks(text, lang):
    """Every fenced block of language ``lang`` (``""``: no language) in ``text``, dedented."""
    blocks, current, fence = [], None, None
    for line in text.splitlines(True):
        stripped = line.strip()
        if current is None:
            if stripped.startswith("```"):
                fence = len(line) - len(line.lstrip())
                current = (stripped[3:], [])
        elif stripped == "```":
            if current[0] == lang:
                blocks.append("".join(current[1]))
            current = None
        else:
            current[1].append(line[fence:])
    return blocks


def section(text, heading):
    start = text.index(heading)
    end = text.find("\n#", start + len(heading))
    return text[start : end if end >= 0 else len(text)]


def run_block(src, ns):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(src, "README.md", "exec"), ns)
    return out.getvalue()


# -- the number-format snippet --------------------------------------------------------------


def test_format_snippet_prints_what_its_comments_say():
    (src,) = [b for b in code_blocks(README, "python") if "log_quant(w, 4, 1)" in b]
    ns = {}
    printed = run_block(src, ns)
    assert ns["codes"].tolist() == [5, 11, 0, 7]
    assert "tensor([5, 11, 0, 7]) -> 0.25, -0.0625, 0, 1.0" in src
    assert torch.equal(ns["log_dequant"](ns["codes"], 4, 1), torch.tensor([0.25, -0.0625, 0, 1]))
    assert printed.strip().splitlines()[-1] == "tensor([8300])"
    # The comment's arithmetic, evaluated as written: parenthesized, so Python and C agree.
    m = re.search(r"# tensor\(\[(\d+)\]\) = ([0-9<>()+\- ]+):", src)
    assert m, src
    assert eval(m.group(2)) == int(m.group(1)) == 8300
    assert "<<" in m.group(2) and all(
        "<<" not in part or part.strip().startswith("(") for part in m.group(2).split("+")
    )


# -- the "your own model" steps -------------------------------------------------------------


def test_own_model_steps_run_in_order(tmp_path, monkeypatch):
    from logdot.cli import main
    from logdot.study.data import load_digits_split, train_digits_cnn

    monkeypatch.setenv("LOGDOT_CACHE", os.environ.get("LOGDOT_CACHE", str(ROOT / "results/.cache")))
    monkeypatch.chdir(tmp_path)
    steps = section(README, "### Your own PyTorch model, step by step")
    blocks = code_blocks(steps, "python")
    assert len(blocks) == 4, blocks
    x_train, _, x_test, _ = load_digits_split()
    ns = {"torch": torch, "model": train_digits_cnn(0), "x_train": x_train, "x": x_test[:2]}
    run_block(blocks[0], ns)  # 1. quantize
    run_block(blocks[1], ns)  # 2. export each layer
    assert sorted(p.name for p in tmp_path.glob("*.pt")) == ["conv1.pt", "conv2.pt", "fc.pt"]
    # 3. the generate-layer command, through the CLI's entry point
    (cmd,) = [b for b in code_blocks(steps, "") if "generate-layer" in b]
    argv = shlex.split(cmd)
    assert argv[:2] == ["logdot", "generate-layer"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv[1:]) == 0
    assert (tmp_path / "build" / "conv1.v").exists() and (
        tmp_path / "build" / "conv1.json"
    ).exists()
    # 4. simulation, on the README's alternative simulator (Icarus builds in seconds)
    sim_call = 'LayerSim(ml, "sim_build/conv1")'
    assert sim_call in blocks[2]
    run_block(blocks[2].replace(sim_call, 'LayerSim(ml, "sim_build/conv1", sim="icarus")'), ns)
    # ... then the next layers, with the flatten between conv2 and fc
    assert ".reshape(len(codes3), -1)" in blocks[3]
    run_block(blocks[3], ns)
    q = ns["q"]
    with torch.no_grad():
        c1 = q.conv1.input_quant.codes(ns["x"])
        assert torch.equal(ns["codes2"], ns["ml"].forward(c1))
    assert ns["codes3"].shape == (2, 32, 4, 4)
    assert ns["codes_fc"].shape == (2, 512)
    assert torch.equal(ns["codes_fc"], torch.flatten(ns["codes3"], 1))
    assert ns["logits"].shape == (2, 10)


# -- claims against the data ----------------------------------------------------------------


def sweep_points():
    """``{(engine, lanes, W): (ecp5_lut4, ecp5_ff, ice40_lut4)}`` of docs/hardware.md's table."""
    points = {}
    for m in re.finditer(
        r"^\| (log|linear) \| (\d+) \| (\d+) \| (\d+) \| (\d+) \| (\d+|-) \| [\d.-]+ \|$",
        HARDWARE,
        re.M,
    ):
        engine, lanes, w, lut, ff, ice = m.groups()
        points[(engine, int(lanes), int(w))] = (int(lut), int(ff), None if ice == "-" else int(ice))
    return points


def _num(s):
    return int(s.replace(",", ""))


def test_weight_bits_sentence_matches_the_sweep_table():
    pts = sweep_points()
    widths = sorted(w for (e, lanes, w) in pts if e == "log" and lanes == 16)
    assert widths == [2, 3, 4, 5, 6]
    ratios = {}
    for w in widths:
        (llut, lff, lice), (nlut, nff, nice) = pts[("log", 16, w)], pts[("linear", 16, w)]
        # "fewer LUTs than the 8xW multiplier at every weight width swept"
        assert llut < nlut and lice < nice, w
        ratios[w] = (nlut / llut, nice / lice)
    for doc in (README, HARDWARE):
        text = " ".join(doc.split())
        assert "fewer LUTs than the 8xW multiplier at every" in text
        assert "dearer" not in text and "more expensive at 6" not in text
        m = re.search(
            r"lead shrinks from ([\d.]+)-([\d.]+)x at 2-4 bits to ([\d.]+)-([\d.]+)x at 5 and 6",
            text,
        )
        assert m, "the weight-bits sentence changed: update this test"
        lo1, hi1, lo2, hi2 = map(float, m.groups())
        small = [r for w in (2, 3, 4) for r in ratios[w]]
        large = [r for w in (5, 6) for r in ratios[w]]
        assert (lo1, hi1) == (round(min(small), 1), round(max(small), 1))
        assert (lo2, hi2) == (round(min(large), 1), round(max(large), 1))
    text = " ".join(README.split())
    m = re.search(
        r"at 6 bits ECP5 ([\d,]+) vs ([\d,]+) LUT4, iCE40 ([\d,]+) vs ([\d,]+)\), while it needs "
        r"([\d.]+)x the baseline's flip-flops at 6 bits \(([\d,]+) vs ([\d,]+)",
        text,
    )
    assert m, "the weight-bits sentence changed: update this test"
    e_log, e_lin, i_log, i_lin, ff_ratio, ff_log, ff_lin = m.groups()
    (llut, lff, lice), (nlut, nff, nice) = pts[("log", 16, 6)], pts[("linear", 16, 6)]
    assert (_num(e_log), _num(e_lin), _num(i_log), _num(i_lin)) == (llut, nlut, lice, nice)
    assert (_num(ff_log), _num(ff_lin)) == (lff, nff)
    assert float(ff_ratio) == round(lff / nff, 1)


def test_cosimulation_speeds_are_measurements_not_bounds():
    for doc in (README, HARDWARE):
        text = " ".join(doc.split()).lower()
        assert "lower bound" not in text and "conservative" not in text
    text = " ".join(README.split())
    assert "These are measurements on this machine, not bounds" in text
    # The README's Verilator figure at 64 lanes is the one in docs/hardware.md's table.
    m = re.search(r"\| co-simulation, Verilator \(cycles/s[^|]*\| ([\d,]+) \| ([\d,]+) \|", README)
    assert m
    assert re.search(rf"\| Verilator [\d.]+ \| 64 \|.*\| {m.group(2)} \|", HARDWARE)
    assert f"against the {m.group(2)} above" in text


def test_waves_is_documented_in_the_testing_section():
    verification = section(README, "## Verification")
    assert "WAVES=1" in verification
    assert "WAVES=1" in (ROOT / "cocotb_tests" / "README.md").read_text()


def test_network_accuracy_table_gives_the_command_of_every_figure():
    """The streaming network's accuracy table: float / fake-quant / golden / RTL per column,
    RTL equal to golden, each column headed by the command that printed it (``make demo``
    first; commands that exist and whose flags the example accepts), and each run's closing
    line, in column order."""

    sec = section(README, "### MNIST on the RTL")
    head = re.search(r"^\| model((?: \| [^|]+)+) \|$", sec, re.M)
    assert head, "no accuracy table"
    cols = [c.strip() for c in head.group(1).split("|")[1:]]
    cmds = [re.search(r"`([^`]+)`", col).group(1) for col in cols]
    assert cmds[0] == "make demo" and "1,000 test images" in cols[0]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^demo:.*\n\t.*examples/mnist_on_rtl\.py\s*$", makefile, re.M)
    example = load_script("examples/mnist_on_rtl.py")
    for cmd in cmds[1:]:
        argv = shlex.split(cmd)
        assert argv[:2] == ["python", "examples/mnist_on_rtl.py"], cmd
        example.build_parser().parse_args(argv[2:])
    cell = r" \| (0\.\d{4})" * len(cmds)
    rows = re.findall(rf"^\| ([^|]+?){cell} \|$", sec, re.M)
    names = ["float PyTorch", "fake-quantized PyTorch", "golden integer network"]
    assert [r[0] for r in rows] == [*names, "RTL (Verilator)"]
    assert rows[3][1:] == rows[2][1:], "RTL accuracy != golden accuracy"
    lines = re.findall(r"mismatches: (\d+) hw_accuracy: (\S+) golden_accuracy: (\S+) images", sec)
    assert [m[1] for m in lines] == list(rows[3][1:]) and {m[0] for m in lines} == {"0"}
    assert all(hw == gold for _, hw, gold in lines)


# -- no references a reader cannot follow ---------------------------------------------------

SKIP_DIRS = {".git", "results", ".venv", "build", "sim_build", "__pycache__", ".pytest_cache"}
SKIP_DIRS |= {".ruff_cache", ".hypothesis"}
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".sv", ".v", ".sby", ".json", ".yml"}


def tree_files():
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in filenames:
            p = Path(dirpath) / name
            if p.suffix in TEXT_SUFFIXES or name in {"Makefile", "run", "LICENSE"}:
                yield p


@pytest.mark.parametrize("pattern", [r"issue \d", r"issues? #?\d"])
def test_no_issue_references_in_the_tree(pattern):
    rx = re.compile(pattern, re.I)
    hits = [
        f"{p.relative_to(ROOT)}:{i}: {line.strip()}"
        for p in tree_files()
        for i, line in enumerate(p.read_text(errors="replace").splitlines(), 1)
        if rx.search(line)
    ]
    assert not hits, "\n".join(hits)


# -- "Use it in your project": the commands run as written ----------------------------------


def _run_sh(block, cwd, env):
    import subprocess

    proc = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", block],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
        check=False,
    )
    assert proc.returncode == 0, f"{block}\n---\n{proc.stdout}"
    return proc.stdout


def _project_env(tmp_path):
    """The environment of a user's shell: logdot and fusesoc on PATH (both next to this
    Python, or where the environment has them), the simulators of logdot first."""
    import shutil
    import sys

    from logdot.tools import require_tool
    from tests.support.fusesoc import fusesoc_env

    env = fusesoc_env(tmp_path)
    fusesoc = shutil.which("fusesoc", path=env["PATH"]) or require_tool("fusesoc")
    env["PATH"] = os.pathsep.join(
        [os.path.dirname(sys.executable), os.path.dirname(fusesoc), env["PATH"]]
    )
    assert shutil.which("logdot", path=env["PATH"])
    return env


def test_fusesoc_commands_run_as_written(tmp_path):
    text = section(README, "### FuseSoC")
    blocks = code_blocks(text, "sh")
    assert len(blocks) == 2, blocks
    env = _project_env(tmp_path)
    out = _run_sh(blocks[0], tmp_path, env)
    assert "LOGDOT_TB_PASS mydot: 7 outputs" in out
    assert (tmp_path / "ip" / "mydot" / "mydot.core").is_file()
    out = _run_sh(blocks[1], tmp_path, env)
    assert "LOGDOT_TB_PASS my_dot: 7 outputs" in out


def test_vivado_commands_run_as_written(tmp_path):
    import xml.etree.ElementTree as ET

    from logdot.generators.ipxact import IPXACT_NAMESPACE

    text = section(README, "### Vivado (IP-XACT)")
    (block,) = code_blocks(text, "sh")
    _run_sh(block, tmp_path, _project_env(tmp_path))
    repo = tmp_path / "ip_repo" / "mydot"
    assert sorted(p.name for p in repo.iterdir()) == ["component.xml", "mydot.v"]
    root = ET.parse(repo / "component.xml").getroot()
    ns = {"spirit": IPXACT_NAMESPACE}
    vlnv = [root.find(f"spirit:{k}", ns).text for k in ("vendor", "library", "name", "version")]
    (tcl,) = code_blocks(text, "tcl")
    assert f"-vlnv {':'.join(vlnv)} " in tcl
    (fs,) = root.iterfind("spirit:fileSets/spirit:fileSet[1]/spirit:file/spirit:name", ns)
    assert (repo / fs.text).is_file()  # the file set names the Verilog beside the XML
    assert re.search(r"^module mydot\(aclk, aresetn, ", (repo / "mydot.v").read_text(), re.M)


# -- "Use it in your project": Amaranth and the board ----------------------------------------


def test_amaranth_snippet_is_the_examples_code():
    """Every line of the README's Amaranth snippet is a line of examples/amaranth_design.py
    (which runs in tests/test_examples.py), so the snippet cannot drift from working code."""
    start = README.index("### In your own Amaranth design")
    text = README[start : README.index("\n### ", start + 1)]  # the snippet has # comments
    (src,) = code_blocks(text, "python")
    example = {line.strip() for line in (ROOT / "examples" / "amaranth_design.py").open()}
    lines = [line.split("  #")[0].strip() for line in src.splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert len(lines) >= 8
    missing = [line for line in lines if not any(e.startswith(line) for e in example)]
    assert not missing, missing


def test_board_commands_parse_as_written():
    """The board section's commands: ``logdot board`` and the host script accept exactly the
    flags the README shows (the build itself runs in tests/logdot/test_board.py, -m full)."""
    import shlex

    from logdot.cli import build_parser

    text = section(README, "### On a board: `logdot board`")
    (src,) = code_blocks(text, "sh")
    commands = [shlex.split(c, comments=True) for c in src.replace("\\\n", " ").splitlines()]
    commands = [c for c in commands if c]
    assert [c[:2] for c in commands] == [
        ["python", "examples/mnist_network.py"],
        ["logdot", "board"],
        ["python", "examples/board_host.py"],
    ]
    args = build_parser(commands[1][1:]).parse_args(commands[1][1:])
    assert (args.board, args.network) == ("ulx3s-25f", "build/networks/mnist.net.pt")
    host = load_script("examples/board_host.py")
    hargs = host.build_parser().parse_args(commands[2][2:])
    assert (hargs.network, hargs.dataset, hargs.images) == (args.network, "mnist", 20)
