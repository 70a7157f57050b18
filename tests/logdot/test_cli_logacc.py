"""``--accumulate log`` on the command line: ``logdot generate`` and ``logdot generate-layer``
write the log-domain engines (manifest fields, latency, initiation interval), and refuse the
meaningless combinations with one-line errors naming the flags."""

from __future__ import annotations

import json

import pytest
import torch

from logdot.golden.formats import EngineConfig
from logdot.golden.spec_io import save_spec
from logdot.hdl.engine import engine_latency
from tests.support.cli import assert_cli_error, assert_one_line_error, files_in
from tests.support.cli import run_cli as run
from tests.support.layers import random_conv_spec

ENGINE = ["--lanes", "4", "--act-bits", "4", "--weight-bits", "4", "--act-format", "log"]


def test_generate_accumulate_log_manifest(tmp_path):
    code, out, err = run(["generate", *ENGINE, "--accumulate", "log", "--out", str(tmp_path)])
    assert code == 0, err
    m = json.loads((tmp_path / "logdot.json").read_text())
    cfg = EngineConfig(lanes=4, act_bits=4, weight_bits=4, act_format="log", accumulate="log")
    assert EngineConfig(**m["parameters"]) == cfg
    assert m["parameters"]["accumulate"] == "log" and m["parameters"]["frac_bits"] == 8
    assert m["initiation_interval_cycles"] == 4 and m["derived"]["cycles_per_beat"] == 4
    assert m["latency_cycles"] == engine_latency(cfg) == 4
    assert m["derived"]["log_state_bits"] == cfg.acc_bits and m["derived"]["result_bits"] == 34
    assert m["result"]["encoding"].startswith("log-domain accumulation: D(Lpos) - D(Lneg)")
    assert "latency 4 cycles" in out and "34-bit result" in out


@pytest.mark.parametrize(
    ("extra", "line"),
    [
        (["--act-format", "linear"],
         "--accumulate 'log' needs --act-format 'log' (a linear activation times a log weight "
         "is not a power of two), not 'linear'"),
        (["--register-every", "1"],
         "--register-every must be 0 with --accumulate 'log' (no adder tree: one term per "
         "cycle), not 1"),
        (["--frac-bits", "13"], "--frac-bits must be an integer in [0, 12], not 13"),
        (["--acc-bits", "9"], "--acc-bits must be None (or the resolved 13) with --accumulate"),
        (["--accumulate", "float"], "--accumulate must be one of exact, log, not 'float'"),
    ],
)  # fmt: skip
def test_generate_accumulate_log_errors(tmp_path, extra, line):
    out = tmp_path / "out"
    argv = ["generate", *ENGINE, "--accumulate", "log", "--out", str(out), *extra]
    assert_cli_error(argv, out, line, match="contains")


def _spec(tmp_path, act):
    spec = random_conv_spec(torch.Generator().manual_seed(3), act=act, cin=2, cout=3)
    path = tmp_path / f"{act}.pt"
    save_spec(spec, path)
    return path


def test_generate_layer_accumulate_log(tmp_path):
    path = _spec(tmp_path, "log")
    out = tmp_path / "out"
    argv = ["generate-layer", "--weights", str(path), "--lanes", "3", "--pes", "2"]
    code, stdout, err = run([*argv, "--accumulate", "log", "--frac-bits", "5", "--out", str(out)])
    assert code == 0 and stdout.startswith("wrote "), err
    m = json.loads((out / "logdot_layer.json").read_text())
    assert m["engine"]["parameters"]["accumulate"] == "log"
    assert m["engine"]["parameters"]["frac_bits"] == 5
    assert m["initiation_interval_cycles"] == 3
    code, _, err = run([*argv, "--accumulate", "log", "--frac-bits", "13", "--out", str(out)])
    assert_one_line_error(code, err, "--frac-bits must be an integer in [0, 12], not 13")
    code, _, err = run([*argv, "--frac-bits", "5", "--out", str(tmp_path / "o2")])
    assert_one_line_error(code, err, "--frac-bits needs --accumulate log")
    lin = _spec(tmp_path, "linear")
    argv[2] = str(lin)
    code, _, err = run([*argv, "--accumulate", "log", "--out", str(tmp_path / "o3")])
    assert_one_line_error(code, err, "--accumulate log needs a layer with log activations")
    assert files_in(tmp_path / "o2") == [] and files_in(tmp_path / "o3") == []
