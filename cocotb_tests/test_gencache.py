"""gencache.py: one generation per key, shared by simulators and workers (no simulator)."""

import threading
import time

import gencache
import pytest


def _writer(calls, text="module m; endmodule\n", delay=0.0):
    """A writer of ``top.v`` and ``top.json`` that records every call in ``calls``."""

    def write(directory):
        calls.append(directory)
        time.sleep(delay)
        (directory / "top.v").write_text(text)
        (directory / "top.json").write_text("{}\n")
        return directory / "top.v", str(directory / "top.json")

    return write


def test_one_generation_per_key(tmp_path):
    calls = []
    design = ["runner.py", "top", 7, {"id": "a", "lanes": 3, "fold": {0: (18, 2)}}]
    first = gencache.generated(tmp_path, design, _writer(calls))
    again = gencache.generated(tmp_path, list(design), _writer(calls, "changed\n"))
    assert len(calls) == 1 and again == first
    assert [p.name for p in first] == ["top.v", "top.json"]  # the writer's order
    assert first[0].read_text() == "module m; endmodule\n"
    assert first[0].parent == tmp_path / gencache.generation_key(design)
    other = gencache.generated(tmp_path, [*design[:3], {"id": "a", "lanes": 4}], _writer(calls))
    assert len(calls) == 2 and other[0].parent != first[0].parent
    assert not list(tmp_path.glob(".*-*"))  # no temporary folder left


def _net_a():
    """A network builder (keyed by its qualified name)."""


def _net_b():
    """Another network builder."""


def test_key_covers_the_design_and_the_sources(monkeypatch):
    key = gencache.generation_key
    assert key({"network": _net_a}) == key({"network": _net_a})
    assert key({"network": _net_a}) != key({"network": _net_b})
    assert key(["r", 1]) != key(["r", 2])
    before = key(["r", 1])
    monkeypatch.setattr(gencache, "source_digest", lambda: "an edited generator")
    assert key(["r", 1]) != before
    with pytest.raises(TypeError, match="cannot key"):
        key([object()])


def test_source_digest_hashes_the_generator_sources(tmp_path, monkeypatch):
    from pathlib import Path

    import logdot.generators.engine
    import logdot.hdl.engine

    roots = gencache.source_roots()
    for module in (logdot.generators.engine, logdot.hdl.engine, gencache):
        assert any(root in Path(module.__file__).resolve().parents for root in roots)
    # The tree hashing itself is logdot.tools.digest.source_digest (tests/logdot/tools/
    # test_digest.py); here: an edited generator source is another digest.
    first = gencache.source_digest()
    gencache.source_digest.cache_clear()
    try:
        monkeypatch.setattr(gencache, "source_roots", lambda: [*roots, tmp_path])
        (tmp_path / "gen.py").write_text("LANES = 3\n")
        assert gencache.source_digest() != first
    finally:
        gencache.source_digest.cache_clear()
    assert len(gencache.source_digest()) == 64


def test_concurrent_requests_generate_once(tmp_path):
    calls, results = [], []

    def request():
        results.append(gencache.generated(tmp_path, ["k"], _writer(calls, delay=0.3)))

    threads = [threading.Thread(target=request) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and results[0] == results[1]


def test_failed_generation_leaves_no_entry(tmp_path):
    def broken(directory):
        (directory / "top.v").write_text("trunc")
        raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        gencache.generated(tmp_path, ["k"], broken)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".{gencache.generation_key(['k'])}.lock"]
    calls = []
    files = gencache.generated(tmp_path, ["k"], _writer(calls))
    assert len(calls) == 1 and files[0].read_text() == "module m; endmodule\n"


def test_writer_must_write_into_its_folder(tmp_path):
    outside = tmp_path / "elsewhere.v"

    def stray(directory):
        outside.write_text("x")
        return (outside,)

    with pytest.raises(ValueError, match="outside"):
        gencache.generated(tmp_path / "cache", ["k"], stray)
    assert not (tmp_path / "cache" / gencache.generation_key(["k"])).exists()
