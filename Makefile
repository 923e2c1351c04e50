# The two promises of the README: `make run` and `make test` each do all their own set-up.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PG_ENV := .pg/env

.PHONY: install run test lint services clean demo screenshots

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Services the suite needs: a throwaway PostgreSQL cluster on a loopback port, and Debian's chromium
# for the browser tests of the dashboard.
services:
	bash scripts/postgres-up.sh
	bash scripts/chromium-up.sh

run: install
	$(VENV)/bin/orderbridge demo

test: install services
	. $(PG_ENV) && $(VENV)/bin/python -m pytest

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/mypy

clean:
	bash scripts/postgres-down.sh || true
	rm -rf $(VENV) .pg .pytest_cache .mypy_cache

# The dashboard's screenshots in docs/operators.md (docs/img/*.png), regenerated with a served sandbox.
screenshots: install
	bash scripts/chromium-up.sh
	$(PY) scripts/screenshots.py
