# Two commands for a fresh machine:
#   make demo   - build the demo world and run load, scan, resolve, map, report on embedded SQLite
#   make test   - the whole test suite (SQLite, and PostgreSQL+PostGIS when a server runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	scripts/system-deps run
	$(BIN)/rxtrace demo --dir rxtrace-demo

test: $(STAMP)
	scripts/system-deps test
	-scripts/start-postgres
	$(BIN)/ruff check .
	MYPY=$(BIN)/mypy scripts/typecheck
	$(BIN)/pytest -q

bench: $(STAMP)
	$(BIN)/python bench/run.py
