# The two commands of the README: `make demo` and `make test`. Both bootstrap .venv from requirements.lock.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PACKAGES := core domain models workflows activities adapters api starters workers sdisim devstack

.PHONY: install bytecode demo test lint typecheck postgres browser bench up clean

$(STAMP): requirements.lock pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# Bytecode for our own packages, as pip writes it for installed ones (and the image does): the workflow
# sandbox imports each workflow module afresh for every workflow it runs, and without a .pyc
# (PYTHONDONTWRITEBYTECODE, an editable install) that means compiling its source every time. The demo, the
# stack and the benchmarks run as deployed; the tests run from source.
bytecode:
	$(PY) -m compileall -q $(PACKAGES)

install: $(STAMP)

postgres:
	bash scripts/ensure-postgres.sh

browser:
	bash scripts/ensure-chromium.sh

lint: install
	$(VENV)/bin/ruff check .

typecheck: install
	$(VENV)/bin/mypy

demo: install bytecode
	$(VENV)/bin/einvoice demo

up: install bytecode
	$(VENV)/bin/einvoice dev up

test: install postgres browser lint typecheck
	$(PY) -m pytest -p no:cacheprovider

bench: install postgres bytecode
	$(PY) -m bench.run

clean:
	rm -rf $(VENV) .einvoice .pytest_cache
