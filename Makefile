# `make bench` and `make test` set everything up on a fresh clone (a .venv with the pinned
# dependencies) and then run the main job or the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: setup bench test lint correctness speed clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $(STAMP)

setup: $(STAMP)

bench: setup
	$(BIN)/manipgym bench --suite quick

# one test process per core, at most 4 (pytest-xdist; a test can itself start simulator workers
# and load models, so many cores with little memory should not mean many processes); worksteal
# evens out the few long tests
test: setup
	$(BIN)/python -m pytest -q -n auto --maxprocesses 4 --dist worksteal

lint: setup
	$(BIN)/ruff check manipgym tests

correctness: setup
	$(BIN)/python -m manipgym.benchmarks.correctness

speed: setup
	$(BIN)/python -m manipgym.benchmarks.speed

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .ruff_cache
