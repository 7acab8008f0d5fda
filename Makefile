# One entry point for people and CI. `make test` works on a fresh machine.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
CHP := node_modules/.bin/configurable-http-proxy
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)

.PHONY: install test lint bench local-cluster demo clean peer-suites

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Re-install when the package metadata changes.
$(VENV)/.installed: pyproject.toml kubesim/pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ./kubesim -e '.[test,dev]'
	touch $@

$(CHP):
	npm install --silent --no-save --no-package-lock --no-audit --no-fund \
		--prefix $(CURDIR) configurable-http-proxy@^4.6

# The demo's extra (JupyterLab for the servers), on top of the test and dev install.
$(VENV)/.installed-demo: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e ./kubesim -e '.[demo]'
	touch $@

install: $(VENV)/.installed $(CHP)

test: install
	$(BIN)/pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check lscsde_spawner lscsde_demo kubesim tests bench examples scripts
	$(BIN)/ruff format --check lscsde_spawner lscsde_demo kubesim tests bench examples scripts
	$(BIN)/mypy
	$(BIN)/mypy tests bench scripts
	$(BIN)/lint-imports --no-logo

bench: install
	$(BIN)/python -m bench.localcluster_bench

bench-access: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python -m bench.access_bench $(BENCH_ARGS)

# Peers' own test suites against kubesim, from local checkouts (not part of make test):
# make peer-suites PEERS="kubespawner=../kubespawner kubernetes_asyncio=../kubernetes_asyncio kubernetes=../python"
peer-suites: install
	$(BIN)/python scripts/peer_suites.py $(PEERS)

local-cluster: install
	$(BIN)/kubesim --port 6443 --data-dir .demo/cluster

# Everything on one machine: cluster, sample workspaces, JupyterHub at http://127.0.0.1:8000.
# State in .demo/ (kept between runs). DEMO_ARGS="--port 8010" for another port.
demo: install $(VENV)/.installed-demo
	$(BIN)/lscsde-demo --data-dir .demo $(DEMO_ARGS)

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .import_linter_cache
