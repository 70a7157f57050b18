"""The golden network with log-domain accumulating layer engines (``accumulate="log"``).

* A one-layer network (flatten + linear, raw linear logits) gives, per output, the independent
  plain-Python reference of the log-domain engine
  (:func:`logdot.golden.logacc.reference_engine_dot`, its own tables by integer square roots)
  plus the layer's integer bias; the exact-accumulation network does not (so the check would
  catch ``accumulate`` being dropped on the way).
* A CNN's log-domain outputs do not depend on the folding (the term order is the reduction
  order, whatever the lanes and PEs), and differ from the exact ones.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

from logdot.golden.logacc import reference_engine_dot
from logdot.golden.network import network_forward
from tests.support.networks import TILED_FOLD, quantized_network, random_images, small_cnn

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _linear_net(seed):
    return quantized_network(lambda: [nn.Flatten(), nn.Linear(12, 3)], (3, 2, 2), seed=seed)


@pytest.mark.parametrize("frac_bits", [4, 8])
def test_one_layer_equals_the_independent_reference(frac_bits, seed):
    net = _linear_net(seed)
    px = random_images(net, 6, seed)
    out = network_forward(net, px, accumulate="log", log_frac_bits=frac_bits)
    exact = network_forward(net, px)
    idx = next(i for i, layer in enumerate(net.layers) if layer.is_engine)
    ml = net.mapped(accumulate="log", log_frac_bits=frac_bits)[idx]
    spec = net.layers[idx].spec
    acts = px.reshape(len(px), -1)
    want = torch.tensor(
        [
            [
                reference_engine_dot(
                    ml.config.engine, [a.tolist()], [spec.weight_codes[m].tolist()]
                )[0]
                + int(ml.bias_int[m])
                for m in range(spec.out_channels)
            ]
            for a in acts
        ]
    )
    assert torch.equal(out, want), f"seed {seed}"
    assert not torch.equal(exact, want), f"seed {seed}: the exact sum gives the same outputs"


def test_cnn_outputs_do_not_depend_on_the_folding(seed):
    net = small_cnn(seed)
    px = random_images(net, 5, seed)
    outs = [network_forward(net, px, fold=fold, accumulate="log") for fold in (None, TILED_FOLD)]
    assert all(torch.equal(o, outs[0]) for o in outs), f"seed {seed}"
    assert not torch.equal(outs[0], network_forward(net, px)), f"seed {seed}"
