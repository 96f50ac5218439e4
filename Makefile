# Quick start: `make demo` and `make test` on a machine with Python 3.11 and make.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test lint format bench bench-quick bench-households eval chaos fuzz clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found: install Python 3.11"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m tools demo

test: $(STAMP)
	bash scripts/ensure-prometheus.sh
	bash scripts/ensure-chromium.sh
	bash scripts/ensure-stunnel.sh
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# every figure of benchmarks/results/RESULTS.md: 3 runs of both classifier arms (pipeline,
# same-work peers, two workers), the bare forwarders, latency, cost curves, Taizhou scale.
# About 25-30 min on a quiet 2-core machine (docs/performance.md): run it alone.
bench: $(STAMP)
	$(BIN)/python -m benchmarks
	$(BIN)/python -m benchmarks.hotpoint

# The household reconciliation from an empty database (issue 21): minutes, so not in `bench`.
bench-households: $(STAMP)
	$(BIN)/python -m benchmarks.households_load

# a few minutes, small counts, one run each: checks the harness; NOT figures to quote.
# Writes benchmarks/results/quick/RESULTS.md, never over the full run's RESULTS.md.
bench-quick: $(STAMP)
	$(BIN)/python -m benchmarks --quick --runs 1 --no-profile --no-taizhou

eval: $(STAMP)
	$(BIN)/python -m tools.classifier_training
	$(BIN)/python -m tools.classifier_training.corrections_eval
	$(BIN)/python -m tools.prediction_eval
	$(BIN)/python -m tools.prediction_eval.lattice_eval
	$(BIN)/python -m evaluation.households

chaos: $(STAMP)
	$(BIN)/python -m benchmarks.chaos

# issue 16's 10,000 extreme records through a worker; the suite runs 500 of them
fuzz: $(STAMP)
	FUZZ_RECORDS=10000 $(BIN)/python -m pytest -q -s tests/integration/test_fuzz_extreme.py

clean:
	rm -rf .data .pytest_cache .mypy_cache .ruff_cache
