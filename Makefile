# bb-ops: `make demo` runs the bot on its embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BBOPS  := $(VENV)/bin/bb-ops

.PHONY: install demo test test-fast bench system-deps clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

# redis-server and the PostgreSQL binaries the tests start on their own.
system-deps:
	@scripts/ensure-system-deps

demo: install
	$(BBOPS) demo

# Every suite (unit, integration, e2e, chaos, devkit) on real services, spread over
# $(TEST_WORKERS) pytest-xdist workers: each starts its own redis-server and scratch databases.
TEST_WORKERS ?= 4
test: install system-deps
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadfile

# The pure unit tests: no services, well under 30 s.
test-fast: install
	$(PY) -m pytest -q -n 2 tests/unit

bench: install system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var/ .pytest_cache
