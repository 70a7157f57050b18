"""logdot.synth.shell: the register shell of the place-and-route flow (lint-clean around a generated
engine, one serial chain bit per engine input, a 4-ary XOR tree over every registered output)
and its argument checks."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from logdot.generators.engine import write
from logdot.golden.formats import EngineConfig
from logdot.synth.shell import SHELL_NAME, register_shell, verilog_ident
from logdot.tools.lint import iverilog_check, verilator_lint


def test_shell_around_an_engine_lints_clean(tmp_path):
    cfg = EngineConfig(lanes=3, act_bits=6, weight_bits=4)
    vpath, _ = write(cfg, tmp_path / "rtl", name="eng")
    in_w, out_w = 8 * cfg.in_bytes, 8 * cfg.out_bytes
    shell = register_shell(engine_name="eng", in_width=in_w, out_width=out_w)
    both = tmp_path / f"{SHELL_NAME}.v"
    both.write_text(shell + Path(vpath).read_text())
    verilator_lint(both)
    iverilog_check(both)
    assert shell.count("module ") == 1 and f"module {SHELL_NAME} (" in shell
    assert f"reg [{in_w + 1}:0] chain = {in_w + 2}'d0;" in shell  # tdata, tlast, tvalid
    assert f"reg [{out_w + 2}:0] out_q" in shell  # tdata, tlast, tvalid, tready
    levels = sorted(set(re.findall(r"\bxr(\d+)\[", shell)), key=int)
    assert len(levels) == math.ceil(math.log(out_w + 3, 4))
    assert "assign dout = xr" in shell


def test_shell_arguments_are_checked():
    ok = dict(engine_name="eng", in_width=8, out_width=8)
    with pytest.raises(ValueError, match=re.escape("name must differ from engine_name, not")):
        register_shell(**ok, name="eng")
    with pytest.raises(ValueError, match=re.escape("in_width must be an integer >= 1, not 0")):
        register_shell(**{**ok, "in_width": 0})
    msg = "engine_name must be a plain Verilog identifier, not '1x'"
    with pytest.raises(ValueError, match=re.escape(msg)):
        register_shell(**{**ok, "engine_name": "1x"})
    assert verilog_ident("a_b$1") == "a_b$1"
    with pytest.raises(TypeError, match=re.escape("top must be a string, not 3")):
        verilog_ident(3, param="top")
    with pytest.raises(ValueError, match=re.escape("name must be a plain Verilog identifier")):
        verilog_ident("a b")
