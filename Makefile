# Rampart developer entry points. `make up` runs the platform locally; `make test` runs all tests.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
RAMPART_STATE_DIR ?= .rampart
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)
APT_INSTALL := $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends

.PHONY: help venv sysdeps up down logs status demo test lint bench clean

help:
	@echo "make venv | up | down | logs | status | demo | test | lint | bench | clean"

venv: $(STAMP)

# Re-install only when pyproject.toml changed since the last successful install.
$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { $(SUDO) apt-get update && $(APT_INSTALL) python3.11 python3.11-venv; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# System packages tests need when absent: PostgreSQL binaries (unless a server is reachable).
sysdeps: venv
	$(PY) -m rampart_runtime.devstack deps

up: venv
	$(PY) -m rampart_runtime.devstack up

down: venv
	$(PY) -m rampart_runtime.devstack down

logs:
	@ls $(RAMPART_STATE_DIR)/logs/*.log >/dev/null 2>&1 || { echo "no logs yet: run make up"; exit 1; }
	tail -n 100 -f $(RAMPART_STATE_DIR)/logs/*.log

status: venv
	$(PY) -m rampart_runtime.devstack status

demo: up
	@echo "Demo data (sample warehouse, checks and incidents) arrives in a later release;"
	@echo "for now \`make demo\` only starts the platform, exactly like \`make up\`."

test: venv sysdeps
	$(PY) -m pytest -q $(wildcard tests/unit tests/integration tests/e2e)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m mypy libs services

bench: venv
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(APT_INSTALL) wrk; }
	$(PY) bench/run_all.py

# Stops the stack and deletes local state (.rampart: private database, keys, logs).
clean:
	-@test -x $(PY) && $(PY) -m rampart_runtime.devstack clean
	rm -rf $(RAMPART_STATE_DIR) .pytest_cache .mypy_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
