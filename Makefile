# Usage: `make demo` and `make test` are all a new user needs; the first run
# creates .venv and installs the project with its dev extras.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# First Python >= 3.11 found on PATH; override with `make PYTHON=/path/to/python3.12 ...`.
ifeq ($(origin PYTHON), undefined)
PYTHON := $(shell for p in python3 python3.13 python3.12 python3.11 python; do \
	if command -v $$p >/dev/null 2>&1 && \
	   $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then \
	   echo $$p; break; fi; done)
endif

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# `make mutate MUTANTS='referral_ledger.policies.loyalty*'`: only those mutants (mutmut globs).
MUTANTS ?=
MUTATE_CHILDREN ?= 2

.PHONY: help .venv demo test docs lint typecheck format bench mutate clean

help:
	@echo "make demo       run the demo story: referral-ledger demo --db demo-ledger.db"
	@echo "make test       lint, format check, type check and the test suite"
	@echo "make lint       ruff check + ruff format --check"
	@echo "make typecheck  mypy (strict)"
	@echo "make format     ruff format + ruff check --fix"
	@echo "make docs       build the docs site into site/ (mkdocs, strict)"
	@echo "make bench      run the benchmarks"
	@echo "make mutate     mutation testing of policies/ and aggregates/ (long; see docs/contributing.md)"
	@echo "make clean      remove .venv and caches"
	@echo "Variables: PYTHON=$(PYTHON)  PYTEST_ARGS='$(PYTEST_ARGS)'"

.venv: $(STAMP)

$(STAMP): pyproject.toml
	@if [ -z "$(PYTHON)" ]; then \
		echo "error: no Python >= 3.11 found on PATH; run e.g. 'make PYTHON=/path/to/python3.11 $(MAKECMDGOALS)'" >&2; \
		exit 1; fi
	@if [ ! -x $(BIN)/pip ]; then \
		echo "Creating $(VENV) with $(PYTHON) ($$($(PYTHON) --version))"; \
		$(PYTHON) -m venv $(VENV) || { \
			echo "error: '$(PYTHON) -m venv' failed (on Debian/Ubuntu: apt install python3-venv)" >&2; \
			rm -rf $(VENV); exit 1; }; \
	fi
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	$(BIN)/referral-ledger demo --race --db demo-ledger.db

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)
	$(BIN)/mkdocs build --strict -q

docs: $(STAMP)
	$(BIN)/mkdocs build --strict

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	$(BIN)/python bench/run.py

# Not part of `make test`: a full run takes tens of minutes. mutmut keeps its
# results in mutants/ and re-tests only what changed; `rm -rf mutants` starts afresh.
# The "mutate" Hypothesis profile draws the same examples on every run.
mutate: $(STAMP)
	HYPOTHESIS_PROFILE=mutate $(BIN)/mutmut run --max-children $(MUTATE_CHILDREN) $(MUTANTS)
	$(BIN)/python tools/mutation_report.py

clean:
	rm -rf $(VENV) mutants .pytest_cache .mypy_cache .ruff_cache .hypothesis build dist site demo-ledger.db
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
	find . -name '*.egg-info' -type d -prune -exec rm -rf {} +
