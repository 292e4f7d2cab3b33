# Two commands set everything up on a fresh machine with Python 3.11+ and pip:
#   make demo   - creates .venv if missing, installs jopt, runs the main job
#   make test   - creates .venv if missing, installs jopt with test extras, runs the fast lane
# `make test-all` runs every test (slow lane included); CI (.ci/run) runs it.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
WORKERS ?= 2
PYTEST := $(PY) -m pytest -n $(WORKERS) --dist loadgroup

.PHONY: demo test test-all optax-tests bench venv clean

$(VENV)/.installed-base: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[experiments]"
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed-base pyproject.toml
	$(PY) -m pip install -q -e ".[test]"
	touch $@

demo: $(VENV)/.installed-base
	$(PY) -m experiments.train --workdir=runs/default

test: $(VENV)/.installed-test
	$(PYTEST) -m "not slow" tests

test-all: $(VENV)/.installed-test
	$(PYTEST) tests

optax-tests: $(VENV)/.installed-test
	$(PY) tests/optax_suite/run_optax_tests.py

bench: $(VENV)/.installed-base
	$(PY) -m benchmarks.run

clean:
	rm -rf $(VENV) build *.egg-info
