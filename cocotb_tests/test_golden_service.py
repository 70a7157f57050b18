"""The golden service of the cocotb runs (:mod:`golden_service`, :mod:`golden_ops`): requests
and replies, errors, the allow-list, the standalone fallback, no hang, no torch in a client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import golden_ops
import golden_service as gs
import pytest
import test_layer_runner as lr
import torch

from logdot.golden.engine import dot
from logdot.golden.formats import EngineConfig
from logdot.golden.network_file import save_network
from logdot.golden.network_stream import output_bits, pixel_stream, stream_forward
from tests.support.networks import mlp

CONFIG = EngineConfig(lanes=3, act_bits=6, weight_bits=4, max_beats=8)
ACTS = [[-32, 31, 5], [7, -1, 0], [31, 31, 31], [3, 2, 1]]
WEIGHTS = [[1, 9, 15], [7, 8, 2], [15, 15, 15], [0, 3, 12]]
LAST = [False, True, False, True]


def _golden_dot():
    return dot(CONFIG, torch.tensor(ACTS), torch.tensor(WEIGHTS), torch.tensor(LAST)).tolist()


@pytest.fixture
def server():
    with gs.serve() as s:
        yield s


def test_a_simulator_like_process_gets_the_golden_results_without_importing_torch(server):
    """A client process (as the simulator's Python: the server's environment, this
    directory on sys.path) gets exactly the golden model's results, and imports no torch."""
    script = (
        "import json, sys, golden_service as gs\n"
        "from logdot.golden.formats import EngineConfig\n"
        f"cfg = EngineConfig(**{CONFIG.parameters()!r})\n"
        f"r = gs.call('engine.dot', cfg, {ACTS!r}, {WEIGHTS!r}, {LAST!r})\n"
        "t = gs.call('engine.output_tlast', 3)\n"
        "print(json.dumps([r, t, 'torch' in sys.modules]))\n"
    )
    env = {**os.environ, **server.env, "PYTHONPATH": os.path.dirname(gs.__file__)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    )
    assert json.loads(out.stdout) == [_golden_dot(), [True, True, True], False]
    assert server.requests == {"engine.dot": 1, "engine.output_tlast": 1}
    assert server.errors == []


def test_a_failing_operation_fails_the_client_with_the_server_traceback(server):
    client = gs.Client(server.address, server.key)
    with pytest.raises(gs.GoldenServiceError) as exc:
        client.call("engine.dot", CONFIG, [[99, 0, 0]], [[1, 1, 1]], None)
    first = str(exc.value).splitlines()[0]
    assert first == (
        "golden operation engine.dot failed in the golden service: ValueError: acts must be "
        "6-bit signed linear activations in [-32, 31], not 99 (at beat 0, lane 0)"
    )
    assert "--- server-side traceback ---\nTraceback (most recent call last):" in str(exc.value)
    assert server.errors == [first.split("golden service: ")[1]]
    # The connection stays usable after an error.
    assert client.call("engine.dot", CONFIG, ACTS, WEIGHTS, LAST) == _golden_dot()


@pytest.mark.parametrize("op", ["os.system", "__import__", "execute", "Session", "", None, 3])
def test_the_allow_list_refuses_other_operations(server, op):
    client = gs.Client(server.address, server.key)
    with pytest.raises(gs.GoldenServiceError, match=r"ValueError: unknown golden operation"):
        client.call(op, "echo hi")
    with pytest.raises(ValueError, match=r"unknown golden operation"):
        golden_ops.execute(golden_ops.Session(), op, ("echo hi",))


def test_arguments_and_results_must_be_plain_data(server, monkeypatch):
    client = gs.Client(server.address, server.key)
    with pytest.raises(gs.GoldenServiceError, match=r"TypeError: the arguments of engine.dot "
                       r"must be plain Python data, not torch.Tensor"):  # fmt: skip
        client.call("engine.dot", CONFIG, torch.tensor(ACTS), WEIGHTS, LAST)
    monkeypatch.setitem(golden_ops.OPERATIONS, "tensor", lambda session: torch.zeros(2))
    with pytest.raises(gs.GoldenServiceError, match=r"TypeError: the result of tensor must be "
                       r"plain Python data, not torch.Tensor"):  # fmt: skip
        client.call("tensor")


def test_a_handle_of_another_kind_is_refused(server):
    client = gs.Client(server.address, server.key)
    with pytest.raises(gs.GoldenServiceError, match=r"KeyError: 'no layer with handle 7'"):
        client.call("layer.pack_dots", 7, [[[1]]])


def _layer_and_network(tmp_path):
    """A layer manifest (with the weight-load port) and a network file, in ``tmp_path``."""
    from logdot.generators.layer import layer_manifest

    entry = next(e for e in lr.LAYER_CONFIGS if e.get("weight_port"))
    manifest = tmp_path / "layer.json"
    manifest.write_text(json.dumps(layer_manifest(lr.make_layer(entry), weight_port=True)))
    net = mlp()
    save_network(net, tmp_path / "net.pt")
    return str(manifest), str(tmp_path / "net.pt"), net


def _session_script(call, manifest, net_path):
    """Every operation once, through ``call(op, *args)``; the results."""
    out = {"dot": call("engine.dot", CONFIG, ACTS, WEIGHTS, LAST)}
    layer, info = call("layer.open", manifest)
    model = call("layer.model", layer)
    dots = [[[1, 30], [7, 0]], [[31, 5]], [[0, 0], [2, 3], [9, 9]]]
    acts = [row for d in dots for row in d]
    last = [k == len(d) - 1 for d in dots for k in range(len(d))]
    out["layer"] = [
        info,
        call("layer.pack_dots", layer, dots),
        call("layer.run", model, acts, last, 3, 1),
        call("layer.pack_weight_words", layer, [[1, 2], [15, 0]]),
        call("layer.write_weight", model, 1, 2, 0x5A),
        call("layer.run", model, acts, last, 0, 0),
        call("layer.weights", model),
        call("layer.weight_words", layer),
        call("layer.unpack_outputs", layer, [0, 0xFFFF, 0x1234]),
        call("layer.output_tlast", layer, 9, 2),
    ]
    net, info = call("network.open", net_path)
    beats = call("network.image_stream", net, 12345) + call("network.image_stream", net, 6)
    out["network"] = [info, beats, call("network.forward", net, beats)]
    return out


def test_the_standalone_fallback_equals_the_served_results(server, tmp_path, monkeypatch):
    """In-process (no service in the environment) and served, every operation gives the
    same results; they are the golden model's."""
    manifest, net_path, net = _layer_and_network(tmp_path)
    monkeypatch.delenv(gs.ADDRESS_ENV, raising=False)
    local = _session_script(gs.call, manifest, net_path)
    served = _session_script(gs.Client(server.address, server.key).call, manifest, net_path)
    assert served == local
    assert local["dot"] == _golden_dot()
    info, beats, outputs = local["network"]
    streams = []
    for seed in (12345, 6):
        g = torch.Generator().manual_seed(seed)
        image = torch.randint(0, net.input_format.range[1] + 1, net.input_shape, generator=g)
        streams += pixel_stream(net, image)
    assert beats == [tuple(b) for b in streams]
    assert outputs == stream_forward(net, streams).outputs
    assert info == {"input_shape": (3, 1, 2), "result_bits": output_bits(net)[1]}
    written, generated = local["layer"][6]
    codes = lr.make_layer(next(e for e in lr.LAYER_CONFIGS if e.get("weight_port"))).config
    generated[1][2] = codes.unpack_weight_word(0x5A)
    assert written == generated
    assert sum(server.requests.values()) == 16 and not server.errors


def test_no_hang_when_the_server_is_gone_or_silent(monkeypatch):
    monkeypatch.setitem(golden_ops.OPERATIONS, "sleep", lambda session, ms: time.sleep(ms / 1000))
    with gs.serve() as server:
        slow = gs.Client(server.address, server.key, timeout=0.3)
        t0 = time.monotonic()
        with pytest.raises(gs.GoldenServiceError, match=r"no reply to sleep within 0.3 s"):
            slow.call("sleep", 1000)
        assert time.monotonic() - t0 < 0.9
        with pytest.raises(gs.GoldenServiceError, match=r"connection unusable: no reply"):
            slow.call("engine.output_tlast", 1)
        client = gs.Client(server.address, server.key, timeout=30)
        assert client.call("engine.output_tlast", 2) == [True, True]
        stranger = gs.Client(server.address, "wrong key", timeout=30)
        with pytest.raises(gs.GoldenServiceError, match=r"is gone"):
            stranger.call("engine.output_tlast", 1)
    t0 = time.monotonic()
    with pytest.raises(gs.GoldenServiceError, match=r"golden service at .* is gone"):
        client.call("engine.output_tlast", 1)
    with pytest.raises(gs.GoldenServiceError, match=r"cannot reach the golden service"):
        gs.Client(server.address, server.key, timeout=30)
    assert time.monotonic() - t0 < 1


def test_the_server_stops_when_the_run_fails():
    with pytest.raises(RuntimeError, match="the run failed"), gs.serve() as server:
        gs.Client(server.address, server.key).call("engine.output_tlast", 1)
        raise RuntimeError("the run failed")
    assert not any(t.is_alive() for t in server.threads)
    assert not os.path.exists(server.address)


def test_a_served_call_refuses_to_run_in_a_process_with_torch(server, monkeypatch):
    """In a process with torch imported (this one), a call through the service's environment
    fails: the simulator must not import torch."""
    for key, value in server.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setattr(gs, "_client", None)
    with pytest.raises(gs.GoldenServiceError, match=r"torch is imported in this simulator"):
        gs.call("engine.output_tlast", 1)
    assert not server.requests


def test_manifests_are_read_with_their_generators_schema(server, tmp_path):
    from logdot.generators.const import MANIFEST_SCHEMA as CONST_SCHEMA
    from logdot.generators.engine import MANIFEST_SCHEMA

    client = gs.Client(server.address, server.key)
    path = tmp_path / "m.json"
    manifest = {"schema": MANIFEST_SCHEMA, "latency_cycles": 3, "fmax_mhz": 61.5, "ok": None}
    path.write_text(json.dumps(manifest))
    assert client.call("manifest.read", "engine", str(path)) == manifest
    with pytest.raises(gs.GoldenServiceError) as exc:
        client.call("manifest.read", "const", str(path))
    assert (
        str(exc.value)
        .splitlines()[0]
        .endswith(f"ValueError: manifest schema must be {CONST_SCHEMA!r}, not {MANIFEST_SCHEMA!r}")
    )
    with pytest.raises(gs.GoldenServiceError, match=r"manifest kind must be 'engine' or"):
        client.call("manifest.read", "layer", str(path))
