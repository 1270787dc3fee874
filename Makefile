# The two commands of the README: `make demo` and `make test`. Both bootstrap .venv from requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test lint typecheck postgres browser bench up clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

postgres:
	bash scripts/ensure-postgres.sh

browser:
	bash scripts/ensure-chromium.sh

lint: install
	$(VENV)/bin/ruff check .

demo: install
	$(VENV)/bin/einvoice demo

up: install
	$(VENV)/bin/einvoice dev up

test: install postgres browser lint
	$(PY) -m pytest -p no:cacheprovider

bench: install postgres
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .einvoice .pytest_cache
