"""The timing model of the network top (:mod:`logdot.hdl.network_timing`) against Amaranth's
simulator, cycle for cycle: the latency of one image into an idle top, every output cycle of
back-to-back images, each FIFO's peak occupancy (its ``max_level`` probe), and the FIFO
depths derived from them (no throughput lost, no deadlock even with the smallest FIFOs).
"""

from __future__ import annotations

import dataclasses
import random

import pytest

from logdot.golden.network_stream import pixel_stream
from logdot.hdl.network import MIN_FIFO_DEPTH, NetworkTop, derive_fifo_depths, network_plan
from logdot.hdl.network_timing import network_timing
from tests.support import networks as nets
from tests.support.stream import drive_network

from .test_network import FAST

pytestmark = pytest.mark.usefixtures("one_torch_thread")

MLP_FOLD = {1: (4, 2), 2: (2, 1)}
CONV_POOL_FOLD = {0: (5, 1)}


def measure(top, beats, outputs, *, stall=0.0, rng=None):
    """:func:`~tests.support.stream.drive_network` with the input always valid:
    ``(first input cycle, output cycles, output words, FIFO max_level)``."""
    run = drive_network(top, beats, outputs, rng=rng, stall=stall)
    return run["first"], run["cycles"], run["words"], run["peaks"]


def _stream(net, images):
    return [b for im in images for b in pixel_stream(net, im)]


#: One image each (the fast CNN's latency is checked on test_network's back-to-back run).
CASES = [
    pytest.param(nets.small_cnn, nets.TILED_FOLD, id="cnn-tiled"),
    pytest.param(nets.mlp, MLP_FOLD, id="mlp"),
    pytest.param(nets.conv_pool, CONV_POOL_FOLD, id="conv-pool"),
    pytest.param(nets.rect_net, {0: (3, 2), 2: (2, 3), 4: (12, 2)}, id="rect"),
]


@pytest.mark.parametrize("make,fold", CASES)
def test_latency_of_an_idle_top_is_exact(make, fold):
    """First pixel in to output word out of one image: the model's figure, to the cycle;
    and each FIFO's peak occupancy is the model's."""
    net = make(0)
    top = NetworkTop(net, fold=fold)
    images = nets.random_images(net, 1, 3)
    first, cycles, words, peaks = measure(top, _stream(net, images), 1)
    nets.check_words(words, nets.golden_words(net, images))
    t = top.timing()
    assert t.fits
    assert (first, cycles[0]) == (t.first_input, t.outputs[0])
    assert cycles[0] - first == top.latency == t.latency
    assert peaks == list(t.fifo_peaks)
    assert top.latency < top.latency_bound


#: Back-to-back runs: (network, folding, images), >= 20 images each.
BACK_TO_BACK = [
    pytest.param(nets.mlp, MLP_FOLD, 24, id="mlp"),
    pytest.param(nets.conv_pool, {0: (9, 3)}, 20, id="conv-pool"),
]


@pytest.mark.parametrize("make,fold,n", BACK_TO_BACK)
def test_back_to_back_images_follow_the_model_to_the_cycle(make, fold, n):
    """Every output cycle of ``n`` back-to-back images is the model's; the steady-state
    cycles per image is the plan's (within 2 %: here exactly); no FIFO exceeds its depth,
    and where the model says no FIFO fills, the peaks are the model's."""
    net = make(1)
    top = NetworkTop(net, fold=fold)
    images = nets.random_images(net, n, 4)
    first, cycles, words, peaks = measure(top, _stream(net, images), n)
    nets.check_words(words, nets.golden_words(net, images))
    t = top.timing(n)
    assert first == t.first_input and cycles == list(t.outputs)
    measured = (cycles[-1] - cycles[1]) / (n - 2)
    model = top.cycles_per_image
    assert abs(measured - model) <= 0.02 * model, (measured, model)
    assert measured == model == t.cycles_per_image()
    depths = [f.depth for f in top.fifos]
    assert all(p <= d for p, d in zip(peaks, depths, strict=True)), (peaks, depths)
    if t.fits:
        assert peaks == list(t.fifo_peaks)


def test_derived_fifo_depths_are_the_throttled_peaks():
    """The depths are each FIFO's peak occupancy at one image per cycles_per_image (at
    least MIN_FIFO_DEPTH), smaller than two rows of the producer (the former rule), and
    the throttled run in simulation peaks exactly there; 1 for the FIFOs after the slowest
    stage that never get an item while they hold one (here the last two)."""
    net = nets.small_cnn(0)
    top = NetworkTop(net, fold=FAST)
    top._MustUse__silence = True  # built for its plan and timing only
    stages = top.stages
    depths = [s.params["depth"] for s in stages if s.kind == "fifo"]
    assert depths == derive_fifo_depths(stages, top.mapped)
    assert depths == [2, 4, 1, 1]
    rows = [2 * w + 2 for w in (8, 4, 2, 1)]  # two rows of each producer, plus 2
    assert all(1 <= d <= max(4, r) for d, r in zip(depths, rows, strict=True))
    assert sum(depths) < sum(max(4, r) for r in rows)
    cpi = top.cycles_per_image
    t = top.timing(4, period=cpi)
    assert t.fits and t.fifo_peaks == (1, 4, 1, 1) and t.fifo_busy == (2, 4, 1, 1)
    # the slowest stage is the first window unit (its padded image): every FIFO is after it
    assert [i for i, s in enumerate(stages) if s.cycles_per_image == cpi] == [0]
    assert [max(MIN_FIFO_DEPTH, p) for p in t.fifo_peaks[:2]] == depths[:2]


def test_a_depth_one_fifo_that_receives_while_full_does_not_fit():
    """The model's fits check can fail on a depth-1 FIFO: given depth 1 where items meet
    (the first FIFO, busy 2 at the throttled rate), fits is False (a FIFO of depth 2
    there fits)."""
    net = nets.small_cnn(0)
    plan = NetworkTop(net, fold=FAST)
    plan._MustUse__silence = True
    stages = [dataclasses.replace(s, params=dict(s.params)) for s in plan.stages]
    next(s for s in stages if s.kind == "fifo").params["depth"] = 1
    t = network_timing(stages, plan.mapped, 4, period=plan.cycles_per_image)
    assert t.fifo_busy[0] == 2 and t.fifo_peaks[0] == 1 and not t.fits


@pytest.mark.parametrize(
    "make,fold", [(nets.small_cnn, FAST), (nets.mlp, MLP_FOLD)], ids=["cnn", "mlp"]
)
def test_smallest_fifos_never_deadlock(make, fold, seed):
    """With every FIFO at its smallest depth (3) and random back-pressure the top is still
    exact and gives every output (a chain of ready/valid stages cannot deadlock)."""
    net = make(2)
    stages, _ = network_plan(net, fold)
    top = NetworkTop(net, fold=fold, fifo_depths=[3] * sum(s.kind == "fifo" for s in stages))
    images = nets.random_images(net, 2, seed)
    rng = random.Random(seed)
    _, _, words, _ = measure(top, _stream(net, images), 2, stall=0.5, rng=rng)
    nets.check_words(words, nets.golden_words(net, images))


def test_a_wrong_unit_latency_is_caught(monkeypatch):
    """The timing check can fail: with the adapters' latency taken as 2 instead of 1 the
    model's latency differs from the measured one."""
    net = nets.mlp(0)
    top = NetworkTop(net, fold=MLP_FOLD)
    images = nets.random_images(net, 1, 0)
    first, cycles, _, _ = measure(top, _stream(net, images), 1)
    assert cycles[0] - first == top.latency
    from logdot.hdl import network_timing as nt

    monkeypatch.setattr(nt, "adapter_latency", lambda: 2)
    wrong = network_timing(top.stages, top.mapped).latency
    assert wrong != cycles[0] - first
