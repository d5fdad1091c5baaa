# Two commands for a fresh machine:
#   make demo   - build the demo world, run load, scan, resolve, map, report on embedded SQLite, serve the pages
#   make test   - the whole test suite (SQLite, and PostgreSQL+PostGIS when a server runs)
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench install bundle

$(STAMP): pyproject.toml web/package-lock.json
	scripts/web-assets
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

# The Spark jobs' extra (pyspark, ~450 MB), for the tests only: `make demo` does without it.
SPARK_STAMP := $(VENV)/.spark

$(SPARK_STAMP): $(STAMP)
	$(BIN)/pip install -q -e ".[dev,spark]"
	touch $(SPARK_STAMP)

install: $(STAMP)

demo: $(STAMP)
	scripts/system-deps run
	$(BIN)/rxtrace demo --dir rxtrace-demo

test: $(STAMP) $(SPARK_STAMP)
	scripts/system-deps test
	-scripts/start-postgres
	-scripts/start-docker
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	MYPY=$(BIN)/mypy scripts/typecheck
	# On both cores, each module on one worker (a Spark module starts one JVM), then what must run alone.
	$(BIN)/pytest -q -n 2 --dist loadfile -m "not alone"
	$(BIN)/pytest -q -m alone

bench: $(STAMP)
	$(BIN)/python bench/core_bench.py --rows 1000000 --codes 100000
	$(BIN)/python bench/key_bench.py --keys 1000000 --lookups 50000
	$(BIN)/python bench/scan_bench.py
	$(BIN)/python bench/geo_bench.py
	$(BIN)/python bench/leads_bench.py --rows 1000000

# One archive to install on a network with no package registry (README: Offline install).
bundle: $(STAMP)
	PYTHON=$(BIN)/python scripts/bundle dist
