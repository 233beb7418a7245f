# riskops — the two commands that matter: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DEPS_STAMP := $(VENV)/.deps-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
DEV_STAMP := $(VENV)/.dev-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
PIP_INSTALL := $(BIN)/python -m pip install --disable-pip-version-check --no-input --progress-bar off -q

.PHONY: help demo test lint format typecheck unit integration clean
.DEFAULT_GOAL := help

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-12s %s\n", $$1, $$2}'

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The demo needs every lifecycle step, documents and the fairness gate included: the all extra.
$(DEPS_STAMP): $(BIN)/python pyproject.toml
	$(PIP_INSTALL) --upgrade "pip>=24"
	$(PIP_INSTALL) -e '.[all]'
	touch $@

$(DEV_STAMP): $(BIN)/python pyproject.toml
	$(PIP_INSTALL) --upgrade "pip>=24"
	$(PIP_INSTALL) -e '.[dev]'
	touch $@

demo: $(DEPS_STAMP) ## Create .venv, install, run the end-to-end demo in ./.riskops
	$(BIN)/riskops demo --reset

lint: $(DEV_STAMP) ## ruff (lint + format check), mypy, import contracts, actionlint, zizmor
	$(BIN)/ruff check src tests benchmarks models
	$(BIN)/ruff format --check src tests benchmarks models
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/actionlint .github/workflows/*.yml
	$(BIN)/zizmor --offline --quiet .github/workflows

format: $(DEV_STAMP) ## Format the code and apply safe lint fixes
	$(BIN)/ruff format src tests benchmarks models
	$(BIN)/ruff check --fix src tests benchmarks models

typecheck: $(DEV_STAMP) ## mypy on the domain packages
	$(BIN)/mypy

unit: $(DEV_STAMP) ## Unit tests only (fast)
	$(BIN)/pytest tests/unit -q

integration: $(DEV_STAMP) ## Integration tests (PostgreSQL, S3)
	$(BIN)/pytest tests/integration -q

test: lint ## Create .venv, install dev extras, lint, run the whole suite
	$(BIN)/pytest -q

clean: ## Remove the virtualenv, caches and the demo workspace
	rm -rf $(VENV) .riskops .pytest_cache .mypy_cache .ruff_cache
