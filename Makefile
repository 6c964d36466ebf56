# v6beian: `make run` serves the demo, `make test` runs the whole suite on SQLite and PostgreSQL.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
FLASK := $(BIN)/flask --app app
# Administrative connection the tests use to create (and drop) their own PostgreSQL databases.
export V6BEIAN_TEST_POSTGRES_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/postgres
# Debian packages the test suite needs: Playwright drives Debian's chromium (never a downloaded browser);
# the LDAP tests start their own slapd, the readiness tests their own Redis; the backup test uses pg_dump/pg_restore.
TEST_DEBIAN_PACKAGES := chromium slapd ldap-utils redis-server postgresql-client

.PHONY: help install run serve ldap-demo test test-deps postgres bench loadtest fuzz mutation lint i18n i18n-compile clean

help:
	@echo "make run    - install, migrate, load the demo and serve on http://$(HOST):$(PORT)"
	@echo "make serve  - migrate, then gunicorn (WORKERS=n, default from the cores) and the job worker on http://$(HOST):$(SERVE_PORT)"
	@echo "make test   - install what the tests need and run them on SQLite and PostgreSQL"
	@echo "make ldap-demo - a local OpenLDAP with demo regulator staff, to try the directory sign-in"
	@echo "make bench  - run the benchmarks in bench/"
	@echo "make loadtest - Locust: 50 users for 3 minutes against gunicorn on PostgreSQL with a 1M-prefix registry"
	@echo "make fuzz   - schemathesis against the API on SQLite and PostgreSQL (a few minutes)"
	@echo "make mutation - mutmut over the permission, sign-in, registry and import-planning code (28 min a run)"
	@echo "make lint   - ruff check and format check"
	@echo "make i18n   - extract, update and compile the translation catalogs"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

i18n-compile: install
	$(BIN)/pybabel compile --use-fuzzy -d core/translations -D messages >/dev/null

i18n: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k N_ --no-location --sort-output --project v6beian \
		--ignore-dirs='.venv tests bench migrations' -o core/translations/messages.pot .
	$(BIN)/pybabel update -i core/translations/messages.pot -d core/translations -D messages -w 0 --no-fuzzy-matching
	$(BIN)/pybabel compile -d core/translations -D messages --statistics

# The demo data lives in the documentation prefix 2001:db8::/32, which production refuses.
run bench: export ALLOW_DOCUMENTATION_PREFIXES ?= true

run: i18n-compile
	$(FLASK) db upgrade
	@echo
	@echo "Demo logins (kept in instance/demo-logins.json):"
	@LOG_LEVEL=WARNING $(FLASK) demo
	@echo
	@echo "v6beian is serving on http://$(HOST):$(PORT)  (Ctrl-C stops it and the import worker)"
	@# The worker runs beside the server and stops with it (Ctrl-C reaches the server; the worker, started in the
	@# background, is stopped by the trap and waited for, so nothing is left running and nothing is killed twice).
	@$(WITH_JOB_WORKER) $(FLASK) run --host $(HOST) --port $(PORT) || [ $$? -eq 130 ]

# Production serving against the configured database (DATABASE_URL …): gunicorn with core/gunicorn_conf.py and the
# job worker beside it, stopped together by Ctrl-C as in `make run`. PORT defaults to 8000 here unless given.
SERVE_PORT := $(if $(filter file,$(origin PORT)),8000,$(PORT))
WORKERS ?=
# The job worker runs in the background for as long as the command after this (the trap stops it and waits for it).
WITH_JOB_WORKER = $(FLASK) import worker & worker=$$!; trap 'kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT;
serve: i18n-compile
	$(FLASK) db upgrade
	@echo "v6beian is serving on http://$(HOST):$(SERVE_PORT) with gunicorn (Ctrl-C stops it and the job worker)"
	@$(WITH_JOB_WORKER) HOST=$(HOST) PORT=$(SERVE_PORT) $(BIN)/gunicorn --config python:core.gunicorn_conf $(if $(WORKERS),--workers $(WORKERS))

ldap-demo: test-deps
	$(BIN)/python -m tests.ldap_server

test-deps: install
	@missing=""; for pkg in $(TEST_DEBIAN_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$pkg 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$pkg"; \
	done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = "0" ]; then \
			echo "installing Debian packages:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
		else \
			echo "missing Debian packages:$$missing (run 'make test' as root, or: sudo apt-get install$$missing)" >&2; exit 1; \
		fi; \
	fi

# As root on a machine without PostgreSQL, Debian's server is installed and its fresh cluster lets the local user
# postgres in over 127.0.0.1 without a password (trust), which is what the tests' databases are made with.
postgres:
	@if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null && [ "$$(id -u)" = "0" ] && [ ! -d /etc/postgresql ]; then \
		echo "installing Debian's PostgreSQL for the tests"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null; \
		hba=$$(ls -d /etc/postgresql/*/main | tail -n 1)/pg_hba.conf; \
		sed -i '1i host all postgres 127.0.0.1/32 trust' $$hba; \
	fi; \
	if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then \
		if [ "$$(id -u)" = "0" ] && [ -d /etc/postgresql ]; then \
			echo "starting the installed PostgreSQL cluster"; \
			pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql | tail -n 1) main start; \
			for i in $$(seq 1 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done; \
		fi; \
	fi; \
	pg_isready -q -h 127.0.0.1 -p 5432 || { echo "PostgreSQL is not reachable at 127.0.0.1:5432 (the tests need it)" >&2; exit 1; }

# A module's tests stay on one worker: the browser modules share one live server each.
test: test-deps i18n-compile postgres
	$(BIN)/pytest -n auto --dist loadscope

bench: i18n-compile postgres
	@for script in bench/*.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

# Locust against gunicorn (4 workers) and the job worker on a fresh PostgreSQL database (bench/loadtest/run.py);
# LOADTEST_USERS, LOADTEST_DURATION, LOADTEST_PREFIXES, LOADTEST_IMPORT_ROWS make it smaller.
loadtest: i18n-compile postgres
	$(BIN)/python -m bench.loadtest.run

# schemathesis against the OpenAPI document with a regulator administrator's and a carrier's token, on SQLite and
# PostgreSQL (a few minutes); fails on any 5xx. FUZZ_MAX_EXAMPLES (default 100) per operation, token and database.
fuzz: install i18n-compile postgres
	$(BIN)/pip install --quiet -e '.[dev,fuzz]'
	V6BEIAN_FUZZ=1 $(BIN)/pytest -p no:cacheprovider tests/fuzz $(FUZZ_ARGS)

# mutmut over the permission, sign-in, registry-operation and import-planning modules ([tool.mutmut]); each run
# stops after MUTATION_TIME (the whole set takes about three hours on 2 cores) and the next goes on from there.
# MUTANTS='core.policy.*' limits a run to some mutants. Not part of `make test`.
MUTATION_TIME ?= 28m
MUTANTS ?=
mutation: test-deps i18n-compile
	$(BIN)/pip install --quiet -e '.[dev,mutation]'
	V6BEIAN_TEST_BACKENDS=sqlite ALLOW_DOCUMENTATION_PREFIXES=true timeout --signal=INT --kill-after=2m $(MUTATION_TIME) \
		$(BIN)/mutmut run $(foreach m,$(MUTANTS),'$(m)'); status=$$?; \
		[ $$status -eq 124 ] && echo "mutation: stopped after $(MUTATION_TIME); run it again to go on"; \
		$(BIN)/mutmut results; [ $$status -eq 0 ] || [ $$status -eq 124 ]

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache build *.egg-info mutants
