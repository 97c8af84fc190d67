# bb-ops: `make demo` runs the bot on its embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
BBOPS  := $(VENV)/bin/bb-ops

.PHONY: install demo test bench system-deps clean

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

test: install system-deps
	$(PY) -m pytest -q

bench: install system-deps
	$(PY) bench/run_all.py

clean:
	rm -rf $(VENV) var/ .pytest_cache
