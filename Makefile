# harvester — run `make help` for the list of targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
export CKAN_TESTBED_DIR ?= $(CURDIR)/.ckan-testbed
export CKAN_URL ?= http://127.0.0.1:5000

.PHONY: help install lint test test-fast demo bench soak ckan-up ckan-down clean chromium

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/harvester: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,dask]'
	touch $(BIN)/harvester

install: $(BIN)/harvester ## create .venv and install harvester with its dev and dask extras
	@# an editable install compiles no bytecode; where PYTHONDONTWRITEBYTECODE is set every command would compile
	@# the package again (0.25 s of a CKAN harvest): compiled here, only what changed since the last time
	@$(BIN)/python -m compileall -q harvester

lint: install ## ruff and mypy
	$(BIN)/ruff check harvester tests bench
	$(BIN)/ruff format --check harvester tests bench
	$(BIN)/mypy

test: lint ckan-up chromium ## lint, start the CKAN testbed, install chromium if missing, run the whole test suite
	$(BIN)/pytest -q -p no:cacheprovider

test-fast: install ## tests that need no CKAN (developer loop)
	HARVESTER_NO_CKAN=1 $(BIN)/pytest -q -m 'not ckan'

soak: install ckan-up ## run --due every minute for SOAK_MINUTES (10) with a CKAN and a portal outage; writes bench/soak.md
	$(BIN)/python -m bench.soak

chromium: ## install Debian's chromium when missing (the run report is rendered in it by tests marked browser)
	@command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

ckan-up: ## start (or restart) the local CKAN 2.12 testbed on 127.0.0.1:5000 (idempotent)
	@if [ "$${HARVESTER_NO_CKAN:-}" = 1 ] && [ "$${CI:-}" != true ]; then \
	  echo "HARVESTER_NO_CKAN=1: CKAN testbed not started (tests marked ckan are skipped; CI never does this)"; \
	else bash tests/ckan_testbed/setup.sh; fi

ckan-down: ## stop the CKAN testbed, Redis and PostgreSQL
	bash tests/ckan_testbed/stop.sh

demo: install ckan-up ## replay recorded portals, harvest, normalise and publish them into the local CKAN; prints the URL
	$(BIN)/python -m harvester.demo

bench: install ## run the benchmarks and write bench/report.md
	$(BIN)/python -m bench

clean: ## remove the venv and local data
	rm -rf $(VENV) data demo-data soak-data .pytest_cache .mypy_cache .ruff_cache
