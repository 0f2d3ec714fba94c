# MOF Portal. Needs only python3 (>= 3.11) and GNU make:
#   make run    demo portal on http://127.0.0.1:8000 (SQLite, embedded broker, worker, beat)
#   make test   the test suite (SQLite; PostgreSQL and Redis when DATABASE_URL/CELERY_BROKER_URL are set)
#   make check  Django's deployment checklist with production-like settings, missing migrations, ruff (lint and format)
#   make bench  the benchmarks (see bench/README.md); pass options with BENCH_ARGS="..."

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Which Django: the 5.2 LTS unless told otherwise (.ci/django6 passes .ci/django-6.0.txt).
CONSTRAINTS ?= .ci/django-5.2.txt

.DEFAULT_GOAL := help
.PHONY: help install run seed migrate test check bench clean

help:
	@echo "make run     start the demo portal (web, Celery worker and beat) on http://127.0.0.1:8000"
	@echo "make test    run the test suite (PYTEST_ARGS=... to pass options)"
	@echo "make check   manage.py check --deploy with production-like settings + makemigrations --check + ruff"
	@echo "make bench   run the benchmarks (BENCH_ARGS=... to pass options)"
	@echo "make seed    load the demo organisation (DEBUG only)"
	@echo "make clean   remove the virtualenv and local data under var/"

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-install only when the dependencies change.
$(STAMP): pyproject.toml $(CONSTRAINTS) | $(PY)
	bin/ldap-build-deps $(PY)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]" -c $(CONSTRAINTS)
	touch $@

install: $(STAMP)

migrate: $(STAMP)
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput

seed: migrate
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_demo
	DEBUG=$${DEBUG:-1} $(PY) manage.py seed_work

run: $(STAMP)
	DEBUG=$${DEBUG:-1} VENV=$(VENV) bin/run-portal

test: $(STAMP)
	$(VENV)/bin/pytest $(PYTEST_ARGS)

# Production-like environment: DEBUG off, a long random key, a real host name and base URL.
check: $(STAMP)
	DEBUG=0 \
	SECRET_KEY="$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(64))')" \
	ALLOWED_HOSTS=portal.example.com \
	MOF_BASE_URL=https://portal.example.com \
	$(PY) manage.py check --deploy --fail-level WARNING
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: $(STAMP)
	$(VENV)/bin/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var/mof.sqlite3 var/broker var/mail
