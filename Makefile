# The two set-up commands (see README): `make run` serves the dashboard, `make test` passes the tests.
PYTHON312 ?= $(firstword $(wildcard $(or $(PYENV_ROOT),$(HOME)/.pyenv)/versions/3.12.*/bin/python) $(shell command -v python3.12))
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-runtime test-host test-browser lint bench browser-deps

$(VENV)/.installed: requirements.txt requirements-dev.txt
	@test -n "$(PYTHON312)" || { echo "Python 3.12 is needed (Django 6): install it or set PYTHON312=/path/to/python3.12"; exit 1; }
	$(PYTHON312) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(PY) manage.py migrate --noinput
	$(PY) manage.py ensure_admin
	$(PY) manage.py runserver $(HOST):$(PORT)

browser-deps:
	@command -v chromium >/dev/null || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; \
	  else echo "the browser tests need Debian's chromium: sudo apt-get install chromium"; exit 1; fi; }

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test-runtime: $(VENV)/.installed
	$(VENV)/bin/pytest tests/runtime

test-host: $(VENV)/.installed
	$(PY) manage.py check
	$(VENV)/bin/pytest tests --ignore=tests/browser --ignore=tests/runtime

test-browser: $(VENV)/.installed browser-deps
	$(VENV)/bin/pytest tests/browser

# Browser tests run in their own pytest process: Playwright's sync API keeps a loop running.
test: lint test-runtime test-host test-browser

bench: $(VENV)/.installed
	$(PY) bench/runtime_bench.py
