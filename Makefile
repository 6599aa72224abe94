# make run  - set up and start the whole app (web, worker, beat, Redis) on http://127.0.0.1:8000
# make test - set up and run the whole test suite against real servers
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python

.PHONY: run test test-fast lint lock bench clean-venv

run: $(VENV)/.installed
	$(PY) -m backupweb.launcher

test: $(VENV)/.installed-test
	bin/ensure-test-servers
	$(PY) -m pytest tests
	$(PY) -m tests.servers.postgres $(PY) -m pytest tests -m postgres -q

test-fast: $(VENV)/.installed-test
	$(PY) -m pytest tests -x -q --ignore=tests/e2e

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

$(VENV)/bin/python:
	"$$(bin/find-python)" -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

# The stamp files are newer than the lock files once installed: no reinstall when nothing changed.
$(VENV)/.installed: requirements.lock | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements.lock
	touch $@

$(VENV)/.installed-test: requirements-test.lock | $(VENV)/bin/python
	$(PY) -m pip install -q -r requirements-test.lock
	touch $@ $(VENV)/.installed

# Regenerate the lock files after changing dependencies in pyproject.toml.
lock: | $(VENV)/bin/python
	$(PY) -m pip install -q uv
	$(VENV)/bin/uv pip compile pyproject.toml --python-version 3.12 -o requirements.lock
	$(VENV)/bin/uv pip compile pyproject.toml --extra test --python-version 3.12 -o requirements-test.lock

bench: $(VENV)/.installed-test
	bin/ensure-test-servers
	$(PY) bench/backup.py

clean-venv:
	rm -rf $(VENV)
