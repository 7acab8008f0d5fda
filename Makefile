# One entry point for people and CI. `make test` works on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHP := node_modules/.bin/configurable-http-proxy
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: install test lint bench local-cluster clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the package metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $@

$(CHP):
	npm install --silent --no-save --no-package-lock --no-audit --no-fund \
		--prefix $(CURDIR) configurable-http-proxy@^4.6

install: $(VENV)/.installed $(CHP)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check lscsde_spawner tests bench examples
	$(BIN)/ruff format --check lscsde_spawner tests bench examples
	$(BIN)/mypy

bench: install
	$(BIN)/python -m bench.localcluster_bench

bench-access: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.access_bench $(BENCH_ARGS)

local-cluster: install
	$(BIN)/lscsde-spawner local-cluster --port 6443 --data-dir .demo/cluster

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
