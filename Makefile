# Phasegate: `make demo` runs the demo, `make test` runs every test. Both set up what they need.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PG_URL ?= postgres://postgres@127.0.0.1:5432/phasegate
REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=

.PHONY: install lint format test test-sqlite test-postgres test-unit test-integration test-e2e test-long demo run worker sweeper beat bench bench-scale bench-sweeps chaos clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# pip learned dependency groups (--group) in 25.1.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet --upgrade "pip>=25.1"
	$(BIN)/pip install --quiet -e . --group test --group e2e --group dev
	touch $@

install: $(VENV)/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DJANGO_DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The whole suite on SQLite (with the demo's filesystem broker), then on PostgreSQL with Redis.
test: install
	bash .ci/services.sh
	bash .ci/chromium.sh
	$(MAKE) --no-print-directory test-sqlite
	$(MAKE) --no-print-directory test-postgres

test-sqlite: install
	@echo "== tests on SQLite =="
	env -u DATABASE_URL -u CELERY_BROKER_URL $(BIN)/pytest $(PYTEST_ARGS)

test-postgres: install
	@echo "== tests on PostgreSQL with Redis =="
	DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(BIN)/pytest $(PYTEST_ARGS)

# The property tests with fresh randomness and many more examples (CI's run is derandomised).
test-long: install
	HYPOTHESIS_PROFILE=long $(BIN)/pytest tests/unit/definition/test_properties.py $(PYTEST_ARGS)

test-unit: install
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

test-integration: install
	$(BIN)/pytest tests/integration $(PYTEST_ARGS)

test-e2e: install
	bash .ci/chromium.sh
	$(BIN)/pytest tests/e2e $(PYTEST_ARGS)

# The demo: SQLite, the filesystem broker, a worker and beat; nothing to install by hand.
demo: install
	DJANGO_DEBUG=1 PHASEGATE_EXAMPLES=1 $(BIN)/python manage.py migrate --no-input
	DJANGO_DEBUG=1 PHASEGATE_EXAMPLES=1 $(BIN)/python manage.py demo_setup
	DJANGO_DEBUG=1 PHASEGATE_EXAMPLES=1 $(BIN)/python manage.py demo_run

run: install
	DJANGO_DEBUG=1 $(BIN)/python manage.py runserver

worker: install
	$(BIN)/celery -A config worker -l info -Q phasegate -c 2

# The recovery sweeps (due work, lease reaper, SLAs) on their own queue, so a backlog never delays them.
sweeper: install
	$(BIN)/celery -A config worker -l info -Q phasegate-sweeps -c 1 -n sweeper@%h

beat: install
	$(BIN)/celery -A config beat -l info

# `make bench SCALE=1` also runs the production-sized benchmark (bench-scale).
bench: install
	bash .ci/services.sh
	$(BIN)/python bench/limits.py
	$(BIN)/python bench/run.py
	$(if $(SCALE),$(BIN)/python bench/scale.py $(SCALE_ARGS))
	$(MAKE) --no-print-directory bench-sweeps

# Every page and list at 100,000 instances / 1,000,000 phase runs on PostgreSQL (its own database,
# phasegate_scale; built once in a few minutes, then reused). SCALE_ARGS="--only inbox --plans" narrows it.
bench-scale: install
	bash .ci/services.sh
	$(BIN)/python bench/scale.py $(SCALE_ARGS)

# The fault suite (tests/reliability) at full size on PostgreSQL + Redis; `make test` runs it small.
chaos: install
	bash .ci/services.sh
	PHASEGATE_CHAOS=full DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) $(BIN)/pytest tests/reliability -p no:randomly $(PYTEST_ARGS)

# One tick of each sweep with 1,000 due rows, on PostgreSQL.
bench-sweeps: install
	bash .ci/services.sh
	DATABASE_URL=$(PG_URL) $(BIN)/python bench/sweeps.py

clean:
	rm -rf var/ .coverage htmlcov
