"""``logdot board`` and :mod:`logdot.synth.board`: flag errors are one line, exit 2, nothing
written; ``-m full`` builds a real bitstream for the iCEBreaker (timing met at its 12 MHz
clock) and shows that a design too large for the device fails with one line naming the
resource."""

from __future__ import annotations

import json

import pytest

from logdot.golden.network_file import save_network
from logdot.synth.board import BOARDS, BoardJob, uart_cycles
from tests.support.cli import NETWORK_FLAG_ERRORS, assert_cli_error, error_cases, files_in
from tests.support.cli import run_cli as run
from tests.support.networks import board_net


@pytest.fixture(scope="module")
def net_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("net") / "tiny.net.pt"
    save_network(board_net(), path)
    return path


#: The errors of ``logdot board`` beyond the shared network flags.
BOARD_ERRORS = [
    (["--board", "nexys"], "--board must be one of icebreaker, ulx3s-12f, ulx3s-25f, "
     "ulx3s-45f, ulx3s-85f, not 'nexys'"),
    (["--baud", "100"], "--baud must be at least 300, not 100"),
    (["--baud", "6000000"], "--baud: baud 6000000 at 12000000 Hz needs 2 clock cycles per "
     "bit, outside 4..16777216"),
    (["--timeout-ms", "0"], "--timeout-ms must be at least 1, not 0"),
    (["--seed", "-1"], "--seed must be >= 0, not -1"),
]  # fmt: skip


@pytest.mark.parametrize(("extra", "line"), error_cases(NETWORK_FLAG_ERRORS + BOARD_ERRORS))
def test_board_errors(tmp_path, net_file, extra, line):
    out = tmp_path / "out"
    argv = ["board", "--board", "icebreaker", "--network", str(net_file), "--out", str(out)]
    assert_cli_error([*argv, *extra], out, line)


def test_missing_network_and_earlier_build(tmp_path, net_file):
    out = tmp_path / "out"
    argv = ["board", "--board", "icebreaker", "--out", str(out)]
    code, _, err = run([*argv, "--network", str(tmp_path / "none.pt")])
    assert (code, err) == (2, f"logdot: error: --network: no such file: {tmp_path / 'none.pt'}\n")
    out.mkdir()
    (out / "logdot_board_board.json").write_text("{}")
    code, _, err = run([*argv, "--network", str(net_file)])
    assert code == 2 and "--out: " in err and "--force" in err, err
    assert files_in(out) == ["logdot_board_board.json"]


def test_the_default_fold_keeps_up_with_the_uart(net_file):
    """The smallest engines whose cycles per image stay below one request's UART time."""
    from logdot.generators.network import resolve_fold
    from logdot.golden.network_file import load_network
    from logdot.hdl.network import network_plan

    net = load_network(net_file)
    target = uart_cycles(net, 104)
    assert target == 32 * 10 * 104
    fold = resolve_fold(net, None, target)
    stages, _ = network_plan(net, fold)
    assert max(s.cycles_per_image for s in stages) <= target
    assert all(lanes * pes == 1 for lanes, pes in fold.values())
    job = BoardJob(board="icebreaker", net=net)
    assert job.outputs == ("logdot_board.bin", "logdot_board_board.json",
                           "logdot_board_board.md", "build")  # fmt: skip
    assert BOARDS["ulx3s-85f"].make_platform().device == "LFE5U-85F"


@pytest.mark.full
@pytest.mark.synth
def test_icebreaker_bitstream_meets_timing(tmp_path, net_file):
    out = tmp_path / "board"
    code, stdout, err = run(["board", "--board", "icebreaker", "--network", str(net_file),
                             "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0, err
    assert err == ""
    assert stdout.startswith(f"wrote {out / 'logdot_board.bin'}: iCE40UP5K SG48, fmax ")
    report = json.loads((out / "logdot_board_board.json").read_text())
    assert report["timing_met"] and report["fmax_mhz"] >= 12.0
    assert report["clock_mhz"] == 12.0
    assert 0 < report["utilization"]["ICESTORM_LC"]["used"] <= 5280
    assert (out / "logdot_board.bin").stat().st_size > 100_000  # a whole UP5K image
    assert "set_io uart_0__rx__io 6" in (out / "build" / "logdot_board.pcf").read_text()


@pytest.mark.full
@pytest.mark.synth
def test_a_design_too_large_for_the_device_fails_naming_the_resource(tmp_path, net_file):
    out = tmp_path / "board"
    code, stdout, err = run(["board", "--board", "icebreaker", "--network", str(net_file),
                             "--fold", "0=27x4,4=16x5", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 1 and stdout == "", stdout + err
    assert err.startswith("logdot: board: the design does not fit: "), err
    assert "ICESTORM_LC" in err and "iCE40UP5K" in err and err.count("\n") == 1, err
    assert not (out / "logdot_board.bin").exists()
