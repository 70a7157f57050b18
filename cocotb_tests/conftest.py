"""pytest collects only the runner here: test_engine.py holds cocotb tests that run inside
the simulator (started by test_runner.py), not pytest tests."""

collect_ignore = [
    "test_engine.py",
    "test_layer.py",
    "test_faults.py",
    "test_const.py",
    "test_network.py",
]
