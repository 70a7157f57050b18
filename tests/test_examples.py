"""Every script in examples/ runs in the test suite, so examples cannot rot.

A cross-cutting suite (the examples use the whole package), so it stays at the top of tests/;
examples/paper_study.py has a suite of its own (tests/test_paper_study.py).
"""

import os
import re
import subprocess
import sys

import pytest

from tests.support import ROOT, load_script
from tests.support.interrupt import assert_interrupted

EXAMPLES = sorted(p.name for p in (ROOT / "examples").glob("*.py"))


def run_example(name, *args, timeout=600):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def test_quickstart(tmp_path):
    out = run_example("quickstart.py", "--out", str(tmp_path))
    assert "log codes    [5, 11, 0, 7]" in out
    assert "engine result 8300 (integer) = 8.10546875 (real)" in out
    assert (tmp_path / "quickstart.v").read_text().count("module quickstart(") == 1
    assert (tmp_path / "quickstart.json").exists()


def test_every_example_is_run_by_a_test():
    """A new example without a test fails here: each script must be exercised by some test."""
    sources = "\n".join(p.read_text() for p in (ROOT / "tests").rglob("test_*.py"))
    sources += "\n".join(p.read_text() for p in (ROOT / "cocotb_tests").rglob("test_*.py"))
    missing = [name for name in EXAMPLES if not re.search(re.escape(name), sources)]
    assert EXAMPLES, "examples/ is empty"
    assert not missing, f"examples not run by any test: {missing}"


def run_demo(*args, timeout=900):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "digits_on_rtl.py"), "--no-progress", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    return proc.returncode, proc.stdout, proc.stderr


def test_digits_on_rtl_reduced():
    """examples/digits_on_rtl.py on a few images (small engines): 0 mismatches, hardware
    accuracy = golden accuracy, the documented last line; with --inject-fault it must fail."""
    common = ["--images", "6", "--chunk", "3", "--layout", "9x2,8x2,8x1"]
    from logdot.tools.layer_sim import default_build_root

    build = default_build_root() / "tests" / "digits_reduced"
    common += ["--build-dir", str(build), "--backpressure", "0.2", "--idle", "0.1"]
    rc, out, err = run_demo(*common)
    assert rc == 0, out + err
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(
        r"mismatches: (\d+) hw_accuracy: ([0-9.]+) golden_accuracy: ([0-9.]+) images: (\d+)", last
    )
    assert m, last
    assert m.group(1) == "0" and m.group(2) == m.group(3) and m.group(4) == "6"
    for name in ("conv1", "conv2", "fc"):
        assert re.search(rf"^\s*{name}\s", out, re.MULTILINE), out
    # One line per engine build started and one per build finished.
    for k, name in enumerate(("conv1", "conv2", "fc")):
        assert f"  [{k + 1}/3] {name}: building ...\n" in out, out
        assert re.search(rf"^  \[{k + 1}/3\] {name}: (built|reused the complete build) in ", out,
                         re.MULTILINE), out  # fmt: skip
    rc, out, err = run_demo(*common, "--inject-fault")
    assert rc == 1, out + err
    assert out.strip().splitlines()[-1].startswith("mismatches: 1 "), out


DEMO_SMALL = ["--no-progress", "--layout", "9x2,8x2,8x1"]


def _interrupt_demo(run, phase):
    res = run.interrupt()
    print(f"digits_on_rtl.py, SIGINT during the {phase}: ended in {res.seconds:.2f} s")
    assert_interrupted(res, "digits_on_rtl")
    assert "mismatches:" not in res.stdout
    return res


def test_digits_on_rtl_interrupted_while_building(tmp_path):
    """Ctrl-C while Verilator compiles the engines: one line, exit 130 within seconds (the
    build pool does not wait), no compiler left, no engine build left looking complete."""
    from tests.support.interrupt import Run

    build = tmp_path / "build"
    run = Run([str(ROOT / "examples" / "digits_on_rtl.py"), *DEMO_SMALL, "--images", "6",
               "--build-dir", str(build)])  # fmt: skip
    run.wait_for(lambda r: {"cc1plus", "g++", "c++"} & set(r.children()), what="a compile")
    res = _interrupt_demo(run, "build")
    assert "building 3 engines" in res.stdout
    assert "built 3 engines" not in res.stdout
    for name in ("conv1", "conv2", "fc"):
        finished = re.search(rf"\] {name}: built in ", res.stdout)
        assert (build / name / ".verilator.sources").exists() == bool(finished), res.stdout


def test_digits_on_rtl_interrupted_while_simulating(tmp_path):
    """Ctrl-C while Icarus simulates: one line, exit 130 within seconds, vvp killed."""
    from tests.support.interrupt import Run

    build = tmp_path / "build"
    run = Run([str(ROOT / "examples" / "digits_on_rtl.py"), *DEMO_SMALL, "--sim", "icarus",
               "--images", "40", "--chunk", "20", "--build-dir", str(build)])  # fmt: skip
    run.wait_for(lambda r: r.printed("built 3 engines") and "vvp" in r.children(),
                 what="a simulation")  # fmt: skip
    _interrupt_demo(run, "simulation")


def test_soak_stimulus_progress(tmp_path, monkeypatch, capsys):
    """benchmarks/soak.py (make soak) prints one progress line per stimulus chunk."""
    from logdot.golden.formats import EngineConfig

    soak = load_script("benchmarks/soak.py")
    monkeypatch.setattr(soak, "CHUNK", 1000)
    config = EngineConfig(lanes=2, act_bits=4, weight_bits=3)
    soak.make_files(config, tmp_path, 2500, 1, 8)
    out = capsys.readouterr().out
    for done in ("1,000", "2,000", "2,500"):
        assert f"stimulus: {done}/2,500 beats generated\n" in out, out


#: Runs an example script (argv[1]) once per line of flags on stdin, in one process, with the
#: data loading and the training replaced by an error (any heavy work before the flags are
#: checked fails the run); prints each run's exit code.
_NO_HEAVY_WORK = """
import runpy, sys
import logdot.study.data as data
import logdot.study.mnist as mnist

def heavy(*args, **kwargs):
    raise SystemExit("heavy work started before the flags were checked")

data.train_digits_cnn = data.load_digits_split = heavy
mnist.load_split = mnist.load_mnist_split = mnist.train_mnist_cnn = heavy
script = sys.argv[1]
for line in sys.stdin.read().splitlines():
    sys.argv = [script, *line.split()]
    try:
        runpy.run_path(sys.argv[0], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code
    print(code, flush=True)
    sys.stderr.flush()
"""


def check_flags(script, lines):
    """Run ``examples/<script>`` once per flag line (one process: :data:`_NO_HEAVY_WORK`);
    return ``(exit codes as printed, stderr lines)``."""
    proc = subprocess.run(
        [sys.executable, "-c", _NO_HEAVY_WORK, str(ROOT / "examples" / script)],
        input="\n".join(lines),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return proc.stdout.split(), proc.stderr.splitlines()


DIGITS_FLAG_ERRORS = [
    ("--images 0", "--images must be an integer in [1, 450], not 0"),
    ("--images 451", "--images must be an integer in [1, 450], not 451"),
    ("--chunk 0", "--chunk must be an integer >= 1, not 0"),
    ("--idle 1", "--idle must be a probability in [0, 1), not 1.0"),
    ("--weight-bits 8", "--weight-bits must be an integer in [2, 7], not 8"),
    ("--act-bits 7", "--act-bits must be an integer in [2, 5], not 7"),
    ("--frac-bits 0", "--frac-bits must be an integer in [1, 24], not 0"),
    ("--layout 9x4", "--layout must be three LANESxPES pairs like '9x4,16x4,16x2', not '9x4'"),
    ("--layout 9x4,16x300,16x2", "--layout must be <= 256 PEs, not 300 PEs for conv2"),
]


def test_digits_on_rtl_checks_flags_before_any_heavy_work():
    """A bad flag fails at once (before the data are loaded and the model trained) with one
    line and exit code 2."""
    codes, err = check_flags("digits_on_rtl.py", [args for args, _ in DIGITS_FLAG_ERRORS])
    assert codes == ["2"] * len(DIGITS_FLAG_ERRORS), (codes, err)
    assert err == [f"digits_on_rtl.py: error: {line}" for _, line in DIGITS_FLAG_ERRORS]


def test_mnist_on_rtl_reduced(tmp_path):
    """examples/mnist_on_rtl.py (the ``make demo`` script) on the digits CNN with a small
    folding, 2 images in Icarus (two runs of one) with idles and back-pressure: ``logdot
    compile`` runs, every output word matches the golden network, the documented last line."""
    args = ["--dataset", "digits", "--images", "2", "--sim", "icarus", "--chunk", "1"]
    args += ["--fold", "0=9x2,1=16x2,3=8x1", "--idle", "0.1", "--backpressure", "0.2"]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "mnist_on_rtl.py"), *args,
         "--build-dir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=900,
        env=dict(os.environ, LOGDOT_PROGRESS="1"),  # the bar even without a terminal
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert re.search(r"rtl \(icarus\): 100%.*\b2/2 \[", proc.stderr), proc.stderr
    assert "$ logdot compile --network " in out
    assert "fold 0=9x2, 1=16x2, 3=8x1" in out
    assert re.search(r"^RTL \(icarus\):\s+[0-9.]+$", out, re.MULTILINE), out
    last = out.strip().splitlines()[-1]
    m = re.fullmatch(
        r"mismatches: (\d+) hw_accuracy: ([0-9.]+) golden_accuracy: ([0-9.]+) images: (\d+)", last
    )
    assert m, last
    assert m.group(1) == "0" and m.group(2) == m.group(3) and m.group(4) == "2"
    assert (tmp_path / "digits_net.v").exists() and (tmp_path / "digits_net.json").exists()


def test_mnist_on_rtl_argument_errors():
    """A bad option is one line on stderr naming the flag, exit 2, before any work (the data
    loading and the training fail the run if they start)."""
    bad = (("--chunk 0", "--chunk"), ("--idle 1.5", "--idle"))
    codes, err = check_flags("mnist_on_rtl.py", [args for args, _ in bad])
    assert codes == ["2", "2"], (codes, err)
    assert len(err) == 2, err
    for line, (_, flag) in zip(err, bad, strict=True):
        assert flag in line, err


def test_amaranth_design(tmp_path):
    """examples/amaranth_design.py (logdot's engines inside a user's Amaranth design, with
    amaranth.lib.fifo FIFOs and wiring.connect): every output equals the golden model, the
    counts match; with a corrupted golden value it fails."""
    out = run_example("amaranth_design.py", "--seed", "3")
    assert out.strip().splitlines()[-1] == "dots: 4 layer outputs: 6 mismatches: 0", out
    proc = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "amaranth_design.py"), "--inject-fault"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stdout.strip().splitlines()[-1].endswith("mismatches: 1"), proc.stdout
    assert re.search(r"^dot 1: design -?0x[0-9a-f]+, golden -?0x[0-9a-f]+ \(seed 1\)$",
                     proc.stdout, re.MULTILINE), proc.stdout  # fmt: skip


def _golden_board(master, net, count, *, mutate=False):
    """A board on the other end of a pseudo-terminal, answering ``count`` requests with the
    golden responses (``mutate``: the output word big-endian, a wrong byte order)."""
    import os
    import select

    from logdot.golden.board_protocol import board_forward, request_length

    n = request_length(net)
    for _ in range(count):
        data = b""
        while len(data) < n:
            if not select.select([master], [], [], 60)[0]:
                return
            data += os.read(master, n - len(data))
        resp = board_forward(net, data)
        if mutate:
            resp = resp[:2] + resp[2:][::-1]
        os.write(master, resp)


@pytest.mark.parametrize("mutate", [False, True])
def test_board_host_against_a_golden_board(tmp_path, mutate):
    """examples/board_host.py through a real (pseudo-)terminal, raw mode and all, against a
    golden board: every answer checked; a board answering in the wrong byte order fails."""
    import os
    import pty
    import threading

    from logdot.golden.network_file import save_network
    from tests.support.networks import board_net

    net = board_net()
    save_network(net, tmp_path / "tiny.net.pt")
    master, slave = pty.openpty()
    board = threading.Thread(target=_golden_board, args=(master, net, 3), kwargs={"mutate": mutate})
    board.start()
    try:
        proc = subprocess.run(
            [sys.executable, str(ROOT / "examples" / "board_host.py"), "--port", os.ttyname(slave),
             "--network", str(tmp_path / "tiny.net.pt"), "--random", "3", "--timeout", "60"],
            cwd=ROOT, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
    finally:
        board.join(timeout=120)
        os.close(slave)
        os.close(master)
    last = proc.stdout.strip().splitlines()[-1]
    if not mutate:
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert last == "mismatches: 0 accuracy: - images: 3", proc.stdout
        assert len(re.findall(r"^image \d: class \d status 0x0 logits ", proc.stdout, re.M)) == 3
    else:
        assert proc.returncode == 1, proc.stdout + proc.stderr
        assert last == "mismatches: 3 accuracy: - images: 3", proc.stdout
        assert re.search(r"^image 0: board [0-9a-f]+ != golden [0-9a-f]+$", proc.stdout, re.M)
