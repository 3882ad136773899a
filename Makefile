# commcredits: the two commands are `make run` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell $(PY) -c 'import hashlib,sys;print(hashlib.sha1(open("pyproject.toml","rb").read()).hexdigest()[:12])')
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: install run test test-citus test-platform lint typecheck layers pytest bench bench-calls bench-cdrs bench-export bench-pages clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

install: $(STAMP)

## Serve on SQLite with demo data at http://$(HOST):$(PORT)
run: install
	$(BIN)/commcredits serve --host $(HOST) --port $(PORT)

## Lint, type-check, check the layers, and run every test
test: install lint typecheck layers pytest

CITUS := ../shared/citus/cluster.sh

## The PostgreSQL tier against a 3-node Citus cluster (DIST-2): builds the extension and
## starts the cluster when needed (root), then runs every postgres-marked test on it
test-citus: install
	@[ -f /usr/share/postgresql/15/extension/citus.control ] || bash $(CITUS) build
	bash $(CITUS) start
	COMMCREDITS_TEST_POSTGRES_URL="$$(bash $(CITUS) url)" $(BIN)/pytest -m postgres

lint: install
	$(BIN)/ruff check src tests bench tools

typecheck: install
	$(BIN)/mypy

layers: install
	$(BIN)/lint-imports

## The suite on $(WORKERS) pytest-xdist workers, a file per worker at a time; each worker has
## its own PostgreSQL database beside COMMCREDITS_TEST_POSTGRES_URL's (tests/conftest.py).
## The multi-process tests (marked slow) run after, alone: they make their own contention.
WORKERS ?= 2
pytest: install
	$(BIN)/pytest -n $(WORKERS) --dist loadfile -m "not slow"
	$(BIN)/pytest -m slow

## The calling platform (PLAT-1): SIP calls through Kamailio (integrations/kamailio) with
## SIPp as caller and callee, against commcredits serve on PostgreSQL
## (COMMCREDITS_TEST_POSTGRES_URL). Installs kamailio and sip-tester with apt-get if missing.
KAMAILIO_PYTHON := /usr/lib/x86_64-linux-gnu/kamailio/modules/app_python3.so
test-platform: install
	@if ! command -v kamailio >/dev/null 2>&1 || ! command -v sipp >/dev/null 2>&1 \
	    || [ ! -e $(KAMAILIO_PYTHON) ]; then \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends \
	    kamailio kamailio-python3-modules sip-tester; fi
	COMMCREDITS_REQUIRE_PLATFORM=1 $(BIN)/pytest tests/platform

bench: install
	$(BIN)/python bench/ledger.py

## Call control over HTTP with wrk against a no-op FastAPI ceiling, PostgreSQL
## (COMMCREDITS_BENCH_POSTGRES_URL, schema reset) and SQLite; needs wrk (apt-get install wrk)
bench-calls: install
	$(BIN)/python bench/call_control.py --profile

## CDR rating, SQLite and PostgreSQL (COMMCREDITS_BENCH_POSTGRES_URL, schema reset)
bench-cdrs: install
	$(BIN)/python bench/rate_cdrs.py

## PSTN usage export (ZIP/CSV, XLSX) rows/s and peak RSS, SQLite (temporary file)
bench-export: install
	$(BIN)/python bench/export.py

## Admin-center pages: p50/p95 per page with the demo data, against GET /healthz
bench-pages: install
	$(BIN)/python bench/pages.py

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis commcredits.db*
