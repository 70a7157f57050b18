"""Shared pytest fixtures: one seed for torch, numpy and random, printed for replay."""

import os
import random
import zlib

import numpy as np
import pytest
import torch


def _session_seed():
    return int(os.environ.get("LOGDOT_SEED", "20161603"))


def pytest_report_header(config):
    return f"logdot seed: LOGDOT_SEED={_session_seed()} (set it to replay a run)"


@pytest.fixture
def seed(request):
    """Seed torch, numpy and random for one test; the seed is derived from LOGDOT_SEED and
    the test's name, so each test is replayable on its own."""
    base = _session_seed()
    s = (base + zlib.crc32(request.node.nodeid.encode())) & 0xFFFFFFFF
    random.seed(s)
    np.random.seed(s)
    torch.manual_seed(s)
    print(f"seed for {request.node.nodeid}: {s} (LOGDOT_SEED={base})")
    return s


@pytest.fixture
def one_torch_thread():
    """Run a test with one torch thread: on small tensors torch's thread pool only adds
    overhead (a lot on a busy machine). Use it with ``pytest.mark.usefixtures``."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
