# warifu: the two commands of the README work on a fresh machine with only python3.
PY     ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test demo lint protos bench clean

$(BIN)/python:
	$(PY) -m venv $(VENV)

# Editable install in "strict" mode: a tree of links under build/ that import-linter can walk
# (the package-dir mapping of DESIGN §1 is invisible to it otherwise). New source files need a
# re-install, so the stamp depends on the list of sources.
SOURCES := $(shell find core node client benchmarks protos -name '*.py' 2>/dev/null)

$(STAMP): pyproject.toml $(SOURCES) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]' --config-settings editable_mode=strict
	touch $(STAMP)

install: $(STAMP)

## the whole test suite (unit, vectors, property, adversarial, integration with real OpenBao)
test: $(STAMP)
	$(BIN)/python -m pytest -p no:cacheprovider -q

## a local cluster (3 OpenBao + 3 nodes) signs a real XRP payment, verifies it, stops
demo: $(STAMP)
	$(BIN)/python scripts/demo.py

## ruff, mypy (strict on core/, checked on node/client), import contracts, generated protobuf code up to date
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy -p warifu.core -p warifu.node -p warifu.client -p warifu.benchmarks
	$(BIN)/lint-imports
	$(BIN)/python scripts/gen_protos.py --check

protos: $(STAMP)
	$(BIN)/python scripts/gen_protos.py

## warifu bench on a throw-away local cluster (5 nodes): bench-report/bench.{json,md} + PNGs
bench: $(STAMP)
	$(BIN)/python -m warifu.benchmarks --out bench-report

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis
