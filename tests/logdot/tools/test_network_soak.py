"""The network soak bench (:mod:`logdot.tools.network_soak`): a reduced soak of a small CNN
is exact, and the checker fails on a wrong golden word, on a bench that ignores its resets, on
a hang, and on every broken rule of the reset contract."""

from __future__ import annotations

import pytest
import torch

from logdot.tools.layer_sim import SimulationError
from logdot.tools.network_soak import SOAK_TB, NetworkSoak, check_events
from tests.support.networks import mlp, random_images, small_cnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MIX = dict(idle=0.2, backpressure=0.3, short=0.1, long=0.1, reset=0.1)


@pytest.fixture(scope="module")
def cnn_soak(tmp_path_factory):
    net = small_cnn()
    soak = NetworkSoak(net, random_images(net, 24, 7), tmp_path_factory.mktemp("soak"))
    return soak.build()


def test_reduced_soak_is_exact(cnn_soak, seed):
    run = cnn_soak.run(300, seed=seed, **MIX)
    rep = cnn_soak.check(run)
    assert rep.mismatches == [], f"seed {seed}"
    assert sum(rep.frames.values()) == 300
    assert all(rep.frames[k] > 0 for k in ("exact", "short", "long", "reset")), rep.frames
    # every frame that reached the accelerator gave its word, except those a reset dropped
    assert rep.outputs == rep.images - rep.dropped
    assert rep.outputs > 200


def test_wrong_golden_word_is_reported(cnn_soak, seed):
    run = cnn_soak.run(40, seed=seed, **MIX)
    wrong = list(cnn_soak.pool_golden)
    i = next(ev[1] for ev in run.events if ev[0] == "S" and ev[2] == 0)
    wrong[i] ^= 4
    mism = cnn_soak.check(run, pool_golden=wrong).mismatches
    assert mism and all("golden" in m for m in mism), mism
    assert cnn_soak.check(run).mismatches == []


@pytest.fixture(scope="module")
def mlp_net():
    net = mlp()
    return net, random_images(net, 8, 3)


def test_bench_ignoring_its_resets_fails(mlp_net, tmp_path):
    """A mutant bench that logs its resets but never raises ``rst``: the cut frames' pixels
    stay in the accelerator and the check reports it."""
    net, images = mlp_net
    mutant = SOAK_TB.replace("rst <= 1'b1;  // soak reset", "")
    assert mutant != SOAK_TB
    soak = NetworkSoak(net, images, tmp_path, sim="icarus", template=mutant).build()
    run = soak.run(200, seed=11, reset=0.3, short=0.1)
    assert soak.check(run).mismatches
    good = NetworkSoak(net, images, tmp_path / "good", sim="icarus").build()
    assert good.check(good.run(200, seed=11, reset=0.3, short=0.1)).mismatches == []


def test_a_hang_is_reported_not_waited_for(mlp_net, tmp_path):
    net, images = mlp_net
    stuck = SOAK_TB.replace(
        "m_axis_tready <= (lfsr_out % 1000) >= bp_pm;", "m_axis_tready <= 1'b0;"
    )
    assert stuck != SOAK_TB
    soak = NetworkSoak(net, images, tmp_path, sim="icarus", template=stuck).build()
    with pytest.raises(SimulationError, match="timeout: no transfer"):
        soak.run(10)


def _golden():
    """Pool words / golden words for the pure checks: two images of 2 pixels (mlp)."""
    net = mlp()
    images = random_images(net, 2, 5)
    soak = NetworkSoak(net, images, "/nonexistent")  # golden only, never built
    assert soak.pool_golden[0] != soak.pool_golden[1]
    return net, soak.pool_words, soak.pool_golden


def test_check_events_enforces_the_reset_contract():
    net, words, gold = _golden()
    ok = [("S", 0, 0, 2), ("O", gold[0], 0), ("S", 1, 3, 1), ("R",), ("S", 1, 0, 2)]
    ok += [("O", gold[1], 0), ("D", 0)]
    assert check_events(net, ok, words, gold).mismatches == []
    # a word after the reset for the frame the reset dropped
    extra = [*ok[:4], ("O", gold[0], 0), *ok[4:]]
    assert check_events(net, extra, words, gold).mismatches == [
        f"epoch 1: output 0 is {gold[0]:#x}, golden {gold[1]:#x}",
        f"epoch 1: output 1 {gold[1]:#x} for no frame",
        "last epoch: 2 outputs for 1 frames",
    ]
    # a frame in flight at the reset may be dropped, but the last epoch must deliver all
    dropped = [("S", 0, 0, 2), ("R",), ("S", 1, 0, 2), ("D", 0)]
    assert check_events(net, dropped, words, gold).mismatches == [
        "last epoch: 0 outputs for 1 frames"
    ]
    # frame_error: cleared by the reset, set by a long frame
    long_ = [("S", 0, 2, 5), ("O", gold[0], 0), ("D", 1)]
    assert check_events(net, long_, words, gold).mismatches == [
        "epoch 0: frame_error low at output 0"
    ]
    after_reset = [("S", 0, 2, 3), ("O", gold[0], 1), ("R",), ("S", 1, 0, 2)]
    after_reset += [("O", gold[1], 0), ("D", 1)]
    assert check_events(net, after_reset, words, gold).mismatches == [
        "frame_error is 1 at the end of the last epoch"
    ]
    assert check_events(net, ok[:-1], words, gold).mismatches == [
        "no end event: the run did not finish"
    ]


def test_short_frames_use_the_stream_model():
    net, words, gold = _golden()
    from logdot.golden.network_stream import Beat, stream_forward

    want = stream_forward(net, [Beat(words[1][0], True)]).outputs[0]
    ev = [("S", 1, 1, 1), ("O", want, 1), ("D", 1)]
    assert check_events(net, ev, words, gold).mismatches == []
    assert check_events(net, [("S", 1, 1, 1), ("O", want ^ 1, 1), ("D", 1)], words, gold)


def test_invalid_pools_and_mixes_are_refused(tmp_path):
    net = small_cnn()
    with pytest.raises(ValueError, match="images must be"):
        NetworkSoak(net, torch.zeros(8, 8, dtype=torch.int64), tmp_path)
    soak = NetworkSoak(net, random_images(net, 1, 0), tmp_path)
    with pytest.raises(ValueError, match="short \\+ long \\+ reset"):
        soak.run(1, short=0.5, long=0.3, reset=0.3)
    with pytest.raises(ValueError, match="idle must be"):
        soak.run(1, idle=1.0)
